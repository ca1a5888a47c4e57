#include <unistd.h>
// The control plane's rules of a release (user/core/control.cpp), run against
// the in-memory fakes of fakes.hpp: no root, no kernel, no sockets. Each
// refusal is checked twice: its kind and message, and that neither the store
// nor the plane saw a single write, since the core promises to check all of
// its input before its first write.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "control.hpp"
#include "error.hpp"
#include "expect_error.hpp"
#include "fakes.hpp"
#include "model.hpp"
#include "parse.hpp"

using zd::AllowPrefix;
using zd::Changed;
using zd::Endpoint;
using zd::Errc;
using zd::Force;
using zd::Route;
using zd::SwitchResult;
using zd::TakenSocket;
using zd_test::FakeDataplane;
using zd_test::FakeStore;

namespace {

// What a call threw, if it threw a zd::Error. Any other exception escapes
// and fails the test.
struct Caught {
  bool thrown = false;
  Errc kind = Errc::invalid;
  bool forceable = false;
  std::string message;
};

template <typename Fn> Caught caught(Fn &&fn) {
  try {
    fn();
  } catch (const zd::Error &e) {
    return {true, e.kind(), e.forceable(), e.what()};
  }
  return {};
}

template <typename... Sockets> std::vector<TakenSocket> sockets(Sockets &&...taken) {
  // TakenSocket owns an Fd, so no initializer list: move each one in.
  std::vector<TakenSocket> out;
  (out.push_back(std::forward<Sockets>(taken)), ...);
  return out;
}

class ControlFixture : public ::testing::Test {
protected:
  static Endpoint binding(const std::string &text) {
    return zd::parse_endpoint(text, AllowPrefix::yes);
  }

  // A listening TCP (or UDP) socket of this network namespace, as zd would
  // take it from a process, without a real fd. Cookies are unique.
  TakenSocket socket(const std::string &address, uint8_t serves = 0) {
    zd::SocketInfo info;
    info.bound = zd::parse_endpoint(address, AllowPrefix::no);
    info.listening = true;
    info.v6only = true;
    info.cookie = next_cookie_++;
    info.netns_cookie = zd_test::kThisNetns;
    return TakenSocket{zd::Fd(), info, serves};
  }

  // A workspace with one IPv4 socket; returns the socket's cookie.
  uint64_t add_workspace(const std::string &name, const std::string &address) {
    TakenSocket taken = socket(address);
    const uint64_t cookie = taken.info.cookie;
    control.add_workspace(name, 0, sockets(std::move(taken)));
    return cookie;
  }

  uint32_t domain_id(const std::string &name) const {
    auto domain = store.domain(name);
    if (!domain) {
      ADD_FAILURE() << "no domain " << name;
      return zd::kNoId;
    }
    return domain->id;
  }
  uint32_t workspace_id(const std::string &name) const {
    auto workspace = store.workspace(name);
    if (!workspace) {
      ADD_FAILURE() << "no workspace " << name;
      return zd::kNoId;
    }
    return workspace->id;
  }
  std::optional<Route> route_of(const std::string &domain) const {
    return plane.route(domain_id(domain));
  }
  Route route(const std::string &active, const std::string &previous = "") const {
    return {active.empty() ? zd::kNoId : workspace_id(active),
            previous.empty() ? zd::kNoId : workspace_id(previous)};
  }

  // Everything both fakes hold, their write counts included.
  std::string snapshot() const { return store.dump() + plane.dump(); }

  // Runs fn, which must throw zd::Error of kind `kind` with a one-line
  // message containing `part`, and must leave the snapshot as it was.
  template <typename Fn> Caught expect_refusal(Fn &&fn, Errc kind, const std::string &part) const {
    const std::string before = snapshot();
    Caught error = caught(fn);
    EXPECT_TRUE(error.thrown) << "did not throw";
    EXPECT_EQ(zd::errc_name(error.kind), zd::errc_name(kind)) << error.message;
    EXPECT_TRUE(zd_test::is_one_line(error.message));
    EXPECT_NE(error.message.find(part), std::string::npos)
        << "'" << error.message << "' should mention '" << part << "'";
    EXPECT_EQ(snapshot(), before) << "a refusal changed the state";
    return error;
  }

  // Bindings the tests share: domain "shop" is on shop_v4 unless a test says.
  const Endpoint shop_v4 = binding("tcp://10.99.0.1:80");
  const Endpoint shop_v6 = binding("tcp://[2001:db8::1]:443");

