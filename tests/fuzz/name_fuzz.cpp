// validate_name (domain and workspace names), and the record form of a name
// that passed: it must read back from a map unchanged.
#include "fuzz.hpp"
#include "parse.hpp"
#include "records.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const auto name = zd_fuzz::text_of(data, size);
  const auto ok = zd_fuzz::accepted([&] {
    zd::validate_name("domain", name);
    return true;
  });
  if (!ok)
    return 0;
  ZD_EXPECT(!name.empty() && name.size() <= zd::kMaxNameLength);
  ZD_EXPECT(name.find('\0') == std::string_view::npos);
  ZD_EXPECT(zd::record::from_name(zd::record::to_name(name)) == name);
  return 0;
}
