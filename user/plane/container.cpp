#include "container.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "error.hpp"
#include "keys.hpp"
#include "netns.hpp"
#include "parse.hpp"
#include "sk_deliver.skel.h"
#include "sock_diag.hpp"
#include "veth.hpp"
#include "xdp.hpp"

namespace zd::container {

namespace {

std::string pin_of(const std::string &dir, uint32_t workspace, const char *suffix) {
  return dir + "/" + kPinPrefix + std::to_string(workspace) + suffix;
}

bool exists(const std::string &path) {
  return access(path.c_str(), F_OK) == 0;
}

// The workspace id in a "ws-ID-..." pin's name.
uint32_t workspace_of_pin(const std::string &pin) {
  const std::string name = std::filesystem::path(pin).filename().string();
  return static_cast<uint32_t>(std::strtoul(name.c_str() + std::strlen(kPinPrefix), nullptr, 10));
}

BpfMap xdp_map(const std::string &dir, XdpMap map, OpenFor open_for = OpenFor::write) {
  return BpfMap::open_pin(dir, kXdpMaps[static_cast<size_t>(map)].pin, open_for);
}

zd_socket_key key_of(const Workspace &workspace, const RegisteredSocket &socket) {
  return socket_key(workspace.id, socket.bound.protocol, socket.serves, ZD_PLANE_XDP);
}

// The namespace a pinned sk_lookup link is attached to (its inode), or 0
// when the link or the namespace is gone.
uint64_t netns_inode_of_link(const std::string &pin) {
  Fd link(bpf_obj_get(pin.c_str()));
  if (!link)
    return 0;
  bpf_link_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(link.get(), &info, &len) != 0)
    throw_errno("reading the link pinned at " + pin);
  return info.type == BPF_LINK_TYPE_NETNS ? info.netns.netns_ino : 0;
}

// The "ws-ID-netns" pin: the identity of the workspace's namespace.
struct NetnsRecord {
  uint64_t cookie;
  uint64_t inode;
};

std::optional<NetnsId> recorded_netns(const std::string &pin) {
  LIBBPF_OPTS(bpf_obj_get_opts, read_only, .file_flags = BPF_F_RDONLY);
  Fd fd(bpf_obj_get_opts(pin.c_str(), &read_only)); // status may read a state, not write it
  if (!fd)
    return std::nullopt;
  BpfMap map(std::move(fd), pin);
  map.require_shape(BPF_MAP_TYPE_ARRAY, sizeof(uint32_t), sizeof(NetnsRecord));
  NetnsRecord record{};
  if (!map.lookup(uint32_t{0}, record) || record.inode == 0)
    return std::nullopt;
  return NetnsId{record.cookie, record.inode};
}

void record_netns(const std::string &dir, const Workspace &workspace, const NetnsId &id) {
  const std::string pin = pin_of(dir, workspace.id, kNetnsSuffix);
  BpfMap map =
      BpfMap::create(BPF_MAP_TYPE_ARRAY, "zd_ws_netns", sizeof(uint32_t), sizeof(NetnsRecord), 1);
  map.update(uint32_t{0}, NetnsRecord{id.cookie, id.inode});
  pin_whole(map.fd(), pin); // over one a killed add left: the same workspace's
}

// The workspace's namespace: by the identity recorded when it was added,
// for as long as the namespace exists; for a state of an earlier zdctl,
// through the link zd holds there while a process still lives in it.
std::optional<Netns> netns_of_workspace(const std::string &dir, const Workspace &workspace) {
  if (auto id = recorded_netns(pin_of(dir, workspace.id, kNetnsSuffix)))
    return find_netns(workspace.pid, *id);
  return find_netns(workspace.pid, netns_inode_of_link(pin_of(dir, workspace.id, kDeliverSuffix)));
}

VethPair choose_veth(const Workspace &workspace) {
  const std::vector<VethPair> veths = veths_into(static_cast<int>(workspace.pid));
  const std::string where = "the network namespace of pid " + std::to_string(workspace.pid);
  if (!workspace.via.empty()) {
    for (const auto &veth : veths)
      if (veth.host_name == workspace.via)
        return veth;
    throw Error(Errc::invalid,
                "interface " + printable(workspace.via) + " is not a veth into " + where);
  }
  if (veths.empty())
    throw Error(Errc::refused, "no veth leads from this namespace into " + where +
                                   ": the XDP plane reaches a container through its veth pair");
  if (veths.size() > 1) {
    std::string names;
    for (const auto &veth : veths)
      names += (names.empty() ? "" : ", ") + veth.host_name;
    throw Error(Errc::invalid, "several veths lead into " + where + " (" + names +
                                   "): name the one to use with --via");
  }
  return veths.front();
}

// One container workspace per namespace: its routes and programs there are
// the workspace's alone, so removing it can take all of them.
void require_namespace_free(const std::string &dir, const Workspace &workspace, uint64_t inode) {
  for (const auto &pin : pins(dir)) {
    if (workspace_of_pin(pin) == workspace.id)
      continue;
    const bool same = pin.ends_with(kDeliverSuffix) ? netns_inode_of_link(pin) == inode
                      : pin.ends_with(kNetnsSuffix)
                          ? recorded_netns(pin).value_or(NetnsId{}).inode == inode
                          : false;
    if (same)
      throw Error(Errc::exists, "another workspace already lives in the network namespace of pid " +
                                    std::to_string(workspace.pid) +
                                    ": zd serves one workspace per container namespace");
  }
}

void add_sockets(const DataMaps &maps, const Workspace &workspace,
                 const std::vector<TakenSocket> &sockets) {
  const BpfMap &map = maps[DataMap::sockets];
  for (size_t i = 0; i < workspace.sockets.size(); ++i) {
    const zd_socket_key key = key_of(workspace, workspace.sockets[i]);
    const uint64_t fd = static_cast<uint64_t>(taken_for(sockets, workspace.sockets[i]).fd.get());
    if (bpf_map_update_elem(map.fd(), &key, &fd, BPF_ANY) != 0)
      throw_errno("adding socket to map sockets");
  }
}

struct DeliverSkel {
  void operator()(zd_sk_deliver *skel) const { zd_sk_deliver__destroy(skel); }
};

using DeliverProgram = std::unique_ptr<zd_sk_deliver, DeliverSkel>;

// The embedded sk_deliver program, loaded for one workspace.
DeliverProgram load_deliver(const DataMaps &maps, uint32_t workspace) {
  DeliverProgram skel(zd_sk_deliver__open());
  if (!skel)
    throw_errno("opening the embedded sk_deliver object");
  skel->rodata->zd_workspace = workspace;
  maps.reuse_in(skel->obj);
  if (int err = zd_sk_deliver__load(skel.get()); err != 0)
    throw_errno("loading the sk_deliver program", -err);
  return skel;
}

bpf_prog_info program_info(int fd) {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0)
    throw_errno("reading a program's info");
  return info;
}

