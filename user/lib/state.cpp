#include "state.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <spdlog/spdlog.h>
#include <vector>

#include "error.hpp"
#include "sk_lookup.skel.h"

namespace zd {

namespace {

constexpr const char *kLinkPin = "link";
constexpr const char *kProgramPin = "program";

struct SkeletonDeleter {
  void operator()(zd_bpf *skel) const { zd_bpf__destroy(skel); }
};
using Skeleton = std::unique_ptr<zd_bpf, SkeletonDeleter>;

struct LinkDeleter {
  void operator()(bpf_link *link) const { bpf_link__destroy(link); }
};
using Link = std::unique_ptr<bpf_link, LinkDeleter>;

std::string parent_of(const std::string &dir) {
  auto parent = std::filesystem::path(dir).lexically_normal().parent_path();
  if (parent.empty() || parent == dir)
    throw Error("state dir " + dir + " has no parent directory");
  return parent.string();
}

bool on_bpffs(const std::string &path) {
  struct statfs fs {};
  return statfs(path.c_str(), &fs) == 0 && fs.f_type == BPF_FS_MAGIC;
}

bool is_empty_dir(const std::string &path) {
  std::error_code ec;
  return std::filesystem::is_directory(path, ec) && std::filesystem::is_empty(path, ec);
}

// bpffs must hold the state. `ip netns exec` remounts /sys, so it is often
// missing there: mount it on /sys/fs/bpf or on an empty directory, never over
// a directory that holds something.
void ensure_bpffs(const std::string &parent) {
  if (on_bpffs(parent))
    return;
  if (parent != "/sys/fs/bpf" && !is_empty_dir(parent))
    throw Error(parent + " is not a bpffs mount; mount one first (mount -t bpf bpf " + parent +
                ") or choose another --state");
  if (mount("bpf", parent.c_str(), "bpf", 0, "mode=0700") != 0)
    throw_errno("mounting bpffs on " + parent);
  // A bpffs lives as long as its mount namespace. Under `ip netns exec` that
  // is this one command: the pins, and with them the program, go when it ends.
  spdlog::warn("mounted bpffs on {}; it lasts only as long as this mount namespace (under 'ip "
               "netns exec', only this command): see docs/operations.md",
               parent);
}

Fd lock_dir(const std::string &dir, Lock lock) {
  Fd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT)
      throw Error("zd is not attached in this network namespace (no state at " + dir +
                  "): run zdctl attach");
    throw_errno("opening state dir " + dir);
  }
  if (flock(fd.get(), lock == Lock::shared ? LOCK_SH : LOCK_EX) != 0) {
    if (errno == EINTR)
      throw Error("interrupted while waiting for the lock on " + dir + "; nothing changed");
    throw_errno("locking " + dir);
  }
  return fd;
}

// After waiting for the lock, make sure dir was not removed (detach) or
// replaced (detach + attach) while we waited: the lock must be on the live one.
void check_same_dir(const Fd &locked, const std::string &dir) {
  struct stat held {
  }, now{};
  if (fstat(locked.get(), &held) != 0 || stat(dir.c_str(), &now) != 0 ||
      held.st_ino != now.st_ino || held.st_dev != now.st_dev)
    throw Error("zd state at " + dir + " was detached while this command waited for it");
}

uint64_t this_netns_inode() {
  struct stat st {};
  if (stat("/proc/self/ns/net", &st) != 0)
    throw_errno("reading /proc/self/ns/net");
  return st.st_ino;
}

enum class DetachedLink { refuse, allow };

// A state describes the namespace its link is attached to; using it from
// another namespace would register sockets the program cannot deliver to.
// Returns false for a link detached behind zdctl's back (only with allow:
// detach must still be able to clean such a state up).
bool check_netns(const std::string &dir, DetachedLink detached = DetachedLink::refuse) {
  std::string path = dir + "/" + kLinkPin;
  Fd link(bpf_obj_get(path.c_str()));
  if (!link)
    throw_errno("opening " + path);
  bpf_link_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(link.get(), &info, &len) != 0)
    throw_errno("reading link info of " + path);
  if (info.type != BPF_LINK_TYPE_NETNS)
    throw Error(dir + " is not a zd state (its link is not a netns link)");
  if (info.netns.netns_ino == 0 && detached == DetachedLink::allow)
    return false;
  if (info.netns.netns_ino == 0)
    throw Error("the zd link at " + dir +
                " was detached behind zdctl's back; run zdctl detach, "
                "then zdctl attach");
  if (info.netns.netns_ino != this_netns_inode())
    throw Error("zd state at " + dir + " belongs to another network namespace; run zdctl " +
                "inside that namespace, or give this one its own --state");
  return true;
}

