#include "maps.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>

#include <cstring>

#include "error.hpp"
#include "parse.hpp"

namespace zd {

namespace {

const char *pin_name(MapId id) {
  return kMapNames[static_cast<size_t>(id)].pin;
}

// Lookup that tells "absent" (false) from a real failure (throws).
template <typename K, typename V> bool lookup(int fd, const K &key, V &value, MapId id) {
  if (bpf_map_lookup_elem(fd, &key, &value) == 0)
    return true;
  if (errno == ENOENT)
    return false;
  throw_errno(std::string("reading map ") + pin_name(id));
}

template <typename K, typename V>
void update(int fd, const K &key, const V &value, uint64_t flags, MapId id) {
  if (bpf_map_update_elem(fd, &key, &value, flags) != 0)
    throw_errno(std::string("writing map ") + pin_name(id));
}

template <typename K> void erase(int fd, const K &key, MapId id) {
  if (bpf_map_delete_elem(fd, &key) != 0 && errno != ENOENT)
    throw_errno(std::string("deleting from map ") + pin_name(id));
}

template <typename K, typename V> std::vector<std::pair<K, V>> entries(int fd, MapId id) {
  std::vector<std::pair<K, V>> out;
  K key{}, next{};
  const K *prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    V value{};
    // An entry removed between the two calls is simply skipped.
    if (lookup(fd, next, value, id))
      out.emplace_back(next, value);
    key = next;
    prev = &key;
  }
  if (errno != ENOENT)
    throw_errno(std::string("listing map ") + pin_name(id));
  return out;
}

zd_counters sum_counters(int fd, uint32_t index, MapId id) {
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0)
    throw Error("cannot count possible CPUs");
  std::vector<zd_counters> per_cpu(static_cast<size_t>(cpus));
  zd_counters total{};
  if (!lookup(fd, index, *per_cpu.data(), id))
    return total;
  for (const auto &c : per_cpu) {
    total.lookups += c.lookups;
    total.steered += c.steered;
    total.fallbacks += c.fallbacks;
    total.drops += c.drops;
  }
  return total;
}

void reset_counters(int fd, uint32_t index, MapId id) {
  int cpus = libbpf_num_possible_cpus();
  std::vector<zd_counters> zeros(static_cast<size_t>(cpus > 0 ? cpus : 1));
  update(fd, index, *zeros.data(), BPF_ANY, id);
}

} // namespace

Maps Maps::from_object(bpf_object *object) {
  Maps maps;
  for (size_t i = 0; i < kMapCount; ++i) {
    bpf_map *map = bpf_object__find_map_by_name(object, kMapNames[i].object);
    if (!map)
      throw Error(std::string("embedded BPF object lacks map ") + kMapNames[i].object);
    int fd = fcntl(bpf_map__fd(map), F_DUPFD_CLOEXEC, 3);
    if (fd < 0)
      throw_errno("duplicating map fd");
    maps.fds_[i].reset(fd);
  }
  return maps;
}

Maps Maps::from_pins(const std::string &dir) {
  Maps maps;
  for (size_t i = 0; i < kMapCount; ++i) {
    std::string path = dir + "/" + kMapNames[i].pin;
    int fd = bpf_obj_get(path.c_str());
    if (fd < 0 && errno == ENOENT)
      throw Error(dir + " is not a zd state (no " + kMapNames[i].pin +
                  " pin); refusing to touch it");
    if (fd < 0)
      throw_errno("opening " + path);
    maps.fds_[i].reset(fd);
  }
  return maps;
}

zd_config Maps::config() const {
  // The first read of a pinned state: make sure the map has our shape before
  // the kernel copies its value into our struct (a foreign pin could be larger).
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd(MapId::config), &info, &len) != 0)
    throw_errno("reading map config");
  if (info.type != BPF_MAP_TYPE_ARRAY || info.key_size != sizeof(uint32_t) ||
      info.value_size != sizeof(zd_config))
    throw Error("the config map is not zd's (wrong type or size): not a zd state");
  zd_config config{};
  uint32_t zero = 0;
  lookup(fd(MapId::config), zero, config, MapId::config);
  return config;
}

void Maps::set_config(const zd_config &config) {
  uint32_t zero = 0;
  update(fd(MapId::config), zero, config, BPF_ANY, MapId::config);
}

bool Maps::add_binding(const zd_prefix_key &key, uint32_t domain) {
  bool exact = is_exact_key(key);
  int rc = exact ? bpf_map_update_elem(fd(MapId::bindings), &key.binding, &domain, BPF_NOEXIST)
                 : bpf_map_update_elem(fd(MapId::prefixes), &key, &domain, BPF_NOEXIST);
  if (rc == 0)
    return true;
  if (errno == EEXIST)
    return false;
  if (errno == E2BIG || errno == ENOMEM)
    throw Error(std::string("too many bindings: the ") + (exact ? "bindings" : "prefixes") +
                " map is full");
  throw_errno("writing map bindings");
}

