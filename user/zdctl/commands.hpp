// zdctl's commands: one options struct for the whole command line and one
// handler per command (do_attach, do_switch, ...). A handler turns options
// into calls on the library and prints the result; it takes no kernel step
// of its own. main.cpp holds the table that names, documents and dispatches
// them.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "state.hpp"

namespace CLI {
class App;
}

namespace zdctl {

struct Options {
  // Global: before or after the command.
  std::string state = zd::kDefaultStateDir;
  bool verbose = false;
  bool json = false;
  // The cluster (etcd) whose desired state the command acts on, if any.
  std::string cluster;                 // --cluster URLS (or ZD_CLUSTER)
  std::string cluster_prefix = "/zd/"; // --cluster-prefix
  std::string cluster_cacert, cluster_cert, cluster_key;
  std::string node;                 // serve --node (with --cluster)
  std::vector<std::string> fabric;  // serve --fabric ADDR (with --cluster)
  uint32_t fabric_mtu = 1500;       // serve --fabric-mtu
  std::string lease = "10s";        // serve --lease (with --cluster)
  bool local = false;               // --local: a domain the host's agent manages
  bool no_wait = false;             // --cluster switch ... --no-wait
  std::string wait_timeout = "10s"; // --cluster switch ... --timeout
  // Per command; each handler reads only its own.
  bool force = false;
  unsigned wait_seconds = 0;    // detach --wait, domain rm --wait
  std::vector<std::string> xdp; // attach --xdp
  bool xdp_generic = false;
  std::string group; // attach --group
  std::string domain, workspace;
  std::vector<std::string> listen;             // domain add
  std::string pid;                             // workspace add --pid
  std::vector<std::string> sockets, fds;       // workspace add --socket / --fd
  bool systemd = false;                        // workspace add --systemd
  std::vector<std::string> fdnames;            // workspace add --fdname
  std::string via;                             // workspace add --via
  uint64_t history_entry = 0;                  // revert --to
  uint32_t canary_weight = 0;                  // canary --weight
  bool canary_abort = false;                   // canary --abort
  std::string promote_after;                   // canary --promote-after
  bool no_revert_on_failure = false;           // canary --no-revert-on-failure
  std::string check_interval;                  // workspace set --check-interval
  uint32_t rise = 2, fall = 3;                 // workspace set --rise, --fall
  std::string check;                           // switch, revert, domain set --check
  std::string check_timeout;                   // --check-timeout
  std::optional<uint32_t> check_retries;       // --check-retries
  bool no_check = false;                       // --no-check
  std::optional<bool> prefer_local;            // domain set --prefer-local / --no-prefer-local
  bool dry_run = false;                        // switch, revert --dry-run
  bool drain_wait = false;                     // drain --wait
  std::string drain_timeout = "30s";           // drain --timeout (parse_duration)
  bool kill_after = false;                     // drain --kill-after
  std::string metrics_listen;                  // metrics --listen ADDRESS:PORT
  std::string token_file;                      // metrics, serve --token-file
  std::string serve_listen = "127.0.0.1:9477"; // serve --listen ADDRESS:PORT
  bool metrics_public = false;                 // serve --metrics-public
  std::string apply_file;                      // apply FILE|-
  bool prune = false;                          // apply --prune
  unsigned serve_max_connections = 4096;       // serve --max-connections
  unsigned serve_max_per_client = 512;         // serve --max-per-client
  unsigned serve_max_streams = 256;            // serve --max-streams
  std::string serve_header_timeout = "5s";     // serve --header-timeout
  std::string serve_body_timeout = "10s";      // serve --body-timeout
  std::string shell;                           // completion SHELL
  const CLI::App *cli = nullptr;               // completion: the command line it describes
};

// --check, --check-timeout and --check-retries as one check (none without --check).
std::optional<zd::Check> check_of(const Options &opts);

void do_attach(const Options &opts);
// The command's form with --cluster (cluster_cmd.cpp), or nullptr when it
// has none: it acts on one host's own state (a workspace, attach, drain).
void (*cluster_form(const std::string &command))(const Options &);
void do_detach(const Options &opts);
void do_upgrade(const Options &opts);
void do_status(const Options &opts);
void do_domain_add(const Options &opts);
void do_domain_rm(const Options &opts);
void do_domain_set(const Options &opts);
void do_workspace_add(const Options &opts);
void do_workspace_set(const Options &opts);
void do_workspace_rm(const Options &opts);
void do_switch(const Options &opts);
void do_revert(const Options &opts);
void do_canary(const Options &opts);
void do_history(const Options &opts);
void do_drain(const Options &opts);

// The longest drain --timeout.
inline constexpr std::chrono::milliseconds kMaxDrainTimeout = std::chrono::hours(24);
void do_apply(const Options &opts);   // apply_cmd.cpp
void do_export(const Options &opts);  // apply_cmd.cpp
void do_metrics(const Options &opts); // metrics.cpp
void do_serve(const Options &opts);   // serve.cpp

} // namespace zdctl
