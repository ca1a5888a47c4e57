#include "records.hpp"

#include "keys.hpp"
#include "record_convert.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>

namespace zd {

// Layout 1 pinned maps of exactly these shapes; adopt_layout1 relies on it.
static_assert(sizeof(record::Name) == 64);
static_assert(sizeof(record::Binding) == 24);
static_assert(sizeof(record::Domain) == 392);
static_assert(sizeof(record::Socket) == 32);
static_assert(sizeof(record::Workspace) == 144);
static_assert(sizeof(record::Event) == 240);
static_assert(sizeof(record::Check) == 256);
static_assert(sizeof(record::SwitchKey) == 8 && sizeof(record::SwitchCount) == 16);
static_assert(sizeof(record::HealthCheck) == 272 && sizeof(record::Health) == 128);
static_assert(sizeof(record::CanaryPolicy) == 16 && sizeof(record::CanaryOrders) == 64);
static_assert(sizeof(record::IdCursor) == 16);

record::Name record::to_name(std::string_view name) {
  Name out{};
  std::memcpy(out.name, name.data(), std::min(name.size(), sizeof(out.name) - 1));
  return out;
}

std::string record::from_name(const Name &name) {
  return std::string(name.name, strnlen(name.name, sizeof(name.name)));
}

namespace {

using record::from_name;
using record::to_name;

// How values counted in "switches": switch, revert, force, fallback (a
// canary's changes are history only: they move no active workspace).
constexpr uint32_t kHowKinds = static_cast<uint32_t>(How::fallback);

struct Spec {
  const char *pin;
  bpf_map_type type;
  uint32_t key_size, value_size, max_entries, flags;
};

constexpr std::array<Spec, BpfStore::kCount> kSpecs = {{
    {"store", BPF_MAP_TYPE_ARRAY, sizeof(uint32_t), sizeof(record::Meta), 1, 0},
    {"domains", BPF_MAP_TYPE_HASH, sizeof(record::Name), sizeof(record::Domain), kMaxDomains,
     BPF_F_NO_PREALLOC},
    {"workspaces", BPF_MAP_TYPE_HASH, sizeof(record::Name), sizeof(record::Workspace),
     kMaxWorkspaces, BPF_F_NO_PREALLOC},
    {"workspace_names", BPF_MAP_TYPE_HASH, sizeof(uint32_t), sizeof(record::Name), kMaxWorkspaces,
     BPF_F_NO_PREALLOC},
    {"journal", BPF_MAP_TYPE_ARRAY, sizeof(uint32_t), sizeof(record::Intent), 1, 0},
    {"history", BPF_MAP_TYPE_ARRAY, sizeof(uint32_t), sizeof(record::Event), kHistorySize, 0},
    {"checks", BPF_MAP_TYPE_HASH, sizeof(record::Name), sizeof(record::Check), kMaxDomains,
     BPF_F_NO_PREALLOC},
    {"switches", BPF_MAP_TYPE_HASH, sizeof(record::SwitchKey), sizeof(record::SwitchCount),
     kMaxDomains *kHowKinds, BPF_F_NO_PREALLOC},
    {"health_checks", BPF_MAP_TYPE_HASH, sizeof(record::Name), sizeof(record::HealthCheck),
     kMaxWorkspaces, BPF_F_NO_PREALLOC},
    {"verdicts", BPF_MAP_TYPE_HASH, sizeof(uint32_t), sizeof(record::Health), kMaxWorkspaces,
     BPF_F_NO_PREALLOC},
    {"canaries", BPF_MAP_TYPE_HASH, sizeof(record::Name), sizeof(record::CanaryOrders), kMaxDomains,
     BPF_F_NO_PREALLOC},
    {"domain_names", BPF_MAP_TYPE_HASH, sizeof(uint32_t), sizeof(record::Name), kMaxDomains,
     BPF_F_NO_PREALLOC},
    {"ids", BPF_MAP_TYPE_ARRAY, sizeof(uint32_t), sizeof(record::IdCursor), 2, 0},
    {"freed_domains", BPF_MAP_TYPE_ARRAY, sizeof(uint32_t), sizeof(uint32_t), kMaxDomains, 0},
    {"freed_workspaces", BPF_MAP_TYPE_ARRAY, sizeof(uint32_t), sizeof(uint32_t), kMaxWorkspaces, 0},
    {"apply", BPF_MAP_TYPE_ARRAY, sizeof(uint32_t), sizeof(record::ApplyHeader), 1, 0},
    // Up to 256 MiB of document, taking memory only while an apply runs.
    {"apply_doc", BPF_MAP_TYPE_HASH, sizeof(uint32_t), sizeof(record::ApplyChunk), 65536,
     BPF_F_NO_PREALLOC},
    // A route names up to three workspaces: two entries for each, and a
    // count for each workspace, and the mark.
    {"routed", BPF_MAP_TYPE_HASH, sizeof(record::RoutedKey), sizeof(uint32_t),
     6 * kMaxDomains + kMaxWorkspaces + 1, BPF_F_NO_PREALLOC},
}};

// Maps a record version after 1 added, by index in kSpecs: from history
// (version 2) on. A state of an earlier version lacks some of them until
// `zdctl upgrade` (BpfStore::upgrade).
constexpr size_t kFirstAddedAfterVersion1 = static_cast<size_t>(RecordMap::history);

unsigned address_bits(uint8_t family) {
  return family == AF_INET6 ? 128 : 32;
}

} // namespace

record::Domain to_record(const Domain &domain) {
  record::Domain r{};
  r.id = domain.id;
  r.n_bindings = static_cast<uint32_t>(std::min(domain.bindings.size(), kMaxBindingsPerDomain));
  for (uint32_t i = 0; i < r.n_bindings; ++i)
    r.bindings[i] = binding_key(domain.bindings[i]);
  return r;
}

Domain from_record(const record::Name &name, const record::Domain &r) {
  Domain domain{from_name(name), r.id, {}};
  for (uint32_t i = 0; i < std::min<uint32_t>(r.n_bindings, kMaxBindingsPerDomain); ++i)
    domain.bindings.push_back(binding_of(r.bindings[i]));
  return domain;
}

record::Workspace to_record(const Workspace &workspace) {
  record::Workspace r{};
  r.id = workspace.id;
  r.pid = workspace.pid;
  r.placement = static_cast<uint32_t>(workspace.placement);
  r.n_sockets = static_cast<uint32_t>(std::min(workspace.sockets.size(), kMaxSocketsPerWorkspace));
  for (uint32_t i = 0; i < r.n_sockets; ++i) {
    const RegisteredSocket &s = workspace.sockets[i];
    auto &out = r.sockets[i];
    out.protocol = s.bound.protocol;
    out.family = s.serves;
    out.socket_family = s.dual_stack() ? s.bound.family : 0;
    out.port = s.bound.port;
    std::memcpy(out.addr, s.bound.addr.data(), sizeof(out.addr));
    out.cookie = s.cookie;
  }
  return r;
}

Workspace from_record(const record::Name &name, const record::Workspace &r) {
  const Placement placement =
      r.placement == static_cast<uint32_t>(Placement::other_netns)   ? Placement::other_netns
      : r.placement == static_cast<uint32_t>(Placement::other_hosts) ? Placement::other_hosts
                                                                     : Placement::this_netns;
  Workspace workspace{from_name(name), r.id, r.pid, placement, {}, {}};
  for (uint32_t i = 0; i < std::min<uint32_t>(r.n_sockets, kMaxSocketsPerWorkspace); ++i) {
    const auto &s = r.sockets[i];
    RegisteredSocket socket;
    socket.serves = s.family;
    socket.bound.protocol = s.protocol;
    socket.bound.family = s.socket_family ? s.socket_family : s.family;
    socket.bound.port = s.port;
    socket.bound.prefix_len = static_cast<uint8_t>(address_bits(socket.bound.family));
    std::memcpy(socket.bound.addr.data(), s.addr, sizeof(s.addr));
    socket.cookie = s.cookie;
    workspace.sockets.push_back(socket);
  }
  return workspace;
}

std::optional<Intent> from_record(const record::Intent &r) {
  if (r.op == 0)
    return std::nullopt;
  if (r.op > static_cast<uint32_t>(Intent::Op::adopt_workspace))
    throw Error(Errc::refused, "the state's journal holds a change this zdctl does not know (op " +
                                   std::to_string(r.op) + "): finish it with a newer zdctl");
  Intent intent;
  intent.op = static_cast<Intent::Op>(r.op);
  intent.next_id = r.next_id;
  intent.domain = from_record(r.domain_name, r.domain);
  intent.workspace = from_record(r.workspace_name, r.workspace);
  return intent;
}

BpfStore BpfStore::create() {
  BpfStore store;
  for (size_t i = 0; i < kCount; ++i) {
    const Spec &s = kSpecs[i];
    store.maps_[i] =
        BpfMap::create(s.type, s.pin, s.key_size, s.value_size, s.max_entries, s.flags);
  }
  store.map(RecordMap::store).update(uint32_t{0}, record::Meta{kRecordMagic, kRecordVersion, 1, 1});
  for (uint32_t kind : {0u, 1u})
    store.map(RecordMap::ids).update(kind, record::IdCursor{1, 0, 0, 0});
  store.rebuild_route_index({}); // no routes yet: built, and empty
  return store;
}

void BpfStore::check_shapes() const {
  for (size_t i = 0; i < kCount; ++i)
    maps_[i].require_shape(kSpecs[i].type, kSpecs[i].key_size, kSpecs[i].value_size);
}

namespace {

// The "store" map of the records at dir, checked to be zd's, and its meta.
std::pair<BpfMap, record::Meta> open_meta(const std::string &dir,
                                          OpenFor open_for = OpenFor::write) {
  BpfMap map = BpfMap::open_pin(dir, kSpecs[0].pin, open_for);
  map.require_shape(kSpecs[0].type, kSpecs[0].key_size, kSpecs[0].value_size);
  record::Meta meta{};
  map.lookup(uint32_t{0}, meta);
  if (meta.magic != kRecordMagic)
    throw Error(Errc::not_attached, dir + " is not a zd state (bad record magic); refusing to "
                                          "touch it");
  if (meta.record_version > kRecordVersion)
    throw Error(Errc::refused, "the records at " + dir + " have version " +
                                   std::to_string(meta.record_version) + ", newer than this " +
                                   "zdctl's " + std::to_string(kRecordVersion) +
                                   ": it cannot hold them; use the newer zdctl that wrote them");
  return {std::move(map), meta};
}

} // namespace

// The version first: a state of an earlier one lacks the maps added since.
BpfStore BpfStore::open(const std::string &dir, OpenFor open_for) {
  BpfStore store;
  auto [meta_map, meta] = open_meta(dir, open_for);
  if (meta.record_version < kRecordVersion)
    throw Error(Errc::refused,
                "the records at " + dir + " have version " + std::to_string(meta.record_version) +
                    " but this zdctl reads version " + std::to_string(kRecordVersion) +
                    ": run zdctl upgrade to move them forward in place "
                    "(domains, workspaces and connections are kept)");
  store.map(RecordMap::store) = std::move(meta_map);
  for (size_t i = 1; i < kCount; ++i)
    store.maps_[i] = BpfMap::open_pin(dir, kSpecs[i].pin, open_for);
  store.check_shapes();
  return store;
}

namespace {

// Creates one record map and pins it at dir/PIN, whole or not at all: under a
// temporary name first, then renamed. Does nothing if the pin exists. An
// array's entry 0 is set to `first`; other maps start empty.
template <typename V = std::nullptr_t>
void pin_new(const std::string &dir, RecordMap which, const V &first = nullptr) {
  const Spec &s = kSpecs[static_cast<size_t>(which)];
  const std::string pin = dir + "/" + s.pin;
  if (access(pin.c_str(), F_OK) == 0)
    return;
  BpfMap map = BpfMap::create(s.type, s.pin, s.key_size, s.value_size, s.max_entries, s.flags);
  if constexpr (!std::is_same_v<V, std::nullptr_t>)
    map.update(uint32_t{0}, first);
  pin_whole(map.fd(), pin);
}

void pin_maps_added_after_version1(const std::string &dir) {
  for (size_t i = kFirstAddedAfterVersion1; i < BpfStore::kCount; ++i)
    pin_new(dir, static_cast<RecordMap>(i));
}

// Version 5's id maps, filled from the records; a cut run is repeated. The
// cursor goes past the highest id in use, and every id below it that no
// record holds is freed, lowest first. A change a zdctl was killed in gets
// what version 5 recovers it by (its next_id, core/ids.hpp): its id stays
// taken until recovery undoes the add (back to the ring's head) or finishes
// the removal (onto the ring's tail).
void fill_version5(const std::string &dir) {
  auto open = [&](RecordMap m) {
    return BpfMap::open_pin(dir, kSpecs[static_cast<size_t>(m)].pin);
  };
  BpfMap domain_names = open(RecordMap::domain_names), journal = open(RecordMap::journal);
  BpfMap ids = open(RecordMap::ids);
  std::set<uint32_t> used[2];
  for (const auto &[name, r] : open(RecordMap::domains).entries<record::Name, record::Domain>()) {
    domain_names.update(r.id, name);
    used[0].insert(r.id);
  }
  for (const auto &[name, r] :
       open(RecordMap::workspaces).entries<record::Name, record::Workspace>())
    used[1].insert(r.id);

  auto intent = std::make_unique<record::Intent>();
  journal.lookup(uint32_t{0}, *intent);
  auto is = [&](Intent::Op op) { return intent->op == static_cast<uint32_t>(op); };
  const int pending_kind = is(Intent::Op::add_domain) || is(Intent::Op::remove_domain)         ? 0
                           : is(Intent::Op::add_workspace) || is(Intent::Op::remove_workspace) ? 1
                                                                                               : -1;
  const bool adding = is(Intent::Op::add_domain) || is(Intent::Op::add_workspace);
  const uint32_t pending = pending_kind == 0 ? intent->domain.id : intent->workspace.id;

  for (int kind : {0, 1}) {
    const bool here = kind == pending_kind;
    if (here)
      used[kind].insert(pending);
    const uint32_t next = used[kind].empty() ? 1 : *used[kind].rbegin() + 1;
    std::vector<uint32_t> ring;
    if (here && adding)
      ring.push_back(pending);
    for (uint32_t id = 1; id < next; ++id)
      if (!used[kind].count(id))
        ring.push_back(id);
    BpfMap freed = open(kind == 0 ? RecordMap::freed_domains : RecordMap::freed_workspaces);
    for (uint32_t slot = 0; slot < ring.size(); ++slot)
      freed.update(slot, ring[slot]);
    const auto tail = static_cast<uint32_t>(ring.size());
    if (here)
      intent->next_id = adding ? Ids::kFromRing : tail;
    ids.update(static_cast<uint32_t>(kind),
               record::IdCursor{next, here && adding ? 1u : 0u, tail, 0});
  }
  if (pending_kind >= 0)
    journal.update(uint32_t{0}, *intent);
}

} // namespace

void BpfStore::adopt_layout1(const std::string &dir, uint32_t next_domain_id,
                             uint32_t next_workspace_id) {
  pin_new(dir, RecordMap::journal, record::Intent{});
  pin_maps_added_after_version1(dir);
  fill_version5(dir);
  pin_new(dir, RecordMap::store,
          record::Meta{kRecordMagic, kRecordVersion, next_domain_id, next_workspace_id});
}

bool BpfStore::upgrade(const std::string &dir) {
  auto [meta_map, meta] = open_meta(dir);
  if (meta.record_version == kRecordVersion)
    return false;
  pin_maps_added_after_version1(dir);
  if (meta.record_version < 5)
    fill_version5(dir);
  meta.record_version = kRecordVersion;
  meta_map.update(uint32_t{0}, meta);
  return true;
}

void BpfStore::pin_all(const std::string &dir) const {
  for (size_t i = 0; i < kCount; ++i)
    maps_[i].pin(dir + "/" + kSpecs[i].pin);
}

record::Meta BpfStore::meta() const {
  record::Meta meta{};
  map(RecordMap::store).lookup(uint32_t{0}, meta);
  return meta;
}

std::optional<Domain> BpfStore::domain(std::string_view name) const {
  const record::Name key = to_name(name);
  record::Domain r{};
  if (!map(RecordMap::domains).lookup(key, r))
    return std::nullopt;
  return from_record(key, r);
}

std::vector<Domain> BpfStore::domains() const {
  std::vector<Domain> out;
  map(RecordMap::domains)
      .for_each<record::Name, record::Domain>(
          [&](const record::Name &name, const record::Domain &r) {
            out.push_back(from_record(name, r));
          });
  return out;
}

std::optional<std::string> BpfStore::domain_name(uint32_t id) const {
  record::Name name{};
  if (!map(RecordMap::domain_names).lookup(id, name))
    return std::nullopt;
  return from_name(name);
}

// The id -> name entry first and last, as a workspace's.
void BpfStore::put_domain(const Domain &domain) {
  map(RecordMap::domain_names).update(domain.id, to_name(domain.name));
  map(RecordMap::domains).update(to_name(domain.name), to_record(domain));
}

// Its counts and check go first: they never outlive the domain, even when cut
// short (the id could be given to another domain).
void BpfStore::remove_domain(const Domain &domain) {
  for (uint32_t how = 1; how <= kHowKinds; ++how)
    map(RecordMap::switches).erase(record::SwitchKey{domain.id, how});
  map(RecordMap::checks).erase(to_name(domain.name));
  map(RecordMap::canaries).erase(to_name(domain.name));
  map(RecordMap::domains).erase(to_name(domain.name));
  map(RecordMap::domain_names).erase(domain.id);
}

std::optional<Workspace> BpfStore::workspace(std::string_view name) const {
  const record::Name key = to_name(name);
  record::Workspace r{};
  if (!map(RecordMap::workspaces).lookup(key, r))
    return std::nullopt;
  return from_record(key, r);
}

std::vector<Workspace> BpfStore::workspaces() const {
  std::vector<Workspace> out;
  for (const auto &[name, r] :
       map(RecordMap::workspaces).entries<record::Name, record::Workspace>())
    out.push_back(from_record(name, r));
  return out;
}

std::optional<std::string> BpfStore::workspace_name(uint32_t id) const {
  record::Name name{};
  if (!map(RecordMap::workspace_names).lookup(id, name))
    return std::nullopt;
  return from_name(name);
}

// The id -> name entry first and last: a workspace record never exists
// without it, so a switch can always name what it replaced.
void BpfStore::put_workspace(const Workspace &workspace) {
  map(RecordMap::workspace_names).update(workspace.id, to_name(workspace.name));
  map(RecordMap::workspaces).update(to_name(workspace.name), to_record(workspace));
}

// Its health goes first, like a domain's counts: the id may be given again.
void BpfStore::remove_workspace(const Workspace &workspace) {
  map(RecordMap::verdicts).erase(workspace.id);
  map(RecordMap::health_checks).erase(to_name(workspace.name));
  map(RecordMap::workspaces).erase(to_name(workspace.name));
  map(RecordMap::workspace_names).erase(workspace.id);
}

IdCursor BpfStore::id_cursor(IdKind kind) const {
  record::IdCursor r{};
  map(RecordMap::ids).lookup(kind == IdKind::domain ? 0u : 1u, r);
  return {r.next, r.head, r.tail};
}

void BpfStore::set_id_cursor(IdKind kind, const IdCursor &cursor) {
  map(RecordMap::ids)
      .update(kind == IdKind::domain ? 0u : 1u,
              record::IdCursor{cursor.next, cursor.head, cursor.tail, 0});
}

uint32_t BpfStore::freed_id(IdKind kind, uint32_t slot) const {
  uint32_t id = 0;
  map(kind == IdKind::domain ? RecordMap::freed_domains : RecordMap::freed_workspaces)
      .lookup(slot, id);
  return id;
}

void BpfStore::set_freed_id(IdKind kind, uint32_t slot, uint32_t id) {
  map(kind == IdKind::domain ? RecordMap::freed_domains : RecordMap::freed_workspaces)
      .update(slot, id);
}

std::optional<PendingApply> BpfStore::pending_apply() const {
  record::ApplyHeader header{};
  if (!map(RecordMap::apply).lookup(uint32_t{0}, header) || !header.pending)
    return std::nullopt;
  PendingApply out{std::string(header.length, '\0'), (header.flags & record::kApplyPrune) != 0,
                   (header.flags & record::kApplyForce) != 0};
  auto chunk = std::make_unique<record::ApplyChunk>();
  for (uint64_t at = 0; at < header.length; at += record::kApplyChunk) {
    if (!map(RecordMap::apply_doc).lookup(static_cast<uint32_t>(at / record::kApplyChunk), *chunk))
      throw Error(Errc::refused, "the document of an interrupted apply is incomplete (chunk " +
                                     std::to_string(at / record::kApplyChunk) + " is missing)");
    std::memcpy(out.document.data() + at, chunk->bytes,
                std::min<uint64_t>(record::kApplyChunk, header.length - at));
  }
  return out;
}

// The document, then the header that makes it pending: one write.
void BpfStore::set_pending_apply(const PendingApply &apply) {
  if (apply.document.size() > uint64_t{65536} * record::kApplyChunk)
    throw Error(Errc::invalid, "the document is too large (at most 256 MiB)");
  auto chunk = std::make_unique<record::ApplyChunk>();
  for (size_t at = 0; at < apply.document.size(); at += record::kApplyChunk) {
    *chunk = {};
    std::memcpy(chunk->bytes, apply.document.data() + at,
                std::min(record::kApplyChunk, apply.document.size() - at));
    map(RecordMap::apply_doc).update(static_cast<uint32_t>(at / record::kApplyChunk), *chunk);
  }
  const uint32_t flags =
      (apply.prune ? record::kApplyPrune : 0) | (apply.force ? record::kApplyForce : 0);
  map(RecordMap::apply).update(uint32_t{0}, record::ApplyHeader{1, flags, apply.document.size()});
}

void BpfStore::clear_pending_apply() {
  record::ApplyHeader header{};
  if (map(RecordMap::apply).lookup(uint32_t{0}, header) && header.pending)
    map(RecordMap::apply).update(uint32_t{0}, record::ApplyHeader{});
  // Always the first key, until there is none: deleting while walking on
  // from a deleted key would start the walk over anyway.
  for (uint32_t key = 0; bpf_map_get_next_key(map(RecordMap::apply_doc).fd(), nullptr, &key) == 0;)
    map(RecordMap::apply_doc).erase(key);
}

bool BpfStore::apply_traces() const {
  record::ApplyHeader header{};
  map(RecordMap::apply).lookup(uint32_t{0}, header);
  uint32_t first = 0;
  return header.pending ||
         bpf_map_get_next_key(map(RecordMap::apply_doc).fd(), nullptr, &first) == 0;
}

std::optional<Intent> BpfStore::intent() const {
  auto r = std::make_unique<record::Intent>(); // 560 bytes: not on the stack twice
  if (!map(RecordMap::journal).lookup(uint32_t{0}, *r))
    return std::nullopt;
  return from_record(*r);
}

void BpfStore::set_intent(const Intent &intent) {
  auto r = std::make_unique<record::Intent>();
  r->op = static_cast<uint32_t>(intent.op);
  r->next_id = intent.next_id;
  r->domain_name = to_name(intent.domain.name);
  r->domain = to_record(intent.domain);
  r->workspace_name = to_name(intent.workspace.name);
  r->workspace = to_record(intent.workspace);
  map(RecordMap::journal).update(uint32_t{0}, *r);
}

void BpfStore::clear_intent() {
  map(RecordMap::journal).update(uint32_t{0}, record::Intent{});
}

namespace {

Event from_record(const record::Event &r) {
  Event event;
  event.seq = r.seq;
  event.time_ns = r.time_ns;
  event.domain = from_name(r.domain);
  event.domain_id = r.domain_id;
  event.from = from_name(r.from);
  event.to = from_name(r.to);
  event.from_id = r.from_id;
  event.to_id = r.to_id;
  event.how = r.how >= 1 && r.how <= static_cast<uint32_t>(How::promote) ? static_cast<How>(r.how)
                                                                         : How::switch_to;
  event.weight = r.weight;
  event.pid = r.pid;
  event.uid = r.uid;
  event.pending = r.pending != 0;
  return event;
}

} // namespace

// Made an Event of only the newest: a change reads the ring only for it.
std::optional<Event> BpfStore::newest_event() const {
  if (newest_)
    return *newest_;
  if (events_)
    return events_->empty() ? std::nullopt : std::optional<Event>(events_->back());
  const auto ring = map(RecordMap::history).array_values<record::Event>(kHistorySize);
  const auto newest = std::max_element(ring.begin(), ring.end(),
                                       [](const auto &a, const auto &b) { return a.seq < b.seq; });
  newest_.emplace(newest == ring.end() || newest->seq == 0
                      ? std::nullopt
                      : std::optional<Event>(from_record(*newest)));
  return *newest_;
}

std::vector<Event> BpfStore::events() const {
  if (events_)
    return *events_;
  std::vector<Event> out;
  for (const record::Event &r : map(RecordMap::history).array_values<record::Event>(kHistorySize))
    if (r.seq != 0)
      out.push_back(from_record(r));
  std::sort(out.begin(), out.end(), [](const Event &a, const Event &b) { return a.seq < b.seq; });
  events_ = out;
  return out;
}

void BpfStore::put_event(const Event &event) {
  events_.reset();
  if (newest_ && (!*newest_ || event.seq >= (*newest_)->seq))
    newest_.emplace(event);
  else
    newest_.reset();
  record::Event r{};
  r.seq = event.seq;
  r.time_ns = event.time_ns;
  r.domain_id = event.domain_id;
  r.from_id = event.from_id;
  r.to_id = event.to_id;
  r.how = static_cast<uint32_t>(event.how);
  r.weight = event.weight;
  r.pid = event.pid;
  r.uid = event.uid;
  r.pending = event.pending;
  r.domain = to_name(event.domain);
  r.from = to_name(event.from);
  r.to = to_name(event.to);
  map(RecordMap::history).update(static_cast<uint32_t>(event.seq % kHistorySize), r);
}

void BpfStore::erase_event(uint64_t seq) {
  events_.reset();
  newest_.reset();
  const uint32_t slot = static_cast<uint32_t>(seq % kHistorySize);
  record::Event r{};
  if (map(RecordMap::history).lookup(slot, r) && r.seq == seq)
    map(RecordMap::history).update(slot, record::Event{});
}

SwitchCount BpfStore::switch_count(uint32_t domain, How how) const {
  record::SwitchCount r{};
  if (!map(RecordMap::switches).lookup(record::SwitchKey{domain, static_cast<uint32_t>(how)}, r))
    return {};
  return {r.count, r.last_seq};
}

void BpfStore::put_switch_count(uint32_t domain, How how, const SwitchCount &count) {
  map(RecordMap::switches)
      .update(record::SwitchKey{domain, static_cast<uint32_t>(how)},
              record::SwitchCount{count.count, count.last_seq});
}

// A key of a kind this zdctl does not know (a newer one's) is left out.
std::map<std::pair<uint32_t, How>, SwitchCount> BpfStore::switch_counts() const {
  std::map<std::pair<uint32_t, How>, SwitchCount> out;
  for (const auto &[key, r] :
       map(RecordMap::switches).entries<record::SwitchKey, record::SwitchCount>())
    if (key.how >= 1 && key.how <= kHowKinds)
      out[{key.domain_id, static_cast<How>(key.how)}] = {r.count, r.last_seq};
  return out;
}

namespace {

Check from_record(const record::Check &r) {
  Check check;
  check.kind = r.kind <= static_cast<uint32_t>(Check::Kind::http) ? static_cast<Check::Kind>(r.kind)
                                                                  : Check::Kind::none;
  check.timeout_ms = r.timeout_ms;
  check.retries = r.retries;
  check.path.assign(r.path, strnlen(r.path, sizeof(r.path)));
  return check;
}

record::Check to_record(const Check &check) {
  record::Check r{};
  r.kind = static_cast<uint32_t>(check.kind);
  r.timeout_ms = check.timeout_ms;
  r.retries = check.retries;
  std::memcpy(r.path, check.path.data(), std::min(check.path.size(), sizeof(r.path) - 1));
  return r;
}

} // namespace

std::optional<Check> BpfStore::domain_check(std::string_view domain) const {
  record::Check r{};
  if (!map(RecordMap::checks).lookup(to_name(domain), r))
    return std::nullopt;
  return from_record(r);
}

std::map<std::string, Check> BpfStore::domain_checks() const {
  std::map<std::string, Check> out;
  for (const auto &[name, r] : map(RecordMap::checks).entries<record::Name, record::Check>())
    out.emplace(from_name(name), from_record(r));
  return out;
}

void BpfStore::set_domain_check(std::string_view domain, const std::optional<Check> &check) {
  if (!check)
    map(RecordMap::checks).erase(to_name(domain));
  else
    map(RecordMap::checks).update(to_name(domain), to_record(*check));
}

std::optional<HealthCheck> BpfStore::health_check(std::string_view workspace) const {
  record::HealthCheck r{};
  if (!map(RecordMap::health_checks).lookup(to_name(workspace), r))
    return std::nullopt;
  return HealthCheck{from_record(r.check), r.interval_ms, r.rise, r.fall};
}

void BpfStore::set_health_check(std::string_view workspace,
                                const std::optional<HealthCheck> &check) {
  if (!check)
    map(RecordMap::health_checks).erase(to_name(workspace));
  else
    map(RecordMap::health_checks)
        .update(to_name(workspace), record::HealthCheck{to_record(check->check), check->interval_ms,
                                                        check->rise, check->fall, 0});
}

std::optional<Health> BpfStore::health(uint32_t workspace) const {
  record::Health r{};
  if (!map(RecordMap::verdicts).lookup(workspace, r))
    return std::nullopt;
  return Health{r.failing != 0, r.since_ns, std::string(r.said, strnlen(r.said, sizeof(r.said)))};
}

std::map<std::string, HealthCheck> BpfStore::health_checks() const {
  std::map<std::string, HealthCheck> out;
  for (const auto &[name, r] :
       map(RecordMap::health_checks).entries<record::Name, record::HealthCheck>())
    out.emplace(from_name(name), HealthCheck{from_record(r.check), r.interval_ms, r.rise, r.fall});
  return out;
}

std::map<uint32_t, Health> BpfStore::healths() const {
  std::map<uint32_t, Health> out;
  for (const auto &[id, r] : map(RecordMap::verdicts).entries<uint32_t, record::Health>())
    out.emplace(id, Health{r.failing != 0, r.since_ns,
                           std::string(r.said, strnlen(r.said, sizeof(r.said)))});
  return out;
}

void BpfStore::set_health(uint32_t workspace, const std::optional<Health> &health) {
  if (!health) {
    map(RecordMap::verdicts).erase(workspace);
    return;
  }
  record::Health r{};
  r.failing = health->failing;
  r.since_ns = health->since_ns;
  std::memcpy(r.said, health->said.data(), std::min(health->said.size(), sizeof(r.said) - 1));
  map(RecordMap::verdicts).update(workspace, r);
}

namespace {

std::optional<CanaryPolicy> from_record(const record::CanaryPolicy &r, uint32_t present) {
  if (!present)
    return std::nullopt;
  return CanaryPolicy{r.promote_after_ms, r.revert_on_failure != 0, r.since_ns};
}

record::CanaryPolicy to_record(const std::optional<CanaryPolicy> &policy) {
  if (!policy)
    return {};
  return {policy->promote_after_ms, policy->revert_on_failure ? 1u : 0u, policy->since_ns};
}

} // namespace

std::optional<CanaryOrders> BpfStore::canary_orders(std::string_view domain) const {
  record::CanaryOrders r{};
  if (!map(RecordMap::canaries).lookup(to_name(domain), r))
    return std::nullopt;
  return CanaryOrders{from_record(r.current, r.has_current), r.current_seq,
                      from_record(r.pending, r.has_pending), r.pending_seq, r.fresh != 0};
}

void BpfStore::set_canary_orders(std::string_view domain,
                                 const std::optional<CanaryOrders> &orders) {
  if (!orders) {
    map(RecordMap::canaries).erase(to_name(domain));
    return;
  }
  record::CanaryOrders r{};
  r.current = to_record(orders->current);
  r.pending = to_record(orders->pending);
  r.current_seq = orders->current_seq;
  r.pending_seq = orders->pending_seq;
  r.has_current = orders->current.has_value();
  r.has_pending = orders->pending.has_value();
  r.fresh = orders->fresh;
  map(RecordMap::canaries).update(to_name(domain), r);
}

} // namespace zd