void Maps::remove_binding(const zd_prefix_key &key) {
  bool exact = is_exact_key(key);
  if (exact)
    erase(fd(MapId::bindings), key.binding, MapId::bindings);
  else
    erase(fd(MapId::prefixes), key, MapId::prefixes);
}

std::optional<uint32_t> Maps::binding(const zd_prefix_key &key) const {
  uint32_t domain = 0;
  if (is_exact_key(key)) {
    if (lookup(fd(MapId::bindings), key.binding, domain, MapId::bindings))
      return domain;
    return std::nullopt;
  }
  // An LPM lookup answers "longest match", not "this prefix": compare keys.
  for (const auto &[other, id] :
       entries<zd_prefix_key, uint32_t>(fd(MapId::prefixes), MapId::prefixes))
    if (std::memcmp(&other, &key, sizeof(key)) == 0)
      return id;
  return std::nullopt;
}

std::optional<zd_route> Maps::route(uint32_t domain) const {
  zd_route route{};
  if (lookup(fd(MapId::routes), domain, route, MapId::routes))
    return route;
  return std::nullopt;
}

void Maps::set_route(uint32_t domain, const zd_route &route) {
  update(fd(MapId::routes), domain, route, BPF_ANY, MapId::routes);
}

void Maps::remove_route(uint32_t domain) {
  erase(fd(MapId::routes), domain, MapId::routes);
}

std::vector<std::pair<uint32_t, zd_route>> Maps::routes() const {
  return entries<uint32_t, zd_route>(fd(MapId::routes), MapId::routes);
}

void Maps::add_socket(const zd_socket_key &key, int socket_fd) {
  uint64_t value = static_cast<uint64_t>(socket_fd);
  if (bpf_map_update_elem(fd(MapId::sockets), &key, &value, BPF_NOEXIST) == 0)
    return;
  if (errno == EOPNOTSUPP)
    throw Error("the kernel refused the socket for the sockets map (not a listening TCP socket?)");
  throw_errno("adding socket to map sockets");
}

void Maps::remove_socket(const zd_socket_key &key) {
  erase(fd(MapId::sockets), key, MapId::sockets);
}

std::optional<uint64_t> Maps::socket_cookie(const zd_socket_key &key) const {
  uint64_t cookie = 0;
  if (lookup(fd(MapId::sockets), key, cookie, MapId::sockets))
    return cookie;
  return std::nullopt;
}

zd_counters Maps::domain_counters(uint32_t domain) const {
  return sum_counters(fd(MapId::domain_stats), domain, MapId::domain_stats);
}

zd_counters Maps::workspace_counters(uint32_t workspace) const {
  return sum_counters(fd(MapId::workspace_stats), workspace, MapId::workspace_stats);
}

void Maps::reset_domain_counters(uint32_t domain) {
  reset_counters(fd(MapId::domain_stats), domain, MapId::domain_stats);
}

void Maps::reset_workspace_counters(uint32_t workspace) {
  reset_counters(fd(MapId::workspace_stats), workspace, MapId::workspace_stats);
}

std::optional<zd_domain_record> Maps::domain(const zd_name &name) const {
  zd_domain_record record{};
  if (lookup(fd(MapId::domains), name, record, MapId::domains))
    return record;
  return std::nullopt;
}

void Maps::put_domain(const zd_name &name, const zd_domain_record &record) {
  update(fd(MapId::domains), name, record, BPF_ANY, MapId::domains);
}

void Maps::remove_domain(const zd_name &name) {
  erase(fd(MapId::domains), name, MapId::domains);
}

std::vector<std::pair<zd_name, zd_domain_record>> Maps::domains() const {
  return entries<zd_name, zd_domain_record>(fd(MapId::domains), MapId::domains);
}

std::optional<zd_workspace_record> Maps::workspace(const zd_name &name) const {
  zd_workspace_record record{};
  if (lookup(fd(MapId::workspaces), name, record, MapId::workspaces))
    return record;
  return std::nullopt;
}

void Maps::put_workspace(const zd_name &name, const zd_workspace_record &record) {
  update(fd(MapId::workspaces), name, record, BPF_ANY, MapId::workspaces);
}

void Maps::remove_workspace(const zd_name &name) {
  erase(fd(MapId::workspaces), name, MapId::workspaces);
}

std::vector<std::pair<zd_name, zd_workspace_record>> Maps::workspaces() const {
  return entries<zd_name, zd_workspace_record>(fd(MapId::workspaces), MapId::workspaces);
}

std::optional<zd_name> Maps::workspace_name(uint32_t id) const {
  zd_name name{};
  if (lookup(fd(MapId::workspace_names), id, name, MapId::workspace_names))
    return name;
  return std::nullopt;
}

void Maps::put_workspace_name(uint32_t id, const zd_name &name) {
  update(fd(MapId::workspace_names), id, name, BPF_ANY, MapId::workspace_names);
}

void Maps::remove_workspace_name(uint32_t id) {
  erase(fd(MapId::workspace_names), id, MapId::workspace_names);
}

} // namespace zd
