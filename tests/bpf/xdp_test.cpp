// The zd_xdp program under BPF_PROG_TEST_RUN: frames built byte by byte
// (frames.hpp) go in, the verdict and the frame that comes out are checked.
// The program shares the sk_lookup plane's bindings, routes and sockets
// (filled with the data plane's own key code); its flow table, targets and
// devmap are its own. Workspaces blue and green are "containers" behind two
// veths made in a private network namespace; "host" has no target.
#include <gtest/gtest.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <set>

#include "data_maps.hpp"
#include "dataplane.hpp"
#include "frames.hpp"
#include "keys.hpp"
#include "listener.hpp"
#include "parse.hpp"
#include "process.hpp"
#include "sk_lookup.skel.h"
#include "xdp.skel.h"

namespace {

using zdtest::kAck;
using zdtest::kSyn;
using zdtest::Mac;
using zdtest::TcpFrame;

constexpr uint32_t kShop = 1;
constexpr uint32_t kBlue = 1, kGreen = 2, kHost = 3;
const Mac kBlueMac{0x02, 0xb1, 0, 0, 0, 0x01}, kBlueHostMac{0x02, 0xb1, 0, 0, 0, 0x02};
const Mac kGreenMac{0x02, 0x6e, 0, 0, 0, 0x01}, kGreenHostMac{0x02, 0x6e, 0, 0, 0, 0x02};

struct Outcome {
  uint32_t verdict = 0xffffffff;
  std::vector<uint8_t> out;
};

class Xdp : public ::testing::Test {
protected:
  void SetUp() override {
    if (geteuid() != 0)
      GTEST_SKIP() << "needs root: loads BPF programs and creates a network namespace";
    ASSERT_EQ(unshare(CLONE_NEWNET), 0) << strerror(errno);
    for (auto args : std::vector<std::vector<std::string>>{
             {"ip", "link", "set", "lo", "up"},
             {"ip", "link", "add", "zdblue", "type", "veth", "peer", "name", "zdblue-c"},
             {"ip", "link", "add", "zdgreen", "type", "veth", "peer", "name", "zdgreen-c"}}) {
      zdtest::Result r = zdtest::run(args);
      ASSERT_EQ(r.code, 0) << args[2] << ": " << r.err;
    }
    skel_ = zd_xdp__open_and_load();
    ASSERT_NE(skel_, nullptr) << "loading the XDP program failed (verifier? see libbpf's log)";
    maps_ = std::make_unique<zd::DataMaps>(zd::DataMaps::from_object(skel_->obj));
    plane_ = std::make_unique<zd::BpfDataplane>(*maps_);
    zd_config config{};
    config.magic = ZD_STATE_MAGIC;
    config.layout_version = ZD_LAYOUT_VERSION;
    maps_->set_config(config);

    plane_->add_domain(zd::Domain{
        "shop", kShop, {endpoint("tcp://10.99.0.1:80"), endpoint("tcp://[fd00:99::1]:80")}});
    target(kBlue, "zdblue", kBlueMac, kBlueHostMac);
    target(kGreen, "zdgreen", kGreenMac, kGreenHostMac);
    for (uint32_t ws : {kBlue, kGreen, kHost}) {
      listeners_.push_back(listener(ws, AF_INET));
      listeners_.push_back(listener(ws, AF_INET6));
    }
  }

  void TearDown() override {
    listeners_.clear();
    plane_.reset();
    maps_.reset();
    if (skel_)
      zd_xdp__destroy(skel_);
  }

  static zd::Endpoint endpoint(const char *text) {
    return zd::parse_endpoint(text, zd::AllowPrefix::yes);
  }

