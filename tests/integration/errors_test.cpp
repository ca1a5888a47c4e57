// Every bad input is refused with one `zdctl: error:` line, a non-zero exit
// and the state exactly as it was (issue "Done when" 3e).
#include <bpf/bpf.h>
#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "harness.hpp"

namespace zdtest {
namespace {

class Errors : public BlueGreenTest {
protected:
  // shop (v4+v6) active on blue, green registered, no previous workspace.
  void SetUp() override {
    BlueGreenTest::SetUp();
    if (IsSkipped() || HasFatalFailure())
      return;
    zdctl_ok({"switch", "shop", "blue"});
    before_ = status_json();
  }

  // Runs zdctl ARGS and checks the refusal contract; `about` must appear in
  // the message so the right check refused it.
  // With raw, args are the whole command line (no --state added).
  void expect_refused(const std::vector<std::string> &args, const std::string &about,
                      const SpawnOptions &options = {}, bool raw = false) {
    std::string cmd;
    for (const auto &a : args)
      cmd += " " + a;
    SCOPED_TRACE("zdctl" + cmd);
    std::vector<std::string> argv = {kZdctl};
    argv.insert(argv.end(), args.begin(), args.end());
    Result r = raw ? run(argv, options) : zdctl(args, options);
    EXPECT_TRUE(r.code == 1 || r.code == 2) << "exit " << r.code << ", stderr: " << r.err;
    EXPECT_EQ(r.err.rfind("zdctl: error: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "not one line: " << r.err;
    EXPECT_NE(r.err.find(about), std::string::npos) << "expected '" << about << "' in: " << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(status_json(), before_) << "state changed";
  }

  std::string before_;
};

const std::string kShopV4 = "tcp://10.99.0.1:80";

TEST_F(Errors, UnknownDomainOrWorkspace) {
  expect_refused({"switch", "nope", "blue"}, "no domain named 'nope'");
  expect_refused({"revert", "nope"}, "no domain named 'nope'");
  expect_refused({"domain", "rm", "nope"}, "no domain named 'nope'");
  expect_refused({"switch", "shop", "nope"}, "no workspace named 'nope'");
  expect_refused({"workspace", "rm", "nope"}, "no workspace named 'nope'");
}

TEST_F(Errors, BadNames) {
  const std::string pid = std::to_string(echoes()[0].pid());
  for (const std::string &name :
       std::vector<std::string>{"bad name", "a/b", "_lead", ".", "x:y", "", std::string(64, 'x'),
                                "tab\there", "new\nline"}) {
    expect_refused({"domain", "add", name, "--listen", "tcp://10.99.0.9:80"}, "bad domain name");
    expect_refused({"workspace", "add", name, "--pid", pid, "--socket", "tcp://127.0.0.1:3001"},
                   "bad workspace name");
    expect_refused({"switch", "shop", name}, "bad workspace name");
  }
  // Looks like an option: a usage error, still one line and exit 2.
  expect_refused({"domain", "add", "-lead", "--listen", "tcp://10.99.0.9:80"}, "");
}

TEST_F(Errors, MalformedAddresses) {
  for (const std::string &spec : std::vector<std::string>{
           "10.99.0.9:80", "tcp://10.99.0.300:80", "tcp://10.99.0.9", "tcp://10.99.0.9:0",
           "tcp://10.99.0.9:65536", "tcp://10.99.0.9:http", "http://10.99.0.9:80",
           "tcp://fd00:99::9:80", "tcp://[fd00:99::9:80", "tcp://[fd00:99::zz]:80",
           "tcp://10.99.1.0/33:80", "tcp://[fd00::/129]:80", "tcp://:80", "tcp://10.99.0.9:80 "})
    expect_refused({"domain", "add", "other", "--listen", spec}, "");
  const std::string pid = std::to_string(echoes()[1].pid());
  expect_refused({"workspace", "add", "red", "--pid", pid, "--socket", "tcp://127.0.0.1/8:3002"},
                 "");
  expect_refused({"workspace", "add", "red", "--pid", "12x", "--socket", "tcp://127.0.0.1:3002"},
                 "");
  expect_refused({"workspace", "add", "red", "--pid", "-1", "--socket", "tcp://127.0.0.1:3002"},
                 "");
  expect_refused({"workspace", "add", "red", "--fd", "three"}, "");
}

TEST_F(Errors, Duplicates) {
  expect_refused({"domain", "add", "shop", "--listen", "tcp://10.99.0.9:80"},
                 "domain 'shop' already exists");
  const std::string pid = std::to_string(echoes()[1].pid());
  expect_refused({"workspace", "add", "blue", "--pid", pid, "--socket", "tcp://127.0.0.1:3002"},
                 "workspace 'blue' already exists");
  expect_refused({"domain", "add", "other", "--listen", "tcp://10.99.0.9:80", "--listen",
                  "tcp://10.99.0.9:80"},
                 "given twice");
}

TEST_F(Errors, BindingOwnedByAnotherDomain) {
  expect_refused({"domain", "add", "other", "--listen", "tcp://10.99.0.9:80", "--listen", kShopV4},
                 "already bound to domain 'shop'");
  expect_refused({"domain", "add", "other", "--listen", "tcp://[fd00:99::1]:80"},
                 "already bound to domain 'shop'");
}

TEST_F(Errors, UdpListenIsRefused) {
  expect_refused({"domain", "add", "dns", "--listen", "udp://10.99.0.9:53"}, "udp");
  expect_refused(
      {"domain", "add", "dns", "--listen", "tcp://10.99.0.9:53", "--listen", "udp://10.99.0.9:53"},
      "udp");
}

TEST_F(Errors, DeadPid) {
  Child dead = spawn({"true"});
  const pid_t pid = dead.pid();
  ASSERT_EQ(dead.wait(10s), 0);
  expect_refused(
      {"workspace", "add", "red", "--pid", std::to_string(pid), "--socket", "tcp://127.0.0.1:3001"},
      "no process with pid " + std::to_string(pid));
}

TEST_F(Errors, PidWithoutSuchSocket) {
  const std::string pid = std::to_string(echoes()[1].pid());
  expect_refused({"workspace", "add", "red", "--pid", pid, "--socket", "tcp://127.0.0.1:3999"},
                 "has no socket bound to tcp://127.0.0.1:3999");
  expect_refused({"workspace", "add", "red", "--pid", pid, "--socket", "tcp://127.0.0.2:3002"},
                 "has no socket bound to tcp://127.0.0.2:3002");
  // A process with no sockets at all.
  Child plain = spawn({"sleep", "30"});
  expect_refused({"workspace", "add", "red", "--pid", std::to_string(plain.pid()), "--socket",
                  "tcp://127.0.0.1:3002"},
                 "has no socket bound");
}

TEST_F(Errors, BoundButNotListening) {
  echoes().push_back(start_echo("idle", {"--bind-only", "127.0.0.1:3007"}));
  expect_refused({"workspace", "add", "idle", "--pid", std::to_string(echoes().back().pid()),
                  "--socket", "tcp://127.0.0.1:3007"},
                 "not listening");
}

TEST_F(Errors, WrongProtocolOrFamily) {
  echoes().push_back(start_echo("v4only", {"127.0.0.1:3008"}));
  const std::string pid = std::to_string(echoes().back().pid());
  expect_refused({"workspace", "add", "v4only", "--pid", pid, "--socket", "tcp://[::1]:3008"},
                 "has no socket bound to tcp://[::1]:3008");
  expect_refused({"workspace", "add", "v4only", "--pid", pid, "--socket", "udp://127.0.0.1:3008"},
                 "");
}

TEST_F(Errors, TwoSocketsForOneProtocolAndFamily) {
  Fd a = listen_tcp("127.0.0.1", 3010);
  Fd b = listen_tcp("127.0.0.2", 3010);
  SpawnOptions inherit;
  inherit.inherit = {{a.get(), 3}, {b.get(), 4}};
  expect_refused({"workspace", "add", "twin", "--fd", "3", "--fd", "4"}, "two tcp/ipv4 sockets",
                 inherit);
  // The same socket twice is two sockets for one family as well.
  inherit.inherit = {{a.get(), 3}, {a.get(), 4}};
  expect_refused({"workspace", "add", "twin", "--fd", "3", "--fd", "4"}, "two tcp/ipv4 sockets",
                 inherit);
}

TEST_F(Errors, Ipv6OnlySocketForAnIpv4Address) {
  echoes().push_back(start_echo("v6only", {"[::]:3012"})); // IPV6_V6ONLY on
  const std::string pid = std::to_string(echoes().back().pid());
  expect_refused({"workspace", "add", "v6only", "--pid", pid, "--socket", "tcp://127.0.0.1:3012"},
                 "has no socket bound to tcp://127.0.0.1:3012");
}

TEST_F(Errors, SocketInAnotherNetworkNamespace) {
  // unshare execs zd-echo, so the pid is the server's, its socket in a new netns.
  echoes().push_back(start_echo("alien", {"0.0.0.0:3011"}, {"unshare", "-n"}));
  expect_refused({"workspace", "add", "alien", "--pid", std::to_string(echoes().back().pid()),
                  "--socket", "tcp://127.0.0.1:3011"},
                 "another network namespace");
}

TEST_F(Errors, FdThatIsNotAListeningSocket) {
  Fd devnull(open("/dev/null", O_RDONLY | O_CLOEXEC));
  SpawnOptions inherit;
  inherit.inherit = {{devnull.get(), 3}};
  expect_refused({"workspace", "add", "red", "--fd", "3"}, "not a socket", inherit);
  expect_refused({"workspace", "add", "red", "--fd", "77"}, "not open");

  Fd udp(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  inherit.inherit = {{udp.get(), 3}};
  expect_refused({"workspace", "add", "red", "--fd", "3"}, "not TCP", inherit);

  Fd unbound(socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  inherit.inherit = {{unbound.get(), 3}};
  expect_refused({"workspace", "add", "red", "--fd", "3"}, "not listening", inherit);

  Fd unix_socket(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  inherit.inherit = {{unix_socket.get(), 3}};
  expect_refused({"workspace", "add", "red", "--fd", "3"}, "not an IPv4 or IPv6 socket", inherit);
}

TEST_F(Errors, SwitchToAWorkspaceWithoutLiveSockets) {
  add_workspace("red", 3012);
  echoes().back().child.kill();
  // v4 only: a workspace that lacks the domain's v6 binding altogether.
  add_workspace("half", 3013, /*v6=*/false);
  before_ = status_json();
  expect_refused({"switch", "shop", "red"}, "has no live tcp/ipv4 socket");
  expect_refused({"switch", "shop", "half"}, "has no live tcp/ipv6 socket");

  // --force overrides the check (and is then a real change).
  zdctl_ok({"switch", "--force", "shop", "red"});
  before_ = status_json();
  // Reverting is checked the same way: blue is alive, so make it dead first.
  echoes()[0].child.kill();
  before_ = status_json();
  expect_refused({"revert", "shop"}, "has no live");
}

// An IPv6-only [::] socket cannot serve the domain's IPv4 binding: the
// refusal names the commands that register the workspace with one.
TEST_F(Errors, SwitchToAnIpv6OnlyWorkspaceNamesTheCommandThatWorks) {
  echoes().push_back(start_echo("v6", {"[::]:3014"}));
  const std::string pid = std::to_string(echoes().back().pid());
  zdctl_ok({"workspace", "add", "v6", "--pid", pid, "--socket", "tcp://[::]:3014"});
  before_ = status_json();
  expect_refused({"switch", "shop", "v6"},
                 "zdctl workspace rm v6 && zdctl workspace add v6 --pid " + pid +
                     " --socket tcp://[::]:3014 --socket tcp://0.0.0.0:3014");
}

TEST_F(Errors, RemovingTheActiveWorkspaceNeedsForce) {
  expect_refused({"workspace", "rm", "blue"}, "is active for domain 'shop'");
}

TEST_F(Errors, RevertWithoutPrevious) {
  expect_refused({"revert", "shop"}, "no previous workspace");
  zdctl_ok({"domain", "add", "fresh", "--listen", "tcp://10.99.0.9:80"});
  before_ = status_json();
  expect_refused({"revert", "fresh"}, "no previous workspace");
}

TEST_F(Errors, MissingPrivileges) {
  SpawnOptions nobody;
  nobody.uid = 65534;
  for (const auto &args : std::vector<std::vector<std::string>>{
           {"switch", "shop", "green"},
           {"domain", "add", "other", "--listen", "tcp://10.99.0.9:80"},
           {"workspace", "rm", "green"},
           {"status"},
           {"attach"},
           {"detach"}})
    expect_refused(args, "needs root", nobody);
}

// bpffs directories holding someone else's things are never touched.
class ForeignState : public Errors {
protected:
  std::string make_foreign(const std::string &name, const std::vector<std::string> &pins) {
    const std::string dir = bpffs() + "/" + name;
    EXPECT_EQ(mkdir(dir.c_str(), 0700), 0);
    EXPECT_EQ(mkdir((dir + "/theirs").c_str(), 0700), 0);
    for (const auto &pin : pins) {
      Fd map(bpf_map_create(BPF_MAP_TYPE_ARRAY, "theirs", 4, 4, 1, nullptr));
      EXPECT_TRUE(map);
      EXPECT_EQ(bpf_obj_pin(map.get(), (dir + "/" + pin).c_str()), 0) << pin;
    }
    return dir;
  }

  static std::set<std::string> listing(const std::string &dir) {
    std::set<std::string> names;
    for (const auto &entry : std::filesystem::directory_iterator(dir))
      names.insert(entry.path().filename());
    return names;
  }

  void expect_all_refused(const std::string &dir, const std::string &about) {
    const auto contents = listing(dir);
    for (const auto &args : std::vector<std::vector<std::string>>{
             {"attach"},
             {"status"},
             {"detach"},
             {"domain", "add", "other", "--listen", "tcp://10.99.0.9:80"},
             {"switch", "shop", "green"}}) {
      std::vector<std::string> all = {"--state", dir};
      all.insert(all.end(), args.begin(), args.end());
      expect_refused(all, about, {}, /*raw=*/true);
    }
    EXPECT_EQ(listing(dir), contents);
  }
};

TEST_F(ForeignState, DirectoryWithoutOurPins) {
  expect_all_refused(make_foreign("foreign", {}), "not a zd state");
}

TEST_F(ForeignState, DirectoryWithUnrelatedMapsUnderOurNames) {
  const std::string dir =
      make_foreign("foreign", {"config", "bindings", "prefixes", "routes", "sockets",
                               "domain_stats", "workspace_stats", "domains", "workspaces",
                               "workspace_names", "program", "link"});
  expect_all_refused(dir, "not a zd state");
}

TEST_F(ForeignState, DirectoryWithAnUnrelatedConfigPin) {
  const std::string dir = make_foreign("foreign", {"config"});
  expect_all_refused(dir, dir);
}

TEST_F(ForeignState, ParentThatIsNotBpffs) {
  // Never mounted over: /proc holds things.
  expect_refused({"--state", "/proc/zd", "attach"}, "not a bpffs mount", {}, /*raw=*/true);
}

} // namespace
} // namespace zdtest
