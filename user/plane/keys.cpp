#include "keys.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "fabric.hpp"
#include "maglev.hpp"

namespace zd {

// The core sizes ids and the planes size maps: the same numbers.
static_assert(kMaxDomains == ZD_MAX_DOMAINS);
static_assert(kMaxWorkspaces == ZD_MAX_WORKSPACES);
static_assert(kNoId == ZD_NO_ID);
static_assert(kMaxNodes == ZD_MAX_NODES);
static_assert(kMaglevTableSize == ZD_MAGLEV_SIZE);

zd_prefix_key binding_key(const Endpoint &ep) {
  zd_prefix_key key{};
  key.prefixlen = ZD_BINDING_FIXED_BITS + ep.prefix_len;
  key.binding.protocol = ep.protocol;
  key.binding.family = ep.family;
  key.binding.port = ep.port;
  std::memcpy(key.binding.addr, ep.addr.data(), ep.family == AF_INET6 ? 16 : 4);
  for (unsigned bit = ep.prefix_len; bit < ep.address_bits(); ++bit)
    key.binding.addr[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  return key;
}

Endpoint binding_of(const zd_prefix_key &key) {
  Endpoint ep;
  ep.protocol = key.binding.protocol;
  ep.family = key.binding.family;
  ep.port = key.binding.port;
  ep.prefix_len = static_cast<uint8_t>(key.prefixlen - ZD_BINDING_FIXED_BITS);
  std::memcpy(ep.addr.data(), key.binding.addr, 16);
  return ep;
}

bool is_exact_key(const zd_prefix_key &key) {
  unsigned bits = key.binding.family == AF_INET6 ? 128 : 32;
  return key.prefixlen == ZD_BINDING_FIXED_BITS + bits;
}

zd_socket_key socket_key(uint32_t workspace, uint8_t protocol, uint8_t family, uint8_t plane) {
  zd_socket_key key{};
  key.workspace = workspace;
  key.protocol = protocol;
  key.family = family;
  key.plane = plane;
  return key;
}

Counters counters_of(const zd_counters &c) {
  return {c.lookups, c.steered, c.fallbacks, c.drops};
}

} // namespace zd
