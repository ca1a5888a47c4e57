// Health checks without a workspace: parsing --check, where a
// check is aimed (probe_targets), and a TCP probe against real local sockets.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "check.hpp"
#include "expect_error.hpp"
#include "parse.hpp"
#include "probe.hpp"
#include "sockets.hpp"

using namespace std::chrono_literals;
using zd_test::error_of;
using zd_test::is_one_line;

namespace {

TEST(ParseCheck, TcpOrAPath) {
  EXPECT_EQ(zd::parse_check("tcp").kind, zd::Check::Kind::tcp);
  const zd::Check http = zd::parse_check("/healthz?deep=1");
  EXPECT_EQ(http.kind, zd::Check::Kind::http);
  EXPECT_EQ(http.path, "/healthz?deep=1");
  EXPECT_EQ(http.timeout_ms, 2000u);
  EXPECT_EQ(http.retries, 2u);
  EXPECT_EQ(zd::describe(http, true), "GET /healthz?deep=1 (timeout 2s, 2 retries)");
}

TEST(ParseCheck, RefusesWhatCouldNotGoOnARequestLine) {
  for (const std::string &bad : std::vector<std::string>{"", "healthz", "http://x/", "/a b", "/a\r\nX-Evil: 1", "/\x7f",
                                "TCP", std::string(1, '/') + std::string(200, 'a')}) {
    const std::string message = error_of([&] { zd::parse_check(bad); });
    EXPECT_TRUE(is_one_line(message)) << message;
    EXPECT_NE(message.find("bad check"), std::string::npos) << message;
  }
  EXPECT_EQ(zd::parse_check("/" + std::string(199, 'a')).path.size(), zd::kMaxCheckPathLength);
}

zd::Endpoint at(const std::string &text) {
  return zd::parse_endpoint(text, zd::AllowPrefix::no);
}

zd::RegisteredSocket socket_at(const std::string &text, uint8_t serves = 0) {
  zd::RegisteredSocket s{at(text), serves, 1};
  if (!serves)
    s.serves = s.bound.family;
  return s;
}

TEST(ProbeTargets, OnePerFamilyOfTheDomainAtTheWorkspacesOwnAddress) {
  zd::Domain both{"shop", 1, {at("tcp://10.99.0.1:80"), at("tcp://[fd00:99::1]:80")}};
  zd::Workspace w{"green", 2, 0, zd::Placement::this_netns,
                  {socket_at("tcp://127.0.0.2:3002"), socket_at("tcp://[::1]:3002")}, ""};
  const auto targets = zd::probe_targets(both, w);
  ASSERT_EQ(targets.size(), 2u);
  EXPECT_EQ(zd::format_endpoint(targets[0].address), "tcp://127.0.0.2:3002");
  EXPECT_EQ(targets[0].family, AF_INET);
  EXPECT_EQ(zd::format_endpoint(targets[1].address), "tcp://[::1]:3002");

  zd::Domain v4_only{"shop", 1, {at("tcp://10.99.0.1:80")}};
  ASSERT_EQ(zd::probe_targets(v4_only, w).size(), 1u) << "the families the domain serves";
}

TEST(ProbeTargets, WildcardsBecomeLoopbackAndDualStackIsAskedOverIpv4) {
  zd::Domain both{"shop", 1, {at("tcp://10.99.0.1:80"), at("tcp://[fd00:99::1]:80")}};
  zd::Workspace dual{"py", 2, 0, zd::Placement::this_netns,
                     {socket_at("tcp://[::]:3004", AF_INET), socket_at("tcp://[::]:3004")}, ""};
  auto targets = zd::probe_targets(both, dual);
  ASSERT_EQ(targets.size(), 2u);
  EXPECT_EQ(zd::format_endpoint(targets[0].address), "tcp://127.0.0.1:3004");
  EXPECT_EQ(zd::format_endpoint(targets[1].address), "tcp://[::1]:3004");

  zd::Workspace any_v4{"node", 3, 0, zd::Placement::this_netns,
                       {socket_at("tcp://0.0.0.0:8080")}, ""};
  targets = zd::probe_targets(both, any_v4);
  ASSERT_EQ(targets.size(), 1u) << "no IPv6 socket: the live-socket rule speaks of that";
  EXPECT_EQ(zd::format_endpoint(targets[0].address), "tcp://127.0.0.1:8080");
}

TEST(Probe, TcpConnectsToAListenerAndSaysWhyNot) {
  // A real listener on an ephemeral loopback port, then the same port closed.
  zd::Fd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener.get(), reinterpret_cast<sockaddr *>(&address), sizeof(address)), 0);
  ASSERT_EQ(listen(listener.get(), 8), 0);
  socklen_t length = sizeof(address);
  getsockname(listener.get(), reinterpret_cast<sockaddr *>(&address), &length);
  const zd::Endpoint target = at("tcp://127.0.0.1:" + std::to_string(ntohs(address.sin_port)));

  zd::Check tcp = zd::parse_check("tcp");
  tcp.timeout_ms = 1000;
  const zd::ProbeAnswer up = zd::probe(target, tcp);
  EXPECT_TRUE(up.ok) << up.said;
  EXPECT_EQ(up.said, "connected");

  listener.reset();
  const zd::ProbeAnswer down = zd::probe(target, tcp);
  EXPECT_FALSE(down.ok);
  EXPECT_EQ(down.said, "connection refused");
}

} // namespace
