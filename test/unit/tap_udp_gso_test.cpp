// Tests for the splitting of UDP GSO frames from the tap device
// (src/tap/udp_gso.cpp) and for TunBackend::read_batch() handing the
// segments on (src/tap/tap_tun.cpp): frames built from fixed header bytes
// and a known payload pattern, checked with an independent checksum.
#include "passt/tap/udp_gso.h"
#include "passt/tap/tap_tun.h"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <vector>

#include "net_test_util.h"
#include "passt/net/pool.h"

using namespace passt;
using passt::test::hex;
using passt::test::ref_sum;

namespace {

using Bytes = std::vector<std::byte>;

// 02:00:00:00:00:02 -> 02:00:00:00:00:01, IPv4 192.0.2.2 -> 192.0.2.1,
// id 0x1234, DF, TTL 64, UDP 40000 -> 20004. Lengths and checksums are
// filled in by frame4().
const Bytes HDR4 = hex("020000000001 020000000002 0800"
		       "4500 0000 1234 4000 4011 0000 c0000202 c0000201"
		       "9c40 4e24 0000 0000");
// Same MACs, IPv6 2001:db8::2 -> 2001:db8::1, flow label 0x12345, hop
// limit 64, next header UDP.
const Bytes HDR6 = hex("020000000001 020000000002 86dd"
		       "60012345 0000 11 40"
		       "20010db8000000000000000000000002"
		       "20010db8000000000000000000000001"
		       "9c40 4e24 0000 0000");
constexpr size_t L3 = 14;

unsigned get16(const std::byte *p) { return unsigned(uint8_t(p[0])) << 8 | uint8_t(p[1]); }
void put16(Bytes &b, size_t off, unsigned v) {
	b[off] = std::byte(v >> 8);
	b[off + 1] = std::byte(v);
}

// Payload byte i: differs per position and per 1200/1000-byte block.
Bytes pattern(size_t n) {
	Bytes p(n);
	for (size_t i = 0; i < n; i++)
		p[i] = std::byte((i * 7 + i / 1000 * 11 + i / 1200 * 13) & 0xff);
	return p;
}

// The UDP checksum, from scratch: pseudo-header + UDP header and data.
uint16_t udp_csum(std::span<const std::byte> ip_pkt, bool v4) {
	const size_t l3h = v4 ? (uint8_t(ip_pkt[0]) & 0xf) * 4u : 40u;
	std::span<const std::byte> l4 = ip_pkt.subspan(l3h);
	uint64_t sum = 0;
	if (v4) {
		sum = ref_sum(ip_pkt.subspan(12, 8));
	} else {
		sum = ref_sum(ip_pkt.subspan(8, 32));
	}
	sum += 17 + l4.size();
	return uint16_t(~ref_sum(l4, sum));
}

// A UDP GSO frame: the header template with lengths for payload, the IPv4
// header checksum, and the UDP checksum field as the kernel leaves it with
// NEEDS_CSUM (csum_field given: the test says what is in there), or a full
// checksum if csum_field < 0.
Bytes frame(bool v4, const Bytes &payload, int csum_field = -1) {
	Bytes f = v4 ? HDR4 : HDR6;
	const size_t udp = v4 ? L3 + 20 : L3 + 40;
	f.insert(f.end(), payload.begin(), payload.end());
	const size_t l4len = 8 + payload.size();
	put16(f, udp + 4, unsigned(l4len));
	if (v4) {
		put16(f, L3 + 2, unsigned(20 + l4len));
		put16(f, L3 + 10, uint16_t(~ref_sum(std::span(f).subspan(L3, 20))));
	} else {
		put16(f, L3 + 4, unsigned(l4len));
	}
	if (csum_field >= 0) {
		put16(f, udp + 6, unsigned(csum_field));
	} else {
		uint16_t c = udp_csum(std::span(f).subspan(L3), v4);
		put16(f, udp + 6, c ? c : 0xffff);
	}
	return f;
}

VirtioNetHdr gso_hdr(bool v4, unsigned gso_size, bool needs_csum = true) {
	VirtioNetHdr vh{};
	vh.gso_type = vnet::GSO_UDP_L4;
	vh.gso_size = htole16(uint16_t(gso_size));
	vh.hdr_len = htole16(uint16_t(v4 ? L3 + 28 : L3 + 48));
	if (needs_csum) {
		vh.flags = vnet::F_NEEDS_CSUM;
		vh.csum_start = htole16(uint16_t(v4 ? L3 + 20 : L3 + 40));
		vh.csum_offset = htole16(6);
	}
	return vh;
}

struct Split {
	Bytes buf;
	std::vector<std::span<std::byte>> segs{UDP_GSO_MAX_SEGS};
	UdpGsoResult r;
};

// Split f in a buffer with room_after bytes of room behind it.
std::unique_ptr<Split> split(const Bytes &f, const VirtioNetHdr &vh,
			     size_t room_after = UDP_GSO_EXTRA_ROOM,
			     size_t max_segs = UDP_GSO_MAX_SEGS) {
	auto s = std::make_unique<Split>();
	s->buf = f;
	s->buf.resize(f.size() + room_after, std::byte{0xee});
	s->r = udp_gso_split(s->buf, f.size(), vh, std::span(s->segs).first(max_segs));
	return s;
}

// Check segment k of a split frame: headers as in the original but for the
// lengths (and IPv4 id/checksum), the right slice of payload, checksums
// valid by an independent computation.
void check_segment(const Bytes &orig, bool v4, std::span<const std::byte> seg, size_t k, size_t gso,
		   const Bytes &payload) {
	SCOPED_TRACE(testing::Message() << "segment " << k);
	const size_t hlen = v4 ? L3 + 28 : L3 + 48;
	const size_t off = k * gso;
	const size_t len = std::min(gso, payload.size() - off);
	ASSERT_EQ(seg.size(), hlen + len);
	EXPECT_EQ(0, std::memcmp(seg.data(), orig.data(), 14)); // Ethernet
	if (len) { // memcmp() of no bytes must still not be given a null pointer
		EXPECT_EQ(0, std::memcmp(seg.data() + hlen, payload.data() + off, len));
	}
	const std::byte *udp = seg.data() + hlen - 8;
	EXPECT_EQ(get16(udp), 40000u);
	EXPECT_EQ(get16(udp + 2), 20004u);
	EXPECT_EQ(get16(udp + 4), 8 + len);
	uint16_t c = udp_csum(seg.subspan(L3), v4);
	EXPECT_EQ(c, 0) << "UDP checksum does not verify";
	EXPECT_NE(get16(udp + 6), 0u);
	if (v4) {
		EXPECT_EQ(get16(seg.data() + L3 + 2), 20 + 8 + len);
		EXPECT_EQ(get16(seg.data() + L3 + 4), 0x1234 + k);
		EXPECT_EQ(ref_sum(seg.subspan(L3, 20)), 0xffff) << "IPv4 header checksum";
		// TOS, flags, TTL, protocol, addresses as in the original.
		EXPECT_EQ(0, std::memcmp(seg.data() + L3 + 6, orig.data() + L3 + 6, 4));
		EXPECT_EQ(0, std::memcmp(seg.data() + L3 + 12, orig.data() + L3 + 12, 8));
	} else {
		EXPECT_EQ(get16(seg.data() + L3 + 4), 8 + len);
		EXPECT_EQ(0, std::memcmp(seg.data() + L3, orig.data() + L3, 4));
		EXPECT_EQ(0, std::memcmp(seg.data() + L3 + 6, orig.data() + L3 + 6, 34));
	}
}

void check_all(const Bytes &orig, bool v4, const Split &s, size_t gso, const Bytes &payload,
	       size_t expect_segs) {
	ASSERT_EQ(s.r.error, nullptr) << s.r.error;
	ASSERT_EQ(s.r.segs, expect_segs);
	for (size_t k = 0; k < s.r.segs; k++) {
		check_segment(orig, v4, s.segs[k], k, gso, payload);
		EXPECT_EQ((s.segs[k].data() - s.buf.data()) % 8, 0) << "segment " << k;
		if (k) {
			EXPECT_GE(s.segs[k].data(), s.segs[k - 1].data() + s.segs[k - 1].size());
		}
	}
}

TEST(UdpGsoSplit, Ipv4TwentySegmentsOf1200) {
	Bytes p = pattern(24000);
	// NEEDS_CSUM: the field holds some pseudo-header sum; whatever it is,
	// it is not validated, and the segments get real checksums.
	Bytes f = frame(true, p, 0xbeef);
	auto s = split(f, gso_hdr(true, 1200));
	check_all(f, true, *s, 1200, p, 20);
}

TEST(UdpGsoSplit, Ipv4LastSegmentShorter) {
	Bytes p = pattern(5000);
	Bytes f = frame(true, p, 0x1234);
	auto s = split(f, gso_hdr(true, 1200));
	check_all(f, true, *s, 1200, p, 5);
	EXPECT_EQ(s->segs[4].size(), 14 + 28 + 200u);
}

TEST(UdpGsoSplit, Ipv6ThreeSegments) {
	Bytes p = pattern(2999);
	Bytes f = frame(false, p, 0x0);
	auto s = split(f, gso_hdr(false, 1000));
	check_all(f, false, *s, 1000, p, 3);
	EXPECT_EQ(s->segs[2].size(), 14 + 48 + 999u);
}

TEST(UdpGsoSplit, OddSizesAndLargestFrame) {
	// gso_size odd (checksums over odd lengths, padded strides), and a
	// full 64 KiB IPv4 datagram.
	Bytes p = pattern(65535 - 28);
	Bytes f = frame(true, p, 0xffff);
	auto s = split(f, gso_hdr(true, 1473));
	check_all(f, true, *s, 1473, p, (p.size() + 1472) / 1473);
}

TEST(UdpGsoSplit, ExactMultipleOfGsoSize) {
	Bytes p = pattern(3600);
	Bytes f = frame(false, p, 0x7777);
	auto s = split(f, gso_hdr(false, 1200));
	check_all(f, false, *s, 1200, p, 3);
	EXPECT_EQ(s->segs[2].size(), 14 + 48 + 1200u);
}

TEST(UdpGsoSplit, PayloadWithinOneSegmentIsOneDatagram) {
	for (size_t n : {0, 1, 999, 1000}) {
		SCOPED_TRACE(n);
		Bytes p = pattern(n);
		Bytes f = frame(true, p, 0x4321);
		auto s = split(f, gso_hdr(true, 1000), 0);
		check_all(f, true, *s, 1000, p, 1);
		EXPECT_EQ(s->segs[0].data(), s->buf.data());
	}
}

TEST(UdpGsoSplit, CompleteChecksumIsVerifiedWithoutNeedsCsum) {
	Bytes p = pattern(3000);
	Bytes f = frame(true, p); // valid full checksum
	auto ok = split(f, gso_hdr(true, 1000, false));
	check_all(f, true, *ok, 1000, p, 3);

	Bytes bad = f;
	bad[L3 + 28 + 1500] ^= std::byte{1};
	auto s = split(bad, gso_hdr(true, 1000, false));
	EXPECT_EQ(s->r.segs, 0u);
	EXPECT_STREQ(s->r.error, "bad UDP checksum");

	// Over IPv6 a zero checksum is never valid; over IPv4 it means none.
	Bytes f6 = frame(false, p, 0);
	EXPECT_STREQ(split(f6, gso_hdr(false, 1000, false))->r.error, "bad UDP checksum");
	Bytes f4 = frame(true, p, 0);
	check_all(f4, true, *split(f4, gso_hdr(true, 1000, false)), 1000, p, 3);
}

// Every refused frame leaves the buffer as it was.
void expect_refused(const Bytes &f, const VirtioNetHdr &vh, const char *why,
		    size_t room = UDP_GSO_EXTRA_ROOM, size_t max_segs = UDP_GSO_MAX_SEGS) {
	auto s = split(f, vh, room, max_segs);
	EXPECT_EQ(s->r.segs, 0u);
	ASSERT_NE(s->r.error, nullptr);
	EXPECT_STREQ(s->r.error, why);
	EXPECT_EQ(0, std::memcmp(s->buf.data(), f.data(), f.size()));
}

TEST(UdpGsoSplit, MalformedFramesAreRefused) {
	Bytes p = pattern(3000);
	Bytes f4 = frame(true, p, 0x1111);
	Bytes f6 = frame(false, p, 0x1111);

	expect_refused(f4, gso_hdr(true, 0), "gso_size 0");
	expect_refused(Bytes(f4.begin(), f4.begin() + 10), gso_hdr(true, 1000),
		       "truncated Ethernet header");

	// IP total length beyond the frame. Copies one byte short, rather than
	// resize(): g++ 12 at -O1 with sanitizers warns falsely on the latter
	// (-Wstringop-overflow).
	Bytes t(f4.begin(), f4.end() - 1);
	expect_refused(t, gso_hdr(true, 1000), "bad IPv4 header or length");
	t.assign(f6.begin(), f6.end() - 1);
	expect_refused(t, gso_hdr(false, 1000), "bad IPv6 header or length");

	t = f4; // UDP length shorter than the IP payload
	put16(t, L3 + 24, 8 + 2000);
	expect_refused(t, gso_hdr(true, 1000), "UDP length disagrees with IP length");
	t = f6; // ... and longer
	put16(t, L3 + 44, 8 + 3001);
	expect_refused(t, gso_hdr(false, 1000), "UDP length disagrees with IP length");
	t = f4;
	put16(t, L3 + 24, 4);
	expect_refused(t, gso_hdr(true, 1000), "UDP length disagrees with IP length");

	t = f4;
	t[L3 + 9] = std::byte{6}; // TCP
	put16(t, L3 + 10, 0);
	put16(t, L3 + 10, uint16_t(~ref_sum(std::span(t).subspan(L3, 20))));
	expect_refused(t, gso_hdr(true, 1000), "not UDP");
	t = f4;
	t[L3 + 8] = std::byte{63}; // TTL changed, checksum not
	expect_refused(t, gso_hdr(true, 1000), "bad IPv4 header checksum");
	t = f4;
	put16(t, L3 + 6, 0x2000); // more fragments
	put16(t, L3 + 10, 0);
	put16(t, L3 + 10, uint16_t(~ref_sum(std::span(t).subspan(L3, 20))));
	expect_refused(t, gso_hdr(true, 1000), "IPv4 fragment");
	t = f4;
	put16(t, 12, 0x0806);
	expect_refused(t, gso_hdr(true, 1000), "not IP");

	// The partial checksum must be the UDP one.
	VirtioNetHdr vh = gso_hdr(true, 1000);
	vh.csum_start = htole16(L3);
	expect_refused(f4, vh, "partial checksum not at the UDP checksum");
	vh = gso_hdr(false, 1000);
	vh.csum_offset = htole16(16);
	expect_refused(f6, vh, "partial checksum not at the UDP checksum");

	// More segments than allowed, or than the caller has slots for.
	Bytes big = frame(true, pattern(24000), 0);
	expect_refused(big, gso_hdr(true, 1), "too many segments");
	expect_refused(big, gso_hdr(true, 1200), "too many segments", UDP_GSO_EXTRA_ROOM, 19);
	auto s = split(big, gso_hdr(true, 1200), UDP_GSO_EXTRA_ROOM, 20);
	EXPECT_EQ(s->r.segs, 20u);
	// No room behind the frame for the extra headers.
	expect_refused(big, gso_hdr(true, 1200), "no room to split", 19 * 48 - 1);
}

TEST(UdpGsoSplit, LongIpv4OptionsAndIpv6ExtensionHeaders) {
	Bytes p = pattern(2500);
	// IPv4 with 8 bytes of options (two NOPs, then end of list).
	Bytes f = frame(true, p, 0x5555);
	f.insert(f.begin() + L3 + 20, {std::byte{1}, std::byte{1}, std::byte{0}, std::byte{0},
				       std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0}});
	f[L3] = std::byte{0x47};
	put16(f, L3 + 2, unsigned(28 + 8 + p.size()));
	put16(f, L3 + 10, 0);
	put16(f, L3 + 10, uint16_t(~ref_sum(std::span(f).subspan(L3, 28))));
	VirtioNetHdr vh = gso_hdr(true, 1000);
	vh.csum_start = htole16(L3 + 28);
	auto s = split(f, vh);
	ASSERT_EQ(s->r.error, nullptr) << s->r.error;
	ASSERT_EQ(s->r.segs, 3u);
	for (size_t k = 0; k < 3; k++) {
		auto seg = s->segs[k];
		size_t len = k < 2 ? 1000 : 500;
		ASSERT_EQ(seg.size(), L3 + 28 + 8 + len);
		EXPECT_EQ(0, std::memcmp(seg.data() + L3 + 20, f.data() + L3 + 20, 8)); // options
		EXPECT_EQ(ref_sum(seg.subspan(L3, 28)), 0xffff);
		EXPECT_EQ(udp_csum(seg.subspan(L3), true), 0);
		EXPECT_EQ(0, std::memcmp(seg.data() + L3 + 36, p.data() + k * 1000, len));
	}

