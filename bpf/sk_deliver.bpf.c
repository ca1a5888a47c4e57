// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * zd inside a container workspace's network namespace. The XDP program on
 * the host has already chosen this workspace for the flow and redirected
 * the frame here unchanged, so its destination is still the domain's
 * address and port (10.99.0.1:80), while the app listens where it likes
 * (0.0.0.0:8080). This program, attached to the workspace's namespace,
 * hands a new connection to a domain address to this workspace's own
 * socket: the port mapping is a socket lookup, not NAT, and the reply
 * leaves from the address and port the client asked for.
 *
 * One instance per container workspace: zdctl sets zd_workspace before
 * loading it.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

#include "zd_lookup.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 zd_workspace = ZD_NO_ID;

SEC("sk_lookup")
int zd_deliver(struct bpf_sk_lookup *ctx)
{
	if (!zd_lookup_domain(ctx))
		return SK_PASS; /* not a domain's: the app's own traffic */
	/* No live socket: the app is gone, and a reset beats a hang. */
	return zd_assign(ctx, zd_workspace, ZD_PLANE_XDP) ? SK_PASS : SK_DROP;
}
