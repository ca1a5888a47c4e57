// The encapsulation that forwards a flow to another host (bpf/zd_encap.bpf.h,
// issue 21), under BPF_PROG_TEST_RUN through tests/bpf/encap_probe.bpf.c:
// the outer Ethernet and IPv4 headers byte for byte, their checksum, the
// inner packet unchanged but for a SYN's MSS (whose TCP checksum stays
// right), DSCP/ECN copied and TTL 64 as documented, and a frame cut at
// every byte never sent on.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "frames.hpp"
#include "zd_shared.h"

namespace {

using zdtest::TcpFrame;

// The one's complement sum of bytes (an odd last byte padded), folded.
uint16_t fold(uint32_t sum) {
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}
uint32_t add(const uint8_t *p, size_t n, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < n; i += 2)
    sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (n % 2)
    sum += static_cast<uint32_t>(p[n - 1] << 8);
  return sum;
}

// An IPv4 TCP frame with a TOS, an MSS option and both checksums right.
std::vector<uint8_t> syn_frame(uint16_t mss, uint8_t tos, uint8_t flags = zdtest::kSyn) {
  TcpFrame f;
  f.flags = flags;
  f.tcp_doff = 6; // one option word: the MSS
  f.payload = flags & zdtest::kSyn ? "" : "hello";
  std::vector<uint8_t> frame = f.bytes();
  uint8_t *ip = frame.data() + 14;
  ip[1] = tos;
  uint8_t *tcp = ip + 20;
  tcp[20] = 2, tcp[21] = 4, tcp[22] = static_cast<uint8_t>(mss >> 8), tcp[23] = mss & 0xff;
  const uint16_t ip_check = static_cast<uint16_t>(~fold(add(ip, 20)));
  ip[10] = static_cast<uint8_t>(ip_check >> 8), ip[11] = ip_check & 0xff;
  const size_t tcp_len = frame.size() - 14 - 20;
  uint32_t pseudo = add(ip + 12, 8) + IPPROTO_TCP + static_cast<uint32_t>(tcp_len);
  const uint16_t tcp_check = static_cast<uint16_t>(~fold(add(tcp, tcp_len, pseudo)));
  tcp[16] = static_cast<uint8_t>(tcp_check >> 8), tcp[17] = tcp_check & 0xff;
  return frame;
}

// The same over IPv6 (no extension header): its pseudo-header has both
// addresses, the TCP length and the next header.
uint32_t pseudo6(const uint8_t *ip6, size_t tcp_len) {
  return add(ip6 + 8, 32) + static_cast<uint32_t>(tcp_len >> 16) +
         static_cast<uint32_t>(tcp_len & 0xffff) + IPPROTO_TCP;
}

std::vector<uint8_t> syn_frame6(uint16_t mss, uint8_t traffic_class, uint8_t flags = zdtest::kSyn) {
  TcpFrame f;
  f.saddr = "2001:db8::10";
  f.daddr = "fd00:99::1";
  f.flags = flags;
  f.tcp_doff = 6;
  f.payload = flags & zdtest::kSyn ? "" : "hello";
  std::vector<uint8_t> frame = f.bytes();
  uint8_t *ip6 = frame.data() + 14;
  ip6[0] = static_cast<uint8_t>(0x60 | traffic_class >> 4);
  ip6[1] = static_cast<uint8_t>((traffic_class & 0x0f) << 4);
  uint8_t *tcp = ip6 + 40;
  tcp[20] = 2, tcp[21] = 4, tcp[22] = static_cast<uint8_t>(mss >> 8), tcp[23] = mss & 0xff;
  const size_t tcp_len = frame.size() - 14 - 40;
  const uint16_t check = static_cast<uint16_t>(~fold(add(tcp, tcp_len, pseudo6(ip6, tcp_len))));
  tcp[16] = static_cast<uint8_t>(check >> 8), tcp[17] = check & 0xff;
  return frame;
}

bool tcp6_checksum_right(const uint8_t *ip6, size_t ip_len) {
  const size_t tcp_len = ip_len - 40;
  return fold(add(ip6 + 40, tcp_len, pseudo6(ip6, tcp_len))) == 0xffff;
}

