// zdctl apply and export with real sockets: a document made the state in
// one change and steering as it says, export | apply changing nothing, bad
// files and failing health checks refused with everything they need said and
// nothing changed, --prune and --dry-run. (The kill at every write: the
// crash sweep's apply case and unit/apply_test.cpp.)
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace zdtest {
namespace {

using json = nlohmann::json;

class Apply : public NetnsTest {
protected:
  void SetUp() override {
    NetnsTest::SetUp();
    if (IsSkipped() || HasFatalFailure())
      return;
    char dir[] = "/tmp/zd-apply-test-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    unhealthy_ = dir_ + "/green-unhealthy";
    zdctl_ok({"attach"});
    add_workspace("blue", 3001, true, {"--http"});
    add_workspace("green", 3002, true, {"--http", "--unhealthy-while=" + unhealthy_});
  }
  void TearDown() override {
    if (!dir_.empty())
      std::filesystem::remove_all(dir_);
    NetnsTest::TearDown();
  }
  std::string file(const std::string &document) {
    const std::string path = dir_ + "/desired-" + std::to_string(++files_) + ".json";
    std::ofstream(path) << document;
    return path;
  }

  std::string dir_, unhealthy_;
  int files_ = 0;
};

const char *const kDocument = R"({
  "domains": {
    "shop": {"listen": ["tcp://10.99.0.1:80", "tcp://[fd00:99::1]:80"], "active": "green",
             "check": {"check": "/healthz", "timeout": "500ms", "retries": 0}},
    "cart": {"listen": ["tcp://10.99.0.2:80"], "active": "blue",
             "canary": {"workspace": "green", "weight": 100, "promote_after": "5m"}}},
  "workspaces": {"blue": {"check": {"check": "tcp", "interval": "1s"}}}})";

TEST_F(Apply, ADocumentBecomesTheStateAndExportGivesItBack) {
  const std::string path = file(kDocument);
  const std::string said = zdctl_ok({"apply", path});
  EXPECT_NE(said.find("+ domain shop tcp://10.99.0.1:80, tcp://[fd00:99::1]:80\n"),
            std::string::npos)
      << said;
  EXPECT_NE(said.find("applied 7 changes as one\n"), std::string::npos) << said;
  EXPECT_EQ(http_get(kV4), "200 green");
  EXPECT_EQ(http_get(kV6), "200 green");
  EXPECT_EQ(http_get("10.99.0.2"), "200 green") << "cart's canary takes 100%";

  // What export prints is the document, canonical: applying it changes
  // nothing, and says so.
  const json exported = json::parse(zdctl_ok({"export"}));
  EXPECT_EQ(exported["domains"]["shop"]["active"], "green");
  EXPECT_EQ(exported["domains"]["cart"]["canary"]["promote_after"], "5m");
  EXPECT_EQ(exported["workspaces"]["blue"]["check"]["interval"], "1s");
  EXPECT_EQ(exported["workspaces"]["green"]["check"], nullptr);
  const std::string before = status_json();
  EXPECT_EQ(zdctl_ok({"apply", file(exported.dump())}),
            "nothing to change: the state already is what " + dir_ + "/desired-2.json says\n");
  EXPECT_EQ(zdctl_ok({"apply", path}).find("nothing to change"), 0u) << "a second apply";
  EXPECT_EQ(status_json(), before);

  // A change of one domain is one step; --json says what it did.
  json next = exported;
  next["domains"]["shop"]["active"] = "blue";
  const json applied = json::parse(zdctl_ok({"--json", "apply", file(next.dump())}));
  EXPECT_EQ(applied["changed"], true);
  ASSERT_EQ(applied["steps"].size(), 1u) << applied.dump();
  EXPECT_EQ(applied["steps"][0]["text"], "~ domain shop: active green -> blue");
  EXPECT_EQ(applied["probes"].size(), 2u) << "shop's check, once per family";
  EXPECT_EQ(http_get(kV4), "200 blue");
}