  void target(uint32_t workspace, const char *veth, const Mac &dst, const Mac &src) {
    zd_xdp_target t{};
    t.ifindex = if_nametoindex(veth);
    ASSERT_NE(t.ifindex, 0u) << veth;
    std::memcpy(t.dst_mac, dst.data(), 6);
    std::memcpy(t.src_mac, src.data(), 6);
    ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.zd_xdp_targets), &workspace, &t, 0), 0);
    ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.zd_devmap), &t.ifindex, &t.ifindex, 0), 0)
        << strerror(errno);
  }

  // Where zdctl keeps a workspace's sockets: under the XDP plane for the
  // containers (blue and green), under the host's for kHost.
  static uint8_t plane_of(uint32_t workspace) {
    return workspace == kHost ? ZD_PLANE_HOST : ZD_PLANE_XDP;
  }

  // A listening socket of this namespace registered for the workspace: the
  // program's sign that the workspace is alive.
  zd::Fd listener(uint32_t workspace, int family) {
    zd::Fd fd = zdtest::loopback_listener(family);
    const zd_socket_key key =
        zd::socket_key(workspace, IPPROTO_TCP, static_cast<uint8_t>(family), plane_of(workspace));
    const uint64_t value = static_cast<uint64_t>(fd.get());
    (*maps_)[zd::DataMap::sockets].update(key, value, BPF_NOEXIST);
    return fd;
  }

  void kill_workspace(uint32_t workspace) {
    for (int family : {AF_INET, AF_INET6})
      (*maps_)[zd::DataMap::sockets].erase(zd::socket_key(
          workspace, IPPROTO_TCP, static_cast<uint8_t>(family), plane_of(workspace)));
  }

  void route(uint32_t active, uint32_t previous = ZD_NO_ID) {
    plane_->set_route(kShop, {active, previous});
  }

  Outcome run(const std::vector<uint8_t> &frame) {
    Outcome r;
    r.out.resize(frame.size() + 256);
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_out = r.out.data(),
                .data_size_in = static_cast<uint32_t>(frame.size()),
                .data_size_out = static_cast<uint32_t>(r.out.size()));
    const int err = bpf_prog_test_run_opts(bpf_program__fd(skel_->progs.zd_xdp), &opts);
    EXPECT_EQ(err, 0) << "BPF_PROG_TEST_RUN: " << strerror(errno);
    r.verdict = opts.retval;
    r.out.resize(opts.data_size_out);
    return r;
  }

  zd_xdp_counters counters() {
    const int cpus = libbpf_num_possible_cpus();
    std::vector<zd_xdp_counters> per_cpu(static_cast<size_t>(cpus));
    uint32_t zero = 0;
    EXPECT_EQ(bpf_map_lookup_elem(bpf_map__fd(skel_->maps.zd_xdp_stats), &zero, per_cpu.data()), 0);
    zd_xdp_counters sum{};
    for (const auto &c : per_cpu) {
      sum.steered += c.steered, sum.fallbacks += c.fallbacks, sum.drops += c.drops;
      sum.followed += c.followed, sum.to_host += c.to_host, sum.flow_misses += c.flow_misses;
    }
    return sum;
  }

  // Which workspace a redirected frame went to, by the MAC it now carries;
  // everything after the Ethernet addresses must be untouched.
  std::string where(const Outcome &r, const std::vector<uint8_t> &in) {
    if (r.verdict == XDP_PASS)
      return r.out == in ? "pass" : "pass (changed!)";
    if (r.verdict == XDP_DROP)
      return "drop";
    if (r.verdict != XDP_REDIRECT)
      return "verdict " + std::to_string(r.verdict);
    if (r.out.size() != in.size() || !std::equal(in.begin() + 12, in.end(), r.out.begin() + 12))
      return "redirect (frame changed beyond the MACs!)";
    const Mac dst{r.out[0], r.out[1], r.out[2], r.out[3], r.out[4], r.out[5]};
    const Mac src{r.out[6], r.out[7], r.out[8], r.out[9], r.out[10], r.out[11]};
    if (dst == kBlueMac && src == kBlueHostMac)
      return "blue";
    if (dst == kGreenMac && src == kGreenHostMac)
      return "green";
    return "redirect to unknown MACs";
  }

  std::string send(const TcpFrame &frame) {
    const auto in = frame.bytes();
    return where(run(in), in);
  }

  zd_xdp *skel_ = nullptr;
  std::unique_ptr<zd::DataMaps> maps_;
  std::unique_ptr<zd::BpfDataplane> plane_;
  std::vector<zd::Fd> listeners_;
};

TEST_F(Xdp, ASynGoesToTheActiveWorkspaceWithRewrittenMacs) {
  route(kBlue);
  EXPECT_EQ(send(TcpFrame{}), "blue");
  route(kGreen, kBlue);
  TcpFrame other;
  other.sport = 40001;
  EXPECT_EQ(send(other), "green");
  EXPECT_EQ(counters().steered, 2u);
  // Delivered to containers by this plane, so counted here as sk_lookup
  // counts its own: per domain and per workspace.
  EXPECT_EQ(plane_->domain_counters(kShop).steered, 2u);
  EXPECT_EQ(plane_->domain_counters(kShop).lookups, 2u);
  EXPECT_EQ(plane_->workspace_counters(kBlue).steered, 1u);
  EXPECT_EQ(plane_->workspace_counters(kGreen).steered, 1u);
}

