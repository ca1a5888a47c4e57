// Which open TCP connections a workspace holds, and to which domain: what
// status shows per workspace and what `zdctl drain` waits for.
//
// A connection steered by sk_lookup keeps the domain's address and port as
// its local end, so neither tells blue's from green's. What does is the
// process: a connection belongs to the workspace whose listener the
// accepting process holds. The host lists every open connection with its
// socket inode, each listener's inode by cookie (sock_diag), and the socket
// inodes each process holds (/proc/PID/fd); the rules below join them.
//
// Why inodes and not the cgroup id (INET_DIAG_CGROUP_ID): an accepted
// socket inherits its listener's cgroup, which tells workspaces apart only
// when each runs in a cgroup of its own (a systemd unit, a container).
// Blue and green started from one shell or one supervisor share theirs, and
// a cgroup says nothing about which of two listeners a connection came
// from. The fds a process holds are what it can read, write and close.
//
// A graceful shutdown (nginx -s quit, Go's Server.Shutdown, Node's
// server.close) closes the listener first and finishes its connections
// after: then no process holds a listener any more, and the workspace's
// processes are found from the pid it was registered with, that process and
// its descendants (workers), for as long as they live.
//
// What this misses: a connection handed to a process that holds no
// listener of the workspace (SCM_RIGHTS to a helper), and connections still
// in an accept queue (no process holds them yet; status shows the queue).
// A process holding listeners of two workspaces has its connections counted
// for both.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "model.hpp"

namespace zd {

// An open TCP connection as sock_diag shows it: enough to attribute it
// (its inode and local end) and to name it again to close it.
struct Connection {
  uint8_t family = 0;   // the socket's own: AF_INET6 for IPv4 on a dual-stack socket
  Endpoint local;       // an IPv4-mapped address is given as IPv4, as domains bind it
  Endpoint remote;      // likewise
  uint32_t ifindex = 0; // the device it is bound to, 0 for none
  uint64_t cookie = 0;
  uint64_t inode = 0; // 0 while it waits in an accept queue
};

// A process and the socket inodes it holds (sorted).
struct ProcessSockets {
  uint32_t pid = 0;
  uint32_t parent = 0;
  std::vector<uint64_t> inodes;
};

// What the host says about the TCP sockets of one network namespace, taken
// together so the parts agree.
struct SocketTable {
  std::vector<Connection> connections;          // open or closing; not TIME_WAIT, not listening
  std::map<uint64_t, uint64_t> listener_inodes; // listening socket's cookie -> its inode
  std::vector<ProcessSockets> processes;        // every process, socket or not
};

// The connections each workspace of this namespace holds, by workspace id:
// those whose inode is held by a process that holds one of its listeners,
// or by its registered pid or a descendant of it.
// Workspaces that hold none are left out.
std::map<uint32_t, std::vector<Connection>>
connections_by_workspace(const SocketTable &table, const std::vector<Workspace> &workspaces);

// The connections whose local end is an address of the domain.
std::vector<Connection> connections_to(const std::vector<Connection> &connections,
                                       const Domain &domain);

} // namespace zd
