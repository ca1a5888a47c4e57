#include "control.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "apply.hpp"
#include "error.hpp"
#include "parse.hpp"

namespace zd {

namespace {

std::string describe(uint8_t protocol, uint8_t family) {
  return protocol_name(protocol) + "/" + family_name(family);
}

// ::ffff:a.b.c.d, or a prefix inside ::ffff:0:0/96.
bool is_v4_mapped(const Endpoint &ep) {
  static constexpr std::array<uint8_t, 12> kMapped = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return ep.family == AF_INET6 && ep.prefix_len >= 96 &&
         std::equal(kMapped.begin(), kMapped.end(), ep.addr.begin());
}

// Additions are undone after a crash, removals finished (see recover()).
// A switch is undone unless its route was written (recover()).
bool is_addition(Intent::Op op) {
  return op == Intent::Op::add_domain || op == Intent::Op::add_workspace ||
         op == Intent::Op::switch_workspace || op == Intent::Op::adopt_workspace;
}

// The zdctl command that made an intent, for the message of its recovery.
std::string command_of(const Intent &intent) {
  switch (intent.op) {
  case Intent::Op::add_domain:
    return "domain add " + intent.domain.name;
  case Intent::Op::remove_domain:
    return "domain rm " + intent.domain.name;
  case Intent::Op::add_workspace:
  case Intent::Op::adopt_workspace:
    return "workspace add " + intent.workspace.name;
  case Intent::Op::remove_workspace:
    return "workspace rm " + intent.workspace.name;
  case Intent::Op::switch_workspace:
    return "switch " + intent.domain.name + " " + intent.workspace.name;
  case Intent::Op::uncheck_workspace:
    return "workspace set " + intent.workspace.name + " --no-check";
  }
  return "?";
}

std::string command_of(const Event &event) {
  switch (event.how) {
  case How::switch_to:
  case How::force:
    return "switch " + event.domain + " " + event.to;
  case How::revert:
    return "revert " + event.domain;
  case How::fallback:
    return "workspace rm " + event.from + " --force";
  case How::canary:
    return "canary " + event.domain + " " + event.to + " --weight " + std::to_string(event.weight);
  case How::canary_end:
  case How::canary_failed:
    return "canary " + event.domain + " --abort";
  case How::promote:
    return "switch " + event.domain + " " + event.to;
  }
  return "?";
}

// Whether a route is what an event made it: how the next zdctl tells a
// change cut short that happened from one that did not.
bool route_shows(const Route &route, const Event &event) {
  switch (event.how) {
  case How::canary:
    return route.canary == event.to_id && route.canary_weight == event.weight;
  case How::canary_end:
  case How::canary_failed:
    return route.canary == kNoId;
  default:
    return route.active == event.to_id;
  }
}

int64_t realtime_ns() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

std::string plural(size_t n, const std::string &what) {
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

Endpoint wildcard(uint8_t protocol, uint8_t family, uint16_t port) {
  Endpoint any;
  any.protocol = protocol;
  any.family = family;
  any.port = port;
  any.prefix_len = static_cast<uint8_t>(any.address_bits());
  return any;
}

// A [::] socket with IPV6_V6ONLY off: the kernel gives it IPv4 connections
// to its port as well (Node.js's listen(PORT), python -m http.server --bind ::).
bool takes_ipv4_too(const SocketInfo &info) {
  return info.bound.family == AF_INET6 && !info.v6only &&
         info.bound == wildcard(info.bound.protocol, AF_INET6, info.bound.port);
}

bool has_socket_for(const std::vector<RegisteredSocket> &sockets, uint8_t protocol,
                    uint8_t family) {
  return std::any_of(sockets.begin(), sockets.end(), [&](const RegisteredSocket &s) {
    return s.bound.protocol == protocol && s.serves == family;
  });
}

// The commands that register `workspace` again with a socket for `family`
// as well, for a refusal to name. Its sockets are given as they were asked
// for: a dual-stack one serving IPv4 was asked for as 0.0.0.0.
std::string reregister_hint(const Workspace &workspace, uint8_t protocol, uint8_t family) {
  uint16_t port = 0;
  std::string sockets;
  for (const auto &s : workspace.sockets) {
    if (s.bound.protocol == protocol && !port)
      port = s.bound.port;
    const Endpoint asked =
        s.dual_stack() ? wildcard(s.bound.protocol, s.serves, s.bound.port) : s.bound;
    sockets += " --socket " + format_endpoint(asked);
  }
  const std::string missing = format_endpoint(wildcard(protocol, family, port));
  const std::string rm = "zdctl workspace rm " + workspace.name + " && ";
  if (workspace.pid == 0)
    return "pass it a listening " + describe(protocol, family) + " socket too (e.g. " + missing +
           ") and register it again: " + rm + "zdctl workspace add " + workspace.name +
           " with one --fd per socket (or --systemd)";
  return "once its app listens on " + missing + " too, register it again: " + rm +
         "zdctl workspace add " + workspace.name + " --pid " + std::to_string(workspace.pid) +
         sockets + " --socket " + missing;
}

} // namespace

Domain ControlPlane::find_domain(const std::string &name) const {
  validate_name("domain", name);
  auto domain = store_.domain(name);
  if (!domain)
    throw Error(Errc::not_found, "no domain named '" + name + "'");
  return *domain;
}

Workspace ControlPlane::find_workspace(const std::string &name) const {
  validate_name("workspace", name);
  auto workspace = store_.workspace(name);
  if (!workspace)
    throw Error(Errc::not_found, "no workspace named '" + name + "'");
  return *workspace;
}

std::string ControlPlane::domain_name(uint32_t id) const {
  return store_.domain_name(id).value_or("#" + std::to_string(id));
}

std::string ControlPlane::workspace_name(uint32_t id) const {
  if (id == kNoId)
    return "";
  return store_.workspace_name(id).value_or("#" + std::to_string(id));
}

void ControlPlane::require_live_sockets(const Domain &domain, const Workspace &workspace) const {
  if (workspace.placement == Placement::other_hosts) {
    // Its instances are other hosts': alive while its table lists one.
    if (!plane_.instance_tables().count(workspace.id))
      throw Error(Errc::refused,
                  "workspace '" + workspace.name + "' of domain '" + domain.name +
                      "' runs on other hosts only, and none of them has it alive now",
                  Override::force);
    return;
  }
  for (const auto &binding : domain.bindings) {
    auto match = std::find_if(
        workspace.sockets.begin(), workspace.sockets.end(), [&](const RegisteredSocket &s) {
          return s.bound.protocol == binding.protocol && s.serves == binding.family;
        });
    const std::string lacks = "workspace '" + workspace.name + "' has no live " +
                              describe(binding.protocol, binding.family) + " socket for " +
                              format_endpoint(binding) + " of domain '" + domain.name + "'";
    if (match == workspace.sockets.end())
      throw Error(Errc::refused,
                  lacks + ": " + reregister_hint(workspace, binding.protocol, binding.family),
                  Override::force);
    if (!plane_.alive(workspace, *match))
      throw Error(Errc::refused, lacks, Override::force);
  }
}

void ControlPlane::add_domain(const std::string &name, const std::vector<Endpoint> &bindings) {
  check_new_domain(name, bindings);
  const Ids::Pick id = Ids(store_, IdKind::domain).pick();
  run(Intent{Intent::Op::add_domain, {name, id.id, bindings}, {}, id.note});
}

void ControlPlane::check_new_domain(const std::string &name, const std::vector<Endpoint> &bindings,
                                    const std::set<std::string> &leaving) const {
  validate_name("domain", name);
  if (bindings.empty())
    throw Error(Errc::invalid, "domain '" + name + "' needs at least one binding");
  if (bindings.size() > kMaxBindingsPerDomain)
    throw Error(Errc::invalid, "a domain has at most " + plural(kMaxBindingsPerDomain, "binding"));
  for (size_t i = 0; i < bindings.size(); ++i) {
    if (bindings[i].protocol != IPPROTO_TCP)
      throw Error(Errc::invalid, "cannot bind " + format_endpoint(bindings[i]) +
                                     ": zd steers TCP only for now (udp:// is reserved)");
    if (is_v4_mapped(bindings[i]))
      throw Error(Errc::invalid, "cannot bind " + format_endpoint(bindings[i]) +
                                     ": an IPv4-mapped address never matches (connections to it "
                                     "arrive as IPv4); bind the IPv4 address itself");
    for (size_t j = 0; j < i; ++j)
      if (bindings[i] == bindings[j])
        throw Error(Errc::invalid, format_endpoint(bindings[i]) + " is given twice");
  }
  if (store_.domain(name))
    throw Error(Errc::exists, "domain '" + name + "' already exists");
  // Refuse a binding another domain holds before writing anything.
  for (const auto &binding : bindings)
    if (auto owner = plane_.binding_owner(binding))
      if (const std::string held_by = domain_name(*owner); !leaving.count(held_by))
        throw Error(Errc::exists,
                    format_endpoint(binding) + " is already bound to domain '" + held_by + "'");
}

void ControlPlane::remove_domain(const std::string &name) {
  run(Intent{
      Intent::Op::remove_domain, find_domain(name), {}, Ids(store_, IdKind::domain).free_note()});
}

std::vector<RegisteredSocket> ControlPlane::check_sockets(const std::string &name,
                                                          const std::vector<TakenSocket> &sockets,
                                                          Placement &placement) const {
  if (sockets.empty())
    throw Error(Errc::invalid, "workspace '" + name + "' needs at least one socket");
  const uint64_t here = plane_.netns_cookie();
  const uint64_t netns = sockets.front().info.netns_cookie;
  placement = netns == here ? Placement::this_netns : Placement::other_netns;
  std::vector<RegisteredSocket> checked;
  for (const auto &socket : sockets) {
    const SocketInfo &info = socket.info;
    const uint8_t serves = socket.serves ? socket.serves : info.bound.family;
    const std::string what =
        describe(info.bound.protocol, info.bound.family) + " socket " + format_endpoint(info.bound);
    if (info.bound.protocol != IPPROTO_TCP)
      throw Error(Errc::invalid, what + " is not TCP: zd steers TCP only for now");
    if (!info.listening)
      throw Error(Errc::invalid, what + " is not listening");
    if (info.netns_cookie != netns)
      throw Error(Errc::invalid, what + " lives in another network namespace than " +
                                     format_endpoint(sockets.front().info.bound) +
                                     ": a workspace lives in one");
    if (serves != info.bound.family &&
        !(serves == AF_INET && info.bound.family == AF_INET6 && !info.v6only))
      throw Error(Errc::invalid, what + " cannot take " + family_name(serves) + " connections");
    for (const auto &seen : checked)
      if (seen.bound.protocol == info.bound.protocol && seen.serves == serves)
        throw Error(Errc::invalid, "two " + describe(info.bound.protocol, serves) + " sockets (" +
                                       format_endpoint(seen.bound) + " and " +
                                       format_endpoint(info.bound) +
                                       "): a workspace has one socket per protocol and family");
    checked.push_back({info.bound, serves, info.cookie});
  }
  // Registered for IPv6 alone, a dual-stack [::] socket would leave the
  // domain's IPv4 bindings without a socket, and switch would refuse a
  // workspace that can take them. Unless another socket was named for IPv4,
  // it serves both, as the app meant it to.
  for (size_t i = 0, given = checked.size(); i < given; ++i) {
    const RegisteredSocket socket = checked[i];
    if (socket.serves == AF_INET6 && takes_ipv4_too(sockets[i].info) &&
        !has_socket_for(checked, socket.bound.protocol, AF_INET))
      checked.push_back({socket.bound, AF_INET, socket.cookie});
  }
  if (checked.size() > kMaxSocketsPerWorkspace)
    throw Error(Errc::invalid,
                "a workspace has at most " + plural(kMaxSocketsPerWorkspace, "socket"));
  if (placement == Placement::other_netns && !plane_.serves_other_netns())
    throw Error(Errc::refused,
                "socket " + format_endpoint(sockets.front().info.bound) +
                    " lives in another network namespace, which sk_lookup cannot deliver to: "
                    "attach the XDP plane at the host's ingress interface (zdctl attach --xdp "
                    "IFACE) to serve workspaces in containers");
  return checked;
}

std::vector<RegisteredSocket> ControlPlane::add_workspace(const std::string &name, uint32_t pid,
                                                          const std::vector<TakenSocket> &sockets,
                                                          const std::string &via) {
  validate_name("workspace", name);
  const std::optional<Workspace> known = store_.workspace(name);
  if (known && known->placement != Placement::other_hosts)
    throw Error(Errc::exists, "workspace '" + name + "' already exists");
  Workspace workspace{name, kNoId, pid, Placement::this_netns, {}, via};
  workspace.sockets = check_sockets(name, sockets, workspace.placement);
  if (!via.empty() && workspace.placement == Placement::this_netns)
    throw Error(Errc::invalid, "--via names the veth into a workspace's own network namespace, "
                               "and workspace '" +
                                   name + "' lives in this one");
  plane_.check_workspace(workspace);
  if (known) {
    // Known for its instances on other hosts: this instance joins them
    // under the same id, which routes may name already.
    workspace.id = known->id;
    run(Intent{Intent::Op::adopt_workspace, {}, workspace, 0}, &sockets);
    return workspace.sockets;
  }
  const Ids::Pick id = Ids(store_, IdKind::workspace).pick();
  workspace.id = id.id;
  run(Intent{Intent::Op::add_workspace, {}, workspace, id.note}, &sockets);
  return workspace.sockets;
}

void ControlPlane::remove_workspace(const std::string &name, Force force) {
  Workspace workspace = find_workspace(name);
  if (force == Force::no)
    for (const uint32_t domain : store_.routed_to(workspace.id)) {
      const Route route = plane_.route(domain).value_or(Route{});
      if (route.active == workspace.id)
        throw Error(Errc::refused,
                    "workspace '" + name + "' is active for domain '" + domain_name(domain) +
                        "': switch the domain away first",
                    Override::force);
      if (route.canary == workspace.id)
        throw Error(Errc::refused,
                    "workspace '" + name + "' is the canary of domain '" + domain_name(domain) +
                        "': end it first (zdctl canary " + domain_name(domain) + " --abort)",
                    Override::force);
    }
  run(Intent{
      Intent::Op::remove_workspace, {}, workspace, Ids(store_, IdKind::workspace).free_note()});
}

// Every change of more than one write goes through here: the intent is
// written first, so a zdctl killed at any point leaves a record of what it
// was doing, which the next one finishes or undoes (recover()). The steps
// of each change may be repeated: that is how the next one finishes it.
void ControlPlane::run(const Intent &intent, const std::vector<TakenSocket> *sockets,
                       const Route *route) {
  store_.set_intent(intent);
  try {
    switch (intent.op) {
    case Intent::Op::add_domain:
      Ids(store_, IdKind::domain).take(intent.domain.id, intent.next_id);
      store_.put_domain(intent.domain);
      plane_.add_domain(intent.domain);
      break;
    case Intent::Op::add_workspace:
      Ids(store_, IdKind::workspace).take(intent.workspace.id, intent.next_id);
      store_.put_workspace(intent.workspace);
      plane_.add_workspace(intent.workspace, *sockets);
      break;
    case Intent::Op::adopt_workspace:
      store_.put_workspace(intent.workspace);
      plane_.add_workspace(intent.workspace, *sockets);
      break;
    case Intent::Op::switch_workspace:
      plane_.prepare(intent.domain, intent.workspace);
      write_route(intent.domain.id, plane_.route(intent.domain.id).value_or(Route{}), *route);
      break;
    case Intent::Op::remove_domain:
    case Intent::Op::remove_workspace:
    case Intent::Op::uncheck_workspace:
      finish(intent);
      break;
    }
  } catch (...) {
    // A refusal from the kernel (a binding taken, a map full) undoes an
    // addition here. A failed removal, or a failed undo, leaves the intent
    // for the next zdctl to deal with.
    if (is_addition(intent.op)) {
      undo(intent);
      store_.clear_intent();
    }
    throw;
  }
  store_.clear_intent();
}

// Removals are finished: the user asked for them and they cannot fail for
// lack of room. The route edit is computed from what the routes are now.
void ControlPlane::finish(const Intent &intent) {
  if (intent.op == Intent::Op::switch_workspace)
    return; // its last step, the route, is written: nothing is left to do
  if (intent.op == Intent::Op::uncheck_workspace) {
    // The mark first: a workspace is never passed over by a check that no
    // longer runs.
    plane_.set_failing(intent.workspace.id, false);
    if (store_.health(intent.workspace.id))
      store_.set_health(intent.workspace.id, std::nullopt);
    if (store_.health_check(intent.workspace.name))
      store_.set_health_check(intent.workspace.name, std::nullopt);
    return;
  }
  if (intent.op == Intent::Op::remove_domain) {
    // Its addresses leave the containers it was switched to.
    for (const auto &workspace : store_.workspaces())
      if (workspace.placement == Placement::other_netns)
        plane_.unprepare(intent.domain, workspace);
    const std::optional<Route> route = plane_.route(intent.domain.id);
    plane_.set_prefer_local(intent.domain.id, false); // its id may be given again
    plane_.remove_domain(intent.domain);
    if (route)
      for (const uint32_t workspace : route->workspaces())
        store_.unindex_route(workspace, intent.domain.id);
    store_.remove_domain(intent.domain);
    Ids(store_, IdKind::domain).free(intent.domain.id, intent.next_id);
    return;
  }
  const uint32_t id = intent.workspace.id;
  // Routes first, so no new connection is steered at a half-removed workspace.
  for (const uint32_t domain : store_.routed_to(id)) {
    Route route = plane_.route(domain).value_or(Route{});
    if (!route.names(id))
      continue;
    const Domain named{domain_name(domain), domain, {}};
    if (route.canary == id) {
      // Its canary ends first (that is history too), whatever else it was.
      const Route after{route.active, route.previous, kNoId, 0};
      change_route(named, route, after, How::canary_end,
                   [&] { write_route(domain, route, after); });
      route = after;
    }
    if (route.active == id) {
      // The domain falls back to its previous workspace: that is history.
      Route after{route.previous, kNoId, route.canary, route.canary_weight};
      if (after.canary == after.active)
        after.canary = kNoId, after.canary_weight = 0; // a canary is never the active one
      change_route(named, route, after, How::fallback, [&] { write_route(domain, route, after); });
    } else if (route.previous == id) {
      write_route(domain, route, {route.active, kNoId, route.canary, route.canary_weight});
    }
  }
  plane_.remove_workspace(intent.workspace);
  plane_.set_instances(intent.workspace.id, std::nullopt); // its id may be given again
  store_.remove_workspace(intent.workspace);
  Ids(store_, IdKind::workspace).free(intent.workspace.id, intent.next_id);
}

// Additions are undone: nothing routes to what is being added, and the
// name and id were checked free under this same lock before the intent.
void ControlPlane::undo(const Intent &intent) {
  switch (intent.op) {
  case Intent::Op::add_domain:
    plane_.remove_domain(intent.domain);
    store_.remove_domain(intent.domain);
    Ids(store_, IdKind::domain).untake(intent.next_id);
    break;
  case Intent::Op::add_workspace:
    plane_.remove_workspace(intent.workspace);
    store_.remove_workspace(intent.workspace);
    Ids(store_, IdKind::workspace).untake(intent.next_id);
    break;
  case Intent::Op::adopt_workspace:
    // Its sockets out of the plane (its table, if any, stays: it is the
    // other hosts'), the record of other hosts back.
    plane_.remove_workspace(intent.workspace);
    plane_.add_workspace(of_other_hosts(intent.workspace.name, intent.workspace.id), {});
    store_.put_workspace(of_other_hosts(intent.workspace.name, intent.workspace.id));
    break;
  case Intent::Op::switch_workspace:
    plane_.unprepare(intent.domain, intent.workspace);
    break;
  case Intent::Op::remove_domain:
  case Intent::Op::remove_workspace:
  case Intent::Op::uncheck_workspace:
    break; // nothing to undo: a failed removal is finished by the next zdctl
  }
}

bool ControlPlane::interrupted() const {
  return store_.intent() || pending_event() || store_.apply_traces() || !store_.route_index_built();
}

void ControlPlane::write_route(uint32_t domain, const Route &before, const Route &route) {
  for (const uint32_t workspace : route.workspaces())
    store_.index_route(workspace, domain);
  plane_.set_route(domain, route);
  for (const uint32_t workspace : before.workspaces())
    if (!route.names(workspace))
      store_.unindex_route(workspace, domain);
}

// Only the newest event can be pending: the next zdctl settles it first.
std::optional<Event> ControlPlane::pending_event() const {
  std::optional<Event> newest = store_.newest_event();
  if (!newest || !newest->pending)
    return std::nullopt;
  return newest;
}

// A pending event happened if its route was written: it is kept, else erased.
std::optional<std::string> ControlPlane::settle(const Event &pending) {
  // A canary's change is its orders too: a route that already showed the
  // canary before the change (new orders, same weight) proves nothing alone.
  const std::optional<CanaryOrders> orders = store_.canary_orders(pending.domain);
  const bool ours = orders && orders->pending_seq == pending.seq;
  const bool happened =
      route_shows(plane_.route(pending.domain_id).value_or(Route{}), pending) &&
      (pending.how != How::canary || ours || (orders && orders->current_seq == pending.seq));
  if (happened) {
    if (ours)
      finish_orders(pending.domain, *orders);
    count_switch(pending); // again, if it was counted before the kill: a no-op
    Event done = pending;
    done.pending = false;
    store_.put_event(done);
  } else {
    if (ours && orders->fresh)
      store_.set_canary_orders(pending.domain, std::nullopt);
    else if (ours)
      store_.set_canary_orders(pending.domain,
                               CanaryOrders{orders->current, orders->current_seq, {}, 0, false});
    store_.erase_event(pending.seq);
  }
  return std::string(happened ? "finished" : "undid") + " an interrupted '" + command_of(pending) +
         "'";
}

// The pending event first: finishing a workspace's removal may change
// routes again, and must find the one it was cut in settled.
std::optional<std::string> ControlPlane::recover() {
  // A change cut short may have left the index of routes mid-write, and a
  // state upgraded to it has none yet: it is built first, since finishing a
  // workspace's removal reads it (one read of every route, batched).
  if (interrupted())
    store_.rebuild_route_index(plane_.routes());
  std::optional<std::string> said = recover_change();
  // The steps of an apply are changes of their own, each settled above; the
  // apply they belong to is then applied again, which makes the rest.
  if (auto apply = store_.pending_apply()) {
    const std::string finished = Applier(*this, store_, plane_).finish(*apply);
    said = (said ? *said + "; " : std::string()) + finished;
  } else if (store_.apply_traces()) {
    store_.clear_pending_apply(); // a document half written or half dropped
  }
  return said;
}

std::optional<std::string> ControlPlane::recover_change() {
  std::optional<std::string> said;
  if (auto pending = pending_event())
    said = settle(*pending);
  const std::optional<Intent> intent = store_.intent();
  if (!intent)
    return said;
  // A switch (or canary) whose route was written is done: only its undo
  // would change it.
  const Route now = plane_.route(intent->domain.id).value_or(Route{});
  const bool addition =
      is_addition(intent->op) &&
      !(intent->op == Intent::Op::switch_workspace &&
        (now.active == intent->workspace.id || now.canary == intent->workspace.id));
  if (addition)
    undo(*intent);
  else
    finish(*intent);
  store_.clear_intent();
  return (said ? *said + "; " : std::string()) + (addition ? "undid" : "finished") +
         " an interrupted '" + command_of(*intent) + "'";
}

// A route change in history: the event is written pending, then the route,
// then it is counted, then the event is made final; a zdctl killed in
// between leaves an event that says what it was doing, and the next one
// keeps (and counts) or erases it by whether the route was written (settle()).
void ControlPlane::change_route(const Domain &domain, const Route &before, const Route &after,
                                How how, const std::function<void()> &write,
                                const CanaryPolicy *orders) {
  const std::optional<Event> newest = store_.newest_event();
  Event event;
  event.seq = newest ? newest->seq + 1 : 1;
  event.time_ns = realtime_ns();
  event.domain = domain.name;
  event.domain_id = domain.id;
  const bool ends_canary = how == How::canary_end || how == How::canary_failed;
  event.from_id = ends_canary ? before.canary : before.active;
  event.to_id = how == How::canary ? after.canary : after.active;
  event.from = workspace_name(event.from_id);
  event.to = workspace_name(event.to_id);
  event.how = how;
  event.weight = how == How::canary ? after.canary_weight : 0;
  event.pid = static_cast<uint32_t>(getpid());
  event.uid = static_cast<uint32_t>(getuid());
  event.pending = true;
  store_.put_event(event);
  // The canary's orders change with its route: set by a canary (always, so
  // that recovery can tell), dropped with the canary. They are written as
  // pending before the route and made current after it, under this event's
  // seq, so settle() finishes or undoes them with it.
  std::optional<CanaryOrders> kept = store_.canary_orders(domain.name);
  std::optional<CanaryOrders> changing;
  if (how == How::canary) {
    CanaryPolicy policy = orders ? *orders : CanaryPolicy{};
    policy.since_ns = event.time_ns;
    changing = CanaryOrders{kept ? kept->current : std::nullopt, kept ? kept->current_seq : 0,
                            policy, event.seq, !kept};
  } else if (after.canary == kNoId && kept) {
    changing = CanaryOrders{kept->current, kept->current_seq, std::nullopt, event.seq, false};
  }
  if (changing)
    store_.set_canary_orders(domain.name, changing);
  write();
  if (changing)
    finish_orders(domain.name, *changing);
  count_switch(event);
  event.pending = false;
  store_.put_event(event);
}

// The pending orders become the ones in force; none pending left, none kept.
void ControlPlane::finish_orders(const std::string &domain, const CanaryOrders &orders) {
  if (!orders.pending)
    store_.set_canary_orders(domain, std::nullopt);
  else
    store_.set_canary_orders(domain,
                             CanaryOrders{orders.pending, orders.pending_seq, {}, 0, false});
}

CanaryPolicy ControlPlane::orders_in_force(const std::string &domain) const {
  const std::optional<CanaryOrders> orders = store_.canary_orders(domain);
  return orders && orders->current ? *orders->current : CanaryPolicy{};
}

// Counts a route change once, however often it is called for it: the count
// remembers the seq it counted last, and seqs only grow.
void ControlPlane::count_switch(const Event &event) {
  if (event.how > How::fallback)
    return; // a canary's changes (its promotion too) are history only
  SwitchCount count = store_.switch_count(event.domain_id, event.how);
  if (count.last_seq >= event.seq)
    return;
  ++count.count;
  count.last_seq = event.seq;
  store_.put_switch_count(event.domain_id, event.how, count);
}

std::vector<SwitchTotal> ControlPlane::switch_totals() const {
  const auto counts = store_.switch_counts();
  std::vector<Domain> domains = store_.domains();
  std::sort(domains.begin(), domains.end(),
            [](const Domain &a, const Domain &b) { return a.name < b.name; });
  std::vector<SwitchTotal> out;
  for (const auto &domain : domains)
    for (How how : {How::switch_to, How::revert, How::force, How::fallback}) {
      auto it = counts.find({domain.id, how});
      out.push_back({domain.name, how, it == counts.end() ? 0 : it->second.count});
    }
  return out;
}

std::vector<Event> ControlPlane::history(const std::string &domain) const {
  if (!domain.empty())
    find_domain(domain); // an unknown domain is an error, not "no history"
  std::vector<Event> out;
  for (auto &event : store_.events())
    if (!event.pending && (domain.empty() || event.domain == domain))
      out.push_back(std::move(event));
  return out;
}

std::optional<Check> ControlPlane::domain_check(const std::string &domain) const {
  return store_.domain_check(find_domain(domain).name);
}

void ControlPlane::set_domain_check(const std::string &domain, const std::optional<Check> &check) {
  store_.set_domain_check(find_domain(domain).name, check);
}

bool ControlPlane::prefers_local(const std::string &domain) const {
  return plane_.preferring_local().count(find_domain(domain).id) > 0;
}

void ControlPlane::set_prefer_local(const std::string &domain, bool prefer) {
  plane_.set_prefer_local(find_domain(domain).id, prefer);
}

// Removing a check clears its mark first: a workspace never stays passed
// over by a check that no longer runs.
void ControlPlane::set_health_check(const std::string &name,
                                    const std::optional<HealthCheck> &check) {
  const Workspace workspace = find_workspace(name);
  if (check) {
    store_.set_health_check(workspace.name, check);
    return;
  }
  // One write needs no intent: a check never run, or one that left no trace.
  const bool traces = plane_.failing(workspace.id) || store_.health(workspace.id);
  if (traces)
    run(Intent{Intent::Op::uncheck_workspace, {}, workspace, 0});
  else if (store_.health_check(workspace.name))
    store_.set_health_check(workspace.name, std::nullopt);
}

Watch ControlPlane::watch() const {
  Watch watch;
  std::map<uint32_t, const Watched *> by_id;
  const std::vector<Workspace> workspaces = store_.workspaces();
  for (const auto &workspace : workspaces) {
    auto check = store_.health_check(workspace.name);
    if (!check)
      continue;
    Watched w{workspace, *check, plane_.failing(workspace.id), store_.health(workspace.id), 0};
    if (workspace.placement == Placement::other_netns)
      w.netns = plane_.container_status(workspace).value_or(ContainerStatus{}).netns;
    watch.workspaces.push_back(std::move(w));
  }
  for (const auto &w : watch.workspaces)
    by_id[w.workspace.id] = &w;
  for (const auto &domain : store_.domains()) {
    const Route route = plane_.route(domain.id).value_or(Route{});
    if (route.canary == kNoId)
      continue;
    WatchedCanary c{domain.name, workspace_name(route.canary), orders_in_force(domain.name)};
    c.healthy_since_ns = c.policy.since_ns;
    if (auto it = by_id.find(route.canary); it != by_id.end()) {
      c.checked = true;
      c.failing = it->second->failing;
      // Checked but not yet judged: its health has held for no time at all.
      c.healthy_since_ns =
          it->second->last ? std::max(c.healthy_since_ns, it->second->last->since_ns) : 0;
    }
    watch.canaries.push_back(std::move(c));
  }
  return watch;
}

bool ControlPlane::record_health(const std::string &name, uint32_t id, const Health &health) {
  const std::optional<Workspace> workspace = store_.workspace(name);
  if (!workspace || workspace->id != id || !store_.health_check(name))
    return false;
  plane_.set_failing(id, health.failing);
  store_.set_health(id, health);
  return true;
}

// The switch itself: one map update. Only the first switch of a domain to a
// workspace in another namespace does more, first: it makes the domain's
// addresses arrive in that namespace, under an intent, so a zdctl killed
// between the two leaves the switch done or not done.
void ControlPlane::point(const Domain &domain, const Workspace &workspace, const Route &route,
                         How how, const CanaryPolicy *orders) {
  spdlog::debug("domain {} (id {}): route -> {{active {}, previous {}}}", domain.name, domain.id,
                route.active, route.previous);
  const Route before = plane_.route(domain.id).value_or(Route{});
  change_route(
      domain, before, route, how,
      [&] {
        if (how == How::canary_end || how == How::canary_failed ||
            plane_.prepared(domain, workspace))
          write_route(domain.id, before, route);
        else
          run(Intent{Intent::Op::switch_workspace, domain, workspace, 0}, nullptr, &route);
      },
      orders);
}

RoutePlan ControlPlane::plan(const RouteRequest &request) const {
  RoutePlan plan;
  plan.domain = find_domain(request.domain);
  plan.before = plane_.route(plan.domain.id).value_or(Route{});
  switch (request.kind) {
  case RouteRequest::Kind::switch_to:
    plan.target = find_workspace(request.workspace);
    plan.how = How::switch_to;
    break;
  case RouteRequest::Kind::revert:
    plan.target = previous_workspace(plan.domain, plan.before);
    plan.how = How::revert;
    break;
  case RouteRequest::Kind::revert_to:
    plan.target = history_workspace(plan.domain, request.seq);
    plan.how = How::revert;
    break;
  case RouteRequest::Kind::canary:
  case RouteRequest::Kind::canary_end:
  case RouteRequest::Kind::canary_failed:
    return plan_canary(plan, request);
  case RouteRequest::Kind::promote:
    plan.target = find_workspace(request.workspace);
    if (plan.before.canary != plan.target.id)
      throw Error(Errc::refused, "workspace '" + plan.target.name +
                                     "' is no longer the canary of domain '" + plan.domain.name +
                                     "'");
    plan.how = How::promote;
    break;
  }
  // Moving the active workspace ends a canary: switching to the canary is
  // how one is promoted.
  plan.after = plan.target.id == plan.before.active ? plan.before
                                                    : Route{plan.target.id, plan.before.active};
  if (!plan.changes())
    return plan;
  if (request.force == Force::yes)
    plan.how = How::force;
  else
    require_live_sockets(plan.domain, plan.target);
  return plan;
}

RoutePlan ControlPlane::plan_canary(RoutePlan plan, const RouteRequest &request) const {
  const Route &before = plan.before;
  const std::string &domain = plan.domain.name;
  if (request.kind != RouteRequest::Kind::canary) {
    if (before.canary == kNoId)
      throw Error(Errc::refused, "domain '" + domain + "' has no canary");
    plan.target = find_workspace(workspace_name(before.canary));
    plan.how = How::canary_end;
    if (request.kind == RouteRequest::Kind::canary_failed) {
      if (plan.target.name != request.workspace)
        throw Error(Errc::refused, "workspace '" + request.workspace +
                                       "' is no longer the canary of domain '" + domain + "'");
      plan.how = How::canary_failed;
    }
    plan.after = {before.active, before.previous, kNoId, 0};
    return plan;
  }
  if (request.weight < 1 || request.weight > 100)
    throw Error(Errc::invalid, "a canary's weight is a percentage of new connections, 1 to 100 "
                               "(to end one: zdctl canary " +
                                   domain + " --abort)");
  plan.target = find_workspace(request.workspace);
  plan.how = How::canary;
  if (before.active == kNoId)
    throw Error(Errc::refused, "domain '" + domain +
                                   "' has no active workspace for a canary to share with: "
                                   "switch it first");
  if (plan.target.id == before.active)
    throw Error(Errc::refused, "workspace '" + plan.target.name +
                                   "' is already active for domain '" + domain +
                                   "': a canary is another workspace");
  plan.after = {before.active, before.previous, plan.target.id, request.weight};
  plan.policy = request.policy;
  // New orders for the same canary are a change too (and restart the clock
  // of --promote-after).
  const CanaryPolicy now = orders_in_force(domain);
  plan.policy_changes = plan.policy.promote_after_ms != now.promote_after_ms ||
                        plan.policy.revert_on_failure != now.revert_on_failure;
  if (plan.changes() && request.force == Force::no)
    require_live_sockets(plan.domain, plan.target);
  return plan;
}

SwitchResult ControlPlane::apply(const RoutePlan &plan) {
  SwitchResult result{Changed::no, workspace_name(plan.before.active), plan.target.name};
  if (!plan.changes())
    return result;
  point(plan.domain, plan.target, plan.after, plan.how, &plan.policy);
  result.changed = Changed::yes;
  return result;
}

Workspace ControlPlane::previous_workspace(const Domain &domain, const Route &route) const {
  const std::string none = "domain '" + domain.name + "' has no previous workspace to revert to";
  if (route.previous == kNoId)
    throw Error(Errc::refused, none);
  auto name = store_.workspace_name(route.previous);
  auto workspace = name ? store_.workspace(*name) : std::nullopt;
  if (!workspace)
    throw Error(Errc::refused, none);
  return *workspace;
}

Workspace ControlPlane::history_workspace(const Domain &domain, uint64_t seq) const {
  std::optional<Event> entry;
  for (auto &event : store_.events())
    if (event.seq == seq && !event.pending && event.domain == domain.name)
      entry = std::move(event);
  if (!entry)
    throw Error(Errc::not_found, "domain '" + domain.name + "' has no history entry " +
                                     std::to_string(seq) + " (see zdctl history " + domain.name +
                                     ")");
  if (entry->to.empty())
    throw Error(Errc::refused, "history entry " + std::to_string(seq) + " of domain '" +
                                   domain.name + "' left it with no workspace to go back to");
  auto workspace = store_.workspace(entry->to);
  if (!workspace)
    throw Error(Errc::refused, "workspace '" + entry->to + "' of history entry " +
                                   std::to_string(seq) + " is no longer registered");
  return *workspace;
}

SwitchResult ControlPlane::switch_to(const std::string &domain, const std::string &workspace,
                                     Force force) {
  return apply(plan(RouteRequest::of(RouteRequest::Kind::switch_to, domain, workspace, 0, force)));
}

SwitchResult ControlPlane::revert(const std::string &domain, Force force) {
  return apply(plan(RouteRequest::of(RouteRequest::Kind::revert, domain, "", 0, force)));
}

SwitchResult ControlPlane::revert_to(const std::string &domain, uint64_t seq, Force force) {
  RouteRequest request = RouteRequest::of(RouteRequest::Kind::revert_to, domain, "", 0, force);
  request.seq = seq;
  return apply(plan(request));
}

size_t ControlPlane::container_connections(const std::string &domain) const {
  size_t total = 0;
  std::optional<std::vector<Domain>> domains; // read only if a container exists
  for (const auto &workspace : store_.workspaces())
    if (workspace.placement == Placement::other_netns) {
      if (!domains) {
        domains = store_.domains();
        if (!domain.empty())
          std::erase_if(*domains, [&](const Domain &d) { return d.name != domain; });
      }
      total += plane_.open_connections(workspace, *domains);
    }
  return total;
}

// The connections each workspace holds, by id: those of this namespace
// from one look at its sockets, those of a container from its namespace.
std::map<uint32_t, std::vector<Connection>>
ControlPlane::connections_of(const std::vector<Workspace> &workspaces) const {
  std::vector<Workspace> here;
  std::map<uint32_t, std::vector<Connection>> out;
  for (const auto &workspace : workspaces)
    if (workspace.placement == Placement::this_netns)
      here.push_back(workspace);
    else
      out[workspace.id] = plane_.netns_connections(workspace);
  if (!here.empty())
    out.merge(connections_by_workspace(plane_.socket_table(), here));
  return out;
}

Workspace ControlPlane::drained_workspace(const Domain &domain, const std::string &name) const {
  const Route route = plane_.route(domain.id).value_or(Route{});
  if (name.empty()) {
    auto previous = route.previous == kNoId ? std::nullopt : store_.workspace_name(route.previous);
    if (!previous)
      throw Error(Errc::refused, "domain '" + domain.name +
                                     "' has no previous workspace: name the workspace to drain");
    return find_workspace(*previous);
  }
  Workspace workspace = find_workspace(name);
  if (workspace.id == route.active || workspace.id == route.canary)
    throw Error(Errc::refused, "workspace '" + workspace.name + "' is " +
                                   (workspace.id == route.active ? "active" : "the canary") +
                                   " for domain '" + domain.name +
                                   "': it receives its new connections, so it never drains "
                                   "(switch the domain to another workspace first)");
  return workspace;
}

Held ControlPlane::held(const std::string &domain_name, const std::string &workspace_name) const {
  const Domain domain = find_domain(domain_name);
  const Workspace workspace = drained_workspace(domain, workspace_name);
  std::vector<Connection> all = std::move(connections_of({workspace})[workspace.id]);
  return {domain.name, workspace.name, connections_to(all, domain)};
}

size_t ControlPlane::close_held(const std::string &domain, const std::string &workspace) {
  const Held what = held(domain, workspace);
  return plane_.close_connections(find_workspace(what.workspace), what.connections);
}

namespace {

// Which domain a connection's local end belongs to, without a pass over
// every domain per connection: exact bindings by value, the (few) prefixes
// in turn. A connection steered by zd has a domain's address as its local end.
class BindingIndex {
public:
  explicit BindingIndex(const std::vector<DomainStatus> &domains) {
    for (size_t i = 0; i < domains.size(); ++i)
      for (const auto &binding : domains[i].bindings)
        if (binding.is_exact())
          exact_.emplace(key(binding), i);
        else
          prefixes_.emplace_back(binding, i);
  }
  std::optional<size_t> domain_of(const Endpoint &local) const {
    if (auto it = exact_.find(key(local)); it != exact_.end())
      return it->second;
    std::optional<size_t> best;
    unsigned best_len = 0;
    for (const auto &[prefix, i] : prefixes_)
      if (prefix.covers(local) && (!best || prefix.prefix_len > best_len))
        best = i, best_len = prefix.prefix_len;
    return best;
  }

private:
  static std::string key(const Endpoint &e) {
    std::string k(reinterpret_cast<const char *>(e.addr.data()), e.addr.size());
    k += static_cast<char>(e.protocol);
    k += static_cast<char>(e.family);
    k += static_cast<char>(e.port >> 8);
    k += static_cast<char>(e.port & 0xff);
    return k;
  }
  std::unordered_map<std::string, size_t> exact_;
  std::vector<std::pair<Endpoint, size_t>> prefixes_;
};

} // namespace

Status ControlPlane::status() const {
  Status status = status_of(store_.domains(), store_.workspaces());
  status.xdp = plane_.xdp_status();
  std::sort(status.xdp.interfaces.begin(), status.xdp.interfaces.end(),
            [](const auto &a, const auto &b) { return a.name < b.name; });
  return status;
}

Status ControlPlane::workspaces_status() const {
  return status_of({}, store_.workspaces());
}

// One domain and the workspaces its route names: read by id and name, never
// by a pass over the state.
Status ControlPlane::domain_status(const std::string &name) const {
  const Domain domain = find_domain(name);
  const Route route = plane_.route(domain.id).value_or(Route{});
  std::vector<Workspace> workspaces;
  for (const uint32_t id : {route.active, route.previous, route.canary}) {
    if (id == kNoId || std::any_of(workspaces.begin(), workspaces.end(),
                                   [&](const Workspace &w) { return w.id == id; }))
      continue;
    if (auto named = store_.workspace_name(id))
      if (auto workspace = store_.workspace(*named))
        workspaces.push_back(std::move(*workspace));
  }
  return status_of({domain}, std::move(workspaces));
}

Status ControlPlane::workspace_status(const std::string &name) const {
  Workspace workspace = find_workspace(name);
  std::vector<Domain> domains;
  for (const uint32_t id : store_.routed_to(workspace.id))
    if (auto domain_name = store_.domain_name(id))
      if (auto domain = store_.domain(*domain_name))
        domains.push_back(std::move(*domain));
  return status_of(std::move(domains), {std::move(workspace)});
}

// The status of these domains and workspaces: linear in them (and in the
// connections their workspaces hold), whatever else the state holds. At
// 100,000 domains every step counts (bench/control.md): the domains are put
// in order once, as indices, and built in that order; names and bindings
// are moved, not copied; routes are looked up by id in a vector.
Status ControlPlane::status_of(std::vector<Domain> domains,
                               std::vector<Workspace> workspaces) const {
  Status status;
  std::unordered_map<uint32_t, const Workspace *> by_id;
  for (const auto &workspace : workspaces)
    by_id[workspace.id] = &workspace;
  auto name_of = [&](uint32_t id) {
    if (id == kNoId)
      return std::string();
    if (auto it = by_id.find(id); it != by_id.end())
      return it->second->name;
    return workspace_name(id);
  };

  // Many domains: their routes, checks and counters read at once, not one
  // by one.
  const bool many = domains.size() > 8;
  std::vector<Route> routes; // by domain id
  std::map<std::string, Check> checks;
  std::vector<Counters> counters;
  if (many) {
    for (auto &[id, route] : plane_.routes()) {
      if (id >= routes.size())
        routes.resize(std::max<size_t>(id + 1, routes.size() * 2));
      routes[id] = route;
    }
    checks = store_.domain_checks();
    counters = plane_.all_domain_counters();
  }
  auto counters_of = [&](const Domain &domain) {
    return many && domain.id < counters.size() ? counters[domain.id]
                                               : plane_.domain_counters(domain.id);
  };
  auto route_of = [&](const Domain &domain) {
    if (!many)
      return plane_.route(domain.id).value_or(Route{});
    return domain.id < routes.size() ? routes[domain.id] : Route{};
  };
  auto check_of = [&](const Domain &domain) -> std::optional<Check> {
    if (!many)
      return store_.domain_check(domain.name);
    auto it = checks.find(domain.name);
    return it == checks.end() ? std::nullopt : std::optional<Check>(it->second);
  };

  std::vector<uint32_t> order(domains.size());
  for (uint32_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](uint32_t a, uint32_t b) { return domains[a].name < domains[b].name; });
  // The domains each workspace serves or served (by index in
  // status.domains, so in order): status lists them for it even when it
  // holds none of their connections (0: drained).
  std::unordered_map<uint32_t, std::vector<uint32_t>> named_by;
  const std::set<uint32_t> local_first = plane_.preferring_local();
  status.domains.reserve(domains.size());
  for (const uint32_t at : order) {
    Domain &domain = domains[at];
    const Route route = route_of(domain);
    const auto i = static_cast<uint32_t>(status.domains.size());
    DomainStatus &d = status.domains.emplace_back();
    d.id = domain.id;
    d.active = name_of(route.active);
    d.previous = name_of(route.previous);
    d.counters = counters_of(domain);
    d.check = check_of(domain);
    d.canary = name_of(route.canary);
    d.canary_weight = route.canary_weight;
    d.prefer_local = local_first.count(domain.id) > 0;
    if (route.canary != kNoId)
      d.canary_policy = orders_in_force(domain.name);
    d.name = std::move(domain.name);
    d.bindings = std::move(domain.bindings);
    for (const uint32_t id : route.workspaces())
      named_by[id].push_back(i);
  }
  // One dump of the listeners for all sockets (sock_diag), not one per socket.
  const std::map<uint64_t, AcceptQueue> queues =
      workspaces.empty() ? std::map<uint64_t, AcceptQueue>{} : plane_.accept_queues();
  const std::map<uint32_t, std::vector<Connection>> connections = connections_of(workspaces);
  // Which domain a connection is to: built only when there are connections.
  std::optional<BindingIndex> bindings;
  for (const auto &[workspace, held] : connections)
    if (!held.empty() && !bindings)
      bindings.emplace(status.domains);
  // Many workspaces: their counters, checks, verdicts and marks read at once.
  const bool many_workspaces = workspaces.size() > 8;
  std::vector<Counters> workspace_counters;
  std::vector<bool> failing;
  std::map<std::string, HealthCheck> health_checks;
  std::map<uint32_t, Health> healths;
  if (many_workspaces) {
    workspace_counters = plane_.all_workspace_counters();
    failing = plane_.all_failing();
    health_checks = store_.health_checks();
    healths = store_.healths();
  }
  // Where the workspaces with instances on other hosts have them.
  const std::map<uint32_t, InstanceTable> tables = plane_.instance_tables();
  std::map<uint32_t, std::string> node_names;
  if (!tables.empty())
    for (const NodeEntry &entry : plane_.nodes())
      node_names[entry.id] = entry.node.name;
  for (auto &workspace : workspaces) {
    WorkspaceStatus w;
    w.name = workspace.name;
    if (auto it = tables.find(workspace.id); it != tables.end()) {
      std::set<std::string> hosts;
      for (const uint16_t node : it->second.table)
        hosts.insert(node_names.count(node) ? node_names[node] : "#" + std::to_string(node));
      w.instances.assign(hosts.begin(), hosts.end());
    }
    w.id = workspace.id;
    w.pid = workspace.pid;
    w.placement = workspace.placement;
    w.container = plane_.container_status(workspace);
    if (many_workspaces && workspace.id < workspace_counters.size() &&
        workspace.id < failing.size()) {
      w.counters = workspace_counters[workspace.id];
      w.failing = failing[workspace.id];
      if (auto it = health_checks.find(workspace.name); it != health_checks.end())
        w.health_check = it->second;
      if (auto it = healths.find(workspace.id); it != healths.end())
        w.health = it->second;
    } else {
      w.counters = plane_.workspace_counters(workspace.id);
      w.health_check = store_.health_check(workspace.name);
      w.health = store_.health(workspace.id);
      w.failing = plane_.failing(workspace.id);
    }
    for (const auto &socket : workspace.sockets) {
      SocketStatus s{socket, plane_.alive(workspace, socket), std::nullopt};
      if (auto it = queues.find(socket.cookie); s.alive && it != queues.end())
        s.queue = it->second;
      w.sockets.push_back(s);
    }
    // Each domain it receives or still holds connections of: a 0 says
    // "drained", an absent domain "never had anything to do with it".
    if (auto its = connections.find(workspace.id); its != connections.end())
      for (const auto &connection : its->second)
        if (auto i = bindings->domain_of(connection.local))
          ++w.connections[status.domains[*i].name];
    // In order, so each lands at the end of the map (or where it already is).
    if (auto it = named_by.find(workspace.id); it != named_by.end())
      for (const uint32_t i : it->second)
        w.connections.try_emplace(w.connections.end(), status.domains[i].name, 0);
    status.workspaces.push_back(std::move(w));
  }
  auto by_name = [](const auto &a, const auto &b) { return a.name < b.name; };
  std::sort(status.workspaces.begin(), status.workspaces.end(), by_name);
  return status;
}

} // namespace zd
