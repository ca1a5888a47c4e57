#include "sockets.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "error.hpp"
#include "parse.hpp"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

namespace zd {

namespace {

template <typename T> bool get_option(int fd, int option, T &value) {
  socklen_t len = sizeof(value);
  return getsockopt(fd, SOL_SOCKET, option, &value, &len) == 0;
}

bool is_any(const Endpoint &ep) {
  for (unsigned i = 0; i < ep.address_bits() / 8; ++i)
    if (ep.addr[i])
      return false;
  return true;
}

Endpoint wildcard_of(const Endpoint &ep) {
  Endpoint any = ep;
  any.addr = {};
  return any;
}

// Called through syscall(2): Debian 12's <sys/pidfd.h> lacks C linkage for C++.
int pidfd_open(pid_t pid) {
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}
int pidfd_getfd(int pidfd, int target) {
  return static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, target, 0));
}

// The Tgid line of /proc/PID/status: the process a thread id belongs to;
// 0 when there is no such task.
int thread_group_of(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("Tgid:", 0) == 0)
      return std::atoi(line.c_str() + 5);
  return 0;
}

struct DirCloser {
  void operator()(DIR *dir) const { closedir(dir); }
};

// The fds of process pid that are sockets (each reads back as
// "socket:[INODE]"); nullopt when there is no such process.
std::optional<std::vector<int>> socket_fds_of(int pid) {
  const std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
  std::unique_ptr<DIR, DirCloser> dir(opendir(fd_dir.c_str()));
  if (!dir) {
    if (errno == ENOENT)
      return std::nullopt;
    throw_errno("listing " + fd_dir);
  }
  std::vector<int> fds;
  while (dirent *entry = readdir(dir.get())) {
    char target[64] = {};
    const std::string path = fd_dir + "/" + entry->d_name;
    const ssize_t n = readlink(path.c_str(), target, sizeof(target) - 1);
    if (n > 0 && std::strncmp(target, "socket:[", 8) == 0)
      fds.push_back(std::atoi(entry->d_name));
  }
  return fds;
}

// The socket with this cookie among process pid's fds, duplicated; none if
// the process holds no such socket (or is gone, or may not be read).
Fd cookie_in(int pid, uint64_t cookie) {
  Fd pidfd(pidfd_open(pid));
  std::optional<std::vector<int>> fds;
  try {
    fds = socket_fds_of(pid);
  } catch (const Error &) {
    return {};
  }
  if (!pidfd || !fds)
    return {};
  for (int target : *fds) {
    Fd copy(pidfd_getfd(pidfd.get(), target));
    uint64_t found = 0;
    if (copy && get_option(copy.get(), SO_COOKIE, found) && found == cookie)
      return copy;
  }
  return {};
}

} // namespace

SocketInfo inspect_socket(int fd) {
  SocketInfo info;
  int domain = 0, protocol = 0, listening = 0;
  if (!get_option(fd, SO_DOMAIN, domain)) {
    if (errno == ENOTSOCK)
      throw Error(Errc::invalid, "fd " + std::to_string(fd) + " is not a socket");
    throw_errno("inspecting fd " + std::to_string(fd));
  }
  if (domain != AF_INET && domain != AF_INET6)
    throw Error(Errc::invalid, "fd " + std::to_string(fd) + " is not an IPv4 or IPv6 socket");
  if (!get_option(fd, SO_PROTOCOL, protocol) || !get_option(fd, SO_ACCEPTCONN, listening) ||
      !get_option(fd, SO_COOKIE, info.cookie) ||
      !get_option(fd, SO_NETNS_COOKIE, info.netns_cookie))
    throw_errno("inspecting socket fd " + std::to_string(fd));

  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) != 0)
    throw_errno("getsockname on fd " + std::to_string(fd));
  info.bound.family = static_cast<uint8_t>(domain);
  info.bound.protocol = static_cast<uint8_t>(protocol);
  if (domain == AF_INET) {
    auto *in = reinterpret_cast<sockaddr_in *>(&addr);
    std::memcpy(info.bound.addr.data(), &in->sin_addr, 4);
    info.bound.port = ntohs(in->sin_port);
    info.bound.prefix_len = 32;
  } else {
    auto *in6 = reinterpret_cast<sockaddr_in6 *>(&addr);
    std::memcpy(info.bound.addr.data(), &in6->sin6_addr, 16);
    info.bound.port = ntohs(in6->sin6_port);
    info.bound.prefix_len = 128;
  }
  info.listening = listening != 0;
  int v6only = 1;
  if (domain == AF_INET6) {
    socklen_t len = sizeof(v6only);
    if (getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len) != 0)
      throw_errno("inspecting socket fd " + std::to_string(fd));
  }
  info.v6only = v6only != 0;
  return info;
}

