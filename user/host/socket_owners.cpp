#include "socket_owners.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "error.hpp"

namespace zd {

namespace {

struct DirCloser {
  void operator()(DIR *dir) const { closedir(dir); }
};
using Dir = std::unique_ptr<DIR, DirCloser>;

bool all_digits(const char *name) {
  return *name &&
         std::all_of(name, name + std::strlen(name), [](char c) { return c >= '0' && c <= '9'; });
}

// "socket:[12345]" -> 12345; anything else (files, pipes, anon inodes) -> 0.
uint64_t socket_inode(std::string_view link) {
  constexpr std::string_view kPrefix = "socket:[";
  if (link.size() < kPrefix.size() + 2 || link.substr(0, kPrefix.size()) != kPrefix ||
      link.back() != ']')
    return 0;
  uint64_t inode = 0;
  const char *first = link.data() + kPrefix.size(), *last = link.data() + link.size() - 1;
  auto [end, ec] = std::from_chars(first, last, inode);
  return ec == std::errc() && end == last ? inode : 0;
}

std::vector<uint64_t> sockets_of(int proc, const char *pid) {
  std::vector<uint64_t> inodes;
  const std::string fd_dir = std::string(pid) + "/fd";
  const int fd = openat(proc, fd_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return inodes; // gone, or a kernel thread
  Dir dir(fdopendir(fd));
  if (!dir) {
    close(fd);
    return inodes;
  }
  char link[64];
  while (const dirent *entry = readdir(dir.get())) {
    const ssize_t n = readlinkat(dirfd(dir.get()), entry->d_name, link, sizeof(link));
    if (n > 0)
      if (const uint64_t inode = socket_inode({link, static_cast<size_t>(n)}))
        inodes.push_back(inode);
  }
  std::sort(inodes.begin(), inodes.end());
  inodes.erase(std::unique(inodes.begin(), inodes.end()), inodes.end());
  return inodes;
}

// The parent's pid, from /proc/PID/stat ("PID (COMM) STATE PPID ..."; COMM
// may hold spaces and parentheses, so read after the last ')'). 0 if gone.
uint32_t parent_of(int proc, const char *pid) {
  const std::string path = std::string(pid) + "/stat";
  const int fd = openat(proc, path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  char buf[512];
  const ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0)
    return 0;
  const std::string_view stat(buf, static_cast<size_t>(n));
  const size_t paren = stat.rfind(')');
  if (paren == std::string_view::npos || paren + 4 >= stat.size())
    return 0;
  const std::string_view rest = stat.substr(paren + 4); // past ") S "
  uint32_t parent = 0;
  std::from_chars(rest.data(), rest.data() + rest.size(), parent);
  return parent;
}

} // namespace

std::vector<ProcessSockets> socket_inodes_by_process() {
  Dir proc(opendir("/proc"));
  if (!proc)
    throw_errno("reading /proc");
  std::vector<ProcessSockets> out;
  while (const dirent *entry = readdir(proc.get())) {
    if (!all_digits(entry->d_name))
      continue;
    ProcessSockets process;
    std::from_chars(entry->d_name, entry->d_name + std::strlen(entry->d_name), process.pid);
    process.parent = parent_of(dirfd(proc.get()), entry->d_name);
    if (process.parent == 0 && process.pid != 1)
      continue; // gone meanwhile (or a kernel thread's kthreadd, which holds no socket)
    process.inodes = sockets_of(dirfd(proc.get()), entry->d_name);
    out.push_back(std::move(process));
  }
  return out;
}

} // namespace zd
