#include "reshape.hpp"

#include <bpf/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "zd_shared.h"

namespace zdtest {

namespace {

[[noreturn]] void fail(const std::string &what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

struct Owned {
  int fd;
  explicit Owned(int f) : fd(f) {}
  ~Owned() {
    if (fd >= 0)
      close(fd);
  }
};

} // namespace

void reshape_routes(const std::string &dir, const Reshape &to) {
  const std::string pin = dir + "/routes", fresh = dir + "/routes-reshaping";
  Owned old(bpf_obj_get(pin.c_str()));
  if (old.fd < 0)
    fail("opening " + pin);
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(old.fd, &info, &len) != 0)
    fail("reading " + pin);
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = info.map_flags);
  Owned made(bpf_map_create(static_cast<bpf_map_type>(info.type), "zd_routes", info.key_size,
                            to.value_size, info.max_entries, &opts));
  if (made.fd < 0)
    fail("creating a routes map of " + std::to_string(to.value_size) + " bytes");

  uint32_t key = 0, next = 0;
  std::vector<uint8_t> value(info.value_size), moved(to.value_size);
  for (const uint32_t *prev = nullptr; bpf_map_get_next_key(old.fd, prev, &next) == 0;
       prev = &key) {
    key = next;
    if (bpf_map_lookup_elem(old.fd, &key, value.data()) != 0)
      fail("reading " + pin);
    std::fill(moved.begin(), moved.end(), 0);
    std::memcpy(moved.data(), value.data(), 2 * sizeof(uint32_t)); // active, previous
    if (key == to.newer_domain && to.value_size >= sizeof(zd_route) + sizeof(uint32_t))
      std::memcpy(moved.data() + sizeof(zd_route), &to.newer_value, sizeof(uint32_t));
    if (bpf_map_update_elem(made.fd, &key, moved.data(), BPF_ANY) != 0)
      fail("writing the reshaped routes");
  }
  if (bpf_obj_pin(made.fd, fresh.c_str()) != 0)
    fail("pinning " + fresh);
  if (rename(fresh.c_str(), pin.c_str()) != 0)
    fail("renaming " + fresh);

  // Layout 3 added the health map: an older layout has no such pin.
  if (to.layout < 3 && unlink((dir + "/health").c_str()) != 0 && errno != ENOENT)
    fail("removing the health pin");

  Owned config(bpf_obj_get((dir + "/config").c_str()));
  zd_config c{};
  uint32_t zero = 0;
  if (config.fd < 0 || bpf_map_lookup_elem(config.fd, &zero, &c) != 0)
    fail("reading the config map");
  c.layout_version = to.layout;
  if (bpf_map_update_elem(config.fd, &zero, &c, BPF_ANY) != 0)
    fail("writing the config map");
}

} // namespace zdtest
