// The data-plane maps of a zd state (bpf/zd_maps.bpf.h): what the programs
// read. They come from a freshly loaded program (attach) or from the pins of
// an attached state, and every plane works on the same set.
#pragma once

#include <array>
#include <string>

#include "bpf_map.hpp"
#include "zd_shared.h"

struct bpf_object;

namespace zd {

enum class DataMap {
  config,
  bindings,
  prefixes,
  routes,
  sockets,
  domain_stats,
  workspace_stats,
  health
};

struct MapName {
  const char *pin;    // file name under the state dir
  const char *object; // map name in the BPF object
};
inline constexpr std::array<MapName, 8> kDataMaps = {{
    {"config", "zd_config"},
    {"bindings", "zd_bindings"},
    {"prefixes", "zd_prefixes"},
    {"routes", "zd_routes"},
    {"sockets", "zd_sockets"},
    {"domain_stats", "zd_domain_stats"},
    {"workspace_stats", "zd_workspace_stats"},
    {"health", "zd_health"}, // layout 3
}};

class DataMaps {
public:
  // Duplicates the fds of a loaded object's maps.
  static DataMaps from_object(bpf_object *object);
  // Opens the pins under dir; a missing one means "not a zd state", unless
  // missing_ok (upgrade: a map an older layout did not have stays empty).
  static DataMaps from_pins(const std::string &dir, OpenFor open_for = OpenFor::write,
                            bool missing_ok = false);

  BpfMap &operator[](DataMap map) { return maps_[static_cast<size_t>(map)]; }
  const BpfMap &operator[](DataMap map) const { return maps_[static_cast<size_t>(map)]; }

  // The identity of the state: checks the map's shape before reading it.
  zd_config config() const;
  void set_config(const zd_config &config);

  void pin_all(const std::string &dir) const;
  // Makes a BPF object about to be loaded use these maps instead of its own
  // (every program includes bpf/zd_maps.bpf.h).
  void reuse_in(bpf_object *object) const;

private:
  std::array<BpfMap, kDataMaps.size()> maps_;
};

} // namespace zd
