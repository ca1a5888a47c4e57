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
  bool v6only = true;        // IPV6_V6ONLY (IPv6 sockets only)
  uint64_t cookie = 0;       // SO_COOKIE
  uint64_t netns_cookie = 0; // SO_NETNS_COOKIE: which network namespace
};

// Throws Error when fd is not an inet socket.
SocketInfo inspect_socket(int fd);

// The netns cookie of the namespace this process runs in.
uint64_t current_netns_cookie();

// A listening socket taken for a workspace, and the family of connections
// it is to serve: its own, or IPv4 for a dual-stack [::] socket, which the
// kernel lets take IPv4 connections too (the default of Go, Node.js, Java).
struct WorkspaceSocket {
  Fd fd;
  uint8_t serves = 0; // AF_INET / AF_INET6; 0: the socket's own family
};

// Duplicates the listening socket of process pid that serves want: bound to
// want exactly, else to the wildcard of want's family on want's port, else
// (for IPv4) a dual-stack [::] socket on that port. Throws Error for a dead
// pid, no such socket, or one that is not listening.
WorkspaceSocket socket_from_pid(int pid, const Endpoint &want);

// Duplicates an inherited fd of this process, checking it is a socket.
WorkspaceSocket socket_from_fd(int fd);

} // namespace zd
