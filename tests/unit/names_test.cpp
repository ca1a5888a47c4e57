// validate_name, parse_pid and parse_fd: the other things a user types.
#include <gtest/gtest.h>

#include <string>

#include "expect_error.hpp"
#include "parse.hpp"

using namespace std::string_literals;

namespace {

TEST(ValidateName, AcceptsOrdinaryNames) {
  for (const char *name : {"shop", "a", "A", "7", "blue-2", "v1.2_rc", "Shop_Prod-1.0"}) {
    SCOPED_TRACE(name);
    EXPECT_NO_THROW(zd::validate_name("domain", name));
  }
}

TEST(ValidateName, LengthLimitIsNameLenMinusOne) {
  EXPECT_NO_THROW(zd::validate_name("domain", std::string(zd::kMaxNameLength, 'a')));
  EXPECT_ZD_ERROR(zd::validate_name("domain", std::string(zd::kMaxNameLength + 1, 'a')),
                  "longer than 63");
  // A huge name is refused without echoing all of it.
  std::string message =
      zd_test::error_of([] { zd::validate_name("domain", std::string(100'000, 'a')); });
  EXPECT_LT(message.size(), 200u);
}

TEST(ValidateName, RefusesEmpty) {
  EXPECT_ZD_ERROR(zd::validate_name("domain", ""), "bad domain name '': must not be empty");
  EXPECT_ZD_ERROR(zd::validate_name("workspace", ""), "bad workspace name");
}

TEST(ValidateName, RefusesBadFirstCharacter) {
  for (const char *name : {"-x", ".hidden", "..", "../x", "_x", " x"}) {
    SCOPED_TRACE(name);
    EXPECT_ZD_ERROR(zd::validate_name("domain", name),
                    "'" + std::string(name) + "': must start with a letter or digit");
  }
}

TEST(ValidateName, RefusesOtherCharacters) {
  for (const char *name : {"a/b", "a b", "x ", "a\\b", "a:b", "a*", "a$b", "caf\xc3\xa9",
                           "\xe2\x80\x8b"
                           "a"}) {
    SCOPED_TRACE(name);
    EXPECT_ZD_ERROR(zd::validate_name("workspace", name), "bad workspace name");
  }
  EXPECT_ZD_ERROR(zd::validate_name("domain", "a/b"), "'a/b'");
}

TEST(ValidateName, RefusesControlCharactersOnOneLine) {
  EXPECT_ZD_ERROR(zd::validate_name("domain", "a\0b"s), "only letters");
  EXPECT_ZD_ERROR(zd::validate_name("domain", "a\nb"), "only letters");
  EXPECT_ZD_ERROR(zd::validate_name("domain", "a\tb"), "only letters");
  EXPECT_ZD_ERROR(zd::validate_name("domain", "\x1b[2J"), "must start");
}

TEST(ParsePid, AcceptsDecimalInRange) {
  EXPECT_EQ(zd::parse_pid("1"), 1);
  EXPECT_EQ(zd::parse_pid("1234"), 1234);
  EXPECT_EQ(zd::parse_pid("4194304"), 4194304); // PID_MAX_LIMIT
}

TEST(ParsePid, RefusesEverythingElse) {
  for (std::string text :
       {"0"s, "-1"s, "+1"s, " 1"s, "1 "s, "0x10"s, "1e3"s, "4194305"s, "2147483648"s,
        "99999999999999999999"s, ""s, "abc"s, "1\0"s, "\xef\xbc\x91"s /* fullwidth 1 */}) {
    SCOPED_TRACE(text);
    EXPECT_ZD_ERROR(zd::parse_pid(text), "bad pid");
  }
  EXPECT_ZD_ERROR(zd::parse_pid("-1"), "'-1'");
  EXPECT_ZD_ERROR(zd::parse_pid("0x10"), "'0x10'");
  EXPECT_ZD_ERROR(zd::parse_pid("1\n2"), "bad pid");
}

TEST(ParseFd, AcceptsDecimalInRange) {
  EXPECT_EQ(zd::parse_fd("0"), 0);
  EXPECT_EQ(zd::parse_fd("3"), 3);
  EXPECT_EQ(zd::parse_fd("1048576"), 1048576);
}

TEST(ParseFd, RefusesEverythingElse) {
  for (std::string text : {"-1"s, "+3"s, " 3"s, "3 "s, "0x3"s, "1048577"s, "4294967299"s,
                           "99999999999999999999"s, ""s, "three"s, "3\0"s}) {
    SCOPED_TRACE(text);
    EXPECT_ZD_ERROR(zd::parse_fd(text), "bad fd");
  }
  EXPECT_ZD_ERROR(zd::parse_fd("+3"), "'+3'");
}

} // namespace
