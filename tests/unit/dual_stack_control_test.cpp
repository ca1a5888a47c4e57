// The control plane's rule for dual-stack sockets, against the fakes. Node.js's
// listen(PORT) and `python3 -m http.server --bind ::` listen on one [::]
// socket with IPV6_V6ONLY off, which the kernel gives IPv4 connections too:
// registered as `--socket tcp://[::]:PORT`, it serves both families unless
// another socket is named for IPv4. What is left to refuse names the
// commands that work.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include "control.hpp"
#include "error.hpp"
#include "expect_error.hpp"
#include "fakes.hpp"
#include "parse.hpp"

namespace {

using zd::Changed;
using zd::Errc;
using zd::Force;
using zd::RegisteredSocket;
using zd::TakenSocket;

class DualStack : public ::testing::Test {
protected:
  void SetUp() override {
    control.add_domain("shop", {zd::parse_endpoint("tcp://10.99.0.1:80", zd::AllowPrefix::no),
                                zd::parse_endpoint("tcp://[fd00:99::1]:80", zd::AllowPrefix::no)});
  }

  // A listening socket as taken from a process; serves 0 as for --fd.
  TakenSocket socket(const std::string &address, bool v6only, uint8_t serves = 0) {
    zd::SocketInfo info;
    info.bound = zd::parse_endpoint(address, zd::AllowPrefix::no);
    info.listening = true;
    info.v6only = v6only;
    info.cookie = next_cookie_++;
    info.netns_cookie = zd_test::kThisNetns;
    return {zd::Fd(), info, serves};
  }

  std::vector<RegisteredSocket> add(const std::string &name, uint32_t pid,
                                    std::vector<TakenSocket> sockets) {
    return control.add_workspace(name, pid, sockets);
  }

  // The families each registration serves, in order.
  static std::vector<uint8_t> families(const std::vector<RegisteredSocket> &sockets) {
    std::vector<uint8_t> out;
    for (const auto &s : sockets)
      out.push_back(s.serves);
    return out;
  }

  // The message of a refused switch to workspace, which must leave all as it was.
  std::string refused_switch(const std::string &workspace) {
    const std::string before = store.dump() + plane.dump();
    const std::string message =
        zd_test::error_of([&] { control.switch_to("shop", workspace, Force::no); });
    EXPECT_TRUE(zd_test::is_one_line(message));
    EXPECT_EQ(store.dump() + plane.dump(), before) << "a refusal changed the state";
    return message;
  }

