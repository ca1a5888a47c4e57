// Child processes for every test layer: spawned with their output on
// pipes, always reaped, and bounded in time (a test never hangs on one).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fd.hpp"

namespace zdtest {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Throws std::runtime_error("<what>: <strerror(errno)>").
[[noreturn]] void fail(const std::string &what);
// Milliseconds until deadline, 0 once it has passed (for poll).
int remaining_ms(Clock::time_point deadline);

// The one owned file descriptor type, zd's own.
using zd::Fd;

struct SpawnOptions {
  std::vector<std::pair<int, int>> inherit; // (fd in the test, fd number in the child)
  std::optional<uid_t> uid;                 // drop to this uid/gid before exec
  std::optional<gid_t> gid;                 // with uid: this gid instead of the uid's number
  std::vector<gid_t> groups;                // with uid: these supplementary groups
};

// A child process. Destruction kills (SIGKILL) and reaps it.
class Child {
public:
  Child() = default;
  Child(pid_t pid, Fd out, Fd err) : pid_(pid), out_(std::move(out)), err_(std::move(err)) {}
  Child(Child &&other) noexcept;
  Child &operator=(Child &&other) noexcept;
  ~Child() { kill(); }

  pid_t pid() const { return pid_; }
  int out_fd() const { return out_.get(); }
  int err_fd() const { return err_.get(); }
  // Sends SIGKILL and waits for it; returns once its fds are all closed.
  void kill();
  // Waits for exit; returns the exit code (128+signal if killed), -1 on timeout.
  int wait(std::chrono::milliseconds timeout);

private:
  pid_t pid_ = -1;
  Fd out_, err_;
};

// Starts argv[0] with stdout/stderr on pipes.
Child spawn(const std::vector<std::string> &argv, const SpawnOptions &options = {});

struct Result {
  int code = -1;
  std::string out, err;
};

// Runs a command to completion (killed and failed after timeout).
Result run(const std::vector<std::string> &argv, const SpawnOptions &options = {},
           std::chrono::milliseconds timeout = 10s);

} // namespace zdtest
