// What the kernel's sock_diag says about the TCP listeners of this network
// namespace: how full each accept queue is. A workspace whose app stopped
// accepting still has a live socket, so zd keeps steering to it; this is how
// status shows it (docs/operations.md, "When a workspace dies").
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "model.hpp"

namespace zd {

// Every TCP listener of this network namespace, IPv4 and IPv6, by socket
// cookie. One netlink dump per family.
std::map<uint64_t, AcceptQueue> listener_queues();

// The local address and port of every TCP connection of this network
// namespace that is open or closing (TIME_WAIT and listeners left out).
std::vector<Endpoint> connection_endpoints();

} // namespace zd
