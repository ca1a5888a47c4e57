// zdctl serve under load and under attack (issue 23): responses that never
// wait on a delayed ACK, an honest client served beside a thousand hostile
// ones (zd-hostile), nothing left behind once they go, the limits closing
// what is over them at once, and a hundred open pages each shown a switch
// within a second.
#include <dirent.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <regex>

#include <nlohmann/json.hpp>

#include "serve_fixture.hpp"

namespace zdtest {
namespace {

#ifdef ZD_SANITIZED
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif


using json = nlohmann::json;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

// One kept-alive connection: each request in one write, on a socket with
// TCP_NODELAY, so that any wait is the server's; each response read whole by
// its Content-Length.
class KeptAlive {
public:
  bool open(int port) {
    if (connect_only("127.0.0.1", port, conn_, nullptr, 3s) != ConnectError::none)
      return false;
    const int one = 1;
    setsockopt(conn_.fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return true;
  }

  HttpReply request(const std::string &method, const std::string &path, const std::string &headers,
                    const std::string &body = "") {
    HttpReply reply;
    const std::string wire = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers +
                             "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    if (send(conn_.fd.get(), wire.data(), wire.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(wire.size()))
      return reply;
    const auto deadline = Clock::now() + 3s;
    size_t head_end;
    while ((head_end = pending_.find("\r\n\r\n")) == std::string::npos)
      if (!read_more(deadline))
        return reply;
    std::smatch m;
    const std::string head = pending_.substr(0, head_end);
    if (!std::regex_search(head, m, std::regex("^HTTP/1\\.1 (\\d{3}) ")))
      return reply;
    size_t length = 0;
    if (std::regex_search(head, m, std::regex("[Cc]ontent-[Ll]ength: (\\d+)")))
      length = std::stoul(m[1]);
    while (pending_.size() < head_end + 4 + length)
      if (!read_more(deadline))
        return reply;
    reply.status = std::stoi(head.substr(9, 3));
    reply.headers = head;
    reply.body = pending_.substr(head_end + 4, length);
    pending_.erase(0, head_end + 4 + length);
    return reply;
  }

private:
  bool read_more(Clock::time_point deadline) {
    pollfd p{conn_.fd.get(), POLLIN, 0};
    if (poll(&p, 1, remaining_ms(deadline)) <= 0)
      return false;
    char buf[16384];
    const ssize_t n = read(conn_.fd.get(), buf, sizeof(buf));
    if (n <= 0)
      return false;
    pending_.append(buf, static_cast<size_t>(n));
    return true;
  }

  Conn conn_;
  std::string pending_;
};

// A blocking connection to 127.0.0.1:port from another loopback address.
zd::Fd connect_from(const char *source, int port) {
  zd::Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_storage from{}, to{};
  socklen_t from_len = 0, to_len = 0;
  if (!fd || !parse_address(source, 0, from, from_len) ||
      !parse_address("127.0.0.1", port, to, to_len) ||
      bind(fd.get(), reinterpret_cast<sockaddr *>(&from), from_len) != 0 ||
      connect(fd.get(), reinterpret_cast<sockaddr *>(&to), to_len) != 0)
    return zd::Fd();
  return fd;
}

size_t entries(const std::string &dir) {
  size_t n = 0;
  if (DIR *d = opendir(dir.c_str())) {
    while (const dirent *e = readdir(d))
      n += e->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

struct Footprint {
  size_t fds = 0, threads = 0;
  bool operator==(const Footprint &o) const { return fds == o.fds && threads == o.threads; }
};
Footprint footprint(pid_t pid) {
  const std::string proc = "/proc/" + std::to_string(pid);
  return {entries(proc + "/fd"), entries(proc + "/task")};
}
std::ostream &operator<<(std::ostream &out, const Footprint &f) {
  return out << f.fds << " fds, " << f.threads << " threads";
}

milliseconds percentile(std::vector<milliseconds> samples, double p) {
  std::sort(samples.begin(), samples.end());
  return samples.at(static_cast<size_t>(p * static_cast<double>(samples.size() - 1)));
}

// The latencies in microseconds, for a failure message.
std::string spread(std::vector<Clock::duration> samples) {
  std::sort(samples.begin(), samples.end());
  auto us = [&](double p) {
    return std::to_string(duration_cast<std::chrono::microseconds>(
                              samples.at(static_cast<size_t>(p * double(samples.size() - 1))))
                              .count());
  };
  return "p50 " + us(0.5) + " us, p99 " + us(0.99) + " us, max " + us(1.0) + " us";
}

class ServeLoad : public Serve {
protected:
  std::string switch_body(const std::string &to) const {
    return R"({"workspace":")" + to + R"("})";
  }
  std::string auth() const { return bearer() + "Content-Type: application/json\r\n"; }
};

// Nagle holds the last segment of a response until the client ACKs the
// one before, and a client delays that ACK by 40 ms: a server that writes
// a response in two pieces without TCP_NODELAY costs every kept-alive
// request 40 ms. Twenty switches and twenty reads on one connection must
// show no such wait: their median is far under it.
TEST_F(ServeLoad, KeptAliveRequestsNeverWaitOnADelayedAck) {
  start();
  KeptAlive conn;
  ASSERT_TRUE(conn.open(port_));
  std::vector<Clock::duration> took;
  for (int i = 0; i < 20; ++i) {
    const auto t0 = Clock::now();
    const HttpReply flip = conn.request("POST", "/api/v1/domains/shop/switch", auth(),
                                        switch_body(i % 2 ? "blue" : "green"));
    took.push_back(Clock::now() - t0);
    ASSERT_EQ(flip.status, 200) << flip.body;
    const auto t1 = Clock::now();
    const HttpReply status = conn.request("GET", "/api/v1/status", bearer());
    took.push_back(Clock::now() - t1);
    ASSERT_EQ(status.status, 200);
    EXPECT_EQ(json::parse(status.body)["domains"][0]["active"], i % 2 ? "blue" : "green");
  }
  std::vector<Clock::duration> sorted = took;
  std::sort(sorted.begin(), sorted.end());
  // Under ASan a request alone takes 15-20 ms here: the bound that still
  // tells a 40 ms delayed-ACK wait apart is then 35 ms.
  EXPECT_LT(sorted[sorted.size() / 2], kSanitized ? 35ms : 20ms) << spread(took);
}

// 1,000 half-open requests, 100 idle kept-alive connections, 10 clients
// that never read and 10 bodies sent a byte a second, all at once: an
// honest client's calls still answer at p99 under 100 ms, the slow bodies
// are answered 408 at their deadline, the half-open ones closed at theirs,
// and once the hostile clients go, serve holds exactly the fds and threads
// it held before.
TEST_F(ServeLoad, HostileClientsDoNotStallAnHonestOneAndLeaveNothingBehind) {
  start({"--header-timeout", "2s", "--body-timeout", "2s"});
  // Warm: the page's files and one stream read once, so that what is
  // counted before is what serve holds at rest.
  ASSERT_EQ(get("/api/v1/status").status, 200);
  const Footprint before = footprint(server_->pid());

  Child hostile =
      spawn({kHostile, "--port", std::to_string(port_), "--token", token_, "--seconds", "4"});
  ASSERT_EQ(read_line(hostile.out_fd(), 20s).rfind("ready ", 0), 0u)
      << "zd-hostile did not make its connections";
  // The kernel completes a connection before serve accepts it: the count
  // catches up in a moment.
  Footprint attacked = footprint(server_->pid());
  for (int i = 0; i < 100 && attacked.fds < before.fds + 1100; ++i) {
    std::this_thread::sleep_for(20ms);
    attacked = footprint(server_->pid());
  }
  EXPECT_GE(attacked.fds, before.fds + 1100) << "serve holds every hostile connection";
  EXPECT_EQ(attacked.threads, before.threads) << "and no thread more for them";

  KeptAlive kept;
  ASSERT_TRUE(kept.open(port_));
  std::vector<milliseconds> calls;
  std::vector<Clock::duration> raw;
  const auto until = Clock::now() + 2500ms;
  for (int i = 0; Clock::now() < until && i < 2000; ++i) {
    const auto t0 = Clock::now();
    // Kept alive, and a new connection every fourth call.
    const HttpReply reply = i % 4 == 3
                                ? call("POST", "/api/v1/domains/shop/switch", switch_body("green"))
                            : i % 2 ? kept.request("GET", "/api/v1/status", bearer())
                                    : kept.request("POST", "/api/v1/domains/shop/switch", auth(),
                                                   switch_body(i % 4 ? "blue" : "green"));
    raw.push_back(Clock::now() - t0);
    calls.push_back(duration_cast<milliseconds>(raw.back()));
    ASSERT_EQ(reply.status, 200) << "call " << i << ": " << reply.body;
  }
  // 2.5 s: at least one call per 25 ms (under ASan, 50 ms).
  ASSERT_GE(calls.size(), kSanitized ? 50u : 100u)
      << "an honest client made only " << calls.size() << " calls";
  // A stall behind a hostile client lasts its timeout, seconds; ASan alone
  // took one call in a hundred to 102 ms on CI.
  EXPECT_LT(percentile(calls, 0.99), kSanitized ? 250ms : 100ms)
      << calls.size() << " calls: " << spread(raw);

  ASSERT_EQ(hostile.wait(20s), 0);
  std::string said;
  char buf[4096];
  for (ssize_t n; (n = read(hostile.out_fd(), buf, sizeof(buf))) > 0;)
    said.append(buf, static_cast<size_t>(n));
  const size_t done = said.find("done ");
  ASSERT_NE(done, std::string::npos) << said;
  const json report = json::parse(said.substr(done + 5, said.find('\n', done) - done - 5));
  EXPECT_EQ(report["slow_body_answers"], json::parse(R"({"408":10})")) << report;
  EXPECT_EQ(report["closed_by_server"]["half_open"], 1000) << report;
  EXPECT_EQ(report["closed_by_server"]["slow_bodies"], 10) << report;
  EXPECT_EQ(report["closed_by_server"]["idle"], 100) << "idle past the header timeout: " << report;

  // They are gone: serve is back to what it held, within a moment.
  Footprint after = footprint(server_->pid());
  for (int i = 0; i < 100 && !(after == before); ++i) {
    std::this_thread::sleep_for(50ms);
    after = footprint(server_->pid());
  }
  EXPECT_EQ(after, before);
  EXPECT_EQ(get("/api/v1/status").status, 200);
}

// Beyond --max-per-client from one address, or --max-connections in all, a
// new connection is closed at once (no answer to wait for, no queue), and a
// client from another address is served.
TEST_F(ServeLoad, ConnectionsOverALimitAreClosedAtOnce) {
  start({"--max-per-client", "5", "--max-connections", "16"});
  std::vector<Conn> held(5);
  for (Conn &c : held)
    ASSERT_EQ(connect_only("127.0.0.1", port_, c), ConnectError::none);
  Conn over;
  ASSERT_EQ(connect_only("127.0.0.1", port_, over), ConnectError::none);
  pollfd p{over.fd.get(), POLLIN, 0};
  const auto t0 = Clock::now();
  ASSERT_EQ(poll(&p, 1, 2000), 1) << "the sixth connection from one address is not closed";
  char byte;
  EXPECT_EQ(read(over.fd.get(), &byte, 1), 0) << "closed, with nothing said";
  EXPECT_LT(Clock::now() - t0, 500ms);

  // Another address is not this one's limit: a request from it is answered.
  const zd::Fd other = connect_from("127.0.0.9", port_);
  ASSERT_TRUE(other);
  const std::string request = "GET /api/v1/status HTTP/1.1\r\nHost: zd\r\n" + bearer() + "\r\n";
  ASSERT_EQ(send(other.get(), request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  pollfd answer{other.get(), POLLIN, 0};
  ASSERT_EQ(poll(&answer, 1, 3000), 1);
  char head[12] = {};
  EXPECT_EQ(recv(other.get(), head, sizeof(head), 0), 12);
  EXPECT_EQ(std::string(head, 12), "HTTP/1.1 200");
  held.clear();
  // The held ones gone, the address is served again.
  bool served = false;
  for (int i = 0; i < 40 && !served; ++i) {
    served = get("/api/v1/status").status == 200;
    if (!served)
      std::this_thread::sleep_for(25ms);
  }
  EXPECT_TRUE(served);
}

// Waits until every stream has shown `want`; returns when each did (from
// `since`), or an empty vector at the limit.
std::vector<Clock::duration> until_all_show(std::vector<EventStream> &streams,
                                            const std::string &want, Clock::time_point since,
                                            Clock::duration limit) {
  std::vector<Clock::duration> when(streams.size(), Clock::duration::zero());
  size_t left = streams.size();
  const auto deadline = Clock::now() + limit;
  while (left > 0 && Clock::now() < deadline) {
    std::vector<pollfd> fds;
    for (EventStream &s : streams)
      fds.push_back({s.conn.fd.get(), POLLIN, 0});
    if (poll(fds.data(), fds.size(), 50) <= 0)
      continue;
    const auto now = Clock::now();
    for (size_t i = 0; i < streams.size(); ++i)
      if (fds[i].revents && streams[i].take() && streams[i].active == want &&
          when[i] == Clock::duration::zero()) {
        when[i] = now - since;
        --left;
      }
  }
  if (left > 0)
    return {};
  return when;
}

// A hundred open pages: each one's stream shows a switch within a second of
// it, and the 101st is told 503 at once (--max-streams 100).
TEST_F(ServeLoad, AHundredOpenStreamsEachShowASwitchWithinASecond) {
  start({"--max-streams", "100"});
  std::vector<EventStream> streams(100);
  for (EventStream &s : streams)
    ASSERT_TRUE(s.open(port_, bearer()));
  ASSERT_FALSE(until_all_show(streams, "blue", Clock::now(), 10s).empty())
      << "not every stream showed the state it opened on";

  const HttpReply refused = get("/api/v1/events");
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_NE(refused.headers.find("Retry-After"), std::string::npos) << refused.headers;

  const auto t0 = Clock::now();
  ASSERT_EQ(call("POST", "/api/v1/domains/shop/switch", switch_body("green")).status, 200);
  const auto shown = until_all_show(streams, "green", t0, 3s);
  ASSERT_FALSE(shown.empty()) << "not every stream showed the switch within 3 s";
  EXPECT_LT(*std::max_element(shown.begin(), shown.end()), 1s) << spread(shown);
}

} // namespace
} // namespace zdtest
