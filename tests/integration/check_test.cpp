// Health-gated switches: a switch or revert with a check probes the target
// workspace at its own socket address first, and changes nothing when the
// probe fails; a domain's own check gates every switch and revert of it.
// Real HTTP servers (zd-echo --http), real probes, real connections.
#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace zdtest {
namespace {

using json = nlohmann::json;

class Check : public NetnsTest {
protected:
  void SetUp() override {
    NetnsTest::SetUp();
    if (IsSkipped() || HasFatalFailure())
      return;
    attach_with_domain();
    warming_ = "/tmp/zd-check-test-" + std::to_string(getpid()) + "-warming";
    add_workspace("blue", 3001, true, {"--http"});
    add_workspace("green", 3002, true, {"--http", "--unhealthy-while=" + warming_});
    zdctl_ok({"switch", "shop", "blue"});
  }

  void TearDown() override {
    unlink(warming_.c_str());
    NetnsTest::TearDown();
  }

  void set_warming(bool warming) {
    if (warming)
      ASSERT_EQ(Fd(open(warming_.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600)).get() >= 0, true);
    else
      ASSERT_EQ(unlink(warming_.c_str()), 0);
  }

  std::string active() { return json::parse(status_json())["domains"][0]["active"]; }
  size_t history_size() { return json::parse(zdctl_ok({"--json", "history"}))["history"].size(); }

  std::string warming_;
};

TEST_F(Check, RefusesAWorkspaceThatFailsItsCheckThenSwitchesOnceItPasses) {
  set_warming(true);
  const size_t before = history_size();
  Result refused = zdctl({"switch", "shop", "green", "--check", "/healthz", "--check-retries", "1",
                          "--check-timeout", "500ms"});
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("workspace 'green' failed its check: GET /healthz at "
                             "tcp://127.0.0.1:3002 answered 503 (2 attempts)"),
            std::string::npos)
      << refused.err;
  EXPECT_NE(refused.err.find("--no-check"), std::string::npos) << refused.err;
  EXPECT_EQ(active(), "blue");
  EXPECT_EQ(http_get(kV4), "200 blue") << "new connections still go to blue";
  EXPECT_EQ(history_size(), before) << "a refused switch is no history";

  set_warming(false);
  const json done =
      json::parse(zdctl_ok({"--json", "switch", "shop", "green", "--check", "/healthz"}));
  EXPECT_EQ(done["changed"], true);
  ASSERT_EQ(done["probes"].size(), 2u) << "one probe per family of the domain";
  EXPECT_EQ(done["probes"][0]["family"], "ipv4");
  EXPECT_EQ(done["probes"][0]["address"], "tcp://127.0.0.1:3002");
  EXPECT_EQ(done["probes"][1]["family"], "ipv6");
  EXPECT_EQ(done["probes"][1]["address"], "tcp://[::1]:3002");
  EXPECT_EQ(done["probes"][1]["said"], "answered 200");
  EXPECT_EQ(active(), "green");
  EXPECT_EQ(http_get(kV4), "200 green");
  EXPECT_EQ(http_get(kV6), "200 green");
}

