// How a Status reads: JSON for scripts (a stable contract), a table for people.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "status.hpp"

namespace zd {

nlohmann::json to_json(const Counters &counters);
nlohmann::json to_json(const Status &status);
std::string to_table(const Status &status);

} // namespace zd
