// A zdctl killed at any write of a change leaves its intent behind; the next
// one (ControlPlane::recover) must then find the state exactly as it was
// before the change or exactly as it would be after it. Here every write of
// every multi-write change is the kill point in turn, against the fakes; the
// integration layer does the same with real processes and SIGKILL
// (tests/crash/sweep.sh).
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "check.hpp"
#include "control.hpp"
#include "fakes.hpp"
#include "parse.hpp"

namespace {

using zd::AllowPrefix;
using zd::ControlPlane;
using zd::Force;
using zd_test::Crash;
using zd_test::FakeDataplane;
using zd_test::FakeStore;
using zd_test::Killed;

// A stage of fakes: domain shop (v4 + a prefix), workspaces blue and green,
// shop switched blue then green, and a second domain "idle" served by "red",
// a workspace in a container of its own (the XDP plane is attached).
struct World {
  FakeStore store;
  FakeDataplane plane;
  Crash crash;
  uint64_t next_cookie = 1000;

  World() {
    ControlPlane control(store, plane);
    control.add_domain("shop", {ep("tcp://10.99.0.1:80"), ep("tcp://10.99.1.0/24:80")});
    control.add_domain("idle", {ep("tcp://10.99.0.2:80")});
    control.add_workspace("blue", 0, one_socket("tcp://127.0.0.1:3001"));
    control.add_workspace("green", 0, one_socket("tcp://127.0.0.1:3002"));
    control.switch_to("shop", "blue", Force::no);
    control.switch_to("shop", "green", Force::no);
    plane.xdp_attached = true;
    control.add_workspace("red", 4242, one_socket("tcp://0.0.0.0:8080", kContainer));
    control.switch_to("idle", "red", Force::no);
    // idle has a canary (yellow) with orders; green is checked and failing.
    control.add_workspace("yellow", 0, one_socket("tcp://127.0.0.1:3004"));
    zd::RouteRequest canary =
        zd::RouteRequest::of(zd::RouteRequest::Kind::canary, "idle", "yellow", 50);
    canary.policy.promote_after_ms = 30'000;
    control.apply(control.plan(canary));
    zd::HealthCheck check;
    check.check = zd::parse_check("tcp");
    control.set_health_check("green", check);
    control.record_health("green", store.workspace("green")->id, {true, 1, "refused"});
    // purple runs on another host of the cluster only (issue 21).
    control.place(fabric({{"purple", {"b"}}}));
    store.crash = plane.crash = &crash;
  }

  // This host "a" and host "b" on the fabric, with these instances.
  static zd::Fabric fabric(std::map<std::string, std::vector<std::string>> instances) {
    zd::Fabric f;
    f.self = {"a", std::array<uint8_t, 4>{10, 77, 0, 1}, std::nullopt};
    f.nodes.push_back({"b", std::array<uint8_t, 4>{10, 77, 0, 2}, std::nullopt});
    f.instances = std::move(instances);
    return f;
  }

  static zd::Endpoint ep(const std::string &text) {
    return zd::parse_endpoint(text, AllowPrefix::yes);
  }
  static constexpr uint64_t kContainer = zd_test::kThisNetns + 1;

  std::vector<zd::TakenSocket> one_socket(const std::string &address,
                                          uint64_t netns = zd_test::kThisNetns) {
    zd::SocketInfo info;
    info.bound = zd::parse_endpoint(address, AllowPrefix::no);
    info.listening = true;
    info.cookie = next_cookie++;
    info.netns_cookie = netns;
    std::vector<zd::TakenSocket> out;
    out.push_back({zd::Fd(), info, 0});
    return out;
  }

