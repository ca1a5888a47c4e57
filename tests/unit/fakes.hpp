// In-memory fakes of the core's two ports (user/core/ports.hpp), so the
// control plane's rules run without root, BPF or sockets. They keep the
// promises of the real ones that the rules lean on (a plane method does all of
// its job or none; a binding has one owner; a socket is alive until the test
// kills it) and nothing else. Both count their writes, and dump() renders
// everything they hold as text, so a test can assert that a refusal changed
// nothing, not even by writing a value and putting it back.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "error.hpp"
#include "model.hpp"
#include "parse.hpp"
#include "ports.hpp"

namespace zd_test {

// The network namespace the fake plane delivers to; sockets taken "here"
// carry the same cookie.
inline constexpr uint64_t kThisNetns = 42;

// Orders endpoints by every field, the prefix length included: like the real
// plane, 10.0.0.0/24 and 10.0.0.0/16 are two different bindings.
struct EndpointLess {
  bool operator()(const zd::Endpoint &a, const zd::Endpoint &b) const {
    return std::tie(a.protocol, a.family, a.port, a.addr, a.prefix_len) <
           std::tie(b.protocol, b.family, b.port, b.addr, b.prefix_len);
  }
};

// A zdctl killed at its Nth write: both fakes share one Crash, which throws
// Killed (not a zd::Error: nothing in the core may catch it as a refusal)
// at that write and at every write after it, as a dead process writes no
// more. disarm() brings the state back for the next zdctl.
struct Killed {};

struct Crash {
  int at = 0; // 0: never
  int seen = 0;
  bool dead = false;

  void write() {
    if (dead || (at != 0 && ++seen == at)) {
      dead = true;
      throw Killed{};
    }
  }
  void disarm() { at = seen = 0, dead = false; }
};

// map[key], or nothing: what every lookup of the fakes answers.
template <typename Map, typename Key>
std::optional<typename Map::mapped_type> find_in(const Map &map, const Key &key) {
  auto it = map.find(key);
  if (it == map.end())
    return std::nullopt;
  return it->second;
}

// A listening socket of this namespace as zd would take it from a process,
// without a real fd, for workspace add: one, in a vector.
inline std::vector<zd::TakenSocket> listening_socket(const std::string &address, uint64_t cookie) {
  zd::SocketInfo info;
  info.bound = zd::parse_endpoint(address, zd::AllowPrefix::no);
  info.listening = true;
  info.cookie = cookie;
  info.netns_cookie = kThisNetns;
  std::vector<zd::TakenSocket> sockets;
  sockets.push_back({zd::Fd(), info, 0});
  return sockets;
}

inline std::string describe(const zd::Counters &c) {
  return "lookups " + std::to_string(c.lookups) + " steered " + std::to_string(c.steered) +
         " fallbacks " + std::to_string(c.fallbacks) + " drops " + std::to_string(c.drops);
}

class FakeStore final : public zd::Store {
public:
  std::optional<zd::Domain> domain(std::string_view name) const override {
    return find_in(domains_, name);
  }
  // Listings come in reverse name order: the real store's hash map gives no
  // order, so the core must sort what it shows, and a core that forgot to
  // would show this.
  std::vector<zd::Domain> domains() const override {
    std::vector<zd::Domain> out;
    for (auto it = domains_.rbegin(); it != domains_.rend(); ++it)
      out.push_back(it->second);
    return out;
  }
  void put_domain(const zd::Domain &domain) override {
    note_write();
    domains_[domain.name] = domain;
  }
  void remove_domain(const zd::Domain &domain) override {
    note_write();
    std::erase_if(switch_counts_, [&](const auto &c) { return c.first.first == domain.id; });
    checks_.erase(domain.name);
    canaries_.erase(domain.name);
    domains_.erase(domain.name);
  }

