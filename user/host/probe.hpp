// One attempt of a health check (core/check.hpp) at a workspace's socket
// address, from the network namespace the thread is in.
#pragma once

#include "check.hpp"

namespace zd {

// A connect within check.timeout_ms; for an HTTP check, then a GET of
// check.path that answers 2xx or 3xx within as long again. Never throws for
// what the workspace does (that is the answer); throws Error only when zd
// itself cannot probe (no HTTP module).
ProbeAnswer probe(const Endpoint &target, const Check &check);

} // namespace zd
