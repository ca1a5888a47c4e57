// Health checks that steer, and canaries that follow their orders: zdctl
// serve probes each checked workspace through its own socket and writes the
// verdict where the data plane reads it. Real HTTP workspaces (zd-echo
// --http, whose /healthz fails while a file exists), real probes, real
// connections, timed against the check's own numbers.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace zdtest {
namespace {

using json = nlohmann::json;

constexpr auto kInterval = 200ms;
constexpr int kFall = 3, kRise = 2;
// What a verdict may take beyond interval x count: the watcher's tick
// (100 ms), a probe's own time and the write.
constexpr auto kSlack = 300ms;

class Health : public NetnsTest {
protected:
  void SetUp() override {
    NetnsTest::SetUp();
    if (IsSkipped() || HasFatalFailure())
      return;
    attach_with_domain();
    sick_ = "/tmp/zd-health-test-" + std::to_string(getpid()) + "-sick";
    add_workspace("blue", 3001, true, {"--http"});
    add_workspace("green", 3002, true, {"--http", "--unhealthy-while=" + sick_});
  }

  void TearDown() override {
    unlink(sick_.c_str());
    NetnsTest::TearDown();
  }

  void check_green() {
    zdctl_ok({"workspace", "set", "green", "--check", "/healthz", "--check-interval",
              std::to_string(kInterval.count()) + "ms", "--check-timeout", "500ms", "--fall",
              std::to_string(kFall), "--rise", std::to_string(kRise)});
  }

  void set_sick(bool sick) {
    if (sick)
      ASSERT_GE(Fd(open(sick_.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600)).get(), 0);
    else
      ASSERT_EQ(unlink(sick_.c_str()), 0);
  }

  void start_serve() {
    serve_.emplace(
        spawn({kZdctl, "--state", state_dir(), "serve", "--json", "--listen", "127.0.0.1:0"}));
    pollfd p{serve_->out_fd(), POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 5000), 1) << "zdctl serve did not start";
  }

  json workspace_status(const std::string &name) {
    const json status = json::parse(status_json());
    for (const auto &w : status["workspaces"])
      if (w["name"] == name)
        return w;
    return nullptr;
  }

