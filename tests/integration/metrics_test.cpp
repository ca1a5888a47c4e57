// zdctl metrics: the state as Prometheus text, read by promtool's parser,
// with values that follow real traffic and real switches; and the /metrics
// listener, scraped over TCP, refusing what it does not serve.
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <cstdio>
#include <fstream>
#include <regex>

#include "harness.hpp"

namespace zdtest {
namespace {

// The value of one series ("name{labels}") in an exposition; "" if absent.
std::string value_of(const std::string &text, const std::string &series) {
  const std::string line_start = series + " ";
  for (size_t at = text.find(line_start); at != std::string::npos;
       at = text.find(line_start, at + 1))
    if (at == 0 || text[at - 1] == '\n') {
      const size_t from = at + line_start.size();
      return text.substr(from, text.find('\n', from) - from);
    }
  return "";
}

class Metrics : public BlueGreenTest {
protected:
  // promtool's verdict on a text: "" when it parses and passes the lint.
  std::string promtool_problems(const std::string &text) {
    const std::string path = bpffs() + "/../metrics.prom";
    std::ofstream(path) << text;
    Result r = run({"/bin/sh", "-c", "promtool check metrics < " + path});
    std::remove(path.c_str());
    return r.code == 0 && r.out.empty() && r.err.empty() ? "" : "promtool: " + r.out + r.err;
  }

  // zdctl metrics --listen ARGS..., once it says it serves (5 s at most).
  Child listen(const std::vector<std::string> &args, std::string *said = nullptr) {
    std::vector<std::string> argv = {kZdctl, "--state", state_dir(), "metrics", "--listen"};
    argv.insert(argv.end(), args.begin(), args.end());
    Child child = spawn(argv);
    std::string err;
    const auto deadline = Clock::now() + 5s;
    while (err.find('\n') == std::string::npos && Clock::now() < deadline) {
      pollfd p{child.err_fd(), POLLIN, 0};
      if (poll(&p, 1, remaining_ms(deadline)) <= 0)
        break;
      char buf[256];
      const ssize_t n = read(child.err_fd(), buf, sizeof(buf));
      if (n <= 0)
        break;
      err.append(buf, static_cast<size_t>(n));
    }
    if (said)
      *said = err;
    return child;
  }

