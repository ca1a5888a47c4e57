#include "xdp.hpp"

#include <bpf/libbpf.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "xdp.skel.h"

namespace zd {

void XdpProgram::Destroy::operator()(zd_xdp *skel) const {
  zd_xdp__destroy(skel);
}

namespace {

bpf_map *find(bpf_object *object, const char *name) {
  bpf_map *map = bpf_object__find_map_by_name(object, name);
  if (!map)
    throw Error(Errc::kernel, std::string("embedded BPF object lacks map ") + name);
  return map;
}

} // namespace

std::vector<int> xdp_interfaces(const std::string &dir) {
  std::vector<int> out;
  std::error_code ec;
  for (const auto &entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kXdpLinkPrefix, 0) == 0 && name.find(kPinningSuffix) == std::string::npos)
      out.push_back(std::atoi(name.c_str() + std::strlen(kXdpLinkPrefix)));
  }
  return out;
}

XdpProgram XdpProgram::load(const DataMaps &shared, const std::string &dir) {
  XdpProgram program(zd_xdp__open());
  if (!program.skel_)
    throw_errno("opening the embedded XDP object");
  bpf_object *object = program.skel_->obj;
  shared.reuse_in(object);
  for (const auto &name : kXdpMaps) {
    const std::string path = dir + "/" + name.pin;
    if (access(path.c_str(), F_OK) != 0)
      continue; // made by the load, pinned by pin_missing_maps
    BpfMap pinned = BpfMap::open_pin(dir, name.pin);
    if (int err = bpf_map__reuse_fd(find(object, name.object), pinned.fd()); err != 0)
      throw_errno(std::string("reusing pinned map ") + name.pin, -err);
  }
  if (int err = zd_xdp__load(program.skel_.get()); err != 0)
    throw_errno("loading the XDP program (verbose logging shows the verifier log)", -err);
  return program;
}

int XdpProgram::fd() const {
  return bpf_program__fd(skel_->progs.zd_xdp);
}

void XdpProgram::pin_missing_maps(const std::string &dir) const {
  for (const auto &name : kXdpMaps) {
    const std::string path = dir + "/" + name.pin;
    if (access(path.c_str(), F_OK) == 0)
      continue;
    pin_whole(bpf_map__fd(find(skel_->obj, name.object)), path);
  }
}

} // namespace zd
