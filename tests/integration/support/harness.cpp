#include "harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <regex>
#include <stdexcept>
#include <thread>

#include "release.hpp"

namespace zdtest {

Echo start_echo(const std::string &name, const std::vector<std::string> &addrs,
                const std::vector<std::string> &prefix) {
  std::vector<std::string> argv = prefix;
  argv.push_back(kEcho);
  size_t flags = 0;
  while (flags < addrs.size() && addrs[flags].rfind("--", 0) == 0)
    argv.push_back(addrs[flags++]);
  argv.push_back(name);
  argv.insert(argv.end(), addrs.begin() + static_cast<long>(flags), addrs.end());

  Echo echo{spawn(argv), name};
  // Wait for "ready" (or for the child to die) with a bound, never a sleep.
  std::string seen;
  auto deadline = Clock::now() + 10s;
  while (seen.find("ready\n") == std::string::npos) {
    pollfd p{echo.child.out_fd(), POLLIN, 0};
    if (poll(&p, 1, remaining_ms(deadline)) <= 0)
      throw std::runtime_error("zd-echo " + name + " did not become ready");
    char buf[256];
    ssize_t got = read(p.fd, buf, sizeof(buf));
    if (got <= 0) {
      char err[512] = {};
      ssize_t n = read(echo.child.err_fd(), err, sizeof(err) - 1);
      (void)n;
      throw std::runtime_error("zd-echo " + name + " exited before ready: " + err);
    }
    seen.append(buf, static_cast<size_t>(got));
  }
  return echo;
}

std::string exchange(Conn &conn, const std::string &msg, size_t expect_len) {
  // Socket timeouts make these calls return EINTR on any signal: retry.
  size_t sent = 0;
  while (sent < msg.size()) {
    ssize_t n = send(conn.fd.get(), msg.data() + sent, msg.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return "";
    sent += static_cast<size_t>(n);
  }
  std::string reply;
  char buf[512];
  while (reply.size() < expect_len) {
    ssize_t got = read(conn.fd.get(), buf, std::min(sizeof(buf), expect_len - reply.size()));
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      return "";
    reply.append(buf, static_cast<size_t>(got));
  }
  return reply;
}

std::string greet(const std::string &host, int port) {
  Conn conn;
  std::string why;
  if (connect_and_greet(host, port, conn, &why) != ConnectError::none)
    return "ERR:" + why;
  return conn.greeting;
}

std::string http_get(const std::string &host, int port, const std::string &path) {
  Conn conn;
  std::string why;
  if (connect_only(host, port, conn, &why, 3s) != ConnectError::none)
    return "ERR:" + why;
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: zd\r\n\r\n";
  if (send(conn.fd.get(), request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size()))
    return "ERR:send";
  std::string got;
  char buf[512];
  for (;;) {
    const size_t head = got.find("\r\n\r\n");
    const size_t field = got.find("Content-Length: ");
    if (head != std::string::npos && field != std::string::npos) {
      const size_t length = std::stoul(got.substr(field + 16));
      if (got.size() >= head + 4 + length) {
        std::string body = got.substr(head + 4, length);
        while (!body.empty() && body.back() == '\n')
          body.pop_back();
        return got.substr(9, 3) + (body.empty() ? "" : " " + body); // "HTTP/1.1 200 ..."
      }
    }
    const ssize_t n = read(conn.fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return "ERR:" + std::string(n == 0 ? "closed" : std::strerror(errno));
    got.append(buf, static_cast<size_t>(n));
  }
}

HttpReply http_request(int port, const std::string &method, const std::string &path,
                       const std::string &extra_headers, const std::string &body) {
  Conn conn;
  HttpReply reply;
  if (connect_only("127.0.0.1", port, conn, nullptr, 3s) != ConnectError::none)
    return reply;
  const std::string request = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                              extra_headers + "Content-Length: " + std::to_string(body.size()) +
                              "\r\nConnection: close\r\n\r\n" + body;
  ssize_t sent;
  while ((sent = send(conn.fd.get(), request.data(), request.size(), MSG_NOSIGNAL)) < 0 &&
         errno == EINTR) {
  }
  if (sent != static_cast<ssize_t>(request.size()))
    return reply;
  std::string raw;
  char buf[4096];
  for (ssize_t n; (n = recv(conn.fd.get(), buf, sizeof(buf), 0)) != 0;) {
    if (n < 0 && errno == EINTR) // a child of the test ended (SIGCHLD)
      continue;
    if (n < 0)
      break;
    raw.append(buf, static_cast<size_t>(n));
  }
  std::smatch status;
  if (!std::regex_search(raw, status, std::regex("^HTTP/1\\.[01] (\\d{3}) ")))
    return reply;
  reply.status = std::stoi(status[1]);
  const size_t split = raw.find("\r\n\r\n");
  reply.headers = raw.substr(0, split);
  reply.body = split == std::string::npos ? "" : raw.substr(split + 4);
  return reply;
}

Fd listen_tcp(const std::string &host, int port) {
  sockaddr_storage ss;
  socklen_t len;
  if (!parse_address(host, port, ss, len))
    throw std::runtime_error("bad address " + host);
  Fd fd(socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (ss.ss_family == AF_INET6)
    setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (bind(fd.get(), reinterpret_cast<sockaddr *>(&ss), len) != 0 || listen(fd.get(), 128) != 0)
    fail("listen on " + host);
  return fd;
}

void write_sysctl(const std::string &name, const std::string &value) {
  const std::string path = "/proc/sys/" + name;
  std::ofstream f(path);
  f << value << "\n";
  f.close();
  if (!f)
    throw std::runtime_error("cannot write " + path);
}

void NetnsTest::SetUp() {
  if (geteuid() != 0)
    GTEST_SKIP() << "integration tests need root (network namespaces, BPF)";
  // Single-threaded here, as unshare(CLONE_NEWNS) requires.
  ASSERT_EQ(unshare(CLONE_NEWNET | CLONE_NEWNS), 0) << std::strerror(errno);
  ASSERT_EQ(mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0) << std::strerror(errno);
  char tmpl[] = "/tmp/zd-integ-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr) << std::strerror(errno);
  bpffs_ = tmpl;
  ASSERT_EQ(mount("bpf", bpffs_.c_str(), "bpf", 0, "mode=0700"), 0) << std::strerror(errno);
  mounted_ = true;
  for (auto argv : std::vector<std::vector<std::string>>{
           {"ip", "link", "set", "lo", "up"},
           {"ip", "route", "add", "local", "10.99.0.0/24", "dev", "lo"},
           {"ip", "-6", "route", "add", "local", "fd00:99::/64", "dev", "lo"}}) {
    Result r = run(argv);
    ASSERT_EQ(r.code, 0) << argv[1] << " " << argv[2] << ": " << r.err;
  }
}

void NetnsTest::TearDown() {
  echoes_.clear(); // kills and reaps every workspace
  if (mounted_)
    umount2(bpffs_.c_str(), MNT_DETACH);
  if (!bpffs_.empty())
    rmdir(bpffs_.c_str());
}

Result NetnsTest::zdctl(const std::vector<std::string> &args, const SpawnOptions &options) {
  std::vector<std::string> argv = {kZdctl, "--state", state_dir()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, options);
}

std::string NetnsTest::zdctl_ok(const std::vector<std::string> &args, const SpawnOptions &options) {
  Result r = zdctl(args, options);
  std::string cmd;
  for (const auto &a : args)
    cmd += " " + a;
  EXPECT_EQ(r.code, 0) << "zdctl" << cmd << ": " << r.err;
  return r.out;
}

std::string NetnsTest::status_json() {
  return zdctl_ok({"status", "--json"});
}

std::string NetnsTest::switch_in_process(const std::string &domain, const std::string &workspace) {
  try {
    zd::release(zd::State(state_dir()),
                zd::RouteRequest::of(zd::RouteRequest::Kind::switch_to, domain, workspace), {},
                false);
    return "";
  } catch (const std::exception &e) {
    return e.what();
  }
}

void NetnsTest::flip(const std::string &domain, const std::string &a, const std::string &b, int min,
                     const std::function<bool()> &done, const std::atomic<int> &traffic,
                     Clock::time_point deadline, std::atomic<int> &made) {
  while ((made < min || !done()) && Clock::now() < deadline) {
    const std::string &to = made % 2 ? b : a;
    const int seen = traffic;
    std::string error;
    if (made % 10 == 0) {
      Result r = zdctl({"switch", domain, to});
      error = r.code == 0 ? "" : "zdctl: " + r.err;
    } else {
      error = switch_in_process(domain, to);
    }
    if (!error.empty()) {
      ADD_FAILURE() << "switch " << made << " to " << to << " failed: " << error;
      return;
    }
    ++made;
    const auto moved_by = std::min(deadline, Clock::now() + 1s);
    while (traffic == seen && Clock::now() < moved_by)
      std::this_thread::sleep_for(200us);
  }
}

Echo &NetnsTest::add_workspace(const std::string &name, int port, bool v6,
                               const std::vector<std::string> &flags) {
  const std::string p = std::to_string(port);
  std::vector<std::string> addrs = flags;
  addrs.push_back("127.0.0.1:" + p);
  if (v6)
    addrs.push_back("[::1]:" + p);
  echoes_.push_back(start_echo(name, addrs));
  Echo &echo = echoes_.back();
  std::vector<std::string> args = {
      "workspace",           "add", name, "--pid", std::to_string(echo.pid()), "--socket",
      "tcp://127.0.0.1:" + p};
  if (v6) {
    args.push_back("--socket");
    args.push_back("tcp://[::1]:" + p);
  }
  zdctl_ok(args);
  return echo;
}

void NetnsTest::attach_with_domain(const std::string &domain) {
  zdctl_ok({"attach"});
  zdctl_ok({"domain", "add", domain, "--listen", std::string("tcp://") + kV4 + ":80", "--listen",
            std::string("tcp://[") + kV6 + "]:80"});
}

void NetnsTest::attach_blue_green() {
  attach_with_domain();
  add_workspace("blue", 3001);
  add_workspace("green", 3002);
}

} // namespace zdtest
