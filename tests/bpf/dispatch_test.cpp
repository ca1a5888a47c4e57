// The zd_dispatch program under BPF_PROG_TEST_RUN: the embedded skeleton is
// loaded but attached nowhere, its maps filled with the data plane's own map
// and key code (user/plane) exactly as zdctl would, and each case hands the
// program one bpf_sk_lookup context.
// The listening sockets live in a private network namespace per test.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <thread>

#include "data_maps.hpp"
#include "dataplane.hpp"
#include "keys.hpp"
#include "listener.hpp"
#include "parse.hpp"
#include "sk_lookup.skel.h"

// zd_counters lives in the global namespace, so its operators must too (ADL).
static bool operator==(const zd_counters &a, const zd_counters &b) {
  return a.lookups == b.lookups && a.steered == b.steered && a.fallbacks == b.fallbacks &&
         a.drops == b.drops;
}

static std::ostream &operator<<(std::ostream &out, const zd_counters &c) {
  return out << "{lookups " << c.lookups << ", steered " << c.steered << ", fallbacks "
             << c.fallbacks << ", drops " << c.drops << "}";
}

namespace {

// The program's maps, read and written through the data plane's code.
class ProgramMaps {
public:
  ProgramMaps() = default;
  explicit ProgramMaps(zd::DataMaps maps)
      : maps_(std::make_unique<zd::DataMaps>(std::move(maps))),
        plane_(std::make_unique<zd::BpfDataplane>(*maps_)) {}

  void set_config(const zd_config &config) { maps_->set_config(config); }

  // Binds one endpoint as the plane does, bypassing the domain bookkeeping
  // (prefix count, counters) that each case sets up itself.
  bool add_binding(const zd::Endpoint &binding, uint32_t domain) {
    const zd_prefix_key key = zd::binding_key(binding);
    if (zd::is_exact_key(key))
      (*maps_)[zd::DataMap::bindings].update(key.binding, domain, BPF_NOEXIST);
    else
      (*maps_)[zd::DataMap::prefixes].update(key, domain, BPF_NOEXIST);
    return true;
  }

  void set_route(uint32_t domain, const zd::Route &route) { plane_->set_route(domain, route); }
  // A route with a canary, written as a whole value (the control plane's
  // Route does not carry one yet).
  void set_canary(uint32_t domain, uint32_t active, uint32_t canary, uint32_t weight) {
    (*maps_)[zd::DataMap::routes].update(domain, zd_route{active, ZD_NO_ID, canary, weight});
  }
  void set_failing(uint32_t workspace, bool failing) {
    (*maps_)[zd::DataMap::health].update(workspace, zd_health{failing ? 1u : 0u});
  }

  void add_socket(const zd_socket_key &key, int fd) {
    (*maps_)[zd::DataMap::sockets].update(key, static_cast<uint64_t>(fd), BPF_NOEXIST);
  }
  std::optional<uint64_t> socket_cookie(const zd_socket_key &key) const {
    uint64_t cookie = 0;
    if ((*maps_)[zd::DataMap::sockets].lookup(key, cookie))
      return cookie;
    return std::nullopt;
  }

  zd_counters domain_counters(uint32_t domain) const {
    return raw(plane_->domain_counters(domain));
  }
  zd_counters workspace_counters(uint32_t workspace) const {
    return raw(plane_->workspace_counters(workspace));
  }
  // The plane zeroes a domain's counters when it adds the domain.
  void reset_domain_counters(uint32_t domain) {
    plane_->add_domain(zd::Domain{"reset", domain, {}});
  }
  void reset_workspace_counters(uint32_t workspace) {
    plane_->add_workspace(zd::Workspace{"reset", workspace, 0, zd::Placement::this_netns, {}, {}},
                          {});
  }

private:
  static zd_counters raw(const zd::Counters &c) {
    return {c.lookups, c.steered, c.fallbacks, c.drops};
  }

