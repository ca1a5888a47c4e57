// The model zd's control plane reasons about: domains and their bindings,
// workspaces and the sockets they serve with, and the route that says which
// workspace serves a domain. Plain values: no kernel, no BPF, no I/O. The
// planes translate them into their own keys (see user/plane/keys.hpp).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "fd.hpp"

namespace zd {

// Limits of the state. The data plane sizes its maps from the same numbers
// and checks them at compile time (bpf/zd_shared.h, user/plane/keys.cpp).
inline constexpr uint32_t kMaxDomains = 131072;
inline constexpr uint32_t kMaxWorkspaces = 32768;
inline constexpr size_t kMaxNameLength = 63;
inline constexpr size_t kMaxBindingsPerDomain = 16;
inline constexpr size_t kMaxSocketsPerWorkspace = 4;
// History keeps this many of the latest route changes; older ones drop off.
inline constexpr uint32_t kHistorySize = 512;

// Id 0 means "no domain" / "no workspace"; real ids start at 1.
inline constexpr uint32_t kNoId = 0;

// protocol://address[/prefix]:port. A binding may cover a prefix; a socket
// address is always exact.
struct Endpoint {
  uint8_t protocol = 0; // IPPROTO_TCP / IPPROTO_UDP
  uint8_t family = 0;   // AF_INET / AF_INET6
  uint16_t port = 0;    // host order
  std::array<uint8_t, 16> addr{};
  uint8_t prefix_len = 0; // 32 or 128 when exact

  bool is_exact() const { return prefix_len == address_bits(); }
  // True when this binding takes connections to `address` (an exact one):
  // same protocol, family and port, and the address within the prefix.
  bool covers(const Endpoint &address) const;
  unsigned address_bits() const;
  bool operator==(const Endpoint &) const = default;
};

struct Domain {
  std::string name;
  uint32_t id = kNoId;
  std::vector<Endpoint> bindings;
};

// Where a workspace's listening sockets live. It decides the data plane that
// delivers to it: sk_lookup can only hand a connection to a socket of its
// own network namespace; the XDP plane serves a workspace in a namespace of
// its own (a container) through the veth that leads there.
//
// other_hosts: none here; its instances run on other hosts of the cluster
// (issue 21), which the XDP plane forwards its flows to. The cluster agent
// registers it, with no socket, when a route names it.
enum class Placement : uint8_t { this_netns = 0, other_netns = 1, other_hosts = 2 };

// A listening socket as registered: what it is bound to, which family of
// connections it serves (IPv4 too for a dual-stack [::] socket) and its
// cookie, which tells the live socket from a later one on the same address.
struct RegisteredSocket {
  Endpoint bound;
  uint8_t serves = 0; // AF_INET / AF_INET6
  uint64_t cookie = 0;

  bool dual_stack() const { return serves != bound.family; }
};

struct Workspace {
  std::string name;
  uint32_t id = kNoId;
  uint32_t pid = 0; // 0 when registered by an inherited fd
  Placement placement = Placement::this_netns;
  std::vector<RegisteredSocket> sockets;
  // other_netns, when added only: the host-side interface into its
  // namespace the user named (--via), "" to let zd find the only one.
  std::string via;
};

// How a workspace that runs only on other hosts is recorded here (the
// cluster agent's ControlPlane::place): no pid, no socket.
inline Workspace of_other_hosts(const std::string &name, uint32_t id) {
  return {name, id, 0, Placement::other_hosts, {}, ""};
}

// Which workspace serves a domain, which one to revert to, and a canary
// that takes canary_weight percent of new connections (kNoId: none).
struct Route {
  uint32_t active = kNoId;
  uint32_t previous = kNoId;
  uint32_t canary = kNoId;
  uint32_t canary_weight = 0; // 1..100 while there is a canary
  bool operator==(const Route &) const = default;