	// IPv6 with a destination options header (8 bytes, PadN) before UDP.
	Bytes f6 = frame(false, p, 0x5555);
	f6[L3 + 6] = std::byte{60};
	f6.insert(f6.begin() + L3 + 40, {std::byte{17}, std::byte{0}, std::byte{1}, std::byte{4},
					 std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0}});
	put16(f6, L3 + 4, unsigned(8 + 8 + p.size()));
	vh = gso_hdr(false, 1000);
	vh.csum_start = htole16(L3 + 48);
	s = split(f6, vh);
	ASSERT_EQ(s->r.error, nullptr) << s->r.error;
	ASSERT_EQ(s->r.segs, 3u);
	for (size_t k = 0; k < 3; k++) {
		auto seg = s->segs[k];
		size_t len = k < 2 ? 1000 : 500;
		ASSERT_EQ(seg.size(), L3 + 48 + 8 + len);
		EXPECT_EQ(get16(seg.data() + L3 + 4), 16 + len);
		// The checksum covers the UDP part only (pseudo-header: addresses).
		Bytes v(seg.begin() + L3, seg.begin() + L3 + 40);
		v.insert(v.end(), seg.begin() + L3 + 48, seg.end());
		EXPECT_EQ(udp_csum(v, false), 0);
		EXPECT_EQ(0, std::memcmp(seg.data() + L3 + 56, p.data() + k * 1000, len));
	}

	// Headers beyond UDP_GSO_HDR_MAX: refused.
	Bytes f7 = frame(false, p, 0x5555);
	f7[L3 + 6] = std::byte{60};
	Bytes ext(80, std::byte{0});
	ext[0] = std::byte{17};
	ext[1] = std::byte{9}; // (9 + 1) * 8 bytes
	ext[2] = std::byte{1};
	ext[3] = std::byte{76};
	f7.insert(f7.begin() + L3 + 40, ext.begin(), ext.end());
	put16(f7, L3 + 4, unsigned(80 + 8 + p.size()));
	vh.csum_start = htole16(L3 + 120);
	expect_refused(f7, vh, "headers too long");
}

