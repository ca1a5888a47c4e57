#include "netns.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "error.hpp"
#include "parse.hpp"
#include "rtnetlink.hpp"

namespace zd {

namespace {

std::optional<Netns> open_netns(const std::string &path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd)
    return std::nullopt;
  struct stat st {};
  if (fstat(fd.get(), &st) != 0)
    return std::nullopt;
  return Netns{std::move(fd), static_cast<uint64_t>(st.st_ino)};
}

std::string ns_path(uint64_t pid) {
  return "/proc/" + std::to_string(pid) + "/ns/net";
}

} // namespace

Netns netns_of(int pid) {
  auto netns = open_netns(ns_path(static_cast<uint64_t>(pid)));
  if (!netns) {
    if (errno == ENOENT || errno == ESRCH)
      throw Error(Errc::not_found, "no process with pid " + std::to_string(pid));
    throw_errno("opening " + ns_path(static_cast<uint64_t>(pid)));
  }
  return std::move(*netns);
}

std::optional<Netns> find_netns(uint32_t pid, uint64_t inode) {
  if (inode == 0)
    return std::nullopt;
  if (pid != 0)
    if (auto netns = open_netns(ns_path(pid)); netns && netns->inode == inode)
      return netns;
  // The recorded process is gone: any other one of the namespace will do.
  std::unique_ptr<DIR, int (*)(DIR *)> proc(opendir("/proc"), closedir);
  if (!proc)
    throw_errno("listing /proc");
  while (const dirent *entry = readdir(proc.get())) {
    char *end = nullptr;
    const unsigned long other = std::strtoul(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0')
      continue;
    if (auto netns = open_netns(ns_path(other)); netns && netns->inode == inode)
      return netns;
  }
  return std::nullopt;
}

namespace {

// The nsfs file handle (include/uapi/linux/nsfs.h of Linux 6.18, newer than
// this system's headers): a namespace named by id, type and inode, opened
// with open_by_handle_at() against FD_NSFS_ROOT.
constexpr int kFileIdNsfs = 0xf1;
constexpr int kFdNsfsRoot = -10003;
constexpr unsigned long kNsGetId = _IOR(0xb7, 13, uint64_t);
struct NsfsHandle {
  uint64_t ns_id;
  uint32_t ns_type;
  uint32_t ns_inum;
};

} // namespace

NetnsId id_of(const Netns &netns) {
  NetnsId id{0, netns.inode};
  uint64_t cookie = 0;
  if (ioctl(netns.fd.get(), kNsGetId, &cookie) == 0)
    id.cookie = cookie;
  return id;
}

std::optional<Netns> find_netns(uint32_t pid, const NetnsId &id) {
  if (id.inode == 0)
    return std::nullopt;
  if (id.cookie != 0) {
    alignas(file_handle) unsigned char bytes[sizeof(file_handle) + sizeof(NsfsHandle)] = {};
    auto *handle = reinterpret_cast<file_handle *>(bytes);
    handle->handle_bytes = sizeof(NsfsHandle);
    handle->handle_type = kFileIdNsfs;
    const NsfsHandle nsfs{id.cookie, CLONE_NEWNET, static_cast<uint32_t>(id.inode)};
    std::memcpy(bytes + sizeof(file_handle), &nsfs, sizeof(nsfs));
    Fd fd(open_by_handle_at(kFdNsfsRoot, handle, O_RDONLY | O_CLOEXEC));
    if (fd)
      return Netns{std::move(fd), id.inode};
    if (errno == ESTALE || errno == ENOENT)
      return std::nullopt; // gone: no other way would find it either
    if (errno == EPERM)
      throw Error(Errc::privilege, "opening a workspace's network namespace needs "
                                   "CAP_SYS_ADMIN over its owner");
    // An older kernel: what processes and mounts show.
  }
  return find_netns(pid, id.inode);
}

InNetns::InNetns(const Netns &target)
    : home_(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) {
  if (!home_)
    throw_errno("opening this thread's network namespace");
  if (setns(target.fd.get(), CLONE_NEWNET) != 0)
    throw_errno("entering the workspace's network namespace");
}

InNetns::~InNetns() {
  // Cannot fail for a namespace we came from while holding its fd; if it
  // did, going on in the wrong namespace would be worse than stopping.
  if (setns(home_.get(), CLONE_NEWNET) != 0)
    std::abort();
}

bool enable_gro(int ifindex) {
  Fd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd)
    throw_errno("opening a socket for ethtool");
  ifreq ifr{};
  if (!if_indextoname(static_cast<unsigned>(ifindex), ifr.ifr_name))
    throw_errno("naming interface " + std::to_string(ifindex));
  ethtool_value value{};
  value.cmd = ETHTOOL_GGRO;
  ifr.ifr_data = reinterpret_cast<char *>(&value);
  if (ioctl(fd.get(), SIOCETHTOOL, &ifr) != 0)
    throw_errno(std::string("reading GRO of ") + ifr.ifr_name);
  if (value.data)
    return false;
  value = {ETHTOOL_SGRO, 1};
  if (ioctl(fd.get(), SIOCETHTOOL, &ifr) != 0)
    throw_errno(std::string("turning GRO on for ") + ifr.ifr_name);
  return true;
}

