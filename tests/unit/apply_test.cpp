// zdctl apply's core against the fakes: the document parsed (a refusal
// names the key at fault), the difference as steps in their order, export
// and apply as inverses, and an apply killed after any of its writes
// finished by the next zdctl to exactly what one uninterrupted run leaves.
#include <gtest/gtest.h>

#include <netinet/in.h>

#include "apply.hpp"
#include "desired.hpp"
#include "fakes.hpp"
#include "parse.hpp"

namespace {

using zd::Applier;
using zd::ApplyStep;
using zd_test::FakeDataplane;
using zd_test::FakeStore;

// Public: a test makes several worlds of its own (see the kill test).
class Apply : public ::testing::Test {
public:
  void add_workspace(const std::string &name, const std::string &address) {
    control.add_workspace(name, 0, zd_test::listening_socket(address, next_cookie_++));
  }
  void stage() {
    add_workspace("blue", "tcp://127.0.0.1:3001");
    add_workspace("green", "tcp://127.0.0.1:3002");
  }
  std::vector<std::string> plan(const std::string &document, bool prune = false) {
    std::vector<std::string> texts;
    for (const auto &step :
         Applier(control, store, plane).plan(zd::parse_desired(document), prune, zd::Force::no))
      texts.push_back(zd::describe(step));
    return texts;
  }
  void apply(const std::string &document, bool prune = false) {
    Applier applier(control, store, plane);
    const zd::Desired want = zd::parse_desired(document);
    applier.run({zd::to_json(want).dump(), prune, false}, applier.plan(want, prune, zd::Force::no));
  }
  std::string exported() {
    return zd::to_json(Applier(control, store, plane).actual({}, true)).dump();
  }
  std::string state() const { return store.dump_records() + plane.contents(); }

  FakeStore store;
  FakeDataplane plane;
  zd::ControlPlane control{store, plane};

private:
  uint64_t next_cookie_ = 100;
};

std::string refusal(const std::string &document) {
  try {
    zd::parse_desired(document);
  } catch (const zd::Error &e) {
    return e.what();
  }
  return "(parsed)";
}

TEST(ApplyDocument, ARefusalNamesTheKeyAndWhatIsWrong) {
  EXPECT_EQ(refusal("{"), refusal("{")); // not JSON: nlohmann's words, with the byte
  EXPECT_EQ(refusal("{").rfind("the document is not JSON: ", 0), 0u);
  EXPECT_EQ(refusal(R"({"domain": {}})"),
            "the document.domain: unknown key (known: domains, workspaces)");
  EXPECT_EQ(refusal(R"({"domains": {"shop": {}}})"),
            "domains.shop.listen: must be a list of one or more PROTO://ADDR[/PREFIX]:PORT");
  EXPECT_EQ(refusal(R"({"domains": {"shop": {"listen": ["tcp://10.0.0.1:80", 7]}}})"),
            "domains.shop.listen[1]: must be a string");
  EXPECT_EQ(refusal(R"({"domains": {"shop": {"listen": ["tcp://10.0.0.1:80"], "actve": "x"}}})"),
            "domains.shop.actve: unknown key (known: listen, check, active, canary, prefer_local)");
  EXPECT_EQ(refusal(R"({"domains": {"shop": {"listen": ["tcp://10.0.0.1:80"],
                      "canary": {"workspace": "blue", "weight": 0}}}})"),
            "domains.shop.canary.weight: must be a whole number from 1 to 100");
  EXPECT_EQ(refusal(R"({"domains": {"a": {"listen": ["tcp://10.0.0.1:80"]},
                                    "b": {"listen": ["tcp://10.0.0.1:80"]}}})"),
            "domains.b.listen: tcp://10.0.0.1:80 is also a binding of domain 'a'");
  EXPECT_EQ(refusal(R"({"workspaces": {"blue": {"check": {"check": "ftp"}}}})")
                .rfind("workspaces.blue.check: ", 0),
            0u);
}