TEST_F(Apply, ABadDocumentIsOneLineNamingTheKeyAndChangesNothing) {
  zdctl_ok({"apply", file(kDocument)});
  const std::string before = status_json();
  const std::pair<std::string, std::string> cases[] = {
      {R"({"domains": {"shop": {"listen": ["tcp://10.99.0.1:80"], "active": 3}}})",
       "zdctl: error: domains.shop.active: must be a string\n"},
      {R"({"domains": {"shop": {"listen": ["tcp://10.99.0.1:80"]}}})",
       "zdctl: error: domains.shop.listen: the bindings of a domain do not change in place (they "
       "are tcp://10.99.0.1:80, tcp://[fd00:99::1]:80): zdctl domain rm shop, then apply\n"},
      {R"({"domains": {"new": {"listen": ["tcp://10.99.0.2:80"]}}})",
       "zdctl: error: domains.new: tcp://10.99.0.2:80 is already bound to domain 'cart'\n"},
      {R"({"workspaces": {"red": {}}})",
       "zdctl: error: workspaces.red: no workspace named 'red' is registered (zdctl workspace "
       "add registers it)\n"},
      {"{\"domains\": ", ""}};
  for (const auto &[document, error] : cases) {
    const Result r = zdctl({"apply", file(document)});
    EXPECT_EQ(r.code, 1) << document;
    if (!error.empty())
      EXPECT_EQ(r.err, error);
    else
      EXPECT_EQ(r.err.rfind("zdctl: error: the document is not JSON: ", 0), 0u) << r.err;
    EXPECT_EQ(status_json(), before) << document;
  }
  const Result missing = zdctl({"apply", "/nonexistent.json"});
  EXPECT_EQ(missing.err,
            "zdctl: error: cannot read /nonexistent.json: No such file or directory\n");
}

// Both domains would move to green, which fails its check: the refusal
// names every failing probe, and nothing moves; --no-check applies it.
TEST_F(Apply, TheHealthGateRefusesNamingEveryFailingProbe) {
  const std::string path = file(R"({"domains": {
      "shop": {"listen": ["tcp://10.99.0.1:80"], "active": "green", "check": "/healthz"},
      "cart": {"listen": ["tcp://10.99.0.2:80"], "active": "green",
               "check": {"check": "/healthz", "retries": 0}}}})");
  std::ofstream(unhealthy_) << "";
  const Result refused = zdctl({"apply", path});
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("the health gate refused the apply, nothing changed: workspace "
                             "'green' for domain 'cart': GET /healthz at tcp://127.0.0.1:3002 "
                             "answered 503 (1 attempt); workspace 'green' for domain 'shop': "
                             "GET /healthz at tcp://127.0.0.1:3002 answered 503 (3 attempts)"),
            std::string::npos)
      << refused.err;
  EXPECT_NE(refused.err.find("(--no-check skips the check)"), std::string::npos) << refused.err;
  EXPECT_EQ(json::parse(zdctl_ok({"export"}))["domains"], json::object());

  const std::string dry = zdctl_ok({"apply", path, "--no-check", "--dry-run"});
  EXPECT_NE(dry.find("would apply 6 changes (dry run: nothing changed)"), std::string::npos) << dry;
  EXPECT_EQ(json::parse(zdctl_ok({"export"}))["domains"], json::object());
  zdctl_ok({"apply", path, "--no-check"});
  EXPECT_EQ(http_get("10.99.0.2"), "200 green");
}

TEST_F(Apply, PruneRemovesTheDomainsTheDocumentDoesNotName) {
  zdctl_ok({"apply", file(kDocument)});
  const std::string path =
      file(R"({"domains": {"cart": {"listen": ["tcp://10.99.0.2:80"], "active": "blue"}}})");
  EXPECT_EQ(zdctl_ok({"apply", path, "--no-check", "--prune", "--dry-run"}),
            "- domain shop\n~ domain cart: canary green -> (none)\n"
            "would apply 2 changes (dry run: nothing changed)\n");
  EXPECT_NE(zdctl_ok({"apply", path}).find("applied 1 change as one"), std::string::npos)
      << "without --prune, shop stays";
  zdctl_ok({"apply", path, "--prune"});
  const json exported = json::parse(zdctl_ok({"export"}));
  EXPECT_FALSE(exported["domains"].contains("shop"));
  EXPECT_EQ(http_get("10.99.0.2"), "200 blue");
}

} // namespace
} // namespace zdtest
