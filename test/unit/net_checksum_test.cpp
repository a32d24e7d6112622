// Internet checksum: RFC 1071 vector, a plain reference implementation on
// random data, odd splits over iovecs, pseudo-headers.
#include <gtest/gtest.h>

#include <random>

#include "net_test_util.h"
#include "passt/net/checksum.h"

namespace passt {
namespace {

using test::bytes;
using test::ref_sum;

std::vector<std::byte> random_bytes(std::mt19937 &rng, size_t n) {
	std::vector<std::byte> v(n);
	for (auto &b : v)
		b = std::byte(rng());
	return v;
}

TEST(NetChecksum, Rfc1071Example) {
	// RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
	auto d = bytes({0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7});
	Checksum c;
	c.add(d);
	EXPECT_EQ(c.sum().host(), 0xddf2);
	EXPECT_EQ(inet_checksum(d).host(), 0x220d);
	// The same bytes split in odd pieces.
	Checksum s;
	s.add(std::span(d).first(1));
	s.add(std::span(d).subspan(1, 3));
	s.add(std::span(d).subspan(4));
	EXPECT_EQ(s.sum().host(), 0xddf2);
}

TEST(NetChecksum, EmptyAndOddLength) {
	EXPECT_EQ(inet_checksum(std::span<const std::byte>()).host(), 0xffff);
	auto one = bytes({0x12});
	Checksum c;
	c.add(one);
	EXPECT_EQ(c.sum().host(), 0x1200); // odd byte is the high half
	EXPECT_TRUE(c.odd());
	// Bytes 12 | 00 34: words 1200 and 3400.
	c.add_u16(0x0034);
	EXPECT_EQ(c.sum().host(), 0x4600);
	EXPECT_TRUE(c.odd()); // 3 bytes so far
}

TEST(NetChecksum, MatchesReferenceOnRandomData) {
	std::mt19937 rng(1);
	for (size_t n = 0; n < 600; n++) {
		auto d = random_bytes(rng, n);
		Checksum c;
		c.add(d);
		ASSERT_EQ(c.sum().host(), ref_sum(d)) << "len " << n;
		ASSERT_EQ(inet_checksum(d).host(), uint16_t(~ref_sum(d))) << "len " << n;
	}
}

TEST(NetChecksum, LargeBuffersCarry) {
	// All-ones words exercise the end-around carry of the 64-bit accumulator.
	std::vector<std::byte> ff(65536 + 7, std::byte{0xff});
	EXPECT_EQ(inet_checksum(ff).host(), uint16_t(~ref_sum(ff)));
	std::mt19937 rng(2);
	auto big = random_bytes(rng, 1 << 20);
	EXPECT_EQ(inet_checksum(big).host(), uint16_t(~ref_sum(big)));
}

TEST(NetChecksum, ValidDataSumsToZero) {
	std::mt19937 rng(3);
	auto d = random_bytes(rng, 101);
	d[10] = d[11] = std::byte{0};
	be16 c = inet_checksum(d);
	std::memcpy(&d[10], &c.raw, 2);
	EXPECT_EQ(inet_checksum(d).raw, 0);
	d[50] ^= std::byte{1};
	EXPECT_NE(inet_checksum(d).raw, 0);
}

TEST(NetChecksum, IovecSplitsAtEveryOffset) {
	std::mt19937 rng(4);
	for (size_t n : {0, 1, 2, 7, 8, 9, 31, 33, 67}) {
		auto d = random_bytes(rng, n);
		uint16_t want = uint16_t(~ref_sum(d));
		for (size_t i = 0; i <= n; i++) {
			for (size_t j = i; j <= n; j++) {
				iovec iov[4] = {{d.data(), i},
						{d.data() + i, 0},
						{d.data() + i, j - i},
						{d.data() + j, n - j}};
				ASSERT_EQ(inet_checksum(std::span<const iovec>(iov)).host(), want)
					<< n << " " << i << " " << j;
			}
		}
	}
}

TEST(NetChecksum, IovecRandomPiecesAndRanges) {
	std::mt19937 rng(5);
	for (int round = 0; round < 200; round++) {
		size_t n = rng() % 400;
		auto d = random_bytes(rng, n);
		std::vector<iovec> iov;
		size_t pos = 0;
		while (pos < n) {
			size_t len = std::min<size_t>(n - pos, rng() % 20);
			iov.push_back({d.data() + pos, len});
			pos += len;
		}
		size_t off = n ? rng() % (n + 1) : 0;
		size_t len = rng() % (n + 10);
		size_t avail = std::min(len, n - off);
		uint16_t want = uint16_t(~ref_sum(std::span(d).subspan(off, avail)));
		ASSERT_EQ(inet_checksum(iov, off, len).host(), want);
	}
}

TEST(NetChecksum, Ip4HeaderIgnoresChecksumField) {
	auto h = test::hex("4500003c1c4640004006b1e6ac100a63ac100a0c");
	// Known-good header (checksum b1e6 filled in).
	EXPECT_EQ(ip4_header_checksum(h).host(), 0xb1e6);
	h[10] = h[11] = std::byte{0x77};
	EXPECT_EQ(ip4_header_checksum(h).host(), 0xb1e6);
	h[8] = std::byte{0x41};
	EXPECT_NE(ip4_header_checksum(h).host(), 0xb1e6);
}

TEST(NetChecksum, PseudoHeaders) {
	Ipv4Addr s = Ipv4Addr::from_host(0xc0000202), d = Ipv4Addr::from_host(0xc0000201);
	auto ph4 = test::hex("c0000202 c0000201 0011 001c");
	EXPECT_EQ(be16::from_raw(csum_fold(pseudo_header4(s, d, 17, 28))).host(), ref_sum(ph4));

	Ipv6Addr s6 = *Ipv6Addr::parse("2001:db8::2"), d6 = *Ipv6Addr::parse("fe80::1");
	auto ph6 = test::hex("20010db8000000000000000000000002 fe800000000000000000000000000001"
			     "00010203 0000003a");
	EXPECT_EQ(be16::from_raw(csum_fold(pseudo_header6(s6, d6, 58, 0x10203))).host(),
		  ref_sum(ph6));
}

TEST(NetChecksum, L4ChecksumIovecEqualsContiguous) {
	std::mt19937 rng(6);
	auto seg = random_bytes(rng, 201);
	Ipv4Addr s = Ipv4Addr::from_host(0x0a000001), d = Ipv4Addr::from_host(0x0a000002);
	Ipv6Addr s6 = *Ipv6Addr::parse("2001:db8::1"), d6 = *Ipv6Addr::parse("2001:db8::2");
	// The segment starts at an odd offset of a scattered frame.
	std::vector<std::byte> frame(5);
	frame.insert(frame.end(), seg.begin(), seg.end());
	iovec iov[3] = {{frame.data(), 3}, {frame.data() + 3, 99}, {frame.data() + 102, 104}};
	EXPECT_EQ(l4_checksum4(s, d, 6, iov, 5, 201), l4_checksum4(s, d, 6, seg));
	EXPECT_EQ(l4_checksum6(s6, d6, 17, iov, 5, 201), l4_checksum6(s6, d6, 17, seg));
	EXPECT_NE(l4_checksum4(s, d, 6, seg), l4_checksum4(d, d, 6, seg));
}

} // namespace
} // namespace passt
