// report.hpp: `zdctl status --json` is a contract for scripts; the exact
// field names and null-for-none are checked here on a hand-built Status.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <set>
#include <sstream>
#include <vector>

#include "parse.hpp"
#include "report.hpp"

using zd::AllowPrefix;
using zd::parse_endpoint;

namespace {

std::set<std::string> keys_of(const nlohmann::json &object) {
  std::set<std::string> keys;
  for (const auto &item : object.items())
    keys.insert(item.key());
  return keys;
}

// Whitespace-separated cells of the table line starting with `first`.
std::vector<std::string> row(const std::string &table, const std::string &first) {
  std::istringstream lines(table);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(first + " ", 0) != 0)
      continue;
    std::istringstream words(line);
    std::vector<std::string> cells;
    for (std::string word; words >> word;)
      cells.push_back(word);
    return cells;
  }
  return {};
}

// A socket as status shows it; serves 0 means the socket's own family.
zd::SocketStatus socket(const zd::Endpoint &bound, uint64_t cookie, bool alive,
                        uint8_t serves = 0) {
  return {{bound, serves ? serves : bound.family, cookie}, alive, std::nullopt};
}

zd::Status sample() {
  zd::Status status;
  zd::DomainStatus shop;
  shop.name = "shop";
  shop.id = 1;
  shop.bindings = {parse_endpoint("tcp://10.99.0.1:80", AllowPrefix::yes),
                   parse_endpoint("tcp://[fd00::/64]:80", AllowPrefix::yes)};
  shop.active = "green";
  shop.previous = "blue";
  shop.counters = {10, 7, 2, 1};
  shop.check = zd::Check{zd::Check::Kind::http, "/healthz", 1500, 3};
  shop.canary = "yellow";
  shop.canary_weight = 10;
  zd::DomainStatus idle;
  idle.name = "idle";
  idle.id = 2;
  idle.bindings = {parse_endpoint("tcp://10.99.1.0/24:443", AllowPrefix::yes)};
  status.domains = {shop, idle};

  zd::WorkspaceStatus blue;
  blue.name = "blue";
  blue.id = 1;
  blue.pid = 4242;
  blue.sockets = {socket(parse_endpoint("tcp://127.0.0.1:3001", AllowPrefix::no), 11, true),
                  socket(parse_endpoint("tcp://[::1]:3001", AllowPrefix::no), 12, false)};
  blue.counters = {3, 1, 2, 0};
  blue.connections = {{"shop", 3}}; // still held since the switch to green
  zd::WorkspaceStatus green;
  green.name = "green";
  green.id = 2;
  green.pid = 0; // registered with --fd
  green.connections = {{"shop", 0}};
  status.workspaces = {blue, green};
  return status;
}

TEST(ReportJson, TopLevel) {
  nlohmann::json json = zd::to_json(sample());
  EXPECT_EQ(keys_of(json), (std::set<std::string>{"domains", "workspaces"}));
  ASSERT_TRUE(json["domains"].is_array());
  ASSERT_TRUE(json["workspaces"].is_array());
  EXPECT_EQ(json["domains"].size(), 2u);
  EXPECT_EQ(json["workspaces"].size(), 2u);
}

TEST(ReportJson, Domains) {
  nlohmann::json json = zd::to_json(sample());
  const auto &shop = json["domains"][0];
  EXPECT_EQ(keys_of(shop), (std::set<std::string>{"name", "bindings", "active", "previous",
                                                  "canary", "check", "prefer_local", "counters"}));
  EXPECT_EQ(shop["canary"], nlohmann::json({{"workspace", "yellow"},
                                            {"weight", 10},
                                            {"promote_after_ms", nullptr},
                                            {"revert_on_failure", true},
                                            {"since", nullptr}}));
  EXPECT_EQ(shop["check"],
            nlohmann::json(
                {{"kind", "http"}, {"path", "/healthz"}, {"timeout_ms", 1500}, {"retries", 3}}));
  EXPECT_EQ(shop["name"], "shop");
  EXPECT_EQ(shop["bindings"], nlohmann::json({"tcp://10.99.0.1:80", "tcp://[fd00::/64]:80"}));
  EXPECT_EQ(shop["active"], "green");
  EXPECT_EQ(shop["previous"], "blue");
  EXPECT_EQ(keys_of(shop["counters"]),
            (std::set<std::string>{"lookups", "steered", "fallbacks", "drops"}));
  EXPECT_EQ(shop["counters"]["lookups"], 10);
  EXPECT_EQ(shop["counters"]["steered"], 7);
  EXPECT_EQ(shop["counters"]["fallbacks"], 2);
  EXPECT_EQ(shop["counters"]["drops"], 1);

  const auto &idle = json["domains"][1];
  EXPECT_TRUE(idle["active"].is_null()) << "no workspace is null, not \"\"";
  EXPECT_TRUE(idle["previous"].is_null());
  EXPECT_TRUE(idle["check"].is_null()) << "no check is null";
  EXPECT_TRUE(idle["canary"].is_null()) << "no canary is null";
  EXPECT_EQ(idle["bindings"], nlohmann::json({"tcp://10.99.1.0/24:443"}));
  EXPECT_EQ(idle["counters"]["lookups"], 0);
}

