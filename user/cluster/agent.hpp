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
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster.hpp"
#include "cluster_marks.hpp"
#include "etcd.hpp"

namespace zd::cluster {

class Agent {
public:
  Agent(std::string state, etcd::Options etcd, Keys keys, std::string node);
  ~Agent(); // stops both threads, revokes the lease
  Agent(const Agent &) = delete;
  Agent &operator=(const Agent &) = delete;

private:
  void follow(); // the desired state into the host's
  void report(); // the registration and the workspaces out
  void sync();
  bool apply_together(const std::vector<std::string> &names, int64_t revision,
                      const nlohmann::json &here);
  void apply_domain(const std::string &name, int64_t revision, const nlohmann::json &here);
  void publish_applied(int64_t revision);
  nlohmann::json local_workspaces() const;
  bool pause(std::chrono::milliseconds wait); // false once stopping

  const std::string state_, node_;
  const Keys keys_;
  etcd::Client follow_client_, report_client_;
  std::map<std::string, nlohmann::json> desired_; // as stored in etcd
  std::map<std::string, std::pair<int64_t, std::string>> errors_;
  // Which domains it manages, for local commands to see (cluster_marks.hpp).
  ClusterMarks marks_;
  int64_t revision_ = 0;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<bool> stopping_{false};
  std::thread follower_, reporter_;
};

} // namespace zd::cluster
