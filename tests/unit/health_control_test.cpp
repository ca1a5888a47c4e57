// The control plane's rules for continuous health checks and a canary's
// orders, against the fakes: what serve's verdicts may write and when they
// are refused, that a mark never outlives its check or its workspace, and
// that orders go with the canary they were given for.
#include <gtest/gtest.h>

#include <limits>

#include "check.hpp"
#include "control.hpp"
#include "error.hpp"
#include "fakes.hpp"
#include "parse.hpp"

namespace {

using zd::ControlPlane;
using zd::Force;
using zd::RouteRequest;

class HealthControl : public ::testing::Test {
protected:
  void SetUp() override {
    control.add_domain("shop", {zd::parse_endpoint("tcp://10.99.0.1:80", zd::AllowPrefix::yes)});
    add("blue", "tcp://127.0.0.1:3001");
    add("green", "tcp://127.0.0.1:3002");
    control.switch_to("shop", "blue", Force::no);
  }

  void add(const std::string &name, const std::string &address) {
    control.add_workspace(name, 0, zd_test::listening_socket(address, next_cookie++));
  }

  uint32_t id(const std::string &name) const { return store.workspace(name)->id; }
  zd::WorkspaceStatus status_of(const std::string &name) const {
    for (const auto &w : control.status().workspaces)
      if (w.name == name)
        return w;
    ADD_FAILURE() << "no workspace " << name;
    return {};
  }
  std::string snapshot() const { return store.dump() + plane.dump(); }
  zd::SwitchResult run(RouteRequest request) { return control.apply(control.plan(request)); }

  zd::HealthCheck check() const {
    zd::HealthCheck h;
    h.check = zd::parse_check("/healthz");
    return h;
  }

