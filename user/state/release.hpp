// A release step with its health check: switch, revert, revert --to or a
// canary, gated on the target workspace answering its check first.
//
// The check is probed with no lock held: a probe may take seconds (its
// timeout times its attempts), and every other zdctl, status included,
// would wait that long. So the change is planned under the lock, probed
// unlocked, then planned again under the lock and made only if it still
// points at the very workspace that was probed (same id, same sockets):
// what was checked is what is switched to, or nothing is. A change with no
// check is planned and made under one lock, as before checks existed.
#pragma once

#include <optional>
#include <vector>

#include "check.hpp"
#include "control.hpp"
#include "state.hpp"

namespace zd {

// Which check runs: the domain's own (domain set --check), another one
// given for this change, or none.
struct CheckChoice {
  std::optional<Check> given;
  bool skip = false;
};

struct Release {
  SwitchResult result;             // what changed, or would change (dry run)
  std::optional<Check> check;      // the check that ran
  bool skipped = false;            // the domain's check, skipped as asked
  std::vector<ProbeReport> probes; // one per address family of the domain
};

// Pause between a failed probe and the next attempt.
inline constexpr std::chrono::milliseconds kProbePause{250};

// Tries a target until it answers well or the check's retries are spent.
ProbeReport probe_target(const ProbeTarget &target, const Check &check);

// Refuses (Errc::refused, Override::skip_check) when a probe still fails
// after its retries, changing nothing. A dry run probes and plans, and
// changes nothing either way.
Release release(const State &state, const RouteRequest &request, const CheckChoice &choice,
                bool dry_run);

} // namespace zd
