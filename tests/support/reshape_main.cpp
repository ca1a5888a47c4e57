// zd-reshape DIR LAYOUT VALUE_SIZE: a state as a zdctl of LAYOUT would have
// left it (support/reshape.hpp), for the crash sweep of `zdctl upgrade`.
#include <cstdio>
#include <exception>
#include <string>

#include "reshape.hpp"

int main(int argc, char **argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: zd-reshape STATE_DIR LAYOUT ROUTE_VALUE_SIZE\n");
    return 2;
  }
  try {
    zdtest::reshape_routes(argv[1], {static_cast<uint32_t>(std::stoul(argv[2])),
                                     static_cast<uint32_t>(std::stoul(argv[3]))});
  } catch (const std::exception &e) {
    std::fprintf(stderr, "zd-reshape: %s\n", e.what());
    return 1;
  }
  return 0;
}
