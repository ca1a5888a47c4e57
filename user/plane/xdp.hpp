// The XDP program (bpf/xdp.bpf.c) as an owned object. It shares the state's
// data-plane maps with sk_lookup (bindings, routes, sockets: one switch
// steers both planes) and has maps of its own: the flow table, the targets
// of container workspaces, the devmap and its counters.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "bpf_map.hpp"
#include "data_maps.hpp"

struct zd_xdp;

namespace zd {

enum class XdpMap { flows, targets, devmap, stats, nodes, instances, node_stats, domain_options };
inline constexpr std::array<MapName, 8> kXdpMaps = {{
    {"flows", "zd_flows"},
    {"xdp_targets", "zd_xdp_targets"},
    {"devmap", "zd_devmap"},
    {"xdp_stats", "zd_xdp_stats"},
    {"nodes", "zd_nodes"},
    {"instances", "zd_instances"},
    {"node_stats", "zd_node_stats"},
    {"domain_options", "zd_domain_options"},
}};

enum class XdpMode { native, generic };

// The program's pin in the state dir, which every link runs.
inline constexpr const char *kXdpProgramPin = "xdp_program";

// One pinned link per interface steered at, named by ifindex (interface
// names may hold a '.', which bpffs refuses).
inline constexpr const char *kXdpLinkPrefix = "xdp-link-";

// The interfaces steered at, by ifindex, from the link pins in dir (a pin
// still being made is not one).
std::vector<int> xdp_interfaces(const std::string &dir);

class XdpProgram {
public:
  // Loads the embedded program against the state's data-plane maps; its own
  // maps are those pinned under dir, or new ones where none is pinned yet.
  static XdpProgram load(const DataMaps &shared, const std::string &dir);

  int fd() const;
  // Pins the maps of its own that dir does not hold yet.
  void pin_missing_maps(const std::string &dir) const;

private:
  struct Destroy {
    void operator()(zd_xdp *skel) const;
  };
  explicit XdpProgram(zd_xdp *skel) : skel_(skel) {}

  std::unique_ptr<zd_xdp, Destroy> skel_;
};

} // namespace zd
