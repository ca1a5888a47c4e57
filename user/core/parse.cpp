#include "parse.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <iterator>

#include "error.hpp"

namespace zd {

namespace {

constexpr size_t kMaxEndpointLength = 128;

// Decimal digits only, value within [min, max].
bool parse_uint(std::string_view text, long long min, long long max, long long &out) {
  if (text.empty() || text.size() > 10)
    return false;
  for (char c : text)
    if (c < '0' || c > '9')
      return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && out >= min && out <= max;
}

uint8_t parse_protocol(std::string_view scheme, std::string_view whole) {
  if (scheme == "tcp")
    return IPPROTO_TCP;
  if (scheme == "udp")
    return IPPROTO_UDP;
  throw Error(Errc::invalid,
              "bad endpoint " + quoted(whole) + ": protocol must be tcp:// or udp://");
}

void parse_address(std::string_view text, Endpoint &ep, AllowPrefix allow_prefix,
                   std::string_view whole) {
  std::string_view address = text;
  std::string_view prefix;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    address = text.substr(0, slash);
    prefix = text.substr(slash + 1);
    if (allow_prefix == AllowPrefix::no)
      throw Error(Errc::invalid,
                  "bad endpoint " + quoted(whole) + ": a socket address takes no /prefix");
  }
  std::string buf(address);
  // inet_pton would stop at an embedded NUL and accept what precedes it.
  if (buf.find('\0') != std::string::npos)
    ep.family = 0;
  else if (inet_pton(AF_INET, buf.c_str(), ep.addr.data()) == 1)
    ep.family = AF_INET;
  else if (inet_pton(AF_INET6, buf.c_str(), ep.addr.data()) == 1)
    ep.family = AF_INET6;
  if (ep.family != AF_INET && ep.family != AF_INET6)
    throw Error(Errc::invalid, "bad endpoint " + quoted(whole) + ": " + quoted(address) +
                                   " is not an IPv4 or IPv6 address");

  ep.prefix_len = static_cast<uint8_t>(ep.address_bits());
  if (!prefix.empty() || text.find('/') != std::string_view::npos) {
    long long len = 0;
    if (!parse_uint(prefix, 0, ep.address_bits(), len))
      throw Error(Errc::invalid, "bad endpoint " + quoted(whole) + ": prefix length must be 0.." +
                                     std::to_string(ep.address_bits()));
    ep.prefix_len = static_cast<uint8_t>(len);
  }
  for (unsigned bit = ep.prefix_len; bit < ep.address_bits(); ++bit)
    if (ep.addr[bit / 8] & (0x80 >> (bit % 8)))
      throw Error(Errc::invalid, "bad endpoint " + quoted(whole) +
                                     ": address has bits set beyond /" +
                                     std::to_string(ep.prefix_len));
}

} // namespace

