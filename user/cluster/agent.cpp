#include "agent.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "apply_state.hpp"
#include "error.hpp"
#include "parse.hpp"
#include "state.hpp"

namespace zd::cluster {

using nlohmann::json;

namespace {

constexpr auto kLeaseTtl = std::chrono::seconds(10);
constexpr auto kKeepaliveEvery = std::chrono::seconds(3);
constexpr auto kReportEvery = std::chrono::milliseconds(500);
// A watch with nothing to say is asked again this often: the longest a
// stopping agent waits, and how soon a silently dead connection is noticed.
constexpr auto kWatchIdle = std::chrono::milliseconds(2000);
constexpr auto kRetry = std::chrono::milliseconds(250);

// This host's addresses, for the registration: every IPv4 and global IPv6
// address but loopback's.
json host_addresses() {
  json out = json::array();
  ifaddrs *all = nullptr;
  if (getifaddrs(&all) != 0)
    return out;
  for (const ifaddrs *a = all; a; a = a->ifa_next) {
    if (!a->ifa_addr || (a->ifa_flags & IFF_LOOPBACK))
      continue;
    char text[INET6_ADDRSTRLEN] = {};
    if (a->ifa_addr->sa_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in *>(a->ifa_addr)->sin_addr, text,
                sizeof(text));
    } else if (a->ifa_addr->sa_family == AF_INET6) {
      const in6_addr &v6 = reinterpret_cast<const sockaddr_in6 *>(a->ifa_addr)->sin6_addr;
      if (IN6_IS_ADDR_LINKLOCAL(&v6))
        continue;
      inet_ntop(AF_INET6, &v6, text, sizeof(text));
    } else {
      continue;
    }
    out.push_back(text);
  }
  freeifaddrs(all);
  return out;
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

} // namespace

Agent::Agent(std::string state, etcd::Options etcd, Keys keys, std::string node)
    : state_(std::move(state)), node_(std::move(node)), keys_(std::move(keys)),
      follow_client_(etcd), report_client_(etcd), marks_(ClusterMarks::for_agent(state_)) {
  validate_name("node", node_);
  follower_ = std::thread([this] { follow(); });
  reporter_ = std::thread([this] { report(); });
}

Agent::~Agent() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  follower_.join();
  reporter_.join();
}

bool Agent::pause(std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_);
  wake_.wait_for(lock, wait, [this] { return stopping_.load(); });
  return !stopping_;
}

// Everything again: every domain the cluster names is applied (those it
// removed are removed here), then the watch goes on from the revision read.
void Agent::sync() {
  const etcd::Range range = follow_client_.range(keys_.domains());
  desired_.clear();
  for (const auto &kv : range.kvs) {
    const std::string name = kv.key.substr(keys_.domains().size());
    try {
      desired_[name] = json::parse(kv.value);
    } catch (const json::exception &) {
      errors_[name] = {kv.mod_revision, "etcd holds no JSON for it"};
    }
  }
  const json here = local_workspaces();
  std::vector<std::string> names;
  for (const auto &[name, value] : desired_)
    names.push_back(name);
  if (!apply_together(names, range.revision, here))
    for (const auto &name : names)
      apply_domain(name, range.revision, here);
  for (const auto &[name, mark] : marks_.marks())
    if (!desired_.count(name))
      marks_.erase(name); // the cluster no longer names it
  revision_ = range.revision;
  publish_applied(revision_);
  spdlog::info("cluster: {} domains applied at revision {}", desired_.size(), revision_);
}

// These domains as one apply (one change: 10,000 domains in about half a
// second, where one apply each would take six). A refusal anywhere refuses
// all of it, changing nothing: then the caller applies each on its own, to
// apply what can be and say what cannot. Removed ones go one by one.
bool Agent::apply_together(const std::vector<std::string> &names, int64_t revision,
                           const json &here) {
  json document = {{"domains", json::object()}};
  for (const auto &name : names) {
    const json &value = desired_[name];
    if (value.value("removed", false))
      continue;
    const json spec = value.value("spec", json::object());
    const std::string active = spec.value("active", "");
    if (!active.empty() && (!here.contains(active) || here[active].value("failing", false)))
      return false;
    document["domains"][name] = spec;
  }
  try {
    ApplyOptions options;
    options.no_check = true;
    apply_document(State(state_), document.dump(), options);
  } catch (const std::exception &e) {
    spdlog::info("cluster: {} domains at revision {} did not apply at once ({}): one at a time",
                 names.size(), revision, e.what());
    return false;
  }
  for (const auto &name : names) {
    errors_.erase(name);
    if (desired_[name].value("removed", false))
      apply_domain(name, revision, here);
    else
      marks_.set(name, static_cast<uint64_t>(revision));
  }
  return true;
}

