// Ethernet frames for the XDP tests, built byte by byte: what a NIC would
// hand the program. Checksums are left zero (the program never reads them,
// and frames are only compared with what the program gives back).
#pragma once

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace zdtest {

using Mac = std::array<uint8_t, 6>;

inline constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10;

struct TcpFrame {
  Mac src_mac{0x02, 0, 0, 0, 0, 0x01};
  Mac dst_mac{0x02, 0, 0, 0, 0, 0x02};
  std::string saddr = "192.0.2.10"; // IPv4 or IPv6 literal; daddr of the same family
  std::string daddr = "10.99.0.1";
  uint16_t sport = 40000;
  uint16_t dport = 80;
  uint8_t flags = kSyn;
  uint8_t protocol = IPPROTO_TCP;
  uint16_t vlan = 0;      // non-zero: one 802.1Q tag
  uint8_t ipv4_ihl = 5;   // 32-bit words, options zeroed
  uint16_t ipv4_frag = 0; // host order: flags and offset
  uint8_t tcp_doff = 5;   // 32-bit words
  std::string payload;

  std::vector<uint8_t> bytes() const;
};

inline void put16(std::vector<uint8_t> &out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

inline std::vector<uint8_t> TcpFrame::bytes() const {
  std::vector<uint8_t> out(dst_mac.begin(), dst_mac.end());
  out.insert(out.end(), src_mac.begin(), src_mac.end());
  const bool v6 = saddr.find(':') != std::string::npos;
  if (vlan) {
    put16(out, ETH_P_8021Q);
    put16(out, vlan);
  }
  put16(out, v6 ? ETH_P_IPV6 : ETH_P_IP);

  std::vector<uint8_t> l4;
  if (protocol == IPPROTO_TCP) {
    put16(l4, sport);
    put16(l4, dport);
    l4.insert(l4.end(), {0, 0, 0, 1, 0, 0, 0, static_cast<uint8_t>(flags & kAck ? 1 : 0)});
    l4.push_back(static_cast<uint8_t>(tcp_doff << 4));
    l4.push_back(flags);
    put16(l4, 65535); // window
    put16(l4, 0);     // checksum
    put16(l4, 0);     // urgent
    l4.resize(l4.size() + (tcp_doff > 5 ? (tcp_doff - 5) * 4 : 0));
  } else {
    l4.insert(l4.end(), 8, 0); // UDP or ICMP header, zeroed
  }
  l4.insert(l4.end(), payload.begin(), payload.end());

  if (v6) {
    out.insert(out.end(), {0x60, 0, 0, 0});
    put16(out, static_cast<uint16_t>(l4.size()));
    out.push_back(protocol);
    out.push_back(64);
    uint8_t a[16];
    inet_pton(AF_INET6, saddr.c_str(), a);
    out.insert(out.end(), a, a + 16);
    inet_pton(AF_INET6, daddr.c_str(), a);
    out.insert(out.end(), a, a + 16);
  } else {
    const size_t header = ipv4_ihl * 4u;
    out.push_back(static_cast<uint8_t>(0x40 | (ipv4_ihl & 0x0f)));
    out.push_back(0);
    put16(out, static_cast<uint16_t>(header + l4.size()));
    put16(out, 1); // id
    put16(out, ipv4_frag);
    out.push_back(64);
    out.push_back(protocol);
    put16(out, 0); // checksum
    uint8_t a[4];
    inet_pton(AF_INET, saddr.c_str(), a);
    out.insert(out.end(), a, a + 4);
    inet_pton(AF_INET, daddr.c_str(), a);
    out.insert(out.end(), a, a + 4);
    out.resize(out.size() + (header > 20 ? header - 20 : 0));
  }
  out.insert(out.end(), l4.begin(), l4.end());
  return out;
}

// An ARP request: not IP, so never the program's business.
inline std::vector<uint8_t> arp_frame() {
  std::vector<uint8_t> out(6, 0xff);
  out.insert(out.end(), {0x02, 0, 0, 0, 0, 0x01});
  put16(out, ETH_P_ARP);
  out.insert(out.end(), {0, 1, 8, 0, 6, 4, 0, 1});
  out.resize(out.size() + 20);
  return out;
}

} // namespace zdtest
