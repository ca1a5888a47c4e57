// Draining: after a switch, status shows the connections the old workspace
// still holds per domain, told apart from the new one's by the processes
// that hold them (both have the domain's address as their local end), and
// `zdctl drain` waits for them to close, times out with exit 3, or resets
// them with --kill-after. Real clients, real zd-echo workspaces.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace zdtest {
namespace {

using json = nlohmann::json;

class Drain : public BlueGreenTest {
protected:
  // n connections to the domain, each greeted by `workspace`.
  std::vector<Conn> open(size_t n, const std::string &workspace) {
    std::vector<Conn> conns(n);
    for (auto &conn : conns) {
      std::string why;
      EXPECT_EQ(connect_and_greet(kV4, kPort, conn, &why), ConnectError::none) << why;
      EXPECT_EQ(conn.greeting, workspace);
    }
    return conns;
  }

  json connections_of(const std::string &workspace) {
    const json status = json::parse(status_json());
    for (const auto &w : status["workspaces"])
      if (w["name"] == workspace)
        return w["connections"];
    ADD_FAILURE() << "no workspace " << workspace;
    return nullptr;
  }

  std::vector<std::string> drain_argv(const std::vector<std::string> &args) {
    std::vector<std::string> argv = {kZdctl, "--state", state_dir()};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
};

// Reads fd until `part` shows up; false at the deadline or on EOF.
bool read_until(int fd, const std::string &part, std::string &seen,
                std::chrono::milliseconds within = 5s) {
  const auto deadline = Clock::now() + within;
  while (seen.find(part) == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    char buf[512];
    const ssize_t got = poll(&p, 1, remaining_ms(deadline)) > 0 ? read(fd, buf, sizeof(buf)) : -1;
    if (got <= 0)
      return false;
    seen.append(buf, static_cast<size_t>(got));
  }
  return true;
}

TEST_F(Drain, StatusShowsWhatEachWorkspaceHoldsOnTheDomain) {
  zdctl_ok({"switch", "shop", "blue"});
  std::vector<Conn> blue = open(3, "blue");
  zdctl_ok({"switch", "shop", "green"});
  EXPECT_EQ(connections_of("blue"), json({{"shop", 3}}));
  EXPECT_EQ(connections_of("green"), json({{"shop", 0}}));

  // Same local address and port on both sides: the processes tell them apart.
  std::vector<Conn> green = open(1, "green");
  EXPECT_EQ(connections_of("blue"), json({{"shop", 3}}));
  EXPECT_EQ(connections_of("green"), json({{"shop", 1}}));
  const std::string table = zdctl_ok({"status"});
  EXPECT_NE(table.find("CONNECTIONS"), std::string::npos) << table;
  EXPECT_NE(table.find("shop 3"), std::string::npos) << table;

  blue.pop_back();
  const auto deadline = Clock::now() + 5s; // zd-echo closes its end on our FIN
  while (connections_of("blue") != json({{"shop", 2}}) && Clock::now() < deadline)
    ;
  EXPECT_EQ(connections_of("blue"), json({{"shop", 2}}));
}

TEST_F(Drain, WithoutWaitItCountsOnceAndSaysSoInItsExitStatus) {
  zdctl_ok({"switch", "shop", "blue"});
  std::vector<Conn> blue = open(2, "blue");
  zdctl_ok({"switch", "shop", "green"});

  Result r = zdctl({"--json", "drain", "shop"});
  EXPECT_EQ(r.code, 3) << r.err;
  const json out = json::parse(r.out);
  EXPECT_EQ(out["workspace"], "blue");
  EXPECT_EQ(out["connections"], 2);
  EXPECT_EQ(out["drained"], false);
  EXPECT_EQ(r.err, "zdctl: error: workspace 'blue' still holds 2 connections of domain 'shop' "
                   "(--wait waits for them)\n");
  // Green is active: it is not what a drain of shop is about.
  EXPECT_EQ(zdctl({"drain", "shop", "--workspace", "green"}).code, 1);
  for (auto &conn : blue)
    EXPECT_EQ(exchange(conn, "x", 6), "blue:x") << "a look changes nothing";
}

TEST_F(Drain, WaitReturnsOnceTheClientsClose) {
  zdctl_ok({"switch", "shop", "blue"});
  std::vector<Conn> blue = open(2, "blue");
  zdctl_ok({"switch", "shop", "green"});

  // -v: progress lines even without a terminal.
  Child drain = spawn(drain_argv({"-v", "drain", "shop", "--wait", "--timeout", "10s"}));
  std::string err;
  ASSERT_TRUE(read_until(drain.err_fd(), "shop: blue holds 2 connections (10s left)", err)) << err;
  const auto closed_at = Clock::now();
  blue.clear();
  EXPECT_EQ(drain.wait(5s), 0);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - closed_at);
  EXPECT_LT(took, 2s) << "drain should notice within a poll or two";
  std::string out;
  read_until(drain.out_fd(), "\n", out, 1s);
  EXPECT_EQ(out, "shop: blue holds no connection\n");
  std::cout << "drain returned " << took.count() << " ms after the clients closed\n";
}

TEST_F(Drain, TimesOutWithExit3WhileOneStaysOpen) {
  zdctl_ok({"switch", "shop", "blue"});
  std::vector<Conn> blue = open(1, "blue");
  zdctl_ok({"switch", "shop", "green"});

  const auto start = Clock::now();
  Result r = zdctl({"-v", "drain", "shop", "--wait", "--timeout", "1s"});
  const auto took = Clock::now() - start;
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_GE(took, 1s);
  EXPECT_LT(took, 3s);
  EXPECT_NE(r.err.find("shop: blue holds 1 connection (1s left)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("zdctl: error: workspace 'blue' still holds 1 connection of domain 'shop' "
                       "after 1s (--kill-after closes them at the timeout)"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.out, "shop: blue holds 1 connection\n");
  EXPECT_EQ(exchange(blue[0], "still", 10), "blue:still") << "the timeout closed nothing";
}

TEST_F(Drain, KillAfterResetsWhatIsLeftAndOnlyThat) {
  zdctl_ok({"switch", "shop", "blue"});
  std::vector<Conn> blue = open(2, "blue");
  zdctl_ok({"switch", "shop", "green"});
  std::vector<Conn> green = open(1, "green");

  Result r = zdctl({"--json", "drain", "shop", "--wait", "--timeout", "200ms", "--kill-after"});
  EXPECT_EQ(r.code, 0) << r.err;
  const json out = json::parse(r.out);
  EXPECT_EQ(out["closed"], 2);
  EXPECT_EQ(out["connections"], 0);
  EXPECT_EQ(out["drained"], true);
  for (auto &conn : blue) {
    char c;
    const ssize_t got = recv(conn.fd.get(), &c, 1, 0);
    EXPECT_TRUE(got == 0 || (got < 0 && errno == ECONNRESET))
        << "the client sees the reset, got " << got << ": " << std::strerror(errno);
  }
  EXPECT_EQ(exchange(green[0], "x", 7), "green:x") << "the active workspace's are untouched";
  EXPECT_EQ(connections_of("blue"), json({{"shop", 0}}));
}

TEST_F(Drain, RefusesWhatItCannotDrain) {
  zdctl_ok({"switch", "shop", "blue"});
  Result none = zdctl({"drain", "shop"});
  EXPECT_EQ(none.code, 1);
  EXPECT_NE(none.err.find("no previous workspace"), std::string::npos) << none.err;
  EXPECT_EQ(zdctl({"drain", "shop", "--workspace", "green"}).code, 0) << "green holds nothing";
  EXPECT_EQ(zdctl({"drain", "nosuch"}).code, 1);
  for (const auto &args :
       std::vector<std::vector<std::string>>{{"drain", "shop", "--wait", "--timeout", "soon"},
                                             {"drain", "shop", "--wait", "--timeout", "25h"},
                                             {"drain", "shop", "--timeout", "1s"},
                                             {"drain", "shop", "--kill-after"}}) {
    Result r = zdctl(args);
    EXPECT_EQ(r.code, 2) << args.back() << ": " << r.err;
  }
}

} // namespace
} // namespace zdtest
