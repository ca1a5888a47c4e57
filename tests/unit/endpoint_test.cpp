// parse_endpoint / format_endpoint: every --listen and --socket value goes
// through here, so hostile input must be refused with a clear one-line error.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <string>

#include "expect_error.hpp"
#include "parse.hpp"

using zd::AllowPrefix;
using zd::Endpoint;
using zd::parse_endpoint;

namespace {

Endpoint yes(const std::string &text) {
  return parse_endpoint(text, AllowPrefix::yes);
}

TEST(ParseEndpoint, Ipv4Exact) {
  Endpoint ep = yes("tcp://10.99.0.1:80");
  EXPECT_EQ(ep.protocol, IPPROTO_TCP);
  EXPECT_EQ(ep.family, AF_INET);
  EXPECT_EQ(ep.port, 80);
  EXPECT_EQ(ep.prefix_len, 32);
  EXPECT_TRUE(ep.is_exact());
  std::array<uint8_t, 16> addr{10, 99, 0, 1};
  EXPECT_EQ(ep.addr, addr);
}

TEST(ParseEndpoint, UdpParses) {
  Endpoint ep = parse_endpoint("udp://127.0.0.1:53", AllowPrefix::no);
  EXPECT_EQ(ep.protocol, IPPROTO_UDP);
  EXPECT_EQ(ep.port, 53);
}

TEST(ParseEndpoint, Ipv6Bracketed) {
  Endpoint ep = parse_endpoint("tcp://[fd00:99::1]:443", AllowPrefix::no);
  EXPECT_EQ(ep.family, AF_INET6);
  EXPECT_EQ(ep.port, 443);
  EXPECT_EQ(ep.prefix_len, 128);
  EXPECT_TRUE(ep.is_exact());
  std::array<uint8_t, 16> addr{0xfd, 0x00, 0x00, 0x99};
  addr[15] = 1;
  EXPECT_EQ(ep.addr, addr);
}

TEST(ParseEndpoint, PortBounds) {
  EXPECT_EQ(yes("tcp://127.0.0.1:1").port, 1);
  EXPECT_EQ(yes("tcp://[::1]:65535").port, 65535);
}

TEST(ParseEndpoint, Ipv4Prefix) {
  Endpoint ep = yes("tcp://10.99.1.0/24:80");
  EXPECT_EQ(ep.family, AF_INET);
  EXPECT_EQ(ep.prefix_len, 24);
  EXPECT_FALSE(ep.is_exact());
  EXPECT_EQ(ep.port, 80);
  std::array<uint8_t, 16> addr{10, 99, 1, 0};
  EXPECT_EQ(ep.addr, addr);
}

TEST(ParseEndpoint, Ipv6Prefix) {
  Endpoint ep = yes("tcp://[fd00::/64]:80");
  EXPECT_EQ(ep.family, AF_INET6);
  EXPECT_EQ(ep.prefix_len, 64);
  EXPECT_FALSE(ep.is_exact());
}

TEST(ParseEndpoint, PrefixEdges) {
  EXPECT_EQ(yes("tcp://0.0.0.0/0:80").prefix_len, 0);
  EXPECT_EQ(yes("tcp://[::/0]:80").prefix_len, 0);
  // A full-length prefix is just the exact address.
  EXPECT_TRUE(yes("tcp://10.99.0.1/32:80").is_exact());
  EXPECT_TRUE(yes("tcp://[fd00::1/128]:80").is_exact());
}

TEST(ParseEndpoint, RefusesPrefixWhereSocketAddressExpected) {
  EXPECT_ZD_ERROR(parse_endpoint("tcp://10.99.1.0/24:80", AllowPrefix::no), "/prefix");
  EXPECT_ZD_ERROR(parse_endpoint("tcp://[fd00::/64]:80", AllowPrefix::no), "/prefix");
  EXPECT_ZD_ERROR(parse_endpoint("tcp://10.99.0.1/32:80", AllowPrefix::no), "/prefix");
}

TEST(ParseEndpoint, RefusesBadSchemes) {
  EXPECT_ZD_ERROR(yes(""), "PROTO://");
  EXPECT_ZD_ERROR(yes("10.0.0.1:80"), "'10.0.0.1:80'");
  EXPECT_ZD_ERROR(yes("tcp:/x"), "'tcp:/x'");
  EXPECT_ZD_ERROR(yes("tcp:10.0.0.1:80"), "PROTO://");
  EXPECT_ZD_ERROR(yes("TCP://10.0.0.1:80"), "'TCP://10.0.0.1:80'");
  EXPECT_ZD_ERROR(yes("TCP://"), "protocol must be");
  EXPECT_ZD_ERROR(yes("http://10.0.0.1:80"), "protocol must be");
  EXPECT_ZD_ERROR(yes("sctp://10.0.0.1:80"), "protocol must be");
  EXPECT_ZD_ERROR(yes("://10.0.0.1:80"), "protocol must be");
  EXPECT_ZD_ERROR(yes("tcp://"), "missing :PORT");
}

TEST(ParseEndpoint, RefusesMissingPort) {
  EXPECT_ZD_ERROR(yes("tcp://10.0.0.1"), "missing :PORT");
  EXPECT_ZD_ERROR(yes("tcp://10.0.0.1:"), "port must be");
  EXPECT_ZD_ERROR(yes("tcp://[fd00::1]"), "missing :PORT after ']'");
  EXPECT_ZD_ERROR(yes("tcp://[fd00::1]:"), "port must be");
  EXPECT_ZD_ERROR(yes("tcp://[fd00::1]80"), "missing :PORT after ']'");
  EXPECT_ZD_ERROR(yes("tcp://10.99.1.0/24"), "missing :PORT");
}

TEST(ParseEndpoint, RefusesBadPorts) {
  for (const char *port :
       {"0", "65536", "+80", " 80", "80 ", "80x", "-1", "0x50", "8 0", "1e3", "99999999999",
        "99999999999999999999999999", "\xef\xbc\x98\xef\xbc\x90"}) {
    SCOPED_TRACE(port);
    EXPECT_ZD_ERROR(yes(std::string("tcp://10.0.0.1:") + port), "port must be");
    EXPECT_ZD_ERROR(yes(std::string("tcp://[::1]:") + port), "port must be");
  }
}

TEST(ParseEndpoint, RefusesUnbracketedIpv6) {
  EXPECT_ZD_ERROR(yes("tcp://fd00::1:80"), "brackets");
  EXPECT_ZD_ERROR(yes("tcp://::1:80"), "brackets");
  EXPECT_ZD_ERROR(yes("tcp://fd00::/64:80"), "brackets");
}

TEST(ParseEndpoint, RefusesBracketsAroundIpv4) {
  EXPECT_ZD_ERROR(yes("tcp://[10.0.0.1]:80"), "IPv6 addresses only");
  EXPECT_ZD_ERROR(yes("tcp://[10.99.1.0/24]:80"), "IPv6 addresses only");
}

TEST(ParseEndpoint, RefusesBrokenBrackets) {
  EXPECT_ZD_ERROR(yes("tcp://[fd00::1:80"), "missing ']'");
  EXPECT_ZD_ERROR(yes("tcp://[]:80"), "not an IPv4 or IPv6 address");
  EXPECT_ZD_ERROR(yes("tcp://[[::1]]:80"), "'tcp://[[::1]]:80'");
  EXPECT_ZD_ERROR(yes("tcp://fd00::1]:80"), "brackets");
}

TEST(ParseEndpoint, RefusesBadAddresses) {
  for (const char *address :
       {"localhost", "1.2.3", "1.2.3.4.5", "256.0.0.1", "10.0.0.1 ", " 10.0.0.1", "010.0.0.1",
        "\xef\xbc\x91\xef\xbc\x90.0.0.1" /* fullwidth digits */}) {
    SCOPED_TRACE(address);
    EXPECT_ZD_ERROR(yes(std::string("tcp://") + address + ":80"), "not an IPv4 or IPv6 address");
  }
  // Zone ids would name an interface of the host; refused.
  EXPECT_ZD_ERROR(yes("tcp://[fe80::1%lo]:80"), "not an IPv4 or IPv6 address");
  EXPECT_ZD_ERROR(yes("tcp://10.0.0.1:80:80"), "brackets");
}

TEST(ParseEndpoint, RefusesHostBitsBeyondPrefix) {
  EXPECT_ZD_ERROR(yes("tcp://10.99.1.1/24:80"), "beyond /24");
  EXPECT_ZD_ERROR(yes("tcp://10.99.1.0/0:80"), "beyond /0");
  EXPECT_ZD_ERROR(yes("tcp://[fd00::1/64]:80"), "beyond /64");
  EXPECT_ZD_ERROR(yes("tcp://[fd00:0:0:0:8000::/64]:80"), "beyond /64");
}

TEST(ParseEndpoint, RefusesBadPrefixLengths) {
  for (const char *prefix :
       {"33", "64", "", "-1", "+24", " 24", "24 ", "abc", "0x18", "99999999999"}) {
    SCOPED_TRACE(prefix);
    EXPECT_ZD_ERROR(yes(std::string("tcp://10.0.0.0/") + prefix + ":80"), "0..32");
  }
  EXPECT_ZD_ERROR(yes("tcp://[fd00::/129]:80"), "0..128");
  EXPECT_ZD_ERROR(yes("tcp://[fd00::/]:80"), "0..128");
  EXPECT_ZD_ERROR(yes("tcp://10.0.0.0/24/24:80"), "0..32");
}

TEST(ParseEndpoint, RefusesOverlongInput) {
  std::string at_limit = "tcp://10.0.0.1:80";
  at_limit.insert(6, 128 - at_limit.size(), '0'); // leading zeros: still too odd to parse
  EXPECT_EQ(at_limit.size(), 128u);
  EXPECT_ZD_ERROR(yes(at_limit), "not an IPv4 or IPv6 address");

  for (size_t size : {129ul, 10'000ul, 1ul << 20}) {
    std::string text = "tcp://10.0.0.1:80" + std::string(size, 'A');
    std::string message = zd_test::error_of([&] { yes(text); });
    EXPECT_TRUE(zd_test::is_one_line(message));
    EXPECT_NE(message.find("longer than 128"), std::string::npos) << message;
    EXPECT_LT(message.size(), 200u) << "the message must not echo the whole input";
  }
}

TEST(ParseEndpoint, RefusesEmbeddedNul) {
  using namespace std::string_literals;
  EXPECT_ZD_ERROR(yes("tcp://10.0.0.1\0junk:80"s), "not an IPv4 or IPv6 address");
  EXPECT_ZD_ERROR(yes("tcp://[::1\0junk]:80"s), "not an IPv4 or IPv6 address");
  EXPECT_ZD_ERROR(yes("tcp://10.0.0.0/24\0:80"s), "0..32");
  EXPECT_ZD_ERROR(yes("tcp://10.0.0.1:80\0"s), "port must be");
  EXPECT_ZD_ERROR(yes("tcp\0://10.0.0.1:80"s), "protocol must be");
}

TEST(ParseEndpoint, ControlCharactersStayOnOneLine) {
  // Terminal escapes and newlines in input must not reach the user raw.
  EXPECT_ZD_ERROR(yes("tcp://10.0.0.1\n:80"), "not an IPv4 or IPv6 address");
  EXPECT_ZD_ERROR(yes("tcp://10.0.0.1:80\r\n"), "port must be");
  std::string message = zd_test::error_of([] { yes("tcp://\x1b[31m10.0.0.1:80"); });
  EXPECT_EQ(message.find('\x1b'), std::string::npos) << message;
  EXPECT_NE(message.find("\\x1b[31m10.0.0.1"), std::string::npos) << message;
}

TEST(FormatEndpoint, RoundTripsCanonicalForms) {
  for (const char *text : {"tcp://10.99.0.1:80", "udp://127.0.0.1:53", "tcp://[fd00:99::1]:443",
                           "tcp://[::1]:65535", "tcp://10.99.1.0/24:80", "tcp://[fd00::/64]:80",
                           "tcp://0.0.0.0/0:1", "tcp://[::ffff:10.0.0.1]:80"}) {
    SCOPED_TRACE(text);
    Endpoint ep = yes(text);
    EXPECT_EQ(zd::format_endpoint(ep), text);
    EXPECT_EQ(yes(zd::format_endpoint(ep)), ep);
  }
}

TEST(FormatEndpoint, Canonicalises) {
  EXPECT_EQ(zd::format_endpoint(yes("tcp://[FD00:0:0::1]:80")), "tcp://[fd00::1]:80");
  EXPECT_EQ(zd::format_endpoint(yes("tcp://10.99.0.1/32:80")), "tcp://10.99.0.1:80");
  EXPECT_EQ(zd::format_endpoint(yes("tcp://[fd00::0/64]:80")), "tcp://[fd00::/64]:80");
}

TEST(Names, ProtocolAndFamily) {
  EXPECT_EQ(zd::protocol_name(IPPROTO_TCP), "tcp");
  EXPECT_EQ(zd::protocol_name(IPPROTO_UDP), "udp");
  EXPECT_EQ(zd::family_name(AF_INET), "ipv4");
  EXPECT_EQ(zd::family_name(AF_INET6), "ipv6");
}

// A binding covers the connections it takes: same protocol, family and
// port, the address inside its prefix (bits past a byte boundary too).
TEST(Endpoint, Covers) {
  auto p = [](const char *text) { return parse_endpoint(text, AllowPrefix::yes); };
  EXPECT_TRUE(p("tcp://10.99.0.1:80").covers(p("tcp://10.99.0.1:80")));
  EXPECT_FALSE(p("tcp://10.99.0.1:80").covers(p("tcp://10.99.0.2:80")));
  EXPECT_FALSE(p("tcp://10.99.0.1:80").covers(p("tcp://10.99.0.1:81")));
  EXPECT_FALSE(p("tcp://10.99.0.1:80").covers(p("udp://10.99.0.1:80")));
  EXPECT_TRUE(p("tcp://10.99.1.0/24:443").covers(p("tcp://10.99.1.200:443")));
  EXPECT_FALSE(p("tcp://10.99.1.0/24:443").covers(p("tcp://10.99.2.1:443")));
  EXPECT_TRUE(p("tcp://10.99.0.0/20:80").covers(p("tcp://10.99.15.1:80")));
  EXPECT_FALSE(p("tcp://10.99.0.0/20:80").covers(p("tcp://10.99.16.1:80")));
  EXPECT_TRUE(p("tcp://[fd00:99::/64]:80").covers(p("tcp://[fd00:99::7]:80")));
  EXPECT_FALSE(p("tcp://[fd00:99::/64]:80").covers(p("tcp://10.99.0.1:80")));
  EXPECT_TRUE(p("tcp://0.0.0.0/0:80").covers(p("tcp://192.0.2.1:80")));
}

// A binding read back from a damaged record (an all-zero key reads as /224)
// covers nothing and stays within its address.
TEST(Endpoint, CoversNothingPastItsAddressBits) {
  Endpoint binding = parse_endpoint("tcp://[fd00:99::/64]:80", AllowPrefix::yes);
  const Endpoint address = parse_endpoint("tcp://[fd00:99::7]:80", AllowPrefix::yes);
  binding.prefix_len = 224;
  EXPECT_FALSE(binding.covers(address));
  binding.prefix_len = 129;
  EXPECT_FALSE(binding.covers(address));
}

} // namespace
