// The XDP plane end to end (issue 8): a client namespace -> this namespace
// (the host, zd's XDP program on the client's veth) -> two workspace
// namespaces (containers), each with an HTTP server on port 8080 while the
// domain is 10.99.0.1:80 and [fd00:99::1]:80. Real frames, real redirects,
// real sockets: nothing here is simulated.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <atomic>
#include <thread>

#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "netns.hpp"

namespace zdtest {
namespace {

using json = nlohmann::json;

class Containers : public NetnsTest {
protected:
  void SetUp() override {
    NetnsTest::SetUp();
    if (IsSkipped() || HasFatalFailure())
      return;
    // ip netns keeps its names under /run/netns: a tmpfs of this test's
    // own mount namespace, so nothing reaches the host's.
    mkdir("/run/netns", 0755);
    ASSERT_EQ(mount("tmpfs", "/run/netns", "tmpfs", 0, "mode=0755"), 0) << std::strerror(errno);
    // No duplicate address detection anywhere: an address (link-local ones
    // too) is usable at once, so the first IPv6 connection does not wait
    // on a tentative router address.
    for (const char *conf : {"all", "default"})
      write_sysctl(std::string("net/ipv6/conf/") + conf + "/accept_dad", "0");
    for (const char *ns : {"client", "ws1", "ws2"}) {
      sh({"ip", "netns", "add", ns});
      sh(in(ns, {"sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0",
                 "net.ipv6.conf.default.accept_dad=0"}));
    }
    // The client: 10.0.0.2 behind zc, with tx checksums done in software,
    // since a partial checksum does not survive XDP_REDIRECT.
    veth("zc", "client", "10.0.0", "fd00:c::");
    sh(in("client", {"ethtool", "-K", "eth0", "tx", "off"}));
    veth("zw1", "ws1", "10.1.1", "fd00:1::");
    veth("zw2", "ws2", "10.1.2", "fd00:2::");
    write_sysctl("net/ipv4/ip_forward", "1");
    write_sysctl("net/ipv6/conf/all/forwarding", "1");
    client_ = open_ns("client");
  }

