// The control plane: the rules of a release. Adding and removing domains and
// workspaces, switching and reverting, and what status shows. It sees the
// world through a Store and a Dataplane (ports.hpp) and checks all of its
// input before its first write, so a refusal leaves everything as it was.
#pragma once

#include <array>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "model.hpp"
#include "ports.hpp"
#include "status.hpp"

namespace zd {

enum class Changed { yes, no };

struct SwitchResult {
  Changed changed = Changed::no;
  std::string from; // the workspace that was active ("" if none)
  std::string to;
};

// What a workspace still holds of a domain it no longer receives: what
// `zdctl drain` waits for.
struct Held {
  std::string domain;
  std::string workspace;
  std::vector<Connection> connections; // open or closing, not TIME_WAIT
};

// A domain's route changes of one kind, as metrics show them.
struct SwitchTotal {
  std::string domain;
  How how = How::switch_to;
  uint64_t count = 0;
};

// What a switch may skip.
enum class Force { no, yes };

// A route change as asked for: switch DOMAIN WORKSPACE, revert DOMAIN,
// revert DOMAIN --to SEQ, canary DOMAIN WORKSPACE --weight N, or canary
// DOMAIN --abort; or, by zdctl serve, a canary's promotion or its end for
// failing (workspace: the canary meant, refused if it no longer is).
struct RouteRequest {
  enum class Kind { switch_to, revert, revert_to, canary, canary_end, promote, canary_failed };
  Kind kind = Kind::switch_to;
  std::string domain;
  std::string workspace; // switch_to, canary
  uint64_t seq = 0;      // revert_to
  Force force = Force::no;
  uint32_t weight = 0; // canary: percent of new connections
  // canary: its standing orders (promote_after_ms, revert_on_failure).
  CanaryPolicy policy;

  static RouteRequest of(Kind kind, std::string domain, std::string workspace = "",
                         uint32_t weight = 0, Force force = Force::no) {
    RouteRequest request;
    request.kind = kind;
    request.domain = std::move(domain);
    request.workspace = std::move(workspace);
    request.weight = weight;
    request.force = force;
    return request;
  }
};

// A route change worked out and not made: planning raises every refusal,
// so a plan can be shown (--dry-run), checked (a health probe) and applied.
struct RoutePlan {
  Domain domain;
  Workspace target; // the workspace the domain (or its canary) would point at
  Route before, after;
  How how = How::switch_to;
  CanaryPolicy policy; // How::canary: written with the route
  bool policy_changes = false;
  bool changes() const { return before != after || policy_changes; }
  // Whether the target is about to receive connections (and so is probed):
  // not when a canary ends.
  bool admits_target() const { return how != How::canary_end && how != How::canary_failed; }
};

// What zdctl serve watches, read in one locked pass: the workspaces with a
// health check, and the canaries with their standing orders.
struct Watched {
  Workspace workspace;
  HealthCheck check;
  bool failing = false;       // the data plane's mark
  std::optional<Health> last; // the last verdict recorded
  uint64_t netns = 0;         // other_netns: its namespace's inode (0: gone)
};
struct WatchedCanary {
  std::string domain, workspace;
  CanaryPolicy policy;  // the defaults when none is recorded
  bool checked = false; // the canary workspace has a health check
  bool failing = false;
  // Since when its health has held: the later of the canary's orders and
  // its last verdict; 0 while a check has given none yet.
  int64_t healthy_since_ns = 0;
};
struct Watch {
  std::vector<Watched> workspaces;
  std::vector<WatchedCanary> canaries;
};

class ControlPlane {
public:
  ControlPlane(Store &store, Dataplane &plane) : store_(store), plane_(plane) {}

  void add_domain(const std::string &name, const std::vector<Endpoint> &bindings);
  // What add_domain refuses, checked without writing; a binding held by a
  // domain in `leaving` (removed first) counts as free.
  void check_new_domain(const std::string &name, const std::vector<Endpoint> &bindings,
                        const std::set<std::string> &leaving = {}) const;
  void remove_domain(const std::string &name);

  // sockets: listening sockets already taken from the process (or
  // inherited) and inspected; pid is recorded for status (0 for fds). A
  // workspace whose sockets live in another network namespace is served by
  // the XDP plane, through the veth into that namespace (`via` names it
  // when there are several). A dual-stack [::] socket serves IPv4 too unless
  // another socket is given for IPv4. Returns the sockets as registered.
  std::vector<RegisteredSocket> add_workspace(const std::string &name, uint32_t pid,
                                              const std::vector<TakenSocket> &sockets,
                                              const std::string &via = "");
  // Refused while the workspace is active for a domain, unless forced: then
  // each such domain falls back to its previous workspace.
  void remove_workspace(const std::string &name, Force force);

  // Where the cluster's workspaces run (placement.cpp): every host gets a
  // node id, every workspace with instances on other hosts a Maglev table
  // over its live instances (registered here first, with no socket, if this
  // host has none of its own), and every other table is dropped. Writes
  // only what differs; each write is one map update the data plane sees
  // whole. Returns the workspaces it registered.
  std::vector<std::string> place(const Fabric &fabric);

  // Works out a route change, writing nothing; refuses what apply would.
  RoutePlan plan(const RouteRequest &request) const;
  // Makes a plan of this same operation (the lock held since plan()).
  SwitchResult apply(const RoutePlan &plan);

