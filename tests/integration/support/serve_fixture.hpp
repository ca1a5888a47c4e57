// The fixture of the serve tests: a zdctl serve on a free loopback port over
// the usual stage (shop on blue), and its token.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace zdtest {

class Serve : public BlueGreenTest {
protected:
  void SetUp() override {
    BlueGreenTest::SetUp();
    if (IsSkipped() || HasFatalFailure())
      return;
    zdctl_ok({"switch", "shop", "blue"});
  }

  // zdctl serve --json ARGS... on a free loopback port, once it says where.
  void start(const std::vector<std::string> &args = {}) {
    std::vector<std::string> argv = {kZdctl,   "--state",  state_dir(),  "serve",
                                     "--json", "--listen", "127.0.0.1:0"};
    argv.insert(argv.end(), args.begin(), args.end());
    server_.emplace(spawn(argv));
    const std::string line = read_line(server_->out_fd(), 5s);
    ASSERT_FALSE(line.empty()) << "zdctl serve said nothing within 5 s";
    const nlohmann::json said = nlohmann::json::parse(line);
    token_ = said["token"];
    const std::string listen = said["listen"];
    port_ = std::stoi(listen.substr(listen.rfind(':') + 1));
  }

  static std::string read_line(int fd, std::chrono::milliseconds limit) {
    std::string got;
    const auto deadline = Clock::now() + limit;
    while (got.find('\n') == std::string::npos && Clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, remaining_ms(deadline)) <= 0)
        break;
      char buf[512];
      const ssize_t n = read(fd, buf, sizeof(buf));
      if (n <= 0)
        break;
      got.append(buf, static_cast<size_t>(n));
    }
    return got.substr(0, got.find('\n'));
  }

  std::string bearer() const { return "Authorization: Bearer " + token_ + "\r\n"; }

  HttpReply get(const std::string &path) { return http_request(port_, "GET", path, bearer()); }
  HttpReply call(const std::string &method, const std::string &path, const std::string &body) {
    return http_request(port_, method, path, bearer() + "Content-Type: application/json\r\n", body);
  }
  nlohmann::json get_json(const std::string &path) {
    const HttpReply reply = get(path);
    EXPECT_EQ(reply.status, 200) << path << ": " << reply.body;
    return nlohmann::json::parse(reply.body, nullptr, false);
  }

  std::string active() { return nlohmann::json::parse(status_json())["domains"][0]["active"]; }

  std::optional<Child> server_;
  std::string token_;
  int port_ = 0;
};

// An event stream of serve (GET /api/v1/events): its request sent, then
// frames read as they come; `active` is shop's workspace in the last one.
struct EventStream {
  Conn conn;
  std::string pending;
  std::string active;

  bool open(int port, const std::string &bearer) {
    if (connect_only("127.0.0.1", port, conn) != ConnectError::none)
      return false;
    const std::string request =
        "GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n" + bearer + "\r\n";
    return send(conn.fd.get(), request.data(), request.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(request.size());
  }

  // Takes what has arrived, without waiting; false once the stream ended.
  bool take() {
    char buf[65536];
    const ssize_t n = recv(conn.fd.get(), buf, sizeof(buf), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
      return false;
    if (n > 0)
      pending.append(buf, static_cast<size_t>(n));
    for (size_t at; (at = pending.find("data: ")) != std::string::npos;) {
      const size_t end = pending.find('\n', at);
      if (end == std::string::npos)
        break;
      const auto event =
          nlohmann::json::parse(pending.substr(at + 6, end - at - 6), nullptr, false);
      pending.erase(0, end);
      if (event.is_object())
        active = event["status"]["domains"][0]["active"];
    }
    return true;
  }

  // Reads until a frame shows `want` (at most `limit`); returns `active`.
  std::string until_active(const std::string &want, std::chrono::milliseconds limit) {
    const auto deadline = Clock::now() + limit;
    while (active != want && Clock::now() < deadline) {
      pollfd p{conn.fd.get(), POLLIN, 0};
      if (poll(&p, 1, remaining_ms(deadline)) <= 0 || !take())
        break;
    }
    return active;
  }
};

} // namespace zdtest
