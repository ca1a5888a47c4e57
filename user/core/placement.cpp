// ControlPlane::place: the cluster's picture of where workspaces run, made
// into the XDP plane's node ids and Maglev tables.
#include <algorithm>
#include <set>

#include "control.hpp"
#include "error.hpp"
#include "ids.hpp"
#include "maglev.hpp"
#include "parse.hpp"

namespace zd {

namespace {

// The node ids of the hosts, those already given kept (flows name them),
// new ones the smallest free.
std::map<std::string, uint32_t> node_ids(const std::vector<NodeEntry> &held, const Fabric &fabric) {
  std::map<std::string, uint32_t> ids;
  std::set<uint32_t> used;
  for (const auto &entry : held)
    if (entry.id != 0) {
      ids[entry.node.name] = entry.id;
      used.insert(entry.id);
    }
  uint32_t next = 1;
  for (const auto &node : fabric.nodes) {
    if (node.name == fabric.self.name || ids.count(node.name))
      continue;
    while (used.count(next))
      ++next;
    if (next >= kMaxNodes)
      throw Error(Errc::refused, "the fabric has room for " + std::to_string(kMaxNodes - 1) +
                                     " other hosts, and host '" + node.name +
                                     "' would be one more");
    ids[node.name] = next;
    used.insert(next);
  }
  return ids;
}

} // namespace

std::vector<std::string> ControlPlane::place(const Fabric &fabric) {
  const std::vector<NodeEntry> held = plane_.nodes();
  const std::map<std::string, uint32_t> ids = node_ids(held, fabric);
  auto write_node = [&](const NodeEntry &entry) {
    const auto same = std::find_if(held.begin(), held.end(), [&](const NodeEntry &h) {
      return h.id == entry.id && h.node == entry.node;
    });
    if (same == held.end())
      plane_.put_node(entry, fabric.self, fabric.mtu);
  };
  write_node({0, fabric.self});
  for (const auto &node : fabric.nodes)
    if (node.name != fabric.self.name)
      write_node({ids.at(node.name), node});

  std::set<std::string> live;
  for (const auto &node : fabric.nodes)
    live.insert(node.name);

  std::vector<std::string> registered;
  std::map<uint32_t, InstanceTable> tables = plane_.instance_tables();
  std::set<uint32_t> placed;
  for (const auto &[name, hosts] : fabric.instances) {
    // Instances on live hosts of the fabric, this one's included; a table
    // only when one of them is elsewhere (else the planes deliver here).
    std::vector<std::string> backends;
    bool elsewhere = false, here = false;
    for (const auto &host : hosts) {
      if (host == fabric.self.name)
        here = true;
      else if (live.count(host))
        elsewhere = true;
      else
        continue; // a host that is gone keeps its id (flows name it), not its instances
      backends.push_back(host + "/" + name);
    }
    if (!elsewhere)
      continue;
    std::optional<Workspace> workspace = store_.workspace(name);
    if (!workspace) {
      validate_name("workspace", name);
      const Ids::Pick id = Ids(store_, IdKind::workspace).pick();
      const Workspace remote = of_other_hosts(name, id.id);
      const std::vector<TakenSocket> none;
      run(Intent{Intent::Op::add_workspace, {}, remote, id.note}, &none);
      registered.push_back(name);
      workspace = remote;
    }
    InstanceTable table;
    table.local = here;
    for (const uint32_t slot : maglev_table(backends)) {
      const std::string host = backends[slot].substr(0, backends[slot].rfind('/'));
      table.table.push_back(static_cast<uint16_t>(host == fabric.self.name ? 0 : ids.at(host)));
    }
    placed.insert(workspace->id);
    const auto held_table = tables.find(workspace->id);
    if (held_table == tables.end() || !(held_table->second == table))
      plane_.set_instances(workspace->id, table);
  }
  for (const auto &[id, table] : tables)
    if (!placed.count(id))
      plane_.set_instances(id, std::nullopt); // all its instances are here, or none is
  return registered;
}

} // namespace zd
