#include "dataplane.hpp"
#include "forward.hpp"

#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <unistd.h>

#include <filesystem>

#include <cstring>

#include "container.hpp"
#include "keys.hpp"
#include "parse.hpp"
#include "sock_diag.hpp"
#include "socket_owners.hpp"
#include "sockets.hpp"
#include "xdp.hpp"

namespace zd {

namespace {

Counters sum_counters(const BpfMap &map, uint32_t index) {
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0)
    throw Error(Errc::kernel, "cannot count possible CPUs");
  std::vector<zd_counters> per_cpu(static_cast<size_t>(cpus));
  zd_counters total{};
  if (!map.lookup(index, *per_cpu.data()))
    return {};
  for (const auto &c : per_cpu) {
    total.lookups += c.lookups;
    total.steered += c.steered;
    total.fallbacks += c.fallbacks;
    total.drops += c.drops;
  }
  return counters_of(total);
}

void reset_counters(BpfMap &map, uint32_t index) {
  int cpus = libbpf_num_possible_cpus();
  std::vector<zd_counters> zeros(static_cast<size_t>(cpus > 0 ? cpus : 1));
  map.update(index, *zeros.data());
}

zd_socket_key key_of(const Workspace &workspace, const RegisteredSocket &socket) {
  return socket_key(workspace.id, socket.bound.protocol, socket.serves,
                    workspace.placement == Placement::this_netns ? ZD_PLANE_HOST : ZD_PLANE_XDP);
}

bool in_container(const Workspace &workspace) {
  return workspace.placement == Placement::other_netns;
}

} // namespace

uint64_t BpfDataplane::netns_cookie() const {
  // sk_lookup runs in the namespace of the state, which is this process's:
  // State::open refuses a state attached elsewhere.
  return current_netns_cookie();
}

bool BpfDataplane::serves_other_netns() const {
  return container::xdp_attached(dir_);
}

std::optional<uint32_t> BpfDataplane::binding_owner(const Endpoint &binding) const {
  const zd_prefix_key key = binding_key(binding);
  uint32_t domain = 0;
  if (is_exact_key(key)) {
    if (maps_[DataMap::bindings].lookup(key.binding, domain))
      return domain;
    return std::nullopt;
  }
  // An LPM lookup answers "longest match", not "this prefix". No match at
  // all (the usual case for a new binding) settles it in one call; a match
  // may be a shorter prefix, so then compare keys.
  const BpfMap &prefixes = maps_[DataMap::prefixes];
  if (!prefixes.lookup(key, domain))
    return std::nullopt;
  for (const auto &[other, id] : prefixes.entries<zd_prefix_key, uint32_t>())
    if (std::memcmp(&other, &key, sizeof(key)) == 0)
      return id;
  return std::nullopt;
}

// The program consults the trie only while this is non-zero. It says
// whether the trie holds any entry (one BPF_MAP_GET_NEXT_KEY, however many
// it holds), read from the trie itself, never incremented or decremented, so
// a step repeated after a crash cannot skew it. Set after the entries are
// added and after they are removed: in between it is at worst 1 where 0 would
// do, which only costs a lookup.
void BpfDataplane::mark_prefix_bindings() {
  zd_prefix_key first{};
  const uint32_t prefixes =
      bpf_map_get_next_key(maps_[DataMap::prefixes].fd(), nullptr, &first) == 0 ? 1 : 0;
  zd_config config = maps_.config();
  if (config.prefix_bindings == prefixes)
    return;
  config.prefix_bindings = prefixes;
  maps_.set_config(config);
}

void BpfDataplane::add_domain(const Domain &domain) {
  reset_counters(maps_[DataMap::domain_stats], domain.id);
  size_t added = 0;
  bool prefixes = false;
  auto add = [&](const Endpoint &binding) {
    const zd_prefix_key key = binding_key(binding);
    const bool exact = is_exact_key(key);
    BpfMap &map = maps_[exact ? DataMap::bindings : DataMap::prefixes];
    int rc = exact ? bpf_map_update_elem(map.fd(), &key.binding, &domain.id, BPF_NOEXIST)
                   : bpf_map_update_elem(map.fd(), &key, &domain.id, BPF_NOEXIST);
    if (rc == 0)
      return;
    if (errno == EEXIST)
      throw Error(Errc::exists, format_endpoint(binding) + " is already bound");
    if (errno == E2BIG || errno == ENOMEM || errno == ENOSPC)
      throw Error(Errc::refused, "too many bindings: the " + map.name() + " map is full");
    throw_errno("writing map " + map.name());
  };
  try {
    for (; added < domain.bindings.size(); ++added) {
      add(domain.bindings[added]);
      prefixes |= !domain.bindings[added].is_exact();
    }
    if (prefixes)
      mark_prefix_bindings();
  } catch (...) {
    Domain partial = domain;
    partial.bindings.resize(added);
    remove_domain(partial);
    throw;
  }
}

