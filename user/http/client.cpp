// The client half of zd-http.so: the GET of a health check, on cpp-httplib
// (zd_http.h says why it is a module; metrics_http.cpp is the server half).
#include "zd_http.h"

#include <httplib.h>

#include <cstdio>
#include <string>

namespace {

void say(char *error, size_t error_len, const std::string &text) {
  if (error_len)
    std::snprintf(error, error_len, "%s", text.c_str());
}

// cpp-httplib names its errors for programmers ("Read"); a check's answer
// is read by an operator.
std::string reason(httplib::Error error, unsigned timeout_ms) {
  switch (error) {
  case httplib::Error::Connection:
    return "could not connect";
  case httplib::Error::ConnectionTimeout:
    return "no connection within " + std::to_string(timeout_ms) + "ms";
  case httplib::Error::Read:
    return "no HTTP answer within " + std::to_string(timeout_ms) + "ms (or the connection closed)";
  case httplib::Error::Write:
    return "could not send the request";
  default:
    return "HTTP error (" + httplib::to_string(error) + ")";
  }
}

int get(const char *host, unsigned port, const char *path, unsigned timeout_ms, char *error,
        size_t error_len) {
  try {
    httplib::Client client(host, static_cast<int>(port));
    const auto timeout = std::chrono::milliseconds(timeout_ms);
    client.set_connection_timeout(timeout);
    client.set_read_timeout(timeout);
    client.set_write_timeout(timeout);
    client.set_keep_alive(false);
    const std::string literal = std::string(host).find(':') == std::string::npos
                                    ? std::string(host)
                                    : "[" + std::string(host) + "]";
    const httplib::Headers headers = {{"Host", literal + ":" + std::to_string(port)},
                                      {"User-Agent", "zdctl-check"}};
    // The status line is the answer: the body, however long, is not read.
    int status = 0;
    auto result = client.Get(
        path, headers,
        [&](const httplib::Response &response) {
          status = response.status;
          return false;
        },
        [](const char *, size_t) { return false; });
    if (status > 0)
      return status;
    say(error, error_len, reason(result.error(), timeout_ms));
  } catch (const std::exception &e) {
    say(error, error_len, e.what());
  }
  return 0;
}

const zd_http_module kModule = {ZD_HTTP_ABI, get};

} // namespace

extern "C" __attribute__((visibility("default"))) const zd_http_module *zd_http(void) {
  return &kModule;
}