TEST(ReportJson, Workspaces) {
  nlohmann::json json = zd::to_json(sample());
  const auto &blue = json["workspaces"][0];
  EXPECT_EQ(keys_of(blue),
            (std::set<std::string>{"name", "pid", "plane", "netns", "interface", "sockets",
                                   "counters", "connections", "health", "instances"}));
  EXPECT_TRUE(blue["health"].is_null()) << "no check, no health";
  EXPECT_EQ(blue["name"], "blue");
  EXPECT_EQ(blue["plane"], "socket");
  EXPECT_TRUE(blue["netns"].is_null()) << "a workspace of this namespace names none";
  EXPECT_TRUE(blue["interface"].is_null());
  EXPECT_EQ(blue["pid"], 4242);
  ASSERT_EQ(blue["sockets"].size(), 2u);
  const auto &v4 = blue["sockets"][0];
  EXPECT_EQ(keys_of(v4), (std::set<std::string>{"protocol", "family", "dual_stack", "address",
                                                "port", "endpoint", "alive", "accept_queue"}));
  EXPECT_EQ(v4["protocol"], "tcp");
  EXPECT_EQ(v4["family"], "ipv4");
  EXPECT_EQ(v4["address"], "127.0.0.1");
  EXPECT_EQ(v4["port"], 3001);
  EXPECT_EQ(v4["endpoint"], "tcp://127.0.0.1:3001");
  EXPECT_EQ(v4["alive"], true);
  EXPECT_EQ(v4["dual_stack"], false);
  const auto &v6 = blue["sockets"][1];
  EXPECT_EQ(v6["family"], "ipv6");
  EXPECT_EQ(v6["address"], "::1");
  EXPECT_EQ(v6["endpoint"], "tcp://[::1]:3001");
  EXPECT_EQ(v6["alive"], false);
  EXPECT_EQ(blue["counters"]["steered"], 1);
  EXPECT_EQ(blue["connections"], nlohmann::json({{"shop", 3}}));

  const auto &green = json["workspaces"][1];
  EXPECT_TRUE(green["pid"].is_null()) << "--fd workspaces have no pid";
  EXPECT_TRUE(green["sockets"].is_array());
  EXPECT_TRUE(green["sockets"].empty());
  EXPECT_EQ(green["connections"], nlohmann::json({{"shop", 0}}));
  EXPECT_TRUE(
      zd::to_json(zd::Status{{}, {zd::WorkspaceStatus{}}, {}})["workspaces"][0]["connections"]
          .is_object())
      << "no domain is {}, not null";
}

TEST(ReportJson, EmptyStatus) {
  nlohmann::json json = zd::to_json(zd::Status{});
  EXPECT_EQ(json.dump(), R"({"domains":[],"workspaces":[]})");
}

TEST(ReportTable, ShowsEverything) {
  std::string table = zd::to_table(sample());
  for (const char *part :
       {"DOMAIN", "ACTIVE", "PREVIOUS", "WORKSPACE", "shop", "yellow:10%", "blue", "idle", "4242",
        "tcp://10.99.0.1:80, tcp://[fd00::/64]:80", "tcp://10.99.1.0/24:443",
        "tcp://127.0.0.1:3001 (alive)", "tcp://[::1]:3001 (DEAD)"})
    EXPECT_NE(table.find(part), std::string::npos) << "missing '" << part << "' in\n" << table;
  // idle has neither active nor previous; green has no pid.
  EXPECT_EQ(row(table, "idle"), (std::vector<std::string>{"idle", "-", "-", "-", "0", "0", "0", "-",
                                                          "tcp://10.99.1.0/24:443"}));
  EXPECT_NE(table.find("  GET /healthz  "), std::string::npos) << "shop's check\n" << table;
  EXPECT_EQ(row(table, "green"),
            (std::vector<std::string>{"green", "-", "socket", "-", "0", "shop", "0"}));
  // The workspace steered column counts fallbacks too: blue steered 1 + 2.
  EXPECT_EQ(row(table, "blue").at(4), "3");
  EXPECT_EQ(row(table, "shop").at(3), "yellow:10%");
  EXPECT_EQ(row(table, "shop").at(4), "7");
  // Connections per domain: blue still holds 3 of shop.
  EXPECT_NE(table.find("CONNECTIONS"), std::string::npos) << table;
  EXPECT_EQ(row(table, "blue").at(5), "shop");
  EXPECT_EQ(row(table, "blue").at(6), "3");
}

