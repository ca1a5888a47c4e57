// Runs the real zdctl for usage errors and --help. Every case here must
// fail (or print help) before zdctl opens any state, so when the tests run
// as root the child drops to nobody first: a case that needed privilege
// would then fail with a permission error instead of the expected message.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "process.hpp"
#include "run_zdctl.hpp"
#include "zd_shared.h"


namespace {

using zd_test::run_zdctl;

std::string joined(const std::vector<std::string> &args) {
  std::string out;
  for (const auto &arg : args)
    out += (out.empty() ? "" : " ") + arg;
  return out;
}

// One line on stderr, "zdctl: error: ...", mentioning `part`; nothing on stdout.
void expect_error(const std::vector<std::string> &args, const std::string &part, int exit_code) {
  SCOPED_TRACE("zdctl " + joined(args));
  zdtest::Result run = run_zdctl(args);
  EXPECT_EQ(run.code, exit_code) << run.err;
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err.rfind("zdctl: error: ", 0), 0u) << run.err;
  ASSERT_FALSE(run.err.empty());
  EXPECT_EQ(run.err.back(), '\n');
  EXPECT_EQ(run.err.find('\n'), run.err.size() - 1) << "more than one line: " << run.err;
  EXPECT_NE(run.err.find(part), std::string::npos)
      << "should mention '" << part << "': " << run.err;
}

// A state directory that must still not exist after each command.
class ZdctlCli : public ::testing::Test {
protected:
  void SetUp() override {
    char tmpl[] = "/tmp/zd-unit-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    state_ = dir_ + "/state";
  }
  void TearDown() override {
    struct stat st;
    EXPECT_NE(stat(state_.c_str(), &st), 0) << "a usage error touched the state";
    rmdir(dir_.c_str());
  }
  std::vector<std::string> with_state(std::vector<std::string> args) const {
    args.insert(args.begin(), {"--state", state_});
    return args;
  }
  std::string dir_, state_;
};

TEST_F(ZdctlCli, HelpOfEveryCommandHasAnExample) {
  const std::vector<std::vector<std::string>> commands = {{},
                                                          {"attach"},
                                                          {"detach"},
                                                          {"upgrade"},
                                                          {"domain"},
                                                          {"domain", "add"},
                                                          {"domain", "rm"},
                                                          {"workspace"},
                                                          {"workspace", "add"},
                                                          {"workspace", "rm"},
                                                          {"switch"},
                                                          {"revert"},
                                                          {"status"}};
  for (auto args : commands) {
    args.push_back("--help");
    SCOPED_TRACE("zdctl " + joined(args));
    zdtest::Result run = run_zdctl(with_state(args));
    EXPECT_EQ(run.code, 0) << run.err;
    EXPECT_NE(run.out.find("Example"), std::string::npos) << run.out;
    EXPECT_EQ(run.err, "");
  }
}

TEST_F(ZdctlCli, Version) {
  zdtest::Result run = run_zdctl(with_state({"--version"}));
  EXPECT_EQ(run.code, 0);
  EXPECT_EQ(run.out.rfind("zdctl ", 0), 0u) << run.out;
  EXPECT_NE(run.out.find("state layout " + std::to_string(ZD_LAYOUT_VERSION)), std::string::npos);
}

TEST_F(ZdctlCli, UnknownCommandsAndOptions) {
  expect_error(with_state({}), "subcommand", 2);
  expect_error(with_state({"frobnicate"}), "frobnicate", 2);
  expect_error(with_state({"domain", "frob", "x"}), "frob", 2);
  expect_error(with_state({"--bogus", "status"}), "--bogus", 2);
  expect_error(with_state({"status", "--bogus"}), "--bogus", 2);
  expect_error(with_state({"switch", "shop", "green", "extra"}), "extra", 2);
}

TEST_F(ZdctlCli, MissingArguments) {
  expect_error(with_state({"domain"}), "subcommand", 2);
  expect_error(with_state({"workspace"}), "subcommand", 2);
  expect_error(with_state({"domain", "add"}), "NAME", 2);
  expect_error(with_state({"domain", "add", "shop"}), "--listen", 2);
  expect_error(with_state({"domain", "add", "shop", "--listen"}), "--listen", 2);
  expect_error(with_state({"domain", "rm"}), "NAME", 2);
  expect_error(with_state({"workspace", "add"}), "NAME", 2);
  expect_error(with_state({"workspace", "add", "blue", "--pid", "1"}), "--socket", 2);
  expect_error(with_state({"workspace", "add", "blue", "--socket", "tcp://127.0.0.1:3001"}),
               "--pid", 2);
  expect_error(with_state({"workspace", "add", "blue", "--fd", "3", "--pid", "1", "--socket",
                           "tcp://127.0.0.1:3001"}),
               "--fd", 2);
  expect_error(with_state({"workspace", "rm"}), "NAME", 2);
  expect_error(with_state({"switch"}), "DOMAIN", 2);
  expect_error(with_state({"switch", "shop"}), "WORKSPACE", 2);
  expect_error(with_state({"revert"}), "DOMAIN", 2);
}

