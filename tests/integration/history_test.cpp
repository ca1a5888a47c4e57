// History: every switch, revert, forced change and fallback is kept in the
// state, with who made it; `revert --to N` goes back to the workspace entry
// N switched to, and real connections follow.
#include <unistd.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace zdtest {
namespace {

using json = nlohmann::json;

class History : public BlueGreenTest {
protected:
  json history(const std::vector<std::string> &filter = {}) {
    std::vector<std::string> args = {"--json", "history"};
    args.insert(args.end(), filter.begin(), filter.end());
    return json::parse(zdctl_ok(args))["history"];
  }
};

TEST_F(History, KeepsEveryRouteChangeWithWhoMadeIt) {
  EXPECT_TRUE(history().empty());
  zdctl_ok({"switch", "shop", "blue"});
  zdctl_ok({"switch", "shop", "green"});
  zdctl_ok({"revert", "shop"});
  zdctl_ok({"switch", "shop", "green", "--force"});

  const json h = history({"shop"});
  ASSERT_EQ(h.size(), 4u) << h.dump(2);
  const std::vector<std::tuple<json, std::string, std::string>> expected = {
      {nullptr, "blue", "switch"},
      {"blue", "green", "switch"},
      {"green", "blue", "revert"},
      {"blue", "green", "force"}};
  for (size_t i = 0; i < h.size(); ++i) {
    SCOPED_TRACE(h[i].dump());
    EXPECT_EQ(h[i]["seq"], i + 1);
    EXPECT_EQ(h[i]["domain"], "shop");
    EXPECT_EQ(h[i]["from"], std::get<0>(expected[i]));
    EXPECT_EQ(h[i]["to"], std::get<1>(expected[i]));
    EXPECT_EQ(h[i]["how"], std::get<2>(expected[i]));
    EXPECT_EQ(h[i]["uid"], getuid());
    EXPECT_GT(h[i]["pid"].get<int>(), 0);
    EXPECT_NE(h[i]["pid"].get<int>(), getpid()) << "the pid is zdctl's, not the test's";
    EXPECT_EQ(h[i]["time"].get<std::string>().size(), 20u); // 2026-11-27T01:02:03Z
  }
  EXPECT_LT(h[0]["time_ns"].get<int64_t>(), h[3]["time_ns"].get<int64_t>());

  // The table says the same to people.
  const std::string table = zdctl_ok({"history"});
  EXPECT_NE(table.find("HOW"), std::string::npos) << table;
  EXPECT_NE(table.find("force"), std::string::npos) << table;
}

TEST_F(History, RevertToAnEntryGoesBackToItsWorkspace) {
  zdctl_ok({"switch", "shop", "blue"});
  zdctl_ok({"switch", "shop", "green"});
  ASSERT_EQ(greet(kV4), "green");

  const json r = json::parse(zdctl_ok({"--json", "revert", "shop", "--to", "1"}));
  EXPECT_EQ(r["from"], "green");
  EXPECT_EQ(r["to"], "blue");
  for (int i = 0; i < 20; ++i)
    ASSERT_EQ(greet(kV4), "blue");
  EXPECT_EQ(history().back()["how"], "revert");

  // Already there: nothing changes, and history says nothing more.
  const size_t n = history().size();
  EXPECT_EQ(json::parse(zdctl_ok({"--json", "revert", "shop", "--to", "1"}))["changed"], false);
  EXPECT_EQ(history().size(), n);
}

TEST_F(History, RefusesWhatItCannotFindAndChangesNothing) {
  zdctl_ok({"switch", "shop", "blue"});
  const std::string before = status_json();
  for (const auto &args : std::vector<std::vector<std::string>>{
           {"revert", "shop", "--to", "7"}, {"history", "nosuch"}, {"revert", "nosuch", "--to", "1"}}) {
    Result r = zdctl(args);
    EXPECT_EQ(r.code, 1) << args[1];
    EXPECT_EQ(r.err.rfind("zdctl: error: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  EXPECT_NE(zdctl({"revert", "shop", "--to", "7"}).err.find("no history entry 7"), std::string::npos);
  EXPECT_EQ(zdctl({"revert", "shop", "--to", "0"}).code, 2) << "entries start at 1";
  EXPECT_EQ(status_json(), before);
  EXPECT_EQ(history().size(), 1u);
}

// Removing the active workspace by force makes the domain fall back: that
// is a route change too, and history keeps it.
TEST_F(History, AForcedRemovalIsRecordedAsAFallback) {
  zdctl_ok({"switch", "shop", "blue"});
  zdctl_ok({"switch", "shop", "green"});
  zdctl_ok({"workspace", "rm", "green", "--force"});
  const json last = history().back();
  EXPECT_EQ(last["from"], "green");
  EXPECT_EQ(last["to"], "blue");
  EXPECT_EQ(last["how"], "fallback");
  EXPECT_EQ(greet(kV4), "blue");
  // The name is kept as it was: green is gone, its entries still say green.
  EXPECT_EQ(history()[1]["to"], "green");
}

} // namespace
} // namespace zdtest