  std::optional<zd::Workspace> workspace(std::string_view name) const override {
    return find_in(workspaces_, name);
  }
  std::vector<zd::Workspace> workspaces() const override {
    std::vector<zd::Workspace> out;
    for (auto it = workspaces_.rbegin(); it != workspaces_.rend(); ++it)
      out.push_back(it->second);
    return out;
  }
  std::optional<std::string> workspace_name(uint32_t id) const override {
    return find_in(workspace_names_, id);
  }
  void put_workspace(const zd::Workspace &workspace) override {
    note_write();
    workspaces_[workspace.name] = workspace;
    workspace_names_[workspace.id] = workspace.name;
  }
  void remove_workspace(const zd::Workspace &workspace) override {
    note_write();
    health_.erase(workspace.id);
    health_checks_.erase(workspace.name);
    workspaces_.erase(workspace.name);
    workspace_names_.erase(workspace.id);
  }

  std::optional<std::string> domain_name(uint32_t id) const override {
    for (const auto &[name, domain] : domains_)
      if (domain.id == id)
        return name;
    return std::nullopt;
  }

  zd::IdCursor id_cursor(zd::IdKind kind) const override { return cursors_[index(kind)]; }
  void set_id_cursor(zd::IdKind kind, const zd::IdCursor &cursor) override {
    note_write();
    cursors_[index(kind)] = cursor;
  }
  uint32_t freed_id(zd::IdKind kind, uint32_t slot) const override {
    return find_in(freed_[index(kind)], slot).value_or(0);
  }
  void set_freed_id(zd::IdKind kind, uint32_t slot, uint32_t id) override {
    note_write();
    freed_[index(kind)][slot] = id;
  }

  std::optional<zd::PendingApply> pending_apply() const override {
    return apply_pending_ ? apply_ : std::nullopt;
  }
  void set_pending_apply(const zd::PendingApply &apply) override {
    note_write();
    apply_ = apply;
    note_write();
    apply_pending_ = true;
  }
  void clear_pending_apply() override {
    if (apply_pending_) {
      note_write();
      apply_pending_ = false;
    }
    if (apply_) {
      note_write();
      apply_.reset();
    }
  }
  bool apply_traces() const override { return apply_pending_ || apply_.has_value(); }

  std::vector<uint32_t> routed_to(uint32_t workspace) const override {
    std::vector<uint32_t> out;
    for (auto it = routed_.lower_bound({workspace, 0});
         it != routed_.end() && it->first == workspace; ++it)
      out.push_back(it->second);
    return out;
  }
  // A write only when it changes the index, as BpfStore (which looks first).
  void index_route(uint32_t workspace, uint32_t domain) override {
    if (routed_.count({workspace, domain}))
      return;
    note_write();
    routed_.insert({workspace, domain});
  }
  void unindex_route(uint32_t workspace, uint32_t domain) override {
    if (!routed_.count({workspace, domain}))
      return;
    note_write();
    routed_.erase({workspace, domain});
  }
  bool route_index_built() const override { return routed_built_; }
  void rebuild_route_index(const std::vector<std::pair<uint32_t, zd::Route>> &routes) override {
    note_write();
    routed_built_ = false;
    note_write();
    routed_.clear();
    for (const auto &[domain, route] : routes)
      for (uint32_t workspace : route.workspaces())
        routed_.insert({workspace, domain});
    note_write();
    routed_built_ = true;
  }

  std::optional<zd::Intent> intent() const override { return intent_; }
  void set_intent(const zd::Intent &intent) override {
    note_write();
    intent_ = intent;
  }
  void clear_intent() override {
    note_write();
    intent_.reset();
  }

  std::optional<zd::Event> newest_event() const override {
    const auto all = events();
    return all.empty() ? std::nullopt : std::optional<zd::Event>(all.back());
  }
  std::vector<zd::Event> events() const override {
    std::vector<zd::Event> out;
    for (const auto &[slot, event] : history_)
      out.push_back(event);
    std::sort(out.begin(), out.end(),
              [](const zd::Event &a, const zd::Event &b) { return a.seq < b.seq; });
    return out;
  }
  void put_event(const zd::Event &event) override {
    note_write();
    history_[event.seq % zd::kHistorySize] = event;
  }
  void erase_event(uint64_t seq) override {
    note_write();
    if (auto it = history_.find(seq % zd::kHistorySize);
        it != history_.end() && it->second.seq == seq)
      history_.erase(it);
  }