  std::string write_token(const std::string &token, mode_t mode = 0600) {
    const std::string path = bpffs() + "/../token";
    std::ofstream(path) << token << "\n";
    chmod(path.c_str(), mode);
    return path;
  }
};

TEST_F(Metrics, TextPassesPromtoolAndFollowsTrafficAndSwitches) {
  if (access("/usr/bin/promtool", X_OK) != 0)
    GTEST_SKIP() << "promtool is missing (scripts/deps.sh installs prometheus)";
  const std::string empty = zdctl_ok({"metrics"});
  EXPECT_EQ(promtool_problems(empty), "");
  EXPECT_EQ(value_of(empty, R"(zd_domain_active{domain="shop",workspace=""})"), "1")
      << "no workspace serves shop yet";
  EXPECT_EQ(value_of(empty, R"(zd_switches_total{domain="shop",how="switch"})"), "0");

  zdctl_ok({"switch", "shop", "blue"});
  zdctl_ok({"switch", "shop", "green"});
  zdctl_ok({"revert", "shop"});
  zdctl_ok({"switch", "shop", "green"});
  const int connections = 7;
  for (int i = 0; i < connections - 1; ++i)
    ASSERT_EQ(greet(kV4), "green");
  Conn kept; // the last one stays open, held by green: what drain would wait for
  ASSERT_EQ(connect_and_greet(kV4, kPort, kept), ConnectError::none);

  const std::string text = zdctl_ok({"metrics"});
  EXPECT_EQ(promtool_problems(text), "") << text;
  EXPECT_EQ(value_of(text, R"(zd_workspace_connections{workspace="green",domain="shop"})"), "1")
      << text;
  EXPECT_EQ(value_of(text, R"(zd_workspace_connections{workspace="blue",domain="shop"})"), "0");
  EXPECT_EQ(value_of(text, R"(zd_switches_total{domain="shop",how="switch"})"), "3") << text;
  EXPECT_EQ(value_of(text, R"(zd_switches_total{domain="shop",how="revert"})"), "1");
  EXPECT_EQ(value_of(text, R"(zd_switches_total{domain="shop",how="force"})"), "0");
  EXPECT_EQ(value_of(text, R"(zd_domain_active{domain="shop",workspace="green"})"), "1");
  EXPECT_EQ(value_of(text, R"(zd_domain_active{domain="shop",workspace="blue"})"), "0");
  EXPECT_EQ(value_of(text, R"(zd_lookups_total{domain="shop",workspace=""})"),
            std::to_string(connections));
  EXPECT_EQ(value_of(text, R"(zd_steered_total{domain="shop",workspace=""})"),
            std::to_string(connections));
  EXPECT_EQ(value_of(text, R"(zd_steered_total{domain="",workspace="green"})"),
            std::to_string(connections));
  EXPECT_EQ(value_of(text, R"(zd_steered_total{domain="",workspace="blue"})"), "0");
  EXPECT_EQ(value_of(text, R"(zd_drops_total{domain="shop",workspace=""})"), "0");
  EXPECT_EQ(
      value_of(text,
               R"(zd_workspace_socket_alive{workspace="green",protocol="tcp",family="ipv6"})"),
      "1");
  EXPECT_NE(text.find("zd_build_info{version=\""), std::string::npos);

  // Blue's app goes away: its sockets read dead, and shop falls back to it no more.
  echoes()[0].child.kill();
  const std::string after = zdctl_ok({"metrics"});
  EXPECT_EQ(value_of(after,
                     R"(zd_workspace_socket_alive{workspace="blue",protocol="tcp",family="ipv4"})"),
            "0");
  zdctl_ok({"domain", "rm", "shop"});
  EXPECT_EQ(zdctl_ok({"metrics"}).find("domain=\"shop\""), std::string::npos)
      << "a removed domain's series go with it";
}

TEST_F(Metrics, ListenerServesFreshScrapesAndNothingElse) {
  std::string said;
  Child server = listen({"127.0.0.1:9477"}, &said);
  ASSERT_EQ(said, "serving metrics on http://127.0.0.1:9477/metrics\n");

  const HttpReply first = http_request(9477, "GET", "/metrics");
  ASSERT_EQ(first.status, 200) << first.headers;
  EXPECT_NE(first.headers.find("text/plain; version=0.0.4"), std::string::npos) << first.headers;
  EXPECT_EQ(first.headers.find("Set-Cookie"), std::string::npos);
  EXPECT_EQ(value_of(first.body, R"(zd_switches_total{domain="shop",how="switch"})"), "0");

  // Every scrape reads the maps again: the counter moves between two.
  zdctl_ok({"switch", "shop", "blue"});
  ASSERT_EQ(greet(kV4), "blue");
  const HttpReply second = http_request(9477, "GET", "/metrics");
  ASSERT_EQ(second.status, 200);
  EXPECT_EQ(value_of(second.body, R"(zd_switches_total{domain="shop",how="switch"})"), "1");
  EXPECT_EQ(value_of(second.body, R"(zd_steered_total{domain="",workspace="blue"})"), "1");
  EXPECT_EQ(second.body, zdctl_ok({"metrics"})) << "the listener and the command say the same";

  EXPECT_EQ(http_request(9477, "GET", "/").status, 404);
  EXPECT_EQ(http_request(9477, "GET", "/metrics/../etc").status, 404);
  const HttpReply post = http_request(9477, "POST", "/metrics", "Content-Length: 0\r\n");
  EXPECT_EQ(post.status, 405);
  EXPECT_NE(post.headers.find("Allow: GET, HEAD"), std::string::npos) << post.headers;
  EXPECT_EQ(http_request(9477, "DELETE", "/metrics").status, 405);
  // Requests are bounded: a long URI is refused, and a body beyond the bound
  // is not waited for (the reply comes at once, not after a read timeout).
  EXPECT_EQ(http_request(9477, "GET", "/metrics?" + std::string(10000, 'x')).status, 414);
  const auto start = Clock::now();
  const int big_post = http_request(9477, "POST", "/metrics", "", std::string(100000, 'x')).status;
  EXPECT_TRUE(big_post == 413 || big_post == 405) << big_post;
  EXPECT_LT(Clock::now() - start, 1s);
  const HttpReply head = http_request(9477, "HEAD", "/metrics");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");
  EXPECT_EQ(http_request(9477, "GET", "/metrics").status, 200) << "still serving after all that";

  // A scrape that cannot read the state says why, and the listener goes on.
  zdctl_ok({"detach"});
  const HttpReply detached = http_request(9477, "GET", "/metrics");
  EXPECT_EQ(detached.status, 500);
  EXPECT_NE(detached.body.find("not attached"), std::string::npos) << detached.body;
  zdctl_ok({"attach"});
  EXPECT_EQ(http_request(9477, "GET", "/metrics").status, 200);

  ASSERT_EQ(kill(server.pid(), SIGTERM), 0);
  EXPECT_EQ(server.wait(5s), 0) << "SIGTERM stops it cleanly";
  EXPECT_EQ(http_request(9477, "GET", "/metrics").status, 0) << "nothing listens any more";
}

TEST_F(Metrics, ATokenIsRequiredWhenOneIsGiven) {
  const std::string token = "s3cr3t-t0ken-0123456789";
  Child server = listen({"127.0.0.1:9478", "--token-file", write_token(token)});
  EXPECT_EQ(http_request(9478, "GET", "/metrics").status, 401);
  EXPECT_EQ(http_request(9478, "GET", "/metrics", "Authorization: Bearer wrong\r\n").status, 401);
  EXPECT_EQ(
      http_request(9478, "GET", "/metrics", "Authorization: Bearer " + token + "x\r\n").status,
      401);
  EXPECT_EQ(http_request(9478, "GET", "/", "Authorization: Bearer wrong\r\n").status, 401)
      << "no path is told apart without the token";
  const HttpReply ok =
      http_request(9478, "GET", "/metrics", "Authorization: Bearer " + token + "\r\n");
  EXPECT_EQ(ok.status, 200);
  EXPECT_NE(ok.body.find("zd_build_info"), std::string::npos);
  ASSERT_EQ(kill(server.pid(), SIGINT), 0);
  EXPECT_EQ(server.wait(5s), 0) << "SIGINT stops it cleanly";
}

TEST_F(Metrics, ANonLoopbackAddressNeedsAToken) {
  Result refused = zdctl({"metrics", "--listen", std::string(kV4) + ":9479"});
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("not a loopback address"), std::string::npos) << refused.err;
  EXPECT_EQ(std::count(refused.err.begin(), refused.err.end(), '\n'), 1) << refused.err;

