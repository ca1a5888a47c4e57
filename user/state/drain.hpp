// Draining: waiting until a workspace that no longer receives a domain's new
// connections holds none of its old ones, and closing what is left when
// told to. What `zdctl drain` runs; the counting itself is the core's
// (ControlPlane::held). Nothing here writes the state: each look takes the
// shared lock for that look only, so a switch or a status is never kept
// waiting by a drain.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "control.hpp"
#include "state.hpp"

namespace zd {

struct DrainRequest {
  std::string domain;
  std::string workspace;                // "" for the domain's previous workspace
  std::chrono::milliseconds timeout{0}; // 0: look once
  // At the timeout, close what is left (SOCK_DESTROY: each peer gets a
  // reset). The last resort: the app loses those requests mid-flight.
  bool close_at_timeout = false;
};

struct Drained {
  std::string domain, workspace;
  size_t left = 0;   // connections still held at the end
  size_t closed = 0; // closed at the timeout
  std::chrono::milliseconds waited{0};
  bool drained() const { return left == 0; }
};

// Looks every poll until the workspace holds no connection of the domain or
// the timeout passes; progress(held, time left) is called with each look
// that found some. Throws Error as ControlPlane::held does.
using DrainProgress = std::function<void(const Held &, std::chrono::milliseconds left)>;
Drained drain(const State &state, const DrainRequest &request, const DrainProgress &progress = {},
              std::chrono::milliseconds poll = std::chrono::milliseconds(200));

} // namespace zd