TEST(ApplyDocument, ItsJsonParsesBackToItself) {
  const std::string text =
      R"({"domains":{"shop":{"active":"green","canary":{"promote_after":"5m",)"
      R"("revert_on_failure":false,"weight":10,"workspace":"blue"},"check":{"check":"/healthz",)"
      R"("retries":1,"timeout":"500ms"},"listen":["tcp://10.99.0.1:80","tcp://[fd00::/64]:443"],)"
      R"("prefer_local":true}},)"
      R"("workspaces":{"green":{"check":{"check":"tcp","fall":3,"interval":"2s","rise":2,)"
      R"("timeout":"1s"}}}})";
  EXPECT_EQ(zd::to_json(zd::parse_desired(text)).dump(), text);
}

TEST_F(Apply, TheDifferenceRunsRemovalsAdditionsChecksThenRoutes) {
  stage();
  control.add_domain("old", {zd::parse_endpoint("tcp://10.99.0.9:80", zd::AllowPrefix::yes)});
  const std::string document = R"({"domains": {
      "shop": {"listen": ["tcp://10.99.0.1:80"], "active": "blue", "check": "/healthz",
               "canary": {"workspace": "green", "weight": 10}}},
      "workspaces": {"green": {"check": {"check": "tcp"}}}})";
  EXPECT_EQ(plan(document, true),
            (std::vector<std::string>{"- domain old", "+ domain shop tcp://10.99.0.1:80",
                                      "~ domain shop: check GET /healthz (timeout 2s, 2 retries)",
                                      "~ workspace green: health check tcp connect every 2s",
                                      "~ domain shop: active (none) -> blue",
                                      "~ domain shop: canary (none) -> green 10%"}));
  EXPECT_EQ(plan(document, false).size(), 5u) << "without --prune, old stays";
}

TEST_F(Apply, ExportThenApplyChangesNothing) {
  stage();
  apply(R"({"domains": {"shop": {"listen": ["tcp://10.99.0.1:80"], "active": "blue",
                                 "canary": {"workspace": "green", "weight": 20}}}})");
  const std::string before = state();
  EXPECT_EQ(plan(exported()), std::vector<std::string>{});
  apply(exported());
  EXPECT_EQ(state(), before);
}

// prefer_local is one step of its own, among the checks; absent means off,
// so an export of a domain without it says nothing new.
TEST_F(Apply, PreferLocalIsOneStepAndExportSaysItOnlyWhenOn) {
  stage();
  apply(R"({"domains": {"shop": {"listen": ["tcp://10.99.0.1:80"], "active": "blue"}}})");
  EXPECT_EQ(exported().find("prefer_local"), std::string::npos);
  const std::string on = R"({"domains": {"shop": {"listen": ["tcp://10.99.0.1:80"],
                                                  "active": "blue", "prefer_local": true}}})";
  EXPECT_EQ(plan(on), std::vector<std::string>{"~ domain shop: prefer local off -> on"});
  apply(on);
  EXPECT_TRUE(control.prefers_local("shop"));
  EXPECT_NE(exported().find(R"("prefer_local":true)"), std::string::npos);
  EXPECT_EQ(plan(exported()), std::vector<std::string>{});
  EXPECT_EQ(plan(R"({"domains": {"shop": {"listen": ["tcp://10.99.0.1:80"]}}})"),
            std::vector<std::string>{"~ domain shop: prefer local on -> off"});
  EXPECT_EQ(refusal(R"({"domains": {"shop": {"listen": ["tcp://10.99.0.1:80"],
                                                 "prefer_local": "yes"}}})"),
            "domains.shop.prefer_local: must be true or false");
  control.remove_domain("shop");
  EXPECT_EQ(plane.preferring_local(), std::set<uint32_t>{}) << "its id may be given again";
}

