// Frame pools: fixed-capacity batches of frame views into one preallocated
// buffer, filled on each epoll wake-up and consumed by the protocol handlers.
//
// Theory of operation: a pool does not own frame memory. It refers to a
// region (e.g. the tap read buffer) and records up to capacity() frames as
// iovecs pointing into it; add() refuses frames outside the region or when
// the pool is full, so later code can trust every entry's bounds. Nothing is
// allocated after construction: slots live in the FramePool<N> object itself
// (or in storage the caller passes to Pool). reset() empties the batch; the
// region's contents are reused by the next read.
#pragma once

#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <span>

namespace passt {

class Pool {
public:
	// region: where frames may lie; slots: storage for the frame entries.
	Pool(std::span<std::byte> region, std::span<iovec> slots)
		: region_(region), slots_(slots) {}
	Pool(const Pool &) = delete;
	Pool &operator=(const Pool &) = delete;

	// Record a frame; false if full, empty, or not entirely inside the region.
	bool add(std::span<std::byte> frame);
	// Number of frames, capacity, full.
	size_t size() const { return n_; }
	size_t capacity() const { return slots_.size(); }
	bool empty() const { return n_ == 0; }
	bool full() const { return n_ == slots_.size(); }
	void reset() { n_ = 0; }

	// Frame i (empty span if i >= size()).
	std::span<std::byte> get(size_t i) const;
	// len bytes at offset of frame i, or an empty span if out of bounds.
	std::span<std::byte> get(size_t i, size_t offset, size_t len) const;
	// The entries as iovecs, e.g. for writev()/sendmmsg() batches.
	std::span<const iovec> iov() const { return slots_.first(n_); }
	std::span<std::byte> region() const { return region_; }
	// Change the region (e.g. a new buffer); empties the pool.
	void set_region(std::span<std::byte> region) {
		region_ = region;
		n_ = 0;
	}

private:
	std::span<std::byte> region_;
	std::span<iovec> slots_;
	size_t n_ = 0;
};

namespace detail {
template <size_t N> struct PoolSlots {
	std::array<iovec, N> slots{};
};
} // namespace detail

// A pool with its N slots inline (storage is initialised before the Pool base).
template <size_t N> class FramePool : private detail::PoolSlots<N>, public Pool {
public:
	explicit FramePool(std::span<std::byte> region = {})
		: detail::PoolSlots<N>(), Pool(region, std::span<iovec>(this->slots)) {}
};

} // namespace passt
