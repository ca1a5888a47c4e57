// parse_endpoint for domain bindings (--listen tcp://ADDR[/PREFIX]:PORT), and
// what the planes do with one: the BPF key and the covers() test.
#include "fuzz.hpp"
#include "keys.hpp"
#include "parse.hpp"

using zd::AllowPrefix;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const auto text = zd_fuzz::text_of(data, size);
  const auto binding =
      zd_fuzz::accepted([&] { return zd::parse_endpoint(text, AllowPrefix::yes); });
  if (!binding)
    return 0;
  const unsigned bits = binding->address_bits();
  ZD_EXPECT(binding->prefix_len <= bits);
  ZD_EXPECT(zd::parse_endpoint(zd::format_endpoint(*binding), AllowPrefix::yes) == *binding);
  // The parser refuses host bits, so the key (which clears them) loses nothing.
  ZD_EXPECT(zd::binding_of(zd::binding_key(*binding)) == *binding);

  // It covers its own first address and its last, and nothing that differs
  // within the prefix.
  zd::Endpoint address = *binding;
  address.prefix_len = static_cast<uint8_t>(bits);
  ZD_EXPECT(binding->covers(address));
  for (unsigned bit = binding->prefix_len; bit < bits; ++bit)
    address.addr[bit / 8] |= static_cast<uint8_t>(0x80u >> (bit % 8));
  ZD_EXPECT(binding->covers(address));
  if (binding->prefix_len > 0) {
    const unsigned bit = binding->prefix_len - 1u;
    address.addr[bit / 8] ^= static_cast<uint8_t>(0x80u >> (bit % 8));
    ZD_EXPECT(!binding->covers(address));
  }
  return 0;
}
