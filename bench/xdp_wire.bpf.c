// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The "wire" of bench/xdp.sh's NIC topology: every frame the client sends is
 * redirected, untouched, to the veth that leads to the host.
 *
 * Without it the client's TCP stack sends straight into the veth zd attaches
 * to, and a veth with an XDP program must copy every packet a local stack
 * sends it (they are clones: veth_convert_skb_to_xdp_buff() in
 * drivers/net/veth.c), a cost no NIC has. Redirected here, the frames reach
 * the host's veth as XDP frames in buffers of their own, the way a NIC
 * receives them: the copy happens once, on the wire, for every variant alike.
 *
 * Built by bench/xdp.sh with -DWIRE_OUT_IFINDEX=N (the ifindex of the wire's
 * veth towards the host, in the wire's namespace) and attached natively with
 * "ip link set dev IF xdpdrv obj FILE sec xdp"; zdctl never loads it.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#ifndef WIRE_OUT_IFINDEX
#error "build with -DWIRE_OUT_IFINDEX=<ifindex of the veth towards the host>"
#endif

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int xdp_wire(struct xdp_md *ctx)
{
	return bpf_redirect(WIRE_OUT_IFINDEX, 0);
}