  std::unique_ptr<zd::DataMaps> maps_;
  std::unique_ptr<zd::BpfDataplane> plane_;
};

constexpr uint32_t kShop = 1, kOther = 2; // domain ids
constexpr uint32_t kBlue = 1, kGreen = 2; // workspace ids

struct Verdict {
  uint32_t retval = 0xffffffff; // SK_PASS or SK_DROP
  uint64_t cookie = 0;          // the socket the program assigned, 0 if none
};

uint64_t cookie_of(int fd) {
  uint64_t cookie = 0;
  socklen_t len = sizeof(cookie);
  EXPECT_EQ(getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len), 0) << strerror(errno);
  EXPECT_NE(cookie, 0u) << "a zero cookie would make 'no socket chosen' look like a match";
  return cookie;
}

void bring_loopback_up() {
  zd::Fd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(fd);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  ASSERT_EQ(ioctl(fd.get(), SIOCGIFFLAGS, &ifr), 0) << strerror(errno);
  ifr.ifr_flags |= IFF_UP;
  ASSERT_EQ(ioctl(fd.get(), SIOCSIFFLAGS, &ifr), 0) << strerror(errno);
}

class Dispatch : public ::testing::Test {
protected:
  void SetUp() override {
    if (geteuid() != 0)
      GTEST_SKIP() << "needs root: loads BPF programs and creates a network namespace";
    ASSERT_EQ(unshare(CLONE_NEWNET), 0) << strerror(errno);
    ASSERT_NO_FATAL_FAILURE(bring_loopback_up());
    skel_ = zd_sk_lookup__open_and_load();
    ASSERT_NE(skel_, nullptr) << "loading the embedded BPF object failed";
    maps_ = ProgramMaps(zd::DataMaps::from_object(skel_->obj));
    set_prefix_bindings(0);
  }

  void TearDown() override {
    if (skel_)
      zd_sk_lookup__destroy(skel_);
  }

  void set_prefix_bindings(uint32_t n) {
    zd_config config{};
    config.magic = ZD_STATE_MAGIC;
    config.layout_version = ZD_LAYOUT_VERSION;
    config.prefix_bindings = n;
    maps_.set_config(config);
  }

  // Binds endpoint to domain, and gives the domain its (zeroed) counters, as
  // a domain add does: the program counts only into an entry that exists.
  void bind(const char *endpoint, uint32_t domain) {
    zd::Endpoint ep = zd::parse_endpoint(endpoint, zd::AllowPrefix::yes);
    ASSERT_TRUE(maps_.add_binding(ep, domain)) << endpoint;
    maps_.reset_domain_counters(domain);
  }

  // A TCP socket listening on an ephemeral loopback port, registered for workspace.
  zd::Fd listener(uint32_t workspace, int family) {
    zd::Fd fd = zdtest::loopback_listener(family);
    maps_.add_socket(socket_key(workspace, family), fd.get());
    return fd;
  }

  static zd_socket_key socket_key(uint32_t workspace, int family) {
    return zd::socket_key(workspace, IPPROTO_TCP, static_cast<uint8_t>(family));
  }

  // Closes a registered socket and waits (bounded) until the kernel has
  // dropped it from the sockhash.
  void close_and_wait_gone(zd::Fd &fd, uint32_t workspace, int family) {
    fd.reset();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (maps_.socket_cookie(socket_key(workspace, family)) &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_FALSE(maps_.socket_cookie(socket_key(workspace, family)))
        << "the kernel kept a closed socket in the sockhash";
  }

  // Runs the program once (or `repeat` times) for a SYN to address:port.
  Verdict lookup(const char *address, uint16_t port, int repeat = 1, uint8_t protocol = IPPROTO_TCP,
                 uint16_t remote_port = 40000) {
    bpf_sk_lookup ctx{};
    ctx.protocol = protocol;
    ctx.local_port = port; // host order, like the real context
    ctx.remote_port = htons(remote_port);
    if (inet_pton(AF_INET, address, &ctx.local_ip4) == 1) {
      ctx.family = AF_INET;
      ctx.remote_ip4 = htonl(INADDR_LOOPBACK);
    } else {
      EXPECT_EQ(inet_pton(AF_INET6, address, ctx.local_ip6), 1) << address;
      ctx.family = AF_INET6;
      std::memcpy(ctx.remote_ip6, &in6addr_loopback, sizeof(ctx.remote_ip6));
    }
    LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &ctx, .ctx_out = &ctx,
                .ctx_size_in = sizeof(ctx), .ctx_size_out = sizeof(ctx), .repeat = repeat);
    int err = bpf_prog_test_run_opts(bpf_program__fd(skel_->progs.zd_dispatch), &opts);
    EXPECT_EQ(err, 0) << "BPF_PROG_TEST_RUN: " << strerror(errno);
    return {opts.retval, ctx.cookie};
  }

