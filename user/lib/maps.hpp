// Typed access to the maps of one zd state, whether they come from a freshly
// loaded skeleton or from pins in bpffs. Every method is one or a few
// bpf(2) calls; policy (what may be written when) lives in Zd, not here.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fd.hpp"
#include "zd_shared.h"

struct bpf_object;

namespace zd {

enum class MapId {
  config,
  bindings,
  prefixes,
  routes,
  sockets,
  domain_stats,
  workspace_stats,
  domains,
  workspaces,
  workspace_names,
};
inline constexpr size_t kMapCount = 10;

struct MapName {
  const char *pin;    // file name under the state dir
  const char *object; // map name in the BPF object
};
inline constexpr std::array<MapName, kMapCount> kMapNames = {{
    {"config", "zd_config"},
    {"bindings", "zd_bindings"},
    {"prefixes", "zd_prefixes"},
    {"routes", "zd_routes"},
    {"sockets", "zd_sockets"},
    {"domain_stats", "zd_domain_stats"},
    {"workspace_stats", "zd_workspace_stats"},
    {"domains", "zd_domains"},
    {"workspaces", "zd_workspaces"},
    {"workspace_names", "zd_workspace_names"},
}};

class Maps {
public:
  Maps() = default;
  // Duplicates the fds of a loaded object's maps.
  static Maps from_object(bpf_object *object);
  // Opens the pins under dir. Throws Error naming the first missing pin.
  static Maps from_pins(const std::string &dir);

  int fd(MapId id) const { return fds_[static_cast<size_t>(id)].get(); }

  zd_config config() const;
  void set_config(const zd_config &config);

  // Returns false when that exact key is already bound (to anything).
  bool add_binding(const zd_prefix_key &key, uint32_t domain);
  void remove_binding(const zd_prefix_key &key);
  // The domain this exact key or this very prefix is bound to. O(1) for an
  // exact key; a prefix walks the (small) prefix trie.
  std::optional<uint32_t> binding(const zd_prefix_key &key) const;

  std::optional<zd_route> route(uint32_t domain) const;
  void set_route(uint32_t domain, const zd_route &route);
  void remove_route(uint32_t domain);
  std::vector<std::pair<uint32_t, zd_route>> routes() const;

  void add_socket(const zd_socket_key &key, int socket_fd);
  void remove_socket(const zd_socket_key &key);
  // The cookie of the socket in the map, if the kernel still holds one.
  std::optional<uint64_t> socket_cookie(const zd_socket_key &key) const;

  zd_counters domain_counters(uint32_t domain) const;
  zd_counters workspace_counters(uint32_t workspace) const;
  void reset_domain_counters(uint32_t domain);
  void reset_workspace_counters(uint32_t workspace);

  std::optional<zd_domain_record> domain(const zd_name &name) const;
  void put_domain(const zd_name &name, const zd_domain_record &record);
  void remove_domain(const zd_name &name);
  std::vector<std::pair<zd_name, zd_domain_record>> domains() const;

  std::optional<zd_workspace_record> workspace(const zd_name &name) const;
  void put_workspace(const zd_name &name, const zd_workspace_record &record);
  void remove_workspace(const zd_name &name);
  std::vector<std::pair<zd_name, zd_workspace_record>> workspaces() const;

  std::optional<zd_name> workspace_name(uint32_t id) const;
  void put_workspace_name(uint32_t id, const zd_name &name);
  void remove_workspace_name(uint32_t id);

private:
  std::array<Fd, kMapCount> fds_;
};

} // namespace zd
