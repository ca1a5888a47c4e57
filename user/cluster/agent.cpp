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

constexpr auto kReportEvery = std::chrono::milliseconds(500);
// A watch with nothing to say is asked again this often: the longest a
// stopping agent waits, and how soon a silently dead connection is noticed.
constexpr auto kWatchIdle = std::chrono::milliseconds(2000);
constexpr auto kRetry = std::chrono::milliseconds(250);
// How long a host waits for the hosts running a workspace to apply a route
// that sends them its flows (await_instances).
constexpr auto kMakeBeforeBreak = std::chrono::milliseconds(1000);

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

nlohmann::json Agent::fabric_json() const {
  json out = json::object();
  if (!fabric_)
    return out;
  char text[INET6_ADDRSTRLEN] = {};
  if (fabric_->v4)
    out["v4"] = inet_ntop(AF_INET, fabric_->v4->data(), text, sizeof(text));
  if (fabric_->v6)
    out["v6"] = inet_ntop(AF_INET6, fabric_->v6->data(), text, sizeof(text));
  return out;
}

Agent::Agent(std::string state, etcd::Options etcd, Keys keys, std::string node,
             std::optional<FabricNode> fabric, uint32_t fabric_mtu, std::chrono::seconds lease)
    : state_(std::move(state)), node_(std::move(node)), keys_(std::move(keys)),
      fabric_(std::move(fabric)), fabric_mtu_(fabric_mtu), lease_ttl_(lease), follow_client_(etcd),
      report_client_(etcd), place_client_(etcd), marks_(ClusterMarks::for_agent(state_)) {
  validate_name("node", node_);
  follower_ = std::thread([this] { follow(); });
  reporter_ = std::thread([this] { report(); });
  if (fabric_)
    placer_ = std::thread([this] { place(); });
}

Agent::~Agent() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  follower_.join();
  reporter_.join();
  if (placer_.joinable())
    placer_.join();
}

bool Agent::pause(std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_);
  wake_.wait_for(lock, wait, [this] { return stopping_.load(); });
  return !stopping_;
}

