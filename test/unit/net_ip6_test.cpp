// IPv6 header view: payload length, extension header walk, building.
#include <gtest/gtest.h>

#include "net_test_util.h"
#include "passt/net/ip6.h"

namespace passt {
namespace {

using test::hex;

const char *fixed_hdr_fmt = "6abcdef0"; // tc 0xab, flow label 0xcdef0

// Fixed header with the given next header and payload appended.
std::vector<std::byte> packet(uint8_t nh, std::vector<std::byte> payload, uint8_t hop = 64) {
	auto p = hex(fixed_hdr_fmt);
	p.push_back(std::byte(payload.size() >> 8));
	p.push_back(std::byte(payload.size()));
	p.push_back(std::byte(nh));
	p.push_back(std::byte(hop));
	auto a = hex("20010db8000000000000000000000001 20010db8000000000000000000000002");
	p.insert(p.end(), a.begin(), a.end());
	p.insert(p.end(), payload.begin(), payload.end());
	return p;
}

std::vector<std::byte> cat(std::initializer_list<std::vector<std::byte>> parts) {
	std::vector<std::byte> out;
	for (auto &p : parts)
		out.insert(out.end(), p.begin(), p.end());
	return out;
}

TEST(NetIp6, ParsesFixedHeader) {
	auto p = packet(17, hex("00350035000c0000 61626364"));
	auto ip = ConstIp6View::parse(p);
	ASSERT_TRUE(ip);
	EXPECT_EQ(ip->traffic_class(), 0xab);
	EXPECT_EQ(ip->flow_label(), 0xcdef0u);
	EXPECT_EQ(ip->payload_len(), 12);
	EXPECT_EQ(ip->next_header(), 17);
	EXPECT_EQ(ip->hop_limit(), 64);
	EXPECT_EQ(ip->saddr(), *Ipv6Addr::parse("2001:db8::1"));
	EXPECT_EQ(ip->daddr(), *Ipv6Addr::parse("2001:db8::2"));
	EXPECT_EQ(ip->proto(), ipproto::udp);
	EXPECT_EQ(ip->l4_offset(), 40u);
	EXPECT_EQ(ip->l4().size(), 12u);
	EXPECT_FALSE(ip->is_fragment());
}

TEST(NetIp6, TrimsToPayloadLength) {
	auto p = packet(59, {});
	p.resize(60, std::byte{0xaa});
	auto ip = ConstIp6View::parse(p);
	ASSERT_TRUE(ip);
	EXPECT_EQ(ip->bytes().size(), 40u);
	EXPECT_TRUE(ip->l4().empty());
	EXPECT_EQ(ip->proto(), ipproto::none);
}

TEST(NetIp6, RejectsTruncatedAndMalformed) {
	auto p = packet(6, std::vector<std::byte>(20));
	for (size_t n = 0; n < p.size(); n++)
		EXPECT_FALSE(ConstIp6View::parse(std::span(p).first(n))) << n;
	EXPECT_TRUE(ConstIp6View::parse(p));
	auto bad = p;
	bad[0] = std::byte{0x4a}; // version 4
	EXPECT_FALSE(ConstIp6View::parse(bad));
	bad = p;
	bad[4] = std::byte{0xff}; // payload length beyond the buffer
	EXPECT_FALSE(ConstIp6View::parse(bad));
}

TEST(NetIp6, WalksExtensionHeaders) {
	// hop-by-hop (8) -> destination options (16) -> routing (8) -> TCP
	auto hbh = hex("3c00 010400000000");
	auto dst = hex("2b01 0000000000000000000000000000");
	auto rt = hex("0600 0000 00000000");
	auto tcp = std::vector<std::byte>(20);
	auto p = packet(0, cat({hbh, dst, rt, tcp}));
	auto ip = ConstIp6View::parse(p);
	ASSERT_TRUE(ip);
	EXPECT_EQ(ip->next_header(), ipproto::hopopts);
	EXPECT_EQ(ip->proto(), ipproto::tcp);
	EXPECT_EQ(ip->l4_offset(), 40u + 32);
	EXPECT_EQ(ip->l4().size(), 20u);
}

TEST(NetIp6, RejectsMisplacedHopByHop) {
	auto dst = hex("0000 010400000000"); // dstopts -> hop-by-hop: not allowed
	auto hbh = hex("3b00 010400000000");
	EXPECT_FALSE(ConstIp6View::parse(packet(60, cat({dst, hbh}))));
	EXPECT_TRUE(ConstIp6View::parse(packet(0, hbh)));
}

TEST(NetIp6, RejectsChainRunningOffTheEnd) {
	// Destination options header claiming 16 bytes in an 8-byte payload.
	EXPECT_FALSE(ConstIp6View::parse(packet(60, hex("3b01 000000000000"))));
	// Only one byte of an extension header.
	EXPECT_FALSE(ConstIp6View::parse(packet(43, hex("3b"))));
	// No room at all for the announced extension header.
	EXPECT_FALSE(ConstIp6View::parse(packet(60, {})));
	// Fragment header cut short.
	EXPECT_FALSE(ConstIp6View::parse(packet(44, hex("11000000 0000"))));
	// Payload length says 8 but the walk would need the padding bytes.
	auto p = packet(60, hex("3b00 000000000000"));
	p[5] = std::byte{4};
	p.resize(48);
	EXPECT_FALSE(ConstIp6View::parse(p));
}

TEST(NetIp6, LimitsNumberOfHeaders) {
	std::vector<std::byte> chain;
	for (unsigned i = 0; i < ip6_max_ext_hdrs; i++) {
		auto h = hex("3c00 000000000000");
		if (i == ip6_max_ext_hdrs - 1)
			h[0] = std::byte{59};
		chain.insert(chain.end(), h.begin(), h.end());
	}
	auto ok = ConstIp6View::parse(packet(60, chain));
	ASSERT_TRUE(ok);
	EXPECT_EQ(ok->proto(), ipproto::none);
	EXPECT_EQ(ok->l4_offset(), 40u + 8 * ip6_max_ext_hdrs);
	chain[chain.size() - 8] = std::byte{60};
	auto more = hex("3b00 000000000000");
	chain.insert(chain.end(), more.begin(), more.end());
	EXPECT_FALSE(ConstIp6View::parse(packet(60, chain)));
}

TEST(NetIp6, FragmentHeader) {
	// First fragment: offset 0, M = 1, then a UDP header.
	auto first = packet(44, cat({hex("11000001 12345678"), std::vector<std::byte>(16)}));
	auto ip = ConstIp6View::parse(first);
	ASSERT_TRUE(ip);
	EXPECT_EQ(ip->proto(), ipproto::udp);
	EXPECT_EQ(ip->l4_offset(), 48u);
	EXPECT_TRUE(ip->is_fragment());
	EXPECT_TRUE(ip->l4_info().frag_more);
	EXPECT_EQ(ip->l4_info().frag_offset, 0);
	EXPECT_EQ(ip->l4_info().frag_id, 0x12345678u);

	// Later fragment at offset 1448: the walk stops, data is not a header.
	auto later = packet(44, cat({hex("3c0005a8 12345678"), hex("3b00 0000 0000 0000")}));
	ip = ConstIp6View::parse(later);
	ASSERT_TRUE(ip);
	EXPECT_EQ(ip->proto(), ipproto::dstopts);
	EXPECT_EQ(ip->l4_info().frag_offset, 1448);
	EXPECT_FALSE(ip->l4_info().frag_more);
	EXPECT_TRUE(ip->is_fragment());
	EXPECT_EQ(ip->l4().size(), 8u);

	// Atomic fragment (offset 0, M = 0): a whole datagram.
	auto atomic = packet(44, cat({hex("3a000000 00000001"), std::vector<std::byte>(8)}));
	ip = ConstIp6View::parse(atomic);
	ASSERT_TRUE(ip);
	EXPECT_EQ(ip->proto(), ipproto::icmpv6);
	EXPECT_FALSE(ip->is_fragment());

	// Two fragment headers.
	EXPECT_FALSE(ConstIp6View::parse(packet(
		44, cat({hex("2c000000 00000001 11000000 00000001"), std::vector<std::byte>(8)}))));
}

TEST(NetIp6, BuildsThroughSetters) {
	std::vector<std::byte> buf(48, std::byte{0xee});
	auto ip = Ip6View::init(buf);
	ASSERT_TRUE(ip);
	EXPECT_EQ(buf[40], std::byte{0xee});
	ip->set_traffic_class(0x5c);
	ip->set_flow_label(0xfedcb);
	ip->set_payload_len(8);
	ip->set_next_header(17);
	ip->set_hop_limit(255);
	ip->set_saddr(*Ipv6Addr::parse("fe80::1"));
	ip->set_daddr(*Ipv6Addr::parse("ff02::1"));
	auto r = ConstIp6View::parse(buf);
	ASSERT_TRUE(r);
	EXPECT_EQ(r->traffic_class(), 0x5c);
	EXPECT_EQ(r->flow_label(), 0xfedcbu);
	EXPECT_EQ(uint8_t(buf[0]) >> 4, 6); // version kept
	ip->set_flow_label(0x12345);
	EXPECT_EQ(ConstIp6View::parse(buf)->traffic_class(), 0x5c);
	EXPECT_EQ(r->proto(), ipproto::udp);
	EXPECT_EQ(r->hop_limit(), 255);
	EXPECT_EQ(r->daddr(), *Ipv6Addr::parse("ff02::1"));
	std::vector<std::byte> small(39);
	EXPECT_FALSE(Ip6View::init(small));
}

} // namespace
} // namespace passt
