// zd-hostile: the clients an HTTP server must survive, all at once, from one
// thread, against 127.0.0.1:PORT. Used by the serve tests (integration and
// browser) while an honest client works beside it.
//
//   half-open    a request line and one header, then nothing
//   idle         one whole request (GET /), its answer read, then nothing
//   non-readers  a burst of pipelined GET / that is never read
//   slow bodies  a POST whose body comes one byte a second (with the token,
//                so that the body is really waited for)
//
// Each kind connects from its own loopback address (127.0.0.2 and up, the
// half-open ones spread over four), as separate hosts would. It prints
// "ready N" once every connection is made, holds them for --seconds, then
// closes them all and prints "done {json}":
// how many of each kind the server closed first, and the statuses of the
// slow bodies' answers.
//
// Usage: zd-hostile --port P [--token T] [--seconds S] [--half-open N]
//                   [--idle N] [--non-readers N] [--slow-bodies N]
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

enum class Kind { half_open, idle, non_reader, slow_body };
const char *const kKindNames[] = {"half_open", "idle", "non_readers", "slow_bodies"};

struct Client {
  Kind kind;
  int fd = -1;
  std::string to_send; // what is left of the request (a slow body: one byte a tick)
  std::string got;
  bool closed_by_server = false;
};

struct Options {
  int port = 0;
  std::string token;
  int seconds = 10;
  int counts[4] = {1000, 100, 10, 10};
};

[[noreturn]] void die(const std::string &why) {
  std::fprintf(stderr, "zd-hostile: %s\n", why.c_str());
  std::exit(2);
}

int connect_from(const char *source, int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    die(std::string("socket: ") + std::strerror(errno));
  sockaddr_in from{};
  from.sin_family = AF_INET;
  inet_pton(AF_INET, source, &from.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr *>(&from), sizeof(from)) != 0)
    die(std::string("bind ") + source + ": " + std::strerror(errno));
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr *>(&to), sizeof(to)) != 0)
    die(std::string("connect from ") + source + ": " + std::strerror(errno));
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

// Sends what the socket takes now; returns false when the server closed it.
bool send_some(Client &c, size_t at_most) {
  const size_t n = std::min(at_most, c.to_send.size());
  if (n == 0)
    return true;
  const ssize_t sent = send(c.fd, c.to_send.data(), n, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (sent > 0)
    c.to_send.erase(0, static_cast<size_t>(sent));
  return sent >= 0 || errno == EAGAIN || errno == EINTR;
}

Options parse(int argc, char **argv) {
  Options o;
  const std::map<std::string, int *> numbers = {
      {"--port", &o.port},      {"--seconds", &o.seconds},       {"--half-open", &o.counts[0]},
      {"--idle", &o.counts[1]}, {"--non-readers", &o.counts[2]}, {"--slow-bodies", &o.counts[3]}};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc)
      die("usage: zd-hostile --port P [--token T] [--seconds S] [--half-open N] [--idle N] "
          "[--non-readers N] [--slow-bodies N]");
    if (arg == "--token")
      o.token = argv[++i];
    else if (numbers.count(arg))
      *numbers.at(arg) = std::atoi(argv[++i]);
    else
      die("unknown option " + arg);
  }
  if (o.port <= 0)
    die("--port is required");
  return o;
}

std::string request_for(Kind kind, const std::string &token) {
  const std::string auth = token.empty() ? "" : "Authorization: Bearer " + token + "\r\n";
  switch (kind) {
  case Kind::half_open:
    return "GET /api/v1/status HTTP/1.1\r\nHost: zd\r\n";
  case Kind::idle:
    return "GET / HTTP/1.1\r\nHost: zd\r\n\r\n";
  case Kind::non_reader: {
    std::string burst;
    for (int i = 0; i < 2000; ++i)
      burst += "GET / HTTP/1.1\r\nHost: zd\r\n\r\n";
    return burst;
  }
  case Kind::slow_body:
    return "POST /api/v1/domains/shop/switch HTTP/1.1\r\nHost: zd\r\n" + auth +
           "Content-Type: application/json\r\nContent-Length: 64\r\n\r\n" + std::string(64, ' ');
  }
  return "";
}

} // namespace

int main(int argc, char **argv) {
  const Options o = parse(argc, argv);
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  setrlimit(RLIMIT_NOFILE, &files);

  std::vector<Client> clients;
  for (int k = 0; k < 4; ++k)
    for (int i = 0; i < o.counts[k]; ++i) {
      const Kind kind = static_cast<Kind>(k);
      // 127.0.0.2-5 for the half-open ones, then one address per kind.
      const std::string source =
          "127.0.0." + std::to_string(kind == Kind::half_open ? 2 + i % 4 : 5 + k);
      Client c{kind, connect_from(source.c_str(), o.port), request_for(kind, o.token), "", false};
      const size_t first = kind == Kind::slow_body ? c.to_send.size() - 64 : c.to_send.size();
      if (!send_some(c, first))
        c.closed_by_server = true;
      clients.push_back(std::move(c));
    }
  std::printf("ready %zu\n", clients.size());
  std::fflush(stdout);

  const auto until = Clock::now() + std::chrono::seconds(o.seconds);
  auto next_byte = Clock::now() + 1s;
  while (Clock::now() < until) {
    std::vector<pollfd> fds;
    std::vector<Client *> watched;
    for (Client &c : clients)
      if (!c.closed_by_server && c.kind != Kind::non_reader) {
        fds.push_back({c.fd, POLLIN, 0});
        watched.push_back(&c);
      }
    if (poll(fds.data(), fds.size(), 100) < 0 && errno != EINTR)
      die(std::string("poll: ") + std::strerror(errno));
    for (size_t i = 0; i < fds.size(); ++i) {
      if (!fds[i].revents)
        continue;
      char buf[4096];
      const ssize_t n = recv(fds[i].fd, buf, sizeof(buf), 0);
      if (n > 0)
        watched[i]->got.append(buf, static_cast<size_t>(n));
      else if (n == 0 || (errno != EAGAIN && errno != EINTR))
        watched[i]->closed_by_server = true;
    }
    if (Clock::now() >= next_byte) {
      next_byte += 1s;
      for (Client &c : clients)
        if (c.kind == Kind::slow_body && !c.closed_by_server && !send_some(c, 1))
          c.closed_by_server = true;
    }
  }

  // A non-reader learns that the server closed it only by trying to send.
  for (Client &c : clients)
    if (c.kind == Kind::non_reader && !c.closed_by_server) {
      pollfd p{c.fd, POLLIN, 0};
      if (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR)))
        c.closed_by_server = true;
    }
  int closed[4] = {0, 0, 0, 0};
  std::map<std::string, int> slow_answers;
  for (Client &c : clients) {
    closed[static_cast<int>(c.kind)] += c.closed_by_server;
    if (c.kind == Kind::slow_body)
      ++slow_answers[c.got.size() >= 12 ? c.got.substr(9, 3) : "none"];
    close(c.fd);
  }
  std::string answers;
  for (const auto &[status, n] : slow_answers)
    answers += (answers.empty() ? "" : ",") + ("\"" + status + "\":" + std::to_string(n));
  std::printf("done {\"closed_by_server\":{");
  for (int k = 0; k < 4; ++k)
    std::printf("%s\"%s\":%d", k ? "," : "", kKindNames[k], closed[k]);
  std::printf("},\"slow_body_answers\":{%s}}\n", answers.c_str());
  return 0;
}
