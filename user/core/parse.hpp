// Parsing and validation of everything a user types: names, endpoints
// (tcp://10.0.0.1:80, tcp://[2001:db8::/64]:443), pids and fds. Pure
// functions that only parse: the planes own the conversion to their keys.
// Errors are Errc::invalid and name the bad part.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "model.hpp"

namespace zd {

enum class AllowPrefix { no, yes };

// Parses PROTO://ADDRESS[/PREFIX]:PORT. Throws Error naming the bad part.
Endpoint parse_endpoint(std::string_view text, AllowPrefix allow_prefix);

// Inverse of parse_endpoint; always brackets IPv6 and omits an exact prefix.
std::string format_endpoint(const Endpoint &endpoint);
// The address part alone, always with its length: 10.99.0.1/32.
std::string format_prefix(const Endpoint &endpoint);

std::string protocol_name(uint8_t protocol);
std::string family_name(uint8_t family); // "ipv4" / "ipv6"

// text with control characters shown as \xNN: fit for a one-line message.
std::string printable(std::string_view text);

// 'text', printable: how an error message shows what the user typed.
std::string quoted(std::string_view text);

// kind is "domain" or "workspace", used in the error message.
void validate_name(std::string_view kind, std::string_view name);

// Strict decimal parsing for --pid / --fd: no signs, spaces or suffixes.
int parse_pid(std::string_view text);
int parse_fd(std::string_view text);

// A duration as people type it: "500ms", "30s", "1.5s", "2m", "1h", or a
// plain number of seconds ("30"); up to three decimals, whole milliseconds
// only, from 0 to max. Throws Error (invalid) naming the bad text.
std::chrono::milliseconds parse_duration(std::string_view text, std::chrono::milliseconds max);
// The same, refusing zero: "bad duration '0s': WHAT must be above zero".
uint32_t parse_positive_ms(std::string_view text, std::string_view what, uint32_t max_ms);
// The inverse, in the largest unit that keeps it exact: "2m", "1.5s", "500ms".
std::string format_duration(std::chrono::milliseconds duration);

} // namespace zd
