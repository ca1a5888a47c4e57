#include "error.hpp"

namespace zd {

void throw_errno(const std::string &what, int err) {
  std::string message = what + ": " + std::strerror(err);
  if (err == EPERM || err == EACCES)
    message += " (zdctl needs root, or CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN and CAP_SYS_PTRACE)";
  throw Error(message);
}

} // namespace zd
