// SipHash-2-4 against the reference vectors, incremental use, ISNs.
#include <gtest/gtest.h>

#include "passt/net/siphash.h"

namespace passt {
namespace {

// SipHash-2-4 reference vectors (Aumasson & Bernstein, reference code's
// vectors.h): key 00 01 .. 0f, message 00 01 .. (n-1) for n = 0..63, the
// 8-byte output read as a little-endian integer.
const uint64_t vectors[64] = {
	0x726fdb47dd0e0e31, 0x74f839c593dc67fd, 0x0d6c8009d9a94f5a, 0x85676696d7fb7e2d,
	0xcf2794e0277187b7, 0x18765564cd99a68d, 0xcbc9466e58fee3ce, 0xab0200f58b01d137,
	0x93f5f5799a932462, 0x9e0082df0ba9e4b0, 0x7a5dbbc594ddb9f3, 0xf4b32f46226bada7,
	0x751e8fbc860ee5fb, 0x14ea5627c0843d90, 0xf723ca908e7af2ee, 0xa129ca6149be45e5,
	0x3f2acc7f57c29bdb, 0x699ae9f52cbe4794, 0x4bc1b3f0968dd39c, 0xbb6dc91da77961bd,
	0xbed65cf21aa2ee98, 0xd0f2cbb02e3b67c7, 0x93536795e3a33e88, 0xa80c038ccd5ccec8,
	0xb8ad50c6f649af94, 0xbce192de8a85b8ea, 0x17d835b85bbb15f3, 0x2f2e6163076bcfad,
	0xde4daaaca71dc9a5, 0xa6a2506687956571, 0xad87a3535c49ef28, 0x32d892fad841c342,
	0x7127512f72f27cce, 0xa7f32346f95978e3, 0x12e0b01abb051238, 0x15e034d40fa197ae,
	0x314dffbe0815a3b4, 0x027990f029623981, 0xcadcd4e59ef40c4d, 0x9abfd8766a33735c,
	0x0e3ea96b5304a7d0, 0xad0c42d6fc585992, 0x187306c89bc215a9, 0xd4a60abcf3792b95,
	0xf935451de4f21df2, 0xa9538f0419755787, 0xdb9acddff56ca510, 0xd06c98cd5c0975eb,
	0xe612a3cb9ecba951, 0xc766e62cfcadaf96, 0xee64435a9752fe72, 0xa192d576b245165a,
	0x0a8787bf8ecb74b2, 0x81b3e73d20b49b6f, 0x7fa8220ba3b2ecea, 0x245731c13ca42499,
	0xb78dbfaf3a8d83bd, 0xea1ad565322a1a0b, 0x60e61c23a3795013, 0x6606d7e446282b93,
	0x6ca4ecb15c5f91e1, 0x9f626da15c9625f3, 0xe51b38608ef25f57, 0x958a324ceb064572,
};

SipKey ref_key() {
	std::byte k[16];
	for (int i = 0; i < 16; i++)
		k[i] = std::byte(i);
	return SipKey::from_bytes(std::span<const std::byte, 16>(k));
}

TEST(NetSipHash, ReferenceVectors) {
	SipKey key = ref_key();
	EXPECT_EQ(key.k0, 0x0706050403020100u);
	EXPECT_EQ(key.k1, 0x0f0e0d0c0b0a0908u);
	std::byte msg[64];
	for (int i = 0; i < 64; i++)
		msg[i] = std::byte(i);
	for (size_t n = 0; n < 64; n++)
		EXPECT_EQ(siphash24(key, std::span(msg, n)), vectors[n]) << "length " << n;
}

TEST(NetSipHash, IncrementalMatchesOneShot) {
	SipKey key = ref_key();
	std::byte msg[64];
	for (int i = 0; i < 64; i++)
		msg[i] = std::byte(i);
	for (size_t n = 0; n < 64; n++) {
		for (size_t cut1 = 0; cut1 <= n; cut1 += 3) {
			for (size_t cut2 = cut1; cut2 <= n; cut2 += 5) {
				SipHash h(key);
				h.add(std::span(msg, cut1));
				h.add(std::span(msg + cut1, cut2 - cut1));
				h.add(std::span(msg + cut2, n - cut2));
				ASSERT_EQ(h.finish(), vectors[n])
					<< n << " " << cut1 << " " << cut2;
			}
		}
	}
	// Integer helpers feed little-endian bytes.
	SipHash h(key);
	h.add_u16(0x0100);
	h.add_u32(0x05040302);
	h.add_u64(0x0d0c0b0a09080706);
	EXPECT_EQ(h.finish(), vectors[14]);
	EXPECT_EQ(h.finish(), vectors[14]); // finish() does not change the state
}

TEST(NetSipHash, RandomKeys) {
	auto a = SipKey::random(), b = SipKey::random();
	ASSERT_TRUE(a && b);
	EXPECT_FALSE(a->k0 == b->k0 && a->k1 == b->k1);
}

TEST(NetIsn, DependsOnTupleAndKeyAndAdvancesWithTime) {
	IsnGenerator g(ref_key());
	InAny s = Ipv4Addr::from_host(0x0a000001), d = Ipv4Addr::from_host(0x0a000002);
	uint32_t base = g.isn(s, d, 1000, 80, 0);
	EXPECT_EQ(g.isn(s, d, 1000, 80, 0), base); // deterministic
	// One tick is 4.096 us.
	EXPECT_EQ(g.isn(s, d, 1000, 80, 4095), base);
	EXPECT_EQ(g.isn(s, d, 1000, 80, 4096), base + 1);
	EXPECT_EQ(g.isn(s, d, 1000, 80, 4096ull * 1000000), base + 1000000);
	EXPECT_NE(g.isn(s, d, 1001, 80, 0), base);
	EXPECT_NE(g.isn(s, d, 1000, 81, 0), base);
	EXPECT_NE(g.isn(d, s, 1000, 80, 0), base);
	EXPECT_NE(g.isn(InAny(*Ipv6Addr::parse("::1")), d, 1000, 80, 0), base);
	SipKey other = ref_key();
	other.k1 ^= 1;
	EXPECT_NE(IsnGenerator(other).isn(s, d, 1000, 80, 0), base);
	// Live clock: created with a random key, two calls close together.
	auto live = IsnGenerator::create();
	ASSERT_TRUE(live);
	uint32_t a = live->isn(s, d, 1, 2), b = live->isn(s, d, 1, 2);
	EXPECT_LT(uint32_t(b - a), 1000000u); // less than ~4 s apart
}

} // namespace
} // namespace passt
