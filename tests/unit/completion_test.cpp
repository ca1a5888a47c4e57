// `zdctl completion bash` on the real command tree: every command and its
// options are in the script, with what each argument completes to. Runs the
// real zdctl (as nobody when the tests run as root: it needs no privilege).
// tests/packaging/completion.sh drives the script itself in bash.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "process.hpp"
#include "run_zdctl.hpp"

namespace {

using zd_test::run_zdctl;

std::vector<std::string> words(const std::string &text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string word; in >> word;)
    out.push_back(word);
  return out;
}

bool has(const std::vector<std::string> &list, const std::string &word) {
  return std::find(list.begin(), list.end(), word) != list.end();
}

// What the script says of one command (its arm of _zdctl_spec).
struct Spec {
  std::vector<std::string> commands, flags, valued, kinds;
};

// The value of `name='...'` or `name=(...)` in text, from pos on.
std::string value_of(const std::string &text, size_t pos, const std::string &name) {
  size_t at = text.find("\n    " + name + "=", pos);
  if (at == std::string::npos)
    return "";
  at += name.size() + 6;
  const char close = text[at] == '(' ? ')' : '\'';
  const size_t end = text.find(close, at + 1);
  return end == std::string::npos ? "" : text.substr(at + 1, end - at - 1);
}

class Completion : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    zdtest::Result run = run_zdctl({"completion", "bash"});
    ASSERT_EQ(run.code, 0) << run.err;
    ASSERT_EQ(run.err, "");
    script_ = run.out;
  }

  static Spec spec(const std::string &path) {
    const size_t at = script_.find("\n  '" + path + "')\n");
    EXPECT_NE(at, std::string::npos) << "no completion for '" << path << "'";
    if (at == std::string::npos)
      return {};
    return {words(value_of(script_, at, "commands")), words(value_of(script_, at, "flags")),
            words(value_of(script_, at, "valued")), words(value_of(script_, at, "kinds"))};
  }

  static std::string script_;
};

std::string Completion::script_;

TEST_F(Completion, EveryCommandIsCompleted) {
  const std::vector<std::string> top = {"attach",  "detach", "upgrade",   "domain", "workspace",
                                        "switch",  "revert", "canary",    "drain",  "history",
                                        "metrics", "status", "completion"};
  const Spec root = spec("zdctl");
  for (const auto &command : top) {
    EXPECT_TRUE(has(root.commands, command)) << command;
    spec("zdctl " + command);
  }
  EXPECT_EQ(spec("zdctl domain").commands, (std::vector<std::string>{"add", "rm", "set"}));
  EXPECT_EQ(spec("zdctl workspace").commands, (std::vector<std::string>{"add", "set", "rm"}));
  spec("zdctl domain set");
  spec("zdctl workspace set");
  for (const char *group : {"domain", "workspace"}) {
    spec(std::string("zdctl ") + group + " add");
    spec(std::string("zdctl ") + group + " rm");
  }
  // And nothing the help does not list: every word of the root's commands
  // is a subcommand in `zdctl --help`.
  zdtest::Result help = run_zdctl({"--help"});
  for (const auto &command : root.commands)
    EXPECT_NE(help.out.find("\n  " + command + " "), std::string::npos) << command;
}

TEST_F(Completion, OptionsOfEachCommand) {
  EXPECT_TRUE(has(spec("zdctl switch").flags, "--force"));
  for (const char *command : {"zdctl switch", "zdctl revert"}) {
    for (const char *flag : {"--no-check", "--dry-run"})
      EXPECT_TRUE(has(spec(command).flags, flag)) << command << " " << flag;
    for (const char *option : {"--check", "--check-timeout", "--check-retries"})
      EXPECT_TRUE(has(spec(command).valued, option)) << command << " " << option;
  }
  EXPECT_TRUE(has(spec("zdctl workspace rm").flags, "--force"));
  EXPECT_TRUE(has(spec("zdctl detach").flags, "--force"));
  EXPECT_TRUE(has(spec("zdctl detach").valued, "--wait"));
  EXPECT_TRUE(has(spec("zdctl attach").valued, "--xdp"));
  EXPECT_TRUE(has(spec("zdctl attach").flags, "--xdp-generic"));
  EXPECT_TRUE(has(spec("zdctl attach").valued, "--group"));
  EXPECT_TRUE(has(spec("zdctl domain add").valued, "--listen"));
  EXPECT_TRUE(has(spec("zdctl metrics").valued, "--listen"));
  EXPECT_TRUE(has(spec("zdctl metrics").valued, "--token-file"));
  for (const char *option : {"--pid", "--socket", "--fd", "--via"})
    EXPECT_TRUE(has(spec("zdctl workspace add").valued, option)) << option;
  EXPECT_FALSE(has(spec("zdctl status").flags, "--force"));
  for (const char *option : {"--workspace", "--timeout"})
    EXPECT_TRUE(has(spec("zdctl drain").valued, option)) << option;
  for (const char *flag : {"--wait", "--kill-after"})
    EXPECT_TRUE(has(spec("zdctl drain").flags, flag)) << flag;
  // The global options work after any command, so they complete there too.
  for (const char *path : {"zdctl", "zdctl switch", "zdctl domain rm", "zdctl status"}) {
    SCOPED_TRACE(path);
    const Spec s = spec(path);
    EXPECT_TRUE(has(s.valued, "--state"));
    EXPECT_TRUE(has(s.flags, "--json"));
    EXPECT_TRUE(has(s.flags, "-v"));
    EXPECT_TRUE(has(s.flags, "--help"));
  }
}

TEST_F(Completion, ArgumentsCompleteToNamesInTheState) {
  using W = std::vector<std::string>;
  EXPECT_EQ(spec("zdctl switch").kinds, (W{"domains", "workspaces"}));
  EXPECT_EQ(spec("zdctl revert").kinds, (W{"domains"}));
  EXPECT_EQ(spec("zdctl drain").kinds, (W{"domains"}));
  EXPECT_EQ(spec("zdctl domain rm").kinds, (W{"domains"}));
  EXPECT_EQ(spec("zdctl workspace rm").kinds, (W{"workspaces"}));
  // A name being added is new: nothing to offer.
  EXPECT_EQ(spec("zdctl domain add").kinds, (W{"-"}));
  EXPECT_EQ(spec("zdctl workspace add").kinds, (W{"-"}));
  EXPECT_EQ(spec("zdctl completion").kinds, (W{"shells"}));
  EXPECT_NE(script_.find("'--workspace') kind=workspaces"), std::string::npos) << "drain";
  EXPECT_NE(script_.find("--json status"), std::string::npos);
  EXPECT_NE(script_.find("\ncomplete -F _zdctl zdctl\n"), std::string::npos);
}

TEST(CompletionUsage, OnlyBash) {
  for (const auto &args :
       std::vector<std::vector<std::string>>{{"completion"}, {"completion", "zsh"}}) {
    zdtest::Result run = run_zdctl(args);
    EXPECT_EQ(run.code, 2);
    EXPECT_EQ(run.out, "");
    EXPECT_EQ(run.err.rfind("zdctl: error: ", 0), 0u) << run.err;
    EXPECT_EQ(run.err.find('\n'), run.err.size() - 1) << run.err;
  }
  zdtest::Result help = run_zdctl({"completion", "--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("Example"), std::string::npos);
}

} // namespace