  FakeStore store;
  FakeDataplane plane;
  zd::ControlPlane control{store, plane};

private:
  uint64_t next_cookie_ = 1000;
};

// A refusal: an expression that yields the Caught error for further checks.
// The trace names the call in any failure of expect_refusal.
#define EXPECT_REFUSAL(expr, kind, part)                                                           \
  (::testing::ScopedTrace(__FILE__, __LINE__, #expr),                                              \
   expect_refusal([&] { (void)(expr); }, kind, part))

// The usual stage of a release: domain "shop" on shop_v4, workspaces "blue"
// (127.0.0.1:3001) and "green" (127.0.0.1:3002), nothing switched yet.
class ControlStage : public ControlFixture {
protected:
  void SetUp() override {
    control.add_domain("shop", {shop_v4});
    blue_cookie = add_workspace("blue", "tcp://127.0.0.1:3001");
    green_cookie = add_workspace("green", "tcp://127.0.0.1:3002");
  }

  uint64_t blue_cookie = 0;
  uint64_t green_cookie = 0;
};

// ---------------------------------------------------------------- domain add

class ControlDomainAdd : public ControlFixture {};

TEST_F(ControlDomainAdd, RecordsTheDomainAndBindsEveryEndpoint) {
  const std::vector<Endpoint> bindings{shop_v4, binding("tcp://[2001:db8::/64]:443")};
  control.add_domain("shop", bindings);

  auto domain = store.domain("shop");
  ASSERT_TRUE(domain);
  EXPECT_EQ(domain->name, "shop");
  EXPECT_EQ(domain->id, 1u);
  EXPECT_EQ(domain->bindings, bindings);
  EXPECT_EQ(plane.binding_count(), 2u);
  EXPECT_EQ(plane.binding_owner(bindings[0]), std::optional<uint32_t>(1));
  EXPECT_EQ(plane.binding_owner(bindings[1]), std::optional<uint32_t>(1));
  // No workspace serves it until the first switch.
  EXPECT_FALSE(plane.route(1));
}

TEST_F(ControlDomainAdd, RefusesADomainWithoutBindings) {
  EXPECT_REFUSAL(control.add_domain("shop", {}), Errc::invalid,
                 "domain 'shop' needs at least one binding");
}

TEST_F(ControlDomainAdd, AcceptsSixteenBindingsButNotSeventeen) {
  std::vector<Endpoint> bindings;
  for (int port = 1000; port < 1017; ++port)
    bindings.push_back(binding("tcp://10.99.0.1:" + std::to_string(port)));
  EXPECT_REFUSAL(control.add_domain("shop", bindings), Errc::invalid,
                 "a domain has at most 16 bindings");

  bindings.pop_back();
  control.add_domain("shop", bindings);
  EXPECT_EQ(plane.binding_count(), 16u);
}

TEST_F(ControlDomainAdd, RefusesUdpBindings) {
  // The second binding is the bad one: the first must not be bound either.
  EXPECT_REFUSAL(control.add_domain("dns", {shop_v4, binding("udp://10.99.0.1:53")}), Errc::invalid,
                 "cannot bind udp://10.99.0.1:53: zd steers TCP only");
}

TEST_F(ControlDomainAdd, RefusesIpv4MappedBindings) {
  // Connections to ::ffff:a.b.c.d arrive as IPv4: such a binding never matches.
  EXPECT_REFUSAL(control.add_domain("shop", {binding("tcp://[::ffff:10.99.0.1]:80")}),
                 Errc::invalid, "an IPv4-mapped address never matches");
  EXPECT_REFUSAL(control.add_domain("shop", {binding("tcp://[::ffff:10.99.0.0/120]:80")}),
                 Errc::invalid, "IPv4-mapped");
}

TEST_F(ControlDomainAdd, RefusesTheSameEndpointTwice) {
  EXPECT_REFUSAL(control.add_domain("shop", {shop_v4, shop_v6, shop_v4}), Errc::invalid,
                 "tcp://10.99.0.1:80 is given twice");
}

TEST_F(ControlDomainAdd, TakesOnePrefixAtTwoLengthsAsTwoBindings) {
  control.add_domain("shop", {binding("tcp://10.99.0.0/16:80"), binding("tcp://10.99.0.0/24:80")});
  EXPECT_EQ(plane.binding_count(), 2u);
}

TEST_F(ControlDomainAdd, RefusesANameThatExists) {
  control.add_domain("shop", {shop_v4});
  EXPECT_REFUSAL(control.add_domain("shop", {shop_v6}), Errc::exists,
                 "domain 'shop' already exists");
}

TEST_F(ControlDomainAdd, RefusesABindingOfAnotherDomainAndNamesTheOwner) {
  control.add_domain("shop", {shop_v4});
  control.add_domain("blog", {binding("tcp://10.99.1.0/24:80")});
  EXPECT_REFUSAL(control.add_domain("wiki", {binding("tcp://10.99.0.2:80"), shop_v4}), Errc::exists,
                 "tcp://10.99.0.1:80 is already bound to domain 'shop'");
  // The same prefix is the same binding.
  EXPECT_REFUSAL(control.add_domain("wiki", {binding("tcp://10.99.1.0/24:80")}), Errc::exists,
                 "tcp://10.99.1.0/24:80 is already bound to domain 'blog'");
}

TEST_F(ControlDomainAdd, RefusesABadName) {
  const std::string too_long(64, 'a'); // outlives the list of pointers below (ASan)
  for (const std::string name : {"", "-shop", "shop/x", "sh op", too_long.c_str()}) {
    SCOPED_TRACE(name);
    EXPECT_REFUSAL(control.add_domain(name, {shop_v4}), Errc::invalid, "bad domain name");
  }
}

TEST_F(ControlDomainAdd, RollsTheRecordBackWhenThePlaneFails) {
  const std::string records = store.dump_records();
  const std::string kernel = plane.contents();
  plane.fail_next_add_domain = true;

  Caught error = caught([&] { control.add_domain("shop", {shop_v4}); });
  EXPECT_TRUE(error.thrown);
  EXPECT_EQ(zd::errc_name(error.kind), zd::errc_name(Errc::kernel)) << error.message;
  EXPECT_EQ(store.dump_records(), records);
  EXPECT_EQ(plane.contents(), kernel);
  EXPECT_FALSE(store.intent()) << "a change undone on the spot leaves no intent";

  // Nothing is left behind to block a retry.
  control.add_domain("shop", {shop_v4});
  EXPECT_TRUE(plane.binding_owner(shop_v4));
}

// ------------------------------------------------------------- domain remove

class ControlDomainRemove : public ControlStage {};

TEST_F(ControlDomainRemove, RefusesAnUnknownDomain) {
  EXPECT_REFUSAL(control.remove_domain("nope"), Errc::not_found, "no domain named 'nope'");
}

TEST_F(ControlDomainRemove, RefusesABadName) {
  EXPECT_REFUSAL(control.remove_domain("../shop"), Errc::invalid, "bad domain name");
}

TEST_F(ControlDomainRemove, RemovesTheRecordItsBindingsAndItsRoute) {
  control.add_domain("blog", {binding("tcp://10.99.0.2:80")});
  control.switch_to("shop", "blue", Force::no);
  const uint32_t shop = domain_id("shop");

  control.remove_domain("shop");

  EXPECT_FALSE(store.domain("shop"));
  EXPECT_FALSE(plane.binding_owner(shop_v4));
  EXPECT_FALSE(plane.route(shop));
  // Other domains and the workspaces stay.
  EXPECT_EQ(plane.binding_count(), 1u);
  EXPECT_TRUE(store.domain("blog"));
  EXPECT_TRUE(plane.has_workspace(workspace_id("blue")));
  // The endpoint is free for a new domain.
  control.add_domain("shop2", {shop_v4});
}

// ------------------------------------------------------------- workspace add

class ControlWorkspaceAdd : public ControlFixture {};

TEST_F(ControlWorkspaceAdd, RecordsTheWorkspaceAndHandsItsSocketsToThePlane) {
  TakenSocket v4 = socket("tcp://127.0.0.1:3001");
  TakenSocket v6 = socket("tcp://[::1]:3001");
  const uint64_t v4_cookie = v4.info.cookie;
  const uint64_t v6_cookie = v6.info.cookie;
  control.add_workspace("blue", 1234, sockets(std::move(v4), std::move(v6)));

  auto blue = store.workspace("blue");
  ASSERT_TRUE(blue);
  EXPECT_EQ(blue->id, 1u);
  EXPECT_EQ(blue->pid, 1234u);
  EXPECT_EQ(blue->placement, zd::Placement::this_netns);
  ASSERT_EQ(blue->sockets.size(), 2u);
  EXPECT_EQ(blue->sockets[0].bound, zd::parse_endpoint("tcp://127.0.0.1:3001", AllowPrefix::no));
  EXPECT_EQ(blue->sockets[0].serves, AF_INET);
  EXPECT_EQ(blue->sockets[0].cookie, v4_cookie);
  EXPECT_EQ(blue->sockets[1].serves, AF_INET6);
  EXPECT_EQ(blue->sockets[1].cookie, v6_cookie);
  EXPECT_EQ(store.workspace_name(1), std::optional<std::string>("blue"));
  EXPECT_TRUE(plane.has_workspace(1));
  EXPECT_TRUE(plane.alive(*blue, blue->sockets[0]));
  EXPECT_TRUE(plane.alive(*blue, blue->sockets[1]));
}

TEST_F(ControlWorkspaceAdd, RefusesANameThatExists) {
  control.add_workspace("blue", 0, sockets(socket("tcp://127.0.0.1:3001")));
  EXPECT_REFUSAL(control.add_workspace("blue", 0, sockets(socket("tcp://127.0.0.1:3002"))),
                 Errc::exists, "workspace 'blue' already exists");
}

TEST_F(ControlWorkspaceAdd, RefusesABadName) {
  EXPECT_REFUSAL(control.add_workspace(".blue", 0, sockets(socket("tcp://127.0.0.1:3001"))),
                 Errc::invalid, "bad workspace name");
}

TEST_F(ControlWorkspaceAdd, RefusesAWorkspaceWithoutSockets) {
  EXPECT_REFUSAL(control.add_workspace("blue", 0, {}), Errc::invalid,
                 "workspace 'blue' needs at least one socket");
}

TEST_F(ControlWorkspaceAdd, RefusesAUdpSocket) {
  EXPECT_REFUSAL(control.add_workspace("blue", 0, sockets(socket("udp://127.0.0.1:3001"))),
                 Errc::invalid, "socket udp://127.0.0.1:3001 is not TCP");
}

TEST_F(ControlWorkspaceAdd, RefusesASocketThatIsNotListening) {
  TakenSocket idle = socket("tcp://127.0.0.1:3001");
  idle.info.listening = false;
  // The good first socket must not reach the plane either.
  EXPECT_REFUSAL(
      control.add_workspace("blue", 0, sockets(socket("tcp://[::1]:3001"), std::move(idle))),
      Errc::invalid, "tcp/ipv4 socket tcp://127.0.0.1:3001 is not listening");
}

TEST_F(ControlWorkspaceAdd, RefusesASocketOfAnotherNetworkNamespace) {
  TakenSocket elsewhere = socket("tcp://127.0.0.1:3001");
  elsewhere.info.netns_cookie = zd_test::kThisNetns + 1;
  Caught error =
      EXPECT_REFUSAL(control.add_workspace("blue", 0, sockets(std::move(elsewhere))), Errc::refused,
                     "tcp://127.0.0.1:3001 lives in another network namespace");
  // No force makes sk_lookup deliver across namespaces.
  EXPECT_FALSE(error.forceable);
}

TEST_F(ControlWorkspaceAdd, RefusesTwoSocketsOfOneProtocolAndFamily) {
  EXPECT_REFUSAL(
      control.add_workspace(
          "blue", 0, sockets(socket("tcp://127.0.0.1:3001"), socket("tcp://127.0.0.2:3001"))),
      Errc::invalid, "two tcp/ipv4 sockets (tcp://127.0.0.1:3001 and tcp://127.0.0.2:3001)");
}

TEST_F(ControlWorkspaceAdd, AcceptsADualStackSocketForIpv4) {
  TakenSocket dual = socket("tcp://[::]:3001", AF_INET);
  dual.info.v6only = false;
  control.add_workspace("blue", 0, sockets(std::move(dual)));

  auto blue = store.workspace("blue");
  ASSERT_TRUE(blue);
  ASSERT_EQ(blue->sockets.size(), 1u);
  EXPECT_EQ(blue->sockets[0].bound.family, AF_INET6);
  EXPECT_EQ(blue->sockets[0].serves, AF_INET);
  EXPECT_TRUE(blue->sockets[0].dual_stack());
}

TEST_F(ControlWorkspaceAdd, CountsADualStackSocketAsAnIpv4One) {
  TakenSocket dual = socket("tcp://[::]:3001", AF_INET);
  dual.info.v6only = false;
  EXPECT_REFUSAL(
      control.add_workspace("blue", 0, sockets(socket("tcp://127.0.0.1:3001"), std::move(dual))),
      Errc::invalid, "two tcp/ipv4 sockets");
}

TEST_F(ControlWorkspaceAdd, RefusesAV6OnlySocketForIpv4) {
  EXPECT_REFUSAL(control.add_workspace("blue", 0, sockets(socket("tcp://[::]:3001", AF_INET))),
                 Errc::invalid, "tcp://[::]:3001 cannot take ipv4 connections");
}

TEST_F(ControlWorkspaceAdd, RefusesAnIpv4SocketForIpv6) {
  EXPECT_REFUSAL(control.add_workspace("blue", 0, sockets(socket("tcp://0.0.0.0:3001", AF_INET6))),
                 Errc::invalid, "tcp://0.0.0.0:3001 cannot take ipv6 connections");
}

TEST_F(ControlWorkspaceAdd, RefusesMoreThanFourSockets) {
  std::vector<TakenSocket> five;
  for (int port = 3001; port <= 3005; ++port)
    five.push_back(socket("tcp://127.0.0.1:" + std::to_string(port)));
  EXPECT_REFUSAL(control.add_workspace("blue", 0, std::move(five)), Errc::invalid, "socket");
}

TEST_F(ControlWorkspaceAdd, RollsTheRecordBackWhenThePlaneFails) {
  const std::string records = store.dump_records();
  const std::string kernel = plane.contents();
  plane.fail_next_add_workspace = true;

  Caught error =
      caught([&] { control.add_workspace("blue", 0, sockets(socket("tcp://127.0.0.1:3001"))); });
  EXPECT_TRUE(error.thrown);
  EXPECT_EQ(zd::errc_name(error.kind), zd::errc_name(Errc::kernel)) << error.message;
  EXPECT_EQ(store.dump_records(), records);
  EXPECT_EQ(plane.contents(), kernel);
  EXPECT_FALSE(store.intent()) << "a change undone on the spot leaves no intent";

  control.add_workspace("blue", 0, sockets(socket("tcp://127.0.0.1:3001")));
  EXPECT_TRUE(store.workspace("blue"));
}

// ---------------------------------------------------------- workspace remove

class ControlWorkspaceRemove : public ControlStage {};

TEST_F(ControlWorkspaceRemove, RefusesAnUnknownWorkspace) {
  EXPECT_REFUSAL(control.remove_workspace("nope", Force::yes), Errc::not_found,
                 "no workspace named 'nope'");
}

TEST_F(ControlWorkspaceRemove, RemovesAnIdleWorkspaceWithoutTouchingRoutes) {
  control.switch_to("shop", "blue", Force::no);
  const uint32_t green = workspace_id("green");
  const size_t writes = plane.set_route_calls;

  control.remove_workspace("green", Force::no);

  EXPECT_FALSE(store.workspace("green"));
  EXPECT_FALSE(store.workspace_name(green));
  EXPECT_FALSE(plane.has_workspace(green));
  EXPECT_EQ(plane.set_route_calls, writes);
  EXPECT_EQ(route_of("shop"), route("blue"));
}

TEST_F(ControlWorkspaceRemove, RefusesTheActiveWorkspaceUnlessForced) {
  control.switch_to("shop", "blue", Force::no);
  Caught error = EXPECT_REFUSAL(control.remove_workspace("blue", Force::no), Errc::refused,
                                "workspace 'blue' is active for domain 'shop'");
  EXPECT_TRUE(error.forceable);
}

TEST_F(ControlWorkspaceRemove, RefusesBeforeClearingItAsPreviousElsewhere) {
  // "a" (id 1) is visited before "b" (id 2): blue is previous of the first
  // and active for the second, so a remover that wrote as it went would
  // already have cleared a's previous when it meets b.
  control.add_domain("a", {binding("tcp://10.99.0.2:80")});
  control.add_domain("b", {binding("tcp://10.99.0.3:80")});
  ASSERT_LT(domain_id("a"), domain_id("b"));
  control.switch_to("a", "blue", Force::no);
  control.switch_to("a", "green", Force::no);
  control.switch_to("b", "blue", Force::no);

  EXPECT_REFUSAL(control.remove_workspace("blue", Force::no), Errc::refused,
                 "active for domain 'b'");
  EXPECT_EQ(route_of("a"), route("green", "blue"));
}

TEST_F(ControlWorkspaceRemove, ForcedFallsBackToThePreviousWorkspace) {
  control.switch_to("shop", "blue", Force::no);
  control.switch_to("shop", "green", Force::no);
  const uint32_t green = workspace_id("green");
  const size_t writes = plane.set_route_calls;

  control.remove_workspace("green", Force::yes);

  EXPECT_EQ(route_of("shop"), route("blue"));
  EXPECT_EQ(plane.set_route_calls, writes + 1);
  EXPECT_FALSE(store.workspace("green"));
  EXPECT_FALSE(plane.has_workspace(green));
}

TEST_F(ControlWorkspaceRemove, ForcedWithoutPreviousLeavesNoActive) {
  control.switch_to("shop", "blue", Force::no);
  control.remove_workspace("blue", Force::yes);

  EXPECT_EQ(route_of("shop"), Route{});
  // The domain can be switched to another workspace afterwards.
  SwitchResult result = control.switch_to("shop", "green", Force::no);
  EXPECT_EQ(result.from, "");
  EXPECT_EQ(route_of("shop"), route("green"));
}

TEST_F(ControlWorkspaceRemove, ClearsAWorkspaceThatIsOnlyPrevious) {
  control.switch_to("shop", "blue", Force::no);
  control.switch_to("shop", "green", Force::no);
  const size_t writes = plane.set_route_calls;

  control.remove_workspace("blue", Force::no);

  EXPECT_EQ(route_of("shop"), route("green"));
  EXPECT_EQ(plane.set_route_calls, writes + 1);
  EXPECT_FALSE(store.workspace("blue"));
}

// -------------------------------------------------------------------- switch

class ControlSwitch : public ControlStage {};

TEST_F(ControlSwitch, RefusesAnUnknownDomainOrWorkspace) {
  EXPECT_REFUSAL(control.switch_to("nope", "blue", Force::yes), Errc::not_found,
                 "no domain named 'nope'");
  EXPECT_REFUSAL(control.switch_to("shop", "nope", Force::yes), Errc::not_found,
                 "no workspace named 'nope'");
  EXPECT_REFUSAL(control.switch_to("shop", "", Force::yes), Errc::invalid, "bad workspace name");
}

TEST_F(ControlSwitch, IsOneRouteWrite) {
  const size_t writes = plane.set_route_calls;
  SwitchResult first = control.switch_to("shop", "blue", Force::no);
  EXPECT_EQ(first.changed, Changed::yes);
  EXPECT_EQ(first.from, "");
  EXPECT_EQ(first.to, "blue");
  EXPECT_EQ(route_of("shop"), route("blue"));
  EXPECT_EQ(plane.set_route_calls, writes + 1);

  const size_t writes_before_second = store.writes;
  SwitchResult second = control.switch_to("shop", "green", Force::no);
  EXPECT_EQ(second.changed, Changed::yes);
  EXPECT_EQ(second.from, "blue");
  EXPECT_EQ(second.to, "green");
  EXPECT_EQ(route_of("shop"), route("green", "blue"));
  EXPECT_EQ(plane.set_route_calls, writes + 2);
  // Of the records, only history, the switch count and the index of routes
  // have a part in a switch: the event is written pending before the route,
  // the index gains green (which the route did not name) before it too, the
  // count after it, and the event made final last.
  const std::vector<zd::Event> events = store.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].seq, events[0].seq + 1);
  EXPECT_EQ(events[1].from, "blue");
  EXPECT_EQ(events[1].to, "green");
  EXPECT_EQ(events[1].how, zd::How::switch_to);
  EXPECT_EQ(events[1].pid, static_cast<uint32_t>(getpid()));
  EXPECT_FALSE(events[1].pending);
  EXPECT_EQ(store.switch_count(domain_id("shop"), zd::How::switch_to).count, 2u);
  EXPECT_EQ(store.writes, writes_before_second + 4);
}

