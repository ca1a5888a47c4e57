// The event-driven server (event_server.hpp says why it exists). One thread
// runs Asio's io_context: it accepts, reads request heads and bodies under
// their deadlines, writes responses, and feeds the event streams. Whole
// requests go to a small pool of workers, and their answers come back to
// the event thread to be written. Everything a Session or the Impl holds is
// touched on the event thread only, unless it is atomic.
#include "event_server.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <future>
#include <map>
#include <set>
#include <stdexcept>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace zd_http_server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using beast::error_code;
using Clock = std::chrono::steady_clock;

constexpr Clock::duration kMaxStreamWait = std::chrono::milliseconds(700);

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

// %XX decoded (a malformed escape is kept as it is); '+' is a space in a
// query, as forms send it.
std::string decoded(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
        hex_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      out += plus_is_space && text[i] == '+' ? ' ' : text[i];
    }
  }
  return out;
}

// "a=1&b=%2F" -> "a=1&b=/": each key and value decoded, the separators kept.
std::string decoded_query(std::string_view query) {
  std::string out;
  size_t at = 0;
  while (at <= query.size() && !query.empty()) {
    const size_t end = std::min(query.find('&', at), query.size());
    const std::string_view pair = query.substr(at, end - at);
    if (!pair.empty()) {
      const size_t eq = pair.find('=');
      out += (out.empty() ? "" : "&") + decoded(pair.substr(0, eq), true);
      if (eq != std::string_view::npos)
        out += "=" + decoded(pair.substr(eq + 1), true);
    }
    at = end + 1;
  }
  return out;
}

} // namespace

class Session;

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  Impl(const Limits &limits, Routes routes)
      : limits(limits), routes(std::move(routes)), workers(limits.workers) {}

  const Limits limits;
  const Routes routes;

  // The event thread's own; declared before io, so that they outlive it.
  std::map<asio::ip::address, size_t> per_client;
  std::set<Session *> sessions;
  std::set<std::shared_ptr<Session>> streams;
  std::shared_ptr<const std::string> latest; // the streams' data, as last read
  bool polling = false, ticking = false, stopping = false;
  std::array<Clock::duration, 5> poll_costs{}; // what the last reads of the streams' data took
  size_t poll_count = 0;
  std::atomic<size_t> connections{0}, streams_open{0}, refused{0}, waiting{0};

  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> running = asio::make_work_guard(io);
  tcp::acceptor acceptor{io};
  asio::steady_timer accept_pause{io};
  asio::steady_timer stream_tick{io};
  asio::thread_pool workers;
  std::thread thread;
  uint16_t port = 0;

  void accept();
  void admit(tcp::socket socket);
  void shut();
  void stream_opened(const std::shared_ptr<Session> &session);
  void stream_closed(const std::shared_ptr<Session> &session);
  void poll_now();
  void tick();
  Response refusal(int status, const char *kind, const std::string &message) const {
    Response r = routes.refusal(status, kind, message);
    routes.finish(r);
    return r;
  }
};

// One connection: request after request, or one event stream.
class Session : public std::enable_shared_from_this<Session> {
public:
  Session(Server::Impl &server, tcp::socket socket, asio::ip::address client)
      : server_(server), stream_(std::move(socket)), body_deadline_(server.io),
        client_(std::move(client)) {
    ++server_.connections;
    ++server_.per_client[client_];
    server_.sessions.insert(this);
  }
  ~Session() {
    server_.sessions.erase(this);
    if (--server_.per_client[client_] == 0)
      server_.per_client.erase(client_);
    --server_.connections;
  }

