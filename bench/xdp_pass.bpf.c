// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The "xdp-floor" variant of bench/xdp.sh: an XDP program that does nothing
 * but pass every frame on to the stack.
 *
 * It exists to measure what attaching any XDP program at all costs on the
 * veth zd attaches to. Once a veth has an XDP program, it turns every packet
 * it receives into an XDP buffer before running the program, and the TCP
 * packets a local stack sends into a veth are clones, so the veth copies
 * each one first (veth_convert_skb_to_xdp_buff() in drivers/net/veth.c). A
 * physical NIC has no such copy. Plain routing with this program attached is
 * the floor for zd's XDP program on this bench: zd-xdp / xdp-floor is zd's
 * own cost, zd-xdp / routing that cost plus the veth's.
 *
 * Built and attached by bench/xdp.sh itself (clang -target bpf, then
 * "ip link set dev IF xdpdrv obj FILE sec xdp"); zdctl never loads it.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}
