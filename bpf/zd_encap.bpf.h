/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Forwarding a flow to the host that runs its workspace (issue 21): the
 * frame is wrapped in an outer IPv4 header (IPIP, protocol 4) from this
 * host's fabric address to the target host's, and its Ethernet header
 * rewritten for the next hop. IPIP because it is the smallest wrapper (20
 * bytes, no UDP header, no checksum of its own to fill) and the receiving
 * host's own XDP program unwraps it: this kernel has no IPIP, GRE or FOU
 * device to do it.
 *
 * What the outer header carries, as docs/concepts.md says:
 *   - DSCP and ECN: copied from the inner header (RFC 6040's normal mode);
 *   - TTL: 64; the inner TTL is left as it is (the ingress host does not
 *     route the inner packet, it hands it on);
 *   - DF set: nothing is fragmented; a forwarded SYN's MSS is lowered
 *     instead (zd_clamp_mss), so both directions fit the fabric's MTU.
 */
#ifndef ZD_ENCAP_BPF_H
#define ZD_ENCAP_BPF_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "zd_shared.h"

#define ZD_IPIP_OVERHEAD ((int)sizeof(struct iphdr))

/* The one's complement sum of 20 bytes, folded: an IPv4 header's checksum. */
static __always_inline __u16 zd_ipv4_csum(const struct iphdr *ip)
{
	const __u16 *word = (const __u16 *)ip;
	__u32 sum = 0;

#pragma unroll
	for (int i = 0; i < (int)sizeof(*ip) / 2; i++)
		sum += word[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* RFC 1624: the checksum after one 16-bit word went from old to new. */
static __always_inline __u16 zd_csum_replace(__u16 check, __u16 old, __u16 new)
{
	__u32 sum = (__u16)~check + (__u16)~old + new;

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/*
 * A SYN's MSS option lowered to mss if above it, the TCP checksum kept
 * right. The options are walked within the header (at most 40 bytes, a
 * bounded loop); a malformed option list is left alone.
 */
static __always_inline void zd_clamp_mss(struct tcphdr *tcp, void *data_end, __u16 mss)
{
	__u8 *opt = (__u8 *)(tcp + 1);
	__u8 *end = (__u8 *)tcp + tcp->doff * 4;

	if (!tcp->syn || (void *)end > data_end)
		return;
#pragma unroll
	for (int i = 0; i < 20; i++) {
		if (opt + 1 > end || (void *)(opt + 1) > data_end)
			return;
		if (opt[0] == 0) /* end of the list */
			return;
		if (opt[0] == 1) { /* no-op */
			opt++;
			continue;
		}
		if (opt + 2 > end || (void *)(opt + 2) > data_end || opt[1] < 2)
			return;
		if (opt[0] == 2 && opt[1] == 4) {
			__u16 *value = (__u16 *)(opt + 2);

			if ((void *)(value + 1) > data_end || (__u8 *)(value + 1) > end)
				return;
			if (bpf_ntohs(*value) > mss) {
				__u16 old = *value;

				*value = bpf_htons(mss);
				tcp->check = zd_csum_replace(tcp->check, old, *value);
			}
			return;
		}
		opt += opt[1];
	}
}

/*
 * Wraps the IPv4 packet of the frame at ctx in the tunnel's outer header
 * and addresses the frame to the next hop. Returns 0, or -1 (the frame
 * left as it was, or too short to be one zd forwards: the caller passes it).
 */
static __always_inline int zd_encap_ipip(struct xdp_md *ctx, const struct zd_tunnel *t)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *inner = (struct iphdr *)(eth + 1);
	struct iphdr *outer;
	__u8 tos;
	__u16 len;

	if ((void *)(inner + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return -1;
	tos = inner->tos;
	len = bpf_ntohs(inner->tot_len);
	/* The whole inner packet must be in the frame: a cut one is not sent on. */
	if (len < sizeof(*inner) || len > 0xffff - ZD_IPIP_OVERHEAD ||
	    (void *)inner + len > data_end)
		return -1;
	if (bpf_xdp_adjust_head(ctx, -ZD_IPIP_OVERHEAD))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	outer = (struct iphdr *)(eth + 1);
	if ((void *)(outer + 1) > data_end)
		return -1;
	__builtin_memcpy(eth->h_dest, t->dst_mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, t->src_mac, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);
	outer->version = 4;
	outer->ihl = 5;
	outer->tos = tos;
	outer->tot_len = bpf_htons(len + ZD_IPIP_OVERHEAD);
	outer->id = 0;
	outer->frag_off = bpf_htons(0x4000); /* DF */
	outer->ttl = 64;
	outer->protocol = IPPROTO_IPIP;
	outer->check = 0;
	outer->saddr = t->src;
	outer->daddr = t->dst;
	outer->check = zd_ipv4_csum(outer);
	return 0;
}

#define ZD_IP6IP6_OVERHEAD ((int)sizeof(struct ipv6hdr))

/* The `size` bytes of outer header after the Ethernet header taken out, the
 * Ethernet header kept (the frame was addressed to this host): what both
 * unwrappings do once they have checked the packet. 0, or -1. */
static __always_inline int zd_pop_outer(struct xdp_md *ctx, int size)
{
	struct ethhdr *eth = (void *)(long)ctx->data;
	struct ethhdr kept;

	if ((void *)(eth + 1) > (void *)(long)ctx->data_end)
		return -1;
	__builtin_memcpy(&kept, eth, sizeof(kept));
	if (bpf_xdp_adjust_head(ctx, size))
		return -1;
	eth = (void *)(long)ctx->data;
	if ((void *)(eth + 1) > (void *)(long)ctx->data_end)
		return -1;
	__builtin_memcpy(eth, &kept, sizeof(kept));
	return 0;
}

/*
 * The same for an IPv6 packet over an IPv6 fabric: an outer IPv6 header
 * (next header 41), its traffic class (DSCP and ECN) copied from the inner
 * one, hop limit 64, flow label 0; the inner packet as it arrived. IPv6 is
 * never fragmented on the way, so only the MSS keeps it within the MTU.
 */
static __always_inline int zd_encap_ip6ip6(struct xdp_md *ctx, const struct zd_tunnel6 *t)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *inner = (struct ipv6hdr *)(eth + 1);
	struct ipv6hdr *outer;
	__u8 traffic_class;
	__u32 len;

	if ((void *)(inner + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IPV6) ||
	    inner->version != 6)
		return -1;
	traffic_class = (inner->priority << 4) | (inner->flow_lbl[0] >> 4);
	len = sizeof(*inner) + bpf_ntohs(inner->payload_len);
	if (len > 0xffff || (void *)inner + len > data_end)
		return -1;
	if (bpf_xdp_adjust_head(ctx, -ZD_IP6IP6_OVERHEAD))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	outer = (struct ipv6hdr *)(eth + 1);
	if ((void *)(outer + 1) > data_end)
		return -1;
	__builtin_memcpy(eth->h_dest, t->dst_mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, t->src_mac, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IPV6);
	outer->version = 6;
	outer->priority = traffic_class >> 4;
	outer->flow_lbl[0] = (traffic_class & 0x0f) << 4;
	outer->flow_lbl[1] = 0;
	outer->flow_lbl[2] = 0;
	outer->payload_len = bpf_htons(len);
	outer->nexthdr = IPPROTO_IPV6;
	outer->hop_limit = 64;
	__builtin_memcpy(&outer->saddr, t->src, 16);
	__builtin_memcpy(&outer->daddr, t->dst, 16);
	return 0;
}

/* And its unwrapping: a whole IPv6-in-IPv6 packet with no extension header. */
static __always_inline int zd_decap_ip6ip6(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *outer = (struct ipv6hdr *)(eth + 1);
	struct ipv6hdr *inner = outer + 1;

	if ((void *)(inner + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IPV6) ||
	    outer->version != 6 || outer->nexthdr != IPPROTO_IPV6 || inner->version != 6 ||
	    bpf_ntohs(outer->payload_len) != sizeof(*inner) + bpf_ntohs(inner->payload_len) ||
	    (void *)inner + bpf_ntohs(outer->payload_len) > data_end)
		return -1;
	return zd_pop_outer(ctx, ZD_IP6IP6_OVERHEAD);
}

/*
 * On the host a flow was forwarded to: the outer header taken off, the
 * frame's Ethernet header kept (it was addressed to this host), so what is
 * left is the client's packet as the ingress host received it, for the
 * steering that follows. Only a whole, unfragmented IPIP packet with a
 * plain 20-byte outer header is unwrapped; returns 0, or -1 (left as it
 * was: the caller passes it to the stack, which has no IPIP device and
 * drops it).
 */
static __always_inline int zd_decap_ipip(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *outer = (struct iphdr *)(eth + 1);
	struct iphdr *inner = outer + 1;

	if ((void *)(inner + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    outer->version != 4 || outer->ihl != 5 || outer->protocol != IPPROTO_IPIP ||
	    (outer->frag_off & bpf_htons(0x3fff)) || inner->version != 4 ||
	    bpf_ntohs(outer->tot_len) != bpf_ntohs(inner->tot_len) + ZD_IPIP_OVERHEAD ||
	    (void *)outer + bpf_ntohs(outer->tot_len) > data_end)
		return -1;
	return zd_pop_outer(ctx, ZD_IPIP_OVERHEAD);
}

/*
 * Path MTU discovery at the ingress (as katran does): a packet that would
 * not fit the fabric once wrapped is answered, instead of sent, with what a
 * router would say: ICMP "fragmentation needed" (IPv4, RFC 792/1191) or
 * "packet too big" (IPv6, RFC 4443), from the packet's destination (the
 * domain's address) to its source, naming the largest packet that fits.
 * The client lowers its path MTU for the domain and sends again, smaller.
 * The SYN's MSS clamp makes this rare; it is what keeps a client whose
 * segments follow the server's larger MSS (an upload) going.
 *
 * The frame is rewritten in place into the answer, for XDP_TX: Ethernet
 * addresses swapped, a new IP and ICMP header, then the start of the
 * packet (its IP header and 8 bytes of payload). 0, or -1 (left unusable:
 * the caller drops it).
 */
#define ZD_ICMP_QUOTE 8 /* bytes of the packet's payload quoted after its header */

/* The one's complement sum of n 16-bit words at p (n bounded, unrolled). */
static __always_inline __u32 zd_sum16(const void *p, int n)
{
	const __u16 *w = p;
	__u32 sum = 0;
	int i;

#pragma unroll
	for (i = 0; i < n; i++)
		sum += w[i];
	return sum;
}

static __always_inline __u16 zd_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* The frame made into the start of an answer to its sender: cut to `keep`
 * bytes, `room` more made in front (for the answer's headers), and a new
 * Ethernet header there, its addresses the old one's swapped. 0, or -1. */
static __always_inline int zd_turn_around(struct xdp_md *ctx, int keep, int room, __u16 proto)
{
	int len = (long)ctx->data_end - (long)ctx->data;
	struct ethhdr *eth, old;

	if (len < keep)
		return -1;
	if (len > keep && bpf_xdp_adjust_tail(ctx, keep - len))
		return -1;
	if (bpf_xdp_adjust_head(ctx, -room))
		return -1;
	eth = (void *)(long)ctx->data;
	if ((void *)eth + room + sizeof(old) > (void *)(long)ctx->data_end)
		return -1;
	/* The old Ethernet header now lies where the answer's headers go. */
	__builtin_memcpy(&old, (void *)eth + room, sizeof(old));
	__builtin_memcpy(eth->h_dest, old.h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, old.h_dest, ETH_ALEN);
	eth->h_proto = bpf_htons(proto);
	return 0;
}

static __always_inline int zd_icmp4_too_big(struct xdp_md *ctx, __u16 mtu)
{
	const int quoted = sizeof(struct iphdr) + ZD_ICMP_QUOTE;
	const int room = sizeof(struct iphdr) + 8;
	struct iphdr *orig = (void *)(long)ctx->data + sizeof(struct ethhdr);
	struct iphdr *ip, *inner;
	__u8 *icmp;
	__u32 sum;

	if ((void *)(orig + 1) > (void *)(long)ctx->data_end || orig->ihl != 5)
		return -1;
	if (zd_turn_around(ctx, sizeof(struct ethhdr) + quoted, room, ETH_P_IP))
		return -1;
	ip = (void *)(long)ctx->data + sizeof(struct ethhdr);
	icmp = (void *)(ip + 1);
	inner = (void *)(icmp + 8);
	if ((void *)inner + quoted > (void *)(long)ctx->data_end)
		return -1;
	ip->version = 4;
	ip->ihl = 5;
	ip->tos = 0;
	ip->tot_len = bpf_htons(sizeof(*ip) + 8 + quoted);
	ip->id = 0;
	ip->frag_off = 0;
	ip->ttl = 64;
	ip->protocol = IPPROTO_ICMP;
	ip->saddr = inner->daddr;
	ip->daddr = inner->saddr;
	ip->check = 0;
	ip->check = zd_ipv4_csum(ip);
	icmp[0] = 3; /* destination unreachable */
	icmp[1] = 4; /* fragmentation needed and DF set */
	icmp[2] = icmp[3] = 0;
	icmp[4] = icmp[5] = 0;
	*(__u16 *)(icmp + 6) = bpf_htons(mtu);
	sum = zd_sum16(icmp, (8 + quoted) / 2);
	*(__u16 *)(icmp + 2) = zd_fold(sum);
	return 0;
}

static __always_inline int zd_icmp6_too_big(struct xdp_md *ctx, __u32 mtu)
{
	const int quoted = sizeof(struct ipv6hdr) + ZD_ICMP_QUOTE;
	const int room = sizeof(struct ipv6hdr) + 8;
	struct ipv6hdr *orig = (void *)(long)ctx->data + sizeof(struct ethhdr);
	struct ipv6hdr *ip6, *inner;
	__u8 *icmp;
	__u32 sum;

	if ((void *)(orig + 1) > (void *)(long)ctx->data_end)
		return -1;
	if (zd_turn_around(ctx, sizeof(struct ethhdr) + quoted, room, ETH_P_IPV6))
		return -1;
	ip6 = (void *)(long)ctx->data + sizeof(struct ethhdr);
	icmp = (void *)(ip6 + 1);
	inner = (void *)(icmp + 8);
	if ((void *)inner + quoted > (void *)(long)ctx->data_end)
		return -1;
	*(__u32 *)ip6 = bpf_htonl(6 << 28); /* version 6, no class, no label */
	ip6->payload_len = bpf_htons(8 + quoted);
	ip6->nexthdr = 58; /* ICMPv6 */
	ip6->hop_limit = 64;
	__builtin_memcpy(&ip6->saddr, &inner->daddr, 16);
	__builtin_memcpy(&ip6->daddr, &inner->saddr, 16);
	icmp[0] = 2; /* packet too big */
	icmp[1] = 0;
	icmp[2] = icmp[3] = 0;
	*(__u32 *)(icmp + 4) = bpf_htonl(mtu);
	/* Over the pseudo-header (addresses, length, next header) too. */
	sum = zd_sum16(&ip6->saddr, 16) + bpf_htons(8 + quoted) + bpf_htons(58);
	sum += zd_sum16(icmp, (8 + quoted) / 2);
	*(__u16 *)(icmp + 2) = zd_fold(sum);
	return 0;
}

#endif /* ZD_ENCAP_BPF_H */
