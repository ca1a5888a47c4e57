// Defects found by adversarial testing (issue 7), each pinned by a test:
// what a hostile or careless operator does must be refused cleanly or work.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <future>
#include <thread>

#include "harness.hpp"
#include "parse.hpp"
#include "state.hpp"

namespace zdtest {
namespace {

using json = nlohmann::json;

class Hostile : public BlueGreenTest {};

// A state inside the live state would attach a second program and keep the
// outer one from ever being removed.
TEST_F(Hostile, AStateInsideAStateIsRefused) {
  const std::string inner = state_dir() + "/inner";
  Result r = run({kZdctl, "--state", inner, "attach"});
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.err.find("inside the zd state"), std::string::npos) << r.err;
  struct stat st {};
  EXPECT_NE(stat(inner.c_str(), &st), 0) << "the refusal left a directory behind";
  zdctl_ok({"detach"});
  EXPECT_NE(stat(state_dir().c_str(), &st), 0) << "the outer state was not removed";
  EXPECT_NE(zdctl_ok({"attach"}).find("attached"), std::string::npos);
}

// A binding on an IPv4-mapped address never matches (the connection arrives
// as IPv4) and would let another domain take the IPv4 address itself.
TEST_F(Hostile, AnIpv4MappedBindingIsRefused) {
  const std::string before = status_json();
  Result r = zdctl({"domain", "add", "mapped", "--listen", "tcp://[::ffff:10.99.0.5]:80"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("IPv4-mapped"), std::string::npos) << r.err;
  EXPECT_EQ(status_json(), before);
  zdctl_ok({"domain", "add", "plain", "--listen", "tcp://10.99.0.5:80"});
}

// A symlink to the state is refused, not followed (issue 9): whoever can
// point it elsewhere would choose what a root zdctl changes.
TEST_F(Hostile, ASymlinkedStateIsRefused) {
  const std::string link = bpffs() + "-link";
  ASSERT_EQ(symlink(state_dir().c_str(), link.c_str()), 0) << std::strerror(errno);
  const std::string before = status_json();
  for (const auto &args : std::vector<std::vector<std::string>>{
           {"status"}, {"switch", "shop", "blue"}, {"attach"}, {"detach"}, {"upgrade"}}) {
    std::vector<std::string> argv = {kZdctl, "--state", link};
    argv.insert(argv.end(), args.begin(), args.end());
    Result r = run(argv);
    EXPECT_EQ(r.code, 1) << args[0] << ": " << r.out;
    EXPECT_EQ(r.err, "zdctl: error: state dir " + link +
                         " is a symlink; refusing to follow it (name the directory itself)\n");
  }
  EXPECT_EQ(status_json(), before);
  unlink(link.c_str());
}

// A reader that has gone (`zdctl switch ... | true`) must not turn a switch
// that happened into a failure.
TEST_F(Hostile, AChangeSucceedsWhenItsReaderHasGone) {
  zdctl_ok({"switch", "shop", "blue"});
  const std::string cmd = "set -o pipefail; '" + std::string(kZdctl) + "' --state '" + state_dir() +
                          "' switch shop green | true";
  Result r = run({"bash", "-c", cmd});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(status_json())["domains"][0]["active"], "green");
}

// bpffs refuses a dot in a name: say so before trying, not with a raw
// filesystem error or a privilege hint.
TEST_F(Hostile, ADottedStateNameIsRefusedPlainly) {
  Result r = run({kZdctl, "--state", bpffs() + "/zd.v2", "attach"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("'.'"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("root"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("filesystem error"), std::string::npos) << r.err;
}

// An app that stopped calling accept() still has a live socket, so zd keeps
// steering to it; status must show that its accept queue is full.
TEST_F(Hostile, StatusShowsAFullAcceptQueue) {
  Fd stuck(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(3009);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(stuck.get(), reinterpret_cast<sockaddr *>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(stuck.get(), 1), 0);
  SpawnOptions inherit;
  inherit.inherit = {{stuck.get(), 3}};
  zdctl_ok({"workspace", "add", "stuck", "--fd", "3"}, inherit);

  auto queue = [&] {
    const json status = json::parse(status_json());
    for (const auto &w : status["workspaces"])
      if (w["name"] == "stuck")
        return json(w["sockets"][0]["accept_queue"]);
    return json();
  };
  EXPECT_EQ(queue()["waiting"], 0);
  EXPECT_EQ(queue()["full"], false);

  // Never accepted: the queue holds backlog + 1 connections, then is full.
  std::vector<Fd> clients;
  for (int i = 0; i < 2; ++i) {
    clients.emplace_back(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_EQ(connect(clients.back().get(), reinterpret_cast<sockaddr *>(&addr), sizeof(addr)), 0);
  }
  json full = queue();
  EXPECT_EQ(full["waiting"], 2) << full;
  EXPECT_EQ(full["backlog"], 1) << full;
  EXPECT_EQ(full["full"], true) << full;
  EXPECT_NE(zdctl_ok({"status"}).find("ACCEPT QUEUE FULL 2/1"), std::string::npos);
}

// The prefix trie holds 4096 bindings: the one after says so, and changes
// nothing (256 domains of 16 prefix bindings each fill it). The 256 are
// added in this process, through the library call zdctl domain add makes,
// so the test costs 256 map writes, not 256 zdctl starts; the one that does
// not fit is a real zdctl.
TEST_F(Hostile, AFullPrefixMapSaysSo) {
  auto listens = [](int i) {
    std::vector<std::string> out;
    for (int b = 0; b < 16; ++b)
      out.push_back("tcp://10.99.1.0/24:" + std::to_string(1000 + 16 * i + b));
    return out;
  };
  for (int i = 0; i < 256; ++i) {
    std::vector<zd::Endpoint> bindings;
    for (const auto &text : listens(i))
      bindings.push_back(zd::parse_endpoint(text, zd::AllowPrefix::yes));
    ASSERT_NO_THROW(zd::State(state_dir()).with(zd::Lock::exclusive, [&](zd::ControlPlane &c) {
      c.add_domain("p" + std::to_string(i), bindings);
    })) << i;
  }
  const std::string before = status_json();
  std::vector<std::string> args = {"domain", "add", "p256"};
  for (const auto &text : listens(256)) {
    args.push_back("--listen");
    args.push_back(text);
  }
  Result r = zdctl(args);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("too many bindings: the prefixes map is full"), std::string::npos) << r.err;
  EXPECT_EQ(status_json(), before);
}

// A thread id is not a process id: say whose thread it is.
TEST_F(Hostile, AThreadIdAsPidNamesItsProcess) {
  std::promise<pid_t> tid;
  std::promise<void> done;
  std::thread thread([&] {
    tid.set_value(gettid());
    done.get_future().wait();
  });
  const pid_t id = tid.get_future().get();
  Result r = zdctl(
      {"workspace", "add", "t", "--pid", std::to_string(id), "--socket", "tcp://127.0.0.1:3001"});
  done.set_value();
  thread.join();
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("is a thread of process " + std::to_string(getpid())), std::string::npos)
      << r.err;
}

} // namespace
} // namespace zdtest
