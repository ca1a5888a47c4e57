// The sk_lookup program (bpf/sk_lookup.bpf.c) as an owned object: the
// embedded skeleton loaded with fresh maps (attach) or against the maps of
// an attached state (upgrade), attached to a network namespace by a link.
#pragma once

#include <memory>
#include <string>

#include "data_maps.hpp"

struct zd_sk_lookup;
struct bpf_link;

namespace zd {

struct LinkDeleter {
  void operator()(bpf_link *link) const;
};
using Link = std::unique_ptr<bpf_link, LinkDeleter>;

class SkLookupProgram {
public:
  // Loads the embedded program with maps of its own.
  static SkLookupProgram load();
  // Loads it to use the maps of an attached state: same maps, new code.
  static SkLookupProgram load_reusing(const DataMaps &maps);
  // The shapes the embedded program wants its data maps to have, in
  // kDataMaps order: what `zdctl upgrade` moves a state's maps to.
  static std::array<MapShape, kDataMaps.size()> map_shapes();

  DataMaps maps() const;
  int fd() const;
  // Attaches to this process's network namespace; detached when the Link
  // goes, unless it was pinned.
  Link attach_to_this_netns() const;
  void pin(const std::string &path) const;

private:
  struct Destroy {
    void operator()(zd_sk_lookup *skel) const;
  };
  explicit SkLookupProgram(zd_sk_lookup *skel) : skel_(skel) {}
  static SkLookupProgram open(bool reuse, const DataMaps *maps);

  std::unique_ptr<zd_sk_lookup, Destroy> skel_;
};

// Pins a link at path.
void pin_link(const Link &link, const std::string &path);

} // namespace zd