// One domain as the cluster wants it, through `apply` (one crash-safe
// change), or removed. What cannot be applied is kept as it was, and said.
void Agent::apply_domain(const std::string &name, int64_t revision, const json &here) {
  const json &value = desired_[name];
  try {
    const State state(state_);
    if (value.value("removed", false)) {
      state.with(Lock::exclusive, [&](ControlPlane &control) {
        if (control.has_domain(name))
          control.remove_domain(name);
      });
    } else {
      const json spec = value.value("spec", json::object());
      const std::string active = spec.value("active", "");
      if (!active.empty()) {
        if (!here.contains(active))
          throw Error(Errc::refused, "workspace '" + active + "' is not registered on " + node_);
        if (here[active].value("failing", false))
          throw Error(Errc::refused,
                      "workspace '" + active + "' is failing its health check on " + node_);
      }
      ApplyOptions options;
      options.no_check = true; // the operator's gate read every node's verdicts
      apply_document(state, json{{"domains", {{name, spec}}}}.dump(), options);
    }
    errors_.erase(name);
    if (value.value("removed", false))
      marks_.erase(name);
    else
      marks_.set(name, static_cast<uint64_t>(revision));
  } catch (const std::exception &e) {
    errors_[name] = {revision, e.what()};
    spdlog::warn("cluster: domain {} at revision {} not applied: {}", name, revision, e.what());
  }
}

void Agent::publish_applied(int64_t revision) {
  json errors = json::object();
  for (const auto &[name, e] : errors_)
    errors[name] = {{"revision", e.first}, {"reason", e.second}};
  follow_client_.put(keys_.applied() + node_,
                     json{{"revision", revision}, {"at_ns", now_ns()}, {"errors", errors}}.dump());
}

void Agent::follow() {
  bool synced = false;
  while (!stopping_) {
    try {
      if (!synced) {
        sync();
        synced = true;
      }
      const int64_t seen = follow_client_.watch(
          keys_.domains(), revision_ + 1,
          [&](const etcd::WatchBatch &batch) {
            // One answer may hold several revisions: each domain is applied
            // as of its newest, in the order they came.
            std::vector<std::pair<std::string, int64_t>> order;
            for (const auto &event : batch.events) {
              const std::string name = event.kv.key.substr(keys_.domains().size());
              desired_[name] = event.kind == etcd::Event::Kind::del ? json{{"removed", true}}
                                                                    : json::parse(event.kv.value);
              order.emplace_back(name, event.kv.mod_revision);
            }
            const json here = local_workspaces();
            std::vector<std::string> names;
            for (const auto &[name, revision] : order)
              names.push_back(name);
            // Many at once (an apply of many domains): one change if it can.
            if (names.size() < 8 ||
                !apply_together(names, batch.events.back().kv.mod_revision, here))
              for (const auto &[name, revision] : order)
                apply_domain(name, revision, here);
            revision_ = batch.events.back().kv.mod_revision;
            publish_applied(revision_);
            return !stopping_.load();
          },
          kWatchIdle);
      revision_ = std::max(revision_, seen);
    } catch (const etcd::Compacted &c) {
      spdlog::warn("cluster: revision {} was compacted (now {}): reading everything again",
                   revision_ + 1, c.revision);
      synced = false;
    } catch (const std::exception &e) {
      spdlog::warn("cluster: {}", e.what());
      if (!pause(kRetry))
        return;
    }
  }
}

// The workspaces of this host, as the operators' health gate reads them.
json Agent::local_workspaces() const {
  const Status status = State(state_).with(
      Lock::shared, [](ControlPlane &control) { return control.workspaces_status(); });
  json out = json::object();
  for (const auto &w : status.workspaces) {
    bool alive = false;
    for (const auto &s : w.sockets)
      alive = alive || s.alive;
    out[w.name] = {{"alive", alive}, {"failing", w.failing}};
  }
  return out;
}

void Agent::report() {
  int64_t lease = 0;
  auto last_keepalive = std::chrono::steady_clock::time_point{};
  std::string published;
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  do {
    try {
      const auto now = std::chrono::steady_clock::now();
      if (!lease || now - last_keepalive >= kKeepaliveEvery) {
        if (!lease || !report_client_.keepalive(lease)) {
          lease = report_client_.grant(kLeaseTtl);
          report_client_.put(keys_.alive() + node_,
                             json{{"node", node_},
                                  {"host", host},
                                  {"version", ZD_VERSION},
                                  {"addresses", host_addresses()},
                                  {"pid", getpid()},
                                  {"started_ns", now_ns()}}
                                 .dump(),
                             lease);
          published.clear(); // a node back from the dead says everything again
        }
        last_keepalive = now;
      }
      const std::string local = json{{"workspaces", local_workspaces()}}.dump();
      if (local != published) {
        report_client_.put(keys_.local() + node_, local);
        published = local;
      }
    } catch (const std::exception &e) {
      spdlog::warn("cluster: {}", e.what());
      if (lease && std::string(e.what()).find("lease") != std::string::npos)
        lease = 0;
    }
  } while (pause(kReportEvery));
  if (lease) {
    try {
      report_client_.revoke(lease); // gone at once, not in ten seconds
    } catch (const std::exception &) {
    }
  }
}

} // namespace zd::cluster