  bool names(uint32_t workspace) const {
    return workspace != kNoId &&
           (active == workspace || previous == workspace || canary == workspace);
  }
  // The workspaces it names, each once.
  std::vector<uint32_t> workspaces() const {
    std::vector<uint32_t> out;
    for (uint32_t id : {active, previous, canary})
      if (id != kNoId && std::find(out.begin(), out.end(), id) == out.end())
        out.push_back(id);
    return out;
  }
};

// How a domain's route came to change, as history tells it.
enum class How : uint8_t {
  switch_to = 1, // zdctl switch
  revert,        // zdctl revert (also --to N)
  force,         // a switch or revert with --force: its checks skipped
  fallback,      // its active workspace was removed (workspace rm --force)
  canary,        // zdctl canary: a canary set, or its weight changed
  canary_end,    // zdctl canary --abort, or its workspace removed
  canary_failed, // serve ended a canary whose workspace failed its health check
  promote        // serve made a canary active: its health held --promote-after
};

// Whether a change of this kind moves the active workspace (the others
// only set or end a canary).
inline bool moves_active(How how) {
  return how != How::canary && how != How::canary_end && how != How::canary_failed;
}

// How many route changes of one kind a domain has had: a counter that only
// grows, unlike history, whose ring drops the oldest. last_seq is the seq of
// the event counted last, so counting the same event again (a recovery
// repeats what a killed zdctl may have done) changes nothing.
struct SwitchCount {
  uint64_t count = 0;
  uint64_t last_seq = 0;
  bool operator==(const SwitchCount &) const = default;
};

// One change of a domain's route. Names are kept as they were then: a
// workspace removed since, or a name given again, does not rewrite history.
struct Event {
  uint64_t seq = 0;    // 1, 2, ... in this state; never reused
  int64_t time_ns = 0; // CLOCK_REALTIME
  std::string domain;
  uint32_t domain_id = kNoId;
  // The active workspace before and after ("" for none); for How::canary
  // the active one and the canary, for How::canary_end the canary and the
  // active one.
  std::string from, to;
  uint32_t from_id = kNoId, to_id = kNoId;
  How how = How::switch_to;
  uint32_t weight = 0;       // How::canary: the weight it set
  uint32_t pid = 0, uid = 0; // of the zdctl that made it
  // Written before the route it tells of, and made final after it; a
  // pending event is a change cut short, settled by the next zdctl.
  bool pending = false;
};

// How a workspace is probed before a domain is pointed at it: a TCP
// connect, or an HTTP GET of path that must answer 2xx or 3xx. Each probe
// has timeout_ms; a failed one is tried again `retries` times.
struct Check {
  enum class Kind : uint8_t { none = 0, tcp, http };
  Kind kind = Kind::none;
  std::string path; // http: starts with '/'
  uint32_t timeout_ms = 2000;
  uint32_t retries = 2;
  bool operator==(const Check &) const = default;
};

// A workspace's continuous health check (zdctl workspace set --check), run
// by zdctl serve through the workspace's own sockets: `fall` failed probes in
// a row mark it failing, and the data plane passes it over as if it had no
// live socket; `rise` good ones in a row clear the mark.
struct HealthCheck {
  Check check; // its retries are not used: rise and fall count instead
  uint32_t interval_ms = 2000;
  uint32_t rise = 2, fall = 3;
  bool operator==(const HealthCheck &) const = default;
};

// What a workspace's health check last concluded, and since when.
struct Health {
  bool failing = false;
  int64_t since_ns = 0; // CLOCK_REALTIME of the change
  std::string said;     // the probe's answer that made it ("answered 503")
  bool operator==(const Health &) const = default;
};

// A canary's standing orders (zdctl canary --promote-after,
// --no-revert-on-failure), carried out by zdctl serve.
struct CanaryPolicy {
  uint32_t promote_after_ms = 0; // 0: never by itself
  bool revert_on_failure = true;
  int64_t since_ns = 0; // when the canary was set (CLOCK_REALTIME)
  bool operator==(const CanaryPolicy &) const = default;
};

// A domain's canary orders as kept: those in force, and those a route
// change in flight is writing, so that a zdctl killed during the change
// leaves them finished or undone with it (ControlPlane::change_route).
struct CanaryOrders {
  std::optional<CanaryPolicy> current; // none: the defaults
  uint64_t current_seq = 0;            // the history entry that set them
  std::optional<CanaryPolicy> pending; // what the change in flight makes them
  uint64_t pending_seq = 0;            // its history entry; 0: no change in flight
  bool fresh = false;                  // the record did not exist before that change
  bool operator==(const CanaryOrders &) const = default;
};

// A change of several writes, recorded before its first write and cleared
// after its last (see ControlPlane::recover). The next zdctl that takes the
// lock finishes it or undoes it, so a killed one leaves nothing half-made.
struct Intent {
  // switch_workspace: the first switch of a domain to a workspace in
  // another namespace, which first makes the domain's addresses arrive there.
  enum class Op : uint8_t {
    add_domain = 1,
    remove_domain,
    add_workspace,
    remove_workspace,
    switch_workspace,
    // workspace set --no-check of a workspace marked failing: the mark, the
    // verdict and the check go; a removal, so recovery finishes it.
    uncheck_workspace,
    // workspace add of a name registered only for its instances on other
    // hosts (Placement::other_hosts): the sockets join that record, keeping
    // its id, which routes name. An addition: undone, it is that record again.
    adopt_workspace
  };
  Op op = Op::add_domain;
  Domain domain;       // add_domain, remove_domain, switch_workspace
  Workspace workspace; // add_workspace, remove_workspace, switch_workspace
  // Where the change's id step starts (ids.hpp): the cursor or ring head
  // before an add, the ring's tail before a removal.
  uint32_t next_id = 0;
};

struct Counters {
  uint64_t lookups = 0;   // the data plane saw a new connection for it
  uint64_t steered = 0;   // delivered to the active workspace
  uint64_t fallbacks = 0; // active had no live socket: delivered to previous
  uint64_t drops = 0;     // neither had one: refused
};

// A listener's accept queue: connections waiting for accept(), and the
// listen() backlog. The kernel calls it full once more than the backlog wait
// (sk_acceptq_is_full); then new connections' SYNs are dropped and clients
// hang on retransmits.
struct AcceptQueue {
  uint32_t waiting = 0;
  uint32_t backlog = 0;
  bool full() const { return waiting > backlog; }
};

// What the kernel says about a socket, read once when it is taken.
struct SocketInfo {
  Endpoint bound; // family, protocol, address and port from getsockname
  bool listening = false;
  bool v6only = true;        // IPV6_V6ONLY (IPv6 sockets only)
  uint64_t cookie = 0;       // SO_COOKIE
  uint64_t netns_cookie = 0; // SO_NETNS_COOKIE: which network namespace
};

// A socket taken from a process (or inherited) for a new workspace: the fd
// the data plane will hold, what it is, and the family it is to serve.
struct TakenSocket {
  Fd fd;
  SocketInfo info;
  uint8_t serves = 0; // 0: the socket's own family
};

// The taken socket a registered one was made from. Found by cookie, not by
// position: one dual-stack [::] socket may be registered for both families.
inline const TakenSocket &taken_for(const std::vector<TakenSocket> &taken,
                                    const RegisteredSocket &socket) {
  for (const auto &t : taken)
    if (t.info.cookie == socket.cookie)
      return t;
  throw std::logic_error("no taken socket has cookie " + std::to_string(socket.cookie));
}

} // namespace zd