  void read_head() {
    request_ = Request{};
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(server_.limits.max_head_bytes));
    parser_->body_limit(server_.limits.max_body_bytes);
    stream_.expires_after(server_.limits.head_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](error_code ec, size_t) { self->on_head(ec); });
  }

  // The last response of a connection: its client may still be sending (a
  // body refused unread), and closing now would answer that with a reset
  // that can destroy the response before the client reads it. So the
  // sending side is shut, what still arrives is read and dropped, for a
  // moment at most, and then the connection is closed.
  void finish() {
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(kLinger);
    drain(0);
  }

  void close() {
    body_deadline_.cancel();
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  // An event stream: the newest data is sent once; older data not yet sent
  // is skipped (each frame is the whole state).
  void offer(const std::shared_ptr<const std::string> &data) {
    if (data == sent_)
      return;
    pending_ = data;
    write_event();
  }
  void heartbeat_or_end(Clock::time_point now) {
    if (writing_)
      return;
    if (now >= stream_ends_) {
      ending_ = true;
      write_event();
    } else if (now - last_write_ >= server_.limits.stream_heartbeat) {
      heartbeat_ = true;
      write_event();
    }
  }
  void end_stream() {
    ending_ = true;
    write_event();
  }

private:
  static constexpr auto kLinger = std::chrono::milliseconds(1000);
  static constexpr size_t kLingerBytes = 64 * 1024;

  void drain(size_t dropped) {
    if (dropped > kLingerBytes)
      return close();
    stream_.async_read_some(asio::buffer(discard_),
                            [self = shared_from_this(), dropped](error_code ec, size_t n) {
                              ec ? self->close() : self->drain(dropped + n);
                            });
  }

  void on_head(error_code ec) {
    if (ec) {
      if (ec == http::error::header_limit) {
        const auto *data = static_cast<const char *>(buffer_.data().data());
        const bool line_whole =
            std::string_view(data, buffer_.size()).find("\r\n") != std::string_view::npos;
        return line_whole ? refuse(431, "invalid", "the request's headers are too long")
                          : refuse(414, "invalid", "the request's URI is too long");
      }
      if (ec == http::error::body_limit) // a Content-Length above the limit
        return refuse(413, "invalid", "the request body is too long");
      if (ec == beast::error::timeout || ec == http::error::end_of_stream ||
          ec == asio::error::eof || ec == asio::error::operation_aborted ||
          ec == asio::error::connection_reset)
        return close();
      return refuse(400, "invalid", "the request could not be read as HTTP/1.1");
    }
    const auto &head = parser_->get();
    const std::string_view target(head.target().data(), head.target().size());
    const size_t question = target.find('?');
    request_.method = std::string(head.method_string());
    request_.path = decoded(target.substr(0, question), false);
    if (question != std::string_view::npos)
      request_.query = decoded_query(target.substr(question + 1));
    request_.authorization = std::string(head[http::field::authorization]);
    version_ = head.version();
    keep_alive_ = head.keep_alive();

    if (server_.routes.gate)
      if (auto refused = server_.routes.gate(request_)) {
        server_.routes.finish(*refused);
        return respond(std::move(*refused), !parser_->is_done());
      }
    const size_t limit = server_.routes.body_limit ? server_.routes.body_limit(request_)
                                                   : server_.limits.max_body_bytes;
    if (const auto length = parser_->content_length(); length && *length > limit)
      return refuse(413, "invalid",
                    "the request body is too long (at most " + std::to_string(limit) +
                        " bytes here)");
    parser_->body_limit(limit);
    if (!server_.routes.stream_path.empty() && request_.path == server_.routes.stream_path &&
        head.method() == http::verb::get)
      return open_stream();
    if (beast::iequals(head[http::field::expect], "100-continue") && !parser_->is_done()) {
      auto go_on =
          std::make_shared<http::response<http::empty_body>>(http::status::continue_, version_);
      stream_.expires_after(server_.limits.write_timeout);
      return http::async_write(stream_, *go_on,
                               [self = shared_from_this(), go_on](error_code ec, size_t) {
                                 ec ? self->close() : self->read_body();
                               });
    }
    read_body();
  }

  // The body's deadline is a timer of its own, not the stream's: the
  // stream's closes the socket, and a late body is answered (408).
  void read_body() {
    stream_.expires_never();
    body_late_ = false;
    body_deadline_.expires_after(server_.limits.body_timeout);
    body_deadline_.async_wait([self = shared_from_this()](error_code ec) {
      if (ec)
        return;
      self->body_late_ = true;
      error_code ignored;
      self->stream_.socket().cancel(ignored);
    });
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](error_code ec, size_t) { self->on_body(ec); });
  }

  void on_body(error_code ec) {
    body_deadline_.cancel();
    if (ec == http::error::body_limit)
      return refuse(413, "invalid", "the request body is too long");
    if (body_late_)
      return refuse(408, "invalid",
                    "the request body did not arrive within " +
                        std::to_string(server_.limits.body_timeout.count()) + " ms");
    if (ec)
      return close();
    request_.body = std::move(parser_->get().body());
    if (server_.waiting >= server_.limits.max_waiting) {
      Response busy = server_.refusal(503, "busy", "the server is busy; try again later");
      busy.headers.emplace_back("Retry-After", "1");
      return respond(std::move(busy), false);
    }
    ++server_.waiting;
    stream_.expires_never(); // nothing is read or written while zdctl answers
    asio::post(server_.workers, [self = shared_from_this()]() mutable {
      Response response = self->server_.routes.handle(self->request_);
      self->server_.routes.finish(response);
      --self->server_.waiting;
      auto &io = self->server_.io;
      asio::post(io, [self = std::move(self), response = std::move(response)]() mutable {
        // A change made through the API reaches the streams at once, not
        // at the next tick (one made by the CLI waits for the tick).
        if (self->request_.method != "GET" && self->request_.method != "HEAD" &&
            !self->server_.streams.empty())
          self->server_.poll_now();
        self->respond(std::move(response), false);
      });
    });
  }

  void refuse(int status, const char *kind, const std::string &message) {
    respond(server_.refusal(status, kind, message), true);
  }

  // Writes one response; then the next request, or the end of the connection.
  void respond(Response response, bool last) {
    auto out = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(response.status), version_);
    out->set(http::field::content_type, response.content_type);
    for (const auto &[name, value] : response.headers)
      out->set(name, value);
    ++served_;
    const bool again = !last && keep_alive_ && served_ < server_.limits.max_requests_per_connection;
    out->keep_alive(again);
    out->body() = std::move(response.body);
    out->prepare_payload();
    if (request_.method == "HEAD")
      out->body().clear(); // its Content-Length stays the GET's
    stream_.expires_after(server_.limits.write_timeout);
    http::async_write(stream_, *out,
                      [self = shared_from_this(), out, again](error_code ec, size_t) {
                        if (ec)
                          return self->close();
                        again ? self->read_head() : self->finish();
                      });
  }

  void open_stream() {
    if (version_ < 11)
      return refuse(400, "invalid", "the event stream needs HTTP/1.1");
    if (server_.streams_open >= server_.limits.max_streams) {
      Response busy =
          server_.refusal(503, "busy", "too many event streams are open; try again later");
      busy.headers.emplace_back("Retry-After", "5");
      return respond(std::move(busy), true);
    }
    Response head;
    server_.routes.finish(head);
    head_.emplace(http::status::ok, version_);
    head_->set(http::field::content_type, "text/event-stream");
    for (const auto &[name, value] : head.headers)
      head_->set(name, value);
    head_->keep_alive(false);
    head_->chunked(true);
    head_serializer_.emplace(*head_);
    stream_.expires_after(server_.limits.write_timeout);
    http::async_write_header(
        stream_, *head_serializer_, [self = shared_from_this()](error_code ec, size_t) {
          if (ec)
            return self->close();
          self->last_write_ = Clock::now();
          self->stream_ends_ = self->last_write_ + self->server_.limits.stream_lifetime;
          self->streaming_ = true;
          self->server_.stream_opened(self->shared_from_this());
          self->watch_for_close();
        });
  }

  // A stream's client sends nothing more; a read that ends says it left.
  void watch_for_close() {
    stream_.expires_never();
    stream_.async_read_some(asio::buffer(discard_),
                            [self = shared_from_this()](error_code ec, size_t) {
                              if (!ec)
                                return self->watch_for_close();
                              self->close();
                              self->server_.stream_closed(self);
                            });
  }

  void write_event() {
    if (writing_ || !streaming_)
      return;
    std::shared_ptr<std::string> frame;
    if (ending_) {
      streaming_ = false;
      writing_ = true;
      stream_.expires_after(server_.limits.write_timeout);
      return asio::async_write(stream_, http::make_chunk_last(),
                               [self = shared_from_this()](error_code, size_t) {
                                 self->close();
                                 self->server_.stream_closed(self);
                               });
    }
    if (pending_) {
      frame = std::make_shared<std::string>("retry: 1000\ndata: " + *pending_ + "\n\n");
      sent_ = std::move(pending_);
      pending_.reset();
    } else if (heartbeat_) {
      frame = std::make_shared<std::string>(": nothing changed\n\n");
    } else {
      return;
    }
    heartbeat_ = false;
    writing_ = true;
    stream_.expires_after(server_.limits.write_timeout);
    asio::async_write(stream_, http::make_chunk(asio::buffer(*frame)),
                      [self = shared_from_this(), frame](error_code ec, size_t) {
                        self->writing_ = false;
                        self->last_write_ = Clock::now();
                        if (ec) {
                          self->close();
                          return self->server_.stream_closed(self);
                        }
                        self->write_event();
                      });
  }

  Server::Impl &server_;
  beast::tcp_stream stream_;
  asio::steady_timer body_deadline_;
  bool body_late_ = false;
  const asio::ip::address client_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Request request_;
  unsigned version_ = 11;
  bool keep_alive_ = false;
  size_t served_ = 0;

  // An event stream's.
  std::optional<http::response<http::empty_body>> head_;
  std::optional<http::response_serializer<http::empty_body>> head_serializer_;
  std::shared_ptr<const std::string> sent_, pending_;
  bool streaming_ = false, writing_ = false, heartbeat_ = false, ending_ = false;
  Clock::time_point last_write_, stream_ends_;
  char discard_[4096];
};

