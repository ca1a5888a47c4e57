// Runs the real zdctl of this build for the CLI-level unit tests: as nobody
// when the tests run as root (what is tested needs no privilege), bounded by
// the shared process helper's 10 s.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "process.hpp"

#ifndef ZDCTL_PATH
#error "ZDCTL_PATH must name the zdctl binary"
#endif

namespace zd_test {

inline constexpr uid_t kNobody = 65534;

inline zdtest::Result run_zdctl(const std::vector<std::string> &args) {
  std::vector<std::string> argv{ZDCTL_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  zdtest::SpawnOptions options;
  if (geteuid() == 0)
    options.uid = kNobody;
  zdtest::Result run = zdtest::run(argv, options);
  EXPECT_NE(run.code, -1) << "zdctl did not finish within 10 s";
  EXPECT_NE(run.code, 125) << "could not drop privileges";
  EXPECT_NE(run.code, 127) << "could not exec " << ZDCTL_PATH;
  return run;
}

} // namespace zd_test
