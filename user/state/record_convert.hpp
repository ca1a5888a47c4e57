// The records as values: conversions between the bytes of a record map and
// the core's model, apart from any map. What is read back from bpffs may be
// anything a killed, older or newer zdctl left there, so these are pure
// functions that tests/fuzz/records_fuzz.cpp feeds arbitrary bytes.
#pragma once

#include <optional>

#include "records.hpp"

namespace zd {

record::Domain to_record(const Domain &domain);
Domain from_record(const record::Name &name, const record::Domain &r);

record::Workspace to_record(const Workspace &workspace);
Workspace from_record(const record::Name &name, const record::Workspace &r);

// The journal's change in flight; nullopt when op is 0 (none). Throws
// Errc::refused for an op this zdctl does not know.
std::optional<Intent> from_record(const record::Intent &r);

} // namespace zd
