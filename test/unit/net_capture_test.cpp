// Frames captured from the Linux kernel (6.x), parsed and checksum-verified.
//
// How they were captured: inside `unshare -rn`, a veth pair v0 (02:..:02,
// 192.0.2.2/24, 2001:db8::2/64 nodad) / v1 (02:..:01), transmit checksum
// offload turned off on both ends with `ethtool -K vX tx off` so that the
// kernel computes every checksum in software, and an AF_PACKET socket on v1
// recording what v0 sent: UDP to 192.0.2.1 and 2001:db8::1 before any
// neighbour entry (giving an ARP request and a neighbour solicitation), then
// with static neighbours: ICMP echo requests from ping sockets, UDP
// datagrams, and TCP SYNs from non-blocking connect(). MLD reports and the
// router solicitation were sent by the kernel on its own. The "partial"
// frames were captured the same way with offload left on: their TCP/UDP
// checksum field then holds only the pseudo-header sum (CHECKSUM_PARTIAL).
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "net_test_util.h"
#include "passt/net/arp.h"
#include "passt/net/build.h"
#include "passt/net/eth.h"
#include "passt/net/icmp.h"
#include "passt/net/icmpv6.h"
#include "passt/net/ip4.h"
#include "passt/net/ip6.h"
#include "passt/net/tcp.h"
#include "passt/net/udp.h"
#include "support/frames.h"