TEST_F(ControlSwitch, GoesBackToThePreviousWorkspaceAsToAnyOther) {
  control.switch_to("shop", "blue", Force::no);
  control.switch_to("shop", "green", Force::no);
  control.switch_to("shop", "blue", Force::no);
  EXPECT_EQ(route_of("shop"), route("blue", "green"));
}

TEST_F(ControlSwitch, RefusesAWorkspaceWithoutALiveSocket) {
  plane.kill_socket(blue_cookie);
  Caught error =
      EXPECT_REFUSAL(control.switch_to("shop", "blue", Force::no), Errc::refused,
                     "workspace 'blue' has no live tcp/ipv4 socket for tcp://10.99.0.1:80 of "
                     "domain 'shop'");
  EXPECT_TRUE(error.forceable);
}

TEST_F(ControlSwitch, RefusesAWorkspaceWithoutASocketForEveryBindingFamily) {
  control.add_domain("dual", {binding("tcp://10.99.0.2:80"), shop_v6});
  Caught error = EXPECT_REFUSAL(control.switch_to("dual", "blue", Force::no), Errc::refused,
                                "no live tcp/ipv6 socket for tcp://[2001:db8::1]:443 of domain "
                                "'dual'");
  EXPECT_TRUE(error.forceable);
}

TEST_F(ControlSwitch, TakesADualStackSocketForIpv4Bindings) {
  TakenSocket dual = socket("tcp://[::]:3003", AF_INET);
  dual.info.v6only = false;
  control.add_workspace("dual", 0, sockets(std::move(dual)));
  // A plain IPv6 socket serves IPv6 only.
  control.add_workspace("v6", 0, sockets(socket("tcp://[::1]:3004")));

  EXPECT_REFUSAL(control.switch_to("shop", "v6", Force::no), Errc::refused,
                 "workspace 'v6' has no live tcp/ipv4 socket");
  EXPECT_EQ(control.switch_to("shop", "dual", Force::no).changed, Changed::yes);
  EXPECT_EQ(route_of("shop"), route("dual"));
}