  zd_test::FakeStore store;
  zd_test::FakeDataplane plane;
  ControlPlane control{store, plane};
  uint64_t next_cookie = 1000;
};

TEST_F(HealthControl, AVerdictMarksThePlaneAndSaysWhyAndSinceWhen) {
  control.set_health_check("green", check());
  EXPECT_EQ(status_of("green").health_check, check());
  EXPECT_FALSE(status_of("green").health) << "no verdict before serve gives one";
  ASSERT_TRUE(control.record_health("green", id("green"), {true, 42, "answered 503"}));
  EXPECT_TRUE(plane.failing(id("green")));
  const zd::WorkspaceStatus green = status_of("green");
  EXPECT_TRUE(green.failing);
  EXPECT_EQ(green.health, (zd::Health{true, 42, "answered 503"}));
  ASSERT_TRUE(control.record_health("green", id("green"), {false, 43, "answered 200"}));
  EXPECT_FALSE(plane.failing(id("green")));
}

TEST_F(HealthControl, AVerdictForAWorkspaceGoneAgainOrNoLongerCheckedIsNotWritten) {
  const uint32_t old = id("green");
  const std::string before = snapshot();
  EXPECT_FALSE(control.record_health("green", old, {true, 1, "x"})) << "green has no check";
  EXPECT_FALSE(control.record_health("nope", old, {true, 1, "x"}));
  EXPECT_EQ(snapshot(), before) << "nothing written";
  control.set_health_check("green", check());
  EXPECT_FALSE(control.record_health("green", old + 100, {true, 1, "x"}))
      << "a verdict about another registration of the name";
  EXPECT_FALSE(plane.failing(old));
}

TEST_F(HealthControl, RemovingTheCheckOrTheWorkspaceTakesTheMarkWithIt) {
  control.set_health_check("green", check());
  control.record_health("green", id("green"), {true, 1, "answered 503"});
  control.set_health_check("green", std::nullopt);
  EXPECT_FALSE(plane.failing(id("green")));
  EXPECT_FALSE(status_of("green").health_check);
  EXPECT_FALSE(status_of("green").health);

  control.set_health_check("green", check());
  const uint32_t gone = id("green");
  control.record_health("green", gone, {true, 1, "answered 503"});
  control.remove_workspace("green", Force::no);
  EXPECT_FALSE(plane.failing(gone));
  EXPECT_FALSE(store.health(gone));
  EXPECT_FALSE(store.health_check("green"));
  add("green", "tcp://127.0.0.1:3002");
  EXPECT_FALSE(status_of("green").failing) << "registered again, it starts healthy";
}

TEST_F(HealthControl, AnUnknownWorkspaceIsRefusedAndNothingWritten) {
  const std::string before = snapshot();
  EXPECT_THROW(control.set_health_check("nope", check()), zd::Error);
  EXPECT_EQ(snapshot(), before);
}

TEST_F(HealthControl, OrdersGoWithTheirCanaryAndAPlainOneHasTheDefaults) {
  RouteRequest canary = RouteRequest::of(RouteRequest::Kind::canary, "shop", "green", 20);
  canary.policy.promote_after_ms = 60'000;
  run(canary);
  const auto shop = control.status().domains[0];
  EXPECT_EQ(shop.canary_policy.promote_after_ms, 60'000u);
  EXPECT_TRUE(shop.canary_policy.revert_on_failure);
  EXPECT_GT(shop.canary_policy.since_ns, 0);
  ASSERT_TRUE(store.canary_orders("shop"));
  EXPECT_EQ(store.canary_orders("shop")->pending_seq, 0u) << "nothing left pending";

  EXPECT_EQ(run(canary).changed, zd::Changed::no) << "the same canary, the same orders";
  canary.policy.revert_on_failure = false;
  EXPECT_EQ(run(canary).changed, zd::Changed::yes) << "new orders are a change";
  EXPECT_FALSE(control.status().domains[0].canary_policy.revert_on_failure);

  control.switch_to("shop", "green", Force::no); // promoted by hand: the orders go
  EXPECT_FALSE(store.canary_orders("shop"));
  EXPECT_EQ(control.status().domains[0].canary_policy, zd::CanaryPolicy{});
}

TEST_F(HealthControl, ServeActsOnlyOnTheCanaryItSaw) {
  run(RouteRequest::of(RouteRequest::Kind::canary, "shop", "green", 20));
  const std::string before = snapshot();
  EXPECT_THROW(run(RouteRequest::of(RouteRequest::Kind::promote, "shop", "blue")), zd::Error);
  EXPECT_THROW(run(RouteRequest::of(RouteRequest::Kind::canary_failed, "shop", "blue")), zd::Error);
  EXPECT_EQ(snapshot(), before) << "a stale order changes nothing";

  run(RouteRequest::of(RouteRequest::Kind::promote, "shop", "green"));
  const auto shop = control.status().domains[0];
  EXPECT_EQ(shop.active, "green");
  EXPECT_EQ(shop.previous, "blue");
  EXPECT_TRUE(shop.canary.empty());
  EXPECT_EQ(control.history().back().how, zd::How::promote);
  for (const auto &total : control.switch_totals())
    EXPECT_EQ(total.count, total.how == zd::How::switch_to ? 1u : 0u)
        << "a promotion is history, not a counted switch";
}

TEST_F(HealthControl, AFailedCanaryEndsAndHistorySaysSo) {
  run(RouteRequest::of(RouteRequest::Kind::canary, "shop", "green", 20));
  run(RouteRequest::of(RouteRequest::Kind::canary_failed, "shop", "green"));
  const auto shop = control.status().domains[0];
  EXPECT_EQ(shop.active, "blue");
  EXPECT_TRUE(shop.canary.empty());
  const zd::Event last = control.history().back();
  EXPECT_EQ(last.how, zd::How::canary_failed);
  EXPECT_EQ(last.from, "green");
  EXPECT_EQ(last.to, "blue");
}

TEST_F(HealthControl, TheWatchListsCheckedWorkspacesAndCanaries) {
  control.set_health_check("green", check());
  RouteRequest canary = RouteRequest::of(RouteRequest::Kind::canary, "shop", "green", 20);
  canary.policy.promote_after_ms = 1000;
  run(canary);
  control.record_health("green", id("green"),
                        {false, std::numeric_limits<int64_t>::max() / 2, "answered 200"});
  const zd::Watch watch = control.watch();
  ASSERT_EQ(watch.workspaces.size(), 1u);
  EXPECT_EQ(watch.workspaces[0].workspace.name, "green");
  ASSERT_EQ(watch.canaries.size(), 1u);
  EXPECT_EQ(watch.canaries[0].workspace, "green");
  EXPECT_TRUE(watch.canaries[0].checked);
  EXPECT_EQ(watch.canaries[0].healthy_since_ns, std::numeric_limits<int64_t>::max() / 2)
      << "held since its last recovery, the later of the two";
}

} // namespace
