// Cross-host forwarding in the real zd_xdp program (bpf/xdp.bpf.c, issue 21),
// under BPF_PROG_TEST_RUN with a real fabric route in a private network
// namespace:
//   - a new flow whose workspace's Maglev table (zd_instances) names another
//     node is wrapped, IPIP for IPv4 and IPv6-in-IPv6 for IPv6, from this
//     host's fabric address to the node's, its SYN's MSS lowered to the
//     node's, and sent out of the interface bpf_fib_lookup names (XDP_TX on
//     the ingress one, XDP_REDIRECT to another) to the next hop's MAC;
//   - later packets of the flow follow its entry, whatever the table or the
//     route say by then;
//   - what cannot be sent (no node, no route) is dropped and counted; with
//     no neighbour entry yet, the wrapped frame is passed to the stack;
//   - what is too big for the fabric once wrapped is answered as a router
//     answers for path MTU discovery: ICMP "fragmentation needed" or ICMPv6
//     "packet too big", back out of the interface it came in by;
//   - a frame wrapped for this host is unwrapped and delivered here, never
//     forwarded again;
//   - no frame cut short is ever sent on; a table spreads flows over its nodes.
// Every frame sent on is compared byte for byte with the tunnel as
// bpf/zd_encap.bpf.h defines it (wrap() below), every answer with what a
// router says (too_big_answer() below), and their checksums verified.
//
// The fabric: veth zdfab (192.0.2.1/24, fd00:fab::1/64), the ingress
// interface, with permanent neighbours for nodes A (.2, ::2) and B (.3, ::3)
// and none for .4/::4; veth zdfab2 (198.51.100.1/24, fd00:fab2::1/64) with a
// neighbour for a node behind it (.2, ::2); nothing routes 203.0.113.0/24.
#include <gtest/gtest.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "data_maps.hpp"
#include "dataplane.hpp"
#include "frames.hpp"
#include "keys.hpp"
#include "listener.hpp"
#include "parse.hpp"
#include "process.hpp"
#include "xdp.skel.h"
#include "zd_shared.h"

namespace {

using zdtest::kAck;
using zdtest::kPsh;
using zdtest::kSyn;
using zdtest::Mac;
using zdtest::put16;
using zdtest::TcpFrame;
using Bytes = std::vector<uint8_t>;

constexpr uint32_t kShop = 1; // the domain: tcp 10.99.0.1:80 and [fd00:99::1]:80
// Workspaces: blue is a container here, host a host workspace here, away
// has instances on other hosts only (no socket here).
constexpr uint32_t kBlue = 1, kHost = 3, kAway = 5;
// Nodes: A and B are neighbours on the fabric; kNoNeigh is routed but has no
// neighbour entry; kNoRoute is unreachable; kBeyond sits behind the second
// fabric interface; kMissing has no zd_nodes entry at all.
constexpr uint32_t kNodeA = 1, kNodeB = 2, kNoNeigh = 3, kNoRoute = 4, kBeyond = 5, kMissing = 9;
// The MSS each node's forwarded SYNs are lowered to.
constexpr uint16_t kMss4 = 1400, kMss6 = 1360;

const char *const kSelf4 = "192.0.2.1";
const char *const kSelf6 = "fd00:fab::1";
const Mac kFabMac{0x02, 0xfa, 0xb0, 0, 0, 0x01};  // zdfab
const Mac kFab2Mac{0x02, 0xfa, 0xb2, 0, 0, 0x01}; // zdfab2
const Mac kRouterMac{0x02, 0xc1, 0, 0, 0, 0x01};  // where clients' frames come from
const Mac kBlueMac{0x02, 0xb1, 0, 0, 0, 0x01}, kBlueHostMac{0x02, 0xb1, 0, 0, 0, 0x02};

struct Peer {
  const char *v4, *v6; // fabric addresses
  Mac via;             // the MAC of the interface it is reached by
  Mac next_hop;        // its neighbour entry's MAC
};
const std::map<uint32_t, Peer> kPeers = {
    {kNodeA, {"192.0.2.2", "fd00:fab::2", kFabMac, {0x02, 0xfa, 0xb0, 0, 0, 0x02}}},
    {kNodeB, {"192.0.2.3", "fd00:fab::3", kFabMac, {0x02, 0xfa, 0xb0, 0, 0, 0x03}}},
    {kNoNeigh, {"192.0.2.4", "fd00:fab::4", kFabMac, {}}},
    {kNoRoute, {"203.0.113.9", "fd00:dead::9", {}, {}}},
    {kBeyond, {"198.51.100.2", "fd00:fab2::2", kFab2Mac, {0x02, 0xfa, 0xb2, 0, 0, 0x02}}},
};

// ---- Checksums (RFC 1071), over network-order bytes ----

uint32_t sum16(const uint8_t *p, size_t n, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < n; i += 2)
    sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (n % 2)
    sum += static_cast<uint32_t>(p[n - 1] << 8);
  return sum;
}

