// workspace add --systemd refuses, in one line and before any state is
// opened, what systemd did not pass or passed wrong. The sockets are passed
// as systemd does: fds from 3, LISTEN_FDS and LISTEN_FDNAMES, and LISTEN_PID
// naming the process (a shell that execs zdctl keeps its pid).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "process.hpp"

namespace {

struct Passed {
  int fd;
  std::string name;
};

class ZdctlSystemd : public ::testing::Test {
protected:
  void SetUp() override {
    char tmpl[] = "/tmp/zd-unit-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    struct stat st;
    EXPECT_NE(stat((dir_ + "/state").c_str(), &st), 0) << "a refusal touched the state";
    rmdir(dir_.c_str());
  }

  // zdctl --state DIR workspace add green --systemd EXTRA..., started the
  // way systemd starts it: with `passed` as fds 3, 4, ... and, unless
  // listen_pid says otherwise, LISTEN_PID its own pid ("": unset). Nothing
  // passed: no LISTEN_* at all. Runs as nobody when root, as zdctl_cli_test
  // does.
  zdtest::Result add(const std::vector<Passed> &passed, const std::vector<std::string> &extra = {},
                     const std::string &listen_pid = "$$") {
    std::string names;
    zdtest::SpawnOptions options;
    for (size_t i = 0; i < passed.size(); ++i) {
      options.inherit.push_back({passed[i].fd, 3 + static_cast<int>(i)});
      names += (i ? ":" : "") + passed[i].name;
    }
    if (geteuid() == 0)
      options.uid = 65534;
    std::string env = "unset LISTEN_FDS LISTEN_PID LISTEN_FDNAMES; ";
    if (!passed.empty())
      env += "export LISTEN_FDS=" + std::to_string(passed.size()) + " LISTEN_FDNAMES=" + names +
             (listen_pid.empty() ? "" : " LISTEN_PID=" + listen_pid) + "; ";
    std::vector<std::string> argv{"/bin/sh",  "-c",      env + "exec \"$@\"", "sh",
                                  ZDCTL_PATH, "--state", dir_ + "/state",     "workspace",
                                  "add",      "green",   "--systemd"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return zdtest::run(argv, options);
  }

  // One line on stderr mentioning part, exit code 1 (2 for usage errors).
  static void expect_refused(const zdtest::Result &run, const std::string &part, int code = 1) {
    EXPECT_EQ(run.code, code) << run.err;
    EXPECT_EQ(run.out, "");
    EXPECT_EQ(run.err.rfind("zdctl: error: ", 0), 0u) << run.err;
    EXPECT_EQ(run.err.find('\n'), run.err.size() - 1) << "more than one line: " << run.err;
    EXPECT_NE(run.err.find(part), std::string::npos)
        << "should mention '" << part << "': " << run.err;
  }

  static zd::Fd listening() {
    zd::Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd.get(), reinterpret_cast<sockaddr *>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(fd.get(), 8), 0);
    return fd;
  }

  std::string dir_;
};

TEST_F(ZdctlSystemd, RefusesWhenSystemdPassedNothing) {
  expect_refused(add({}), "systemd passed no sockets (LISTEN_FDS is unset): run it from a "
                          "service with Sockets=");
}

TEST_F(ZdctlSystemd, RefusesSocketsPassedToAnotherProcess) {
  zd::Fd web = listening();
  expect_refused(add({{web.get(), "web"}}, {}, "1"), "systemd passed its sockets to pid 1, not");
  expect_refused(add({{web.get(), "web"}}, {}, ""),
                 "systemd passed its sockets to no pid (LISTEN_PID is unset), not to zdctl");
}

TEST_F(ZdctlSystemd, RefusesAPassedSocketThatIsNotListening) {
  zd::Fd idle(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  expect_refused(add({{idle.get(), "web"}}),
                 "socket 'web' (fd 3) passed by systemd is not a listening TCP socket");
  zd::Fd udp(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  expect_refused(add({{udp.get(), "dns"}}), "socket 'dns' (fd 3) passed by systemd is not a "
                                            "listening TCP socket");
}

TEST_F(ZdctlSystemd, ChecksOnlyTheSocketsItWasAskedFor) {
  // The UDP socket would be refused, but --fdname picks the listening one,
  // which is then refused for want of the state (proof it was taken).
  zd::Fd udp(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  zd::Fd web = listening();
  zdtest::Result run = add({{udp.get(), "dns"}, {web.get(), "web"}}, {"--fdname", "web"});
  EXPECT_EQ(run.code, 1) << run.err;
  EXPECT_EQ(run.err.find("passed by systemd"), std::string::npos) << run.err;
}

TEST_F(ZdctlSystemd, RefusesAnUnknownFdname) {
  zd::Fd web = listening();
  expect_refused(add({{web.get(), "web"}}, {"--fdname", "api"}),
                 "systemd passed no socket named 'api' (FileDescriptorName=); it passed: web");
}

TEST_F(ZdctlSystemd, RefusesTheOtherWaysOfGivingSockets) {
  zd::Fd web = listening();
  expect_refused(add({{web.get(), "web"}}, {"--pid", "1", "--socket", "tcp://127.0.0.1:1"}),
                 "--pid excludes --systemd", 2);
  expect_refused(add({{web.get(), "web"}}, {"--fd", "3"}), "--fd excludes --systemd", 2);
}

} // namespace
