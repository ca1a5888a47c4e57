// zd-loadgen: an HTTP/1.1 load generator that remembers every request.
//
// wrk answers "how fast"; the switch-under-load benchmark also needs to know
// WHICH workspace answered each request and whether a keep-alive connection
// ever moved, so this tool records, per request: start time, latency, the
// body (the workspace's name) and the kind of error, and per connection:
// when it opened and closed and which workspaces answered on it.
//
//   zd-loadgen --target 10.99.0.1:80 --duration 10 --out /tmp/run
//              --group close:2 --group ka:6:0:5000 --group ka:2:200:1000
//
// A group is MODE:THREADS[:REQUESTS_PER_CONNECTION[:INTERVAL_US]]. close =
// one request per connection (Connection: close); ka = keep-alive, a
// connection sends REQUESTS_PER_CONNECTION requests (0 = until the end),
// one every INTERVAL_US (0 = back to back). Writes OUT.req.csv and
// OUT.conn.csv and prints a JSON summary on stdout.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

enum class Err : uint8_t { none, refused, connect, timeout, reset, eof, status, parse };
const char *err_name(Err e) {
  static const char *names[] = {"none",  "refused", "connect", "timeout",
                                "reset", "eof",     "status",  "parse"};
  return names[static_cast<int>(e)];
}
constexpr int kErrKinds = 8;

int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

struct Group {
  bool keepalive = false;
  int threads = 1;
  int per_conn = 0;    // requests per keep-alive connection, 0 = unlimited
  int interval_us = 0; // pause between requests on one connection
};

struct Request {
  int64_t start_ns;
  uint32_t latency_us;
  char ws; // first letter of the body, '-' when there was no valid answer
  Err err;
  uint16_t group;
  uint64_t conn;
};

struct Conn {
  uint64_t id;
  uint16_t group;
  int64_t open_ns, close_ns;
  char first_ws = '-', last_ws = '-';
  uint32_t requests = 0, changes = 0; // changes: answers from another workspace
  Err err = Err::none;
};

struct Config {
  sockaddr_in target{};
  std::string host;
  int duration_s = 10;
  int timeout_ms = 2000;
  std::string out;
  std::vector<Group> groups;
};

Err errno_kind(int e, bool connecting) {
  if (e == EAGAIN || e == EWOULDBLOCK || e == EINPROGRESS || e == ETIMEDOUT)
    return Err::timeout;
  if (e == ECONNRESET || e == EPIPE)
    return Err::reset;
  if (connecting)
    return e == ECONNREFUSED ? Err::refused : Err::connect;
  return Err::reset;
}

class Client {
public:
  explicit Client(const Config &cfg) : cfg_(cfg) {
    std::string host = cfg.host;
    close_req_ = "GET / HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
    ka_req_ = "GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n";
  }
  ~Client() { disconnect(); }

  Err connect_now() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0)
      return Err::connect;
    timeval tv{cfg_.timeout_ms / 1000, (cfg_.timeout_ms % 1000) * 1000};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)); // also bounds connect()
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd_, reinterpret_cast<const sockaddr *>(&cfg_.target), sizeof(cfg_.target)) != 0) {
      Err e = errno_kind(errno, true);
      disconnect();
      return e;
    }
    buf_.clear();
    return Err::none;
  }

  void disconnect() {
    if (fd_ >= 0)
      close(fd_);
    fd_ = -1;
  }
  bool connected() const { return fd_ >= 0; }

  // One request/response; ws gets the first byte of the body.
  Err request(bool keepalive, char &ws) {
    const std::string &req = keepalive ? ka_req_ : close_req_;
    if (send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
      return errno_kind(errno, false);
    size_t header_end;
    while ((header_end = buf_.find("\r\n\r\n")) == std::string::npos)
      if (Err e = fill(); e != Err::none)
        return e;
    // "HTTP/1.1 200 OK"
    if (buf_.size() < 12 || buf_.compare(0, 5, "HTTP/") != 0)
      return Err::parse;
    int status = std::atoi(buf_.c_str() + 9);
    size_t length = 0;
    size_t cl = find_header(header_end, "content-length:");
    if (cl != std::string::npos)
      length = std::strtoul(buf_.c_str() + cl, nullptr, 10);
    else if (keepalive)
      return Err::parse;
    size_t body = header_end + 4;
    while (buf_.size() < body + length)
      if (Err e = fill(); e != Err::none)
        return e;
    ws = length > 0 ? buf_[body] : '-';
    buf_.erase(0, body + length);
    if (status < 200 || status > 299)
      return Err::status;
    return Err::none;
  }

private:
  Err fill() {
    char tmp[4096];
    ssize_t n = recv(fd_, tmp, sizeof(tmp), 0);
    if (n < 0)
      return errno_kind(errno, false);
    if (n == 0)
      return Err::eof;
    buf_.append(tmp, static_cast<size_t>(n));
    return Err::none;
  }

  size_t find_header(size_t header_end, const char *name) const {
    size_t len = std::strlen(name);
    for (size_t pos = buf_.find("\r\n"); pos != std::string::npos && pos < header_end;
         pos = buf_.find("\r\n", pos + 2))
      if (strncasecmp(buf_.c_str() + pos + 2, name, len) == 0)
        return pos + 2 + len;
    return std::string::npos;
  }

  const Config &cfg_;
  int fd_ = -1;
  std::string buf_;
  std::string close_req_, ka_req_;
};

