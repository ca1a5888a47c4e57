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
 * Across hosts (issue 21): a workspace with instances on other hosts has a
 * Maglev table of them; a new flow whose table slot names another host is
 * wrapped in an outer IP header (bpf/zd_encap.bpf.h) and sent to that host
 * out of the interface bpf_fib_lookup names, its SYN's MSS lowered to fit.
 * That host's own zd_xdp unwraps it and delivers it as if it had arrived
 * there; its replies go straight to the client (direct server return).
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

#include "zd_encap.bpf.h"
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

/* Node id -> its fabric addresses; ZD_NODE_SELF holds this host's. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ZD_MAX_NODES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct zd_node);
} zd_nodes SEC(".maps");

/* Workspace id -> the Maglev table of its live instances, for a workspace
 * with instances on other hosts. Replaced whole, never edited, so a lookup
 * sees the old table or the new one. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ZD_MAX_XDP_TARGETS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct zd_instances);
} zd_instances SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ZD_MAX_NODES);
	__type(key, __u32);
	__type(value, struct zd_node_counters);
} zd_node_stats SEC(".maps");

/* Domain id -> its options, for the few domains that set any. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ZD_MAX_DOMAINS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct zd_domain_options);
} zd_domain_options SEC(".maps");

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
static __always_inline int alive_here(__u32 workspace, __u8 family)
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

/* Alive here, or on another host: the control plane keeps a workspace's
 * table to its live instances, and drops it when none is left. A packet
 * another host forwarded here is delivered here or nowhere (local_only):
 * it is never sent on. */
static __always_inline int alive(__u32 workspace, __u8 family, int local_only)
{
	struct zd_instances *instances;

	if (alive_here(workspace, family))
		return 1;
	if (local_only || workspace == ZD_NO_ID)
		return 0;
	instances = bpf_map_lookup_elem(&zd_instances, &workspace);
	return instances && instances->count;
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
					       struct zd_xdp_counters *c, int local_only)
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
	if (zd_takes_canary(route, flow) && alive(route->canary, family, local_only)) {
		c->steered++;
		choice.active = route->canary; /* what it was steered to */
		choice.workspace = route->canary;
		choice.outcome = ZD_STEERED;
	} else if (alive(choice.active, family, local_only)) {
		c->steered++;
		choice.workspace = choice.active;
		choice.outcome = ZD_STEERED;
	} else if (alive(previous, family, local_only)) {
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

/* A packet to its workspace here: a container's veth, or the host stack for
 * a host workspace, where sk_lookup finishes (and counts) it. A new
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

static __always_inline int prefers_local(__u32 domain)
{
	struct zd_domain_options *options = bpf_map_lookup_elem(&zd_domain_options, &domain);

	return options && (options->flags & ZD_PREFER_LOCAL);
}

/* The host a new flow of this workspace goes to: this one when it has no
 * table (all its instances are here), or when the domain prefers a local
 * instance and this host's is alive; else the table's slot for the flow. */
static __always_inline __u32 pick_node(__u32 workspace, __u32 domain,
				       const struct zd_flow_key *flow)
{
	struct zd_instances *instances = bpf_map_lookup_elem(&zd_instances, &workspace);
	__u32 slot;

	if (!instances || !instances->count)
		return ZD_NODE_SELF;
	if (instances->local && prefers_local(domain) && alive_here(workspace, flow->family))
		return ZD_NODE_SELF;
	slot = zd_flow_hash(flow, 0x9e3779b9) % ZD_MAGLEV_SIZE;
	/* The verifier does not follow the modulo: a bound it can see, kept
	 * by the barrier from being folded away as clang knows it holds. */
	asm volatile("" : "+r"(slot));
	if (slot >= ZD_MAGLEV_SIZE)
		return ZD_NODE_SELF;
	return instances->table[slot];
}

static __always_inline void count_node(__u32 node, __u64 bytes, int new_flow, int sent)
{
	struct zd_node_counters *n = bpf_map_lookup_elem(&zd_node_stats, &node);

	if (!n)
		return;
	if (!sent) {
		n->errors++;
		return;
	}
	n->flows += new_flow;
	n->packets++;
	n->bytes += bytes;
}

/*
 * The frame wrapped for the node and sent out of the interface its route
 * leaves by. The route and next hop are asked before anything is changed;
 * with the next hop's MAC not yet known (no neighbour entry), the wrapped
 * packet is passed to the stack, which resolves it and routes it there (it
 * needs IP forwarding, and accept_local on this interface: the outer source
 * is this host's). Returns the action, or -1: not sent, and left as it was;
 * -2: too big for the fabric once wrapped, whose MTU is then in *mtu.
 */
static __always_inline int forward(struct xdp_md *ctx, const struct zd_node *node, __u8 family,
				   __u16 *mtu)
{
	__u32 len = (__u32)((long)ctx->data_end - (long)ctx->data) - sizeof(struct ethhdr);
	struct bpf_fib_lookup fib = {};
	struct zd_tunnel t4;
	struct zd_tunnel6 t6;
	long rc;

	fib.ifindex = ctx->ingress_ifindex;
	if (family == AF_INET) {
		if (!(node->fabric & ZD_FABRIC_V4))
			return -1;
		t4 = node->v4;
		/* A copy on the stack, not reads of the map value that clang
		 * would merge into pointer arithmetic the verifier refuses. */
		asm volatile("" : : "r"(&t4) : "memory");
		fib.family = AF_INET;
		fib.ipv4_src = t4.src;
		fib.ipv4_dst = t4.dst;
		fib.tot_len = len + ZD_IPIP_OVERHEAD;
	} else {
		if (!(node->fabric & ZD_FABRIC_V6))
			return -1;
		t6 = node->v6;
		asm volatile("" : : "r"(&t6) : "memory");
		fib.family = AF_INET6;
		__builtin_memcpy(fib.ipv6_src, t6.src, 16);
		__builtin_memcpy(fib.ipv6_dst, t6.dst, 16);
		fib.tot_len = len + ZD_IP6IP6_OVERHEAD;
	}
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
		/* For the stack: still addressed to this host, as it came. */
		struct ethhdr *eth = (void *)(long)ctx->data;

		if ((void *)(eth + 1) > (void *)(long)ctx->data_end)
			return -1;
		__builtin_memcpy(fib.dmac, eth->h_dest, ETH_ALEN);
		__builtin_memcpy(fib.smac, eth->h_source, ETH_ALEN);
	} else if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED) {
		*mtu = fib.mtu_result;
		return -2;
	} else if (rc != BPF_FIB_LKUP_RET_SUCCESS) {
		return -1; /* no route to it */
	}
	if (family == AF_INET) {
		__builtin_memcpy(t4.src_mac, fib.smac, ETH_ALEN);
		__builtin_memcpy(t4.dst_mac, fib.dmac, ETH_ALEN);
		if (zd_encap_ipip(ctx, &t4))
			return -1;
	} else {
		__builtin_memcpy(t6.src_mac, fib.smac, ETH_ALEN);
		__builtin_memcpy(t6.dst_mac, fib.dmac, ETH_ALEN);
		if (zd_encap_ip6ip6(ctx, &t6))
			return -1;
	}
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return XDP_PASS;
	if (fib.ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	return bpf_redirect(fib.ifindex, 0);
}

