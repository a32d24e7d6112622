// rtnetlink client; see include/passt/host/netlink.h.
//
// Theory of operation
// -------------------
// Every exchange is one request datagram and a reply spread over one or more
// datagrams. Each request carries a fresh sequence number; reply messages
// with another number (left over from an earlier request that was abandoned
// half-way, e.g. after a receive error) or not sent by the kernel (nl_pid 0)
// are discarded. Requests that are not dumps always ask for an ACK
// (NLM_F_ACK), so every reply ends in a well-defined message:
//   - NLMSG_ERROR: error 0 is the ACK, otherwise -errno of the request;
//   - NLMSG_DONE: end of an NLM_F_DUMP multipart reply (it may carry an
//     error code, for dumps that failed part-way).
// Data messages before that (RTM_NEWLINK/NEWADDR/NEWROUTE) go to a callback.
//
// The socket belongs to the network namespace it was created in, for its
// whole life: open_in_ns() briefly enters another namespace to create it,
// which is how pasta configures the target namespace while staying in the
// host's.
//
// Parsing and building of the messages: netlink_msg.cpp; the operations on
// links, addresses and routes: netlink_link.cpp, netlink_addr.cpp,
// netlink_route.cpp.
//
// #syscalls:init socket bind setsockopt sendto recvfrom close getpid openat setns
#include "passt/host/netlink.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace passt {

namespace {

constexpr size_t kRecvSize = 65536;

} // namespace

Netlink::Netlink(Netlink &&o) noexcept : fd_(o.fd_), seq_(o.seq_), rbuf_(std::move(o.rbuf_)) {
	o.fd_ = -1;
	std::memcpy(last_err_, o.last_err_, sizeof(last_err_));
}

Netlink &Netlink::operator=(Netlink &&o) noexcept {
	if (this != &o) {
		close();
		fd_ = o.fd_;
		seq_ = o.seq_;
		rbuf_ = std::move(o.rbuf_);
		std::memcpy(last_err_, o.last_err_, sizeof(last_err_));
		o.fd_ = -1;
	}
	return *this;
}

void Netlink::close() {
	if (fd_ >= 0)
		::close(fd_);
	fd_ = -1;
}

// Options, binding and the receive buffer for a fresh socket; takes ownership of fd.
int Netlink::setup_socket(int fd) {
	int one = 1;
	// Short error replies with the kernel's reason text; both optional.
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	// The kernel always answers; a timeout only guards against our own bugs.
	timeval tv{5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	sockaddr_nl sa{};
	sa.nl_family = AF_NETLINK;
	if (bind(fd, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)) < 0) {
		int e = errno;
		::close(fd);
		return -e;
	}
	if (!rbuf_)
		rbuf_ = std::make_unique<std::byte[]>(kRecvSize);
	close();
	fd_ = fd;
	seq_ = uint32_t(getpid()) << 16; // distinct per process, for readable traces
	return 0;
}

int Netlink::open() {
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	return setup_socket(fd);
}

int Netlink::open_in_ns(int netns_fd) {
	int orig = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (orig < 0)
		orig = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (orig < 0)
		return -errno;
	if (setns(netns_fd, CLONE_NEWNET) < 0) {
		int e = errno;
		::close(orig);
		return -e;
	}
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	int sock_err = errno;
	if (setns(orig, CLONE_NEWNET) < 0) {
		// Stuck in the wrong namespace: the caller must not go on.
		int e = errno;
		if (fd >= 0)
			::close(fd);
		::close(orig);
		return -e;
	}
	::close(orig);
	if (fd < 0)
		return -sock_err;
	return setup_socket(fd);
}

int Netlink::request(NlRequest &req, NlCallback cb, void *ctx) {
	last_err_[0] = '\0';
	if (fd_ < 0)
		return -EBADF;
	if (!req.ok())
		return -EMSGSIZE;
	uint16_t flags = req.flags() | NLM_F_REQUEST;
	if ((flags & NLM_F_DUMP) != NLM_F_DUMP)
		flags |= NLM_F_ACK;
	req.set_flags(flags);
	if (++seq_ == 0)
		++seq_;
	req.set_seq(seq_);

	sockaddr_nl kernel{};
	kernel.nl_family = AF_NETLINK;
	auto out = req.bytes();
	ssize_t n;
	do {
		n = sendto(fd_, out.data(), out.size(), 0, reinterpret_cast<sockaddr *>(&kernel),
			   sizeof(kernel));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (size_t(n) != out.size())
		return -EIO;

	NlReplyState st;
	st.seq = seq_;
	while (!st.done) {
		sockaddr_nl from{};
		socklen_t fl = sizeof(from);
		n = recvfrom(fd_, rbuf_.get(), kRecvSize, MSG_TRUNC,
			     reinterpret_cast<sockaddr *>(&from), &fl);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		// Too big for our buffer: the rest of this reply is skipped by its seq.
		if (size_t(n) > kRecvSize)
			return -EMSGSIZE;
		if (fl < sizeof(from) || from.nl_family != AF_NETLINK)
			continue;
		nl_reply_batch({rbuf_.get(), size_t(n)}, from.nl_pid, st, cb, ctx);
	}
	std::memcpy(last_err_, st.ext_msg, sizeof(last_err_));
	last_err_[sizeof(last_err_) - 1] = '\0';
	return st.result;
}
} // namespace passt