namespace passt {
namespace {

using test::hex;

const char *arp_req = "ffffffffffff02000000000208060001080006040001020000000002c0000202"
		      "000000000000c0000201";
const char *icmp4_echo = "0200000000010200000000020800450000335d80400040015946c0000202c000"
			 "02010800e0b5beb5000170696e67207061796c6f616420303132333435363738"
			 "39";
const char *udp4 = "020000000001020000000002080045000030be6740004011f851c0000202c000"
		   "0201da2f14e9001cedf268656c6c6f2c207564703420646174616772616d";
const char *tcp4_syn = "02000000000102000000000208004500003cd6c340004006dff4c0000202c000"
		       "0201a5a41f90bd0317e200000000a002faf06fdb0000020405b40402080a0fc2"
		       "af50000000000103030a";
const char *icmp6_echo = "02000000000102000000000286dd60026c7b00203a4020010db8000000000000"
			 "00000000000220010db800000000000000000000000180008e2dbeb600017069"
			 "6e6736207061796c6f61642030313233343536373839";
const char *udp6 = "02000000000102000000000286dd60066921001d114020010db8000000000000"
		   "00000000000220010db8000000000000000000000001c42e14e9001d09816865"
		   "6c6c6f2c207564703620646174616772616d21";
const char *tcp6_syn = "02000000000102000000000286dd60074c220028064020010db8000000000000"
		       "00000000000220010db800000000000000000000000189821f9022d6142a0000"
		       "0000a002fd20833c0000020405a00402080a8ee8fd43000000000103030a";
const char *ns = "3333ff00000102000000000286dd6000000000203aff20010db8000000000000"
		 "000000000002ff0200000000000000000001ff00000187001c27000000002001"
		 "0db80000000000000000000000010101020000000002";
const char *rs = "33330000000202000000000286dd6000000000103afffe800000000000000000"
		 "00fffe000002ff02000000000000000000000000000285007b2a000000000101"
		 "020000000002";
const char *mld_hbh = "33330000001602000000000286dd6000000000240001fe800000000000000000"
		      "00fffe000002ff0200000000000000000000000000163a000502000001008f00"
		      "72050000000104000000ff0200000000000000000001ff000002";
// Offload on: checksum fields hold the pseudo-header sum only.
const char *udp4_partial = "020000000001020000000002080045000030e1b740004011d501c0000202c000"
			   "0201829514e9001c843168656c6c6f2c207564703420646174616772616d";
const char *tcp4_partial = "02000000000102000000000208004500003c006340004006b655c0000202c000"
			   "0201a5a61f90046af39a00000000a002faf084320000020405b40402080a8845"
			   "0e2d000000000103030a";
const char *udp6_partial = "02000000000102000000000286dd600a79ab001d114020010db8000000000000"
			   "00000000000220010db8000000000000000000000001bf0314e9001d5ba36865"
			   "6c6c6f2c207564703620646174616772616d21";

const MacAddr mac1{{2, 0, 0, 0, 0, 1}}, mac2{{2, 0, 0, 0, 0, 2}};
const Ipv4Addr h4 = *Ipv4Addr::parse("192.0.2.2"), gw4 = *Ipv4Addr::parse("192.0.2.1");
const Ipv6Addr h6 = *Ipv6Addr::parse("2001:db8::2"), gw6 = *Ipv6Addr::parse("2001:db8::1");

TEST(NetCapture, ArpRequest) {
	auto f = hex(arp_req);
	auto eth = ConstEthView::parse(f);
	ASSERT_TRUE(eth);
	EXPECT_TRUE(eth->dst().is_broadcast());
	EXPECT_EQ(eth->src(), mac2);
	EXPECT_EQ(eth->ethertype(), ethertype::arp);
	auto arp = ConstArpView::parse(eth->payload());
	ASSERT_TRUE(arp);
	EXPECT_EQ(arp->op(), arpop::request);
	EXPECT_EQ(arp->sha(), mac2);
	EXPECT_EQ(arp->spa(), h4);
	EXPECT_TRUE(arp->tha().is_zero());
	EXPECT_EQ(arp->tpa(), gw4);
}

TEST(NetCapture, Icmp4Echo) {
	auto f = hex(icmp4_echo);
	auto eth = ConstEthView::parse(f);
	ASSERT_TRUE(eth);
	EXPECT_EQ(eth->dst(), mac1);
	EXPECT_EQ(eth->ethertype(), ethertype::ipv4);
	auto ip = ConstIp4View::parse(eth->payload());
	ASSERT_TRUE(ip);
	EXPECT_TRUE(ip->checksum_ok());
	EXPECT_EQ(ip->header_len(), 20u);
	EXPECT_EQ(ip->total_len(), 0x33);
	EXPECT_TRUE(ip->df());
	EXPECT_FALSE(ip->is_fragment());
	EXPECT_EQ(ip->ttl(), 64);
	EXPECT_EQ(ip->protocol(), ipproto::icmp);
	EXPECT_EQ(ip->saddr(), h4);
	EXPECT_EQ(ip->daddr(), gw4);
	auto icmp = ConstIcmpView::parse(ip->payload());
	ASSERT_TRUE(icmp);
	EXPECT_EQ(icmp->type(), icmptype::echo_request);
	EXPECT_EQ(icmp->id(), 0xbeb5);
	EXPECT_EQ(icmp->seq(), 1);
	EXPECT_TRUE(icmp->checksum_ok());
	std::string data(reinterpret_cast<const char *>(icmp->data().data()), icmp->data().size());
	EXPECT_EQ(data, "ping payload 0123456789");
}

TEST(NetCapture, Udp4) {
	auto f = hex(udp4);
	auto ip = ConstIp4View::parse(ConstEthView::parse(f)->payload());
	ASSERT_TRUE(ip);
	EXPECT_TRUE(ip->checksum_ok());
	auto udp = ConstUdpView::parse(ip->payload());
	ASSERT_TRUE(udp);
	EXPECT_EQ(udp->sport(), 0xda2f);
	EXPECT_EQ(udp->dport(), 5353);
	EXPECT_EQ(udp->length(), 28);
	EXPECT_EQ(udp->payload().size(), 20u);
	EXPECT_TRUE(udp->checksum_ok4(ip->saddr(), ip->daddr()));
	EXPECT_FALSE(udp->checksum_ok4(ip->daddr(), Ipv4Addr::from_host(0xc0000203)));
}

TEST(NetCapture, Tcp4Syn) {
	auto f = hex(tcp4_syn);
	auto ip = ConstIp4View::parse(ConstEthView::parse(f)->payload());
	ASSERT_TRUE(ip);
	EXPECT_TRUE(ip->checksum_ok());
	auto tcp = ConstTcpView::parse(ip->payload());
	ASSERT_TRUE(tcp);
	EXPECT_EQ(tcp->sport(), 0xa5a4);
	EXPECT_EQ(tcp->dport(), 8080);
	EXPECT_EQ(tcp->seq(), 0xbd0317e2u);
	EXPECT_EQ(tcp->ack_seq(), 0u);
	EXPECT_EQ(tcp->flags(), tcpflag::syn);
	EXPECT_EQ(tcp->window(), 64240);
	EXPECT_EQ(tcp->header_len(), 40u);
	EXPECT_TRUE(tcp->payload().empty());
	EXPECT_TRUE(tcp->checksum_ok4(ip->saddr(), ip->daddr()));
	TcpOptions o = tcp->parse_options();
	EXPECT_FALSE(o.malformed);
	EXPECT_EQ(o.mss, 1460);
	EXPECT_TRUE(o.sack_permitted);
	EXPECT_TRUE(o.has_timestamps);
	EXPECT_EQ(o.ts_val, 0x0fc2af50u);
	EXPECT_EQ(o.ts_ecr, 0u);
	EXPECT_EQ(o.wscale, 10);
}

TEST(NetCapture, Icmp6Echo) {
	auto f = hex(icmp6_echo);
	auto eth = ConstEthView::parse(f);
	ASSERT_TRUE(eth);
	EXPECT_EQ(eth->ethertype(), ethertype::ipv6);
	auto ip = ConstIp6View::parse(eth->payload());
	ASSERT_TRUE(ip);
	EXPECT_EQ(ip->flow_label(), 0x26c7bu);
	EXPECT_EQ(ip->payload_len(), 0x20);
	EXPECT_EQ(ip->hop_limit(), 64);
	EXPECT_EQ(ip->proto(), ipproto::icmpv6);
	EXPECT_EQ(ip->l4_offset(), 40u);
	EXPECT_EQ(ip->saddr(), h6);
	EXPECT_EQ(ip->daddr(), gw6);
	auto icmp = ConstIcmp6View::parse(ip->l4());
	ASSERT_TRUE(icmp);
	EXPECT_EQ(icmp->type(), icmp6type::echo_request);
	EXPECT_EQ(icmp->id(), 0xbeb6);
	EXPECT_EQ(icmp->seq(), 1);
	EXPECT_TRUE(icmp->checksum_ok(ip->saddr(), ip->daddr()));
	EXPECT_FALSE(icmp->checksum_ok(ip->daddr(), ip->saddr()) &&
		     icmp->checksum_ok(ip->saddr(), Ipv6Addr::loopback()));
}

TEST(NetCapture, Udp6) {
	auto f = hex(udp6);
	auto ip = ConstIp6View::parse(ConstEthView::parse(f)->payload());
	ASSERT_TRUE(ip);
	EXPECT_EQ(ip->proto(), ipproto::udp);
	auto udp = ConstUdpView::parse(ip->l4());
	ASSERT_TRUE(udp);
	EXPECT_EQ(udp->dport(), 5353);
	EXPECT_EQ(udp->payload().size(), 21u);
	EXPECT_TRUE(udp->checksum_ok6(ip->saddr(), ip->daddr()));
	EXPECT_FALSE(udp->checksum_ok6(ip->saddr(), Ipv6Addr::loopback()));
}

TEST(NetCapture, Tcp6Syn) {
	auto f = hex(tcp6_syn);
	auto ip = ConstIp6View::parse(ConstEthView::parse(f)->payload());
	ASSERT_TRUE(ip);
	EXPECT_EQ(ip->proto(), ipproto::tcp);
	auto tcp = ConstTcpView::parse(ip->l4());
	ASSERT_TRUE(tcp);
	EXPECT_EQ(tcp->dport(), 8080);
	EXPECT_TRUE(tcp->has(tcpflag::syn));
	EXPECT_FALSE(tcp->has(tcpflag::ack));
	EXPECT_TRUE(tcp->checksum_ok6(ip->saddr(), ip->daddr()));
	TcpOptions o = tcp->parse_options();
	EXPECT_EQ(o.mss, 1440);
	EXPECT_TRUE(o.sack_permitted);
	EXPECT_EQ(o.ts_val, 0x8ee8fd43u);
	EXPECT_EQ(o.wscale, 10);
}

TEST(NetCapture, NeighborSolicitation) {
	auto f = hex(ns);
	auto eth = ConstEthView::parse(f);
	ASSERT_TRUE(eth);
	EXPECT_EQ(eth->dst(), (MacAddr{{0x33, 0x33, 0xff, 0, 0, 1}}));
	auto ip = ConstIp6View::parse(eth->payload());
	ASSERT_TRUE(ip);
	EXPECT_EQ(ip->hop_limit(), ndp::hop_limit);
	EXPECT_EQ(ip->daddr(), gw6.solicited_node());
	auto icmp = ConstIcmp6View::parse(ip->l4());
	ASSERT_TRUE(icmp);
	EXPECT_EQ(icmp->type(), icmp6type::neighbor_solicit);
	EXPECT_TRUE(icmp->checksum_ok(ip->saddr(), ip->daddr()));
	ASSERT_TRUE(icmp->target());
	EXPECT_EQ(*icmp->target(), gw6);
	auto opts = icmp->from(ndp::ns_opts_off);
	EXPECT_TRUE(tlv::valid<tlv::Ndp>(opts));
	auto sll = tlv::find<tlv::Ndp>(opts, ndp::opt_source_lladdr);
	ASSERT_TRUE(sll);
	EXPECT_EQ(ndp_lladdr(*sll), mac2);
	EXPECT_FALSE(tlv::find<tlv::Ndp>(opts, ndp::opt_target_lladdr));
}

TEST(NetCapture, RouterSolicitation) {
	auto f = hex(rs);
	auto ip = ConstIp6View::parse(ConstEthView::parse(f)->payload());
	ASSERT_TRUE(ip);
	EXPECT_TRUE(ip->saddr().is_link_local());
	auto icmp = ConstIcmp6View::parse(ip->l4());
	ASSERT_TRUE(icmp);
	EXPECT_EQ(icmp->type(), icmp6type::router_solicit);
	EXPECT_TRUE(icmp->checksum_ok(ip->saddr(), ip->daddr()));
	auto sll = tlv::find<tlv::Ndp>(icmp->from(ndp::rs_opts_off), ndp::opt_source_lladdr);
	ASSERT_TRUE(sll);
	EXPECT_EQ(ndp_lladdr(*sll), mac2);
}

// MLDv2 report: a real hop-by-hop header (router alert) before ICMPv6.
TEST(NetCapture, MldWithHopByHop) {
	auto f = hex(mld_hbh);
	auto ip = ConstIp6View::parse(ConstEthView::parse(f)->payload());
	ASSERT_TRUE(ip);
	EXPECT_EQ(ip->next_header(), ipproto::hopopts);
	EXPECT_EQ(ip->proto(), ipproto::icmpv6);
	EXPECT_EQ(ip->l4_offset(), 48u);
	EXPECT_EQ(ip->hop_limit(), 1);
	auto icmp = ConstIcmp6View::parse(ip->l4());
	ASSERT_TRUE(icmp);
	EXPECT_EQ(icmp->type(), 143);
	EXPECT_TRUE(icmp->checksum_ok(ip->saddr(), ip->daddr()));
}

// Recomputing the checksums of every captured frame leaves it bit-identical.
TEST(NetCapture, FillChecksumsReproducesKernel) {
	for (const char *h :
	     {icmp4_echo, udp4, tcp4_syn, icmp6_echo, udp6, tcp6_syn, ns, rs, mld_hbh}) {
		auto orig = hex(h);
		auto f = orig;
		// Damage the IPv4 header checksum and the L4 checksum first.
		auto eth = EthView::parse(f);
		if (eth->ethertype() == ethertype::ipv4)
			f[24] = f[25] = std::byte{0xaa};
		size_t l4csum = 0;
		if (eth->ethertype() == ethertype::ipv4) {
			auto ip = Ip4View::parse(eth->payload());
			size_t l4 = 14 + ip->header_len();
			l4csum = ip->protocol() == ipproto::tcp   ? l4 + 16
				 : ip->protocol() == ipproto::udp ? l4 + 6
								  : l4 + 2;
		} else {
			auto ip = Ip6View::parse(eth->payload());
			size_t l4 = 14 + ip->l4_offset();
			l4csum = ip->proto() == ipproto::tcp   ? l4 + 16
				 : ip->proto() == ipproto::udp ? l4 + 6
							       : l4 + 2;
		}
		f[l4csum] ^= std::byte{0x5a};
		ASSERT_NE(f, orig) << h;
		EXPECT_TRUE(fill_checksums(f)) << h;
		EXPECT_EQ(f, orig) << h;
	}
}

// Offload left on: the field holds the folded pseudo-header sum; completing
// it as a device would (checksum over the segment, field included) gives a
// valid checksum.
TEST(NetCapture, PartialChecksumCompletion) {
	for (const char *h : {udp4_partial, tcp4_partial}) {
		auto f = hex(h);
		auto ip = Ip4View::parse(EthView::parse(f)->payload());
		ASSERT_TRUE(ip && ip->checksum_ok());
		size_t off = ip->protocol() == ipproto::tcp ? 16 : 6;
		auto seg = ip->payload();
		uint16_t field = load_be16(seg.data() + off);
		uint64_t ph = pseudo_header4(ip->saddr(), ip->daddr(), ip->protocol(),
					     uint16_t(seg.size()));
		EXPECT_EQ(field, be16::from_raw(csum_fold(ph)).host());
		if (ip->protocol() == ipproto::tcp)
			EXPECT_FALSE(TcpView::parse(seg)->checksum_ok4(ip->saddr(), ip->daddr()));
		else
			EXPECT_FALSE(UdpView::parse(seg)->checksum_ok4(ip->saddr(), ip->daddr()));
		be16 c = inet_checksum(std::span<const std::byte>(seg));
		std::memcpy(seg.data() + off, &c.raw, 2);
		if (ip->protocol() == ipproto::tcp)
			EXPECT_TRUE(TcpView::parse(seg)->checksum_ok4(ip->saddr(), ip->daddr()));
		else
			EXPECT_TRUE(UdpView::parse(seg)->checksum_ok4(ip->saddr(), ip->daddr()));
	}
	auto f = hex(udp6_partial);
	auto ip = Ip6View::parse(EthView::parse(f)->payload());
	auto udp = UdpView::parse(ip->l4());
	EXPECT_FALSE(udp->checksum_ok6(ip->saddr(), ip->daddr()));
	be16 c = inet_checksum(std::span<const std::byte>(udp->bytes()));
	udp->set_checksum(c);
	EXPECT_TRUE(udp->checksum_ok6(ip->saddr(), ip->daddr()));
}

} // namespace
} // namespace passt