TEST_F(Xdp, AnEstablishedFlowStaysAcrossASwitchAndARevert) {
  route(kBlue);
  TcpFrame syn;
  ASSERT_EQ(send(syn), "blue");
  TcpFrame data = syn;
  data.flags = kAck | zdtest::kPsh;
  data.payload = "GET / HTTP/1.1\r\n\r\n";

  route(kGreen, kBlue);
  EXPECT_EQ(send(data), "blue") << "a switch moved an established flow";
  TcpFrame fresh = syn;
  fresh.sport = 40002;
  EXPECT_EQ(send(fresh), "green") << "a new connection after the switch";
  route(kBlue, kGreen);
  TcpFrame fresh_data = fresh;
  fresh_data.flags = kAck;
  EXPECT_EQ(send(fresh_data), "green") << "a revert moved an established flow";
  EXPECT_EQ(send(data), "blue");
  EXPECT_EQ(counters().followed, 3u);
}

TEST_F(Xdp, Ipv6IsSteeredLikeIpv4) {
  route(kGreen);
  TcpFrame syn;
  syn.saddr = "2001:db8::10";
  syn.daddr = "fd00:99::1";
  EXPECT_EQ(send(syn), "green");
  route(kBlue, kGreen);
  TcpFrame ack = syn;
  ack.flags = kAck;
  EXPECT_EQ(send(ack), "green");
}

TEST_F(Xdp, WhatIsNotADomainsPassesUnchanged) {
  route(kBlue);
  TcpFrame other_address;
  other_address.daddr = "10.99.0.9";
  TcpFrame other_port;
  other_port.dport = 81;
  TcpFrame udp;
  udp.protocol = IPPROTO_UDP;
  TcpFrame icmp;
  icmp.protocol = IPPROTO_ICMP;
  TcpFrame vlan; // a VLAN-tagged SYN to the domain: passed, by policy
  vlan.vlan = 7;
  for (const TcpFrame &f : {other_address, other_port, udp, icmp, vlan})
    EXPECT_EQ(send(f), "pass");
  const auto arp = zdtest::arp_frame();
  EXPECT_EQ(where(run(arp), arp), "pass");
  EXPECT_EQ(counters().steered, 0u);
}

TEST_F(Xdp, ADeadActiveWorkspaceFallsBackThenIsLeftToTheHostToRefuse) {
  route(kGreen, kBlue);
  kill_workspace(kGreen);
  EXPECT_EQ(send(TcpFrame{}), "blue");
  EXPECT_EQ(counters().fallbacks, 1u);
  EXPECT_EQ(plane_->domain_counters(kShop).fallbacks, 1u);
  EXPECT_EQ(plane_->workspace_counters(kGreen).drops, 1u);
  EXPECT_EQ(plane_->workspace_counters(kBlue).fallbacks, 1u);
  kill_workspace(kBlue);
  TcpFrame next;
  next.sport = 40003;
  // Passed to the host stack, whose sk_lookup program refuses it with a
  // reset (a dropped SYN would leave the client retransmitting).
  EXPECT_EQ(send(next), "pass");
  EXPECT_EQ(counters().drops, 1u);
  EXPECT_EQ(plane_->domain_counters(kShop).drops, 0u) << "the host's sk_lookup counts it";
}

TEST_F(Xdp, AHostWorkspacesFlowIsPassedToTheHostStack) {
  route(kHost);
  TcpFrame syn;
  EXPECT_EQ(send(syn), "pass");
  route(kBlue, kHost);
  TcpFrame ack = syn;
  ack.flags = kAck;
  EXPECT_EQ(send(ack), "pass") << "the host flow must stay with the host after the switch";
  EXPECT_EQ(plane_->domain_counters(kShop).lookups, 0u) << "sk_lookup counts a host's flow";
  EXPECT_EQ(counters().to_host, 2u);
}

// A target whose veth left the devmap (an interface that went away): the
// frame is passed on as it came, never with half-rewritten MACs.
TEST_F(Xdp, ATargetMissingFromTheDevmapPassesTheFrameUnchanged) {
  route(kBlue);
  const uint32_t ifindex = if_nametoindex("zdblue");
  ASSERT_EQ(bpf_map_delete_elem(bpf_map__fd(skel_->maps.zd_devmap), &ifindex), 0);
  EXPECT_EQ(send(TcpFrame{}), "pass");
}

TEST_F(Xdp, ANonSynWithoutAFlowIsPassedAndCounted) {
  route(kBlue);
  TcpFrame ack;
  ack.flags = kAck;
  EXPECT_EQ(send(ack), "pass");
  TcpFrame fin;
  fin.flags = zdtest::kFin | kAck;
  EXPECT_EQ(send(fin), "pass");
  EXPECT_EQ(counters().flow_misses, 2u);
}

