#include "listen.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.hpp"
#include "fd.hpp"
#include "parse.hpp"

namespace zdctl {

ListenAddress parse_listen(const std::string &spec, const std::string &option) {
  const std::string usage = option +
                            " takes ADDRESS:PORT (e.g. 127.0.0.1:9477 or [::1]:9477), "
                            "not '" +
                            zd::printable(spec) + "'";
  const size_t colon = spec.rfind(':');
  if (colon == std::string::npos || colon == 0)
    throw zd::Error(zd::Errc::invalid, usage);
  ListenAddress out;
  out.address = spec.substr(0, colon);
  const bool bracketed = out.address.front() == '[' && out.address.back() == ']';
  if (bracketed)
    out.address = out.address.substr(1, out.address.size() - 2);
  in_addr v4{};
  in6_addr v6{};
  if (!bracketed && inet_pton(AF_INET, out.address.c_str(), &v4) == 1)
    out.loopback = (ntohl(v4.s_addr) >> 24) == 127;
  else if (bracketed && inet_pton(AF_INET6, out.address.c_str(), &v6) == 1)
    out.loopback = IN6_IS_ADDR_LOOPBACK(&v6);
  else
    throw zd::Error(zd::Errc::invalid, usage);
  const std::string port = spec.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) > 65535)
    throw zd::Error(zd::Errc::invalid, usage);
  out.port = static_cast<uint16_t>(std::stoul(port));
  return out;
}

std::string read_token(const std::string &path) {
  zd::Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd)
    zd::throw_errno("cannot read --token-file " + path);
  struct stat st {};
  fstat(fd.get(), &st);
  if (!S_ISREG(st.st_mode))
    throw zd::Error(zd::Errc::invalid, "--token-file " + path + " is not a regular file");
  if (st.st_mode & 077)
    throw zd::Error(zd::Errc::refused,
                    "--token-file " + path + " can be read by others than its owner: chmod 600 it");
  std::string token(4097, '\0'); // one more than a token may have: a longer file is refused
  const ssize_t n = read(fd.get(), token.data(), token.size());
  if (n < 0)
    zd::throw_errno("cannot read --token-file " + path);
  token.resize(static_cast<size_t>(n));
  if (token.size() > 4096)
    token.clear(); // refused below, rather than cut
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' '))
    token.pop_back();
  if (token.size() < 16 || token.find_first_of(" \t\r\n") != std::string::npos)
    throw zd::Error(zd::Errc::invalid, "--token-file " + path +
                                           " must hold one token of 16 to 4096 characters, "
                                           "without spaces");
  return token;
}

std::string new_token() {
  unsigned char bytes[32];
  if (getrandom(bytes, sizeof(bytes), 0) != static_cast<ssize_t>(sizeof(bytes)))
    zd::throw_errno("cannot draw a random token");
  static const char digits[] = "0123456789abcdef";
  std::string token;
  for (unsigned char b : bytes)
    token += {digits[b >> 4], digits[b & 15]};
  return token;
}

} // namespace zdctl
