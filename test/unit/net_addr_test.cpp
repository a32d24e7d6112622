// Address value types (include/passt/net/addr.h).
#include <gtest/gtest.h>

#include "passt/net/addr.h"

namespace passt {
namespace {

TEST(NetAddr, Ipv4ParseAndFormat) {
	auto a = Ipv4Addr::parse("192.0.2.33");
	ASSERT_TRUE(a);
	EXPECT_EQ(a->host(), 0xc0000221u);
	EXPECT_EQ(a->be().raw, be32::from_host(0xc0000221).raw);
	EXPECT_EQ(a->to_string(), "192.0.2.33");
	EXPECT_STREQ(Ipv4Addr::from_host(0x0a000001).text().c_str(), "10.0.0.1");
	for (const char *bad :
	     {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4 ", " 1.2.3.4", "a.b.c.d", "1..2.3",
	      "::1", "1.2.3.4/24", "1111111111111111111111111111111111111111111111111111111"})
		EXPECT_FALSE(Ipv4Addr::parse(bad)) << bad;
	// A string_view that is not NUL-terminated is parsed within its bounds.
	std::string_view sv("10.1.2.3trailing", 8);
	ASSERT_TRUE(Ipv4Addr::parse(sv));
	EXPECT_EQ(Ipv4Addr::parse(sv)->host(), 0x0a010203u);
}

TEST(NetAddr, Ipv4Classes) {
	EXPECT_TRUE(Ipv4Addr::any().is_unspecified());
	EXPECT_TRUE(Ipv4Addr::loopback().is_loopback());
	EXPECT_TRUE(Ipv4Addr::from_host(0x7f123456).is_loopback());
	EXPECT_TRUE(Ipv4Addr::from_host(0xe0000001).is_multicast());
	EXPECT_FALSE(Ipv4Addr::from_host(0xf0000001).is_multicast());
	EXPECT_TRUE(Ipv4Addr::broadcast().is_broadcast());
	EXPECT_TRUE(Ipv4Addr::from_host(0xa9fe0101).is_link_local());
	EXPECT_FALSE(Ipv4Addr::from_host(0xa9ff0101).is_link_local());
	EXPECT_LT(Ipv4Addr::from_host(1), Ipv4Addr::from_host(2));
}

TEST(NetAddr, Ipv4PrefixAndNetmask) {
	auto a = *Ipv4Addr::parse("192.168.10.1"), b = *Ipv4Addr::parse("192.168.11.1");
	EXPECT_TRUE(a.same_prefix(b, 16));
	EXPECT_TRUE(a.same_prefix(b, 23));
	EXPECT_FALSE(a.same_prefix(b, 24));
	EXPECT_TRUE(a.same_prefix(b, 0));
	EXPECT_FALSE(a.same_prefix(b, 99)); // clamped to 32
	EXPECT_TRUE(a.same_prefix(a, 99));
	EXPECT_EQ(Ipv4Addr::netmask(0).host(), 0u);
	EXPECT_EQ(Ipv4Addr::netmask(1).host(), 0x80000000u);
	EXPECT_EQ(Ipv4Addr::netmask(24).to_string(), "255.255.255.0");
	EXPECT_EQ(Ipv4Addr::netmask(23).to_string(), "255.255.254.0");
	EXPECT_EQ(Ipv4Addr::netmask(31).host(), 0xfffffffeu);
	EXPECT_EQ(Ipv4Addr::netmask(32).host(), 0xffffffffu);
	EXPECT_EQ(Ipv4Addr::netmask(40).host(), 0xffffffffu);
	EXPECT_EQ(Ipv4Addr::parse("10.0.0.1")->classful_prefix(), 8u);
	EXPECT_EQ(Ipv4Addr::parse("172.16.0.1")->classful_prefix(), 16u);
	EXPECT_EQ(Ipv4Addr::parse("192.0.2.1")->classful_prefix(), 24u);
}

TEST(NetAddr, Ipv6ParseAndFormat) {
	auto a = Ipv6Addr::parse("2001:db8::1");
	ASSERT_TRUE(a);
	EXPECT_EQ(a->b[0], 0x20);
	EXPECT_EQ(a->b[1], 0x01);
	EXPECT_EQ(a->b[15], 0x01);
	EXPECT_EQ(a->to_string(), "2001:db8::1");
	EXPECT_EQ(Ipv6Addr::parse("2001:0DB8:0:0:0:0:0:1")->to_string(), "2001:db8::1");
	EXPECT_EQ(Ipv6Addr::parse("::ffff:192.0.2.1")->to_string(), "::ffff:192.0.2.1");
	for (const char *bad : {"", ":", "2001:db8::1::2", "12345::", "g::1", "1:2:3:4:5:6:7:8:9",
				"192.0.2.1", "fe80::1%eth0", "::1 "})
		EXPECT_FALSE(Ipv6Addr::parse(bad)) << bad;
}

TEST(NetAddr, Ipv6Classes) {
	EXPECT_TRUE(Ipv6Addr::any().is_unspecified());
	EXPECT_TRUE(Ipv6Addr::loopback().is_loopback());
	EXPECT_TRUE(Ipv6Addr::parse("ff02::1")->is_multicast());
	EXPECT_TRUE(Ipv6Addr::parse("fe80::1")->is_link_local());
	EXPECT_TRUE(Ipv6Addr::parse("febf::1")->is_link_local());
	EXPECT_FALSE(Ipv6Addr::parse("fec0::1")->is_link_local());
	auto m = Ipv6Addr::v4mapped(Ipv4Addr::from_host(0xc0000201));
	EXPECT_TRUE(m.is_v4mapped());
	EXPECT_EQ(m.v4_tail().host(), 0xc0000201u);
	EXPECT_FALSE(Ipv6Addr::parse("::1:ffff:c000:201")->is_v4mapped());
}

TEST(NetAddr, Ipv6PrefixAndSolicitedNode) {
	auto a = *Ipv6Addr::parse("2001:db8:1:2::1"), b = *Ipv6Addr::parse("2001:db8:1:3::1");
	EXPECT_TRUE(a.same_prefix(b, 48));
	EXPECT_TRUE(a.same_prefix(b, 63));
	EXPECT_FALSE(a.same_prefix(b, 64));
	EXPECT_FALSE(a.same_prefix(b, 200));
	EXPECT_EQ(Ipv6Addr::parse("2001:db8::12:3456:789a")->solicited_node().to_string(),
		  "ff02::1:ff56:789a");
	EXPECT_EQ(Ipv6Addr::parse("fe80::1")->solicited_node(), *Ipv6Addr::parse("ff02::1:ff00:1"));
}

TEST(NetAddr, InAny) {
	auto v4 = InAny::parse("192.0.2.1");
	ASSERT_TRUE(v4);
	EXPECT_TRUE(v4->is_v4());
	EXPECT_EQ(v4->v4().host(), 0xc0000201u);
	EXPECT_EQ(v4->to_string(), "192.0.2.1");
	auto v6 = InAny::parse("2001:db8::2");
	ASSERT_TRUE(v6);
	EXPECT_FALSE(v6->is_v4());
	EXPECT_EQ(v6->to_string(), "2001:db8::2");
	EXPECT_FALSE(InAny::parse("banana"));
	EXPECT_FALSE(InAny::parse(""));
	EXPECT_TRUE(InAny(Ipv4Addr::any()).is_unspecified());
	EXPECT_TRUE(InAny(Ipv6Addr::any()).is_unspecified());
	EXPECT_FALSE(InAny(Ipv4Addr::any()) == InAny(Ipv6Addr::any()));
	EXPECT_TRUE(InAny(Ipv4Addr::loopback()).is_loopback());
	EXPECT_TRUE(InAny(Ipv6Addr::loopback()).is_loopback());
	EXPECT_EQ(InAny(Ipv4Addr::from_host(0xc0000201)), *v4);
}

TEST(NetAddr, MacParseAndFormat) {
	auto m = MacAddr::parse("52:54:00:AB:cd:Ef");
	ASSERT_TRUE(m);
	EXPECT_EQ(m->to_string(), "52:54:00:ab:cd:ef");
	EXPECT_FALSE(m->is_multicast());
	EXPECT_TRUE(MacAddr::parse("33:33:00:00:00:01")->is_multicast());
	EXPECT_TRUE(MacAddr::broadcast().is_broadcast());
	EXPECT_TRUE(MacAddr{}.is_zero());
	for (const char *bad : {"", "52:54:00:ab:cd", "52:54:00:ab:cd:ef:01", "52-54-00-ab-cd-ef",
				"52:54:00:ab:cd:eg", "5:54:00:ab:cd:ef0", "52:54:00:ab:cd:e",
				"525400abcdef", "52:54:00:ab:cd:ef ", ":52:54:00:ab:cd:e"})
		EXPECT_FALSE(MacAddr::parse(bad)) << bad;
}

} // namespace
} // namespace passt
