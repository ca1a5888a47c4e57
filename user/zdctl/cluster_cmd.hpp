// zdctl's commands with --cluster: they act on the cluster's desired state
// in etcd (cluster/cluster.hpp), not on this host's.
#pragma once

#include <string>

#include "commands.hpp"
#include "etcd.hpp"

namespace zdctl {

zd::etcd::Options cluster_etcd_options(const Options &opts);
// serve --node, or the host's name.
std::string cluster_node_name(const Options &opts);

} // namespace zdctl
