// zd's HTTP, from the module that carries it (user/http/zd_http.h), opened
// on first use: only the commands that speak HTTP pay for loading it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "model.hpp"

namespace zd {

// The status code of GET path from address (an exact endpoint), or what
// went wrong (status 0). Throws Error (not_found) when the module is missing.
struct HttpAnswer {
  int status = 0;
  std::string error;
};
HttpAnswer http_get(const Endpoint &address, const std::string &path,
                    std::chrono::milliseconds timeout);

// A symbol of the module (the server's, metrics_http.h), opening it on first
// use. Throws Error (not_found) when the module or the symbol is missing.
void *http_module_symbol(const char *name);

} // namespace zd