bool tcp_checksum_right(const uint8_t *ip, size_t ip_len) {
  const size_t tcp_len = ip_len - 20;
  const uint32_t pseudo = add(ip + 12, 8) + IPPROTO_TCP + static_cast<uint32_t>(tcp_len);
  return fold(add(ip + 20, tcp_len, pseudo)) == 0xffff;
}

class Encap : public ::testing::Test {
protected:
  void SetUp() override {
    if (geteuid() != 0)
      GTEST_SKIP() << "needs root: loads a BPF program";
    object_ = bpf_object__open_file(ZD_ENCAP_PROBE, nullptr);
    ASSERT_TRUE(object_) << ZD_ENCAP_PROBE;
    ASSERT_EQ(bpf_object__load(object_), 0);
    prog_ = bpf_program__fd(bpf_object__find_program_by_name(object_, "zd_encap_probe"));
    decap_ = bpf_program__fd(bpf_object__find_program_by_name(object_, "zd_decap_probe"));
    const int map = bpf_map__fd(bpf_object__find_map_by_name(object_, "zd_encap_tunnel"));
    const int map6 = bpf_map__fd(bpf_object__find_map_by_name(object_, "zd_encap_tunnel6"));
    inet_pton(AF_INET6, "fd77::1", tunnel6_.src);
    inet_pton(AF_INET6, "fd77::2", tunnel6_.dst);
    std::memcpy(tunnel6_.src_mac, "\x02\xaa\x00\x00\x00\x01", 6);
    std::memcpy(tunnel6_.dst_mac, "\x02\xbb\x00\x00\x00\x02", 6);
    tunnel6_.mss = 1360;
    inet_pton(AF_INET, "10.77.0.1", &tunnel_.src);
    inet_pton(AF_INET, "10.77.0.2", &tunnel_.dst);
    std::memcpy(tunnel_.src_mac, "\x02\xaa\x00\x00\x00\x01", 6);
    std::memcpy(tunnel_.dst_mac, "\x02\xbb\x00\x00\x00\x02", 6);
    tunnel_.mss = 1400;
    const uint32_t zero = 0;
    ASSERT_EQ(bpf_map_update_elem(map, &zero, &tunnel_, BPF_ANY), 0);
    ASSERT_EQ(bpf_map_update_elem(map6, &zero, &tunnel6_, BPF_ANY), 0);
  }
  void TearDown() override { bpf_object__close(object_); }

  struct Outcome {
    int verdict = -1;
    std::vector<uint8_t> out;
  };
  Outcome run(const std::vector<uint8_t> &frame, int prog = -1) {
    Outcome r;
    r.out.resize(frame.size() + 64);
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_out = r.out.data(),
                .data_size_in = static_cast<uint32_t>(frame.size()),
                .data_size_out = static_cast<uint32_t>(r.out.size()));
    EXPECT_EQ(bpf_prog_test_run_opts(prog < 0 ? prog_ : prog, &opts), 0) << strerror(errno);
    r.verdict = static_cast<int>(opts.retval);
    r.out.resize(opts.data_size_out);
    return r;
  }

  bpf_object *object_ = nullptr;
  int prog_ = -1, decap_ = -1;
  zd_tunnel tunnel_{};
  zd_tunnel6 tunnel6_{};
};

TEST_F(Encap, TheOuterHeadersAreExactAndTheInnerPacketUnchanged) {
  const std::vector<uint8_t> in = syn_frame(1200, 0xb9, zdtest::kAck); // not a SYN: no clamp
  const Outcome r = run(in);
  ASSERT_EQ(r.verdict, XDP_TX);
  ASSERT_EQ(r.out.size(), in.size() + 20);
  EXPECT_EQ(0, std::memcmp(r.out.data(), tunnel_.dst_mac, 6)) << "to the next hop";
  EXPECT_EQ(0, std::memcmp(r.out.data() + 6, tunnel_.src_mac, 6)) << "from the fabric interface";
  EXPECT_EQ(r.out[12], 0x08);
  EXPECT_EQ(r.out[13], 0x00);
  const uint8_t *outer = r.out.data() + 14;
  EXPECT_EQ(outer[0], 0x45) << "IPv4, no options";
  EXPECT_EQ(outer[1], 0xb9) << "DSCP and ECN copied from the inner header";
  EXPECT_EQ(outer[2] << 8 | outer[3], static_cast<int>(in.size() - 14 + 20)) << "total length";
  EXPECT_EQ(outer[6], 0x40) << "DF";
  EXPECT_EQ(outer[7], 0);
  EXPECT_EQ(outer[8], 64) << "TTL";
  EXPECT_EQ(outer[9], IPPROTO_IPIP);
  EXPECT_EQ(0, std::memcmp(outer + 12, &tunnel_.src, 4));
  EXPECT_EQ(0, std::memcmp(outer + 16, &tunnel_.dst, 4));
  EXPECT_EQ(fold(add(outer, 20)), 0xffff) << "the outer checksum is right";
  EXPECT_EQ(std::vector<uint8_t>(r.out.begin() + 34, r.out.end()),
            std::vector<uint8_t>(in.begin() + 14, in.end()))
      << "the inner packet, TTL included, is exactly what arrived";
}

