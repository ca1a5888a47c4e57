// zd-echo: the small TCP server the tests and the demo use as a workspace.
// It greets each connection with "NAME\n" and answers every chunk it reads
// with "NAME:<chunk>", so a client always knows which workspace served it,
// on its first byte and on every exchange after a switch.
//
//   zd-echo NAME ADDRESS:PORT...       listen on each (IPv6 as [::1]:3001)
//   zd-echo --bind-only NAME ADDR:PORT bind but never listen (for error tests)
//   zd-echo --dual-stack NAME [::]:PORT IPv6 sockets take IPv4 too (V6ONLY off)
//   zd-echo --systemd NAME             serve the listening sockets passed by
//                                      socket activation (LISTEN_FDS from fd 3)
//   zd-echo --http NAME ADDR:PORT...   an HTTP/1.1 server instead: no greeting,
//                                      every request (keep-alive) is answered
//                                      200 with the body "NAME\n"
//   zd-echo --http --unhealthy-while=FILE NAME ADDR:PORT...
//                                      GET /healthz answers 503 while FILE
//                                      exists (an app still warming up)
//
// Prints "ready" on stdout once every socket is listening.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

[[noreturn]] void die(const std::string &what) {
  std::fprintf(stderr, "zd-echo: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

int bind_socket(const std::string &spec, bool listen_too, bool dual_stack) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto colon = spec.rfind(':');
  if (colon == std::string::npos)
    die("bad address " + spec);
  std::string host = spec.substr(0, colon);
  int port = std::atoi(spec.c_str() + colon + 1);
  if (!host.empty() && host.front() == '[') {
    auto *in6 = reinterpret_cast<sockaddr_in6 *>(&ss);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &in6->sin6_addr) != 1)
      die("bad address " + spec);
    len = sizeof(*in6);
  } else {
    auto *in = reinterpret_cast<sockaddr_in *>(&ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &in->sin_addr) != 1)
      die("bad address " + spec);
    len = sizeof(*in);
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
    die("socket");
  int v6only = dual_stack ? 0 : 1;
  if (ss.ss_family == AF_INET6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
  if (bind(fd, reinterpret_cast<sockaddr *>(&ss), len) != 0)
    die("bind " + spec);
  if (listen_too && listen(fd, 4096) != 0)
    die("listen " + spec);
  return fd;
}

// Socket activation as an app does it: the fds from 3 on, if meant for us.
std::vector<int> passed_listeners() {
  const char *fds = std::getenv("LISTEN_FDS");
  const char *pid = std::getenv("LISTEN_PID");
  if (!fds || !pid || std::atoi(pid) != getpid())
    die("--systemd: no LISTEN_FDS for this process");
  std::vector<int> out;
  for (int i = 0; i < std::atoi(fds); ++i)
    out.push_back(3 + i);
  return out;
}

} // namespace

int main(int argc, char **argv) {
  int arg = 1;
  bool bind_only = false, dual_stack = false, http = false, systemd = false;
  std::string unhealthy_while;
  for (; arg < argc && argv[arg][0] == '-'; ++arg) {
    if (std::strcmp(argv[arg], "--bind-only") == 0)
      bind_only = true;
    else if (std::strcmp(argv[arg], "--dual-stack") == 0)
      dual_stack = true;
    else if (std::strcmp(argv[arg], "--http") == 0)
      http = true;
    else if (std::strcmp(argv[arg], "--systemd") == 0)
      systemd = true;
    else if (std::strncmp(argv[arg], "--unhealthy-while=", 18) == 0)
      unhealthy_while = argv[arg] + 18;
    else
      break;
  }
  if (argc - arg < (systemd ? 1 : 2)) {
    std::fprintf(stderr, "usage: zd-echo [--bind-only] [--dual-stack] [--http "
                         "[--unhealthy-while=FILE]] NAME "
                         "ADDRESS:PORT...\n       zd-echo [--http] --systemd NAME\n");
    return 2;
  }
  const std::string name = argv[arg++];
  std::vector<int> listeners = systemd ? passed_listeners() : std::vector<int>{};
  for (; arg < argc; ++arg)
    listeners.push_back(bind_socket(argv[arg], !bind_only, dual_stack));

  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0)
    die("epoll_create1");
  for (int fd : listeners) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = (1ull << 32) | static_cast<uint32_t>(fd);
    if (!bind_only && epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
      die("epoll_ctl");
  }
  std::printf("ready\n");
  std::fflush(stdout);

  const std::string greeting = http ? "" : name + "\n";
  const std::string body = name + "\n";
  const std::string response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                               std::to_string(body.size()) + "\r\n\r\n" + body;
  const std::string unavailable =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
  const auto answer = [&](const std::string &head) {
    const bool health = head.rfind("GET /healthz ", 0) == 0;
    return health && !unhealthy_while.empty() && access(unhealthy_while.c_str(), F_OK) == 0
               ? unavailable
               : response;
  };
  // Per connection: the tail of what was read, to find "\r\n\r\n" across reads.
  std::vector<std::string> pending;
  char buf[4096];
  epoll_event events[64];
  for (;;) {
    int n = epoll_wait(ep, events, 64, -1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      die("epoll_wait");
    for (int i = 0; i < n; ++i) {
      int fd = static_cast<int>(events[i].data.u64 & 0xffffffffu);
      if (events[i].data.u64 >> 32) { // a listener
        int conn = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (conn < 0)
          continue;
        if (static_cast<size_t>(conn) < pending.size())
          pending[static_cast<size_t>(conn)].clear(); // the fd of a closed one
        if (!greeting.empty() && write(conn, greeting.data(), greeting.size()) < 0) {
          close(conn);
          continue;
        }
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = static_cast<uint32_t>(conn);
        epoll_ctl(ep, EPOLL_CTL_ADD, conn, &ev);
        continue;
      }
      ssize_t got = read(fd, buf, sizeof(buf));
      if (got <= 0) {
        close(fd); // also removes it from the epoll set
        continue;
      }
      std::string reply;
      if (http) {
        // One response per complete request head; bodies are not expected.
        if (pending.size() <= static_cast<size_t>(fd))
          pending.resize(static_cast<size_t>(fd) + 1);
        std::string &seen = pending[static_cast<size_t>(fd)];
        seen.append(buf, static_cast<size_t>(got));
        for (size_t end; (end = seen.find("\r\n\r\n")) != std::string::npos;) {
          reply += answer(seen.substr(0, end));
          seen.erase(0, end + 4);
        }
      } else {
        reply = name + ":" + std::string(buf, static_cast<size_t>(got));
      }
      if (!reply.empty() && write(fd, reply.data(), reply.size()) < 0)
        close(fd);
    }
  }
}
