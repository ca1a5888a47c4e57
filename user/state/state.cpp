#include "state.hpp"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <net/if.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <spdlog/spdlog.h>
#include <tuple>

#include "access.hpp"
#include "container.hpp"
#include "error.hpp"
#include "migrate.hpp"
#include "pins.hpp"
#include "records.hpp"
#include "sk_lookup.hpp"
#include "sockets.hpp"
#include "xdp_state.hpp"

namespace zd {

namespace {

constexpr const char *kLinkPin = "link";
constexpr const char *kProgramPin = "program";
constexpr const char *kProgramUpgradingPin = "program-upgrading";
// Layout 1 is the last layout `upgrade` moves forward (see BpfStore::adopt_layout1).
constexpr uint32_t kOldestUpgradableLayout = 1;

using pins::exists;

// A symlink as the state directory is refused, not followed: whoever can
// point it elsewhere would choose which state (or which bpffs objects) a
// root zdctl changes. Symlinks higher up the path are the host's own layout.
void refuse_symlink(const std::string &dir) {
  std::string path = dir;
  while (path.size() > 1 && path.back() == '/')
    path.pop_back(); // "a/b/" would follow a symlink at a/b
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode))
    throw Error(Errc::refused, "state dir " + path +
                                   " is a symlink; refusing to follow it (name the directory "
                                   "itself)");
}

// One directory, one spelling, one lock: "a/b/" and "a/./b" name a/b (two
// spellings would make attach wait for itself).
std::string normalise(const std::string &dir) {
  std::error_code ec;
  auto path = std::filesystem::weakly_canonical(std::filesystem::path(dir), ec);
  if (ec)
    path = std::filesystem::path(dir).lexically_normal();
  if (!path.has_filename() && path.has_parent_path() && path != path.root_path())
    path = path.parent_path(); // "a/b/" -> "a/b"
  return path.string();
}

std::string parent_of(const std::string &dir) {
  auto parent = std::filesystem::path(dir).parent_path();
  if (parent.empty() || parent == dir)
    throw Error(Errc::invalid, "state dir " + dir + " has no parent directory");
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
    throw Error(Errc::invalid, parent +
                                   " is not a bpffs mount; mount one first (mount -t bpf bpf " +
                                   parent + ") or choose another state directory");
  if (mount("bpf", parent.c_str(), "bpf", 0, "mode=0700") != 0)
    throw_errno("mounting bpffs on " + parent);
  // A bpffs lives as long as its mount namespace. Under `ip netns exec` that
  // is this one command: the pins, and with them the program, go when it ends.
  spdlog::warn("mounted bpffs on {}; it lasts only as long as this mount namespace (under 'ip "
               "netns exec', only this command): see docs/operations.md",
               parent);
}

// A user who may only read (a member of the state's group) is told so before
// any lock is taken, so that such a user never holds a writer up.
bool writable(const std::string &dir) {
  return faccessat(AT_FDCWD, dir.c_str(), W_OK, AT_EACCESS) == 0 || errno != EACCES;
}

void require_writable(const std::string &dir) {
  if (!writable(dir))
    throw Error(Errc::privilege, "this user may not change the zd state at " + dir);
}

enum class DirKind { parent, state };

// Opens and flocks dir; a state directory is first checked to be what it
// seems (access::check_dir), on the very inode that is locked.
Fd lock_dir(const std::string &dir, Lock lock, DirKind kind = DirKind::state) {
  Fd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT)
      throw Error(Errc::not_attached, "zd is not attached in this network namespace (no state at " +
                                          dir + "): run zdctl attach");
    if (errno == ELOOP)
      refuse_symlink(dir);
    throw_errno("opening state dir " + dir);
  }
  if (kind == DirKind::state)
    access::check_dir(fd.get(), dir);
  if (flock(fd.get(), lock == Lock::shared ? LOCK_SH : LOCK_EX) != 0) {
    if (errno == EINTR)
      throw Error(Errc::busy,
                  "interrupted while waiting for the lock on " + dir + "; nothing changed");
    throw_errno("locking " + dir);
  }
  return fd;
}

