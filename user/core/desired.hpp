// The desired state of `zdctl apply` and `zdctl export`: domains (their
// bindings, check and route) and workspaces' continuous checks, as one JSON
// document; and the difference between it and what the state holds, as the
// steps that make one the other. Pure: no store, no plane (apply.hpp runs
// the steps).
//
//   {"domains": {"shop": {"listen": ["tcp://10.99.0.1:80"],
//                         "check": {"check": "/healthz", "timeout": "1s", "retries": 2},
//                         "active": "green",
//                         "canary": {"workspace": "blue", "weight": 10,
//                                    "promote_after": "5m", "revert_on_failure": true},
//                         "prefer_local": true}},
//    "workspaces": {"green": {"check": {"check": "/healthz", "interval": "2s",
//                                       "timeout": "1s", "rise": 2, "fall": 3}}}}
//
// A domain's "check" and "canary" absent or null mean none, "prefer_local"
// absent false (it needs the XDP plane: new flows of a workspace with
// instances on other hosts stay on this host's while it is alive); "active" absent
// leaves the route as it is (a new domain then has none). Workspaces are
// registered by `workspace add` (their sockets are a running process's); the
// document names only registered ones, for their checks.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "model.hpp"

namespace zd {

struct DesiredCanary {
  std::string workspace;
  uint32_t weight = 0;
  CanaryPolicy policy; // since_ns unused
  bool operator==(const DesiredCanary &o) const {
    return workspace == o.workspace && weight == o.weight &&
           policy.promote_after_ms == o.policy.promote_after_ms &&
           policy.revert_on_failure == o.policy.revert_on_failure;
  }
};

struct DesiredDomain {
  std::string name;
  std::vector<Endpoint> listen;
  std::optional<Check> check;
  std::string active; // "": as it is (in a document), none (in the state)
  std::optional<DesiredCanary> canary;
  bool prefer_local = false; // absent: false
};

struct DesiredWorkspace {
  std::string name;
  std::optional<HealthCheck> check;
};

struct Desired {
  std::vector<DesiredDomain> domains;       // sorted by name
  std::vector<DesiredWorkspace> workspaces; // sorted by name
};

// Throws Error (invalid) naming the key and what is wrong with it:
// "domains.shop.listen[1]: bad address '10.99.0.300'".
Desired parse_desired(std::string_view text);
// The document; `parse_desired(to_json(d).dump())` gives d back.
nlohmann::json to_json(const Desired &desired);

// One step of an apply, in the order they run: removals (--prune) first,
// then additions, checks, and routes.
struct ApplyStep {
  enum class Op {
    remove_domain,
    add_domain,
    set_check,
    set_health_check,
    switch_to,
    canary,
    canary_end,
    prefer_local
  };
  Op op;
  std::string name;                  // the domain, or the workspace (set_health_check)
  std::vector<Endpoint> listen;      // add_domain
  std::optional<Check> check;        // set_check
  std::optional<HealthCheck> health; // set_health_check
  std::string workspace;             // switch_to, canary: the target
  std::string from;                  // what it was, for the text ("" none)
  uint32_t weight = 0;               // canary
  CanaryPolicy policy;               // canary
  bool prefer = false;               // prefer_local
};
std::string op_name(ApplyStep::Op op);
// "+ domain cart tcp://10.99.0.2:80", "~ shop: active blue -> green", ...
std::string describe(const ApplyStep &step);
nlohmann::json to_json(const ApplyStep &step);

// The steps that make `have` what `want` says. `have` holds every domain
// and workspace want names (and, with prune, every domain). Throws Error
// (refused) where no step can: a domain's bindings changed (remove it and
// add it again), a workspace not registered.
std::vector<ApplyStep> diff(const Desired &want, const Desired &have, bool prune);

} // namespace zd
