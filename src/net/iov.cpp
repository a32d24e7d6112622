// iovec array helpers; see include/passt/net/iov.h.
#include "passt/net/iov.h"

#include <cstring>

namespace passt {

size_t iov_size(std::span<const iovec> iov) {
	size_t n = 0;
	for (const iovec &v : iov)
		n += v.iov_len;
	return n;
}

IovPos iov_skip(std::span<const iovec> iov, size_t offset) {
	size_t i = 0;
	// Skip empty buffers too, so that a returned position is never at the
	// very end of a buffer unless it is past the last one.
	while (i < iov.size() && offset >= iov[i].iov_len) {
		offset -= iov[i].iov_len;
		i++;
	}
	return IovPos{i, offset};
}

size_t iov_to_buf(std::span<const iovec> iov, size_t offset, std::span<std::byte> out) {
	IovPos pos = iov_skip(iov, offset);
	size_t done = 0;
	for (size_t i = pos.idx; i < iov.size() && done < out.size(); i++) {
		size_t off = i == pos.idx ? pos.off : 0;
		size_t n = iov[i].iov_len - off;
		if (n > out.size() - done)
			n = out.size() - done;
		std::memcpy(out.data() + done,
			    static_cast<const std::byte *>(iov[i].iov_base) + off, n);
		done += n;
	}
	return done;
}

size_t iov_from_buf(std::span<const iovec> iov, size_t offset, std::span<const std::byte> in) {
	IovPos pos = iov_skip(iov, offset);
	size_t done = 0;
	for (size_t i = pos.idx; i < iov.size() && done < in.size(); i++) {
		size_t off = i == pos.idx ? pos.off : 0;
		size_t n = iov[i].iov_len - off;
		if (n > in.size() - done)
			n = in.size() - done;
		std::memcpy(static_cast<std::byte *>(iov[i].iov_base) + off, in.data() + done, n);
		done += n;
	}
	return done;
}

std::span<const std::byte> iov_peek(std::span<const iovec> iov, size_t offset, size_t len,
				    std::span<std::byte> scratch) {
	IovPos pos = iov_skip(iov, offset);
	if (pos.idx >= iov.size())
		return {};
	if (iov[pos.idx].iov_len - pos.off >= len)
		return {static_cast<const std::byte *>(iov[pos.idx].iov_base) + pos.off, len};
	if (len > scratch.size() || iov_to_buf(iov, offset, scratch.first(len)) != len)
		return {};
	return scratch.first(len);
}

} // namespace passt
