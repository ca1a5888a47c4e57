// The agent of one host (`zdctl serve --cluster URLS --node NAME`): it makes
// the host's state what the cluster's desired state in etcd says, and
// reports back. On start it reads every domain and applies them through
// `apply` (one crash-safe change each), then watches from the next
// revision and applies each answer's changes in revision order, never a
// later revision before an earlier one; after a lost stream it watches on
// from where it was, after a compacted revision it reads everything again.
// Beside that it holds its registration under a lease and publishes its
// workspaces (alive, failing) whenever they change. Killing it changes
// nothing for traffic: the maps stay as last applied.
//
// With a fabric address (serve --fabric, issue 21) it also places: every
// registration and every node's workspaces it watches become the XDP
// plane's picture of where each workspace runs (ControlPlane::place), so
// this host forwards new flows of a workspace it lacks to a host that has
// it, and takes in those forwarded to it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster.hpp"
#include "cluster_marks.hpp"
#include "etcd.hpp"
#include "fabric.hpp"

namespace zd::cluster {

inline constexpr std::chrono::seconds kDefaultLease{10};

class Agent {
public:
  // fabric: this host's addresses on the fabric between hosts (its name is
  // the node's); none: it neither forwards flows nor takes forwarded ones.
  // lease: how long its registration outlives it (a host gone is passed
  // over by every other one within that).
  Agent(std::string state, etcd::Options etcd, Keys keys, std::string node,
        std::optional<FabricNode> fabric = std::nullopt, uint32_t fabric_mtu = 1500,
        std::chrono::seconds lease = kDefaultLease);
  ~Agent(); // stops its threads, revokes the lease
  Agent(const Agent &) = delete;
  Agent &operator=(const Agent &) = delete;

private:
  void follow(); // the desired state into the host's
  void report(); // the registration and the workspaces out
  void place();  // every node's workspaces into the XDP plane's tables
  int64_t place_once();
  std::pair<int64_t, size_t> adopt(const etcd::Client &client);
  void await_instances(const std::vector<std::pair<std::string, int64_t>> &order,
                       const nlohmann::json &here);
  nlohmann::json workspaces_for(const std::vector<std::string> &names, const etcd::Client &client);
  void retry_refused();
  void sync();
  bool apply_together(const std::vector<std::string> &names, int64_t revision,
                      const nlohmann::json &here);
  void apply_domain(const std::string &name, int64_t revision, const nlohmann::json &here);
  void publish_applied(int64_t revision);
  nlohmann::json local_workspaces(bool with_remote = false) const;
  nlohmann::json fabric_json() const;
  bool pause(std::chrono::milliseconds wait); // false once stopping

  const std::string state_, node_;
  const Keys keys_;
  const std::optional<FabricNode> fabric_;
  const uint32_t fabric_mtu_;
  const std::chrono::seconds lease_ttl_;
  etcd::Client follow_client_, report_client_, place_client_;
  // Held while applying: the follower and the placer (which applies again
  // what was refused for a workspace it has just registered) take turns.
  std::mutex apply_mutex_;
  std::map<std::string, nlohmann::json> desired_; // as stored in etcd
  std::map<std::string, std::pair<int64_t, std::string>> errors_;
  // Which domains it manages, for local commands to see (cluster_marks.hpp).
  ClusterMarks marks_;
  std::atomic<int64_t> revision_{0};

  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<bool> stopping_{false};
  std::thread follower_, reporter_, placer_;
};

} // namespace zd::cluster