  Result readable = zdctl({"metrics", "--listen", "127.0.0.1:9479", "--token-file",
                           write_token("s3cr3t-t0ken-0123456789", 0644)});
  EXPECT_EQ(readable.code, 1);
  EXPECT_NE(readable.err.find("chmod 600"), std::string::npos) << readable.err;
  for (const std::string &bad :
       {std::string("short"), std::string(5000, 'x'), std::string("two words-0123456789")}) {
    Result r = zdctl({"metrics", "--listen", "127.0.0.1:9479", "--token-file", write_token(bad)});
    EXPECT_EQ(r.code, 1) << bad.size();
    EXPECT_NE(r.err.find("one token of 16 to 4096"), std::string::npos) << r.err;
  }

  for (const char *bad : {"9477", "localhost:9477", "127.0.0.1:", "127.0.0.1:70000", "::1:9477"}) {
    Result r = zdctl({"metrics", "--listen", bad});
    EXPECT_EQ(r.code, 1) << bad;
    EXPECT_NE(r.err.find("ADDRESS:PORT"), std::string::npos) << bad << ": " << r.err;
  }

  // With a token, a routed address is served (here the domain's own, local in this namespace).
  std::string said;
  Child server = listen(
      {std::string(kV4) + ":9479", "--token-file", write_token("s3cr3t-t0ken-0123456789")}, &said);
  EXPECT_EQ(said, "serving metrics on http://10.99.0.1:9479/metrics\n");
}

} // namespace
} // namespace zdtest