// Control characters (newline, NUL, ESC, and the C1 controls that UTF-8
// spells \xc2\x80..\xc2\x9f) are shown as \xNN so that hostile input still
// prints as one harmless line.
std::string printable(std::string_view text) {
  static const char hex[] = "0123456789abcdef";
  auto escape = [&](unsigned char c) { return std::string{'\\', 'x', hex[c >> 4], hex[c & 15]}; };
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    const auto next = i + 1 < text.size() ? static_cast<unsigned char>(text[i + 1]) : 0;
    if (c < 0x20 || c == 0x7f) {
      out += escape(c);
    } else if (c == 0xc2 && next >= 0x80 && next <= 0x9f) {
      out += escape(c) + escape(next);
      ++i;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

unsigned Endpoint::address_bits() const {
  return family == AF_INET6 ? 128 : 32;
}

bool Endpoint::covers(const Endpoint &address) const {
  if (protocol != address.protocol || family != address.family || port != address.port)
    return false;
  // Only a damaged record reads back as a longer prefix (found by
  // tests/fuzz/records_fuzz): it covers nothing, rather than reading past addr.
  if (prefix_len > address_bits())
    return false;
  const unsigned bytes = prefix_len / 8, bits = prefix_len % 8;
  if (!std::equal(addr.begin(), addr.begin() + bytes, address.addr.begin()))
    return false;
  const auto mask = static_cast<uint8_t>(0xff00u >> bits);
  return bits == 0 || (addr[bytes] & mask) == (address.addr[bytes] & mask);
}

Endpoint parse_endpoint(std::string_view text, AllowPrefix allow_prefix) {
  if (text.size() > kMaxEndpointLength)
    throw Error(Errc::invalid,
                "bad endpoint: longer than " + std::to_string(kMaxEndpointLength) + " characters");
  auto sep = text.find("://");
  if (sep == std::string_view::npos)
    throw Error(Errc::invalid, "bad endpoint " + quoted(text) +
                                   ": expected PROTO://ADDRESS:PORT, e.g. " +
                                   "tcp://10.0.0.1:80 or tcp://[2001:db8::1]:443");
  Endpoint ep;
  ep.protocol = parse_protocol(text.substr(0, sep), text);
  std::string_view rest = text.substr(sep + 3);

  std::string_view address, port;
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos)
      throw Error(Errc::invalid,
                  "bad endpoint " + quoted(text) + ": missing ']' after IPv6 address");
    address = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (after.empty() || after.front() != ':')
      throw Error(Errc::invalid, "bad endpoint " + quoted(text) + ": missing :PORT after ']'");
    port = after.substr(1);
    parse_address(address, ep, allow_prefix, text);
    if (ep.family != AF_INET6)
      throw Error(Errc::invalid,
                  "bad endpoint " + quoted(text) + ": brackets are for IPv6 addresses only");
  } else {
    auto colon = rest.rfind(':');
    if (colon == std::string_view::npos)
      throw Error(Errc::invalid, "bad endpoint " + quoted(text) + ": missing :PORT");
    address = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (address.find(':') != std::string_view::npos)
      throw Error(Errc::invalid, "bad endpoint " + quoted(text) +
                                     ": write IPv6 addresses in brackets, " +
                                     "e.g. tcp://[2001:db8::1]:443");
    parse_address(address, ep, allow_prefix, text);
    if (ep.family != AF_INET)
      throw Error(Errc::invalid, "bad endpoint " + quoted(text) + ": " + quoted(address) +
                                     " is not an IPv4 address");
  }

  long long value = 0;
  if (!parse_uint(port, 1, 65535, value))
    throw Error(Errc::invalid,
                "bad endpoint " + quoted(text) + ": port must be a number from 1 to 65535");
  ep.port = static_cast<uint16_t>(value);
  return ep;
}

std::string format_prefix(const Endpoint &ep) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(ep.family, ep.addr.data(), buf, sizeof(buf));
  return std::string(buf) + "/" + std::to_string(ep.prefix_len);
}

std::string format_endpoint(const Endpoint &ep) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(ep.family, ep.addr.data(), buf, sizeof(buf));
  std::string address = buf;
  if (!ep.is_exact())
    address += "/" + std::to_string(ep.prefix_len);
  if (ep.family == AF_INET6)
    address = "[" + address + "]";
  return protocol_name(ep.protocol) + "://" + address + ":" + std::to_string(ep.port);
}

std::string protocol_name(uint8_t protocol) {
  switch (protocol) {
  case IPPROTO_TCP:
    return "tcp";
  case IPPROTO_UDP:
    return "udp";
  default:
    return "proto" + std::to_string(protocol);
  }
}

std::string family_name(uint8_t family) {
  switch (family) {
  case AF_INET:
    return "ipv4";
  case AF_INET6:
    return "ipv6";
  default:
    return "family" + std::to_string(family);
  }
}

void validate_name(std::string_view kind, std::string_view name) {
  auto fail = [&](const std::string &why) {
    throw Error(Errc::invalid,
                "bad " + std::string(kind) + " name " + quoted(name.substr(0, 80)) + ": " + why);
  };
  if (name.empty())
    fail("must not be empty");
  if (name.size() > kMaxNameLength)
    fail("longer than " + std::to_string(kMaxNameLength) + " characters");
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(name.front()))
    fail("must start with a letter or digit");
  for (char c : name)
    if (!alnum(c) && c != '-' && c != '_' && c != '.')
      fail("only letters, digits, '-', '_' and '.' are allowed");
}

