// The status view: what `zdctl status` (and later the HTTP API) shows,
// assembled by the control plane from records, routes and counters.
#pragma once

#include <cstdint>
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

// The XDP plane: where it steers and what it has seen.
struct XdpInterfaceStatus {
  std::string name; // the interface's name, or "#IFINDEX" if it is gone
  std::string mode; // "native", "generic", or "detached" (taken off behind zd's back)
};

struct XdpStatus {
  std::vector<XdpInterfaceStatus> interfaces; // sorted by name
  uint64_t flows = 0;                         // entries in the flow table
  uint64_t flow_capacity = 0;
  uint64_t steered = 0, fallbacks = 0, drops = 0, followed = 0, to_host = 0, flow_misses = 0;
};

struct Status {
  std::vector<DomainStatus> domains;       // sorted by name
  std::vector<WorkspaceStatus> workspaces; // sorted by name
  XdpStatus xdp;
};

} // namespace zd
