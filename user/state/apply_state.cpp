#include "apply_state.hpp"

#include <algorithm>
#include <optional>

#include <spdlog/spdlog.h>

#include "error.hpp"
#include "netns.hpp"
#include "parse.hpp"
#include "release.hpp"

namespace zd {

namespace {

// A route target to probe, with its namespace held open when it is a
// container's (found under the lock, probed without it).
struct Gate {
  Applier::Target target;
  std::optional<Netns> netns;
};

std::vector<Gate> gates_in(Session &session, const Applier &applier, const Desired &want,
                           const std::vector<ApplyStep> &steps) {
  std::vector<Gate> gates;
  for (auto &target : applier.route_targets(want, steps)) {
    if (!target.check)
      continue;
    Gate gate{std::move(target), std::nullopt};
    const Workspace &workspace = gate.target.workspace;
    if (workspace.placement == Placement::other_netns) {
      const auto container = session.plane().container_status(workspace);
      gate.netns = container ? find_netns(workspace.pid, container->netns) : std::nullopt;
      if (!gate.netns)
        throw Error(Errc::refused, "domains." + gate.target.domain.name +
                                       ": cannot check workspace '" + workspace.name +
                                       "': its network namespace is gone");
    }
    gates.push_back(std::move(gate));
  }
  return gates;
}

std::vector<GateProbe> probe_gates(const std::vector<Gate> &gates) {
  std::vector<GateProbe> probes;
  for (const auto &gate : gates) {
    std::optional<InNetns> inside;
    if (gate.netns)
      inside.emplace(*gate.netns);
    for (const auto &target : probe_targets(gate.target.domain, gate.target.workspace))
      probes.push_back({gate.target.domain.name, gate.target.workspace.name, *gate.target.check,
                        probe_target(target, *gate.target.check)});
  }
  return probes;
}

// Every failing probe, in one refusal.
void require_passed(const std::vector<GateProbe> &probes) {
  std::string failed;
  for (const auto &p : probes)
    if (!p.report.answer.ok)
      failed += (failed.empty() ? "" : "; ") + std::string("workspace '") + p.workspace +
                "' for domain '" + p.domain + "': " + describe(p.check) + " at " +
                format_endpoint(p.report.target.address) + " " + p.report.answer.said + " (" +
                std::to_string(p.report.attempts) +
                (p.report.attempts == 1 ? " attempt)" : " attempts)");
  if (!failed.empty())
    throw Error(Errc::refused, "the health gate refused the apply, nothing changed: " + failed,
                Override::skip_check);
}

std::vector<std::string> texts(const std::vector<ApplyStep> &steps) {
  std::vector<std::string> out;
  for (const auto &step : steps)
    out.push_back(describe(step));
  return out;
}

} // namespace

Applied apply_document(const State &state, const std::string &document,
                       const ApplyOptions &options) {
  const Desired want = parse_desired(document);
  const PendingApply pending{to_json(want).dump(), options.prune, options.force};
  const Force force = options.force ? Force::yes : Force::no;
  Applied out;
  std::vector<Gate> gates;
  {
    Session session = state.open(Lock::shared);
    ControlPlane control = session.control();
    const Applier applier(control, session.store(), session.plane());
    out.steps = applier.plan(want, options.prune, force);
    if (!options.no_check)
      gates = gates_in(session, applier, want, out.steps);
  }
  out.probes = probe_gates(gates); // with no lock held
  require_passed(out.probes);
  if (options.dry_run || out.steps.empty())
    return out;
  Session session = state.open(Lock::exclusive);
  ControlPlane control = session.control();
  Applier applier(control, session.store(), session.plane());
  std::vector<ApplyStep> now = applier.plan(want, options.prune, force);
  // What was probed is what is switched to: the same steps, to the very
  // workspaces probed (same ids, same sockets).
  bool same = texts(now) == texts(out.steps);
  if (same && !gates.empty()) {
    const auto targets = applier.route_targets(want, now);
    for (const auto &gate : gates)
      same &= std::any_of(targets.begin(), targets.end(), [&](const Applier::Target &t) {
        const Workspace &a = t.workspace, &b = gate.target.workspace;
        return t.domain.name == gate.target.domain.name && a.id == b.id &&
               std::equal(a.sockets.begin(), a.sockets.end(), b.sockets.begin(), b.sockets.end(),
                          [](const RegisteredSocket &x, const RegisteredSocket &y) {
                            return x.cookie == y.cookie;
                          });
      });
  }
  if (!same)
    throw Error(Errc::busy, "the state changed while the health checks ran; nothing changed "
                            "(run apply again)");
  applier.run(pending, now);
  out.steps = std::move(now);
  return out;
}

Desired export_state(const State &state) {
  Session session = state.open(Lock::shared);
  ControlPlane control = session.control();
  return Applier(control, session.store(), session.plane()).actual({}, true);
}

} // namespace zd
