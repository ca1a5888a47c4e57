#include "http.hpp"

#include <dlfcn.h>
#include <limits.h>
#include <unistd.h>

#include <vector>

#include "error.hpp"
#include "parse.hpp"
#include "zd_http.h"

namespace zd {

namespace {

// Where the module is, relative to zdctl itself (never the working
// directory or a search path): beside it in the build tree, in ../lib/zd
// once installed (see user/CMakeLists.txt).
std::vector<std::string> module_paths() {
  char exe[PATH_MAX] = {};
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  std::string dir = n > 0 ? std::string(exe, static_cast<size_t>(n)) : "";
  dir.erase(dir.find_last_of('/') == std::string::npos ? 0 : dir.find_last_of('/'));
  return {dir + "/zd-http.so", dir + "/../lib/zd/zd-http.so"};
}

// Opened once, never closed.
const zd_http_module &module() {
  static const zd_http_module *loaded = [] {
    void *library = nullptr;
    std::string tried;
    for (const auto &path : module_paths()) {
      if (access(path.c_str(), F_OK) != 0) {
        tried += (tried.empty() ? "" : ", ") + path;
        continue;
      }
      library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!library)
        throw Error(Errc::not_found, std::string("cannot load zd's HTTP module: ") + dlerror());
      break;
    }
    if (!library)
      throw Error(Errc::not_found, "zd's HTTP module is missing (looked for " + tried + ")");
    auto entry = reinterpret_cast<decltype(&zd_http)>(dlsym(library, "zd_http"));
    const zd_http_module *http = entry ? entry() : nullptr;
    if (!http || http->abi != ZD_HTTP_ABI)
      throw Error(Errc::not_found, "zd-http.so is not this zdctl's HTTP module (reinstall zd)");
    return http;
  }();
  return *loaded;
}

} // namespace

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
