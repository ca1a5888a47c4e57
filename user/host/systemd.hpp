// Taking the listening sockets that systemd passes by socket activation
// (LISTEN_FDS, LISTEN_FDNAMES, LISTEN_PID), for `workspace add --systemd`.
// The socket unit holds them, and passes the same ones to the app's service
// and to zdctl's, so a workspace registered this way outlives app restarts.
#pragma once

#include <string>
#include <vector>

#include "model.hpp"

namespace zd {

// Duplicates the sockets passed to this process whose FileDescriptorName=
// is one of names (all of them when names is empty), like inherited fds.
// Throws Error when none were passed, a name was not passed, or a chosen
// one is not a listening TCP socket.
std::vector<TakenSocket> sockets_from_systemd(const std::vector<std::string> &names);

} // namespace zd
