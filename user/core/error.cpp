#include "error.hpp"

#include <cstring>

namespace zd {

std::string_view errc_name(Errc kind) {
  switch (kind) {
  case Errc::invalid:
    return "invalid";
  case Errc::not_found:
    return "not found";
  case Errc::exists:
    return "exists";
  case Errc::refused:
    return "refused";
  case Errc::busy:
    return "busy";
  case Errc::privilege:
    return "privilege";
  case Errc::not_attached:
    return "not attached";
  case Errc::kernel:
    return "kernel";
  case Errc::timeout:
    return "timeout";
  case Errc::unavailable:
    return "unavailable";
  }
  return "unknown";
}

void throw_errno(const std::string &what, int err) {
  const Errc kind = err == EPERM || err == EACCES ? Errc::privilege
                    : err == EINTR                ? Errc::busy
                                                  : Errc::kernel;
  throw Error(kind, what + ": " + std::strerror(err));
}

} // namespace zd
