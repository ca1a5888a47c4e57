#include "apply.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "error.hpp"
#include "ids.hpp"

namespace zd {

Desired Applier::actual(const Desired &want, bool every) const {
  Desired have;
  std::vector<Domain> domains;
  if (every) {
    domains = store_.domains();
  } else {
    for (const auto &d : want.domains)
      if (auto domain = store_.domain(d.name))
        domains.push_back(std::move(*domain));
  }
  const std::set<uint32_t> local_first = plane_.preferring_local();
  for (const auto &domain : domains) {
    DesiredDomain d{domain.name,
                    domain.bindings,
                    store_.domain_check(domain.name),
                    "",
                    {},
                    local_first.count(domain.id) > 0};
    if (const auto route = plane_.route(domain.id)) {
      d.active = route->active == kNoId ? "" : control_.workspace_name(route->active);
      if (route->canary != kNoId)
        d.canary = DesiredCanary{control_.workspace_name(route->canary), route->canary_weight,
                                 control_.orders_in_force(domain.name)};
    }
    have.domains.push_back(std::move(d));
  }
  std::set<std::string> names;
  if (every) {
    for (const auto &workspace : store_.workspaces())
      names.insert(workspace.name);
  } else {
    for (const auto &w : want.workspaces)
      names.insert(w.name);
    for (const auto &d : want.domains) {
      if (!d.active.empty())
        names.insert(d.active);
      if (d.canary)
        names.insert(d.canary->workspace);
    }
  }
  for (const auto &name : names)
    if (store_.workspace(name))
      have.workspaces.push_back({name, store_.health_check(name)});
  auto by_name = [](const auto &a, const auto &b) { return a.name < b.name; };
  std::sort(have.domains.begin(), have.domains.end(), by_name);
  std::sort(have.workspaces.begin(), have.workspaces.end(), by_name);
  return have;
}

std::vector<ApplyStep> Applier::plan(const Desired &want, bool prune, Force force) const {
  const Desired have = actual(want, prune);
  std::vector<ApplyStep> steps = diff(want, have, prune);

  std::set<std::string> leaving;
  uint32_t adding = 0;
  for (const auto &step : steps) {
    if (step.op == ApplyStep::Op::remove_domain) {
      leaving.insert(step.name);
      if (force == Force::no)
        if (const size_t open = control_.container_connections(step.name))
          throw Error(Errc::refused,
                      "domains." + step.name + ": --prune would remove it, and containers hold " +
                          std::to_string(open) + " open connections to it (they would go dead)",
                      Override::force);
    }
    if (step.op == ApplyStep::Op::add_domain) {
      ++adding;
      try {
        control_.check_new_domain(step.name, step.listen, leaving);
      } catch (const Error &e) {
        throw Error(e.kind(), "domains." + step.name + ": " + e.what());
      }
    }
  }
  if (adding) {
    const IdCursor ids = store_.id_cursor(IdKind::domain);
    const uint64_t fresh = ids.next <= kMaxDomains ? kMaxDomains - ids.next + 1 : 0;
    const uint64_t free = fresh + Ids(store_, IdKind::domain).freed() + leaving.size();
    if (adding > free)
      throw Error(Errc::refused, "too many domains: the document adds " + std::to_string(adding) +
                                     " and " + std::to_string(free) + " more fit (at most " +
                                     std::to_string(kMaxDomains) + ")");
  }

  // The routes, as each domain stands once its steps before them are made.
  std::map<std::string, std::string> active;
  for (const auto &d : have.domains)
    active[d.name] = d.active;
  for (const auto &target : route_targets(want, steps)) {
    const std::string &domain = target.domain.name;
    if (force == Force::no)
      try {
        control_.require_live_sockets(target.domain, target.workspace);
      } catch (const Error &e) {
        throw Error(e.kind(), "domains." + domain + ": " + e.what(), e.override_by());
      }
  }
  for (const auto &step : steps) {
    if (step.op == ApplyStep::Op::switch_to)
      active[step.name] = step.workspace;
    if (step.op == ApplyStep::Op::canary) {
      if (active[step.name].empty())
        throw Error(Errc::refused, "domains." + step.name +
                                       ".canary: a canary shares the new connections of an "
                                       "active workspace, and the domain has none");
      if (active[step.name] == step.workspace)
        throw Error(Errc::refused, "domains." + step.name + ".canary: '" + step.workspace +
                                       "' is the active workspace; a canary is another one");
    }
  }
  return steps;
}

std::vector<Applier::Target> Applier::route_targets(const Desired &want,
                                                    const std::vector<ApplyStep> &steps) const {
  std::map<std::string, const DesiredDomain *> wanted;
  for (const auto &d : want.domains)
    wanted[d.name] = &d;
  std::vector<Target> out;
  for (const auto &step : steps) {
    if (step.op != ApplyStep::Op::switch_to && step.op != ApplyStep::Op::canary)
      continue;
    const DesiredDomain &d = *wanted.at(step.name);
    Domain domain = store_.domain(step.name).value_or(Domain{step.name, kNoId, d.listen});
    out.push_back({std::move(domain), control_.find_workspace(step.workspace), d.check});
  }
  return out;
}

void Applier::step(const ApplyStep &step, Force force) {
  using Kind = RouteRequest::Kind;
  switch (step.op) {
  case ApplyStep::Op::remove_domain:
    control_.remove_domain(step.name);
    return;
  case ApplyStep::Op::add_domain:
    control_.add_domain(step.name, step.listen);
    return;
  case ApplyStep::Op::set_check:
    control_.set_domain_check(step.name, step.check);
    return;
  case ApplyStep::Op::set_health_check:
    control_.set_health_check(step.name, step.health);
    return;
  case ApplyStep::Op::switch_to:
    control_.apply(
        control_.plan(RouteRequest::of(Kind::switch_to, step.name, step.workspace, 0, force)));
    return;
  case ApplyStep::Op::canary: {
    RouteRequest request =
        RouteRequest::of(Kind::canary, step.name, step.workspace, step.weight, force);
    request.policy = step.policy;
    control_.apply(control_.plan(request));
    return;
  }
  case ApplyStep::Op::canary_end:
    control_.apply(control_.plan(RouteRequest::of(Kind::canary_end, step.name, "", 0, force)));
    return;
  case ApplyStep::Op::prefer_local:
    control_.set_prefer_local(step.name, step.prefer);
    return;
  }
}

void Applier::run(const PendingApply &apply, const std::vector<ApplyStep> &steps) {
  if (steps.empty())
    return;
  store_.set_pending_apply(apply);
  size_t made = 0;
  try {
    for (const auto &s : steps) {
      step(s, apply.force ? Force::yes : Force::no);
      ++made;
    }
  } catch (const Error &e) {
    // Only the kernel refuses here (a map full): everything else was checked
    // before the first step. What is made stays; the apply says so.
    store_.clear_pending_apply();
    throw Error(e.kind(), "apply stopped at step " + std::to_string(made + 1) + " of " +
                              std::to_string(steps.size()) + " (" + describe(steps[made]) +
                              "): " + e.what() + "; the " + std::to_string(made) +
                              " before it are made (zdctl export shows the state)");
  }
  store_.clear_pending_apply();
}

std::string Applier::finish(const PendingApply &apply) {
  size_t left = 0;
  try {
    const std::vector<ApplyStep> steps =
        plan(parse_desired(apply.document), apply.prune, apply.force ? Force::yes : Force::no);
    left = steps.size();
    for (const auto &s : steps)
      step(s, apply.force ? Force::yes : Force::no);
  } catch (const Error &e) {
    store_.clear_pending_apply();
    return std::string("could not finish an interrupted apply: ") + e.what();
  }
  store_.clear_pending_apply();
  return "finished an interrupted apply (" + std::to_string(left) +
         (left == 1 ? " step was left)" : " steps were left)");
}

} // namespace zd
