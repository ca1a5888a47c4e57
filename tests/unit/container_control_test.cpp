// The control plane's rules for workspaces in a network namespace of their
// own (containers, served by the XDP plane), against the fakes: when such a
// workspace is accepted, and that only the first switch of a domain to it
// prepares its namespace, under an intent, while every later switch and
// revert stays one write.
#include <gtest/gtest.h>

#include <netinet/in.h>

#include "control.hpp"
#include "error.hpp"
#include "fakes.hpp"
#include "parse.hpp"

namespace {

using zd::Errc;
using zd::Force;
using zd_test::FakeDataplane;
using zd_test::FakeStore;

constexpr uint64_t kRedNetns = zd_test::kThisNetns + 1;

class Containers : public ::testing::Test {
protected:
  void SetUp() override {
    control.add_domain("shop", {zd::parse_endpoint("tcp://10.99.0.1:80", zd::AllowPrefix::no)});
    control.add_workspace("blue", 0, one("tcp://127.0.0.1:3001", zd_test::kThisNetns));
  }

  std::vector<zd::TakenSocket> one(const std::string &address, uint64_t netns) {
    zd::SocketInfo info;
    info.bound = zd::parse_endpoint(address, zd::AllowPrefix::no);
    info.listening = true;
    info.cookie = next_cookie_++;
    info.netns_cookie = netns;
    std::vector<zd::TakenSocket> out;
    out.push_back({zd::Fd(), info, 0});
    return out;
  }

  std::string refusal(const std::function<void()> &fn, Errc kind) {
    const std::string before = store.dump() + plane.dump();
    try {
      fn();
    } catch (const zd::Error &e) {
      EXPECT_EQ(zd::errc_name(e.kind()), zd::errc_name(kind)) << e.what();
      EXPECT_EQ(store.dump() + plane.dump(), before) << "a refusal changed the state";
      return e.what();
    }
    ADD_FAILURE() << "did not throw";
    return "";
  }

  uint32_t id(const std::string &workspace) { return store.workspace(workspace)->id; }