TEST_F(Encap, ASynsMssIsLoweredToTheTunnelsAndItsChecksumStaysRight) {
  for (const uint16_t mss : {1460, 1401, 1400, 1200, 536}) {
    const std::vector<uint8_t> in = syn_frame(mss, 0);
    ASSERT_TRUE(tcp_checksum_right(in.data() + 14, in.size() - 14));
    const Outcome r = run(in);
    ASSERT_EQ(r.verdict, XDP_TX) << mss;
    const uint8_t *inner = r.out.data() + 34;
    const int now = inner[20 + 22] << 8 | inner[20 + 23];
    EXPECT_EQ(now, std::min<int>(mss, tunnel_.mss)) << "MSS " << mss;
    EXPECT_TRUE(tcp_checksum_right(inner, r.out.size() - 34)) << "MSS " << mss;
  }
}

// Every prefix of a good frame: forwarded only when the whole inner packet
// is there, and then exactly as the whole frame is.
TEST_F(Encap, AFrameCutAtAnyByteIsNeverSentOn) {
  const std::vector<uint8_t> whole = syn_frame(1460, 0x10);
  for (size_t n = 0; n < whole.size(); ++n) {
    const std::vector<uint8_t> cut(whole.begin(), whole.begin() + static_cast<long>(n));
    if (cut.size() < 14)
      continue; // shorter than Ethernet: BPF_PROG_TEST_RUN refuses it itself
    const Outcome r = run(cut);
    EXPECT_NE(r.verdict, XDP_TX) << "cut at " << n << " of " << whole.size();
  }
  EXPECT_EQ(run(whole).verdict, XDP_TX);
}

TEST_F(Encap, WhatIsNotTcpIsPassedUntouched) {
  TcpFrame udp;
  udp.protocol = IPPROTO_UDP;
  TcpFrame udp6 = udp;
  udp6.saddr = "2001:db8::10";
  udp6.daddr = "fd00:99::1";
  for (const auto &frame : {udp.bytes(), udp6.bytes(), zdtest::arp_frame()}) {
    const Outcome r = run(frame);
    EXPECT_EQ(r.verdict, XDP_PASS);
    EXPECT_EQ(r.out, frame);
  }
}

// The receiving host unwraps what the ingress host wrapped: the client's
// packet exactly, in a frame addressed as the outer one was.
TEST_F(Encap, UnwrappedOnTheOtherHostItIsTheClientsPacketAgain) {
  const std::vector<uint8_t> in = syn_frame(1200, 0x28, zdtest::kAck);
  const Outcome wrapped = run(in);
  ASSERT_EQ(wrapped.verdict, XDP_TX);
  const Outcome r = run(wrapped.out, decap_);
  ASSERT_EQ(r.verdict, XDP_TX);
  ASSERT_EQ(r.out.size(), in.size());
  EXPECT_EQ(std::vector<uint8_t>(r.out.begin(), r.out.begin() + 14),
            std::vector<uint8_t>(wrapped.out.begin(), wrapped.out.begin() + 14))
      << "the Ethernet header of the frame that arrived";
  EXPECT_EQ(std::vector<uint8_t>(r.out.begin() + 14, r.out.end()),
            std::vector<uint8_t>(in.begin() + 14, in.end()));

  // Not unwrapped: a cut frame, a fragment, an outer header with options,
  // a packet that is not IPIP.
  for (size_t n = 14; n < wrapped.out.size(); ++n)
    EXPECT_EQ(
        run({wrapped.out.begin(), wrapped.out.begin() + static_cast<long>(n)}, decap_).verdict,
        XDP_PASS)
        << "cut at " << n;
  std::vector<uint8_t> fragment = wrapped.out;
  fragment[14 + 6] |= 0x20; // more fragments
  EXPECT_EQ(run(fragment, decap_).verdict, XDP_PASS);
  std::vector<uint8_t> options = wrapped.out;
  options[14] = 0x46;
  EXPECT_EQ(run(options, decap_).verdict, XDP_PASS);
  EXPECT_EQ(run(in, decap_).verdict, XDP_PASS) << "plain TCP is not unwrapped";
}

