// zdctl apply FILE|- and zdctl export: the state as one document, and a
// document made the state in one change (core/apply.hpp, state/apply_state.hpp).
#include "apply_json.hpp"
#include "cluster_marks.hpp"

#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "check.hpp"
#include "commands.hpp"
#include "error.hpp"
#include "parse.hpp"

namespace zdctl {

namespace {

std::string read_document(const std::string &file) {
  std::ostringstream text;
  if (file == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in)
      throw zd::Error(zd::Errc::invalid,
                      "cannot read " + zd::printable(file) + ": " + std::strerror(errno));
    text << in.rdbuf();
  }
  return text.str();
}

} // namespace

nlohmann::json applied_json(const zd::Applied &applied, bool dry_run) {
  nlohmann::json steps = nlohmann::json::array(), probes = nlohmann::json::array();
  for (const auto &step : applied.steps)
    steps.push_back(zd::to_json(step));
  for (const auto &p : applied.probes)
    probes.push_back({{"domain", p.domain},
                      {"workspace", p.workspace},
                      {"check", zd::describe(p.check)},
                      {"target", zd::format_endpoint(p.report.target.address)},
                      {"ok", p.report.answer.ok},
                      {"said", p.report.answer.said},
                      {"attempts", p.report.attempts}});
  return {{"changed", !applied.steps.empty() && !dry_run},
          {"dry_run", dry_run},
          {"steps", steps},
          {"probes", probes}};
}

void do_apply(const Options &opts) {
  const std::string document = read_document(opts.apply_file);
  // On a host whose cluster agent runs, the domains it manages are the
  // cluster's (cluster_marks.hpp): each the document names, and with
  // --prune every one.
  std::vector<std::string> named;
  for (const auto &d : zd::parse_desired(document).domains)
    named.push_back(d.name);
  if (opts.prune)
    if (auto marks = zd::ClusterMarks::open(opts.state))
      for (const auto &[name, mark] : marks->marks())
        named.push_back(name);
  for (const auto &name : named)
    zd::refuse_managed(opts.state, name, opts.local, "apply FILE");
  const zd::Applied applied = zd::apply_document(
      zd::State(opts.state), document, {opts.dry_run, opts.prune, opts.force, opts.no_check});
  if (opts.local && !opts.dry_run)
    for (const auto &name : named)
      zd::drift_after(opts.state, name);
  if (opts.json) {
    std::cout << applied_json(applied, opts.dry_run).dump(2) << "\n";
    return;
  }
  const std::string from = opts.apply_file == "-" ? "the document" : opts.apply_file;
  if (applied.steps.empty()) {
    std::cout << "nothing to change: the state already is what " << from << " says\n";
    return;
  }
  for (const auto &step : applied.steps)
    std::cout << zd::describe(step) << "\n";
  size_t passed = 0;
  for (const auto &p : applied.probes)
    passed += p.report.answer.ok;
  if (!applied.probes.empty())
    std::cout << "health gate: " << passed << " of " << applied.probes.size()
              << " probes answered well\n";
  const size_t n = applied.steps.size();
  std::cout << (opts.dry_run ? "would apply " : "applied ") << n
            << (n == 1 ? " change" : " changes")
            << (opts.dry_run ? " (dry run: nothing changed)\n" : " as one\n");
}

void do_export(const Options &opts) {
  std::cout << zd::to_json(zd::export_state(zd::State(opts.state))).dump(2) << "\n";
}

} // namespace zdctl
