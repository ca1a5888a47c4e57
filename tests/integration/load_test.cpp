// Switches under load: no connection is lost or misrouted while zd
// flips the domain back and forth (issue "Done when" 3g), and kept-alive
// connections stay with the workspace that accepted them (second issue).
#include <atomic>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>

#include "harness.hpp"

namespace zdtest {
namespace {

using Clock = std::chrono::steady_clock;

class Load : public BlueGreenTest {
protected:
  void SetUp() override {
    BlueGreenTest::SetUp();
    if (IsSkipped() || HasFatalFailure())
      return;
    // Per-netns: tens of thousands of short connections from one address
    // must not run out of ephemeral ports (TIME_WAIT stays on the client).
    write_sysctl("net/ipv4/ip_local_port_range", "1024 65000");
    write_sysctl("net/ipv4/tcp_tw_reuse", "1");
    zdctl_ok({"switch", "shop", "blue"});
  }
};

struct Errors {
  std::mutex mutex;
  std::vector<std::string> first; // a few examples for the failure message
  std::atomic<int> count{0};
  void add(const std::string &what) {
    if (++count <= 5) {
      std::lock_guard lock(mutex);
      first.push_back(what);
    }
  }
  std::string examples() {
    std::lock_guard lock(mutex);
    std::string out;
    for (const auto &e : first)
      out += "\n  " + e;
    return out;
  }
};

TEST_F(Load, ManyConnectionsDuringManySwitches) {
  constexpr int kConnections = 20000, kSwitches = 200, kThreads = 4;
  const auto start = Clock::now();
  const auto deadline = start + 60s;
  std::atomic<int> done_connections{0}, blue{0}, green{0}, switches{0};
  Errors errors;

  auto client = [&](int thread) {
    for (int i = thread; Clock::now() < deadline; i += kThreads) {
      if (done_connections >= kConnections && switches >= kSwitches)
        break;
      const char *host = i % 2 ? kV6 : kV4;
      Conn conn;
      std::string why;
      if (connect_and_greet(host, kPort, conn, &why) != ConnectError::none)
        errors.add(std::string(host) + ": " + why);
      else if (conn.greeting == "blue")
        ++blue;
      else if (conn.greeting == "green")
        ++green;
      else
        errors.add(std::string(host) + ": greeting '" + conn.greeting + "'");
      ++done_connections;
    }
  };
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t)
    clients.emplace_back(client, t);
  // Switch for as long as the clients run: they stop at both counts.
  flip(
      "shop", "green", "blue", kSwitches, [&] { return done_connections >= kConnections; },
      done_connections, deadline, switches);
  for (auto &t : clients)
    t.join();
  const auto elapsed = Clock::now() - start;

  EXPECT_EQ(errors.count.load(), 0) << errors.examples();
  EXPECT_GE(done_connections.load(), kConnections);
  EXPECT_GE(switches.load(), kSwitches);
  EXPECT_LT(elapsed, 60s);
  // Both workspaces took connections: the switches really happened under load.
  EXPECT_GT(blue.load(), 0);
  EXPECT_GT(green.load(), 0);
  RecordProperty("connections", done_connections.load());
  RecordProperty("switches", switches.load());
  RecordProperty(
      "elapsed_ms",
      static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()));
  std::printf("%d connections (blue %d, green %d), %d switches in %lld ms\n",
              done_connections.load(), blue.load(), green.load(), switches.load(),
              static_cast<long long>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()));
}

TEST_F(Load, KeptAliveConnectionsNeverChangeWorkspace) {
  constexpr int kKeepAlive = 10, kSwitches = 200;
  const auto start = Clock::now();
  const auto deadline = start + 30s;

  // Half accepted by blue, half by green.
  std::vector<Conn> kept(kKeepAlive);
  for (int i = 0; i < kKeepAlive; ++i) {
    if (i == kKeepAlive / 2)
      zdctl_ok({"switch", "shop", "green"});
    ASSERT_EQ(connect_and_greet(i % 2 ? kV6 : kV4, kPort, kept[i]), ConnectError::none);
    ASSERT_EQ(kept[i].greeting, i < kKeepAlive / 2 ? "blue" : "green");
  }
  zdctl_ok({"switch", "shop", "blue"});

  std::atomic<bool> stop{false};
  std::atomic<int> exchanges{0}, fresh{0}, switches{0};
  Errors errors;
  std::thread talker([&] {
    for (int round = 0; !stop && Clock::now() < deadline; ++round)
      for (auto &conn : kept) {
        const std::string msg = "m" + std::to_string(round);
        const std::string want = conn.greeting + ":" + msg;
        std::string got = exchange(conn, msg, want.size());
        if (got != want)
          errors.add("kept-alive " + conn.greeting + " got '" + got + "' (" + std::strerror(errno) +
                     ")");
        ++exchanges;
      }
  });
  std::thread newcomer([&] {
    for (int i = 0; !stop && Clock::now() < deadline; ++i) {
      std::string g = greet(i % 2 ? kV6 : kV4);
      if (g != "blue" && g != "green")
        errors.add("new connection: " + g);
      ++fresh;
    }
  });
  const int before = exchanges;
  flip(
      "shop", "green", "blue", kSwitches, [] { return true; }, exchanges, deadline, switches);
  const int during = exchanges - before;
  stop = true;
  talker.join();
  newcomer.join();

  EXPECT_EQ(errors.count.load(), 0) << errors.examples();
  EXPECT_GE(switches.load(), kSwitches);
  EXPECT_LT(Clock::now() - start, 30s);
  // Messages really flowed on every kept connection while switching.
  EXPECT_GE(during, kKeepAlive * 10);
  EXPECT_GT(fresh.load(), 0);
  std::printf("%d switches, %d kept-alive exchanges (%d during switching), %d new connections\n",
              switches.load(), exchanges.load(), during, fresh.load());
}

} // namespace
} // namespace zdtest
