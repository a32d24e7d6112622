// ICMP errors refusing a guest's packet: build_unreachable() answers what
// RFC 1122 and RFC 4443 allow (quoting up to 576 / 1280 bytes in all, from
// the packet's destination to its source) and nothing else; flow_refuse()
// sends through the tap output within its token bucket.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "capture_tap.h"
#include "passt/flow/refuse.h"
#include "passt/net/build.h"
#include "passt/net/eth.h"
#include "passt/net/icmp.h"
#include "passt/net/icmpv6.h"
#include "passt/net/ip4.h"
#include "passt/net/ip6.h"
#include "support/frames.h"

namespace passt {
namespace {

const MacAddr gm{{0x52, 0x54, 0, 0x12, 0x34, 0x56}}, om{{0x9a, 0x55, 0x9a, 0x55, 0x9a, 0x55}};
const Ipv4Addr g4 = Ipv4Addr::from_host(0xc0a80064), h4 = Ipv4Addr::from_host(0xcb007107);
const Ipv6Addr g6 = *Ipv6Addr::parse("2001:db8::64"), h6 = *Ipv6Addr::parse("2001:db8:1::7");

// The IP packet (Ethernet header stripped) of a guest frame.
std::vector<std::byte> l3_of(const std::vector<std::byte> &frame, size_t n) {
	return {frame.begin() + 14, frame.begin() + long(n)};
}

std::vector<std::byte> udp4(size_t payload, Ipv4Addr dst = h4) {
	std::vector<std::byte> buf(70000), data(payload, std::byte{0x5a});
	size_t n = build_udp4(buf, om, gm, g4, dst, 40000, 5301, data);
	return l3_of(buf, n);
}

std::vector<std::byte> udp6(size_t payload, Ipv6Addr dst = h6) {
	std::vector<std::byte> buf(70000), data(payload, std::byte{0xa5});
	size_t n = build_udp6(buf, om, gm, g6, dst, 40000, 5301, data);
	return l3_of(buf, n);
}

std::vector<std::byte> icmp4(uint8_t type) {
	std::vector<std::byte> buf(200), body(12, std::byte{1});
	size_t n = build_icmp4(buf, om, gm, g4, h4, type, 0, body);
	return l3_of(buf, n);
}

std::vector<std::byte> icmp6(uint8_t type) {
	std::vector<std::byte> buf(200), body(12, std::byte{1});
	size_t n = build_icmp6(buf, om, gm, g6, h6, type, 0, body, 64);
	return l3_of(buf, n);
}

size_t answer(std::vector<std::byte> &out, const std::vector<std::byte> &l3,
	      Unreachable why = Unreachable::Prohibited) {
	out.assign(2000, std::byte{0xcc});
	return build_unreachable(out, gm, om, l3, why);
}

TEST(FlowRefuse, Ipv4QuotesUpTo576Bytes) {
	for (size_t payload : {size_t(10), size_t(1000), size_t(65000)}) {
		SCOPED_TRACE(payload);
		auto orig = udp4(payload);
		std::vector<std::byte> out;
		size_t n = answer(out, orig);
		size_t quoted = std::min<size_t>(orig.size(), 576 - 28);
		ASSERT_EQ(n, 14 + 20 + 8 + quoted);
		auto eth = ConstEthView::parse(std::span(out).first(n));
		EXPECT_EQ(eth->dst(), gm);
		EXPECT_EQ(eth->src(), om);
		auto ip = ConstIp4View::parse(eth->payload());
		ASSERT_TRUE(ip);
		EXPECT_TRUE(ip->checksum_ok());
		EXPECT_EQ(ip->protocol(), ipproto::icmp);
		EXPECT_EQ(ip->saddr(), h4); // from the packet's destination
		EXPECT_EQ(ip->daddr(), g4); // to its source
		auto icmp = ConstIcmpView::parse(ip->payload());
		ASSERT_TRUE(icmp);
		EXPECT_TRUE(icmp->checksum_ok());
		EXPECT_EQ(icmp->type(), icmptype::dest_unreach);
		EXPECT_EQ(icmp->code(), 13);
		EXPECT_EQ(icmp->rest(), 0u);
		ASSERT_EQ(icmp->data().size(), quoted);
		EXPECT_EQ(std::memcmp(icmp->data().data(), orig.data(), quoted), 0);
		EXPECT_EQ(out[n], std::byte{0xcc});
	}
}

TEST(FlowRefuse, Ipv6QuotesUpTo1280Bytes) {
	for (size_t payload : {size_t(10), size_t(3000)}) {
		SCOPED_TRACE(payload);
		auto orig = udp6(payload);
		std::vector<std::byte> out;
		size_t n = answer(out, orig);
		size_t quoted = std::min<size_t>(orig.size(), 1280 - 48);
		ASSERT_EQ(n, 14 + 40 + 8 + quoted);
		auto ip = ConstIp6View::parse(
			ConstEthView::parse(std::span(out).first(n))->payload());
		ASSERT_TRUE(ip);
		EXPECT_EQ(ip->proto(), ipproto::icmpv6);
		EXPECT_EQ(ip->saddr(), h6);
		EXPECT_EQ(ip->daddr(), g6);
		auto icmp = ConstIcmp6View::parse(ip->l4());
		ASSERT_TRUE(icmp);
		EXPECT_TRUE(icmp->checksum_ok(h6, g6));
		EXPECT_EQ(icmp->type(), icmp6type::dest_unreach);
		EXPECT_EQ(icmp->code(), 1);
		ASSERT_EQ(icmp->bytes().size(), 8 + quoted);
		EXPECT_EQ(std::memcmp(icmp->bytes().data() + 8, orig.data(), quoted), 0);
	}
}

TEST(FlowRefuse, Codes) {
	std::vector<std::byte> out;
	auto code4 = [&](Unreachable w) {
		size_t n = answer(out, udp4(20), w);
		return n ? int(out[14 + 20 + 1]) : -1;
	};
	auto code6 = [&](Unreachable w) {
		size_t n = answer(out, udp6(20), w);
		return n ? int(out[14 + 40 + 1]) : -1;
	};
	EXPECT_EQ(code4(Unreachable::Net), 0);
	EXPECT_EQ(code4(Unreachable::Host), 1);
	EXPECT_EQ(code4(Unreachable::Prohibited), 13);
	EXPECT_EQ(code6(Unreachable::Net), 0);
	EXPECT_EQ(code6(Unreachable::Host), 3);
	EXPECT_EQ(code6(Unreachable::Prohibited), 1);

	EXPECT_EQ(unreachable_for(-ENETUNREACH), Unreachable::Net);
	EXPECT_EQ(unreachable_for(-EHOSTUNREACH), Unreachable::Host);
	EXPECT_EQ(unreachable_for(-EMFILE), Unreachable::Prohibited);
	EXPECT_EQ(unreachable_for(-ENFILE), Unreachable::Prohibited);
	EXPECT_EQ(unreachable_for(-EADDRNOTAVAIL), Unreachable::Prohibited);
}

TEST(FlowRefuse, QueriesAnsweredErrorsNot) {
	std::vector<std::byte> out;
	EXPECT_NE(answer(out, icmp4(icmptype::echo_request)), 0u);
	EXPECT_EQ(answer(out, icmp4(icmptype::dest_unreach)), 0u);
	EXPECT_EQ(answer(out, icmp4(icmptype::time_exceeded)), 0u);
	EXPECT_EQ(answer(out, icmp4(icmptype::echo_reply)), 0u);
	EXPECT_NE(answer(out, icmp6(icmp6type::echo_request)), 0u);
	EXPECT_EQ(answer(out, icmp6(icmp6type::dest_unreach)), 0u);
	EXPECT_EQ(answer(out, icmp6(icmp6type::packet_too_big)), 0u);
}

TEST(FlowRefuse, NotToGroupsFragmentsOrNobody) {
	std::vector<std::byte> out;
	EXPECT_EQ(answer(out, udp4(20, Ipv4Addr::from_host(0xe0000001))), 0u); // multicast
	EXPECT_EQ(answer(out, udp4(20, Ipv4Addr::from_host(0xffffffff))), 0u); // broadcast
	EXPECT_EQ(answer(out, udp6(20, *Ipv6Addr::parse("ff02::1"))), 0u);

	auto zero_src = udp4(20);
	std::memset(zero_src.data() + 12, 0, 4); // 0.0.0.0 is nobody to answer
	EXPECT_EQ(answer(out, zero_src), 0u);
	auto zero_src6 = udp6(20);
	std::memset(zero_src6.data() + 8, 0, 16);
	EXPECT_EQ(answer(out, zero_src6), 0u);

	// A non-first IPv4 fragment: offset 8 (checksum not rechecked here).
	auto frag = udp4(100);
	frag[6] = std::byte{0x00};
	frag[7] = std::byte{0x01};
	EXPECT_EQ(answer(out, frag), 0u);
}

TEST(FlowRefuse, MalformedOrTooSmall) {
	std::vector<std::byte> out;
	EXPECT_EQ(build_unreachable(out, gm, om, {}, Unreachable::Host), 0u);
	auto orig = udp4(20);
	for (size_t cut = 0; cut < 20; cut++)
		EXPECT_EQ(
			answer(out, std::vector<std::byte>(orig.begin(), orig.begin() + long(cut))),
			0u)
			<< cut;
	auto orig6 = udp6(20);
	for (size_t cut = 0; cut < 40; cut++)
		EXPECT_EQ(answer(out,
				 std::vector<std::byte>(orig6.begin(), orig6.begin() + long(cut))),
			  0u)
			<< cut;
	auto v5 = orig;
	v5[0] = std::byte{0x55};
	EXPECT_EQ(answer(out, v5), 0u);
	// A buffer one byte short of the answer.
	std::vector<std::byte> small(14 + 20 + 8 + orig.size() - 1);
	EXPECT_EQ(build_unreachable(small, gm, om, orig, Unreachable::Host), 0u);
	small.resize(small.size() + 1);
	EXPECT_EQ(build_unreachable(small, gm, om, orig, Unreachable::Host), small.size());
}

TEST(FlowRefuse, TokenBucket) {
	flow_refuse_reset();
	test::CaptureTap tap;
	auto orig = udp4(20);
	timespec t{100, 0};
	unsigned sent = 0;
	for (unsigned i = 0; i < 3 * REFUSE_BURST; i++)
		sent += flow_refuse(tap, gm, om, orig, Unreachable::Prohibited, t);
	EXPECT_EQ(sent, REFUSE_BURST);
	EXPECT_EQ(tap.frames.size(), REFUSE_BURST);

	// 10 ms refill 10 tokens at 1000 a second.
	t.tv_nsec = 10 * 1000 * 1000;
	sent = 0;
	for (unsigned i = 0; i < 100; i++)
		sent += flow_refuse(tap, gm, om, orig, Unreachable::Prohibited, t);
	EXPECT_EQ(sent, 10u);

	// A packet not to be answered takes no token; a long pause refills the
	// burst, no more.
	t.tv_sec += 60;
	EXPECT_FALSE(flow_refuse(tap, gm, om, icmp4(icmptype::dest_unreach),
				 Unreachable::Prohibited, t));
	sent = 0;
	for (unsigned i = 0; i < 3 * REFUSE_BURST; i++)
		sent += flow_refuse(tap, gm, om, orig, Unreachable::Prohibited, t);
	EXPECT_EQ(sent, REFUSE_BURST);

	// A refusing back-end: not sent.
	t.tv_sec += 60;
	tap.refuse = true;
	EXPECT_FALSE(flow_refuse(tap, gm, om, orig, Unreachable::Prohibited, t));
	flow_refuse_reset();
}

} // namespace
} // namespace passt