// Everything again: every domain the cluster names is applied (those it
// removed are removed here), then the watch goes on from the revision read.
void Agent::sync() {
  std::lock_guard hold(apply_mutex_);
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
  std::vector<std::string> names;
  for (const auto &[name, value] : desired_)
    names.push_back(name);
  const json here = workspaces_for(names, follow_client_);
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

// Make before break, across hosts. A host that runs a workspace decides a
// flow forwarded to it by its own route again (a packet does not say which
// workspace the ingress chose), so a host that would newly send flows of a
// domain to a workspace elsewhere applies the change only once the hosts
// that run it have (or kMakeBeforeBreak went by): until then they may still
// route the domain to a workspace they do not run, and refuse the flow. The
// hosts that run it apply at once, and the old workspace's hosts fall back
// to it (their previous) for the flows still sent their way.
void Agent::await_instances(const std::vector<std::pair<std::string, int64_t>> &order,
                            const json &here) {
  std::map<std::string, int64_t> wanted; // host -> the revision it must have applied
  for (const auto &[name, revision] : order) {
    const json spec = desired_[name].value("spec", json::object());
    std::vector<std::string> named{spec.value("active", "")};
    if (spec.contains("canary") && spec["canary"].is_object())
      named.push_back(spec["canary"].value("workspace", ""));
    for (const auto &workspace : named)
      if (here.contains(workspace) && here[workspace].value("elsewhere", false))
        for (const auto &host : here[workspace].value("on", json::array()))
          wanted[host.get<std::string>()] = std::max(wanted[host.get<std::string>()], revision);
  }
  wanted.erase(node_);
  if (wanted.empty())
    return;
  const auto until = std::chrono::steady_clock::now() + kMakeBeforeBreak;
  while (!stopping_) {
    try {
      for (const auto &kv : follow_client_.range(keys_.applied()).kvs) {
        const auto it = wanted.find(kv.key.substr(keys_.applied().size()));
        if (it != wanted.end() && json::parse(kv.value).value("revision", int64_t{0}) >= it->second)
          wanted.erase(it);
      }
    } catch (const std::exception &) {
      return; // etcd or a report unreadable: as before, apply at once
    }
    if (wanted.empty())
      return;
    if (std::chrono::steady_clock::now() >= until) {
      spdlog::warn("cluster: {} host(s) running the workspace did not apply within {} ms; "
                   "applying anyway",
                   wanted.size(), kMakeBeforeBreak.count());
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
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
            std::lock_guard hold(apply_mutex_);
            std::vector<std::pair<std::string, int64_t>> order;
            for (const auto &event : batch.events) {
              const std::string name = event.kv.key.substr(keys_.domains().size());
              desired_[name] = event.kind == etcd::Event::Kind::del ? json{{"removed", true}}
                                                                    : json::parse(event.kv.value);
              order.emplace_back(name, event.kv.mod_revision);
            }
            std::vector<std::string> names;
            for (const auto &[name, revision] : order)
              names.push_back(name);
            const json here = workspaces_for(names, follow_client_);
            await_instances(order, here);
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
      revision_ = std::max(revision_.load(), seen);
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

// The workspaces of this host, as the operators' health gate reads them;
// with_remote: and those registered here for their instances elsewhere
// (what a route here may name).
json Agent::local_workspaces(bool with_remote) const {
  const Status status = State(state_).with(
      Lock::shared, [](ControlPlane &control) { return control.workspaces_status(); });
  json out = json::object();
  for (const auto &w : status.workspaces) {
    if (w.placement == Placement::other_hosts) {
      if (with_remote)
        out[w.name] = {{"alive", !w.instances.empty()},
                       {"failing", false},
                       {"elsewhere", true},
                       {"on", w.instances}};
      continue; // not this host's own
    }
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
      // Renewed three times a lease: one lost renewal does not lose it.
      if (!lease || now - last_keepalive >= lease_ttl_ / 3) {
        if (!lease || !report_client_.keepalive(lease)) {
          lease = report_client_.grant(lease_ttl_);
          report_client_.put(keys_.alive() + node_,
                             json{{"node", node_},
                                  {"host", host},
                                  {"version", ZD_VERSION},
                                  {"addresses", host_addresses()},
                                  {"fabric", fabric_json()},
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

// A node's fabric addresses as its registration gives them.
std::optional<FabricNode> fabric_of(const std::string &name, const json &registration) {
  const json fabric = registration.value("fabric", json::object());
  if (!fabric.is_object())
    return std::nullopt;
  FabricNode node{name, std::nullopt, std::nullopt};
  if (fabric.contains("v4") && fabric["v4"].is_string()) {
    std::array<uint8_t, 4> a{};
    if (inet_pton(AF_INET, fabric["v4"].get<std::string>().c_str(), a.data()) == 1)
      node.v4 = a;
  }
  if (fabric.contains("v6") && fabric["v6"].is_string()) {
    std::array<uint8_t, 16> a{};
    if (inet_pton(AF_INET6, fabric["v6"].get<std::string>().c_str(), a.data()) == 1)
      node.v6 = a;
  }
  if (!node.v4 && !node.v6)
    return std::nullopt;
  return node;
}

// Reads every registration and every node's workspaces, and places them:
// the live nodes with a fabric address are the hosts, and each one's
// workspaces that are alive and pass their check are its instances.
// Returns the revision read.
int64_t Agent::place_once() {
  const auto [revision, registered] = adopt(place_client_);
  if (registered) {
    spdlog::info("cluster: registered {} workspace(s) of other hosts", registered);
    retry_refused();
  }
  return revision;
}

// The tables of this host's workspaces with instances elsewhere, and the
// records of those it has none of, from what the nodes report: the etcd
// revision read, and how many workspaces it registered.
std::pair<int64_t, size_t> Agent::adopt(const etcd::Client &client) {
  const etcd::Range registrations = client.range(keys_.alive());
  const etcd::Range reports = client.range(keys_.local());
  Fabric fabric;
  fabric.self = *fabric_;
  fabric.self.name = node_;
  fabric.mtu = fabric_mtu_;
  std::set<std::string> live;
  for (const auto &kv : registrations.kvs) {
    const std::string name = kv.key.substr(keys_.alive().size());
    try {
      if (auto node = fabric_of(name, json::parse(kv.value))) {
        live.insert(name);
        if (name != node_)
          fabric.nodes.push_back(*node);
      }
    } catch (const json::exception &) {
    }
  }
  for (const auto &kv : reports.kvs) {
    const std::string name = kv.key.substr(keys_.local().size());
    if (!live.count(name))
      continue;
    try {
      const json workspaces = json::parse(kv.value).value("workspaces", json::object());
      for (const auto &[workspace, w] : workspaces.items())
        if (w.value("alive", false) && !w.value("failing", false))
          fabric.instances[workspace].push_back(name);
    } catch (const json::exception &) {
    }
  }
  const std::vector<std::string> registered = State(state_).with(
      Lock::exclusive, [&](ControlPlane &control) { return control.place(fabric); });
  return {registrations.revision, registered.size()};
}

// This host's workspaces, for applying these domains. A domain may name a
// workspace that another host has just published and this one's placer has
// not registered yet: it is registered first (on the follower's own etcd
// client), so that the switch applies here now rather than fail and wait
// for the placer's retry, which the operator's command would report.
json Agent::workspaces_for(const std::vector<std::string> &names, const etcd::Client &client) {
  json here = local_workspaces(true);
  if (!fabric_)
    return here;
  for (const auto &name : names) {
    const json spec = desired_[name].value("spec", json::object());
    std::vector<std::string> named{spec.value("active", "")};
    if (spec.contains("canary") && spec["canary"].is_object())
      named.push_back(spec["canary"].value("workspace", ""));
    for (const auto &workspace : named)
      if (!workspace.empty() && !here.contains(workspace)) {
        try {
          if (adopt(client).second)
            spdlog::info("cluster: registered the workspaces of other hosts that {} names", name);
        } catch (const std::exception &e) {
          spdlog::warn("cluster: placing workspaces: {}", e.what());
        }
        return local_workspaces(true);
      }
  }
  return here;
}

// Domains refused for a workspace this host did not know: applied again now
// that it may.
void Agent::retry_refused() {
  std::lock_guard hold(apply_mutex_);
  std::vector<std::string> refused;
  for (const auto &[name, error] : errors_)
    refused.push_back(name);
  if (refused.empty())
    return;
  const json here = local_workspaces(true);
  for (const auto &name : refused)
    if (desired_.count(name))
      apply_domain(name, errors_[name].first, here);
  publish_applied(revision_.load());
}

// Places once, then again whenever a registration or a node's workspaces
// change: a node gone (its lease expired, or revoked) or a workspace dead or
// failing there leaves the tables within one watch answer.
void Agent::place() {
  int64_t revision = 0;
  bool placed = false;
  while (!stopping_) {
    try {
      if (!placed) {
        revision = place_once();
        placed = true;
      }
      const int64_t seen = place_client_.watch(
          keys_.prefix, revision + 1,
          [&](const etcd::WatchBatch &batch) {
            bool relevant = false;
            for (const auto &event : batch.events)
              relevant = relevant || event.kv.key.rfind(keys_.alive(), 0) == 0 ||
                         event.kv.key.rfind(keys_.local(), 0) == 0;
            revision = batch.events.back().kv.mod_revision;
            if (relevant)
              revision = std::max(revision, place_once());
            return !stopping_.load();
          },
          kWatchIdle);
      revision = std::max(revision, seen);
    } catch (const etcd::Compacted &) {
      placed = false;
    } catch (const std::exception &e) {
      spdlog::warn("cluster: placing workspaces: {}", e.what());
      placed = false;
      if (!pause(kRetry))
        return;
    }
  }
}

} // namespace zd::cluster