  zd_sk_lookup *skel_ = nullptr;
  ProgramMaps maps_;
};

TEST_F(Dispatch, Ipv4Hit) {
  bind("tcp://10.99.0.1:80", kShop);
  maps_.set_route(kShop, {kBlue, ZD_NO_ID});
  zd::Fd blue = listener(kBlue, AF_INET);
  Verdict v = lookup("10.99.0.1", 80);
  EXPECT_EQ(v.retval, static_cast<uint32_t>(SK_PASS));
  EXPECT_EQ(v.cookie, cookie_of(blue.get()));
}

TEST_F(Dispatch, Ipv6Hit) {
  bind("tcp://[fd00:99::1]:80", kShop);
  maps_.set_route(kShop, {kBlue, ZD_NO_ID});
  zd::Fd blue = listener(kBlue, AF_INET6);
  Verdict v = lookup("fd00:99::1", 80);
  EXPECT_EQ(v.retval, static_cast<uint32_t>(SK_PASS));
  EXPECT_EQ(v.cookie, cookie_of(blue.get()));
}

TEST_F(Dispatch, EachFamilyGetsItsOwnSocket) {
  bind("tcp://10.99.0.1:80", kShop);
  bind("tcp://[fd00:99::1]:80", kShop);
  maps_.set_route(kShop, {kBlue, ZD_NO_ID});
  zd::Fd v4 = listener(kBlue, AF_INET);
  zd::Fd v6 = listener(kBlue, AF_INET6);
  EXPECT_EQ(lookup("10.99.0.1", 80).cookie, cookie_of(v4.get()));
  EXPECT_EQ(lookup("fd00:99::1", 80).cookie, cookie_of(v6.get()));
}

TEST_F(Dispatch, MissingFamilyDrops) {
  // An IPv4 binding whose workspace only has an IPv6 socket is refused, not
  // passed on to whoever else listens there.
  bind("tcp://10.99.0.1:80", kShop);
  maps_.set_route(kShop, {kBlue, ZD_NO_ID});
  zd::Fd v6 = listener(kBlue, AF_INET6);
  Verdict v = lookup("10.99.0.1", 80);
  EXPECT_EQ(v.retval, static_cast<uint32_t>(SK_DROP));
  EXPECT_EQ(v.cookie, 0u);
}

TEST_F(Dispatch, NoBindingPasses) {
  bind("tcp://10.99.0.1:80", kShop);
  maps_.set_route(kShop, {kBlue, ZD_NO_ID});
  zd::Fd blue = listener(kBlue, AF_INET);
  for (const char *address : {"10.99.0.2", "127.0.0.1", "fd00:99::1"}) {
    SCOPED_TRACE(address);
    Verdict v = lookup(address, 80);
    EXPECT_EQ(v.retval, static_cast<uint32_t>(SK_PASS));
    EXPECT_EQ(v.cookie, 0u) << "not our address: the normal lookup must go on";
  }
  EXPECT_EQ(maps_.domain_counters(kShop), zd_counters{});
}

TEST_F(Dispatch, WrongPortOrProtocolPasses) {
  bind("tcp://10.99.0.1:80", kShop);
  maps_.set_route(kShop, {kBlue, ZD_NO_ID});
  zd::Fd blue = listener(kBlue, AF_INET);
  for (uint16_t port : {79, 81, 8080, 20480 /* 80 byte-swapped */}) {
    SCOPED_TRACE(port);
    Verdict v = lookup("10.99.0.1", port);
    EXPECT_EQ(v.retval, static_cast<uint32_t>(SK_PASS));
    EXPECT_EQ(v.cookie, 0u);
  }
  Verdict udp = lookup("10.99.0.1", 80, 1, IPPROTO_UDP);
  EXPECT_EQ(udp.retval, static_cast<uint32_t>(SK_PASS));
  EXPECT_EQ(udp.cookie, 0u);
  EXPECT_EQ(maps_.domain_counters(kShop), zd_counters{});
}

