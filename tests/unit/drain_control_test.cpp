// Which connections a workspace holds (core/connections.cpp) and the rules
// of a drain (ControlPlane::held, close_held, the connections of status),
// against the fakes: the host's sockets are a hand-built SocketTable.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <functional>
#include <string>
#include <vector>

#include "connections.hpp"
#include "control.hpp"
#include "error.hpp"
#include "fakes.hpp"
#include "parse.hpp"

namespace {

using zd::Connection;
using zd::Errc;
using zd::Force;
using zd_test::FakeDataplane;
using zd_test::FakeStore;

zd::Endpoint at(const std::string &address) {
  return zd::parse_endpoint(address, zd::AllowPrefix::no);
}

// A connection accepted on `local` (a domain's address when steered).
Connection connection(const std::string &local, uint64_t inode, uint64_t cookie) {
  Connection c;
  c.local = at(local);
  c.family = c.local.family;
  c.remote = at(c.local.family == AF_INET ? "tcp://10.0.0.9:40000" : "tcp://[fd00::9]:40000");
  c.inode = inode;
  c.cookie = cookie;
  return c;
}

std::vector<uint64_t> cookies_of(const std::vector<Connection> &connections) {
  std::vector<uint64_t> out;
  for (const auto &c : connections)
    out.push_back(c.cookie);
  return out;
}

zd::Workspace workspace(uint32_t id, std::vector<uint64_t> listener_cookies) {
  zd::Workspace w;
  w.id = id;
  for (uint64_t cookie : listener_cookies)
    w.sockets.push_back({at("tcp://127.0.0.1:3000"), AF_INET, cookie});
  return w;
}

// ---------------------------------------------------------- the attribution

TEST(ConnectionsByWorkspace, FollowsTheProcessesThatHoldEachListener) {
  zd::SocketTable table;
  table.listener_inodes = {{11, 1100}, {22, 2200}}; // blue's listener, green's
  // Blue: a master holding its listener, and a worker holding it and two
  // connections. Green: one process, one connection. A client: its own end.
  table.processes = {
      {10, 1, {1100}}, {11, 10, {501, 502, 1100}}, {20, 1, {601, 2200}}, {30, 1, {700}}};
  table.connections = {
      connection("tcp://10.99.0.1:80", 501, 1), connection("tcp://10.99.0.1:80", 502, 2),
      connection("tcp://10.99.0.1:80", 601, 3), connection("tcp://10.99.0.1:80", 700, 4),
      connection("tcp://10.99.0.1:80", 0, 5)}; // in an accept queue
  const auto by = zd::connections_by_workspace(table, {workspace(1, {11}), workspace(2, {22})});
  ASSERT_EQ(by.size(), 2u);
  EXPECT_EQ(cookies_of(by.at(1)), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(cookies_of(by.at(2)), (std::vector<uint64_t>{3}));
}

TEST(ConnectionsByWorkspace, ADeadListenerLeavesTheWorkspaceWithoutProcesses) {
  zd::SocketTable table;
  table.listener_inodes = {{22, 2200}};
  table.processes = {{10, 1, {501, 1100}}};
  table.connections = {connection("tcp://10.99.0.1:80", 501, 1)};
  EXPECT_TRUE(zd::connections_by_workspace(table, {workspace(1, {11})}).empty());
}

// A graceful shutdown closes the listener first: the registered pid and its
// workers still say whose the connections are.
TEST(ConnectionsByWorkspace, FindsARegisteredPidAndItsWorkersWithoutAListener) {
  zd::SocketTable table;
  table.processes = {{12, 11, {503}}, // a worker's worker, listed before its parent
                     {10, 1, {}},     // the master, registered, holding nothing now
                     {11, 10, {501, 502}},
                     {20, 1, {601}}}; // another app
  table.connections = {
      connection("tcp://10.99.0.1:80", 501, 1), connection("tcp://10.99.0.1:80", 502, 2),
      connection("tcp://10.99.0.1:80", 503, 3), connection("tcp://10.99.0.1:80", 601, 4)};
  zd::Workspace blue = workspace(1, {11});
  blue.pid = 10;
  const auto by = zd::connections_by_workspace(table, {blue});
  ASSERT_EQ(by.size(), 1u);
  EXPECT_EQ(cookies_of(by.at(1)), (std::vector<uint64_t>{1, 2, 3}));
}

TEST(ConnectionsByWorkspace, OneProcessWithTwoWorkspacesListenersCountsForBoth) {
  zd::SocketTable table;
  table.listener_inodes = {{11, 1100}, {22, 2200}};
  table.processes = {{10, 1, {501, 1100, 2200}}};
  table.connections = {connection("tcp://10.99.0.1:80", 501, 1)};
  const auto by = zd::connections_by_workspace(table, {workspace(1, {11}), workspace(2, {22})});
  EXPECT_EQ(by.at(1).size(), 1u);
  EXPECT_EQ(by.at(2).size(), 1u);
}

TEST(ConnectionsTo, KeepsThoseOnTheDomainsAddressesAndPrefixes) {
  zd::Domain shop{"shop",
                  1,
                  {zd::parse_endpoint("tcp://10.99.0.1:80", zd::AllowPrefix::yes),
                   zd::parse_endpoint("tcp://[fd00:99::/64]:443", zd::AllowPrefix::yes)}};
  const std::vector<Connection> all = {
      connection("tcp://10.99.0.1:80", 1, 1),     // yes
      connection("tcp://10.99.0.1:81", 2, 2),     // another port
      connection("tcp://10.99.0.2:80", 3, 3),     // another address
      connection("tcp://[fd00:99::7]:443", 4, 4), // in the prefix
      connection("tcp://[fd00:98::7]:443", 5, 5), // outside it
      connection("tcp://127.0.0.1:3001", 6, 6)};  // the workspace's own port, not the domain
  EXPECT_EQ(cookies_of(zd::connections_to(all, shop)), (std::vector<uint64_t>{1, 4}));
}

// ------------------------------------------------------------- the control plane

// Shop on 10.99.0.1:80 moved from blue to green; blue's process still holds
// two connections of shop and one of blog, green's one of shop.
class Drain : public ::testing::Test {
protected:
  void SetUp() override {
    control.add_domain("shop", {at("tcp://10.99.0.1:80")});
    control.add_domain("blog", {at("tcp://10.99.0.2:80")});
    control.add_domain("idle", {at("tcp://10.99.0.3:80")});
    add("blue", 11);
    add("green", 22);
    control.switch_to("shop", "blue", Force::no);
    control.switch_to("shop", "green", Force::no);
    control.switch_to("blog", "blue", Force::no);
    plane.sockets.listener_inodes = {{11, 1100}, {22, 2200}};
    plane.sockets.processes = {{10, 1, {501, 502, 503, 1100}}, {20, 1, {601, 2200}}};
    plane.sockets.connections = {
        connection("tcp://10.99.0.1:80", 501, 1), connection("tcp://10.99.0.1:80", 502, 2),
        connection("tcp://10.99.0.2:80", 503, 3), connection("tcp://10.99.0.1:80", 601, 4)};
  }

  void add(const std::string &name, uint64_t cookie) {
    zd::SocketInfo info;
    info.bound = at("tcp://127.0.0.1:3000");
    info.listening = true;
    info.cookie = cookie;
    info.netns_cookie = zd_test::kThisNetns;
    std::vector<zd::TakenSocket> taken;
    taken.push_back({zd::Fd(), info, 0});
    control.add_workspace(name, 0, taken);
  }

  std::string refusal(const std::function<void()> &fn, Errc kind) {
    try {
      fn();
    } catch (const zd::Error &e) {
      EXPECT_EQ(zd::errc_name(e.kind()), zd::errc_name(kind)) << e.what();
      return e.what();
    }
    ADD_FAILURE() << "did not throw";
    return "";
  }

  FakeStore store;
  FakeDataplane plane;
  zd::ControlPlane control{store, plane};
};

TEST_F(Drain, StatusShowsTheConnectionsEachWorkspaceHoldsPerDomain) {
  const zd::Status status = control.status();
  ASSERT_EQ(status.workspaces.size(), 2u);
  const auto &blue = status.workspaces[0], &green = status.workspaces[1];
  // Blue: previous for shop, active for blog. Idle has nothing to do with either.
  EXPECT_EQ(blue.connections, (std::map<std::string, uint64_t>{{"blog", 1}, {"shop", 2}}));
  EXPECT_EQ(green.connections, (std::map<std::string, uint64_t>{{"shop", 1}}));

  plane.sockets.connections.clear();
  EXPECT_EQ(control.status().workspaces[0].connections,
            (std::map<std::string, uint64_t>{{"blog", 0}, {"shop", 0}}))
      << "a domain it receives or received last is shown at 0";
}

TEST_F(Drain, HeldDefaultsToTheDomainsPreviousWorkspace) {
  const zd::Held held = control.held("shop");
  EXPECT_EQ(held.domain, "shop");
  EXPECT_EQ(held.workspace, "blue");
  EXPECT_EQ(cookies_of(held.connections), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(control.held("shop", "blue").connections.size(), 2u);
}

TEST_F(Drain, HeldRefusesTheActiveWorkspaceAndADomainWithoutPrevious) {
  EXPECT_NE(refusal([&] { control.held("shop", "green"); }, Errc::refused)
                .find("'green' is active for domain 'shop'"),
            std::string::npos);
  EXPECT_NE(refusal([&] { control.held("blog"); }, Errc::refused).find("no previous workspace"),
            std::string::npos);
  refusal([&] { control.held("nosuch"); }, Errc::not_found);
  refusal([&] { control.held("shop", "nosuch"); }, Errc::not_found);
  // A workspace the domain never went to may be named: it holds none of it.
  EXPECT_TRUE(control.held("idle", "green").connections.empty());
}

TEST_F(Drain, CloseHeldClosesOnlyThoseAndWritesNoRecord) {
  const std::string before = store.dump() + plane.dump();
  EXPECT_EQ(control.close_held("shop"), 2u);
  EXPECT_EQ(plane.closed_connections, 2u);
  EXPECT_TRUE(control.held("shop").connections.empty());
  EXPECT_EQ(cookies_of(plane.sockets.connections), (std::vector<uint64_t>{3, 4}))
      << "blue's blog connection and green's stay";
  EXPECT_EQ(store.dump() + plane.dump(), before);
  EXPECT_EQ(control.close_held("shop"), 0u) << "nothing is left to close";
}

TEST_F(Drain, ContainerWorkspacesCountTheirNamespacesConnections) {
  plane.xdp_attached = true;
  zd::SocketInfo info;
  info.bound = at("tcp://0.0.0.0:8080");
  info.listening = true;
  info.cookie = 33;
  info.netns_cookie = zd_test::kThisNetns + 1;
  std::vector<zd::TakenSocket> taken;
  taken.push_back({zd::Fd(), info, 0});
  control.add_workspace("red", 4242, taken);
  const uint32_t red = store.workspace("red")->id;
  // In its namespace every connection is its own: no process is looked at.
  plane.netns_sockets[red] = {connection("tcp://10.99.0.1:80", 0, 7),
                              connection("tcp://10.99.0.1:80", 0, 8),
                              connection("tcp://127.0.0.1:9000", 0, 9)};
  control.switch_to("shop", "red", Force::no);
  control.switch_to("shop", "green", Force::no);

  const zd::Status status = control.status();
  ASSERT_EQ(status.workspaces.size(), 3u);
  EXPECT_EQ(status.workspaces[2].name, "red");
  EXPECT_EQ(status.workspaces[2].connections, (std::map<std::string, uint64_t>{{"shop", 2}}));
  EXPECT_EQ(control.held("shop").workspace, "red");
  EXPECT_EQ(control.close_held("shop"), 2u);
  EXPECT_EQ(cookies_of(plane.netns_sockets[red]), (std::vector<uint64_t>{9}));
}

} // namespace
