// POST to etcd's JSON gateway, streaming the answer (etcd_http.h).
#include "etcd_http.h"

#include <httplib.h>

#include <cstdio>
#include <memory>
#include <string>

namespace {

void say(char *error, size_t error_len, const std::string &text) {
  if (error_len)
    std::snprintf(error, error_len, "%s", text.c_str());
}

std::string reason(httplib::Error error) {
  switch (error) {
  case httplib::Error::Connection:
    return "could not connect";
  case httplib::Error::ConnectionTimeout:
    return "no connection in time";
  case httplib::Error::Read:
    return "no answer in time (or the connection closed)";
  case httplib::Error::Write:
    return "could not send the request";
  case httplib::Error::SSLConnection:
    return "TLS handshake failed";
  case httplib::Error::SSLLoadingCerts:
    return "could not load the TLS certificates";
  case httplib::Error::SSLServerVerification:
    return "the server's certificate did not verify";
  default:
    return "HTTP error (" + httplib::to_string(error) + ")";
  }
}

int post(const char *endpoint, const char *path, const char *body, size_t body_len,
         const zd_etcd_tls *tls, unsigned connect_timeout_ms, unsigned read_timeout_ms,
         zd_etcd_data_fn on_data, void *ctx, char *error, size_t error_len) {
  try {
    const std::string url = endpoint;
    const bool secure = url.rfind("https://", 0) == 0;
    if (!secure && url.rfind("http://", 0) != 0) {
      say(error, error_len, "an etcd endpoint is http://HOST:PORT or https://HOST:PORT");
      return 0;
    }
    // A client certificate is given when the client is made.
    const bool with_cert = secure && tls && tls->cert && tls->key;
    httplib::Client client =
        with_cert ? httplib::Client(url, tls->cert, tls->key) : httplib::Client(url);
    if (secure) {
      if (tls && tls->cacert)
        client.set_ca_cert_path(tls->cacert);
      client.enable_server_certificate_verification(true);
    }
    client.set_connection_timeout(std::chrono::milliseconds(connect_timeout_ms));
    client.set_read_timeout(std::chrono::milliseconds(read_timeout_ms));
    client.set_write_timeout(std::chrono::milliseconds(connect_timeout_ms));
    client.set_keep_alive(false);

    httplib::Request request;
    request.method = "POST";
    request.path = path;
    request.body.assign(body, body_len);
    request.set_header("Content-Type", "application/json");
    request.set_header("User-Agent", "zdctl");
    int status = 0;
    request.response_handler = [&](const httplib::Response &response) {
      status = response.status;
      return true;
    };
    request.content_receiver = [&](const char *data, size_t len, uint64_t, uint64_t) {
      return on_data(ctx, data, len) != 0;
    };
    httplib::Response response;
    httplib::Error failed = httplib::Error::Success;
    const bool sent = client.send(request, response, failed);
    if (status > 0)
      return status;
    say(error, error_len, sent ? "no status in the answer" : reason(failed));
  } catch (const std::exception &e) {
    say(error, error_len, e.what());
  }
  return 0;
}

} // namespace

extern "C" __attribute__((visibility("default"))) int
zd_etcd_http_post_v1(const char *endpoint, const char *path, const char *body, size_t body_len,
                     const zd_etcd_tls *tls, unsigned connect_timeout_ms, unsigned read_timeout_ms,
                     zd_etcd_data_fn on_data, void *ctx, char *error, size_t error_len) {
  return post(endpoint, path, body, body_len, tls, connect_timeout_ms, read_timeout_ms, on_data,
              ctx, error, error_len);
}
