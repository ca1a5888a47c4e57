// zd-switchbench: how long a switch takes, measured three ways.
//
//   cli   spawn `zdctl switch` COUNT times (with --switch-args, e.g. a check),
//         alternating two workspaces; time
//         process start -> exit, and (with --probe) "switch returned -> the
//         first new connection answered by the new workspace". Also the
//         switch driver of the switch-under-load benchmark (--log, --interval-us).
//   map   the map update alone: Maps::set_route on an already-open state,
//         and the library path (State::open + ControlPlane::switch_to) without exec.
//   progstats  run_cnt / run_time_ns of the pinned program (needs stats on).
//   stats      hold BPF_ENABLE_STATS(run time) until stdin closes.
//
// Prints one JSON object on stdout.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <string>
#include <vector>

#include "error.hpp"
#include "parse.hpp"
#include "state.hpp"

extern char **environ;

namespace {

int64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

int64_t real_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

struct Args {
  std::string mode, zdctl = "zdctl", state = zd::kDefaultStateDir, domain = "web", log, probe;
  std::vector<std::string> ws = {"blue", "green"};
  std::vector<std::string> switch_args; // cli: after `switch DOMAIN WS` (e.g. --check tcp)
  int count = 200;
  int interval_us = 0;
  double duration_s = 0; // cli: stop after this long even if count is not reached
};

// "p50/p99/max" of durations in ns, reported in us.
std::string stats_json(std::vector<int64_t> v) {
  if (v.empty())
    return "{\"n\":0}";
  std::sort(v.begin(), v.end());
  auto at = [&](double p) {
    return static_cast<double>(v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))]) /
           1000.0;
  };
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                "{\"n\":%zu,\"p50_us\":%.2f,\"p99_us\":%.2f,\"min_us\":%.2f,\"max_us\":%.2f}",
                v.size(), at(0.5), at(0.99), at(0.0), at(1.0));
  return buf;
}

// One GET over a new connection; returns the first byte of the body or 0.
char probe_once(const sockaddr_in &addr) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return 0;
  timeval tv{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  char ws = 0;
  static const char req[] = "GET / HTTP/1.1\r\nHost: zd\r\nConnection: close\r\n\r\n";
  if (connect(fd, reinterpret_cast<const sockaddr *>(&addr), sizeof(addr)) == 0 &&
      send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) == sizeof(req) - 1) {
    std::string buf;
    char tmp[1024];
    ssize_t n;
    while ((n = recv(fd, tmp, sizeof(tmp), 0)) > 0)
      buf.append(tmp, static_cast<size_t>(n));
    size_t body = buf.find("\r\n\r\n");
    if (body != std::string::npos && body + 4 < buf.size())
      ws = buf[body + 4];
  }
  close(fd);
  return ws;
}

