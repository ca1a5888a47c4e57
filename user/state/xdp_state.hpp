// The XDP plane's part of a state: its program and maps pinned beside the
// sk_lookup ones, and one pinned link per interface it steers at
// ("xdp-link-IFINDEX"). Used by state.cpp under the state's lock.
#pragma once

#include <string>
#include <vector>

#include "data_maps.hpp"
#include "xdp.hpp"

namespace zd::xdp_state {

inline constexpr const char *kProgramPin = kXdpProgramPin;
inline constexpr const char *kProgramUpgradingPin = "xdp_program-upgrading";
inline constexpr const char *kLinkPrefix = kXdpLinkPrefix;

// Loads the XDP program against dir's maps and pins what dir lacks: its own
// maps, then the program. Attach runs it on the new state's directory.
void pin_program(const DataMaps &shared, const std::string &dir);

// Attaches the pinned program to interface `name` (ifindex); returns false
// when it already is.
bool attach_interface(const std::string &dir, const std::string &name, int ifindex, XdpMode mode);

// True when the pinned XDP program is the one this zdctl embeds (same tag).
bool current(const DataMaps &shared, const std::string &dir);

// Replaces the program of every XDP link with this zdctl's, keeping the
// flow table (one bpf_link_update each), and re-pins it.
void upgrade(const DataMaps &shared, const std::string &dir);

// Detaches every XDP link pinned in dir (before its pins go).
void detach_all(const std::string &dir);

// The paths of the XDP link pins.
std::vector<std::string> link_pins(const std::string &dir);

} // namespace zd::xdp_state