void Server::Impl::accept() {
  acceptor.async_accept([self = shared_from_this()](error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || self->stopping)
      return;
    if (ec) { // out of fds, most likely: wait a little instead of spinning
      self->accept_pause.expires_after(std::chrono::milliseconds(50));
      return self->accept_pause.async_wait([self](error_code wait) {
        if (!wait)
          self->accept();
      });
    }
    self->admit(std::move(socket));
    self->accept();
  });
}

void Server::Impl::admit(tcp::socket socket) {
  error_code ec;
  const tcp::endpoint peer = socket.remote_endpoint(ec);
  if (ec)
    return;
  const auto it = per_client.find(peer.address());
  if (connections >= limits.max_connections ||
      (it != per_client.end() && it->second >= limits.max_per_client)) {
    ++refused;
    socket.close(ec); // at once: a flood is not queued behind the slow
    return;
  }
  // A response leaves in as few segments as it takes, and the last one is
  // never held back waiting for the client's delayed ACK (Nagle).
  socket.set_option(tcp::no_delay(true), ec);
  std::make_shared<Session>(*this, std::move(socket), peer.address())->read_head();
}

void Server::Impl::stream_opened(const std::shared_ptr<Session> &session) {
  streams.insert(session);
  streams_open = streams.size();
  if (latest)
    session->offer(latest);
  poll_now();
  if (!ticking) {
    ticking = true;
    tick();
  }
}

