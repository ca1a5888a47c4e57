#include "connections.hpp"

#include <algorithm>
#include <set>

namespace zd {

namespace {

// pid and every process below it, as indexes into processes.
std::set<size_t> self_and_descendants(const std::vector<ProcessSockets> &processes, uint32_t pid) {
  std::set<size_t> found;
  std::set<uint32_t> pids = {pid};
  // Parents before children is not promised by /proc's order: go round
  // until nothing new turns up (a process tree is shallow).
  for (bool grew = true; grew;) {
    grew = false;
    for (size_t i = 0; i < processes.size(); ++i)
      if (!found.count(i) && (pids.count(processes[i].pid) || pids.count(processes[i].parent))) {
        found.insert(i);
        pids.insert(processes[i].pid);
        grew = true;
      }
  }
  return found;
}

} // namespace

std::map<uint32_t, std::vector<Connection>>
connections_by_workspace(const SocketTable &table, const std::vector<Workspace> &workspaces) {
  // Every socket inode held by one of the workspace's processes: its
  // connections are among them.
  std::map<uint32_t, std::set<uint64_t>> held;
  for (const auto &workspace : workspaces) {
    std::vector<uint64_t> listeners;
    for (const auto &socket : workspace.sockets)
      if (auto it = table.listener_inodes.find(socket.cookie); it != table.listener_inodes.end())
        listeners.push_back(it->second);
    std::set<size_t> mine =
        workspace.pid ? self_and_descendants(table.processes, workspace.pid) : std::set<size_t>{};
    for (size_t i = 0; i < table.processes.size(); ++i) {
      const auto &inodes = table.processes[i].inodes;
      if (std::any_of(listeners.begin(), listeners.end(), [&](uint64_t listener) {
            return std::binary_search(inodes.begin(), inodes.end(), listener);
          }))
        mine.insert(i);
    }
    for (size_t i : mine)
      held[workspace.id].insert(table.processes[i].inodes.begin(), table.processes[i].inodes.end());
  }
  std::map<uint32_t, std::vector<Connection>> out;
  for (const auto &connection : table.connections) {
    if (connection.inode == 0)
      continue;
    for (const auto &[workspace, inodes] : held)
      if (inodes.count(connection.inode))
        out[workspace].push_back(connection);
  }
  return out;
}

std::vector<Connection> connections_to(const std::vector<Connection> &connections,
                                       const Domain &domain) {
  std::vector<Connection> out;
  std::copy_if(connections.begin(), connections.end(), std::back_inserter(out),
               [&](const Connection &connection) {
                 return std::any_of(
                     domain.bindings.begin(), domain.bindings.end(),
                     [&](const Endpoint &binding) { return binding.covers(connection.local); });
               });
  return out;
}

} // namespace zd
