#include "desired.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "check.hpp"
#include "error.hpp"
#include "parse.hpp"

namespace zd {

namespace {

using nlohmann::json;

// Every failure names where in the document it is.
[[noreturn]] void bad(const std::string &where, const std::string &what) {
  throw Error(Errc::invalid, where + ": " + what);
}

template <typename Fn> auto at(const std::string &where, Fn &&fn) {
  try {
    return fn();
  } catch (const Error &e) {
    bad(where, e.what());
  }
}

void only_keys(const json &object, const std::string &where,
               std::initializer_list<const char *> known) {
  if (!object.is_object())
    bad(where, "must be an object");
  for (const auto &[key, value] : object.items())
    if (std::none_of(known.begin(), known.end(), [&](const char *k) { return key == k; })) {
      std::string names;
      for (const char *k : known)
        names += (names.empty() ? "" : ", ") + std::string(k);
      bad(where + "." + key, "unknown key (known: " + names + ")");
    }
}

std::string string_at(const json &object, const char *key, const std::string &where) {
  const json &value = object.at(key);
  if (!value.is_string())
    bad(where + "." + key, "must be a string");
  return value.get<std::string>();
}

uint32_t count_at(const json &object, const char *key, const std::string &where, uint32_t low,
                  uint32_t high) {
  const json &value = object.at(key);
  if (!value.is_number_unsigned() || value.get<uint64_t>() < low || value.get<uint64_t>() > high)
    bad(where + "." + key,
        "must be a whole number from " + std::to_string(low) + " to " + std::to_string(high));
  return value.get<uint32_t>();
}

std::string duration_text(uint32_t ms) {
  return format_duration(std::chrono::milliseconds(ms));
}

Check parse_domain_check(const json &value, const std::string &where) {
  if (value.is_string())
    return at(where, [&] { return parse_check(value.get<std::string>()); });
  only_keys(value, where, {"check", "timeout", "retries"});
  if (!value.contains("check"))
    bad(where + ".check", "is missing (tcp, or /PATH for an HTTP GET)");
  Check check = at(where + ".check", [&] { return parse_check(string_at(value, "check", where)); });
  if (value.contains("timeout"))
    check.timeout_ms = at(where + ".timeout", [&] {
      return parse_positive_ms(string_at(value, "timeout", where), "a check's timeout",
                               kMaxCheckTimeoutMs);
    });
  if (value.contains("retries"))
    check.retries = count_at(value, "retries", where, 0, kMaxCheckRetries);
  return check;
}

HealthCheck parse_workspace_check(const json &value, const std::string &where) {
  only_keys(value, where, {"check", "timeout", "interval", "rise", "fall"});
  if (!value.contains("check"))
    bad(where + ".check", "is missing (tcp, or /PATH for an HTTP GET)");
  HealthCheckSpec spec{string_at(value, "check", where), "", "", 2, 3};
  if (value.contains("timeout"))
    spec.timeout = string_at(value, "timeout", where);
  if (value.contains("interval"))
    spec.interval = string_at(value, "interval", where);
  if (value.contains("rise"))
    spec.rise = count_at(value, "rise", where, 1, kMaxHealthCount);
  if (value.contains("fall"))
    spec.fall = count_at(value, "fall", where, 1, kMaxHealthCount);
  return at(where, [&] { return parse_health_check(spec); });
}

DesiredCanary parse_canary(const json &value, const std::string &where) {
  only_keys(value, where, {"workspace", "weight", "promote_after", "revert_on_failure"});
  for (const char *key : {"workspace", "weight"})
    if (!value.contains(key))
      bad(where + "." + key, "is missing");
  DesiredCanary canary;
  canary.workspace = string_at(value, "workspace", where);
  at(where + ".workspace", [&] { validate_name("workspace", canary.workspace); });
  canary.weight = count_at(value, "weight", where, 1, 100);
  if (value.contains("promote_after") && !value["promote_after"].is_null())
    canary.policy.promote_after_ms = at(where + ".promote_after", [&] {
      return parse_positive_ms(string_at(value, "promote_after", where), "promote_after",
                               kMaxPromoteAfterMs);
    });
  if (value.contains("revert_on_failure")) {
    if (!value["revert_on_failure"].is_boolean())
      bad(where + ".revert_on_failure", "must be true or false");
    canary.policy.revert_on_failure = value["revert_on_failure"].get<bool>();
  }
  return canary;
}

DesiredDomain parse_domain(const std::string &name, const json &value, const std::string &where) {
  at(where, [&] { validate_name("domain", name); });
  only_keys(value, where, {"listen", "check", "active", "canary", "prefer_local"});
  DesiredDomain domain{name, {}, std::nullopt, "", std::nullopt};
  if (!value.contains("listen") || !value["listen"].is_array() || value["listen"].empty())
    bad(where + ".listen", "must be a list of one or more PROTO://ADDR[/PREFIX]:PORT");
  for (size_t i = 0; i < value["listen"].size(); ++i) {
    const std::string here = where + ".listen[" + std::to_string(i) + "]";
    if (!value["listen"][i].is_string())
      bad(here, "must be a string");
    domain.listen.push_back(at(here, [&] {
      return parse_endpoint(value["listen"][i].get<std::string>(), AllowPrefix::yes);
    }));
  }
  if (value.contains("check") && !value["check"].is_null())
    domain.check = parse_domain_check(value["check"], where + ".check");
  if (value.contains("active") && !value["active"].is_null()) {
    domain.active = string_at(value, "active", where);
    at(where + ".active", [&] { validate_name("workspace", domain.active); });
  }
  if (value.contains("canary") && !value["canary"].is_null())
    domain.canary = parse_canary(value["canary"], where + ".canary");
  if (value.contains("prefer_local")) {
    if (!value["prefer_local"].is_boolean())
      bad(where + ".prefer_local", "must be true or false");
    domain.prefer_local = value["prefer_local"].get<bool>();
  }
  return domain;
}

// "tcp" or the HTTP path: what parse_check() takes back.
std::string check_spec(const Check &check) {
  return check.kind == Check::Kind::tcp ? std::string("tcp") : check.path;
}

json check_json(const std::optional<Check> &check) {
  if (!check)
    return nullptr;
  return {{"check", check_spec(*check)},
          {"timeout", duration_text(check->timeout_ms)},
          {"retries", check->retries}};
}

json health_json(const std::optional<HealthCheck> &health) {
  if (!health)
    return nullptr;
  return {{"check", check_spec(health->check)},
          {"timeout", duration_text(health->check.timeout_ms)},
          {"interval", duration_text(health->interval_ms)},
          {"rise", health->rise},
          {"fall", health->fall}};
}

std::string listen_text(const std::vector<Endpoint> &listen) {
  std::string text;
  for (const auto &endpoint : listen)
    text += (text.empty() ? "" : ", ") + format_endpoint(endpoint);
  return text;
}

std::string or_none(const std::string &name) {
  return name.empty() ? "(none)" : name;
}

} // namespace

Desired parse_desired(std::string_view text) {
  json document;
  try {
    document = json::parse(text);
  } catch (const json::parse_error &e) {
    throw Error(Errc::invalid, std::string("the document is not JSON: ") + e.what());
  }
  only_keys(document, "the document", {"domains", "workspaces"});
  Desired desired;
  if (document.contains("domains")) {
    if (!document["domains"].is_object())
      bad("domains", "must be an object of domains by name");
    for (const auto &[name, value] : document["domains"].items())
      desired.domains.push_back(parse_domain(name, value, "domains." + name));
  }
  if (document.contains("workspaces")) {
    if (!document["workspaces"].is_object())
      bad("workspaces", "must be an object of workspaces by name");
    for (const auto &[name, value] : document["workspaces"].items()) {
      const std::string where = "workspaces." + name;
      at(where, [&] { validate_name("workspace", name); });
      only_keys(value, where, {"check"});
      DesiredWorkspace workspace{name, std::nullopt};
      if (value.contains("check") && !value["check"].is_null())
        workspace.check = parse_workspace_check(value["check"], where + ".check");
      desired.workspaces.push_back(std::move(workspace));
    }
  }
  // Bindings given twice, in one domain or in two, are refused here, where
  // the document can be named.
  std::map<std::string, std::string> owner;
  for (const auto &domain : desired.domains)
    for (const auto &endpoint : domain.listen) {
      const std::string key = format_endpoint(endpoint);
      if (auto [it, fresh] = owner.emplace(key, domain.name); !fresh)
        bad("domains." + domain.name + ".listen",
            key + (it->second == domain.name
                       ? " is given twice"
                       : " is also a binding of domain '" + it->second + "'"));
    }
  return desired; // nlohmann's objects iterate sorted by key: so are these
}

json to_json(const Desired &desired) {
  json domains = json::object(), workspaces = json::object();
  for (const auto &d : desired.domains) {
    json listen = json::array();
    for (const auto &endpoint : d.listen)
      listen.push_back(format_endpoint(endpoint));
    json domain = {{"listen", listen}, {"check", check_json(d.check)}};
    if (!d.active.empty())
      domain["active"] = d.active;
    domain["canary"] = nullptr;
    if (d.canary)
      domain["canary"] = {
          {"workspace", d.canary->workspace},
          {"weight", d.canary->weight},
          {"promote_after", d.canary->policy.promote_after_ms
                                ? json(duration_text(d.canary->policy.promote_after_ms))
                                : json(nullptr)},
          {"revert_on_failure", d.canary->policy.revert_on_failure}};
    if (d.prefer_local) // absent otherwise: documents of hosts without forwarding stay as they were
      domain["prefer_local"] = true;
    domains[d.name] = domain;
  }
  for (const auto &w : desired.workspaces)
    workspaces[w.name] = {{"check", health_json(w.check)}};
  return {{"domains", domains}, {"workspaces", workspaces}};
}

std::string op_name(ApplyStep::Op op) {
  switch (op) {
  case ApplyStep::Op::remove_domain:
    return "remove_domain";
  case ApplyStep::Op::add_domain:
    return "add_domain";
  case ApplyStep::Op::set_check:
    return "set_check";
  case ApplyStep::Op::set_health_check:
    return "set_health_check";
  case ApplyStep::Op::switch_to:
    return "switch";
  case ApplyStep::Op::canary:
    return "canary";
  case ApplyStep::Op::canary_end:
    return "canary_end";
  case ApplyStep::Op::prefer_local:
    return "prefer_local";
  }
  return "?";
}

std::string describe(const ApplyStep &step) {
  switch (step.op) {
  case ApplyStep::Op::remove_domain:
    return "- domain " + step.name;
  case ApplyStep::Op::add_domain:
    return "+ domain " + step.name + " " + listen_text(step.listen);
  case ApplyStep::Op::set_check:
    return "~ domain " + step.name + ": check " +
           (step.check ? describe(*step.check, true) : std::string("none"));
  case ApplyStep::Op::set_health_check:
    return "~ workspace " + step.name + ": health check " +
           (step.health
                ? describe(step.health->check) + " every " + duration_text(step.health->interval_ms)
                : std::string("none"));
  case ApplyStep::Op::switch_to:
    return "~ domain " + step.name + ": active " + or_none(step.from) + " -> " + step.workspace;
  case ApplyStep::Op::canary:
    return "~ domain " + step.name + ": canary " + or_none(step.from) + " -> " + step.workspace +
           " " + std::to_string(step.weight) + "%";
  case ApplyStep::Op::canary_end:
    return "~ domain " + step.name + ": canary " + step.from + " -> (none)";
  case ApplyStep::Op::prefer_local:
    return "~ domain " + step.name + ": prefer local " + (step.prefer ? "off -> on" : "on -> off");
  }
  return "?";
}

json to_json(const ApplyStep &step) {
  json out = {{"op", op_name(step.op)}, {"text", describe(step)}};
  if (step.op == ApplyStep::Op::set_health_check)
    out["workspace"] = step.name;
  else
    out["domain"] = step.name;
  if (!step.workspace.empty())
    out["to"] = step.workspace;
  if (step.op == ApplyStep::Op::switch_to || step.op == ApplyStep::Op::canary ||
      step.op == ApplyStep::Op::canary_end)
    out["from"] = step.from.empty() ? json(nullptr) : json(step.from);
  return out;
}

std::vector<ApplyStep> diff(const Desired &want, const Desired &have, bool prune) {
  std::map<std::string, const DesiredDomain *> had;
  for (const auto &d : have.domains)
    had[d.name] = &d;
  std::map<std::string, const DesiredWorkspace *> registered;
  for (const auto &w : have.workspaces)
    registered[w.name] = &w;
  auto same_listen = [](std::vector<Endpoint> a, std::vector<Endpoint> b) {
    auto text = [](std::vector<Endpoint> &v) {
      std::set<std::string> out;
      for (const auto &e : v)
        out.insert(format_endpoint(e));
      return out;
    };
    return text(a) == text(b);
  };
  for (const auto &d : want.domains)
    for (const std::string *ws : {&d.active, d.canary ? &d.canary->workspace : nullptr})
      if (ws && !ws->empty() && !registered.count(*ws))
        throw Error(Errc::refused, "domains." + d.name + ": no workspace named '" + *ws +
                                       "' is registered (zdctl workspace add registers it)");

  std::vector<ApplyStep> removals, additions, checks, health, routes;
  if (prune) {
    std::set<std::string> named;
    for (const auto &d : want.domains)
      named.insert(d.name);
    for (const auto &d : have.domains)
      if (!named.count(d.name))
        removals.push_back({ApplyStep::Op::remove_domain, d.name, d.listen, {}, {}, "", "", 0, {}});
  }
  for (const auto &d : want.domains) {
    const auto it = had.find(d.name);
    const DesiredDomain *h = it == had.end() ? nullptr : it->second;
    if (!h)
      additions.push_back({ApplyStep::Op::add_domain, d.name, d.listen, {}, {}, "", "", 0, {}});
    else if (!same_listen(d.listen, h->listen))
      throw Error(Errc::refused, "domains." + d.name +
                                     ".listen: the bindings of a domain do not change in "
                                     "place (they are " +
                                     listen_text(h->listen) + "): zdctl domain rm " + d.name +
                                     ", then apply");
    if (d.check != (h ? h->check : std::nullopt))
      checks.push_back({ApplyStep::Op::set_check, d.name, {}, d.check, {}, "", "", 0, {}});
    if (d.prefer_local != (h && h->prefer_local))
      checks.push_back(
          {ApplyStep::Op::prefer_local, d.name, {}, {}, {}, "", "", 0, {}, d.prefer_local});
    // A canary ends before the active workspace changes, and starts after.
    const std::string active = h ? h->active : "";
    const std::optional<DesiredCanary> canary = h ? h->canary : std::nullopt;
    const std::string canary_was = canary ? canary->workspace : "";
    if (canary && !d.canary)
      routes.push_back({ApplyStep::Op::canary_end, d.name, {}, {}, {}, "", canary_was, 0, {}});
    if (!d.active.empty() && d.active != active)
      routes.push_back({ApplyStep::Op::switch_to, d.name, {}, {}, {}, d.active, active, 0, {}});
    if (d.canary && d.canary != canary)
      routes.push_back({ApplyStep::Op::canary,
                        d.name,
                        {},
                        {},
                        {},
                        d.canary->workspace,
                        canary_was,
                        d.canary->weight,
                        d.canary->policy});
  }
  for (const auto &w : want.workspaces) {
    const auto it = registered.find(w.name);
    if (it == registered.end())
      throw Error(Errc::refused, "workspaces." + w.name + ": no workspace named '" + w.name +
                                     "' is registered (zdctl workspace add registers it)");
    if (w.check != it->second->check)
      health.push_back({ApplyStep::Op::set_health_check, w.name, {}, {}, w.check, "", "", 0, {}});
  }
  std::vector<ApplyStep> steps;
  for (auto *phase : {&removals, &additions, &checks, &health, &routes})
    steps.insert(steps.end(), phase->begin(), phase->end());
  return steps;
}

} // namespace zd