uint16_t fold(uint32_t sum) {
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

bool is_v6(const Bytes &frame) {
  return frame[12] == 0x86 && frame[13] == 0xdd;
}

// The pseudo-header of a TCP segment of l4_len bytes in the IP packet at ip.
uint32_t pseudo_header(const uint8_t *ip, bool v6, size_t l4_len) {
  if (v6)
    return sum16(ip + 8, 32) + static_cast<uint32_t>(l4_len) + IPPROTO_TCP;
  return sum16(ip + 12, 8) + static_cast<uint32_t>(l4_len) + IPPROTO_TCP;
}

bool ipv4_checksum_ok(const uint8_t *ip) {
  return fold(sum16(ip, 20)) == 0xffff;
}

// Whether the TCP checksum of the IP packet at ip (ip_len bytes, no IPv4
// options or IPv6 extension headers) is right.
bool tcp_checksum_ok(const uint8_t *ip, size_t ip_len, bool v6) {
  const size_t header = v6 ? 40 : 20;
  return fold(sum16(ip + header, ip_len - header, pseudo_header(ip, v6, ip_len - header))) ==
         0xffff;
}

// Rewrites the TCP checksum of the frame's packet from scratch.
void set_tcp_checksum(Bytes &frame) {
  const bool v6 = is_v6(frame);
  uint8_t *ip = frame.data() + ETH_HLEN;
  uint8_t *tcp = ip + (v6 ? 40 : 20);
  const size_t l4_len = frame.size() - ETH_HLEN - (v6 ? 40 : 20);
  tcp[16] = tcp[17] = 0;
  const uint16_t check =
      static_cast<uint16_t>(~fold(sum16(tcp, l4_len, pseudo_header(ip, v6, l4_len))));
  tcp[16] = static_cast<uint8_t>(check >> 8), tcp[17] = check & 0xff;
}

Bytes address(const std::string &text) {
  const bool v6 = text.find(':') != std::string::npos;
  Bytes a(v6 ? 16 : 4);
  EXPECT_EQ(inet_pton(v6 ? AF_INET6 : AF_INET, text.c_str(), a.data()), 1) << text;
  return a;
}

// ---- Frames ----

// A client's TCP packet to the shop domain as it reaches this host's fabric
// interface: an MSS option on a SYN (the first option, at TCP offset 20), a
// DSCP/ECN of its own, and its checksums right, so that any byte the program
// changes shows and a checksum it breaks is caught.
struct Client {
  bool v6 = false;
  uint16_t sport = 40000;
  uint8_t flags = kSyn;
  uint16_t mss = 1460;
  uint8_t tos = 0xb9; // DSCP 46 (EF) and ECN ECT(1): both belong in the outer header
  std::string payload;

  const char *saddr() const { return v6 ? "2001:db8::10" : "198.18.0.10"; }
  const char *daddr() const { return v6 ? "fd00:99::1" : "10.99.0.1"; }

  // The same connection's next packet: an ACK with a request.
  Client next() const {
    Client c = *this;
    c.flags = kAck | kPsh;
    c.payload = "GET / HTTP/1.1\r\nHost: shop\r\n\r\n";
    return c;
  }

  Bytes frame() const {
    TcpFrame f;
    f.src_mac = kRouterMac;
    f.dst_mac = kFabMac;
    f.saddr = saddr();
    f.daddr = daddr();
    f.sport = sport;
    f.flags = flags;
    f.tcp_doff = flags & kSyn ? 6 : 5;
    f.payload = payload;
    Bytes b = f.bytes();
    uint8_t *ip = b.data() + ETH_HLEN;
    if (v6) {
      ip[0] = static_cast<uint8_t>(0x60 | tos >> 4);
      ip[1] = static_cast<uint8_t>((tos & 0x0f) << 4 | 0x0a); // and a flow label of its own
      ip[2] = 0xbc, ip[3] = 0xde;
    } else {
      ip[1] = tos;
      const uint16_t check = static_cast<uint16_t>(~fold(sum16(ip, 20)));
      ip[10] = static_cast<uint8_t>(check >> 8), ip[11] = check & 0xff;
    }
    if (flags & kSyn) {
      uint8_t *option = ip + (v6 ? 40 : 20) + 20;
      option[0] = 2, option[1] = 4;
      option[2] = static_cast<uint8_t>(mss >> 8), option[3] = mss & 0xff;
    }
    set_tcp_checksum(b);
    return b;
  }

  zd_flow_key key() const {
    zd_flow_key k{};
    k.family = v6 ? AF_INET6 : AF_INET;
    k.protocol = IPPROTO_TCP;
    k.sport = sport;
    k.dport = 80;
    const Bytes s = address(saddr()), d = address(daddr());
    std::memcpy(k.saddr, s.data(), s.size());
    std::memcpy(k.daddr, d.data(), d.size());
    return k;
  }
};

// The client's frame with its SYN's MSS option set to mss and the TCP
// checksum recomputed from scratch: what a correct clamp leaves.
Bytes with_mss(Bytes frame, uint16_t mss) {
  uint8_t *option = frame.data() + ETH_HLEN + (is_v6(frame) ? 40 : 20) + 20;
  option[2] = static_cast<uint8_t>(mss >> 8), option[3] = mss & 0xff;
  set_tcp_checksum(frame);
  return frame;
}

// The frame's IP packet wrapped as bpf/zd_encap.bpf.h defines the tunnel:
// Ethernet from src_mac to dst_mac; for IPv4, an outer IPv4 header (IPIP:
// protocol 4) with the inner TOS (DSCP and ECN), id 0, DF, TTL 64 and a
// right checksum; for IPv6, an outer IPv6 header (next header 41) with the
// inner traffic class, flow label 0 and hop limit 64. What this host's
// zd_xdp must send, and what another host's sends here.
Bytes wrap(const Bytes &frame, const std::string &from, const std::string &to, const Mac &dst_mac,
           const Mac &src_mac) {
  const uint8_t *inner = frame.data() + ETH_HLEN;
  const size_t inner_len = frame.size() - ETH_HLEN;
  Bytes out(dst_mac.begin(), dst_mac.end());
  out.insert(out.end(), src_mac.begin(), src_mac.end());
  const Bytes src = address(from), dst = address(to);
  const size_t outer = out.size() + 2;
  if (is_v6(frame)) {
    put16(out, ETH_P_IPV6);
    const uint8_t traffic_class = static_cast<uint8_t>((inner[0] & 0x0f) << 4 | inner[1] >> 4);
    out.push_back(static_cast<uint8_t>(0x60 | traffic_class >> 4));
    out.push_back(static_cast<uint8_t>((traffic_class & 0x0f) << 4)); // flow label 0
    out.insert(out.end(), {0, 0});
    put16(out, static_cast<uint16_t>(inner_len));
    out.push_back(IPPROTO_IPV6);
    out.push_back(64);
  } else {
    put16(out, ETH_P_IP);
    out.push_back(0x45);
    out.push_back(inner[1]);
    put16(out, static_cast<uint16_t>(inner_len + 20));
    put16(out, 0);      // id
    put16(out, 0x4000); // DF
    out.push_back(64);
    out.push_back(IPPROTO_IPIP);
    put16(out, 0); // checksum, below
  }
  out.insert(out.end(), src.begin(), src.end());
  out.insert(out.end(), dst.begin(), dst.end());
  if (!is_v6(frame)) {
    const uint16_t check = static_cast<uint16_t>(~fold(sum16(&out[outer], 20)));
    out[outer + 10] = static_cast<uint8_t>(check >> 8), out[outer + 11] = check & 0xff;
  }
  out.insert(out.end(), frame.begin() + ETH_HLEN, frame.end());
  return out;
}

// The client's frame as another host's zd_xdp sends it here: wrapped from
// that host (node A) to `to`, in a frame with the client frame's own
// Ethernet header, so that once unwrapped it is the client's frame exactly.
Bytes tunnelled(const Bytes &frame, const std::string &to) {
  const Mac dst{frame[0], frame[1], frame[2], frame[3], frame[4], frame[5]};
  const Mac src{frame[6], frame[7], frame[8], frame[9], frame[10], frame[11]};
  const Peer &a = kPeers.at(kNodeA);
  return wrap(frame, is_v6(frame) ? a.v6 : a.v4, to, dst, src);
}

// "" when the frames are equal, else where they first differ: a readable
// failure for byte-for-byte comparisons.
std::string difference(const Bytes &got, const Bytes &want) {
  std::ostringstream s;
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i)
    if (got[i] != want[i]) {
      s << "byte " << i << ": got 0x" << std::hex << int{got[i]} << ", want 0x" << int{want[i]}
        << std::dec << "; ";
      break;
    }
  if (got.size() != want.size())
    s << got.size() << " bytes, want " << want.size();
  return s.str();
}

// Every byte where the frames differ (the first 24), each named by the
// field of a too-big answer it falls in: what to report when the program's
// answer is wrong in some byte.
std::string differences(const Bytes &got, const Bytes &want) {
  const bool v6 = want.size() > 13 && is_v6(want);
  const size_t ip = ETH_HLEN, icmp = ip + (v6 ? 40 : 20), quote = icmp + 8;
  std::ostringstream s;
  int shown = 0;
  for (size_t i = 0; i < std::min(got.size(), want.size()) && shown < 24; ++i)
    if (got[i] != want[i]) {
      const char *where = i < ip      ? "Ethernet"
                          : i < icmp  ? "IP header"
                          : i < quote ? "ICMP header"
                                      : "quote";
      const size_t at = i < ip ? i : i < icmp ? i - ip : i < quote ? i - icmp : i - quote;
      s << "byte " << i << " (" << where << " +" << at << "): got 0x" << std::hex << int{got[i]}
        << ", want 0x" << int{want[i]} << std::dec << "; ";
      ++shown;
    }
  if (got.size() != want.size())
    s << got.size() << " bytes, want " << want.size();
  return s.str();
}

// ---- ICMP "too big" answers ----

// zdfab's MTU (a veth's default): the fabric's, against which bpf_fib_lookup
// measures a wrapped packet.
constexpr uint32_t kFabricMtu = 1500;

void put32(Bytes &out, uint32_t v) {
  put16(out, static_cast<uint16_t>(v >> 16));
  put16(out, static_cast<uint16_t>(v));
}

// The checksum an ICMP message (ICMPv4, RFC 792; ICMPv6, RFC 4443 2.3)
// in the IP packet at ip (ip_len bytes, a plain 20- or 40-byte header) must
// carry: the one's complement of the one's complement sum of the message
// with its checksum field taken as zero, for ICMPv6 the pseudo-header of
// RFC 8200 8.1 included (source, destination, a 32-bit upper-layer length,
// three zero bytes and next header 58). Written here word by word, apart
// from the program's own computation and from the TCP helpers above.
uint16_t icmp_checksum(const uint8_t *ip, size_t ip_len, bool v6) {
  const size_t header = v6 ? 40 : 20;
  const size_t len = ip_len - header;
  const uint8_t *msg = ip + header;
  uint64_t sum = 0;
  for (size_t i = 0; i < len; i += 2) {
    if (i == 2)
      continue; // the checksum field itself
    const uint32_t hi = msg[i], lo = i + 1 < len ? msg[i + 1] : 0;
    sum += hi << 8 | lo;
  }
  if (v6) {
    for (size_t i = 8; i < 40; i += 2) // source and destination addresses
      sum += static_cast<uint32_t>(ip[i] << 8 | ip[i + 1]);
    sum += (len >> 16) + (len & 0xffff); // the upper-layer length, 32 bits
    sum += 58;                           // zero, zero, zero, next header 58
  }
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffff);
}

// The checksum field of the ICMP message in the IP packet at ip.
uint16_t icmp_checksum_field(const uint8_t *ip, bool v6) {
  const uint8_t *msg = ip + (v6 ? 40 : 20);
  return static_cast<uint16_t>(msg[2] << 8 | msg[3]);
}

// The IPv4 header checksum the 20 bytes at ip must carry (RFC 791), computed
// apart from ipv4_checksum_ok's check: the sum with the field as zero.
uint16_t ipv4_header_checksum(const uint8_t *ip) {
  uint32_t sum = 0;
  for (size_t i = 0; i < 20; i += 2)
    if (i != 10)
      sum += static_cast<uint32_t>(ip[i] << 8 | ip[i + 1]);
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffff);
}

