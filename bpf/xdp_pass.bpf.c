// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Attached to the workspace side of a container's veth. A veth delivers a
 * frame redirected into it by XDP only when its peer runs an XDP program
 * (the kernel's veth_xdp_xmit needs the peer's XDP rx queue); this one lets
 * every frame through to the stack unchanged.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int zd_xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}
