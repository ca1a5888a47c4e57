/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Everything the BPF programs and zdctl agree on: map keys and values,
 * limits, and the state layout version. This is the ONLY definition; both
 * sides include this file, so a change here is a change to both.
 *
 * Integer types come from <linux/types.h> so the header builds unchanged
 * with clang -target bpf and with g++.
 */
#ifndef ZD_SHARED_H
#define ZD_SHARED_H

#include <linux/types.h>

/*
 * Bumped whenever a data-plane map's key, value or meaning changes, or the
 * set of pins does. zdctl refuses to touch a state of another layout version,
 * except `zdctl upgrade`, which moves it to its own in place: maps whose
 * shape changed are copied into new ones (user/state/migrate.hpp).
 *
 * The rule that makes that safe both ways: a layout only appends fields to a
 * value (or grows max_entries), and an appended field's zero means what the
 * older layout did. An older zdctl can then move a newer state back when
 * every appended field is still zero, and refuses when one is not.
 *
 * 2: control-plane records left the BPF object (user/state/records.hpp).
 * 3: struct zd_route gained the canary fields; the health map.
 * 4: 131072 domains (was 16384) and 262144 exact bindings (was 65536); the
 *    bindings and the domains' counters (now a per-CPU hash) are no longer
 *    preallocated: a state pays for the domains it holds.
 */
#define ZD_LAYOUT_VERSION 4
#define ZD_STATE_MAGIC 0x7a645354u /* "zdST" */

#define ZD_MAX_DOMAINS 131072
#define ZD_MAX_WORKSPACES 32768
#define ZD_MAX_BINDINGS 262144
#define ZD_MAX_PREFIX_BINDINGS 4096
/* A workspace has at most one socket per (protocol, family): tcp/udp x 4/6. */
#define ZD_MAX_SOCKETS (ZD_MAX_WORKSPACES * 4)

/* Id 0 means "no domain" / "no workspace"; real ids start at 1. */
#define ZD_NO_ID 0

/*
 * A binding is looked up with the destination of the packet. Fields are
 * ordered so that the same bytes also form the data of an LPM trie key:
 * protocol, family and port are matched in full (32 bits), then the address
 * by prefix.
 */
struct zd_binding_key {
	__u8 protocol; /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 family;   /* AF_INET or AF_INET6 */
	__u16 port;    /* host byte order, as bpf_sk_lookup.local_port */
	__u8 addr[16]; /* network order; IPv4 uses the first 4 bytes */
};

struct zd_prefix_key {
	__u32 prefixlen; /* 32 + address prefix length, for the LPM trie */
	struct zd_binding_key binding;
};

#define ZD_BINDING_FIXED_BITS 32

/*
 * Which workspace serves a domain. A switch rewrites this whole value with
 * one map update, so the program never sees a half-made route.
 *
 * A canary (layout 3) takes canary_weight percent of the domain's NEW
 * connections while its socket is live; zero (no canary) leaves every one
 * to active, as layout 2 did.
 */
struct zd_route {
	__u32 active;
	__u32 previous;
	__u32 canary;	     /* workspace id, or ZD_NO_ID */
	__u32 canary_weight; /* 0..100: percent of new connections */
};

/*
 * Which plane a socket is delivered by. A workspace in the host's namespace
 * registers its sockets under ZD_PLANE_HOST, where the host's sk_lookup
 * program finds them; a workspace in its own namespace (a container)
 * registers them under ZD_PLANE_XDP, which the host's sk_lookup never asks
 * for, since it could not deliver there: to it a container workspace looks
 * like one without a live socket. The XDP program asks for both.
 */
#define ZD_PLANE_HOST 0
#define ZD_PLANE_XDP 1

struct zd_socket_key {
	__u32 workspace;
	__u8 protocol;
	__u8 family;
	__u8 plane; /* ZD_PLANE_*; zero in states made before the XDP plane */
	__u8 pad;   /* always zero: part of the hash */
};

/*
 * A workspace's health as a continuous check last found it (layout 3): a
 * failing workspace is passed over like one without a live socket, so new
 * connections fall back to the previous workspace. Zero, the value of a
 * workspace never checked, means healthy: layout 2's behaviour.
 */
struct zd_health {
	__u32 failing; /* non-zero while its check fails */
};

/* Per-CPU; zdctl sums them. Kept per domain and per workspace. */
struct zd_counters {
	__u64 lookups;   /* the program saw a connection for this domain */
	__u64 steered;   /* delivered to the active workspace */
	__u64 fallbacks; /* active had no live socket: delivered to previous */
	__u64 drops;     /* neither had one: refused */
};

/* Single-entry array: identifies the state and its layout. */
struct zd_config {
	__u32 magic;
	__u32 layout_version;
	__u32 prefix_bindings; /* LPM trie consulted only while non-zero (1: it has entries) */
	__u32 reserved[3];     /* zero; layout 1 kept its id cursors here */
};

/*
 * The XDP plane (bpf/xdp.bpf.c): workspaces in their own network namespace,
 * reached through their host-side veth.
 */
#define ZD_MAX_FLOWS 262144
#define ZD_MAX_XDP_TARGETS ZD_MAX_WORKSPACES

