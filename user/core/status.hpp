// The status view: what `zdctl status` (and later the HTTP API) shows,
// assembled by the control plane from records, routes and counters.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fabric.hpp"
#include "model.hpp"

namespace zd {

struct SocketStatus {
  RegisteredSocket socket;
  bool alive = false;               // the data plane still holds this very socket
  std::optional<AcceptQueue> queue; // while alive
};

// A workspace in a namespace of its own, as the XDP plane reaches it.
struct ContainerStatus {
  std::string interface; // the host-side veth frames are redirected to
  uint64_t netns = 0;    // the namespace's inode; 0 once it is gone
};

struct WorkspaceStatus {
  std::string name;
  uint32_t id = kNoId;
  uint32_t pid = 0; // 0 when registered by an inherited fd
  std::vector<SocketStatus> sockets;
  Counters counters;
  std::map<std::string, uint64_t> connections; // established connections per domain name
  Placement placement = Placement::this_netns;
  std::optional<ContainerStatus> container; // other_netns only
  std::optional<HealthCheck> health_check;  // run by zdctl serve
  // What it last concluded (none: never checked). failing is the data
  // plane's own bit: what steers.
  std::optional<Health> health;
  bool failing = false;
  // The hosts with a live instance of it, when some are other hosts: its
  // new flows are spread over them (this host's name among them if it has one).
  std::vector<std::string> instances;
};

struct DomainStatus {
  std::string name;
  uint32_t id = kNoId;
  std::vector<Endpoint> bindings;
  std::string active;   // "" when none
  std::string previous; // "" when none
  Counters counters;
  std::optional<Check> check; // what its switches and reverts check by default
  std::string canary;         // "" when none
  uint32_t canary_weight = 0; // percent of new connections, with a canary
  CanaryPolicy canary_policy; // with a canary: what serve does with it
  bool prefer_local = false;  // new flows stay on a live local instance (--prefer-local)
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
  uint64_t flows_added = 0; // flows written on a SYN since attach
  uint64_t steered = 0, fallbacks = 0, drops = 0, followed = 0, to_host = 0, flow_misses = 0;
  // Across hosts: packets sent to other hosts, unwrapped from them, and not
  // sent; and per other host, what went there.
  uint64_t forwarded = 0, unwrapped = 0, forward_errors = 0;
  uint64_t too_big = 0; // too big once wrapped: the sender was told the size that fits (ICMP)
  std::vector<NodeTraffic> nodes; // sorted by name
  // Flows the LRU table dropped to make room (all but the ones it holds:
  // zd never deletes a flow itself).
  uint64_t evictions() const { return flows_added > flows ? flows_added - flows : 0; }
};

struct Status {
  std::vector<DomainStatus> domains;       // sorted by name
  std::vector<WorkspaceStatus> workspaces; // sorted by name
  XdpStatus xdp;
};

} // namespace zd