// The program a pinned link runs; the link is opened into `link`.
Fd program_of_link(const std::string &pin, Fd &link) {
  link.reset(bpf_obj_get(pin.c_str()));
  if (!link)
    throw_errno("opening " + pin);
  bpf_link_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(link.get(), &info, &len) != 0)
    throw_errno("reading the link pinned at " + pin);
  Fd program(bpf_prog_get_fd_by_id(info.prog_id));
  if (!program)
    throw_errno("opening the program of " + pin);
  return program;
}

// zd's sk_lookup for this one workspace, attached in its namespace.
void attach_deliver(const std::string &dir, const DataMaps &maps, const Workspace &workspace,
                    const Netns &netns) {
  const std::string pin = pin_of(dir, workspace.id, kDeliverSuffix);
  if (exists(pin))
    return;
  DeliverProgram skel = load_deliver(maps, workspace.id);
  Fd link(bpf_link_create(bpf_program__fd(skel->progs.zd_deliver), netns.fd.get(), BPF_SK_LOOKUP,
                          nullptr));
  if (!link)
    throw_errno("attaching sk_lookup in the workspace's network namespace");
  pin_whole(link.get(), pin);
}

// GRO on the workspace's end of the veth: a veth accepts frames redirected
// into its pair only with a NAPI queue, which GRO (or an XDP program) gives
// it. Left on when the workspace goes: it is a plain setting, and the
// container may rely on it by then.
void receive_redirects(const Workspace &workspace, const Netns &netns, int peer_ifindex) {
  InNetns inside(netns);
  if (enable_gro(peer_ifindex))
    spdlog::debug("turned GRO on for the veth in workspace '{}'", workspace.name);
}

// Replies leave the workspace from the domain's address, and the host
// forwards them to the client. Where the host has that address local too
// (it serves the domain's host workspaces), it takes such a packet for a
// martian unless the interface it came in on accepts local sources.
void accept_local_sources(const std::string &interface, bool accept) {
  const std::string path = "/proc/sys/net/ipv4/conf/" + interface + "/accept_local";
  Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd && errno == ENOENT)
    return; // the interface is gone
  if (!fd || write(fd.get(), accept ? "1" : "0", 1) != 1)
    throw_errno("writing " + path);
}

} // namespace

