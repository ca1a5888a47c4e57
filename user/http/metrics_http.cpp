// The server half of zd-http.so: GET /metrics over cpp-httplib, for
// `zdctl metrics --listen` (the interface and why it is a module:
// metrics_http.h). It answers nothing else: 404 for another path, 405 for
// another method, 401 without the bearer token when one is set. Requests
// are bounded in size and time, and served by a few threads with a short
// queue: a flood waits in the kernel's backlog, not in memory.
#include "metrics_http.h"

#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "server_parts.hpp"

namespace {

constexpr size_t kThreads = 2;
constexpr size_t kQueued = 8;         // accepted connections waiting for a thread
constexpr size_t kMaxBody = 1024;     // a GET has none; anything longer gets 413
constexpr time_t kTimeoutSeconds = 5; // each read and write
constexpr size_t kKeepAliveRequests = 10;

using zd_http_server::same_secret;

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
    server.new_task_queue = [] { return new zd_http_server::BoundedPool(kThreads, kQueued); };
    zd_http_server::bound(server, kMaxBody, kTimeoutSeconds, kKeepAliveRequests);
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

    *bound_port = zd_http_server::start(server, http->listener, config->address, config->port);
    return http.release();
  } catch (const std::exception &e) {
    return fail(e.what());
  }
}

extern "C" __attribute__((visibility("default"))) void
zd_metrics_http_stop_v1(zd_metrics_http *http) {
  if (!http)
    return;
  zd_http_server::stop(http->server, http->listener);
  delete http;
}