TEST(ReportTable, Empty) {
  EXPECT_EQ(zd::to_table(zd::Status{}), "no domains\n\nno workspaces\n");
}

} // namespace

// One dual-stack [::] socket registered for IPv4 (and IPv6): the family is
// the one it serves, the endpoint the one it is bound to.
TEST(Report, DualStackSocket) {
  zd::Status status;
  zd::WorkspaceStatus dual;
  dual.name = "dual";
  const auto any6 = parse_endpoint("tcp://[::]:3005", AllowPrefix::no);
  dual.sockets = {socket(any6, 21, true, AF_INET), socket(any6, 21, true)};
  status.workspaces = {dual};

  const auto json = zd::to_json(status)["workspaces"][0]["sockets"];
  EXPECT_EQ(json[0]["family"], "ipv4");
  EXPECT_EQ(json[0]["dual_stack"], true);
  EXPECT_EQ(json[0]["endpoint"], "tcp://[::]:3005");
  EXPECT_EQ(json[1]["family"], "ipv6");
  EXPECT_EQ(json[1]["dual_stack"], false);
  EXPECT_NE(zd::to_table(status).find("tcp://[::]:3005 for ipv4 (alive), tcp://[::]:3005 (alive)"),
            std::string::npos)
      << zd::to_table(status);
}

namespace {

// A live socket whose app stopped accepting: the table says so loudly, the
// JSON carries the numbers; a queue with room reads as before.
TEST(Report, FullAcceptQueue) {
  zd::Status status;
  zd::WorkspaceStatus stuck;
  stuck.name = "stuck";
  const auto bound = zd::parse_endpoint("tcp://127.0.0.1:3009", zd::AllowPrefix::no);
  stuck.sockets = {{{bound, AF_INET, 31}, true, zd::AcceptQueue{129, 128}},
                   {{bound, AF_INET6, 32}, true, zd::AcceptQueue{3, 128}}};
  status.workspaces = {stuck};

  const auto json = zd::to_json(status)["workspaces"][0]["sockets"];
  EXPECT_EQ(json[0]["accept_queue"],
            (nlohmann::json{{"waiting", 129}, {"backlog", 128}, {"full", true}}));
  EXPECT_EQ(json[1]["accept_queue"]["full"], false);
  const std::string table = zd::to_table(status);
  EXPECT_NE(table.find("(alive, ACCEPT QUEUE FULL 129/128)"), std::string::npos) << table;
  EXPECT_EQ(table.find("FULL 3/128"), std::string::npos) << table;
}

} // namespace

namespace {

// The XDP plane appears in status only where it steers.
TEST(Report, XdpPlane) {
  zd::Status status;
  EXPECT_FALSE(zd::to_json(status).contains("xdp"));
  status.xdp.interfaces = {{"eth0", "native"}};
  status.xdp.flows = 12;
  status.xdp.flows_added = 15;
  status.xdp.flow_capacity = 262144;
  status.xdp.steered = 10;
  status.xdp.flow_misses = 1;
  const auto json = zd::to_json(status)["xdp"];
  EXPECT_EQ(json["interfaces"], (nlohmann::json::array({{{"name", "eth0"}, {"mode", "native"}}})));
  EXPECT_EQ(
      json["flows"],
      (nlohmann::json{{"entries", 12}, {"capacity", 262144}, {"added", 15}, {"evictions", 3}}))
      << "evictions are the flows added that the table no longer holds";
  EXPECT_EQ(json["counters"]["steered"], 10);
  EXPECT_EQ(json["counters"]["flow_misses"], 1);
  EXPECT_NE(zd::to_table(status).find("XDP on eth0 (native); flows 12/262144 (3 evicted)"),
            std::string::npos)
      << zd::to_table(status);
}

// A container workspace names its plane, its veth and its namespace.
TEST(Report, ContainerWorkspace) {
  zd::Status status;
  zd::WorkspaceStatus red;
  red.name = "red";
  red.pid = 77;
  red.placement = zd::Placement::other_netns;
  red.container = zd::ContainerStatus{"veth-red", 4026532999u};
  status.workspaces.push_back(red);
  const auto json = zd::to_json(status)["workspaces"][0];
  EXPECT_EQ(json["plane"], "xdp");
  EXPECT_EQ(json["interface"], "veth-red");
  EXPECT_EQ(json["netns"], 4026532999u);
  EXPECT_NE(zd::to_table(status).find("xdp via veth-red, netns 4026532999"), std::string::npos)
      << zd::to_table(status);
  red.container = zd::ContainerStatus{"", 0};
  status.workspaces = {red};
  EXPECT_TRUE(zd::to_json(status)["workspaces"][0]["netns"].is_null());
  EXPECT_NE(zd::to_table(status).find("NETNS GONE"), std::string::npos) << zd::to_table(status);
}

} // namespace
