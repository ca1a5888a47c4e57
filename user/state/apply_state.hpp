// `zdctl apply` and `POST /api/v1/apply` against a state: the document's
// steps planned under the shared lock, the route targets probed with no
// lock held (release.hpp says why), then planned again under the exclusive
// lock and run as one change (core/apply.hpp) only if they are still the
// same steps.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "apply.hpp"
#include "probe.hpp"
#include "state.hpp"

namespace zd {

struct ApplyOptions {
  bool dry_run = false;
  bool prune = false;    // remove the domains the document does not name
  bool force = false;    // as switch --force: no live socket needed
  bool no_check = false; // no health gate
};

struct GateProbe {
  std::string domain, workspace;
  Check check;
  ProbeReport report;
};

struct Applied {
  std::vector<ApplyStep> steps; // made, or that would be (dry run)
  std::vector<GateProbe> probes;
};

// Throws Error: invalid (the document, naming its key), refused (a step no
// apply can make; a failing probe, listing every one, Override::skip_check),
// busy (the state changed while the probes ran). Nothing changed then.
Applied apply_document(const State &state, const std::string &document,
                       const ApplyOptions &options);

// The whole state as a document (zdctl export, GET /api/v1/export).
Desired export_state(const State &state);

} // namespace zd
