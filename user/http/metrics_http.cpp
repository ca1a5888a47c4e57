// The server half of zd-http.so: GET /metrics over cpp-httplib, for
// `zdctl metrics --listen` (the interface and why it is a module:
// metrics_http.h). It answers nothing else: 404 for another path, 405 for
// another method, 401 without the bearer token when one is set. Requests
// are bounded in size and time, and served by a few threads with a short
// queue: a flood waits in the kernel's backlog, not in memory.
#include "metrics_http.h"

#include <httplib.h>

#include <sys/socket.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr size_t kThreads = 2;
constexpr size_t kQueued = 8;         // accepted connections waiting for a thread
constexpr size_t kMaxBody = 1024;     // a GET has none; anything longer gets 413
constexpr time_t kTimeoutSeconds = 5; // each read and write
constexpr size_t kKeepAliveRequests = 10;

// httplib's own ThreadPool queues without bound. This one makes the accept
// loop wait for room instead (each queued job owns an accepted socket).
class BoundedPool final : public httplib::TaskQueue {
public:
  BoundedPool() {
    for (size_t i = 0; i < kThreads; ++i)
      threads_.emplace_back([this] { work(); });
  }
  void enqueue(std::function<void()> job) override {
    std::unique_lock<std::mutex> lock(mutex_);
    room_.wait(lock, [&] { return jobs_.size() < kQueued || stopping_; });
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

  std::mutex mutex_;
  std::condition_variable ready_, room_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  bool stopping_ = false;
};

// The same time whatever the first difference: a token is not guessed byte
// by byte from response times.
bool same_secret(const std::string &given, const std::string &expected) {
  const size_t n = std::max(given.size(), expected.size());
  unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char a = i < given.size() ? given[i] : 0;
    const unsigned char b = i < expected.size() ? expected[i] : 0;
    diff |= a ^ b;
  }
  return diff == 0;
}

void plain(httplib::Response &res, int status, const std::string &text) {
  res.status = status;
  res.set_content(text + "\n", "text/plain; charset=utf-8");
}

} // namespace

struct zd_metrics_http {
  httplib::Server server;
  std::thread listener;
};

extern "C" __attribute__((visibility("default"))) zd_metrics_http *
zd_metrics_http_start_v1(const zd_metrics_http_config *config, zd_metrics_http_render render,
                         void *context, uint16_t *bound_port, char *error, size_t error_size) {
  auto fail = [&](const std::string &why) -> zd_metrics_http * {
    std::snprintf(error, error_size, "%s", why.c_str());
    return nullptr;
  };
  try {
    auto http = std::make_unique<zd_metrics_http>();
    httplib::Server &server = http->server;
    server.new_task_queue = [] { return new BoundedPool; };
    server.set_payload_max_length(kMaxBody);
    server.set_read_timeout(kTimeoutSeconds, 0);
    server.set_write_timeout(kTimeoutSeconds, 0);
    server.set_keep_alive_timeout(kTimeoutSeconds);
    server.set_keep_alive_max_count(kKeepAliveRequests);
    // httplib's default adds SO_REUSEPORT, which would let a second listener
    // on the same port take half the scrapes without a word.
    server.set_socket_options([](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    const std::string bearer = config->token ? std::string("Bearer ") + config->token : "";
    const std::string content_type = config->content_type;

    // Everything is decided here, before routing: who may ask, and what.
    server.set_pre_routing_handler([bearer](const httplib::Request &req, httplib::Response &res) {
      if (!bearer.empty() && !same_secret(req.get_header_value("Authorization"), bearer)) {
        res.set_header("WWW-Authenticate", "Bearer");
        plain(res, 401, "a bearer token is required");
        return httplib::Server::HandlerResponse::Handled;
      }
      if (req.path != "/metrics") {
        plain(res, 404, "only /metrics is served here");
        return httplib::Server::HandlerResponse::Handled;
      }
      if (req.method != "GET" && req.method != "HEAD") {
        res.set_header("Allow", "GET, HEAD");
        plain(res, 405, "/metrics is read with GET");
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    server.Get("/metrics",
               [render, context, content_type](const httplib::Request &, httplib::Response &res) {
                 std::string body;
                 const int failed = render(
                     context,
                     [](void *sink, const char *data, size_t size) {
                       static_cast<std::string *>(sink)->append(data, size);
                     },
                     &body);
                 res.set_header("Cache-Control", "no-store");
                 if (failed) {
                   plain(res, 500, body);
                   return;
                 }
                 res.set_content(std::move(body), content_type.c_str());
               });

    const int port = config->port
                         ? (server.bind_to_port(config->address, config->port) ? config->port : -1)
                         : server.bind_to_any_port(config->address);
    if (port <= 0)
      return fail(std::string("cannot listen on ") + config->address + " port " +
                  std::to_string(config->port) + ": " + std::strerror(errno));
    *bound_port = static_cast<uint16_t>(port);
    http->listener = std::thread([&server] { server.listen_after_bind(); });
    // stop() does nothing to a server not yet running: be sure it runs.
    for (int i = 0; i < 1000 && !server.is_running(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return http.release();
  } catch (const std::exception &e) {
    return fail(e.what());
  }
}

extern "C" __attribute__((visibility("default"))) void
zd_metrics_http_stop_v1(zd_metrics_http *http) {
  if (!http)
    return;
  http->server.stop();
  if (http->listener.joinable())
    http->listener.join();
  delete http;
}
