// The server of `zdctl serve` (interface and rules: app_http.h), on the
// module's event-driven server (event_server.hpp). Every request passes the
// same gate before zdctl sees it, on the event thread and before its body
// is read: the token unless the path is public. Every response leaves with
// the same headers.
#include "app_http.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "event_server.hpp"

namespace {

using zd_http_server::Request;
using zd_http_server::Response;

// A page may load only its own script and style and talk only to its own
// origin; nothing may frame it; nothing is cached or leaks in a Referer.
constexpr const char *kPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; "
                                "img-src 'self'; connect-src 'self'; base-uri 'none'; "
                                "form-action 'none'; frame-ancestors 'none'";

void harden(Response &res) {
  res.headers.emplace_back("Content-Security-Policy", kPolicy);
  res.headers.emplace_back("X-Content-Type-Options", "nosniff");
  res.headers.emplace_back("X-Frame-Options", "DENY");
  res.headers.emplace_back("Referrer-Policy", "no-referrer");
  res.headers.emplace_back("Cache-Control", "no-store");
  res.headers.emplace_back("Cross-Origin-Resource-Policy", "same-origin");
}

// The API's error shape, for the refusals made here, before zdctl is asked.
Response refusal(int status, const char *kind, const std::string &message) {
  const nlohmann::json body = {{"error", {{"kind", kind}, {"message", message}}}};
  return {status, "application/json", body.dump() + "\n", {}};
}

zd_http_server::Limits limits_of(const zd_app_http_config &config) {
  zd_http_server::Limits limits;
  limits.max_body_bytes = std::max(config.max_body, config.large_body_path ? config.large_body : 0);
  limits.max_streams = config.max_streams;
  limits.stream_poll = std::chrono::milliseconds(config.events_interval_ms);
  limits.stream_lifetime = std::chrono::seconds(config.events_max_seconds);
  if (config.max_connections)
    limits.max_connections = config.max_connections;
  if (config.max_per_client)
    limits.max_per_client = config.max_per_client;
  if (config.head_timeout_ms)
    limits.head_timeout = std::chrono::milliseconds(config.head_timeout_ms);
  if (config.body_timeout_ms)
    limits.body_timeout = std::chrono::milliseconds(config.body_timeout_ms);
  return limits;
}

void append(void *out, const char *bytes, size_t size) {
  static_cast<std::string *>(out)->append(bytes, size);
}

} // namespace

struct zd_app_http {
  std::unique_ptr<zd_http_server::Server> server;
};

extern "C" __attribute__((visibility("default"))) zd_app_http *
zd_app_http_start_v2(const zd_app_http_config *config, zd_app_http_handle handle,
                     zd_app_http_event event, void *context, uint16_t *bound_port, char *error,
                     size_t error_size) {
  try {
    std::set<std::string> open_paths;
    for (const char *const *p = config->public_paths; p && *p; ++p)
      open_paths.insert(*p);
    const std::string bearer = std::string("Bearer ") + config->token;

    zd_http_server::Routes routes;
    routes.gate = [bearer, open_paths](const Request &req) -> std::optional<Response> {
      if (open_paths.count(req.path) || zd_http_server::same_secret(req.authorization, bearer))
        return std::nullopt;
      Response res =
          refusal(401, "unauthorized",
                  "this API needs the token zdctl serve printed, as 'Authorization: Bearer TOKEN'");
      res.headers.emplace_back("WWW-Authenticate", "Bearer");
      return res;
    };
    routes.handle = [handle, context](const Request &req) {
      const zd_app_http_request request{req.method.c_str(), req.path.c_str(), req.query.c_str(),
                                        req.body.data(), req.body.size()};
      char content_type[128] = "application/json";
      Response res;
      res.status = handle(context, &request, content_type, sizeof(content_type), append, &res.body);
      res.content_type = content_type;
      return res;
    };
    routes.refusal = refusal;
    if (config->large_body_path) {
      const std::string large_path = config->large_body_path;
      const size_t large = config->large_body, small = config->max_body;
      routes.body_limit = [large_path, large, small](const Request &req) {
        return req.path == large_path ? large : small;
      };
    }
    routes.finish = harden;
    if (config->events_path) {
      routes.stream_path = config->events_path;
      routes.poll = [event, context]() -> std::optional<std::string> {
        std::string data;
        if (event(context, append, &data) != 0)
          return std::nullopt;
        return data;
      };
    }
    auto http = std::make_unique<zd_app_http>();
    http->server = std::make_unique<zd_http_server::Server>(config->address, config->port,
                                                            limits_of(*config), std::move(routes));
    *bound_port = http->server->port();
    return http.release();
  } catch (const std::exception &e) {
    std::snprintf(error, error_size, "%s", e.what());
    return nullptr;
  }
}

extern "C" __attribute__((visibility("default"))) void zd_app_http_stop_v2(zd_app_http *http) {
  delete http;
}
