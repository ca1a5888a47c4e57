// The cluster's desired state in etcd, as operators change it (`zdctl
// --cluster ...`) and as the agents on every host report what they did
// (agent.hpp). Keys, under a prefix (default "/zd/"):
//
//   domains/NAME   the domain as `zdctl apply` takes it, plus "previous" (what
//                  revert goes back to); {"removed": true} once removed, so a
//                  host that was away still removes it when it returns
//   history/NAME/SEQ  one change: from, to, how, by, at (its revision is the
//                  key's create_revision, the transaction's own)
//   alive/NODE     a node's registration, held by its lease (~10 s)
//   local/NODE     what a node has registered: its workspaces, alive or not,
//                  failing or not
//   applied/NODE   the newest revision a node has applied, when, and each
//                  domain it could not apply, with why
//
// A change of a domain is ONE transaction guarded by the key's mod_revision
// as read: of two operators racing, one wins, the other is told the domain
// changed and writes nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "etcd.hpp"

namespace zd::cluster {

inline constexpr const char *kDefaultPrefix = "/zd/";

struct Keys {
  std::string prefix = kDefaultPrefix;
  std::string domains() const { return prefix + "domains/"; }
  std::string domain(const std::string &name) const { return domains() + name; }
  std::string history() const { return prefix + "history/"; }
  std::string alive() const { return prefix + "alive/"; }
  std::string local() const { return prefix + "local/"; }
  std::string applied() const { return prefix + "applied/"; }
};

// What a node has published about itself.
struct NodeWorkspace {
  bool alive = false;   // a registered socket is live
  bool failing = false; // its continuous check says so
};
struct NodeReport {
  std::string name;
  bool alive = false;  // its lease holds
  bool fabric = false; // it forwards to and takes flows from other hosts (serve --fabric)
  std::map<std::string, NodeWorkspace> workspaces;
  int64_t applied = 0;                                           // the newest revision it applied
  int64_t applied_ns = 0;                                        // when (CLOCK_REALTIME)
  std::map<std::string, std::pair<int64_t, std::string>> errors; // domain -> revision, why
};

// One domain's desired state as stored.
struct DomainRecord {
  std::string name;
  nlohmann::json spec; // the apply document's entry ("listen", "active", ...)
  std::string previous;
  bool removed = false;
  int64_t mod_revision = 0;
  std::string active() const { return spec.value("active", ""); }
};

struct Change {
  std::string domain, from, to, how; // how: switch, revert, force, add, remove, apply
  int64_t revision = 0;
};

struct WaitOptions {
  bool wait = true;
  std::chrono::milliseconds timeout{10000};
  // Called as each live node reaches the revision (or reports it failed).
  std::function<void(const NodeReport &, bool applied, std::chrono::milliseconds after)> on_node;
};

// How each live node ended for one change: applied, failed (why), or
// still behind when the wait ended.
struct Outcome {
  Change change;
  std::vector<std::string> applied, behind;
  std::map<std::string, std::string> failed;
};

class Cluster {
public:
  Cluster(etcd::Client client, Keys keys) : client_(std::move(client)), keys_(std::move(keys)) {}

  std::optional<DomainRecord> domain(const std::string &name) const;
  std::vector<DomainRecord> domains(int64_t *revision = nullptr) const;
  std::vector<NodeReport> nodes() const;

  // Throws Error: not_found, refused (a node lacks the workspace or
  // reports it failing, naming each; Override::force), busy (the domain
  // changed since it was read: nothing written).
  Outcome switch_to(const std::string &domain, const std::string &workspace, bool force,
                    const WaitOptions &wait);
  Outcome revert(const std::string &domain, bool force, const WaitOptions &wait);
  // A canary of `weight` percent (its standing orders are each host's
  // defaults: ended on failure, never promoted by itself); weight 0 ends it.
  Outcome canary(const std::string &domain, const std::string &workspace, uint32_t weight,
                 bool force, const WaitOptions &wait);
  // One key of the domain's document ("check", "prefer_local") as the
  // apply document writes it; null removes it (none, or false).
  Outcome set_option(const std::string &domain, const std::string &key,
                     const nlohmann::json &value, const WaitOptions &wait);
  Outcome add_domain(const std::string &domain, const std::vector<std::string> &listen,
                     const WaitOptions &wait);
  Outcome remove_domain(const std::string &domain, const WaitOptions &wait);
  // The document's domains, each changed one written (in transactions of
  // at most 64 domains: etcd takes 128 operations in one). prune: the
  // domains it does not name are removed.
  std::vector<Change> apply(const std::string &document, bool prune, const WaitOptions &wait);
  nlohmann::json export_document() const;

  // Cluster-wide history, oldest first (of one domain, or all).
  std::vector<nlohmann::json> history(const std::string &domain) const;

  const etcd::Client &client() const { return client_; }
  const Keys &keys() const { return keys_; }

private:
  Outcome write(const DomainRecord &before, const nlohmann::json &value, const Change &change,
                const WaitOptions &wait);
  Outcome wait_for(const Change &change, const WaitOptions &wait) const;
  void gate(const std::string &domain, const std::string &workspace) const;

  etcd::Client client_;
  Keys keys_;
};

// Who made a change: "user@host".
std::string who();

} // namespace zd::cluster
