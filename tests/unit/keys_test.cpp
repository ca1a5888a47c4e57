// The BPF key encoding (user/plane/keys.hpp): the program builds the same
// bytes from the packet, so any drift here silently stops steering. See
// zd_shared.h. And the record names of the control plane's maps.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "keys.hpp"
#include "parse.hpp"
#include "records.hpp"

using zd::AllowPrefix;
using zd::parse_endpoint;

namespace {

constexpr size_t kNameBytes = sizeof(zd::record::Name);

zd_prefix_key key_of(const char *text) {
  return zd::binding_key(parse_endpoint(text, AllowPrefix::yes));
}

bool all_zero(const uint8_t *bytes, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (bytes[i])
      return false;
  return true;
}

TEST(PrefixKey, LayoutMatchesTheTrie) {
  // The trie matches protocol, family and port (32 bits) before the address.
  EXPECT_EQ(offsetof(zd_prefix_key, binding), 4u);
  EXPECT_EQ(offsetof(zd_binding_key, protocol), 0u);
  EXPECT_EQ(offsetof(zd_binding_key, family), 1u);
  EXPECT_EQ(offsetof(zd_binding_key, port), 2u);
  EXPECT_EQ(offsetof(zd_binding_key, addr), 4u);
  EXPECT_EQ(sizeof(zd_binding_key), 20u);
  EXPECT_EQ(sizeof(zd_prefix_key), 24u);
  EXPECT_EQ(ZD_BINDING_FIXED_BITS, 32);
}

TEST(PrefixKey, Ipv4Exact) {
  zd_prefix_key key = key_of("tcp://10.99.0.1:8080");
  EXPECT_EQ(key.prefixlen, 32u + 32u);
  EXPECT_EQ(key.binding.protocol, IPPROTO_TCP);
  EXPECT_EQ(key.binding.family, AF_INET);
  EXPECT_EQ(key.binding.port, 8080) << "port is host order, like bpf_sk_lookup.local_port";
  const uint8_t want[4] = {10, 99, 0, 1};
  EXPECT_EQ(std::memcmp(key.binding.addr, want, 4), 0) << "IPv4 lives in the first 4 bytes";
  EXPECT_TRUE(all_zero(key.binding.addr + 4, 12));
  EXPECT_TRUE(zd::is_exact_key(key));
}

TEST(PrefixKey, Ipv6Exact) {
  zd_prefix_key key = key_of("tcp://[fd00:99::1]:443");
  EXPECT_EQ(key.prefixlen, 32u + 128u);
  EXPECT_EQ(key.binding.family, AF_INET6);
  EXPECT_EQ(key.binding.port, 443);
  EXPECT_EQ(key.binding.addr[0], 0xfd);
  EXPECT_EQ(key.binding.addr[3], 0x99);
  EXPECT_EQ(key.binding.addr[15], 1);
  EXPECT_TRUE(zd::is_exact_key(key));
}

TEST(PrefixKey, Prefixes) {
  zd_prefix_key v4 = key_of("tcp://10.99.1.0/24:80");
  EXPECT_EQ(v4.prefixlen, 32u + 24u);
  EXPECT_FALSE(zd::is_exact_key(v4));
  zd_prefix_key v6 = key_of("tcp://[fd00::/64]:80");
  EXPECT_EQ(v6.prefixlen, 32u + 64u);
  EXPECT_FALSE(zd::is_exact_key(v6));
  EXPECT_EQ(key_of("tcp://0.0.0.0/0:80").prefixlen, 32u);
  // /32 on IPv4 is exact, but /32 on IPv6 is a prefix.
  EXPECT_TRUE(zd::is_exact_key(key_of("tcp://10.0.0.1/32:80")));
  EXPECT_FALSE(zd::is_exact_key(key_of("tcp://[fd00::/32]:80")));
}

TEST(PrefixKey, PaddingIsZero) {
  // Keys are hashed and compared as raw bytes.
  zd_prefix_key key = key_of("tcp://10.99.0.1:80");
  zd_prefix_key expected{};
  expected.prefixlen = 64;
  expected.binding.protocol = IPPROTO_TCP;
  expected.binding.family = AF_INET;
  expected.binding.port = 80;
  expected.binding.addr[0] = 10;
  expected.binding.addr[1] = 99;
  expected.binding.addr[3] = 1;
  EXPECT_EQ(std::memcmp(&key, &expected, sizeof(key)), 0);
}

TEST(PrefixKey, ZeroesHostBitsOfAHandBuiltEndpoint) {
  zd::Endpoint ep = parse_endpoint("tcp://10.99.1.0/24:80", AllowPrefix::yes);
  ep.addr[3] = 0xff; // host bits parse_endpoint would have refused
  ep.addr[8] = 0xff; // beyond the IPv4 address
  zd_prefix_key key = zd::binding_key(ep);
  EXPECT_EQ(key.binding.addr[2], 1);
  EXPECT_EQ(key.binding.addr[3], 0);
  EXPECT_TRUE(all_zero(key.binding.addr + 4, 12));
}

TEST(PrefixKey, RoundTrips) {
  for (const char *text :
       {"tcp://10.99.0.1:80", "udp://127.0.0.1:53", "tcp://[fd00:99::1]:443",
        "tcp://10.99.1.0/24:80", "tcp://[fd00::/64]:65535", "tcp://0.0.0.0/0:1"}) {
    SCOPED_TRACE(text);
    zd::Endpoint ep = parse_endpoint(text, AllowPrefix::yes);
    EXPECT_EQ(zd::binding_of(zd::binding_key(ep)), ep);
    EXPECT_EQ(zd::format_endpoint(zd::binding_of(zd::binding_key(ep))), text);
  }
}

TEST(NameKey, RoundTrips) {
  zd::record::Name name = zd::record::to_name("shop");
  EXPECT_STREQ(name.name, "shop");
  EXPECT_TRUE(all_zero(reinterpret_cast<uint8_t *>(name.name) + 4, kNameBytes - 4))
      << "names are hash keys: the tail must be zero";
  EXPECT_EQ(zd::record::from_name(name), "shop");

  std::string longest(kNameBytes - 1, 'x');
  EXPECT_EQ(zd::record::from_name(zd::record::to_name(longest)), longest);
}

TEST(NameKey, NeverOverruns) {
  zd::record::Name truncated = zd::record::to_name(std::string(500, 'y'));
  EXPECT_EQ(truncated.name[kNameBytes - 1], '\0');
  EXPECT_EQ(zd::record::from_name(truncated), std::string(kNameBytes - 1, 'y'));

  zd::record::Name unterminated;
  std::memset(unterminated.name, 'z', sizeof(unterminated.name));
  EXPECT_EQ(zd::record::from_name(unterminated), std::string(kNameBytes, 'z'));
}

} // namespace
