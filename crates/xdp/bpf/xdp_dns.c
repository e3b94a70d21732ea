// SPDX-License-Identifier: Apache-2.0
//
// portcullis's XDP program: UDP datagrams to one of the DNS ports in `ports` go to the AF_XDP
// socket of their receive queue (`xsks`, indexed by rx queue); everything else, and any queue
// without a socket, goes on to the kernel's stack (XDP_PASS). IPv4 with options or fragments and
// IPv6 with extension headers pass too: the socket path answers them.
//
// It calls no helper beyond bpf_map_lookup_elem and bpf_redirect_map: some kernels' verifiers
// refuse bpf_xdp_adjust_meta in XDP programs (see bench/xdp/README.md in the shared lab).
//
// Rebuild with ./build.sh (clang, libbpf-dev); crates/xdp/tests/bpf_object.rs checks that the
// committed object matches this source when clang is installed.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

// Keys: UDP destination ports in network byte order; values unused.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u16);
	__type(value, __u8);
} ports SEC(".maps");

SEC("xdp")
int portcullis_dns(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct udphdr *udp;

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end)
			return XDP_PASS;
		if (ip->ihl != 5 || ip->protocol != IPPROTO_UDP ||
		    (ip->frag_off & bpf_htons(0x3fff)) != 0)
			return XDP_PASS;
		udp = (void *)(ip + 1);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end)
			return XDP_PASS;
		if (ip6->nexthdr != IPPROTO_UDP)
			return XDP_PASS;
		udp = (void *)(ip6 + 1);
	} else {
		return XDP_PASS;
	}
	if ((void *)(udp + 1) > end)
		return XDP_PASS;
	__u16 port = udp->dest;
	if (!bpf_map_lookup_elem(&ports, &port))
		return XDP_PASS;
	return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
}

// No GPL-only helper is called, so the license string need not be GPL-compatible.
char _license[] SEC("license") = "Apache-2.0";
