// IPv4 header view: valid, truncated and malformed headers, building.
#include <gtest/gtest.h>

#include "net_test_util.h"
#include "passt/net/ip4.h"

namespace passt {
namespace {

using test::hex;

// 20-byte header, total length 24, UDP, 10.0.0.1 -> 10.0.0.2, then 4 bytes.
std::vector<std::byte> basic() {
	auto p = hex("45000018abcd00004011 0000 0a000001 0a000002 deadbeef");
	auto ip = Ip4View::parse(p);
	ip->fill_checksum();
	return p;
}

TEST(NetIp4, ParsesBasicHeader) {
	auto p = basic();
	auto ip = ConstIp4View::parse(p);
	ASSERT_TRUE(ip);
	EXPECT_EQ(ip->header_len(), 20u);
	EXPECT_EQ(ip->total_len(), 24);
	EXPECT_EQ(ip->id(), 0xabcd);
	EXPECT_FALSE(ip->df());
	EXPECT_FALSE(ip->is_fragment());
	EXPECT_EQ(ip->ttl(), 0x40);
	EXPECT_EQ(ip->protocol(), 17);
	EXPECT_EQ(ip->saddr(), Ipv4Addr::from_host(0x0a000001));
	EXPECT_EQ(ip->daddr(), Ipv4Addr::from_host(0x0a000002));
	EXPECT_TRUE(ip->options().empty());
	ASSERT_EQ(ip->payload().size(), 4u);
	EXPECT_EQ(ip->payload()[0], std::byte{0xde});
	EXPECT_TRUE(ip->checksum_ok());
}

TEST(NetIp4, TrimsEthernetPadding) {
	auto p = basic();
	p.resize(46, std::byte{0x55});
	auto ip = ConstIp4View::parse(p);
	ASSERT_TRUE(ip);
	EXPECT_EQ(ip->bytes().size(), 24u);
	EXPECT_EQ(ip->payload().size(), 4u);
}

TEST(NetIp4, SkipsOptions) {
	// IHL 6: one 4-byte option (NOPs + EOL), total length 28.
	auto p = hex("4600001c000040004001 0000 c0000201 c0000202 01010100 0800f7ff00000000");
	auto ip = Ip4View::parse(p);
	ASSERT_TRUE(ip);
	EXPECT_EQ(ip->header_len(), 24u);
	EXPECT_EQ(ip->options().size(), 4u);
	EXPECT_EQ(ip->payload().size(), 4u);
	EXPECT_EQ(ip->payload()[0], std::byte{0x08});
	EXPECT_TRUE(ip->df());
	ip->fill_checksum();
	EXPECT_TRUE(ip->checksum_ok());
	p[22] ^= std::byte{1}; // the checksum covers options too
	EXPECT_FALSE(ConstIp4View::parse(p)->checksum_ok());
}

TEST(NetIp4, FragmentFields) {
	auto p = basic();
	p[6] = std::byte{0x20}; // MF, offset 0
	EXPECT_TRUE(ConstIp4View::parse(p)->mf());
	EXPECT_TRUE(ConstIp4View::parse(p)->is_fragment());
	p[6] = std::byte{0x00};
	p[7] = std::byte{0x03}; // last fragment at offset 24
	auto ip = ConstIp4View::parse(p);
	EXPECT_FALSE(ip->mf());
	EXPECT_EQ(ip->frag_offset(), 24u);
	EXPECT_TRUE(ip->is_fragment());
	p[6] = std::byte{0x7f};
	p[7] = std::byte{0xff}; // DF + MF + max offset
	ip = ConstIp4View::parse(p);
	EXPECT_TRUE(ip->df());
	EXPECT_TRUE(ip->mf());
	EXPECT_EQ(ip->frag_offset(), 0x1fffu * 8);
}

TEST(NetIp4, RejectsTruncated) {
	auto p = basic();
	for (size_t n = 0; n < 24; n++)
		EXPECT_FALSE(ConstIp4View::parse(std::span(p).first(n))) << n;
	EXPECT_TRUE(ConstIp4View::parse(std::span(p).first(24)));
}

TEST(NetIp4, RejectsMalformed) {
	auto p = basic();
	auto bad = p;
	bad[0] = std::byte{0x65}; // version 6
	EXPECT_FALSE(ConstIp4View::parse(bad));
	for (int ihl = 0; ihl < 5; ihl++) {
		bad = p;
		bad[0] = std::byte(0x40 | ihl);
		EXPECT_FALSE(ConstIp4View::parse(bad)) << ihl;
	}
	bad = p;
	bad[0] = std::byte{0x4f}; // IHL 15 = 60 bytes > 24 available
	EXPECT_FALSE(ConstIp4View::parse(bad));
	bad = p;
	bad[0] = std::byte{0x46};
	bad[3] = std::byte{0x14}; // total length 20 < IHL 24
	EXPECT_FALSE(ConstIp4View::parse(bad));
	bad = p;
	bad[3] = std::byte{0x19}; // total length 25 > 24 bytes in the buffer
	EXPECT_FALSE(ConstIp4View::parse(bad));
	bad = p;
	bad[3] = std::byte{0x13}; // total length 19 < 20
	EXPECT_FALSE(ConstIp4View::parse(bad));
	bad = p;
	bad[2] = std::byte{0xff}; // 65300-something
	EXPECT_FALSE(ConstIp4View::parse(bad));
}

TEST(NetIp4, BadChecksumDetected) {
	auto p = basic();
	EXPECT_TRUE(ConstIp4View::parse(p)->checksum_ok());
	p[8] = std::byte{0x3f}; // TTL changed, checksum not updated
	EXPECT_FALSE(ConstIp4View::parse(p)->checksum_ok());
}

// A header whose checksum computes to 0: stored as 0000 or as ffff (the
// other ones' complement zero), both verify.
TEST(NetIp4, AcceptsBothZeroForms) {
	auto p = basic();
	p[4] = p[5] = p[10] = p[11] = std::byte{0};
	uint16_t id = uint16_t(~test::ref_sum(std::span(p).first(20)));
	store_be16(p.data() + 4, id);
	EXPECT_EQ(ip4_header_checksum(std::span(p).first(20)).raw, 0);
	EXPECT_TRUE(ConstIp4View::parse(p)->checksum_ok());
	p[10] = p[11] = std::byte{0xff};
	EXPECT_TRUE(ConstIp4View::parse(p)->checksum_ok());
	p[11] = std::byte{0xfe};
	EXPECT_FALSE(ConstIp4View::parse(p)->checksum_ok());
}

TEST(NetIp4, BuildsThroughSetters) {
	std::vector<std::byte> buf(40, std::byte{0xee});
	auto ip = Ip4View::init(buf);
	ASSERT_TRUE(ip);
	EXPECT_EQ(buf[0], std::byte{0x45});
	EXPECT_EQ(buf[19], std::byte{0});    // header zeroed
	EXPECT_EQ(buf[20], std::byte{0xee}); // payload untouched
	ip->set_total_len(30);
	ip->set_tos(0x10);
	ip->set_id(0x1234);
	ip->set_frag(true, true, 16);
	ip->set_ttl(255);
	ip->set_protocol(6);
	ip->set_saddr(Ipv4Addr::from_host(0x01020304));
	ip->set_daddr(Ipv4Addr::from_host(0x05060708));
	ip->fill_checksum();

	auto r = ConstIp4View::parse(buf);
	ASSERT_TRUE(r);
	EXPECT_EQ(r->bytes().size(), 30u);
	EXPECT_EQ(r->tos(), 0x10);
	EXPECT_EQ(r->id(), 0x1234);
	EXPECT_TRUE(r->df());
	EXPECT_TRUE(r->mf());
	EXPECT_EQ(r->frag_offset(), 16u);
	EXPECT_EQ(r->ttl(), 255);
	EXPECT_EQ(r->protocol(), 6);
	EXPECT_EQ(r->saddr(), Ipv4Addr::from_host(0x01020304));
	EXPECT_EQ(r->daddr(), Ipv4Addr::from_host(0x05060708));
	EXPECT_TRUE(r->checksum_ok());
	ConstIp4View c = *ip; // read-only view of the writable one
	EXPECT_EQ(c.id(), 0x1234);

	std::vector<std::byte> small(19);
	EXPECT_FALSE(Ip4View::init(small));
}

} // namespace
} // namespace passt
