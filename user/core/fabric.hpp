// Forwarding to other hosts (issue 21), as the control plane sees it: the
// hosts of the fabric, where each workspace has live instances, and what
// the XDP plane makes of it (a node id per host, a Maglev table per
// workspace with instances elsewhere). The cluster agent builds a Fabric
// from what every node publishes and hands it to ControlPlane::place.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace zd {

// Hosts the XDP plane can tell apart, this one included (ZD_MAX_NODES).
inline constexpr uint32_t kMaxNodes = 1024;

// A host's addresses on the fabric: the outer addresses of the tunnels.
// IPv4 flows travel over IPv4 (IPIP), IPv6 flows over IPv6 (IPv6-in-IPv6),
// so a host serves a family only when both ends have an address of it.
struct FabricNode {
  std::string name;
  std::optional<std::array<uint8_t, 4>> v4;
  std::optional<std::array<uint8_t, 16>> v6;
  bool operator==(const FabricNode &) const = default;
};

struct Fabric {
  FabricNode self;               // this host
  std::vector<FabricNode> nodes; // the other live hosts
  // Workspace name -> the hosts (by name; self.name for this one) with a
  // live instance of it that passes its check.
  std::map<std::string, std::vector<std::string>> instances;
  uint32_t mtu = 1500; // the fabric's: a forwarded SYN's MSS is lowered to fit it
};

// The largest TCP segment that still fits the fabric's MTU once wrapped,
// with room for 12 bytes of TCP options (timestamps): IPv4 inside IPv4,
// IPv6 inside IPv6.
inline uint16_t tunnel_mss(uint32_t mtu, bool v6) {
  const uint32_t headers = v6 ? 40 + 40 + 20 + 12 : 20 + 20 + 20 + 12;
  return static_cast<uint16_t>(mtu > headers + 536 ? mtu - headers : 536);
}

// A host as the data plane holds it.
struct NodeEntry {
  uint32_t id = 0; // 0: this host
  FabricNode node;
};

// Where the XDP plane spreads a workspace's new flows: its Maglev table of
// node ids, and whether one instance is this host's.
struct InstanceTable {
  std::vector<uint16_t> table; // kMaglevTableSize node ids
  bool local = false;
  bool operator==(const InstanceTable &) const = default;
};

// What one ingress host sent to one other host.
struct NodeTraffic {
  std::string node;
  uint64_t flows = 0; // new flows sent there since attach
  uint64_t packets = 0, bytes = 0;
  uint64_t errors = 0;     // not sent: no route to it, or too big
  uint64_t flows_held = 0; // entries of the flow table naming it now
};

} // namespace zd