TEST_F(Check, TheDomainsCheckGatesSwitchAndRevertUntilSkipped) {
  zdctl_ok({"domain", "set", "shop", "--check", "/healthz", "--check-timeout", "300ms",
            "--check-retries", "0"});
  const json shown = json::parse(status_json())["domains"][0]["check"];
  EXPECT_EQ(shown,
            json({{"kind", "http"}, {"path", "/healthz"}, {"timeout_ms", 300}, {"retries", 0}}));
  zdctl_ok({"switch", "shop", "green"}); // healthy: its check passes
  zdctl_ok({"switch", "shop", "blue"});

  set_warming(true);
  Result refused = zdctl({"switch", "shop", "green"});
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("answered 503 (1 attempt)"), std::string::npos) << refused.err;
  Result revert = zdctl({"revert", "shop"}); // back to green: gated the same way
  EXPECT_EQ(revert.code, 1);
  EXPECT_NE(revert.err.find("failed its check"), std::string::npos) << revert.err;
  EXPECT_EQ(active(), "blue");

  const std::string skipped = zdctl_ok({"switch", "shop", "green", "--no-check"});
  EXPECT_NE(skipped.find("its check was skipped"), std::string::npos) << skipped;
  EXPECT_EQ(active(), "green");
  EXPECT_EQ(http_get(kV4), "200 green");

  // --check replaces the domain's check for one change: tcp passes.
  zdctl_ok({"switch", "shop", "blue"}); // blue is healthy
  zdctl_ok({"revert", "shop", "--check", "tcp"});
  EXPECT_EQ(active(), "green");

  zdctl_ok({"domain", "set", "shop", "--no-check"});
  EXPECT_TRUE(json::parse(status_json())["domains"][0]["check"].is_null());
  zdctl_ok({"switch", "shop", "blue"});
  zdctl_ok({"switch", "shop", "green"}); // unchecked now, though green still fails
  EXPECT_EQ(active(), "green");
}

TEST_F(Check, DryRunProbesAndChangesNothing) {
  const size_t before = history_size();
  const json would = json::parse(
      zdctl_ok({"--json", "switch", "shop", "green", "--check", "/healthz", "--dry-run"}));
  EXPECT_EQ(would["dry_run"], true);
  EXPECT_EQ(would["changed"], false);
  EXPECT_EQ(would["from"], "blue");
  EXPECT_EQ(would["to"], "green");
  EXPECT_EQ(would["probes"].size(), 2u);
  const std::string text = zdctl_ok({"switch", "shop", "green", "--dry-run"});
  EXPECT_EQ(text, "shop: would switch blue -> green (dry run: nothing changed)\n");
  Result no_previous = zdctl({"revert", "shop", "--dry-run"});
  EXPECT_EQ(no_previous.code, 1) << "a dry run refuses what the change would";
  EXPECT_NE(no_previous.err.find("no previous workspace"), std::string::npos);
  EXPECT_EQ(active(), "blue");
  EXPECT_EQ(history_size(), before);

  set_warming(true);
  Result refused = zdctl(
      {"switch", "shop", "green", "--check", "/healthz", "--dry-run", "--check-retries", "0"});
  EXPECT_EQ(refused.code, 1) << "a dry run fails as the change would";
  EXPECT_EQ(active(), "blue");
}

TEST_F(Check, ForceDoesNotSkipACheckAndATcpCheckNeedsAListener) {
  echoes()[1].child.kill(); // green's process dies: its sockets with it
  Result refused =
      zdctl({"switch", "shop", "green", "--force", "--check", "tcp", "--check-retries", "0"});
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("tcp connect at tcp://127.0.0.1:3002 connection refused"),
            std::string::npos)
      << refused.err;
  EXPECT_EQ(active(), "blue");
  EXPECT_EQ(http_get(kV4), "200 blue");
}

TEST_F(Check, BadChecksAreRefusedBeforeAnythingIsTouched) {
  for (const auto &args : std::vector<std::vector<std::string>>{
           {"switch", "shop", "green", "--check", "healthz"},
           {"switch", "shop", "green", "--check", "/a b"},
           {"switch", "shop", "green", "--check", "/h", "--check-timeout", "0"},
           {"switch", "shop", "green", "--check", "/h", "--check-timeout", "2h"},
           {"domain", "set", "nosuch", "--check", "tcp"}}) {
    Result r = zdctl(args);
    EXPECT_EQ(r.code, 1) << args[3] << r.err;
    EXPECT_EQ(r.err.rfind("zdctl: error: ", 0), 0u) << r.err;
  }
  EXPECT_EQ(active(), "blue");
  EXPECT_TRUE(json::parse(status_json())["domains"][0]["check"].is_null());
}

} // namespace
} // namespace zdtest