// What a router says of the frame's packet, too big for its next link, as
// zd must say it for a packet too big for the fabric once wrapped, sent
// back out of the interface it came in by: the Ethernet addresses swapped;
// a new IP header from the packet's destination to its source (IPv4: ihl
// 5, TOS 0, id 0, no DF, TTL 64, protocol 1; IPv6: class 0, label 0, next
// header 58, hop limit 64); ICMP "fragmentation needed" (type 3 code 4,
// RFC 1191's next-hop MTU in the low 16 bits of its second word) or ICMPv6
// "packet too big" (type 2 code 0, a 32-bit MTU); then the packet's IP
// header and the first 8 bytes of its payload (RFC 792's quote; RFC 4443
// lets ICMPv6 quote more, and zd quotes the same 8 bytes). The largest
// packet that fits is the fabric's MTU less the outer header.
Bytes too_big_answer(const Bytes &frame) {
  const bool v6 = is_v6(frame);
  const uint8_t *packet = frame.data() + ETH_HLEN;
  const size_t header = v6 ? 40 : 20, quoted = header + 8;
  Bytes out(frame.begin() + 6, frame.begin() + 12);        // to the frame's sender
  out.insert(out.end(), frame.begin(), frame.begin() + 6); // from the MAC it was sent to
  const size_t ip = out.size() + 2;
  if (v6) {
    put16(out, ETH_P_IPV6);
    put32(out, 0x60000000); // version 6, class 0, label 0
    put16(out, static_cast<uint16_t>(8 + quoted));
    out.push_back(58); // ICMPv6
    out.push_back(64);
    out.insert(out.end(), packet + 24, packet + 40); // from its destination
    out.insert(out.end(), packet + 8, packet + 24);  // to its source
    out.insert(out.end(), {2, 0, 0, 0});
    put32(out, kFabricMtu - 40);
  } else {
    put16(out, ETH_P_IP);
    out.push_back(0x45);
    out.push_back(0); // TOS
    put16(out, static_cast<uint16_t>(20 + 8 + quoted));
    put16(out, 0); // id
    put16(out, 0); // no DF, no offset
    out.push_back(64);
    out.push_back(IPPROTO_ICMP);
    put16(out, 0);                                   // checksum, below
    out.insert(out.end(), packet + 16, packet + 20); // from its destination
    out.insert(out.end(), packet + 12, packet + 16); // to its source
    out.insert(out.end(), {3, 4, 0, 0, 0, 0});
    put16(out, static_cast<uint16_t>(kFabricMtu - 20));
  }
  out.insert(out.end(), packet, packet + quoted);
  uint8_t *p = out.data() + ip;
  if (!v6) {
    const uint16_t check = ipv4_header_checksum(p);
    p[10] = static_cast<uint8_t>(check >> 8), p[11] = check & 0xff;
  }
  const uint16_t check = icmp_checksum(p, out.size() - ip, v6);
  p[header + 2] = static_cast<uint8_t>(check >> 8), p[header + 3] = check & 0xff;
  return out;
}

template <class T> T sum_per_cpu(int map, uint32_t key) {
  static_assert(sizeof(T) % sizeof(uint64_t) == 0, "a struct of __u64 counters");
  constexpr size_t kWords = sizeof(T) / sizeof(uint64_t);
  std::vector<uint64_t> values(static_cast<size_t>(libbpf_num_possible_cpus()) * kWords);
  EXPECT_EQ(bpf_map_lookup_elem(map, &key, values.data()), 0) << strerror(errno);
  uint64_t total[kWords] = {};
  for (size_t i = 0; i < values.size(); ++i)
    total[i % kWords] += values[i];
  T sum;
  std::memcpy(&sum, total, sizeof(sum));
  return sum;
}

struct Outcome {
  int err = 0; // errno of BPF_PROG_TEST_RUN, 0 when the program ran
  uint32_t verdict = 0xffffffff;
  Bytes out;
};

// Whether the outcome is the frame's too-big answer, sent back with XDP_TX:
// its checksums verified on their own (so that a wrong one is named as
// such), then every byte against too_big_answer's.
void expect_answered(const Outcome &r, const Bytes &frame, const std::string &what) {
  EXPECT_EQ(r.verdict, XDP_TX) << what << ": answered out of the interface it came in by";
  const Bytes want = too_big_answer(frame);
  const bool v6 = is_v6(frame);
  const size_t header = v6 ? 40 : 20;
  if (r.out.size() != want.size() || r.out.size() < ETH_HLEN + header + 8) {
    ADD_FAILURE() << what << ": " << differences(r.out, want);
    return;
  }
  const uint8_t *ip = r.out.data() + ETH_HLEN;
  if (!v6) {
    EXPECT_TRUE(ipv4_checksum_ok(ip))
        << what << ": the IPv4 header checksum, 0x" << std::hex << (ip[10] << 8 | ip[11])
        << ", should be 0x" << ipv4_header_checksum(ip);
  }
  const uint16_t icmp_got = icmp_checksum_field(ip, v6);
  const uint16_t icmp_want = icmp_checksum(ip, r.out.size() - ETH_HLEN, v6);
  EXPECT_EQ(icmp_got, icmp_want) << what
                                 << (v6 ? ": the ICMPv6 checksum, 0x" : ": the ICMP checksum, 0x")
                                 << std::hex << icmp_got << ", should be 0x" << icmp_want;
  EXPECT_EQ(differences(r.out, want), "") << what;
}

class Forward : public ::testing::Test {
protected:
  void SetUp() override {
    if (geteuid() != 0)
      GTEST_SKIP() << "needs root: loads BPF programs and creates a network namespace";
    ASSERT_EQ(unshare(CLONE_NEWNET), 0) << strerror(errno);
    make_fabric();
    if (HasFatalFailure())
      return;

    skel_ = zd_xdp__open_and_load();
    ASSERT_NE(skel_, nullptr) << "loading the XDP program failed (verifier? see libbpf's log)";
    maps_ = std::make_unique<zd::DataMaps>(zd::DataMaps::from_object(skel_->obj));
    plane_ = std::make_unique<zd::BpfDataplane>(*maps_);
    zd_config config{};
    config.magic = ZD_STATE_MAGIC;
    config.layout_version = ZD_LAYOUT_VERSION;
    maps_->set_config(config);
    plane_->add_domain(
        zd::Domain{"shop",
                   kShop,
                   {zd::parse_endpoint("tcp://10.99.0.1:80", zd::AllowPrefix::yes),
                    zd::parse_endpoint("tcp://[fd00:99::1]:80", zd::AllowPrefix::yes)}});

    // Blue: a container, behind veth zdblue; host: in the host's namespace.
    zd_xdp_target blue{};
    blue.ifindex = if_nametoindex("zdblue");
    std::memcpy(blue.dst_mac, kBlueMac.data(), 6);
    std::memcpy(blue.src_mac, kBlueHostMac.data(), 6);
    ASSERT_EQ(bpf_map_update_elem(fd(skel_->maps.zd_xdp_targets), &kBlue, &blue, 0), 0);
    ASSERT_EQ(bpf_map_update_elem(fd(skel_->maps.zd_devmap), &blue.ifindex, &blue.ifindex, 0), 0)
        << strerror(errno);
    for (int family : {AF_INET, AF_INET6}) {
      listen_for(kBlue, family, ZD_PLANE_XDP);
      listen_for(kHost, family, ZD_PLANE_HOST);
    }

    // This host, then every other node but kMissing.
    zd_node self{};
    inet_pton(AF_INET, kSelf4, &self.v4.src);
    inet_pton(AF_INET6, kSelf6, self.v6.src);
    self.fabric = ZD_FABRIC_V4 | ZD_FABRIC_V6;
    put_node(ZD_NODE_SELF, self);
    for (const auto &[id, peer] : kPeers)
      put_node(id, node_to(peer));
  }

  void TearDown() override {
    listeners_.clear();
    plane_.reset();
    maps_.reset();
    if (skel_)
      zd_xdp__destroy(skel_);
  }

