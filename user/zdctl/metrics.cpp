// zdctl metrics: the state as Prometheus text, printed once or served on
// /metrics. The text is rendered by the core (core/metrics.*), from what one
// locked read of the state shows; the listener lives in a module of its own
// (http/metrics_http.h says why), opened only when --listen asks for it.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <mutex>

#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "error.hpp"
#include "fd.hpp"
#include "http.hpp"
#include "listen.hpp"
#include "metrics.hpp"
#include "metrics_http.h"
#include "parse.hpp"
#include "zd_shared.h"

namespace zdctl {

namespace {

// One shared-lock read of the state, rendered: no cache that can go stale.
std::string read_metrics(const std::string &state) {
  return zd::State(state).with(zd::Lock::shared, [](zd::ControlPlane &control) {
    return zd::render_metrics(control.status(), control.switch_totals(),
                              {ZD_VERSION, ZD_LAYOUT_VERSION});
  });
}

struct HttpModule {
  zd_metrics_http_start_fn start = nullptr;
  zd_metrics_http_stop_fn stop = nullptr;
};

HttpModule open_http_module() {
  return {reinterpret_cast<zd_metrics_http_start_fn>(zd::http_module_symbol(ZD_METRICS_HTTP_START)),
          reinterpret_cast<zd_metrics_http_stop_fn>(zd::http_module_symbol(ZD_METRICS_HTTP_STOP))};
}

// Called by the module's threads: one scrape at a time reads the state.
struct Scrapes {
  std::string state;
  std::mutex one_at_a_time;
};

int scrape(void *context, zd_metrics_http_emit emit, void *sink) {
  auto *scrapes = static_cast<Scrapes *>(context);
  std::lock_guard<std::mutex> lock(scrapes->one_at_a_time);
  try {
    const std::string text = read_metrics(scrapes->state);
    emit(sink, text.data(), text.size());
    return 0;
  } catch (const std::exception &e) {
    const std::string why = zd::printable(e.what());
    spdlog::warn("a scrape failed: {}", why);
    emit(sink, why.data(), why.size());
    return 1;
  }
}

// Serves until SIGINT or SIGTERM. They are blocked before the module's
// threads start, so those inherit the mask and only sigwait() sees them.
void serve(const Options &opts) {
  const ListenAddress where = parse_listen(opts.metrics_listen, "--listen");
  const std::string token = opts.token_file.empty() ? "" : read_token(opts.token_file);
  if (!where.loopback && token.empty())
    throw zd::Error(zd::Errc::refused,
                    "--listen " + opts.metrics_listen +
                        " is not a loopback address: anyone who reaches it would read the "
                        "state; give --token-file FILE to require a bearer token");
  read_metrics(opts.state); // a state that cannot be read is refused now, not per scrape
  const HttpModule module = open_http_module();

  sigset_t stop_signals, before;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, &before);
  Scrapes scrapes{opts.state, {}};
  const zd_metrics_http_config config{where.address.c_str(), where.port,
                                      token.empty() ? nullptr : token.c_str(),
                                      zd::kMetricsContentType};
  char error[256] = "";
  uint16_t port = 0;
  zd_metrics_http *server = module.start(&config, scrape, &scrapes, &port, error, sizeof(error));
  if (!server) {
    pthread_sigmask(SIG_SETMASK, &before, nullptr);
    throw zd::Error(zd::Errc::invalid, error);
  }
  ListenAddress bound = where;
  bound.port = port;
  std::fprintf(stderr, "serving metrics on %s\n", bound.url("/metrics").c_str());
  int signal = 0;
  sigwait(&stop_signals, &signal);
  module.stop(server);
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
}

} // namespace

void do_metrics(const Options &opts) {
  if (!opts.metrics_listen.empty()) {
    serve(opts);
    return;
  }
  std::cout << read_metrics(opts.state) << std::flush;
}

} // namespace zdctl
