// Finding the way into a workspace's network namespace: the veth pairs
// whose one end is in this namespace and the other in the namespace of a
// process (a container's), with both ends' interface indexes and MACs, as
// the XDP plane needs them to redirect frames there. Read with rtnetlink.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace zd {

using Mac = std::array<uint8_t, 6>;

struct VethPair {
  std::string host_name; // the end in this namespace
  int host_ifindex = 0;
  Mac host_mac{};
  int peer_ifindex = 0; // the end in the process's namespace (its index there)
  Mac peer_mac{};
};

// The veths from this namespace into the network namespace of pid; none
// when pid shares this namespace or no veth leads there. Throws Error for
// a process that is gone.
std::vector<VethPair> veths_into(int pid);

} // namespace zd