  zd::SwitchCount switch_count(uint32_t domain, zd::How how) const override {
    return find_in(switch_counts_, std::pair{domain, how}).value_or(zd::SwitchCount{});
  }
  void put_switch_count(uint32_t domain, zd::How how, const zd::SwitchCount &count) override {
    note_write();
    switch_counts_[{domain, how}] = count;
  }
  std::map<std::pair<uint32_t, zd::How>, zd::SwitchCount> switch_counts() const override {
    return switch_counts_;
  }

  std::map<std::string, zd::Check> domain_checks() const override {
    return {checks_.begin(), checks_.end()};
  }
  std::optional<zd::Check> domain_check(std::string_view domain) const override {
    return find_in(checks_, domain);
  }
  void set_domain_check(std::string_view domain, const std::optional<zd::Check> &check) override {
    note_write();
    if (check)
      checks_[std::string(domain)] = *check;
    else
      checks_.erase(std::string(domain));
  }

  std::optional<zd::HealthCheck> health_check(std::string_view workspace) const override {
    return find_in(health_checks_, workspace);
  }
  void set_health_check(std::string_view workspace,
                        const std::optional<zd::HealthCheck> &check) override {
    note_write();
    if (check)
      health_checks_[std::string(workspace)] = *check;
    else
      health_checks_.erase(std::string(workspace));
  }
  std::map<std::string, zd::HealthCheck> health_checks() const override {
    return {health_checks_.begin(), health_checks_.end()};
  }
  std::map<uint32_t, zd::Health> healths() const override { return health_; }
  std::optional<zd::Health> health(uint32_t workspace) const override {
    return find_in(health_, workspace);
  }
  void set_health(uint32_t workspace, const std::optional<zd::Health> &health) override {
    note_write();
    if (health)
      health_[workspace] = *health;
    else
      health_.erase(workspace);
  }
  std::optional<zd::CanaryOrders> canary_orders(std::string_view domain) const override {
    return find_in(canaries_, domain);
  }
  void set_canary_orders(std::string_view domain,
                         const std::optional<zd::CanaryOrders> &orders) override {
    note_write();
    if (orders)
      canaries_[std::string(domain)] = *orders;
    else
      canaries_.erase(std::string(domain));
  }

