#include "maglev.hpp"

#include <algorithm>

#include "error.hpp"

namespace zd {

namespace {

// Two independent 64-bit hashes of a name: FNV-1a, each with its own
// offset basis, then mixed (splitmix64's finaliser) so that names that
// differ in one character land far apart.
uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t hash(const std::string &name, uint64_t basis) {
  uint64_t h = basis;
  for (const unsigned char c : name) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return mix(h);
}

bool is_prime(uint32_t n) {
  if (n < 2)
    return false;
  for (uint32_t d = 2; static_cast<uint64_t>(d) * d <= n; ++d)
    if (n % d == 0)
      return false;
  return true;
}

} // namespace

std::vector<uint32_t> maglev_table(const std::vector<std::string> &backends, uint32_t size) {
  if (!is_prime(size))
    throw Error(Errc::invalid, "a Maglev table's size must be prime, not " + std::to_string(size));
  if (backends.empty())
    return {};
  // The fill goes round the backends in name order, so the table does not
  // depend on the order they were given in.
  std::vector<uint32_t> order(backends.size());
  for (uint32_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](uint32_t a, uint32_t b) { return backends[a] < backends[b]; });

  // Each backend's preference list is offset, offset + skip, ... (mod
  // size): a permutation of the entries, since skip is in [1, size - 1] and
  // size is prime.
  std::vector<uint64_t> offset(backends.size()), skip(backends.size()), next(backends.size(), 0);
  for (size_t i = 0; i < backends.size(); ++i) {
    offset[i] = hash(backends[i], 0xcbf29ce484222325ull) % size;
    skip[i] = hash(backends[i], 0x84222325cbf29ce4ull) % (size - 1) + 1;
  }
  constexpr uint32_t kEmpty = UINT32_MAX;
  std::vector<uint32_t> table(size, kEmpty);
  uint32_t filled = 0;
  while (filled < size) {
    for (const uint32_t i : order) {
      // The backend's next preferred entry that is still empty.
      uint64_t entry = (offset[i] + next[i] * skip[i]) % size;
      while (table[entry] != kEmpty) {
        ++next[i];
        entry = (offset[i] + next[i] * skip[i]) % size;
      }
      table[entry] = i;
      ++next[i];
      if (++filled == size)
        break;
    }
  }
  return table;
}

} // namespace zd
