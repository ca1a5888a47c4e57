// `zdctl apply`'s steps, in the core: what the state holds of a document's
// names (and, for export and --prune, of everything), the steps that make it
// the document, checked before anything is written, and their run as one
// change. The run is kept whole by the store's pending apply: the document
// goes there first, and a zdctl killed during the run leaves it for the
// next, whose recover() applies it again. Since an apply is declarative,
// applying it again makes only the steps the first run did not: the state
// ends exactly as one uninterrupted run leaves it.
//
// The health gate (probes with no lock held) is the state layer's
// (state/apply.hpp): it probes what route_targets() names.
#pragma once

#include <string>
#include <vector>

#include "control.hpp"
#include "desired.hpp"

namespace zd {

class Applier {
public:
  Applier(ControlPlane &control, Store &store, Dataplane &plane)
      : control_(control), store_(store), plane_(plane) {}

  // What the state holds of the domains and workspaces want names; with
  // every = true, of all of them (export, --prune).
  Desired actual(const Desired &want, bool every) const;
  // The steps, after every check a step would make (names, bindings free,
  // ids to spare, live sockets unless force, a canary's rules): a refusal
  // here changes nothing.
  std::vector<ApplyStep> plan(const Desired &want, bool prune, Force force) const;
  // The domain and workspace of each route step, with the check the domain
  // has once applied: what the health gate probes.
  struct Target {
    Domain domain;
    Workspace workspace;
    std::optional<Check> check;
  };
  std::vector<Target> route_targets(const Desired &want, const std::vector<ApplyStep> &steps) const;
  // Runs the steps, the document kept pending meanwhile.
  void run(const PendingApply &apply, const std::vector<ApplyStep> &steps);
  // recover(): applies a pending apply again; what it did, for the log.
  std::string finish(const PendingApply &apply);

private:
  void step(const ApplyStep &step, Force force);

  ControlPlane &control_;
  Store &store_;
  Dataplane &plane_;
};

} // namespace zd