// IPv6 over an IPv6 fabric: the outer header byte for byte, the inner
// packet as it arrived but for a SYN's MSS, every cut refused, the round trip.
TEST_F(Encap, Ipv6IsWrappedInIpv6AndUnwrappedAgain) {
  const std::vector<uint8_t> in = syn_frame6(1200, 0xb9, zdtest::kAck);
  const Outcome r = run(in);
  ASSERT_EQ(r.verdict, XDP_TX);
  ASSERT_EQ(r.out.size(), in.size() + 40);
  EXPECT_EQ(0, std::memcmp(r.out.data(), tunnel6_.dst_mac, 6));
  EXPECT_EQ(0, std::memcmp(r.out.data() + 6, tunnel6_.src_mac, 6));
  EXPECT_EQ(r.out[12] << 8 | r.out[13], ETH_P_IPV6);
  const uint8_t *outer = r.out.data() + 14;
  EXPECT_EQ(outer[0], 0x6b) << "version 6, traffic class 0xb9 copied";
  EXPECT_EQ(outer[1], 0x90) << "and a flow label of 0";
  EXPECT_EQ(outer[2], 0);
  EXPECT_EQ(outer[3], 0);
  EXPECT_EQ(outer[4] << 8 | outer[5], static_cast<int>(in.size() - 14)) << "payload length";
  EXPECT_EQ(outer[6], IPPROTO_IPV6);
  EXPECT_EQ(outer[7], 64) << "hop limit";
  EXPECT_EQ(0, std::memcmp(outer + 8, tunnel6_.src, 16));
  EXPECT_EQ(0, std::memcmp(outer + 24, tunnel6_.dst, 16));
  EXPECT_EQ(std::vector<uint8_t>(r.out.begin() + 54, r.out.end()),
            std::vector<uint8_t>(in.begin() + 14, in.end()));

  for (const uint16_t mss : {1440, 1361, 1360, 1220}) {
    const std::vector<uint8_t> syn = syn_frame6(mss, 0);
    ASSERT_TRUE(tcp6_checksum_right(syn.data() + 14, syn.size() - 14));
    const Outcome s = run(syn);
    ASSERT_EQ(s.verdict, XDP_TX) << mss;
    const uint8_t *inner = s.out.data() + 54;
    EXPECT_EQ(inner[40 + 22] << 8 | inner[40 + 23], std::min<int>(mss, tunnel6_.mss)) << mss;
    EXPECT_TRUE(tcp6_checksum_right(inner, s.out.size() - 54)) << mss;
  }

  const std::vector<uint8_t> syn = syn_frame6(1440, 0);
  for (size_t n = 14; n < syn.size(); ++n)
    EXPECT_NE(run({syn.begin(), syn.begin() + static_cast<long>(n)}).verdict, XDP_TX)
        << "cut at " << n;

  const Outcome back = run(r.out, decap_);
  ASSERT_EQ(back.verdict, XDP_TX);
  EXPECT_EQ(std::vector<uint8_t>(back.out.begin() + 14, back.out.end()),
            std::vector<uint8_t>(in.begin() + 14, in.end()));
  for (size_t n = 14; n < r.out.size(); ++n)
    EXPECT_EQ(run({r.out.begin(), r.out.begin() + static_cast<long>(n)}, decap_).verdict, XDP_PASS)
        << "a wrapped frame cut at " << n;
}

} // namespace
