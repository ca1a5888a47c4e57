// One error scheme for all of zd. Code inside throws zd::Error: a kind that
// callers branch on, and a message fit for a person that names what was
// wrong but no front end's words (no CLI flags, no HTTP). zdctl prints it as
// one line and an exit code; the HTTP API will map the kind to a status.
#pragma once

#include <cerrno>
#include <stdexcept>
#include <string>
#include <string_view>

namespace zd {

enum class Errc {
  invalid,      // malformed input: a name, an address, a pid
  not_found,    // no such domain, workspace, process or socket
  exists,       // the name or the binding is taken
  refused,      // well-formed, but would break a promise (no live socket, still active)
  busy,         // interrupted or contended: nothing changed, try again
  privilege,    // the kernel said EPERM/EACCES
  not_attached, // no usable state in this network namespace
  kernel,       // any other failure of a system call
  timeout,      // waited, and what was waited for did not come (drain: connections left)
  unavailable,  // the cluster's store (etcd) could not be reached: nothing changed there
};

// "invalid", "not found", ...: for logs, JSON bodies and tests.
std::string_view errc_name(Errc kind);

// Whether the caller may insist: a refusal that a forced retry would pass,
// or a failed health check that a retry without the check would pass. The
// front end says how (zdctl: --force, --no-check).
enum class Override { none, force, skip_check };

class Error : public std::runtime_error {
public:
  Error(Errc kind, const std::string &message, Override override = Override::none)
      : std::runtime_error(message), kind_(kind), override_(override) {}
  Errc kind() const { return kind_; }
  bool forceable() const { return override_ == Override::force; }
  Override override_by() const { return override_; }

private:
  Errc kind_;
  Override override_;
};

// Throws Error("<what>: <strerror(err)>") of kind privilege for EPERM and
// EACCES, busy for EINTR, kernel otherwise.
[[noreturn]] void throw_errno(const std::string &what, int err = errno);

} // namespace zd
