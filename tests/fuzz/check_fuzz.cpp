// parse_check (--check tcp | /PATH): an accepted path is one a request line
// can carry as it is.
#include "check.hpp"
#include "fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const auto text = zd_fuzz::text_of(data, size);
  if (const auto check = zd_fuzz::accepted([&] { return zd::parse_check(text); })) {
    ZD_EXPECT(check->kind != zd::Check::Kind::none);
    ZD_EXPECT(check->path.size() <= zd::kMaxCheckPathLength);
    for (char c : check->path)
      ZD_EXPECT(c > 0x20 && c < 0x7f);
    ZD_EXPECT(zd::parse_check(check->kind == zd::Check::Kind::tcp ? "tcp" : check->path) ==
              *check);
  }
  return 0;
}