// read_batch() over a SOCK_SEQPACKET pair (one read, one frame, like a tun
// fd): UDP GSO frames become one pool entry per segment, others stay whole.
struct ReadBatch : testing::Test {
	int sv[2] = {-1, -1};
	TapStats stats;
	std::unique_ptr<TunBackend> tun;
	std::unique_ptr<FramePool<1024>> pool;

	void SetUp() override {
		ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
		tun = std::make_unique<TunBackend>(sv[0], true, &stats);
		pool = std::make_unique<FramePool<1024>>(tun->region());
	}
	void TearDown() override {
		close(sv[0]);
		close(sv[1]);
	}
	void put(const VirtioNetHdr &vh, const Bytes &f) {
		Bytes m(sizeof(vh));
		std::memcpy(m.data(), &vh, sizeof(vh));
		m.insert(m.end(), f.begin(), f.end());
		ASSERT_EQ(write(sv[1], m.data(), m.size()), ssize_t(m.size()));
	}
};

TEST_F(ReadBatch, UdpGsoFrameBecomesItsDatagrams) {
	Bytes p = pattern(24000);
	Bytes f = frame(true, p, 0xabcd);
	Bytes small = frame(false, pattern(100)); // no offload at all
	put(gso_hdr(true, 1200), f);
	put(VirtioNetHdr{}, small);
	put(gso_hdr(false, 1000), frame(false, pattern(2500), 0x1));
	ASSERT_EQ(tun->read_batch(*pool), 20 + 1 + 3);
	for (size_t k = 0; k < 20; k++)
		check_segment(f, true, pool->get(k), k, 1200, p);
	ASSERT_EQ(pool->get(20).size(), small.size());
	EXPECT_EQ(0, std::memcmp(pool->get(20).data(), small.data(), small.size()));
	EXPECT_EQ(pool->get(23).size(), L3 + 48 + 500);
	EXPECT_EQ(stats.udp_gso_frames, 2u);
	EXPECT_EQ(stats.malformed, 0u);
}

