// Finding and vetting the listening sockets that workspaces register:
// taken from a running process with pidfd_getfd, or inherited as an fd.
#pragma once

#include <cstdint>

#include "fd.hpp"
#include "parse.hpp"

namespace zd {

struct SocketInfo {
  Endpoint bound; // family, protocol, address and port from getsockname
  bool listening = false;
  uint64_t cookie = 0;       // SO_COOKIE
  uint64_t netns_cookie = 0; // SO_NETNS_COOKIE: which network namespace
};

// Throws Error when fd is not an inet socket.
SocketInfo inspect_socket(int fd);

// The netns cookie of the namespace this process runs in.
uint64_t current_netns_cookie();

// Duplicates the listening socket of process pid that is bound to want
// (or to the wildcard address of want's family on want's port). Throws
// Error for a dead pid, no such socket, or one that is not listening.
Fd socket_from_pid(int pid, const Endpoint &want);

// Duplicates an inherited fd of this process, checking it is a socket.
Fd socket_from_fd(int fd);

} // namespace zd