  // Waits until pred(status) holds; false after limit.
  template <typename Pred> bool wait_for(Pred pred, std::chrono::milliseconds limit) {
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      if (pred(json::parse(status_json())))
        return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  // The time until a new connection answers `who` (polled every 10 ms), or
  // nullopt after limit.
  std::optional<std::chrono::milliseconds> until_served_by(const std::string &who,
                                                           std::chrono::milliseconds limit) {
    const auto start = Clock::now();
    while (Clock::now() - start < limit) {
      if (http_get(kV4) == "200 " + who)
        return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
      std::this_thread::sleep_for(10ms);
    }
    return std::nullopt;
  }

  std::vector<std::string> hows() {
    std::vector<std::string> out;
    const json history = json::parse(zdctl_ok({"--json", "history", "shop"}));
    for (const auto &e : history["history"])
      out.push_back(e["how"]);
    return out;
  }

  std::string sick_;
  std::optional<Child> serve_;
};

TEST_F(Health, AFailingWorkspaceLosesNewConnectionsWithinIntervalTimesFallAndGetsThemBack) {
  zdctl_ok({"switch", "shop", "blue"});
  zdctl_ok({"switch", "shop", "green"});
  check_green();
  start_serve();
  ASSERT_TRUE(
      wait_for([](const json &s) { return !s["workspaces"][1]["health"]["since"].is_null(); }, 2s))
      << "serve gave green a first verdict";
  EXPECT_EQ(workspace_status("green")["health"]["failing"], false);
  ASSERT_EQ(http_get(kV4), "200 green");

  set_sick(true);
  const auto lost = until_served_by("blue", 5s);
  ASSERT_TRUE(lost) << "green kept new connections while failing its check";
  EXPECT_LE(*lost, kInterval * kFall + kSlack) << "took " << lost->count() << " ms";
  std::printf("[ measured ] failing green passed over after %lld ms (interval x fall = %lld ms)\n",
              static_cast<long long>(lost->count()),
              static_cast<long long>((kInterval * kFall).count()));
  const json failing = workspace_status("green");
  EXPECT_EQ(failing["health"]["failing"], true);
  EXPECT_NE(failing["health"]["said"].get<std::string>().find("503"), std::string::npos) << failing;
  for (int i = 0; i < 20; ++i)
    ASSERT_EQ(http_get(kV4), "200 blue") << "while green fails, blue takes every new connection";
  EXPECT_NE(zdctl_ok({"status"}).find("FAILING since"), std::string::npos);
  EXPECT_NE(zdctl_ok({"metrics"}).find("zd_workspace_healthy{workspace=\"green\"} 0"),
            std::string::npos);

  set_sick(false);
  const auto back = until_served_by("green", 5s);
  ASSERT_TRUE(back) << "green never got new connections back";
  EXPECT_LE(*back, kInterval * kRise + kSlack) << "took " << back->count() << " ms";
  std::printf("[ measured ] recovered green served again after %lld ms (interval x rise = %lld "
              "ms)\n",
              static_cast<long long>(back->count()),
              static_cast<long long>((kInterval * kRise).count()));
  EXPECT_EQ(workspace_status("green")["health"]["failing"], false);
  EXPECT_EQ(hows(), (std::vector<std::string>{"switch", "switch"}))
      << "health steers without changing the route";
}

TEST_F(Health, RemovingTheCheckClearsAFailingMarkEvenWithoutServe) {
  zdctl_ok({"switch", "shop", "blue"});
  zdctl_ok({"switch", "shop", "green"});
  check_green();
  set_sick(true);
  start_serve();
  ASSERT_TRUE(
      wait_for([](const json &s) { return s["workspaces"][1]["health"]["failing"] == true; }, 3s));
  serve_->kill();
  EXPECT_EQ(http_get(kV4), "200 blue") << "the mark outlives serve: the data plane keeps steering";
  zdctl_ok({"workspace", "set", "green", "--no-check"});
  EXPECT_TRUE(workspace_status("green")["health"].is_null());
  EXPECT_EQ(http_get(kV4), "200 green") << "no check, no mark";
}

TEST_F(Health, AFailingCanaryEndsAtOnceAndNothingFailsForTheActiveWorkspacesClients) {
  zdctl_ok({"switch", "shop", "blue"});
  check_green();
  start_serve();
  zdctl_ok({"canary", "shop", "green", "--weight", "30"});
  ASSERT_TRUE(
      wait_for([](const json &s) { return !s["workspaces"][1]["health"]["since"].is_null(); }, 2s));
  std::atomic<bool> done = false;
  std::atomic<int> blue = 0, green = 0, failed = 0;
  std::thread load([&] {
    while (!done) {
      const std::string got = http_get(kV4);
      (got == "200 blue" ? blue : got == "200 green" ? green : failed)++;
    }
  });
  const auto deadline = Clock::now() + 3s;
  while (green < 20 && Clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  set_sick(true);
  const bool ended = wait_for([](const json &s) { return s["domains"][0]["canary"].is_null(); },
                              kInterval * kFall + kSlack + 1s);
  const int blue_at_end = blue;
  while (blue < blue_at_end + 100 && Clock::now() < deadline + 5s)
    std::this_thread::sleep_for(10ms);
  done = true;
  load.join();
  ASSERT_TRUE(ended) << "the failing canary was not ended";
  EXPECT_EQ(failed, 0) << "no client saw a failure";
  EXPECT_GT(green, 0);
  EXPECT_EQ(hows().back(), "canary-failed") << "history says why";
  for (int i = 0; i < 20; ++i)
    ASSERT_EQ(http_get(kV4), "200 blue");
  EXPECT_EQ(json::parse(status_json())["domains"][0]["active"], "blue");
}

TEST_F(Health, ACanaryWhoseHealthHeldIsPromoted) {
  zdctl_ok({"switch", "shop", "blue"});
  check_green();
  start_serve();
  zdctl_ok({"canary", "shop", "green", "--weight", "10", "--promote-after", "1s"});
  EXPECT_EQ(json::parse(status_json())["domains"][0]["canary"]["promote_after_ms"], 1000);
  ASSERT_TRUE(wait_for([](const json &s) { return s["domains"][0]["active"] == "green"; }, 4s))
      << "the canary was not promoted";
  EXPECT_EQ(hows(), (std::vector<std::string>{"switch", "canary", "promote"}));
  const json shop = json::parse(status_json())["domains"][0];
  EXPECT_TRUE(shop["canary"].is_null());
  EXPECT_EQ(shop["previous"], "blue") << "revert goes back to the workspace before the canary";
  for (int i = 0; i < 20; ++i)
    ASSERT_EQ(http_get(kV4), "200 green");
}

TEST_F(Health, ACanaryTheCheckFailsIsNotPromotedAndKeptWhenToldTo) {
  zdctl_ok({"switch", "shop", "blue"});
  check_green();
  set_sick(true);
  start_serve();
  zdctl_ok({"canary", "shop", "green", "--weight", "10", "--promote-after", "500ms",
            "--no-revert-on-failure", "--no-check"});
  ASSERT_TRUE(
      wait_for([](const json &s) { return s["workspaces"][1]["health"]["failing"] == true; }, 3s));
  std::this_thread::sleep_for(700ms); // past --promote-after, with the canary failing
  const json shop = json::parse(status_json())["domains"][0];
  EXPECT_EQ(shop["active"], "blue");
  EXPECT_EQ(shop["canary"]["workspace"], "green") << "kept: --no-revert-on-failure";
  for (int i = 0; i < 50; ++i)
    ASSERT_EQ(http_get(kV4), "200 blue") << "a failing canary takes no new connection";
}

} // namespace
} // namespace zdtest
