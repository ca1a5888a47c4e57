// BpfDataplane: the core's Dataplane over the pinned BPF maps. Bindings,
// routes and counters are shared by every program; delivery to a workspace
// depends on where its sockets live: a SOCKHASH entry that the sk_lookup
// program assigns (this namespace), or the XDP plane's way into a
// container's namespace (container.hpp).
#pragma once

#include <string>

#include "data_maps.hpp"
#include "ports.hpp"

namespace zd {

class BpfDataplane final : public Dataplane {
public:
  // dir: the state directory, where the XDP plane's pins are ("" for none).
  explicit BpfDataplane(DataMaps &maps, std::string dir = "") : maps_(maps), dir_(std::move(dir)) {}

  uint64_t netns_cookie() const override;
  bool serves_other_netns() const override;

  std::optional<uint32_t> binding_owner(const Endpoint &binding) const override;
  void add_domain(const Domain &domain) override;
  void remove_domain(const Domain &domain) override;

  std::optional<Route> route(uint32_t domain) const override;
  std::vector<std::pair<uint32_t, Route>> routes() const override;
  void set_route(uint32_t domain, const Route &route) override;

  void check_workspace(const Workspace &workspace) const override;
  void add_workspace(const Workspace &workspace, const std::vector<TakenSocket> &sockets) override;
  void remove_workspace(const Workspace &workspace) override;
  bool failing(uint32_t workspace) const override;
  void set_failing(uint32_t workspace, bool failing) override;
  bool alive(const Workspace &workspace, const RegisteredSocket &socket) const override;
  bool prepared(const Domain &domain, const Workspace &workspace) const override;
  void prepare(const Domain &domain, const Workspace &workspace) override;
  void unprepare(const Domain &domain, const Workspace &workspace) override;
  std::optional<ContainerStatus> container_status(const Workspace &workspace) const override;
  size_t open_connections(const Workspace &workspace,
                          const std::vector<Domain> &domains) const override;
  std::map<uint64_t, AcceptQueue> accept_queues() const override;
  SocketTable socket_table() const override;
  std::vector<Connection> netns_connections(const Workspace &workspace) const override;
  size_t close_connections(const Workspace &workspace,
                           const std::vector<Connection> &connections) override;

  XdpStatus xdp_status() const override;
  std::vector<NodeEntry> nodes() const override;
  void put_node(const NodeEntry &node, const FabricNode &self, uint32_t mtu) override;
  std::map<uint32_t, InstanceTable> instance_tables() const override;
  void set_instances(uint32_t workspace, const std::optional<InstanceTable> &table) override;
  std::set<uint32_t> preferring_local() const override;
  void set_prefer_local(uint32_t domain, bool prefer) override;

  Counters domain_counters(uint32_t domain) const override;
  std::vector<Counters> all_domain_counters() const override;
  std::vector<Counters> all_workspace_counters() const override;
  std::vector<bool> all_failing() const override;
  Counters workspace_counters(uint32_t workspace) const override;

private:
  static std::vector<Counters> all_counters(const BpfMap &map, size_t size);
  void mark_prefix_bindings();

  DataMaps &maps_;
  std::string dir_;
};

} // namespace zd
