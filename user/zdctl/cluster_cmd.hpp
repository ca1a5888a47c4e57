// zdctl's commands with --cluster: they act on the cluster's desired state
// in etcd (cluster/cluster.hpp), not on this host's.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "cluster.hpp"
#include "commands.hpp"
#include "etcd.hpp"

namespace zdctl {

zd::etcd::Options cluster_etcd_options(const Options &opts);
// serve --node, or the host's name.
std::string cluster_node_name(const Options &opts);
// `zdctl --cluster status --json`: the desired routes, each live host's
// state of each, and the hosts (also the page's and the API's).
nlohmann::json cluster_status_json(const zd::cluster::Cluster &cluster);

} // namespace zdctl
