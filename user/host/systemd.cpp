#include "systemd.hpp"

#include <dlfcn.h>
#include <netinet/in.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

#include <spdlog/spdlog.h>

#include "error.hpp"
#include "sockets.hpp"

namespace zd {

namespace {

struct Passed {
  int fd;
  std::string name;
};

// libsystemd is opened only here: linked into zdctl, it and the six
// libraries it needs would be loaded by every zdctl, and a switch would
// start about half a millisecond slower.
using ListenFdsWithNames = decltype(&sd_listen_fds_with_names);

ListenFdsWithNames load_listen_fds() {
  void *library = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
  if (!library)
    throw Error(Errc::not_found, std::string("socket activation needs libsystemd: ") + dlerror());
  void *symbol = dlsym(library, "sd_listen_fds_with_names");
  if (!symbol)
    throw Error(Errc::not_found, "libsystemd.so.0 lacks sd_listen_fds_with_names");
  return reinterpret_cast<ListenFdsWithNames>(symbol);
}

// What systemd passed: fds from SD_LISTEN_FDS_START, each with its
// FileDescriptorName= ("unknown" when LISTEN_FDNAMES is unset).
std::vector<Passed> passed_sockets() {
  const char *listen_fds = std::getenv("LISTEN_FDS");
  const char *listen_pid = std::getenv("LISTEN_PID");
  const std::string meant_for = listen_pid ? listen_pid : "";
  char **names = nullptr;
  // unset_environment: zdctl starts nothing, but nothing should inherit them.
  const int n = load_listen_fds()(1, &names);
  auto free_names = [](char **list) {
    for (char **name = list; name && *name; ++name)
      std::free(*name);
    std::free(list);
  };
  std::unique_ptr<char *, decltype(free_names)> owned(names, free_names);
  if (n < 0)
    throw_errno("reading the sockets systemd passed (LISTEN_FDS)", -n);
  if (n == 0 && listen_fds && meant_for != std::to_string(getpid()))
    throw Error(Errc::invalid,
                "systemd passed its sockets to " +
                    (!meant_for.empty() ? "pid " + meant_for
                                        : std::string("no pid (LISTEN_PID is unset)")) +
                    ", not to zdctl (pid " + std::to_string(getpid()) +
                    "): zdctl must be the process systemd starts (ExecStart=zdctl ..., or exec)");
  if (n == 0)
    throw Error(Errc::not_found,
                "systemd passed no sockets (LISTEN_FDS is unset): run it from a service with "
                "Sockets=APP.socket, the socket unit whose ListenStream= the app serves on");
  std::vector<Passed> passed;
  for (int i = 0; i < n; ++i)
    passed.push_back({SD_LISTEN_FDS_START + i, names && names[i] ? names[i] : "unknown"});
  return passed;
}

std::string names_of(const std::vector<Passed> &passed) {
  std::string out;
  for (const auto &p : passed)
    out += (out.empty() ? "" : ", ") + p.name;
  return out;
}

// A ListenStream= socket of a unit with Accept=no: bound, listening, TCP.
TakenSocket listening_tcp(const Passed &passed) {
  const std::string what = "socket '" + passed.name + "' (fd " + std::to_string(passed.fd) +
                           ") passed by systemd is not a listening TCP socket";
  try {
    TakenSocket taken = socket_from_fd(passed.fd);
    if (taken.info.bound.protocol == IPPROTO_TCP && taken.info.listening)
      return taken;
  } catch (const Error &e) {
    if (e.kind() != Errc::invalid)
      throw;
    throw Error(Errc::invalid, what + " (" + e.what() + ")");
  }
  throw Error(Errc::invalid, what + " (ListenStream= with Accept=no passes one)");
}

} // namespace

std::vector<TakenSocket> sockets_from_systemd(const std::vector<std::string> &names) {
  const std::vector<Passed> passed = passed_sockets();
  for (const auto &name : names)
    if (std::none_of(passed.begin(), passed.end(), [&](const Passed &p) { return p.name == name; }))
      throw Error(Errc::not_found, "systemd passed no socket named '" + name +
                                       "' (FileDescriptorName=); it passed: " + names_of(passed));
  std::vector<TakenSocket> sockets;
  for (const auto &p : passed) {
    if (!names.empty() && std::find(names.begin(), names.end(), p.name) == names.end())
      continue;
    sockets.push_back(listening_tcp(p));
    spdlog::debug("systemd passed fd {} ('{}'), cookie {}", p.fd, p.name,
                  sockets.back().info.cookie);
  }
  return sockets;
}

} // namespace zd
