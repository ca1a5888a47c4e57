// What the fuzz targets share. A target is one file, NAME_fuzz.cpp, with
// LLVMFuzzerTestOneInput, and one line in CMakeLists.txt; its seeds live in
// corpus/NAME/. The rules every target keeps:
//   - zd::Error is how zd refuses input: a refusal is fine, as long as its
//     message is one printable line (zdctl prints it as is);
//   - anything else thrown escapes to std::terminate, which libFuzzer reports
//     as a crash, like a sanitizer report or a failed ZD_EXPECT.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>

#include "error.hpp"

namespace zd_fuzz {

inline std::string_view text_of(const uint8_t *data, size_t size) {
  return {reinterpret_cast<const char *>(data), size};
}

[[noreturn]] inline void fail(const char *what, const char *file, int line) {
  std::fprintf(stderr, "%s:%d: expected %s\n", file, line, what);
  std::abort();
}

#define ZD_EXPECT(cond) ((cond) ? void() : zd_fuzz::fail(#cond, __FILE__, __LINE__))

// A message that zdctl prints after "zdctl: error: ": bounded, one line, and
// no control characters (C0, DEL, or C1 as UTF-8 spells it) that a hostile
// input could smuggle onto a terminal or into a log.
inline void expect_printable_message(std::string_view message) {
  ZD_EXPECT(!message.empty() && message.size() < 2048);
  for (size_t i = 0; i < message.size(); ++i) {
    const auto c = static_cast<unsigned char>(message[i]);
    const auto next = i + 1 < message.size() ? static_cast<unsigned char>(message[i + 1]) : 0;
    ZD_EXPECT(c >= 0x20 && c != 0x7f);
    ZD_EXPECT(!(c == 0xc2 && next >= 0x80 && next <= 0x9f));
  }
}

// What parse() returns, or nullopt when it refused with a zd::Error.
template <typename Parse> auto accepted(Parse &&parse) -> std::optional<decltype(parse())> {
  try {
    return parse();
  } catch (const zd::Error &e) {
    expect_printable_message(e.what());
    return std::nullopt;
  }
}

// Fills a zeroed T with the first bytes of the input (the rest stays zero),
// as a record read back from a map may hold anything at all.
template <typename T> T bytes_as(const uint8_t *&data, size_t &size) {
  T value{};
  const size_t n = size < sizeof(T) ? size : sizeof(T);
  std::memcpy(&value, data, n);
  data += n;
  size -= n;
  return value;
}

} // namespace zd_fuzz
