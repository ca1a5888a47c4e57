// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * zd's XDP steering, for workspaces that live in their own network namespace
 * behind a veth pair. On the host's ingress interface, a TCP packet to a
 * domain binding (the same bindings and routes as sk_lookup) is sent to a
 * workspace: a SYN to the domain's active one (or the previous one if the
 * active one has no live socket), recorded in a flow table; every later
 * packet of the flow to wherever its SYN went, so a switch never moves an
 * established flow. A container workspace gets the frame redirected to its
 * host-side veth with rewritten MACs and nothing else changed; a host
 * workspace gets it passed to the host stack, where sk_lookup finishes it.
 * Anything else is passed untouched.
 *
 * Policies (docs/concepts.md): VLAN-tagged frames, IP fragments, IPv6 with
 * extension headers and malformed headers are passed to the stack. A
 * non-SYN packet to a domain with no flow entry (evicted, or older than zd)
 * is passed to the stack and counted as a flow miss. A SYN for a domain
 * with no live workspace is passed too, and counted as a drop: the host's
 * sk_lookup program refuses it with a reset rather than leaving the client
 * to retransmit.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "zd_maps.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* 5-tuple -> workspace, written on the SYN. LRU: a full table evicts the
 * least recently used flow (see the flow-miss policy above). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ZD_MAX_FLOWS);
	__type(key, struct zd_flow_key);
	__type(value, struct zd_flow);
} zd_flows SEC(".maps");

/* Workspace id -> its host-side veth and MACs; absent for host workspaces. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ZD_MAX_XDP_TARGETS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct zd_xdp_target);
} zd_xdp_targets SEC(".maps");

/* ifindex -> ifindex: the veths frames may be redirected to. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u32);
} zd_devmap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct zd_xdp_counters);
} zd_xdp_stats SEC(".maps");

static __always_inline struct zd_xdp_counters *counters(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&zd_xdp_stats, &zero);
}

static __always_inline __u32 *find_domain(const struct zd_flow_key *flow)
{
	struct zd_prefix_key key = {};

	key.binding.protocol = flow->protocol;
	key.binding.family = flow->family;
	key.binding.port = flow->dport;
	__builtin_memcpy(key.binding.addr, flow->daddr, sizeof(key.binding.addr));
	key.prefixlen = ZD_BINDING_FIXED_BITS + (flow->family == AF_INET ? 32 : 128);
	return zd_find_domain(&key);
}

static __always_inline int has_socket(struct zd_socket_key *key)
{
	struct bpf_sock *sk = bpf_map_lookup_elem(&zd_sockets, key);

	if (!sk)
		return 0;
	bpf_sk_release(sk);
	return 1;
}

/* A workspace is alive while the socket registered for it is: the kernel
 * drops a closed socket from the sockhash, whatever its namespace. This
 * plane delivers to both kinds of workspace, so it asks under both planes
 * (a workspace has sockets under one of them only). A workspace failing its
 * health check is passed over as if it had none. */
static __always_inline int alive(__u32 workspace, __u8 family)
{
	struct zd_socket_key key = {
		.workspace = workspace,
		.protocol = IPPROTO_TCP,
		.family = family,
		.plane = ZD_PLANE_XDP,
	};

	if (workspace == ZD_NO_ID || !zd_healthy(workspace))
		return 0;
	if (has_socket(&key))
		return 1;
	key.plane = ZD_PLANE_HOST;
	return has_socket(&key);
}

/* A route as choose() read it, and what it chose. */
struct zd_choice {
	__u32 active;
	__u32 workspace; /* ZD_NO_ID: none is alive */
	enum zd_outcome outcome;
};

/* The workspace a new flow of this domain goes to: the canary for its
 * share (the same choice sk_lookup makes for a host workspace's flow), else
 * the active one, else the previous one. */
static __always_inline struct zd_choice choose(__u32 domain, const struct zd_flow_key *flow,
					       struct zd_xdp_counters *c)
{
	struct zd_route *route = bpf_map_lookup_elem(&zd_routes, &domain);
	struct zd_choice choice = { ZD_NO_ID, ZD_NO_ID, ZD_DROPPED };
	__u8 family = flow->family;
	__u32 previous;

	if (!route)
		return choice;
	/* Read once: the route is replaced whole, never edited. */
	choice.active = route->active;
	previous = route->previous;
	if (zd_takes_canary(route, flow) && alive(route->canary, family)) {
		c->steered++;
		choice.active = route->canary; /* what it was steered to */
		choice.workspace = route->canary;
		choice.outcome = ZD_STEERED;
	} else if (alive(choice.active, family)) {
		c->steered++;
		choice.workspace = choice.active;
		choice.outcome = ZD_STEERED;
	} else if (alive(previous, family)) {
		c->fallbacks++;
		choice.workspace = previous;
		choice.outcome = ZD_FALLBACK;
	}
	return choice;
}

/* The domain's and workspaces' counters, as sk_lookup keeps them, for a new
 * connection this plane delivers itself (a container's). A host workspace's
 * connection is counted by sk_lookup, which finishes it. */
