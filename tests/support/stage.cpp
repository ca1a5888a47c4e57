// zd-stage STATE BLUE_PID GREEN_PID CYAN_PID [bare]: the stage every case of
// the crash sweep starts from (tests/crash/sweep.sh), made in one process
// through the library calls zdctl makes. The sweep stages again before each
// kill point, and a dozen zdctl starts each time were a third of its cost
// (and most of it on a machine that starts processes slowly).
//
// The stage: the state detached and attached again with XDP on zdsweep0;
// domain shop on 10.99.0.1:80 and 10.99.1.0/24:80, switched to blue
// (127.0.0.1:3001 of BLUE_PID) then green (127.0.0.1:3002); domain idle on
// 10.99.0.2:80, switched to cyan (0.0.0.0:8080 in CYAN_PID's namespace, a
// container) and checked by tcp. "bare": only detached.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "check.hpp"
#include "parse.hpp"
#include "release.hpp"
#include "sockets.hpp"
#include "state.hpp"

namespace {

void stage(const zd::State &state, int blue, int green, int cyan) {
  state.attach({{"zdsweep0", zd::XdpMode::native}});
  auto add_domain = [&](const std::string &name, const std::vector<std::string> &listens) {
    std::vector<zd::Endpoint> bindings;
    for (const auto &listen : listens)
      bindings.push_back(zd::parse_endpoint(listen, zd::AllowPrefix::yes));
    state.with(zd::Lock::exclusive,
               [&](zd::ControlPlane &control) { control.add_domain(name, bindings); });
  };
  auto add_workspace = [&](const std::string &name, int pid, const std::string &socket) {
    std::vector<zd::TakenSocket> sockets;
    sockets.push_back(zd::socket_from_pid(pid, zd::parse_endpoint(socket, zd::AllowPrefix::no)));
    state.with(zd::Lock::exclusive, [&](zd::ControlPlane &control) {
      control.add_workspace(name, static_cast<uint32_t>(pid), sockets, "");
    });
  };
  auto switch_to = [&](const std::string &domain, const std::string &workspace) {
    zd::release(state, zd::RouteRequest::of(zd::RouteRequest::Kind::switch_to, domain, workspace),
                {}, false);
  };
  add_domain("shop", {"tcp://10.99.0.1:80", "tcp://10.99.1.0/24:80"});
  add_domain("idle", {"tcp://10.99.0.2:80"});
  add_workspace("blue", blue, "tcp://127.0.0.1:3001");
  add_workspace("green", green, "tcp://127.0.0.1:3002");
  switch_to("shop", "blue");
  switch_to("shop", "green");
  add_workspace("cyan", cyan, "tcp://0.0.0.0:8080");
  switch_to("idle", "cyan");
  state.with(zd::Lock::exclusive, [&](zd::ControlPlane &control) {
    control.set_domain_check("idle", zd::parse_check("tcp"));
  });
}

} // namespace

int main(int argc, char **argv) {
  if (argc != 5 && !(argc == 6 && std::string(argv[5]) == "bare")) {
    std::fprintf(stderr, "usage: zd-stage STATE BLUE_PID GREEN_PID CYAN_PID [bare]\n");
    return 2;
  }
  try {
    const zd::State state(argv[1]);
    state.detach();
    if (argc == 5)
      stage(state, std::stoi(argv[2]), std::stoi(argv[3]), std::stoi(argv[4]));
    return 0;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "zd-stage: %s\n", e.what());
    return 1;
  }
}