  // Everything the store holds, one item per line in a fixed order: the
  // records, the id cursors and the intent. The write count apart: an undo
  // may write, but must leave this as it was.
  std::string dump_records() const {
    std::ostringstream out;
    for (const auto &[name, domain] : domains_) {
      out << "domain " << name << " id " << domain.id << ":";
      for (const auto &binding : domain.bindings)
        out << " " << zd::format_endpoint(binding);
      out << "\n";
    }
    for (const auto &[name, workspace] : workspaces_) {
      out << "workspace " << name << " id " << workspace.id << " pid " << workspace.pid
          << " placement " << static_cast<int>(workspace.placement) << ":";
      for (const auto &socket : workspace.sockets)
        out << " " << zd::format_endpoint(socket.bound) << " serves "
            << zd::family_name(socket.serves) << " cookie " << socket.cookie;
      out << "\n";
    }
    for (const auto &[id, name] : workspace_names_)
      out << "workspace name " << id << " = " << name << "\n";
    for (size_t kind : {0, 1}) {
      const zd::IdCursor &c = cursors_[kind];
      out << (kind ? "workspace" : "domain") << " ids: next " << c.next << ", freed";
      const uint32_t max = kind ? zd::kMaxWorkspaces : zd::kMaxDomains;
      for (uint32_t at = c.head; at != c.tail; at = (at + 1) % (2 * max))
        out << " " << find_in(freed_[kind], at % max).value_or(0);
      out << "\n";
    }
    if (apply_)
      out << "apply " << (apply_pending_ ? "pending" : "leftover") << " prune " << apply_->prune
          << " force " << apply_->force << ": " << apply_->document << "\n";
    if (intent_)
      out << "intent op " << static_cast<int>(intent_->op) << " domain '" << intent_->domain.name
          << "' id " << intent_->domain.id << " workspace '" << intent_->workspace.name << "' id "
          << intent_->workspace.id << " next id " << intent_->next_id << "\n";
    for (const auto &event : events())
      out << "event " << event.seq << " " << event.domain << " (" << event.domain_id << ") "
          << event.from << " -> " << event.to << " how " << static_cast<int>(event.how)
          << (event.pending ? " pending" : "") << "\n";
    for (const auto &[key, count] : switch_counts_)
      out << "switches of domain " << key.first << " how " << static_cast<int>(key.second) << ": "
          << count.count << " (last seq " << count.last_seq << ")\n";
    for (const auto &[domain, check] : checks_)
      out << "check " << domain << " kind " << static_cast<int>(check.kind) << " " << check.path
          << " timeout " << check.timeout_ms << " retries " << check.retries << "\n";
    for (const auto &[workspace, h] : health_checks_)
      out << "health check " << workspace << " " << h.check.path << " every " << h.interval_ms
          << " rise " << h.rise << " fall " << h.fall << "\n";
    for (const auto &[id, h] : health_)
      out << "health " << id << " failing " << h.failing << " since " << h.since_ns << " " << h.said
          << "\n";
    auto policy = [](const std::optional<zd::CanaryPolicy> &p) {
      return p ? "promote after " + std::to_string(p->promote_after_ms) + " revert " +
                     std::to_string(p->revert_on_failure)
               : std::string("defaults");
    };
    for (const auto &[domain, o] : canaries_)
      out << "canary orders " << domain << ": " << policy(o.current) << " (seq " << o.current_seq
          << "), pending " << policy(o.pending) << " (seq " << o.pending_seq << ")"
          << (o.fresh ? " fresh" : "") << "\n";
    out << "route index" << (routed_built_ ? "" : " (not built)") << ":";
    for (const auto &[workspace, domain] : routed_)
      out << " " << workspace << "<-" << domain;
    out << "\n";
    return out.str();
  }

  std::string dump() const {
    return dump_records() + "store writes " + std::to_string(writes) + "\n";
  }

  size_t writes = 0;
  Crash *crash = nullptr; // set to inject a kill

  void note_write() {
    if (crash)
      crash->write();
    ++writes;
  }

private:
  std::map<std::string, zd::Domain, std::less<>> domains_;
  std::map<std::string, zd::Workspace, std::less<>> workspaces_;
  std::map<uint32_t, std::string> workspace_names_;
  static size_t index(zd::IdKind kind) { return kind == zd::IdKind::domain ? 0 : 1; }
  std::array<zd::IdCursor, 2> cursors_;
  std::array<std::map<uint32_t, uint32_t>, 2> freed_;
  std::optional<zd::Intent> intent_;
  std::optional<zd::PendingApply> apply_;
  bool apply_pending_ = false;
  std::map<uint32_t, zd::Event> history_; // by slot, as the real ring
  std::map<std::string, zd::Check, std::less<>> checks_;
  std::map<std::pair<uint32_t, zd::How>, zd::SwitchCount> switch_counts_;
  std::map<std::string, zd::HealthCheck, std::less<>> health_checks_;
  std::map<uint32_t, zd::Health> health_;
  std::map<std::string, zd::CanaryOrders, std::less<>> canaries_;
  std::set<std::pair<uint32_t, uint32_t>> routed_; // {workspace, domain}
  bool routed_built_ = true;
};

class FakeDataplane final : public zd::Dataplane {
public:
  uint64_t netns_cookie() const override { return kThisNetns; }
  bool serves_other_netns() const override { return xdp_attached; }

