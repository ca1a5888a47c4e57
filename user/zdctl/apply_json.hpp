// zdctl apply and export, and their JSON: one shape for the CLI and the API.
#pragma once

#include <nlohmann/json.hpp>

#include "apply_state.hpp"

namespace zdctl {

// {"changed", "dry_run", "steps": [{"op", "domain" | "workspace", "text", ...}],
//  "probes": [{"domain", "workspace", "check", "target", "ok", "said", "attempts"}]}
nlohmann::json applied_json(const zd::Applied &applied, bool dry_run);

} // namespace zdctl
