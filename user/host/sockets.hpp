// Taking the listening sockets that workspaces register: from a running
// process with pidfd_getfd, or inherited as an fd. Each socket is inspected
// once, here; the control plane judges what was found (core/control.cpp).
#pragma once

#include <cstdint>
#include <vector>

#include "fd.hpp"

#include "model.hpp"

namespace zd {

// Throws Error (invalid) when fd is not an inet socket.
SocketInfo inspect_socket(int fd);

// The netns cookie of the namespace this process runs in.
uint64_t current_netns_cookie();

// Duplicates the listening socket of process pid that serves want: bound to
// want exactly, else to the wildcard of want's family on want's port, else
// (for IPv4) a dual-stack [::] socket on that port, which the kernel lets
// take IPv4 connections too (the default of Go, Node.js, Java). Throws Error
// for a dead pid, no such socket, or one that is not listening.
TakenSocket socket_from_pid(int pid, const Endpoint &want);

// Finds the socket whose SO_COOKIE is cookie among the fds of every process
// (those in likely first) and duplicates it; an empty Fd if no process holds
// it. What `zdctl upgrade` copies a sockhash with: the map gives back a
// cookie, never the socket.
Fd socket_with_cookie(uint64_t cookie, const std::vector<int> &likely);

// Duplicates an inherited fd of this process, checking it is a socket.
TakenSocket socket_from_fd(int fd);

} // namespace zd