// After waiting for the lock, make sure dir was not removed (detach) or
// replaced (detach + attach) while we waited: the lock must be on the live one.
void check_same_dir(const Fd &locked, const std::string &dir) {
  struct stat held {
  }, now{};
  if (fstat(locked.get(), &held) != 0 || lstat(dir.c_str(), &now) != 0 ||
      held.st_ino != now.st_ino || held.st_dev != now.st_dev)
    throw Error(Errc::not_attached,
                "zd state at " + dir + " was detached while this command waited for it");
}

uint64_t this_netns_inode() {
  struct stat st {};
  if (stat("/proc/self/ns/net", &st) != 0)
    throw_errno("reading /proc/self/ns/net");
  return st.st_ino;
}

bpf_link_info link_info(const Fd &link, const std::string &path) {
  bpf_link_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(link.get(), &info, &len) != 0)
    throw_errno("reading link info of " + path);
  return info;
}

enum class DetachedLink { refuse, allow };

// A state describes the namespace its link is attached to; using it from
// another namespace would register sockets the program cannot deliver to.
// Returns false for a link detached behind zdctl's back (only with allow:
// detach must still be able to clean such a state up).
//
// The kernel opens a pinned link only read-write, and write access to it
// would let a reader detach it: a reader of a group-readable state cannot
// open it, so for it (open_for read) the check is skipped: a reader changes
// nothing, and every change, made by root, checks it.
bool check_netns(const std::string &dir, DetachedLink detached = DetachedLink::refuse,
                 OpenFor open_for = OpenFor::write) {
  const std::string path = dir + "/" + kLinkPin;
  Fd link(bpf_obj_get(path.c_str()));
  if (!link && errno == EACCES && open_for == OpenFor::read) {
    spdlog::debug("{} is not readable by this user: its network namespace is not checked", path);
    return true;
  }
  if (!link)
    throw_errno("opening " + path);
  bpf_link_info info = link_info(link, path);
  if (info.type != BPF_LINK_TYPE_NETNS)
    throw Error(Errc::not_attached, dir + " is not a zd state (its link is not a netns link)");
  if (info.netns.netns_ino == 0 && detached == DetachedLink::allow)
    return false;
  if (info.netns.netns_ino == 0)
    throw Error(Errc::not_attached, "the zd link at " + dir +
                                        " was detached behind zdctl's back; run zdctl detach, "
                                        "then zdctl attach");
  if (info.netns.netns_ino != this_netns_inode())
    throw Error(Errc::refused, "zd state at " + dir +
                                   " belongs to another network namespace; run zdctl inside "
                                   "that namespace, or give this one its own state directory");
  return true;
}

