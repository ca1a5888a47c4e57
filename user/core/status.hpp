// The status view: what `zdctl status` (and later the HTTP API) shows,
// assembled by the control plane from records, routes and counters.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "model.hpp"

namespace zd {

struct SocketStatus {
  RegisteredSocket socket;
  bool alive = false;               // the data plane still holds this very socket
  std::optional<AcceptQueue> queue; // while alive
};

struct WorkspaceStatus {
  std::string name;
  uint32_t id = kNoId;
  uint32_t pid = 0; // 0 when registered by an inherited fd
  std::vector<SocketStatus> sockets;
  Counters counters;
};

struct DomainStatus {
  std::string name;
  uint32_t id = kNoId;
  std::vector<Endpoint> bindings;
  std::string active;   // "" when none
  std::string previous; // "" when none
  Counters counters;
};

struct Status {
  std::vector<DomainStatus> domains;       // sorted by name
  std::vector<WorkspaceStatus> workspaces; // sorted by name
};

} // namespace zd
