// Ethernet and ARP views.
#include <gtest/gtest.h>

#include "net_test_util.h"
#include "passt/net/arp.h"
#include "passt/net/eth.h"

namespace passt {
namespace {

using test::hex;

TEST(NetEth, ParseAndSet) {
	auto f = hex("0a0b0c0d0e0f 010203040506 86dd 6000");
	auto e = EthView::parse(f);
	ASSERT_TRUE(e);
	EXPECT_EQ(e->dst(), (MacAddr{{0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f}}));
	EXPECT_EQ(e->src(), (MacAddr{{1, 2, 3, 4, 5, 6}}));
	EXPECT_EQ(e->ethertype(), ethertype::ipv6);
	EXPECT_EQ(e->payload().size(), 2u);
	e->set_dst(MacAddr::broadcast());
	e->set_src(MacAddr{{9, 9, 9, 9, 9, 9}});
	e->set_ethertype(ethertype::arp);
	EXPECT_EQ(f, hex("ffffffffffff 090909090909 0806 6000"));
	for (size_t n = 0; n < 14; n++)
		EXPECT_FALSE(ConstEthView::parse(std::span(f).first(n)));
	auto hdr_only = ConstEthView::parse(std::span(f).first(14));
	ASSERT_TRUE(hdr_only);
	EXPECT_TRUE(hdr_only->payload().empty());
}

const char *arp_reply = "0001 0800 06 04 0002 020000000001 c0000201 020000000002 c0000202";

TEST(NetArp, ParsesReplyAndIgnoresPadding) {
	auto p = hex(arp_reply);
	p.resize(46);
	auto a = ConstArpView::parse(p);
	ASSERT_TRUE(a);
	EXPECT_EQ(a->op(), arpop::reply);
	EXPECT_EQ(a->sha(), (MacAddr{{2, 0, 0, 0, 0, 1}}));
	EXPECT_EQ(a->spa(), Ipv4Addr::from_host(0xc0000201));
	EXPECT_EQ(a->tha(), (MacAddr{{2, 0, 0, 0, 0, 2}}));
	EXPECT_EQ(a->tpa(), Ipv4Addr::from_host(0xc0000202));
	EXPECT_EQ(a->bytes().size(), 28u);
}

TEST(NetArp, RejectsOtherTypesAndTruncated) {
	auto p = hex(arp_reply);
	for (size_t n = 0; n < 28; n++)
		EXPECT_FALSE(ConstArpView::parse(std::span(p).first(n)));
	for (size_t i : {1, 2, 4, 5}) { // htype, ptype, hlen, plen
		auto b = p;
		b[i] ^= std::byte{0x10};
		EXPECT_FALSE(ConstArpView::parse(b)) << i;
	}
}

TEST(NetArp, Builds) {
	std::vector<std::byte> b(28, std::byte{0xaa});
	auto a = ArpView::init(b);
	ASSERT_TRUE(a);
	a->set_op(arpop::reply);
	a->set_sha(MacAddr{{2, 0, 0, 0, 0, 1}});
	a->set_spa(Ipv4Addr::from_host(0xc0000201));
	a->set_tha(MacAddr{{2, 0, 0, 0, 0, 2}});
	a->set_tpa(Ipv4Addr::from_host(0xc0000202));
	EXPECT_EQ(b, hex(arp_reply));
	std::vector<std::byte> small(27);
	EXPECT_FALSE(ArpView::init(small));
}

} // namespace
} // namespace passt
