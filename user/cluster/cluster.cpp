#include "cluster.hpp"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <thread>

#include "desired.hpp"
#include "error.hpp"
#include "model.hpp"
#include "parse.hpp"

namespace zd::cluster {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string after_prefix(const std::string &key, const std::string &prefix) {
  return key.substr(prefix.size());
}

json parse_value(const etcd::KeyValue &kv) {
  try {
    return json::parse(kv.value);
  } catch (const json::exception &) {
    throw Error(Errc::invalid, "etcd key " + kv.key + " does not hold zd's JSON");
  }
}

DomainRecord record_of(const std::string &name, const etcd::KeyValue &kv) {
  const json value = parse_value(kv);
  DomainRecord r;
  r.name = name;
  r.removed = value.value("removed", false);
  r.previous = value.value("previous", "");
  r.spec = value.value("spec", json::object());
  r.mod_revision = kv.mod_revision;
  return r;
}

// The stored value: the spec, checked as `zdctl apply` would check it.
json value_of(const std::string &name, const json &spec, const std::string &previous) {
  parse_desired(json{{"domains", {{name, spec}}}}.dump()); // throws, naming the key
  json value = {{"spec", spec}};
  if (!previous.empty())
    value["previous"] = previous;
  return value;
}

std::string history_seq() {
  static std::mt19937_64 random{std::random_device{}()};
  char seq[48];
  std::snprintf(seq, sizeof(seq), "%020lld-%08x", static_cast<long long>(now_ns()),
                static_cast<unsigned>(random()));
  return seq;
}

} // namespace

std::string who();

namespace {

// The history entry of a change, put in the change's own transaction.
etcd::Op history_put(const Keys &keys, const Change &change) {
  const json entry = {{"domain", change.domain}, {"from", change.from}, {"to", change.to},
                      {"how", change.how},       {"by", who()},         {"at_ns", now_ns()}};
  return {etcd::Op::Kind::put, keys.history() + change.domain + "/" + history_seq(), entry.dump(),
          0};
}

} // namespace

std::string who() {
  const passwd *pw = getpwuid(getuid());
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return std::string(pw ? pw->pw_name : std::to_string(getuid())) + "@" + host;
}

std::optional<DomainRecord> Cluster::domain(const std::string &name) const {
  validate_name("domain", name);
  const etcd::Range range = client_.get(keys_.domain(name));
  if (range.kvs.empty())
    return std::nullopt;
  return record_of(name, range.kvs.front());
}

std::vector<DomainRecord> Cluster::domains(int64_t *revision) const {
  const etcd::Range range = client_.range(keys_.domains());
  if (revision)
    *revision = range.revision;
  std::vector<DomainRecord> out;
  for (const auto &kv : range.kvs)
    out.push_back(record_of(after_prefix(kv.key, keys_.domains()), kv));
  std::sort(out.begin(), out.end(), [](const auto &a, const auto &b) { return a.name < b.name; });
  return out;
}

std::vector<NodeReport> Cluster::nodes() const {
  std::map<std::string, NodeReport> by_name;
  auto node = [&](const std::string &name) -> NodeReport & {
    NodeReport &n = by_name[name];
    n.name = name;
    return n;
  };
  for (const auto &kv : client_.range(keys_.alive()).kvs) {
    NodeReport &n = node(after_prefix(kv.key, keys_.alive()));
    n.alive = true;
    const json fabric = parse_value(kv).value("fabric", json::object());
    n.fabric = fabric.is_object() && !fabric.empty();
  }
  for (const auto &kv : client_.range(keys_.local()).kvs) {
    NodeReport &n = node(after_prefix(kv.key, keys_.local()));
    const json workspaces = parse_value(kv).value("workspaces", json::object());
    for (const auto &[name, w] : workspaces.items())
      n.workspaces[name] = {w.value("alive", false), w.value("failing", false)};
  }
  for (const auto &kv : client_.range(keys_.applied()).kvs) {
    NodeReport &n = node(after_prefix(kv.key, keys_.applied()));
    const json value = parse_value(kv);
    n.applied = value.value("revision", int64_t{0});
    n.applied_ns = value.value("at_ns", int64_t{0});
    const json errors = value.value("errors", json::object());
    for (const auto &[domain, e] : errors.items())
      n.errors[domain] = {e.value("revision", int64_t{0}), e.value("reason", "")};
  }
  std::vector<NodeReport> out;
  for (auto &[name, n] : by_name)
    out.push_back(std::move(n));
  return out;
}