bool xdp_attached(const std::string &dir) {
  return !dir.empty() && exists(dir + "/" + kXdpProgramPin) && !xdp_interfaces(dir).empty();
}

std::vector<std::string> pins(const std::string &dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto &entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kPinPrefix, 0) == 0)
      out.push_back(entry.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool deliver_current(const std::string &dir, const DataMaps &maps) {
  std::optional<bpf_prog_info> embedded;
  for (const auto &pin : pins(dir)) {
    if (!pin.ends_with(kDeliverSuffix))
      continue;
    if (!embedded) // the tag leaves out the workspace id (a map value)
      embedded = program_info(bpf_program__fd(load_deliver(maps, 0)->progs.zd_deliver));
    Fd link;
    const bpf_prog_info running = program_info(program_of_link(pin, link).get());
    if (std::memcmp(running.tag, embedded->tag, sizeof(running.tag)) != 0)
      return false;
  }
  return true;
}

void upgrade_deliver(const std::string &dir, const DataMaps &maps) {
  for (const auto &pin : pins(dir)) {
    if (!pin.ends_with(kDeliverSuffix))
      continue;
    Fd link;
    const Fd running = program_of_link(pin, link);
    DeliverProgram fresh = load_deliver(maps, workspace_of_pin(pin));
    LIBBPF_OPTS(bpf_link_update_opts, opts, .flags = BPF_F_REPLACE,
                .old_prog_fd = static_cast<uint32_t>(running.get()));
    if (bpf_link_update(link.get(), bpf_program__fd(fresh->progs.zd_deliver), &opts) != 0)
      throw_errno("replacing the program of " + pin);
  }
}

void release_all(const std::string &dir) {
  for (const auto &pin : pins(dir)) {
    std::optional<Netns> netns;
    if (pin.ends_with(kNetnsSuffix)) {
      if (auto id = recorded_netns(pin))
        netns = find_netns(0, *id);
    } else if (pin.ends_with(kDeliverSuffix) &&
               !exists(pin_of(dir, workspace_of_pin(pin), kNetnsSuffix))) {
      netns = find_netns(0, netns_inode_of_link(pin)); // a state of an earlier zdctl
    }
    if (netns) {
      InNetns inside(*netns);
      remove_all_local_routes();
    }
  }
  if (!exists(dir + "/" + kXdpMaps[static_cast<size_t>(XdpMap::targets)].pin))
    return;
  for (const auto &[id, target] :
       xdp_map(dir, XdpMap::targets).entries<uint32_t, zd_xdp_target>()) {
    char name[IF_NAMESIZE] = {};
    if (if_indextoname(target.ifindex, name))
      accept_local_sources(name, false);
  }
}

void check(const std::string &dir, const Workspace &workspace) {
  if (workspace.pid == 0)
    throw Error(Errc::invalid, "a socket of another network namespace is registered with --pid "
                               "(zd finds that namespace's veth through the process)");
  choose_veth(workspace);
  require_namespace_free(dir, workspace, netns_of(static_cast<int>(workspace.pid)).inode);
}

void add(const std::string &dir, const DataMaps &maps, const Workspace &workspace,
         const std::vector<TakenSocket> &sockets) {
  // check() ran before the intent; what it found is looked up again here.
  const VethPair veth = choose_veth(workspace);
  const Netns netns = netns_of(static_cast<int>(workspace.pid));
  require_namespace_free(dir, workspace, netns.inode);
  BpfMap targets = xdp_map(dir, XdpMap::targets);
  BpfMap devmap = xdp_map(dir, XdpMap::devmap);

  // Its identity first, so that remove() finds the namespace from any point.
  record_netns(dir, workspace, id_of(netns));
  {
    // No other workspace lives there, so a zd route there is a leftover (of
    // an app that died before its workspace was removed, by an earlier
    // zdctl): it would make an address local that no switch gave it.
    InNetns inside(netns);
    if (const size_t stale = remove_all_local_routes())
      spdlog::debug("removed {} stale zd routes in workspace '{}'", stale, workspace.name);
  }
  add_sockets(maps, workspace, sockets);
  // The target first: it names the veth, so that remove() can undo the
  // steps below from any point. Nothing routes to the workspace yet, and
  // until the devmap holds the veth a redirect falls back to the host.
  const auto ifindex = static_cast<uint32_t>(veth.host_ifindex);
  zd_xdp_target target{};
  target.ifindex = ifindex;
  std::memcpy(target.dst_mac, veth.peer_mac.data(), 6);
  std::memcpy(target.src_mac, veth.host_mac.data(), 6);
  targets.update(workspace.id, target);
  attach_deliver(dir, maps, workspace, netns);
  receive_redirects(workspace, netns, veth.peer_ifindex);
  accept_local_sources(veth.host_name, true);
  devmap.update(ifindex, ifindex);
}

void remove(const std::string &dir, DataMaps &maps, const Workspace &workspace) {
  if (!xdp_attached(dir) && !exists(pin_of(dir, workspace.id, kDeliverSuffix)) &&
      !exists(pin_of(dir, workspace.id, kNetnsSuffix)))
    return; // detached: the pins and maps went with it
  BpfMap targets = xdp_map(dir, XdpMap::targets);
  zd_xdp_target target{};
  const bool targeted = targets.lookup(workspace.id, target);
  if (targeted) {
    // The devmap first: without it a redirect falls back to the host stack.
    xdp_map(dir, XdpMap::devmap).erase(target.ifindex);
    char name[IF_NAMESIZE] = {};
    if (if_indextoname(target.ifindex, name))
      accept_local_sources(name, false);
  }
  // The routes before the link that leads to their namespace.
  if (auto netns = netns_of_workspace(dir, workspace)) {
    InNetns inside(*netns);
    remove_all_local_routes();
  }
  const std::string pin = pin_of(dir, workspace.id, kDeliverSuffix);
  if (unlink(pin.c_str()) != 0 && errno != ENOENT)
    throw_errno("removing " + pin);
  // Last but the sockets: it names the veth for a repeat of the above.
  if (targeted)
    targets.erase(workspace.id);
  const std::string identity = pin_of(dir, workspace.id, kNetnsSuffix);
  if (unlink(identity.c_str()) != 0 && errno != ENOENT)
    throw_errno("removing " + identity);
  for (const auto &socket : workspace.sockets)
    maps[DataMap::sockets].erase(key_of(workspace, socket));
}

bool prepared(const std::string &dir, const Domain &domain, const Workspace &workspace) {
  auto netns = netns_of_workspace(dir, workspace);
  if (!netns)
    return true; // nothing left to prepare: its namespace is gone
  InNetns inside(*netns);
  return has_local_routes(domain);
}

void prepare(const std::string &dir, const Domain &domain, const Workspace &workspace) {
  auto netns = netns_of_workspace(dir, workspace);
  if (!netns)
    return; // a forced switch to a container that is gone: nothing to receive
  InNetns inside(*netns);
  add_local_routes(domain);
}

void unprepare(const std::string &dir, const Domain &domain, const Workspace &workspace) {
  auto netns = netns_of_workspace(dir, workspace);
  if (!netns)
    return; // its routes went with it
  InNetns inside(*netns);
  remove_local_routes(domain);
}

size_t open_connections(const std::string &dir, const Workspace &workspace,
                        const std::vector<Domain> &domains) {
  auto netns = netns_of_workspace(dir, workspace);
  if (!netns)
    return 0;
  std::vector<Endpoint> open;
  {
    InNetns inside(*netns);
    open = connection_endpoints();
  }
  return static_cast<size_t>(std::count_if(open.begin(), open.end(), [&](const Endpoint &local) {
    return std::any_of(domains.begin(), domains.end(), [&](const Domain &domain) {
      return std::any_of(domain.bindings.begin(), domain.bindings.end(),
                         [&](const Endpoint &binding) { return binding.covers(local); });
    });
  }));
}

std::vector<Connection> connections(const std::string &dir, const Workspace &workspace) {
  auto netns = netns_of_workspace(dir, workspace);
  if (!netns)
    return {};
  InNetns inside(*netns);
  return tcp_connections();
}

size_t close_connections(const std::string &dir, const Workspace &workspace,
                         const std::vector<Connection> &connections) {
  auto netns = netns_of_workspace(dir, workspace);
  if (!netns || connections.empty())
    return 0;
  InNetns inside(*netns);
  return destroy_connections(connections);
}

std::optional<ContainerStatus> status(const std::string &dir, const Workspace &workspace) {
  ContainerStatus status;
  status.netns = netns_inode_of_link(pin_of(dir, workspace.id, kDeliverSuffix));
  if (xdp_attached(dir)) {
    zd_xdp_target target{};
    if (xdp_map(dir, XdpMap::targets, OpenFor::read).lookup(workspace.id, target)) {
      char name[IF_NAMESIZE] = {};
      status.interface = if_indextoname(target.ifindex, name)
                             ? std::string(name)
                             : "#" + std::to_string(target.ifindex);
    }
  }
  return status;
}

} // namespace zd::container