TEST_F(Dispatch, FallsBackToPreviousWhenActiveSocketIsGone) {
  bind("tcp://10.99.0.1:80", kShop);
  maps_.set_route(kShop, {kGreen, kBlue});
  zd::Fd blue = listener(kBlue, AF_INET);
  zd::Fd green = listener(kGreen, AF_INET);
  ASSERT_EQ(lookup("10.99.0.1", 80).cookie, cookie_of(green.get()));

  ASSERT_NO_FATAL_FAILURE(close_and_wait_gone(green, kGreen, AF_INET));
  Verdict v = lookup("10.99.0.1", 80);
  EXPECT_EQ(v.retval, static_cast<uint32_t>(SK_PASS));
  EXPECT_EQ(v.cookie, cookie_of(blue.get()));

  EXPECT_EQ(maps_.domain_counters(kShop), (zd_counters{2, 1, 1, 0}));
  // green: steered once, then missed once; blue: only the fallback.
  EXPECT_EQ(maps_.workspace_counters(kGreen), (zd_counters{2, 1, 0, 1}));
  EXPECT_EQ(maps_.workspace_counters(kBlue), (zd_counters{0, 0, 1, 0}));
}

TEST_F(Dispatch, DropsWhenBothSocketsAreGone) {
  bind("tcp://10.99.0.1:80", kShop);
  maps_.set_route(kShop, {kGreen, kBlue});
  zd::Fd blue = listener(kBlue, AF_INET);
  zd::Fd green = listener(kGreen, AF_INET);
  ASSERT_NO_FATAL_FAILURE(close_and_wait_gone(green, kGreen, AF_INET));
  ASSERT_NO_FATAL_FAILURE(close_and_wait_gone(blue, kBlue, AF_INET));
  Verdict v = lookup("10.99.0.1", 80);
  EXPECT_EQ(v.retval, static_cast<uint32_t>(SK_DROP));
  EXPECT_EQ(v.cookie, 0u);
  EXPECT_EQ(maps_.domain_counters(kShop), (zd_counters{1, 0, 0, 1}));
}

TEST_F(Dispatch, DomainWithoutRouteDrops) {
  bind("tcp://10.99.0.1:80", kShop);
  zd::Fd blue = listener(kBlue, AF_INET);
  Verdict v = lookup("10.99.0.1", 80);
  EXPECT_EQ(v.retval, static_cast<uint32_t>(SK_DROP));
  EXPECT_EQ(v.cookie, 0u);
  EXPECT_EQ(maps_.domain_counters(kShop), (zd_counters{1, 0, 0, 1}));

  // A route naming no workspace at all behaves the same.
  maps_.set_route(kShop, {ZD_NO_ID, ZD_NO_ID});
  EXPECT_EQ(lookup("10.99.0.1", 80).retval, static_cast<uint32_t>(SK_DROP));
  EXPECT_EQ(maps_.workspace_counters(kBlue), zd_counters{});
}

TEST_F(Dispatch, PrefixBindingHitsViaTrie) {
  bind("tcp://10.99.1.0/24:80", kShop);
  bind("tcp://[fd00:99::/64]:443", kShop);
  set_prefix_bindings(2);
  maps_.set_route(kShop, {kBlue, ZD_NO_ID});
  zd::Fd v4 = listener(kBlue, AF_INET);
  zd::Fd v6 = listener(kBlue, AF_INET6);

  for (const char *address : {"10.99.1.0", "10.99.1.77", "10.99.1.255"}) {
    SCOPED_TRACE(address);
    Verdict v = lookup(address, 80);
    EXPECT_EQ(v.retval, static_cast<uint32_t>(SK_PASS));
    EXPECT_EQ(v.cookie, cookie_of(v4.get()));
  }
  EXPECT_EQ(lookup("fd00:99::abcd", 443).cookie, cookie_of(v6.get()));
  EXPECT_EQ(lookup("fd00:99::ffff:ffff:ffff:ffff", 443).cookie, cookie_of(v6.get()));

  // Outside the prefix, or another port: not ours.
  EXPECT_EQ(lookup("10.99.2.1", 80).cookie, 0u);
  EXPECT_EQ(lookup("10.99.1.77", 81).cookie, 0u);
  EXPECT_EQ(lookup("fd00:98::1", 443).cookie, 0u);
  EXPECT_EQ(lookup("fd00:99::1", 80).cookie, 0u);
  EXPECT_EQ(maps_.domain_counters(kShop).steered, 5u);
}

