#include "process.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

extern char **environ;

namespace zdtest {

void fail(const std::string &what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

namespace {

std::pair<Fd, Fd> make_pipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    fail("pipe2");
  return {Fd(fds[0]), Fd(fds[1])};
}

std::vector<char *> c_argv(const std::vector<std::string> &argv) {
  std::vector<char *> out;
  for (const auto &arg : argv)
    out.push_back(const_cast<char *>(arg.c_str()));
  out.push_back(nullptr);
  return out;
}

} // namespace

Child::Child(Child &&other) noexcept
    : pid_(std::exchange(other.pid_, -1)), out_(std::move(other.out_)),
      err_(std::move(other.err_)) {}

Child &Child::operator=(Child &&other) noexcept {
  if (this != &other) {
    kill();
    pid_ = std::exchange(other.pid_, -1);
    out_ = std::move(other.out_);
    err_ = std::move(other.err_);
  }
  return *this;
}

void Child::kill() {
  if (pid_ <= 0)
    return;
  ::kill(pid_, SIGKILL);
  while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

int Child::wait(std::chrono::milliseconds timeout) {
  // A pidfd becomes readable when the process exits: wait on it, bounded.
  Fd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid_, 0)));
  if (!pidfd)
    fail("pidfd_open");
  pollfd p{pidfd.get(), POLLIN, 0};
  int n;
  while ((n = poll(&p, 1, static_cast<int>(timeout.count()))) < 0 && errno == EINTR) {
  }
  if (n == 0)
    return -1;
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0)
    if (errno != EINTR)
      fail("waitpid");
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

Child spawn(const std::vector<std::string> &argv, const SpawnOptions &options) {
  auto [out_r, out_w] = make_pipe();
  auto [err_r, err_w] = make_pipe();
  // Copies above every target number so no dup2 overwrites a later source.
  std::vector<Fd> sources;
  for (const auto &[from, to] : options.inherit) {
    (void)to;
    int copy = fcntl(from, F_DUPFD_CLOEXEC, 200);
    if (copy < 0)
      fail("dup of inherited fd");
    sources.emplace_back(copy);
  }
  auto args = c_argv(argv);
  pid_t pid = -1;
  if (options.uid) {
    // posix_spawn cannot change credentials; fork and only call
    // async-signal-safe functions before exec.
    const uid_t uid = *options.uid;
    const gid_t gid = options.gid.value_or(static_cast<gid_t>(uid));
    const std::vector<gid_t> &groups = options.groups;
    pid = fork();
    if (pid < 0)
      fail("fork");
    if (pid == 0) {
      dup2(out_w.get(), 1);
      dup2(err_w.get(), 2);
      for (size_t i = 0; i < sources.size(); ++i)
        dup2(sources[i].get(), options.inherit[i].second);
      if (setgroups(groups.size(), groups.data()) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
        _exit(125);
      execv(args[0], args.data());
      _exit(127);
    }
  } else {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out_w.get(), 1);
    posix_spawn_file_actions_adddup2(&actions, err_w.get(), 2);
    for (size_t i = 0; i < sources.size(); ++i)
      posix_spawn_file_actions_adddup2(&actions, sources[i].get(), options.inherit[i].second);
    int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      errno = rc;
      fail("posix_spawn " + argv[0]);
    }
  }
  return Child(pid, std::move(out_r), std::move(err_r));
}

Result run(const std::vector<std::string> &argv, const SpawnOptions &options,
           std::chrono::milliseconds timeout) {
  Child child = spawn(argv, options);
  Result result;
  auto deadline = Clock::now() + timeout;
  bool out_open = true, err_open = true;
  char buf[4096];
  while ((out_open || err_open) && remaining_ms(deadline) > 0) {
    pollfd fds[2] = {{out_open ? child.out_fd() : -1, POLLIN, 0},
                     {err_open ? child.err_fd() : -1, POLLIN, 0}};
    int n = poll(fds, 2, remaining_ms(deadline));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      fail("poll");
    for (int i = 0; i < 2; ++i) {
      if (!fds[i].revents)
        continue;
      ssize_t got = read(fds[i].fd, buf, sizeof(buf));
      if (got > 0)
        (i == 0 ? result.out : result.err).append(buf, static_cast<size_t>(got));
      else
        (i == 0 ? out_open : err_open) = false;
    }
  }
  if (out_open || err_open) {
    result.err += "[test harness: timed out]";
    child.kill();
    return result;
  }
  result.code = child.wait(std::chrono::milliseconds(remaining_ms(deadline) + 1000));
  return result;
}

} // namespace zdtest
