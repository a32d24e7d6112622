// Helpers over arrays of struct iovec: a frame may be scattered over several
// buffers (vhost-user descriptors, readv() targets). All functions are
// bounds-checked against the total length and never allocate.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <span>

namespace passt {

// Total bytes in iov.
size_t iov_size(std::span<const iovec> iov);

// Position of a byte offset: buffer index and offset within it. For an
// offset at or past the end, idx == iov.size() and off is the excess.
struct IovPos {
	size_t idx;
	size_t off;
};
IovPos iov_skip(std::span<const iovec> iov, size_t offset);

// Copy up to out.size() bytes starting at offset out of iov; returns bytes copied.
size_t iov_to_buf(std::span<const iovec> iov, size_t offset, std::span<std::byte> out);
// Copy in into iov at offset, up to what iov holds; returns bytes copied.
size_t iov_from_buf(std::span<const iovec> iov, size_t offset, std::span<const std::byte> in);

// Contiguous view of len bytes at offset: points into iov if they lie in one
// buffer, else they are copied to scratch (len <= scratch.size()). Empty span
// if iov holds fewer than offset + len bytes or scratch is too small.
std::span<const std::byte> iov_peek(std::span<const iovec> iov, size_t offset, size_t len,
				    std::span<std::byte> scratch);

} // namespace passt