TEST_F(Dispatch, TrieIsSkippedWhileConfigCountsNoPrefixes) {
  bind("tcp://10.99.1.0/24:80", kShop);
  maps_.set_route(kShop, {kBlue, ZD_NO_ID});
  zd::Fd blue = listener(kBlue, AF_INET);
  EXPECT_EQ(lookup("10.99.1.77", 80).cookie, 0u);
  set_prefix_bindings(1);
  EXPECT_EQ(lookup("10.99.1.77", 80).cookie, cookie_of(blue.get()));
}

TEST_F(Dispatch, ExactBindingBeatsPrefixAndLongestPrefixWins) {
  constexpr uint32_t kWide = 3;
  bind("tcp://10.99.0.0/16:80", kWide);
  bind("tcp://10.99.1.0/24:80", kShop);
  bind("tcp://10.99.1.5:80", kOther);
  set_prefix_bindings(2);
  maps_.set_route(kWide, {kGreen, ZD_NO_ID});
  maps_.set_route(kShop, {kBlue, ZD_NO_ID});
  maps_.set_route(kOther, {kGreen, ZD_NO_ID});
  zd::Fd blue = listener(kBlue, AF_INET);
  zd::Fd green = listener(kGreen, AF_INET);

  EXPECT_EQ(lookup("10.99.1.5", 80).cookie, cookie_of(green.get())) << "exact wins";
  EXPECT_EQ(lookup("10.99.1.6", 80).cookie, cookie_of(blue.get())) << "/24 beats /16";
  EXPECT_EQ(lookup("10.99.7.1", 80).cookie, cookie_of(green.get())) << "/16 still covers";
  EXPECT_EQ(maps_.domain_counters(kOther).steered, 1u);
  EXPECT_EQ(maps_.domain_counters(kShop).steered, 1u);
  EXPECT_EQ(maps_.domain_counters(kWide).steered, 1u);
}

TEST_F(Dispatch, AnotherDomainsBindingNeverReachesThisWorkspace) {
  bind("tcp://10.99.0.1:80", kShop);
  bind("tcp://10.99.0.2:80", kOther);
  maps_.set_route(kShop, {kBlue, ZD_NO_ID});
  zd::Fd blue = listener(kBlue, AF_INET);

  // kOther has no route yet: its traffic is refused, never handed to blue.
  Verdict v = lookup("10.99.0.2", 80);
  EXPECT_EQ(v.retval, static_cast<uint32_t>(SK_DROP));
  EXPECT_EQ(v.cookie, 0u);

  maps_.set_route(kOther, {kGreen, ZD_NO_ID});
  zd::Fd green = listener(kGreen, AF_INET);
  EXPECT_EQ(lookup("10.99.0.2", 80).cookie, cookie_of(green.get()));
  EXPECT_EQ(lookup("10.99.0.1", 80).cookie, cookie_of(blue.get()));

  // Even with green gone, kOther does not borrow blue.
  ASSERT_NO_FATAL_FAILURE(close_and_wait_gone(green, kGreen, AF_INET));
  v = lookup("10.99.0.2", 80);
  EXPECT_EQ(v.retval, static_cast<uint32_t>(SK_DROP));
  EXPECT_NE(v.cookie, cookie_of(blue.get()));
  EXPECT_EQ(maps_.workspace_counters(kBlue), (zd_counters{1, 1, 0, 0}));
}

TEST_F(Dispatch, CountersAddUp) {
  bind("tcp://10.99.0.1:80", kShop);
  maps_.set_route(kShop, {kBlue, ZD_NO_ID});
  zd::Fd blue = listener(kBlue, AF_INET);
  EXPECT_EQ(lookup("10.99.0.1", 80, 5).cookie, cookie_of(blue.get()));
  EXPECT_EQ(lookup("10.99.0.1", 80).retval, static_cast<uint32_t>(SK_PASS));
  EXPECT_EQ(maps_.domain_counters(kShop), (zd_counters{6, 6, 0, 0}));
  EXPECT_EQ(maps_.workspace_counters(kBlue), (zd_counters{6, 6, 0, 0}));
  EXPECT_EQ(maps_.workspace_counters(kGreen), zd_counters{});

  maps_.reset_domain_counters(kShop);
  maps_.reset_workspace_counters(kBlue);
  EXPECT_EQ(maps_.domain_counters(kShop), zd_counters{});
  EXPECT_EQ(maps_.workspace_counters(kBlue), zd_counters{});
}

