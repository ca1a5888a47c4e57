#include "client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace zdtest {

namespace {

void set_timeouts(int fd, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = (timeout.count() % 1000) * 1000;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

} // namespace

bool parse_address(const std::string &host, int port, sockaddr_storage &ss, socklen_t &len) {
  ss = {};
  auto *in = reinterpret_cast<sockaddr_in *>(&ss);
  auto *in6 = reinterpret_cast<sockaddr_in6 *>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof(*in);
    return true;
  }
  if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof(*in6);
    return true;
  }
  return false;
}

ConnectError connect_only(const std::string &host, int port, Conn &conn, std::string *why,
                          std::chrono::milliseconds timeout) {
  auto error = [&](ConnectError e, const std::string &what) {
    if (why)
      *why = what + ": " + std::strerror(errno);
    return e;
  };
  sockaddr_storage ss;
  socklen_t len;
  if (!parse_address(host, port, ss, len)) {
    errno = EINVAL;
    return error(ConnectError::other, "address " + host);
  }
  conn.fd.reset(socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!conn.fd)
    return error(ConnectError::other, "socket");
  int fd = conn.fd.get();
  if (connect(fd, reinterpret_cast<sockaddr *>(&ss), len) != 0) {
    if (errno != EINPROGRESS)
      return error(errno == ECONNREFUSED ? ConnectError::refused : ConnectError::other, "connect");
    pollfd p{fd, POLLOUT, 0};
    int n;
    while ((n = poll(&p, 1, static_cast<int>(timeout.count()))) < 0 && errno == EINTR) {
    }
    if (n == 0) {
      errno = ETIMEDOUT;
      return error(ConnectError::timeout, "connect");
    }
    int soerr = 0;
    socklen_t elen = sizeof(soerr);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &elen);
    if (n < 0 || soerr != 0) {
      errno = soerr ? soerr : errno;
      return error(errno == ECONNREFUSED ? ConnectError::refused : ConnectError::other, "connect");
    }
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  set_timeouts(fd, timeout);
  return ConnectError::none;
}

ConnectError read_greeting(Conn &conn, std::string *why) {
  auto error = [&](ConnectError e, const std::string &what) {
    if (why)
      *why = what + ": " + std::strerror(errno);
    return e;
  };
  const int fd = conn.fd.get();
  conn.greeting.clear();
  char c;
  for (;;) {
    ssize_t got = read(fd, &c, 1);
    if (got < 0 && errno == EINTR)
      continue; // a socket timeout makes reads interruptible even with SA_RESTART
    if (got == 1 && c == '\n')
      break;
    if (got == 1) {
      conn.greeting += c;
      continue;
    }
    if (got == 0)
      errno = ECONNRESET;
    return error(errno == EAGAIN ? ConnectError::timeout : ConnectError::other, "reading greeting");
  }
  return ConnectError::none;
}

ConnectError connect_and_greet(const std::string &host, int port, Conn &conn, std::string *why,
                               std::chrono::milliseconds timeout) {
  if (ConnectError e = connect_only(host, port, conn, why, timeout); e != ConnectError::none)
    return e;
  return read_greeting(conn, why);
}

} // namespace zdtest
