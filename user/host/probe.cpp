#include "probe.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cctype>
#include <cstring>

#include "fd.hpp"
#include "http.hpp"
#include "parse.hpp"
#include "sockets.hpp"

namespace zd {

namespace {

sockaddr_storage to_sockaddr(const Endpoint &target, socklen_t &length) {
  sockaddr_storage storage{};
  if (target.family == AF_INET) {
    auto *sin = reinterpret_cast<sockaddr_in *>(&storage);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(target.port);
    std::memcpy(&sin->sin_addr, target.addr.data(), 4);
    length = sizeof(sockaddr_in);
  } else {
    auto *sin6 = reinterpret_cast<sockaddr_in6 *>(&storage);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(target.port);
    std::memcpy(&sin6->sin6_addr, target.addr.data(), 16);
    length = sizeof(sockaddr_in6);
  }
  return storage;
}

// A TCP handshake with the workspace's listener, bounded in time.
ProbeAnswer connect_to(const Endpoint &target, uint32_t timeout_ms) {
  Fd fd(socket(target.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd)
    return {false, std::string("no socket: ") + std::strerror(errno)};
  socklen_t length = 0;
  const sockaddr_storage address = to_sockaddr(target, length);
  int err = 0;
  if (connect(fd.get(), reinterpret_cast<const sockaddr *>(&address), length) != 0) {
    err = errno;
    if (err == EINPROGRESS) {
      pollfd waiting{fd.get(), POLLOUT, 0};
      int ready;
      do
        ready = poll(&waiting, 1, static_cast<int>(timeout_ms));
      while (ready < 0 && errno == EINTR);
      if (ready == 0)
        return {false, "no connection within " + format_duration(std::chrono::milliseconds(timeout_ms))};
      socklen_t size = sizeof(err);
      getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &size);
    }
  }
  if (err != 0) {
    std::string said = std::strerror(err); // "Connection refused" ends up mid-sentence
    said[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(said[0])));
    return {false, said};
  }
  return {true, "connected"};
}

} // namespace

ProbeAnswer probe(const Endpoint &target, const Check &check) {
  ProbeAnswer connected = connect_to(target, check.timeout_ms);
  if (!connected.ok || check.kind != Check::Kind::http)
    return connected;
  const HttpAnswer http =
      http_get(target, check.path, std::chrono::milliseconds(check.timeout_ms));
  if (http.status == 0)
    return {false, http.error};
  return {http.status >= 200 && http.status < 400, "answered " + std::to_string(http.status)};
}

} // namespace zd
