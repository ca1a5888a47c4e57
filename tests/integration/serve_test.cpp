// zdctl serve: the JSON API, /metrics and the event stream, over real TCP,
// against a real state with real workspaces. Every endpoint, every refusal
// (no token, a wrong one, malformed or oversized bodies, unknown names), and
// the promises that matter: the API and the CLI change one state under one
// lock, and killing serve changes nothing for traffic.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "serve_fixture.hpp"
#include "zd_shared.h"

namespace zdtest {
namespace {

using json = nlohmann::json;

std::string error_kind(const HttpReply &reply) {
  const json body = json::parse(reply.body, nullptr, false);
  return body.is_object() && body.contains("error") ? body["error"]["kind"].get<std::string>()
                                                    : "(no error body: " + reply.body + ")";
}

TEST_F(Serve, ThePageIsPublicTheApiNeedsTheTokenAndEveryResponseIsHardened) {
  start();
  const HttpReply page = http_request(port_, "GET", "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.headers.find("Content-Type: text/html"), std::string::npos);
  EXPECT_NE(page.body.find("<title>Domains"), std::string::npos);
  for (const char *file : {"/app.js", "/app.css", "/favicon.svg"})
    EXPECT_EQ(http_request(port_, "GET", file).status, 200) << file;

  const HttpReply none = http_request(port_, "GET", "/api/v1/status");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(error_kind(none), "unauthorized");
  EXPECT_NE(none.headers.find("WWW-Authenticate: Bearer"), std::string::npos);
  const std::string wrong = "Authorization: Bearer " + std::string(token_.size(), 'a') + "\r\n";
  EXPECT_EQ(http_request(port_, "GET", "/api/v1/status", wrong).status, 401);
  EXPECT_EQ(
      http_request(port_, "GET", "/api/v1/status", "Authorization: " + token_ + "\r\n").status, 401)
      << "the token without 'Bearer'";
  EXPECT_EQ(
      http_request(port_, "POST", "/api/v1/domains/shop/switch", "", R"({"workspace":"green"})")
          .status,
      401);
  EXPECT_EQ(http_request(port_, "GET", "/metrics").status, 401) << "metrics are private by default";
  EXPECT_EQ(active(), "blue") << "no refused call changed anything";

  for (const HttpReply &reply : {page, none, get("/api/v1/status")}) {
    EXPECT_NE(reply.headers.find("Content-Security-Policy: default-src 'none'; script-src 'self'"),
              std::string::npos)
        << reply.headers;
    EXPECT_NE(reply.headers.find("X-Content-Type-Options: nosniff"), std::string::npos);
    EXPECT_NE(reply.headers.find("X-Frame-Options: DENY"), std::string::npos);
    EXPECT_NE(reply.headers.find("Cache-Control: no-store"), std::string::npos);
    EXPECT_EQ(reply.headers.find("Set-Cookie"), std::string::npos);
    EXPECT_EQ(reply.headers.find("Access-Control-Allow"), std::string::npos);
  }
}

TEST_F(Serve, EveryReadEndpointAnswersWhatTheCliShows) {
  start();
  const json index = get_json("/api/v1");
  EXPECT_EQ(index["layout"], ZD_LAYOUT_VERSION);
  EXPECT_GE(index["endpoints"].size(), 10u);

  EXPECT_EQ(get_json("/api/v1/status"), json::parse(zdctl_ok({"--json", "status"})));
  const json domains = get_json("/api/v1/domains")["domains"];
  ASSERT_EQ(domains.size(), 1u);
  EXPECT_EQ(domains[0]["name"], "shop");
  EXPECT_EQ(domains[0]["active"], "blue");
  const json shop = get_json("/api/v1/domains/shop");
  EXPECT_EQ(shop["active"], "blue");
  ASSERT_EQ(shop["history"].size(), 1u);
  EXPECT_EQ(shop["history"][0]["to"], "blue");
  EXPECT_EQ(get_json("/api/v1/domains/shop/history"),
            json::parse(zdctl_ok({"--json", "history", "shop"})));
  EXPECT_EQ(get_json("/api/v1/history"), json::parse(zdctl_ok({"--json", "history"})));
  EXPECT_EQ(get_json("/api/v1/history?domain=shop")["history"].size(), 1u);
  const json workspaces = get_json("/api/v1/workspaces")["workspaces"];
  ASSERT_EQ(workspaces.size(), 2u);
  EXPECT_EQ(get_json("/api/v1/workspaces/green")["name"], "green");
  // With the domains whose routes name it, as status --workspace.
  EXPECT_TRUE(get_json("/api/v1/workspaces/green")["domains"].is_array());

  for (const char *path : {"/api/v1/domains/nope", "/api/v1/domains/nope/history",
                           "/api/v1/workspaces/nope", "/api/v1/history?domain=nope"}) {
    const HttpReply reply = get(path);
    EXPECT_EQ(reply.status, 404) << path;
    EXPECT_EQ(error_kind(reply), "not found") << path;
  }
  EXPECT_EQ(get("/api/v2/status").status, 404);
  EXPECT_EQ(get("/api/v1/nothing").status, 404);
  EXPECT_EQ(get("/etc/passwd").status, 404);
  EXPECT_EQ(call("DELETE", "/api/v1/status", "").status, 405);
  EXPECT_EQ(call("GET", "/api/v1/domains/shop/switch", "").status, 405);
  EXPECT_EQ(call("PUT", "/api/v1/domains/shop/canary", "{}").status, 405);

  const HttpReply metrics = get("/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.headers.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(metrics.body.find("zd_domain_active{domain=\"shop\",workspace=\"blue\"} 1"),
            std::string::npos)
      << metrics.body;
}

TEST_F(Serve, SwitchRevertAndCanaryMoveNewConnectionsAndLeaveOpenOnesBe) {
  start();
  Conn kept;
  ASSERT_EQ(connect_and_greet(kV4, kPort, kept), ConnectError::none);
  ASSERT_EQ(kept.greeting, "blue");

  const HttpReply switched =
      call("POST", "/api/v1/domains/shop/switch", R"({"workspace":"green"})");
  ASSERT_EQ(switched.status, 200) << switched.body;
  const json body = json::parse(switched.body);
  EXPECT_EQ(body["from"], "blue");
  EXPECT_EQ(body["to"], "green");
  EXPECT_EQ(body["changed"], true);
  for (int i = 0; i < 20; ++i)
    ASSERT_EQ(greet(kV4), "green");
  EXPECT_EQ(exchange(kept, "still", 10), "blue:still") << "the connection opened before stays";
  EXPECT_EQ(active(), "green") << "the CLI sees the API's switch at once";

  const HttpReply again = call("POST", "/api/v1/domains/shop/switch", R"({"workspace":"green"})");
  EXPECT_EQ(json::parse(again.body)["changed"], false);

  ASSERT_EQ(call("POST", "/api/v1/domains/shop/revert", "").status, 200);
  EXPECT_EQ(greet(kV4), "blue");
  const HttpReply dry =
      call("POST", "/api/v1/domains/shop/switch", R"({"workspace":"green","dry_run":true})");
  EXPECT_EQ(json::parse(dry.body)["dry_run"], true);
  EXPECT_EQ(active(), "blue") << "a dry run changes nothing";

  const HttpReply canary =
      call("POST", "/api/v1/domains/shop/canary", R"({"workspace":"green","weight":50})");
  ASSERT_EQ(canary.status, 200) << canary.body;
  EXPECT_EQ(json::parse(canary.body)["canary"], "green");
  int green = 0;
  for (int i = 0; i < 200; ++i)
    green += greet(kV4) == "green";
  EXPECT_GT(green, 60);
  EXPECT_LT(green, 140);
  EXPECT_EQ(get_json("/api/v1/domains/shop")["canary"]["weight"], 50);
  const HttpReply ended = call("DELETE", "/api/v1/domains/shop/canary", "");
  ASSERT_EQ(ended.status, 200) << ended.body;
  EXPECT_TRUE(json::parse(ended.body)["canary"].is_null());
  for (int i = 0; i < 20; ++i)
    ASSERT_EQ(greet(kV4), "blue");

  const json history = json::parse(zdctl_ok({"--json", "history", "shop"}))["history"];
  std::vector<std::string> hows;
  for (const auto &e : history)
    hows.push_back(e["how"]);
  EXPECT_EQ(hows, (std::vector<std::string>{"switch", "switch", "revert", "canary", "canary-end"}));
}

TEST_F(Serve, BadRequestsAreRefusedClearlyAndChangeNothing) {
  start();
  const std::string before = status_json();
  const std::string history = zdctl_ok({"--json", "history"});
  struct Case {
    std::string method, path, body;
    int status;
    std::string kind;
  };
  const std::vector<Case> cases = {
      {"POST", "/api/v1/domains/shop/switch", R"({"workspace":"green",)", 400, "invalid"},
      {"POST", "/api/v1/domains/shop/switch", R"(["green"])", 400, "invalid"},
      {"POST", "/api/v1/domains/shop/switch", R"("green")", 400, "invalid"},
      {"POST", "/api/v1/domains/shop/switch", R"({})", 400, "invalid"},
      {"POST", "/api/v1/domains/shop/switch", R"({"workspace":7})", 400, "invalid"},
      {"POST", "/api/v1/domains/shop/switch", R"({"workspace":"green","forse":true})", 400,
       "invalid"},
      {"POST", "/api/v1/domains/shop/switch", R"({"workspace":"green","force":"yes"})", 400,
       "invalid"},
      {"POST", "/api/v1/domains/shop/switch", R"({"workspace":"green","check":"ftp"})", 400,
       "invalid"},
      {"POST", "/api/v1/domains/shop/switch", R"({"workspace":"nope"})", 404, "not found"},
      {"POST", "/api/v1/domains/nope/switch", R"({"workspace":"green"})", 404, "not found"},
      {"POST", "/api/v1/domains/shop/revert", R"({"to":-1})", 400, "invalid"},
      {"POST", "/api/v1/domains/shop/revert", R"({"to":999})", 404, "not found"},
      {"POST", "/api/v1/domains/shop/revert", "", 409, "refused"}, // no previous workspace
      {"POST", "/api/v1/domains/shop/canary", R"({"workspace":"green","weight":0})", 400,
       "invalid"},
      {"POST", "/api/v1/domains/shop/canary", R"({"workspace":"green","weight":101})", 400,
       "invalid"},
      {"POST", "/api/v1/domains/shop/canary", R"({"workspace":"green","weight":1.5})", 400,
       "invalid"},
      {"POST", "/api/v1/domains/shop/canary", R"({"workspace":"blue","weight":10})", 409,
       "refused"},
      {"POST", "/api/v1/domains/shop/canary", R"({"workspace":"green"})", 400, "invalid"},
      {"DELETE", "/api/v1/domains/shop/canary", "", 409, "refused"}, // no canary to end
      {"POST", "/api/v1/domains/shop/switch", std::string(20000, '{'), 413, "invalid"},
  };
  for (const Case &c : cases) {
    const HttpReply reply = call(c.method, c.path, c.body);
    EXPECT_EQ(reply.status, c.status)
        << c.method << " " << c.path << " " << c.body.substr(0, 60) << " -> " << reply.body;
    EXPECT_EQ(error_kind(reply), c.kind) << c.path << " " << c.body.substr(0, 60);
    const json error = json::parse(reply.body, nullptr, false);
    if (error.is_object() && error.contains("error")) {
      EXPECT_FALSE(error["error"]["message"].get<std::string>().empty());
    }
  }
  EXPECT_EQ(status_json(), before);
  EXPECT_EQ(zdctl_ok({"--json", "history"}), history);
  EXPECT_EQ(get("/api/v1/status").status, 200) << "the server still answers";
}

TEST_F(Serve, ASwitchToAWorkspaceFailingItsCheckIsRefusedWithTheProbesAnswer) {
  // A workspace that answers TCP but not HTTP: an HTTP check of it fails.
  zdctl_ok({"domain", "set", "shop", "--check", "/healthz", "--check-timeout", "300ms",
            "--check-retries", "0"});
  start();
  const HttpReply refused = call("POST", "/api/v1/domains/shop/switch", R"({"workspace":"green"})");
  EXPECT_EQ(refused.status, 409) << refused.body;
  const json error = json::parse(refused.body)["error"];
  EXPECT_EQ(error["kind"], "refused");
  EXPECT_EQ(error["override"], "skip_check");
  EXPECT_NE(error["message"].get<std::string>().find("GET /healthz at tcp://127.0.0.1:3002"),
            std::string::npos)
      << error;
  EXPECT_EQ(active(), "blue");
  const HttpReply skipped =
      call("POST", "/api/v1/domains/shop/switch", R"({"workspace":"green","no_check":true})");
  EXPECT_EQ(skipped.status, 200) << skipped.body;
  EXPECT_EQ(json::parse(skipped.body)["check_skipped"], true);
  EXPECT_EQ(active(), "green");
}

TEST_F(Serve, SwitchesFromTheApiAndTheCliAtOnceLeaveOneConsistentState) {
  start();
  constexpr int kEach = 25;
  std::vector<std::string> api_failures;
  std::thread api([&] {
    for (int i = 0; i < kEach; ++i) {
      const std::string to = i % 2 ? "blue" : "green";
      const HttpReply reply =
          call("POST", "/api/v1/domains/shop/switch", R"({"workspace":")" + to + "\"}");
      if (reply.status != 200)
        api_failures.push_back(std::to_string(reply.status) + " " + reply.body);
    }
  });
  int cli_failures = 0;
  for (int i = 0; i < kEach; ++i)
    cli_failures += zdctl({"switch", "shop", i % 2 ? "green" : "blue"}).code != 0;
  api.join();
  EXPECT_EQ(api_failures, std::vector<std::string>{});
  EXPECT_EQ(cli_failures, 0);

  // The route, the records and history tell one story: the last change made
  // is the route in force, in the maps and in status alike.
  const json status = json::parse(status_json());
  const json history = json::parse(zdctl_ok({"--json", "history", "shop"}))["history"];
  ASSERT_FALSE(history.empty());
  EXPECT_EQ(status["domains"][0]["active"], history.back()["to"]);
  EXPECT_EQ(status["domains"][0]["previous"], history.back()["from"]);
  for (size_t i = 1; i < history.size(); ++i)
    EXPECT_EQ(history[i]["from"], history[i - 1]["to"]) << "entry " << history[i]["seq"];
  const std::string serving = status["domains"][0]["active"];
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(greet(kV4), serving);
  EXPECT_EQ(get_json("/api/v1/status"), json::parse(zdctl_ok({"--json", "status"})));
}

TEST_F(Serve, TheEventStreamSendsTheStateAndThenEachChange) {
  start();
  EventStream stream;
  ASSERT_TRUE(stream.open(port_, bearer()));
  EXPECT_EQ(stream.until_active("blue", 3s), "blue");
  zdctl_ok({"switch", "shop", "green"});
  EXPECT_EQ(stream.until_active("green", 3s), "green")
      << "a change made by the CLI reaches the stream";
}

TEST_F(Serve, AWorkspacesHealthCheckIsSetAndRemovedOverTheApi) {
  start();
  const HttpReply set = call("PUT", "/api/v1/workspaces/green/check",
                             R"({"check":"tcp","interval":"300ms","timeout":"200ms","fall":2})");
  ASSERT_EQ(set.status, 200) << set.body;
  const json check = json::parse(status_json())["workspaces"][1]["health"]["check"];
  EXPECT_EQ(check, json::parse(R"({"kind":"tcp","timeout_ms":200,"interval_ms":300,"rise":2,
                                   "fall":2})"));
  EXPECT_EQ(json::parse(set.body)["check"], check) << "the answer is what status shows";
  for (const auto &[body, kind] : std::vector<std::pair<std::string, std::string>>{
           {R"({"check":"ftp"})", "invalid"},
           {R"({"check":"tcp","fall":0})", "invalid"},
           {R"({"check":"tcp","interval":"0s"})", "invalid"},
           {R"({"interval":"1s"})", "invalid"},
           {R"({"check":"tcp","every":"1s"})", "invalid"}})
    EXPECT_EQ(error_kind(call("PUT", "/api/v1/workspaces/green/check", body)), kind) << body;
  EXPECT_EQ(call("PUT", "/api/v1/workspaces/nope/check", R"({"check":"tcp"})").status, 404);
  EXPECT_EQ(call("POST", "/api/v1/workspaces/green/check", R"({"check":"tcp"})").status, 405);
  EXPECT_EQ(json::parse(status_json())["workspaces"][1]["health"]["check"], check)
      << "refusals changed nothing";
  ASSERT_EQ(call("DELETE", "/api/v1/workspaces/green/check", "").status, 200);
  EXPECT_TRUE(json::parse(status_json())["workspaces"][1]["health"].is_null());
}

TEST_F(Serve, ACanarysOrdersAreTakenOverTheApi) {
  start();
  const HttpReply set = call("POST", "/api/v1/domains/shop/canary",
                             R"({"workspace":"green","weight":20,"promote_after":"10m",
                                 "revert_on_failure":false})");
  ASSERT_EQ(set.status, 200) << set.body;
  const json canary = json::parse(status_json())["domains"][0]["canary"];
  EXPECT_EQ(canary["promote_after_ms"], 600000);
  EXPECT_EQ(canary["revert_on_failure"], false);
  EXPECT_FALSE(canary["since"].is_null());
  EXPECT_EQ(error_kind(call("POST", "/api/v1/domains/shop/canary",
                            R"({"workspace":"green","weight":20,"promote_after":"soon"})")),
            "invalid");
  EXPECT_EQ(error_kind(call("POST", "/api/v1/domains/shop/canary",
                            R"({"workspace":"green","weight":20,"revert_on_failure":1})")),
            "invalid");
  EXPECT_EQ(json::parse(status_json())["domains"][0]["canary"], canary)
      << "refusals changed nothing";
}

TEST_F(Serve, MetricsCanBeMadePublicAndNothingElseIs) {
  start({"--metrics-public"});
  EXPECT_EQ(http_request(port_, "GET", "/metrics").status, 200);
  EXPECT_EQ(http_request(port_, "GET", "/api/v1/status").status, 401);
}

TEST_F(Serve, RefusesToStartWhereItShouldNot) {
  const Result exposed = zdctl({"serve", "--listen", "0.0.0.0:0"});
  EXPECT_EQ(exposed.code, 1);
  EXPECT_NE(exposed.err.find("not a loopback address"), std::string::npos) << exposed.err;
  const Result malformed = zdctl({"serve", "--listen", "localhost:80"});
  EXPECT_NE(malformed.err.find("--listen takes ADDRESS:PORT"), std::string::npos) << malformed.err;
  const std::string token = bpffs() + "/../serve-token";
  std::ofstream(token) << "0123456789abcdef0123\n";
  chmod(token.c_str(), 0644);
  const Result readable = zdctl({"serve", "--token-file", token});
  EXPECT_NE(readable.err.find("chmod 600"), std::string::npos) << readable.err;
  const Result detached = run({kZdctl, "--state", bpffs() + "/nothing", "serve"});
  EXPECT_NE(detached.code, 0);
  EXPECT_NE(detached.err.find("not attached"), std::string::npos) << detached.err;

  chmod(token.c_str(), 0600);
  start({"--token-file", token});
  EXPECT_EQ(token_, "0123456789abcdef0123");
  EXPECT_EQ(get("/api/v1/status").status, 200);
}

TEST_F(Serve, KillingServeDuringLoadChangesNothingForTraffic) {
  start();
  ASSERT_EQ(call("POST", "/api/v1/domains/shop/switch", R"({"workspace":"green"})").status, 200);
  const std::string before = status_json();
  std::atomic<bool> done = false;
  std::atomic<int> served = 0, failed = 0;
  std::thread load([&] {
    while (!done)
      (greet(kV4) == "green" ? served : failed)++;
  });
  const auto deadline = Clock::now() + 3s;
  while (served < 200 && Clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  std::thread reader([&] { get("/api/v1/status"); });
  server_->kill();
  reader.join();
  const int at_kill = served;
  while (served < at_kill + 200 && Clock::now() < deadline + 3s)
    std::this_thread::sleep_for(10ms);
  done = true;
  load.join();
  EXPECT_EQ(failed, 0);
  EXPECT_GE(served, at_kill + 200) << "connections kept being served after serve died";
  // Counters moved; nothing else did.
  json after = json::parse(status_json()), was = json::parse(before);
  for (json *s : {&after, &was}) {
    for (auto &d : (*s)["domains"])
      d.erase("counters");
    for (auto &w : (*s)["workspaces"])
      w.erase("counters");
  }
  EXPECT_EQ(after, was);
  start();
  EXPECT_EQ(get_json("/api/v1/domains/shop")["active"], "green") << "a new serve picks up as is";
}

} // namespace
} // namespace zdtest

