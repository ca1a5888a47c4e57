// State lives in bpffs, not in a zdctl process: separate invocations see
// and change the same state (issue "Done when" 3d).
#include <bpf/bpf.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>

#include <cstring>
#include <unistd.h>

#include "harness.hpp"

namespace zdtest {
namespace {

using json = nlohmann::json;

class State : public NetnsTest {};

TEST_F(State, AttachIsIdempotent) {
  Result first = zdctl({"attach"});
  ASSERT_EQ(first.code, 0) << first.err;
  EXPECT_NE(first.out.find("attached"), std::string::npos);
  Result second = zdctl({"attach"});
  EXPECT_EQ(second.code, 0) << second.err;
  EXPECT_NE(second.out.find("already attached"), std::string::npos) << second.out;
  EXPECT_EQ(second.err, "");
  json again = json::parse(zdctl_ok({"--json", "attach"}));
  EXPECT_EQ(again["changed"], false);
}

TEST_F(State, SeparateInvocationsShareTheState) {
  attach_with_domain();
  json empty = json::parse(status_json());
  ASSERT_EQ(empty["domains"].size(), 1u);
  EXPECT_EQ(empty["domains"][0]["active"], nullptr);
  EXPECT_EQ(empty["workspaces"].size(), 0u);

  add_workspace("blue", 3001);
  add_workspace("green", 3002);
  json two = json::parse(status_json());
  ASSERT_EQ(two["workspaces"].size(), 2u);
  EXPECT_EQ(two["workspaces"][0]["name"], "blue");
  EXPECT_EQ(two["workspaces"][0]["pid"], echoes()[0].pid());
  EXPECT_EQ(two["workspaces"][1]["name"], "green");

  zdctl_ok({"switch", "shop", "blue"});
  zdctl_ok({"switch", "shop", "green"});
  json switched = json::parse(status_json());
  EXPECT_EQ(switched["domains"][0]["active"], "green");
  EXPECT_EQ(switched["domains"][0]["previous"], "blue");
  EXPECT_EQ(switched["domains"][0]["bindings"],
            json::array({"tcp://10.99.0.1:80", "tcp://[fd00:99::1]:80"}));

  // Counters written by the kernel are read back by a later invocation.
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(greet(kV4), "green");
  json counted = json::parse(status_json());
  EXPECT_EQ(counted["domains"][0]["counters"]["steered"], 5);
  EXPECT_EQ(counted["workspaces"][1]["counters"]["steered"], 5);

  zdctl_ok({"domain", "rm", "shop"});
  EXPECT_EQ(json::parse(status_json())["domains"].size(), 0u);
}

TEST_F(State, DetachRemovesTheStateAndAttachStartsFresh) {
  attach_with_domain();
  add_workspace("blue", 3001);
  zdctl_ok({"switch", "shop", "blue"});
  zdctl_ok({"detach"});
  Result status = zdctl({"status"});
  EXPECT_NE(status.code, 0);
  EXPECT_NE(status.err.find("not attached"), std::string::npos) << status.err;

  attach_with_domain();
  json fresh = json::parse(status_json());
  EXPECT_EQ(fresh["domains"][0]["active"], nullptr);
  EXPECT_EQ(fresh["workspaces"].size(), 0u);
}

TEST_F(State, CommandsBeforeAttachSayNotAttached) {
  for (const auto &args : std::vector<std::vector<std::string>>{
           {"status"},
           {"status", "--json"},
           {"domain", "add", "shop", "--listen", "tcp://10.99.0.1:80"},
           {"domain", "rm", "shop"},
           {"workspace", "rm", "blue"},
           {"switch", "shop", "blue"},
           {"revert", "shop"}}) {
    Result r = zdctl(args);
    EXPECT_EQ(r.code, 1) << args[0];
    EXPECT_EQ(r.err.rfind("zdctl: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find("not attached"), std::string::npos) << args[0] << ": " << r.err;
    EXPECT_EQ(r.out, "") << args[0];
  }
  // Like attach on an attached namespace, detach on a detached one is a
  // no-op that says so, so that teardown scripts can run it unconditionally.
  Result r = zdctl({"detach"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("not attached"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");
  // Nothing was created by any of these commands.
  EXPECT_EQ(access(state_dir().c_str(), F_OK), -1);
}

TEST_F(State, JsonAfterTheCommand) {
  zdctl_ok({"attach"});
  Result before = zdctl({"--json", "status"});
  Result after = zdctl({"status", "--json"});
  ASSERT_EQ(before.code, 0) << before.err;
  EXPECT_EQ(before.out, after.out);
  Result detach = zdctl({"detach", "--json"});
  ASSERT_EQ(detach.code, 0) << detach.err;
  EXPECT_EQ(nlohmann::json::parse(detach.out).at("changed"), true);
  EXPECT_EQ(nlohmann::json::parse(zdctl({"--json", "detach"}).out).at("changed"), false);
}

// The id of the program a pinned link (or program pin) refers to.
uint32_t pinned_program_id(const std::string &path, bool is_link) {
  Fd fd(bpf_obj_get(path.c_str()));
  EXPECT_TRUE(fd) << path << ": " << std::strerror(errno);
  if (is_link) {
    bpf_link_info info{};
    uint32_t len = sizeof(info);
    EXPECT_EQ(bpf_obj_get_info_by_fd(fd.get(), &info, &len), 0);
    return info.prog_id;
  }
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  EXPECT_EQ(bpf_obj_get_info_by_fd(fd.get(), &info, &len), 0);
  return info.id;
}

TEST_F(State, UpgradeSwapsTheProgramAndKeepsEverything) {
  attach_blue_green();
  zdctl_ok({"switch", "shop", "blue"});
  Conn before;
  ASSERT_EQ(connect_and_greet(kV4, kPort, before), ConnectError::none);
  ASSERT_EQ(before.greeting, "blue");
  const uint32_t old_id = pinned_program_id(state_dir() + "/link", true);

  // Same zdctl, same program: nothing to do.
  EXPECT_NE(zdctl_ok({"upgrade"}).find("nothing changed"), std::string::npos);
  EXPECT_EQ(pinned_program_id(state_dir() + "/link", true), old_id);

  const std::string status = status_json();
  EXPECT_NE(zdctl_ok({"upgrade", "--force"}).find("upgraded"), std::string::npos);
  const uint32_t new_id = pinned_program_id(state_dir() + "/link", true);
  EXPECT_NE(new_id, old_id) << "the link still runs the old program";
  EXPECT_EQ(pinned_program_id(state_dir() + "/program", false), new_id);
  EXPECT_EQ(status_json(), status) << "domains, routes, sockets or counters changed";

  // The new program steers with the old maps, and nothing established moved.
  EXPECT_EQ(exchange(before, "ping", 9), "blue:ping");
  EXPECT_EQ(greet(kV4), "blue");
  zdctl_ok({"switch", "shop", "green"});
  EXPECT_EQ(greet(kV4), "green");
  EXPECT_EQ(greet(kV6), "green");
  EXPECT_EQ(exchange(before, "ping", 9), "blue:ping");
}

} // namespace
} // namespace zdtest

namespace zdtest {
namespace {

// `status DOMAIN` shows that domain and the workspaces its route names,
// exactly as the full status shows them, and nothing else.
TEST_F(State, StatusOfOneDomainShowsItAndTheWorkspacesItNames) {
  attach_blue_green();
  zdctl_ok({"domain", "add", "cart", "--listen", "tcp://10.99.0.2:80"});
  zdctl_ok({"switch", "cart", "green"});
  zdctl_ok({"switch", "shop", "blue"});
  zdctl_ok({"switch", "shop", "green"});
  Conn held; // a connection green holds for shop
  ASSERT_EQ(connect_and_greet(kV4, kPort, held), ConnectError::none);
  ASSERT_EQ(held.greeting, "green");

  const json all = json::parse(status_json());
  auto entry = [&](const char *list, const std::string &name) {
    for (const auto &e : all[list])
      if (e["name"] == name)
        return e;
    return json();
  };
  const json shop = json::parse(zdctl_ok({"--json", "status", "shop"}));
  ASSERT_EQ(shop["domains"].size(), 1u);
  EXPECT_EQ(shop["domains"][0], entry("domains", "shop"));
  // Each workspace as the full status shows it, its connections to this
  // domain alone.
  ASSERT_EQ(shop["workspaces"].size(), 2u);
  json green = entry("workspaces", "green");
  green["connections"].erase("cart");
  EXPECT_EQ(shop["workspaces"][0], entry("workspaces", "blue"));
  EXPECT_EQ(shop["workspaces"][1], green);
  EXPECT_EQ(shop["workspaces"][1]["connections"], json::parse(R"({"shop":1})"));

  const json cart = json::parse(zdctl_ok({"--json", "status", "cart"}));
  ASSERT_EQ(cart["workspaces"].size(), 1u);
  EXPECT_EQ(cart["workspaces"][0]["name"], "green");
  EXPECT_EQ(cart["workspaces"][0]["connections"]["cart"], 0);
  const std::string table = zdctl_ok({"status", "cart"});
  EXPECT_EQ(table.find("shop"), std::string::npos) << table;

  const Result unknown = zdctl({"status", "nosuch"});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_EQ(unknown.err, "zdctl: error: no domain named 'nosuch'\n");
}

// `status --workspace WS` shows that workspace, as the full status does, and
// the domains whose routes name it (active, previous or canary), found
// through the index of routes; the index follows switches and removals.
TEST_F(State, StatusOfOneWorkspaceShowsItAndTheDomainsThatNameIt) {
  attach_blue_green();
  zdctl_ok({"domain", "add", "cart", "--listen", "tcp://10.99.0.2:80"});
  zdctl_ok({"domain", "add", "idle", "--listen", "tcp://10.99.0.3:80"});
  zdctl_ok({"switch", "cart", "green"});
  zdctl_ok({"switch", "shop", "blue"});
  zdctl_ok({"switch", "shop", "green"});

  const json all = json::parse(status_json());
  auto entry = [&](const char *list, const std::string &name) {
    for (const auto &e : all[list])
      if (e["name"] == name)
        return e;
    return json();
  };
  auto names = [](const json &list) {
    std::vector<std::string> out;
    for (const auto &e : list)
      out.push_back(e["name"]);
    return out;
  };
  const json green = json::parse(zdctl_ok({"--json", "status", "--workspace", "green"}));
  ASSERT_EQ(green["workspaces"].size(), 1u);
  EXPECT_EQ(green["workspaces"][0], entry("workspaces", "green"));
  EXPECT_EQ(names(green["domains"]), (std::vector<std::string>{"cart", "shop"}));
  EXPECT_EQ(green["domains"][0], entry("domains", "cart"));
  EXPECT_EQ(green["domains"][1], entry("domains", "shop"));
  const json blue = json::parse(zdctl_ok({"--json", "status", "--workspace", "blue"}));
  EXPECT_EQ(names(blue["domains"]), std::vector<std::string>{"shop"}) << "blue is shop's previous";

  zdctl_ok({"switch", "idle", "blue"});
  zdctl_ok({"domain", "rm", "cart"});
  zdctl_ok({"revert", "shop"}); // shop: blue, previous green
  const std::string table = zdctl_ok({"status", "--workspace", "blue"});
  EXPECT_NE(table.find("idle"), std::string::npos) << table;
  EXPECT_EQ(names(json::parse(zdctl_ok({"--json", "status", "--workspace", "green"}))["domains"]),
            std::vector<std::string>{"shop"});

  const Result unknown = zdctl({"status", "--workspace", "nosuch"});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_EQ(unknown.err, "zdctl: error: no workspace named 'nosuch'\n");
  const Result both = zdctl({"status", "shop", "--workspace", "blue"});
  EXPECT_EQ(both.code, 2) << both.err;
}

} // namespace
} // namespace zdtest

namespace zdtest {
namespace {

// A full status reads many workspaces' counters, checks, verdicts and marks
// in batches; what it shows of each is what a status of one domain (which
// reads them one by one) shows.
TEST_F(State, AFullStatusOfManyWorkspacesShowsWhatOneByOneShows) {
  attach_with_domain();
  for (int i = 0; i < 10; ++i)
    add_workspace("w" + std::to_string(i), 3001 + i);
  zdctl_ok({"workspace", "set", "w4", "--check", "tcp"});
  zdctl_ok({"switch", "shop", "w4"});
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(greet(kV4), "w4");
  const json all = json::parse(status_json());
  ASSERT_EQ(all["workspaces"].size(), 10u);
  const json one = json::parse(zdctl_ok({"--json", "status", "shop"}));
  ASSERT_EQ(one["workspaces"].size(), 1u);
  EXPECT_EQ(all["workspaces"][4], one["workspaces"][0]);
  EXPECT_EQ(all["workspaces"][4]["counters"]["steered"], 3);
  EXPECT_EQ(all["workspaces"][4]["health"]["check"]["kind"], "tcp");
  EXPECT_EQ(all["workspaces"][5]["health"], nullptr);
}

} // namespace
} // namespace zdtest