// Checks that the directory holds pins only, none of them a symlink (before
// bpf_obj_get follows one), then opens the data-plane maps and checks the
// config map: magic (is it ours?) and layout version, within [oldest,
// newest]. Only `zdctl upgrade` opens a layout other than this zdctl's.
DataMaps open_data_maps(const std::string &dir, uint32_t oldest = ZD_LAYOUT_VERSION,
                        OpenFor open_for = OpenFor::write, uint32_t newest = ZD_LAYOUT_VERSION) {
  if (!exists(dir + "/" + kDataMaps[0].pin))
    throw Error(Errc::not_attached,
                dir + " is not a zd state (no config pin); refusing to touch it");
  access::check_pins(dir);
  // A state of another layout may lack maps this one added (upgrade makes
  // them): the version is read before any other pin is required.
  DataMaps maps = DataMaps::from_pins(dir, open_for, /*missing_ok=*/true);
  zd_config config = maps.config();
  if (config.magic != ZD_STATE_MAGIC)
    throw Error(Errc::not_attached, dir + " is not a zd state (bad magic); refusing to touch it");
  const std::string versions =
      "zd state at " + dir + " has layout version " + std::to_string(config.layout_version) +
      " but this zdctl speaks version " + std::to_string(ZD_LAYOUT_VERSION);
  if (config.layout_version > newest)
    throw Error(Errc::refused, versions +
                                   ": use the newer zdctl that attached it (or zdctl upgrade, "
                                   "which moves it back if nothing in it needs the newer layout)");
  if (config.layout_version < oldest)
    throw Error(Errc::refused, versions + ": run zdctl upgrade to move it forward in place " +
                                   "(domains, workspaces and connections are kept)");
  if (config.layout_version == ZD_LAYOUT_VERSION)
    for (size_t i = 0; i < kDataMaps.size(); ++i)
      if (!maps[static_cast<DataMap>(i)])
        throw Error(Errc::not_attached, dir + " is not a zd state (no " + kDataMaps[i].pin +
                                            " pin); refusing to touch it");
  return maps;
}

// Every pin in dir, then dir: a state directory holds nothing but zd's pins
// (open_data_maps checked it is one before any caller gets here).
void remove_pins(const std::string &dir) {
  std::error_code ec;
  for (const auto &entry : std::filesystem::directory_iterator(dir, ec))
    unlink(entry.path().c_str());
  rmdir(dir.c_str());
}

constexpr const char *kAttachingPrefix = "zd-attaching-";
constexpr const char *kDetachingPrefix = "zd-detaching-";

// Detaches the link pinned in dir (if it is still attached) and removes
// the pins and dir. The kernel frees the program and maps with their last pin.
void dismantle(const std::string &dir) {
  try {
    container::release_all(dir);
  } catch (const std::exception &e) {
    spdlog::warn("could not undo all of the containers' part in {}: {}", dir, e.what());
  }
  xdp_state::detach_all(dir);
  Fd link(bpf_obj_get((dir + "/" + kLinkPin).c_str()));
  if (link && bpf_link_detach(link.get()) != 0 && errno != ENOLINK && errno != EINVAL)
    spdlog::warn("could not detach the link in {}: {}", dir, std::strerror(errno));
  remove_pins(dir);
}

// What a killed attach (before its rename) or detach (after its rename)
// left beside the state. Called under the parent's exclusive lock, which
// every attach and detach holds while such a directory exists: any found
// here belongs to a process that is gone.
void clean_leftovers(const std::string &parent) {
  std::error_code ec;
  for (const auto &entry : std::filesystem::directory_iterator(parent, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kAttachingPrefix, 0) != 0 && name.rfind(kDetachingPrefix, 0) != 0)
      continue;
    spdlog::info("cleaning up {} (left by a killed zdctl)", entry.path().string());
    dismantle(entry.path().string());
  }
}

// A state inside another one would attach a second program in the same
// namespace and keep the outer one from ever being removed.
void refuse_nested(const std::string &parent) {
  for (auto dir = std::filesystem::path(parent); on_bpffs(dir.string()) && dir.has_parent_path();
       dir = dir.parent_path()) {
    if (exists((dir / kLinkPin).string()) && exists((dir / kDataMaps[0].pin).string()))
      throw Error(Errc::invalid, "state dir " + parent + "/... is inside the zd state at " +
                                     dir.string() + "; choose a directory beside it");
    if (dir == dir.parent_path())
      break;
  }
}

bpf_prog_info program_info(int fd, const std::string &what) {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0)
    throw_errno("reading program info of " + what);
  return info;
}

} // namespace

State::State(const std::string &dir)
    : dir_((refuse_symlink(dir), normalise(dir))), parent_(parent_of(dir_)) {}

