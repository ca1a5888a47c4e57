// zd-scale: binds COUNT extra domains, each with two workspaces of its own
// (one real listening socket each), through the library API: zdctl would
// do the same work but pay a process start per command.
//
//   zd-scale --state DIR --count 10000 --role active    domains + workspaces s<i>a
//   zd-scale --state DIR --count 10000 --role standby   workspaces s<i>b
//
// Domain i is bound to tcp://10.99.(1 + i/250).(1 + i%250):80 and switched to
// s<i>a (socket on 127.1.x.y:9000); s<i>b listens on 127.2.x.y:9000. Two
// processes because each holds its sockets open (the kernel drops a closed
// socket from the sockmap) and a process may hold fewer fds than 2 x COUNT.
// Prints one JSON line, then holds the sockets until stdin closes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <stdexcept>
#include <string>
#include <vector>

#include "error.hpp"
#include "parse.hpp"
#include "sockets.hpp"
#include "state.hpp"

namespace {

double mono_s() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

zd::Fd listener(uint8_t net, int i) {
  zd::Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd)
    zd::throw_errno("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(9000);
  addr.sin_addr.s_addr = htonl((127u << 24) | (uint32_t{net} << 16) | static_cast<uint32_t>(i + 1));
  if (bind(fd.get(), reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) != 0)
    zd::throw_errno("bind 127." + std::to_string(net) + ".x.y:9000");
  if (listen(fd.get(), 16) != 0)
    zd::throw_errno("listen");
  return fd;
}

void raise_fd_limit(rlim_t want) {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur >= want)
    return;
  lim.rlim_cur = want;
  if (lim.rlim_max < want)
    lim.rlim_max = want;
  if (setrlimit(RLIMIT_NOFILE, &lim) != 0)
    zd::throw_errno("raising RLIMIT_NOFILE to " + std::to_string(want));
}

} // namespace

int main(int argc, char **argv) {
  try {
    std::string state_dir = zd::kDefaultStateDir;
    int count = 10000;
    bool active = true;
    for (int i = 1; i + 1 < argc; i += 2) {
      std::string k = argv[i];
      if (k == "--state")
        state_dir = argv[i + 1];
      else if (k == "--count")
        count = std::stoi(argv[i + 1]);
      else if (k == "--role")
        active = std::string(argv[i + 1]) == "active";
      else
        throw std::runtime_error("usage: zd-scale --state DIR --count N");
    }
    if (count < 1 || count > 250 * 250)
      throw std::runtime_error("--count must be 1..62500");
    raise_fd_limit(static_cast<rlim_t>(count + 256));

    std::vector<zd::Fd> held;
    held.reserve(static_cast<size_t>(count));
    double t0 = mono_s();
    {
      // One session for the whole run: the lock is held once, not per call.
      zd::Session session = zd::State(state_dir).open(zd::Lock::exclusive);
      zd::ControlPlane control = session.control();
      for (int i = 0; i < count; ++i) {
        std::string name = "s" + std::to_string(i);
        std::string addr = "tcp://10.99." + std::to_string(1 + i / 250) + "." +
                           std::to_string(1 + i % 250) + ":80";
        std::vector<zd::TakenSocket> sockets;
        zd::Fd fd = listener(active ? 1 : 2, i);
        zd::SocketInfo info = zd::inspect_socket(fd.get());
        sockets.push_back({std::move(fd), info, 0});
        if (active)
          control.add_domain(name, {zd::parse_endpoint(addr, zd::AllowPrefix::no)});
        control.add_workspace(name + (active ? "a" : "b"), static_cast<uint32_t>(getpid()),
                              sockets);
        held.push_back(std::move(sockets[0].fd));
        if (active)
          control.switch_to(name, name + "a", zd::Force::no);
      }
    }
    std::printf("{\"role\":\"%s\",\"domains\":%d,\"workspaces\":%d,\"sockets\":%zu,"
                "\"seconds\":%.3f}\n",
                active ? "active" : "standby", active ? count : 0, count, held.size(),
                mono_s() - t0);
    std::fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0) {
    }
    return 0;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "zd-scale: error: %s\n", e.what());
    return 1;
  }
}
