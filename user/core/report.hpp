// How a Status reads: JSON for scripts (a stable contract), a table for people.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "model.hpp"

#include "status.hpp"

namespace zd {

nlohmann::json to_json(const Counters &counters);
// null for no check, else {kind: "tcp"|"http", path (http), timeout_ms, retries}.
nlohmann::json to_json(const std::optional<Check> &check);
// null for no health check, else {kind, path (http), timeout_ms, interval_ms, rise, fall}.
nlohmann::json to_json(const std::optional<HealthCheck> &check);
nlohmann::json to_json(const Status &status);
std::string to_table(const Status &status);

// History: {"history": [{seq, time, time_ns, domain, from, to, how, pid, uid}]}.
std::string how_name(How how);
nlohmann::json to_json(const std::vector<Event> &events);
std::string to_table(const std::vector<Event> &events);

} // namespace zd
