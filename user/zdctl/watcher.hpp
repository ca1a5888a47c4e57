// What zdctl serve does on its own, in a thread beside the HTTP server: it
// runs each workspace's health check (zdctl workspace set --check) and
// writes the verdict where the data plane reads it, and it carries out each
// canary's standing orders (zdctl canary --promote-after,
// --no-revert-on-failure). Every write goes through the control plane under
// the state's lock, like a command's, so a killed serve leaves the state as
// it was after its last write; a new one takes over from there.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace zd {
class State;
struct Watch;
} // namespace zd

namespace zdctl {

class Watcher {
public:
  explicit Watcher(std::string state);
  ~Watcher(); // stops and joins
  Watcher(const Watcher &) = delete;
  Watcher &operator=(const Watcher &) = delete;

private:
  using Clock = std::chrono::steady_clock;

  // A workspace's probes so far, by name.
  struct Streak {
    uint32_t id = 0;
    uint32_t good = 0, bad = 0; // in a row
    Clock::time_point next{};
  };

  // What one pass over the checks did: a verdict written, and when the next
  // probe falls due.
  struct Pass {
    bool wrote = false;
    Clock::time_point next_due;
  };

  void run();
  Pass check_workspaces(const zd::State &state, const zd::Watch &watch, Clock::time_point now);
  void follow_canaries(const zd::State &state, const zd::Watch &watch);
  bool sleep_for(std::chrono::milliseconds pause); // false once stopping

  const std::string state_;
  std::map<std::string, Streak> streaks_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

} // namespace zdctl
