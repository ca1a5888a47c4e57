// Small facts about the pins of a state directory, shared by state.cpp and
// xdp_state.cpp: what is there, what a pinned link runs, and how a pin that
// a killed zdctl left half-made is settled.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace zd::pins {

bool exists(const std::string &path);
// The entries of dir, "." and ".." left out.
std::vector<std::string> names_in(const std::string &dir);
bool ends_with(const std::string &name, const std::string &suffix);

uint32_t program_id(int program_fd);
uint32_t program_of_link(int link_fd);

// An upgrade pins its new program at `fresh` and renames it over `final`.
// Killed in between, the links already run one of the two: keep `fresh` (by
// renaming it) if one of `links` (pin paths) runs it or there is no `final`,
// else drop it. Returns whether it kept it; nothing to do without `fresh`.
bool settle_upgrade(const std::string &fresh, const std::string &final,
                    const std::vector<std::string> &links);

} // namespace zd::pins
