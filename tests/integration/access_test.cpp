// Who may read and change a state (issue 9, hardening): root alone by
// default (0700/0600), a group that may read with attach --group
// (0750/0640), readers that are not root, writers that are refused, and
// states that are not what they seem (symlinks, other filesystems, other
// owners) refused with one line naming the path.
#include <bpf/bpf.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <map>

#include "harness.hpp"

namespace zdtest {
namespace {

using json = nlohmann::json;

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534; // Debian's nogroup
constexpr gid_t kDaemon = 1;      // Debian's daemon group: nobody is not in it

struct Mode {
  mode_t mode;
  uid_t uid;
  gid_t gid;
  bool operator==(const Mode &) const = default;
};

std::ostream &operator<<(std::ostream &out, const Mode &m) {
  return out << std::oct << m.mode << std::dec << " " << m.uid << ":" << m.gid;
}

Mode mode_of(const std::string &path) {
  struct stat st {};
  EXPECT_EQ(lstat(path.c_str(), &st), 0) << path << ": " << std::strerror(errno);
  return {st.st_mode & 07777, st.st_uid, st.st_gid};
}

// Every pin of the state, by name, with its mode and owner.
std::map<std::string, Mode> pin_modes(const std::string &dir) {
  std::map<std::string, Mode> out;
  for (const auto &entry : std::filesystem::directory_iterator(dir))
    out[entry.path().filename()] = mode_of(entry.path());
  return out;
}

void expect_modes(const std::string &dir, Mode dir_mode, Mode pin_mode) {
  EXPECT_EQ(mode_of(dir), dir_mode) << dir;
  const auto pins = pin_modes(dir);
  EXPECT_GT(pins.size(), 15u);
  for (const auto &[name, mode] : pins)
    EXPECT_EQ(mode, pin_mode) << name;
}

SpawnOptions as_user(gid_t gid, std::vector<gid_t> groups = {}) {
  SpawnOptions options;
  options.uid = kNobody;
  options.gid = gid;
  options.groups = std::move(groups);
  return options;
}

class Access : public NetnsTest {
protected:
  // The usual stage (domain shop, blue active after green) attached with args.
  void stage(const std::vector<std::string> &attach_args) {
    std::vector<std::string> attach = {"attach"};
    attach.insert(attach.end(), attach_args.begin(), attach_args.end());
    last_attach_ = zdctl(attach);
    ASSERT_EQ(last_attach_.code, 0) << last_attach_.err;
    zdctl_ok({"domain", "add", "shop", "--listen", std::string("tcp://") + kV4 + ":80"});
    add_workspace("blue", 3001, false);
    add_workspace("green", 3002, false);
    zdctl_ok({"switch", "shop", "green"});
    zdctl_ok({"switch", "shop", "blue"});
  }
  // The private bpffs is mounted 0700, as /sys/fs/bpf is: opened for search.
  void open_parent() { ASSERT_EQ(chmod(bpffs().c_str(), 0711), 0) << std::strerror(errno); }

