#include "commands.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include <unistd.h>

#include <iostream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "access.hpp"
#include "check.hpp"
#include "cluster_marks.hpp"
#include "drain.hpp"
#include "parse.hpp"
#include "release.hpp"
#include "release_json.hpp"
#include "report.hpp"
#include "sockets.hpp"
#include "systemd.hpp"

namespace zdctl {

namespace {

using nlohmann::json;

void print(const Options &opts, const json &as_json, const std::string &text) {
  if (opts.json)
    std::cout << as_json.dump(2) << "\n";
  else
    std::cout << text << "\n";
}

std::string or_none(const std::string &name) {
  return name.empty() ? "(none)" : name;
}

// What a release's check found (or that it was skipped), after its one line.
void print_checked(const Options &opts, const zd::Release &r, std::string text, const json &out) {
  if (r.check && r.result.changed == zd::Changed::yes)
    text += "; checked " + zd::describe(*r.check) + ": " + probes_text(r);
  if (r.skipped)
    text += "; its check was skipped (--no-check)";
  print(opts, out, text);
}

// "shop: blue -> green", and what the check found or that it was skipped.
void print_release(const Options &opts, const zd::Release &r) {
  const bool changed = r.result.changed == zd::Changed::yes;
  const std::string text =
      !changed       ? opts.domain + ": already on " + r.result.to + ", nothing changed"
      : opts.dry_run ? opts.domain + ": would switch " + or_none(r.result.from) + " -> " +
                           r.result.to + " (dry run: nothing changed)"
                     : opts.domain + ": " + or_none(r.result.from) + " -> " + r.result.to;
  print_checked(opts, r, text, switch_json(opts.domain, r, opts.dry_run));
}

// --check and its limits; nullopt when not given.

zd::Force force_of(const Options &opts) {
  return opts.force ? zd::Force::yes : zd::Force::no;
}

zd::Release run_release(const Options &opts, zd::RouteRequest request) {
  request.domain = opts.domain;
  request.force = force_of(opts);
  const std::string form = request.kind == zd::RouteRequest::Kind::switch_to
                               ? "switch " + opts.domain + " " + opts.workspace
                           : request.kind == zd::RouteRequest::Kind::canary
                               ? "canary " + opts.domain + " " + opts.workspace
                           : request.kind == zd::RouteRequest::Kind::canary_end
                               ? "canary " + opts.domain + " --abort"
                               : "revert " + opts.domain;
  zd::refuse_managed(opts.state, opts.domain, opts.local, form);
  const zd::CheckChoice choice{check_of(opts), opts.no_check};
  zd::Release release = zd::release(zd::State(opts.state), request, choice, opts.dry_run);
  if (opts.local && !opts.dry_run)
    zd::drift_after(opts.state, opts.domain);
  return release;
}

// Each socket with the families it serves: a dual-stack [::] socket may
// serve IPv4 as well, and the user should see that it does.
void print_registered(const Options &opts, const std::vector<zd::RegisteredSocket> &registered) {
  struct Served {
    uint64_t cookie;
    zd::Endpoint bound;
    std::vector<std::string> families;
  };
  std::vector<Served> sockets; // one per socket, in the order registered
  for (const auto &s : registered) {
    auto it = std::find_if(sockets.begin(), sockets.end(),
                           [&](const Served &served) { return served.cookie == s.cookie; });
    if (it == sockets.end())
      it = sockets.insert(sockets.end(), {s.cookie, s.bound, {}});
    it->families.push_back(zd::family_name(s.serves));
  }
  json as_json = json::array();
  std::string text = "workspace " + opts.workspace + " added with " +
                     std::to_string(sockets.size()) + " socket" + (sockets.size() == 1 ? "" : "s");
  for (size_t i = 0; i < sockets.size(); ++i) {
    const Served &s = sockets[i];
    const bool dual_stack =
        s.families.size() > 1 || s.families.front() != zd::family_name(s.bound.family);
    as_json.push_back({{"endpoint", zd::format_endpoint(s.bound)},
                       {"families", s.families},
                       {"dual_stack", dual_stack}});
    text += (i ? ", " : ": ") + zd::format_endpoint(s.bound);
    if (dual_stack)
      text += " (dual-stack: " +
              (s.families.size() > 1 ? s.families[0] + " and " + s.families[1] : s.families[0]) +
              ")";
  }
  print(opts, {{"workspace", opts.workspace}, {"added", true}, {"sockets", as_json}}, text);
}

} // namespace

std::optional<zd::Check> check_of(const Options &opts) {
  if (opts.check.empty())
    return std::nullopt;
  zd::Check check = zd::parse_check(opts.check);
  if (!opts.check_timeout.empty())
    check.timeout_ms =
        zd::parse_positive_ms(opts.check_timeout, "a check's timeout", zd::kMaxCheckTimeoutMs);
  if (opts.check_retries)
    check.retries = *opts.check_retries;
  return check;
}

void do_attach(const Options &opts) {
  std::vector<zd::XdpRequest> xdp;
  for (const auto &interface : opts.xdp)
    xdp.push_back({interface, opts.xdp_generic ? zd::XdpMode::generic : zd::XdpMode::native});
  std::optional<gid_t> group;
  if (!opts.group.empty())
    group = zd::access::group_named(opts.group); // before anything is made
  const zd::Attached attached = zd::State(opts.state).attach(xdp, group);
  const bool changed = attached.created || !attached.xdp_added.empty() || attached.access_changed;
  std::string text = attached.created ? "attached: sk_lookup program pinned at " + opts.state
                     : changed        ? "already attached (state " + opts.state + ")"
                               : "already attached (state " + opts.state + "), nothing changed";
  if (!attached.xdp_added.empty()) {
    text += "; XDP (" + std::string(opts.xdp_generic ? "generic" : "native") + ") on";
    for (const auto &interface : attached.xdp_added)
      text += " " + interface;
  }
  if (attached.access_changed)
    text += "; group " + opts.group + " may read it (status, history)";
  print(opts,
        {{"attached", true},
         {"changed", changed},
         {"state", opts.state},
         {"xdp_added", attached.xdp_added},
         {"group", opts.group.empty() ? json(nullptr) : json(opts.group)}},
        text);
}

namespace {

// Open connections to container workspaces, of every domain (domain "",
// which detach would cut: their every packet needs the XDP program) or of
// one (which domain rm would cut). A state that cannot be read has none
// that zd can know of: the command then goes on, as it always could.
size_t open_container_connections(const zd::State &state, const std::string &domain) {
  try {
    return state.with(zd::Lock::shared, [&](zd::ControlPlane &control) {
      return control.container_connections(domain);
    });
  } catch (const zd::Error &e) {
    spdlog::debug("not counting connections to containers: {}", e.what());
    return 0;
  }
}

// Refuses while connections to containers are open (of opts.domain for
// domain rm, of all for detach), after waiting up to opts.wait_seconds for
// them to close. doing: "detaching", "removing domain shop".
void require_no_container_connections(const Options &opts, const zd::State &state,
                                      const std::string &domain, const std::string &doing) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(opts.wait_seconds);
  auto next_note = std::chrono::steady_clock::now();
  for (;;) {
    const size_t open = open_container_connections(state, domain);
    if (open == 0)
      return;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline)
      throw zd::Error(zd::Errc::refused,
                      doing + " would cut " + std::to_string(open) + " open connection" +
                          (open == 1 ? "" : "s") +
                          " to container workspaces (XDP carries their every packet): switch " +
                          (domain.empty() ? "their domains" : "it") +
                          " away and let them finish, or wait (--wait SECONDS)",
                      zd::Override::force);
    if (!opts.json && now >= next_note) {
      const auto left = std::chrono::duration_cast<std::chrono::seconds>(deadline - now);
      std::fprintf(stderr, "waiting for %zu connection%s to container workspaces (%llds left)\n",
                   open, open == 1 ? "" : "s", static_cast<long long>(left.count()));
      next_note = now + std::chrono::seconds(5);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

} // namespace

void do_detach(const Options &opts) {
  const zd::State state(opts.state);
  if (!opts.force)
    require_no_container_connections(opts, state, "", "detaching");
  const bool detached = state.detach();
  print(opts, {{"attached", false}, {"changed", detached}, {"state", opts.state}},
        detached ? "detached: new connections take the normal path; established ones are "
                   "untouched"
                 : "not attached (no state at " + opts.state + "), nothing changed");
}

void do_upgrade(const Options &opts) {
  const zd::Upgraded upgraded = zd::State(opts.state).upgrade(opts.force);
  const std::string kept = "domains, workspaces, routes and counters are kept";
  print(opts, {{"upgraded", upgraded != zd::Upgraded::no}, {"state", opts.state}},
        upgraded == zd::Upgraded::layout
            ? "upgraded: the state now has layout " + std::to_string(ZD_LAYOUT_VERSION) +
                  " and the link runs this zdctl's program; " + kept
        : upgraded == zd::Upgraded::program
            ? "upgraded: the link now runs this zdctl's program; " + kept
        : upgraded == zd::Upgraded::records
            ? "upgraded: the records now have version " + std::to_string(zd::kRecordVersion) +
                  " (the program already was this zdctl's); " + kept
        : upgraded == zd::Upgraded::access
            ? "upgraded: the modes of the state's pins were brought back to its directory's "
              "(the program already was this zdctl's); " +
                  kept
            : "already running this zdctl's program, nothing changed");
}

void do_status(const Options &opts) {
  if (!opts.domain.empty())
    zd::validate_name("domain", opts.domain);
  if (!opts.workspace.empty())
    zd::validate_name("workspace", opts.workspace);
  const zd::Status status =
      zd::State(opts.state).with(zd::Lock::shared, [&](zd::ControlPlane &control) {
        if (!opts.workspace.empty())
          return control.workspace_status(opts.workspace);
        return opts.domain.empty() ? control.status() : control.domain_status(opts.domain);
      });
  // On a host whose cluster agent runs: which domains it manages, and which
  // were changed here since with --local (a drift until the cluster's next
  // change of them).
  json cluster;
  std::string drifted;
  if (auto marks = zd::ClusterMarks::open(opts.state); marks && marks->agent()) {
    cluster = {{"agent_pid", *marks->agent()}, {"domains", json::object()}};
    for (const auto &[name, mark] : marks->marks()) {
      cluster["domains"][name] = {{"revision", mark.revision}, {"drifted", mark.drifted}};
      if (mark.drifted)
        drifted += (drifted.empty() ? "" : ", ") + name;
    }
  }
  if (opts.json) {
    json out = zd::to_json(status);
    if (!cluster.is_null())
      out["cluster"] = cluster;
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << zd::to_table(status);
    if (!cluster.is_null())
      std::cout << "\ncluster: this host's agent (pid " << cluster["agent_pid"].get<int>()
                << ") manages " << cluster["domains"].size() << " domain(s)"
                << (drifted.empty() ? "" : "; changed here with --local since: " + drifted) << "\n";
  }
}

void do_domain_add(const Options &opts) {
  // Input is checked before the lock is taken.
  zd::validate_name("domain", opts.domain);
  std::vector<zd::Endpoint> bindings;
  for (const auto &spec : opts.listen)
    bindings.push_back(zd::parse_endpoint(spec, zd::AllowPrefix::yes));
  zd::State(opts.state).with(zd::Lock::exclusive, [&](zd::ControlPlane &control) {
    control.add_domain(opts.domain, bindings);
  });
  print(opts, {{"domain", opts.domain}, {"added", true}},
        "domain " + opts.domain + " added; new connections are refused until 'zdctl switch " +
            opts.domain + " WORKSPACE'");
}

void do_domain_rm(const Options &opts) {
  zd::refuse_managed(opts.state, opts.domain, opts.local, "domain rm " + opts.domain);
  const zd::State state(opts.state);
  // A container's connections to the domain end with it: its addresses are
  // no longer local there (on the host, established connections carry on).
  if (!opts.force)
    require_no_container_connections(opts, state, opts.domain, "removing domain " + opts.domain);
  state.with(zd::Lock::exclusive,
             [&](zd::ControlPlane &control) { control.remove_domain(opts.domain); });
  print(opts, {{"domain", opts.domain}, {"removed", true}}, "domain " + opts.domain + " removed");
}

void do_domain_set(const Options &opts) {
  if (opts.prefer_local) {
    const bool prefer = *opts.prefer_local;
    zd::refuse_managed(opts.state, opts.domain, opts.local,
                       "domain set " + opts.domain +
                           (prefer ? " --prefer-local" : " --no-prefer-local"));
    zd::State(opts.state).with(zd::Lock::exclusive, [&](zd::ControlPlane &control) {
      control.set_prefer_local(opts.domain, prefer);
    });
    if (opts.local)
      zd::drift_after(opts.state, opts.domain);
    print(opts, {{"domain", opts.domain}, {"prefer_local", prefer}},
          "domain " + opts.domain +
              (prefer ? ": new flows stay on this host's instance while it is alive"
                      : ": new flows spread over every live instance"));
    return;
  }
  const std::optional<zd::Check> check = check_of(opts); // checked before the lock is taken
  zd::refuse_managed(opts.state, opts.domain, opts.local,
                     "domain set " + opts.domain + (check ? " --check ..." : " --no-check"));
  zd::State(opts.state).with(zd::Lock::exclusive, [&](zd::ControlPlane &control) {
    control.set_domain_check(opts.domain, check);
  });
  if (opts.local)
    zd::drift_after(opts.state, opts.domain);
  print(opts, {{"domain", opts.domain}, {"check", zd::to_json(check)}},
        check ? "domain " + opts.domain + ": every switch and revert checks " +
                    zd::describe(*check, true) + " first"
              : "domain " + opts.domain + ": no check (switches and reverts go unchecked)");
}

void do_workspace_add(const Options &opts) {
  // The sockets are taken (and inspected) before the lock is.
  zd::validate_name("workspace", opts.workspace);
  std::vector<zd::TakenSocket> sockets;
  int pid = 0;
  if (!opts.pid.empty()) {
    pid = zd::parse_pid(opts.pid);
    std::vector<zd::Endpoint> wanted;
    for (const auto &spec : opts.sockets)
      wanted.push_back(zd::parse_endpoint(spec, zd::AllowPrefix::no));
    for (const auto &endpoint : wanted)
      sockets.push_back(zd::socket_from_pid(pid, endpoint));
  }
  for (const auto &spec : opts.fds)
    sockets.push_back(zd::socket_from_fd(zd::parse_fd(spec)));
  if (opts.systemd)
    sockets = zd::sockets_from_systemd(opts.fdnames);
  const auto registered =
      zd::State(opts.state).with(zd::Lock::exclusive, [&](zd::ControlPlane &control) {
        return control.add_workspace(opts.workspace, static_cast<uint32_t>(pid), sockets, opts.via);
      });
  print_registered(opts, registered);
}

void do_workspace_set(const Options &opts) {
  // Checked before the lock is taken.
  std::optional<zd::HealthCheck> health;
  if (!opts.no_check)
    health = zd::parse_health_check(
        {opts.check, opts.check_timeout, opts.check_interval, opts.rise, opts.fall});
  zd::State(opts.state).with(zd::Lock::exclusive, [&](zd::ControlPlane &control) {
    control.set_health_check(opts.workspace, health);
  });
  print(opts, {{"workspace", opts.workspace}, {"check", zd::to_json(health)}},
        health ? "workspace " + opts.workspace + ": zdctl serve checks " +
                     zd::describe(health->check) + " every " +
                     zd::format_duration(std::chrono::milliseconds(health->interval_ms)) +
                     " (timeout " +
                     zd::format_duration(std::chrono::milliseconds(health->check.timeout_ms)) +
                     "); " + std::to_string(health->fall) + " failed in a row mark it failing, " +
                     std::to_string(health->rise) + " good ones clear the mark"
               : "workspace " + opts.workspace + ": no health check (and no failing mark)");
}

void do_workspace_rm(const Options &opts) {
  zd::State(opts.state).with(zd::Lock::exclusive, [&](zd::ControlPlane &control) {
    control.remove_workspace(opts.workspace, force_of(opts));
  });
  print(opts, {{"workspace", opts.workspace}, {"removed", true}},
        "workspace " + opts.workspace + " removed");
}

void do_switch(const Options &opts) {
  zd::RouteRequest request;
  request.workspace = opts.workspace;
  print_release(opts, run_release(opts, request));
}

void do_revert(const Options &opts) {
  zd::RouteRequest request;
  request.kind = zd::RouteRequest::Kind::revert;
  if (opts.history_entry) {
    request.kind = zd::RouteRequest::Kind::revert_to;
    request.seq = opts.history_entry;
  }
  print_release(opts, run_release(opts, request));
}

void do_canary(const Options &opts) {
  zd::RouteRequest request;
  request.kind =
      opts.canary_abort ? zd::RouteRequest::Kind::canary_end : zd::RouteRequest::Kind::canary;
  request.workspace = opts.workspace;
  request.weight = opts.canary_weight;
  request.policy.revert_on_failure = !opts.no_revert_on_failure;
  if (!opts.promote_after.empty())
    request.policy.promote_after_ms =
        zd::parse_positive_ms(opts.promote_after, "--promote-after", zd::kMaxPromoteAfterMs);
  const zd::Release r = run_release(opts, request);
  const bool changed = r.result.changed == zd::Changed::yes;
  const std::string share = std::to_string(opts.canary_weight) + "%";
  std::string text = opts.canary_abort
                         ? opts.domain + ": canary " + r.result.to + " ended; " + r.result.from +
                               " takes every new connection"
                         : opts.domain + ": canary " + r.result.to + " takes " + share +
                               " of new connections, " + r.result.from + " the rest";
  if (!changed)
    text =
        opts.domain + ": canary " + r.result.to + " already takes " + share + ", nothing changed";
  else if (opts.dry_run)
    text = "would set " + text + " (dry run: nothing changed)";
  print_checked(opts, r, text,
                canary_json(opts.domain, r, opts.dry_run, opts.canary_abort, opts.canary_weight));
}

void do_history(const Options &opts) {
  const std::vector<zd::Event> events =
      zd::State(opts.state).with(zd::Lock::shared, [&](zd::ControlPlane &control) {
        return control.history(opts.domain);
      });
  if (opts.json)
    std::cout << zd::to_json(events).dump(2) << "\n";
  else
    std::cout << zd::to_table(events);
}

namespace {

std::string connections(size_t n) {
  return std::to_string(n) + " connection" + (n == 1 ? "" : "s");
}

} // namespace

// Without --wait, one look: the exit status says whether the workspace is
// drained (0) or not (3), for `zdctl drain shop && zdctl workspace rm blue`.
void do_drain(const Options &opts) {
  zd::DrainRequest request{opts.domain, opts.workspace, {}, opts.kill_after};
  if (opts.drain_wait)
    request.timeout = zd::parse_duration(opts.drain_timeout, kMaxDrainTimeout);
  // One line a second for a person watching (or who asked with -v); a
  // script reading stderr gets the outcome only.
  const bool show_progress = opts.verbose || isatty(STDERR_FILENO);
  auto next_line = std::chrono::steady_clock::now();
  const zd::Drained drained = zd::drain(
      zd::State(opts.state), request, [&](const zd::Held &held, std::chrono::milliseconds left) {
        const auto now = std::chrono::steady_clock::now();
        if (!show_progress || now < next_line)
          return;
        next_line = now + std::chrono::seconds(1);
        std::fprintf(stderr, "%s: %s holds %s (%s left)\n", held.domain.c_str(),
                     held.workspace.c_str(), connections(held.connections.size()).c_str(),
                     zd::format_duration(std::chrono::ceil<std::chrono::seconds>(left)).c_str());
      });
  const std::string who = drained.domain + ": " + drained.workspace;
  std::string text = drained.drained() ? who + " holds no connection"
                                       : who + " holds " + connections(drained.left);
  if (drained.closed)
    text += " (closed " + connections(drained.closed) + " at the timeout)";
  print(opts,
        {{"domain", drained.domain},
         {"workspace", drained.workspace},
         {"connections", drained.left},
         {"drained", drained.drained()},
         {"closed", drained.closed},
         {"waited_ms", drained.waited.count()}},
        text);
  if (!drained.drained())
    throw zd::Error(zd::Errc::timeout,
                    "workspace '" + drained.workspace + "' still holds " +
                        connections(drained.left) + " of domain '" + drained.domain + "'" +
                        (!opts.drain_wait  ? " (--wait waits for them)"
                         : opts.kill_after ? " after closing what it could"
                                           : " after " + zd::format_duration(request.timeout) +
                                                 " (--kill-after closes them at the timeout)"));
}

} // namespace zdctl
