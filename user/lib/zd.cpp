#include "zd.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include <spdlog/spdlog.h>

#include "error.hpp"
#include "sockets.hpp"

namespace zd {

namespace {

zd_socket_key socket_key(uint32_t workspace, uint8_t protocol, uint8_t family) {
  zd_socket_key key{};
  key.workspace = workspace;
  key.protocol = protocol;
  key.family = family;
  return key;
}

std::string describe(uint8_t protocol, uint8_t family) {
  return protocol_name(protocol) + "/" + family_name(family);
}

// One pass over the records for status, instead of a lookup per id.
std::map<uint32_t, std::string>
names_by_id(const std::vector<std::pair<zd_name, zd_workspace_record>> &all) {
  std::map<uint32_t, std::string> out;
  for (const auto &[name, record] : all)
    out[record.id] = from_name(name);
  return out;
}

} // namespace

zd_domain_record Zd::find_domain(const std::string &name) const {
  validate_name("domain", name);
  auto record = maps_.domain(to_name(name));
  if (!record)
    throw Error("no domain named '" + name + "'");
  return *record;
}

zd_workspace_record Zd::find_workspace(const std::string &name) const {
  validate_name("workspace", name);
  auto record = maps_.workspace(to_name(name));
  if (!record)
    throw Error("no workspace named '" + name + "'");
  return *record;
}

// Cold path (error messages): domains are not indexed by id.
std::string Zd::domain_name(uint32_t id) const {
  for (const auto &[name, record] : maps_.domains())
    if (record.id == id)
      return from_name(name);
  return "#" + std::to_string(id);
}

std::string Zd::workspace_name(uint32_t id) const {
  if (id == ZD_NO_ID)
    return "";
  auto name = maps_.workspace_name(id);
  return name ? from_name(*name) : "#" + std::to_string(id);
}

bool Zd::socket_alive(uint32_t workspace, const zd_socket_record &socket) const {
  auto cookie = maps_.socket_cookie(socket_key(workspace, socket.protocol, socket.family));
  return cookie && *cookie == socket.cookie;
}

void Zd::require_live_sockets(const std::string &domain_name, const zd_domain_record &domain,
                              const std::string &ws_name,
                              const zd_workspace_record &workspace) const {
  for (uint32_t i = 0; i < domain.n_bindings; ++i) {
    const auto &binding = domain.bindings[i].binding;
    const zd_socket_record *match = nullptr;
    for (uint32_t s = 0; s < workspace.n_sockets; ++s)
      if (workspace.sockets[s].protocol == binding.protocol &&
          workspace.sockets[s].family == binding.family)
        match = &workspace.sockets[s];
    if (!match || !socket_alive(workspace.id, *match))
      throw Error("workspace '" + ws_name + "' has no live " +
                  describe(binding.protocol, binding.family) + " socket for " +
                  format_endpoint(from_prefix_key(domain.bindings[i])) + " of domain '" +
                  domain_name + "' (--force switches anyway)");
  }
}

// Ids index the per-CPU counter arrays, so they stay below the map sizes.
// They grow monotonically and wrap, so allocation is O(1) until the first
// wrap and a removed id is not handed out again at once.
uint32_t Zd::allocate_id(bool domain) {
  zd_config config = maps_.config();
  uint32_t &next = domain ? config.next_domain_id : config.next_workspace_id;
  const uint32_t max = domain ? ZD_MAX_DOMAINS : ZD_MAX_WORKSPACES;
  std::set<uint32_t> used;
  bool scanned = false;
  for (uint32_t tries = 0; tries <= max; ++tries) {
    if (next == ZD_NO_ID || next > max) {
      next = 1;
      if (!scanned) {
        if (domain)
          for (const auto &[n, r] : maps_.domains())
            used.insert(r.id);
        else
          for (const auto &[n, r] : maps_.workspaces())
            used.insert(r.id);
        scanned = true;
      }
    }
    uint32_t candidate = next++;
    if (!used.count(candidate)) {
      maps_.set_config(config);
      return candidate;
    }
  }
  throw Error(std::string("too many ") + (domain ? "domains" : "workspaces") + " (at most " +
              std::to_string(max) + ")");
}

void Zd::add_domain(const std::string &name, const std::vector<Endpoint> &listen) {
  validate_name("domain", name);
  if (listen.empty())
    throw Error("domain '" + name + "' needs at least one --listen");
  if (listen.size() > ZD_MAX_BINDINGS_PER_DOMAIN)
    throw Error("a domain has at most " + std::to_string(ZD_MAX_BINDINGS_PER_DOMAIN) +
                " --listen addresses");
  for (size_t i = 0; i < listen.size(); ++i) {
    if (listen[i].protocol != IPPROTO_TCP)
      throw Error("cannot bind " + format_endpoint(listen[i]) +
                  ": zd steers TCP only for now (udp:// is reserved)");
    for (size_t j = 0; j < i; ++j)
      if (listen[i] == listen[j])
        throw Error(format_endpoint(listen[i]) + " is given twice");
  }
  if (maps_.domain(to_name(name)))
    throw Error("domain '" + name + "' already exists");

  // Refuse a binding another domain holds before writing anything.
  for (const auto &ep : listen)
    if (auto owner = maps_.binding(to_prefix_key(ep)))
      throw Error(format_endpoint(ep) + " is already bound to domain '" + domain_name(*owner) +
                  "'");

  zd_domain_record record{};
  record.id = allocate_id(true);
  record.n_bindings = static_cast<uint32_t>(listen.size());
  uint32_t prefixes = 0;
  for (size_t i = 0; i < listen.size(); ++i) {
    record.bindings[i] = to_prefix_key(listen[i]);
    prefixes += !listen[i].is_exact();
  }

  // Record first: if zdctl dies half-way, `domain rm` still finds the rest.
  maps_.reset_domain_counters(record.id);
  maps_.put_domain(to_name(name), record);
  size_t added = 0;
  try {
    for (; added < listen.size(); ++added)
      if (!maps_.add_binding(record.bindings[added], record.id))
        throw Error(format_endpoint(listen[added]) + " is already bound");
    if (prefixes) {
      zd_config config = maps_.config();
      config.prefix_bindings += prefixes;
      maps_.set_config(config);
    }
  } catch (...) {
    for (size_t i = 0; i < added; ++i)
      maps_.remove_binding(record.bindings[i]);
    maps_.remove_domain(to_name(name));
    throw;
  }
}

void Zd::remove_domain(const std::string &name) {
  zd_domain_record record = find_domain(name);
  uint32_t prefixes = 0;
  for (uint32_t i = 0; i < record.n_bindings; ++i) {
    maps_.remove_binding(record.bindings[i]);
    prefixes += !is_exact_key(record.bindings[i]);
  }
  if (prefixes) {
    zd_config config = maps_.config();
    config.prefix_bindings -= std::min(prefixes, config.prefix_bindings);
    maps_.set_config(config);
  }
  maps_.remove_route(record.id);
  maps_.remove_domain(to_name(name));
}

void Zd::add_workspace(const std::string &name, uint32_t pid,
                       const std::vector<WorkspaceSocket> &sockets) {
  validate_name("workspace", name);
  if (sockets.empty())
    throw Error("workspace '" + name +
                "' needs at least one socket (--pid with --socket, or --fd)");
  if (maps_.workspace(to_name(name)))
    throw Error("workspace '" + name + "' already exists");

  const uint64_t netns = current_netns_cookie();
  struct Checked {
    SocketInfo info;
    uint8_t serves;
  };
  std::vector<Checked> checked;
  for (const auto &socket : sockets) {
    SocketInfo info = inspect_socket(socket.fd.get());
    const uint8_t serves = socket.serves ? socket.serves : info.bound.family;
    const std::string what =
        describe(info.bound.protocol, info.bound.family) + " socket " + format_endpoint(info.bound);
    if (info.bound.protocol != IPPROTO_TCP)
      throw Error(what + " is not TCP: zd steers TCP only for now");
    if (!info.listening)
      throw Error(what + " is not listening");
    if (info.netns_cookie != netns)
      throw Error(what + " lives in another network namespace: sk_lookup cannot deliver to "
                         "it; run the workspace in this namespace");
    if (serves != info.bound.family &&
        !(serves == AF_INET && info.bound.family == AF_INET6 && !info.v6only))
      throw Error(what + " cannot take " + family_name(serves) + " connections");
    for (const auto &seen : checked)
      if (seen.info.bound.protocol == info.bound.protocol && seen.serves == serves)
        throw Error("two " + describe(info.bound.protocol, serves) + " sockets (" +
                    format_endpoint(seen.info.bound) + " and " + format_endpoint(info.bound) +
                    "): a workspace has one socket per protocol and family");
    checked.push_back({info, serves});
  }
  if (checked.size() > ZD_MAX_SOCKETS_PER_WORKSPACE)
    throw Error("a workspace has at most " + std::to_string(ZD_MAX_SOCKETS_PER_WORKSPACE) +
                " sockets");

  zd_workspace_record record{};
  record.id = allocate_id(false);
  record.pid = pid;
  record.n_sockets = static_cast<uint32_t>(checked.size());
  for (size_t i = 0; i < checked.size(); ++i) {
    const SocketInfo &info = checked[i].info;
    auto &s = record.sockets[i];
    s.protocol = info.bound.protocol;
    s.family = checked[i].serves;
    s.socket_family = info.bound.family == s.family ? 0 : info.bound.family;
    s.port = info.bound.port;
    std::memcpy(s.addr, info.bound.addr.data(), sizeof(s.addr));
    s.cookie = info.cookie;
  }

  maps_.reset_workspace_counters(record.id);
  maps_.put_workspace_name(record.id, to_name(name));
  maps_.put_workspace(to_name(name), record);
  size_t added = 0;
  try {
    for (; added < checked.size(); ++added) {
      const auto &s = record.sockets[added];
      maps_.add_socket(socket_key(record.id, s.protocol, s.family), sockets[added].fd.get());
    }
  } catch (...) {
    for (size_t i = 0; i < added; ++i)
      maps_.remove_socket(
          socket_key(record.id, record.sockets[i].protocol, record.sockets[i].family));
    maps_.remove_workspace(to_name(name));
    maps_.remove_workspace_name(record.id);
    throw;
  }
}

void Zd::remove_workspace(const std::string &name, bool force) {
  zd_workspace_record record = find_workspace(name);
  std::vector<std::pair<uint32_t, zd_route>> touched;
  for (const auto &[domain, route] : maps_.routes()) {
    if (route.active == record.id && !force)
      throw Error("workspace '" + name + "' is active for domain '" + domain_name(domain) +
                  "': switch the domain away first, or use --force");
    if (route.active == record.id)
      touched.push_back({domain, {route.previous, ZD_NO_ID}});
    else if (route.previous == record.id)
      touched.push_back({domain, {route.active, ZD_NO_ID}});
  }
  // Routes first, so no new connection is steered at a half-removed workspace.
  for (const auto &[domain, route] : touched)
    maps_.set_route(domain, route);
  for (uint32_t i = 0; i < record.n_sockets; ++i)
    maps_.remove_socket(
        socket_key(record.id, record.sockets[i].protocol, record.sockets[i].family));
  maps_.remove_workspace(to_name(name));
  maps_.remove_workspace_name(record.id);
}

SwitchResult Zd::switch_to(const std::string &domain_name, const std::string &ws_name, bool force) {
  zd_domain_record domain = find_domain(domain_name);
  zd_workspace_record workspace = find_workspace(ws_name);
  zd_route route = maps_.route(domain.id).value_or(zd_route{});
  SwitchResult result{Changed::no, workspace_name(route.active), ws_name};
  if (route.active == workspace.id)
    return result;
  if (!force)
    require_live_sockets(domain_name, domain, ws_name, workspace);
  // The switch itself: one map update.
  spdlog::debug("domain {} (id {}): route {{active {}, previous {}}} -> {{{}, {}}}", domain_name,
                domain.id, route.active, route.previous, workspace.id, route.active);
  maps_.set_route(domain.id, {workspace.id, route.active});
  result.changed = Changed::yes;
  return result;
}

SwitchResult Zd::revert(const std::string &domain_name, bool force) {
  zd_domain_record domain = find_domain(domain_name);
  auto route = maps_.route(domain.id);
  if (!route || route->previous == ZD_NO_ID)
    throw Error("domain '" + domain_name + "' has no previous workspace to revert to");
  const std::string target = workspace_name(route->previous);
  auto workspace = maps_.workspace(to_name(target));
  if (!workspace)
    throw Error("domain '" + domain_name + "' has no previous workspace to revert to");
  if (!force)
    require_live_sockets(domain_name, domain, target, *workspace);
  spdlog::debug("domain {} (id {}): route {{active {}, previous {}}} -> {{{}, {}}}", domain_name,
                domain.id, route->active, route->previous, route->previous, route->active);
  maps_.set_route(domain.id, {route->previous, route->active});
  return {Changed::yes, workspace_name(route->active), target};
}

Status Zd::status() const {
  Status status;
  auto workspaces = maps_.workspaces();
  auto ws_names = names_by_id(workspaces);
  auto name_of = [&](uint32_t id) {
    return id == ZD_NO_ID       ? std::string()
           : ws_names.count(id) ? ws_names[id]
                                : "#" + std::to_string(id);
  };

  for (const auto &[name, record] : maps_.domains()) {
    DomainStatus d;
    d.name = from_name(name);
    d.id = record.id;
    for (uint32_t i = 0; i < record.n_bindings; ++i)
      d.bindings.push_back(from_prefix_key(record.bindings[i]));
    zd_route route = maps_.route(record.id).value_or(zd_route{});
    d.active = name_of(route.active);
    d.previous = name_of(route.previous);
    d.counters = maps_.domain_counters(record.id);
    status.domains.push_back(std::move(d));
  }
  for (const auto &[name, record] : workspaces) {
    WorkspaceStatus w;
    w.name = from_name(name);
    w.id = record.id;
    w.pid = record.pid;
    for (uint32_t i = 0; i < record.n_sockets; ++i) {
      const auto &s = record.sockets[i];
      SocketStatus socket;
      socket.serves = s.family;
      socket.bound.protocol = s.protocol;
      socket.bound.family = s.socket_family ? s.socket_family : s.family;
      socket.bound.port = s.port;
      socket.bound.prefix_len = socket.bound.family == AF_INET6 ? 128 : 32;
      std::memcpy(socket.bound.addr.data(), s.addr, sizeof(s.addr));
      socket.cookie = s.cookie;
      socket.alive = socket_alive(record.id, s);
      w.sockets.push_back(socket);
    }
    w.counters = maps_.workspace_counters(record.id);
    status.workspaces.push_back(std::move(w));
  }
  auto by_name = [](const auto &a, const auto &b) { return a.name < b.name; };
  std::sort(status.domains.begin(), status.domains.end(), by_name);
  std::sort(status.workspaces.begin(), status.workspaces.end(), by_name);
  return status;
}

} // namespace zd