// Checks the config map: magic (is it ours?) and layout version.
void check_config(const Maps &maps, const std::string &dir) {
  zd_config config = maps.config();
  if (config.magic != ZD_STATE_MAGIC)
    throw Error(dir + " is not a zd state (bad magic); refusing to touch it");
  if (config.layout_version != ZD_LAYOUT_VERSION)
    throw Error("zd state at " + dir + " has layout version " +
                std::to_string(config.layout_version) + " but this zdctl speaks version " +
                std::to_string(ZD_LAYOUT_VERSION) +
                ": detach it with the zdctl that attached it, then attach again "
                "(established connections survive)");
}

Maps open_maps(const std::string &dir) {
  if (!std::filesystem::exists(dir + "/" + kMapNames[0].pin))
    throw Error(dir + " is not a zd state (no config pin); refusing to touch it");
  Maps maps = Maps::from_pins(dir);
  check_config(maps, dir);
  return maps;
}

void remove_pins(const std::string &dir) {
  for (const auto &name : kMapNames)
    unlink((dir + "/" + name.pin).c_str());
  unlink((dir + "/" + kProgramPin).c_str());
  unlink((dir + "/" + kLinkPin).c_str());
  rmdir(dir.c_str());
}

void pin_all(zd_bpf *skel, bpf_link *link, const std::string &dir) {
  if (mkdir(dir.c_str(), 0700) != 0)
    throw_errno("creating " + dir);
  auto pin = [&](int rc, const std::string &what) {
    if (rc != 0)
      throw_errno("pinning " + what + " in " + dir, -rc);
  };
  for (const auto &name : kMapNames) {
    bpf_map *map = bpf_object__find_map_by_name(skel->obj, name.object);
    pin(bpf_map__pin(map, (dir + "/" + name.pin).c_str()), name.pin);
  }
  pin(bpf_program__pin(skel->progs.zd_dispatch, (dir + "/" + kProgramPin).c_str()), "program");
  pin(bpf_link__pin(link, (dir + "/" + kLinkPin).c_str()), "link");
}

} // namespace

bool State::attach(const std::string &dir) {
  const std::string parent = parent_of(dir);
  ensure_bpffs(parent);
  Fd parent_lock = lock_dir(parent, Lock::exclusive);

  if (std::filesystem::exists(dir)) {
    Fd lock = lock_dir(dir, Lock::shared);
    Maps maps = open_maps(dir);
    check_netns(dir);
    return false;
  }

  Skeleton skel(zd_bpf__open());
  if (!skel)
    throw_errno("opening the embedded BPF object");
  if (int err = zd_bpf__load(skel.get()); err != 0)
    throw_errno("loading the BPF program (see zdctl -v attach for the verifier log)", -err);

  spdlog::debug("loaded the embedded sk_lookup program (layout {})", ZD_LAYOUT_VERSION);
  Maps maps = Maps::from_object(skel->obj);
  zd_config config{};
  config.magic = ZD_STATE_MAGIC;
  config.layout_version = ZD_LAYOUT_VERSION;
  config.next_domain_id = 1;
  config.next_workspace_id = 1;
  maps.set_config(config);

  Fd netns(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!netns)
    throw_errno("opening /proc/self/ns/net");
  Link link(bpf_program__attach_netns(skel->progs.zd_dispatch, netns.get()));
  if (!link)
    throw_errno("attaching sk_lookup to this network namespace");

  // Pin under a temporary name, then rename: other zdctl processes see either
  // no state or a whole one. If anything fails, the unpinned link goes away
  // with this process and the program is detached again.
  // bpffs refuses names with a dot, so the temporary name has none.
  const std::string tmp = parent + "/zd-attaching-" + std::to_string(getpid());
  remove_pins(tmp); // a leftover from a crashed attach with the same pid
  try {
    pin_all(skel.get(), link.get(), tmp);
    spdlog::debug("attached to netns inode {}; pinned under {}", this_netns_inode(), tmp);
    if (rename(tmp.c_str(), dir.c_str()) != 0)
      throw_errno("renaming " + tmp + " to " + dir);
  } catch (...) {
    remove_pins(tmp);
    throw;
  }
  return true;
}

