// A zd state: one bpffs directory per network namespace holding the pinned
// link, program, data-plane maps (read by BPF) and record maps (the control
// plane's). There is no daemon: every zdctl, and `zdctl serve`, is a client
// of these pins.
//
// Locking is per operation. State holds no lock; open() takes the
// directory's flock (shared to read, exclusive to write), re-validates the
// state under it (same directory, zd's, this layout, this namespace) and
// returns a Session that releases the lock when it goes. A long-running
// process therefore blocks a zdctl for one operation at most.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "control.hpp"
#include "dataplane.hpp"
#include "fd.hpp"
#include "records.hpp"
#include "xdp.hpp"

namespace zd {

inline constexpr const char *kDefaultStateDir = "/sys/fs/bpf/zd";

enum class Lock { shared, exclusive };

// One locked operation on an attached state.
class Session {
public:
  Store &store() { return parts_->store; }
  Dataplane &plane() { return parts_->plane; }
  DataMaps &maps() { return parts_->maps; }
  ControlPlane control() { return ControlPlane(parts_->store, parts_->plane); }

private:
  friend class State;
  struct Parts {
    Parts(DataMaps m, BpfStore s, const std::string &dir)
        : maps(std::move(m)), store(std::move(s)), plane(maps, dir) {}
    DataMaps maps;
    BpfStore store;
    BpfDataplane plane;
  };
  Session(Fd lock, std::unique_ptr<Parts> parts)
      : lock_(std::move(lock)), parts_(std::move(parts)) {}

  Fd lock_; // the flocked state directory
  std::unique_ptr<Parts> parts_;
};

// What upgrade moved forward: nothing, the modes of the pins only (set by
// hand or by an older zdctl), the program, the records only (control-plane
// maps added by a newer zdctl), or the whole layout.
enum class Upgraded { no, access, program, records, layout };

// An interface to steer at with XDP (attach --xdp), and how.
struct XdpRequest {
  std::string interface;
  XdpMode mode = XdpMode::native;
};

struct Attached {
  bool created = false;               // the state was made by this call
  std::vector<std::string> xdp_added; // interfaces newly steered at
  bool access_changed = false;        // a group was given read access
};

class State {
public:
  // dir is normalised ("/sys/fs/bpf/zd/" is "/sys/fs/bpf/zd").
  explicit State(const std::string &dir);
  const std::string &dir() const { return dir_; }

  // Loads the embedded programs, attaches sk_lookup to this process's
  // network namespace and XDP to the interfaces asked for, and pins
  // everything under dir (atomically: pinned into a temporary directory,
  // then renamed). On an attached state it only adds the interfaces not yet
  // steered at; nothing changes when there are none.
  //
  // The state is root's alone (0700/0600), or with group also readable by
  // that group (0750/0640; see plane/access.hpp). On an attached state a
  // group given replaces the one it has; none given keeps it.
  Attached attach(const std::vector<XdpRequest> &xdp = {},
                  std::optional<gid_t> group = std::nullopt) const;

  // Detaches the program and removes the pins, of any layout version.
  // Established connections and the workspaces' listening sockets are not
  // touched. Returns false, changing nothing, when there is no state at dir.
  bool detach() const;

  // Locks the state for one operation; see the top of this file. If a zdctl
  // was killed during a change, the change is first finished or undone
  // (ControlPlane::recover), whatever lock was asked for.
  Session open(Lock lock) const;

  // Replaces the attached program with the one embedded in this zdctl, in
  // one bpf_link_update: maps, routes, sockets and counters stay, and no new
  // connection finds the namespace without a program. A state of layout 1
  // is moved to this layout on the way (its records adopted, not copied).
  // Returns no, changing nothing, when the running program already is this
  // one (same tag) and force is not set.
  Upgraded upgrade(bool force) const;

  // Runs fn(ControlPlane&) as one operation under the lock.
  template <typename Fn> auto with(Lock lock, Fn &&fn) const {
    Session session = open(lock);
    ControlPlane control = session.control();
    return fn(control);
  }

private:
  Session open_locked(Lock lock) const;

  std::string dir_;
  std::string parent_;
};

} // namespace zd
