#include "bpf_map.hpp"

#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "access.hpp"

namespace zd {

void pin_whole(int fd, const std::string &path, const std::string &tmp_path) {
  const std::string tmp = tmp_path.empty() ? path + kPinningSuffix : tmp_path;
  unlink(tmp.c_str()); // a leftover of a killed predecessor
  if (bpf_obj_pin(fd, tmp.c_str()) != 0)
    throw_errno("pinning " + path);
  try {
    access::set_pin(tmp, access::of_dir(std::filesystem::path(path).parent_path()));
  } catch (...) {
    unlink(tmp.c_str());
    throw;
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    throw_errno("renaming " + tmp + " to " + path, err);
  }
}

BpfMap BpfMap::open_pin(const std::string &dir, const std::string &pin, OpenFor open_for) {
  const std::string path = dir + "/" + pin;
  LIBBPF_OPTS(bpf_obj_get_opts, opts,
              .file_flags = open_for == OpenFor::read ? static_cast<__u32>(BPF_F_RDONLY) : 0u);
  Fd fd(bpf_obj_get_opts(path.c_str(), &opts));
  if (!fd && errno == ENOENT)
    throw Error(Errc::not_attached,
                dir + " is not a zd state (no " + pin + " pin); refusing to touch it");
  if (!fd)
    throw_errno("opening " + path);
  return BpfMap(std::move(fd), pin);
}

BpfMap BpfMap::create(bpf_map_type type, const std::string &name, uint32_t key_size,
                      uint32_t value_size, uint32_t max_entries, uint32_t flags) {
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = flags);
  Fd fd(bpf_map_create(type, name.c_str(), key_size, value_size, max_entries, &opts));
  if (!fd)
    throw_errno("creating map " + name);
  return BpfMap(std::move(fd), name);
}

namespace {

bpf_map_info info_of(const BpfMap &map) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(map.fd(), &info, &len) != 0)
    throw_errno("reading map " + map.name());
  return info;
}

} // namespace

MapShape BpfMap::shape() const {
  const bpf_map_info info = info_of(*this);
  return {info.type, info.key_size, info.value_size, info.max_entries, info.map_flags};
}

uint32_t BpfMap::id() const {
  return info_of(*this).id;
}

void BpfMap::require_shape(bpf_map_type type, uint32_t key_size, uint32_t value_size) const {
  const bpf_map_info info = info_of(*this);
  if (info.type != static_cast<uint32_t>(type) || info.key_size != key_size ||
      info.value_size != value_size)
    throw Error(Errc::not_attached,
                "the " + name_ + " map is not zd's (wrong type or size): not a zd state");
}

void BpfMap::pin(const std::string &path) const {
  if (bpf_obj_pin(fd(), path.c_str()) != 0)
    throw_errno("pinning map " + name_ + " at " + path);
}

} // namespace zd