/* send_to's verdict for a packet answered instead of sent (XDP_TX of the
 * answer): out of the range of XDP actions, so the caller can tell. */
#define ZD_ANSWERED 0x100

/* A packet of a flow that lives on another host, sent there. A packet that
 * cannot be is dropped, not passed: this host has no instance to give it
 * to, and the client's retransmission finds the route again.
 *
 * A global function, so the verifier checks it once, on its own, rather
 * than at each of its two calls with every state steer() reaches them in:
 * inlined, the wrapping and the ICMP answers made loading the program ten
 * times slower (half a second at every attach and upgrade). */
__noinline int zd_send_to(struct xdp_md *ctx, __u32 node_id, __u32 family, __u32 new_flow)
{
	__u64 bytes = (long)ctx->data_end - (long)ctx->data - sizeof(struct ethhdr);
	struct zd_node *node = bpf_map_lookup_elem(&zd_nodes, &node_id);
	struct zd_xdp_counters *c = counters();
	__u16 mtu = 0;
	int action;

	if (!c)
		return XDP_DROP;
	action = node ? forward(ctx, node, family, &mtu) : -1;

	if (action == -2) {
		/* The sender is told the size that fits, as a router would. */
		c->too_big++;
		if (family == AF_INET)
			action = zd_icmp4_too_big(ctx, mtu - ZD_IPIP_OVERHEAD);
		else
			action = zd_icmp6_too_big(ctx, mtu - ZD_IP6IP6_OVERHEAD);
		return action ? XDP_DROP : ZD_ANSWERED;
	}
	count_node(node_id, bytes, new_flow, action >= 0);
	if (action < 0) {
		c->forward_errors++;
		return XDP_DROP;
	}
	c->forwarded++;
	return action;
}

