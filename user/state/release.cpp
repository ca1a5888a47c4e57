#include "release.hpp"

#include <algorithm>
#include <thread>

#include <spdlog/spdlog.h>

#include "error.hpp"
#include "netns.hpp"
#include "parse.hpp"
#include "probe.hpp"

namespace zd {

namespace {

// What the probes need, read under the shared lock.
struct Planned {
  RoutePlan plan;
  std::optional<Check> check;
  bool skipped = false;
  std::optional<Netns> netns; // the target's own namespace, if not this one
  std::string from;           // the active workspace's name, "" for none
};

Planned plan_in(Session &session, ControlPlane &control, const RouteRequest &request,
                const CheckChoice &choice) {
  Planned planned{control.plan(request), std::nullopt, false, std::nullopt, ""};
  if (planned.plan.before.active != kNoId)
    planned.from = session.store().workspace_name(planned.plan.before.active).value_or("");
  const std::optional<Check> own = control.domain_check(request.domain);
  // Ending a canary sends nothing new anywhere but to the active workspace.
  const bool probed = planned.plan.admits_target() && !choice.skip;
  planned.check = !probed ? std::nullopt : choice.given ? choice.given : own;
  planned.skipped = choice.skip && own.has_value();
  const Workspace &target = planned.plan.target;
  if (planned.check && planned.plan.changes() && target.placement == Placement::other_netns) {
    const auto container = session.plane().container_status(target);
    planned.netns = container ? find_netns(target.pid, container->netns) : std::nullopt;
    if (!planned.netns)
      throw Error(Errc::refused,
                  "cannot check workspace '" + target.name + "': its network namespace is gone");
  }
  return planned;
}

} // namespace

ProbeReport probe_target(const ProbeTarget &target, const Check &check) {
  ProbeReport report{target, {}, 0};
  for (uint32_t attempt = 0; attempt <= check.retries; ++attempt) {
    if (attempt > 0)
      std::this_thread::sleep_for(kProbePause);
    report.answer = probe(target.address, check);
    report.attempts = attempt + 1;
    spdlog::debug("check {} at {}: {}", describe(check), format_endpoint(target.address),
                  report.answer.said);
    if (report.answer.ok)
      break;
  }
  return report;
}

namespace {

std::vector<ProbeReport> probe_all(const Planned &planned) {
  std::optional<InNetns> inside;
  if (planned.netns)
    inside.emplace(*planned.netns);
  std::vector<ProbeReport> reports;
  for (const auto &target : probe_targets(planned.plan.domain, planned.plan.target))
    reports.push_back(probe_target(target, *planned.check));
  return reports;
}

void require_passed(const Planned &planned, const std::vector<ProbeReport> &reports) {
  for (const auto &report : reports)
    if (!report.answer.ok)
      throw Error(Errc::refused,
                  "workspace '" + planned.plan.target.name + "' failed its check: " +
                      describe(*planned.check) + " at " + format_endpoint(report.target.address) +
                      " " + report.answer.said + " (" + std::to_string(report.attempts) +
                      (report.attempts == 1 ? " attempt" : " attempts") + "); domain '" +
                      planned.plan.domain.name + "' was not changed",
                  Override::skip_check);
}

bool same_sockets(const Workspace &a, const Workspace &b) {
  return std::equal(a.sockets.begin(), a.sockets.end(), b.sockets.begin(), b.sockets.end(),
                    [](const RegisteredSocket &x, const RegisteredSocket &y) {
                      return x.cookie == y.cookie && x.serves == y.serves;
                    });
}

} // namespace

Release release(const State &state, const RouteRequest &request, const CheckChoice &choice,
                bool dry_run) {
  std::optional<Planned> planned;
  Release out;
  {
    // A change with nothing to probe is planned and made under one lock,
    // as a plain switch always was; a dry run only reads.
    Session session = state.open(dry_run ? Lock::shared : Lock::exclusive);
    ControlPlane control = session.control();
    planned = plan_in(session, control, request, choice);
    out = {{planned->plan.changes() ? Changed::yes : Changed::no, planned->from,
            planned->plan.target.name},
           planned->check,
           planned->skipped,
           {}};
    if (!planned->check || !planned->plan.changes()) {
      if (!dry_run)
        out.result = control.apply(planned->plan);
      return out;
    }
  }
  // The probes, with no lock held.
  out.probes = probe_all(*planned);
  require_passed(*planned, out.probes);
  if (dry_run)
    return out;
  return state.with(Lock::exclusive, [&](ControlPlane &control) {
    const RoutePlan now = control.plan(request);
    if (now.changes() && (now.target.id != planned->plan.target.id ||
                          !same_sockets(now.target, planned->plan.target)))
      throw Error(Errc::busy, "domain '" + now.domain.name + "' or workspace '" + now.target.name +
                                  "' changed while the check ran; nothing changed (run it again)");
    out.result = control.apply(now);
    return out;
  });
}

} // namespace zd
