// A state as a zdctl of another layout would have left it, for the tests of
// `zdctl upgrade` across layouts: the only data map whose shape has changed
// between layouts (routes) is rewritten into that layout's shape, and the
// map layout 3 added (health) is unpinned from an older one.
#pragma once

#include <cstdint>
#include <string>

namespace zdtest {

struct Reshape {
  uint32_t layout;     // written into the config map
  uint32_t value_size; // of a route: 8 before layout 3, 16 in it, more after
  // A newer layout's field set on one domain's route (id; 0 for none): the
  // first word past this zdctl's struct zd_route gets `newer_value`.
  uint32_t newer_domain = 0;
  uint32_t newer_value = 1;
};

// Rewrites the pinned routes map of the state at dir into a new map of
// value_size bytes holding the same routes, pinned over the old one, and
// sets the layout. The running program keeps the map it was loaded with:
// the pins are what an upgrade reads, and what it must bring the program
// back to. Throws std::runtime_error.
void reshape_routes(const std::string &dir, const Reshape &to);

} // namespace zdtest