static __always_inline int same_in6(const void *a, const void *b)
{
	const __u32 *x = a, *y = b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

/* Whether this frame is a packet another host wrapped for this one (its
 * outer destination is this host's fabric address); if so, unwrapped. */
static __always_inline int unwrap(struct xdp_md *ctx)
{
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = (void *)(long)ctx->data;
	__u32 self = ZD_NODE_SELF;
	struct zd_node *me;

	if ((void *)(eth + 1) > end)
		return 0;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_IPIP)
			return 0;
		me = bpf_map_lookup_elem(&zd_nodes, &self);
		if (!me || !(me->fabric & ZD_FABRIC_V4) || ip->daddr != me->v4.src)
			return 0;
		return zd_decap_ipip(ctx) == 0;
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_IPV6)
			return 0;
		me = bpf_map_lookup_elem(&zd_nodes, &self);
		if (!me || !(me->fabric & ZD_FABRIC_V6) || !same_in6(&ip6->daddr, me->v6.src))
			return 0;
		return zd_decap_ip6ip6(ctx) == 0;
	}
	return 0;
}

/* A forwarded SYN's MSS option lowered to mss (bpf/zd_encap.bpf.h), the
 * TCP header at offset off in the frame. A global function, checked by the
 * verifier once on its own: inlined, its walk of the options multiplied by
 * every path steer() takes to it made loading the program 40 times slower. */
__noinline int zd_clamp_syn(struct xdp_md *ctx, __u32 off, __u32 mss)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct tcphdr *tcp;

	if (off > 14 + 60) /* Ethernet and the longest IPv4 header, or IPv6's */
		return 0;
	tcp = data + off;
	if ((void *)(tcp + 1) > end)
		return 0;
	zd_clamp_mss(tcp, end, mss);
	return 0;
}

/* The node's MSS for a forwarded SYN of this family. */
static __always_inline __u16 node_mss(__u32 node_id, __u8 family)
{
	struct zd_node *node = bpf_map_lookup_elem(&zd_nodes, &node_id);

	if (!node)
		return 0;
	return family == AF_INET ? node->v4.mss : node->v6.mss;
}

/* The steering of one TCP packet: the flow table, else the route. A packet
 * another host forwarded here (tunnelled) is delivered here only. */
static __always_inline int steer(struct xdp_md *ctx, struct zd_xdp_counters *c, int tunnelled)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct zd_choice choice = { ZD_NO_ID, ZD_NO_ID, ZD_DROPPED };
	struct zd_flow_key key = {};
	struct zd_flow fresh = {};
	struct ethhdr *eth = data;
	struct zd_flow *flow;
	struct tcphdr *tcp;
	__u32 *domain;
	int syn, action = XDP_PASS;
	__u16 mss;

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

	syn = tcp->syn && !tcp->ack;
	if (!syn) {
		/* Most packets belong to a flow the table already holds: its
		 * entry says the packet is ours and where it goes, so the
		 * bindings are read only for a packet with no entry. */
		flow = bpf_map_lookup_elem(&zd_flows, &key);
		if (flow) {
			c->followed++;
			if (flow->node != ZD_NODE_SELF && !tunnelled) {
				action = zd_send_to(ctx, flow->node, key.family, 0);
				return action == ZD_ANSWERED ? XDP_TX : action;
			}
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
	choice = choose(*domain, &key, c, tunnelled);
	if (choice.workspace == ZD_NO_ID) {
		/* No live workspace: the host stack refuses it (sk_lookup
		 * answers a RST, and counts it), so the client learns at once. */
		c->drops++;
		return XDP_PASS;
	}
	fresh.workspace = choice.workspace;
	fresh.node = tunnelled ? ZD_NODE_SELF : pick_node(choice.workspace, *domain, &key);
	if (fresh.node != ZD_NODE_SELF) {
		/* Lowered before the wrapping, so both ends fit the fabric. */
		mss = node_mss(fresh.node, key.family);
		if (mss)
			zd_clamp_syn(ctx, (void *)tcp - data, mss);
		action = zd_send_to(ctx, fresh.node, key.family, 1);
		if (action == XDP_DROP)
			return action; /* no entry: the retransmitted SYN tries again */
		if (action == ZD_ANSWERED)
			return XDP_TX; /* not sent either */
	}
	/* Counted only when new, so that status can tell evictions: flows
	 * added minus flows held (zd deletes none itself). */
	if (bpf_map_update_elem(&zd_flows, &key, &fresh, BPF_NOEXIST) == 0)
		c->flows_added++;
	else
		bpf_map_update_elem(&zd_flows, &key, &fresh, BPF_ANY);
	if (fresh.node != ZD_NODE_SELF)
		return action;
	return deliver(ctx, c, choice.workspace, *domain, &choice);
}

SEC("xdp")
int zd_xdp(struct xdp_md *ctx)
{
	struct zd_xdp_counters *c = counters();
	int tunnelled;

	if (!c)
		return XDP_PASS;
	tunnelled = unwrap(ctx);
	c->unwrapped += tunnelled;
	return steer(ctx, c, tunnelled);
}
