// The routes of `zdctl serve` (api.hpp). Reads take the state's shared lock
// and writes go through zd::release(), exactly as the commands do, so the
// API and the CLI serialize on one lock and see each other at once.
#include "api.hpp"
#include "cluster_cmd.hpp"
#include "cluster_marks.hpp"

#include <map>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "apply_json.hpp"
#include "check.hpp"
#include "metrics.hpp"
#include "page.hpp"
#include "parse.hpp"
#include "release.hpp"
#include "release_json.hpp"
#include "report.hpp"
#include "zd_shared.h"

namespace zdctl {

namespace {

using nlohmann::json;

constexpr size_t kEventHistory = 50;

int http_status(zd::Errc kind) {
  switch (kind) {
  case zd::Errc::invalid:
    return 400;
  case zd::Errc::not_found:
    return 404;
  case zd::Errc::exists:
  case zd::Errc::refused:
    return 409;
  case zd::Errc::privilege:
    return 403;
  case zd::Errc::busy:
  case zd::Errc::not_attached:
    return 503;
  case zd::Errc::timeout:
    return 504;
  case zd::Errc::unavailable:
    return 502;
  case zd::Errc::kernel:
    break;
  }
  return 500;
}

ApiReply json_reply(const json &body, int status = 200) {
  return {status, "application/json", body.dump() + "\n"};
}

ApiReply error_reply(int status, std::string_view kind, const std::string &message,
                     const json &override = nullptr) {
  return json_reply(
      {{"error", {{"kind", kind}, {"message", zd::printable(message)}, {"override", override}}}},
      status);
}

ApiReply error_reply(const zd::Error &e) {
  const json override = e.override_by() == zd::Override::force        ? json("force")
                        : e.override_by() == zd::Override::skip_check ? json("skip_check")
                                                                      : json(nullptr);
  return error_reply(http_status(e.kind()), zd::errc_name(e.kind()), e.what(), override);
}

// ?dry_run=1 (or =true, or bare): the apply's flags.
bool query_flag(const std::string &query, const std::string &name) {
  size_t at = 0;
  while (at <= query.size()) {
    const size_t end = std::min(query.find('&', at), query.size());
    const std::string pair = query.substr(at, end - at);
    if (pair == name || pair == name + "=1" || pair == name + "=true")
      return true;
    at = end + 1;
  }
  return false;
}

std::vector<std::string> segments(const std::string &path) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < path.size()) {
    const size_t next = path.find('/', at);
    const size_t end = next == std::string::npos ? path.size() : next;
    if (end > at)
      out.push_back(path.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

// The request body: a JSON object with only the keys a route knows (a
// misspelt "forse" is refused, not ignored). An empty body is {}.
json body_of(const ApiRequest &request, const std::set<std::string> &known) {
  if (request.body.empty())
    return json::object();
  json body = json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object())
    throw zd::Error(zd::Errc::invalid, "the request body must be a JSON object");
  for (const auto &[key, value] : body.items())
    if (!known.count(key))
      throw zd::Error(zd::Errc::invalid, "unknown field '" + zd::printable(key) + "'");
  return body;
}

template <typename T> std::optional<T> field(const json &body, const std::string &key) {
  if (!body.contains(key) || body[key].is_null())
    return std::nullopt;
  const json &value = body[key];
  if constexpr (std::is_same_v<T, bool>) {
    if (value.is_boolean())
      return value.get<bool>();
    throw zd::Error(zd::Errc::invalid, "field '" + key + "' must be true or false");
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (value.is_string())
      return value.get<std::string>();
    throw zd::Error(zd::Errc::invalid, "field '" + key + "' must be a string");
  } else {
    if (value.is_number_unsigned() && value.get<uint64_t>() <= std::numeric_limits<T>::max())
      return value.get<T>();
    throw zd::Error(zd::Errc::invalid, "field '" + key + "' must be a whole number from 0 to " +
                                           std::to_string(std::numeric_limits<T>::max()));
  }
}

template <typename T> T required(const json &body, const std::string &key) {
  if (auto value = field<T>(body, key))
    return *value;
  throw zd::Error(zd::Errc::invalid, "field '" + key + "' is required");
}

// The fields every release step takes: force, dry_run and the check.
const std::set<std::string> kReleaseFields = {"force",         "dry_run",       "check",
                                              "check_timeout", "check_retries", "no_check"};

std::set<std::string> with_release_fields(std::set<std::string> fields) {
  fields.insert(kReleaseFields.begin(), kReleaseFields.end());
  return fields;
}

zd::CheckChoice check_choice(const json &body) {
  zd::CheckChoice choice;
  choice.skip = field<bool>(body, "no_check").value_or(false);
  if (auto spec = field<std::string>(body, "check")) {
    zd::Check check = zd::parse_check(*spec);
    if (auto timeout = field<std::string>(body, "check_timeout"))
      check.timeout_ms =
          zd::parse_positive_ms(*timeout, "a check's timeout", zd::kMaxCheckTimeoutMs);
    if (auto retries = field<uint32_t>(body, "check_retries"))
      check.retries = *retries;
    choice.given = check;
  }
  return choice;
}

ApiReply method_not_allowed(const std::string &allowed) {
  return error_reply(405, "invalid", "this path takes " + allowed);
}

// PUT /api/v1/workspaces/W/check {check, interval, timeout, rise, fall};
// DELETE removes it (and any failing mark): what `zdctl workspace set` does.
ApiReply health_check_route(const std::string &state, const ApiRequest &request,
                            const std::string &workspace) {
  std::optional<zd::HealthCheck> health;
  if (request.method == "PUT") {
    const json body = body_of(request, {"check", "interval", "timeout", "rise", "fall"});
    const zd::HealthCheckSpec defaults;
    health = zd::parse_health_check({required<std::string>(body, "check"),
                                     field<std::string>(body, "timeout").value_or(""),
                                     field<std::string>(body, "interval").value_or(""),
                                     field<uint32_t>(body, "rise").value_or(defaults.rise),
                                     field<uint32_t>(body, "fall").value_or(defaults.fall)});
  } else if (request.method != "DELETE") {
    return method_not_allowed("PUT (set) or DELETE (remove)");
  }
  zd::State(state).with(zd::Lock::exclusive, [&](zd::ControlPlane &control) {
    control.set_health_check(workspace, health);
  });
  return json_reply({{"workspace", workspace}, {"check", zd::to_json(health)}});
}

struct Released {
  zd::Release release;
  bool dry_run = false;
};

Released run_release(const std::string &state, zd::RouteRequest request, const json &body) {
  request.force = field<bool>(body, "force").value_or(false) ? zd::Force::yes : zd::Force::no;
  const bool dry_run = field<bool>(body, "dry_run").value_or(false);
  // A domain this host's cluster agent manages is changed through the cluster.
  zd::refuse_managed(state, request.domain, false, "switch|revert|canary " + request.domain);
  return {zd::release(zd::State(state), request, check_choice(body), dry_run), dry_run};
}

zd::Status read_status(const std::string &state) {
  return zd::State(state).with(zd::Lock::shared,
                               [](zd::ControlPlane &control) { return control.status(); });
}

std::vector<zd::Event> read_history(const std::string &state, const std::string &domain) {
  return zd::State(state).with(zd::Lock::shared,
                               [&](zd::ControlPlane &control) { return control.history(domain); });
}

// POST /api/v1/domains/D/{switch,revert,canary}, DELETE .../canary.
ApiReply release_route(const std::string &state, const ApiRequest &request,
                       const std::string &domain, const std::string &action) {
  zd::RouteRequest route;
  route.domain = domain;
  if (action == "switch") {
    if (request.method != "POST")
      return method_not_allowed("POST");
    const json body = body_of(request, with_release_fields({"workspace"}));
    route.workspace = required<std::string>(body, "workspace");
    const Released r = run_release(state, route, body);
    return json_reply(switch_json(domain, r.release, r.dry_run));
  }
  if (action == "revert") {
    if (request.method != "POST")
      return method_not_allowed("POST");
    const json body = body_of(request, with_release_fields({"to"}));
    route.kind = zd::RouteRequest::Kind::revert;
    if (auto seq = field<uint64_t>(body, "to")) {
      route.kind = zd::RouteRequest::Kind::revert_to;
      route.seq = *seq;
    }
    const Released r = run_release(state, route, body);
    return json_reply(switch_json(domain, r.release, r.dry_run));
  }
  if (action == "canary") {
    if (request.method == "DELETE") {
      const json body = body_of(request, with_release_fields({}));
      route.kind = zd::RouteRequest::Kind::canary_end;
      const Released r = run_release(state, route, body);
      return json_reply(canary_json(domain, r.release, r.dry_run, true, 0));
    }
    if (request.method != "POST")
      return method_not_allowed("POST (start or change) or DELETE (abort)");
    const json body =
        body_of(request,
                with_release_fields({"workspace", "weight", "promote_after", "revert_on_failure"}));
    route.kind = zd::RouteRequest::Kind::canary;
    route.workspace = required<std::string>(body, "workspace");
    route.weight = required<uint32_t>(body, "weight");
    if (auto after = field<std::string>(body, "promote_after"))
      route.policy.promote_after_ms =
          zd::parse_positive_ms(*after, "promote_after", zd::kMaxPromoteAfterMs);
    route.policy.revert_on_failure = field<bool>(body, "revert_on_failure").value_or(true);
    const Released r = run_release(state, route, body);
    return json_reply(canary_json(domain, r.release, r.dry_run, false, route.weight));
  }
  throw zd::Error(zd::Errc::not_found, "no such path");
}

ApiReply api(const std::string &state, const ApiRequest &request,
             const std::vector<std::string> &path) {
  const bool get = request.method == "GET" || request.method == "HEAD";
  const size_t n = path.size();
  if (n == 0) {
    if (!get)
      return method_not_allowed("GET");
    return json_reply(
        {{"version", ZD_VERSION},
         {"layout", ZD_LAYOUT_VERSION},
         {"endpoints",
          {"GET /api/v1/status", "GET /api/v1/domains", "GET /api/v1/domains/D",
           "GET /api/v1/domains/D/history", "POST /api/v1/domains/D/switch",
           "POST /api/v1/domains/D/revert", "POST /api/v1/domains/D/canary",
           "DELETE /api/v1/domains/D/canary", "GET /api/v1/workspaces", "GET /api/v1/workspaces/W",
           "PUT /api/v1/workspaces/W/check", "DELETE /api/v1/workspaces/W/check",
           "GET /api/v1/history", "GET /api/v1/events", "GET /api/v1/export", "POST /api/v1/apply",
           "GET /metrics"}}});
  }
  const std::string &what = path[0];
  if (n == 1 && what == "apply") {
    if (request.method != "POST")
      return method_not_allowed("POST");
    const zd::ApplyOptions options{
        query_flag(request.query, "dry_run"), query_flag(request.query, "prune"),
        query_flag(request.query, "force"), query_flag(request.query, "no_check")};
    return json_reply(
        applied_json(zd::apply_document(zd::State(state), request.body, options), options.dry_run));
  }
  if (n == 1 && what == "export") {
    if (!get)
      return method_not_allowed("GET");
    return json_reply(zd::to_json(zd::export_state(zd::State(state))));
  }
  if (n == 3 && what == "domains" && path[2] != "history")
    return release_route(state, request, path[1], path[2]);
  if (n == 3 && what == "workspaces" && path[2] == "check")
    return health_check_route(state, request, path[1]);
  if (!get)
    return method_not_allowed("GET");
  if (n == 1 && what == "status")
    return json_reply(zd::to_json(read_status(state)));
  if (n == 1 && (what == "domains" || what == "workspaces"))
    return json_reply({{what, zd::to_json(read_status(state))[what]}});
  if (n == 2 && what == "domains") {
    zd::validate_name("domain", path[1]);
    json domain = zd::to_json(zd::State(state).with(zd::Lock::shared, [&](zd::ControlPlane &c) {
      return c.domain_status(path[1]);
    }))["domains"][0];
    domain["history"] = zd::to_json(read_history(state, path[1]))["history"];
    return json_reply(domain);
  }
  if (n == 3 && what == "domains" && path[2] == "history")
    return json_reply(zd::to_json(read_history(state, path[1])));
  if (n == 2 && what == "workspaces") {
    zd::validate_name("workspace", path[1]);
    const json status = zd::to_json(zd::State(state).with(
        zd::Lock::shared, [&](zd::ControlPlane &c) { return c.workspace_status(path[1]); }));
    json workspace = status["workspaces"][0];
    workspace["domains"] = status["domains"];
    return json_reply(workspace);
  }
  if (n == 1 && what == "history") {
    const auto query = request.query.rfind("domain=", 0) == 0 ? request.query.substr(7) : "";
    return json_reply(zd::to_json(read_history(state, query)));
  }
  throw zd::Error(zd::Errc::not_found, "no such path");
}

// /api/v1/cluster (GET: the cluster's status) and
// /api/v1/cluster/domains/D/{switch,revert} (POST {"workspace", "force"}):
// the page of an agent's serve changes the desired state, as zdctl
// --cluster does, without waiting (the page shows the hosts catch up).
ApiReply cluster_route(const zd::cluster::Cluster *cluster, const ApiRequest &request,
                       const std::vector<std::string> &path) {
  if (!cluster)
    throw zd::Error(zd::Errc::not_found,
                    "this serve runs no cluster agent (zdctl serve --cluster URLS --node NAME)");
  if (path.size() == 1) {
    if (request.method != "GET")
      return method_not_allowed("GET");
    const zd::cluster::Cluster reader = *cluster; // a copy each: its client notes which endpoint answered
    return json_reply(cluster_status_json(reader));
  }
  if (path.size() != 4 || path[1] != "domains" || (path[3] != "switch" && path[3] != "revert"))
    throw zd::Error(zd::Errc::not_found, "no such path");
  if (request.method != "POST")
    return method_not_allowed("POST");
  const json body = body_of(request, {"workspace", "force"});
  const bool force = field<bool>(body, "force").value_or(false);
  zd::cluster::WaitOptions no_wait;
  no_wait.wait = false;
  zd::cluster::Cluster writer = *cluster; // one per request: the client keeps which endpoint answered
  const zd::cluster::Outcome o =
      path[3] == "switch"
          ? writer.switch_to(path[2], required<std::string>(body, "workspace"), force, no_wait)
          : writer.revert(path[2], force, no_wait);
  return json_reply({{"domain", o.change.domain},
                     {"from", o.change.from},
                     {"to", o.change.to},
                     {"changed", o.change.how != "none"},
                     {"revision", o.change.revision}});
}

ApiReply route(const std::string &state, const ApiRequest &request,
               const zd::cluster::Cluster *cluster) {
  const std::vector<std::string> path = segments(request.path);
  if (!path.empty() && path[0] == "api") {
    if (path.size() < 2 || path[1] != "v1")
      throw zd::Error(zd::Errc::not_found, "no such path: this server speaks /api/v1");
    if (path.size() >= 3 && path[2] == "cluster")
      return cluster_route(cluster, request, {path.begin() + 2, path.end()});
    return api(state, request, {path.begin() + 2, path.end()});
  }
  const bool get = request.method == "GET" || request.method == "HEAD";
  if (request.path == "/metrics") {
    if (!get)
      return method_not_allowed("GET");
    const std::string text = zd::State(state).with(zd::Lock::shared, [](zd::ControlPlane &c) {
      return zd::render_metrics(c.status(), c.switch_totals(), {ZD_VERSION, ZD_LAYOUT_VERSION});
    });
    return {200, zd::kMetricsContentType, text};
  }
  const std::string file = request.path == "/" ? "/index.html" : request.path;
  if (const PageFile *page = page_file(file)) {
    if (!get)
      return method_not_allowed("GET");
    return {200, page->content_type, std::string(page->text)};
  }
  throw zd::Error(zd::Errc::not_found, "no such path");
}

} // namespace

ApiReply answer(const std::string &state, const ApiRequest &request,
                const zd::cluster::Cluster *cluster) {
  try {
    return route(state, request, cluster);
  } catch (const zd::Error &e) {
    return error_reply(e);
  } catch (const std::exception &e) {
    return error_reply(500, "kernel", e.what());
  }
}

std::string events_snapshot(const std::string &state, const zd::cluster::Cluster *cluster) {
  const auto [status, events] = zd::State(state).with(zd::Lock::shared, [](zd::ControlPlane &c) {
    return std::make_pair(c.status(), c.history());
  });
  const size_t from = events.size() > kEventHistory ? events.size() - kEventHistory : 0;
  const std::vector<zd::Event> recent(events.begin() + static_cast<std::ptrdiff_t>(from),
                                      events.end());
  json snapshot = {{"status", zd::to_json(status)}, {"history", zd::to_json(recent)["history"]}};
  if (cluster) {
    try {
      const zd::cluster::Cluster reader = *cluster; // a copy each, as in cluster_route
      snapshot["cluster"] = cluster_status_json(reader);
    } catch (const std::exception &e) {
      snapshot["cluster"] = {{"error", e.what()}}; // etcd away: the page says so
    }
  }
  return snapshot.dump();
}

} // namespace zdctl
