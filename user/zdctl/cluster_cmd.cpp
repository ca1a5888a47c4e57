// zdctl --cluster URLS COMMAND: the desired state of every host, in etcd.
// A change is one etcd transaction (cluster/cluster.hpp); by default the
// command then waits for every live host's agent to apply it, naming each.
#include "cluster_cmd.hpp"

#include <unistd.h>

#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cluster.hpp"
#include "desired.hpp"
#include "error.hpp"
#include "parse.hpp"

namespace zdctl {

using nlohmann::json;
namespace cl = zd::cluster;

zd::etcd::Options cluster_etcd_options(const Options &opts) {
  return zd::etcd::options(opts.cluster, opts.cluster_cacert, opts.cluster_cert, opts.cluster_key);
}

std::string cluster_node_name(const Options &opts) {
  if (!opts.node.empty())
    return opts.node;
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return host;
}

namespace {

// Rows of words as columns, each as wide as its widest word.
std::string columns(const std::vector<std::vector<std::string>> &rows) {
  std::vector<size_t> width;
  for (const auto &row : rows)
    for (size_t c = 0; c < row.size(); ++c) {
      width.resize(std::max(width.size(), row.size()));
      width[c] = std::max(width[c], row[c].size());
    }
  std::string out;
  for (const auto &row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c)
      line += row[c] + (c + 1 < row.size() ? std::string(width[c] - row[c].size() + 2, ' ') : "");
    out += line + "\n";
  }
  return out;
}

void print_line(const Options &opts, const json &as_json, const std::string &text) {
  if (opts.json)
    std::cout << as_json.dump(2) << "\n";
  else
    std::cout << text << "\n";
}

cl::Cluster cluster_of(const Options &opts) {
  if (opts.cluster_prefix.empty() || opts.cluster_prefix.front() != '/' ||
      opts.cluster_prefix.back() != '/')
    throw zd::Error(zd::Errc::invalid, "--cluster-prefix is a path that starts and ends with '/'");
  return cl::Cluster(zd::etcd::Client(cluster_etcd_options(opts)), cl::Keys{opts.cluster_prefix});
}

// Each live host as it applies the change, then one line for the whole.
cl::WaitOptions waiting(const Options &opts) {
  cl::WaitOptions wait;
  wait.wait = !opts.no_wait;
  wait.timeout = zd::parse_duration(opts.wait_timeout, std::chrono::hours(1));
  if (!opts.json)
    wait.on_node = [](const cl::NodeReport &node, bool applied, std::chrono::milliseconds after) {
      std::cout << "  " << node.name << ": " << (applied ? "applied" : "NOT applied") << " after "
                << after.count() << " ms\n"
                << std::flush;
    };
  return wait;
}

// The command's answer, and its exit: a host that could not apply it, or
// did not in time, makes the command fail, naming it.
void finish(const Options &opts, const cl::Outcome &outcome, const std::string &text) {
  const cl::Change &c = outcome.change;
  json nodes = json::object();
  for (const auto &n : outcome.applied)
    nodes[n] = "applied";
  for (const auto &[n, why] : outcome.failed)
    nodes[n] = {{"failed", why}};
  for (const auto &n : outcome.behind)
    nodes[n] = "behind";
  if (opts.json)
    std::cout << json{{"domain", c.domain}, {"from", c.from},         {"to", c.to},
                      {"how", c.how},       {"revision", c.revision}, {"nodes", nodes}}
                     .dump(2)
              << "\n";
  else
    std::cout << text << "\n";
  if (!outcome.failed.empty()) {
    std::string list;
    for (const auto &[n, why] : outcome.failed)
      list += (list.empty() ? "" : "; ") + n + ": " + why;
    throw zd::Error(zd::Errc::refused,
                    "revision " + std::to_string(c.revision) + " not applied on " +
                        std::to_string(outcome.failed.size()) + " host(s): " + list);
  }
  if (!outcome.behind.empty()) {
    std::string list;
    for (const auto &n : outcome.behind)
      list += (list.empty() ? "" : ", ") + n;
    throw zd::Error(zd::Errc::timeout, "not yet applied within " + opts.wait_timeout + " on " +
                                           list + " (revision " + std::to_string(c.revision) +
                                           "; they apply it when they can)");
  }
}

std::string revision_text(const cl::Outcome &o) {
  return "revision " + std::to_string(o.change.revision);
}

void refuse_local_only(const Options &opts, const char *command) {
  if (opts.dry_run || !opts.check.empty() || opts.no_check || opts.history_entry)
    throw zd::Error(zd::Errc::invalid,
                    std::string(command) +
                        " --cluster takes no --dry-run, --check, --no-check or --to: the hosts' "
                        "published verdicts are its gate (--force skips it)");
}

void cluster_switch(const Options &opts) {
  refuse_local_only(opts, "switch");
  cl::Cluster cluster = cluster_of(opts);
  const cl::Outcome o = cluster.switch_to(opts.domain, opts.workspace, opts.force, waiting(opts));
  if (o.change.how == "none") {
    print_line(opts, {{"domain", opts.domain}, {"to", opts.workspace}, {"changed", false}},
               opts.domain + " already has " + opts.workspace + " active in the cluster");
    return;
  }
  finish(opts, o,
         opts.domain + ": " + (o.change.from.empty() ? "(none)" : o.change.from) + " -> " +
             o.change.to + " in the cluster (" + revision_text(o) + ")");
}

void cluster_revert(const Options &opts) {
  refuse_local_only(opts, "revert");
  cl::Cluster cluster = cluster_of(opts);
  const cl::Outcome o = cluster.revert(opts.domain, opts.force, waiting(opts));
  finish(opts, o,
         opts.domain + ": reverted " + o.change.from + " -> " + o.change.to + " in the cluster (" +
             revision_text(o) + ")");
}

void cluster_canary(const Options &opts) {
  if (opts.dry_run || !opts.check.empty() || opts.no_check || !opts.promote_after.empty() ||
      opts.no_revert_on_failure)
    throw zd::Error(zd::Errc::invalid,
                    "canary --cluster takes no --dry-run, --check, --no-check, --promote-after or "
                    "--no-revert-on-failure: each host ends a failing canary itself, and a "
                    "switch --cluster promotes it on every host");
  cl::Cluster cluster = cluster_of(opts);
  const cl::Outcome o =
      cluster.canary(opts.domain, opts.workspace, opts.canary_abort ? 0 : opts.canary_weight,
                     opts.force, waiting(opts));
  finish(opts, o,
         opts.canary_abort ? opts.domain + ": canary " + o.change.from + " ended in the cluster (" +
                                 revision_text(o) + ")"
                           : opts.domain + ": canary " + o.change.to + " takes " +
                                 std::to_string(opts.canary_weight) + "% in the cluster (" +
                                 revision_text(o) + ")");
}

void cluster_domain_set(const Options &opts) {
  if (opts.prefer_local) {
    const bool prefer = *opts.prefer_local;
    cl::Cluster cluster = cluster_of(opts);
    const cl::Outcome o = cluster.set_option(opts.domain, "prefer_local",
                                             prefer ? json(true) : json(nullptr), waiting(opts));
    finish(opts, o,
           "domain " + opts.domain + ": " + (prefer ? "prefers" : "no longer prefers") +
               " local instances in the cluster (" + revision_text(o) + ")");
    return;
  }
  json check; // null: none
  if (!opts.no_check) {
    const std::optional<zd::Check> parsed = check_of(opts);
    if (!parsed)
      throw zd::Error(zd::Errc::invalid, "domain set takes --check or --no-check");
    zd::Desired one;
    one.domains.push_back({opts.domain, {}, parsed, "", std::nullopt});
    check = zd::to_json(one)["domains"][opts.domain]["check"];
  }
  cl::Cluster cluster = cluster_of(opts);
  const cl::Outcome o = cluster.set_option(opts.domain, "check", check, waiting(opts));
  finish(opts, o,
         "domain " + opts.domain + ": " + (check.is_null() ? "no check" : "check " + check.dump()) +
             " in the cluster (" + revision_text(o) + ")");
}

void cluster_domain_add(const Options &opts) {
  std::vector<std::string> listen;
  for (const auto &spec : opts.listen)
    listen.push_back(zd::format_endpoint(zd::parse_endpoint(spec, zd::AllowPrefix::yes)));
  cl::Cluster cluster = cluster_of(opts);
  const cl::Outcome o = cluster.add_domain(opts.domain, listen, waiting(opts));
  finish(opts, o, "domain " + opts.domain + " added to the cluster (" + revision_text(o) + ")");
}

void cluster_domain_rm(const Options &opts) {
  cl::Cluster cluster = cluster_of(opts);
  const cl::Outcome o = cluster.remove_domain(opts.domain, waiting(opts));
  finish(opts, o, "domain " + opts.domain + " removed from the cluster (" + revision_text(o) + ")");
}

std::string read_document(const std::string &file) {
  if (file == "-")
    return std::string(std::istreambuf_iterator<char>(std::cin), {});
  std::ifstream in(file);
  if (!in)
    throw zd::Error(zd::Errc::not_found, "cannot read " + file);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void cluster_apply(const Options &opts) {
  if (opts.dry_run || opts.force || opts.no_check)
    throw zd::Error(zd::Errc::invalid, "apply --cluster takes no --dry-run, --force or --no-check "
                                       "yet: each host applies what it can and says what not");
  cl::Cluster cluster = cluster_of(opts);
  const std::vector<cl::Change> made =
      cluster.apply(read_document(opts.apply_file), opts.prune, waiting(opts));
  json changes = json::array();
  std::string text;
  for (const auto &c : made) {
    changes.push_back(
        {{"domain", c.domain}, {"how", c.how}, {"to", c.to}, {"revision", c.revision}});
    text += "  " + c.how + " " + c.domain + (c.to.empty() ? "" : " -> " + c.to) + "\n";
  }
  print_line(opts, {{"changes", changes}},
             made.empty()
                 ? "nothing to change: the cluster already is what it says"
                 : text + std::to_string(made.size()) + " domain(s) written to the cluster");
}

void cluster_export(const Options &opts) {
  std::cout << cluster_of(opts).export_document().dump(2) << "\n";
}

std::string when(int64_t ns) {
  if (!ns)
    return "-";
  const time_t seconds = static_cast<time_t>(ns / 1000000000);
  tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S", &utc);
  return text;
}

// Per domain its desired route and, per live host, whether that host runs
// it; per host whether it is alive, what it applied, and how far behind.
void cluster_status(const Options &opts) {
  const json out = cluster_status_json(cluster_of(opts));
  if (opts.json) {
    std::cout << out.dump(2) << "\n";
    return;
  }
  std::vector<std::vector<std::string>> domain_rows = {
      {"DOMAIN", "ACTIVE", "PREVIOUS", "REVISION", "HOSTS"}};
  auto dash = [](const std::string &s) { return s.empty() ? std::string("-") : s; };
  for (const auto &d : out["domains"]) {
    std::string hosts;
    for (const auto &[node, s] : d["nodes"].items())
      hosts += (hosts.empty() ? "" : ", ") + node + " " +
               (s.is_string() ? s.get<std::string>() : "FAILED: " + s["failed"].get<std::string>());
    domain_rows.push_back({d["name"], dash(d["active"]), dash(d["previous"]),
                           std::to_string(d["revision"].get<int64_t>()), dash(hosts)});
  }
  std::vector<std::vector<std::string>> node_rows = {
      {"HOST", "ALIVE", "APPLIED", "BEHIND", "APPLIED AT (UTC)", "WORKSPACES"}};
  for (const auto &n : out["nodes"]) {
    std::string list;
    for (const auto &[name, w] : n["workspaces"].items())
      list += (list.empty() ? "" : ", ") + name + (w["failing"].get<bool>() ? " (FAILING)" : "") +
              (w["alive"].get<bool>() ? "" : " (DEAD)");
    node_rows.push_back({n["name"], n["alive"].get<bool>() ? "yes" : "NO",
                         std::to_string(n["applied"].get<int64_t>()),
                         std::to_string(n["behind"].get<int64_t>()), n["applied_at"], dash(list)});
  }
  std::cout << columns(domain_rows) << "\n" << columns(node_rows);
}

void cluster_history(const Options &opts) {
  cl::Cluster cluster = cluster_of(opts);
  const std::vector<json> entries = cluster.history(opts.domain);
  if (opts.json) {
    std::cout << json{{"history", entries}}.dump(2) << "\n";
    return;
  }
  std::vector<std::vector<std::string>> rows = {
      {"REVISION", "WHEN (UTC)", "DOMAIN", "HOW", "FROM", "TO", "BY"}};
  auto dash = [](const std::string &s) { return s.empty() ? std::string("-") : s; };
  for (const auto &e : entries)
    rows.push_back({std::to_string(e.value("revision", int64_t{0})),
                    when(e.value("at_ns", int64_t{0})), e.value("domain", ""), e.value("how", ""),
                    dash(e.value("from", "")), dash(e.value("to", "")), e.value("by", "")});
  std::cout << columns(rows);
}

} // namespace

json cluster_status_json(const zd::cluster::Cluster &cluster) {
  int64_t revision = 0;
  const std::vector<cl::DomainRecord> domains = cluster.domains(&revision);
  const std::vector<cl::NodeReport> nodes = cluster.nodes();
  int64_t desired = 0; // the newest change of the domains
  for (const auto &d : domains)
    desired = std::max(desired, d.mod_revision);
  json out = {{"revision", revision}, {"domains", json::array()}, {"nodes", json::array()}};
  for (const auto &d : domains) {
    if (d.removed)
      continue;
    json per_node = json::object();
    for (const auto &n : nodes) {
      if (!n.alive)
        continue;
      auto error = n.errors.find(d.name);
      per_node[n.name] =
          error != n.errors.end()
              ? json{{"failed", error->second.second}, {"revision", error->second.first}}
              : json(n.applied >= d.mod_revision ? "applied" : "lagging");
    }
    out["domains"].push_back({{"name", d.name},
                              {"active", d.active()},
                              {"previous", d.previous},
                              {"revision", d.mod_revision},
                              {"spec", d.spec},
                              {"nodes", per_node}});
  }
  for (const auto &n : nodes) {
    json workspaces = json::object();
    for (const auto &[name, w] : n.workspaces)
      workspaces[name] = {{"alive", w.alive}, {"failing", w.failing}};
    out["nodes"].push_back({{"name", n.name},
                            {"alive", n.alive},
                            {"applied", n.applied},
                            {"behind", std::max<int64_t>(0, desired - n.applied)},
                            {"applied_at", when(n.applied_ns)},
                            {"workspaces", workspaces}});
  }
  return out;
}

void (*cluster_form(const std::string &command))(const Options &) {
  if (command == "switch")
    return cluster_switch;
  if (command == "revert")
    return cluster_revert;
  if (command == "canary")
    return cluster_canary;
  if (command == "domain set")
    return cluster_domain_set;
  if (command == "domain add")
    return cluster_domain_add;
  if (command == "domain rm")
    return cluster_domain_rm;
  if (command == "apply")
    return cluster_apply;
  if (command == "export")
    return cluster_export;
  if (command == "status")
    return cluster_status;
  if (command == "history")
    return cluster_history;
  return nullptr;
}

} // namespace zdctl
