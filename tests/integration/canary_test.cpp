// zdctl canary: a share of a domain's new connections goes to another
// workspace, decided per connection in the data plane, while established
// connections stay where they are; --abort ends it, a switch to the canary
// promotes it, and every refusal changes nothing.
#include <nlohmann/json.hpp>

#include <map>

#include "harness.hpp"

namespace zdtest {
namespace {

using json = nlohmann::json;

class Canary : public BlueGreenTest {
protected:
  // Where n new connections to the domain go, by greeting.
  std::map<std::string, int> spread(int n) {
    std::map<std::string, int> seen;
    for (int i = 0; i < n; ++i)
      ++seen[greet(i % 2 ? kV6 : kV4)];
    return seen;
  }

  json shop() { return json::parse(status_json())["domains"][0]; }

  // A refusal: exit 1, the message, and the route as it was.
  void expect_refused(const std::vector<std::string> &args, const std::string &message) {
    const std::string before = status_json();
    Result r = zdctl(args);
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
    EXPECT_EQ(status_json(), before) << "a refused canary changed something";
  }
};

TEST_F(Canary, TakesTenPercentOfTwoThousandNewConnections) {
  zdctl_ok({"switch", "shop", "blue"});
  Conn established;
  ASSERT_EQ(connect_and_greet(kV4, kPort, established), ConnectError::none);
  ASSERT_EQ(established.greeting, "blue");

  const json said = json::parse(zdctl_ok({"--json", "canary", "shop", "green", "--weight", "10"}));
  EXPECT_EQ(said["changed"], true);
  EXPECT_EQ(said["active"], "blue");
  EXPECT_EQ(said["canary"], "green");
  EXPECT_EQ(said["weight"], 10);
  json canary = shop()["canary"];
  EXPECT_TRUE(canary["since"].is_string()) << canary;
  canary.erase("since");
  EXPECT_EQ(canary, (json{{"workspace", "green"},
                          {"weight", 10},
                          {"promote_after_ms", nullptr},
                          {"revert_on_failure", true}}));
  EXPECT_EQ(shop()["active"], "blue");

  const std::map<std::string, int> seen = spread(2000);
  EXPECT_EQ(seen.size(), 2u) << "only blue and green may answer";
  EXPECT_NEAR(seen.at("green"), 200, 60) << "10% +- 3% of 2,000";
  std::printf("canary at 10%%: green %d of 2000, blue %d\n", seen.at("green"), seen.at("blue"));
  EXPECT_EQ(exchange(established, "ping", 9), "blue:ping") << "an established connection moved";

  const json history = json::parse(zdctl_ok({"--json", "history", "shop"}))["history"];
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[1]["how"], "canary");
  EXPECT_EQ(history[1]["from"], "blue");
  EXPECT_EQ(history[1]["to"], "green");
  EXPECT_EQ(history[1]["weight"], 10);
  EXPECT_NE(zdctl_ok({"status"}).find(" green:10% "), std::string::npos);
  EXPECT_NE(zdctl_ok({"history", "shop"}).find(" canary:10% "), std::string::npos);
  EXPECT_NE(zdctl_ok({"metrics"})
                .find("zd_domain_canary_weight{domain=\"shop\",workspace=\"green\"} "
                      "10\n"),
            std::string::npos);
}

TEST_F(Canary, AbortSendsEveryNewConnectionToTheActiveWorkspace) {
  zdctl_ok({"switch", "shop", "blue"});
  zdctl_ok({"canary", "shop", "green", "--weight", "50"});
  Conn on_green;
  for (int i = 0; i < 200 && on_green.greeting != "green"; ++i)
    ASSERT_EQ(connect_and_greet(kV4, kPort, on_green), ConnectError::none);
  ASSERT_EQ(on_green.greeting, "green") << "no connection reached the canary";

  EXPECT_NE(zdctl_ok({"canary", "shop", "--abort"})
                .find("shop: canary green ended; blue takes every new connection"),
            std::string::npos);
  EXPECT_EQ(spread(100), (std::map<std::string, int>{{"blue", 100}}));
  EXPECT_EQ(exchange(on_green, "ping", 10), "green:ping") << "the canary's connection was cut";
  EXPECT_TRUE(shop()["canary"].is_null());
  const json history = json::parse(zdctl_ok({"--json", "history", "shop"}))["history"];
  EXPECT_EQ(history.back()["how"], "canary-end");
  EXPECT_EQ(history.back()["from"], "green");
  EXPECT_EQ(history.back()["to"], "blue");
}

TEST_F(Canary, SwitchingToTheCanaryPromotesIt) {
  zdctl_ok({"switch", "shop", "blue"});
  zdctl_ok({"canary", "shop", "green", "--weight", "20"});
  zdctl_ok({"switch", "shop", "green"});
  EXPECT_EQ(shop()["active"], "green");
  EXPECT_EQ(shop()["previous"], "blue");
  EXPECT_TRUE(shop()["canary"].is_null()) << "a switch ends the canary";
  EXPECT_EQ(spread(100), (std::map<std::string, int>{{"green", 100}}));
  // And a revert goes back to blue alone.
  zdctl_ok({"revert", "shop"});
  EXPECT_EQ(spread(50), (std::map<std::string, int>{{"blue", 50}}));
}

TEST_F(Canary, RefusalsChangeNothing) {
  expect_refused({"canary", "shop", "green", "--weight", "10"},
                 "domain 'shop' has no active workspace for a canary to share with");
  zdctl_ok({"switch", "shop", "blue"});
  expect_refused({"canary", "shop", "blue", "--weight", "10"},
                 "workspace 'blue' is already active for domain 'shop'");
  expect_refused({"canary", "shop", "--abort"}, "domain 'shop' has no canary");
  expect_refused({"canary", "shop", "nope", "--weight", "10"}, "no workspace named 'nope'");
  for (const char *weight : {"0", "101", "ten"}) {
    Result r = zdctl({"canary", "shop", "green", "--weight", weight});
    EXPECT_EQ(r.code, 2) << weight << ": " << r.err;
  }
  EXPECT_EQ(zdctl({"canary", "shop", "green"}).code, 2) << "a weight is needed";
  EXPECT_EQ(zdctl({"canary", "shop", "green", "--weight", "5", "--abort"}).code, 2);

  // A canary whose socket is gone takes nothing: refused unless --force.
  echoes()[1].child.kill();
  expect_refused({"canary", "shop", "green", "--weight", "10"}, "green");
  zdctl_ok({"canary", "shop", "green", "--weight", "10", "--force"});
  EXPECT_EQ(spread(100), (std::map<std::string, int>{{"blue", 100}}))
      << "a dead canary's share goes to the active workspace";
}

TEST_F(Canary, RemovingTheCanaryWorkspaceEndsItOnlyWhenForced) {
  zdctl_ok({"switch", "shop", "blue"});
  zdctl_ok({"canary", "shop", "green", "--weight", "30"});
  expect_refused({"workspace", "rm", "green"}, "workspace 'green' is the canary of domain 'shop'");
  zdctl_ok({"workspace", "rm", "green", "--force"});
  EXPECT_TRUE(shop()["canary"].is_null());
  EXPECT_EQ(json::parse(zdctl_ok({"--json", "history", "shop"}))["history"].back()["how"],
            "canary-end");
  EXPECT_EQ(spread(50), (std::map<std::string, int>{{"blue", 50}}));
}

TEST_F(Canary, DryRunChangesNothing) {
  zdctl_ok({"switch", "shop", "blue"});
  const std::string before = status_json();
  const json said = json::parse(zdctl_ok(
      {"--json", "canary", "shop", "green", "--weight", "10", "--check", "tcp", "--dry-run"}));
  EXPECT_EQ(said["changed"], false);
  EXPECT_EQ(said["dry_run"], true);
  EXPECT_EQ(said["check"]["kind"], "tcp");
  EXPECT_EQ(status_json(), before);
}

} // namespace
} // namespace zdtest
