/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The data-plane maps of a zd state: only what a program reads. Every data
 * plane program includes this file, so all of them share one set of pinned
 * maps, and a switch is one write whichever program delivers the packet.
 * The control plane's own records (names, what was registered) are maps
 * that zdctl creates itself: see user/state/records.hpp.
 */
#ifndef ZD_MAPS_BPF_H
#define ZD_MAPS_BPF_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "zd_shared.h"

/* Identity and layout of the state; see struct zd_config. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct zd_config);
} zd_config SEC(".maps");

/*
 * Exact (protocol, family, port, address) -> domain id: the hot path. Not
 * preallocated: its size is what 131072 domains may need, and a lookup costs
 * the same either way; only an update allocates.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ZD_MAX_BINDINGS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct zd_binding_key);
	__type(value, __u32);
} zd_bindings SEC(".maps");

/* Bindings with an address prefix; only consulted while any exist. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, ZD_MAX_PREFIX_BINDINGS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct zd_prefix_key);
	__type(value, __u32);
} zd_prefixes SEC(".maps");

/*
 * Domain id -> route. Not preallocated: an update links a fresh element and
 * frees the old one after an RCU grace period, so a lookup racing a switch
 * sees the old route or the new one, never a mix.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ZD_MAX_DOMAINS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct zd_route);
} zd_routes SEC(".maps");

/*
 * (workspace, protocol, family) -> listening socket. The kernel drops an
 * entry by itself when its socket is closed. The 8-byte value lets zdctl
 * read back the socket cookie to tell a live socket from a replaced one.
 */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, ZD_MAX_SOCKETS);
	__type(key, struct zd_socket_key);
	__type(value, __u64);
} zd_sockets SEC(".maps");

/*
 * Domain id -> its counters, per CPU. A hash, not preallocated: an array of
 * 131072 per-CPU entries costs a tenth of a second to make at every attach;
 * a domain's entry is made by its add (zeroed) and goes with its removal.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, ZD_MAX_DOMAINS + 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct zd_counters);
} zd_domain_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ZD_MAX_WORKSPACES + 1);
	__type(key, __u32);
	__type(value, struct zd_counters);
} zd_workspace_stats SEC(".maps");

/* Workspace id -> health; see struct zd_health. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ZD_MAX_WORKSPACES + 1);
	__type(key, __u32);
	__type(value, struct zd_health);
} zd_health SEC(".maps");

static __always_inline int zd_healthy(__u32 workspace)
{
	struct zd_health *health = bpf_map_lookup_elem(&zd_health, &workspace);

	return !health || !health->failing;
}

static __always_inline __u32 zd_mix(__u32 h)
{
	h ^= h >> 16;
	h *= 0x7feb352d;
	h ^= h >> 15;
	h *= 0x846ca68b;
	h ^= h >> 16;
	return h;
}

/*
 * Whether a new flow of a domain goes to its canary: the flow's 4-tuple is
 * hashed to a percentile, so both planes (XDP, which sees the SYN first,
 * and sk_lookup, which may finish it) make the same choice for the same
 * flow, and a retransmitted SYN makes it again.
 */
static __always_inline int zd_has_canary(const struct zd_route *route)
{
	return route->canary != ZD_NO_ID && route->canary_weight != 0;
}

/* A hash of a flow's 4-tuple, the same on every plane and every host for
 * the same flow; seed tells apart the choices made with it. */
static __always_inline __u32 zd_flow_hash(const struct zd_flow_key *flow, __u32 seed)
{
	const __u32 *s = (const __u32 *)flow->saddr, *d = (const __u32 *)flow->daddr;
	__u32 h = (((__u32)flow->sport << 16) | flow->dport) ^ seed;
	int i;

#pragma unroll
	for (i = 0; i < 4; i++) {
		h = zd_mix(h ^ s[i]);
		h = zd_mix(h ^ d[i]);
	}
	return h;
}

static __always_inline int zd_takes_canary(const struct zd_route *route,
					   const struct zd_flow_key *flow)
{
	if (!zd_has_canary(route))
		return 0;
	return zd_flow_hash(flow, 0) % 100 < route->canary_weight;
}

enum zd_outcome { ZD_STEERED, ZD_FALLBACK, ZD_DROPPED };

/*
 * Counts a new connection's outcome for a domain or a workspace (stats is
 * zd_domain_stats or zd_workspace_stats). Whichever plane delivers the
 * connection counts it, once: sk_lookup for a host workspace, XDP for a
 * container, so status reads the same counters for both.
 */
static __always_inline void zd_count(void *stats, __u32 id, enum zd_outcome outcome,
				     int looked_up)
{
	struct zd_counters *c = bpf_map_lookup_elem(stats, &id);

	/* A domain's entry is made by its add (and copied by an upgrade). */
	if (!c)
		return;
	/* Per-CPU values: plain increments cannot race with another CPU. */
	c->lookups += looked_up;
	if (outcome == ZD_STEERED)
		c->steered++;
	else if (outcome == ZD_FALLBACK)
		c->fallbacks++;
	else
		c->drops++;
}

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

/*
 * The domain a connection's destination belongs to: the exact binding, else
 * (only while any prefix binding exists) the longest matching prefix. Every
 * program fills the key from its own view of the packet and asks here, so
 * both planes agree on what a domain's address is. key->prefixlen is the
 * full length (ZD_BINDING_FIXED_BITS + 32 or + 128).
 */
static __always_inline __u32 *zd_find_domain(struct zd_prefix_key *key)
{
	struct zd_config *cfg;
	__u32 zero = 0;
	__u32 *domain;

	domain = bpf_map_lookup_elem(&zd_bindings, &key->binding);
	if (domain)
		return domain;
	cfg = bpf_map_lookup_elem(&zd_config, &zero);
	if (!cfg || !cfg->prefix_bindings)
		return NULL;
	return bpf_map_lookup_elem(&zd_prefixes, key);
}

#endif /* ZD_MAPS_BPF_H */