// Every live node must have the target registered, with a live socket, and
// not failing its check: the nodes it would not be on are named, each.
void Cluster::gate(const std::string &domain, const std::string &workspace) const {
  const std::vector<NodeReport> all = nodes();
  auto ready = [&](const NodeReport &n) {
    auto it = n.workspaces.find(workspace);
    return n.alive && it != n.workspaces.end() && it->second.alive && !it->second.failing;
  };
  // A node on the fabric forwards what it cannot serve to one that can.
  const bool elsewhere = std::any_of(all.begin(), all.end(),
                                     [&](const NodeReport &n) { return n.fabric && ready(n); });
  std::vector<std::string> why;
  size_t live = 0;
  for (const auto &n : all) {
    if (!n.alive)
      continue;
    ++live;
    if (ready(n) || (n.fabric && elsewhere))
      continue;
    auto it = n.workspaces.find(workspace);
    if (it == n.workspaces.end())
      why.push_back(n.name + " (not registered there)");
    else if (!it->second.alive)
      why.push_back(n.name + " (no live socket)");
    else if (it->second.failing)
      why.push_back(n.name + " (failing its health check)");
  }
  if (!why.empty()) {
    std::string list;
    for (const auto &w : why)
      list += (list.empty() ? "" : ", ") + w;
    throw Error(Errc::refused,
                "workspace '" + workspace + "' is not ready on " + std::to_string(why.size()) +
                    " of " + std::to_string(live) + " live nodes for domain '" + domain +
                    "': " + list,
                Override::force);
  }
}

Outcome Cluster::write(const DomainRecord &before, const json &value, const Change &change,
                       const WaitOptions &wait) {
  const std::optional<int64_t> revision =
      client_.txn({{keys_.domain(change.domain), before.mod_revision}},
                  {{etcd::Op::Kind::put, keys_.domain(change.domain), value.dump(), 0},
                   history_put(keys_, change)});
  if (!revision)
    throw Error(Errc::busy, "domain '" + change.domain +
                                "' changed in the cluster since it was read (revision " +
                                std::to_string(before.mod_revision) +
                                "); nothing written: look again (zdctl --cluster status)");
  Change made = change;
  made.revision = *revision;
  return wait.wait ? wait_for(made, wait) : Outcome{made, {}, {}, {}};
}

Outcome Cluster::switch_to(const std::string &name, const std::string &workspace, bool force,
                           const WaitOptions &wait) {
  validate_name("workspace", workspace);
  const std::optional<DomainRecord> before = domain(name);
  if (!before || before->removed)
    throw Error(Errc::not_found, "no domain named '" + name + "' in the cluster");
  if (before->active() == workspace)
    return {Change{name, workspace, workspace, "none", before->mod_revision}, {}, {}, {}};
  if (!force)
    gate(name, workspace);
  json spec = before->spec;
  spec["active"] = workspace;
  spec.erase("canary");
  return write(*before, value_of(name, spec, before->active()),
               {name, before->active(), workspace, force ? "force" : "switch", 0}, wait);
}

Outcome Cluster::revert(const std::string &name, bool force, const WaitOptions &wait) {
  const std::optional<DomainRecord> before = domain(name);
  if (!before || before->removed)
    throw Error(Errc::not_found, "no domain named '" + name + "' in the cluster");
  if (before->previous.empty())
    throw Error(Errc::refused, "domain '" + name + "' has no previous workspace to revert to");
  if (!force)
    gate(name, before->previous);
  json spec = before->spec;
  spec["active"] = before->previous;
  spec.erase("canary");
  return write(*before, value_of(name, spec, before->active()),
               {name, before->active(), before->previous, force ? "force" : "revert", 0}, wait);
}

Outcome Cluster::canary(const std::string &name, const std::string &workspace, uint32_t weight,
                        bool force, const WaitOptions &wait) {
  const std::optional<DomainRecord> before = domain(name);
  if (!before || before->removed)
    throw Error(Errc::not_found, "no domain named '" + name + "' in the cluster");
  json spec = before->spec;
  const std::string was = spec.contains("canary") ? spec["canary"].value("workspace", "") : "";
  if (weight == 0) {
    if (was.empty())
      throw Error(Errc::refused, "domain '" + name + "' has no canary in the cluster");
    spec.erase("canary");
    return write(*before, value_of(name, spec, before->previous),
                 {name, was, before->active(), "canary-end", 0}, wait);
  }
  validate_name("workspace", workspace);
  if (workspace == before->active())
    throw Error(Errc::refused, "workspace '" + workspace + "' is domain '" + name +
                                   "''s active workspace: a canary is another one");
  if (!force)
    gate(name, workspace);
  spec["canary"] = {{"workspace", workspace}, {"weight", weight}};
  return write(*before, value_of(name, spec, before->previous),
               {name, before->active(), workspace, "canary", 0}, wait);
}

Outcome Cluster::set_option(const std::string &name, const std::string &key, const json &value,
                            const WaitOptions &wait) {
  const std::optional<DomainRecord> before = domain(name);
  if (!before || before->removed)
    throw Error(Errc::not_found, "no domain named '" + name + "' in the cluster");
  json spec = before->spec;
  if (value.is_null())
    spec.erase(key);
  else
    spec[key] = value;
  return write(*before, value_of(name, spec, before->previous),
               {name, before->active(), before->active(), "set", 0}, wait);
}

Outcome Cluster::add_domain(const std::string &name, const std::vector<std::string> &listen,
                            const WaitOptions &wait) {
  validate_name("domain", name);
  std::optional<DomainRecord> before = domain(name);
  if (before && !before->removed)
    throw Error(Errc::exists, "domain '" + name + "' already exists in the cluster");
  DomainRecord was = before.value_or(DomainRecord{name, json::object(), "", true, 0});
  return write(was, value_of(name, {{"listen", listen}}, ""), {name, "", "", "add", 0}, wait);
}