  // The fabric of the header comment, in this test's own namespace.
  // Forwarding is on (bpf_fib_lookup answers FWD_DISABLED otherwise, as a
  // host that forwards must have it); IPv6 addresses skip DAD so that they
  // are usable at once.
  void make_fabric() {
    const std::vector<std::vector<std::string>> commands = {
        {"ip", "link", "set", "lo", "up"},
        {"ip", "link", "add", "zdfab", "address", "02:fa:b0:00:00:01", "type", "veth", "peer",
         "name", "zdfab-p"},
        {"ip", "link", "add", "zdfab2", "address", "02:fa:b2:00:00:01", "type", "veth", "peer",
         "name", "zdfab2-p"},
        {"ip", "link", "add", "zdblue", "type", "veth", "peer", "name", "zdblue-c"},
        {"ip", "link", "set", "zdfab", "up"},
        {"ip", "link", "set", "zdfab-p", "up"},
        {"ip", "link", "set", "zdfab2", "up"},
        {"ip", "link", "set", "zdfab2-p", "up"},
        {"ip", "addr", "add", "192.0.2.1/24", "dev", "zdfab"},
        {"ip", "addr", "add", "fd00:fab::1/64", "dev", "zdfab", "nodad"},
        {"ip", "addr", "add", "198.51.100.1/24", "dev", "zdfab2"},
        {"ip", "addr", "add", "fd00:fab2::1/64", "dev", "zdfab2", "nodad"},
        {"ip", "neigh", "add", "192.0.2.2", "lladdr", "02:fa:b0:00:00:02", "dev", "zdfab", "nud",
         "permanent"},
        {"ip", "neigh", "add", "fd00:fab::2", "lladdr", "02:fa:b0:00:00:02", "dev", "zdfab", "nud",
         "permanent"},
        {"ip", "neigh", "add", "192.0.2.3", "lladdr", "02:fa:b0:00:00:03", "dev", "zdfab", "nud",
         "permanent"},
        {"ip", "neigh", "add", "fd00:fab::3", "lladdr", "02:fa:b0:00:00:03", "dev", "zdfab", "nud",
         "permanent"},
        {"ip", "neigh", "add", "198.51.100.2", "lladdr", "02:fa:b2:00:00:02", "dev", "zdfab2",
         "nud", "permanent"},
        {"ip", "neigh", "add", "fd00:fab2::2", "lladdr", "02:fa:b2:00:00:02", "dev", "zdfab2",
         "nud", "permanent"},
    };
    for (const auto &args : commands) {
      const zdtest::Result r = zdtest::run(args);
      ASSERT_EQ(r.code, 0) << args[1] << " " << args[2] << " " << args[3] << ": " << r.err;
    }
    for (const char *path :
         {"/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"}) {
      std::ofstream(path) << "1\n";
      std::ifstream check(path);
      std::string value;
      check >> value;
      ASSERT_EQ(value, "1") << path;
    }
    fabric_ifindex_ = if_nametoindex("zdfab");
    ASSERT_NE(fabric_ifindex_, 0u);
  }

  static int fd(const bpf_map *map) { return bpf_map__fd(map); }

  void listen_for(uint32_t workspace, int family, uint8_t plane) {
    zd::Fd socket = zdtest::loopback_listener(family);
    (*maps_)[zd::DataMap::sockets].update(
        zd::socket_key(workspace, IPPROTO_TCP, static_cast<uint8_t>(family), plane),
        static_cast<uint64_t>(socket.get()), BPF_NOEXIST);
    listeners_.push_back(std::move(socket));
  }

  // A node entry as the control plane writes one: this host's fabric
  // addresses as the source, the node's as the destination, the MSS its
  // forwarded SYNs are lowered to.
  static zd_node node_to(const Peer &peer) {
    zd_node n{};
    inet_pton(AF_INET, kSelf4, &n.v4.src);
    inet_pton(AF_INET, peer.v4, &n.v4.dst);
    n.v4.mss = kMss4;
    inet_pton(AF_INET6, kSelf6, n.v6.src);
    inet_pton(AF_INET6, peer.v6, n.v6.dst);
    n.v6.mss = kMss6;
    n.fabric = ZD_FABRIC_V4 | ZD_FABRIC_V6;
    std::snprintf(n.name, sizeof(n.name), "%s", peer.v4);
    return n;
  }

  void put_node(uint32_t id, const zd_node &node) {
    ASSERT_EQ(bpf_map_update_elem(fd(skel_->maps.zd_nodes), &id, &node, BPF_ANY), 0)
        << strerror(errno);
  }

  // The workspace's Maglev table: slot i names nodes[i % nodes.size()].
  void spread(uint32_t workspace, const std::vector<uint16_t> &nodes) {
    auto instances = std::make_unique<zd_instances>();
    std::memset(instances.get(), 0, sizeof(*instances));
    instances->count = static_cast<uint32_t>(nodes.size());
    instances->local = std::count(nodes.begin(), nodes.end(), ZD_NODE_SELF) ? 1 : 0;
    for (size_t i = 0; i < ZD_MAGLEV_SIZE; ++i)
      instances->table[i] = nodes[i % nodes.size()];
    ASSERT_EQ(
        bpf_map_update_elem(fd(skel_->maps.zd_instances), &workspace, instances.get(), BPF_ANY), 0)
        << strerror(errno);
  }

  void route(uint32_t active, uint32_t previous = ZD_NO_ID) {
    plane_->set_route(kShop, {active, previous});
  }

  // One run of the program on a frame arriving on zdfab. The ingress
  // ifindex goes in the xdp_md context: bpf_fib_lookup starts from it, and
  // the program compares the route's interface with it. The kernel takes a
  // context only with data_end equal to the frame's size (and data,
  // data_meta 0: no metadata).
  Outcome run(const Bytes &frame) {
    Outcome r;
    r.out.resize(frame.size() + 256);
    xdp_md md{};
    md.data_end = static_cast<uint32_t>(frame.size());
    md.ingress_ifindex = fabric_ifindex_;
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_out = r.out.data(),
                .data_size_in = static_cast<uint32_t>(frame.size()),
                .data_size_out = static_cast<uint32_t>(r.out.size()), .ctx_in = &md,
                .ctx_size_in = sizeof(md));
    if (bpf_prog_test_run_opts(bpf_program__fd(skel_->progs.zd_xdp), &opts) != 0) {
      r.err = errno;
      r.out.clear();
      return r;
    }
    r.verdict = opts.retval;
    r.out.resize(opts.data_size_out);
    return r;
  }

  // A run that must succeed.
  Outcome send(const Bytes &frame) {
    Outcome r = run(frame);
    EXPECT_EQ(r.err, 0) << "BPF_PROG_TEST_RUN: " << strerror(r.err);
    return r;
  }

  // What the frame must become when sent to the node: its SYN's MSS (if
  // any) lowered to the node's, wrapped from this host to the node, out of
  // the interface the node is reached by to its next hop.
  static Bytes sent_to(uint32_t node, const Client &client) {
    const Peer &peer = kPeers.at(node);
    Bytes inner = client.frame();
    if (client.flags & kSyn)
      inner = with_mss(inner, std::min(client.mss, client.v6 ? kMss6 : kMss4));
    return client.v6 ? wrap(inner, kSelf6, peer.v6, peer.next_hop, peer.via)
                     : wrap(inner, kSelf4, peer.v4, peer.next_hop, peer.via);
  }

  zd_xdp_counters counters() {
    return sum_per_cpu<zd_xdp_counters>(fd(skel_->maps.zd_xdp_stats), 0);
  }
  zd_node_counters node_counters(uint32_t node) {
    return sum_per_cpu<zd_node_counters>(fd(skel_->maps.zd_node_stats), node);
  }

  std::optional<zd_flow> flow_of(const Client &client) {
    const zd_flow_key key = client.key();
    zd_flow flow{};
    if (bpf_map_lookup_elem(fd(skel_->maps.zd_flows), &key, &flow) != 0)
      return std::nullopt;
    return flow;
  }

  // How many flow entries send their flow to another host.
  size_t remote_flows() {
    const int map = fd(skel_->maps.zd_flows);
    size_t n = 0;
    zd_flow_key key{}, next{};
    const void *at = nullptr;
    while (bpf_map_get_next_key(map, at, &next) == 0) {
      zd_flow flow{};
      if (bpf_map_lookup_elem(map, &next, &flow) == 0 && flow.node != ZD_NODE_SELF)
        ++n;
      key = next;
      at = &key;
    }
    return n;
  }

  zd_xdp *skel_ = nullptr;
  std::unique_ptr<zd::DataMaps> maps_;
  std::unique_ptr<zd::BpfDataplane> plane_;
  std::vector<zd::Fd> listeners_;
  uint32_t fabric_ifindex_ = 0;
};

