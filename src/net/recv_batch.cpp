// One recvmmsg() into fixed slots; see include/passt/net/recv_batch.h.
//
// #syscalls recvmmsg
#include "passt/net/recv_batch.h"

#include <cerrno>

namespace passt {

int recv_datagrams(int fd, mmsghdr *msgs, iovec *iov, SockAddr *names, std::byte *first,
		   size_t stride, size_t n, size_t offset, size_t cap) {
	for (size_t i = 0; i < n; i++) {
		iov[i].iov_base = first + i * stride + offset;
		iov[i].iov_len = cap;
		msghdr &mh = msgs[i].msg_hdr;
		mh = msghdr{};
		mh.msg_iov = &iov[i];
		mh.msg_iovlen = 1;
		if (names) {
			mh.msg_name = &names[i];
			mh.msg_namelen = sizeof(names[i]);
		}
		msgs[i].msg_len = 0;
	}
	int got;
	do
		got = recvmmsg(fd, msgs, unsigned(n), MSG_DONTWAIT, nullptr);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
	return got;
}

} // namespace passt