  std::optional<uint32_t> binding_owner(const zd::Endpoint &binding) const override {
    return find_in(bindings_, binding);
  }
  void add_domain(const zd::Domain &domain) override {
    if (std::exchange(fail_next_add_domain, false))
      throw zd::Error(zd::Errc::kernel, "fake plane: add_domain failed");
    // All or none: look at every binding before adding the first.
    for (const auto &binding : domain.bindings)
      if (bindings_.count(binding))
        throw zd::Error(zd::Errc::exists, zd::format_endpoint(binding) + " is already bound");
    note_write();
    domain_counters_.erase(domain.id); // zeroed: an absent entry reads as zero
    for (const auto &binding : domain.bindings)
      bindings_[binding] = domain.id;
  }
  void remove_domain(const zd::Domain &domain) override {
    note_write();
    for (const auto &binding : domain.bindings) {
      auto it = bindings_.find(binding);
      if (it != bindings_.end() && it->second == domain.id)
        bindings_.erase(it);
    }
    routes_.erase(domain.id);
  }

  std::optional<zd::Route> route(uint32_t domain) const override {
    return find_in(routes_, domain);
  }
  std::vector<std::pair<uint32_t, zd::Route>> routes() const override {
    return {routes_.begin(), routes_.end()};
  }
  void set_route(uint32_t domain, const zd::Route &route) override {
    note_write();
    ++set_route_calls;
    routes_[domain] = route;
  }

  void check_workspace(const zd::Workspace &workspace) const override {
    if (workspace.via == "nope0")
      throw zd::Error(zd::Errc::invalid, "interface nope0 is not a veth into it");
  }
  void add_workspace(const zd::Workspace &workspace,
                     const std::vector<zd::TakenSocket> &sockets) override {
    if (std::exchange(fail_next_add_workspace, false))
      throw zd::Error(zd::Errc::kernel, "fake plane: add_workspace failed");
    // The port's contract: every registered socket was taken, and every
    // taken socket is registered. A logic_error is no zd::Error, so a test
    // that breaks it fails loudly.
    std::set<uint64_t> used, taken;
    for (const auto &socket : workspace.sockets)
      used.insert(zd::taken_for(sockets, socket).info.cookie);
    for (const auto &socket : sockets)
      taken.insert(socket.info.cookie);
    if (used != taken)
      throw std::logic_error("add_workspace: a taken socket is not registered");
    // Taken, unless by a workspace of other hosts joined by one here (adopt).
    if (auto it = workspaces_.find(workspace.id);
        it != workspaces_.end() && !(it->second.name == workspace.name && it->second.live.empty()))
      throw std::logic_error("add_workspace: id " + std::to_string(workspace.id) + " is taken");
    note_write();
    workspace_counters_.erase(workspace.id);
    Registered &registered = workspaces_[workspace.id];
    registered.name = workspace.name;
    for (const auto &socket : workspace.sockets)
      registered.live.insert(socket.cookie);
  }
  void remove_workspace(const zd::Workspace &workspace) override {
    note_write();
    failing_.erase(workspace.id);
    workspaces_.erase(workspace.id);
    std::erase_if(prepared_, [&](const auto &p) { return p.second == workspace.id; });
  }
  bool failing(uint32_t workspace) const override { return failing_.count(workspace) > 0; }
  void set_failing(uint32_t workspace, bool failing) override {
    note_write();
    if (failing)
      failing_.insert(workspace);
    else
      failing_.erase(workspace);
  }
  bool alive(const zd::Workspace &workspace, const zd::RegisteredSocket &socket) const override {
    auto it = workspaces_.find(workspace.id);
    return it != workspaces_.end() && it->second.live.count(socket.cookie);
  }

  zd::Counters domain_counters(uint32_t domain) const override {
    return find_in(domain_counters_, domain).value_or(zd::Counters{});
  }
  std::vector<zd::Counters> all_domain_counters() const override {
    std::vector<zd::Counters> out(zd::kMaxDomains + 1);
    for (const auto &[id, counters] : domain_counters_)
      out.at(id) = counters;
    return out;
  }
  std::vector<zd::Counters> all_workspace_counters() const override {
    std::vector<zd::Counters> out(zd::kMaxWorkspaces + 1);
    for (const auto &[id, counters] : workspace_counters_)
      out.at(id) = counters;
    return out;
  }
  std::vector<bool> all_failing() const override {
    std::vector<bool> out(zd::kMaxWorkspaces + 1);
    for (uint32_t id = 0; id < out.size(); ++id)
      out[id] = failing(id);
    return out;
  }
  zd::Counters workspace_counters(uint32_t workspace) const override {
    return find_in(workspace_counters_, workspace).value_or(zd::Counters{});
  }

