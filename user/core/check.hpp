// Health checks: how a workspace is asked whether it is ready before a
// domain is pointed at it. The probe goes to the workspace's own socket
// address, not to the domain (which still leads to the workspace being
// replaced): one probe per address family the domain serves, so a
// dual-stack domain is switched only to a workspace that answers on both.
// Parsing and planning only (durations are parse.hpp's); the probe itself
// is host/probe.hpp.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "model.hpp"

namespace zd {

// The longest HTTP path a check keeps (its record has room for this much).
inline constexpr size_t kMaxCheckPathLength = 200;
inline constexpr uint32_t kMaxCheckRetries = 10;
inline constexpr uint32_t kMaxCheckTimeoutMs = 60'000;
// A health check's limits: probes in a row (rise, fall), time between them.
inline constexpr uint32_t kMaxHealthCount = 100;
inline constexpr uint32_t kMaxHealthIntervalMs = 3'600'000;
// The longest --promote-after.
inline constexpr uint32_t kMaxPromoteAfterMs = 7 * 24 * 3'600'000;

// "tcp" (a connect) or "/PATH" (an HTTP GET that must answer 2xx or 3xx),
// with the default timeout and retries. Throws Error (invalid).
Check parse_check(std::string_view spec);

// A continuous check as given to `workspace set` or the API: the check, its
// timeout and interval as typed ("" for 1s and 2s), rise and fall.
struct HealthCheckSpec {
  std::string check, timeout, interval;
  uint32_t rise = 2, fall = 3;
};
// Checks every part. Throws Error (invalid).
HealthCheck parse_health_check(const HealthCheckSpec &spec);

// "tcp connect" / "GET /healthz", with timeout and retries when asked.
std::string describe(const Check &check, bool with_limits = false);

// Where to probe: a workspace's socket address, made connectable (a
// wildcard becomes the loopback address of the family probed).
struct ProbeTarget {
  uint8_t family = 0; // the domain's family this probe stands for
  Endpoint address;   // exact, connectable
};

// One target per family of the domain's TCP bindings, through the
// workspace's socket serving that family (a dual-stack [::] socket is
// probed over IPv4 for IPv4). A family the workspace has no socket for has
// no target: the live-socket rule reports that, or --force skipped it.
std::vector<ProbeTarget> probe_targets(const Domain &domain, const Workspace &workspace);

// One target per family the workspace's TCP sockets serve, whatever domain
// they serve it for: what a continuous health check probes.
std::vector<ProbeTarget> health_targets(const Workspace &workspace);

// What one probe found: ok, and what the workspace said ("200 OK",
// "connection refused", "no answer within 2s").
struct ProbeAnswer {
  bool ok = false;
  std::string said;
};

// A target's probes: the last answer and how many attempts it took.
struct ProbeReport {
  ProbeTarget target;
  ProbeAnswer answer;
  uint32_t attempts = 0;
};

} // namespace zd
