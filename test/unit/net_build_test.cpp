// Frame builders: every layer of a built frame parses back with the values
// given and valid checksums; frames that do not fit are refused.
#include <gtest/gtest.h>

#include <cstring>

#include "net_test_util.h"
#include "passt/net/arp.h"
#include "passt/net/build.h"
#include "passt/net/eth.h"
#include "passt/net/icmp.h"
#include "passt/net/icmpv6.h"
#include "passt/net/ip4.h"
#include "passt/net/ip6.h"
#include "passt/net/udp.h"
#include "support/frames.h"

namespace passt {
namespace {

using test::hex;

const MacAddr gm{{0x52, 0x54, 0, 0x12, 0x34, 0x56}}, om{{0x9a, 0x55, 0x9a, 0x55, 0x9a, 0x55}};
const Ipv4Addr gw4 = Ipv4Addr::from_host(0xc0a80001), g4 = Ipv4Addr::from_host(0xc0a80064);
const Ipv6Addr ll = *Ipv6Addr::parse("fe80::1"), g6 = *Ipv6Addr::parse("2001:db8::64");

std::vector<std::byte> text(const char *s) {
	std::vector<std::byte> v(std::strlen(s));
	std::memcpy(v.data(), s, v.size());
	return v;
}

TEST(NetBuild, Udp4) {
	std::vector<std::byte> buf(1500, std::byte{0xcc});
	auto payload = text("dhcp reply payload.");
	size_t n = build_udp4(buf, gm, om, gw4, g4, 67, 68, payload);
	ASSERT_EQ(n, 42 + payload.size());
	auto f = std::span(buf).first(n);
	auto eth = ConstEthView::parse(f);
	EXPECT_EQ(eth->dst(), gm);
	EXPECT_EQ(eth->src(), om);
	EXPECT_EQ(eth->ethertype(), ethertype::ipv4);
	auto ip = ConstIp4View::parse(eth->payload());
	ASSERT_TRUE(ip);
	EXPECT_TRUE(ip->checksum_ok());
	EXPECT_EQ(ip->total_len(), 20 + 8 + payload.size());
	EXPECT_EQ(ip->protocol(), ipproto::udp);
	EXPECT_EQ(ip->ttl(), 64);
	EXPECT_TRUE(ip->df());
	EXPECT_EQ(ip->saddr(), gw4);
	EXPECT_EQ(ip->daddr(), g4);
	auto udp = ConstUdpView::parse(ip->payload());
	ASSERT_TRUE(udp);
	EXPECT_EQ(udp->sport(), 67);
	EXPECT_EQ(udp->dport(), 68);
	EXPECT_NE(udp->checksum().raw, 0);
	EXPECT_TRUE(udp->checksum_ok4(gw4, g4));
	EXPECT_TRUE(std::equal(udp->payload().begin(), udp->payload().end(), payload.begin()));
	EXPECT_EQ(buf[n], std::byte{0xcc}); // nothing written past the frame
}

TEST(NetBuild, Udp4InplaceAndOverlap) {
	std::vector<std::byte> buf(200);
	auto payload = text("composed in place");
	std::memcpy(buf.data() + frame::udp4_payload_off, payload.data(), payload.size());
	size_t n = build_udp4_inplace(buf, gm, om, gw4, g4, 53, 40000, payload.size(), 1);
	ASSERT_EQ(n, frame::udp4_payload_off + payload.size());
	auto ip = ConstIp4View::parse(ConstEthView::parse(std::span(buf).first(n))->payload());
	EXPECT_EQ(ip->ttl(), 1);
	auto udp = ConstUdpView::parse(ip->payload());
	EXPECT_TRUE(udp->checksum_ok4(gw4, g4));
	EXPECT_TRUE(std::equal(udp->payload().begin(), udp->payload().end(), payload.begin()));

	// Payload inside the output buffer (e.g. at offset 0): it is moved.
	std::vector<std::byte> b2(200);
	std::memcpy(b2.data(), payload.data(), payload.size());
	n = build_udp4(b2, gm, om, gw4, g4, 1, 2, std::span(b2).first(payload.size()));
	ASSERT_NE(n, 0u);
	udp = ConstUdpView::parse(
		ConstIp4View::parse(std::span(b2).subspan(14, n - 14))->payload());
	EXPECT_TRUE(std::equal(udp->payload().begin(), udp->payload().end(), payload.begin()));
}

TEST(NetBuild, RefusesWhatDoesNotFit) {
	auto payload = text("0123456789");
	std::vector<std::byte> buf(42 + payload.size() - 1, std::byte{0x77});
	EXPECT_EQ(build_udp4(buf, gm, om, gw4, g4, 1, 2, payload), 0u);
	EXPECT_EQ(buf, std::vector<std::byte>(buf.size(), std::byte{0x77}));
	EXPECT_EQ(build_udp6(buf, gm, om, ll, g6, 1, 2, payload), 0u);
	EXPECT_EQ(build_udp4_inplace(buf, gm, om, gw4, g4, 1, 2, SIZE_MAX), 0u);
	EXPECT_EQ(build_icmp4(std::span(buf).first(20), gm, om, gw4, g4, 0, 0, payload), 0u);
	EXPECT_EQ(build_arp(std::span(buf).first(41), gm, om, 1, om, gw4, gm, g4), 0u);
	// Too long for the IPv4 total length field, even with room in the buffer.
	std::vector<std::byte> big(70000);
	EXPECT_EQ(build_udp4_inplace(big, gm, om, gw4, g4, 1, 2, 65535 - 28 + 1), 0u);
	EXPECT_NE(build_udp4_inplace(big, gm, om, gw4, g4, 1, 2, 65535 - 28), 0u);
	// ICMP bodies shorter than the 4 bytes every message has.
	EXPECT_EQ(build_icmp6(big, gm, om, ll, g6, 128, 0, text("abc")), 0u);
	EXPECT_EQ(build_icmp4_inplace(big, gm, om, gw4, g4, 0, 0, 3), 0u);
}

TEST(NetBuild, Udp6) {
	std::vector<std::byte> buf(300);
	auto payload = text("dhcpv6 advertise");
	size_t n = build_udp6(buf, gm, om, ll, g6, 547, 546, payload);
	ASSERT_EQ(n, 62 + payload.size());
	auto eth = ConstEthView::parse(std::span(buf).first(n));
	EXPECT_EQ(eth->ethertype(), ethertype::ipv6);
	auto ip = ConstIp6View::parse(eth->payload());
	ASSERT_TRUE(ip);
	EXPECT_EQ(ip->payload_len(), 8 + payload.size());
	EXPECT_EQ(ip->proto(), ipproto::udp);
	EXPECT_EQ(ip->hop_limit(), 64);
	EXPECT_EQ(ip->saddr(), ll);
	EXPECT_EQ(ip->daddr(), g6);
	auto udp = ConstUdpView::parse(ip->l4());
	ASSERT_TRUE(udp);
	EXPECT_EQ(udp->sport(), 547);
	EXPECT_EQ(udp->dport(), 546);
	EXPECT_TRUE(udp->checksum_ok6(ll, g6));
}

TEST(NetBuild, Icmp4EchoReply) {
	std::vector<std::byte> buf(200);
	auto body = hex("1234 0007 6162636465"); // id, seq, data
	size_t n = build_icmp4(buf, gm, om, gw4, g4, icmptype::echo_reply, 0, body);
	ASSERT_EQ(n, 14 + 20 + 4 + body.size());
	auto ip = ConstIp4View::parse(ConstEthView::parse(std::span(buf).first(n))->payload());
	ASSERT_TRUE(ip);
	EXPECT_TRUE(ip->checksum_ok());
	EXPECT_EQ(ip->protocol(), ipproto::icmp);
	auto icmp = ConstIcmpView::parse(ip->payload());
	ASSERT_TRUE(icmp);
	EXPECT_EQ(icmp->type(), icmptype::echo_reply);
	EXPECT_EQ(icmp->id(), 0x1234);
	EXPECT_EQ(icmp->seq(), 7);
	EXPECT_EQ(icmp->data().size(), 5u);
	EXPECT_TRUE(icmp->checksum_ok());
}

TEST(NetBuild, Icmp6RouterAdvertisement) {
	std::vector<std::byte> buf(200);
	// cur hop limit 64, M|O, lifetime 1800 s, timers 0; source link-layer option
	auto body = hex("40c0 0708 00000000 00000000 0101 9a559a559a55");
	size_t n = build_icmp6(buf, MacAddr{{0x33, 0x33, 0, 0, 0, 1}}, om, ll,
			       *Ipv6Addr::parse("ff02::1"), icmp6type::router_advert, 0, body);
	ASSERT_EQ(n, 14 + 40 + 4 + body.size());
	auto ip = ConstIp6View::parse(ConstEthView::parse(std::span(buf).first(n))->payload());
	ASSERT_TRUE(ip);
	EXPECT_EQ(ip->hop_limit(), 255);
	EXPECT_EQ(ip->proto(), ipproto::icmpv6);
	auto icmp = ConstIcmp6View::parse(ip->l4());
	ASSERT_TRUE(icmp);
	EXPECT_EQ(icmp->type(), icmp6type::router_advert);
	EXPECT_TRUE(icmp->checksum_ok(ip->saddr(), ip->daddr()));
	auto sll = tlv::find<tlv::Ndp>(icmp->from(ndp::ra_opts_off), ndp::opt_source_lladdr);
	ASSERT_TRUE(sll);
	EXPECT_EQ(ndp_lladdr(*sll), om);
	// In place: same frame.
	std::vector<std::byte> b2(200);
	std::memcpy(b2.data() + frame::icmp6_body_off, body.data(), body.size());
	size_t n2 = build_icmp6_inplace(b2, MacAddr{{0x33, 0x33, 0, 0, 0, 1}}, om, ll,
					*Ipv6Addr::parse("ff02::1"), icmp6type::router_advert, 0,
					body.size());
	ASSERT_EQ(n2, n);
	EXPECT_TRUE(std::equal(buf.begin(), buf.begin() + n, b2.begin()));
}

TEST(NetBuild, Arp) {
	std::vector<std::byte> buf(64);
	size_t n = build_arp(buf, gm, om, arpop::reply, om, gw4, gm, g4);
	ASSERT_EQ(n, 42u);
	auto eth = ConstEthView::parse(std::span(buf).first(n));
	EXPECT_EQ(eth->ethertype(), ethertype::arp);
	auto arp = ConstArpView::parse(eth->payload());
	ASSERT_TRUE(arp);
	EXPECT_EQ(arp->op(), arpop::reply);
	EXPECT_EQ(arp->sha(), om);
	EXPECT_EQ(arp->spa(), gw4);
	EXPECT_EQ(arp->tha(), gm);
	EXPECT_EQ(arp->tpa(), g4);
}

TEST(NetBuild, FillChecksumsRejectsWhatItCannotHandle) {
	std::vector<std::byte> buf(64);
	size_t n = build_arp(buf, gm, om, arpop::reply, om, gw4, gm, g4);
	EXPECT_FALSE(fill_checksums(std::span(buf).first(n)));
	EXPECT_FALSE(fill_checksums(std::span(buf).first(10)));
	// An IPv4 fragment is left alone.
	auto payload = text("abcdefgh");
	std::vector<std::byte> f(100);
	n = build_udp4(f, gm, om, gw4, g4, 1, 2, payload);
	auto ip = Ip4View::parse(std::span(f).subspan(14, n - 14));
	ip->set_frag(false, true, 0);
	auto before = f;
	EXPECT_FALSE(fill_checksums(std::span(f).first(n)));
	EXPECT_EQ(f, before);
	// Unknown protocol: unchanged too.
	ip->set_frag(true, false, 0);
	ip->set_protocol(132);
	before = f;
	EXPECT_FALSE(fill_checksums(std::span(f).first(n)));
	EXPECT_EQ(f, before);
}

} // namespace
} // namespace passt