uint64_t current_netns_cookie() {
  Fd probe(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  uint64_t cookie = 0;
  if (!probe || !get_option(probe.get(), SO_NETNS_COOKIE, cookie))
    throw_errno("reading this network namespace's cookie");
  return cookie;
}

TakenSocket socket_from_pid(int pid, const Endpoint &want) {
  const std::string who = "pid " + std::to_string(pid);
  Fd pidfd(pidfd_open(pid));
  if (!pidfd) {
    const int err = errno;
    // pidfd_open refuses a thread that leads no process (ENOENT, EINVAL on
    // older kernels): name the process it belongs to.
    if (int tgid = thread_group_of(pid); tgid > 0 && tgid != pid)
      throw Error(Errc::invalid, who + " is a thread of process " + std::to_string(tgid) +
                                     ": give the process id");
    if (err == ESRCH || err == ENOENT)
      throw Error(Errc::not_found, "no process with pid " + std::to_string(pid));
    throw_errno("opening " + who, err);
  }

  const std::optional<std::vector<int>> fds = socket_fds_of(pid);
  if (!fds)
    throw Error(Errc::not_found, "no process with pid " + std::to_string(pid));

  // Best first: bound to want itself, to the family's wildcard, dual-stack [::].
  enum Rank { kExact, kWildcard, kDualStack, kRanks };
  static constexpr const char *kHow[kRanks] = {"listening on", "listening on the wildcard for",
                                               "dual-stack [::], serving"};
  TakenSocket found[kRanks];
  bool bound_not_listening = false;
  for (int target_fd : *fds) {
    Fd copy(pidfd_getfd(pidfd.get(), target_fd));
    if (!copy) {
      if (errno == EBADF)
        continue; // closed since we listed it
      if (errno == ESRCH)
        throw Error(Errc::not_found, who + " exited while its sockets were being read");
      throw_errno("taking fd " + std::to_string(target_fd) + " of " + who);
    }
    SocketInfo info;
    try {
      info = inspect_socket(copy.get());
    } catch (const Error &) {
      continue; // unix or netlink socket: not a candidate
    }
    if (info.bound.protocol != want.protocol || info.bound.port != want.port)
      continue;
    Rank rank;
    if (info.bound.family == want.family && info.bound == want)
      rank = kExact;
    else if (info.bound.family == want.family && is_any(info.bound))
      rank = kWildcard;
    else if (want.family == AF_INET && info.bound.family == AF_INET6 && is_any(info.bound) &&
             !info.v6only)
      rank = kDualStack;
    else
      continue;
    if (want.protocol == IPPROTO_TCP && !info.listening) {
      bound_not_listening = true;
      continue;
    }
    spdlog::debug("{}: fd {} is {} {} (cookie {})", who, target_fd, kHow[rank],
                  format_endpoint(want), info.cookie);
    found[rank] = {std::move(copy), info, want.family};
  }
  for (auto &socket : found)
    if (socket.fd)
      return std::move(socket);
  if (bound_not_listening)
    throw Error(Errc::invalid, who + " has a socket bound to " + format_endpoint(want) +
                                   " but it is not listening");
  std::string also = is_any(want) ? "" : " (nor to " + format_endpoint(wildcard_of(want)) + ")";
  throw Error(Errc::not_found, who + " has no socket bound to " + format_endpoint(want) + also);
}

Fd socket_with_cookie(uint64_t cookie, const std::vector<int> &likely) {
  for (int pid : likely)
    if (Fd found = cookie_in(pid, cookie))
      return found;
  std::unique_ptr<DIR, DirCloser> proc(opendir("/proc"));
  if (!proc)
    throw_errno("listing /proc");
  while (dirent *entry = readdir(proc.get())) {
    const int pid = std::atoi(entry->d_name);
    if (pid > 0)
      if (Fd found = cookie_in(pid, cookie))
        return found;
  }
  return {};
}

TakenSocket socket_from_fd(int fd) {
  Fd copy(fcntl(fd, F_DUPFD_CLOEXEC, 3));
  if (!copy) {
    if (errno == EBADF)
      throw Error(Errc::invalid, "fd " + std::to_string(fd) + " is not open in zdctl");
    throw_errno("duplicating fd " + std::to_string(fd));
  }
  SocketInfo info = inspect_socket(fd); // errors name the fd the user gave, not our copy
  return {std::move(copy), info, 0};
}

} // namespace zd
