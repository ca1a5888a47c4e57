// TCP clients for the tests and their tools: every step bounded by a
// timeout, errors returned (with errno's text) instead of thrown.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <string>

#include "fd.hpp"

namespace zdtest {

using namespace std::chrono_literals;

// host (an IPv4 or IPv6 literal) and port as a socket address.
bool parse_address(const std::string &host, int port, sockaddr_storage &ss, socklen_t &len);

// A connection with send/receive timeouts on every operation.
struct Conn {
  zd::Fd fd;
  std::string greeting; // the workspace that accepted it ("" if none read)
};
enum class ConnectError { none, refused, timeout, other };

// Connects to host:port (v4 or v6 literal) within timeout.
ConnectError connect_only(const std::string &host, int port, Conn &conn, std::string *why = nullptr,
                          std::chrono::milliseconds timeout = 3s);
// Reads the first line the server sends (without its newline) into
// conn.greeting, within the connection's timeout.
ConnectError read_greeting(Conn &conn, std::string *why = nullptr);
// connect_only, then read_greeting.
ConnectError connect_and_greet(const std::string &host, int port, Conn &conn,
                               std::string *why = nullptr, std::chrono::milliseconds timeout = 3s);

} // namespace zdtest
