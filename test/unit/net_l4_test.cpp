// UDP, TCP (incl. options), ICMP and ICMPv6/NDP views.
#include <gtest/gtest.h>

#include "net_test_util.h"
#include "passt/net/icmp.h"
#include "passt/net/icmpv6.h"
#include "passt/net/tcp.h"
#include "passt/net/udp.h"
#include "support/frames.h"

namespace passt {
namespace {

using test::hex;

const Ipv4Addr s4 = Ipv4Addr::from_host(0x0a000001), d4 = Ipv4Addr::from_host(0x0a000002);
const Ipv6Addr s6 = *Ipv6Addr::parse("2001:db8::1"), d6 = *Ipv6Addr::parse("2001:db8::2");

// ---- UDP ----

TEST(NetUdp, ParsesAndTrimsToLength) {
	auto p = hex("1234 0035 000c 0000 61626364 ffff");
	auto u = ConstUdpView::parse(p);
	ASSERT_TRUE(u);
	EXPECT_EQ(u->sport(), 0x1234);
	EXPECT_EQ(u->dport(), 53);
	EXPECT_EQ(u->length(), 12);
	EXPECT_EQ(u->payload().size(), 4u);
	EXPECT_EQ(u->bytes().size(), 12u);
}

TEST(NetUdp, RejectsBadLength) {
	auto p = hex("1234 0035 000c 0000 61626364");
	for (size_t n = 0; n < 12; n++)
		EXPECT_FALSE(ConstUdpView::parse(std::span(p).first(n))) << n;
	for (int len : {0, 1, 7, 13, 0xffff}) {
		auto b = p;
		b[4] = std::byte(len >> 8);
		b[5] = std::byte(len);
		EXPECT_FALSE(ConstUdpView::parse(b)) << len;
	}
	auto b = p;
	b[5] = std::byte{8}; // header only: valid
	EXPECT_TRUE(ConstUdpView::parse(b));
}

TEST(NetUdp, Checksums) {
	auto p = hex("1234 0035 000d 0000 6162636465");
	auto u = UdpView::parse(p);
	ASSERT_TRUE(u);
	// No checksum: fine over IPv4, invalid over IPv6.
	EXPECT_TRUE(u->checksum_ok4(s4, d4));
	EXPECT_FALSE(u->checksum_ok6(s6, d6));
	u->fill_checksum4(s4, d4);
	EXPECT_NE(u->checksum().raw, 0);
	EXPECT_TRUE(u->checksum_ok4(s4, d4));
	EXPECT_FALSE(u->checksum_ok4(d4, d4));
	u->fill_checksum6(s6, d6);
	EXPECT_TRUE(u->checksum_ok6(s6, d6));
	p[12] ^= std::byte{0x01};
	EXPECT_FALSE(u->checksum_ok6(s6, d6));
}

TEST(NetUdp, ComputedZeroIsSentAsFfff) {
	auto p = hex("1234 0035 000c 0000 0000 0000");
	auto u = UdpView::parse(p);
	// Choose the last payload word so that the checksum computes to zero.
	u->fill_checksum4(s4, d4);
	uint16_t c = be16::from_raw(u->checksum().raw).host();
	u->set_checksum(be16{});
	store_be16(p.data() + 10, c);
	u->fill_checksum4(s4, d4);
	EXPECT_EQ(u->checksum().host(), 0xffff);
	EXPECT_TRUE(u->checksum_ok4(s4, d4));
}

// ---- TCP ----

TEST(NetTcp, ParsesHeader) {
	auto p = hex("c000 0050 01020304 a0b0c0d0 5018 ffff 0000 0007 68656c6c6f");
	auto t = ConstTcpView::parse(p);
	ASSERT_TRUE(t);
	EXPECT_EQ(t->sport(), 0xc000);
	EXPECT_EQ(t->dport(), 80);
	EXPECT_EQ(t->seq(), 0x01020304u);
	EXPECT_EQ(t->ack_seq(), 0xa0b0c0d0u);
	EXPECT_EQ(t->header_len(), 20u);
	EXPECT_EQ(t->flags(), tcpflag::ack | tcpflag::psh);
	EXPECT_TRUE(t->has(tcpflag::psh));
	EXPECT_FALSE(t->has(tcpflag::fin));
	EXPECT_EQ(t->window(), 0xffff);
	EXPECT_EQ(t->urgent(), 7);
	EXPECT_TRUE(t->options().empty());
	EXPECT_EQ(t->payload().size(), 5u);
}

TEST(NetTcp, RejectsBadDataOffset) {
	auto p = hex("c000 0050 01020304 a0b0c0d0 6002 ffff 0000 0000 02040218");
	for (size_t n = 0; n < 24; n++)
		EXPECT_FALSE(ConstTcpView::parse(std::span(p).first(n))) << n;
	EXPECT_TRUE(ConstTcpView::parse(p));
	for (int doff = 0; doff < 5; doff++) {
		auto b = p;
		b[12] = std::byte(doff << 4);
		EXPECT_FALSE(ConstTcpView::parse(b)) << doff;
	}
	auto b = p;
	b[12] = std::byte{0x70}; // 28 bytes > 24
	EXPECT_FALSE(ConstTcpView::parse(b));
	b[12] = std::byte{0xf0};
	EXPECT_FALSE(ConstTcpView::parse(b));
}

TEST(NetTcpOptions, ParsesAllKinds) {
	auto o = tcp_parse_options(hex("020405b4 0402 080a 11223344 55667788 01 030307 00"));
	EXPECT_FALSE(o.malformed);
	EXPECT_EQ(o.mss, 1460);
	EXPECT_TRUE(o.sack_permitted);
	EXPECT_TRUE(o.has_timestamps);
	EXPECT_EQ(o.ts_val, 0x11223344u);
	EXPECT_EQ(o.ts_ecr, 0x55667788u);
	EXPECT_EQ(o.wscale, 7);
}

TEST(NetTcpOptions, EmptyEolAndUnknown) {
	auto o = tcp_parse_options({});
	EXPECT_FALSE(o.mss || o.wscale || o.sack_permitted || o.has_timestamps || o.malformed);
	// EOL ends the list: the MSS after it is not seen.
	o = tcp_parse_options(hex("00 020405b4"));
	EXPECT_FALSE(o.mss);
	EXPECT_FALSE(o.malformed);
	// Unknown option (kind 30, length 6) and SACK blocks are skipped.
	o = tcp_parse_options(hex("1e06aabbccdd 050a0000000100000002 020405dc"));
	EXPECT_EQ(o.mss, 1500);
	EXPECT_FALSE(o.malformed);
}

TEST(NetTcpOptions, Malformed) {
	// Length 0 and 1 would loop or misparse.
	EXPECT_TRUE(tcp_parse_options(hex("0200 0000")).malformed);
	EXPECT_TRUE(tcp_parse_options(hex("0201 0000")).malformed);
	// Option running off the end.
	auto o = tcp_parse_options(hex("020405b4 080a 1122"));
	EXPECT_TRUE(o.malformed);
	EXPECT_EQ(o.mss, 1460); // what came before is kept
	EXPECT_FALSE(o.has_timestamps);
	// Kind without length byte.
	EXPECT_TRUE(tcp_parse_options(hex("01 01 02")).malformed);
	// Known option with a wrong length: ignored, not fatal.
	o = tcp_parse_options(hex("0203ff 0404 0000 030307"));
	EXPECT_FALSE(o.malformed);
	EXPECT_FALSE(o.mss);
	EXPECT_FALSE(o.sack_permitted);
	EXPECT_EQ(o.wscale, 7);
}

TEST(NetTcpOptions, WriteRoundTrip) {
	for (int mask = 0; mask < 16; mask++) {
		TcpOptions in;
		if (mask & 1)
			in.mss = 1234;
		if (mask & 2)
			in.wscale = 9;
		if (mask & 4)
			in.sack_permitted = true;
		if (mask & 8) {
			in.has_timestamps = true;
			in.ts_val = 0xdeadbeef;
			in.ts_ecr = 42;
		}
		std::byte buf[40];
		size_t n = tcp_write_options(buf, in);
		EXPECT_EQ(n % 4, 0u) << mask;
		EXPECT_LE(n, 20u);
		auto out = tcp_parse_options(std::span(buf, n));
		EXPECT_FALSE(out.malformed) << mask;
		EXPECT_EQ(out.mss, in.mss) << mask;
		EXPECT_EQ(out.wscale, in.wscale) << mask;
		EXPECT_EQ(out.sack_permitted, in.sack_permitted) << mask;
		EXPECT_EQ(out.has_timestamps, in.has_timestamps) << mask;
		EXPECT_EQ(out.ts_val, in.ts_val) << mask;
		EXPECT_EQ(out.ts_ecr, in.ts_ecr) << mask;
	}
}

TEST(NetTcpOptions, WriteLayoutAndShortBuffer) {
	TcpOptions o;
	o.mss = 1460;
	o.wscale = 7;
	std::byte buf[8];
	ASSERT_EQ(tcp_write_options(buf, o), 8u);
	EXPECT_EQ(std::vector<std::byte>(buf, buf + 8), hex("020405b4 01030307"));
	o.sack_permitted = true;
	std::byte small[11] = {};
	EXPECT_EQ(tcp_write_options(small, o), 0u);
	EXPECT_EQ(small[0], std::byte{0}); // nothing written
}

TEST(NetTcp, BuildsWithOptionsAndChecksum) {
	std::vector<std::byte> buf(60 + 3, std::byte{0xee});
	auto t = TcpView::init(buf);
	ASSERT_TRUE(t);
	t->set_sport(40000);
	t->set_dport(22);
	t->set_seq(1);
	t->set_ack_seq(2);
	t->set_flags(tcpflag::syn | tcpflag::ack);
	t->set_window(65535);
	TcpOptions o;
	o.mss = 65480;
	o.wscale = 7;
	size_t n = tcp_write_options(std::span(buf).subspan(20), o);
	ASSERT_EQ(n, 8u);
	EXPECT_FALSE(t->set_header_len(26));
	EXPECT_FALSE(t->set_header_len(64));
	EXPECT_FALSE(t->set_header_len(16));
	ASSERT_TRUE(t->set_header_len(28));
	auto seg = std::span(buf).first(28 + 3);
	auto v = TcpView::parse(seg);
	ASSERT_TRUE(v);
	v->fill_checksum4(s4, d4);
	EXPECT_TRUE(v->checksum_ok4(s4, d4));
	EXPECT_FALSE(v->checksum_ok4(s4, s4));
	v->fill_checksum6(s6, d6);
	EXPECT_TRUE(v->checksum_ok6(s6, d6));
	EXPECT_EQ(v->payload().size(), 3u);
	EXPECT_EQ(v->parse_options().mss, 65480);
	EXPECT_EQ(v->parse_options().wscale, 7);
}

// ---- ICMP ----

TEST(NetIcmp, EchoAndChecksum) {
	auto p = hex("0800 0000 1234 0001 6869");
	auto i = IcmpView::parse(p);
	ASSERT_TRUE(i);
	EXPECT_EQ(i->type(), icmptype::echo_request);
	EXPECT_EQ(i->id(), 0x1234);
	EXPECT_EQ(i->seq(), 1);
	EXPECT_EQ(i->body().size(), 6u);
	EXPECT_EQ(i->data().size(), 2u);
	EXPECT_FALSE(i->checksum_ok());
	i->fill_checksum();
	EXPECT_TRUE(i->checksum_ok());
	i->set_type(icmptype::echo_reply);
	EXPECT_FALSE(i->checksum_ok());
	for (size_t n = 0; n < 8; n++)
		EXPECT_FALSE(ConstIcmpView::parse(std::span(p).first(n)));
	std::vector<std::byte> b(8, std::byte{0x11});
	auto w = IcmpView::init(b);
	w->set_rest(0xaabbccdd);
	EXPECT_EQ(w->id(), 0xaabb);
	EXPECT_EQ(w->seq(), 0xccdd);
	EXPECT_EQ(w->type(), 0);
}

// ---- ICMPv6 / NDP ----

TEST(NetIcmp6, ParseAndChecksum) {
	auto p = hex("8000 0000 0001 0002 abcd");
	auto i = Icmp6View::parse(p);
	ASSERT_TRUE(i);
	EXPECT_EQ(i->type(), icmp6type::echo_request);
	EXPECT_EQ(i->id(), 1);
	EXPECT_EQ(i->seq(), 2);
	EXPECT_FALSE(i->target()); // too short for NS/NA
	EXPECT_TRUE(i->from(10).empty());
	EXPECT_TRUE(i->from(11).empty());
	i->fill_checksum(s6, d6);
	EXPECT_TRUE(i->checksum_ok(s6, d6));
	EXPECT_FALSE(i->checksum_ok(d6, s6) && i->checksum_ok(s6, s6));
	for (size_t n = 0; n < 8; n++)
		EXPECT_FALSE(ConstIcmp6View::parse(std::span(p).first(n)));
}

TEST(NetNdp, NeighborAdvertisementFieldsAndOptions) {
	auto p = hex("8800 0000 e0000000 20010db8000000000000000000000001"
		     "0201 020000000001  1901 000000000000");
	auto i = ConstIcmp6View::parse(p);
	ASSERT_TRUE(i);
	EXPECT_EQ(i->type(), icmp6type::neighbor_advert);
	EXPECT_TRUE(i->word() & ndp::na_router);
	EXPECT_TRUE(i->word() & ndp::na_solicited);
	EXPECT_TRUE(i->word() & ndp::na_override);
	EXPECT_EQ(i->target(), s6);
	auto opts = i->from(ndp::na_opts_off);
	EXPECT_TRUE(tlv::valid<tlv::Ndp>(opts));
	auto tll = tlv::find<tlv::Ndp>(opts, ndp::opt_target_lladdr);
	ASSERT_TRUE(tll);
	EXPECT_EQ(ndp_lladdr(*tll), (MacAddr{{2, 0, 0, 0, 0, 1}}));
	EXPECT_TRUE(tlv::find<tlv::Ndp>(opts, ndp::opt_rdnss));
	EXPECT_FALSE(tlv::find<tlv::Ndp>(opts, ndp::opt_mtu));
	int count = 0;
	EXPECT_TRUE(
		tlv::for_each<tlv::Ndp>(opts, [&](const tlv::Option &) { return ++count < 1; }));
	EXPECT_EQ(count, 1);
}

TEST(NetNdp, MalformedOptions) {
	EXPECT_TRUE(tlv::valid<tlv::Ndp>({}));
	EXPECT_FALSE(tlv::valid<tlv::Ndp>(hex("0100 020000000001"))); // length 0
	EXPECT_FALSE(tlv::valid<tlv::Ndp>(hex("0102 020000000001"))); // 16 bytes claimed
	EXPECT_FALSE(tlv::valid<tlv::Ndp>(hex("01")));                // cut in the header
	// An option after a malformed one is not found.
	EXPECT_FALSE(tlv::find<tlv::Ndp>(hex("0500 0000 0000 0000 0101 020000000001"),
					 ndp::opt_source_lladdr));
	// Wrong option type / too short for an address.
	auto mtu = hex("0501 0000 000005dc");
	EXPECT_FALSE(ndp_lladdr(tlv::Option{ndp::opt_mtu, std::span(mtu).subspan(2), mtu}));
	auto shortopt = hex("0101 0200");
	EXPECT_FALSE(ndp_lladdr(tlv::Option{1, std::span(shortopt).subspan(2), shortopt}));
}

} // namespace
} // namespace passt
