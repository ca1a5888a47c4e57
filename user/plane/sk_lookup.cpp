#include "sk_lookup.hpp"

#include <bpf/libbpf.h>
#include <fcntl.h>

#include "sk_lookup.skel.h"

namespace zd {

void LinkDeleter::operator()(bpf_link *link) const {
  bpf_link__destroy(link);
}

void SkLookupProgram::Destroy::operator()(zd_sk_lookup *skel) const {
  zd_sk_lookup__destroy(skel);
}

SkLookupProgram SkLookupProgram::open(bool reuse, const DataMaps *maps) {
  SkLookupProgram program(zd_sk_lookup__open());
  if (!program.skel_)
    throw_errno("opening the embedded BPF object");
  if (reuse)
    maps->reuse_in(program.skel_->obj);
  if (int err = zd_sk_lookup__load(program.skel_.get()); err != 0)
    throw_errno("loading the BPF program (verbose logging shows the verifier log)", -err);
  return program;
}

SkLookupProgram SkLookupProgram::load() {
  return open(false, nullptr);
}

SkLookupProgram SkLookupProgram::load_reusing(const DataMaps &maps) {
  return open(true, &maps);
}

std::array<MapShape, kDataMaps.size()> SkLookupProgram::map_shapes() {
  const SkLookupProgram program(zd_sk_lookup__open()); // opened, never loaded
  if (!program.skel_)
    throw_errno("opening the embedded BPF object");
  std::array<MapShape, kDataMaps.size()> shapes;
  for (size_t i = 0; i < kDataMaps.size(); ++i) {
    const bpf_map *map = bpf_object__find_map_by_name(program.skel_->obj, kDataMaps[i].object);
    if (!map)
      throw Error(Errc::kernel,
                  std::string("embedded BPF object lacks map ") + kDataMaps[i].object);
    shapes[i] = {bpf_map__type(map), bpf_map__key_size(map), bpf_map__value_size(map),
                 bpf_map__max_entries(map), bpf_map__map_flags(map)};
  }
  return shapes;
}

DataMaps SkLookupProgram::maps() const {
  return DataMaps::from_object(skel_->obj);
}

int SkLookupProgram::fd() const {
  return bpf_program__fd(skel_->progs.zd_dispatch);
}

Link SkLookupProgram::attach_to_this_netns() const {
  Fd netns(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!netns)
    throw_errno("opening /proc/self/ns/net");
  Link link(bpf_program__attach_netns(skel_->progs.zd_dispatch, netns.get()));
  if (!link)
    throw_errno("attaching sk_lookup to this network namespace");
  return link;
}

void SkLookupProgram::pin(const std::string &path) const {
  if (int err = bpf_program__pin(skel_->progs.zd_dispatch, path.c_str()); err != 0)
    throw_errno("pinning the program at " + path, -err);
}

void pin_link(const Link &link, const std::string &path) {
  if (int err = bpf_link__pin(link.get(), path.c_str()); err != 0)
    throw_errno("pinning the link at " + path, -err);
}

} // namespace zd