TEST_F(ControlSwitch, ForcedSwitchesAWorkspaceWithoutALiveSocket) {
  plane.kill_socket(blue_cookie);
  SwitchResult result = control.switch_to("shop", "blue", Force::yes);
  EXPECT_EQ(result.changed, Changed::yes);
  EXPECT_EQ(route_of("shop"), route("blue"));
}

TEST_F(ControlSwitch, ToTheActiveWorkspaceChangesNothing) {
  control.switch_to("shop", "blue", Force::no);
  // Even a dead active workspace: there is nothing to switch.
  plane.kill_socket(blue_cookie);
  const std::string before = snapshot();

  SwitchResult result = control.switch_to("shop", "blue", Force::no);

  EXPECT_EQ(result.changed, Changed::no);
  EXPECT_EQ(result.from, "blue");
  EXPECT_EQ(result.to, "blue");
  EXPECT_EQ(snapshot(), before);
}

// -------------------------------------------------------------------- revert

class ControlRevert : public ControlStage {};

TEST_F(ControlRevert, RefusesAnUnknownDomain) {
  EXPECT_REFUSAL(control.revert("nope", Force::yes), Errc::not_found, "no domain named 'nope'");
}

TEST_F(ControlRevert, RefusesADomainThatWasNeverSwitched) {
  Caught error = EXPECT_REFUSAL(control.revert("shop", Force::no), Errc::refused,
                                "domain 'shop' has no previous workspace to revert to");
  // There is nothing a force could revert to.
  EXPECT_FALSE(error.forceable);
  EXPECT_REFUSAL(control.revert("shop", Force::yes), Errc::refused, "no previous workspace");
}