  static std::vector<std::string> in(const std::string &ns, std::vector<std::string> argv) {
    argv.insert(argv.begin(), {"nsenter", "--net=/run/netns/" + ns});
    return argv;
  }
  void sh(const std::vector<std::string> &argv) {
    Result r = run(argv);
    ASSERT_EQ(r.code, 0) << argv[0] << " " << (argv.size() > 1 ? argv[1] : "") << " "
                         << (argv.size() > 2 ? argv[2] : "") << ": " << r.err;
  }
  // host_if here, eth0 in ns: NET.1 / V6:1 here, NET.2 / V6:2 there, and
  // the far side routes everything through here.
  void veth(const std::string &host_if, const std::string &ns, const std::string &net,
            const std::string &v6) {
    sh({"ip", "link", "add", host_if, "type", "veth", "peer", "name", "eth0", "netns", ns});
    sh({"ip", "addr", "add", net + ".1/24", "dev", host_if});
    sh({"ip", "addr", "add", v6 + "1/64", "dev", host_if, "nodad"});
    sh({"ip", "link", "set", host_if, "up"});
    sh(in(ns, {"ip", "addr", "add", net + ".2/24", "dev", "eth0"}));
    sh(in(ns, {"ip", "addr", "add", v6 + "2/64", "dev", "eth0", "nodad"}));
    sh(in(ns, {"ip", "link", "set", "eth0", "up"}));
    sh(in(ns, {"ip", "link", "set", "lo", "up"}));
    sh(in(ns, {"ip", "route", "add", "default", "via", net + ".1"}));
    sh(in(ns, {"ip", "-6", "route", "add", "default", "via", v6 + "1"}));
  }
  static zd::Netns open_ns(const std::string &name) {
    zd::Fd fd(open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    fstat(fd.get(), &st);
    return {std::move(fd), static_cast<uint64_t>(st.st_ino)};
  }

  // An HTTP server in a workspace namespace, registered as workspace name.
  Echo &serve(const std::string &name, const std::string &ns) {
    echoes().push_back(start_echo(name, {"--http", "0.0.0.0:8080", "[::]:8080"},
                                  {"nsenter", "--net=/run/netns/" + ns}));
    zdctl_ok({"workspace", "add", name, "--pid", std::to_string(echoes().back().pid()), "--socket",
              "tcp://0.0.0.0:8080", "--socket", "tcp://[::]:8080"});
    return echoes().back();
  }
  // The usual stage: XDP on the client's veth, domain shop, blue in ws1 and
  // green in ws2, shop switched to blue.
  void stage() {
    zdctl_ok({"attach", "--xdp", "zc"});
    zdctl_ok({"domain", "add", "shop", "--listen", "tcp://10.99.0.1:80", "--listen",
              "tcp://[fd00:99::1]:80"});
    serve("blue", "ws1");
    serve("green", "ws2");
    zdctl_ok({"switch", "shop", "blue"});
  }

  // A keep-alive HTTP connection from the client namespace.
  struct Http {
    Fd fd;
    // The body of one GET on this connection: the workspace that served
    // it, or "ERR:..." when it failed.
    std::string get() {
      static const std::string request = "GET / HTTP/1.1\r\nHost: shop\r\n\r\n";
      if (send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(request.size()))
        return "ERR:send " + std::string(std::strerror(errno));
      std::string got;
      char buf[512];
      for (;;) {
        const auto head = got.find("\r\n\r\n");
        if (head != std::string::npos) {
          const auto at = got.find("Content-Length: ");
          const size_t length = at == std::string::npos ? 0 : std::stoul(got.substr(at + 16));
          if (got.size() >= head + 4 + length) {
            std::string body = got.substr(head + 4, length);
            return body.empty() ? "ERR:empty" : body.substr(0, body.size() - 1);
          }
        }
        const ssize_t n = recv(fd.get(), buf, sizeof(buf), 0);
        if (n <= 0)
          return "ERR:recv " + std::string(n == 0 ? "closed" : std::strerror(errno));
        got.append(buf, static_cast<size_t>(n));
      }
    }
  };
  enum class From { client, host };
  // Connects from the client namespace (or from the host itself: local
  // traffic, which never crosses XDP); a failed connect gives fd -1 and why.
  Http connect_http(const std::string &host, std::string *why = nullptr, From from = From::client) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    const bool v6 = host.find(':') != std::string::npos;
    if (v6) {
      auto *a = reinterpret_cast<sockaddr_in6 *>(&ss);
      a->sin6_family = AF_INET6, a->sin6_port = htons(80);
      inet_pton(AF_INET6, host.c_str(), &a->sin6_addr);
      len = sizeof(*a);
    } else {
      auto *a = reinterpret_cast<sockaddr_in *>(&ss);
      a->sin_family = AF_INET, a->sin_port = htons(80);
      inet_pton(AF_INET, host.c_str(), &a->sin_addr);
      len = sizeof(*a);
    }
    Fd fd;
    if (from == From::client) {
      zd::InNetns inside(client_); // the socket belongs to the client for good
      fd.reset(socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    } else {
      fd.reset(socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    }
    timeval tv{2, 0};
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd.get(), reinterpret_cast<sockaddr *>(&ss), len) != 0) {
      if (why)
        *why = std::strerror(errno);
      return {};
    }
    return {std::move(fd)};
  }
  // One request on a fresh connection.
  std::string fetch(const std::string &host = "10.99.0.1") {
    std::string why;
    Http http = connect_http(host, &why);
    return http.fd ? http.get() : "ERR:connect " + why;
  }
  // How many of n fresh connections the workspace served.
  int served_by(const std::string &workspace, int n, const std::string &host = "10.99.0.1") {
    int hits = 0;
    for (int i = 0; i < n; ++i) {
      const std::string got = fetch(host);
      hits += got == workspace;
      if (got != workspace && i < 3)
        ADD_FAILURE() << "connection " << i << " to " << host << " got '" << got << "'";
    }
    return hits;
  }

