// Moving a state's data maps to the shapes this zdctl's programs were built
// for: `zdctl upgrade` across layouts (bpf/zd_shared.h has the rule that
// makes it safe). A map whose shape is already right is kept, with whatever
// the programs write into it meanwhile; any other is copied into a new map of
// the wanted shape, which waits under a "-upgrading" pin until the new
// program runs, and is then renamed over the old pin.
//
// Killed at any point, the state is settled by the next upgrade: the new
// pins go forward if the link already runs the program pinned with them,
// and away if it does not (settle()).
#pragma once

#include <array>
#include <functional>
#include <string>
#include <vector>

#include "data_maps.hpp"

namespace zd::migrate {

// Names the state's entry a map key stands for ("domain 'shop'"), for a
// refusal that the user can act on. key points at the map's key bytes.
using Describe = std::function<std::string(DataMap map, const void *key)>;

// The socket a sockhash entry's cookie names, duplicated from a process
// that holds it; an empty Fd if none does.
using FindSocket = std::function<Fd(uint64_t cookie)>;

struct Moved {
  DataMaps maps;              // the whole set the new programs are loaded against
  std::vector<DataMap> fresh; // made here: not pinned yet
};

using Shapes = std::array<MapShape, kDataMaps.size()>;

// Keeps each of pinned's maps whose shape is the wanted one, and copies every
// entry of each other into a new map of the wanted shape (a sockhash's
// sockets found again by cookie). Refuses (Errc::refused) when an entry does
// not fit: a set appended field, more entries than the new map holds, or a
// changed key. Nothing pinned changes here.
Moved to_shapes(DataMaps pinned, const Shapes &wanted, uint32_t layout, const Describe &describe,
                const FindSocket &find_socket);

// Pins the fresh maps under their "-upgrading" names.
void pin_fresh(const Moved &moved, const std::string &dir);

// The "-upgrading" map pins in dir go forward (renamed over the old pins)
// when keep is true, and away otherwise. Returns whether there were any.
bool settle(const std::string &dir, bool keep);

} // namespace zd::migrate
