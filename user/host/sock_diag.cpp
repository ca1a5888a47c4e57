#include "sock_diag.hpp"

#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <memory>
#include <vector>

#include "error.hpp"

namespace zd {

namespace {

struct SocketCloser {
  void operator()(mnl_socket *socket) const { mnl_socket_close(socket); }
};

int on_listener(const nlmsghdr *message, void *data) {
  const auto *diag = static_cast<const inet_diag_msg *>(mnl_nlmsg_get_payload(message));
  const uint64_t cookie = diag->id.idiag_cookie[0] | static_cast<uint64_t>(diag->id.idiag_cookie[1])
                                                         << 32;
  // For a listener, rqueue is the accept queue and wqueue its limit (the backlog).
  (*static_cast<std::map<uint64_t, AcceptQueue> *>(data))[cookie] = {diag->idiag_rqueue,
                                                                     diag->idiag_wqueue};
  return MNL_CB_OK;
}

void dump_family(mnl_socket *socket, uint8_t family, std::map<uint64_t, AcceptQueue> &out) {
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr *request = mnl_nlmsg_put_header(buf.data());
  request->nlmsg_type = SOCK_DIAG_BY_FAMILY;
  request->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  const uint32_t seq = request->nlmsg_seq = family;
  auto *req = static_cast<inet_diag_req_v2 *>(
      mnl_nlmsg_put_extra_header(request, sizeof(inet_diag_req_v2)));
  req->sdiag_family = family;
  req->sdiag_protocol = IPPROTO_TCP;
  req->idiag_states = 1u << TCP_LISTEN;
  if (mnl_socket_sendto(socket, request, request->nlmsg_len) < 0)
    throw_errno("asking sock_diag for the TCP listeners");
  const uint32_t port = mnl_socket_get_portid(socket);
  for (;;) {
    const ssize_t got = mnl_socket_recvfrom(socket, buf.data(), buf.size());
    if (got < 0)
      throw_errno("reading sock_diag's answer");
    const int rc = mnl_cb_run(buf.data(), static_cast<size_t>(got), seq, port, on_listener, &out);
    if (rc == MNL_CB_STOP)
      return;
    if (rc < 0)
      throw_errno("reading sock_diag's answer");
  }
}

} // namespace

std::map<uint64_t, AcceptQueue> listener_queues() {
  std::unique_ptr<mnl_socket, SocketCloser> socket(mnl_socket_open(NETLINK_SOCK_DIAG));
  if (!socket || mnl_socket_bind(socket.get(), 0, MNL_SOCKET_AUTOPID) < 0)
    throw_errno("opening a sock_diag socket");
  std::map<uint64_t, AcceptQueue> out;
  dump_family(socket.get(), AF_INET, out);
  dump_family(socket.get(), AF_INET6, out);
  return out;
}

} // namespace zd
