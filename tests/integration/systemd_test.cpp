// Sockets from systemd (workspace add --systemd), with systemd's own
// systemd-socket-activate: it listens, passes the socket as fd 3 with
// LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID, and execs its command on the
// first connection. As with a .socket unit shared by the app's service and
// zd's oneshot (docs/examples/), zdctl registers the socket and the app
// serves it: here a shell hands it first to zdctl, then to zd-echo.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace zdtest {
namespace {

using json = nlohmann::json;

constexpr const char *kActivate = "/usr/bin/systemd-socket-activate";
constexpr int kAppPort = 3020;

// Reads child's stdout until it holds `line`; returns all read, or throws.
std::string read_until(Child &child, const std::string &line) {
  std::string seen;
  const auto deadline = Clock::now() + 10s;
  while (seen.find(line) == std::string::npos) {
    pollfd p{child.out_fd(), POLLIN, 0};
    char buf[512];
    ssize_t got = poll(&p, 1, remaining_ms(deadline)) > 0 ? read(p.fd, buf, sizeof(buf)) : -1;
    if (got <= 0) {
      char err[1024] = {};
      ssize_t n = read(child.err_fd(), err, sizeof(err) - 1);
      (void)n;
      throw std::runtime_error("no '" + line + "' in: " + seen + " (stderr: " + err + ")");
    }
    seen.append(buf, static_cast<size_t>(got));
  }
  return seen;
}

class Systemd : public NetnsTest {
protected:
  void SetUp() override {
    NetnsTest::SetUp();
    if (IsSkipped() || HasFatalFailure())
      return;
    if (access(kActivate, X_OK) != 0)
      GTEST_SKIP() << kActivate << " is missing (Debian package systemd)";
    zdctl_ok({"attach"});
    zdctl_ok({"domain", "add", "shop", "--listen", std::string("tcp://") + kV4 + ":80"});
  }
};

TEST_F(Systemd, ASocketItPassedServesTheDomainThroughTheAppThatSharesIt) {
  // The subshell is the process LISTEN_PID names once it execs zdctl, as
  // systemd names each service it passes the socket to; then the shell
  // becomes zd-echo, for which LISTEN_PID (its own pid) is right again.
  const std::string script =
      R"((export LISTEN_PID=$BASHPID; exec "$0" --state "$1" workspace add green --systemd) )"
      R"(&& exec "$2" --systemd green)";
  Child app = spawn({kActivate, "-l", "127.0.0.1:" + std::to_string(kAppPort), "--fdname=web",
                     "bash", "-c", script, kZdctl, state_dir(), kEcho});

  // It execs its command on the first connection, which waits in the
  // socket's queue meanwhile: the app greets it once it runs.
  Conn first;
  ConnectError connected = ConnectError::other;
  for (auto deadline = Clock::now() + 5s; Clock::now() < deadline;) {
    first.fd = Fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(kAppPort);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(first.fd.get(), reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) == 0) {
      connected = ConnectError::none;
      break;
    }
    usleep(20'000);
  }
  ASSERT_EQ(connected, ConnectError::none) << "systemd-socket-activate never listened";
  const std::string out = read_until(app, "ready\n");
  EXPECT_NE(out.find("workspace green added with 1 socket: tcp://127.0.0.1:3020"),
            std::string::npos)
      << out;
  EXPECT_EQ(exchange(first, "hi", 14), "green\ngreen:hi");

  json green;
  const json status = json::parse(status_json());
  for (const auto &w : status["workspaces"])
    if (w["name"] == "green")
      green = w;
  EXPECT_EQ(green["pid"], nullptr) << "registered by its fd, like --fd";
  ASSERT_EQ(green["sockets"].size(), 1u) << green;
  EXPECT_EQ(green["sockets"][0]["endpoint"], "tcp://127.0.0.1:3020");
  EXPECT_EQ(green["sockets"][0]["alive"], true) << "zd-echo holds the socket zdctl registered";

  zdctl_ok({"switch", "shop", "green"});
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(greet(kV4, kPort), "green");

  // The app gone, nothing holds the socket any more: the map lets it go.
  app.kill();
  EXPECT_EQ(json::parse(status_json())["workspaces"][0]["sockets"][0]["alive"], false);
}

} // namespace
} // namespace zdtest