TEST_F(Forward, AnIpv4SynForAnotherNodeIsWrappedInIpipAndSentBackOutOfTheFabric) {
  route(kAway);
  spread(kAway, {kNodeA});
  const Client syn{}; // MSS 1460, TOS 0xb9
  const Bytes in = syn.frame();
  const Outcome r = send(in);

  ASSERT_EQ(r.verdict, XDP_TX) << "the route to node A leaves by the ingress interface";
  ASSERT_EQ(r.out.size(), in.size() + 20);
  EXPECT_EQ(Bytes(r.out.begin(), r.out.begin() + 6),
            Bytes(kPeers.at(kNodeA).next_hop.begin(), kPeers.at(kNodeA).next_hop.end()))
      << "to node A's neighbour entry";
  EXPECT_EQ(Bytes(r.out.begin() + 6, r.out.begin() + 12), Bytes(kFabMac.begin(), kFabMac.end()))
      << "from zdfab";
  EXPECT_EQ(r.out[12] << 8 | r.out[13], ETH_P_IP);
  const uint8_t *outer = r.out.data() + ETH_HLEN;
  EXPECT_EQ(outer[0], 0x45) << "IPv4, no options";
  EXPECT_EQ(outer[1], 0xb9) << "DSCP and ECN copied from the inner header";
  EXPECT_EQ(outer[2] << 8 | outer[3], static_cast<int>(in.size() - ETH_HLEN + 20));
  EXPECT_EQ(outer[4] << 8 | outer[5], 0) << "id";
  EXPECT_EQ(outer[6] << 8 | outer[7], 0x4000) << "DF, no offset";
  EXPECT_EQ(outer[8], 64) << "TTL";
  EXPECT_EQ(outer[9], IPPROTO_IPIP);
  EXPECT_TRUE(ipv4_checksum_ok(outer));
  EXPECT_EQ(Bytes(outer + 12, outer + 16), address(kSelf4));
  EXPECT_EQ(Bytes(outer + 16, outer + 20), address("192.0.2.2"));

  // The inner packet is the client's but for the MSS, with a right checksum.
  const uint8_t *inner = outer + 20;
  const size_t inner_len = r.out.size() - ETH_HLEN - 20;
  EXPECT_EQ(inner[20 + 22] << 8 | inner[20 + 23], kMss4) << "MSS 1460 lowered to node A's";
  EXPECT_TRUE(tcp_checksum_ok(inner, inner_len, false));
  EXPECT_EQ(difference(r.out, sent_to(kNodeA, syn)), "");

  const std::optional<zd_flow> flow = flow_of(syn);
  ASSERT_TRUE(flow) << "a sent SYN makes its flow's entry";
  EXPECT_EQ(flow->workspace, kAway);
  EXPECT_EQ(flow->node, kNodeA);
  const zd_node_counters a = node_counters(kNodeA);
  EXPECT_EQ(a.flows, 1u);
  EXPECT_EQ(a.packets, 1u);
  EXPECT_EQ(a.bytes, in.size() - ETH_HLEN) << "the inner bytes";
  EXPECT_EQ(a.errors, 0u);
  const zd_xdp_counters c = counters();
  EXPECT_EQ(c.forwarded, 1u);
  EXPECT_EQ(c.flows_added, 1u);
  EXPECT_EQ(c.steered, 1u);
  EXPECT_EQ(c.forward_errors, 0u);
  EXPECT_EQ(c.to_host, 0u);
}

// A node whose route leaves by another interface than the one the SYN came
// in by: redirected there, with that interface's MAC as the source.
TEST_F(Forward, ASynForANodeBehindAnotherInterfaceIsRedirectedThere) {
  route(kAway);
  spread(kAway, {kBeyond});
  for (const bool v6 : {false, true}) {
    Client syn;
    syn.v6 = v6;
    const Outcome r = send(syn.frame());
    EXPECT_EQ(r.verdict, XDP_REDIRECT) << (v6 ? "IPv6" : "IPv4");
    EXPECT_EQ(difference(r.out, sent_to(kBeyond, syn)), "") << (v6 ? "IPv6" : "IPv4");
    ASSERT_TRUE(flow_of(syn));
    EXPECT_EQ(flow_of(syn)->node, kBeyond);
  }
  EXPECT_EQ(node_counters(kBeyond).flows, 2u);
}

TEST_F(Forward, AnIpv6SynForAnotherNodeIsWrappedInIpv6) {
  route(kAway);
  spread(kAway, {kNodeA});
  Client syn;
  syn.v6 = true; // traffic class 0xb9, flow label 0xabcde, MSS 1460
  const Bytes in = syn.frame();
  const Outcome r = send(in);

  ASSERT_EQ(r.verdict, XDP_TX);
  ASSERT_EQ(r.out.size(), in.size() + 40);
  EXPECT_EQ(r.out[12] << 8 | r.out[13], ETH_P_IPV6);
  const uint8_t *outer = r.out.data() + ETH_HLEN;
  EXPECT_EQ(outer[0], 0x6b) << "version 6, traffic class 0xb9 copied";
  EXPECT_EQ(outer[1], 0x90) << "and a flow label of 0, not the inner one";
  EXPECT_EQ(outer[2], 0);
  EXPECT_EQ(outer[3], 0);
  EXPECT_EQ(outer[4] << 8 | outer[5], static_cast<int>(in.size() - ETH_HLEN)) << "payload length";
  EXPECT_EQ(outer[6], IPPROTO_IPV6) << "next header 41";
  EXPECT_EQ(outer[7], 64) << "hop limit";
  EXPECT_EQ(Bytes(outer + 8, outer + 24), address(kSelf6));
  EXPECT_EQ(Bytes(outer + 24, outer + 40), address("fd00:fab::2"));

  const uint8_t *inner = outer + 40;
  EXPECT_EQ(inner[40 + 22] << 8 | inner[40 + 23], kMss6) << "MSS 1460 lowered to node A's";
  EXPECT_TRUE(tcp_checksum_ok(inner, r.out.size() - ETH_HLEN - 40, true));
  EXPECT_EQ(difference(r.out, sent_to(kNodeA, syn)), "");

  ASSERT_TRUE(flow_of(syn));
  EXPECT_EQ(flow_of(syn)->node, kNodeA);
  EXPECT_EQ(node_counters(kNodeA).bytes, in.size() - ETH_HLEN);
}

// Established flows never move: once its SYN went to node A, a flow's later
// packets go there whatever the workspace's table or the domain's route say.
TEST_F(Forward, LaterPacketsFollowTheirFlowsNodeWhateverTheTableAndRouteSayNow) {
  route(kAway);
  spread(kAway, {kNodeA});
  for (const bool v6 : {false, true}) {
    Client syn;
    syn.v6 = v6;
    ASSERT_EQ(send(syn.frame()).verdict, XDP_TX);
  }

  spread(kAway, {kNodeB});
  route(kHost, kAway);
  for (const bool v6 : {false, true}) {
    Client syn;
    syn.v6 = v6;
    const Client ack = syn.next();
    const Outcome r = send(ack.frame());
    EXPECT_EQ(r.verdict, XDP_TX) << (v6 ? "IPv6" : "IPv4");
    EXPECT_EQ(difference(r.out, sent_to(kNodeA, ack)), "")
        << (v6 ? "IPv6" : "IPv4") << ": to node A, the inner packet untouched";
  }
  const zd_node_counters a = node_counters(kNodeA);
  EXPECT_EQ(a.flows, 2u) << "no new flow";
  EXPECT_EQ(a.packets, 4u);
  EXPECT_EQ(node_counters(kNodeB).packets, 0u);
  EXPECT_EQ(counters().followed, 2u);

  // While a new connection takes the new route: to the host workspace here.
  Client fresh;
  fresh.sport = 40001;
  const Bytes in = fresh.frame();
  const Outcome r = send(in);
  EXPECT_EQ(r.verdict, XDP_PASS);
  EXPECT_EQ(r.out, in);
  // And, the table being node B's now, a new flow of away goes to B.
  route(kAway);
  Client to_b;
  to_b.sport = 40002;
  const Outcome b = send(to_b.frame());
  EXPECT_EQ(b.verdict, XDP_TX);
  EXPECT_EQ(difference(b.out, sent_to(kNodeB, to_b)), "");
}

// The clamp only ever lowers: an MSS at or below the node's is left as it
// was, so the inner packet goes out byte for byte as it came.
TEST_F(Forward, ASynsMssAtOrBelowTheNodesIsLeftAlone) {
  route(kAway);
  spread(kAway, {kNodeA});
  uint16_t port = 40000;
  for (const bool v6 : {false, true})
    for (const uint16_t mss : {uint16_t(v6 ? kMss6 : kMss4), uint16_t(1200), uint16_t(536)}) {
      Client syn;
      syn.v6 = v6;
      syn.mss = mss;
      syn.sport = port++;
      const Bytes in = syn.frame();
      const Outcome r = send(in);
      ASSERT_EQ(r.verdict, XDP_TX) << mss;
      const size_t outer = v6 ? 40 : 20;
      ASSERT_EQ(r.out.size(), in.size() + outer);
      EXPECT_EQ(Bytes(r.out.begin() + ETH_HLEN + static_cast<long>(outer), r.out.end()),
                Bytes(in.begin() + ETH_HLEN, in.end()))
          << (v6 ? "IPv6" : "IPv4") << " MSS " << mss << " must not change";
    }
}