  bool prepared(const zd::Domain &domain, const zd::Workspace &workspace) const override {
    return workspace.placement == zd::Placement::this_netns ||
           prepared_.count({domain.id, workspace.id});
  }
  void prepare(const zd::Domain &domain, const zd::Workspace &workspace) override {
    if (workspace.placement == zd::Placement::this_netns)
      throw std::logic_error("prepare: a workspace of this namespace needs nothing");
    note_write();
    prepared_.insert({domain.id, workspace.id});
  }
  void unprepare(const zd::Domain &domain, const zd::Workspace &workspace) override {
    if (workspace.placement == zd::Placement::this_netns)
      return;
    note_write();
    prepared_.erase({domain.id, workspace.id});
  }
  std::optional<zd::ContainerStatus>
  container_status(const zd::Workspace &workspace) const override {
    if (workspace.placement == zd::Placement::this_netns)
      return std::nullopt;
    return zd::ContainerStatus{"veth-" + workspace.name, 4026532000u + workspace.id};
  }
  size_t open_connections(const zd::Workspace &workspace,
                          const std::vector<zd::Domain> &domains) const override {
    counted_domains.clear();
    for (const auto &domain : domains)
      counted_domains.push_back(domain.name);
    return domains.empty() ? 0 : find_in(connections, workspace.id).value_or(0);
  }
  // What open_connections() reports, by workspace id (when asked about any
  // domain); tests fill it. counted_domains: the domains last asked about.
  std::map<uint32_t, size_t> connections;
  mutable std::vector<std::string> counted_domains;
  bool is_prepared(uint32_t domain, uint32_t workspace) const {
    return prepared_.count({domain, workspace}) != 0;
  }
  // The XDP plane is attached: workspaces of other namespaces are served.
  bool xdp_attached = false;

  // What the process does when it closes its listening socket: the real
  // plane drops it by itself. Not a write of the control plane.
  zd::XdpStatus xdp_status() const override { return {}; }

  // Forwarding to other hosts: the nodes and tables as written.
  std::vector<zd::NodeEntry> nodes() const override {
    std::vector<zd::NodeEntry> out;
    for (const auto &[id, node] : nodes_)
      out.push_back({id, node});
    return out;
  }
  void put_node(const zd::NodeEntry &node, const zd::FabricNode &, uint32_t) override {
    note_write();
    nodes_[node.id] = node.node;
  }
  std::map<uint32_t, zd::InstanceTable> instance_tables() const override { return tables_; }
  void set_instances(uint32_t workspace, const std::optional<zd::InstanceTable> &table) override {
    if (!table && !tables_.count(workspace))
      return;
    note_write();
    if (table)
      tables_[workspace] = *table;
    else
      tables_.erase(workspace);
  }
  std::set<uint32_t> preferring_local() const override { return prefer_local_; }
  void set_prefer_local(uint32_t domain, bool prefer) override {
    if (prefer == (prefer_local_.count(domain) > 0))
      return;
    note_write();
    if (prefer)
      prefer_local_.insert(domain);
    else
      prefer_local_.erase(domain);
  }
  std::map<uint32_t, zd::FabricNode> nodes_;
  std::map<uint32_t, zd::InstanceTable> tables_;
  std::set<uint32_t> prefer_local_;
  std::map<uint64_t, zd::AcceptQueue> accept_queues() const override { return queues; }
  // What accept_queues() reports, by cookie; tests fill it.
  std::map<uint64_t, zd::AcceptQueue> queues;