void Server::Impl::stream_closed(const std::shared_ptr<Session> &session) {
  streams.erase(session);
  streams_open = streams.size();
}

// The streams' data is read once for all of them, on a worker.
void Server::Impl::poll_now() {
  if (polling || stopping)
    return;
  polling = true;
  asio::post(workers, [self = shared_from_this()] {
    const auto start = Clock::now();
    std::optional<std::string> data = self->routes.poll();
    const auto took = Clock::now() - start;
    asio::post(self->io, [self, data = std::move(data), took] {
      self->polling = false;
      self->poll_costs[self->poll_count++ % self->poll_costs.size()] = took;
      if (self->stopping)
        return;
      if (!data) {
        self->latest.reset();
        for (const auto &stream : std::set(self->streams))
          stream->end_stream();
        return;
      }
      if (!self->latest || *self->latest != *data)
        self->latest = std::make_shared<const std::string>(*data);
      for (const auto &stream : std::set(self->streams))
        stream->offer(self->latest);
    });
  });
}

void Server::Impl::tick() {
  if (streams.empty() || stopping) {
    ticking = false;
    latest.reset(); // the next stream reads the state anew
    return;
  }
  poll_now();
  const auto now = Clock::now();
  for (const auto &stream : std::set(streams))
    stream->heartbeat_or_end(now);
  // Streams cost about a fifth of a core at most: a state whose read takes
  // 100 ms (thousands of domains) is read every 400 ms, not every 200. The
  // cost is the least of the last reads (a read preempted by a busy machine
  // says nothing of the state's size), and the wait never exceeds
  // kMaxStreamWait, so that a change still shows within a second.
  const Clock::duration cost = *std::min_element(poll_costs.begin(), poll_costs.end());
  stream_tick.expires_after(
      std::clamp<Clock::duration>(4 * cost, limits.stream_poll, kMaxStreamWait));
  stream_tick.async_wait([self = shared_from_this()](error_code ec) {
    if (!ec)
      self->tick();
    else
      self->ticking = false;
  });
}

