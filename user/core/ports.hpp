// What the core needs from the world, and nothing more: a store for the
// control-plane records and a data plane that steers connections. The core
// (control.hpp) is written against these two interfaces only, so its rules
// are unit-tested with in-memory fakes, and a new plane plugs in below them.
//
// Both are used within one locked operation (see user/state/state.hpp):
// nothing here takes locks, and a method either does its whole job or throws
// having undone its own partial writes.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "connections.hpp"
#include "fabric.hpp"
#include "ids.hpp"
#include "model.hpp"
#include "status.hpp"

namespace zd {

enum class IdKind { domain, workspace };

// An apply's document and how it was asked for.
struct PendingApply {
  std::string document; // JSON (core/desired.hpp)
  bool prune = false;
  bool force = false;
  bool operator==(const PendingApply &) const = default;
};

// Control-plane records: names, what was registered under them, and the free
// ids. No BPF program reads any of this.
class Store {
public:
  virtual ~Store() = default;

  virtual std::optional<Domain> domain(std::string_view name) const = 0;
  virtual std::vector<Domain> domains() const = 0;
  virtual void put_domain(const Domain &domain) = 0;
  // Its check and its switch counts go with it.
  virtual void remove_domain(const Domain &domain) = 0;

  virtual std::optional<Workspace> workspace(std::string_view name) const = 0;
  virtual std::vector<Workspace> workspaces() const = 0;
  // The name of workspace id, in O(1): a switch names what it replaced.
  virtual std::optional<std::string> workspace_name(uint32_t id) const = 0;
  virtual void put_workspace(const Workspace &workspace) = 0;
  virtual void remove_workspace(const Workspace &workspace) = 0;

  // The name of domain id, in O(1).
  virtual std::optional<std::string> domain_name(uint32_t id) const = 0;

  // The free ids (ids.hpp, which allocates them): the cursor of a kind (one
  // write), and the slots of its ring of freed ids (slot < the kind's max).
  virtual IdCursor id_cursor(IdKind kind) const = 0;
  virtual void set_id_cursor(IdKind kind, const IdCursor &cursor) = 0;
  virtual uint32_t freed_id(IdKind kind, uint32_t slot) const = 0;
  virtual void set_freed_id(IdKind kind, uint32_t slot, uint32_t id) = 0;

  // The change in flight, if a zdctl was killed during one. Each of these is
  // one write, so the intent is always whole or absent.
  virtual std::optional<Intent> intent() const = 0;
  virtual void set_intent(const Intent &intent) = 0;
  virtual void clear_intent() = 0;

  // An apply in flight (core/apply.hpp): its whole document, kept until the
  // apply is done, so that the next zdctl finishes one a kill cut short.
  // set writes the document, then marks it pending (one write); clear
  // unmarks it (one write), then drops the document. traces: a pending
  // apply, or the document of one a kill left half written or half dropped
  // (one read or two, whatever its size).
  virtual std::optional<PendingApply> pending_apply() const = 0;
  virtual void set_pending_apply(const PendingApply &apply) = 0;
  virtual void clear_pending_apply() = 0;
  virtual bool apply_traces() const = 0;

  // The domains whose routes name a workspace (active, previous or canary):
  // an index the core keeps as it writes routes, so that a workspace's
  // removal or status reads its own domains, not every route. Adding or
  // dropping a pair is idempotent and a few writes; the core adds a route's
  // new pairs before writing it and drops its old ones after. A change cut
  // short may leave the index mid-write: recovery builds it again from the
  // routes (a rebuild cut short is redone: built says false until it ends).
  virtual std::vector<uint32_t> routed_to(uint32_t workspace) const = 0;
  virtual void index_route(uint32_t workspace, uint32_t domain) = 0;
  virtual void unindex_route(uint32_t workspace, uint32_t domain) = 0;
  virtual bool route_index_built() const = 0;
  virtual void rebuild_route_index(const std::vector<std::pair<uint32_t, Route>> &routes) = 0;

  // The newest of them, without making an Event of every other.
  virtual std::optional<Event> newest_event() const = 0;
  // History: the latest kHistorySize route changes, oldest first.
  virtual std::vector<Event> events() const = 0;
  // One write: an event's seq decides its slot, where it replaces the one
  // kHistorySize older.
  virtual void put_event(const Event &event) = 0;
  virtual void erase_event(uint64_t seq) = 0;

  // The route changes of each domain, by how they came (kept apart from
  // history: these are counters that never drop off). A count absent is 0.
  virtual SwitchCount switch_count(uint32_t domain, How how) const = 0;
  // One write.
  virtual void put_switch_count(uint32_t domain, How how, const SwitchCount &count) = 0;
  virtual std::map<std::pair<uint32_t, How>, SwitchCount> switch_counts() const = 0;

  // The check every switch and revert of a domain runs unless told
  // otherwise; it goes with the domain's record.
  virtual std::optional<Check> domain_check(std::string_view domain) const = 0;
  // Every domain's check, by domain name, read at once (a full status).
  virtual std::map<std::string, Check> domain_checks() const = 0;
  virtual void set_domain_check(std::string_view domain, const std::optional<Check> &check) = 0;

  // A workspace's health check (goes with its record), and what it last
  // concluded (by id; goes with the record too).
  virtual std::optional<HealthCheck> health_check(std::string_view workspace) const = 0;
  virtual void set_health_check(std::string_view workspace,
                                const std::optional<HealthCheck> &check) = 0;
  virtual std::optional<Health> health(uint32_t workspace) const = 0;
  // Every workspace's check (by name) and verdict (by id), read at once (a
  // full status).
  virtual std::map<std::string, HealthCheck> health_checks() const = 0;
  virtual std::map<uint32_t, Health> healths() const = 0;
  virtual void set_health(uint32_t workspace, const std::optional<Health> &health) = 0;