int run_zdctl(const Args &a, const std::string &target) {
  std::vector<std::string> argv_s = {a.zdctl, "--state", a.state, "switch", a.domain, target};
  argv_s.insert(argv_s.end(), a.switch_args.begin(), a.switch_args.end());
  std::vector<char *> argv;
  for (auto &s : argv_s)
    argv.push_back(s.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  int rc = posix_spawn(&pid, a.zdctl.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0)
    throw std::runtime_error("cannot spawn " + a.zdctl + ": " + std::strerror(rc));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

void mode_cli(const Args &a) {
  sockaddr_in probe{};
  if (!a.probe.empty()) {
    size_t colon = a.probe.rfind(':');
    probe.sin_family = AF_INET;
    probe.sin_port = htons(static_cast<uint16_t>(std::stoi(a.probe.substr(colon + 1))));
    if (inet_pton(AF_INET, a.probe.substr(0, colon).c_str(), &probe.sin_addr) != 1)
      throw std::runtime_error("bad --probe");
  }
  FILE *log = a.log.empty() ? nullptr : std::fopen(a.log.c_str(), "w");
  std::vector<int64_t> wall, land;
  int failures = 0, probe_misses = 0, max_attempts = 0;
  const int64_t start = mono_ns();
  int64_t next = start;
  for (int i = 0; i < a.count; ++i) {
    if (a.duration_s > 0 && mono_ns() - start > static_cast<int64_t>(a.duration_s * 1e9))
      break;
    const std::string &target = a.ws[static_cast<size_t>(i) % a.ws.size()];
    int64_t r0 = real_ns(), t0 = mono_ns();
    int rc = run_zdctl(a, target);
    int64_t t1 = mono_ns(), r1 = real_ns();
    wall.push_back(t1 - t0);
    failures += rc != 0;
    int64_t landed = 0;
    if (!a.probe.empty()) {
      int attempts = 0;
      while (attempts < 1000) {
        ++attempts;
        if (probe_once(probe) == target[0]) {
          landed = mono_ns() - t1;
          land.push_back(landed);
          break;
        }
      }
      probe_misses += attempts > 1;
      max_attempts = std::max(max_attempts, attempts);
    }
    if (log)
      std::fprintf(log, "%lld %lld %s %d %lld\n", static_cast<long long>(r0),
                   static_cast<long long>(r1), target.c_str(), rc, static_cast<long long>(landed));
    if (a.interval_us > 0) {
      next += a.interval_us * 1000LL;
      int64_t wait = next - mono_ns();
      if (wait > 0)
        usleep(static_cast<useconds_t>(wait / 1000));
      else
        next = mono_ns(); // late: keep the pace from now rather than burst to catch up
    }
  }
  if (log)
    std::fclose(log);
  std::printf("{\"switches\":%zu,\"failures\":%d,\"wall\":%s,\"first_new_connection\":%s,"
              "\"probes_needing_retry\":%d,\"max_probe_attempts\":%d}\n",
              wall.size(), failures, stats_json(wall).c_str(), stats_json(land).c_str(),
              probe_misses, max_attempts);
}

void mode_map(const Args &a) {
  std::vector<int64_t> update, lib;
  {
    zd::Session session = zd::State(a.state).open(zd::Lock::exclusive);
    auto domain = session.store().domain(a.domain);
    if (!domain)
      throw std::runtime_error("no domain " + a.domain);
    std::vector<uint32_t> ids;
    for (const auto &w : a.ws) {
      auto rec = session.store().workspace(w);
      if (!rec)
        throw std::runtime_error("no workspace " + w);
      ids.push_back(rec->id);
    }
    for (int i = 0; i < a.count; ++i) {
      uint32_t to = ids[static_cast<size_t>(i) % ids.size()];
      uint32_t from = ids[static_cast<size_t>(i + 1) % ids.size()];
      int64_t t0 = mono_ns();
      session.plane().set_route(domain->id, {to, from});
      update.push_back(mono_ns() - t0);
    }
  }
  for (int i = 0; i < a.count; ++i) {
    const std::string &target = a.ws[static_cast<size_t>(i) % a.ws.size()];
    int64_t t0 = mono_ns();
    zd::State(a.state).with(zd::Lock::exclusive, [&](zd::ControlPlane &control) {
      control.switch_to(a.domain, target, zd::Force::no);
    });
    lib.push_back(mono_ns() - t0);
  }
  std::printf("{\"map_update\":%s,\"library_switch\":%s}\n", stats_json(update).c_str(),
              stats_json(lib).c_str());
}

void mode_progstats(const Args &a) {
  std::string path = a.state + "/program";
  zd::Fd prog(bpf_obj_get(path.c_str()));
  if (!prog)
    zd::throw_errno("opening " + path);
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(prog.get(), &info, &len) != 0)
    zd::throw_errno("reading program info");
  std::printf("{\"run_cnt\":%llu,\"run_time_ns\":%llu}\n",
              static_cast<unsigned long long>(info.run_cnt),
              static_cast<unsigned long long>(info.run_time_ns));
}

void mode_stats() {
  // Stats stay on only while this fd is open, so they go off by themselves
  // even if the benchmark is killed: the host's setting is never left changed.
  zd::Fd fd(bpf_enable_stats(BPF_STATS_RUN_TIME));
  if (!fd)
    zd::throw_errno("BPF_ENABLE_STATS");
  std::printf("ready\n");
  std::fflush(stdout);
  char c;
  while (read(0, &c, 1) > 0) {
  }
}

std::vector<std::string> split(const std::string &v) {
  std::vector<std::string> out;
  for (size_t s = 0, c; s <= v.size(); s = c + 1) {
    c = v.find(',', s);
    if (c == std::string::npos)
      c = v.size();
    out.push_back(v.substr(s, c - s));
  }
  return out;
}

Args parse(int argc, char **argv) {
  Args a;
  if (argc < 2)
    throw std::runtime_error("usage: zd-switchbench cli|map|progstats|stats [options]");
  a.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    if (i + 1 >= argc)
      throw std::runtime_error(k + " needs a value");
    std::string v = argv[++i];
    if (k == "--zdctl")
      a.zdctl = v;
    else if (k == "--switch-args") // comma-separated: --check,/healthz
      a.switch_args = split(v);
    else if (k == "--state")
      a.state = v;
    else if (k == "--domain")
      a.domain = v;
    else if (k == "--ws")
      a.ws = split(v);
    else if (k == "--count")
      a.count = std::stoi(v);
    else if (k == "--interval-us")
      a.interval_us = std::stoi(v);
    else if (k == "--duration")
      a.duration_s = std::stod(v);
    else if (k == "--log")
      a.log = v;
    else if (k == "--probe")
      a.probe = v;
    else
      throw std::runtime_error("unknown option " + k);
  }
  return a;
}

} // namespace

int main(int argc, char **argv) {
  try {
    Args a = parse(argc, argv);
    if (a.mode == "cli")
      mode_cli(a);
    else if (a.mode == "map")
      mode_map(a);
    else if (a.mode == "progstats")
      mode_progstats(a);
    else if (a.mode == "stats")
      mode_stats();
    else
      throw std::runtime_error("unknown mode " + a.mode);
    return 0;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "zd-switchbench: error: %s\n", e.what());
    return 1;
  }
}
