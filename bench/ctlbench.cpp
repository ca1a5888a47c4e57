// zd-ctlbench: what the control plane's changes cost as the state grows,
// through the library calls zdctl makes (no process start in the numbers).
//
//   zd-ctlbench STATE_DIR DOMAINS REPEAT
//
// On an attached state: registers workspaces wa and wb (listening sockets
// this process holds), applies a document of DOMAINS domains routed to wa
// (one apply, timed), then REPEAT times each, each in a loop of its own: a
// domain add, a domain removal, a workspace add, a workspace removal, a
// switch of d0, a status of d0, and a one-domain apply into the grown state;
// and a full status (the least of five), and a rebuild of the index of
// routes, as recovery does (the least of three). Prints one JSON object: each
// operation's p50/p99 in us.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apply_state.hpp"
#include "error.hpp"
#include "parse.hpp"
#include "release.hpp"
#include "sockets.hpp"
#include "state.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// A listening socket on 127.0.0.1, any port: a workspace's.
int listener() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof(a)) != 0 || listen(fd, 64) != 0)
    throw std::runtime_error("cannot listen on 127.0.0.1");
  return fd;
}

void add_workspace(const zd::State &state, const std::string &name, int fd) {
  std::vector<zd::TakenSocket> sockets;
  sockets.push_back(zd::socket_from_fd(fd));
  state.with(zd::Lock::exclusive, [&](zd::ControlPlane &control) {
    control.add_workspace(name, static_cast<uint32_t>(getpid()), sockets, "");
  });
}

// Domain i listens on 10.(100 + i / 65536).(i / 256 % 256).(i % 256):80.
std::string address(uint32_t i) {
  return "tcp://10." + std::to_string(100 + i / 65536) + "." + std::to_string(i / 256 % 256) + "." +
         std::to_string(i % 256) + ":80";
}

nlohmann::json stats(std::vector<double> us) {
  std::sort(us.begin(), us.end());
  auto at = [&](double p) { return us[static_cast<size_t>(p * double(us.size() - 1))]; };
  return {{"n", us.size()}, {"p50_us", at(0.5)}, {"p99_us", at(0.99)}};
}

template <typename Fn> double time_us(Fn &&fn) {
  const auto t0 = Clock::now();
  fn();
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

} // namespace

int main(int argc, char **argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: zd-ctlbench STATE_DIR DOMAINS REPEAT\n");
    return 2;
  }
  try {
    const zd::State state(argv[1]);
    const auto domains = static_cast<uint32_t>(std::stoul(argv[2]));
    const int repeat = std::stoi(argv[3]);
    add_workspace(state, "wa", listener());
    add_workspace(state, "wb", listener());

    zd::ApplyOptions quiet;
    quiet.no_check = true;
    nlohmann::json out = {{"domains", domains}};
    {
      // Built and dropped before the rest: a state grown by an earlier
      // process, as every zdctl finds it.
      nlohmann::json document = {{"domains", nlohmann::json::object()}};
      for (uint32_t i = 0; i < domains; ++i)
        document["domains"]["d" + std::to_string(i)] = {{"listen", {address(i)}}, {"active", "wa"}};
      const std::string text = document.dump();
      out["apply_all_s"] = time_us([&] { zd::apply_document(state, text, quiet); }) / 1e6;
    }
    malloc_trim(0);

    // Each operation in a loop of its own: a slow one (a workspace's removal
    // reads every route) leaves the kernel work behind it (freed elements)
    // that would be counted against the next.
    std::vector<double> add, rm, ws_add, ws_rm, flip, one, one_apply;
    for (int r = 0; r < repeat; ++r) {
      const std::vector<zd::Endpoint> bindings{
          zd::parse_endpoint(address(domains + 1 + r), zd::AllowPrefix::yes)};
      add.push_back(time_us([&] {
        state.with(zd::Lock::exclusive, [&](zd::ControlPlane &control) {
          control.add_domain("probe" + std::to_string(r), bindings);
        });
      }));
    }
    for (int r = 0; r < repeat; ++r)
      rm.push_back(time_us([&] {
        state.with(zd::Lock::exclusive, [&](zd::ControlPlane &control) {
          control.remove_domain("probe" + std::to_string(r));
        });
      }));
    std::vector<int> spare;
    for (int r = 0; r < repeat; ++r)
      spare.push_back(listener());
    for (int r = 0; r < repeat; ++r)
      ws_add.push_back(time_us([&] { add_workspace(state, "wprobe" + std::to_string(r), spare[r]); }));
    for (int r = 0; r < repeat; ++r)
      ws_rm.push_back(time_us([&] {
        state.with(zd::Lock::exclusive, [&](zd::ControlPlane &control) {
          control.remove_workspace("wprobe" + std::to_string(r), zd::Force::no);
        });
      }));
    for (int r = 0; r < repeat; ++r)
      flip.push_back(time_us([&] {
        zd::release(state,
                    zd::RouteRequest::of(zd::RouteRequest::Kind::switch_to, "d0", r % 2 ? "wa" : "wb"),
                    {}, false);
      }));
    for (int r = 0; r < repeat; ++r)
      one.push_back(time_us([&] {
        state.with(zd::Lock::shared,
                   [&](zd::ControlPlane &control) { return control.domain_status("d0"); });
      }));
    for (int r = 0; r < repeat; ++r) {
      const nlohmann::json change = {
          {"domains", {{"d1", {{"listen", {address(1)}}, {"active", r % 2 ? "wa" : "wb"}}}}}};
      one_apply.push_back(time_us([&] { zd::apply_document(state, change.dump(), quiet); }));
    }
    out["domain_rm"] = stats(rm);
    out["workspace_rm"] = stats(ws_rm);
    out["domain_add"] = stats(add);
    out["workspace_add"] = stats(ws_add);
    out["switch"] = stats(flip);
    out["status_domain"] = stats(one);
    out["apply_one_domain"] = stats(one_apply);
    // The least of five: a full status is one read, but the machine is shared.
    double full = 1e18, records = 1e18;
    for (int i = 0; i < 5; ++i) {
      full = std::min(full, time_us([&] {
                        state.with(zd::Lock::shared,
                                   [](zd::ControlPlane &control) { return control.status(); });
                      }));
      zd::Session session = state.open(zd::Lock::shared);
      records = std::min(records, time_us([&] { (void)session.store().domains(); }));
    }
    // What recovery adds after a kill (and upgrade once): the index of
    // routes built again from every route.
    double rebuild = 1e18;
    for (int i = 0; i < 3; ++i) {
      zd::Session session = state.open(zd::Lock::exclusive);
      rebuild = std::min(rebuild, time_us([&] {
                           session.store().rebuild_route_index(session.plane().routes());
                         }));
    }
    out["rebuild_route_index_ms"] = rebuild / 1000;
    out["domain_records_us"] = records;
    out["status_full_us"] = full;
    out["status_full_us_per_domain"] = full / std::max<uint32_t>(domains, 1);
    std::printf("%s\n", out.dump().c_str());
    std::fflush(stdout);
    // With ZD_HOLD set, wa's and wb's sockets stay open until stdin closes,
    // so that a script can time zdctl's own runs on the grown state.
    if (std::getenv("ZD_HOLD"))
      while (std::fgetc(stdin) != EOF) {
      }
  } catch (const std::exception &e) {
    std::fprintf(stderr, "zd-ctlbench: %s\n", e.what());
    return 1;
  }
  return 0;
}