  Result last_attach_;
};

TEST_F(Access, AStateIsRootsAloneByDefault) {
  stage({});
  zdctl_ok({"upgrade", "--force"}); // pins its program anew
  expect_modes(state_dir(), {0700, 0, 0}, {0600, 0, 0});
  open_parent();
  Result r = zdctl({"status"}, as_user(kNogroup));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("opening state dir " + state_dir() + ": Permission denied"),
            std::string::npos)
      << r.err;
}

TEST_F(Access, AGroupMayReadStatusAndHistoryAndChangeNothing) {
  stage({"--group", "nogroup"});
  // The private bpffs is closed to others, as /sys/fs/bpf is: attach says so.
  EXPECT_NE(last_attach_.err.find("group nogroup cannot reach " + state_dir()), std::string::npos)
      << last_attach_.err;
  EXPECT_NE(zdctl({"status"}, as_user(kNogroup)).err.find("Permission denied"), std::string::npos);
  open_parent();
  expect_modes(state_dir(), {0750, 0, kNogroup}, {0640, 0, kNogroup});

  const std::string status = status_json();
  const std::string history = zdctl_ok({"history", "--json"});
  // Its primary group or a supplementary one: either makes a member.
  for (const SpawnOptions &member : {as_user(kNogroup), as_user(kDaemon, {kNogroup})}) {
    Result s = zdctl({"status", "--json"}, member);
    EXPECT_EQ(s.code, 0) << s.err;
    EXPECT_EQ(s.out, status);
    EXPECT_EQ(s.err, "");
    Result h = zdctl({"history", "--json"}, member);
    EXPECT_EQ(h.code, 0) << h.err;
    EXPECT_EQ(h.out, history);
  }

  // A member may not change anything, and is told so in one line.
  for (const auto &args : std::vector<std::vector<std::string>>{
           {"switch", "shop", "green"},
           {"revert", "shop"},
           {"domain", "add", "other", "--listen", "tcp://10.99.0.9:80"},
           {"domain", "rm", "shop"},
           {"workspace", "rm", "green"},
           {"attach"},
           {"attach", "--group", "nogroup"},
           {"upgrade"},
           {"detach"}}) {
    Result r = zdctl(args, as_user(kNogroup));
    EXPECT_EQ(r.code, 1) << args[0];
    EXPECT_EQ(
        r.err.rfind("zdctl: error: this user may not change the zd state at " + state_dir(), 0), 0u)
        << args[0] << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  EXPECT_EQ(status_json(), status);
  EXPECT_EQ(zdctl_ok({"history", "--json"}), history);

  // Not a member: nothing to read.
  Result other = zdctl({"status"}, as_user(kDaemon));
  EXPECT_EQ(other.code, 1);
  EXPECT_NE(other.err.find("Permission denied"), std::string::npos) << other.err;

  // Pins made later (a new program, a workspace) get the group too.
  zdctl_ok({"upgrade", "--force"});
  add_workspace("red", 3003, false);
  expect_modes(state_dir(), {0750, 0, kNogroup}, {0640, 0, kNogroup});
  EXPECT_EQ(zdctl({"status"}, as_user(kNogroup)).code, 0);
}

// A member finding a change a killed zdctl left half-made cannot finish it:
// it says so and changes nothing; the next zdctl that may write finishes it.
TEST_F(Access, AMemberLeavesAKilledChangeToAWriter) {
  stage({"--group", "nogroup"});
  open_parent();
  const std::string stray = state_dir() + "/routes-pinning"; // as a killed pin_whole leaves it
  Fd map(bpf_map_create(BPF_MAP_TYPE_ARRAY, "stray", 4, 4, 1, nullptr));
  ASSERT_TRUE(map);
  ASSERT_EQ(bpf_obj_pin(map.get(), stray.c_str()), 0) << std::strerror(errno);
  Result r = zdctl({"status"}, as_user(kNogroup));
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "zdctl: error: a zdctl was killed during a change to the zd state at " +
                       state_dir() +
                       ", and this user may not finish it: any zdctl that may change the state "
                       "does (zdctl needs root, or CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN and "
                       "CAP_SYS_PTRACE)\n");
  EXPECT_TRUE(std::filesystem::exists(stray));
  zdctl_ok({"status"});
  EXPECT_FALSE(std::filesystem::exists(stray));
  EXPECT_EQ(zdctl({"status", "--json"}, as_user(kNogroup)).out, status_json());
}

// The group is the directory's: attach without --group keeps it, with one
// replaces it; a group that does not exist changes nothing and makes nothing.
TEST_F(Access, AttachAgainKeepsOrReplacesTheGroup) {
  const auto before = pin_modes(bpffs());
  Result unknown = zdctl({"attach", "--group", "zd-no-such-group"});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_EQ(unknown.err, "zdctl: error: no group named 'zd-no-such-group' on this host\n");
  EXPECT_FALSE(std::filesystem::exists(state_dir()));
  EXPECT_EQ(pin_modes(bpffs()), before);
  Result unprivileged = zdctl({"attach", "--group", "nogroup"}, as_user(kNogroup));
  EXPECT_EQ(unprivileged.code, 1);
  EXPECT_EQ(
      unprivileged.err.rfind("zdctl: error: this user may not make a zd state in " + bpffs(), 0),
      0u)
      << unprivileged.err;
  EXPECT_EQ(pin_modes(bpffs()), before);

  json first = json::parse(zdctl_ok({"--json", "attach", "--group", "nogroup"}));
  EXPECT_EQ(first["changed"], true);
  EXPECT_EQ(first["group"], "nogroup");
  json same = json::parse(zdctl_ok({"--json", "attach", "--group", "nogroup"}));
  EXPECT_EQ(same["changed"], false);
  json kept = json::parse(zdctl_ok({"--json", "attach"}));
  EXPECT_EQ(kept["changed"], false);
  expect_modes(state_dir(), {0750, 0, kNogroup}, {0640, 0, kNogroup});

  EXPECT_EQ(zdctl({"attach", "--group", "zd-no-such-group"}).code, 1);
  expect_modes(state_dir(), {0750, 0, kNogroup}, {0640, 0, kNogroup});

  json replaced = json::parse(zdctl_ok({"--json", "attach", "--group", "daemon"}));
  EXPECT_EQ(replaced["changed"], true);
  expect_modes(state_dir(), {0750, 0, kDaemon}, {0640, 0, kDaemon});
}

// Moving the state to another group, killed at every chmod and chown in
// turn: the directory is the gate, so whenever it lets a group in, every pin
// lets exactly that group read it, and nothing is ever open to others.
TEST_F(Access, ARegroupKilledAtAnyStepOpensNothingHalfWay) {
  if (access("/usr/bin/strace", X_OK) != 0)
    GTEST_SKIP() << "needs strace";
  stage({"--group", "nogroup"});
  int killed = 0;
  // strace counts each call on its own: one sweep per call.
  for (const std::string call : {"chmod", "lchown"})
    for (int n = 1; n < 200; ++n) {
      zdctl_ok({"attach", "--group", "nogroup"}); // the start, for every kill point
      // LeakSanitizer cannot run under ptrace: a sanitized zdctl would fail
      // on its way out, not at the kill point (no effect on a plain build).
      Result r = run({"env", "ASAN_OPTIONS=exitcode=86:detect_leaks=0", "strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=" + call, "-e",
                      "inject=" + call + ":signal=KILL:when=" + std::to_string(n), kZdctl,
                      "--state", state_dir(), "attach", "--group", "daemon"});
      const Mode dir = mode_of(state_dir());
      EXPECT_EQ(dir.mode & 0007, 0u) << call << " " << n;
      if (dir.mode & 0050) {
        EXPECT_EQ(dir.mode, 0750u) << call << " " << n;
        for (const auto &[name, pin] : pin_modes(state_dir()))
          EXPECT_EQ(pin, (Mode{0640, 0, dir.gid})) << call << " " << n << ": " << name;
      }
      for (const auto &[name, pin] : pin_modes(state_dir())) {
        EXPECT_EQ(pin.mode & 0137, 0u) << call << " " << n << " " << name;
        EXPECT_TRUE(pin.gid == kNogroup || pin.gid == kDaemon) << call << " " << n << " " << name;
      }
      if (r.code == 0)
        break; // ran to its end: no call left to kill at
      EXPECT_EQ(r.code, 128 + SIGKILL) << r.err;
      ++killed;
    }
  std::printf("killed at %d chmod and lchown calls in turn\n", killed);
  EXPECT_GT(killed, 60) << "fewer kill points than three per pin";
  expect_modes(state_dir(), {0750, 0, kDaemon}, {0640, 0, kDaemon});
  EXPECT_EQ(json::parse(status_json())["domains"][0]["active"], "blue");
}

// Modes set wider by hand are brought back by upgrade to what the
// directory grants; closing the directory takes a group's access away.
TEST_F(Access, UpgradeBringsModesBackToTheDirectorys) {
  stage({});
  const std::string routes = state_dir() + "/routes";
  ASSERT_EQ(chmod(routes.c_str(), 0666), 0);
  ASSERT_EQ(chmod(state_dir().c_str(), 0705), 0);
  json upgraded = json::parse(zdctl_ok({"--json", "upgrade"}));
  EXPECT_EQ(upgraded["upgraded"], true);
  expect_modes(state_dir(), {0700, 0, 0}, {0600, 0, 0});
  EXPECT_EQ(json::parse(zdctl_ok({"--json", "upgrade"}))["upgraded"], false);

  // Given to a group, then closed by hand: upgrade follows the directory.
  zdctl_ok({"attach", "--group", "nogroup"});
  ASSERT_EQ(chmod(state_dir().c_str(), 0700), 0);
  zdctl_ok({"upgrade"});
  EXPECT_EQ(mode_of(state_dir()).mode, 0700u);
  EXPECT_EQ(mode_of(routes).mode, 0600u);
  EXPECT_EQ(json::parse(status_json())["domains"][0]["active"], "blue");
}

// What is not a state's own is refused, with its path, before anything is
// read through it or changed.
TEST_F(Access, WhatIsNotTheStatesOwnIsRefused) {
  stage({});
  const std::string before = status_json();
  auto expect_refused_everywhere = [&](const std::string &line) {
    for (const auto &args : std::vector<std::vector<std::string>>{{"status"},
                                                                  {"history"},
                                                                  {"switch", "shop", "green"},
                                                                  {"attach"},
                                                                  {"upgrade"},
                                                                  {"detach"}}) {
      Result r = zdctl(args);
      EXPECT_EQ(r.code, 1) << args[0];
      EXPECT_EQ(r.err, "zdctl: error: " + line + "\n") << args[0];
    }
  };

  // A symlink among the pins, even to one of the state's own maps.
  const std::string link = state_dir() + "/extra";
  ASSERT_EQ(symlink((state_dir() + "/routes").c_str(), link.c_str()), 0);
  expect_refused_everywhere(link + " is a symlink, not a pin of this state; refusing to follow " +
                            "it (remove it by hand)");
  ASSERT_EQ(unlink(link.c_str()), 0);

  // A directory among the pins.
  const std::string sub = state_dir() + "/sub";
  ASSERT_EQ(mkdir(sub.c_str(), 0700), 0);
  expect_refused_everywhere(sub + " is not a pin, so " + state_dir() +
                            " is not a zd state (one holds pins only); refusing to touch it");
  ASSERT_EQ(rmdir(sub.c_str()), 0);

  // A state directory of another user.
  ASSERT_EQ(chown(state_dir().c_str(), 1234, static_cast<gid_t>(-1)), 0);
  expect_refused_everywhere("state dir " + state_dir() +
                            " is owned by uid 1234, neither root nor this user; refusing to "
                            "trust it");
  ASSERT_EQ(chown(state_dir().c_str(), 0, static_cast<gid_t>(-1)), 0);

  // A pin of another user.
  const std::string routes = state_dir() + "/routes";
  ASSERT_EQ(chown(routes.c_str(), 1234, static_cast<gid_t>(-1)), 0);
  expect_refused_everywhere(routes + " is owned by uid 1234, not by the state's owner; refusing to "
                                     "trust it");
  ASSERT_EQ(chown(routes.c_str(), 0, static_cast<gid_t>(-1)), 0);

  EXPECT_EQ(status_json(), before);
}

// A state directory must be on bpffs: a plain directory (here on the
// filesystem under the test's bpffs) is refused by name, and nothing is
// made in it.
TEST_F(Access, AStateDirOffBpffsIsRefused) {
  const std::string plain = bpffs() + "-plain";
  ASSERT_EQ(mkdir(plain.c_str(), 0700), 0);
  ASSERT_EQ(mkdir((plain + "/zd").c_str(), 0700), 0);
  for (const auto &args : std::vector<std::vector<std::string>>{
           {"status"}, {"switch", "shop", "green"}, {"upgrade"}}) {
    std::vector<std::string> argv = {kZdctl, "--state", plain + "/zd"};
    argv.insert(argv.end(), args.begin(), args.end());
    Result r = run(argv);
    EXPECT_EQ(r.code, 1) << args[0];
    EXPECT_EQ(r.err,
              "zdctl: error: state dir " + plain + "/zd is not on bpffs; refusing to touch it\n")
        << args[0];
  }
  EXPECT_TRUE(std::filesystem::is_empty(plain + "/zd"));
  rmdir((plain + "/zd").c_str());
  rmdir(plain.c_str());
}

} // namespace
} // namespace zdtest
