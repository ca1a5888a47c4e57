#include "watcher.hpp"

#include <algorithm>
#include <ctime>
#include <optional>

#include <spdlog/spdlog.h>

#include "check.hpp"
#include "control.hpp"
#include "error.hpp"
#include "netns.hpp"
#include "parse.hpp"
#include "probe.hpp"
#include "release.hpp"
#include "state.hpp"

namespace zdctl {

namespace {

// The watcher reads the state when a probe falls due, and at least this often
// (a check or a canary set meanwhile, a promotion due): what bounds how late
// a canary's order is carried out. Reading more often would cost the host CPU
// for nothing: each read opens the state's pins under its lock.
constexpr std::chrono::milliseconds kIdle{1000};
// ...and at most this often.
constexpr std::chrono::milliseconds kTick{50};

zd::Watch read_watch(const zd::State &state) {
  return state.with(zd::Lock::shared, [](zd::ControlPlane &control) { return control.watch(); });
}

int64_t realtime_ns() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

// One probe of every target of the workspace: ok when all answer well; what
// the first that did not said, or what the last one said.
zd::ProbeAnswer probe_workspace(const zd::Watched &w) {
  std::optional<zd::Netns> netns;
  if (w.workspace.placement == zd::Placement::other_netns) {
    netns = w.netns ? zd::find_netns(w.workspace.pid, w.netns) : std::nullopt;
    if (!netns)
      return {false, "its network namespace is gone"};
  }
  std::optional<zd::InNetns> inside;
  if (netns)
    inside.emplace(*netns);
  const auto targets = zd::health_targets(w.workspace);
  if (targets.empty())
    return {false, "it has no TCP socket to probe"};
  zd::ProbeAnswer answer;
  for (const auto &target : targets) {
    answer = zd::probe(target.address, w.check.check);
    answer.said = zd::format_endpoint(target.address) + " " + answer.said;
    if (!answer.ok)
      return answer;
  }
  return answer;
}

} // namespace

Watcher::Watcher(std::string state) : state_(std::move(state)) {
  thread_ = std::thread([this] { run(); });
}

Watcher::~Watcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

bool Watcher::sleep_for(std::chrono::milliseconds pause) {
  std::unique_lock<std::mutex> lock(mutex_);
  return !wake_.wait_for(lock, pause, [this] { return stopping_; });
}

void Watcher::run() {
  std::string trouble; // what stops the checks, said once (not at every pass)
  std::chrono::milliseconds pause = kIdle;
  do {
    try {
      const zd::State state(state_);
      zd::Watch watch = read_watch(state);
      const auto [wrote, next_due] = check_workspaces(state, watch, Clock::now());
      if (wrote)
        watch = read_watch(state); // a canary that just failed is ended in this same pass
      follow_canaries(state, watch);
      pause = std::clamp(std::chrono::ceil<std::chrono::milliseconds>(next_due - Clock::now()),
                         kTick, kIdle);
      if (!trouble.empty())
        spdlog::info("health checks: running again");
      trouble.clear();
    } catch (const std::exception &e) {
      // A state being upgraded or detached: try again a little later.
      const std::string why = zd::printable(e.what());
      if (why != trouble)
        spdlog::warn("health checks: {} (trying again every {} ms)", why, kIdle.count());
      trouble = why;
      pause = kIdle;
    }
  } while (sleep_for(pause));
}

// Each workspace due is probed once; `fall` failures in a row mark it
// failing, `rise` successes clear the mark. Only a change of verdict is
// written, so a steady state costs the state nothing.
Watcher::Pass Watcher::check_workspaces(const zd::State &state, const zd::Watch &watch,
                                        Clock::time_point now) {
  Pass pass{false, now + kIdle};
  std::map<std::string, Streak> kept;
  for (const zd::Watched &w : watch.workspaces) {
    Streak streak = streaks_.count(w.workspace.name) ? streaks_[w.workspace.name] : Streak{};
    if (streak.id != w.workspace.id)
      streak = Streak{w.workspace.id}; // new, or registered again: start over
    if (now >= streak.next) {
      const zd::ProbeAnswer answer = probe_workspace(w);
      streak.next = Clock::now() + std::chrono::milliseconds(w.check.interval_ms);
      answer.ok ? (++streak.good, streak.bad = 0) : (++streak.bad, streak.good = 0);
      const bool fails = !answer.ok && streak.bad >= w.check.fall;
      const bool passes = answer.ok && streak.good >= w.check.rise;
      // A verdict is written when it differs from the mark or from the
      // record (a serve killed between the two writes left them apart), or
      // is the first.
      const bool first = !w.last && (fails || passes);
      const bool recorded_failing = w.last && w.last->failing;
      if (first || (fails && (!w.failing || !recorded_failing)) ||
          (passes && (w.failing || recorded_failing))) {
        const zd::Health health{fails, realtime_ns(), answer.said};
        const bool written = state.with(zd::Lock::exclusive, [&](zd::ControlPlane &control) {
          return control.record_health(w.workspace.name, w.workspace.id, health);
        });
        pass.wrote |= written;
        if (written)
          spdlog::info("workspace {}: {} ({})", w.workspace.name,
                       fails ? "failing its check: new connections pass it over"
                             : "passing its check",
                       answer.said);
      }
    }
    pass.next_due = std::min(pass.next_due, streak.next);
    kept[w.workspace.name] = streak;
  }
  streaks_ = std::move(kept);
  return pass;
}

// A failing canary ends at once (unless told to stay); one whose health held
// --promote-after becomes active. Both are route changes like any other:
// planned and made under the lock, in history with how they came.
void Watcher::follow_canaries(const zd::State &state, const zd::Watch &watch) {
  const int64_t now = realtime_ns();
  for (const zd::WatchedCanary &c : watch.canaries) {
    zd::RouteRequest request;
    request.domain = c.domain;
    request.workspace = c.workspace;
    if (c.failing && c.policy.revert_on_failure)
      request.kind = zd::RouteRequest::Kind::canary_failed;
    else if (!c.failing && c.policy.promote_after_ms && c.healthy_since_ns &&
             now - c.healthy_since_ns >= int64_t{c.policy.promote_after_ms} * 1'000'000)
      request.kind = zd::RouteRequest::Kind::promote;
    else
      continue;
    try {
      zd::release(state, request, zd::CheckChoice{std::nullopt, true}, false);
      spdlog::info(
          "domain {}: canary {} {}", c.domain, c.workspace,
          request.kind == zd::RouteRequest::Kind::promote
              ? "promoted: its health held " +
                    zd::format_duration(std::chrono::milliseconds(c.policy.promote_after_ms))
              : "ended: it fails its health check");
    } catch (const zd::Error &e) {
      spdlog::warn("domain {}: canary {}: {}", c.domain, c.workspace, zd::printable(e.what()));
    }
  }
}

} // namespace zdctl
