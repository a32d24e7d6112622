// Frame pools and iovec helpers.
#include <gtest/gtest.h>

#include <numeric>

#include "passt/net/iov.h"
#include "passt/net/pool.h"

namespace passt {
namespace {

TEST(NetPool, AddsFramesInsideRegionOnly) {
	std::vector<std::byte> backing(1100);
	std::span<std::byte> r = std::span(backing).subspan(50, 1000);
	FramePool<3> pool(r);
	EXPECT_EQ(pool.capacity(), 3u);
	EXPECT_TRUE(pool.empty());
	EXPECT_TRUE(pool.add(r.subspan(0, 100)));
	EXPECT_TRUE(pool.add(r.subspan(900, 100))); // ends exactly at the end
	EXPECT_TRUE(pool.add(r.subspan(950)));
	EXPECT_EQ(pool.size(), 3u);
	EXPECT_TRUE(pool.full());
	EXPECT_FALSE(pool.add(r.subspan(0, 10))); // full
	pool.reset();
	EXPECT_TRUE(pool.empty());

	std::vector<std::byte> other(100);
	EXPECT_FALSE(pool.add(other));                                // elsewhere
	EXPECT_FALSE(pool.add(std::span(backing).subspan(1040, 11))); // runs past the end
	EXPECT_FALSE(pool.add(std::span(backing).subspan(49, 10)));   // starts before
	EXPECT_FALSE(pool.add(std::span(backing).subspan(1050, 1)));  // just after
	EXPECT_FALSE(pool.add(r.subspan(5, 0)));                      // empty
	EXPECT_EQ(pool.size(), 0u);
}

TEST(NetPool, GetIsBoundsChecked) {
	std::vector<std::byte> region(100);
	std::iota(reinterpret_cast<uint8_t *>(region.data()),
		  reinterpret_cast<uint8_t *>(region.data()) + 100, 0);
	FramePool<4> pool(region);
	ASSERT_TRUE(pool.add(std::span(region).subspan(10, 20)));
	ASSERT_TRUE(pool.add(std::span(region).subspan(50, 5)));
	EXPECT_EQ(pool.get(0).size(), 20u);
	EXPECT_EQ(pool.get(0)[0], std::byte{10});
	EXPECT_EQ(pool.get(1).size(), 5u);
	EXPECT_TRUE(pool.get(2).empty());
	EXPECT_EQ(pool.get(0, 18, 2)[1], std::byte{29});
	EXPECT_TRUE(pool.get(0, 18, 3).empty());
	EXPECT_TRUE(pool.get(0, 21, 0).empty());
	EXPECT_TRUE(pool.get(0, SIZE_MAX, 2).empty());
	EXPECT_TRUE(pool.get(0, 2, SIZE_MAX).empty());
	EXPECT_TRUE(pool.get(5, 0, 1).empty());
	ASSERT_EQ(pool.iov().size(), 2u);
	EXPECT_EQ(pool.iov()[1].iov_len, 5u);
	EXPECT_EQ(pool.iov()[1].iov_base, region.data() + 50);
}

TEST(NetPool, ExternalSlotsAndRegionChange) {
	std::vector<std::byte> a(10), b(10);
	iovec slots[1];
	Pool pool(a, slots);
	EXPECT_TRUE(pool.add(a));
	pool.set_region(b);
	EXPECT_TRUE(pool.empty());
	EXPECT_FALSE(pool.add(a));
	EXPECT_TRUE(pool.add(b));
}

struct Scattered {
	std::vector<std::byte> data;
	std::vector<iovec> iov;
	// 0..n-1 in pieces of the given sizes (0-length pieces allowed).
	Scattered(std::initializer_list<size_t> sizes) {
		size_t n = 0;
		for (size_t s : sizes)
			n += s;
		data.resize(n);
		for (size_t i = 0; i < n; i++)
			data[i] = std::byte(i);
		size_t off = 0;
		for (size_t s : sizes) {
			iov.push_back({data.data() + off, s});
			off += s;
		}
	}
};

TEST(NetIov, SizeAndSkip) {
	Scattered s{3, 0, 5, 2};
	EXPECT_EQ(iov_size(s.iov), 10u);
	EXPECT_EQ(iov_size({}), 0u);
	IovPos p = iov_skip(s.iov, 0);
	EXPECT_EQ(p.idx, 0u);
	EXPECT_EQ(p.off, 0u);
	p = iov_skip(s.iov, 3); // skips the empty buffer
	EXPECT_EQ(p.idx, 2u);
	EXPECT_EQ(p.off, 0u);
	p = iov_skip(s.iov, 9);
	EXPECT_EQ(p.idx, 3u);
	EXPECT_EQ(p.off, 1u);
	p = iov_skip(s.iov, 12);
	EXPECT_EQ(p.idx, 4u);
	EXPECT_EQ(p.off, 2u);
}

TEST(NetIov, CopyOutAndIn) {
	Scattered s{3, 0, 5, 2};
	std::byte out[6] = {};
	EXPECT_EQ(iov_to_buf(s.iov, 2, out), 6u);
	for (int i = 0; i < 6; i++)
		EXPECT_EQ(out[i], std::byte(2 + i));
	EXPECT_EQ(iov_to_buf(s.iov, 7, out), 3u); // only 3 bytes left
	EXPECT_EQ(out[2], std::byte{9});
	EXPECT_EQ(iov_to_buf(s.iov, 10, out), 0u);
	EXPECT_EQ(iov_to_buf(s.iov, 100, out), 0u);

	std::byte in[4] = {std::byte{0xa0}, std::byte{0xa1}, std::byte{0xa2}, std::byte{0xa3}};
	EXPECT_EQ(iov_from_buf(s.iov, 1, in), 4u);
	EXPECT_EQ(s.data[1], std::byte{0xa0});
	EXPECT_EQ(s.data[4], std::byte{0xa3});
	EXPECT_EQ(s.data[5], std::byte{5});
	EXPECT_EQ(iov_from_buf(s.iov, 8, in), 2u);
	EXPECT_EQ(s.data[9], std::byte{0xa1});
}

TEST(NetIov, Peek) {
	Scattered s{3, 0, 5, 2};
	std::byte scratch[8];
	auto in_place = iov_peek(s.iov, 3, 5, scratch);
	ASSERT_EQ(in_place.size(), 5u);
	EXPECT_EQ(in_place.data(), s.data.data() + 3); // no copy
	auto copied = iov_peek(s.iov, 1, 8, scratch);
	ASSERT_EQ(copied.size(), 8u);
	EXPECT_EQ(copied.data(), scratch);
	EXPECT_EQ(copied[7], std::byte{8});
	EXPECT_TRUE(iov_peek(s.iov, 1, 9, scratch).empty()); // scratch too small
	EXPECT_TRUE(iov_peek(s.iov, 5, 6, scratch).empty()); // past the end
	EXPECT_TRUE(iov_peek(s.iov, 10, 1, scratch).empty());
}

} // namespace
} // namespace passt
