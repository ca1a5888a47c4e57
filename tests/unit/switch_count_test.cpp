// The switch counters behind zd_switches_total: one per domain and kind of
// route change, counted inside the change itself (ControlPlane::change_route)
// and exactly once, whatever write a killed zdctl stopped at, and never
// falling off as history's ring does.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "control.hpp"
#include "fakes.hpp"
#include "parse.hpp"
#include "report.hpp"

namespace {

using zd::ControlPlane;
using zd::Force;
using zd::How;
using zd_test::Crash;
using zd_test::FakeDataplane;
using zd_test::FakeStore;
using zd_test::Killed;

class SwitchCount : public ::testing::Test {
protected:
  FakeStore store;
  FakeDataplane plane;
  uint64_t next_cookie = 1;

  void SetUp() override {
    ControlPlane control(store, plane);
    control.add_domain("shop", {zd::parse_endpoint("tcp://10.99.0.1:80", zd::AllowPrefix::no)});
    for (const char *name : {"blue", "green"}) {
      const std::string address = "tcp://127.0.0.1:300" + std::to_string(next_cookie);
      control.add_workspace(name, 0, zd_test::listening_socket(address, next_cookie++));
    }
  }

  // domain -> how -> count, as metrics would show them.
  std::map<std::string, std::map<std::string, uint64_t>> totals() {
    std::map<std::string, std::map<std::string, uint64_t>> out;
    for (const auto &t : ControlPlane(store, plane).switch_totals())
      out[t.domain][zd::how_name(t.how)] = t.count;
    return out;
  }
  uint64_t switches() { return totals()["shop"]["switch"]; }
};

TEST_F(SwitchCount, CountsEachKindOfChangeAndListsEveryKind) {
  ControlPlane control(store, plane);
  EXPECT_EQ(totals()["shop"], (std::map<std::string, uint64_t>{
                                  {"switch", 0}, {"revert", 0}, {"force", 0}, {"fallback", 0}}));
  control.switch_to("shop", "blue", Force::no);
  control.switch_to("shop", "green", Force::no);
  control.switch_to("shop", "green", Force::no); // already there: no change, no count
  control.revert("shop", Force::no);
  control.switch_to("shop", "green", Force::yes);
  control.remove_workspace("green", Force::yes); // shop falls back to blue
  EXPECT_EQ(totals()["shop"], (std::map<std::string, uint64_t>{
                                  {"switch", 2}, {"revert", 1}, {"force", 1}, {"fallback", 1}}));
}

// History keeps the latest kHistorySize changes; the counter keeps counting.
TEST_F(SwitchCount, KeepsCountingWhenHistoryWraps) {
  ControlPlane control(store, plane);
  const uint64_t n = zd::kHistorySize + 88;
  for (uint64_t i = 0; i < n; ++i)
    control.switch_to("shop", i % 2 ? "green" : "blue", Force::no);
  EXPECT_EQ(control.history("shop").size(), zd::kHistorySize);
  EXPECT_EQ(switches(), n);
}

// A switch to a workspace the route did not name writes: the pending event
// (1), the index of routes (2), the route (3), the count (4), the final
// event (5). Killed at each, the next zdctl counts the switch once if
// its route was written, and not at all if it was not.
TEST_F(SwitchCount, RecoveryCountsAnInterruptedSwitchExactlyOnce) {
  ControlPlane(store, plane).switch_to("shop", "blue", Force::no);
  const std::map<int, uint64_t> expected = {{1, 1}, {2, 1}, {3, 1}, {4, 2}, {5, 2}};
  for (const auto &[at, count] : expected) {
    SCOPED_TRACE("killed at write " + std::to_string(at));
    FakeStore s = store;
    FakeDataplane p = plane;
    Crash crash;
    crash.at = at;
    s.crash = p.crash = &crash;
    EXPECT_THROW(ControlPlane(s, p).switch_to("shop", "green", Force::no), Killed);
    crash.disarm();
    ControlPlane next(s, p);
    EXPECT_EQ(bool(next.recover()), at > 1) << "killed at its first write, it left nothing";
    EXPECT_FALSE(next.recover());
    uint64_t got = 0;
    for (const auto &t : next.switch_totals())
      if (t.how == How::switch_to)
        got = t.count;
    EXPECT_EQ(got, count);
    EXPECT_EQ(next.history("shop").size(), count) << "the count and history agree";
  }
}

TEST_F(SwitchCount, GoesWithItsDomain) {
  ControlPlane control(store, plane);
  control.switch_to("shop", "blue", Force::no);
  control.switch_to("shop", "green", Force::no);
  ASSERT_EQ(switches(), 2u);
  control.remove_domain("shop");
  EXPECT_TRUE(store.switch_counts().empty());
  EXPECT_TRUE(totals().empty());
  control.add_domain("shop", {zd::parse_endpoint("tcp://10.99.0.1:80", zd::AllowPrefix::no)});
  EXPECT_EQ(switches(), 0u) << "a domain added again starts from zero";
}

} // namespace
