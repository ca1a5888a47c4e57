// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A test harness for bpf/zd_encap.bpf.h, run with BPF_PROG_TEST_RUN by
 * encap_test.cpp: zd_encap_probe clamps every IPv4 TCP frame's SYN MSS and
 * wraps it for the tunnel in the map (XDP_TX); zd_decap_probe unwraps an
 * IPIP frame (XDP_TX); anything else either passes.
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

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct zd_tunnel);
} zd_encap_tunnel SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct zd_tunnel6);
} zd_encap_tunnel6 SEC(".maps");

/* IPv6 TCP with no extension header: clamped and wrapped in IPv6. */
static __always_inline int encap6(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);
	struct tcphdr *tcp = (struct tcphdr *)(ip6 + 1);
	struct zd_tunnel6 *t;
	__u32 zero = 0;

	if ((void *)(tcp + 1) > data_end || ip6->nexthdr != IPPROTO_TCP || tcp->doff < 5)
		return XDP_PASS;
	t = bpf_map_lookup_elem(&zd_encap_tunnel6, &zero);
	if (!t)
		return XDP_ABORTED;
	zd_clamp_mss(tcp, data_end, t->mss);
	return zd_encap_ip6ip6(ctx, t) ? XDP_PASS : XDP_TX;
}

SEC("xdp")
int zd_encap_probe(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (struct iphdr *)(eth + 1);
	struct tcphdr *tcp;
	struct zd_tunnel *t;
	__u32 zero = 0;

	if ((void *)(eth + 1) <= data_end && eth->h_proto == bpf_htons(ETH_P_IPV6))
		return encap6(ctx);
	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    ip->ihl != 5 || ip->protocol != IPPROTO_TCP)
		return XDP_PASS;
	tcp = (struct tcphdr *)(ip + 1);
	if ((void *)(tcp + 1) > data_end || tcp->doff < 5)
		return XDP_PASS;
	t = bpf_map_lookup_elem(&zd_encap_tunnel, &zero);
	if (!t)
		return XDP_ABORTED;
	zd_clamp_mss(tcp, data_end, t->mss);
	if (zd_encap_ipip(ctx, t))
		return XDP_PASS;
	return XDP_TX;
}

SEC("xdp")
int zd_decap_probe(struct xdp_md *ctx)
{
	return zd_decap_ipip(ctx) && zd_decap_ip6ip6(ctx) ? XDP_PASS : XDP_TX;
}
