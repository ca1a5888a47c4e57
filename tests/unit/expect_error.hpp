// Shared assertion for user-facing errors: they must be zd::Error, fit on
// one line (zdctl prints them as "zdctl: error: <message>") and name the
// part of the input that was wrong.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "error.hpp"

namespace zd_test {

// Runs fn, which must throw zd::Error; returns its message ("" on failure).
template <typename Fn> std::string error_of(Fn &&fn) {
  try {
    fn();
  } catch (const zd::Error &e) {
    return e.what();
  } catch (const std::exception &e) {
    ADD_FAILURE() << "threw a non-zd exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "did not throw";
  return "";
}

inline ::testing::AssertionResult is_one_line(std::string_view message) {
  for (char c : message)
    if (c == '\n' || c == '\r' || c == '\0')
      return ::testing::AssertionFailure() << "message spans lines: '" << message << "'";
  if (message.empty())
    return ::testing::AssertionFailure() << "message is empty";
  return ::testing::AssertionSuccess();
}

} // namespace zd_test

// Asserts that `expr` throws zd::Error with a one-line message containing `part`.
#define EXPECT_ZD_ERROR(expr, part)                                                                \
  do {                                                                                             \
    std::string zd_msg_ = zd_test::error_of([&] { (void)(expr); });                                \
    EXPECT_TRUE(zd_test::is_one_line(zd_msg_)) << #expr;                                           \
    EXPECT_NE(zd_msg_.find(part), std::string::npos)                                               \
        << #expr << " -> '" << zd_msg_ << "' should mention '" << (part) << "'";                   \
  } while (0)