TEST_F(ControlRevert, RefusesADomainWithoutPrevious) {
  control.switch_to("shop", "blue", Force::no);
  EXPECT_REFUSAL(control.revert("shop", Force::yes), Errc::refused,
                 "domain 'shop' has no previous workspace to revert to");
}

TEST_F(ControlRevert, RefusesOnceThePreviousWorkspaceIsRemoved) {
  control.switch_to("shop", "blue", Force::no);
  control.switch_to("shop", "green", Force::no);
  control.remove_workspace("blue", Force::no);
  EXPECT_REFUSAL(control.revert("shop", Force::yes), Errc::refused, "no previous workspace");
}

TEST_F(ControlRevert, RefusesAPreviousWorkspaceWithoutARecord) {
  // A route may outlive the record it names (an id from an older zdctl, a
  // record lost with a crash): there is then nothing to check or name.
  plane.set_route(domain_id("shop"), {workspace_id("green"), 99});
  EXPECT_REFUSAL(control.revert("shop", Force::yes), Errc::refused,
                 "domain 'shop' has no previous workspace to revert to");
}

TEST_F(ControlRevert, RefusesADeadPreviousUnlessForced) {
  control.switch_to("shop", "blue", Force::no);
  control.switch_to("shop", "green", Force::no);
  plane.kill_socket(blue_cookie);

  Caught error = EXPECT_REFUSAL(control.revert("shop", Force::no), Errc::refused,
                                "workspace 'blue' has no live tcp/ipv4 socket");
  EXPECT_TRUE(error.forceable);

  SwitchResult result = control.revert("shop", Force::yes);
  EXPECT_EQ(result.changed, Changed::yes);
  EXPECT_EQ(route_of("shop"), route("blue", "green"));
}

