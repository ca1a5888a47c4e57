/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What both sk_lookup programs do: find the domain a new connection's
 * destination belongs to, and hand the connection to a workspace's socket.
 */
#ifndef ZD_LOOKUP_BPF_H
#define ZD_LOOKUP_BPF_H

#include <bpf/bpf_endian.h>

#include "zd_maps.bpf.h"

static __always_inline __u32 *zd_lookup_domain(struct bpf_sk_lookup *ctx)
{
	struct zd_prefix_key key = {};

	key.binding.protocol = ctx->protocol;
	key.binding.family = ctx->family;
	key.binding.port = ctx->local_port;
	if (ctx->family == AF_INET) {
		__builtin_memcpy(key.binding.addr, &ctx->local_ip4, 4);
		key.prefixlen = ZD_BINDING_FIXED_BITS + 32;
	} else {
		__u32 *a = (__u32 *)key.binding.addr;

		/* ctx fields are 4-byte context loads; copy them one by one. */
		a[0] = ctx->local_ip6[0];
		a[1] = ctx->local_ip6[1];
		a[2] = ctx->local_ip6[2];
		a[3] = ctx->local_ip6[3];
		key.prefixlen = ZD_BINDING_FIXED_BITS + 128;
	}
	return zd_find_domain(&key);
}

/* The connection as the XDP plane keys a flow (struct zd_flow_key). */
static __always_inline void zd_flow_of(struct bpf_sk_lookup *ctx, struct zd_flow_key *flow)
{
	__u32 *s = (__u32 *)flow->saddr, *d = (__u32 *)flow->daddr;

	flow->family = ctx->family;
	flow->protocol = ctx->protocol;
	flow->sport = bpf_ntohs(ctx->remote_port);
	flow->dport = ctx->local_port;
	/*
	 * Without a branch on the family: clang would merge the two arms into a
	 * load through a chosen ctx pointer, which the verifier refuses. The
	 * other family's fields read as zero (IPv4 in the first word).
	 */
	s[0] = ctx->remote_ip4 | ctx->remote_ip6[0];
	s[1] = ctx->remote_ip6[1];
	s[2] = ctx->remote_ip6[2];
	s[3] = ctx->remote_ip6[3];
	d[0] = ctx->local_ip4 | ctx->local_ip6[0];
	d[1] = ctx->local_ip6[1];
	d[2] = ctx->local_ip6[2];
	d[3] = ctx->local_ip6[3];
}

/*
 * Hands the connection to the workspace's listening socket registered under
 * plane (ZD_PLANE_*); 0 when it has none live, or the kernel refused it.
 */
static __always_inline int zd_assign(struct bpf_sk_lookup *ctx, __u32 workspace, __u8 plane)
{
	struct zd_socket_key key = {
		.workspace = workspace,
		.protocol = ctx->protocol,
		.family = ctx->family,
		.plane = plane,
	};
	struct bpf_sock *sk;
	long err;

	if (workspace == ZD_NO_ID)
		return 0;
	sk = bpf_map_lookup_elem(&zd_sockets, &key);
	if (!sk)
		return 0;
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	return err == 0;
}

#endif /* ZD_LOOKUP_BPF_H */
