// A TCP socket listening on an ephemeral loopback port (IPv6 only for
// AF_INET6): what the BPF tests register for a workspace.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "fd.hpp"

namespace zdtest {

inline zd::Fd loopback_listener(int family) {
  zd::Fd fd(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_TRUE(fd) << strerror(errno);
  sockaddr_storage ss{};
  socklen_t len;
  if (family == AF_INET) {
    auto *sin = reinterpret_cast<sockaddr_in *>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof(*sin);
  } else {
    int one = 1;
    EXPECT_EQ(setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)), 0);
    auto *sin6 = reinterpret_cast<sockaddr_in6 *>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_addr = in6addr_loopback;
    len = sizeof(*sin6);
  }
  EXPECT_EQ(bind(fd.get(), reinterpret_cast<sockaddr *>(&ss), len), 0) << strerror(errno);
  EXPECT_EQ(listen(fd.get(), 16), 0) << strerror(errno);
  return fd;
}

} // namespace zdtest