  // A domain's canary orders (go with the domain's record). One write.
  virtual std::optional<CanaryOrders> canary_orders(std::string_view domain) const = 0;
  virtual void set_canary_orders(std::string_view domain,
                                 const std::optional<CanaryOrders> &orders) = 0;
};

// The kernel side: bindings, routes, workspaces' delivery targets, counters.
class Dataplane {
public:
  virtual ~Dataplane() = default;

  // The network namespace whose sockets this plane delivers to (its cookie).
  virtual uint64_t netns_cookie() const = 0;
  // Whether it can also deliver to workspaces in namespaces of their own
  // (the XDP plane is attached).
  virtual bool serves_other_netns() const = 0;

  // The domain that holds this very binding (an exact address or the same
  // prefix), if any.
  virtual std::optional<uint32_t> binding_owner(const Endpoint &binding) const = 0;
  // Zeroes the domain's counters and adds all its bindings, or none: throws
  // Errc::exists when one is taken.
  virtual void add_domain(const Domain &domain) = 0;
  // Removes its bindings (those still bound to it) and its route. Both
  // add_domain and remove_domain may be repeated after being cut short.
  virtual void remove_domain(const Domain &domain) = 0;

  virtual std::optional<Route> route(uint32_t domain) const = 0;
  virtual std::vector<std::pair<uint32_t, Route>> routes() const = 0;
  // The switch: one write, seen whole or not at all by the data plane.
  virtual void set_route(uint32_t domain, const Route &route) = 0;

  // Refuses, writing nothing, a workspace it could not deliver to (for one
  // of another namespace: no veth leads there, or several and none named).
  virtual void check_workspace(const Workspace &workspace) const = 0;
  // Zeroes the workspace's counters and hands its sockets to the data
  // plane, all or none. taken_for(sockets, s) is the socket of each s in
  // workspace.sockets (a dual-stack one may stand for two of them).
  virtual void add_workspace(const Workspace &workspace,
                             const std::vector<TakenSocket> &sockets) = 0;
  // May be repeated after being cut short.
  virtual void remove_workspace(const Workspace &workspace) = 0;
  // Whether the data plane passes the workspace over as failing its health
  // check, and setting that (one write). A workspace added or removed is
  // not failing.
  virtual bool failing(uint32_t workspace) const = 0;
  virtual void set_failing(uint32_t workspace, bool failing) = 0;
  // True while the data plane still holds this very socket (it drops a
  // socket by itself when the process closes it).
  virtual bool alive(const Workspace &workspace, const RegisteredSocket &socket) const = 0;
  // A workspace in another namespace receives a domain's connections only
  // once the domain's addresses arrive there (prepare). Repeating either
  // is harmless; both hold until undone or the workspace or domain goes.
  virtual bool prepared(const Domain &domain, const Workspace &workspace) const = 0;
  virtual void prepare(const Domain &domain, const Workspace &workspace) = 0;
  virtual void unprepare(const Domain &domain, const Workspace &workspace) = 0;
  // The open TCP connections to any of these domains in a workspace of
  // another namespace: the XDP plane carries their every packet.
  virtual size_t open_connections(const Workspace &workspace,
                                  const std::vector<Domain> &domains) const = 0;
  // How the XDP plane reaches a workspace of another namespace.
  virtual std::optional<ContainerStatus> container_status(const Workspace &workspace) const = 0;

  // The accept queues of the listeners this plane delivers to, by cookie.
  virtual std::map<uint64_t, AcceptQueue> accept_queues() const = 0;

  // The TCP sockets of the namespace this plane delivers to, for the core
  // to tell which connections each of its workspaces holds (connections.hpp).
  virtual SocketTable socket_table() const = 0;
  // The open TCP connections in the namespace of a workspace of another
  // one: all of them are its own. None once that namespace is gone.
  virtual std::vector<Connection> netns_connections(const Workspace &workspace) const = 0;
  // Closes these connections of the workspace, in its namespace: each peer
  // gets a reset. Returns how many it closed (one gone meanwhile is not).
  // It writes nothing zd keeps: the state is as it was.
  virtual size_t close_connections(const Workspace &workspace,
                                   const std::vector<Connection> &connections) = 0;

  // The XDP plane's interfaces, flow table and counters.
  virtual XdpStatus xdp_status() const = 0;

  // Forwarding to other hosts (fabric.hpp), through the XDP plane: every
  // write throws Error(refused) when it is not attached. The hosts by id
  // (0: this one; an id is never reused: flows name it), and each
  // workspace's table, replaced whole (none: its instances are all here).
  virtual std::vector<NodeEntry> nodes() const = 0;
  virtual void put_node(const NodeEntry &node, const FabricNode &self, uint32_t mtu) = 0;
  virtual std::map<uint32_t, InstanceTable> instance_tables() const = 0;
  virtual void set_instances(uint32_t workspace, const std::optional<InstanceTable> &table) = 0;
  // The domains (by id) whose new flows stay on a live local instance of a
  // workspace that has others elsewhere (--prefer-local). Setting it needs
  // the XDP plane; clearing it never fails for the lack of one.
  virtual std::set<uint32_t> preferring_local() const = 0;
  virtual void set_prefer_local(uint32_t domain, bool prefer) = 0;

  virtual Counters domain_counters(uint32_t domain) const = 0;
  // Every domain's, indexed by id, read at once (a full status).
  virtual std::vector<Counters> all_domain_counters() const = 0;
  // Likewise every workspace's counters, and whether each is failing.
  virtual std::vector<Counters> all_workspace_counters() const = 0;
  virtual std::vector<bool> all_failing() const = 0;
  virtual Counters workspace_counters(uint32_t workspace) const = 0;
};

} // namespace zd