  zd::SocketTable socket_table() const override { return sockets; }
  std::vector<zd::Connection> netns_connections(const zd::Workspace &workspace) const override {
    return find_in(netns_sockets, workspace.id).value_or(std::vector<zd::Connection>{});
  }
  // Like SOCK_DESTROY: a connection still there (same cookie) is gone.
  // Not a write of the control plane: nothing in dump() changes.
  size_t close_connections(const zd::Workspace &workspace,
                           const std::vector<zd::Connection> &closing) override {
    auto &from = workspace.placement == zd::Placement::this_netns ? sockets.connections
                                                                  : netns_sockets[workspace.id];
    size_t closed = 0;
    for (const auto &c : closing)
      closed +=
          std::erase_if(from, [&](const zd::Connection &open) { return open.cookie == c.cookie; });
    closed_connections += closed;
    return closed;
  }
  // What socket_table() and netns_connections() report; tests fill them.
  zd::SocketTable sockets;
  std::map<uint32_t, std::vector<zd::Connection>> netns_sockets; // by workspace id
  size_t closed_connections = 0;

  void kill_socket(uint64_t cookie) {
    for (auto &[id, registered] : workspaces_)
      registered.live.erase(cookie);
  }
  // What the BPF program does when it steers connections.
  void set_domain_counters(uint32_t domain, const zd::Counters &c) { domain_counters_[domain] = c; }
  void set_workspace_counters(uint32_t workspace, const zd::Counters &c) {
    workspace_counters_[workspace] = c;
  }

  bool has_workspace(uint32_t id) const { return workspaces_.count(id) != 0; }
  size_t binding_count() const { return bindings_.size(); }

  // What the kernel would hold, and how many writes it took.
  std::string dump() const { return contents() + "plane writes " + std::to_string(writes) + "\n"; }

  // What the kernel would hold: an undo may write, but must leave this as it was.
  std::string contents() const {
    std::ostringstream out;
    for (const auto &[binding, domain] : bindings_)
      out << "binding " << zd::format_endpoint(binding) << " -> " << domain << "\n";
    for (const auto &[domain, route] : routes_)
      out << "route " << domain << " -> {" << route.active << ", " << route.previous << "}\n";
    for (const auto &[id, registered] : workspaces_) {
      out << "workspace " << id << " (" << registered.name << ") live:";
      for (uint64_t cookie : registered.live)
        out << " " << cookie;
      out << "\n";
    }
    for (const auto &[domain, workspace] : prepared_)
      out << "domain " << domain << " arrives in the namespace of workspace " << workspace << "\n";
    for (uint32_t id : failing_)
      out << "workspace " << id << " failing\n";
    for (const auto &[id, node] : nodes_)
      out << "node " << id << " " << node.name << "\n";
    for (const auto &[id, table] : tables_)
      out << "instances of workspace " << id << (table.local ? " (one here)" : "") << "\n";
    for (uint32_t id : prefer_local_)
      out << "domain " << id << " prefers local instances\n";
    // Counters are arrays in the kernel: zero and absent are the same.
    const zd::Counters zero{};
    for (const auto &[id, c] : domain_counters_)
      if (describe(c) != describe(zero))
        out << "domain counters " << id << ": " << describe(c) << "\n";
    for (const auto &[id, c] : workspace_counters_)
      if (describe(c) != describe(zero))
        out << "workspace counters " << id << ": " << describe(c) << "\n";
    return out.str();
  }

  // Knobs: the next add_domain / add_workspace throws Errc::kernel having
  // written nothing, as the real plane does when the kernel says no.
  bool fail_next_add_domain = false;
  bool fail_next_add_workspace = false;

  size_t writes = 0;
  Crash *crash = nullptr; // set to inject a kill

  void note_write() {
    if (crash)
      crash->write();
    ++writes;
  }
  size_t set_route_calls = 0;

private:
  struct Registered {
    std::string name;
    std::set<uint64_t> live; // cookies of the sockets the plane still holds
  };

  std::map<zd::Endpoint, uint32_t, EndpointLess> bindings_;
  std::map<uint32_t, zd::Route> routes_;
  std::map<uint32_t, Registered> workspaces_;
  // Like the per-CPU arrays they stand for, counters exist for every id;
  // only those the test set are held.
  std::map<uint32_t, zd::Counters> domain_counters_;
  std::map<uint32_t, zd::Counters> workspace_counters_;
  std::set<std::pair<uint32_t, uint32_t>> prepared_; // (domain, workspace)
  std::set<uint32_t> failing_;                       // workspace ids the health map marks
};

} // namespace zd_test
