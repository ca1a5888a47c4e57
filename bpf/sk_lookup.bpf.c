// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * zd's sk_lookup dispatcher. The kernel runs it when a new connection (a
 * TCP SYN) needs a listening socket in this network namespace. It finds the
 * packet's domain, then hands the packet to the listening socket of the
 * domain's active workspace (or of its canary, for the canary's share). Established connections never come here, which
 * is why a switch leaves them alone.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/socket.h>
#include <bpf/bpf_helpers.h>

#include "zd_lookup.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* A workspace failing its health check is passed over like a dead one. */
static __always_inline int serve(struct bpf_sk_lookup *ctx, __u32 workspace)
{
	return zd_healthy(workspace) && zd_assign(ctx, workspace, ZD_PLANE_HOST);
}

SEC("sk_lookup")
int zd_dispatch(struct bpf_sk_lookup *ctx)
{
	struct zd_route *route;
	__u32 *domain, id;

	domain = zd_lookup_domain(ctx);
	if (!domain)
		return SK_PASS; /* not ours: the normal lookup goes on */
	id = *domain;

	route = bpf_map_lookup_elem(&zd_routes, &id);
	if (route) {
		/* Read once: the route is replaced whole, never edited. */
		__u32 active = route->active, previous = route->previous;
		/* The flow's key is built only for a domain with a canary: the
		 * common path pays nothing for it. A canary that cannot take its
		 * share leaves it to active. */
		if (zd_has_canary(route)) {
			struct zd_flow_key flow = {};

			zd_flow_of(ctx, &flow);
			if (zd_takes_canary(route, &flow) && serve(ctx, route->canary)) {
				zd_count(&zd_domain_stats, id, ZD_STEERED, 1);
				zd_count(&zd_workspace_stats, route->canary, ZD_STEERED, 1);
				return SK_PASS;
			}
		}
		if (serve(ctx, active)) {
			zd_count(&zd_domain_stats, id, ZD_STEERED, 1);
			zd_count(&zd_workspace_stats, active, ZD_STEERED, 1);
			return SK_PASS;
		}
		if (active != ZD_NO_ID)
			zd_count(&zd_workspace_stats, active, ZD_DROPPED, 1);
		if (serve(ctx, previous)) {
			zd_count(&zd_domain_stats, id, ZD_FALLBACK, 1);
			zd_count(&zd_workspace_stats, previous, ZD_FALLBACK, 0);
			return SK_PASS;
		}
	}
	/* The domain owns this address: refuse rather than let anyone else in. */
	zd_count(&zd_domain_stats, id, ZD_DROPPED, 1);
	return SK_DROP;
}