static __always_inline void count_container(__u32 domain, const struct zd_choice *choice)
{
	zd_count(&zd_domain_stats, domain, choice->outcome, 1);
	if (choice->outcome == ZD_FALLBACK) {
		if (choice->active != ZD_NO_ID)
			zd_count(&zd_workspace_stats, choice->active, ZD_DROPPED, 1);
		zd_count(&zd_workspace_stats, choice->workspace, ZD_FALLBACK, 0);
	} else {
		zd_count(&zd_workspace_stats, choice->workspace, ZD_STEERED, 1);
	}
}

/* Sends the frame to a container's veth. The frame leaves after the program
 * returns, so the MACs are rewritten only once the redirect is certain: a
 * veth missing from the devmap passes the frame on unchanged. */
static __always_inline int redirect(struct xdp_md *ctx, const struct zd_xdp_target *target)
{
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = (void *)(long)ctx->data;
	long action;

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	action = bpf_redirect_map(&zd_devmap, target->ifindex, XDP_PASS);
	if (action == XDP_REDIRECT) {
		__builtin_memcpy(eth->h_dest, target->dst_mac, ETH_ALEN);
		__builtin_memcpy(eth->h_source, target->src_mac, ETH_ALEN);
	}
	return action;
}

/* A packet to its workspace: a container's veth, or the host stack for a
 * host workspace, where sk_lookup finishes (and counts) it. A new
 * connection's choice, when given, is counted here for a container's. */
static __always_inline int deliver(struct xdp_md *ctx, struct zd_xdp_counters *c,
				   __u32 workspace, __u32 domain,
				   const struct zd_choice *choice)
{
	struct zd_xdp_target *target = bpf_map_lookup_elem(&zd_xdp_targets, &workspace);

	if (!target) {
		c->to_host++;
		return XDP_PASS;
	}
	if (choice)
		count_container(domain, choice);
	return redirect(ctx, target);
}

SEC("xdp")
int zd_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct zd_choice choice = { ZD_NO_ID, ZD_NO_ID, ZD_DROPPED };
	struct zd_flow_key key = {};
	struct zd_flow fresh = {};
	struct zd_xdp_counters *c;
	struct ethhdr *eth = data;
	struct zd_flow *flow;
	struct tcphdr *tcp;
	__u32 *domain;
	int syn;

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end || ip->version != 4 || ip->ihl < 5 ||
		    ip->protocol != IPPROTO_TCP)
			return XDP_PASS;
		if (ip->frag_off & bpf_htons(0x3fff)) /* MF or an offset */
			return XDP_PASS;
		tcp = (void *)ip + ip->ihl * 4;
		key.family = AF_INET;
		__builtin_memcpy(key.saddr, &ip->saddr, 4);
		__builtin_memcpy(key.daddr, &ip->daddr, 4);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_TCP)
			return XDP_PASS;
		tcp = (void *)(ip6 + 1);
		key.family = AF_INET6;
		__builtin_memcpy(key.saddr, &ip6->saddr, 16);
		__builtin_memcpy(key.daddr, &ip6->daddr, 16);
	} else {
		return XDP_PASS; /* ARP, VLAN-tagged, anything not IP */
	}
	if ((void *)(tcp + 1) > end || tcp->doff < 5)
		return XDP_PASS;
	key.protocol = IPPROTO_TCP;
	key.sport = bpf_ntohs(tcp->source);
	key.dport = bpf_ntohs(tcp->dest);

	c = counters();
	if (!c)
		return XDP_PASS;

	syn = tcp->syn && !tcp->ack;
	if (!syn) {
		/* Most packets belong to a flow the table already holds: its
		 * entry says the packet is ours and where it goes, so the
		 * bindings are read only for a packet with no entry. */
		flow = bpf_map_lookup_elem(&zd_flows, &key);
		if (flow) {
			c->followed++;
			return deliver(ctx, c, flow->workspace, 0, NULL);
		}
	}

	domain = find_domain(&key);
	if (!domain)
		return XDP_PASS; /* not ours */
	if (!syn) {
		c->flow_misses++;
		return XDP_PASS;
	}

	/* A new connection (or its retransmitted SYN): the route decides. */
	choice = choose(*domain, &key, c);
	if (choice.workspace == ZD_NO_ID) {
		/* No live workspace: the host stack refuses it (sk_lookup
		 * answers a RST, and counts it), so the client learns at once. */
		c->drops++;
		return XDP_PASS;
	}
	fresh.workspace = choice.workspace;
	/* Counted only when new, so that status can tell evictions: flows
	 * added minus flows held (zd deletes none itself). */
	if (bpf_map_update_elem(&zd_flows, &key, &fresh, BPF_NOEXIST) == 0)
		c->flows_added++;
	else
		bpf_map_update_elem(&zd_flows, &key, &fresh, BPF_ANY);
	return deliver(ctx, c, choice.workspace, *domain, &choice);
}