void BpfDataplane::remove_domain(const Domain &domain) {
  bool prefixes = false;
  // Only what is still bound to this domain: a repeated removal must never
  // take a binding that has since gone to another domain.
  for (const auto &binding : domain.bindings)
    if (binding_owner(binding) == domain.id) {
      const zd_prefix_key key = binding_key(binding);
      if (is_exact_key(key))
        maps_[DataMap::bindings].erase(key.binding);
      else
        maps_[DataMap::prefixes].erase(key);
    }
  for (const auto &binding : domain.bindings)
    prefixes |= !binding.is_exact();
  if (prefixes)
    mark_prefix_bindings();
  maps_[DataMap::routes].erase(domain.id);
  maps_[DataMap::domain_stats].erase(domain.id);
}

std::optional<Route> BpfDataplane::route(uint32_t domain) const {
  zd_route route{};
  if (maps_[DataMap::routes].lookup(domain, route))
    return Route{route.active, route.previous, route.canary, route.canary_weight};
  return std::nullopt;
}

std::vector<std::pair<uint32_t, Route>> BpfDataplane::routes() const {
  std::vector<std::pair<uint32_t, Route>> out;
  maps_[DataMap::routes].for_each<uint32_t, zd_route>([&](uint32_t domain, const zd_route &r) {
    out.push_back({domain, {r.active, r.previous, r.canary, r.canary_weight}});
  });
  return out;
}

void BpfDataplane::set_route(uint32_t domain, const Route &route) {
  // One update of a non-preallocated hash: the program sees the old value
  // or the new one, never a mix (bpf/zd_maps.bpf.h).
  const zd_route value{route.active, route.previous, route.canary, route.canary_weight};
  maps_[DataMap::routes].update(domain, value);
}

void BpfDataplane::check_workspace(const Workspace &workspace) const {
  if (in_container(workspace))
    container::check(dir_, workspace);
}

void BpfDataplane::add_workspace(const Workspace &workspace,
                                 const std::vector<TakenSocket> &sockets) {
  reset_counters(maps_[DataMap::workspace_stats], workspace.id);
  set_failing(workspace.id, false); // an id given again starts healthy
  if (in_container(workspace)) {
    try {
      container::add(dir_, maps_, workspace, sockets);
    } catch (...) {
      container::remove(dir_, maps_, workspace);
      throw;
    }
    return;
  }
  BpfMap &map = maps_[DataMap::sockets];
  size_t added = 0;
  try {
    for (; added < workspace.sockets.size(); ++added) {
      const zd_socket_key key = key_of(workspace, workspace.sockets[added]);
      const uint64_t fd =
          static_cast<uint64_t>(taken_for(sockets, workspace.sockets[added]).fd.get());
      if (bpf_map_update_elem(map.fd(), &key, &fd, BPF_NOEXIST) == 0)
        continue;
      if (errno == EOPNOTSUPP)
        throw Error(Errc::invalid, "the kernel refused the socket for the sockets map (not a "
                                   "listening TCP socket?)");
      throw_errno("adding socket to map sockets");
    }
  } catch (...) {
    for (size_t i = 0; i < added; ++i)
      map.erase(key_of(workspace, workspace.sockets[i]));
    throw;
  }
}

void BpfDataplane::remove_workspace(const Workspace &workspace) {
  set_failing(workspace.id, false);
  if (in_container(workspace))
    return container::remove(dir_, maps_, workspace);
  for (const auto &socket : workspace.sockets)
    maps_[DataMap::sockets].erase(key_of(workspace, socket));
}

bool BpfDataplane::failing(uint32_t workspace) const {
  zd_health health{};
  return maps_[DataMap::health].lookup(workspace, health) && health.failing;
}

// An array entry: cleared, not erased. Not written when it already says so,
// which spares every workspace add and remove a needless kernel write.
void BpfDataplane::set_failing(uint32_t workspace, bool failing) {
  if (this->failing(workspace) == failing)
    return;
  maps_[DataMap::health].update(workspace, zd_health{failing ? 1u : 0u});
}