void Server::Impl::shut() {
  stopping = true;
  error_code ignored;
  acceptor.close(ignored);
  accept_pause.cancel();
  stream_tick.cancel();
  for (Session *session : std::set(sessions))
    session->close();
  streams.clear();
}

Server::Server(const std::string &address, uint16_t port, const Limits &limits, Routes routes)
    : impl_(std::make_shared<Impl>(limits, std::move(routes))) {
  error_code ec;
  const auto ip = asio::ip::make_address(address, ec);
  if (ec)
    throw std::runtime_error("cannot listen on " + address + ": not an IP address");
  const tcp::endpoint where(ip, port);
  auto &acceptor = impl_->acceptor;
  acceptor.open(where.protocol(), ec);
  if (!ec)
    acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec && ip.is_v6())
    acceptor.set_option(asio::ip::v6_only(true), ec);
  if (!ec)
    acceptor.bind(where, ec);
  if (!ec)
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    throw std::runtime_error("cannot listen on " + address + " port " + std::to_string(port) +
                             ": " + ec.message());
  impl_->port = acceptor.local_endpoint().port();
  impl_->accept();
  impl_->thread = std::thread([impl = impl_] { impl->io.run(); });
}

Server::~Server() {
  // Closed on the event thread, and waited for: no worker may post to a
  // pool that is being joined.
  std::promise<void> shut;
  asio::post(impl_->io, [&] {
    impl_->shut();
    shut.set_value();
  });
  shut.get_future().wait();
  impl_->workers.join(); // the handlers running finish; their answers find closed sockets
  impl_->running.reset();
  impl_->thread.join(); // io.run() returns once the last connection is gone
}

uint16_t Server::port() const {
  return impl_->port;
}

Counts Server::counts() const {
  return {impl_->connections.load(), impl_->streams_open.load(), impl_->refused.load()};
}

bool same_secret(const std::string &given, const std::string &expected) {
  const size_t n = std::max(given.size(), expected.size());
  unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char a = i < given.size() ? given[i] : 0;
    const unsigned char b = i < expected.size() ? expected[i] : 0;
    diff |= a ^ b;
  }
  return diff == 0;
}

} // namespace zd_http_server
