#include "cluster_marks.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include "error.hpp"
#include "records.hpp"
#include "state.hpp"

namespace zd {

namespace {

constexpr const char *kPin = "cluster";
constexpr uint32_t kMaxMarks = kMaxDomains + 1;

// One entry per managed domain, by name; the agent's own under "".
struct Value {
  uint64_t revision;
  uint32_t drifted;
  uint32_t pid;
};

} // namespace

ClusterMarks ClusterMarks::for_agent(const std::string &dir) {
  // Under the state's lock: a session opened meanwhile takes a pin still
  // named "cluster-pinning" for a killed zdctl's leftover and removes it.
  const Session held = State(dir).open(Lock::exclusive);
  std::optional<ClusterMarks> marks = open(dir);
  if (!marks) {
    BpfMap map = BpfMap::create(BPF_MAP_TYPE_HASH, kPin, sizeof(record::Name), sizeof(Value),
                                kMaxMarks, BPF_F_NO_PREALLOC);
    pin_whole(map.fd(), dir + "/" + kPin);
    marks.emplace(ClusterMarks(std::move(map)));
  }
  marks->map_.update(record::to_name(""), Value{0, 0, static_cast<uint32_t>(getpid())});
  return std::move(*marks);
}

std::optional<ClusterMarks> ClusterMarks::open(const std::string &dir) {
  if (access((dir + "/" + kPin).c_str(), F_OK) != 0)
    return std::nullopt;
  BpfMap map = BpfMap::open_pin(dir, kPin);
  map.require_shape(BPF_MAP_TYPE_HASH, sizeof(record::Name), sizeof(Value));
  return ClusterMarks(std::move(map));
}

std::optional<pid_t> ClusterMarks::agent() const {
  Value v{};
  if (!map_.lookup(record::to_name(""), v) || v.pid == 0)
    return std::nullopt;
  const auto pid = static_cast<pid_t>(v.pid);
  if (kill(pid, 0) != 0 && errno == ESRCH)
    return std::nullopt;
  return pid;
}

std::optional<ClusterMark> ClusterMarks::mark(const std::string &domain) const {
  Value v{};
  if (domain.empty() || !map_.lookup(record::to_name(domain), v))
    return std::nullopt;
  return ClusterMark{v.revision, v.drifted != 0};
}

std::map<std::string, ClusterMark> ClusterMarks::marks() const {
  std::map<std::string, ClusterMark> out;
  for (const auto &[name, v] : map_.entries<record::Name, Value>()) {
    const std::string domain = record::from_name(name);
    if (!domain.empty())
      out[domain] = {v.revision, v.drifted != 0};
  }
  return out;
}

void ClusterMarks::set(const std::string &domain, uint64_t revision) {
  map_.update(record::to_name(domain), Value{revision, 0, 0});
}

void ClusterMarks::erase(const std::string &domain) {
  map_.erase(record::to_name(domain));
}

void ClusterMarks::drift(const std::string &domain) {
  Value v{};
  if (map_.lookup(record::to_name(domain), v)) {
    v.drifted = 1;
    map_.update(record::to_name(domain), v);
  }
}

void refuse_managed(const std::string &dir, const std::string &domain, bool local,
                    const std::string &cluster_form) {
  const std::optional<ClusterMarks> marks = ClusterMarks::open(dir);
  if (!marks || local)
    return;
  const std::optional<pid_t> agent = marks->agent();
  const std::optional<ClusterMark> mark = marks->mark(domain);
  if (agent && mark)
    throw Error(Errc::refused, "domain '" + domain +
                                   "' is managed by the cluster (this host's agent, pid " +
                                   std::to_string(*agent) + ", applied it at revision " +
                                   std::to_string(mark->revision) +
                                   "): change it with zdctl --cluster URLS " + cluster_form +
                                   ", or give --local to change this host alone (status shows "
                                   "the drift until the cluster next changes it)");
}

void drift_after(const std::string &dir, const std::string &domain) {
  if (std::optional<ClusterMarks> marks = ClusterMarks::open(dir))
    if (marks->agent() && marks->mark(domain))
      marks->drift(domain);
}

} // namespace zd