struct Worker {
  std::vector<Request> requests;
  std::vector<Conn> conns;
};

void sleep_until(int64_t t_ns) {
  timespec ts{static_cast<time_t>(t_ns / 1'000'000'000LL), static_cast<long>(t_ns % 1'000'000'000LL)};
  while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

void run_worker(const Config &cfg, uint16_t gi, uint32_t index, int64_t end_ns, Worker &w) {
  const Group &g = cfg.groups[gi];
  Client client(cfg);
  uint64_t seq = 0;
  w.requests.reserve(1 << 16);
  while (now_ns() < end_ns) {
    Conn conn{(static_cast<uint64_t>(index) << 32) | seq++, gi, now_ns(), 0};
    Err e = client.connect_now();
    if (e != Err::none) {
      int64_t t = now_ns();
      w.requests.push_back({conn.open_ns, static_cast<uint32_t>((t - conn.open_ns) / 1000), '-', e,
                            gi, conn.id});
      conn.close_ns = t;
      conn.err = e;
      w.conns.push_back(conn);
      continue;
    }
    int64_t next = now_ns();
    for (;;) {
      int64_t t0 = now_ns();
      char ws = '-';
      e = client.request(g.keepalive, ws);
      int64_t t1 = now_ns();
      w.requests.push_back({t0, static_cast<uint32_t>((t1 - t0) / 1000), ws, e, gi, conn.id});
      if (e == Err::none || e == Err::status) {
        if (conn.requests == 0)
          conn.first_ws = ws;
        else if (ws != conn.last_ws)
          conn.changes++;
        conn.last_ws = ws;
        conn.requests++;
      }
      if (e != Err::none) {
        conn.err = e;
        break;
      }
      if (!g.keepalive || (g.per_conn > 0 && conn.requests >= static_cast<uint32_t>(g.per_conn)))
        break;
      if (g.interval_us > 0) {
        next += g.interval_us * 1000LL;
        if (next >= end_ns)
          break;
        sleep_until(next);
      } else if (t1 >= end_ns) {
        break;
      }
    }
    client.disconnect();
    conn.close_ns = now_ns();
    w.conns.push_back(conn);
  }
}

Group parse_group(const std::string &spec) {
  Group g;
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t pos; (pos = spec.find(':', start)) != std::string::npos; start = pos + 1)
    parts.push_back(spec.substr(start, pos - start));
  parts.push_back(spec.substr(start));
  if (parts[0] == "ka")
    g.keepalive = true;
  else if (parts[0] != "close")
    throw std::runtime_error("group mode must be close or ka: " + spec);
  if (parts.size() > 1)
    g.threads = std::stoi(parts[1]);
  if (parts.size() > 2)
    g.per_conn = std::stoi(parts[2]);
  if (parts.size() > 3)
    g.interval_us = std::stoi(parts[3]);
  if (g.threads < 1)
    throw std::runtime_error("a group needs at least one thread: " + spec);
  return g;
}

Config parse_args(int argc, char **argv) {
  Config cfg;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--target") {
      std::string t = value();
      size_t colon = t.rfind(':');
      if (colon == std::string::npos)
        throw std::runtime_error("--target ADDR:PORT");
      cfg.host = t;
      cfg.target.sin_family = AF_INET;
      cfg.target.sin_port = htons(static_cast<uint16_t>(std::stoi(t.substr(colon + 1))));
      if (inet_pton(AF_INET, t.substr(0, colon).c_str(), &cfg.target.sin_addr) != 1)
        throw std::runtime_error("bad IPv4 address in --target");
    } else if (a == "--duration") {
      cfg.duration_s = std::stoi(value());
    } else if (a == "--timeout-ms") {
      cfg.timeout_ms = std::stoi(value());
    } else if (a == "--out") {
      cfg.out = value();
    } else if (a == "--group") {
      cfg.groups.push_back(parse_group(value()));
    } else {
      throw std::runtime_error("unknown argument " + a);
    }
  }
  if (cfg.host.empty() || cfg.groups.empty())
    throw std::runtime_error("usage: zd-loadgen --target ADDR:PORT --duration S [--out PREFIX] "
                             "--group close:THREADS|ka:THREADS:REQS:INTERVAL_US ...");
  return cfg;
}