namespace {

int ifindex_of(const std::string &interface) {
  const unsigned ifindex = if_nametoindex(interface.c_str());
  if (ifindex == 0)
    throw Error(Errc::not_found,
                "no interface named '" + interface + "' in this network namespace");
  return static_cast<int>(ifindex);
}

// Steers at the interfaces asked for (dir holds the pinned XDP program).
std::vector<std::string> attach_xdp(const std::string &dir, const std::vector<XdpRequest> &xdp) {
  std::vector<std::string> added;
  for (const auto &request : xdp) {
    const int ifindex = ifindex_of(request.interface);
    if (request.mode == XdpMode::generic)
      spdlog::warn("XDP on {} in generic mode: slower than native, for testing only",
                   request.interface);
    if (xdp_state::attach_interface(dir, request.interface, ifindex, request.mode))
      added.push_back(request.interface);
  }
  return added;
}

// Members of the group reach the state only if they may search its parent
// (bpffs is often mounted 0700): worth a word, not a refusal, since the
// parent is the host's to open.
void warn_if_parent_closed(const std::string &parent, const std::string &dir, gid_t group) {
  struct stat st {};
  if (stat(parent.c_str(), &st) != 0 || (st.st_mode & S_IXOTH) ||
      ((st.st_mode & S_IXGRP) && st.st_gid == group))
    return;
  spdlog::warn("group {} cannot reach {}: {} is not searchable by it (e.g. chmod o+x {}, which "
               "lists nothing: see docs/operations.md)",
               access::group_name(group), dir, parent, parent);
}

} // namespace

Attached State::attach(const std::vector<XdpRequest> &xdp, std::optional<gid_t> group) const {
  if (exists(dir_))
    require_writable(dir_);
  else if (!writable(parent_))
    throw Error(Errc::privilege, "this user may not make a zd state in " + parent_);
  for (const auto &request : xdp)
    ifindex_of(request.interface); // refuse a bad name before changing anything
  const std::string name = std::filesystem::path(dir_).filename().string();
  if (name.find('.') != std::string::npos)
    throw Error(Errc::invalid,
                "state dir name '" + name + "': bpffs allows no '.' in names; choose one without");
  ensure_bpffs(parent_);
  refuse_nested(parent_);
  Fd parent_lock = lock_dir(parent_, Lock::exclusive, DirKind::parent);
  clean_leftovers(parent_);

  const access::Access wanted{group};
  if (group)
    warn_if_parent_closed(parent_, dir_, *group);
  if (exists(dir_)) {
    // Without --group the state keeps the access it has; with it, the state
    // gets that group (a change only if it had another or none).
    const bool regroup = group && access::of_dir(dir_) != wanted;
    if (xdp.empty() && !regroup) {
      Fd lock = lock_dir(dir_, Lock::shared);
      open_data_maps(dir_);
      check_netns(dir_);
      return {};
    }
    Session session = open(Lock::exclusive); // validated, and tidied if need be
    Attached attached{false, attach_xdp(dir_, xdp)};
    attached.access_changed = regroup && access::apply(dir_, wanted);
    return attached;
  }

  SkLookupProgram program = SkLookupProgram::load();
  spdlog::debug("loaded the embedded sk_lookup program (layout {})", ZD_LAYOUT_VERSION);
  DataMaps maps = program.maps();
  zd_config config{};
  config.magic = ZD_STATE_MAGIC;
  config.layout_version = ZD_LAYOUT_VERSION;
  maps.set_config(config);
  BpfStore store = BpfStore::create();
  Link link = program.attach_to_this_netns();

  // Pin under a temporary name, then rename: other zdctl processes see either
  // no state or a whole one. If anything fails, the unpinned link goes away
  // with this process and the program is detached again.
  // bpffs refuses names with a dot, so the temporary name has none.
  const std::string tmp = parent_ + "/" + kAttachingPrefix + std::to_string(getpid());
  try {
    if (mkdir(tmp.c_str(), access::kOwnerDir) != 0)
      throw_errno("creating " + tmp);
    access::apply(tmp, wanted); // before any pin: pin_whole gives each the same
    maps.pin_all(tmp);
    store.pin_all(tmp);
    xdp_state::pin_program(maps, tmp);
    program.pin(tmp + "/" + kProgramPin);
    pin_link(link, tmp + "/" + kLinkPin);
    spdlog::debug("attached to netns inode {}; pinned under {}", this_netns_inode(), tmp);
    Attached attached{true, attach_xdp(tmp, xdp)};
    attached.access_changed = group.has_value();
    access::apply(tmp, wanted); // the pins made without pin_whole
    if (rename(tmp.c_str(), dir_.c_str()) != 0)
      throw_errno("renaming " + tmp + " to " + dir_);
    return attached;
  } catch (...) {
    dismantle(tmp);
    throw;
  }
}

