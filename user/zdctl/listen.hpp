// Where zdctl's servers listen (metrics --listen, serve --listen) and the
// token they require: parsed and checked the same way for both.
#pragma once

#include <cstdint>
#include <string>

namespace zdctl {

struct ListenAddress {
  std::string address; // without brackets
  uint16_t port = 0;
  bool loopback = false;
  std::string url(const std::string &path) const {
    return "http://" + (address.find(':') != std::string::npos ? "[" + address + "]" : address) +
           ":" + std::to_string(port) + path;
  }
};

// ADDRESS:PORT, IPv6 in brackets: 127.0.0.1:9477, [::1]:9477. Literals
// only: a name could resolve to an address nobody meant to expose. Throws
// Error (invalid), naming the option it came from.
ListenAddress parse_listen(const std::string &spec, const std::string &option);

// The token in path: one word of 16 to 4096 characters, in a regular file
// only its owner can read. Throws Error otherwise.
std::string read_token(const std::string &path);

// 32 random bytes as 64 hex digits (getrandom).
std::string new_token();

} // namespace zdctl
