// The HTTP server of zd-http.so (serve's page and API, and /metrics): one
// thread of events for every connection, a few workers for the requests.
//
// Why not cpp-httplib's server, which the module used before: it gives each
// connection a thread for as long as the connection lives, and bounds a read
// by inactivity only. A client that sends one byte a second holds a thread
// forever, and a few dozen idle or half-open connections stall every other
// client (issue 23 measured 40). Here a connection costs a socket and a few
// hundred bytes until it sends a whole request head; every phase has a
// deadline of its own, counted from its start, not from the last byte; the
// parsing and writing of HTTP are Boost.Beast's (Debian's libboost1.74-dev),
// the events Boost.Asio's (epoll). Only a request that has arrived whole
// takes a worker, and only for as long as zdctl takes to answer it.
//
// The interface holds no Boost type, so that only event_server.cpp pays for
// compiling Beast.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace zd_http_server {

using std::chrono::milliseconds;

// Everything a client controls is bounded here. The defaults are serve's.
struct Limits {
  size_t max_connections = 4096; // open at once; beyond, a new one is closed at once
  size_t max_per_client = 512;   // open at once from one address; beyond, closed at once
  size_t max_head_bytes = 8 * 1024;
  size_t max_body_bytes = 16 * 1024; // the largest any request may carry (see Routes::body_limit)
  milliseconds head_timeout{5000};   // a whole request head, once the server waits for one
  milliseconds body_timeout{10000};  // a whole body, once its head has arrived
  milliseconds write_timeout{10000}; // a whole response (or one event), once it is written
  size_t max_requests_per_connection = 1000;
  size_t workers = 4;       // threads that run handlers
  size_t max_waiting = 256; // requests waiting for a worker; beyond, 503 at once
  size_t max_streams = 256; // event streams open at once; beyond, 503 at once
  // How often the streams' data is read while any is open, or four times
  // what one read takes, if more (at most 700 ms), and at once after a
  // request that is not a GET: streams cost about a fifth of a core at most.
  milliseconds stream_poll{200};
  milliseconds stream_lifetime{300000}; // a stream ends then; clients reconnect
  milliseconds stream_heartbeat{15000}; // a comment when nothing changed for this long
};

struct Request {
  std::string method; // as sent: GET, POST, ...
  std::string path;   // percent-decoded, without the query
  std::string query;  // "k=v&k=v", keys and values percent-decoded; "" when none
  std::string authorization;
  std::string body;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct Routes {
  // Runs on the event thread once a request's head has arrived, before its
  // body is read: a response here (a refusal) is the answer, and the body
  // is never read. Must be cheap and must not block.
  std::function<std::optional<Response>(const Request &)> gate;
  // The longest body this request may carry, once its head is read (the
  // token checked): Limits::max_body_bytes when unset.
  std::function<size_t(const Request &)> body_limit;
  // Answers a whole request, on a worker. Must not throw.
  std::function<Response(const Request &)> handle;
  // The server's own refusals (400, 408, 413, 431, 503), in the routes' shape.
  std::function<Response(int status, const char *kind, const std::string &message)> refusal;
  // Every response passes here last (headers every response carries).
  std::function<void(Response &)> finish;
  // GET on stream_path is a stream of server-sent events: the data of
  // `poll` (read on a worker, once for every stream), sent again whenever it
  // changes. poll returns nullopt to end every stream (they reconnect).
  std::string stream_path;
  std::function<std::optional<std::string>()> poll;
};

// What the server has open, read at any time (tests count these).
struct Counts {
  size_t connections = 0;
  size_t streams = 0;
  size_t refused = 0; // connections closed at accept, over a limit
};

class Server {
public:
  // Binds address:port (port 0: any free one) and serves from threads of its
  // own, running when this returns. Throws std::runtime_error when it cannot.
  Server(const std::string &address, uint16_t port, const Limits &limits, Routes routes);
  // Stops accepting, closes every connection, finishes the handlers running.
  ~Server();
  Server(const Server &) = delete;
  Server &operator=(const Server &) = delete;

  uint16_t port() const;
  Counts counts() const;

  struct Impl;

private:
  std::shared_ptr<Impl> impl_;
};

// The same time whatever the first difference: a token is not guessed byte
// by byte from response times.
bool same_secret(const std::string &given, const std::string &expected);

} // namespace zd_http_server
