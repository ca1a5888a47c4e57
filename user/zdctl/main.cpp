// zdctl: the command line of zd. Each command opens the pinned state, does
// its work under the state's lock and exits; there is no daemon. Errors
// from anywhere below arrive here as zd::Error and leave as one line.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <bpf/libbpf.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <array>
#include <cstdarg>
#include <iostream>

#include "error.hpp"
#include "report.hpp"
#include "sockets.hpp"
#include "state.hpp"
#include "zd.hpp"
#include "zd_shared.h"

namespace {

struct Options {
  std::string state = zd::kDefaultStateDir;
  bool verbose = false;
  bool json = false;
};

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

void print(const Options &opts, const nlohmann::json &json, const std::string &text) {
  if (opts.json)
    std::cout << json.dump(2) << "\n";
  else
    std::cout << text << "\n";
}

std::string or_none(const std::string &name) {
  return name.empty() ? "(none)" : name;
}

void print_switch(const Options &opts, const std::string &domain, const zd::SwitchResult &r) {
  bool changed = r.changed == zd::Changed::yes;
  nlohmann::json json = {
      {"domain", domain},
      {"changed", changed},
      {"from", r.from.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.from)},
      {"to", r.to}};
  print(opts, json,
        changed ? domain + ": " + or_none(r.from) + " -> " + r.to
                : domain + ": already on " + r.to + ", nothing changed");
}

// A subcommand with a one-line purpose and an example in its --help.
CLI::App *command(CLI::App &parent, const std::string &name, const std::string &purpose,
                  const std::string &example) {
  CLI::App *sub = parent.add_subcommand(name, purpose);
  sub->fallthrough(); // global options (--json, --state, -v) work after the command too
  sub->footer("Example:\n  " + example +
              "\nGlobal options --state DIR, --json and -v go before or after the command.");
  return sub;
}