TEST_F(ReadBatch, MalformedUdpGsoFrameIsDroppedAndCounted) {
	Bytes f = frame(true, pattern(3000), 0x1);
	put(gso_hdr(true, 0), f);
	Bytes t = f;
	put16(t, L3 + 24, 100); // UDP length disagrees
	put(gso_hdr(true, 1000), t);
	put(gso_hdr(true, 1000), f); // fine
	ASSERT_EQ(tun->read_batch(*pool), 3);
	EXPECT_EQ(stats.malformed, 2u);
	EXPECT_EQ(stats.udp_gso_frames, 1u);
	EXPECT_EQ(pool->get(0).size(), L3 + 28 + 1000);
}

TEST_F(ReadBatch, TcpGsoFrameStaysWholeItsChecksumLeftPartial) {
	// IPv4 TCP, 3000 bytes of data, checksum field: pseudo-header sum as
	// the kernel leaves it with NEEDS_CSUM.
	Bytes f = hex("020000000001 020000000002 0800"
		      "4500 0000 1234 4000 4006 0000 c0000202 c0000201"
		      "9c40 4e24 00000001 00000000 5010 ffff 0000 0000");
	Bytes p = pattern(3000);
	f.insert(f.end(), p.begin(), p.end());
	put16(f, L3 + 2, unsigned(40 + p.size()));
	put16(f, L3 + 10, uint16_t(~ref_sum(std::span(f).subspan(L3, 20))));
	uint64_t ph = ref_sum(std::span(f).subspan(L3 + 12, 8)) + 6 + 20 + p.size();
	put16(f, L3 + 36, ref_sum({}, ph));
	VirtioNetHdr vh{};
	vh.flags = vnet::F_NEEDS_CSUM;
	vh.gso_type = vnet::GSO_TCPV4;
	vh.gso_size = htole16(1000);
	vh.hdr_len = htole16(54);
	vh.csum_start = htole16(34);
	vh.csum_offset = htole16(16);
	put(vh, f);
	ASSERT_EQ(tun->read_batch(*pool), 1);
	auto got = pool->get(0);
	ASSERT_EQ(got.size(), f.size());
	// Not summed: the TCP translator doesn't verify behind an offloading
	// backend, and no capture runs (tap_tun.h).
	EXPECT_EQ(0, std::memcmp(got.data(), f.data(), f.size()))
		<< "frame untouched, checksum field still the pseudo-header sum";
	EXPECT_EQ(stats.udp_gso_frames, 0u);
	EXPECT_EQ(stats.malformed, 0u);
}

