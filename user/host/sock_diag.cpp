#include "sock_diag.hpp"

#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <arpa/inet.h>

#include <cstring>
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

int on_connection(const nlmsghdr *message, void *data) {
  const auto *diag = static_cast<const inet_diag_msg *>(mnl_nlmsg_get_payload(message));
  Endpoint local;
  local.protocol = IPPROTO_TCP;
  local.family = diag->idiag_family;
  local.port = ntohs(diag->id.idiag_sport);
  local.prefix_len = static_cast<uint8_t>(local.address_bits());
  std::memcpy(local.addr.data(), diag->id.idiag_src, local.family == AF_INET ? 4 : 16);
  static_cast<std::vector<Endpoint> *>(data)->push_back(local);
  return MNL_CB_OK;
}

void dump_family(mnl_socket *socket, uint8_t family, uint32_t states, mnl_cb_t callback,
                 void *out) {
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr *request = mnl_nlmsg_put_header(buf.data());
  request->nlmsg_type = SOCK_DIAG_BY_FAMILY;
  request->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  const uint32_t seq = request->nlmsg_seq = family;
  auto *req = static_cast<inet_diag_req_v2 *>(
      mnl_nlmsg_put_extra_header(request, sizeof(inet_diag_req_v2)));
  req->sdiag_family = family;
  req->sdiag_protocol = IPPROTO_TCP;
  req->idiag_states = states;
  if (mnl_socket_sendto(socket, request, request->nlmsg_len) < 0)
    throw_errno("asking sock_diag for TCP sockets");
  const uint32_t port = mnl_socket_get_portid(socket);
  for (;;) {
    const ssize_t got = mnl_socket_recvfrom(socket, buf.data(), buf.size());
    if (got < 0)
      throw_errno("reading sock_diag's answer");
    const int rc = mnl_cb_run(buf.data(), static_cast<size_t>(got), seq, port, callback, out);
    if (rc == MNL_CB_STOP)
      return;
    if (rc < 0)
      throw_errno("reading sock_diag's answer");
  }
}

using Socket = std::unique_ptr<mnl_socket, SocketCloser>;

Socket open_sock_diag() {
  Socket socket(mnl_socket_open(NETLINK_SOCK_DIAG));
  if (!socket || mnl_socket_bind(socket.get(), 0, MNL_SOCKET_AUTOPID) < 0)
    throw_errno("opening a sock_diag socket");
  return socket;
}

} // namespace

std::map<uint64_t, AcceptQueue> listener_queues() {
  Socket socket = open_sock_diag();
  std::map<uint64_t, AcceptQueue> out;
  for (uint8_t family : {uint8_t{AF_INET}, uint8_t{AF_INET6}})
    dump_family(socket.get(), family, 1u << TCP_LISTEN, on_listener, &out);
  return out;
}

std::vector<Endpoint> connection_endpoints() {
  constexpr uint32_t kOpen = (1u << TCP_ESTABLISHED) | (1u << TCP_SYN_RECV) |
                             (1u << TCP_FIN_WAIT1) | (1u << TCP_FIN_WAIT2) |
                             (1u << TCP_CLOSE_WAIT) | (1u << TCP_LAST_ACK) | (1u << TCP_CLOSING);
  Socket socket = open_sock_diag();
  std::vector<Endpoint> out;
  for (uint8_t family : {uint8_t{AF_INET}, uint8_t{AF_INET6}})
    dump_family(socket.get(), family, kOpen, on_connection, &out);
  return out;
}

} // namespace zd