bool State::detach() const {
  if (exists(dir_))
    require_writable(dir_);
  if (!on_bpffs(parent_))
    return false;
  Fd parent_lock = lock_dir(parent_, Lock::exclusive, DirKind::parent);
  clean_leftovers(parent_);
  if (!exists(dir_))
    return false;
  Fd held = lock_dir(dir_, Lock::exclusive);
  check_same_dir(held, dir_);
  open_data_maps(dir_, kOldestUpgradableLayout);
  check_netns(dir_, DetachedLink::allow);
  // Off the public path first, in one rename: from here on no zdctl finds a
  // half-removed state, and a killed detach is finished by the next attach,
  // detach, or command that finds no state (clean_leftovers).
  const std::string doomed = parent_ + "/" + kDetachingPrefix + std::to_string(getpid());
  if (rename(dir_.c_str(), doomed.c_str()) != 0)
    throw_errno("renaming " + dir_ + " to " + doomed);
  dismantle(doomed);
  return true;
}

Session State::open_locked(Lock lock) const {
  if (lock == Lock::exclusive)
    require_writable(dir_);
  if (!exists(dir_) && on_bpffs(parent_)) {
    // Maybe a detach was killed after its rename: finish it, so that "not
    // attached" is also true of the kernel.
    Fd parent_lock = lock_dir(parent_, Lock::exclusive, DirKind::parent);
    clean_leftovers(parent_);
  }
  Fd held = lock_dir(dir_, lock);
  check_same_dir(held, dir_);
  // A reader opens every pin read-only: all a group may, all it needs.
  const OpenFor open_for = lock == Lock::shared ? OpenFor::read : OpenFor::write;
  DataMaps maps = open_data_maps(dir_, ZD_LAYOUT_VERSION, open_for);
  check_netns(dir_, DetachedLink::refuse, open_for);
  BpfStore store = BpfStore::open(dir_, open_for);
  spdlog::debug("opened {} ({} lock)", dir_, lock == Lock::shared ? "shared" : "exclusive");
  return Session(std::move(held),
                 std::make_unique<Session::Parts>(std::move(maps), std::move(store), dir_));
}

