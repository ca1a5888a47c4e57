#include "http.hpp"

#include <dlfcn.h>
#include <limits.h>
#include <unistd.h>

#include "error.hpp"
#include "parse.hpp"
#include "zd_http.h"

namespace zd {

namespace {

// The module sits at ../lib/zd/ from zdctl itself (never the working
// directory or a search path): build/user/zdctl and build/lib/zd/, or
// /usr/sbin/zdctl and /usr/lib/zd/. Opened once, never closed.
void *library() {
  static void *opened = [] {
    char exe[PATH_MAX] = {};
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
      throw_errno("cannot find zdctl's own path");
    std::string path(exe, static_cast<size_t>(n));
    path.erase(path.rfind('/'));
    path += "/../lib/zd/zd-http.so";
    void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle)
      throw Error(Errc::not_found, std::string("zd's HTTP module is missing: ") + dlerror());
    return handle;
  }();
  return opened;
}

const zd_http_module &module() {
  static const zd_http_module *loaded = [] {
    auto entry = reinterpret_cast<decltype(&zd_http)>(http_module_symbol("zd_http"));
    const zd_http_module *http = entry();
    if (!http || http->abi != ZD_HTTP_ABI)
      throw Error(Errc::not_found, "zd-http.so is not this zdctl's HTTP module (reinstall zd)");
    return http;
  }();
  return *loaded;
}

} // namespace

void *http_module_symbol(const char *name) {
  void *symbol = dlsym(library(), name);
  if (!symbol)
    throw Error(Errc::not_found,
                std::string("zd-http.so lacks ") + name + ": it is not this zdctl's (reinstall zd)");
  return symbol;
}

HttpAnswer http_get(const Endpoint &address, const std::string &path,
                    std::chrono::milliseconds timeout) {
  std::string host = format_prefix(address);
  host.erase(host.find('/')); // "10.0.0.1/32" -> "10.0.0.1"
  char error[256] = {};
  HttpAnswer answer;
  answer.status = module().get(host.c_str(), address.port, path.c_str(),
                               static_cast<unsigned>(timeout.count()), error, sizeof(error));
  if (answer.status == 0)
    answer.error = error;
  return answer;
}

} // namespace zd
