// The server of `zdctl serve` (interface and rules: app_http.h). Every
// request passes the same gate before zdctl sees it: the token unless the
// path is public, the body bounded, the time bounded; every response leaves
// with the same headers. Streams of events are few and end on their own, so
// no client can hold the workers.
#include "app_http.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "server_parts.hpp"

namespace {

constexpr time_t kTimeoutSeconds = 10; // each read and write, and an idle keep-alive
constexpr size_t kKeepAliveRequests = 100;
constexpr size_t kWorkers = 4; // for requests, beside one thread per stream
constexpr size_t kQueued = 16;

// A page may load only its own script and style and talk only to its own
// origin; nothing may frame it; nothing is cached or leaks in a Referer.
constexpr const char *kPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; "
                                "img-src 'self'; connect-src 'self'; base-uri 'none'; "
                                "form-action 'none'; frame-ancestors 'none'";

void harden(httplib::Response &res) {
  if (res.has_header("Content-Security-Policy"))
    return;
  res.set_header("Content-Security-Policy", kPolicy);
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("X-Frame-Options", "DENY");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("Cache-Control", "no-store");
  res.set_header("Cross-Origin-Resource-Policy", "same-origin");
}

// The API's error shape, for the refusals made here, before zdctl is asked.
void refuse(httplib::Response &res, int status, const char *kind, const std::string &message) {
  res.status = status;
  const nlohmann::json body = {{"error", {{"kind", kind}, {"message", message}}}};
  res.set_content(body.dump() + "\n", "application/json");
  harden(res);
}

std::string query_of(const httplib::Request &req) {
  std::string query;
  for (const auto &[key, value] : req.params)
    query += (query.empty() ? "" : "&") + key + "=" + value;
  return query;
}

} // namespace

struct zd_app_http {
  httplib::Server server;
  std::thread listener;
  std::atomic<bool> stopping{false};
  std::atomic<unsigned> streams{0};
};

namespace {

void stream_events(zd_app_http *http, const zd_app_http_config config, zd_app_http_event event,
                   void *context, httplib::Response &res) {
  if (++http->streams > config.max_streams) {
    --http->streams;
    res.set_header("Retry-After", "5");
    refuse(res, 503, "busy", "too many event streams are open; try again later");
    return;
  }
  harden(res);
  const auto until =
      std::chrono::steady_clock::now() + std::chrono::seconds(config.events_max_seconds);
  auto last = std::make_shared<std::string>();
  res.set_chunked_content_provider(
      "text/event-stream",
      [=](size_t, httplib::DataSink &sink) {
        // The first event goes out at once; then one per change, polled.
        if (!last->empty())
          for (unsigned waited = 0; waited < config.events_interval_ms; waited += 50) {
            if (http->stopping || !sink.is_writable())
              return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
          }
        if (http->stopping || std::chrono::steady_clock::now() >= until) {
          sink.done();
          return true;
        }
        std::string data;
        if (event(
                context,
                [](void *out, const char *bytes, size_t size) {
                  static_cast<std::string *>(out)->append(bytes, size);
                },
                &data) != 0) {
          sink.done();
          return true;
        }
        const std::string frame =
            data == *last ? std::string(": unchanged\n\n") : "retry: 1000\ndata: " + data + "\n\n";
        *last = std::move(data);
        return sink.write(frame.data(), frame.size());
      },
      [http](bool) { --http->streams; });
}

} // namespace

extern "C" __attribute__((visibility("default"))) zd_app_http *
zd_app_http_start_v1(const zd_app_http_config *config, zd_app_http_handle handle,
                     zd_app_http_event event, void *context, uint16_t *bound_port, char *error,
                     size_t error_size) {
  try {
    auto http = std::make_unique<zd_app_http>();
    httplib::Server &server = http->server;
    const size_t threads = kWorkers + config->max_streams;
    server.new_task_queue = [threads] { return new zd_http_server::BoundedPool(threads, kQueued); };
    zd_http_server::bound(server, config->max_body, kTimeoutSeconds, kKeepAliveRequests);

    std::set<std::string> open_paths;
    for (const char *const *p = config->public_paths; p && *p; ++p)
      open_paths.insert(*p);
    const std::string bearer = std::string("Bearer ") + config->token;
    server.set_pre_routing_handler([bearer, open_paths](const httplib::Request &req,
                                                        httplib::Response &res) {
      if (open_paths.count(req.path) == 0 &&
          !zd_http_server::same_secret(req.get_header_value("Authorization"), bearer)) {
        res.set_header("WWW-Authenticate", "Bearer");
        refuse(res, 401, "unauthorized",
               "this API needs the token zdctl serve printed, as 'Authorization: Bearer TOKEN'");
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    // httplib's own refusals (a body too long, a request it cannot parse).
    server.set_error_handler(
        httplib::Server::HandlerWithResponse([](const httplib::Request &, httplib::Response &res) {
          if (res.body.empty() && !res.content_provider_)
            refuse(res, res.status, "invalid",
                   res.status == 413 ? "the request body is too long" : "the request was refused");
          harden(res);
          return httplib::Server::HandlerResponse::Handled;
        }));

    const zd_app_http_config copy = *config;
    const std::string events_path = config->events_path ? config->events_path : "";
    zd_app_http *raw = http.get();
    auto answer = [=](const httplib::Request &req, httplib::Response &res) {
      if (!events_path.empty() && req.path == events_path && req.method == "GET") {
        stream_events(raw, copy, event, context, res);
        return;
      }
      const std::string query = query_of(req);
      const zd_app_http_request request{req.method.c_str(), req.path.c_str(), query.c_str(),
                                        req.body.data(), req.body.size()};
      char content_type[128] = "application/json";
      std::string body;
      res.status = handle(
          context, &request, content_type, sizeof(content_type),
          [](void *sink, const char *data, size_t size) {
            static_cast<std::string *>(sink)->append(data, size);
          },
          &body);
      res.set_content(std::move(body), content_type);
      harden(res);
    };
    // Every method reaches zdctl, which knows which a path takes (405).
    server.Get(".*", answer);
    server.Post(".*", answer);
    server.Put(".*", answer);
    server.Patch(".*", answer);
    server.Delete(".*", answer);
    *bound_port = zd_http_server::start(server, http->listener, config->address, config->port);
    return http.release();
  } catch (const std::exception &e) {
    std::snprintf(error, error_size, "%s", e.what());
    return nullptr;
  }
}

extern "C" __attribute__((visibility("default"))) void zd_app_http_stop_v1(zd_app_http *http) {
  if (!http)
    return;
  http->stopping = true;
  zd_http_server::stop(http->server, http->listener);
  delete http;
}
