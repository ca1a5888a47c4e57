// zdctl: the command line of zd. Each command is a row of the table below:
// its words, its purpose and example for --help, its options, the handler
// that runs it (commands.cpp), and how it is worded when refused. There is
// no daemon: a handler locks the pinned state for its one operation and
// exits. Errors from anywhere below arrive here as zd::Error and leave as
// one line and an exit code.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <bpf/libbpf.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <array>
#include <cstdarg>
#include <cstdio>
#include <iostream>
#include <string_view>

#include "check.hpp"
#include "commands.hpp"
#include "completion.hpp"
#include "error.hpp"
#include "parse.hpp"
#include "zd_shared.h"

namespace zdctl {
namespace {

// A mutation runs to its end: Ctrl-C or SIGTERM half-way would leave a
// half-written state. Until the guard goes, those signals are only noted;
// a wait for the state lock is still cut short (flock fails with EINTR,
// before anything was written), and main() re-raises the signal at the end.
volatile sig_atomic_t deferred_signal = 0;

class DeferSignals {
public:
  DeferSignals() {
    struct sigaction note {};
    note.sa_handler = [](int sig) { deferred_signal = sig; };
    sigemptyset(&note.sa_mask); // no SA_RESTART: a blocking flock returns EINTR
    for (size_t i = 0; i < kSignals.size(); ++i) {
      sigaction(kSignals[i], nullptr, &saved_[i]);
      if (saved_[i].sa_handler != SIG_IGN) // an ignored signal stays ignored
        sigaction(kSignals[i], &note, nullptr);
    }
  }
  ~DeferSignals() {
    for (size_t i = 0; i < kSignals.size(); ++i)
      sigaction(kSignals[i], &saved_[i], nullptr);
  }
  DeferSignals(const DeferSignals &) = delete;
  DeferSignals &operator=(const DeferSignals &) = delete;

private:
  static constexpr std::array<int, 4> kSignals = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
  std::array<struct sigaction, 4> saved_{};
};

int libbpf_to_spdlog(enum libbpf_print_level level, const char *format, va_list args) {
  if (level == LIBBPF_DEBUG && !spdlog::should_log(spdlog::level::trace))
    return 0;
  char buf[4096];
  int n = vsnprintf(buf, sizeof(buf), format, args);
  std::string line(buf);
  while (!line.empty() && line.back() == '\n')
    line.pop_back();
  spdlog::debug("libbpf: {}", line);
  return n;
}

enum class Mutates { no, yes };

struct Command {
  const char *parent; // "" for a top-level command, else its group ("domain")
  const char *name;
  const char *purpose;
  const char *example;
  void (*options)(CLI::App &, Options &);
  void (*run)(const Options &);
  Mutates mutates;
  const char *force_hint; // how this command is told to insist, if it can be
};

void attach_options(CLI::App &cmd, Options &o) {
  cmd.add_option("--xdp", o.xdp,
                 "also steer at this ingress interface with XDP, for workspaces in their own "
                 "network namespace; repeatable (native XDP)");
  cmd.add_flag("--xdp-generic", o.xdp_generic,
               "attach XDP in generic mode (slower; for interfaces without native XDP)")
      ->needs(cmd.get_option("--xdp"));
  cmd.add_option("--group", o.group,
                 "let this group read the state (status, history): directory 0750, pins 0640; "
                 "without it the state is root's alone (0700/0600), or keeps the group it has");
}

// --force and --wait of a command that would cut open connections to
// container workspaces (detach, domain rm).
void cutting_options(CLI::App &cmd, Options &o, const std::string &what) {
  cmd.add_flag("--force", o.force,
               what + " even if it cuts open connections to container workspaces");
  cmd.add_option("--wait", o.wait_seconds,
                 "wait up to SECONDS for open connections to container workspaces to close")
      ->check(CLI::Range(0, 86400))
      ->excludes(cmd.get_option("--force"));
}

void detach_options(CLI::App &cmd, Options &o) {
  cutting_options(cmd, o, "detach");
}

void upgrade_options(CLI::App &cmd, Options &o) {
  cmd.add_flag("--force", o.force, "replace it even if it is already this zdctl's program");
}

// How a change made with --cluster waits for the hosts.
void cluster_wait_options(CLI::App &cmd, Options &o) {
  cmd.add_flag("--no-wait", o.no_wait,
               "with --cluster: return once etcd holds the change, without waiting for the hosts");
  cmd.add_option("--timeout", o.wait_timeout,
                 "with --cluster: how long to wait for every live host to apply it")
      ->capture_default_str();
}

void domain_add_options(CLI::App &cmd, Options &o) {
  cmd.add_option("NAME", o.domain, "domain name (letters, digits, - _ .)")->required();
  cmd.add_option("--listen", o.listen,
                 "tcp://IPV4:PORT or tcp://[IPV6]:PORT, optionally ADDRESS/PREFIX; repeatable")
      ->required();
  cluster_wait_options(cmd, o);
}

void domain_rm_options(CLI::App &cmd, Options &o) {
  cmd.add_option("NAME", o.domain, "domain name")->required();
  cutting_options(cmd, o, "remove it");
  cluster_wait_options(cmd, o);
}

void workspace_add_options(CLI::App &cmd, Options &o) {
  cmd.add_option("NAME", o.workspace, "workspace name (letters, digits, - _ .)")->required();
  auto *pid = cmd.add_option("--pid", o.pid, "process that owns the listening sockets");
  auto *socket =
      cmd.add_option("--socket", o.sockets, "address the socket is bound to; repeatable");
  auto *fd = cmd.add_option("--fd", o.fds, "inherited listening socket fd; repeatable");
  auto *systemd = cmd.add_flag("--systemd", o.systemd,
                               "the listening sockets systemd passed (socket activation)");
  cmd.add_option("--fdname", o.fdnames,
                 "with --systemd: only the sockets of this FileDescriptorName=; repeatable")
      ->needs(systemd);
  systemd->excludes(pid)->excludes(fd);
  cmd.add_option("--via", o.via,
                 "for a process in its own network namespace (a container): the host-side veth "
                 "into it, when there are several")
      ->needs(pid);
  socket->needs(pid);
  pid->needs(socket);
  fd->excludes(pid);
  cmd.parse_complete_callback([pid, fd, systemd] {
    if (pid->count() == 0 && fd->count() == 0 && systemd->count() == 0)
      throw CLI::RequiredError("--pid PID --socket ADDRESS (or --fd N, or --systemd)");
  });
}

void workspace_rm_options(CLI::App &cmd, Options &o) {
  cmd.add_option("NAME", o.workspace, "workspace name")->required();
  cmd.add_flag("--force", o.force, "remove even while it is active for a domain");
}

// --check and its limits: for a switch or revert, or as a domain's default.
CLI::Option *check_options(CLI::App &cmd, Options &o, const std::string &what) {
  auto *check = cmd.add_option("--check", o.check,
                               "probe the workspace first: tcp (a connect) or /PATH (an HTTP GET "
                               "answering 2xx or 3xx), at its own socket address" +
                                   what);
  cmd.add_option("--check-timeout", o.check_timeout,
                 "each probe's limit: 500ms, 2s, 1m (default 2s)")
      ->needs(check);
  cmd.add_option("--check-retries", o.check_retries, "probes again N times (default 2)")
      ->check(CLI::Range(0u, zd::kMaxCheckRetries))
      ->needs(check);
  return check;
}

void route_options(CLI::App &cmd, Options &o) {
  auto *check = check_options(cmd, o, "; instead of the domain's own check");
  cmd.add_flag("--no-check", o.no_check, "skip the domain's check (domain set --check)")
      ->excludes(check);
  cmd.add_flag("--dry-run", o.dry_run,
               "say what would happen, probes included, and change nothing");
}

void switch_options(CLI::App &cmd, Options &o) {
  cmd.add_option("DOMAIN", o.domain, "domain name")->required();
  cmd.add_option("WORKSPACE", o.workspace, "workspace name")->required();
  cmd.add_flag("--force", o.force, "switch even if WORKSPACE lacks a live socket");
  route_options(cmd, o);
  cluster_wait_options(cmd, o);
}

void revert_options(CLI::App &cmd, Options &o) {
  cmd.add_option("DOMAIN", o.domain, "domain name")->required();
  cmd.add_flag("--force", o.force, "revert even if the previous workspace has no live socket");
  cmd.add_option("--to", o.history_entry,
                 "go back to the workspace history entry N switched DOMAIN to (zdctl history)")
      ->check(CLI::PositiveNumber);
  route_options(cmd, o);
  cluster_wait_options(cmd, o);
}

void canary_options(CLI::App &cmd, Options &o) {
  cmd.add_option("DOMAIN", o.domain, "domain name")->required();
  auto *workspace = cmd.add_option("WORKSPACE", o.workspace, "the canary workspace");
  auto *weight = cmd.add_option("--weight", o.canary_weight,
                                "percent of DOMAIN's new connections it takes, 1 to 100")
                     ->check(CLI::Range(1u, 100u));
  auto *abort = cmd.add_flag("--abort", o.canary_abort,
                             "end DOMAIN's canary: every new connection goes to the active "
                             "workspace again");
  abort->excludes(workspace)->excludes(weight);
  cmd.add_flag("--force", o.force, "set it even if WORKSPACE lacks a live socket");
  auto *promote = cmd.add_option("--promote-after", o.promote_after,
                                 "make WORKSPACE active once its health check has held this "
                                 "long (5m, 1h; carried out by zdctl serve)");
  auto *keep = cmd.add_flag("--no-revert-on-failure", o.no_revert_on_failure,
                            "keep the canary when its health check fails (by default zdctl "
                            "serve ends it at once and says why in history)");
  promote->excludes(abort);
  keep->excludes(abort);
  route_options(cmd, o);
  cmd.parse_complete_callback([workspace, weight, abort] {
    if (abort->count() == 0 && (workspace->count() == 0 || weight->count() == 0))
      throw CLI::RequiredError("WORKSPACE --weight N (or --abort)");
  });
}

void domain_set_options(CLI::App &cmd, Options &o) {
  cmd.add_option("NAME", o.domain, "domain name")->required();
  auto *check = check_options(cmd, o, "; run by every switch and revert of the domain");
  auto *none = cmd.add_flag("--no-check", o.no_check, "remove the domain's check");
  none->excludes(check);
  auto *local = cmd.add_flag_callback(
      "--prefer-local", [&o] { o.prefer_local = true; },
      "new flows of a workspace with instances on other hosts stay on this host's instance "
      "while it is alive (needs the XDP plane)");
  auto *spread = cmd.add_flag_callback(
      "--no-prefer-local", [&o] { o.prefer_local = false; },
      "spread new flows over every live instance again");
  // One change per command: each is one write, so a killed zdctl leaves the
  // domain as it was or as asked, never half of two changes.
  for (auto *flag : {local, spread})
    flag->excludes(check)->excludes(none);
  local->excludes(spread);
  cmd.parse_complete_callback([check, none, local, spread] {
    if (check->count() == 0 && none->count() == 0 && local->count() == 0 && spread->count() == 0)
      throw CLI::RequiredError("--check CHECK, --no-check, --prefer-local or --no-prefer-local");
  });
}

void workspace_set_options(CLI::App &cmd, Options &o) {
  cmd.add_option("NAME", o.workspace, "workspace name")->required();
  auto *check = cmd.add_option("--check", o.check,
                               "check it continuously while zdctl serve runs: tcp (a connect) or "
                               "/PATH (an HTTP GET answering 2xx or 3xx), at its own sockets");
  cmd.add_option("--check-timeout", o.check_timeout, "each probe's limit (default 1s)")
      ->needs(check);
  cmd.add_option("--check-interval", o.check_interval, "time between probes (default 2s)")
      ->needs(check);
  cmd.add_option("--rise", o.rise, "good probes in a row that clear a failing mark (default 2)")
      ->check(CLI::Range(1u, zd::kMaxHealthCount))
      ->needs(check);
  cmd.add_option("--fall", o.fall,
                 "failed probes in a row that mark it failing: new connections then pass it "
                 "over, to the previous workspace (default 3)")
      ->check(CLI::Range(1u, zd::kMaxHealthCount))
      ->needs(check);
  auto *none =
      cmd.add_flag("--no-check", o.no_check, "remove its check, and any failing mark with it");
  none->excludes(check);
  cmd.parse_complete_callback([check, none] {
    if (check->count() == 0 && none->count() == 0)
      throw CLI::RequiredError("--check CHECK (or --no-check)");
  });
}

void drain_options(CLI::App &cmd, Options &o) {
  cmd.add_option("DOMAIN", o.domain, "domain name")->required();
  cmd.add_option("--workspace", o.workspace,
                 "the workspace to drain (default: DOMAIN's previous workspace)");
  auto *wait = cmd.add_flag("--wait", o.drain_wait,
                            "wait until it holds no connection of DOMAIN (exit 3 at the timeout)");
  cmd.add_option("--timeout", o.drain_timeout,
                 "how long --wait waits: 500ms, 30s, 2m, or plain seconds (default 30s)")
      ->check(
          [](const std::string &text) {
            try {
              zd::parse_duration(text, kMaxDrainTimeout);
              return std::string();
            } catch (const zd::Error &e) {
              return std::string(e.what());
            }
          },
          "DURATION")
      ->needs(wait);
  cmd.add_flag("--kill-after", o.kill_after,
               "at the timeout, close the connections left (each client gets a reset): the last "
               "resort")
      ->needs(wait);
}

void apply_options(CLI::App &cmd, Options &o) {
  cmd.add_option("FILE", o.apply_file,
                 "the desired state (JSON, as export prints it); - reads stdin")
      ->required();
  cmd.add_flag("--dry-run", o.dry_run,
               "print what would change, probe the health gate, change nothing");
  cmd.add_flag("--prune", o.prune, "also remove the domains FILE does not name");
  cmd.add_flag("--force", o.force,
               "route to workspaces without a live socket, and prune domains containers still "
               "hold connections of");
  cmd.add_flag("--no-check", o.no_check, "skip the health gate (each domain's check)");
  cluster_wait_options(cmd, o);
}

void export_options(CLI::App &, Options &) {}

void status_options(CLI::App &cmd, Options &o) {
  auto *domain =
      cmd.add_option("DOMAIN", o.domain,
                     "only this domain and the workspaces it names (active, previous, canary)");
  cmd.add_option("--workspace", o.workspace,
                 "only this workspace and the domains whose routes name it")
      ->excludes(domain);
}

void history_options(CLI::App &cmd, Options &o) {
  cmd.add_option("DOMAIN", o.domain, "only this domain's changes");
}

void metrics_options(CLI::App &cmd, Options &o) {
  cmd.add_option("--listen", o.metrics_listen,
                 "serve them on http://ADDRESS:PORT/metrics until SIGINT or SIGTERM (loopback "
                 "only, unless --token-file)");
  cmd.add_option("--token-file", o.token_file,
                 "require 'Authorization: Bearer TOKEN', TOKEN read from this file (mode 600)")
      ->needs(cmd.get_option("--listen"));
}

void serve_options(CLI::App &cmd, Options &o) {
  cmd.add_option("--node", o.node,
                 "with --cluster: run this host's agent under this name (default: the host name)");
  cmd.add_option("--fabric", o.fabric,
                 "with --cluster: this host's address on the network between hosts (one IPv4, "
                 "one IPv6, or both: repeat it); new flows of a workspace this host lacks are "
                 "forwarded to a host that runs it, tunnelled between these addresses, and "
                 "flows forwarded here are taken in (needs the XDP plane: attach --xdp on the "
                 "ingress and fabric interfaces)")
      ->type_name("ADDR");
  cmd.add_option("--fabric-mtu", o.fabric_mtu,
                 "the MTU of the network between hosts: forwarded SYNs' MSS is lowered so the "
                 "tunnelled packets fit it")
      ->capture_default_str()
      ->check(CLI::Range(1280, 65535));
  cmd.add_option("--lease", o.lease,
                 "with --cluster: how long this host's registration outlives its agent (2s..60s); "
                 "every other host stops forwarding to it within that once it is gone")
      ->capture_default_str();
  cmd.add_option("--listen", o.serve_listen,
                 "serve on ADDRESS:PORT (loopback only, unless --token-file)")
      ->capture_default_str();
  cmd.add_option("--token-file", o.token_file,
                 "the token every API call must bear, read from this file (mode 600); without "
                 "it, a new random token is printed with the page's URL");
  cmd.add_flag("--metrics-public", o.metrics_public,
               "serve /metrics without the token (every other path still needs it)");
  cmd.add_option("--max-connections", o.serve_max_connections,
                 "connections open at once; a new one beyond is closed at once")
      ->capture_default_str()
      ->check(CLI::Range(16u, 65536u));
  cmd.add_option("--max-per-client", o.serve_max_per_client,
                 "connections open at once from one address; beyond, closed at once")
      ->capture_default_str()
      ->check(CLI::Range(1u, 65536u));
  cmd.add_option("--max-streams", o.serve_max_streams,
                 "event streams (open pages) at once; beyond, 503")
      ->capture_default_str()
      ->check(CLI::Range(1u, 16384u));
  cmd.add_option("--header-timeout", o.serve_header_timeout,
                 "a request's head must arrive whole within this (else closed)")
      ->capture_default_str();
  cmd.add_option("--body-timeout", o.serve_body_timeout,
                 "a request's body must arrive whole within this of its head (else 408)")
      ->capture_default_str();
}

const std::array<Command, 22> kCommands = {{
    {"", "attach",
     "Load the sk_lookup program into this network namespace and pin it (does nothing if "
     "already attached)",
     "zdctl attach\n  zdctl attach --xdp eth0   (also steer at eth0, for container workspaces)\n"
     "  zdctl attach --group zd-readers   (members may run status and history)",
     attach_options, do_attach, Mutates::yes, " (--xdp-generic attaches in generic mode)"},
    {"", "detach",
     "Detach the program and remove the state; established connections and workspaces keep "
     "running",
     "zdctl detach\n  zdctl detach --wait 300   (let connections to containers finish first)",
     detach_options, do_detach, Mutates::yes, " (--force detaches anyway)"},
    {"", "upgrade",
     "Replace the running program with this zdctl's, in one link update; domains, "
     "workspaces, routes and counters stay (an older state layout is moved forward)",
     "zdctl upgrade", upgrade_options, do_upgrade, Mutates::yes, nullptr},
    {"", "domain", "Add, remove or set up domains",
     "zdctl domain add shop --listen tcp://10.99.0.1:80", nullptr, nullptr, Mutates::no, nullptr},
    {"domain", "add", "Add a domain: the addresses whose new connections zd steers",
     "zdctl domain add shop --listen tcp://10.99.0.1:80 --listen tcp://[fd00:99::1]:80\n"
     "  zdctl domain add fleet --listen tcp://10.99.1.0/24:443   (a whole prefix)",
     domain_add_options, do_domain_add, Mutates::yes, nullptr},
    {"domain", "rm", "Remove a domain; its addresses are no longer steered",
     "zdctl domain rm shop\n  zdctl domain rm shop --wait 300   (let connections to containers "
     "finish first)",
     domain_rm_options, do_domain_rm, Mutates::yes, " (--force removes it anyway)"},
    {"domain", "set",
     "Set the health check that every switch and revert of a domain runs first (or remove it), "
     "and whether its new flows prefer a local instance",
     "zdctl domain set shop --check /healthz --check-timeout 1s\n"
     "  zdctl domain set shop --check tcp\n  zdctl domain set shop --no-check\n"
     "  zdctl domain set shop --prefer-local",
     domain_set_options, do_domain_set, Mutates::yes, nullptr},
    {"", "workspace", "Add or remove workspaces",
     "zdctl workspace add blue --pid 1234 --socket tcp://127.0.0.1:3001", nullptr, nullptr,
     Mutates::no, nullptr},
    {"workspace", "add",
     "Register a workspace by its listening sockets (taken from a running process, "
     "inherited fds, or passed by systemd)",
     "zdctl workspace add blue --pid $(pgrep -f blue-app) --socket tcp://127.0.0.1:3001 "
     "--socket tcp://[::1]:3001\n"
     "  zdctl workspace add green --fd 3   (run by a supervisor that passes its listening "
     "socket as fd 3)\n"
     "  zdctl workspace add green --systemd   (ExecStart= of a service with "
     "Sockets=shop-green.socket)\n"
     "  zdctl workspace add red --pid $RED_PID --socket tcp://0.0.0.0:8080   (a container: "
     "served by the XDP plane, see attach --xdp)",
     workspace_add_options, do_workspace_add, Mutates::yes, nullptr},
    {"workspace", "set",
     "Set the health check zdctl serve runs on a workspace continuously (or remove it): while "
     "it fails, new connections pass the workspace over",
     "zdctl workspace set green --check /healthz --check-interval 1s --fall 3 --rise 2\n"
     "  zdctl workspace set green --no-check",
     workspace_set_options, do_workspace_set, Mutates::yes, nullptr},
    {"workspace", "rm", "Unregister a workspace (its process keeps running)",
     "zdctl workspace rm blue", workspace_rm_options, do_workspace_rm, Mutates::yes,
     ", or use --force"},
    {"", "switch",
     "Send new connections of DOMAIN to WORKSPACE (one map update); established connections "
     "stay where they are",
     "zdctl switch shop green\n  zdctl switch shop green --check /healthz   (only if green "
     "answers 2xx or 3xx)\n  zdctl switch shop green --dry-run",
     switch_options, do_switch, Mutates::yes, " (--force switches anyway)"},
    {"", "revert",
     "Swap DOMAIN's active and previous workspaces (undo the last switch), or go back to the "
     "workspace of a history entry",
     "zdctl revert shop\n  zdctl revert shop --to 12   (the workspace entry 12 switched to)",
     revert_options, do_revert, Mutates::yes, " (--force switches anyway)"},
    {"", "canary",
     "Send a share of DOMAIN's new connections to WORKSPACE, the rest to its active workspace; "
     "established connections stay where they are (switch to WORKSPACE to promote it)",
     "zdctl canary shop green --weight 10 --check /healthz\n"
     "  zdctl switch shop green   (promote it)\n  zdctl canary shop --abort",
     canary_options, do_canary, Mutates::yes, " (--force sets it anyway)"},
    {"", "drain",
     "Show the connections of DOMAIN its previous workspace (or --workspace) still holds; "
     "with --wait, wait until it holds none (exit 0) or the timeout passes (exit 3)",
     "zdctl drain shop --wait --timeout 2m && zdctl workspace rm blue\n"
     "  zdctl drain shop --wait --timeout 30s --kill-after   (then reset what is left)",
     drain_options, do_drain, Mutates::no, nullptr},
    {"", "history",
     "Show the latest route changes (switch, revert, force, fallback): when, from, to, and "
     "which pid and uid made them",
     "zdctl history shop\n  zdctl history --json | jq '.history[-1]'", history_options, do_history,
     Mutates::no, nullptr},
    {"", "status", "Show domains, bindings, active/previous workspaces, sockets and counters",
     "zdctl status --json | jq '.domains[] | {name, active}'\n  zdctl status shop\n  zdctl "
     "status --workspace green",
     status_options, do_status, Mutates::no, nullptr},
    {"", "apply",
     "Make the state what FILE says (domains, their checks and routes; workspaces' checks) in "
     "one change, each route it changes health-gated first",
     "zdctl export > zd.json; $EDITOR zd.json; zdctl apply zd.json --dry-run; zdctl apply "
     "zd.json\n  zdctl apply - --prune < desired.json",
     apply_options, do_apply, Mutates::yes, " (--force applies it anyway)"},
    {"", "export", "Print the state as the document apply takes (export | apply changes nothing)",
     "zdctl export > zd.json", export_options, do_export, Mutates::no, nullptr},
    {"", "metrics",
     "Print the state as Prometheus metrics (for node_exporter's textfile collector), or "
     "serve them on /metrics",
     "zdctl metrics > /var/lib/prometheus/node-exporter/zd.prom.tmp && mv "
     "/var/lib/prometheus/node-exporter/zd.prom.tmp /var/lib/prometheus/node-exporter/zd.prom\n"
     "  zdctl metrics --listen 127.0.0.1:9477   (Prometheus scrapes it)",
     metrics_options, do_metrics, Mutates::no, nullptr},
    {"", "serve",
     "Serve the Domains page (switch, revert and canary from a browser), a JSON API under "
     "/api/v1 and /metrics, over the same state as the CLI, until SIGINT or SIGTERM",
     "zdctl serve   (prints the page's URL, with its token)\n"
     "  zdctl serve --listen 10.0.0.5:9477 --token-file /etc/zd/token --metrics-public",
     serve_options, do_serve, Mutates::no, nullptr},
    {"", "completion",
     "Print a bash completion script for zdctl: commands, options, and the names of domains "
     "and workspaces in the state",
     "source <(zdctl completion bash)   (or save it as "
     "/usr/share/bash-completion/completions/zdctl)",
     completion_options, do_completion, Mutates::no, nullptr},
}};

// The one line a refusal becomes: the library's message, and what only
// zdctl can add (its flags, its privileges).
std::string wording(const zd::Error &e, const Command *command) {
  std::string line = zd::printable(e.what());
  if (e.forceable() && command && command->force_hint)
    line += command->force_hint;
  if (e.override_by() == zd::Override::skip_check)
    line += " (--no-check skips the check)";
  if (e.kind() == zd::Errc::privilege)
    line += " (zdctl needs root, or CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN and CAP_SYS_PTRACE)";
  return line;
}

#define ZD_STRING(x) ZD_STRING_(x)
#define ZD_STRING_(x) #x
constexpr const char *kVersionLine =
    "zdctl " ZD_VERSION " (state layout " ZD_STRING(ZD_LAYOUT_VERSION) ")";

bool in_argv(int argc, char **argv, std::string_view word) {
  for (int i = 1; i < argc; ++i)
    if (word == argv[i])
      return true;
  return false;
}

const Command *parse(int argc, char **argv, CLI::App &app, Options &opts) {
  app.name("zdctl");
  app.require_subcommand(1);
  app.set_version_flag("--version", kVersionLine);
  app.add_option("--state", opts.state, "state directory in bpffs, one per network namespace")
      ->capture_default_str();
  app.add_flag("-v,--verbose", opts.verbose, "log what zdctl does (and libbpf's messages)");
  app.add_flag("--json", opts.json, "machine-readable output");
  app.add_option("--cluster", opts.cluster,
                 "act on the cluster's desired state in etcd at these endpoints "
                 "(http[s]://HOST:PORT, comma-separated), not on this host's state")
      ->envname("ZD_CLUSTER");
  app.add_flag("--local", opts.local,
               "change a domain this host's cluster agent manages anyway, on this host alone "
               "(status shows the drift until the cluster next changes it)");
  app.add_option("--cluster-prefix", opts.cluster_prefix, "where in etcd zd keeps its keys")
      ->capture_default_str();
  app.add_option("--cluster-cacert", opts.cluster_cacert, "CA certificate of etcd's (https)");
  app.add_option("--cluster-cert", opts.cluster_cert, "client certificate for etcd (https)");
  app.add_option("--cluster-key", opts.cluster_key, "the client certificate's key");
  app.footer("Example:\n  zdctl attach && zdctl domain add shop --listen tcp://10.99.0.1:80\n"
             "Run 'zdctl COMMAND --help' for each command.");

  // Only the command argv names is built (with its group): a switch need not
  // pay for building twenty (a quarter of a millisecond here). With none
  // named (--help, a typo) every one is, and for completion, which walks them.
  bool named = false;
  for (const Command &c : kCommands)
    named |= c.parent[0] == '\0' && in_argv(argc, argv, c.name);
  const bool every = !named || in_argv(argc, argv, "completion");
  std::vector<std::pair<const Command *, CLI::App *>> made;
  for (const Command &c : kCommands) {
    if (!every && !in_argv(argc, argv, c.parent[0] == '\0' ? c.name : c.parent))
      continue;
    CLI::App *parent = &app;
    for (const auto &[other, sub] : made)
      if (other->parent[0] == '\0' && std::string(other->name) == c.parent)
        parent = sub;
    CLI::App *sub = parent->add_subcommand(c.name, c.purpose);
    sub->fallthrough(); // global options (--json, --state, -v) work after the command too
    sub->footer(std::string("Example:\n  ") + c.example +
                "\nGlobal options --state DIR, --json and -v go before or after the command.");
    if (c.options)
      c.options(*sub, opts);
    else
      sub->require_subcommand(1); // a group: "domain" alone says what it needs
    made.push_back({&c, sub});
  }
  app.parse(argc, argv);
  for (const auto &[command, sub] : made)
    if (command->run && sub->parsed())
      return command;
  throw zd::Error(zd::Errc::invalid, "no command given (see zdctl --help)");
}

int run(int argc, char **argv) {
  Options opts;
  CLI::App app{"zdctl: zero-downtime releases with BPF sk_lookup.\n"
               "A domain (addresses and ports) is served by one workspace (an app's listening "
               "sockets) at a time; switch moves new connections, established ones stay."};
  const Command *command = nullptr;
  try {
    command = parse(argc, argv, app, opts);
  } catch (const CLI::Success &e) {
    return app.exit(e);
  } catch (const CLI::ParseError &e) {
    std::string message = e.what();
    // CLI11 complains about the missing subcommand before the word it did not
    // know ("zdctl frobnicate"); name that word, it is what the user got wrong.
    std::vector<std::string> extra = app.remaining(true);
    if (dynamic_cast<const CLI::RequiredError *>(&e) && !extra.empty())
      message = "unknown command or argument '" + extra.front() + "'";
    std::cerr << "zdctl: error: " << zd::printable(message) << " (see zdctl --help)\n";
    return 2;
  }

  auto logger = spdlog::stderr_color_mt("zdctl");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("zdctl: %v");
  spdlog::set_level(opts.verbose ? spdlog::level::debug : spdlog::level::warn);
  libbpf_set_print(libbpf_to_spdlog);

  try {
    auto run_it = command->run;
    const std::string path =
        std::string(command->parent) + (command->parent[0] ? " " : "") + command->name;
    if (!opts.cluster.empty() && path != "serve" && path != "completion") {
      run_it = cluster_form(path);
      if (!run_it)
        throw zd::Error(zd::Errc::invalid,
                        path + " acts on this host's own state and takes no --cluster (run it "
                               "on the host; its agent reports it to the cluster)");
    }
    if (command->mutates == Mutates::yes) {
      DeferSignals defer;
      run_it(opts);
    } else {
      run_it(opts);
    }
  } catch (const zd::Error &e) {
    std::cerr << "zdctl: error: " << wording(e, command) << "\n";
    // 3: waited, and it did not happen (drain); docs/cli.md, "Exit codes".
    return e.kind() == zd::Errc::timeout ? 3 : 1;
  }
  return 0;
}

} // namespace
} // namespace zdctl

int main(int argc, char **argv) {
  // A reader that went away (zdctl switch ... | true) must not turn a change
  // that happened into a death by SIGPIPE: output is best effort.
  signal(SIGPIPE, SIG_IGN);
  // Asked by scripts and probes: answered before anything is built.
  if (argc == 2 && std::string_view(argv[1]) == "--version") {
    std::fputs(zdctl::kVersionLine, stdout);
    std::fputc('\n', stdout);
    return 0;
  }
  int status = 1;
  try {
    status = zdctl::run(argc, argv);
  } catch (const std::exception &e) {
    std::cerr << "zdctl: error: " << zd::printable(e.what()) << "\n";
  }
  if (zdctl::deferred_signal) { // die of it, as the caller expects, once all is said
    std::cout.flush();
    signal(zdctl::deferred_signal, SIG_DFL);
    raise(zdctl::deferred_signal);
  }
  return status;
}