TEST_F(ControlRevert, SwapsActiveAndPreviousInOneWrite) {
  control.switch_to("shop", "blue", Force::no);
  control.switch_to("shop", "green", Force::no);
  const size_t writes = plane.set_route_calls;

  SwitchResult result = control.revert("shop", Force::no);
  EXPECT_EQ(result.changed, Changed::yes);
  EXPECT_EQ(result.from, "green");
  EXPECT_EQ(result.to, "blue");
  EXPECT_EQ(route_of("shop"), route("blue", "green"));
  EXPECT_EQ(plane.set_route_calls, writes + 1);

  // A second revert undoes the first.
  result = control.revert("shop", Force::no);
  EXPECT_EQ(result.from, "blue");
  EXPECT_EQ(result.to, "green");
  EXPECT_EQ(route_of("shop"), route("green", "blue"));
}

// -------------------------------------------------------------------- status

class ControlStatus : public ControlFixture {};

TEST_F(ControlStatus, IsEmptyWithoutState) {
  zd::Status status = control.status();
  EXPECT_TRUE(status.domains.empty());
  EXPECT_TRUE(status.workspaces.empty());
}

TEST_F(ControlStatus, SortsDomainsAndWorkspacesByName) {
  control.add_domain("zeta", {binding("tcp://10.99.0.1:80")});
  control.add_domain("alpha", {binding("tcp://10.99.0.2:80")});
  control.add_domain("mid", {binding("tcp://10.99.0.3:80")});
  add_workspace("yellow", "tcp://127.0.0.1:3001");
  add_workspace("blue", "tcp://127.0.0.1:3002");

  zd::Status status = control.status();
  ASSERT_EQ(status.domains.size(), 3u);
  EXPECT_EQ(status.domains[0].name, "alpha");
  EXPECT_EQ(status.domains[1].name, "mid");
  EXPECT_EQ(status.domains[2].name, "zeta");
  EXPECT_EQ(status.domains[2].id, 1u);
  EXPECT_EQ(status.domains[2].bindings, std::vector<Endpoint>{binding("tcp://10.99.0.1:80")});
  ASSERT_EQ(status.workspaces.size(), 2u);
  EXPECT_EQ(status.workspaces[0].name, "blue");
  EXPECT_EQ(status.workspaces[1].name, "yellow");
  EXPECT_EQ(status.workspaces[1].id, 1u);
}