  // Records (the free ids too) and kernel contents: what "before" and "after" compare.
  // Write counts are left out: recovery may write what it finds in place.
  std::string state() const { return store.dump_records() + plane.contents(); }
};

using Change = std::function<void(World &, ControlPlane &)>;

struct Case {
  const char *name;
  Change change;
};

const Case kCases[] = {
    {"domain add",
     [](World &, ControlPlane &c) {
       c.add_domain("new", {World::ep("tcp://10.99.0.9:80"), World::ep("tcp://10.99.2.0/24:80")});
     }},
    {"domain rm", [](World &, ControlPlane &c) { c.remove_domain("shop"); }},
    {"workspace add",
     [](World &w, ControlPlane &c) {
       c.add_workspace("white", 0, w.one_socket("tcp://127.0.0.1:3003"));
     }},
    {"workspace rm (previous)",
     [](World &, ControlPlane &c) { c.remove_workspace("blue", Force::no); }},
    {"workspace rm --force (active)",
     [](World &, ControlPlane &c) { c.remove_workspace("green", Force::yes); }},
    {"switch (history: pending event, route, final event)",
     [](World &, ControlPlane &c) { c.switch_to("shop", "blue", Force::no); }},
    {"revert", [](World &, ControlPlane &c) { c.revert("shop", Force::no); }},
    {"revert --to 1", [](World &, ControlPlane &c) { c.revert_to("shop", 1, Force::no); }},
    {"switch to a container for the first time",
     [](World &, ControlPlane &c) { c.switch_to("shop", "red", Force::no); }},
    {"domain rm (served by a container)",
     [](World &, ControlPlane &c) { c.remove_domain("idle"); }},
    {"workspace add (container)",
     [](World &w, ControlPlane &c) {
       c.add_workspace("black", 4343, w.one_socket("tcp://0.0.0.0:8080", World::kContainer + 1));
     }},
    {"workspace rm --force (container, active)",
     [](World &, ControlPlane &c) { c.remove_workspace("red", Force::yes); }},
    {"canary (history: pending event, route, final event)",
     [](World &, ControlPlane &c) {
       c.apply(c.plan(zd::RouteRequest::of(zd::RouteRequest::Kind::canary, "shop", "blue", 30)));
     }},
    {"canary in a container for the first time",
     [](World &, ControlPlane &c) {
       c.apply(c.plan(zd::RouteRequest::of(zd::RouteRequest::Kind::canary, "shop", "red", 10)));
     }},
    {"canary with orders (pending orders, route, orders in force)",
     [](World &, ControlPlane &c) {
       zd::RouteRequest canary =
           zd::RouteRequest::of(zd::RouteRequest::Kind::canary, "shop", "blue", 30);
       canary.policy.promote_after_ms = 60'000;
       c.apply(c.plan(canary));
     }},
    {"new orders for the canary in place (the route does not change)",
     [](World &, ControlPlane &c) {
       zd::RouteRequest canary =
           zd::RouteRequest::of(zd::RouteRequest::Kind::canary, "idle", "yellow", 50);
       canary.policy.revert_on_failure = false;
       c.apply(c.plan(canary));
     }},
    {"switch that ends a canary with orders",
     [](World &, ControlPlane &c) { c.switch_to("idle", "blue", Force::no); }},
    {"promote (serve)",
     [](World &, ControlPlane &c) {
       c.apply(c.plan(zd::RouteRequest::of(zd::RouteRequest::Kind::promote, "idle", "yellow")));
     }},
    {"canary-failed (serve)",
     [](World &, ControlPlane &c) {
       c.apply(
           c.plan(zd::RouteRequest::of(zd::RouteRequest::Kind::canary_failed, "idle", "yellow")));
     }},
    {"workspace set --no-check (failing)",
     [](World &, ControlPlane &c) { c.set_health_check("green", std::nullopt); }},
    {"workspace rm --force (failing, checked)",
     [](World &, ControlPlane &c) { c.remove_workspace("green", Force::yes); }},
    {"workspace add of a workspace of other hosts: it joins them (adopt)",
     [](World &w, ControlPlane &c) {
       c.add_workspace("purple", 0, w.one_socket("tcp://127.0.0.1:3005"));
     }},
    {"workspace rm of a workspace of other hosts, with its table",
     [](World &, ControlPlane &c) { c.remove_workspace("purple", Force::no); }},
};

TEST(ControlKillSweep, EveryKillPointEndsBeforeOrAfter) {
  for (const Case &test : kCases) {
    SCOPED_TRACE(test.name);
    World reference;
    const std::string before = reference.state();
    ControlPlane whole(reference.store, reference.plane);
    test.change(reference, whole);
    const std::string after = reference.state();
    ASSERT_NE(before, after);

    int points = 0;
    for (int at = 1;; ++at) {
      World world;
      world.crash.at = at;
      ControlPlane doomed(world.store, world.plane);
      bool killed = false;
      try {
        test.change(world, doomed);
      } catch (const Killed &) {
        killed = true;
      }
      if (!killed) { // ran to its end: every write has been a kill point
        EXPECT_EQ(world.state(), after);
        break;
      }
      ++points;
      SCOPED_TRACE("killed at write " + std::to_string(at));
      world.crash.disarm();
      ControlPlane next(world.store, world.plane);
      const auto what = next.recover();
      const std::string now = world.state();
      EXPECT_TRUE(now == before || now == after) << "neither before nor after:\n" << now;
      EXPECT_FALSE(world.store.intent()) << "recovery left the intent";
      EXPECT_EQ(bool(what), at > 1) << "only a kill at the intent's own write leaves none";
      EXPECT_FALSE(next.recover()) << "a second recovery found more to do";
      ASSERT_LT(at, 100) << "the change never finished";
    }
    EXPECT_GE(points, 3) << "too few writes to call this a sweep";
  }
}

// The agent's placement is a reconcile, not one change: each workspace it
// registers is one (an add_workspace intent), each table one map write. A
// kill anywhere leaves every step whole (a workspace registered with no
// table yet is one with no live instance: passed over), and the next
// place() makes it all as asked.
TEST(ControlKillSweep, PlaceKilledAnywhereConvergesOnTheNextRun) {
  const zd::Fabric asked = World::fabric({{"purple", {"a", "b"}}, {"teal", {"b"}}});
  World reference;
  ControlPlane(reference.store, reference.plane).place(asked);
  const std::string after = reference.state();
  int points = 0;
  for (int at = 1; at < 100; ++at) {
    World world;
    world.crash.at = at;
    try {
      ControlPlane(world.store, world.plane).place(asked);
      EXPECT_EQ(world.state(), after);
      break;
    } catch (const Killed &) {
    }
    ++points;
    SCOPED_TRACE("killed at write " + std::to_string(at));
    world.crash.disarm();
    ControlPlane next(world.store, world.plane);
    next.recover();
    next.place(asked);
    EXPECT_EQ(world.state(), after);
  }
  EXPECT_GE(points, 3);
}

TEST(ControlKillSweep, NothingToDoWritesNothing) {
  World world;
  const size_t writes = world.store.writes + world.plane.writes;
  ControlPlane control(world.store, world.plane);
  EXPECT_FALSE(control.recover());
  EXPECT_EQ(world.store.writes + world.plane.writes, writes);
}

TEST(ControlKillSweep, AnUndoneAddFreesItsNameAndItsBindings) {
  World world;
  world.crash.at = 4; // intent, cursor, record: killed at the plane write
  ControlPlane doomed(world.store, world.plane);
  EXPECT_THROW(doomed.add_domain("new", {World::ep("tcp://10.99.0.9:80")}), Killed);
  world.crash.disarm();
  ControlPlane next(world.store, world.plane);
  EXPECT_EQ(next.recover(), std::optional<std::string>("undid an interrupted 'domain add new'"));
  // The same add now succeeds, under the same id.
  next.add_domain("new", {World::ep("tcp://10.99.0.9:80")});
  EXPECT_EQ(world.plane.binding_owner(World::ep("tcp://10.99.0.9:80")),
            std::optional<uint32_t>(world.store.domain("new")->id));
}

} // namespace