  // Refused unless the workspace has a live socket for every binding of the
  // domain, unless forced.
  SwitchResult switch_to(const std::string &domain, const std::string &workspace, Force force);
  // Swaps active and previous, under the same rule as a switch.
  SwitchResult revert(const std::string &domain, Force force);
  // Points the domain back at the workspace its history entry `seq` switched
  // to (found by name: a workspace registered again since is the one meant),
  // under the same rule as a switch.
  SwitchResult revert_to(const std::string &domain, uint64_t seq, Force force);

  // The route changes kept in history, oldest first: of one domain, or of
  // all when domain is "" (an unknown domain is not_found). Changes cut
  // short are not history.
  std::vector<Event> history(const std::string &domain = "") const;

  // The check a domain's switches and reverts run by default (none: no
  // check), and setting it.
  std::optional<Check> domain_check(const std::string &domain) const;
  void set_domain_check(const std::string &domain, const std::optional<Check> &check);
  // Whether a domain's new flows stay on a live local instance of a workspace
  // that has others on other hosts (one map write), and setting it.
  bool prefers_local(const std::string &domain) const;
  void set_prefer_local(const std::string &domain, bool prefer);

  Status status() const;
  // Every workspace, and no domain (what a cluster agent reports).
  Status workspaces_status() const;
  bool has_domain(const std::string &name) const { return store_.domain(name).has_value(); }
  // One domain, and the workspaces its route names (no XDP part): costs
  // what it shows, not the whole state.
  Status domain_status(const std::string &domain) const;
  // One workspace, and the domains whose routes name it (no XDP part):
  // read through the index of routes, so it too costs what it shows.
  Status workspace_status(const std::string &workspace) const;

  // A workspace's health check, run by zdctl serve (none: removes it, and
  // with it any failing mark and verdict, so the workspace is served again;
  // several writes, under an intent).
  void set_health_check(const std::string &workspace, const std::optional<HealthCheck> &check);
  // What serve's check of a workspace concluded: marks it failing or not in
  // the data plane, then records why and since when. Returns false, writing
  // nothing, when the workspace is gone, was registered again since (id), or
  // is no longer checked.
  bool record_health(const std::string &workspace, uint32_t id, const Health &health);
  Watch watch() const;

  // The open connections to `domain` that `workspace` holds (default: the
  // domain's previous workspace). Refused for the active workspace, whose
  // connections never stop coming, and when there is no previous one.
  Held held(const std::string &domain, const std::string &workspace = "") const;
  // Closes what held() finds (a reset to each peer): the last resort of a
  // drain that timed out. Returns how many it closed. Writes no record.
  size_t close_held(const std::string &domain, const std::string &workspace = "");

  // Every domain's route changes by how they came, every kind listed (0 when
  // none): counters since the domain was added, by domain name.
  std::vector<SwitchTotal> switch_totals() const;

  // Connections that taking the XDP plane away would cut: those open to a
  // domain in a workspace of another namespace (detach asks first); or, with
  // a domain named, those of that domain alone, which removing it would cut
  // (domain rm asks first): its addresses stop being local in the container.
  size_t container_connections(const std::string &domain = "") const;

  // Whether a zdctl was killed during a change, which recover() deals with.
  bool interrupted() const;
  // Finishes or undoes the change of a zdctl that was killed during it (see
  // run() and change_route()); says which, or nothing when there was none.
  // Called by the state layer as soon as it holds the lock.
  std::optional<std::string> recover();

private:
  friend class Applier; // core/apply.hpp: the steps of an apply, checked and run
  std::optional<std::string> recover_change();
  Status status_of(std::vector<Domain> domains, std::vector<Workspace> workspaces) const;
  void run(const Intent &intent, const std::vector<TakenSocket> *sockets = nullptr,
           const Route *route = nullptr);
  void point(const Domain &domain, const Workspace &workspace, const Route &route, How how,
             const CanaryPolicy *orders = nullptr);
  RoutePlan plan_canary(RoutePlan plan, const RouteRequest &request) const;
  void change_route(const Domain &domain, const Route &before, const Route &after, How how,
                    const std::function<void()> &write, const CanaryPolicy *orders = nullptr);
  void finish_orders(const std::string &domain, const CanaryOrders &orders);
  // Every route is written here: the index of which routes name each
  // workspace (Store::routed_to) gains the new route's workspaces before it
  // and loses the old route's after it. `before` is the route as the caller
  // read it: the switch path reads it once.
  void write_route(uint32_t domain, const Route &before, const Route &route);
  CanaryPolicy orders_in_force(const std::string &domain) const;
  std::optional<Event> pending_event() const;
  std::optional<std::string> settle(const Event &pending);
  void count_switch(const Event &event);
  void finish(const Intent &intent);
  void undo(const Intent &intent);
  Domain find_domain(const std::string &name) const;
  Workspace find_workspace(const std::string &name) const;
  std::string domain_name(uint32_t id) const;
  std::string workspace_name(uint32_t id) const;
  std::map<uint32_t, std::vector<Connection>>
  connections_of(const std::vector<Workspace> &workspaces) const;
  Workspace drained_workspace(const Domain &domain, const std::string &name) const;
  void require_live_sockets(const Domain &domain, const Workspace &workspace) const;
  Workspace previous_workspace(const Domain &domain, const Route &route) const;
  Workspace history_workspace(const Domain &domain, uint64_t seq) const;
  std::vector<RegisteredSocket> check_sockets(const std::string &name,
                                              const std::vector<TakenSocket> &sockets,
                                              Placement &placement) const;

  Store &store_;
  Dataplane &plane_;
};

} // namespace zd