/* A TCP flow as the XDP program sees it: the 5-tuple, addresses in network
 * order (IPv4 in the first 4 bytes), ports in host order. */
struct zd_flow_key {
	__u8 family;
	__u8 protocol;
	__u16 pad; /* always zero: part of the hash */
	__u16 sport;
	__u16 dport;
	__u8 saddr[16];
	__u8 daddr[16];
};

/* The workspace a flow's SYN was given to, and on which host: every later
 * packet follows it. */
struct zd_flow {
	__u32 workspace;
	__u32 node; /* ZD_NODE_SELF (zero in flows older than forwarding): here */
};

/* Where a container workspace's frames go: its host-side veth (a key of the
 * devmap) and the MAC addresses the frame is rewritten with. */
struct zd_xdp_target {
	__u32 ifindex;   /* host-side veth of the workspace's namespace */
	__u8 dst_mac[6]; /* the workspace-side veth */
	__u8 src_mac[6]; /* the host-side veth */
};

/* Where a flow forwarded to another host goes (issue 21): an IPv4-in-IPv4
 * tunnel from this host's fabric address to the target host's, out of the
 * fabric interface to its next hop, with forwarded SYNs' MSS clamped so the
 * larger packets still fit the fabric's MTU (bpf/zd_encap.bpf.h). */
struct zd_tunnel {
	__u32 src;      /* this host's fabric address, network order */
	__u32 dst;      /* the target host's */
	__u8 src_mac[6]; /* the fabric interface's */
	__u8 dst_mac[6]; /* the next hop's (bpf_fib_lookup) */
	__u16 mss;      /* a forwarded SYN's MSS is lowered to this */
	__u16 pad;
};

/* The same over an IPv6 fabric: IPv6-in-IPv6 (next header 41). */
struct zd_tunnel6 {
	__u8 src[16];   /* this host's fabric address */
	__u8 dst[16];   /* the target host's */
	__u8 src_mac[6];
	__u8 dst_mac[6];
	__u16 mss;      /* a forwarded SYN's MSS is lowered to this */
	__u16 pad;
};

/*
 * Forwarding to other hosts (issue 21). Each host the fabric reaches has a
 * node id; ZD_NODE_SELF is this host, whose entry holds its own fabric
 * addresses (the outer source of what it forwards, and the outer
 * destination of what it unwraps). A workspace with instances on other
 * hosts has a Maglev table of node ids (user/core/maglev.hpp): a new flow
 * goes to table[flow hash % ZD_MAGLEV_SIZE], and its flow entry keeps that
 * node for every later packet.
 */
#define ZD_MAX_NODES 1024
#define ZD_NODE_SELF 0
#define ZD_MAGLEV_SIZE 4099
#define ZD_NODE_NAME 64

#define ZD_FABRIC_V4 1 /* the node has an IPv4 fabric address: IPv4 flows go by IPIP */
#define ZD_FABRIC_V6 2 /* and an IPv6 one: IPv6 flows go by IPv6-in-IPv6 */

struct zd_node {
	struct zd_tunnel v4;  /* MACs unused: bpf_fib_lookup gives them per packet */
	struct zd_tunnel6 v6;
	__u32 fabric;         /* ZD_FABRIC_* */
	__u32 pad;
	char name[ZD_NODE_NAME]; /* for status only */
};

struct zd_instances {
	__u32 count; /* instances the table spreads over, this host's included */
	__u32 local; /* non-zero: one of them is this host's */
	__u16 table[ZD_MAGLEV_SIZE]; /* node id of each slot */
};

/* A domain's choices about where its new flows go, for a domain that makes
 * any (zd_domain_options, keyed by domain id). */
#define ZD_PREFER_LOCAL 1 /* a local instance alive: new flows stay here */

struct zd_domain_options {
	__u32 flags; /* ZD_PREFER_LOCAL */
};

/* Per-CPU, per destination node; zdctl sums them. */
struct zd_node_counters {
	__u64 flows;   /* new flows sent there */
	__u64 packets; /* every packet sent there, the SYN's included */
	__u64 bytes;   /* their inner bytes */
	__u64 errors;  /* not sent: no route to the node, or too big for the fabric */
};

/* Per-CPU; zdctl sums them. */
struct zd_xdp_counters {
	__u64 flows_added; /* a SYN made a new flow entry (not a retransmit) */
	__u64 steered;     /* SYN redirected to the active workspace */
	__u64 fallbacks;   /* SYN redirected to the previous one: active was dead */
	__u64 drops;       /* SYN for a domain with no live workspace */
	__u64 followed;    /* a later packet of a known flow, sent where its SYN went */
	__u64 to_host;     /* passed to the host stack: a host workspace's flow */
	__u64 flow_misses; /* a non-SYN packet to a domain with no flow entry (passed) */
	__u64 forwarded;   /* a packet sent to another host (see the per-node counters) */
	__u64 unwrapped;   /* a packet another host forwarded here, unwrapped */
	__u64 forward_errors; /* a packet for another host that could not be sent */
	__u64 too_big;     /* too big for the fabric once wrapped: its sender told so (ICMP) */
};

#endif /* ZD_SHARED_H */
