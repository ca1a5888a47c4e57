// parse_duration (--timeout): a number, a unit, and nothing else.
#include <chrono>

#include "fuzz.hpp"
#include "parse.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace std::chrono_literals;
  const auto text = zd_fuzz::text_of(data, size);
  constexpr std::chrono::milliseconds kMax = 24h;
  const auto parsed = zd_fuzz::accepted([&] { return zd::parse_duration(text, kMax); });
  if (!parsed)
    return 0;
  // Accepted means: within bounds, spelled with digits, at most one dot and
  // a unit, and written back it reads the same.
  ZD_EXPECT(parsed->count() >= 0 && *parsed <= kMax);
  ZD_EXPECT(!text.empty() && text.front() >= '0' && text.front() <= '9');
  ZD_EXPECT(text.find_first_not_of("0123456789.hms") == std::string_view::npos);
  ZD_EXPECT(text.find('.') == text.rfind('.'));
  ZD_EXPECT(zd::parse_duration(zd::format_duration(*parsed), kMax) == *parsed);
  return 0;
}
