#include "drain.hpp"

#include <algorithm>
#include <thread>

namespace zd {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

Held look(const State &state, const DrainRequest &request) {
  return state.with(Lock::shared, [&](ControlPlane &control) {
    return control.held(request.domain, request.workspace);
  });
}

} // namespace

Drained drain(const State &state, const DrainRequest &request, const DrainProgress &progress,
              milliseconds poll) {
  const auto start = Clock::now();
  const auto deadline = start + request.timeout;
  Held held = look(state, request);
  for (;;) {
    const auto now = Clock::now();
    if (held.connections.empty() || now >= deadline)
      break;
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - now);
    if (progress)
      progress(held, left);
    std::this_thread::sleep_for(std::min(poll, left));
    held = look(state, request);
  }
  Drained out{held.domain, held.workspace, held.connections.size(), 0, {}};
  if (out.left && request.close_at_timeout) {
    // Shared lock: closing sockets writes nothing of the state.
    out.closed = state.with(Lock::shared, [&](ControlPlane &control) {
      return control.close_held(request.domain, request.workspace);
    });
    out.left = look(state, request).connections.size();
  }
  out.waited = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  return out;
}

} // namespace zd
