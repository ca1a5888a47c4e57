#include "release_json.hpp"

#include "parse.hpp"
#include "report.hpp"

namespace zdctl {

using nlohmann::json;

json checked_json(const std::string &domain, const zd::Release &r, bool dry_run) {
  json probes = json::array();
  for (const auto &p : r.probes)
    probes.push_back({{"family", zd::family_name(p.target.family)},
                      {"address", zd::format_endpoint(p.target.address)},
                      {"ok", p.answer.ok},
                      {"said", p.answer.said},
                      {"attempts", p.attempts}});
  return {
      {"domain", domain},           {"changed", r.result.changed == zd::Changed::yes && !dry_run},
      {"dry_run", dry_run},         {"check", zd::to_json(r.check)},
      {"check_skipped", r.skipped}, {"probes", probes}};
}

json switch_json(const std::string &domain, const zd::Release &r, bool dry_run) {
  json out = checked_json(domain, r, dry_run);
  out["from"] = r.result.from.empty() ? json(nullptr) : json(r.result.from);
  out["to"] = r.result.to;
  return out;
}

json canary_json(const std::string &domain, const zd::Release &r, bool dry_run, bool ended,
                 uint32_t weight) {
  json out = checked_json(domain, r, dry_run);
  out["active"] = r.result.from;
  out["canary"] = ended ? json(nullptr) : json(r.result.to);
  out["weight"] = ended ? 0u : weight;
  return out;
}

std::string probes_text(const zd::Release &r) {
  std::string text;
  for (const auto &p : r.probes)
    text +=
        (text.empty() ? "" : ", ") + zd::format_endpoint(p.target.address) + " " + p.answer.said;
  return text;
}

} // namespace zdctl
