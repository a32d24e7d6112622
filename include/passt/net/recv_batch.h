// A batch of datagrams read from one socket with a single recvmmsg(): N
// slots of SLOT bytes, each payload placed at a fixed offset into its slot
// (room for the headers a translator puts in front of it), optionally with
// each datagram's source address. Used by the UDP translators; instances
// are static (no allocation on the data path) and single-threaded.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>

#include "passt/net/sockaddr.h"

namespace passt {

// Set up msgs/iov for n slots (slot i at first + i * stride + offset, cap
// bytes; names[i] as its source address if names is not null), then
// recvmmsg() without blocking. Returns the number of datagrams, 0 if none
// was waiting, -errno on another error (which the call consumed).
int recv_datagrams(int fd, mmsghdr *msgs, iovec *iov, SockAddr *names, std::byte *first,
		   size_t stride, size_t n, size_t offset, size_t cap);

template <size_t N, size_t SLOT> struct RecvBatch {
	alignas(64) std::byte buf[N][SLOT];
	mmsghdr msgs[N];
	iovec iov[N];
	SockAddr names[N];

	static constexpr size_t size() { return N; }
	// Payloads at buf[i] + offset, up to cap bytes each (cap + offset <=
	// SLOT); with_names: sources in names[i]. See recv_datagrams().
	int recv(int fd, size_t offset, size_t cap, bool with_names) {
		static_assert(N > 0 && N <= 1024, "batch size");
		return recv_datagrams(fd, msgs, iov, with_names ? names : nullptr, &buf[0][0], SLOT,
				      N, offset, cap);
	}
	// Payload bytes of datagram i (after recv()), and whether it was cut.
	size_t len(size_t i) const { return msgs[i].msg_len; }
	bool truncated(size_t i) const { return msgs[i].msg_hdr.msg_flags & MSG_TRUNC; }
};

} // namespace passt
