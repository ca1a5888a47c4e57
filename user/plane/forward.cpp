#include "forward.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "error.hpp"
#include "xdp.hpp"
#include "zd_shared.h"

namespace zd::forward {

namespace {

BpfMap map_of(const std::string &dir, XdpMap map, OpenFor open_for) {
  return BpfMap::open_pin(dir, kXdpMaps[static_cast<size_t>(map)].pin, open_for);
}

BpfMap writable(const std::string &dir, XdpMap map) {
  if (!available(dir))
    throw Error(Errc::refused, "forwarding to other hosts needs the XDP plane on this host's "
                               "ingress and fabric interfaces: zdctl attach --xdp IFACE");
  return map_of(dir, map, OpenFor::write);
}

FabricNode node_of(const zd_node &n) {
  FabricNode node;
  node.name.assign(n.name, strnlen(n.name, sizeof(n.name)));
  if (n.fabric & ZD_FABRIC_V4) {
    std::array<uint8_t, 4> a{};
    std::memcpy(a.data(), &n.v4.dst, 4);
    node.v4 = a;
  }
  if (n.fabric & ZD_FABRIC_V6) {
    std::array<uint8_t, 16> a{};
    std::memcpy(a.data(), n.v6.dst, 16);
    node.v6 = a;
  }
  return node;
}

} // namespace

bool available(const std::string &dir) {
  return !dir.empty() &&
         access((dir + "/" + kXdpMaps[static_cast<size_t>(XdpMap::instances)].pin).c_str(), F_OK) ==
             0;
}

std::vector<NodeEntry> nodes(const std::string &dir) {
  std::vector<NodeEntry> out;
  if (!available(dir))
    return out;
  for (const auto &[id, n] : map_of(dir, XdpMap::nodes, OpenFor::read).entries<uint32_t, zd_node>())
    out.push_back({id, node_of(n)});
  std::sort(out.begin(), out.end(),
            [](const NodeEntry &a, const NodeEntry &b) { return a.id < b.id; });
  return out;
}

// The entry holds both ends of each tunnel: this host's address as the
// source, the node's as the destination (for this host's own entry, both
// are its own: what it unwraps is addressed there).
void put_node(const std::string &dir, const NodeEntry &node, const FabricNode &self, uint32_t mtu) {
  zd_node n{};
  const size_t length = std::min(node.node.name.size(), sizeof(n.name) - 1);
  std::memcpy(n.name, node.node.name.data(), length);
  if (node.node.v4 && self.v4) {
    n.fabric |= ZD_FABRIC_V4;
    std::memcpy(&n.v4.src, self.v4->data(), 4);
    std::memcpy(&n.v4.dst, node.node.v4->data(), 4);
    n.v4.mss = tunnel_mss(mtu, false);
  }
  if (node.node.v6 && self.v6) {
    n.fabric |= ZD_FABRIC_V6;
    std::memcpy(n.v6.src, self.v6->data(), 16);
    std::memcpy(n.v6.dst, node.node.v6->data(), 16);
    n.v6.mss = tunnel_mss(mtu, true);
  }
  writable(dir, XdpMap::nodes).update(node.id, n);
}

std::map<uint32_t, InstanceTable> tables(const std::string &dir) {
  std::map<uint32_t, InstanceTable> out;
  if (!available(dir))
    return out;
  // One by one: a batch of 8 KB values would want a large buffer for the
  // few workspaces that have one.
  const BpfMap map = map_of(dir, XdpMap::instances, OpenFor::read);
  uint32_t key = 0, next = 0;
  const uint32_t *prev = nullptr;
  zd_instances value{};
  while (bpf_map_get_next_key(map.fd(), prev, &next) == 0) {
    if (map.lookup(next, value)) {
      InstanceTable &table = out[next];
      table.local = value.local != 0;
      table.table.assign(value.table, value.table + ZD_MAGLEV_SIZE);
    }
    key = next;
    prev = &key;
  }
  if (errno != ENOENT)
    throw_errno("listing map " + map.name());
  return out;
}

void set_instances(const std::string &dir, uint32_t workspace,
                   const std::optional<InstanceTable> &table) {
  if (!table) {
    if (available(dir))
      map_of(dir, XdpMap::instances, OpenFor::write).erase(workspace);
    return;
  }
  if (table->table.size() != ZD_MAGLEV_SIZE)
    throw Error(Errc::invalid, "a Maglev table has " + std::to_string(ZD_MAGLEV_SIZE) + " slots");
  zd_instances value{};
  std::vector<uint16_t> distinct(table->table);
  std::sort(distinct.begin(), distinct.end());
  value.count =
      static_cast<uint32_t>(std::unique(distinct.begin(), distinct.end()) - distinct.begin());
  value.local = table->local ? 1 : 0;
  std::copy(table->table.begin(), table->table.end(), value.table);
  writable(dir, XdpMap::instances).update(workspace, value);
}

namespace {

bool has_options(const std::string &dir) {
  return !dir.empty() &&
         access((dir + "/" + kXdpMaps[static_cast<size_t>(XdpMap::domain_options)].pin).c_str(),
                F_OK) == 0;
}

} // namespace

std::set<uint32_t> preferring_local(const std::string &dir) {
  std::set<uint32_t> out;
  if (!has_options(dir))
    return out;
  for (const auto &[id, options] :
       map_of(dir, XdpMap::domain_options, OpenFor::read).entries<uint32_t, zd_domain_options>())
    if (options.flags & ZD_PREFER_LOCAL)
      out.insert(id);
  return out;
}

void set_prefer_local(const std::string &dir, uint32_t domain, bool prefer) {
  if (!prefer) {
    if (has_options(dir))
      map_of(dir, XdpMap::domain_options, OpenFor::write).erase(domain);
    return;
  }
  if (!has_options(dir))
    throw Error(Errc::refused, available(dir)
                                   ? "this state's XDP plane predates --prefer-local: zdctl attach "
                                     "--xdp IFACE again (or zdctl upgrade) adds it"
                                   : "--prefer-local needs the XDP plane, which forwards to other "
                                     "hosts: zdctl attach --xdp IFACE");
  writable(dir, XdpMap::domain_options).update(domain, zd_domain_options{ZD_PREFER_LOCAL});
}

std::vector<NodeTraffic> traffic(const std::string &dir) {
  std::vector<NodeTraffic> out;
  if (!available(dir))
    return out;
  std::map<uint32_t, uint64_t> held;
  map_of(dir, XdpMap::flows, OpenFor::read)
      .for_each<zd_flow_key, zd_flow>([&](const zd_flow_key &, const zd_flow &flow) {
        if (flow.node != ZD_NODE_SELF)
          ++held[flow.node];
      });
  const BpfMap stats = map_of(dir, XdpMap::node_stats, OpenFor::read);
  const int cpus = libbpf_num_possible_cpus();
  std::vector<zd_node_counters> per_cpu(static_cast<size_t>(cpus > 0 ? cpus : 1));
  for (const NodeEntry &entry : nodes(dir)) {
    if (entry.id == 0)
      continue;
    NodeTraffic t{entry.node.name};
    if (stats.lookup(entry.id, *per_cpu.data()))
      for (const auto &c : per_cpu) {
        t.flows += c.flows, t.packets += c.packets, t.bytes += c.bytes;
        t.errors += c.errors;
      }
    t.flows_held = held[entry.id];
    out.push_back(t);
  }
  std::sort(out.begin(), out.end(),
            [](const NodeTraffic &a, const NodeTraffic &b) { return a.node < b.node; });
  return out;
}

} // namespace zd::forward
