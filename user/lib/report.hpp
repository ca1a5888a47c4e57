// How a Status reads: JSON for scripts (a stable contract), a table for people.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "zd.hpp"

namespace zd {

nlohmann::json to_json(const zd_counters &counters);
nlohmann::json to_json(const Status &status);
std::string to_table(const Status &status);

} // namespace zd