namespace zdtest {
namespace {

// The API's apply takes the document export gives, with apply's flags as
// query parameters, and answers as `zdctl apply --json` prints.
TEST_F(Serve, ApplyAndExportOverTheApi) {
  start();
  const HttpReply exported = get("/api/v1/export");
  ASSERT_EQ(exported.status, 200) << exported.body;
  json document = json::parse(exported.body);
  EXPECT_EQ(document["domains"]["shop"]["active"], "blue");
  document["domains"]["shop"]["active"] = "green";

  const HttpReply applied = call("POST", "/api/v1/apply?no_check=1", document.dump());
  ASSERT_EQ(applied.status, 200) << applied.body;
  const json said = json::parse(applied.body);
  EXPECT_EQ(said["changed"], true);
  ASSERT_EQ(said["steps"].size(), 1u) << applied.body;
  EXPECT_EQ(said["steps"][0]["text"], "~ domain shop: active blue -> green");
  EXPECT_EQ(greet(kV4), "green");

  const HttpReply again = call("POST", "/api/v1/apply", document.dump());
  EXPECT_EQ(json::parse(again.body)["changed"], false) << again.body;
  const HttpReply bad = call("POST", "/api/v1/apply", R"({"domains": {"shop": {}}})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(error_kind(bad), "invalid");
  EXPECT_EQ(http_request(port_, "POST", "/api/v1/apply", "", document.dump()).status, 401);
  EXPECT_EQ(call("GET", "/api/v1/apply", "").status, 405);
  EXPECT_EQ(active(), "green");
}

} // namespace
} // namespace zdtest
