// Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable
// Software Network Load Balancer", NSDI 2016, section 3.4): a lookup table
// of a prime number of entries, each naming one backend, filled so that
// every backend holds an almost equal share and a change of the backend set
// moves few entries. The data plane picks a new flow's backend as
// table[flow_hash % size]; an established flow keeps the backend its flow
// entry names, whatever the table becomes.
//
// For issue 21 (a workspace's replicas on several hosts): the backends are
// a workspace's live instances, named "NODE/WORKSPACE"; the same names give
// the same table on every host, so every ingress host sends a flow to the
// same instance.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace zd {

// A prime comfortably above 100 x the instances a workspace will have (the
// paper's rule for a share within 1 %), small enough for a BPF array.
inline constexpr uint32_t kMaglevTableSize = 4099;

// The table: for each entry, the index in `backends` of the backend it
// names. Empty when there are no backends. Depends only on the names and
// the size (a prime; Error(invalid) otherwise), never on their order.
std::vector<uint32_t> maglev_table(const std::vector<std::string> &backends,
                                   uint32_t size = kMaglevTableSize);

} // namespace zd