bool BpfDataplane::alive(const Workspace &workspace, const RegisteredSocket &socket) const {
  // The SOCKHASH's 8-byte value reads back as the socket's cookie.
  uint64_t cookie = 0;
  return maps_[DataMap::sockets].lookup(key_of(workspace, socket), cookie) &&
         cookie == socket.cookie;
}

bool BpfDataplane::prepared(const Domain &domain, const Workspace &workspace) const {
  return !in_container(workspace) || container::prepared(dir_, domain, workspace);
}

void BpfDataplane::prepare(const Domain &domain, const Workspace &workspace) {
  if (in_container(workspace))
    container::prepare(dir_, domain, workspace);
}

void BpfDataplane::unprepare(const Domain &domain, const Workspace &workspace) {
  if (in_container(workspace))
    container::unprepare(dir_, domain, workspace);
}

std::optional<ContainerStatus> BpfDataplane::container_status(const Workspace &workspace) const {
  if (!in_container(workspace))
    return std::nullopt;
  return container::status(dir_, workspace);
}

size_t BpfDataplane::open_connections(const Workspace &workspace,
                                      const std::vector<Domain> &domains) const {
  if (!in_container(workspace))
    return 0;
  return container::open_connections(dir_, workspace, domains);
}

std::map<uint64_t, AcceptQueue> BpfDataplane::accept_queues() const {
  return listener_queues(); // sk_lookup delivers to this namespace's listeners
}

SocketTable BpfDataplane::socket_table() const {
  // Processes first: a connection accepted meanwhile is then not yet held
  // by any, rather than held by a process that was not seen holding it.
  SocketTable table;
  table.processes = socket_inodes_by_process();
  table.listener_inodes = listener_inodes();
  table.connections = tcp_connections();
  return table;
}

std::vector<Connection> BpfDataplane::netns_connections(const Workspace &workspace) const {
  return container::connections(dir_, workspace);
}

size_t BpfDataplane::close_connections(const Workspace &workspace,
                                       const std::vector<Connection> &connections) {
  if (in_container(workspace))
    return container::close_connections(dir_, workspace, connections);
  return destroy_connections(connections);
}

namespace {

// Entries of a hash map, counted in batches of keys and values: the flow
// table holds up to 262,144 and status must stay quick.
uint64_t count_entries(const BpfMap &map, uint32_t key_size, uint32_t value_size) {
  constexpr uint32_t kBatch = 4096;
  std::vector<unsigned char> keys(size_t{kBatch} * key_size), values(size_t{kBatch} * value_size);
  uint64_t total = 0;
  uint64_t in = 0, out = 0;
  bool first = true;
  for (;;) {
    uint32_t count = kBatch;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    const int rc = bpf_map_lookup_batch(map.fd(), first ? nullptr : &in, &out, keys.data(),
                                        values.data(), &count, &opts);
    if (rc != 0 && errno != ENOENT)
      throw_errno("counting map " + map.name());
    total += count;
    if (rc != 0) // ENOENT: that was the last batch
      return total;
    in = out;
    first = false;
  }
}

std::string xdp_mode(int ifindex) {
  LIBBPF_OPTS(bpf_xdp_query_opts, opts);
  if (bpf_xdp_query(ifindex, 0, &opts) != 0)
    return "detached";
  switch (opts.attach_mode) {
  case XDP_ATTACHED_DRV:
    return "native";
  case XDP_ATTACHED_SKB:
    return "generic";
  case XDP_ATTACHED_NONE:
    return "detached";
  default:
    return "other";
  }
}

} // namespace

