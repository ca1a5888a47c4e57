// Who may read a zd state, and the checks that the state is what it seems.
//
// A state is root's alone (directory 0700, pins 0600) or also readable by one
// group (0750, 0640, that group), for `zdctl status` and `history` run by a
// member. Nothing else records the choice: the directory's own mode and group
// are the record, and every pin follows the directory. The directory is the
// gate: a group reaches no pin until the directory lets it in, so access is
// granted by opening the directory last and taken away by closing it first.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace zd::access {

inline constexpr mode_t kOwnerDir = 0700, kGroupDir = 0750;
inline constexpr mode_t kOwnerPin = 0600, kGroupPin = 0640;

struct Access {
  std::optional<gid_t> group; // none: the owner alone
  bool operator==(const Access &) const = default;
};

// The gid of a group name; not_found when there is none.
gid_t group_named(const std::string &name);
std::string group_name(gid_t gid);

// What dir grants now: its group when the group may list it, else the owner alone.
Access of_dir(const std::string &dir);

// Sets pin's mode and group (narrowing before any widening: no instant is
// wider than both the old and the new access). Returns whether it changed.
bool set_pin(const std::string &pin, const Access &access);

// Gives dir and every pin in it this access: the directory closed first,
// the pins set, the directory opened last. Killed half-way, nothing is wider
// than before or after, and running it again finishes. Returns whether
// anything changed.
bool apply(const std::string &dir, const Access &access);

// Refuses (one line naming the path) a state directory that is a symlink,
// not a directory, not on bpffs or owned by someone other than root or this
// user; fd is the directory, opened with O_NOFOLLOW.
void check_dir(int fd, const std::string &dir);
// Refuses an entry of dir that is not a pin of the directory's owner: a
// symlink, a directory, anything not on bpffs' regular files.
void check_pins(const std::string &dir);

} // namespace zd::access