  // The programs of the sk_lookup (netns) links attached to a namespace.
  std::vector<uint32_t> netns_link_programs(const std::string &ns) {
    const uint64_t inode = open_ns(ns).inode;
    std::vector<uint32_t> programs;
    for (uint32_t id = 0; bpf_link_get_next_id(id, &id) == 0;) {
      Fd fd(bpf_link_get_fd_by_id(id));
      bpf_link_info info{};
      uint32_t len = sizeof(info);
      if (fd && bpf_obj_get_info_by_fd(fd.get(), &info, &len) == 0 &&
          info.type == BPF_LINK_TYPE_NETNS && info.netns.netns_ino == inode)
        programs.push_back(info.prog_id);
    }
    return programs;
  }

  // What zd left in a namespace: its routes, an XDP program on eth0, and
  // sk_lookup links attached there.
  std::string leftovers(const std::string &ns) {
    std::string out;
    for (const char *family : {"-4", "-6"})
      out += run(in(ns, {"ip", family, "route", "show", "table", "local", "proto", "122"})).out;
    const std::string link = run(in(ns, {"ip", "-d", "link", "show", "eth0"})).out;
    if (link.find("prog/xdp") != std::string::npos)
      out += "xdp on eth0\n";
    for (uint32_t program : netns_link_programs(ns))
      out += "sk_lookup link running program " + std::to_string(program) + "\n";
    return out;
  }

  // The program zd's sk_lookup link in a namespace runs (0: none).
  uint32_t deliver_program(const std::string &ns) {
    const auto programs = netns_link_programs(ns);
    return programs.empty() ? 0 : programs.front();
  }