std::string quoted(std::string_view text) {
  return "'" + printable(text) + "'";
}

int parse_pid(std::string_view text) {
  long long value = 0;
  if (!parse_uint(text, 1, 4194304, value))
    throw Error(Errc::invalid, "bad pid " + quoted(text.substr(0, 40)) +
                                   ": expected a process id from 1 to 4194304");
  return static_cast<int>(value);
}

int parse_fd(std::string_view text) {
  long long value = 0;
  if (!parse_uint(text, 0, 1048576, value))
    throw Error(Errc::invalid,
                "bad fd " + quoted(text.substr(0, 40)) + ": expected a file descriptor number");
  return static_cast<int>(value);
}

namespace {

struct DurationUnit {
  std::string_view name;
  uint64_t ms;
};
// Largest first: format_duration picks the first that divides exactly.
constexpr DurationUnit kDurationUnits[] = {{"h", 3'600'000}, {"m", 60'000}, {"s", 1000}, {"ms", 1}};

} // namespace

std::chrono::milliseconds parse_duration(std::string_view text, std::chrono::milliseconds max) {
  const auto bad = [&] {
    return Error(Errc::invalid, "bad duration " + quoted(text.substr(0, 40)) +
                                    ": expected a number with a unit (500ms, 30s, 1.5s, 2m, 1h) "
                                    "or a plain number of seconds, up to " +
                                    format_duration(max));
  };
  const size_t number_end = std::min(text.find_first_not_of("0123456789."), text.size());
  const std::string_view number = text.substr(0, number_end), unit = text.substr(number_end);
  const size_t dot = number.find('.');
  const std::string_view whole = number.substr(0, dot);
  const std::string_view fraction =
      dot == std::string_view::npos ? std::string_view() : number.substr(dot + 1);
  // At most 9 digits and 3 decimals: every product below fits in 64 bits.
  long long whole_value = 0, fraction_value = 0;
  if (!parse_uint(whole, 0, 999'999'999, whole_value) ||
      (dot != std::string_view::npos &&
       (fraction.size() > 3 || !parse_uint(fraction, 0, 999, fraction_value))))
    throw bad();
  for (size_t i = fraction.size(); i < 3; ++i)
    fraction_value *= 10;
  const std::string_view unit_name = unit.empty() ? "s" : unit;
  const auto *found = std::find_if(std::begin(kDurationUnits), std::end(kDurationUnits),
                                   [&](const DurationUnit &u) { return u.name == unit_name; });
  if (found == std::end(kDurationUnits))
    throw bad();
  // In thousandths of a millisecond, so "1.5ms" is seen not to be whole.
  const uint64_t micro =
      (static_cast<uint64_t>(whole_value) * 1000 + static_cast<uint64_t>(fraction_value)) *
      found->ms;
  if (micro % 1000 != 0 || micro / 1000 > static_cast<uint64_t>(max.count()))
    throw bad();
  return std::chrono::milliseconds(micro / 1000);
}

std::string format_duration(std::chrono::milliseconds duration) {
  const auto ms = static_cast<uint64_t>(std::max<int64_t>(duration.count(), 0));
  if (ms == 0)
    return "0s";
  const auto *unit = std::find_if(std::begin(kDurationUnits), std::end(kDurationUnits),
                                  [&](const DurationUnit &u) { return ms % u.ms == 0; });
  return std::to_string(ms / unit->ms) + std::string(unit->name); // "ms" always divides
}

uint32_t parse_positive_ms(std::string_view text, std::string_view what, uint32_t max_ms) {
  const auto duration = parse_duration(text, std::chrono::milliseconds(max_ms));
  if (duration.count() == 0)
    throw Error(Errc::invalid, "bad duration '" + printable(text) + "': " + std::string(what) +
                                   " must be above zero");
  return static_cast<uint32_t>(duration.count());
}

} // namespace zd
