// Parsing and validation of everything a user types: names, endpoints
// (tcp://10.0.0.1:80, tcp://[2001:db8::1]:443/64), pids and fds. Pure
// functions, no privilege needed, so the unit tests cover them fully.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "zd_shared.h"

namespace zd {

struct Endpoint {
  uint8_t protocol = 0; // IPPROTO_TCP / IPPROTO_UDP
  uint8_t family = 0;   // AF_INET / AF_INET6
  uint16_t port = 0;    // host order
  std::array<uint8_t, 16> addr{};
  uint8_t prefix_len = 0; // 32 or 128 when exact

  bool is_exact() const { return prefix_len == address_bits(); }
  unsigned address_bits() const;
  bool operator==(const Endpoint &) const = default;
};

enum class AllowPrefix { no, yes };

// Parses PROTO://ADDR:PORT[/PREFIX]. Throws Error naming the bad part.
Endpoint parse_endpoint(std::string_view text, AllowPrefix allow_prefix);

// Inverse of parse_endpoint; always brackets IPv6 and omits an exact prefix.
std::string format_endpoint(const Endpoint &endpoint);

std::string protocol_name(uint8_t protocol);
std::string family_name(uint8_t family); // "ipv4" / "ipv6"

// kind is "domain" or "workspace", used in the error message.
void validate_name(std::string_view kind, std::string_view name);

// The BPF key forms of an endpoint; host bits beyond the prefix are zeroed.
zd_prefix_key to_prefix_key(const Endpoint &endpoint);
Endpoint from_prefix_key(const zd_prefix_key &key);
// True when the key names one address (it goes in the hash, not the trie).
bool is_exact_key(const zd_prefix_key &key);
zd_name to_name(std::string_view name);
std::string from_name(const zd_name &name);

// Strict decimal parsing for --pid / --fd: no signs, spaces or suffixes.
int parse_pid(std::string_view text);
int parse_fd(std::string_view text);

} // namespace zd
