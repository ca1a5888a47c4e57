// Shared pieces of the integration tests: a private network + mount
// namespace per test, child processes that are always reaped, zdctl runs
// with captured output, and TCP clients that fail instead of hanging.
#pragma once

#include <gtest/gtest.h>

#include "client.hpp"
#include "process.hpp"

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace zdtest {

using namespace std::chrono_literals;

// Paths of the binaries under test, baked in by CMake.
inline constexpr const char *kZdctl = ZD_TEST_ZDCTL;
inline constexpr const char *kEcho = ZD_TEST_ECHO;
inline constexpr const char *kHostile = ZD_TEST_HOSTILE;

// Domain addresses routed `local` on lo inside each test's namespace.
inline constexpr const char *kV4 = "10.99.0.1";
inline constexpr const char *kV6 = "fd00:99::1";
inline constexpr int kPort = 80;

// A zd-echo workspace server, started and seen "ready".
struct Echo {
  Child child;
  std::string name;
  pid_t pid() const { return child.pid(); }
};
// zd-echo NAME ADDRS...; leading flags (e.g. --bind-only) may be in addrs.
// prefix (e.g. {"unshare", "-n"}) runs it under another command that execs it.
Echo start_echo(const std::string &name, const std::vector<std::string> &addrs,
                const std::vector<std::string> &prefix = {});

// Sends msg, reads exactly expect_len bytes back; "" on failure.
std::string exchange(Conn &conn, const std::string &msg, size_t expect_len);
// Greeting of a fresh connection; "ERR:<reason>" on failure.
std::string greet(const std::string &host, int port = kPort);

// GET path on a fresh connection to a zd-echo --http: "200 NAME" (status and
// body), or "ERR:<reason>".
std::string http_get(const std::string &host, int port = kPort, const std::string &path = "/");

// One HTTP request to 127.0.0.1:port on a fresh connection (Connection:
// close), read to the end; every step bounded by a 3 s timeout. status 0:
// no reply. extra_headers: "Name: value\r\n" lines.
struct HttpReply {
  int status = 0;
  std::string headers, body;
};
HttpReply http_request(int port, const std::string &method, const std::string &path,
                       const std::string &extra_headers = "", const std::string &body = "");

// A listening TCP socket owned by the test (to pass to zdctl as --fd).
Fd listen_tcp(const std::string &host, int port);

// Base fixture: each test in its own network + mount namespace with a
// private bpffs. Skips when not root.
class NetnsTest : public ::testing::Test {
protected:
  void SetUp() override;
  void TearDown() override;

  // zdctl --state <private>/zd ARGS...
  Result zdctl(const std::vector<std::string> &args, const SpawnOptions &options = {});
  // Same, asserting success; returns stdout.
  std::string zdctl_ok(const std::vector<std::string> &args, const SpawnOptions &options = {});
  std::string status_json();
  // Switches domain to workspace in this process, through the library call
  // that zdctl switch makes (zd::release on this test's state); "" or the
  // error. For tests that switch hundreds of times: they measure the data
  // plane, not the start of hundreds of zdctl processes (up to 0.3 s each
  // on a slow CI machine).
  std::string switch_in_process(const std::string &domain, const std::string &workspace);

  // Flips domain between workspaces a and b (a first), min times and then
  // until done(), while the test's clients run; stops at deadline or at the
  // first failed switch (ADD_FAILURE). One switch in ten is a real `zdctl
  // switch`, the rest switch_in_process. After each switch it waits (at most
  // 1 s) until traffic has moved, so that connections are made between any
  // two switches, not beside a burst of them. made counts the switches.
  void flip(const std::string &domain, const std::string &a, const std::string &b, int min,
            const std::function<bool()> &done, const std::atomic<int> &traffic,
            Clock::time_point deadline, std::atomic<int> &made);
  // Starts a zd-echo on 127.0.0.1:port and [::1]:port, registers it as a
  // workspace. flags go to zd-echo first (e.g. --http, --unhealthy-while=FILE).
  Echo &add_workspace(const std::string &name, int port, bool v6 = true,
                      const std::vector<std::string> &flags = {});
  // Standard setup: attach, domain shop on kV4/kV6:80.
  void attach_with_domain(const std::string &domain = "shop");
  // The usual stage: attach, domain shop, workspaces blue (3001) and green (3002).
  void attach_blue_green();

  std::string state_dir() const { return bpffs_ + "/zd"; }
  std::string bpffs() const { return bpffs_; }
  std::deque<Echo> &echoes() { return echoes_; }

private:
  std::string bpffs_;
  bool mounted_ = false;
  std::deque<Echo> echoes_; // deque: references stay valid
};

// The usual stage on top of NetnsTest: attached, domain shop, workspaces blue
// (port 3001) and green (port 3002) registered, no switch made yet.
class BlueGreenTest : public NetnsTest {
protected:
  void SetUp() override {
    NetnsTest::SetUp();
    if (!IsSkipped() && !HasFatalFailure())
      attach_blue_green();
  }
};

// Writes a sysctl of this (private) network namespace.
void write_sysctl(const std::string &name, const std::string &value);

} // namespace zdtest
