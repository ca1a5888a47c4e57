// parse_duration and format_duration: --timeout and the other durations a
// user types.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "expect_error.hpp"
#include "parse.hpp"

using namespace std::chrono_literals;
using namespace std::string_literals;

namespace {

constexpr std::chrono::milliseconds kDay = 24h;

TEST(ParseDuration, TakesEachUnitAndPlainSeconds) {
  EXPECT_EQ(zd::parse_duration("500ms", kDay), 500ms);
  EXPECT_EQ(zd::parse_duration("30s", kDay), 30s);
  EXPECT_EQ(zd::parse_duration("30", kDay), 30s);
  EXPECT_EQ(zd::parse_duration("2m", kDay), 2min);
  EXPECT_EQ(zd::parse_duration("1h", kDay), 1h);
  EXPECT_EQ(zd::parse_duration("0", kDay), 0ms);
  EXPECT_EQ(zd::parse_duration("0s", kDay), 0ms);
  EXPECT_EQ(zd::parse_duration("007s", kDay), 7s);
}

TEST(ParseDuration, TakesDecimalsThatMakeWholeMilliseconds) {
  EXPECT_EQ(zd::parse_duration("1.5s", kDay), 1500ms);
  EXPECT_EQ(zd::parse_duration("0.001", kDay), 1ms);
  EXPECT_EQ(zd::parse_duration("0.25m", kDay), 15s);
  EXPECT_EQ(zd::parse_duration("1.5h", kDay), 90min);
  EXPECT_ZD_ERROR(zd::parse_duration("1.5ms", kDay), "'1.5ms'");
  EXPECT_ZD_ERROR(zd::parse_duration("0.0001s", kDay), "'0.0001s'");
}

TEST(ParseDuration, RefusesMoreThanMax) {
  EXPECT_EQ(zd::parse_duration("24h", kDay), kDay);
  EXPECT_EQ(zd::parse_duration("86400", kDay), kDay);
  EXPECT_ZD_ERROR(zd::parse_duration("86401", kDay), "up to 24h");
  EXPECT_ZD_ERROR(zd::parse_duration("999999999h", kDay), "up to 24h");
  EXPECT_ZD_ERROR(zd::parse_duration("2s", 1500ms), "up to 1500ms");
}

TEST(ParseDuration, RefusesEverythingElse) {
  for (std::string text :
       {""s,     "s"s,    "ms"s,          "-1s"s,  "+1s"s,          " 1s"s,   "1s "s,    "1 s"s,
        "1S"s,   "1sec"s, "1d"s,          "1.s"s,  ".5s"s,          "1..5s"s, "1.5.5s"s, "1e3"s,
        "0x10"s, "1s2m"s, "1000000000s"s, "1\0s"s, "\xef\xbc\x91s"s /* fullwidth 1 */}) {
    SCOPED_TRACE(text);
    EXPECT_ZD_ERROR(zd::parse_duration(text, kDay), "bad duration");
  }
  EXPECT_ZD_ERROR(zd::parse_duration("3 days", kDay), "'3 days'");
  EXPECT_ZD_ERROR(zd::parse_duration("1\n2", kDay), "bad duration");
}

TEST(FormatDuration, UsesTheLargestExactUnit) {
  EXPECT_EQ(zd::format_duration(0ms), "0s");
  EXPECT_EQ(zd::format_duration(500ms), "500ms");
  EXPECT_EQ(zd::format_duration(1500ms), "1500ms");
  EXPECT_EQ(zd::format_duration(30s), "30s");
  EXPECT_EQ(zd::format_duration(90s), "90s");
  EXPECT_EQ(zd::format_duration(2min), "2m");
  EXPECT_EQ(zd::format_duration(kDay), "24h");
  for (std::chrono::milliseconds d : std::vector<std::chrono::milliseconds>{
           0ms, 1ms, 999ms, 1000ms, 1001ms, 61s, 3600001ms, kDay})
    EXPECT_EQ(zd::parse_duration(zd::format_duration(d), kDay), d);
}

} // namespace
