// The XDP plane's side of a workspace that lives in a network namespace of
// its own (a container), behind a veth pair. To receive a domain's flows
// there with their destination unchanged, such a workspace gets:
//   - its sockets in the sockets map under ZD_PLANE_XDP (bpf/zd_shared.h);
//   - a target: its host-side veth (in the devmap) and the MACs frames are
//     rewritten with;
//   - the identity of its namespace, pinned as "ws-ID-netns": with it zd
//     undoes what it did there without the app's pid, after the app died
//     and while a pod's pause container (or `ip netns add`) keeps it;
//   - zd's sk_deliver program attached to its namespace, which hands a
//     connection to a domain address to its own socket, whatever port the
//     app listens on: pinned as "ws-ID-deliver";
//   - GRO on the far end of the veth, without which a veth drops frames
//     redirected into it (host/netns.hpp says why);
//   - for each domain switched to it, the domain's addresses as local routes
//     in its namespace (host/netns.hpp).
// Every step can be repeated, and remove() undoes any prefix of add(), so a
// zdctl killed halfway is finished or undone by the next one (the crash
// sweep, tests/crash/sweep.sh, kills both at every system call).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "connections.hpp"
#include "data_maps.hpp"
#include "model.hpp"
#include "status.hpp"

namespace zd::container {

inline constexpr const char *kPinPrefix = "ws-";
inline constexpr const char *kDeliverSuffix = "-deliver";
// The identity of the workspace's namespace (host/netns.hpp's NetnsId), so
// that zd finds it again for as long as it exists, whoever keeps it alive:
// a one-entry map pinned as "ws-ID-netns".
inline constexpr const char *kNetnsSuffix = "-netns";

// True when the XDP plane is attached (its program and maps are pinned).
bool xdp_attached(const std::string &dir);

// Everything add() would refuse, checked without writing: a pid, one veth
// into its namespace (or the one --via names), and no other workspace there.
void check(const std::string &dir, const Workspace &workspace);
void add(const std::string &dir, const DataMaps &maps, const Workspace &workspace,
         const std::vector<TakenSocket> &sockets);
void remove(const std::string &dir, DataMaps &maps, const Workspace &workspace);

bool prepared(const std::string &dir, const Domain &domain, const Workspace &workspace);
void prepare(const std::string &dir, const Domain &domain, const Workspace &workspace);
void unprepare(const std::string &dir, const Domain &domain, const Workspace &workspace);

// TCP connections open in the workspace's namespace to an address of one of
// the domains (sock_diag there): 0 once the namespace is gone.
size_t open_connections(const std::string &dir, const Workspace &workspace,
                        const std::vector<Domain> &domains);

// Every open TCP connection in the workspace's namespace (sock_diag there),
// and closing some of them there: none once the namespace is gone.
std::vector<Connection> connections(const std::string &dir, const Workspace &workspace);
size_t close_connections(const std::string &dir, const Workspace &workspace,
                         const std::vector<Connection> &connections);

std::optional<ContainerStatus> status(const std::string &dir, const Workspace &workspace);

// The pins of container workspaces in dir (for detach and the state's checks).
std::vector<std::string> pins(const std::string &dir);

// Upgrade: whether every container's sk_deliver link runs this zdctl's
// program, and the swap of those that do not (one bpf_link_update each:
// the container's namespace never lacks the program).
bool deliver_current(const std::string &dir, const DataMaps &maps);
void upgrade_deliver(const std::string &dir, const DataMaps &maps);

// Detach: undoes, for every container workspace of dir, what lives outside
// bpffs (its routes, the host veth's accept_local); its links go with the
// pins. Best effort: a namespace that is gone took its part with it.
void release_all(const std::string &dir);

} // namespace zd::container