  zd_test::FakeStore store;
  zd_test::FakeDataplane plane;
  zd::ControlPlane control{store, plane};

private:
  uint64_t next_cookie_ = 2000;
};

std::vector<TakenSocket> list(TakenSocket a) {
  std::vector<TakenSocket> out;
  out.push_back(std::move(a));
  return out;
}

std::vector<TakenSocket> list(TakenSocket a, TakenSocket b) {
  std::vector<TakenSocket> out = list(std::move(a));
  out.push_back(std::move(b));
  return out;
}

TEST_F(DualStack, AskedForIpv6ItServesBothFamilies) {
  const auto registered =
      add("py", 4242, list(socket("tcp://[::]:3004", /*v6only=*/false, AF_INET6)));

  ASSERT_EQ(families(registered), (std::vector<uint8_t>{AF_INET6, AF_INET}));
  for (const auto &s : registered) {
    EXPECT_EQ(s.bound, zd::parse_endpoint("tcp://[::]:3004", zd::AllowPrefix::no));
    EXPECT_EQ(s.cookie, registered.front().cookie) << "one socket, two registrations";
  }
  // The record says so, and the one registered for IPv4 is the dual-stack one.
  EXPECT_EQ(families(store.workspace("py")->sockets), families(registered));
  EXPECT_FALSE(registered[0].dual_stack());
  EXPECT_TRUE(registered[1].dual_stack());

  EXPECT_EQ(control.switch_to("shop", "py", Force::no).changed, Changed::yes);
}

TEST_F(DualStack, AnInheritedOneServesBothFamiliesToo) {
  // --fd and --systemd sockets come with no family asked for.
  EXPECT_EQ(families(add("node", 0, list(socket("tcp://[::]:3004", false)))),
            (std::vector<uint8_t>{AF_INET6, AF_INET}));
}

TEST_F(DualStack, AnExplicitIpv4SocketKeepsIpv4) {
  TakenSocket v4 = socket("tcp://127.0.0.1:3004", true);
  const uint64_t v4_cookie = v4.info.cookie;
  const auto registered =
      add("py", 4242, list(socket("tcp://[::]:3004", false, AF_INET6), std::move(v4)));

  ASSERT_EQ(families(registered), (std::vector<uint8_t>{AF_INET6, AF_INET}));
  EXPECT_EQ(registered[1].cookie, v4_cookie);
  EXPECT_FALSE(registered[1].dual_stack());
}

TEST_F(DualStack, AskedForBothFamiliesItIsRegisteredOnceForEach) {
  // zdctl finds the same socket for tcp://[::]:3004 and tcp://0.0.0.0:3004.
  TakenSocket v6 = socket("tcp://[::]:3004", false, AF_INET6);
  TakenSocket v4{zd::Fd(), v6.info, AF_INET};
  const auto registered = add("py", 4242, list(std::move(v6), std::move(v4)));
  EXPECT_EQ(families(registered), (std::vector<uint8_t>{AF_INET6, AF_INET}));
}

TEST_F(DualStack, AskedForIpv4OnlyItServesIpv4Only) {
  EXPECT_EQ(families(add("py", 4242, list(socket("tcp://[::]:3004", false, AF_INET)))),
            (std::vector<uint8_t>{AF_INET}));
}

TEST_F(DualStack, AV6OnlyOrNonWildcardSocketServesIpv6Only) {
  EXPECT_EQ(families(add("only", 1, list(socket("tcp://[::]:3004", /*v6only=*/true)))),
            (std::vector<uint8_t>{AF_INET6}));
  // A socket bound to one IPv6 address takes no IPv4 connection, V6ONLY or not.
  EXPECT_EQ(families(add("one", 1, list(socket("tcp://[::1]:3005", false)))),
            (std::vector<uint8_t>{AF_INET6}));
}

TEST_F(DualStack, ARefusedSwitchNamesTheCommandsThatWork) {
  add("only", 4242, list(socket("tcp://[::]:3004", /*v6only=*/true, AF_INET6)));
  const std::string message = refused_switch("only");
  EXPECT_NE(message.find("workspace 'only' has no live tcp/ipv4 socket for tcp://10.99.0.1:80 of "
                         "domain 'shop'"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("zdctl workspace rm only && zdctl workspace add only --pid 4242 "
                         "--socket tcp://[::]:3004 --socket tcp://0.0.0.0:3004"),
            std::string::npos)
      << message;
}

TEST_F(DualStack, ARefusedSwitchKeepsTheFamiliesAWorkspaceWasAskedFor) {
  // Registered for IPv4 through a dual-stack socket: asked as 0.0.0.0.
  add("v4", 7, list(socket("tcp://[::]:3006", false, AF_INET)));
  const std::string message = refused_switch("v4");
  EXPECT_NE(message.find("no live tcp/ipv6 socket"), std::string::npos) << message;
  EXPECT_NE(message.find("zdctl workspace add v4 --pid 7 --socket tcp://0.0.0.0:3006 --socket "
                         "tcp://[::]:3006"),
            std::string::npos)
      << message;
}

TEST_F(DualStack, ARefusedSwitchOfAnInheritedSocketSaysWhatToPass) {
  add("fd", 0, list(socket("tcp://127.0.0.1:3007", true)));
  const std::string message = refused_switch("fd");
  EXPECT_NE(message.find("pass it a listening tcp/ipv6 socket too (e.g. tcp://[::]:3007)"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("zdctl workspace rm fd && zdctl workspace add fd"), std::string::npos)
      << message;
}

} // namespace
