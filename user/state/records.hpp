// The control plane's records: names and what was registered under them.
// No BPF program reads them, so they are not in any BPF object: zdctl
// creates these maps itself and pins them beside the data-plane maps, and
// their format has a version of its own (kRecordVersion). A field added to a
// record changes that version and never the program, so it never forces a
// detach. (cloudflare/tubular keeps its destinations the same way.)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bpf_map.hpp"
#include "model.hpp"
#include "ports.hpp"
#include "zd_shared.h"

namespace zd {

inline constexpr uint32_t kRecordMagic = 0x7a645243u; // "zdRC"
// 1: the records of layout 1, byte for byte, plus the "store" and "journal" maps.
// 2: adds "history" and "checks" (`zdctl upgrade` adds them to a state of 1).
// 3: adds "switches" (`zdctl upgrade` adds it, empty, to a state of 1 or 2).
// 4: adds "health_checks", "verdicts" and "canaries" (empty, likewise).
// 5: adds "domain_names" (id -> name), "ids" (core IdCursor of each kind)
//    and the rings of freed ids "freed_domains" and "freed_workspaces";
//    `zdctl upgrade` fills them from the records. Meta's id cursors are
//    read no more; and "apply" and "apply_doc", an apply in flight.
// 6: adds "routed", the index of which domains' routes name each workspace
//    (core Store::routed_to); `zdctl upgrade` builds it from the routes.
inline constexpr uint32_t kRecordVersion = 6;

namespace record {

struct Name {
  char name[kMaxNameLength + 1];
};

// Single entry of the "store" map: identifies the records and their format.
struct Meta {
  uint32_t magic;
  uint32_t record_version;
  uint32_t next_domain_id;    // versions 1-4: the id cursors, wrapping; since
  uint32_t next_workspace_id; // 5, "ids" holds where allocation stands
};

// An entry of "ids" (0: domains, 1: workspaces): core IdCursor.
struct IdCursor {
  uint32_t next, head, tail, pad;
};

// Single entry of "apply": an apply in flight (core PendingApply), whose
// document is in "apply_doc", kApplyChunk bytes per entry, keyed from 0.
struct ApplyHeader {
  uint32_t pending;
  uint32_t flags; // kApplyPrune, kApplyForce
  uint64_t length;
};
inline constexpr uint32_t kApplyPrune = 1, kApplyForce = 2;
inline constexpr size_t kApplyChunk = 4096;
struct ApplyChunk {
  char bytes[kApplyChunk];
};

// A binding is kept in the form the data plane keys it by (plane/keys.hpp).
using Binding = zd_prefix_key;

struct Domain {
  uint32_t id;
  uint32_t n_bindings;
  Binding bindings[kMaxBindingsPerDomain];
};

struct Socket {
  uint8_t protocol;
  uint8_t family; // the family it serves: its key in the sockets map
  uint16_t port;
  uint8_t addr[16];
  // 0 when the socket is of `family`; AF_INET6 for a dual-stack [::] socket
  // (IPV6_V6ONLY off) that serves IPv4 connections.
  uint8_t socket_family;
  uint8_t pad[3];
  uint64_t cookie; // SO_COOKIE when registered: tells a live socket apart
};

struct Workspace {
  uint32_t id;
  uint32_t pid; // 0 when registered by fd
  uint32_t n_sockets;
  // core Placement. This was padding, zero, before the XDP plane: records
  // of an earlier zdctl read as this_netns, which they are.
  uint32_t placement;
  Socket sockets[kMaxSocketsPerWorkspace];
};

// Single entry of the "journal" map: the change in flight (core Intent);
// op 0 when there is none.
struct Intent {
  uint32_t op;
  uint32_t next_id;
  Name domain_name;
  Domain domain;
  Name workspace_name;
  Workspace workspace;
};

// One slot of the "history" ring (core Event); seq 0 when empty.
struct Event {
  uint64_t seq;
  int64_t time_ns;
  uint32_t domain_id, from_id, to_id;
  uint32_t how;
  uint32_t pid, uid;
  uint32_t pending;
  uint32_t weight; // How::canary; zero in every other event (was padding)
  Name domain, from, to;
};

// A domain's default check, in "checks" under the domain's name.
struct Check {
  uint32_t kind; // core Check::Kind
  uint32_t timeout_ms;
  uint32_t retries;
  uint32_t pad;
  char path[240]; // NUL-padded
};

// A workspace's health check, in "health_checks" under its name.
struct HealthCheck {
  Check check;
  uint32_t interval_ms, rise, fall, pad;
};

// What a workspace's health check last concluded, in "verdicts" under its id
// (the data plane's health map holds the failing bit that steers).
struct Health {
  uint32_t failing;
  uint32_t pad;
  int64_t since_ns;
  char said[112]; // NUL-padded
};

// A domain's canary orders (core CanaryOrders), in "canaries" under its name.
struct CanaryPolicy {
  uint32_t promote_after_ms;
  uint32_t revert_on_failure;
  int64_t since_ns;
};
struct CanaryOrders {
  CanaryPolicy current, pending;
  uint64_t current_seq, pending_seq;
  uint32_t has_current, has_pending, fresh, pad;
};

// The "switches" map: a domain's route changes of one kind (core How).
struct SwitchKey {
  uint32_t domain_id;
  uint32_t how;
};
struct SwitchCount {
  uint64_t count;
  uint64_t last_seq; // the history seq counted last: a recount is a no-op
};

// The "routed" map, an index of the routes (core Store::routed_to). Of each
// workspace it keeps how many domains' routes name it ({ws, count, 0}), the
// domain in each slot below that count ({ws, slot, n}) and each such
// domain's slot ({ws, domain, id}), so a pair is added or dropped in a few
// writes and read back in as many as there are. {0, built, 0} is written
// once the index holds every route: until then recovery builds it.
struct RoutedKey {
  uint32_t workspace;
  uint32_t tag;
  uint32_t n;
};
inline constexpr uint32_t kRoutedCount = 0, kRoutedSlot = 1, kRoutedDomain = 2, kRoutedBuilt = 3;

// Names are NUL-padded; one longer than kMaxNameLength is cut there.
Name to_name(std::string_view name);
std::string from_name(const Name &name);

} // namespace record

enum class RecordMap {
  store,
  domains,
  workspaces,
  workspace_names,
  journal,
  history,
  checks,
  switches,
  health_checks,
  verdicts,
  canaries,
  domain_names,
  ids,
  freed_domains,
  freed_workspaces,
  apply,
  apply_doc,
  routed
};

// The record maps of one state, and the core's Store on top of them.
class BpfStore final : public Store {
public:
  // New, empty records (attach).
  static BpfStore create();
  // The records pinned under dir; checks their shapes, magic and version.
  static BpfStore open(const std::string &dir, OpenFor open_for = OpenFor::write);
  // Layout 1 kept the records in the program's object and the id cursors in
  // the config map: adopt those maps, move the cursors into a new "store"
  // map and add an empty "journal", pinned under dir. Idempotent.
  static void adopt_layout1(const std::string &dir, uint32_t next_domain_id,
                            uint32_t next_workspace_id);
  // Moves records of an earlier version to this one: pins the maps added
  // since, empty, then writes the version (last, so a cut run is simply repeated).
  // Returns false, changing nothing, when they already are of this version.
  static bool upgrade(const std::string &dir);

