// A small rtnetlink client on libmnl: one socket, one request at a time,
// every answer to a callback. Shared by the veth discovery and the local
// routes zd makes inside a workspace's namespace.
#pragma once

#include <libmnl/libmnl.h>

#include <memory>

namespace zd::rtnl {

struct SocketCloser {
  void operator()(mnl_socket *socket) const { mnl_socket_close(socket); }
};
using Socket = std::unique_ptr<mnl_socket, SocketCloser>;

// A socket of the network namespace this thread is in when it is opened: it
// keeps talking to that namespace wherever the thread goes afterwards.
Socket open();

// Sends request and feeds every answer to callback until the kernel is done.
// Throws on failure, with the kernel's errno.
void exchange(mnl_socket *nl, nlmsghdr *request, mnl_cb_t callback, void *data);

// Sends a change with NLM_F_ACK and returns 0 or the kernel's errno, for the
// caller to judge (EEXIST on an add and ESRCH on a delete may be fine).
int change(mnl_socket *nl, nlmsghdr *request);

} // namespace zd::rtnl
