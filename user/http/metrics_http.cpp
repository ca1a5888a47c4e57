// The server half of zd-http.so: GET /metrics, for `zdctl metrics --listen`
// (the interface and why it is a module: metrics_http.h), on the module's
// event-driven server (event_server.hpp). It answers nothing else: 404 for
// another path, 405 for another method, 401 without the bearer token when
// one is set, all decided before a body is read.
#include "metrics_http.h"

#include <cstdio>
#include <memory>
#include <string>

#include "event_server.hpp"

namespace {

using zd_http_server::Request;
using zd_http_server::Response;

Response plain(int status, const std::string &text) {
  return {status, "text/plain; charset=utf-8", text + "\n", {}};
}

zd_http_server::Limits limits() {
  zd_http_server::Limits limits;
  limits.max_connections = 256; // scrapers are few
  limits.max_per_client = 64;
  limits.max_body_bytes = 1024; // a GET has none
  limits.workers = 2;
  limits.max_waiting = 16;
  return limits;
}

void append(void *out, const char *bytes, size_t size) {
  static_cast<std::string *>(out)->append(bytes, size);
}

} // namespace

struct zd_metrics_http {
  std::unique_ptr<zd_http_server::Server> server;
};

extern "C" __attribute__((visibility("default"))) zd_metrics_http *
zd_metrics_http_start_v1(const zd_metrics_http_config *config, zd_metrics_http_render render,
                         void *context, uint16_t *bound_port, char *error, size_t error_size) {
  try {
    const std::string bearer = config->token ? std::string("Bearer ") + config->token : "";
    const std::string content_type = config->content_type;
    zd_http_server::Routes routes;
    routes.gate = [bearer](const Request &req) -> std::optional<Response> {
      if (!bearer.empty() && !zd_http_server::same_secret(req.authorization, bearer)) {
        Response res = plain(401, "a bearer token is required");
        res.headers.emplace_back("WWW-Authenticate", "Bearer");
        return res;
      }
      if (req.path != "/metrics")
        return plain(404, "only /metrics is served here");
      if (req.method != "GET" && req.method != "HEAD") {
        Response res = plain(405, "/metrics is read with GET");
        res.headers.emplace_back("Allow", "GET, HEAD");
        return res;
      }
      return std::nullopt;
    };
    routes.handle = [render, context, content_type](const Request &) {
      std::string body;
      if (render(context, append, &body) != 0)
        return plain(500, body);
      return Response{200, content_type, std::move(body), {}};
    };
    routes.refusal = [](int status, const char *, const std::string &message) {
      return plain(status, message);
    };
    routes.finish = [](Response &res) { res.headers.emplace_back("Cache-Control", "no-store"); };
    auto http = std::make_unique<zd_metrics_http>();
    http->server = std::make_unique<zd_http_server::Server>(config->address, config->port, limits(),
                                                            std::move(routes));
    *bound_port = http->server->port();
    return http.release();
  } catch (const std::exception &e) {
    std::snprintf(error, error_size, "%s", e.what());
    return nullptr;
  }
}

extern "C" __attribute__((visibility("default"))) void
zd_metrics_http_stop_v1(zd_metrics_http *http) {
  delete http;
}