// A frame another host wrapped for this one is the client's packet again
// once unwrapped, and is steered as if it had come straight here: the same
// verdict and the same frame out as the bare client frame gets.
TEST_F(Forward, AFrameWrappedForThisHostIsDeliveredAsIfItHadArrivedHere) {
  uint16_t port = 40000;
  for (const uint32_t workspace : {kHost, kBlue}) {
    route(workspace);
    for (const bool v6 : {false, true}) {
      const std::string what =
          std::string(workspace == kHost ? "host" : "blue") + (v6 ? " IPv6" : " IPv4");
      Client syn;
      syn.v6 = v6;
      syn.sport = port++;
      const Bytes bare = syn.frame();
      const Outcome direct = send(bare);
      ASSERT_EQ(direct.verdict, workspace == kHost ? XDP_PASS : XDP_REDIRECT) << what;

      const uint64_t unwrapped = counters().unwrapped;
      Client other = syn; // another connection: its own SYN, not a retransmit
      other.sport = port++;
      const Outcome via_tunnel = send(tunnelled(other.frame(), v6 ? kSelf6 : kSelf4));
      EXPECT_EQ(via_tunnel.verdict, direct.verdict) << what;
      const Outcome direct_other = send(other.frame());
      EXPECT_EQ(difference(via_tunnel.out, direct_other.out), "")
          << what << ": the outer header gone, the Ethernet header kept";
      EXPECT_EQ(counters().unwrapped, unwrapped + 1) << what;
      ASSERT_TRUE(flow_of(other)) << what;
      EXPECT_EQ(flow_of(other)->node, ZD_NODE_SELF) << what;
      EXPECT_EQ(flow_of(other)->workspace, workspace) << what;

      // The flow's next packet, tunnelled too, follows its entry here.
      const Client ack = other.next();
      const Outcome next = send(tunnelled(ack.frame(), v6 ? kSelf6 : kSelf4));
      EXPECT_EQ(next.verdict, direct.verdict) << what;
      EXPECT_EQ(difference(next.out, send(ack.frame()).out), "") << what;
    }
  }
  EXPECT_EQ(counters().forwarded, 0u);
}

// Only a frame addressed to this host's own fabric address is unwrapped: an
// IPIP frame for another address, or one arriving while this host has no
// fabric address of that family, is not zd's and passes untouched.
TEST_F(Forward, AWrappedFrameForAnotherAddressPassesUntouched) {
  route(kHost);
  for (const bool v6 : {false, true}) {
    Client syn;
    syn.v6 = v6;
    const Bytes in = tunnelled(syn.frame(), v6 ? "fd00:fab::77" : "192.0.2.77");
    const Outcome r = send(in);
    EXPECT_EQ(r.verdict, XDP_PASS);
    EXPECT_EQ(difference(r.out, in), "") << (v6 ? "IPv6" : "IPv4");
  }
  zd_node self{};
  inet_pton(AF_INET, kSelf4, &self.v4.src);
  inet_pton(AF_INET6, kSelf6, self.v6.src);
  self.fabric = 0; // the addresses are there, but not the fabric's
  put_node(ZD_NODE_SELF, self);
  for (const bool v6 : {false, true}) {
    Client syn;
    syn.v6 = v6;
    const Bytes in = tunnelled(syn.frame(), v6 ? kSelf6 : kSelf4);
    const Outcome r = send(in);
    EXPECT_EQ(r.verdict, XDP_PASS);
    EXPECT_EQ(difference(r.out, in), "") << (v6 ? "IPv6" : "IPv4") << " with no fabric";
  }
  EXPECT_EQ(counters().unwrapped, 0u);
  EXPECT_EQ(counters().steered, 0u);
}

// A forwarded packet is delivered where it arrives or nowhere: forwarding it
// again could loop between hosts whose tables disagree for a moment.
TEST_F(Forward, ATunnelledSynIsNeverForwardedAgain) {
  // Away is alive only on node A: the unwrapped SYN is passed to the stack
  // (whose sk_lookup refuses it) and counted as a drop, no entry made.
  route(kAway);
  spread(kAway, {kNodeA});
  for (const bool v6 : {false, true}) {
    Client syn;
    syn.v6 = v6;
    const Outcome r = send(tunnelled(syn.frame(), v6 ? kSelf6 : kSelf4));
    EXPECT_EQ(r.verdict, XDP_PASS) << (v6 ? "IPv6" : "IPv4");
    EXPECT_EQ(difference(r.out, syn.frame()), "") << (v6 ? "IPv6" : "IPv4") << ": unwrapped";
    EXPECT_FALSE(flow_of(syn)) << (v6 ? "IPv6" : "IPv4");
  }
  EXPECT_EQ(counters().drops, 2u);
  EXPECT_EQ(counters().unwrapped, 2u);

  // Host is alive here, but its table sends every new flow to node A: a SYN
  // straight from a client goes there, a tunnelled one stays.
  route(kHost);
  spread(kHost, {kNodeA});
  Client direct;
  direct.sport = 41000;
  EXPECT_EQ(send(direct.frame()).verdict, XDP_TX);
  for (const bool v6 : {false, true}) {
    Client syn;
    syn.v6 = v6;
    syn.sport = 41001;
    const Outcome r = send(tunnelled(syn.frame(), v6 ? kSelf6 : kSelf4));
    EXPECT_EQ(r.verdict, XDP_PASS);
    EXPECT_EQ(difference(r.out, syn.frame()), "");
    ASSERT_TRUE(flow_of(syn));
    EXPECT_EQ(flow_of(syn)->node, ZD_NODE_SELF);
  }
  EXPECT_EQ(counters().forwarded, 1u) << "the client's own SYN only";
  EXPECT_EQ(node_counters(kNodeA).packets, 1u);
}

// A slot naming this host delivers here as before zd forwarded anything.
TEST_F(Forward, ASlotNamingThisHostDeliversHere) {
  route(kHost);
  spread(kHost, {ZD_NODE_SELF});
  const Client syn{};
  const Bytes in = syn.frame();
  const Outcome r = send(in);
  EXPECT_EQ(r.verdict, XDP_PASS);
  EXPECT_EQ(r.out, in);
  ASSERT_TRUE(flow_of(syn));
  EXPECT_EQ(flow_of(syn)->node, ZD_NODE_SELF);
  EXPECT_EQ(counters().to_host, 1u);
  EXPECT_EQ(counters().forwarded, 0u);
}

// With no neighbour entry for the node yet, the program cannot address the
// frame to the next hop: it wraps it and passes it to the stack, which is to
// resolve the next hop and route it there. The frame must stay addressed to
// this host as the client's frame was: the stack drops a frame for another
// MAC as PACKET_OTHERHOST (bpf_fib_lookup fills no MAC on NO_NEIGH, and
// copying its zeroes lost every such SYN before bpf/xdp.bpf.c kept the
// frame's own). It counts as sent, and the flow's entry is made.
TEST_F(Forward, ANodeWithoutANeighbourEntryGetsTheWrappedFramePassedToTheStack) {
  route(kAway);
  spread(kAway, {kNoNeigh});
  const Peer &peer = kPeers.at(kNoNeigh);
  for (const bool v6 : {false, true}) {
    Client syn;
    syn.v6 = v6;
    const Bytes in = syn.frame();
    const Outcome r = send(in);
    EXPECT_EQ(r.verdict, XDP_PASS) << (v6 ? "IPv6" : "IPv4");
    EXPECT_EQ(Bytes(r.out.begin(), r.out.begin() + std::min<long>(6, r.out.size())),
              Bytes(kFabMac.begin(), kFabMac.end()))
        << (v6 ? "IPv6" : "IPv4") << ": to zdfab's MAC, as the client's frame was";
    const Bytes inner = with_mss(in, v6 ? kMss6 : kMss4);
    EXPECT_EQ(difference(r.out, v6 ? wrap(inner, kSelf6, peer.v6, kFabMac, kRouterMac)
                                   : wrap(inner, kSelf4, peer.v4, kFabMac, kRouterMac)),
              "")
        << (v6 ? "IPv6" : "IPv4");
    ASSERT_TRUE(flow_of(syn));
    EXPECT_EQ(flow_of(syn)->node, kNoNeigh);
  }
  EXPECT_EQ(counters().forwarded, 2u);
  EXPECT_EQ(node_counters(kNoNeigh).flows, 2u);
}

// What cannot reach its node is dropped (this host has no instance to give
// it to; the client retransmits), counted per node and in total, and no
// entry is made, so that the retransmitted SYN is routed afresh.
TEST_F(Forward, WhatCannotReachItsNodeIsDroppedAndCounted) {
  route(kAway);
  // A node without a route, one missing from zd_nodes, and one with no
  // fabric address of the flow's family.
  zd_node v4_only = node_to(kPeers.at(kNodeB));
  v4_only.fabric = ZD_FABRIC_V4;
  constexpr uint32_t kV4Only = 7;
  put_node(kV4Only, v4_only);
  struct Case {
    uint32_t node;
    bool v6;
  };
  uint16_t port = 40000;
  uint64_t errors = 0;
  for (const Case &k : {Case{kNoRoute, false}, Case{kNoRoute, true}, Case{kMissing, false},
                        Case{kMissing, true}, Case{kV4Only, true}}) {
    spread(kAway, {static_cast<uint16_t>(k.node)});
    Client syn;
    syn.v6 = k.v6;
    syn.sport = port++;
    const Outcome r = send(syn.frame());
    const std::string what = "node " + std::to_string(k.node) + (k.v6 ? " IPv6" : " IPv4");
    EXPECT_EQ(r.verdict, XDP_DROP) << what;
    EXPECT_FALSE(flow_of(syn)) << what;
    EXPECT_EQ(counters().forward_errors, ++errors) << what;
  }
  EXPECT_EQ(node_counters(kNoRoute).errors, 2u);
  EXPECT_EQ(node_counters(kMissing).errors, 2u);
  EXPECT_EQ(node_counters(kV4Only).errors, 1u);
  EXPECT_EQ(node_counters(kNoRoute).packets, 0u);
  EXPECT_EQ(counters().forwarded, 0u);
  EXPECT_EQ(counters().flows_added, 0u);
}

