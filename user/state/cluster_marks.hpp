// Which domains of this host's state the host's cluster agent manages
// (zdctl serve --cluster), so that a local command refuses to change one
// behind the cluster's back (--local insists, and the change is marked as a
// drift until the agent next applies the domain). The marks live in an
// optional pin of the state, "cluster", that the agent makes; no program
// reads it and nothing of the state's own consistency depends on it: it
// holds what the agent last applied, and is rewritten by its next change.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "bpf_map.hpp"

namespace zd {

struct ClusterMark {
  uint64_t revision = 0; // the cluster's revision the agent applied it at
  bool drifted = false;  // changed locally (--local) since
};

class ClusterMarks {
public:
  // The agent's: the pin made if missing, and this process named as the agent.
  static ClusterMarks for_agent(const std::string &dir);
  // Anyone's: none when no agent ever ran on this state.
  static std::optional<ClusterMarks> open(const std::string &dir);

  // The agent's pid while it runs; nothing once it is gone.
  std::optional<pid_t> agent() const;
  std::optional<ClusterMark> mark(const std::string &domain) const;
  std::map<std::string, ClusterMark> marks() const;
  void set(const std::string &domain, uint64_t revision); // applied: no drift
  void erase(const std::string &domain);
  void drift(const std::string &domain);

private:
  explicit ClusterMarks(BpfMap map) : map_(std::move(map)) {}
  BpfMap map_;
};

// Refuses (Errc::refused, Override::none) a local change of a domain the
// running agent manages, naming the --cluster form; with `local` it lets it
// through and marks the drift (after the change: call drift_after).
void refuse_managed(const std::string &dir, const std::string &domain, bool local,
                    const std::string &cluster_form);
void drift_after(const std::string &dir, const std::string &domain);

} // namespace zd
