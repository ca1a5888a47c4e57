#include "access.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <optional>
#include <vector>

#include "error.hpp"
#include "fd.hpp"

namespace zd::access {

namespace {

struct stat lstat_of(const std::string &path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0)
    throw_errno("reading the mode of " + path);
  return st;
}

// The same, or nothing for an entry gone since the directory was listed: a
// pin being renamed into place (NAME-pinning -> NAME) by another thread or
// process of this state, which the next listing sees under its new name.
std::optional<struct stat> lstat_if_there(const std::string &path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0)
    return st;
  if (errno == ENOENT)
    return std::nullopt;
  throw_errno("reading the mode of " + path);
}

mode_t mode_bits(const struct stat &st) {
  return st.st_mode & 07777;
}

void change_mode(const std::string &path, mode_t mode) {
  if (chmod(path.c_str(), mode) != 0)
    throw_errno("setting the mode of " + path);
}

void change_group(const std::string &path, gid_t gid) {
  if (lchown(path.c_str(), static_cast<uid_t>(-1), gid) != 0)
    throw_errno("setting the group of " + path);
}

std::vector<std::string> entries_of(const std::string &dir) {
  std::vector<std::string> out;
  Fd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd)
    throw_errno("opening " + dir);
  DIR *d = fdopendir(fd.release());
  if (!d)
    throw_errno("listing " + dir);
  while (dirent *e = readdir(d))
    if (std::string name = e->d_name; name != "." && name != "..")
      out.push_back(std::move(name));
  closedir(d);
  return out;
}

} // namespace

gid_t group_named(const std::string &name) {
  std::vector<char> buf(16384);
  group entry{}, *found = nullptr;
  const int err = getgrnam_r(name.c_str(), &entry, buf.data(), buf.size(), &found);
  if (err != 0)
    throw_errno("looking up group '" + name + "'", err);
  if (!found)
    throw Error(Errc::not_found, "no group named '" + name + "' on this host");
  return found->gr_gid;
}

std::string group_name(gid_t gid) {
  std::vector<char> buf(16384);
  group entry{}, *found = nullptr;
  if (getgrgid_r(gid, &entry, buf.data(), buf.size(), &found) == 0 && found)
    return found->gr_name;
  return std::to_string(gid);
}

Access of_dir(const std::string &dir) {
  const struct stat st = lstat_of(dir);
  if (st.st_mode & S_IRGRP)
    return {st.st_gid};
  return {};
}

bool set_pin(const std::string &pin, const Access &access) {
  const std::optional<struct stat> there = lstat_if_there(pin);
  if (!there)
    return false;
  const struct stat st = *there;
  if (!S_ISREG(st.st_mode))
    return false; // check_pins refuses these; never follow or change them
  const mode_t target = access.group ? kGroupPin : kOwnerPin;
  const bool regroup = access.group && st.st_gid != *access.group;
  if (mode_bits(st) == target && !regroup)
    return false;
  // What both allow first (all a new group is allowed is nothing yet).
  const mode_t narrowed = mode_bits(st) & target & (regroup ? 0700 : 07777);
  if (narrowed != mode_bits(st))
    change_mode(pin, narrowed);
  if (regroup)
    change_group(pin, *access.group);
  if (narrowed != target)
    change_mode(pin, target);
  return true;
}

bool apply(const std::string &dir, const Access &access) {
  const struct stat st = lstat_of(dir);
  const mode_t target = access.group ? kGroupDir : kOwnerDir;
  const bool regroup = access.group && st.st_gid != *access.group;
  bool changed = false;
  const mode_t closed = mode_bits(st) & target & (regroup ? 0700 : 07777);
  if (closed != mode_bits(st)) {
    change_mode(dir, closed);
    changed = true;
  }
  for (const auto &name : entries_of(dir))
    changed |= set_pin(dir + "/" + name, access);
  if (regroup) {
    change_group(dir, *access.group);
    changed = true;
  }
  if (closed != target) {
    change_mode(dir, target);
    changed = true;
  }
  return changed;
}

void check_dir(int fd, const std::string &dir) {
  struct stat st {};
  struct statfs fs {};
  if (fstat(fd, &st) != 0 || fstatfs(fd, &fs) != 0)
    throw_errno("reading " + dir);
  if (!S_ISDIR(st.st_mode))
    throw Error(Errc::refused, "state dir " + dir + " is not a directory; refusing to touch it");
  if (fs.f_type != BPF_FS_MAGIC)
    throw Error(Errc::refused, "state dir " + dir + " is not on bpffs; refusing to touch it");
  if (st.st_uid != 0 && st.st_uid != geteuid())
    throw Error(Errc::refused, "state dir " + dir + " is owned by uid " +
                                   std::to_string(st.st_uid) +
                                   ", neither root nor this user; refusing to trust it");
}

void check_pins(const std::string &dir) {
  const uid_t owner = lstat_of(dir).st_uid;
  for (const auto &name : entries_of(dir)) {
    const std::string path = dir + "/" + name;
    const std::optional<struct stat> there = lstat_if_there(path);
    if (!there)
      continue;
    const struct stat st = *there;
    if (S_ISLNK(st.st_mode))
      throw Error(Errc::refused, path + " is a symlink, not a pin of this state; refusing to " +
                                     "follow it (remove it by hand)");
    if (!S_ISREG(st.st_mode))
      throw Error(Errc::refused, path + " is not a pin, so " + dir +
                                     " is not a zd state (one holds pins only); refusing to " +
                                     "touch it");
    if (st.st_uid != owner)
      throw Error(Errc::refused, path + " is owned by uid " + std::to_string(st.st_uid) +
                                     ", not by the state's owner; refusing to trust it");
  }
}

} // namespace zd::access