TEST_F(ControlStatus, NamesTheActiveAndPreviousWorkspaces) {
  control.add_domain("shop", {shop_v4});
  control.add_domain("blog", {binding("tcp://10.99.0.2:80")});
  add_workspace("blue", "tcp://127.0.0.1:3001");
  add_workspace("green", "tcp://127.0.0.1:3002");
  control.switch_to("shop", "blue", Force::no);
  control.switch_to("shop", "green", Force::no);

  zd::Status status = control.status();
  ASSERT_EQ(status.domains.size(), 2u);
  EXPECT_EQ(status.domains[0].name, "blog");
  EXPECT_EQ(status.domains[0].active, "");
  EXPECT_EQ(status.domains[0].previous, "");
  EXPECT_EQ(status.domains[1].name, "shop");
  EXPECT_EQ(status.domains[1].active, "green");
  EXPECT_EQ(status.domains[1].previous, "blue");
}

TEST_F(ControlStatus, ShowsWhetherEachSocketIsAlive) {
  TakenSocket v4 = socket("tcp://127.0.0.1:3001");
  TakenSocket v6 = socket("tcp://[::1]:3001");
  const uint64_t v6_cookie = v6.info.cookie;
  control.add_workspace("blue", 77, sockets(std::move(v4), std::move(v6)));
  plane.kill_socket(v6_cookie);

  zd::Status status = control.status();
  ASSERT_EQ(status.workspaces.size(), 1u);
  const zd::WorkspaceStatus &blue = status.workspaces[0];
  EXPECT_EQ(blue.pid, 77u);
  ASSERT_EQ(blue.sockets.size(), 2u);
  EXPECT_EQ(blue.sockets[0].socket.serves, AF_INET);
  EXPECT_TRUE(blue.sockets[0].alive);
  EXPECT_EQ(blue.sockets[1].socket.cookie, v6_cookie);
  EXPECT_FALSE(blue.sockets[1].alive);
}

TEST_F(ControlStatus, ReportsThePlanesCounters) {
  control.add_domain("shop", {shop_v4});
  add_workspace("blue", "tcp://127.0.0.1:3001");
  plane.set_domain_counters(domain_id("shop"), {10, 7, 2, 1});
  plane.set_workspace_counters(workspace_id("blue"), {7, 7, 0, 0});

  zd::Status status = control.status();
  ASSERT_EQ(status.domains.size(), 1u);
  EXPECT_EQ(zd_test::describe(status.domains[0].counters),
            zd_test::describe(zd::Counters{10, 7, 2, 1}));
  ASSERT_EQ(status.workspaces.size(), 1u);
  EXPECT_EQ(zd_test::describe(status.workspaces[0].counters),
            zd_test::describe(zd::Counters{7, 7, 0, 0}));
}

// ------------------------------------------------------------------- recover

// A zdctl killed during a change leaves its intent and the writes it had
// made; the next one, a new ControlPlane on the same state, finishes a
// removal or undoes an addition. The fixture replays the first `steps`
// writes of a change in the order ControlPlane::run makes them.
class ControlRecover : public ControlStage {
protected:
  std::optional<std::string> recover() {
    zd::ControlPlane next{store, plane};
    return next.recover();
  }

  void interrupted_domain_add(const zd::Domain &domain, int steps) {
    const uint32_t note = store.id_cursor(zd::IdKind::domain).next;
    store.set_intent({zd::Intent::Op::add_domain, domain, {}, note});
    if (steps > 0)
      zd::Ids(store, zd::IdKind::domain).take(domain.id, note);
    if (steps > 1)
      store.put_domain(domain);
    if (steps > 2)
      plane.add_domain(domain);
  }
};

TEST_F(ControlRecover, DoesNothingWithoutAnIntent) {
  const std::string before = snapshot();
  EXPECT_EQ(recover(), std::nullopt);
  EXPECT_EQ(snapshot(), before);
}

TEST_F(ControlRecover, UndoesAnInterruptedDomainAddAtAnyStep) {
  const std::string records = store.dump_records();
  const std::string kernel = plane.contents();
  for (int steps = 0; steps <= 3; ++steps) {
    SCOPED_TRACE("killed after " + std::to_string(steps) + " writes");
    interrupted_domain_add({"blog", 7, {binding("tcp://10.99.0.2:80")}}, steps);

    EXPECT_EQ(recover(), std::optional<std::string>("undid an interrupted 'domain add blog'"));
    EXPECT_EQ(store.dump_records(), records);
    EXPECT_EQ(plane.contents(), kernel);
  }
  // The name and the binding are free again.
  control.add_domain("blog", {binding("tcp://10.99.0.2:80")});
}

TEST_F(ControlRecover, UndoesAnInterruptedWorkspaceAdd) {
  const std::string records = store.dump_records();
  const std::string kernel = plane.contents();
  TakenSocket taken = socket("tcp://127.0.0.1:3003");
  const zd::Workspace yellow{
      "yellow", 9, 0, zd::Placement::this_netns, {{taken.info.bound, AF_INET, taken.info.cookie}},
      {}};
  const uint32_t note = store.id_cursor(zd::IdKind::workspace).next;
  store.set_intent({zd::Intent::Op::add_workspace, {}, yellow, note});
  zd::Ids(store, zd::IdKind::workspace).take(yellow.id, note);
  store.put_workspace(yellow);
  plane.add_workspace(yellow, sockets(std::move(taken)));

  EXPECT_EQ(recover(), std::optional<std::string>("undid an interrupted 'workspace add yellow'"));
  EXPECT_EQ(store.dump_records(), records);
  EXPECT_EQ(plane.contents(), kernel);
}