int run(int argc, char **argv) {
  Options opts;
  CLI::App app{"zdctl: zero-downtime releases with BPF sk_lookup.\n"
               "A domain (addresses and ports) is served by one workspace (an app's listening "
               "sockets) at a time; switch moves new connections, established ones stay."};
  app.name("zdctl");
  app.require_subcommand(1);
  app.set_version_flag("--version", "zdctl " ZD_VERSION " (state layout " +
                                        std::to_string(ZD_LAYOUT_VERSION) + ")");
  app.add_option("--state", opts.state, "state directory in bpffs, one per network namespace")
      ->capture_default_str();
  app.add_flag("-v,--verbose", opts.verbose, "log what zdctl does (and libbpf's messages)");
  app.add_flag("--json", opts.json, "machine-readable output");
  app.footer("Example:\n  zdctl attach && zdctl domain add shop --listen tcp://10.99.0.1:80\n"
             "Run 'zdctl COMMAND --help' for each command.");

  auto *attach = command(app, "attach",
                         "Load the sk_lookup program into this network namespace and pin it "
                         "(does nothing if already attached)",
                         "zdctl attach");
  auto *detach = command(app, "detach",
                         "Detach the program and remove the state; established connections "
                         "and workspaces keep running",
                         "zdctl detach");

  bool force = false;
  auto *upgrade = command(app, "upgrade",
                          "Replace the running program with this zdctl's, in one link update; "
                          "domains, workspaces, routes and counters stay (same state layout)",
                          "zdctl upgrade");
  upgrade->add_flag("--force", force, "replace it even if it is already this zdctl's program");

  auto *domain = command(app, "domain", "Add or remove domains",
                         "zdctl domain add shop --listen tcp://10.99.0.1:80");
  domain->require_subcommand(1);
  std::string domain_name;
  std::vector<std::string> listen;
  auto *domain_add =
      command(*domain, "add", "Add a domain: the addresses whose new connections zd steers",
              "zdctl domain add shop --listen tcp://10.99.0.1:80 "
              "--listen tcp://[fd00:99::1]:80\n"
              "  zdctl domain add fleet --listen tcp://10.99.1.0/24:443   "
              "(a whole prefix)");
  domain_add->add_option("NAME", domain_name, "domain name (letters, digits, - _ .)")->required();
  domain_add
      ->add_option("--listen", listen,
                   "tcp://IPV4:PORT or tcp://[IPV6]:PORT, optionally ADDRESS/PREFIX; repeatable")
      ->required();
  auto *domain_rm = command(*domain, "rm", "Remove a domain; its addresses are no longer steered",
                            "zdctl domain rm shop");
  domain_rm->add_option("NAME", domain_name, "domain name")->required();

  auto *workspace = command(app, "workspace", "Add or remove workspaces",
                            "zdctl workspace add blue --pid 1234 --socket tcp://127.0.0.1:3001");
  workspace->require_subcommand(1);
  std::string ws_name;
  std::string pid_spec;
  std::vector<std::string> socket_specs, fd_specs;
  auto *ws_add = command(*workspace, "add",
                         "Register a workspace by its listening sockets (taken from a running "
                         "process, or inherited fds)",
                         "zdctl workspace add blue --pid $(pgrep -f blue-app) "
                         "--socket tcp://127.0.0.1:3001 --socket tcp://[::1]:3001\n"
                         "  zdctl workspace add green --fd 3   "
                         "(run by a supervisor that passes its listening socket as fd 3)");
  ws_add->add_option("NAME", ws_name, "workspace name (letters, digits, - _ .)")->required();
  auto *pid_opt = ws_add->add_option("--pid", pid_spec, "process that owns the listening sockets");
  auto *socket_opt =
      ws_add->add_option("--socket", socket_specs, "address the socket is bound to; repeatable");
  auto *fd_opt = ws_add->add_option("--fd", fd_specs, "inherited listening socket fd; repeatable");
  socket_opt->needs(pid_opt);
  pid_opt->needs(socket_opt);
  fd_opt->excludes(pid_opt);
  ws_add->parse_complete_callback([pid_opt, fd_opt] {
    if (pid_opt->count() == 0 && fd_opt->count() == 0)
      throw CLI::RequiredError("--pid PID --socket ADDRESS (or --fd N)");
  });
  auto *ws_rm = command(*workspace, "rm", "Unregister a workspace (its process keeps running)",
                        "zdctl workspace rm blue");
  ws_rm->add_option("NAME", ws_name, "workspace name")->required();
  ws_rm->add_flag("--force", force, "remove even while it is active for a domain");

  std::string switch_domain, switch_ws;
  auto *switch_cmd = command(app, "switch",
                             "Send new connections of DOMAIN to WORKSPACE (one map update); "
                             "established connections stay where they are",
                             "zdctl switch shop green");
  switch_cmd->add_option("DOMAIN", switch_domain, "domain name")->required();
  switch_cmd->add_option("WORKSPACE", switch_ws, "workspace name")->required();
  switch_cmd->add_flag("--force", force, "switch even if WORKSPACE lacks a live socket");

  auto *revert =
      command(app, "revert", "Swap DOMAIN's active and previous workspaces (undo the last switch)",
              "zdctl revert shop");
  revert->add_option("DOMAIN", switch_domain, "domain name")->required();
  revert->add_flag("--force", force, "revert even if the previous workspace has no live socket");

  auto *status = command(app, "status",
                         "Show domains, bindings, active/previous workspaces, sockets and "
                         "counters",
                         "zdctl status --json | jq '.domains[] | {name, active}'");

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success &e) {
    return app.exit(e);
  } catch (const CLI::ParseError &e) {
    std::string message = e.what();
    // CLI11 complains about the missing subcommand before the word it did not
    // know ("zdctl frobnicate"); name that word, it is what the user got wrong.
    std::vector<std::string> extra = app.remaining(true);
    if (dynamic_cast<const CLI::RequiredError *>(&e) && !extra.empty())
      message = "unknown command or argument '" + extra.front() + "'";
    std::cerr << "zdctl: error: " << message << " (see zdctl --help)\n";
    return 2;
  }

  auto logger = spdlog::stderr_color_mt("zdctl");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("zdctl: %v");
  spdlog::set_level(opts.verbose ? spdlog::level::debug : spdlog::level::warn);
  libbpf_set_print(libbpf_to_spdlog);

  if (attach->parsed()) {
    DeferSignals defer;
    bool attached = zd::State::attach(opts.state);
    print(opts, {{"attached", true}, {"changed", attached}, {"state", opts.state}},
          attached ? "attached: sk_lookup program pinned at " + opts.state
                   : "already attached (state " + opts.state + "), nothing changed");
    return 0;
  }
  if (detach->parsed()) {
    DeferSignals defer;
    bool detached = zd::State::detach(opts.state);
    print(opts, {{"attached", false}, {"changed", detached}, {"state", opts.state}},
          detached ? "detached: new connections take the normal path; established ones are "
                     "untouched"
                   : "not attached (no state at " + opts.state + "), nothing changed");
    return 0;
  }
  if (upgrade->parsed()) {
    DeferSignals defer;
    zd::State state = zd::State::open(opts.state, zd::Lock::exclusive);
    bool replaced = state.upgrade(force);
    print(opts, {{"upgraded", replaced}, {"state", opts.state}},
          replaced ? "upgraded: the link now runs this zdctl's program; domains, workspaces, "
                     "routes and counters are kept"
                   : "already running this zdctl's program, nothing changed");
    return 0;
  }
  if (status->parsed()) {
    zd::State state = zd::State::open(opts.state, zd::Lock::shared);
    zd::Status s = zd::Zd(state).status();
    if (opts.json)
      std::cout << zd::to_json(s).dump(2) << "\n";
    else
      std::cout << zd::to_table(s);
    return 0;
  }

  // Everything below mutates: check input before taking the lock.
  DeferSignals defer;
  if (domain_add->parsed()) {
    zd::validate_name("domain", domain_name);
    std::vector<zd::Endpoint> endpoints;
    for (const auto &spec : listen)
      endpoints.push_back(zd::parse_endpoint(spec, zd::AllowPrefix::yes));
    zd::State state = zd::State::open(opts.state, zd::Lock::exclusive);
    zd::Zd(state).add_domain(domain_name, endpoints);
    print(opts, {{"domain", domain_name}, {"added", true}},
          "domain " + domain_name + " added; new connections are refused until 'zdctl switch " +
              domain_name + " WORKSPACE'");
    return 0;
  }
  if (domain_rm->parsed()) {
    zd::State state = zd::State::open(opts.state, zd::Lock::exclusive);
    zd::Zd(state).remove_domain(domain_name);
    print(opts, {{"domain", domain_name}, {"removed", true}}, "domain " + domain_name + " removed");
    return 0;
  }
  if (ws_add->parsed()) {
    zd::validate_name("workspace", ws_name);
    std::vector<zd::WorkspaceSocket> sockets;
    int pid = 0;
    if (!pid_spec.empty()) {
      pid = zd::parse_pid(pid_spec);
      std::vector<zd::Endpoint> wanted;
      for (const auto &spec : socket_specs)
        wanted.push_back(zd::parse_endpoint(spec, zd::AllowPrefix::no));
      for (const auto &endpoint : wanted)
        sockets.push_back(zd::socket_from_pid(pid, endpoint));
    }
    for (const auto &spec : fd_specs)
      sockets.push_back(zd::socket_from_fd(zd::parse_fd(spec)));
    zd::State state = zd::State::open(opts.state, zd::Lock::exclusive);
    zd::Zd(state).add_workspace(ws_name, static_cast<uint32_t>(pid), sockets);
    print(opts, {{"workspace", ws_name}, {"added", true}},
          "workspace " + ws_name + " added with " + std::to_string(sockets.size()) + " socket" +
              (sockets.size() == 1 ? "" : "s"));
    return 0;
  }
  if (ws_rm->parsed()) {
    zd::State state = zd::State::open(opts.state, zd::Lock::exclusive);
    zd::Zd(state).remove_workspace(ws_name, force);
    print(opts, {{"workspace", ws_name}, {"removed", true}}, "workspace " + ws_name + " removed");
    return 0;
  }
  if (switch_cmd->parsed()) {
    zd::State state = zd::State::open(opts.state, zd::Lock::exclusive);
    print_switch(opts, switch_domain, zd::Zd(state).switch_to(switch_domain, switch_ws, force));
    return 0;
  }
  if (revert->parsed()) {
    zd::State state = zd::State::open(opts.state, zd::Lock::exclusive);
    print_switch(opts, switch_domain, zd::Zd(state).revert(switch_domain, force));
    return 0;
  }
  throw zd::Error("no command given (see zdctl --help)");
}

} // namespace

int main(int argc, char **argv) {
  int status = 1;
  try {
    status = run(argc, argv);
  } catch (const std::exception &e) {
    std::cerr << "zdctl: error: " << e.what() << "\n";
  }
  if (deferred_signal) { // die of it, as the caller expects, once all is said
    std::cout.flush();
    signal(deferred_signal, SIG_DFL);
    raise(deferred_signal);
  }
  return status;
}
