#include "check.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>

#include "error.hpp"
#include "parse.hpp"

namespace zd {

namespace {

std::string quoted(std::string_view text) {
  return "'" + printable(text.substr(0, 60)) + (text.size() > 60 ? "...'" : "'");
}

// A path goes on the request line as typed: visible ASCII only, so it can
// neither split the line nor smuggle a header.
bool is_request_path(std::string_view path) {
  return !path.empty() && path.front() == '/' &&
         std::all_of(path.begin(), path.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

std::string format_ms(uint32_t ms) {
  if (ms % 1000 == 0)
    return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

} // namespace

Check parse_check(std::string_view spec) {
  Check check;
  if (spec == "tcp") {
    check.kind = Check::Kind::tcp;
    return check;
  }
  if (!is_request_path(spec))
    throw Error(Errc::invalid, "bad check " + quoted(spec) +
                                   ": expected tcp, or an HTTP path such as /healthz (no "
                                   "spaces or control characters)");
  if (spec.size() > kMaxCheckPathLength)
    throw Error(Errc::invalid, "bad check " + quoted(spec) + ": a path of at most " +
                                   std::to_string(kMaxCheckPathLength) + " characters");
  check.kind = Check::Kind::http;
  check.path = spec;
  return check;
}

std::chrono::milliseconds parse_duration(std::string_view text, std::chrono::milliseconds max) {
  const auto bad = [&] {
    return Error(Errc::invalid, "bad duration " + quoted(text) +
                                    ": expected a number with a unit, such as 500ms, 2s, 1.5s or "
                                    "3m (a plain number is seconds), up to " +
                                    format_ms(static_cast<uint32_t>(max.count())));
  };
  size_t digits = 0;
  while (digits < text.size() && (std::isdigit(static_cast<unsigned char>(text[digits])) ||
                                  text[digits] == '.'))
    ++digits;
  const std::string_view number = text.substr(0, digits), unit = text.substr(digits);
  const size_t dot = number.find('.');
  const std::string_view whole = number.substr(0, dot);
  const std::string_view fraction = dot == std::string_view::npos ? "" : number.substr(dot + 1);
  if (whole.empty() || whole.size() > 9 || fraction.find('.') != std::string_view::npos ||
      (dot != std::string_view::npos && fraction.empty()) || fraction.size() > 3)
    throw bad();
  uint64_t per_unit = 0;
  if (unit == "ms")
    per_unit = 1;
  else if (unit == "s" || unit.empty())
    per_unit = 1000;
  else if (unit == "m")
    per_unit = 60'000;
  else if (unit == "h")
    per_unit = 3'600'000;
  else
    throw bad();
  // Thousandths of the unit, exactly: "1.5s" is 1500 thousandths of a second.
  uint64_t thousandths = 0;
  for (char c : whole)
    thousandths = thousandths * 10 + static_cast<uint64_t>(c - '0');
  thousandths *= 1000;
  uint64_t scale = 100;
  for (char c : fraction) {
    thousandths += static_cast<uint64_t>(c - '0') * scale;
    scale /= 10;
  }
  const uint64_t ms = thousandths * per_unit / 1000;
  if (ms > static_cast<uint64_t>(max.count()) || thousandths * per_unit % 1000 != 0)
    throw bad();
  return std::chrono::milliseconds(ms);
}

std::string describe(const Check &check, bool with_limits) {
  std::string text = check.kind == Check::Kind::tcp    ? "tcp connect"
                     : check.kind == Check::Kind::http ? "GET " + check.path
                                                       : "no check";
  if (with_limits && check.kind != Check::Kind::none)
    text += " (timeout " + format_ms(check.timeout_ms) + ", " + std::to_string(check.retries) +
            (check.retries == 1 ? " retry)" : " retries)");
  return text;
}

std::vector<ProbeTarget> probe_targets(const Domain &domain, const Workspace &workspace) {
  std::vector<ProbeTarget> targets;
  for (const uint8_t family : {AF_INET, AF_INET6}) {
    const bool served = std::any_of(domain.bindings.begin(), domain.bindings.end(),
                                    [&](const Endpoint &b) {
                                      return b.protocol == IPPROTO_TCP && b.family == family;
                                    });
    auto socket = std::find_if(workspace.sockets.begin(), workspace.sockets.end(),
                               [&](const RegisteredSocket &s) {
                                 return s.bound.protocol == IPPROTO_TCP && s.serves == family;
                               });
    if (!served || socket == workspace.sockets.end())
      continue;
    ProbeTarget target{family, socket->bound};
    Endpoint &address = target.address;
    const bool wildcard = std::all_of(address.addr.begin(), address.addr.end(),
                                      [](uint8_t byte) { return byte == 0; });
    if (family == AF_INET && (socket->dual_stack() || wildcard)) {
      address.family = AF_INET; // [::] takes IPv4 as ::ffff:127.0.0.1; ask it as IPv4 does
      address.addr = {127, 0, 0, 1};
    } else if (wildcard) {
      address.addr = {};
      address.addr[15] = 1; // ::1
    }
    address.prefix_len = static_cast<uint8_t>(address.address_bits());
    targets.push_back(target);
  }
  return targets;
}

} // namespace zd
