#include "report.hpp"

#include <arpa/inet.h>

#include <time.h>

#include <algorithm>
#include <sstream>

#include "check.hpp"
#include "parse.hpp"

namespace zd {

namespace {

// UTC, to the second, ISO 8601: one clock for every host that reads it.
std::string utc_time(int64_t time_ns) {
  const time_t seconds = static_cast<time_t>(time_ns / 1'000'000'000);
  tm parts{};
  gmtime_r(&seconds, &parts);
  char text[32];
  strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

nlohmann::json name_or_null(const std::string &name) {
  return name.empty() ? nlohmann::json(nullptr) : nlohmann::json(name);
}

std::string address_of(const Endpoint &ep) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(ep.family, ep.addr.data(), buf, sizeof(buf));
  return buf;
}

std::string joined(const std::vector<std::string> &parts) {
  std::string out;
  for (const auto &part : parts)
    out += (out.empty() ? "" : ", ") + part;
  return out;
}

// Left-aligned columns, two spaces apart.
std::string render(const std::vector<std::vector<std::string>> &rows) {
  std::vector<size_t> width;
  for (const auto &row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      width.resize(std::max(width.size(), row.size()));
      width[i] = std::max(width[i], row[i].size());
    }
  std::ostringstream out;
  for (const auto &row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size())
        line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out << line << "\n";
  }
  return out.str();
}

std::string or_dash(const std::string &s) {
  return s.empty() ? "-" : s;
}

} // namespace

nlohmann::json to_json(const Counters &c) {
  return {{"lookups", c.lookups},
          {"steered", c.steered},
          {"fallbacks", c.fallbacks},
          {"drops", c.drops}};
}

nlohmann::json to_json(const std::optional<Check> &check) {
  if (!check || check->kind == Check::Kind::none)
    return nullptr;
  nlohmann::json out = {{"kind", check->kind == Check::Kind::tcp ? "tcp" : "http"},
                        {"timeout_ms", check->timeout_ms},
                        {"retries", check->retries}};
  if (check->kind == Check::Kind::http)
    out["path"] = check->path;
  return out;
}

// null when the workspace has no health check; else the check, whether it
// fails now, and the last change: when and what the probe said.
nlohmann::json to_json(const std::optional<HealthCheck> &health) {
  if (!health)
    return nullptr;
  nlohmann::json check = to_json(std::optional<Check>(health->check));
  check.erase("retries");
  check.update(
      {{"interval_ms", health->interval_ms}, {"rise", health->rise}, {"fall", health->fall}});
  return check;
}

static nlohmann::json health_json(const WorkspaceStatus &w) {
  if (!w.health_check)
    return nullptr;
  return {{"check", to_json(w.health_check)},
          {"failing", w.failing},
          {"since", w.health && w.health->since_ns ? nlohmann::json(utc_time(w.health->since_ns))
                                                   : nlohmann::json(nullptr)},
          {"said", w.health ? nlohmann::json(w.health->said) : nlohmann::json(nullptr)}};
}

// What the HEALTH column says: "-" unchecked, "ok"/"FAILING" since when.
static std::string health_text(const WorkspaceStatus &w) {
  if (!w.health_check)
    return "-";
  std::string text = w.failing ? "FAILING" : w.health ? "ok" : "unchecked";
  if (w.health && w.health->since_ns)
    text += " since " + utc_time(w.health->since_ns).substr(11, 8);
  return text;
}

nlohmann::json to_json(const Status &status) {
  nlohmann::json domains = nlohmann::json::array();
  for (const auto &d : status.domains) {
    nlohmann::json bindings = nlohmann::json::array();
    for (const auto &b : d.bindings)
      bindings.push_back(format_endpoint(b));
    domains.push_back({{"name", d.name},
                       {"bindings", bindings},
                       {"active", name_or_null(d.active)},
                       {"previous", name_or_null(d.previous)},
                       {"canary", d.canary.empty() ? nlohmann::json(nullptr)
                                                   : nlohmann::json{{"workspace", d.canary},
                                                                    {"weight", d.canary_weight}}},
                       {"check", to_json(d.check)},
                       {"prefer_local", d.prefer_local},
                       {"counters", to_json(d.counters)}});
    if (!d.canary.empty())
      domains.back()["canary"].update(
          {{"promote_after_ms", d.canary_policy.promote_after_ms
                                    ? nlohmann::json(d.canary_policy.promote_after_ms)
                                    : nlohmann::json(nullptr)},
           {"revert_on_failure", d.canary_policy.revert_on_failure},
           {"since", d.canary_policy.since_ns ? nlohmann::json(utc_time(d.canary_policy.since_ns))
                                              : nlohmann::json(nullptr)}});
  }
  nlohmann::json workspaces = nlohmann::json::array();
  for (const auto &w : status.workspaces) {
    nlohmann::json sockets = nlohmann::json::array();
    for (const auto &[s, alive, queue] : w.sockets)
      sockets.push_back({{"protocol", protocol_name(s.bound.protocol)},
                         {"family", family_name(s.serves)},
                         {"dual_stack", s.dual_stack()},
                         {"address", address_of(s.bound)},
                         {"port", s.bound.port},
                         {"endpoint", format_endpoint(s.bound)},
                         {"alive", alive},
                         {"accept_queue", queue ? nlohmann::json{{"waiting", queue->waiting},
                                                                 {"backlog", queue->backlog},
                                                                 {"full", queue->full()}}
                                                : nlohmann::json(nullptr)}});
    const bool xdp = w.placement == Placement::other_netns;
    const ContainerStatus container = w.container.value_or(ContainerStatus{});
    workspaces.push_back(
        {{"name", w.name},
         {"pid", w.pid == 0 ? nlohmann::json(nullptr) : nlohmann::json(w.pid)},
         {"plane", w.placement == Placement::other_hosts ? "hosts"
                   : xdp                                 ? "xdp"
                                                         : "socket"},
         {"instances", w.instances},
         {"netns", xdp && container.netns ? nlohmann::json(container.netns) : nullptr},
         {"interface",
          xdp && !container.interface.empty() ? nlohmann::json(container.interface) : nullptr},
         {"sockets", sockets},
         {"counters", to_json(w.counters)},
         {"connections", w.connections},
         {"health", health_json(w)}});
  }
  nlohmann::json interfaces = nlohmann::json::array();
  for (const auto &i : status.xdp.interfaces)
    interfaces.push_back({{"name", i.name}, {"mode", i.mode}});
  const XdpStatus &x = status.xdp;
  nlohmann::json xdp = {{"interfaces", interfaces},
                        {"flows",
                         {{"entries", x.flows},
                          {"capacity", x.flow_capacity},
                          {"added", x.flows_added},
                          {"evictions", x.evictions()}}},
                        {"counters",
                         {{"steered", x.steered},
                          {"fallbacks", x.fallbacks},
                          {"drops", x.drops},
                          {"followed", x.followed},
                          {"to_host", x.to_host},
                          {"flow_misses", x.flow_misses},
                          {"forwarded", x.forwarded},
                          {"unwrapped", x.unwrapped},
                          {"forward_errors", x.forward_errors},
                          {"too_big", x.too_big}}}};
  nlohmann::json hosts = nlohmann::json::array();
  for (const auto &n : x.nodes)
    hosts.push_back({{"node", n.node},
                     {"flows", n.flows},
                     {"flows_held", n.flows_held},
                     {"packets", n.packets},
                     {"bytes", n.bytes},
                     {"errors", n.errors}});
  xdp["forwarded_to"] = hosts;
  nlohmann::json out = {{"domains", domains}, {"workspaces", workspaces}};
  // Only where XDP steers: the output of an sk_lookup-only host is unchanged.
  if (!x.interfaces.empty())
    out["xdp"] = xdp;
  return out;
}

std::string to_table(const Status &status) {
  std::vector<std::vector<std::string>> domains{{"DOMAIN", "ACTIVE", "PREVIOUS", "CANARY",
                                                 "STEERED", "FALLBACKS", "DROPS", "CHECK",
                                                 "BINDINGS"}};
  for (const auto &d : status.domains) {
    std::vector<std::string> bindings;
    for (const auto &b : d.bindings)
      bindings.push_back(format_endpoint(b));
    if (d.prefer_local)
      bindings.push_back("prefer-local");
    // One word per column, as every other: "green:10%".
    const std::string canary =
        d.canary.empty() ? "-" : d.canary + ":" + std::to_string(d.canary_weight) + "%";
    domains.push_back({d.name, or_dash(d.active), or_dash(d.previous), canary,
                       std::to_string(d.counters.steered), std::to_string(d.counters.fallbacks),
                       std::to_string(d.counters.drops), d.check ? describe(*d.check) : "-",
                       joined(bindings)});
  }
  std::vector<std::vector<std::string>> workspaces{
      {"WORKSPACE", "PID", "PLANE", "HEALTH", "STEERED", "CONNECTIONS", "SOCKETS"}};
  for (const auto &w : status.workspaces) {
    std::vector<std::string> sockets;
    for (const auto &[s, alive, queue] : w.sockets)
      sockets.push_back(format_endpoint(s.bound) +
                        (s.dual_stack() ? " for " + family_name(s.serves) : "") +
                        (!alive ? " (DEAD)"
                         : queue && queue->full()
                             ? " (alive, ACCEPT QUEUE FULL " + std::to_string(queue->waiting) +
                                   "/" + std::to_string(queue->backlog) + ")"
                             : " (alive)"));
    std::string plane = "socket";
    if (w.placement == Placement::other_hosts)
      plane = "other hosts";
    if (w.placement == Placement::other_netns) {
      const ContainerStatus c = w.container.value_or(ContainerStatus{});
      plane = "xdp via " + or_dash(c.interface) +
              (c.netns ? ", netns " + std::to_string(c.netns) : ", NETNS GONE");
    }
    // Open connections per domain: "shop 3" (a domain it still holds, or receives).
    std::vector<std::string> connections;
    for (const auto &[domain, count] : w.connections)
      connections.push_back(domain + " " + std::to_string(count));
    // Where its new flows are spread, when some of its instances are elsewhere.
    if (!w.instances.empty())
      sockets.push_back("instances on " + joined(w.instances));
    workspaces.push_back({w.name, w.pid ? std::to_string(w.pid) : "-", plane, health_text(w),
                          std::to_string(w.counters.steered + w.counters.fallbacks),
                          connections.empty() ? "-" : joined(connections), joined(sockets)});
  }
  std::string out;
  out += status.domains.empty() ? "no domains\n" : render(domains);
  out += "\n";
  out += status.workspaces.empty() ? "no workspaces\n" : render(workspaces);
  const XdpStatus &x = status.xdp;
  if (!x.interfaces.empty()) {
    std::vector<std::string> where;
    for (const auto &i : x.interfaces)
      where.push_back(i.name + " (" + i.mode + ")");
    out += "\nXDP on " + joined(where) + "; flows " + std::to_string(x.flows) + "/" +
           std::to_string(x.flow_capacity) + " (" + std::to_string(x.evictions()) +
           " evicted); steered " + std::to_string(x.steered) + ", fallbacks " +
           std::to_string(x.fallbacks) + ", drops " + std::to_string(x.drops) + ", flow misses " +
           std::to_string(x.flow_misses) + "\n";
    if (x.forwarded || x.unwrapped || x.forward_errors || !x.nodes.empty())
      out += "Across hosts: forwarded " + std::to_string(x.forwarded) + " packets, unwrapped " +
             std::to_string(x.unwrapped) + ", not sent " + std::to_string(x.forward_errors) +
             ", too big (ICMP sent back) " + std::to_string(x.too_big) + "\n";
    for (const auto &n : x.nodes)
      out += "  to " + n.node + ": " + std::to_string(n.flows) + " flows (" +
             std::to_string(n.flows_held) + " held), " + std::to_string(n.packets) + " packets, " +
             std::to_string(n.bytes) + " bytes, " + std::to_string(n.errors) + " not sent\n";
  }
  return out;
}

std::string how_name(How how) {
  switch (how) {
  case How::switch_to:
    return "switch";
  case How::revert:
    return "revert";
  case How::force:
    return "force";
  case How::fallback:
    return "fallback";
  case How::canary:
    return "canary";
  case How::canary_end:
    return "canary-end";
  case How::canary_failed:
    return "canary-failed";
  case How::promote:
    return "promote";
  }
  return "?";
}

namespace {} // namespace

nlohmann::json to_json(const std::vector<Event> &events) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto &e : events)
    list.push_back({{"seq", e.seq},
                    {"time", utc_time(e.time_ns)},
                    {"time_ns", e.time_ns},
                    {"domain", e.domain},
                    {"from", name_or_null(e.from)},
                    {"to", name_or_null(e.to)},
                    {"how", how_name(e.how)},
                    {"weight", e.how == How::canary ? nlohmann::json(e.weight) : nullptr},
                    {"pid", e.pid},
                    {"uid", e.uid}});
  return {{"history", list}};
}

std::string to_table(const std::vector<Event> &events) {
  if (events.empty())
    return "no route changes in history\n";
  std::vector<std::vector<std::string>> rows = {
      {"#", "TIME (UTC)", "DOMAIN", "FROM", "TO", "HOW", "PID", "UID"}};
  for (const auto &e : events)
    rows.push_back(
        {std::to_string(e.seq), utc_time(e.time_ns), e.domain, or_dash(e.from), or_dash(e.to),
         how_name(e.how) + (e.how == How::canary ? ":" + std::to_string(e.weight) + "%" : ""),
         std::to_string(e.pid), std::to_string(e.uid)});
  return render(rows);
}

} // namespace zd