XdpStatus BpfDataplane::xdp_status() const {
  XdpStatus status;
  if (dir_.empty())
    return status;
  for (int ifindex : xdp_interfaces(dir_)) {
    char ifname[IF_NAMESIZE] = {};
    status.interfaces.push_back({if_indextoname(static_cast<unsigned>(ifindex), ifname)
                                     ? std::string(ifname)
                                     : "#" + std::to_string(ifindex),
                                 xdp_mode(ifindex)});
  }
  if (access((dir_ + "/" + kXdpMaps[0].pin).c_str(), F_OK) != 0)
    return status;
  const BpfMap flows =
      BpfMap::open_pin(dir_, kXdpMaps[static_cast<size_t>(XdpMap::flows)].pin, OpenFor::read);
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(flows.fd(), &info, &len) != 0)
    throw_errno("reading map flows");
  status.flow_capacity = info.max_entries;
  status.flows = count_entries(flows, info.key_size, info.value_size);

  const BpfMap stats =
      BpfMap::open_pin(dir_, kXdpMaps[static_cast<size_t>(XdpMap::stats)].pin, OpenFor::read);
  const int cpus = libbpf_num_possible_cpus();
  std::vector<zd_xdp_counters> per_cpu(static_cast<size_t>(cpus > 0 ? cpus : 1));
  if (stats.lookup(uint32_t{0}, *per_cpu.data()))
    for (const auto &c : per_cpu) {
      status.flows_added += c.flows_added;
      status.steered += c.steered, status.fallbacks += c.fallbacks, status.drops += c.drops;
      status.followed += c.followed, status.to_host += c.to_host;
      status.flow_misses += c.flow_misses;
      status.forwarded += c.forwarded, status.unwrapped += c.unwrapped;
      status.forward_errors += c.forward_errors, status.too_big += c.too_big;
    }
  status.nodes = forward::traffic(dir_);
  return status;
}

std::vector<NodeEntry> BpfDataplane::nodes() const {
  return forward::nodes(dir_);
}

void BpfDataplane::put_node(const NodeEntry &node, const FabricNode &self, uint32_t mtu) {
  forward::put_node(dir_, node, self, mtu);
}

std::map<uint32_t, InstanceTable> BpfDataplane::instance_tables() const {
  return forward::tables(dir_);
}

void BpfDataplane::set_instances(uint32_t workspace, const std::optional<InstanceTable> &table) {
  forward::set_instances(dir_, workspace, table);
}

std::set<uint32_t> BpfDataplane::preferring_local() const {
  return forward::preferring_local(dir_);
}

void BpfDataplane::set_prefer_local(uint32_t domain, bool prefer) {
  forward::set_prefer_local(dir_, domain, prefer);
}

Counters BpfDataplane::domain_counters(uint32_t domain) const {
  return sum_counters(maps_[DataMap::domain_stats], domain);
}

std::vector<Counters> BpfDataplane::all_domain_counters() const {
  return all_counters(maps_[DataMap::domain_stats], ZD_MAX_DOMAINS + 1);
}

std::vector<Counters> BpfDataplane::all_workspace_counters() const {
  return all_counters(maps_[DataMap::workspace_stats], ZD_MAX_WORKSPACES + 1);
}

std::vector<bool> BpfDataplane::all_failing() const {
  std::vector<bool> out;
  for (const zd_health &health :
       maps_[DataMap::health].array_values<zd_health>(ZD_MAX_WORKSPACES + 1))
    out.push_back(health.failing != 0);
  return out;
}

// A per-CPU map (array or hash) of counters in batches: each value holds a
// zd_counters per possible CPU, summed here; indexed by id, `size` of them.
std::vector<Counters> BpfDataplane::all_counters(const BpfMap &map, size_t size) {
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0)
    throw Error(Errc::kernel, "cannot count possible CPUs");
  constexpr uint32_t kBatch = 4096;
  std::vector<uint32_t> keys(kBatch);
  std::vector<zd_counters> values(static_cast<size_t>(kBatch) * static_cast<size_t>(cpus));
  std::vector<Counters> out(size);
  uint32_t in_batch = 0, out_batch = 0;
  for (bool first = true;; first = false) {
    uint32_t count = kBatch;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    const int rc = bpf_map_lookup_batch(map.fd(), first ? nullptr : &in_batch, &out_batch,
                                        keys.data(), values.data(), &count, &opts);
    if (rc != 0 && errno != ENOENT)
      throw_errno("reading map " + map.name());
    for (uint32_t i = 0; i < count; ++i) {
      zd_counters total{};
      for (int cpu = 0; cpu < cpus; ++cpu) {
        const zd_counters &c =
            values[static_cast<size_t>(i) * static_cast<size_t>(cpus) + static_cast<size_t>(cpu)];
        total.lookups += c.lookups;
        total.steered += c.steered;
        total.fallbacks += c.fallbacks;
        total.drops += c.drops;
      }
      if (keys[i] < out.size())
        out[keys[i]] = counters_of(total);
    }
    if (rc != 0)
      return out;
    in_batch = out_batch;
  }
}

Counters BpfDataplane::workspace_counters(uint32_t workspace) const {
  return sum_counters(maps_[DataMap::workspace_stats], workspace);
}

} // namespace zd