TEST_F(ZdctlCli, BadListenValuesFailBeforeTheState) {
  for (const char *bad : {"tcp://10.99.0.1", "tcp://10.99.0.1:0", "tcp://10.99.0.1:65536",
                          "tcp://10.99.0.1:80x", "tcp://fd00:99::1:80", "tcp://[10.99.0.1]:80",
                          "tcp://10.99.1.1/24:80", "tcp://10.99.1.0/33:80", "tcp://[fd00::/129]:80",
                          "http://10.99.0.1:80", "TCP://", "tcp:/x", ""}) {
    expect_error(
        with_state({"domain", "add", "shop", "--listen", "tcp://10.99.0.2:80", "--listen", bad}),
        bad, 1);
  }
  // Hostile input stays on one line and is not echoed in full.
  expect_error(with_state({"domain", "add", "shop", "--listen", "tcp://10.99.0.1\n:80"}),
               "not an IPv4 or IPv6 address", 1);
  expect_error(with_state({"domain", "add", "shop", "--listen",
                           "tcp://10.99.0.1:80" + std::string(5000, 'A')}),
               "longer than", 1);
}

TEST_F(ZdctlCli, BadNamesFailBeforeTheState) {
  for (const char *bad : {"a/b", ".hidden", "../x", "a b", "caf\xc3\xa9"})
    expect_error(with_state({"domain", "add", bad, "--listen", "tcp://10.99.0.1:80"}),
                 std::string("'") + bad + "'", 1);
  // A leading '-' never gets through as a name: CLI11 takes it for an option.
  expect_error(with_state({"domain", "add", "-x", "--listen", "tcp://10.99.0.1:80"}), "'-x'", 2);
  expect_error(
      with_state({"domain", "add", std::string(64, 'n'), "--listen", "tcp://10.99.0.1:80"}),
      "longer than 63", 1);
  expect_error(with_state({"workspace", "add", "a/b", "--fd", "3"}), "'a/b'", 1);
}

TEST_F(ZdctlCli, BadWorkspaceInputFailsBeforeTheState) {
  expect_error(
      with_state({"workspace", "add", "blue", "--pid", "0x10", "--socket", "tcp://127.0.0.1:3001"}),
      "'0x10'", 1);
  expect_error(
      with_state({"workspace", "add", "blue", "--pid", "-5", "--socket", "tcp://127.0.0.1:3001"}),
      "-5", 1);
  expect_error(
      with_state({"workspace", "add", "blue", "--pid", "1", "--socket", "tcp://127.0.0.0/8:3001"}),
      "/prefix", 1);
  expect_error(with_state({"workspace", "add", "blue", "--fd", "+3"}), "'+3'", 1);
  expect_error(with_state({"workspace", "add", "blue", "--fd", "99999999999"}), "99999999999", 1);
}

} // namespace

namespace {

// Hostile bytes anywhere (an unknown argument, the state path) still give
// one printable line: newlines, ESC and the C1 controls come out as \xNN.
TEST(ZdctlCliHostile, ControlCharactersNeverReachTheTerminal) {
  const std::vector<std::vector<std::string>> cases = {
      {"--state", "/nonexistent/zd\nsecond line", "status"},
      {"--state", "/nonexistent/zd\x1b[31mred", "status"},
      {"--state",
       "/nonexistent/zd\xc2\x9b"
       "31mred",
       "status"},
      {"frob\nnicate"},
      {"frob\x1b]0;title\x07"},
  };
  for (const auto &args : cases) {
    zdtest::Result run = run_zdctl(args);
    SCOPED_TRACE(run.err);
    EXPECT_TRUE(run.code == 1 || run.code == 2);
    EXPECT_EQ(run.err.rfind("zdctl: error: ", 0), 0u);
    EXPECT_EQ(run.err.find('\n'), run.err.size() - 1) << "more than one line";
    EXPECT_EQ(run.err.find('\x1b'), std::string::npos) << "a raw ESC";
    EXPECT_EQ(run.err.find("\xc2\x9b"), std::string::npos) << "a raw C1 control";
  }
}

} // namespace