namespace {

// A zdctl killed between pinning and renaming leaves a pin named for its
// purpose: "...-pinning" (nothing refers to it yet) or an upgrade's
// "...-upgrading" program. One look at the directory finds them.
bool half_made_pins(const std::string &dir) {
  for (const auto &name : pins::names_in(dir))
    if (pins::ends_with(name, kPinningSuffix) || pins::ends_with(name, "-upgrading"))
      return true;
  return false;
}

bool runs(const std::string &link_pin, const std::string &program_pin) {
  Fd link(bpf_obj_get(link_pin.c_str())), program(bpf_obj_get(program_pin.c_str()));
  return link && program && pins::program_of_link(link.get()) == pins::program_id(program.get());
}

void settle_pins(const std::string &dir) {
  for (const auto &name : pins::names_in(dir))
    if (pins::ends_with(name, kPinningSuffix))
      unlink((dir + "/" + name).c_str()); // never renamed: as if never made
  // An upgrade across layouts pins its new maps, then its program, then
  // swaps the program under the link: the maps belong to the program.
  const std::string fresh_program = dir + "/" + kProgramUpgradingPin;
  if (migrate::settle(dir, runs(dir + "/" + kLinkPin, fresh_program)))
    spdlog::warn("settled the maps of an interrupted upgrade");
  for (auto [fresh, final, links] :
       {std::tuple{kProgramUpgradingPin, kProgramPin, std::vector{dir + "/" + kLinkPin}},
        std::tuple{xdp_state::kProgramUpgradingPin, xdp_state::kProgramPin,
                   xdp_state::link_pins(dir)}})
    if (exists(dir + "/" + fresh))
      spdlog::warn("{} an interrupted upgrade (it was killed during its change)",
                   pins::settle_upgrade(dir + "/" + fresh, dir + "/" + final, links) ? "finished"
                                                                                     : "undid");
}

} // namespace

Session State::open(Lock lock) const {
  std::optional<Session> session(open_locked(lock));
  if (!session->control().interrupted() && !half_made_pins(dir_))
    return std::move(*session);
  // A zdctl was killed during a change: deal with it before anything else,
  // under the exclusive lock (a reader drops its shared one to take it).
  if (lock == Lock::shared && !writable(dir_))
    throw Error(Errc::privilege, "a zdctl was killed during a change to the zd state at " + dir_ +
                                     ", and this user may not finish it: any zdctl that may "
                                     "change the state does");
  if (lock == Lock::shared) {
    session.reset();
    session.emplace(open_locked(Lock::exclusive));
  }
  settle_pins(dir_);
  if (auto what = session->control().recover())
    spdlog::warn("{} (it was killed during its change)", *what);
  return std::move(*session);
}

namespace {

// Names a map entry for a refusal to move it: the data maps are keyed by
// domain or workspace id, or by a domain's binding.
migrate::Describe describe_with(const BpfStore &store) {
  return [&store](DataMap map, const void *key) -> std::string {
    uint32_t id = 0;
    std::memcpy(&id, key, sizeof(id));
    const std::string what = std::string("an entry of the ") + kDataMaps[size_t(map)].pin + " map";
    if (map == DataMap::routes || map == DataMap::domain_stats)
      for (const auto &domain : store.domains())
        if (domain.id == id)
          return what + " (domain '" + domain.name + "')";
    if (map == DataMap::workspace_stats || map == DataMap::sockets || map == DataMap::health)
      for (const auto &workspace : store.workspaces())
        if (workspace.id == id)
          return what + " (workspace '" + workspace.name + "')";
    return what;
  };
}

} // namespace