void write_files(const Config &cfg, const std::vector<Worker> &workers) {
  FILE *req = std::fopen((cfg.out + ".req.csv").c_str(), "w");
  FILE *conn = std::fopen((cfg.out + ".conn.csv").c_str(), "w");
  if (!req || !conn)
    throw std::runtime_error("cannot write " + cfg.out + ".*.csv");
  std::fprintf(req, "start_ns,latency_us,ws,err,group,conn\n");
  std::fprintf(conn, "conn,group,keepalive,open_ns,close_ns,first_ws,last_ws,requests,changes,err\n");
  for (const auto &w : workers) {
    for (const auto &r : w.requests)
      std::fprintf(req, "%lld,%u,%c,%s,%u,%llu\n", static_cast<long long>(r.start_ns), r.latency_us,
                   r.ws, err_name(r.err), r.group, static_cast<unsigned long long>(r.conn));
    for (const auto &c : w.conns)
      std::fprintf(conn, "%llu,%u,%d,%lld,%lld,%c,%c,%u,%u,%s\n",
                   static_cast<unsigned long long>(c.id), c.group,
                   cfg.groups[c.group].keepalive ? 1 : 0, static_cast<long long>(c.open_ns),
                   static_cast<long long>(c.close_ns), c.first_ws, c.last_ws, c.requests,
                   c.changes, err_name(c.err));
  }
  std::fclose(req);
  std::fclose(conn);
}

void print_summary(const Config &cfg, const std::vector<Worker> &workers, double seconds) {
  uint64_t total = 0, ok = 0, errs[kErrKinds] = {};
  std::map<char, uint64_t> per_ws;
  std::vector<uint32_t> lat;
  for (const auto &w : workers)
    for (const auto &r : w.requests) {
      total++;
      errs[static_cast<int>(r.err)]++;
      if (r.err == Err::none) {
        ok++;
        per_ws[r.ws]++;
        lat.push_back(r.latency_us);
      }
    }
  auto pct = [&](double p) -> uint32_t {
    if (lat.empty())
      return 0;
    size_t k = static_cast<size_t>(p * static_cast<double>(lat.size() - 1));
    std::nth_element(lat.begin(), lat.begin() + static_cast<long>(k), lat.end());
    return lat[k];
  };
  std::printf("{\"target\":\"%s\",\"seconds\":%.3f,\"requests\":%llu,\"ok\":%llu,\"rps\":%.1f,"
              "\"p50_us\":%u,\"p99_us\":%u,\"errors\":{",
              cfg.host.c_str(), seconds, static_cast<unsigned long long>(total),
              static_cast<unsigned long long>(ok), static_cast<double>(ok) / seconds, pct(0.5),
              pct(0.99));
  for (int k = 1; k < kErrKinds; ++k)
    std::printf("%s\"%s\":%llu", k > 1 ? "," : "", err_name(static_cast<Err>(k)),
                static_cast<unsigned long long>(errs[k]));
  std::printf("},\"per_workspace\":{");
  bool first = true;
  for (const auto &[ws, n] : per_ws) {
    std::printf("%s\"%c\":%llu", first ? "" : ",", ws, static_cast<unsigned long long>(n));
    first = false;
  }
  std::printf("}}\n");
}

} // namespace

int main(int argc, char **argv) {
  try {
    Config cfg = parse_args(argc, argv);
    std::vector<std::pair<uint16_t, int>> slots; // (group, thread)
    for (uint16_t gi = 0; gi < cfg.groups.size(); ++gi)
      for (int t = 0; t < cfg.groups[gi].threads; ++t)
        slots.emplace_back(gi, t);
    std::vector<Worker> workers(slots.size());
    int64_t start = now_ns();
    int64_t end = start + cfg.duration_s * 1'000'000'000LL;
    std::vector<std::thread> threads;
    for (uint32_t i = 0; i < slots.size(); ++i)
      threads.emplace_back(run_worker, std::cref(cfg), slots[i].first, i, end,
                           std::ref(workers[i]));
    for (auto &t : threads)
      t.join();
    double seconds = static_cast<double>(now_ns() - start) / 1e9;
    if (!cfg.out.empty())
      write_files(cfg, workers);
    print_summary(cfg, workers, seconds);
    return 0;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "zd-loadgen: error: %s\n", e.what());
    return 1;
  }
}