  zd::Netns client_;
};

TEST_F(Containers, NewConnectionsReachTheActiveWorkspaceOverIpv4AndIpv6) {
  stage();
  EXPECT_EQ(served_by("blue", 100), 100);
  EXPECT_EQ(served_by("blue", 20, "fd00:99::1"), 20);
  // What lets the container's veth take redirected frames is GRO, not an
  // XDP program (which would copy every other packet it receives).
  EXPECT_NE(run(in("ws1", {"ethtool", "-k", "eth0"})).out.find("generic-receive-offload: on"),
            std::string::npos);
  EXPECT_EQ(run(in("ws1", {"ip", "-d", "link", "show", "eth0"})).out.find("prog/xdp"),
            std::string::npos);
  zdctl_ok({"switch", "shop", "green"});
  EXPECT_EQ(served_by("green", 100), 100);
  EXPECT_EQ(served_by("green", 20, "fd00:99::1"), 20);

  const json status = json::parse(status_json());
  for (const auto &w : status["workspaces"]) {
    EXPECT_EQ(w["plane"], "xdp") << w.dump();
    EXPECT_EQ(w["interface"], w["name"] == "blue" ? "zw1" : "zw2") << w.dump();
    EXPECT_EQ(w["netns"], open_ns(w["name"] == "blue" ? "ws1" : "ws2").inode) << w.dump();
    EXPECT_TRUE(w["sockets"][0]["alive"]) << w.dump();
  }
  EXPECT_GE(status["xdp"]["counters"]["steered"], 240);
  // Per domain and per workspace too, as for a host workspace.
  EXPECT_GE(status["domains"][0]["counters"]["steered"], 240);
  for (const auto &w : status["workspaces"])
    EXPECT_GE(w["counters"]["steered"], 120) << w.dump();
  EXPECT_GE(status["xdp"]["flows"]["entries"], 240);
}

// A container's socket (0.0.0.0:8080 there) is probed inside its own
// namespace: in the test's, nothing listens on 8080.
TEST_F(Containers, ACheckProbesTheContainerInItsOwnNamespace) {
  stage();
  const json done =
      json::parse(zdctl_ok({"--json", "switch", "shop", "green", "--check", "/healthz"}));
  EXPECT_EQ(done["changed"], true);
  ASSERT_EQ(done["probes"].size(), 2u) << done.dump();
  EXPECT_EQ(done["probes"][0]["address"], "tcp://127.0.0.1:8080");
  EXPECT_EQ(done["probes"][0]["said"], "answered 200");
  EXPECT_EQ(done["probes"][1]["address"], "tcp://[::1]:8080");
  EXPECT_EQ(done["probes"][1]["said"], "answered 200");
  EXPECT_EQ(served_by("green", 20), 20);
}

TEST_F(Containers, AnOpenConnectionStaysThroughSwitchRevertAndUpgrade) {
  stage();
  Http old = connect_http("10.99.0.1");
  Http old6 = connect_http("fd00:99::1");
  ASSERT_EQ(old.get(), "blue");
  ASSERT_EQ(old6.get(), "blue");
  zdctl_ok({"switch", "shop", "green"});
  EXPECT_EQ(fetch(), "green");
  EXPECT_EQ(old.get(), "blue") << "a switch moved an established flow";
  zdctl_ok({"revert", "shop"});
  EXPECT_EQ(fetch(), "blue");
  zdctl_ok({"switch", "shop", "green"});
  const uint32_t deliver = deliver_program("ws1");
  ASSERT_NE(deliver, 0u);
  zdctl_ok({"upgrade", "--force"});
  EXPECT_NE(deliver_program("ws1"), deliver) << "upgrade left the container's sk_lookup as it was";
  EXPECT_NE(deliver_program("ws1"), 0u);
  EXPECT_EQ(old.get(), "blue") << "the upgrade cut an established flow";
  EXPECT_EQ(old6.get(), "blue");
  EXPECT_EQ(fetch(), "green");
  zdctl_ok({"revert", "shop"});
  EXPECT_EQ(fetch(), "blue") << "blue's upgraded sk_lookup delivers";
}

TEST_F(Containers, ADomainMovesFromAHostWorkspaceToAContainerAndBack) {
  stage();
  // A workspace of this (the host's) namespace: XDP passes its flows to the
  // host stack, where sk_lookup delivers them.
  echoes().push_back(start_echo("host", {"--http", "127.0.0.1:3001", "[::1]:3001"}));
  zdctl_ok({"workspace", "add", "host", "--pid", std::to_string(echoes().back().pid()), "--socket",
            "tcp://127.0.0.1:3001", "--socket", "tcp://[::1]:3001"});
  zdctl_ok({"switch", "shop", "host"});
  Http on_host = connect_http("10.99.0.1");
  ASSERT_EQ(on_host.get(), "host");
  EXPECT_EQ(served_by("host", 20, "fd00:99::1"), 20);
  zdctl_ok({"switch", "shop", "green"});
  Http in_container = connect_http("10.99.0.1");
  ASSERT_EQ(in_container.get(), "green");
  EXPECT_EQ(on_host.get(), "host");
  zdctl_ok({"revert", "shop"});
  EXPECT_EQ(served_by("host", 20), 20);
  EXPECT_EQ(in_container.get(), "green");
  EXPECT_EQ(on_host.get(), "host");
  EXPECT_GE(json::parse(status_json())["xdp"]["counters"]["to_host"], 40);
}

// The host's own connections to a domain never cross XDP: the host's
// sk_lookup treats a container workspace as one without a live socket, so
// the previous host workspace takes them, or they are refused at once.
TEST_F(Containers, LocalTrafficGoesToThePreviousHostWorkspaceOrIsRefused) {
  stage(); // shop -> blue, a container
  std::string why;
  Http refused = connect_http("10.99.0.1", &why, From::host);
  EXPECT_FALSE(refused.fd) << "a local connection reached a container";
  EXPECT_EQ(why, std::strerror(ECONNREFUSED)) << "refused at once, not left to time out";

  echoes().push_back(start_echo("host", {"--http", "127.0.0.1:3001", "[::1]:3001"}));
  zdctl_ok({"workspace", "add", "host", "--pid", std::to_string(echoes().back().pid()), "--socket",
            "tcp://127.0.0.1:3001", "--socket", "tcp://[::1]:3001"});
  zdctl_ok({"switch", "shop", "host"});
  zdctl_ok({"switch", "shop", "green"}); // green active, host previous
  EXPECT_EQ(fetch(), "green") << "through XDP";
  Http local = connect_http("10.99.0.1", &why, From::host);
  ASSERT_TRUE(local.fd) << why;
  EXPECT_EQ(local.get(), "host") << "locally: the previous, host workspace";
}

TEST_F(Containers, AKilledContainerIsDeadAndItsConnectionsGoToThePrevious) {
  stage();
  zdctl_ok({"switch", "shop", "green"});
  ASSERT_EQ(fetch(), "green");
  Echo &green = echoes().back();
  green.child.kill();
  EXPECT_EQ(served_by("blue", 20), 20);
  EXPECT_EQ(served_by("blue", 5, "fd00:99::1"), 5);
  const json status = json::parse(status_json());
  for (const auto &w : status["workspaces"])
    EXPECT_EQ(w["sockets"][0]["alive"], w["name"] == "blue") << w.dump();
  EXPECT_GE(status["xdp"]["counters"]["fallbacks"], 25);
  // Back to blue, and a switch to green is refused: it has no live socket.
  zdctl_ok({"revert", "shop"});
  Result refused = zdctl({"switch", "shop", "green"});
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("no live"), std::string::npos) << refused.err;
}

TEST_F(Containers, RemoveAndDetachLeaveNothingBehind) {
  stage();
  zdctl_ok({"switch", "shop", "green"});
  ASSERT_NE(leftovers("ws1"), "");
  ASSERT_NE(leftovers("ws2"), "");
  zdctl_ok({"workspace", "rm", "blue"});
  EXPECT_EQ(leftovers("ws1"), "");
  EXPECT_EQ(fetch(), "green");
  zdctl_ok({"detach", "--wait", "10"}); // the last fetch may still be closing
  EXPECT_EQ(leftovers("ws2"), "");
  EXPECT_EQ(run({"ip", "-d", "link", "show", "zc"}).out.find("prog/xdp"), std::string::npos);
}

// A pod's namespace outlives its app (the pause container keeps it; here
// `ip netns add` does, as it does for every namespace of these tests): with
// the app dead, zd still finds the namespace by the identity it recorded,
// and undoes all it did there; an app started again in it registers and is
// steered as the first one was.
TEST_F(Containers, ANamespaceThatOutlivesItsAppIsLeftCleanAndServedAgain) {
  stage();
  zdctl_ok({"domain", "add", "cart", "--listen", "tcp://10.99.0.2:80"});
  zdctl_ok({"switch", "cart", "blue"});
  zdctl_ok({"switch", "shop", "green"});
  echoes().front().child.kill(); // blue's app; ws1 lives on, held by its mount only
  zdctl_ok({"workspace", "rm", "blue", "--force"});
  EXPECT_EQ(leftovers("ws1"), "") << "routes or links of a dead app's workspace";

  // Restarted in place: registered again (cart's old address is not local
  // there any more), switched to, and served.
  echoes().push_back(start_echo("blue", {"--http", "0.0.0.0:8080", "[::]:8080"},
                                {"nsenter", "--net=/run/netns/ws1"}));
  zdctl_ok({"workspace", "add", "blue", "--pid", std::to_string(echoes().back().pid()),
            "--socket", "tcp://0.0.0.0:8080", "--socket", "tcp://[::]:8080"});
  EXPECT_EQ(leftovers("ws1").find("10.99.0.2"), std::string::npos) << leftovers("ws1");
  zdctl_ok({"switch", "shop", "blue"});
  EXPECT_EQ(served_by("blue", 5), 5);

  // Killed again, and the whole state detached by force: nothing stays.
  echoes().back().child.kill();
  zdctl_ok({"detach", "--force"});
  EXPECT_EQ(leftovers("ws1"), "");
  EXPECT_EQ(leftovers("ws2"), "");
}

// Taking XDP away cuts a container's open connections, so detach counts
// them and refuses, waits for them (--wait), or cuts them (--force).
TEST_F(Containers, DetachRefusesToCutOpenConnectionsToContainers) {
  stage();
  {
    Http open = connect_http("10.99.0.1");
    ASSERT_EQ(open.get(), "blue");
    Result refused = zdctl({"detach"});
    EXPECT_EQ(refused.code, 1);
    EXPECT_NE(refused.err.find("would cut 1 open connection"), std::string::npos) << refused.err;
    EXPECT_NE(refused.err.find("--force detaches anyway"), std::string::npos) << refused.err;
    const auto started = Clock::now();
    Result waited = zdctl({"detach", "--wait", "1"});
    EXPECT_EQ(waited.code, 1);
    EXPECT_GE(Clock::now() - started, 1s) << "it did not wait";
    EXPECT_NE(waited.err.find("waiting for 1 connection"), std::string::npos) << waited.err;
    EXPECT_EQ(open.get(), "blue") << "a refused detach changed something";
  } // closed here: blue's end closes too
  Result detached = zdctl({"detach", "--wait", "10"});
  EXPECT_EQ(detached.code, 0) << detached.err;
  EXPECT_EQ(leftovers("ws1"), "");
}

TEST_F(Containers, DetachForceCutsThem) {
  stage();
  Http open = connect_http("10.99.0.1");
  ASSERT_EQ(open.get(), "blue");
  zdctl_ok({"detach", "--force"});
  EXPECT_NE(open.get(), "blue") << "served without zd's XDP program";
}

// Removing a domain takes its addresses away inside the containers, so it
// too counts their open connections to it and refuses, waits for them
// (--wait), or cuts them (--force). (A host workspace's connections carry
// on: Steering tests.)
TEST_F(Containers, DomainRmRefusesToCutOpenConnectionsToContainers) {
  stage();
  {
    Http open = connect_http("10.99.0.1");
    ASSERT_EQ(open.get(), "blue");
    const std::string before = status_json();
    Result refused = zdctl({"domain", "rm", "shop"});
    EXPECT_EQ(refused.code, 1);
    EXPECT_NE(refused.err.find("removing domain shop would cut 1 open connection"),
              std::string::npos)
        << refused.err;
    EXPECT_NE(refused.err.find("--force removes it anyway"), std::string::npos) << refused.err;
    const auto started = Clock::now();
    Result waited = zdctl({"domain", "rm", "shop", "--wait", "1"});
    EXPECT_EQ(waited.code, 1);
    EXPECT_GE(Clock::now() - started, 1s) << "it did not wait";
    EXPECT_EQ(status_json(), before) << "a refused domain rm changed the state";
    EXPECT_EQ(open.get(), "blue") << "a refused domain rm changed something";
  } // closed here: blue's end closes too
  zdctl_ok({"domain", "rm", "shop", "--wait", "10"});
  EXPECT_TRUE(json::parse(status_json())["domains"].empty());
  EXPECT_EQ(run(in("ws1", {"ip", "route", "show", "table", "local", "proto", "122"})).out, "")
      << "the domain's address is still local in the container";
}

TEST_F(Containers, DomainRmForceCutsThem) {
  stage();
  Http open = connect_http("10.99.0.1");
  ASSERT_EQ(open.get(), "blue");
  zdctl_ok({"domain", "rm", "shop", "--force"});
  EXPECT_NE(open.get(), "blue") << "served after its domain was removed";
}

TEST_F(Containers, FiveHundredSwitchesUnderLoadFailNoConnection) {
  stage();
  // Every fetch leaves a TIME_WAIT in the client, and the kernel reuses one
  // for a new connect only on loopback by default: on a slow machine the
  // client would run out of ports to 10.99.0.1:80 (EADDRNOTAVAIL) long
  // before zd failed anything.
  sh(in("client", {"sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1"}));
  // Only a bound: the 500 switches took 2 s on the 2-core VM, 42 s in its
  // ASan build (50 of them are zdctl runs, 0.3 s each there).
  const auto deadline = Clock::now() + 150s;
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0}, fetched{0}, switches{0};
  std::string first_failure;
  std::thread load([&] {
    // The zdctl children's SIGCHLD is for the main thread, not an EINTR here.
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &chld, nullptr);
    while (!stop && Clock::now() < deadline) {
      const std::string got = fetch(fetched % 4 == 0 ? "fd00:99::1" : "10.99.0.1");
      if (got == "blue" || got == "green") {
        ++ok;
      } else if (failed++ == 0) {
        first_failure = got;
      }
      ++fetched;
    }
  });
  flip(
      "shop", "green", "blue", 500, [] { return true; }, fetched, deadline, switches);
  stop = true;
  load.join();
  EXPECT_EQ(switches, 500);
  EXPECT_EQ(failed, 0) << "first failure: " << first_failure;
  EXPECT_GE(ok, 500) << "a fetch between every two switches";
}

