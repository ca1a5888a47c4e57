// A workspace's network namespace, from the host's side: finding it again
// later (by a process of it), stepping into it for a moment, and the local
// routes that make a domain's addresses arrive there.
#pragma once

#include <cstdint>
#include <optional>

#include "fd.hpp"
#include "model.hpp"

namespace zd {

// A network namespace held open, and its identity (the inode of its nsfs
// file, as in /proc/PID/ns/net and in a netns BPF link's info).
struct Netns {
  Fd fd;
  uint64_t inode = 0;
};

// The namespace of process pid. Throws Error (not_found) for a dead pid.
Netns netns_of(int pid);

// The namespace with this inode: that of pid if it still is, else that of
// any process still in it. nullopt when no process is left there (a
// namespace that only a mount keeps alive is not found: see concepts.md).
std::optional<Netns> find_netns(uint32_t pid, uint64_t inode);

// A namespace's identity for good: its cookie (64 bits, never reused while
// the host runs; SO_NETNS_COOKIE of its sockets) and its inode.
struct NetnsId {
  uint64_t cookie = 0;
  uint64_t inode = 0;
};
// The identity of a namespace held open (cookie 0 where the kernel has no
// NS_GET_ID: then only the inode is known).
NetnsId id_of(const Netns &netns);
// The namespace with this identity for as long as it exists, whoever keeps
// it alive (a process, or only a mount such as `ip netns add` or a pod's
// pause container makes): opened by its nsfs file handle (Linux 6.18),
// without a pid, a path or a walk of /proc. nullopt once it is gone. Where
// the kernel cannot open by handle, find_netns(pid, id.inode) is tried.
std::optional<Netns> find_netns(uint32_t pid, const NetnsId &id);

// Moves this thread into a namespace and back when it goes. Sockets opened
// meanwhile (netlink included) belong to that namespace for good.
class InNetns {
public:
  explicit InNetns(const Netns &target);
  ~InNetns();
  InNetns(const InNetns &) = delete;
  InNetns &operator=(const InNetns &) = delete;

private:
  Fd home_;
};

// Turns GRO on for interface ifindex of the namespace the thread is in. On
// a veth it also gives the device the NAPI receive queue that frames
// redirected into its pair by XDP need (veth_xdp_xmit drops them without
// one), at no cost to the rest of its traffic (an XDP program there would
// copy every packet). Returns whether it was off.
bool enable_gro(int ifindex);

// The routes zd adds to the local table of a workspace's namespace so that
// a domain's addresses are delivered there: `local ADDR/LEN dev lo` with
// protocol kRouteProtocol and one metric per domain (kRouteMetricBase + its
// id), so two domains on one address each own a route, and removing one
// leaves the address local for the other. All act on the namespace the
// thread is in, and repeating one is harmless.
inline constexpr uint8_t kRouteProtocol = 122; // "zd" (/etc/iproute2/rt_protos.d)
inline constexpr uint32_t kRouteMetricBase = 1000;

// The routes of one domain: a route per binding's address or prefix.
void add_local_routes(const Domain &domain);
void remove_local_routes(const Domain &domain);
bool has_local_routes(const Domain &domain);
// Removes every route zd added here, whichever domain's; returns how many.
size_t remove_all_local_routes();

} // namespace zd
