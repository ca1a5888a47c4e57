// Which process holds which sockets, from /proc/PID/fd: each socket fd
// reads back as "socket:[INODE]", the inode sock_diag reports. Used to tell
// which workspace holds a connection (core/connections.hpp).
#pragma once

#include <cstdint>
#include <vector>

#include "connections.hpp"

namespace zd {

// Every process of this /proc, its parent and the socket inodes it holds.
// A process that exits meanwhile is skipped, one whose fds cannot be read
// holds none: a scan is a snapshot, never an error.
std::vector<ProcessSockets> socket_inodes_by_process();

} // namespace zd