TEST_F(Xdp, FragmentsOptionsAndOddHeaders) {
  route(kBlue);
  TcpFrame options; // IPv4 options and TCP options are skipped, not refused
  options.ipv4_ihl = 7;
  options.tcp_doff = 8;
  EXPECT_EQ(send(options), "blue");
  TcpFrame fragment;
  fragment.ipv4_frag = 0x2000; // more fragments
  EXPECT_EQ(send(fragment), "pass");
  TcpFrame short_ihl;
  short_ihl.ipv4_ihl = 4;
  EXPECT_EQ(send(short_ihl), "pass");
  TcpFrame short_doff;
  short_doff.tcp_doff = 4;
  EXPECT_EQ(send(short_doff), "pass");
}

// Cut at every byte: each header boundary and every byte between. The
// verifier proves no read goes out of bounds; this proves the verdicts.
TEST_F(Xdp, TruncatedFramesNeverRedirect) {
  route(kBlue);
  for (const std::string daddr : {"10.99.0.1", "fd00:99::1"}) {
    TcpFrame syn;
    syn.daddr = daddr;
    syn.saddr = daddr.find(':') != std::string::npos ? "2001:db8::10" : "192.0.2.10";
    TcpFrame long_ihl = syn;
    long_ihl.ipv4_ihl = 15;
    for (const TcpFrame &f : {syn, long_ihl}) {
      const auto whole = f.bytes();
      for (size_t len = ETH_HLEN; len < whole.size(); ++len) {
        std::vector<uint8_t> cut(whole.begin(), whole.begin() + static_cast<long>(len));
        Outcome r = run(cut);
        EXPECT_TRUE(r.verdict == XDP_PASS || r.verdict == XDP_DROP)
            << daddr << " cut at " << len << " of " << whole.size() << ": verdict " << r.verdict;
      }
      EXPECT_EQ(where(run(whole), whole), "blue") << daddr << ": the whole frame";
    }
  }
}

// The canary's share is decided per flow by a hash of its 4-tuple, the same
// in both planes: for a host workspace's flow the XDP program records its
// choice and passes the SYN on, and sk_lookup, running next, must choose the
// same workspace or the flow would be split between two. Both programs run
// here on the same maps, for 400 flows.
TEST_F(Xdp, ACanaryFlowIsChosenAlikeByBothPlanes) {
  constexpr uint32_t kCanary = 4;
  const zd::Fd canary = zdtest::loopback_listener(AF_INET); // a second host workspace
  (*maps_)[zd::DataMap::sockets].update(
      zd::socket_key(kCanary, IPPROTO_TCP, AF_INET, ZD_PLANE_HOST),
      static_cast<uint64_t>(canary.get()), BPF_NOEXIST);
  (*maps_)[zd::DataMap::routes].update(kShop, zd_route{kHost, ZD_NO_ID, kCanary, 30});
  zd_sk_lookup *lookup = zd_sk_lookup__open();
  ASSERT_NE(lookup, nullptr);
  maps_->reuse_in(lookup->obj);
  ASSERT_EQ(zd_sk_lookup__load(lookup), 0);
  const auto cookie = [](const zd::Fd &fd) {
    uint64_t c = 0;
    socklen_t len = sizeof(c);
    getsockopt(fd.get(), SOL_SOCKET, SO_COOKIE, &c, &len);
    return c;
  };
  int to_canary = 0;
  for (uint16_t sport = 41000; sport < 41400; ++sport) {
    TcpFrame syn;
    syn.sport = sport;
    ASSERT_EQ(send(syn), "pass");
    zd_flow_key key{};
    key.family = AF_INET;
    key.protocol = IPPROTO_TCP;
    key.sport = sport;
    key.dport = 80;
    inet_pton(AF_INET, syn.saddr.c_str(), key.saddr);
    inet_pton(AF_INET, syn.daddr.c_str(), key.daddr);
    zd_flow flow{};
    ASSERT_EQ(bpf_map_lookup_elem(bpf_map__fd(skel_->maps.zd_flows), &key, &flow), 0);

    bpf_sk_lookup ctx{};
    ctx.family = AF_INET;
    ctx.protocol = IPPROTO_TCP;
    ctx.local_port = 80;
    ctx.remote_port = htons(sport);
    std::memcpy(&ctx.remote_ip4, key.saddr, 4);
    std::memcpy(&ctx.local_ip4, key.daddr, 4);
    LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &ctx, .ctx_out = &ctx,
                .ctx_size_in = sizeof(ctx), .ctx_size_out = sizeof(ctx));
    ASSERT_EQ(bpf_prog_test_run_opts(bpf_program__fd(lookup->progs.zd_dispatch), &opts), 0);
    const bool xdp_canary = flow.workspace == kCanary;
    EXPECT_EQ(ctx.cookie == cookie(canary), xdp_canary) << "the planes disagree on port " << sport;
    to_canary += xdp_canary;
  }
  zd_sk_lookup__destroy(lookup);
  EXPECT_NEAR(to_canary, 120, 30) << "30% of 400";
}

} // namespace
