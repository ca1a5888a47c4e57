#include "sock_diag.hpp"

#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <arpa/inet.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "error.hpp"
#include "parse.hpp"

namespace zd {

namespace {

struct SocketCloser {
  void operator()(mnl_socket *socket) const { mnl_socket_close(socket); }
};

uint64_t cookie_of(const inet_diag_sockid &id) {
  return id.idiag_cookie[0] | static_cast<uint64_t>(id.idiag_cookie[1]) << 32;
}

int on_listener(const nlmsghdr *message, void *data) {
  const auto *diag = static_cast<const inet_diag_msg *>(mnl_nlmsg_get_payload(message));
  const uint64_t cookie = cookie_of(diag->id);
  // For a listener, rqueue is the accept queue and wqueue its limit (the backlog).
  (*static_cast<std::map<uint64_t, AcceptQueue> *>(data))[cookie] = {diag->idiag_rqueue,
                                                                     diag->idiag_wqueue};
  return MNL_CB_OK;
}

// An end of a connection, as domains bind it: the IPv4 address of an IPv4
// connection on a dual-stack socket (::ffff:a.b.c.d) is given as IPv4.
Endpoint end_of(uint8_t family, const __be32 *address, __be16 port) {
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  Endpoint end;
  end.protocol = IPPROTO_TCP;
  end.port = ntohs(port);
  const auto *bytes = reinterpret_cast<const uint8_t *>(address);
  if (family == AF_INET6 && std::memcmp(bytes, kMapped, sizeof(kMapped)) == 0) {
    end.family = AF_INET;
    std::memcpy(end.addr.data(), bytes + 12, 4);
  } else {
    end.family = family;
    std::memcpy(end.addr.data(), bytes, family == AF_INET ? 4 : 16);
  }
  end.prefix_len = static_cast<uint8_t>(end.address_bits());
  return end;
}

int on_connection(const nlmsghdr *message, void *data) {
  const auto *diag = static_cast<const inet_diag_msg *>(mnl_nlmsg_get_payload(message));
  Connection connection;
  connection.family = diag->idiag_family;
  connection.local = end_of(diag->idiag_family, diag->id.idiag_src, diag->id.idiag_sport);
  connection.remote = end_of(diag->idiag_family, diag->id.idiag_dst, diag->id.idiag_dport);
  connection.ifindex = diag->id.idiag_if;
  connection.cookie = cookie_of(diag->id);
  connection.inode = diag->idiag_inode;
  static_cast<std::vector<Connection> *>(data)->push_back(connection);
  return MNL_CB_OK;
}

int on_listener_inode(const nlmsghdr *message, void *data) {
  const auto *diag = static_cast<const inet_diag_msg *>(mnl_nlmsg_get_payload(message));
  (*static_cast<std::map<uint64_t, uint64_t> *>(data))[cookie_of(diag->id)] = diag->idiag_inode;
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

// The address as the socket holds it: IPv4-mapped again on an IPv6 socket.
void put_address(uint8_t family, const Endpoint &end, __be32 *out) {
  auto *bytes = reinterpret_cast<uint8_t *>(out);
  std::memset(bytes, 0, 16);
  if (family == AF_INET6 && end.family == AF_INET) {
    bytes[10] = bytes[11] = 0xff;
    std::memcpy(bytes + 12, end.addr.data(), 4);
  } else {
    std::memcpy(bytes, end.addr.data(), family == AF_INET ? 4 : 16);
  }
}

// sock_diag finds a socket by its ends and bound device, and checks the cookie.
void id_of(const Connection &connection, inet_diag_sockid &id) {
  id.idiag_sport = htons(connection.local.port);
  id.idiag_dport = htons(connection.remote.port);
  put_address(connection.family, connection.local, id.idiag_src);
  put_address(connection.family, connection.remote, id.idiag_dst);
  id.idiag_if = connection.ifindex;
  id.idiag_cookie[0] = static_cast<uint32_t>(connection.cookie);
  id.idiag_cookie[1] = static_cast<uint32_t>(connection.cookie >> 32);
}

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

std::vector<Connection> tcp_connections() {
  constexpr uint32_t kOpen = (1u << TCP_ESTABLISHED) | (1u << TCP_SYN_RECV) |
                             (1u << TCP_FIN_WAIT1) | (1u << TCP_FIN_WAIT2) |
                             (1u << TCP_CLOSE_WAIT) | (1u << TCP_LAST_ACK) | (1u << TCP_CLOSING);
  Socket socket = open_sock_diag();
  std::vector<Connection> out;
  for (uint8_t family : {uint8_t{AF_INET}, uint8_t{AF_INET6}})
    dump_family(socket.get(), family, kOpen, on_connection, &out);
  return out;
}

std::vector<Endpoint> connection_endpoints() {
  std::vector<Endpoint> out;
  for (const auto &connection : tcp_connections())
    out.push_back(connection.local);
  return out;
}

std::map<uint64_t, uint64_t> listener_inodes() {
  Socket socket = open_sock_diag();
  std::map<uint64_t, uint64_t> out;
  for (uint8_t family : {uint8_t{AF_INET}, uint8_t{AF_INET6}})
    dump_family(socket.get(), family, 1u << TCP_LISTEN, on_listener_inode, &out);
  return out;
}

size_t destroy_connections(const std::vector<Connection> &connections) {
  if (connections.empty())
    return 0;
  Socket socket = open_sock_diag();
  const uint32_t port = mnl_socket_get_portid(socket.get());
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  size_t closed = 0;
  uint32_t seq = 0;
  for (const auto &connection : connections) {
    nlmsghdr *request = mnl_nlmsg_put_header(buf.data());
    request->nlmsg_type = SOCK_DESTROY;
    request->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    request->nlmsg_seq = ++seq;
    auto *req = static_cast<inet_diag_req_v2 *>(
        mnl_nlmsg_put_extra_header(request, sizeof(inet_diag_req_v2)));
    req->sdiag_family = connection.family;
    req->sdiag_protocol = IPPROTO_TCP;
    req->idiag_states = ~0u;
    id_of(connection, req->id);
    if (mnl_socket_sendto(socket.get(), request, request->nlmsg_len) < 0)
      throw_errno("asking sock_diag to close a connection");
    const ssize_t got = mnl_socket_recvfrom(socket.get(), buf.data(), buf.size());
    if (got < 0)
      throw_errno("reading sock_diag's answer");
    // The answer is an ack: 0, or why not.
    if (mnl_cb_run(buf.data(), static_cast<size_t>(got), seq, port, nullptr, nullptr) >= 0) {
      ++closed;
      continue;
    }
    // Gone meanwhile (closed by its process, or a new socket on the same ends).
    if (errno == ENOENT || errno == ESTALE)
      continue;
    if (errno == EOPNOTSUPP)
      throw Error(Errc::kernel, "this kernel cannot close sockets from outside (it lacks "
                                "CONFIG_INET_DIAG_DESTROY)");
    throw_errno("closing connection " + format_endpoint(connection.local) + " <- " +
                format_endpoint(connection.remote));
  }
  return closed;
}

} // namespace zd
