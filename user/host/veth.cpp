#include "veth.hpp"

#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/net_namespace.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "error.hpp"
#include "fd.hpp"
#include "rtnetlink.hpp"

namespace zd {

namespace {

// The id this namespace knows the namespace of fd by; nullopt if it has none
// (then no veth of ours leads there).
std::optional<int32_t> nsid_of(mnl_socket *nl, int netns_fd) {
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr *request = mnl_nlmsg_put_header(buf.data());
  request->nlmsg_type = RTM_GETNSID;
  request->nlmsg_flags = NLM_F_REQUEST;
  auto *gen = static_cast<rtgenmsg *>(mnl_nlmsg_put_extra_header(request, sizeof(rtgenmsg)));
  gen->rtgen_family = AF_UNSPEC;
  mnl_attr_put_u32(request, NETNSA_FD, static_cast<uint32_t>(netns_fd));
  int32_t nsid = NETNSA_NSID_NOT_ASSIGNED;
  rtnl::exchange(
      nl, request,
      [](const nlmsghdr *message, void *data) -> int {
        mnl_attr_parse(
            message, sizeof(rtgenmsg),
            [](const nlattr *attr, void *out) -> int {
              if (mnl_attr_get_type(attr) == NETNSA_NSID)
                *static_cast<int32_t *>(out) = static_cast<int32_t>(mnl_attr_get_u32(attr));
              return MNL_CB_OK;
            },
            data);
        return MNL_CB_STOP; // one answer
      },
      &nsid);
  if (nsid == NETNSA_NSID_NOT_ASSIGNED)
    return std::nullopt;
  return nsid;
}

struct Link {
  int ifindex = 0;
  std::string name, kind;
  Mac mac{};
  int peer_ifindex = 0;
  std::optional<int32_t> peer_nsid;
};

int parse_link(const nlmsghdr *message, void *data) {
  auto *links = static_cast<std::vector<Link> *>(data);
  const auto *info = static_cast<const ifinfomsg *>(mnl_nlmsg_get_payload(message));
  Link link;
  link.ifindex = info->ifi_index;
  struct Parsed {
    Link *link;
  } parsed{&link};
  mnl_attr_parse(
      message, sizeof(ifinfomsg),
      [](const nlattr *attr, void *p) -> int {
        Link &l = *static_cast<Parsed *>(p)->link;
        switch (mnl_attr_get_type(attr)) {
        case IFLA_IFNAME:
          l.name = mnl_attr_get_str(attr);
          break;
        case IFLA_ADDRESS:
          if (mnl_attr_get_payload_len(attr) == 6)
            std::memcpy(l.mac.data(), mnl_attr_get_payload(attr), 6);
          break;
        case IFLA_LINK:
          l.peer_ifindex = static_cast<int>(mnl_attr_get_u32(attr));
          break;
        case IFLA_LINK_NETNSID:
          l.peer_nsid = static_cast<int32_t>(mnl_attr_get_u32(attr));
          break;
        case IFLA_LINKINFO:
          mnl_attr_parse_nested(
              attr,
              [](const nlattr *nested, void *q) -> int {
                if (mnl_attr_get_type(nested) == IFLA_INFO_KIND)
                  static_cast<Link *>(q)->kind = mnl_attr_get_str(nested);
                return MNL_CB_OK;
              },
              &l);
          break;
        }
        return MNL_CB_OK;
      },
      &parsed);
  links->push_back(link);
  return MNL_CB_OK;
}

// Links of this namespace (target < 0), or of the namespace with that id.
std::vector<Link> links(mnl_socket *nl, std::optional<int32_t> target, int ifindex = 0) {
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr *request = mnl_nlmsg_put_header(buf.data());
  request->nlmsg_type = RTM_GETLINK;
  request->nlmsg_flags = NLM_F_REQUEST | (ifindex ? 0 : NLM_F_DUMP);
  auto *info = static_cast<ifinfomsg *>(mnl_nlmsg_put_extra_header(request, sizeof(ifinfomsg)));
  info->ifi_family = AF_UNSPEC;
  info->ifi_index = ifindex;
  if (target)
    mnl_attr_put_u32(request, IFLA_TARGET_NETNSID, static_cast<uint32_t>(*target));
  std::vector<Link> out;
  rtnl::exchange(nl, request, ifindex ? [](const nlmsghdr *m, void *d) -> int {
    parse_link(m, d);
    return MNL_CB_STOP;
  } : parse_link, &out);
  return out;
}

} // namespace

std::vector<VethPair> veths_into(int pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/ns/net";
  Fd netns(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!netns) {
    if (errno == ENOENT)
      throw Error(Errc::not_found, "no process with pid " + std::to_string(pid));
    throw_errno("opening " + path);
  }
  rtnl::Socket nl = rtnl::open();
  const std::optional<int32_t> nsid = nsid_of(nl.get(), netns.get());
  std::vector<VethPair> out;
  if (!nsid)
    return out;
  for (const Link &link : links(nl.get(), std::nullopt)) {
    if (link.kind != "veth" || link.peer_nsid != nsid || link.peer_ifindex == 0)
      continue;
    VethPair pair{link.name, link.ifindex, link.mac, link.peer_ifindex, {}};
    for (const Link &peer : links(nl.get(), nsid, link.peer_ifindex))
      pair.peer_mac = peer.mac;
    out.push_back(pair);
  }
  return out;
}

} // namespace zd
