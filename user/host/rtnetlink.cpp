#include "rtnetlink.hpp"

#include <cerrno>
#include <vector>

#include "error.hpp"

namespace zd::rtnl {

Socket open() {
  Socket nl(mnl_socket_open(NETLINK_ROUTE));
  if (!nl || mnl_socket_bind(nl.get(), 0, MNL_SOCKET_AUTOPID) < 0)
    throw_errno("opening an rtnetlink socket");
  return nl;
}

namespace {

// mnl_cb_run's answer, or -1 with errno: the kernel's refusal of the request.
int run(mnl_socket *nl, nlmsghdr *request, mnl_cb_t callback, void *data) {
  static uint32_t seq = 1;
  request->nlmsg_seq = ++seq;
  if (mnl_socket_sendto(nl, request, request->nlmsg_len) < 0)
    throw_errno("asking rtnetlink");
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  const uint32_t port = mnl_socket_get_portid(nl);
  for (;;) {
    const ssize_t got = mnl_socket_recvfrom(nl, buf.data(), buf.size());
    if (got < 0)
      throw_errno("reading rtnetlink's answer");
    const int rc =
        mnl_cb_run(buf.data(), static_cast<size_t>(got), request->nlmsg_seq, port, callback, data);
    if (rc <= MNL_CB_STOP)
      return rc;
  }
}

} // namespace

void exchange(mnl_socket *nl, nlmsghdr *request, mnl_cb_t callback, void *data) {
  if (run(nl, request, callback, data) < 0)
    throw_errno("reading rtnetlink's answer");
}

int change(mnl_socket *nl, nlmsghdr *request) {
  request->nlmsg_flags |= NLM_F_ACK;
  return run(nl, request, nullptr, nullptr) < 0 ? errno : 0;
}

} // namespace zd::rtnl