  void pin_all(const std::string &dir) const;
  static constexpr size_t kCount = 18;

  std::optional<Domain> domain(std::string_view name) const override;
  std::vector<Domain> domains() const override;
  void put_domain(const Domain &domain) override;
  void remove_domain(const Domain &domain) override;

  std::optional<Workspace> workspace(std::string_view name) const override;
  std::vector<Workspace> workspaces() const override;
  std::optional<std::string> workspace_name(uint32_t id) const override;
  void put_workspace(const Workspace &workspace) override;
  void remove_workspace(const Workspace &workspace) override;

  std::optional<std::string> domain_name(uint32_t id) const override;
  IdCursor id_cursor(IdKind kind) const override;
  void set_id_cursor(IdKind kind, const IdCursor &cursor) override;
  uint32_t freed_id(IdKind kind, uint32_t slot) const override;
  void set_freed_id(IdKind kind, uint32_t slot, uint32_t id) override;

  std::optional<PendingApply> pending_apply() const override;
  void set_pending_apply(const PendingApply &apply) override;
  void clear_pending_apply() override;
  bool apply_traces() const override;

  std::vector<uint32_t> routed_to(uint32_t workspace) const override;
  void index_route(uint32_t workspace, uint32_t domain) override;
  void unindex_route(uint32_t workspace, uint32_t domain) override;
  bool route_index_built() const override;
  void rebuild_route_index(const std::vector<std::pair<uint32_t, Route>> &routes) override;

  std::optional<Intent> intent() const override;
  void set_intent(const Intent &intent) override;
  void clear_intent() override;

  std::optional<Event> newest_event() const override;
  std::vector<Event> events() const override;
  void put_event(const Event &event) override;
  void erase_event(uint64_t seq) override;

  SwitchCount switch_count(uint32_t domain, How how) const override;
  void put_switch_count(uint32_t domain, How how, const SwitchCount &count) override;
  std::map<std::pair<uint32_t, How>, SwitchCount> switch_counts() const override;

  std::optional<Check> domain_check(std::string_view domain) const override;
  std::map<std::string, Check> domain_checks() const override;
  void set_domain_check(std::string_view domain, const std::optional<Check> &check) override;

  std::optional<HealthCheck> health_check(std::string_view workspace) const override;
  void set_health_check(std::string_view workspace,
                        const std::optional<HealthCheck> &check) override;
  std::optional<Health> health(uint32_t workspace) const override;
  std::map<std::string, HealthCheck> health_checks() const override;
  std::map<uint32_t, Health> healths() const override;
  void set_health(uint32_t workspace, const std::optional<Health> &health) override;
  std::optional<CanaryOrders> canary_orders(std::string_view domain) const override;
  void set_canary_orders(std::string_view domain,
                         const std::optional<CanaryOrders> &orders) override;

private:
  BpfMap &map(RecordMap m) { return maps_[static_cast<size_t>(m)]; }
  const BpfMap &map(RecordMap m) const { return maps_[static_cast<size_t>(m)]; }
  record::Meta meta() const;
  void check_shapes() const;

  std::array<BpfMap, kCount> maps_;
  // The history ring as last read: a store lives for one locked operation,
  // in which only it writes the ring, and a switch would otherwise read all
  // of it twice (is a change pending? which seq is next?). Dropped by every
  // write of the ring.
  mutable std::optional<std::vector<Event>> events_;
  // The newest event as last read or written: a change of many steps (an
  // apply) writes an event per route and would otherwise read the ring for
  // each. Outer optional: whether it is known.
  mutable std::optional<std::optional<Event>> newest_;
};

} // namespace zd
