// The Maglev table (user/core/maglev.hpp): equal shares, the same table
// whatever order the backends come in, few entries moved when one backend
// goes or comes, and new flows spread by it within 5 % of their share.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "error.hpp"
#include "maglev.hpp"

namespace {

using zd::maglev_table;

// The table as names, to compare tables of different backend lists.
std::vector<std::string> named(const std::vector<std::string> &backends, uint32_t size) {
  std::vector<std::string> out;
  for (const uint32_t i : maglev_table(backends, size))
    out.push_back(backends[i]);
  return out;
}

std::vector<std::string> instances(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i)
    out.push_back("host" + std::to_string(i + 1) + "/green");
  return out;
}

size_t moved(const std::vector<std::string> &a, const std::vector<std::string> &b) {
  size_t n = 0;
  for (size_t i = 0; i < a.size(); ++i)
    n += a[i] != b[i];
  return n;
}

TEST(Maglev, EveryBackendHoldsAnEqualShare) {
  for (int n = 1; n <= 7; ++n) {
    const std::vector<uint32_t> table = maglev_table(instances(n));
    ASSERT_EQ(table.size(), zd::kMaglevTableSize);
    std::map<uint32_t, size_t> count;
    for (const uint32_t i : table)
      ++count[i];
    ASSERT_EQ(count.size(), static_cast<size_t>(n));
    for (const auto &[i, c] : count)
      EXPECT_LE(std::abs(static_cast<double>(c) - zd::kMaglevTableSize / double(n)), 1.0)
          << n << " backends: backend " << i << " holds " << c;
  }
}

TEST(Maglev, TheOrderOfTheBackendsDoesNotMatter) {
  std::vector<std::string> backends = instances(5);
  const std::vector<std::string> before = named(backends, zd::kMaglevTableSize);
  std::mt19937 random(7);
  for (int round = 0; round < 5; ++round) {
    std::shuffle(backends.begin(), backends.end(), random);
    EXPECT_EQ(named(backends, zd::kMaglevTableSize), before) << "shuffle " << round;
  }
}

// Removing one of N moves its own entries (1/N of them) and only a few more;
// adding one moves about 1/(N + 1).
TEST(Maglev, OneBackendGoneOrAddedMovesAboutItsShare) {
  for (const int n : {3, 5, 10}) {
    const std::vector<std::string> all = instances(n);
    const std::vector<std::string> before = named(all, zd::kMaglevTableSize);
    std::vector<std::string> fewer = all;
    fewer.erase(fewer.begin() + 1);
    const std::vector<std::string> after = named(fewer, zd::kMaglevTableSize);
    const double size = zd::kMaglevTableSize;
    const size_t own = static_cast<size_t>(std::count(before.begin(), before.end(), all[1]));
    const size_t gone = moved(before, after);
    EXPECT_GE(gone, own) << "every entry of the removed backend moves";
    EXPECT_LE(gone / size, 1.0 / n + 0.05) << n << " backends, one removed";
    // Back again: about 1/n of the entries move back to it.
    EXPECT_LE(moved(after, before) / size, 1.0 / n + 0.05) << n - 1 << " backends, one added";
  }
}

// 3,000 new flows over three instances: each within 5 points of a third
// (the bound; one standard deviation of the binomial is 26 flows).
TEST(Maglev, NewFlowsSpreadByTheTableWithinFivePercentOfTheirShare) {
  const std::vector<std::string> backends = instances(3);
  const std::vector<uint32_t> table = maglev_table(backends);
  std::mt19937_64 flows(42); // stands for the data plane's hash of each 5-tuple
  std::map<uint32_t, int> share;
  for (int f = 0; f < 3000; ++f)
    ++share[table[flows() % table.size()]];
  for (const auto &[i, count] : share)
    EXPECT_NEAR(count, 1000, 150) << backends[i];
}

TEST(Maglev, NoBackendsNoTableAndTheSizeMustBePrime) {
  EXPECT_TRUE(maglev_table({}).empty());
  EXPECT_EQ(maglev_table({"a"}, 7), std::vector<uint32_t>(7, 0));
  EXPECT_THROW(maglev_table({"a"}, 4096), zd::Error);
}

} // namespace
