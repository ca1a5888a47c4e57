// State lives in bpffs, not in a zdctl process: separate invocations see
// and change the same state (issue "Done when" 3d).
#include <nlohmann/json.hpp>
#include <sys/socket.h>
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

} // namespace
} // namespace zdtest