TEST(PartialCsum, OnlyTcpChecksumsAreSkippable) {
	Bytes v4 = hex("020000000001 020000000002 0800"
		       "4500 0028 1234 4000 4006 0000 c0000202 c0000201"
		       "9c40 4e24 00000001 00000000 5010 ffff 0000 0000");
	EXPECT_TRUE(tap_partial_csum_skippable(v4, 34, 16));
	EXPECT_FALSE(tap_partial_csum_skippable(v4, 34, 6)) << "not the TCP field";
	EXPECT_FALSE(tap_partial_csum_skippable(v4, 38, 16)) << "not where TCP starts";
	EXPECT_FALSE(tap_partial_csum_skippable(std::span(v4).first(40), 34, 16)) << "short";
	Bytes udp4 = v4;
	udp4[L3 + 9] = std::byte{17};
	EXPECT_FALSE(tap_partial_csum_skippable(udp4, 34, 16)) << "UDP is completed";
	Bytes opts4 = v4; // IHL 6: TCP starts 4 bytes later
	opts4[L3] = std::byte{0x46};
	opts4.resize(opts4.size() + 4);
	EXPECT_FALSE(tap_partial_csum_skippable(opts4, 34, 16));
	EXPECT_TRUE(tap_partial_csum_skippable(opts4, 38, 16));

	Bytes v6 = hex("020000000001 020000000002 86dd"
		       "60000000 0014 0640 20010db8000000000000000000000002"
		       "20010db8000000000000000000000001"
		       "9c40 4e24 00000001 00000000 5010 ffff 0000 0000");
	EXPECT_TRUE(tap_partial_csum_skippable(v6, 54, 16));
	Bytes ext6 = v6; // next header: hop-by-hop options, not TCP
	ext6[L3 + 6] = std::byte{0};
	EXPECT_FALSE(tap_partial_csum_skippable(ext6, 54, 16));
	Bytes mixed = v6; // an IPv4 header behind the IPv6 ethertype
	mixed[L3] = std::byte{0x45};
	EXPECT_FALSE(tap_partial_csum_skippable(mixed, 54, 16));
}

TEST_F(ReadBatch, BatchStopsWhileThePoolCouldNotTakeAWholeFrame) {
	// 300 slots: after 300 - 255 frames fewer than UDP_GSO_MAX_SEGS are
	// free, so the batch ends there and the rest waits for the next.
	FramePool<300> small_pool(tun->region());
	Bytes small = frame(true, pattern(10));
	const int first = 300 - int(UDP_GSO_MAX_SEGS) + 1;
	for (int i = 0; i < first + 5; i++)
		put(VirtioNetHdr{}, small);
	EXPECT_EQ(tun->read_batch(small_pool), first);
	EXPECT_EQ(tun->read_batch(small_pool), 5);
	EXPECT_EQ(tun->read_batch(small_pool), 0);
}

} // namespace
