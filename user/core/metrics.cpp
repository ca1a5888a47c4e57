#include "metrics.hpp"

#include <utility>

#include "parse.hpp"
#include "report.hpp"

namespace zd {

namespace {

using Labels = std::vector<std::pair<const char *, std::string>>;

// One family at a time: its HELP and TYPE lines, then its samples, which
// the format wants together.
class Exposition {
public:
  void family(const char *name, const char *type, std::string_view help) {
    name_ = name;
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    for (char c : help) // HELP escapes backslash and newline only
      out_ += c == '\\' ? "\\\\" : c == '\n' ? "\\n" : std::string(1, c);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }

  void sample(const Labels &labels, uint64_t value) {
    out_ += name_;
    for (size_t i = 0; i < labels.size(); ++i) {
      out_ += i ? "," : "{";
      out_ += labels[i].first;
      out_ += "=\"";
      out_ += escape_label_value(labels[i].second);
      out_ += '"';
    }
    if (!labels.empty())
      out_ += '}';
    out_ += ' ';
    out_ += std::to_string(value);
    out_ += '\n';
  }

  std::string take() { return std::move(out_); }

private:
  std::string out_;
  const char *name_ = "";
};

// The four data-plane counters share one shape: a series per domain
// (workspace="") and one per workspace (domain=""); the two never mix in one
// series, so selecting on the empty label picks one kind.
void counter_family(Exposition &out, const Status &status, const char *name, std::string_view help,
                    uint64_t Counters::*field) {
  out.family(name, "counter", help);
  for (const auto &domain : status.domains)
    out.sample({{"domain", domain.name}, {"workspace", ""}}, domain.counters.*field);
  for (const auto &workspace : status.workspaces)
    out.sample({{"domain", ""}, {"workspace", workspace.name}}, workspace.counters.*field);
}

} // namespace

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string render_metrics(const Status &status, const std::vector<SwitchTotal> &switches,
                           const BuildInfo &build) {
  Exposition out;
  out.family("zd_build_info", "gauge",
             "Always 1: the zdctl version that rendered these metrics and the state layout it "
             "speaks");
  out.sample({{"version", build.version}, {"layout", std::to_string(build.layout)}}, 1);

  counter_family(out, status, "zd_lookups_total",
                 "New connections the data plane saw: per domain (workspace=\"\"), or per "
                 "workspace (domain=\"\") while it was the domain's active one",
                 &Counters::lookups);
  counter_family(out, status, "zd_steered_total",
                 "New connections delivered to the active workspace: per domain "
                 "(workspace=\"\"), or per workspace (domain=\"\")",
                 &Counters::steered);
  counter_family(out, status, "zd_fallbacks_total",
                 "New connections delivered to the previous workspace because the active one had "
                 "no live socket: per domain (workspace=\"\"), or per workspace (domain=\"\") "
                 "that took them",
                 &Counters::fallbacks);
  counter_family(out, status, "zd_drops_total",
                 "Per domain (workspace=\"\"): new connections refused, neither workspace having "
                 "a live socket. Per workspace (domain=\"\"): new connections it missed while "
                 "active with no live socket (they fell back or were refused)",
                 &Counters::drops);

  out.family("zd_domain_active", "gauge",
             "1 for the workspace that takes the domain's new connections (workspace=\"\" when "
             "none does), 0 for its previous workspace, the one revert goes back to");
  for (const auto &domain : status.domains) {
    out.sample({{"domain", domain.name}, {"workspace", domain.active}}, 1);
    if (!domain.previous.empty() && domain.previous != domain.active)
      out.sample({{"domain", domain.name}, {"workspace", domain.previous}}, 0);
  }

  out.family("zd_domain_canary_weight", "gauge",
             "Percent of the domain's new connections its canary workspace takes (zdctl "
             "canary); no sample while it has none");
  for (const auto &domain : status.domains)
    if (!domain.canary.empty())
      out.sample({{"domain", domain.name}, {"workspace", domain.canary}}, domain.canary_weight);

  out.family("zd_workspace_socket_alive", "gauge",
             "1 while the data plane still holds the workspace's listening socket for this "
             "protocol and family, 0 once its app closed it");
  for (const auto &workspace : status.workspaces)
    for (const auto &socket : workspace.sockets)
      out.sample({{"workspace", workspace.name},
                  {"protocol", protocol_name(socket.socket.bound.protocol)},
                  {"family", family_name(socket.socket.serves)}},
                 socket.alive ? 1 : 0);

  out.family("zd_workspace_healthy", "gauge",
             "1 while the workspace passes its health check (zdctl serve runs it), 0 while the "
             "data plane passes it over as failing; no sample for a workspace without a check");
  for (const auto &workspace : status.workspaces)
    if (workspace.health_check)
      out.sample({{"workspace", workspace.name}}, workspace.failing ? 0 : 1);

  out.family("zd_workspace_health_changed_seconds", "gauge",
             "When the workspace's health check last changed its verdict, in seconds since the "
             "epoch; no sample before its first verdict");
  for (const auto &workspace : status.workspaces)
    if (workspace.health_check && workspace.health && workspace.health->since_ns)
      out.sample({{"workspace", workspace.name}},
                 static_cast<uint64_t>(workspace.health->since_ns / 1'000'000'000));

  out.family("zd_workspace_connections", "gauge",
             "Established connections of the domain that the workspace holds");
  for (const auto &workspace : status.workspaces)
    for (const auto &[domain, n] : workspace.connections)
      out.sample({{"workspace", workspace.name}, {"domain", domain}}, n);

  out.family("zd_switches_total", "counter",
             "Changes of the domain's route since it was added, by how they came: switch, "
             "revert, force (a switch or revert with --force) or fallback (its active "
             "workspace was removed)");
  for (const auto &total : switches)
    out.sample({{"domain", total.domain}, {"how", how_name(total.how)}}, total.count);
  return out.take();
}

} // namespace zd
