// New connections follow the active workspace; established ones stay where
// they were accepted (issue "Done when" 3a, 3b, 3c, 3f, plus --fd, prefixes
// and removal).
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <unistd.h>

#include <map>

#include "harness.hpp"

namespace zdtest {
namespace {

using json = nlohmann::json;

class Steering : public BlueGreenTest {
protected:
  // Greetings of n fresh connections to host, counted by workspace.
  std::map<std::string, int> tally(const std::string &host, int n = 100, int port = kPort) {
    std::map<std::string, int> seen;
    for (int i = 0; i < n; ++i)
      ++seen[greet(host, port)];
    return seen;
  }

  json domain_status(const std::string &name = "shop") {
    json status = json::parse(status_json());
    for (const auto &d : status["domains"])
      if (d["name"] == name)
        return d;
    ADD_FAILURE() << "no domain " << name << " in status";
    return {};
  }
};

using Tally = std::map<std::string, int>;

TEST_F(Steering, AllNewConnectionsFollowTheActiveWorkspace) {
  zdctl_ok({"switch", "shop", "blue"});
  EXPECT_EQ(tally(kV4), (Tally{{"blue", 100}}));
  EXPECT_EQ(tally(kV6), (Tally{{"blue", 100}}));

  zdctl_ok({"switch", "shop", "green"});
  EXPECT_EQ(tally(kV4), (Tally{{"green", 100}}));
  EXPECT_EQ(tally(kV6), (Tally{{"green", 100}}));
}

TEST_F(Steering, EstablishedConnectionsStayOnTheirWorkspace) {
  zdctl_ok({"switch", "shop", "blue"});
  Conn v4, v6;
  ASSERT_EQ(connect_and_greet(kV4, kPort, v4), ConnectError::none);
  ASSERT_EQ(connect_and_greet(kV6, kPort, v6), ConnectError::none);
  ASSERT_EQ(v4.greeting, "blue");
  ASSERT_EQ(v6.greeting, "blue");

  auto still_blue = [&](const char *when) {
    EXPECT_EQ(exchange(v4, "ping", 9), "blue:ping") << "v4 " << when;
    EXPECT_EQ(exchange(v6, "ping", 9), "blue:ping") << "v6 " << when;
  };
  still_blue("before the switch");
  zdctl_ok({"switch", "shop", "green"});
  EXPECT_EQ(greet(kV4), "green");
  still_blue("after switch");
  zdctl_ok({"revert", "shop"});
  EXPECT_EQ(greet(kV4), "blue");
  still_blue("after revert");
  zdctl_ok({"switch", "shop", "green"});
  zdctl_ok({"detach"});
  still_blue("after detach");
  // With the program gone, nothing listens on the domain address.
  EXPECT_EQ(greet(kV4).rfind("ERR:connect", 0), 0u);
}

TEST_F(Steering, RevertUndoesTheLastSwitchAndASecondRevertUndoesTheFirst) {
  zdctl_ok({"switch", "shop", "blue"});
  zdctl_ok({"switch", "shop", "green"});
  ASSERT_EQ(greet(kV4), "green");

  json r = json::parse(zdctl_ok({"--json", "revert", "shop"}));
  EXPECT_EQ(r["from"], "green");
  EXPECT_EQ(r["to"], "blue");
  EXPECT_EQ(r["changed"], true);
  EXPECT_EQ(greet(kV4), "blue");
  EXPECT_EQ(greet(kV6), "blue");
  EXPECT_EQ(domain_status()["active"], "blue");
  EXPECT_EQ(domain_status()["previous"], "green");

  zdctl_ok({"revert", "shop"});
  EXPECT_EQ(greet(kV4), "green");
  EXPECT_EQ(greet(kV6), "green");
  EXPECT_EQ(domain_status()["active"], "green");
  EXPECT_EQ(domain_status()["previous"], "blue");
}

TEST_F(Steering, SwitchToTheActiveWorkspaceChangesNothing) {
  zdctl_ok({"switch", "shop", "blue"});
  json r = json::parse(zdctl_ok({"--json", "switch", "shop", "blue"}));
  EXPECT_EQ(r["changed"], false);
  EXPECT_EQ(domain_status()["previous"], nullptr);
}

TEST_F(Steering, DeadActiveWorkspaceFallsBackToThePreviousOne) {
  zdctl_ok({"switch", "shop", "blue"});
  zdctl_ok({"switch", "shop", "green"});
  ASSERT_EQ(greet(kV4), "green");

  echoes()[1].child.kill(); // green: its sockets close, the kernel drops them from the map
  EXPECT_EQ(tally(kV4, 20), (Tally{{"blue", 20}}));
  EXPECT_EQ(tally(kV6, 20), (Tally{{"blue", 20}}));

  json status = json::parse(status_json());
  for (const auto &w : status["workspaces"])
    for (const auto &s : w["sockets"])
      EXPECT_EQ(s["alive"], w["name"] == "blue") << w["name"] << " " << s["endpoint"];
  json shop = domain_status();
  EXPECT_EQ(shop["active"], "green");
  EXPECT_GE(shop["counters"]["fallbacks"].get<uint64_t>(), 40u);
}

// Go, Node.js and Java listen on one dual-stack [::] socket by default: asked
// for its IPv4 address, zdctl takes that socket for IPv4 connections too.
TEST_F(Steering, DualStackSocketServesBothFamilies) {
  echoes().push_back(start_echo("dual", {"--dual-stack", "[::]:3005"}));
  const std::string pid = std::to_string(echoes().back().pid());
  zdctl_ok({"workspace", "add", "dual", "--pid", pid, "--socket", "tcp://127.0.0.1:3005",
            "--socket", "tcp://[::1]:3005"});
  auto dual_status = [&] {
    const json status = json::parse(status_json());
    for (const auto &w : status["workspaces"])
      if (w["name"] == "dual")
        return w;
    return json();
  };
  const json dual = dual_status();
  ASSERT_EQ(dual["sockets"].size(), 2u);
  EXPECT_EQ(dual["sockets"][0]["family"], "ipv4");
  EXPECT_EQ(dual["sockets"][0]["dual_stack"], true);
  EXPECT_EQ(dual["sockets"][1]["family"], "ipv6");
  EXPECT_EQ(dual["sockets"][1]["dual_stack"], false);
  for (const auto &s : dual["sockets"]) {
    EXPECT_EQ(s["endpoint"], "tcp://[::]:3005");
    EXPECT_EQ(s["alive"], true);
  }

  zdctl_ok({"switch", "shop", "blue"});
  zdctl_ok({"switch", "shop", "dual"});
  EXPECT_EQ(tally(kV4, 20), (Tally{{"dual", 20}}));
  EXPECT_EQ(tally(kV6, 20), (Tally{{"dual", 20}}));

  // One socket, two map entries: closing it empties both.
  echoes().back().child.kill();
  EXPECT_EQ(tally(kV4, 10), (Tally{{"blue", 10}}));
  EXPECT_EQ(tally(kV6, 10), (Tally{{"blue", 10}}));
  // Named: a range-for over a temporary's member reads it after its end (ASan).
  const json after = dual_status();
  for (const auto &s : after["sockets"])
    EXPECT_EQ(s["alive"], false);
}

// Node.js's listen(PORT) and `python3 -m http.server --bind ::`: one [::]
// socket with V6ONLY off, asked for as tcp://[::]:PORT alone, serves the
// domain's IPv4 binding as well as its IPv6 one.
TEST_F(Steering, OneDualStackSocketAskedForAsIpv6ServesBothFamilies) {
  echoes().push_back(start_echo("node", {"--dual-stack", "[::]:3006"}));
  const std::string pid = std::to_string(echoes().back().pid());
  const std::string added =
      zdctl_ok({"workspace", "add", "node", "--pid", pid, "--socket", "tcp://[::]:3006"});
  EXPECT_NE(added.find("tcp://[::]:3006 (dual-stack: ipv6 and ipv4)"), std::string::npos) << added;

  json sockets;
  const json status = json::parse(status_json());
  for (const auto &w : status["workspaces"])
    if (w["name"] == "node")
      sockets = w["sockets"];
  ASSERT_EQ(sockets.size(), 2u) << sockets;
  EXPECT_EQ(sockets[0]["family"], "ipv6");
  EXPECT_EQ(sockets[1]["family"], "ipv4");
  for (const auto &s : sockets) {
    EXPECT_EQ(s["endpoint"], "tcp://[::]:3006");
    EXPECT_EQ(s["alive"], true);
  }

  zdctl_ok({"switch", "shop", "node"});
  EXPECT_EQ(tally(kV4, 20), (Tally{{"node", 20}}));
  EXPECT_EQ(tally(kV6, 20), (Tally{{"node", 20}}));
}

TEST_F(Steering, NoLiveWorkspaceRefusesTheConnection) {
  zdctl_ok({"switch", "shop", "blue"});
  echoes()[0].child.kill();
  // No previous workspace to fall back to: refused fast, never another app.
  EXPECT_EQ(greet(kV4).rfind("ERR:connect: Connection refused", 0), 0u) << greet(kV4);
  EXPECT_GE(domain_status()["counters"]["drops"].get<uint64_t>(), 1u);
}

TEST_F(Steering, WorkspaceFromInheritedFds) {
  Fd v4 = listen_tcp("127.0.0.1", 3005);
  Fd v6 = listen_tcp("::1", 3005);
  SpawnOptions inherit;
  inherit.inherit = {{v4.get(), 3}, {v6.get(), 4}};
  zdctl_ok({"workspace", "add", "fdws", "--fd", "3", "--fd", "4"}, inherit);
  zdctl_ok({"switch", "shop", "fdws"});

  // The test owns these listeners: connections land in its accept queue.
  for (auto &[host, listener] : {std::pair{kV4, v4.get()}, std::pair{kV6, v6.get()}}) {
    Conn conn;
    std::string why;
    // No greeting comes from a bare listener: just connect and accept.
    EXPECT_EQ(connect_and_greet(host, kPort, conn, &why, 300ms), ConnectError::timeout) << why;
    Fd accepted(accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    EXPECT_TRUE(accepted) << host << ": the connection did not reach the inherited socket";
  }
  json status = json::parse(status_json());
  ASSERT_EQ(status["workspaces"].size(), 3u);
  for (const auto &w : status["workspaces"])
    if (w["name"] == "fdws") {
      EXPECT_EQ(w["pid"], nullptr); // no process: the sockets were handed over
      EXPECT_EQ(w["sockets"].size(), 2u);
    }
}

TEST_F(Steering, PrefixDomainSteersEveryAddressInIt) {
  ASSERT_EQ(run({"ip", "route", "add", "local", "10.99.1.0/24", "dev", "lo"}).code, 0);
  zdctl_ok({"domain", "add", "fleet", "--listen", "tcp://10.99.1.0/24:80"});
  zdctl_ok({"switch", "fleet", "green"});
  zdctl_ok({"switch", "shop", "blue"});
  EXPECT_EQ(greet("10.99.1.7"), "green");
  EXPECT_EQ(greet("10.99.1.200"), "green");
  EXPECT_EQ(greet(kV4), "blue"); // the exact binding is another domain
  EXPECT_EQ(greet("10.99.1.7", 81).rfind("ERR:connect: Connection refused", 0), 0u);
}

TEST_F(Steering, DomainRmMakesTheAddressRefuseAgain) {
  zdctl_ok({"switch", "shop", "blue"});
  ASSERT_EQ(greet(kV4), "blue");
  zdctl_ok({"domain", "rm", "shop"});
  for (const char *host : {kV4, kV6}) {
    Conn conn;
    std::string why;
    EXPECT_EQ(connect_and_greet(host, kPort, conn, &why), ConnectError::refused) << why;
  }
  // The name and the binding are free again.
  attach_with_domain();
  zdctl_ok({"switch", "shop", "green"});
  EXPECT_EQ(greet(kV4), "green");
}

TEST_F(Steering, WorkspaceRmThenReAdd) {
  zdctl_ok({"switch", "shop", "blue"});
  zdctl_ok({"workspace", "rm", "green"});
  EXPECT_EQ(json::parse(status_json())["workspaces"].size(), 1u);
  const std::string pid = std::to_string(echoes()[1].pid());
  zdctl_ok({"workspace", "add", "green", "--pid", pid, "--socket", "tcp://127.0.0.1:3002",
            "--socket", "tcp://[::1]:3002"});
  zdctl_ok({"switch", "shop", "green"});
  EXPECT_EQ(greet(kV4), "green");
  EXPECT_EQ(greet(kV6), "green");

  // --force removes an active workspace and falls back to the previous one.
  zdctl_ok({"workspace", "rm", "--force", "green"});
  json shop = domain_status();
  EXPECT_EQ(shop["active"], "blue");
  EXPECT_EQ(shop["previous"], nullptr);
  EXPECT_EQ(greet(kV4), "blue");
}

} // namespace
} // namespace zdtest
