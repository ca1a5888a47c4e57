// parse_endpoint for socket addresses (--socket tcp://ADDR:PORT): no prefix.
#include "fuzz.hpp"
#include "parse.hpp"

using zd::AllowPrefix;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const auto text = zd_fuzz::text_of(data, size);
  const auto ep = zd_fuzz::accepted([&] { return zd::parse_endpoint(text, AllowPrefix::no); });
  if (!ep)
    return 0;
  ZD_EXPECT(ep->is_exact());
  ZD_EXPECT(ep->port != 0);
  // What zdctl prints (status, errors) must read back as the same endpoint.
  ZD_EXPECT(zd::parse_endpoint(zd::format_endpoint(*ep), AllowPrefix::no) == *ep);
  return 0;
}
