#include "check.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>

#include "error.hpp"
#include "parse.hpp"

namespace zd {

namespace {

// A path goes on the request line as typed: visible ASCII only, so it can
// neither split the line nor smuggle a header.
bool is_request_path(std::string_view path) {
  return !path.empty() && path.front() == '/' &&
         std::all_of(path.begin(), path.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

} // namespace

Check parse_check(std::string_view spec) {
  Check check;
  if (spec == "tcp") {
    check.kind = Check::Kind::tcp;
    return check;
  }
  if (!is_request_path(spec))
    throw Error(Errc::invalid, "bad check " + quoted(spec.substr(0, 60)) +
                                   ": expected tcp, or an HTTP path such as /healthz (no "
                                   "spaces or control characters)");
  if (spec.size() > kMaxCheckPathLength)
    throw Error(Errc::invalid, "bad check " + quoted(spec.substr(0, 60)) + ": a path of at most " +
                                   std::to_string(kMaxCheckPathLength) + " characters");
  check.kind = Check::Kind::http;
  check.path = spec;
  return check;
}

HealthCheck parse_health_check(const HealthCheckSpec &spec) {
  HealthCheck health;
  health.check = parse_check(spec.check);
  health.check.retries = 0; // rise and fall count instead
  health.check.timeout_ms = 1000;
  if (!spec.timeout.empty())
    health.check.timeout_ms =
        parse_positive_ms(spec.timeout, "a check's timeout", kMaxCheckTimeoutMs);
  if (!spec.interval.empty())
    health.interval_ms =
        parse_positive_ms(spec.interval, "a check's interval", kMaxHealthIntervalMs);
  if (spec.rise < 1 || spec.rise > kMaxHealthCount || spec.fall < 1 || spec.fall > kMaxHealthCount)
    throw Error(Errc::invalid,
                "rise and fall count probes in a row, 1 to " + std::to_string(kMaxHealthCount));
  health.rise = spec.rise;
  health.fall = spec.fall;
  return health;
}

std::string describe(const Check &check, bool with_limits) {
  std::string text = check.kind == Check::Kind::tcp    ? "tcp connect"
                     : check.kind == Check::Kind::http ? "GET " + check.path
                                                       : "no check";
  if (with_limits && check.kind != Check::Kind::none)
    text += " (timeout " + format_duration(std::chrono::milliseconds(check.timeout_ms)) + ", " +
            std::to_string(check.retries) + (check.retries == 1 ? " retry)" : " retries)");
  return text;
}

namespace {

// The target of a socket serving `family`, made connectable.
ProbeTarget target_of(const RegisteredSocket &socket, uint8_t family) {
  ProbeTarget target{family, socket.bound};
  Endpoint &address = target.address;
  const bool wildcard =
      std::all_of(address.addr.begin(), address.addr.end(), [](uint8_t byte) { return byte == 0; });
  if (family == AF_INET && (socket.dual_stack() || wildcard)) {
    address.family = AF_INET; // [::] takes IPv4 as ::ffff:127.0.0.1; ask it as IPv4 does
    address.addr = {127, 0, 0, 1};
  } else if (wildcard) {
    address.addr = {};
    address.addr[15] = 1; // ::1
  }
  address.prefix_len = static_cast<uint8_t>(address.address_bits());
  return target;
}

// Its TCP socket serving `family`, if any.
const RegisteredSocket *tcp_socket_for(const Workspace &workspace, uint8_t family) {
  auto socket = std::find_if(workspace.sockets.begin(), workspace.sockets.end(),
                             [&](const RegisteredSocket &s) {
                               return s.bound.protocol == IPPROTO_TCP && s.serves == family;
                             });
  return socket == workspace.sockets.end() ? nullptr : &*socket;
}

} // namespace

std::vector<ProbeTarget> probe_targets(const Domain &domain, const Workspace &workspace) {
  std::vector<ProbeTarget> targets;
  for (const uint8_t family : {AF_INET, AF_INET6}) {
    const bool served =
        std::any_of(domain.bindings.begin(), domain.bindings.end(), [&](const Endpoint &b) {
          return b.protocol == IPPROTO_TCP && b.family == family;
        });
    if (const RegisteredSocket *socket = tcp_socket_for(workspace, family); served && socket)
      targets.push_back(target_of(*socket, family));
  }
  return targets;
}

std::vector<ProbeTarget> health_targets(const Workspace &workspace) {
  std::vector<ProbeTarget> targets;
  for (const uint8_t family : {AF_INET, AF_INET6})
    if (const RegisteredSocket *socket = tcp_socket_for(workspace, family))
      targets.push_back(target_of(*socket, family));
  return targets;
}

} // namespace zd