TEST_F(ControlRecover, FinishesAnInterruptedDomainRemove) {
  control.switch_to("shop", "blue", Force::no);
  const zd::Domain shop = *store.domain("shop");
  store.set_intent(
      {zd::Intent::Op::remove_domain, shop, {}, zd::Ids(store, zd::IdKind::domain).free_note()});
  plane.remove_domain(shop); // killed before the record went

  EXPECT_EQ(recover(), std::optional<std::string>("finished an interrupted 'domain rm shop'"));
  EXPECT_FALSE(store.domain("shop"));
  EXPECT_FALSE(store.intent());
  EXPECT_FALSE(plane.binding_owner(shop_v4));
  EXPECT_FALSE(plane.route(shop.id));
}

TEST_F(ControlRecover, FinishesAnInterruptedWorkspaceRemoveBeforeItsFirstWrite) {
  control.switch_to("shop", "blue", Force::no);
  control.switch_to("shop", "green", Force::no);
  const zd::Workspace green = *store.workspace("green");
  store.set_intent({zd::Intent::Op::remove_workspace, {}, green, 0});

  EXPECT_EQ(recover(), std::optional<std::string>("finished an interrupted 'workspace rm green'"));
  EXPECT_EQ(route_of("shop"), route("blue"));
  EXPECT_FALSE(store.workspace("green"));
  EXPECT_FALSE(plane.has_workspace(green.id));
  EXPECT_FALSE(store.intent());
}

TEST_F(ControlRecover, FinishesAnInterruptedWorkspaceRemoveAfterItsRouteWrite) {
  control.switch_to("shop", "blue", Force::no);
  control.switch_to("shop", "green", Force::no);
  const zd::Workspace green = *store.workspace("green");
  store.set_intent({zd::Intent::Op::remove_workspace, {}, green, 0});
  plane.set_route(domain_id("shop"), route("blue"));
  const size_t writes = plane.set_route_calls;

  EXPECT_EQ(recover(), std::optional<std::string>("finished an interrupted 'workspace rm green'"));
  // The route no longer names green: it is not written again.
  EXPECT_EQ(route_of("shop"), route("blue"));
  EXPECT_EQ(plane.set_route_calls, writes);
  EXPECT_FALSE(store.workspace("green"));
  EXPECT_FALSE(plane.has_workspace(green.id));
  EXPECT_FALSE(store.intent());
}

// ----------------------------------------------------------------------- ids

class ControlIds : public ControlFixture {
protected:
  void add_domain(const std::string &name, int n) {
    control.add_domain(name, {binding("tcp://10.99.0." + std::to_string(n) + ":80")});
  }
};

TEST_F(ControlIds, StartAtOneAndCountUpPerKind) {
  add_domain("a", 1);
  add_domain("b", 2);
  add_domain("c", 3);
  add_workspace("x", "tcp://127.0.0.1:3001");
  add_workspace("y", "tcp://127.0.0.1:3002");
  EXPECT_EQ(domain_id("a"), 1u);
  EXPECT_EQ(domain_id("b"), 2u);
  EXPECT_EQ(domain_id("c"), 3u);
  EXPECT_EQ(workspace_id("x"), 1u);
  EXPECT_EQ(workspace_id("y"), 2u);
}

TEST_F(ControlIds, AreNotHandedOutAgainAtOnce) {
  // A removed id may still be named in a route or a log line a moment later.
  add_domain("a", 1);
  add_domain("b", 2);
  control.remove_domain("b");
  add_domain("c", 3);
  EXPECT_EQ(domain_id("c"), 3u);

  add_workspace("x", "tcp://127.0.0.1:3001");
  control.remove_workspace("x", Force::no);
  add_workspace("y", "tcp://127.0.0.1:3002");
  EXPECT_EQ(workspace_id("y"), 2u);
}

// Once the cursor has passed the maximum, an add takes the id freed
// longest ago; each kind has its own.
TEST_F(ControlIds, AfterTheMaximumTheIdFreedLongestAgoComesBack) {
  add_domain("a", 1);
  add_domain("b", 2);
  add_domain("c", 3);
  control.remove_domain("b");
  control.remove_domain("a");
  // As if kMaxDomains - 3 more had come and stayed.
  store.set_id_cursor(zd::IdKind::domain,
                      {zd::kMaxDomains, store.id_cursor(zd::IdKind::domain).head,
                       store.id_cursor(zd::IdKind::domain).tail});
  add_domain("d", 4);
  add_domain("e", 5);
  add_domain("f", 6);
  EXPECT_EQ(domain_id("d"), zd::kMaxDomains);
  EXPECT_EQ(domain_id("e"), 2u) << "b's id, freed first";
  EXPECT_EQ(domain_id("f"), 1u);

  add_workspace("v", "tcp://127.0.0.1:3001");
  add_workspace("w", "tcp://127.0.0.1:3002");
  control.remove_workspace("v", Force::no);
  store.set_id_cursor(zd::IdKind::workspace,
                      {zd::kMaxWorkspaces + 1, store.id_cursor(zd::IdKind::workspace).head,
                       store.id_cursor(zd::IdKind::workspace).tail});
  add_workspace("x", "tcp://127.0.0.1:3003");
  EXPECT_EQ(workspace_id("x"), 1u);
}

TEST_F(ControlIds, RefusesADomainWhenEveryIdIsTaken) {
  add_domain("a", 1);
  control.remove_domain("a");
  store.set_id_cursor(zd::IdKind::domain, {zd::kMaxDomains + 1, 0, 0}); // none freed
  EXPECT_REFUSAL(control.add_domain("one-more", {shop_v4}), Errc::refused,
                 "too many domains (at most 131072)");
}

} // namespace
