// The Prometheus text exposition (format 0.0.4) of a state: what
// `zdctl metrics` prints for node_exporter's textfile collector, and what
// `zdctl metrics --listen` (and later `zdctl serve`) answers on /metrics.
// Only rendering: the values come from a Status and the switch totals,
// read under the state's lock by the caller.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "control.hpp"
#include "status.hpp"

namespace zd {

// The Content-Type of the exposition.
inline constexpr const char *kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// What zd_build_info says: zdctl's version and the state layout it speaks
// (the core knows neither).
struct BuildInfo {
  std::string version;
  uint32_t layout = 0;
};

// Every family zd exposes, with HELP and TYPE lines, even while it has no
// series. See docs/cli.md for the names and labels.
std::string render_metrics(const Status &status, const std::vector<SwitchTotal> &switches,
                           const BuildInfo &build);

// A label value as the exposition writes it between double quotes:
// backslash, double quote and newline escaped.
std::string escape_label_value(std::string_view value);

} // namespace zd