bool State::detach(const std::string &dir) {
  const std::string parent = parent_of(dir);
  if (!on_bpffs(parent))
    return false;
  Fd parent_lock = lock_dir(parent, Lock::exclusive);
  struct stat st {};
  if (lstat(dir.c_str(), &st) != 0 && errno == ENOENT)
    return false;
  Fd held = lock_dir(dir, Lock::exclusive);
  check_same_dir(held, dir);
  Maps maps = open_maps(dir);
  if (check_netns(dir, DetachedLink::allow)) {
    std::string link_path = dir + "/" + kLinkPin;
    Fd link(bpf_obj_get(link_path.c_str()));
    if (!link || bpf_link_detach(link.get()) != 0)
      throw_errno("detaching " + link_path);
  }
  remove_pins(dir);
  return true;
}

State State::open(const std::string &dir, Lock lock) {
  Fd held = lock_dir(dir, lock);
  check_same_dir(held, dir);
  Maps maps = open_maps(dir);
  check_netns(dir);
  spdlog::debug("opened {} ({} lock)", dir, lock == Lock::shared ? "shared" : "exclusive");
  return State(dir, std::move(held), std::move(maps));
}

namespace {

bpf_prog_info program_info(int fd, const std::string &what) {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0)
    throw_errno("reading program info of " + what);
  return info;
}

} // namespace

bool State::upgrade(bool force) {
  const std::string link_path = dir_ + "/" + kLinkPin;
  const std::string program_path = dir_ + "/" + kProgramPin;
  Fd link(bpf_obj_get(link_path.c_str()));
  Fd old_program(bpf_obj_get(program_path.c_str()));
  if (!link || !old_program)
    throw_errno("opening the pinned link and program in " + dir_);

  // Load the embedded program against the pinned maps, not fresh ones.
  Skeleton skel(zd_bpf__open());
  if (!skel)
    throw_errno("opening the embedded BPF object");
  for (size_t i = 0; i < kMapCount; ++i) {
    bpf_map *map = bpf_object__find_map_by_name(skel->obj, kMapNames[i].object);
    if (int err = bpf_map__reuse_fd(map, maps_.fd(static_cast<MapId>(i))); err != 0)
      throw_errno(std::string("reusing pinned map ") + kMapNames[i].pin, -err);
  }
  if (int err = zd_bpf__load(skel.get()); err != 0)
    throw_errno("loading the BPF program (see zdctl -v upgrade for the verifier log)", -err);

  const int new_program = bpf_program__fd(skel->progs.zd_dispatch);
  bpf_prog_info running = program_info(old_program.get(), program_path);
  bpf_prog_info embedded = program_info(new_program, "the embedded program");
  if (!force && std::memcmp(running.tag, embedded.tag, sizeof(running.tag)) == 0)
    return false;

  // Swap the program under the link; fails if someone swapped it meanwhile.
  LIBBPF_OPTS(bpf_link_update_opts, opts, .flags = BPF_F_REPLACE,
              .old_prog_fd = static_cast<uint32_t>(old_program.get()));
  if (bpf_link_update(link.get(), new_program, &opts) != 0)
    throw_errno("replacing the program of " + link_path);
  spdlog::debug("link now runs program id {} (was {})", embedded.id, running.id);

  // Re-pin the program that now runs; rename replaces the old pin at once.
  const std::string fresh = dir_ + "/program-upgrading";
  unlink(fresh.c_str());
  if (int err = bpf_program__pin(skel->progs.zd_dispatch, fresh.c_str()); err != 0)
    throw_errno("pinning the new program", -err);
  if (rename(fresh.c_str(), program_path.c_str()) != 0) {
    int err = errno;
    unlink(fresh.c_str());
    throw_errno("renaming " + fresh + " to " + program_path, err);
  }
  return true;
}

} // namespace zd