TEST_F(Apply, RefusalsChangeNothing) {
  stage();
  control.add_domain("shop", {zd::parse_endpoint("tcp://10.99.0.1:80", zd::AllowPrefix::yes)});
  const std::string before = state();
  auto refused = [&](const std::string &document) -> std::string {
    try {
      apply(document);
    } catch (const zd::Error &e) {
      EXPECT_EQ(state(), before);
      return e.what();
    }
    return "(applied)";
  };
  EXPECT_EQ(refused(R"({"domains": {"shop": {"listen": ["tcp://10.99.0.2:80"]}}})"),
            "domains.shop.listen: the bindings of a domain do not change in place (they are "
            "tcp://10.99.0.1:80): zdctl domain rm shop, then apply");
  EXPECT_EQ(
      refused(R"({"domains": {"cart": {"listen": ["tcp://10.99.0.3:80"], "active": "red"}}})"),
      "domains.cart: no workspace named 'red' is registered (zdctl workspace add "
      "registers it)");
  EXPECT_EQ(refused(R"({"domains": {"cart": {"listen": ["tcp://10.99.0.1:80"]}}})"),
            "domains.cart: tcp://10.99.0.1:80 is already bound to domain 'shop'");
  EXPECT_EQ(refused(R"({"domains": {"cart": {"listen": ["tcp://10.99.0.3:80"],
                        "canary": {"workspace": "blue", "weight": 5}}}})"),
            "domains.cart.canary: a canary shares the new connections of an active workspace, "
            "and the domain has none");
}

// Killed at its 1st write, its 2nd, ...: every time, the next zdctl's
// recover() ends where one whole run ends.
TEST_F(Apply, AKillAfterAnyWriteIsFinishedByTheNextZdctl) {
  const std::string document = R"({"domains": {
      "shop": {"listen": ["tcp://10.99.0.1:80"], "active": "green", "check": "tcp"},
      "cart": {"listen": ["tcp://10.99.0.2:80", "tcp://10.99.1.0/24:80"], "active": "blue",
               "canary": {"workspace": "green", "weight": 50}},
      "more": {"listen": ["tcp://10.99.0.3:80"]}},
      "workspaces": {"blue": {"check": {"check": "tcp"}}}})";
  auto staged = [&](Apply &world) {
    world.stage();
    world.control.add_domain("shop",
                             {zd::parse_endpoint("tcp://10.99.0.1:80", zd::AllowPrefix::yes)});
    world.control.switch_to("shop", "blue", zd::Force::no);
    world.control.add_domain("gone",
                             {zd::parse_endpoint("tcp://10.99.0.8:80", zd::AllowPrefix::yes)});
  };
  class World : public Apply {
    void TestBody() override {}
  };
  World whole;
  staged(whole);
  const std::string before = whole.state();
  whole.apply(document, true);
  const std::string after = whole.state();
  int ended_before = 0, ended_after = 0;

  for (int at = 1;; ++at) {
    SCOPED_TRACE("killed at write " + std::to_string(at));
    World cut;
    staged(cut);
    zd_test::Crash crash;
    crash.at = at;
    cut.store.crash = &crash;
    cut.plane.crash = &crash;
    bool killed = false;
    try {
      cut.apply(document, true);
    } catch (const zd_test::Killed &) {
      killed = true;
    }
    cut.store.crash = nullptr;
    cut.plane.crash = nullptr;
    if (!killed)
      break; // the run has fewer writes than `at`: every kill point is done
    zd::ControlPlane next{cut.store, cut.plane};
    next.recover();
    // Before, while its document was not yet pending; after, from then on.
    const std::string found = cut.state();
    ASSERT_TRUE(found == (ended_after       ? after
                          : found == before ? before
                                            : after))
        << "neither before nor after (or before again, once after was reached):\n"
        << found;
    ++(found == before ? ended_before : ended_after);
    ASSERT_LT(at, 500) << "an apply of this size makes far fewer writes";
  }
  EXPECT_GT(ended_before, 0);
  EXPECT_GT(ended_after, 10) << "most kill points are after the document is pending";
}

} // namespace