// Two veths lead into ws1: zdctl will not guess, --via names one, and a
// wrong name changes nothing.
TEST_F(Containers, ViaChoosesAmongSeveralVeths) {
  zdctl_ok({"attach", "--xdp", "zc"});
  zdctl_ok({"domain", "add", "shop", "--listen", "tcp://10.99.0.1:80"});
  sh({"ip", "link", "add", "zw1b", "type", "veth", "peer", "name", "eth1", "netns", "ws1"});
  echoes().push_back(
      start_echo("blue", {"--http", "0.0.0.0:8080"}, {"nsenter", "--net=/run/netns/ws1"}));
  const std::string pid = std::to_string(echoes().back().pid());
  const std::string before = status_json();
  Result several =
      zdctl({"workspace", "add", "blue", "--pid", pid, "--socket", "tcp://0.0.0.0:8080"});
  EXPECT_EQ(several.code, 1);
  EXPECT_NE(several.err.find("several veths lead into"), std::string::npos) << several.err;
  EXPECT_NE(several.err.find("zw1, zw1b"), std::string::npos) << several.err;
  Result wrong = zdctl(
      {"workspace", "add", "blue", "--pid", pid, "--socket", "tcp://0.0.0.0:8080", "--via", "zc"});
  EXPECT_EQ(wrong.code, 1);
  EXPECT_NE(wrong.err.find("interface zc is not a veth into"), std::string::npos) << wrong.err;
  EXPECT_EQ(status_json(), before) << "a refused add changed the state";
  EXPECT_EQ(leftovers("ws1"), "") << "a refused add left something in the container";

  zdctl_ok(
      {"workspace", "add", "blue", "--pid", pid, "--socket", "tcp://0.0.0.0:8080", "--via", "zw1"});
  EXPECT_EQ(json::parse(status_json())["workspaces"][0]["interface"], "zw1");
  zdctl_ok({"switch", "shop", "blue"});
  EXPECT_EQ(fetch(), "blue");
}

TEST_F(Containers, WithoutTheXdpPlaneAContainerSocketIsRefused) {
  zdctl_ok({"attach"});
  echoes().push_back(
      start_echo("blue", {"--http", "0.0.0.0:8080"}, {"nsenter", "--net=/run/netns/ws1"}));
  Result r = zdctl({"workspace", "add", "blue", "--pid", std::to_string(echoes().back().pid()),
                    "--socket", "tcp://0.0.0.0:8080"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("attach --xdp"), std::string::npos) << r.err;
}

} // namespace
} // namespace zdtest