// The largest payload of the client's packet that fits the fabric once
// wrapped: the fabric's MTU less the outer header, the packet's own IP
// header and its TCP header (24 bytes on a SYN: its MSS option).
size_t fitting_payload(const Client &c) {
  const size_t outer = c.v6 ? 40 : 20, ip = c.v6 ? 40 : 20, tcp = c.flags & kSyn ? 24 : 20;
  return kFabricMtu - outer - ip - tcp;
}

// A packet of exactly the fabric's MTU once wrapped is sent like any other:
// a SYN carrying data (TCP Fast Open's), its MSS lowered, and a later packet
// of its flow.
TEST_F(Forward, APacketThatFitsTheFabricExactlyOnceWrappedIsSent) {
  route(kAway);
  spread(kAway, {kNodeA});
  for (const bool v6 : {false, true}) {
    const std::string family = v6 ? "IPv6" : "IPv4";
    Client syn;
    syn.v6 = v6;
    syn.payload.assign(fitting_payload(syn), 's');
    const Outcome r = send(syn.frame());
    EXPECT_EQ(r.verdict, XDP_TX) << family << " SYN";
    EXPECT_EQ(r.out.size(), ETH_HLEN + kFabricMtu) << family << " SYN";
    EXPECT_EQ(difference(r.out, sent_to(kNodeA, syn)), "") << family << " SYN";
    ASSERT_TRUE(flow_of(syn)) << family;
    EXPECT_EQ(flow_of(syn)->node, kNodeA) << family;

    Client ack = syn.next();
    ack.payload.assign(fitting_payload(ack), 'x');
    const Outcome a = send(ack.frame());
    EXPECT_EQ(a.verdict, XDP_TX) << family << " ACK";
    EXPECT_EQ(a.out.size(), ETH_HLEN + kFabricMtu) << family << " ACK";
    EXPECT_EQ(difference(a.out, sent_to(kNodeA, ack)), "") << family << " ACK";
  }
  const zd_xdp_counters c = counters();
  EXPECT_EQ(c.forwarded, 4u);
  EXPECT_EQ(c.too_big, 0u);
  EXPECT_EQ(c.forward_errors, 0u);
  EXPECT_EQ(node_counters(kNodeA).packets, 4u);
  EXPECT_EQ(node_counters(kNodeA).errors, 0u);
}

// A later packet of a forwarded flow too big for the fabric once wrapped
// (bpf_fib_lookup: FRAG_NEEDED against zdfab's MTU; the outer header's DF
// forbids fragments, and IPv6 has none on the way) is answered as a router
// would (too_big_answer), so that the client sends it again smaller: one
// byte too big, and a segment with 1480 bytes of data. Neither sent nor an
// error: counted as too_big only, and the flow's entry stays as it was.
TEST_F(Forward, ALaterPacketTooBigForTheFabricIsAnsweredWithTheSizeThatFits) {
  route(kAway);
  spread(kAway, {kNodeA});
  uint64_t too_big = 0;
  for (const bool v6 : {false, true}) {
    const std::string family = v6 ? "IPv6" : "IPv4";
    Client syn;
    syn.v6 = v6;
    ASSERT_EQ(send(syn.frame()).verdict, XDP_TX) << family;
    const std::optional<zd_flow> before = flow_of(syn);
    ASSERT_TRUE(before) << family;

    for (const size_t payload : {fitting_payload(syn.next()) + 1, size_t{1480}}) {
      const std::string what = family + " ACK with " + std::to_string(payload) + " bytes of data";
      Client ack = syn.next();
      ack.payload.assign(payload, 'x');
      const zd_xdp_counters c0 = counters();
      const zd_node_counters a0 = node_counters(kNodeA);
      const Bytes in = ack.frame();
      expect_answered(send(in), in, what);

      const zd_xdp_counters c = counters();
      EXPECT_EQ(c.too_big, ++too_big) << what;
      EXPECT_EQ(c.forward_errors, 0u) << what;
      EXPECT_EQ(c.forwarded, c0.forwarded) << what << ": not sent";
      EXPECT_EQ(c.followed, c0.followed + 1) << what << ": it followed its flow's entry";
      const zd_node_counters a = node_counters(kNodeA);
      EXPECT_EQ(a.errors, 0u) << what;
      EXPECT_EQ(a.packets, a0.packets) << what;
      EXPECT_EQ(a.bytes, a0.bytes) << what;
      EXPECT_EQ(a.flows, a0.flows) << what;
      const std::optional<zd_flow> after = flow_of(syn);
      ASSERT_TRUE(after) << what;
      EXPECT_EQ(after->workspace, before->workspace) << what;
      EXPECT_EQ(after->node, before->node) << what;
    }

    // Told, the client sends it again smaller: on to node A, along its flow.
    Client smaller = syn.next();
    smaller.payload.assign(fitting_payload(smaller), 'x');
    const Outcome r = send(smaller.frame());
    EXPECT_EQ(r.verdict, XDP_TX) << family;
    EXPECT_EQ(difference(r.out, sent_to(kNodeA, smaller)), "") << family;
  }
  const zd_xdp_counters c = counters();
  EXPECT_EQ(c.flows_added, 2u);
  EXPECT_EQ(c.forwarded, 4u) << "two SYNs, two that fit";
  EXPECT_EQ(c.too_big, 4u);
  EXPECT_EQ(node_counters(kNodeA).packets, 4u);
}

// A SYN carrying data one byte too big for the fabric once wrapped (its MSS
// lowered first changes nothing the answer quotes) is answered the same
// way, and makes no entry: the client's smaller SYN that follows is routed
// afresh, sent, and makes it.
TEST_F(Forward, ASynTooBigForTheFabricIsAnsweredAndMakesNoFlow) {
  route(kAway);
  spread(kAway, {kNodeA});
  uint64_t too_big = 0, sent = 0;
  for (const bool v6 : {false, true}) {
    const std::string what = v6 ? "IPv6 SYN" : "IPv4 SYN";
    Client syn;
    syn.v6 = v6;
    syn.payload.assign(fitting_payload(syn) + 1, 's');
    const Bytes in = syn.frame();
    expect_answered(send(in), in, what);

    EXPECT_FALSE(flow_of(syn)) << what;
    zd_xdp_counters c = counters();
    EXPECT_EQ(c.too_big, ++too_big) << what;
    EXPECT_EQ(c.flows_added, sent) << what << ": no entry";
    EXPECT_EQ(c.forwarded, sent) << what;
    EXPECT_EQ(c.forward_errors, 0u) << what;
    zd_node_counters a = node_counters(kNodeA);
    EXPECT_EQ(a.errors, 0u) << what;
    EXPECT_EQ(a.flows, sent) << what;
    EXPECT_EQ(a.packets, sent) << what;

    syn.payload.assign(fitting_payload(syn), 's');
    const Outcome r = send(syn.frame());
    EXPECT_EQ(r.verdict, XDP_TX) << what << " that fits";
    EXPECT_EQ(difference(r.out, sent_to(kNodeA, syn)), "") << what << " that fits";
    ASSERT_TRUE(flow_of(syn)) << what << " that fits";
    EXPECT_EQ(flow_of(syn)->node, kNodeA) << what;
    ++sent;
    c = counters();
    EXPECT_EQ(c.flows_added, sent) << what;
    EXPECT_EQ(c.too_big, too_big) << what;
    a = node_counters(kNodeA);
    EXPECT_EQ(a.flows, sent) << what;
    EXPECT_EQ(a.errors, 0u) << what;
  }
}

