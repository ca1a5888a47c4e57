// The XDP plane's forwarding to other hosts (bpf/xdp.bpf.c, issue 21): its
// node and instance maps, pinned in the state dir with the XDP program's.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "fabric.hpp"

namespace zd::forward {

// Whether the XDP plane with forwarding is pinned in dir.
bool available(const std::string &dir);

std::vector<NodeEntry> nodes(const std::string &dir);
void put_node(const std::string &dir, const NodeEntry &node, const FabricNode &self, uint32_t mtu);
std::map<uint32_t, InstanceTable> tables(const std::string &dir);
void set_instances(const std::string &dir, uint32_t workspace,
                   const std::optional<InstanceTable> &table);
// The domains (by id) whose new flows stay on a live local instance.
std::set<uint32_t> preferring_local(const std::string &dir);
// Removing the preference needs no XDP plane: without one there is none.
void set_prefer_local(const std::string &dir, uint32_t domain, bool prefer);
// Per other host: what went there, and the flows that name it now.
std::vector<NodeTraffic> traffic(const std::string &dir);

} // namespace zd::forward