Upgraded State::upgrade(bool force) const {
  require_writable(dir_);
  Fd held = lock_dir(dir_, Lock::exclusive);
  check_same_dir(held, dir_);
  open_data_maps(dir_, kOldestUpgradableLayout, OpenFor::write, UINT32_MAX);
  check_netns(dir_);
  // An upgrade killed during its change is finished or undone first, so
  // that the maps opened below are the ones the link's program uses.
  settle_pins(dir_);
  DataMaps pinned = open_data_maps(dir_, kOldestUpgradableLayout, OpenFor::write, UINT32_MAX);
  zd_config config = pinned.config();
  const bool move_layout = config.layout_version != ZD_LAYOUT_VERSION;
  // Records first: they are the control plane's, read by no program, so
  // moving them forward changes nothing for traffic.
  bool moved_records = false;
  if (config.layout_version == 1) {
    // Layout 1 kept the id cursors where zd_config.reserved is now.
    BpfStore::adopt_layout1(dir_, config.reserved[0], config.reserved[1]);
  } else {
    moved_records = BpfStore::upgrade(dir_);
  }
  BpfStore store = BpfStore::open(dir_); // the records now have this zdctl's shapes
  if (!store.route_index_built()) {      // records of version 5 or before
    std::vector<std::pair<uint32_t, Route>> routes;
    for (const auto &[domain, r] : pinned[DataMap::routes].entries<uint32_t, zd_route>())
      routes.push_back({domain, {r.active, r.previous, r.canary, r.canary_weight}});
    store.rebuild_route_index(routes);
  }
  // Modes last set by hand or by an older zdctl are brought back to what the
  // directory grants (access.hpp); the pins made below get it from pin_whole.
  const bool tightened = access::apply(dir_, access::of_dir(dir_));

  const std::string link_path = dir_ + "/" + kLinkPin;
  const std::string program_path = dir_ + "/" + kProgramPin;
  const std::string fresh_program_path = dir_ + "/" + kProgramUpgradingPin;
  Fd link(bpf_obj_get(link_path.c_str()));
  if (!link)
    throw_errno("opening the pinned link in " + dir_);
  // The program the link runs now, whatever the program pin says.
  Fd running_fd(bpf_prog_get_fd_by_id(link_info(link, link_path).prog_id));
  if (!running_fd)
    throw_errno("opening the program that " + link_path + " runs");

  // Maps of another shape are copied into new ones (refused, with nothing
  // changed, if an entry does not fit); the embedded program is loaded
  // against that set.
  std::vector<int> holders; // where a registered socket is looked for first
  for (const auto &workspace : store.workspaces())
    if (workspace.pid != 0)
      holders.push_back(static_cast<int>(workspace.pid));
  migrate::Moved moved = migrate::to_shapes(
      std::move(pinned), SkLookupProgram::map_shapes(), ZD_LAYOUT_VERSION, describe_with(store),
      [&holders](uint64_t cookie) { return socket_with_cookie(cookie, holders); });
  SkLookupProgram program = SkLookupProgram::load_reusing(moved.maps);
  bpf_prog_info running = program_info(running_fd.get(), program_path);
  bpf_prog_info embedded = program_info(program.fd(), "the embedded program");
  if (!move_layout && !force && moved.fresh.empty() &&
      std::memcmp(running.tag, embedded.tag, sizeof(running.tag)) == 0 &&
      xdp_state::current(moved.maps, dir_) && container::deliver_current(dir_, moved.maps))
    return moved_records ? Upgraded::records : tightened ? Upgraded::access : Upgraded::no;

  // Everything new is pinned beside what it replaces, the program last;
  // killed before the swap below, the next upgrade drops them (settle_pins).
  migrate::pin_fresh(moved, dir_);
  pin_whole(program.fd(), fresh_program_path);
  // The one change traffic sees: the link runs the new program, against the
  // new maps, from this call on. Fails if someone swapped it meanwhile.
  LIBBPF_OPTS(bpf_link_update_opts, opts, .flags = BPF_F_REPLACE,
              .old_prog_fd = static_cast<uint32_t>(running_fd.get()));
  if (bpf_link_update(link.get(), program.fd(), &opts) != 0)
    throw_errno("replacing the program of " + link_path);
  spdlog::debug("link now runs program id {} (was {})", embedded.id, running.id);
  // Killed from here on, the next upgrade finishes these renames.
  migrate::settle(dir_, true);
  if (rename(fresh_program_path.c_str(), program_path.c_str()) != 0)
    throw_errno("renaming " + fresh_program_path + " to " + program_path);
  xdp_state::upgrade(moved.maps, dir_);
  container::upgrade_deliver(dir_, moved.maps);
  if (!move_layout)
    return Upgraded::program;
  spdlog::debug("layout {} -> {}", config.layout_version, ZD_LAYOUT_VERSION);
  config.layout_version = ZD_LAYOUT_VERSION;
  std::memset(config.reserved, 0, sizeof(config.reserved));
  moved.maps.set_config(config); // last: until here the state reads as its old layout
  return Upgraded::layout;
}

} // namespace zd
