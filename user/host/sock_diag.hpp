// What the kernel's sock_diag says about the TCP sockets of this network
// namespace: how full each listener's accept queue is (a workspace whose app
// stopped accepting still has a live socket, so zd keeps steering to it; this
// is how status shows it, docs/operations.md, "When a workspace dies"), the
// open connections and the listeners' inodes (which workspace holds what,
// core/connections.hpp), and closing a connection from outside.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "connections.hpp"
#include "model.hpp"

namespace zd {

// Every TCP listener of this network namespace, IPv4 and IPv6, by socket
// cookie. One netlink dump per family.
std::map<uint64_t, AcceptQueue> listener_queues();

// The local address and port of every TCP connection of this network
// namespace that is open or closing (TIME_WAIT and listeners left out).
std::vector<Endpoint> connection_endpoints();

// Those connections in full (inode, cookie, both ends), and every listener's
// inode by cookie: the host's part of a SocketTable.
std::vector<Connection> tcp_connections();
std::map<uint64_t, uint64_t> listener_inodes();

// Closes each connection as `ss -K` does (SOCK_DESTROY, which needs
// CONFIG_INET_DIAG_DESTROY): the peer gets a reset, the process holding it
// ECONNABORTED on its next call. Returns how many it closed; one already
// gone (or replaced: the cookie must match) is not counted.
size_t destroy_connections(const std::vector<Connection> &connections);

} // namespace zd
