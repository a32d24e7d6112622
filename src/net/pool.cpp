// Frame pools; see include/passt/net/pool.h.
#include "passt/net/pool.h"

#include <cstdint>

namespace passt {

bool Pool::add(std::span<std::byte> frame) {
	if (full() || frame.empty())
		return false;
	// Compare as integers: the frame must lie wholly inside the region.
	uintptr_t r0 = reinterpret_cast<uintptr_t>(region_.data());
	uintptr_t f0 = reinterpret_cast<uintptr_t>(frame.data());
	if (f0 < r0 || f0 - r0 > region_.size() || frame.size() > region_.size() - (f0 - r0))
		return false;
	slots_[n_++] = iovec{frame.data(), frame.size()};
	return true;
}

std::span<std::byte> Pool::get(size_t i) const {
	if (i >= n_)
		return {};
	return {static_cast<std::byte *>(slots_[i].iov_base), slots_[i].iov_len};
}

std::span<std::byte> Pool::get(size_t i, size_t offset, size_t len) const {
	std::span<std::byte> f = get(i);
	if (offset > f.size() || len > f.size() - offset)
		return {};
	return f.subspan(offset, len);
}

} // namespace passt