// A too-big frame cut at every length (and whole): what the program makes
// of it is a drop, a pass, or the whole frame's answer (which quotes only
// the packet's start, there in every cut that gets as far as the answer),
// never a frame sent on to a node or redirected. The frames are 64 bytes
// too big, so that cuts still too big are answered and cuts that would fit
// are not sent for being cut. No entry is made for a cut SYN, and the
// established flow's entry stays.
TEST_F(Forward, ATooBigFrameCutAtEveryLengthIsDroppedPassedOrAnsweredWhole) {
  route(kAway);
  spread(kAway, {kNodeA});
  for (const bool v6 : {false, true}) {
    Client syn;
    syn.v6 = v6;
    ASSERT_EQ(send(syn.frame()).verdict, XDP_TX) << (v6 ? "IPv6" : "IPv4");
  }
  ASSERT_EQ(remote_flows(), 2u);
  const uint64_t forwarded = counters().forwarded;

  for (const bool v6 : {false, true}) {
    const std::string family = v6 ? "IPv6 " : "IPv4 ";
    Client established;
    established.v6 = v6;
    Client ack = established.next();
    ack.payload.assign(fitting_payload(ack) + 64, 'x');
    Client syn;
    syn.v6 = v6;
    syn.sport = 40001;
    syn.payload.assign(fitting_payload(syn) + 64, 's');
    const std::vector<std::pair<Bytes, std::string>> frames = {{ack.frame(), family + "ACK"},
                                                               {syn.frame(), family + "SYN"}};
    for (const auto &[whole, what] : frames) {
      size_t answered = 0;
      for (size_t len = 0; len <= whole.size(); ++len) {
        const std::string at =
            what + " cut at " + std::to_string(len) + " of " + std::to_string(whole.size());
        const Outcome r = run(Bytes(whole.begin(), whole.begin() + static_cast<long>(len)));
        if (r.err) {
          // BPF_PROG_TEST_RUN itself refuses what is shorter than Ethernet.
          EXPECT_LT(len, size_t{ETH_HLEN}) << at << ": " << strerror(r.err);
          continue;
        }
        const bool failing = HasFailure();
        if (r.verdict == XDP_TX) {
          ++answered;
          expect_answered(r, whole, at);
        } else {
          EXPECT_TRUE(r.verdict == XDP_DROP || r.verdict == XDP_PASS)
              << at << ": verdict " << r.verdict << ", " << r.out.size() << " bytes out";
        }
        if (!failing && HasFailure())
          break; // one length reported is enough
      }
      EXPECT_GT(answered, 0u) << what << ": not even whole";
    }
    EXPECT_FALSE(flow_of(syn)) << family;
    ASSERT_TRUE(flow_of(established)) << family;
    EXPECT_EQ(flow_of(established)->node, kNodeA) << family;
    EXPECT_EQ(flow_of(established)->workspace, kAway) << family;
  }
  EXPECT_EQ(remote_flows(), 2u);
  EXPECT_EQ(counters().forwarded, forwarded) << "nothing cut was sent on";
}

// Cut at every length: the forwarded SYNs (whose whole frames are sent on)
// and every kind of tunnelled frame, for a container workspace (whose whole
// tunnelled frames are redirected). The verifier proves no read is out of
// bounds; this proves no partial packet is ever sent anywhere, or leaves an
// entry sending its flow to another host.
TEST_F(Forward, FramesCutShortAreNeverSentOn) {
  const auto cut_everywhere = [&](const Bytes &whole, const std::string &what) {
    for (size_t len = 0; len < whole.size(); ++len) {
      const Outcome r = run(Bytes(whole.begin(), whole.begin() + static_cast<long>(len)));
      if (r.err) {
        // BPF_PROG_TEST_RUN itself refuses what is shorter than Ethernet.
        EXPECT_LT(len, size_t{ETH_HLEN}) << what << " cut at " << len << ": " << strerror(r.err);
        continue;
      }
      EXPECT_NE(r.verdict, XDP_TX) << what << " cut at " << len << " of " << whole.size();
      EXPECT_NE(r.verdict, XDP_REDIRECT) << what << " cut at " << len << " of " << whole.size();
    }
    EXPECT_EQ(remote_flows(), 0u) << what;
  };

  // Away lives on node A only: a whole SYN is wrapped and sent there.
  route(kAway);
  spread(kAway, {kNodeA});
  for (const bool v6 : {false, true}) {
    Client syn;
    syn.v6 = v6;
    cut_everywhere(syn.frame(), v6 ? "forwarded IPv6 SYN" : "forwarded IPv4 SYN");
  }
  EXPECT_EQ(counters().forwarded, 0u);

  // Blue is a container here: a whole tunnelled SYN, and the next packet of
  // its flow, are redirected to its veth.
  route(kBlue);
  for (const bool v6 : {false, true}) {
    Client syn;
    syn.v6 = v6;
    const std::string family = v6 ? " IPv6" : " IPv4";
    const Bytes tunnelled_syn = tunnelled(syn.frame(), v6 ? kSelf6 : kSelf4);
    const Bytes tunnelled_ack = tunnelled(syn.next().frame(), v6 ? kSelf6 : kSelf4);
    cut_everywhere(tunnelled_syn, "tunnelled SYN" + family);
    ASSERT_EQ(send(tunnelled_syn).verdict, XDP_REDIRECT) << "the whole tunnelled SYN" << family;
    cut_everywhere(tunnelled_ack, "tunnelled ACK" + family);
    ASSERT_EQ(send(tunnelled_ack).verdict, XDP_REDIRECT) << "the whole tunnelled ACK" << family;
  }
  EXPECT_EQ(counters().forwarded, 0u);

  // And the whole forwarded SYNs are sent: the cuts were refused for being cut.
  route(kAway);
  for (const bool v6 : {false, true}) {
    Client syn;
    syn.v6 = v6;
    syn.sport = 40001;
    EXPECT_EQ(send(syn.frame()).verdict, XDP_TX) << (v6 ? "IPv6" : "IPv4");
  }
}

// A table alternating between two nodes spreads new flows over both, and
// each flow's entry names the node its SYN went to.
TEST_F(Forward, ATablesNodesShareTheNewFlows) {
  route(kAway);
  spread(kAway, {kNodeA, kNodeB});
  const Bytes a = address("192.0.2.2"), b = address("192.0.2.3");
  constexpr int kFlows = 200;
  int to_a = 0, to_b = 0;
  for (int i = 0; i < kFlows; ++i) {
    Client syn;
    syn.sport = static_cast<uint16_t>(41000 + i);
    const Outcome r = send(syn.frame());
    ASSERT_EQ(r.verdict, XDP_TX) << syn.sport;
    const Bytes to(r.out.begin() + ETH_HLEN + 16, r.out.begin() + ETH_HLEN + 20);
    const uint32_t node = to == a ? kNodeA : to == b ? kNodeB : 0;
    ASSERT_NE(node, 0u) << "sent to neither node, port " << syn.sport;
    (node == kNodeA ? to_a : to_b)++;
    EXPECT_EQ(difference(r.out, sent_to(node, syn)), "") << syn.sport;
    ASSERT_TRUE(flow_of(syn));
    EXPECT_EQ(flow_of(syn)->node, node) << syn.sport;
  }
  EXPECT_GT(to_a, 0);
  EXPECT_GT(to_b, 0);
  // Half each in expectation: far from it would mean the hash ignores the port.
  EXPECT_GT(to_a, kFlows / 4);
  EXPECT_GT(to_b, kFlows / 4);
  EXPECT_EQ(node_counters(kNodeA).flows + node_counters(kNodeB).flows, uint64_t{kFlows});
}

} // namespace

namespace {

// --prefer-local: a domain that sets it keeps every new flow of a workspace
// with instances elsewhere on this host's, while that one has a live socket;
// once it has none, the table spreads them again. Without it, the table
// decides from the first flow.
TEST_F(Forward, ADomainPreferringLocalKeepsNewFlowsHereWhileItsInstanceLives) {
  route(kHost);
  spread(kHost, {ZD_NODE_SELF, kNodeA, kNodeB});
  constexpr int kFlows = 60;
  // Flows sent elsewhere, of kFlows new ones from ports starting at `first`.
  auto forwarded = [this](uint16_t first) {
    int away = 0;
    for (int i = 0; i < kFlows; ++i) {
      Client syn;
      syn.sport = static_cast<uint16_t>(first + i);
      const Outcome r = send(syn.frame());
      const std::optional<zd_flow> flow = flow_of(syn);
      EXPECT_TRUE(flow) << syn.sport;
      if (flow && flow->node != ZD_NODE_SELF) {
        EXPECT_EQ(r.verdict, XDP_TX) << syn.sport;
        ++away;
      }
    }
    return away;
  };
  EXPECT_GT(forwarded(42000), kFlows / 4) << "the table spreads them";

  const uint32_t shop = kShop;
  const zd_domain_options prefer{ZD_PREFER_LOCAL};
  ASSERT_EQ(bpf_map_update_elem(fd(skel_->maps.zd_domain_options), &shop, &prefer, BPF_ANY), 0);
  EXPECT_EQ(forwarded(43000), 0) << "a live local instance takes every new flow";

  listeners_.clear(); // kHost's sockets close: the kernel drops them from the sockhash
  EXPECT_GT(forwarded(44000), kFlows / 4) << "with none alive here, the table spreads them";
}

} // namespace