TEST_F(Dispatch, SwitchIsOneRouteUpdate) {
  bind("tcp://10.99.0.1:80", kShop);
  zd::Fd blue = listener(kBlue, AF_INET);
  zd::Fd green = listener(kGreen, AF_INET);
  maps_.set_route(kShop, {kBlue, ZD_NO_ID});
  EXPECT_EQ(lookup("10.99.0.1", 80).cookie, cookie_of(blue.get()));
  maps_.set_route(kShop, {kGreen, kBlue});
  EXPECT_EQ(lookup("10.99.0.1", 80).cookie, cookie_of(green.get()));
  maps_.set_route(kShop, {kBlue, kGreen}); // revert
  EXPECT_EQ(lookup("10.99.0.1", 80).cookie, cookie_of(blue.get()));
}

// A workspace failing its health check is passed over like one whose
// socket is gone, and serves again once it passes.
TEST_F(Dispatch, AFailingWorkspaceIsPassedOverForThePrevious) {
  bind("tcp://10.99.0.1:80", kShop);
  maps_.set_route(kShop, {kGreen, kBlue});
  zd::Fd blue = listener(kBlue, AF_INET), green = listener(kGreen, AF_INET);
  maps_.set_failing(kGreen, true);
  EXPECT_EQ(lookup("10.99.0.1", 80).cookie, cookie_of(blue.get()));
  EXPECT_EQ(maps_.domain_counters(kShop).fallbacks, 1u);
  maps_.set_failing(kBlue, true);
  EXPECT_EQ(lookup("10.99.0.1", 80).retval, static_cast<uint32_t>(SK_DROP)) << "both failing";
  maps_.set_failing(kGreen, false);
  EXPECT_EQ(lookup("10.99.0.1", 80).cookie, cookie_of(green.get()));
}

// Which of 2,000 new flows (one source port each) the canary takes.
class Canary : public Dispatch {
protected:
  int canary_share(const zd::Fd &canary) {
    int taken = 0;
    for (uint16_t port = 20000; port < 22000; ++port)
      taken += lookup("10.99.0.1", 80, 1, IPPROTO_TCP, port).cookie == cookie_of(canary.get());
    return taken;
  }
};

TEST_F(Canary, TakesItsWeightOfNewFlowsAndTheSameFlowEveryTime) {
  bind("tcp://10.99.0.1:80", kShop);
  zd::Fd blue = listener(kBlue, AF_INET), green = listener(kGreen, AF_INET);
  for (uint32_t weight : {0u, 10u, 50u, 100u}) {
    maps_.set_canary(kShop, kBlue, kGreen, weight);
    const int taken = canary_share(green);
    EXPECT_NEAR(taken, 2000 * static_cast<int>(weight) / 100, 60) << "weight " << weight;
  }
  maps_.set_canary(kShop, kBlue, kGreen, 50);
  for (uint16_t port = 30000; port < 30050; ++port)
    EXPECT_EQ(lookup("10.99.0.1", 80, 1, IPPROTO_TCP, port).cookie,
              lookup("10.99.0.1", 80, 1, IPPROTO_TCP, port).cookie)
        << "a retransmitted SYN must make the same choice";
}

TEST_F(Canary, ThatCannotServeLeavesItsShareToTheActiveWorkspace) {
  bind("tcp://10.99.0.1:80", kShop);
  zd::Fd blue = listener(kBlue, AF_INET), green = listener(kGreen, AF_INET);
  maps_.set_canary(kShop, kBlue, kGreen, 100);
  maps_.set_failing(kGreen, true);
  EXPECT_EQ(canary_share(green), 0) << "a failing canary took flows";
  EXPECT_EQ(maps_.domain_counters(kShop).drops, 0u);
  maps_.set_failing(kGreen, false);
  ASSERT_NO_FATAL_FAILURE(close_and_wait_gone(green, kGreen, AF_INET));
  EXPECT_EQ(lookup("10.99.0.1", 80).cookie, cookie_of(blue.get())) << "a dead canary took one";
}

} // namespace
