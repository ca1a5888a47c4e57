// parse_pid and parse_fd (--pid, --fd): strict decimal within a range.
#include <charconv>

#include "fuzz.hpp"
#include "parse.hpp"

namespace {

// Accepted means: digits only, and the value those digits spell.
void expect_decimal(std::string_view text, int value, int min, int max) {
  ZD_EXPECT(value >= min && value <= max);
  ZD_EXPECT(!text.empty());
  for (char c : text)
    ZD_EXPECT(c >= '0' && c <= '9');
  long long spelled = -1;
  std::from_chars(text.data(), text.data() + text.size(), spelled);
  ZD_EXPECT(spelled == value);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const auto text = zd_fuzz::text_of(data, size);
  if (const auto pid = zd_fuzz::accepted([&] { return zd::parse_pid(text); }))
    expect_decimal(text, *pid, 1, 4194304);
  if (const auto fd = zd_fuzz::accepted([&] { return zd::parse_fd(text); }))
    expect_decimal(text, *fd, 0, 1048576);
  return 0;
}
