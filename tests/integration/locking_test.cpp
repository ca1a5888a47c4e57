// Every mutating zdctl holds the state's flock exclusively, readers share
// it. A command waiting for the lock can still be stopped, and then it has
// changed nothing.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <thread>

#include "harness.hpp"

namespace zdtest {
namespace {

class Locking : public NetnsTest {
protected:
  // Holds the state dir's lock as another zdctl would.
  Fd hold_lock(int how) {
    Fd dir(open(state_dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    EXPECT_TRUE(dir) << std::strerror(errno);
    EXPECT_EQ(flock(dir.get(), how), 0) << std::strerror(errno);
    return dir;
  }

  // True once the kernel lists pid as blocked on an flock (a "->" line of
  // /proc/locks: "N: -> FLOCK ADVISORY WRITE PID ..."). Polls a condition,
  // bounded; never a blind sleep.
  static bool waits_for_a_lock(pid_t pid, std::chrono::milliseconds bound = 5s) {
    const std::string mark = " " + std::to_string(pid) + " ";
    const auto deadline = std::chrono::steady_clock::now() + bound;
    while (std::chrono::steady_clock::now() < deadline) {
      std::ifstream locks("/proc/locks");
      for (std::string line; std::getline(locks, line);)
        if (line.find("-> FLOCK") != std::string::npos && line.find(mark) != std::string::npos)
          return true;
      std::this_thread::sleep_for(1ms);
    }
    return false;
  }

  static std::string drain(int fd) {
    std::string out;
    char buf[512];
    for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;)
      out.append(buf, static_cast<size_t>(n));
    return out;
  }

  std::vector<std::string> zdctl_argv(std::vector<std::string> args) {
    args.insert(args.begin(), {kZdctl, "--state", state_dir()});
    return args;
  }
};

TEST_F(Locking, SignalWhileWaitingForTheLockChangesNothing) {
  attach_with_domain();
  const std::string before = status_json();
  Fd held = hold_lock(LOCK_SH); // a reader is busy: writers must wait

  Child writer = spawn(zdctl_argv({"domain", "add", "late", "--listen", "tcp://10.99.0.7:80"}));
  ASSERT_TRUE(waits_for_a_lock(writer.pid())) << "zdctl did not wait for the lock";
  ASSERT_EQ(::kill(writer.pid(), SIGTERM), 0);
  EXPECT_EQ(writer.wait(5s), 128 + SIGTERM) << "zdctl should die of the signal it got";
  const std::string err = drain(writer.err_fd());
  EXPECT_EQ(err.rfind("zdctl: error: interrupted while waiting for the lock", 0), 0u) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;

  held.reset();
  EXPECT_EQ(status_json(), before);
}

TEST_F(Locking, ReadersWaitForAWriterThenSeeItsWork) {
  attach_with_domain();
  Fd held = hold_lock(LOCK_EX); // a writer is half-way through

  Child reader = spawn(zdctl_argv({"--json", "status"}));
  ASSERT_TRUE(waits_for_a_lock(reader.pid())) << "status did not wait for the writer";
  held.reset();
  EXPECT_EQ(reader.wait(5s), 0);
  EXPECT_NE(drain(reader.out_fd()).find("\"shop\""), std::string::npos);
}

} // namespace
} // namespace zdtest
