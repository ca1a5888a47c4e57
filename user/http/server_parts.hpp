// What the module's two servers (metrics_http.cpp, app_http.cpp) share: a
// bounded worker pool, a constant-time token comparison, and binding and
// starting a cpp-httplib server the same careful way.
#pragma once

#include <httplib.h>

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace zd_http_server {

// httplib's own ThreadPool queues without bound. This one makes the accept
// loop wait for room instead (each queued job owns an accepted socket), so a
// flood waits in the kernel's backlog, not in memory.
class BoundedPool final : public httplib::TaskQueue {
public:
  BoundedPool(size_t threads, size_t queued) : queued_(queued) {
    for (size_t i = 0; i < threads; ++i)
      threads_.emplace_back([this] { work(); });
  }
  void enqueue(std::function<void()> job) override {
    std::unique_lock<std::mutex> lock(mutex_);
    room_.wait(lock, [&] { return jobs_.size() < queued_ || stopping_; });
    jobs_.push_back(std::move(job)); // even when stopping: it must run to close its socket
    ready_.notify_one();
  }
  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    ready_.notify_all();
    room_.notify_all();
    for (auto &thread : threads_)
      thread.join();
  }

private:
  void work() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait(lock, [&] { return !jobs_.empty() || stopping_; });
        if (jobs_.empty())
          return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
        room_.notify_one();
      }
      job();
    }
  }

  const size_t queued_;
  std::mutex mutex_;
  std::condition_variable ready_, room_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  bool stopping_ = false;
};

// The same time whatever the first difference: a token is not guessed byte
// by byte from response times.
inline bool same_secret(const std::string &given, const std::string &expected) {
  const size_t n = std::max(given.size(), expected.size());
  unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char a = i < given.size() ? given[i] : 0;
    const unsigned char b = i < expected.size() ? expected[i] : 0;
    diff |= a ^ b;
  }
  return diff == 0;
}

// Bounded in every dimension a client controls: body size, and the time
// each read and write, and each idle keep-alive, may take.
inline void bound(httplib::Server &server, size_t max_body, time_t timeout_seconds,
                  size_t keep_alive_requests) {
  server.set_payload_max_length(max_body);
  server.set_read_timeout(timeout_seconds, 0);
  server.set_write_timeout(timeout_seconds, 0);
  server.set_keep_alive_timeout(timeout_seconds);
  server.set_keep_alive_max_count(keep_alive_requests);
  // httplib's default adds SO_REUSEPORT, which would let a second listener
  // on the same port take half the requests without a word.
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
}

// Binds (port 0: any free one) and serves from a thread of its own, running
// when this returns. Throws std::runtime_error when it cannot bind.
inline uint16_t start(httplib::Server &server, std::thread &listener, const char *address,
                      uint16_t port) {
  const int bound =
      port ? (server.bind_to_port(address, port) ? port : -1) : server.bind_to_any_port(address);
  if (bound <= 0)
    throw std::runtime_error(std::string("cannot listen on ") + address + " port " +
                             std::to_string(port) + ": " + std::strerror(errno));
  listener = std::thread([&server] { server.listen_after_bind(); });
  // stop() does nothing to a server not yet running: be sure it runs.
  for (int i = 0; i < 1000 && !server.is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return static_cast<uint16_t>(bound);
}

inline void stop(httplib::Server &server, std::thread &listener) {
  server.stop();
  if (listener.joinable())
    listener.join();
}

} // namespace zd_http_server
