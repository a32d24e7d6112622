// TcpRepr and UdpRepr: parse -> emit -> parse round trips on fixed segments
// (checksums computed independently of our checksum code), and malformed or
// truncated input, each copied into a buffer of exactly its size so that the
// sanitizer build catches a read past the span.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "passt/net/checksum.h"
#include "passt/net/tcp_repr.h"
#include "passt/net/udp_repr.h"

namespace passt {
namespace {

const Ipv4Addr s4 = *Ipv4Addr::parse("192.0.2.2"), d4 = *Ipv4Addr::parse("192.0.2.1");
const Ipv6Addr s6 = *Ipv6Addr::parse("2001:db8::2"), d6 = *Ipv6Addr::parse("2001:db8::1");

// A Linux SYN, 192.0.2.2:43210 -> 192.0.2.1:80: MSS 1460, SACK permitted,
// timestamps, NOP, window scale 7.
const uint8_t syn4[] = {
	0xa8, 0xca, 0x00, 0x50, 0x12, 0x34, 0x56, 0x78, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02,
	0xfa, 0xf0, 0xa1, 0x2c, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a,
	0x0a, 0x0b, 0x0c, 0x0d, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
};
// Data with timestamps (NOP, NOP, TS), PSH|ACK, 2001:db8::2 -> 2001:db8::1.
const uint8_t data6[] = {
	0xa8, 0xca, 0x00, 0x50, 0x12, 0x34, 0x56, 0x79, 0x9a, 0xbc, 0xde, 0xf1, 0x80, 0x18, 0x01,
	0xf6, 0x28, 0x6a, 0x00, 0x00, 0x01, 0x01, 0x08, 0x0a, 0x0a, 0x0b, 0x0d, 0x00, 0x01, 0x02,
	0x03, 0x04, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x2c, 0x20, 0x77, 0x6f, 0x72, 0x6c, 0x64, 0x0a,
};
const uint8_t fin4[] = {
	0xa8, 0xca, 0x00, 0x50, 0x12, 0x34, 0x56, 0x86, 0x9a, 0xbc,
	0xde, 0xf1, 0x50, 0x11, 0x01, 0xf6, 0x9e, 0x56, 0x00, 0x00,
};
// 192.0.2.1:80 -> 192.0.2.2:43210.
const uint8_t rst4[] = {
	0x00, 0x50, 0xa8, 0xca, 0x9a, 0xbc, 0xde, 0xf1, 0x00, 0x00,
	0x00, 0x00, 0x50, 0x04, 0x00, 0x00, 0x09, 0x14, 0x00, 0x00,
};
// A DNS query, port 40000 -> 53, over IPv4 and IPv6.
const uint8_t udp4[] = {
	0x9c, 0x40, 0x00, 0x35, 0x00, 0x24, 0xa6, 0x43, 0x12, 0x34, 0x01, 0x00,
	0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x65, 0x78, 0x6d,
	0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x01,
};
const uint8_t udp6[] = {
	0x9c, 0x40, 0x00, 0x35, 0x00, 0x24, 0xce, 0xd2, 0x12, 0x34, 0x01, 0x00,
	0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x65, 0x78, 0x6d,
	0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x01,
};

template <size_t N> std::vector<std::byte> vec(const uint8_t (&a)[N]) {
	std::vector<std::byte> v(N);
	std::memcpy(v.data(), a, N);
	return v;
}

std::span<const std::byte> cs(const std::vector<std::byte> &v) { return {v.data(), v.size()}; }

void expect_same(const TcpRepr &a, const TcpRepr &b) {
	EXPECT_EQ(a.sport, b.sport);
	EXPECT_EQ(a.dport, b.dport);
	EXPECT_EQ(a.seq, b.seq);
	EXPECT_EQ(a.ack, b.ack);
	EXPECT_EQ(a.flags, b.flags);
	EXPECT_EQ(a.window, b.window);
	EXPECT_EQ(a.urgent, b.urgent);
	EXPECT_EQ(a.opts.mss, b.opts.mss);
	EXPECT_EQ(a.opts.wscale, b.opts.wscale);
	EXPECT_EQ(a.opts.sack_permitted, b.opts.sack_permitted);
	EXPECT_EQ(a.opts.has_timestamps, b.opts.has_timestamps);
	EXPECT_EQ(a.opts.ts_val, b.opts.ts_val);
	EXPECT_EQ(a.opts.ts_ecr, b.opts.ts_ecr);
	ASSERT_EQ(a.payload.size(), b.payload.size());
	EXPECT_EQ(0, std::memcmp(a.payload.data(), b.payload.data(), a.payload.size()));
}

// parse (checksum checked) -> emit -> bytes as before -> parse again.
void round_trip(const std::vector<std::byte> &seg, const InAny &src, const InAny &dst) {
	auto r = src.is_v4() ? TcpRepr::parse4(cs(seg), src.v4(), dst.v4())
			     : TcpRepr::parse6(cs(seg), src.v6(), dst.v6());
	ASSERT_TRUE(r);
	EXPECT_EQ(r->segment_len(), seg.size());
	std::vector<std::byte> out(seg.size() + 16, std::byte{0xee});
	ASSERT_EQ(r->emit(out, src, dst), seg.size());
	EXPECT_EQ(0, std::memcmp(out.data(), seg.data(), seg.size()));
	EXPECT_EQ(out[seg.size()], std::byte{0xee});
	out.resize(seg.size());
	auto back = TcpRepr::parse(cs(out));
	ASSERT_TRUE(back);
	expect_same(*r, *back);
}

TEST(NetTcpRepr, LinuxSyn) {
	auto seg = vec(syn4);
	auto r = TcpRepr::parse4(cs(seg), s4, d4);
	ASSERT_TRUE(r);
	EXPECT_EQ(r->sport, 43210);
	EXPECT_EQ(r->dport, 80);
	EXPECT_EQ(r->seq, 0x12345678u);
	EXPECT_EQ(r->ack, 0u);
	EXPECT_EQ(r->flags, tcpflag::syn);
	EXPECT_EQ(r->window, 64240);
	EXPECT_EQ(r->opts.mss, 1460);
	EXPECT_EQ(r->opts.wscale, 7);
	EXPECT_TRUE(r->opts.sack_permitted);
	EXPECT_TRUE(r->opts.has_timestamps);
	EXPECT_EQ(r->opts.ts_val, 0x0a0b0c0du);
	EXPECT_EQ(r->opts.ts_ecr, 0u);
	EXPECT_TRUE(r->payload.empty());
	EXPECT_EQ(r->header_len(), 40u);
	round_trip(seg, InAny(s4), InAny(d4));
}

TEST(NetTcpRepr, DataSegmentV6) {
	auto seg = vec(data6);
	auto r = TcpRepr::parse6(cs(seg), s6, d6);
	ASSERT_TRUE(r);
	EXPECT_EQ(r->flags, tcpflag::psh | tcpflag::ack);
	EXPECT_EQ(r->ack, 0x9abcdef1u);
	EXPECT_FALSE(r->opts.mss);
	EXPECT_TRUE(r->opts.has_timestamps);
	EXPECT_EQ(r->opts.ts_ecr, 0x01020304u);
	ASSERT_EQ(r->payload.size(), 13u);
	EXPECT_EQ(0, std::memcmp(r->payload.data(), "hello, world\n", 13));
	EXPECT_EQ(r->payload.data(), seg.data() + 32);
	round_trip(seg, InAny(s6), InAny(d6));
	// The same bytes under the other family's pseudo-header do not check.
	EXPECT_FALSE(TcpRepr::parse4(cs(seg), s4, d4));
}

TEST(NetTcpRepr, FinAndRst) {
	auto fin = vec(fin4), rst = vec(rst4);
	auto f = TcpRepr::parse4(cs(fin), s4, d4);
	ASSERT_TRUE(f);
	EXPECT_EQ(f->flags, tcpflag::fin | tcpflag::ack);
	EXPECT_EQ(f->header_len(), 20u);
	round_trip(fin, InAny(s4), InAny(d4));
	auto r = TcpRepr::parse4(cs(rst), d4, s4);
	ASSERT_TRUE(r);
	EXPECT_EQ(r->flags, tcpflag::rst);
	EXPECT_EQ(r->window, 0);
	round_trip(rst, InAny(d4), InAny(s4));
}

TEST(NetTcpRepr, BadChecksum) {
	auto seg = vec(data6);
	seg.back() ^= std::byte{1};
	EXPECT_FALSE(TcpRepr::parse6(cs(seg), s6, d6));
	EXPECT_TRUE(TcpRepr::parse(cs(seg))); // not checked without addresses
	auto syn = vec(syn4);
	EXPECT_FALSE(TcpRepr::parse4(cs(syn), s4, Ipv4Addr::from_host(0xc0000203)));
}

TEST(NetTcpRepr, EveryTruncationRejected) {
	// Shorter than the data offset says: never a segment, never a read
	// past the copy.
	for (const auto &full : {vec(syn4), vec(data6), vec(fin4)}) {
		size_t hlen = size_t(uint8_t(full[12]) >> 4) * 4;
		for (size_t n = 0; n < hlen; n++) {
			std::vector<std::byte> part(full.begin(), full.begin() + long(n));
			EXPECT_FALSE(TcpRepr::parse(cs(part))) << n;
		}
		for (size_t n = hlen; n <= full.size(); n++) {
			std::vector<std::byte> part(full.begin(), full.begin() + long(n));
			auto r = TcpRepr::parse(cs(part));
			ASSERT_TRUE(r) << n;
			EXPECT_EQ(r->payload.size(), n - hlen);
		}
	}
}

TEST(NetTcpRepr, BadDataOffset) {
	auto seg = vec(syn4);
	for (uint8_t doff : {0, 1, 4}) {
		seg[12] = std::byte(uint8_t(doff << 4));
		EXPECT_FALSE(TcpRepr::parse(cs(seg))) << int(doff);
	}
	// 11 and 15 words: beyond the 40 bytes there are.
	for (uint8_t doff : {11, 15}) {
		seg[12] = std::byte(uint8_t(doff << 4));
		EXPECT_FALSE(TcpRepr::parse(cs(seg))) << int(doff);
	}
}

TEST(NetTcpRepr, MalformedOptions) {
	// A header of 20 fixed bytes and the options given (a multiple of 4).
	auto with_opts = [](std::initializer_list<int> o) {
		std::vector<std::byte> seg(vec(fin4));
		seg[12] = std::byte(uint8_t(((20 + o.size()) / 4) << 4));
		for (int b : o)
			seg.push_back(std::byte(b));
		return seg;
	};
	EXPECT_TRUE(TcpRepr::parse(cs(with_opts({2, 4, 0x05, 0xb4}))));
	EXPECT_TRUE(TcpRepr::parse(cs(with_opts({0, 2, 4, 0})))); // EOL: rest ignored
	EXPECT_TRUE(TcpRepr::parse(cs(with_opts({1, 1, 1, 1}))));
	// Length 0 and 1 (would loop, or overlap the next kind); an option
	// running past the header; a kind byte with no room for its length; an
	// unknown option longer than the options area: the option walk stops
	// and says so, the segment itself still parses (as Linux keeps it).
	for (auto o : {with_opts({2, 0, 1, 1}), with_opts({8, 1, 1, 1}), with_opts({1, 1, 2, 4}),
		       with_opts({1, 1, 1, 3}), with_opts({0x22, 10, 0, 0})}) {
		auto m = TcpRepr::parse(cs(o));
		ASSERT_TRUE(m);
		EXPECT_TRUE(m->opts.malformed);
		EXPECT_FALSE(m->opts.mss);
		EXPECT_EQ(m->seq, TcpRepr::parse(cs(vec(fin4)))->seq);
	}
	// Options before the bad one are kept.
	auto early = TcpRepr::parse(cs(with_opts({2, 4, 0x05, 0xb4, 8, 0, 0, 0})));
	ASSERT_TRUE(early);
	EXPECT_TRUE(early->opts.malformed);
	EXPECT_EQ(early->opts.mss, 1460);
	// A known option of the wrong length is skipped, not trusted.
	auto r = TcpRepr::parse(cs(with_opts({2, 3, 0x05, 1})));
	ASSERT_TRUE(r);
	EXPECT_FALSE(r->opts.mss);
}

TEST(NetTcpRepr, EmitMovesPayloadAndChecksFit) {
	TcpRepr r;
	r.sport = 1000;
	r.dport = 2000;
	r.seq = 7;
	r.flags = tcpflag::ack | tcpflag::psh;
	r.window = 100;
	r.opts.mss = 1400;
	const char text[] = "payload";
	r.payload = std::as_bytes(std::span(text, 7));
	EXPECT_EQ(r.header_len(), 24u);
	std::vector<std::byte> small(r.segment_len() - 1, std::byte{0x5a});
	EXPECT_EQ(r.emit(small, InAny(s4), InAny(d4)), 0u);
	for (std::byte b : small)
		EXPECT_EQ(b, std::byte{0x5a});

	std::vector<std::byte> out(r.segment_len());
	ASSERT_EQ(r.emit(out, InAny(s4), InAny(d4)), 31u);
	auto th = ConstTcpView::parse(cs(out));
	ASSERT_TRUE(th);
	EXPECT_EQ(th->header_len(), 24u);
	EXPECT_TRUE(th->checksum_ok4(s4, d4));
	auto back = TcpRepr::parse4(cs(out), s4, d4);
	ASSERT_TRUE(back);
	expect_same(r, *back);

	// Payload already in place behind the header: left where it is.
	std::vector<std::byte> frame(r.segment_len());
	std::memcpy(frame.data() + 24, text, 7);
	TcpRepr in = r;
	in.payload = std::span<const std::byte>(frame.data() + 24, 7);
	ASSERT_EQ(in.emit(frame, InAny(s6), InAny(d6)), 31u);
	EXPECT_TRUE(ConstTcpView::parse(cs(frame))->checksum_ok6(s6, d6));
	EXPECT_EQ(0, std::memcmp(frame.data() + 24, text, 7));
}

TEST(NetTcpRepr, PartialChecksumCompletes) {
	auto seg = vec(data6);
	auto r = TcpRepr::parse(cs(seg));
	ASSERT_TRUE(r);
	std::vector<std::byte> out(seg.size());
	ASSERT_EQ(r->emit(out, InAny(s6), InAny(d6), L4Csum::Partial), seg.size());
	uint16_t field;
	std::memcpy(&field, out.data() + 16, 2);
	EXPECT_EQ(field, csum_fold(pseudo_header6(s6, d6, ipproto::tcp, uint32_t(seg.size()))));
	// What a NEEDS_CSUM consumer does: sum from csum_start, store it.
	be16 done = inet_checksum(cs(out));
	std::memcpy(out.data() + 16, &done.raw, 2);
	EXPECT_EQ(0, std::memcmp(out.data(), seg.data(), seg.size()));

	auto fin = vec(fin4);
	auto f = TcpRepr::parse(cs(fin));
	ASSERT_TRUE(f);
	std::vector<std::byte> o4(fin.size());
	ASSERT_EQ(f->emit(o4, InAny(s4), InAny(d4), L4Csum::Partial), fin.size());
	done = inet_checksum(cs(o4));
	std::memcpy(o4.data() + 16, &done.raw, 2);
	EXPECT_EQ(0, std::memcmp(o4.data(), fin.data(), fin.size()));
}

// emit_header(): the header alone, for a payload put elsewhere, is the
// header emit() writes with a partial checksum; too small a buffer, or a
// segment past 65535 bytes, writes nothing.
TEST(NetTcpRepr, HeaderAloneMatchesPartialEmit) {
	for (bool v6 : {false, true}) {
		auto seg = v6 ? vec(data6) : vec(fin4);
		auto r = TcpRepr::parse(cs(seg));
		ASSERT_TRUE(r);
		const InAny src = v6 ? InAny(s6) : InAny(s4), dst = v6 ? InAny(d6) : InAny(d4);
		std::vector<std::byte> full(seg.size());
		ASSERT_EQ(r->emit(full, src, dst, L4Csum::Partial), seg.size());
		const size_t plen = r->payload.size(), hlen = r->header_len();
		TcpRepr h = *r;
		h.payload = {};
		std::vector<std::byte> hdr(hlen, std::byte{0xaa});
		ASSERT_EQ(h.emit_header(hdr, src, dst, plen), hlen);
		EXPECT_EQ(0, std::memcmp(hdr.data(), full.data(), hlen)) << (v6 ? "IPv6" : "IPv4");
		std::vector<std::byte> small(hlen - 1, std::byte{0xaa});
		EXPECT_EQ(h.emit_header(small, src, dst, plen), 0u);
		EXPECT_EQ(small[0], std::byte{0xaa});
		EXPECT_EQ(h.emit_header(hdr, src, dst, 65536 - hlen), 0u);
		EXPECT_EQ(h.emit_header(hdr, src, dst, 65535 - hlen), hlen);
	}
}

// ---- UDP ----

void udp_round_trip(const std::vector<std::byte> &d, const InAny &src, const InAny &dst) {
	auto r = src.is_v4() ? UdpRepr::parse4(cs(d), src.v4(), dst.v4())
			     : UdpRepr::parse6(cs(d), src.v6(), dst.v6());
	ASSERT_TRUE(r);
	EXPECT_EQ(r->sport, 40000);
	EXPECT_EQ(r->dport, 53);
	EXPECT_EQ(r->payload.size(), d.size() - 8);
	EXPECT_EQ(r->payload.data(), d.data() + 8);
	std::vector<std::byte> out(d.size());
	ASSERT_EQ(r->emit(out, src, dst), d.size());
	EXPECT_EQ(0, std::memcmp(out.data(), d.data(), d.size()));
	auto back = UdpRepr::parse(cs(out));
	ASSERT_TRUE(back);
	EXPECT_EQ(back->sport, r->sport);
	EXPECT_EQ(back->dport, r->dport);
	ASSERT_EQ(back->payload.size(), r->payload.size());
	EXPECT_EQ(0, std::memcmp(back->payload.data(), r->payload.data(), r->payload.size()));
}

TEST(NetUdpRepr, RoundTripV4AndV6) {
	udp_round_trip(vec(udp4), InAny(s4), InAny(d4));
	udp_round_trip(vec(udp6), InAny(s6), InAny(d6));
	EXPECT_FALSE(UdpRepr::parse4(cs(vec(udp6)), s4, d4));
	EXPECT_FALSE(UdpRepr::parse6(cs(vec(udp4)), s6, d6));
}

TEST(NetUdpRepr, ZeroChecksum) {
	auto d = vec(udp4);
	d[6] = d[7] = std::byte{0};
	EXPECT_TRUE(UdpRepr::parse4(cs(d), s4, d4)); // none computed: fine over IPv4
	auto d6v = vec(udp6);
	d6v[6] = d6v[7] = std::byte{0};
	EXPECT_FALSE(UdpRepr::parse6(cs(d6v), s6, d6)); // mandatory over IPv6
}

TEST(NetUdpRepr, LengthField) {
	auto d = vec(udp4);
	// Larger than the buffer, by one and by a lot.
	for (uint16_t len : {uint16_t(37), uint16_t(0xffff)}) {
		auto b = d;
		b[4] = std::byte(len >> 8);
		b[5] = std::byte(len & 0xff);
		EXPECT_FALSE(UdpRepr::parse(cs(b))) << len;
	}
	// Below the header.
	for (uint16_t len : {0, 1, 7}) {
		auto b = d;
		b[4] = std::byte{0};
		b[5] = std::byte(len);
		EXPECT_FALSE(UdpRepr::parse(cs(b))) << len;
	}
	// Smaller than the buffer: the datagram ends where it says, and the
	// checksum covers only that much (a trailer does not break it).
	auto padded = d;
	padded.resize(d.size() + 6, std::byte{0xab});
	auto r = UdpRepr::parse4(cs(padded), s4, d4);
	ASSERT_TRUE(r);
	EXPECT_EQ(r->payload.size(), d.size() - 8);
	// Every truncation of the buffer below the length field fails.
	for (size_t n = 0; n < d.size(); n++) {
		std::vector<std::byte> part(d.begin(), d.begin() + long(n));
		EXPECT_FALSE(UdpRepr::parse(cs(part))) << n;
	}
}

TEST(NetUdpRepr, EmitChecksFit) {
	const char text[] = "abc";
	UdpRepr r{5353, 5353, std::as_bytes(std::span(text, 3))};
	std::vector<std::byte> small(10, std::byte{0x5a});
	EXPECT_EQ(r.emit(small, InAny(s4), InAny(d4)), 0u);
	for (std::byte b : small)
		EXPECT_EQ(b, std::byte{0x5a});
	std::vector<std::byte> out(11);
	ASSERT_EQ(r.emit(out, InAny(s6), InAny(d6)), 11u);
	auto u = ConstUdpView::parse(cs(out));
	ASSERT_TRUE(u);
	EXPECT_EQ(u->length(), 11);
	EXPECT_TRUE(u->checksum_ok6(s6, d6));
	EXPECT_EQ(0, std::memcmp(out.data() + 8, text, 3));
}

} // namespace
} // namespace passt
