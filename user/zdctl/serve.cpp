// zdctl serve: the Domains page, the JSON API and /metrics over HTTP, for as
// long as it runs. It keeps nothing of its own: every request reads or
// changes the pinned state under its lock, as a command would, so it can be
// killed and restarted at any time and the CLI beside it sees what it does
// at once. HTTP itself is the module's (http/app_http.h); the routes are
// api.cpp's.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <cstdio>
#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "agent.hpp"
#include "api.hpp"
#include "app_http.h"
#include "cluster_cmd.hpp"
#include "commands.hpp"
#include "error.hpp"
#include "http.hpp"
#include "listen.hpp"
#include "parse.hpp"
#include "watcher.hpp"

namespace zdctl {

namespace {

constexpr size_t kMaxBody = 16 * 1024; // the largest request but an apply: a switch with its check
constexpr size_t kMaxApplyBody = 64 * 1024 * 1024; // an apply's document (its token checked first)
// Streams read the state once for all of them, this often while any is
// open: a change shows on every page within this and a write.
constexpr unsigned kEventsIntervalMs = 200;
constexpr unsigned kEventsMaxSeconds = 300;
constexpr uint32_t kMaxClientTimeoutMs = 300'000;

// Every connection is an fd: the soft limit (often 1024) is raised to what
// --max-connections needs, within the hard one, so that a full house of
// connections cannot make accept() fail for the next honest client.
void raise_fd_limit(unsigned connections) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
    return;
  const rlim_t wanted = std::min<rlim_t>(limit.rlim_max, rlim_t(connections) + 256);
  if (wanted > limit.rlim_cur) {
    limit.rlim_cur = wanted;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

struct Server {
  std::string state;
  std::optional<zd::cluster::Cluster> cluster; // serve --cluster: the page's view of it
};

int handle(void *context, const zd_app_http_request *request, char *content_type,
           size_t content_type_size, zd_metrics_http_emit emit, void *sink) {
  const auto *server = static_cast<const Server *>(context);
  ApiReply reply;
  try {
    reply = answer(server->state,
                   {request->method, request->path, request->query,
                    std::string(request->body, request->body_size)},
                   server->cluster ? &*server->cluster : nullptr);
  } catch (...) { // answer() does not throw, but nothing may cross into the module
    reply = {500, "application/json", "{\"error\":{\"kind\":\"kernel\",\"message\":\"failed\"}}\n"};
  }
  if (reply.status >= 500)
    spdlog::warn("{} {}: {}", request->method, request->path, reply.body);
  std::snprintf(content_type, content_type_size, "%s", reply.content_type.c_str());
  emit(sink, reply.body.data(), reply.body.size());
  return reply.status;
}

int event(void *context, zd_metrics_http_emit emit, void *sink) {
  const auto *server = static_cast<const Server *>(context);
  try {
    const std::string data =
        events_snapshot(server->state, server->cluster ? &*server->cluster : nullptr);
    emit(sink, data.data(), data.size());
    return 0;
  } catch (const std::exception &e) {
    spdlog::warn("an event stream ended: {}", zd::printable(e.what()));
    return 1;
  }
}

// serve --fabric: one IPv4 address, one IPv6 one, or both.
std::optional<zd::FabricNode> fabric_of(const Options &opts) {
  if (opts.fabric.empty())
    return std::nullopt;
  if (opts.cluster.empty())
    throw zd::Error(zd::Errc::invalid,
                    "--fabric is this host's address between the hosts of a cluster: give "
                    "--cluster URLS too");
  zd::FabricNode node;
  for (const auto &text : opts.fabric) {
    std::array<uint8_t, 4> v4{};
    std::array<uint8_t, 16> v6{};
    if (inet_pton(AF_INET, text.c_str(), v4.data()) == 1 && !node.v4)
      node.v4 = v4;
    else if (inet_pton(AF_INET6, text.c_str(), v6.data()) == 1 && !node.v6 &&
             !IN6_IS_ADDR_V4MAPPED(reinterpret_cast<const in6_addr *>(v6.data())))
      node.v6 = v6;
    else
      throw zd::Error(zd::Errc::invalid,
                      "--fabric " + zd::printable(text) +
                          ": expected one IPv4 address and at most one IPv6 address");
  }
  return node;
}

} // namespace

void do_serve(const Options &opts) {
  const ListenAddress where = parse_listen(opts.serve_listen, "--listen");
  const std::optional<zd::FabricNode> fabric = fabric_of(opts);
  const auto lease =
      std::chrono::seconds(zd::parse_positive_ms(opts.lease, "--lease", 60000) / 1000);
  if (lease < std::chrono::seconds(2))
    throw zd::Error(zd::Errc::invalid, "--lease " + zd::printable(opts.lease) +
                                           ": at least 2s (it is renewed every third of it)");
  if (!where.loopback && opts.token_file.empty())
    throw zd::Error(zd::Errc::refused,
                    "--listen " + opts.serve_listen +
                        " is not a loopback address: give --token-file FILE, so that only "
                        "those who hold its token can switch domains");
  const std::string token = opts.token_file.empty() ? new_token() : read_token(opts.token_file);
  // A state that cannot be read is refused now, not at every request.
  zd::State(opts.state).with(zd::Lock::shared, [](zd::ControlPlane &c) { return c.status(); });
  auto start = reinterpret_cast<zd_app_http_start_fn>(zd::http_module_symbol(ZD_APP_HTTP_START));
  auto stop = reinterpret_cast<zd_app_http_stop_fn>(zd::http_module_symbol(ZD_APP_HTTP_STOP));

  std::vector<const char *> open_paths(kPagePaths.begin(), kPagePaths.end());
  if (opts.metrics_public)
    open_paths.push_back("/metrics");
  open_paths.push_back(nullptr);
  zd_app_http_config config{};
  config.address = where.address.c_str();
  config.port = where.port;
  config.token = token.c_str();
  config.public_paths = open_paths.data();
  config.max_body = kMaxBody;
  config.large_body_path = "/api/v1/apply";
  config.large_body = kMaxApplyBody;
  config.events_path = "/api/v1/events";
  config.events_interval_ms = kEventsIntervalMs;
  config.events_max_seconds = kEventsMaxSeconds;
  config.max_streams = opts.serve_max_streams;
  config.max_connections = opts.serve_max_connections;
  config.max_per_client = opts.serve_max_per_client;
  config.head_timeout_ms =
      zd::parse_positive_ms(opts.serve_header_timeout, "--header-timeout", kMaxClientTimeoutMs);
  config.body_timeout_ms =
      zd::parse_positive_ms(opts.serve_body_timeout, "--body-timeout", kMaxClientTimeoutMs);
  raise_fd_limit(config.max_connections);

  // Blocked before the module's threads start, so they inherit the mask and
  // only sigwait() below sees SIGINT and SIGTERM.
  sigset_t stop_signals, before;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, &before);
  Server server{opts.state, std::nullopt};
  if (!opts.cluster.empty())
    server.cluster.emplace(zd::etcd::Client(cluster_etcd_options(opts)),
                           zd::cluster::Keys{opts.cluster_prefix});
  char error[256] = "";
  uint16_t port = 0;
  zd_app_http *http = start(&config, handle, event, &server, &port, error, sizeof(error));
  if (!http) {
    pthread_sigmask(SIG_SETMASK, &before, nullptr);
    throw zd::Error(zd::Errc::invalid, error);
  }
  // A long-running server says what it does on its own (a verdict, a
  // canary promoted or ended) on stderr, for the journal.
  if (!opts.verbose)
    spdlog::set_level(spdlog::level::info);
  Watcher watcher(opts.state); // health checks and canary orders, until serve stops
  // With --cluster, this host's agent too (cluster/agent.hpp).
  std::optional<zd::cluster::Agent> agent;
  if (!opts.cluster.empty())
    agent.emplace(opts.state, cluster_etcd_options(opts), zd::cluster::Keys{opts.cluster_prefix},
                  cluster_node_name(opts), fabric, opts.fabric_mtu, lease);
  ListenAddress bound = where;
  bound.port = port;
  const std::string url = bound.url("/#token=" + token);
  if (opts.json)
    std::cout << nlohmann::json{{"url", url},
                                {"listen", bound.url("")},
                                {"token", token},
                                {"metrics_public", opts.metrics_public}}
                     .dump()
              << std::endl;
  else
    std::cout << "serving the Domains page and the API on " << bound.url("/") << "\n"
              << "open: " << url << std::endl;
  int signal = 0;
  sigwait(&stop_signals, &signal);
  stop(http);
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
}

} // namespace zdctl