namespace {

constexpr int kLoopback = 1; // lo is ifindex 1 in every network namespace

// A local route request for prefix, owned by domain.
nlmsghdr *put_route(std::vector<char> &buf, uint16_t type, uint16_t flags, const Endpoint &prefix,
                    uint32_t domain) {
  nlmsghdr *request = mnl_nlmsg_put_header(buf.data());
  request->nlmsg_type = type;
  request->nlmsg_flags = NLM_F_REQUEST | flags;
  auto *rt = static_cast<rtmsg *>(mnl_nlmsg_put_extra_header(request, sizeof(rtmsg)));
  rt->rtm_family = prefix.family;
  rt->rtm_dst_len = prefix.prefix_len;
  rt->rtm_table = RT_TABLE_LOCAL;
  rt->rtm_protocol = kRouteProtocol;
  rt->rtm_scope = RT_SCOPE_HOST;
  rt->rtm_type = RTN_LOCAL;
  mnl_attr_put(request, RTA_DST, prefix.family == AF_INET ? 4 : 16, prefix.addr.data());
  mnl_attr_put_u32(request, RTA_OIF, kLoopback);
  mnl_attr_put_u32(request, RTA_PRIORITY, kRouteMetricBase + domain);
  return request;
}

struct ZdRoute {
  Endpoint prefix;
  uint32_t metric = 0;
};

// Every route zd added to the local table here.
std::vector<ZdRoute> zd_routes(mnl_socket *nl) {
  std::vector<ZdRoute> out;
  for (uint8_t family : {uint8_t{AF_INET}, uint8_t{AF_INET6}}) {
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr *request = mnl_nlmsg_put_header(buf.data());
    request->nlmsg_type = RTM_GETROUTE;
    request->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    auto *rt = static_cast<rtmsg *>(mnl_nlmsg_put_extra_header(request, sizeof(rtmsg)));
    rt->rtm_family = family;
    rtnl::exchange(
        nl, request,
        [](const nlmsghdr *message, void *data) -> int {
          const auto *rt = static_cast<const rtmsg *>(mnl_nlmsg_get_payload(message));
          if (rt->rtm_protocol != kRouteProtocol || rt->rtm_type != RTN_LOCAL)
            return MNL_CB_OK;
          ZdRoute route;
          route.prefix.family = rt->rtm_family;
          route.prefix.prefix_len = rt->rtm_dst_len;
          mnl_attr_parse(
              message, sizeof(rtmsg),
              [](const nlattr *attr, void *r) -> int {
                auto &route = *static_cast<ZdRoute *>(r);
                if (mnl_attr_get_type(attr) == RTA_DST)
                  std::memcpy(route.prefix.addr.data(), mnl_attr_get_payload(attr),
                              std::min<size_t>(16, mnl_attr_get_payload_len(attr)));
                else if (mnl_attr_get_type(attr) == RTA_PRIORITY)
                  route.metric = mnl_attr_get_u32(attr);
                return MNL_CB_OK;
              },
              &route);
          static_cast<std::vector<ZdRoute> *>(data)->push_back(route);
          return MNL_CB_OK;
        },
        &out);
  }
  return out;
}

void remove(mnl_socket *nl, const Endpoint &prefix, uint32_t metric) {
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr *request = put_route(buf, RTM_DELROUTE, 0, prefix, metric - kRouteMetricBase);
  if (int err = rtnl::change(nl, request); err != 0 && err != ESRCH)
    throw_errno("removing the local route " + format_prefix(prefix), err);
}

} // namespace

void add_local_routes(const Domain &domain) {
  rtnl::Socket nl = rtnl::open();
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  for (const Endpoint &binding : domain.bindings) {
    nlmsghdr *request = put_route(buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, binding, domain.id);
    // EEXIST: this domain has another binding on the address, or a repeat.
    if (int err = rtnl::change(nl.get(), request); err != 0 && err != EEXIST)
      throw_errno("adding the local route " + format_prefix(binding), err);
  }
}

void remove_local_routes(const Domain &domain) {
  rtnl::Socket nl = rtnl::open();
  for (const Endpoint &binding : domain.bindings)
    remove(nl.get(), binding, kRouteMetricBase + domain.id);
}

bool has_local_routes(const Domain &domain) {
  rtnl::Socket nl = rtnl::open();
  const std::vector<ZdRoute> routes = zd_routes(nl.get()); // one dump for all bindings
  return std::all_of(domain.bindings.begin(), domain.bindings.end(), [&](const Endpoint &b) {
    return std::any_of(routes.begin(), routes.end(), [&](const ZdRoute &route) {
      return route.metric == kRouteMetricBase + domain.id && route.prefix.family == b.family &&
             route.prefix.prefix_len == b.prefix_len && route.prefix.addr == b.addr;
    });
  });
}

size_t remove_all_local_routes() {
  rtnl::Socket nl = rtnl::open();
  const std::vector<ZdRoute> routes = zd_routes(nl.get());
  for (const ZdRoute &route : routes)
    remove(nl.get(), route.prefix, route.metric);
  return routes.size();
}

} // namespace zd