Outcome Cluster::remove_domain(const std::string &name, const WaitOptions &wait) {
  const std::optional<DomainRecord> before = domain(name);
  if (!before || before->removed)
    throw Error(Errc::not_found, "no domain named '" + name + "' in the cluster");
  return write(*before, json{{"removed", true}}, {name, before->active(), "", "remove", 0}, wait);
}

std::vector<Change> Cluster::apply(const std::string &document, bool prune,
                                   const WaitOptions &wait) {
  const Desired want = parse_desired(document); // throws, naming the key
  const json doc = json::parse(document);
  std::map<std::string, DomainRecord> have;
  for (auto &d : domains())
    have.emplace(d.name, std::move(d));
  struct Write {
    DomainRecord before;
    json value;
    Change change;
  };
  std::vector<Write> writes;
  for (const auto &d : want.domains) {
    json spec = doc["domains"][d.name];
    auto it = have.find(d.name);
    const bool exists = it != have.end() && !it->second.removed;
    if (exists && it->second.spec == spec)
      continue;
    const std::string active = exists ? it->second.active() : "";
    const std::string previous =
        exists && spec.value("active", "") != active ? active : (exists ? it->second.previous : "");
    writes.push_back(
        {it == have.end() ? DomainRecord{d.name, json::object(), "", true, 0} : it->second,
         value_of(d.name, spec, previous),
         {d.name, active, spec.value("active", ""), "apply", 0}});
  }
  if (prune)
    for (const auto &[name, d] : have)
      if (!d.removed && !doc["domains"].contains(name))
        writes.push_back({d, json{{"removed", true}}, {name, d.active(), "", "remove", 0}});
  // etcd takes at most 128 operations in a transaction: a domain's is a
  // compare, its put and its history entry.
  constexpr size_t kPerTxn = 40;
  std::vector<Change> made;
  for (size_t at = 0; at < writes.size(); at += kPerTxn) {
    std::vector<etcd::Compare> compares;
    std::vector<etcd::Op> ops;
    for (size_t i = at; i < std::min(writes.size(), at + kPerTxn); ++i) {
      const Write &w = writes[i];
      compares.push_back({keys_.domain(w.change.domain), w.before.mod_revision});
      ops.push_back({etcd::Op::Kind::put, keys_.domain(w.change.domain), w.value.dump(), 0});
      ops.push_back(history_put(keys_, w.change));
    }
    const std::optional<int64_t> revision = client_.txn(compares, ops);
    if (!revision)
      throw Error(Errc::busy, "a domain of the document changed in the cluster while it was "
                              "applied; " +
                                  std::to_string(made.size()) + " of " +
                                  std::to_string(writes.size()) +
                                  " written: apply it again to write the rest");
    for (size_t i = at; i < std::min(writes.size(), at + kPerTxn); ++i) {
      Change c = writes[i].change;
      c.revision = *revision;
      made.push_back(c);
    }
  }
  if (wait.wait && !made.empty())
    wait_for(made.back(), wait);
  return made;
}

json Cluster::export_document() const {
  json doc = {{"domains", json::object()}};
  for (const auto &d : domains())
    if (!d.removed)
      doc["domains"][d.name] = d.spec;
  return doc;
}

std::vector<json> Cluster::history(const std::string &domain) const {
  const std::string prefix = keys_.history() + (domain.empty() ? "" : domain + "/");
  const etcd::Range range = client_.range(prefix);
  std::vector<std::pair<int64_t, json>> entries;
  for (const auto &kv : range.kvs) {
    json entry = parse_value(kv);
    entry["revision"] = kv.create_revision;
    entries.emplace_back(kv.create_revision, std::move(entry));
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto &a, const auto &b) { return a.first < b.first; });
  std::vector<json> out;
  for (auto &[revision, entry] : entries)
    out.push_back(std::move(entry));
  return out;
}

// Until every live node has applied the change's revision or said it could
// not apply the domain: polled, since a node's report is one small key.
Outcome Cluster::wait_for(const Change &change, const WaitOptions &wait) const {
  Outcome outcome{change, {}, {}, {}};
  const auto start = Clock::now();
  std::map<std::string, bool> decided;
  for (;;) {
    bool all = true;
    std::vector<std::string> behind;
    for (const auto &n : nodes()) {
      if (!n.alive || decided.count(n.name))
        continue;
      auto error = n.errors.find(change.domain);
      const bool failed = error != n.errors.end() && error->second.first >= change.revision;
      if (failed || n.applied >= change.revision) {
        decided[n.name] = true;
        const auto after =
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
        if (failed)
          outcome.failed[n.name] = error->second.second;
        else
          outcome.applied.push_back(n.name);
        if (wait.on_node)
          wait.on_node(n, !failed, after);
      } else {
        all = false;
        behind.push_back(n.name);
      }
    }
    if (all)
      return outcome;
    if (Clock::now() - start >= wait.timeout) {
      outcome.behind = behind;
      return outcome;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

} // namespace zd::cluster
