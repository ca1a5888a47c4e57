// A zd state: the pinned link, program and maps under one bpffs directory,
// one per network namespace. State::open() hands out the maps only while it
// holds the directory's flock, so two zdctl processes never interleave.
#pragma once

#include <string>

#include "fd.hpp"
#include "maps.hpp"

namespace zd {

inline constexpr const char *kDefaultStateDir = "/sys/fs/bpf/zd";

enum class Lock { shared, exclusive };

class State {
public:
  // Loads the embedded program, attaches it to this process's network
  // namespace and pins everything under dir (atomically: pinned into a
  // temporary directory, then renamed). Returns false, changing nothing,
  // when dir already holds a compatible state.
  static bool attach(const std::string &dir);

  // Detaches the program and removes the pins. Established connections and
  // the workspaces' listening sockets are not touched. Returns false, changing
  // nothing, when there is no state at dir.
  static bool detach(const std::string &dir);

  // Opens an attached state under a lock; checks that it is a zd state, of
  // this layout version, attached to this network namespace.
  static State open(const std::string &dir, Lock lock);

  // Replaces the attached program with the one embedded in this zdctl, in
  // one bpf_link_update: maps, routes, sockets and counters stay, and no new
  // connection finds the namespace without a program. Same layout version
  // only (open() refuses another). Returns false, changing nothing, when the
  // running program already is this one (same tag) and force is not set.
  bool upgrade(bool force);

  Maps &maps() { return maps_; }
  const Maps &maps() const { return maps_; }
  const std::string &dir() const { return dir_; }

private:
  State(std::string dir, Fd lock, Maps maps)
      : dir_(std::move(dir)), lock_(std::move(lock)), maps_(std::move(maps)) {}

  std::string dir_;
  Fd lock_; // the flocked state directory; released on destruction
  Maps maps_;
};

} // namespace zd