  FakeStore store;
  FakeDataplane plane;
  zd::ControlPlane control{store, plane};

private:
  uint64_t next_cookie_ = 5000;
};

TEST_F(Containers, RefusedUntilTheXdpPlaneIsAttached) {
  const std::string message =
      refusal([&] { control.add_workspace("red", 77, one("tcp://0.0.0.0:8080", kRedNetns)); },
              Errc::refused);
  EXPECT_NE(message.find("zdctl attach --xdp"), std::string::npos) << message;
}

TEST_F(Containers, AcceptedWithTheXdpPlane) {
  plane.xdp_attached = true;
  control.add_workspace("red", 77, one("tcp://0.0.0.0:8080", kRedNetns), "veth-red");
  EXPECT_EQ(store.workspace("red")->placement, zd::Placement::other_netns);
  EXPECT_EQ(store.workspace("blue")->placement, zd::Placement::this_netns);
  const auto status = control.status();
  ASSERT_EQ(status.workspaces.size(), 2u);
  EXPECT_FALSE(status.workspaces[0].container) << "blue is of this namespace";
  ASSERT_TRUE(status.workspaces[1].container);
  EXPECT_EQ(status.workspaces[1].container->interface, "veth-red");
}

TEST_F(Containers, OneWorkspaceLivesInOneNamespace) {
  plane.xdp_attached = true;
  auto sockets = one("tcp://0.0.0.0:8080", kRedNetns);
  auto other = one("tcp://[::]:8080", kRedNetns + 1);
  sockets.push_back(std::move(other.front()));
  const std::string message =
      refusal([&] { control.add_workspace("red", 77, sockets); }, Errc::invalid);
  EXPECT_NE(message.find("another network namespace"), std::string::npos) << message;
}

TEST_F(Containers, ViaIsOnlyForAnotherNamespace) {
  plane.xdp_attached = true;
  const std::string message = refusal(
      [&] {
        control.add_workspace("green", 0, one("tcp://127.0.0.1:3002", zd_test::kThisNetns),
                              "veth0");
      },
      Errc::invalid);
  EXPECT_NE(message.find("--via"), std::string::npos) << message;
}

TEST_F(Containers, WhatThePlaneCannotReachIsRefusedBeforeAnyWrite) {
  plane.xdp_attached = true;
  const std::string message = refusal(
      [&] { control.add_workspace("red", 77, one("tcp://0.0.0.0:8080", kRedNetns), "nope0"); },
      Errc::invalid);
  EXPECT_NE(message.find("nope0"), std::string::npos) << message;
}

TEST_F(Containers, OnlyTheFirstSwitchPreparesAndEveryLaterOneIsOneWrite) {
  plane.xdp_attached = true;
  control.add_workspace("red", 77, one("tcp://0.0.0.0:8080", kRedNetns));
  const uint32_t shop = store.domain("shop")->id;
  control.switch_to("shop", "blue", Force::no);

  control.switch_to("shop", "red", Force::no);
  EXPECT_TRUE(plane.is_prepared(shop, id("red")));
  EXPECT_EQ(plane.route(shop), (zd::Route{id("red"), id("blue")}));
  EXPECT_FALSE(store.intent());

  // Back and forth: the namespace stays prepared, so each is one write of
  // the data plane (and history's event, pending then final, and the count).
  for (int i = 0; i < 3; ++i) {
    const size_t writes = plane.writes;
    control.revert("shop", Force::no);
    EXPECT_EQ(plane.writes, writes + 1);
  }
  EXPECT_EQ(plane.route(shop), (zd::Route{id("blue"), id("red")}));
  const size_t writes = plane.writes, records = store.writes;
  control.switch_to("shop", "red", Force::no);
  EXPECT_EQ(plane.writes, writes + 1);
  EXPECT_EQ(store.writes, records + 3);
}

TEST_F(Containers, RemovingTheDomainOrTheWorkspaceUnprepares) {
  plane.xdp_attached = true;
  control.add_workspace("red", 77, one("tcp://0.0.0.0:8080", kRedNetns));
  const uint32_t shop = store.domain("shop")->id, red = id("red");
  control.switch_to("shop", "red", Force::no);
  control.remove_domain("shop");
  EXPECT_FALSE(plane.is_prepared(shop, red));

  control.add_domain("shop", {zd::parse_endpoint("tcp://10.99.0.1:80", zd::AllowPrefix::no)});
  control.switch_to("shop", "red", Force::no);
  const uint32_t again = store.domain("shop")->id;
  EXPECT_TRUE(plane.is_prepared(again, red));
  control.remove_workspace("red", Force::yes);
  EXPECT_FALSE(plane.is_prepared(again, red));
}

TEST_F(Containers, DetachCountsOnlyConnectionsToContainers) {
  plane.xdp_attached = true;
  control.add_workspace("red", 77, one("tcp://0.0.0.0:8080", kRedNetns));
  control.add_workspace("black", 78, one("tcp://0.0.0.0:8080", kRedNetns + 1));
  EXPECT_EQ(control.container_connections(), 0u);
  plane.connections[id("red")] = 3;
  plane.connections[id("black")] = 2;
  plane.connections[id("blue")] = 7; // a host workspace: detach cuts none of its connections
  EXPECT_EQ(control.container_connections(), 5u);
}

TEST_F(Containers, DomainRmCountsOnlyThatDomainsConnections) {
  plane.xdp_attached = true;
  control.add_workspace("red", 77, one("tcp://0.0.0.0:8080", kRedNetns));
  control.add_domain("cart", {zd::parse_endpoint("tcp://10.99.0.2:80", zd::AllowPrefix::no)});
  plane.connections[id("red")] = 3;
  EXPECT_EQ(control.container_connections("cart"), 3u);
  EXPECT_EQ(plane.counted_domains, (std::vector<std::string>{"cart"}));
  EXPECT_EQ(control.container_connections(), 3u);
  EXPECT_EQ(plane.counted_domains, (std::vector<std::string>{"shop", "cart"}));
  EXPECT_EQ(control.container_connections("nope"), 0u) << "no such domain: none of its";
}

} // namespace
