// One error scheme for all of zd: code inside throws zd::Error with a
// message fit for the user; zdctl's main() prints it as one line.
#pragma once

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace zd {

class Error : public std::runtime_error {
public:
  explicit Error(const std::string &message) : std::runtime_error(message) {}
};

// Throws Error("<what>: <strerror(err)>"), with a hint where errno alone
// would leave the user guessing.
[[noreturn]] void throw_errno(const std::string &what, int err = errno);

} // namespace zd
