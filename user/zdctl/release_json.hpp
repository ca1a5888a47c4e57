// A release step's outcome as JSON: what `zdctl switch/revert/canary --json`
// print and what the HTTP API answers, one shape for both.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "release.hpp"

namespace zdctl {

// The keys every release step shares: domain, changed, dry_run, check,
// check_skipped, probes.
nlohmann::json checked_json(const std::string &domain, const zd::Release &r, bool dry_run);

// switch and revert: from, to and the shared keys.
nlohmann::json switch_json(const std::string &domain, const zd::Release &r, bool dry_run);

// canary: active, canary (null once ended), weight and the shared keys.
nlohmann::json canary_json(const std::string &domain, const zd::Release &r, bool dry_run,
                           bool ended, uint32_t weight);

// "10.0.0.1:8080 200 OK, [::1]:8080 200 OK": what the probes said.
std::string probes_text(const zd::Release &r);

} // namespace zdctl
