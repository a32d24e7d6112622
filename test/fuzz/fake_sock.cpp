// The fake socket layer of the flow fuzz targets: see fake_sock.h.
#include "fake_sock.h"

#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdlib>
#include <cstring>

#include "fuzz_util.h"

namespace passt::fuzz {

FakeSock fake[FAKE_MAXFD];
int fake_hi = 0;
bool fake_ready = false;
int fake_next_connect = EINPROGRESS;
unsigned fake_tag = 0;
int fake_socket_err = 0;
uint16_t fake_next_port = 50000;
int (*fake_on_send)(FakeSock &, const void *, size_t, const sockaddr *, socklen_t) = nullptr;

FakeSock *fake_sock(int fd) {
	return fake_ready && fd >= 0 && fd < FAKE_MAXFD && fake[fd].open ? &fake[fd] : nullptr;
}

int fake_fd(const FakeSock &s) { return int(&s - fake); }

unsigned fake_open_count() {
	unsigned n = 0;
	for (int i = 0; i < fake_hi; i++)
		n += fake[i].open;
	return n;
}

FakeSock *fake_nth(unsigned n) {
	unsigned total = fake_open_count();
	if (!total)
		return nullptr;
	n %= total;
	for (int i = 0; i < fake_hi; i++)
		if (fake[i].open && !n--)
			return &fake[i];
	return nullptr;
}

uint8_t fake_stream_byte(unsigned tag, uint64_t i) { return uint8_t((i * 7 + tag * 31) & 0xff); }

uint8_t fake_dgram_byte(uint32_t len, uint32_t i) { return uint8_t((i * 13 + len) & 0xff); }

bool fake_push_dgram(FakeSock &s, const FakeDgram &d) {
	if (s.rxq_n == FAKE_RXQ)
		return false;
	s.rxq[(s.rxq_head + s.rxq_n++) % FAKE_RXQ] = d;
	return true;
}

namespace {

// The next port given to a socket bound to port 0.
uint16_t ephemeral() {
	uint16_t p = fake_next_port++;
	if (fake_next_port < 50000 || fake_next_port >= 60000)
		fake_next_port = 50000;
	return p;
}

// The local address a socket reports: its bound one, else the loopback of
// its family, with fake_next_port for port 0.
void local_of(FakeSock &s) {
	if (s.family == AF_INET6) {
		auto &a = reinterpret_cast<sockaddr_in6 &>(s.local);
		if (!s.bound) {
			a = sockaddr_in6{};
			a.sin6_addr = in6addr_loopback;
		}
		a.sin6_family = AF_INET6;
		if (!a.sin6_port)
			a.sin6_port = htons(ephemeral());
	} else {
		auto &a = reinterpret_cast<sockaddr_in &>(s.local);
		if (!s.bound) {
			a = sockaddr_in{};
			a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		}
		a.sin_family = AF_INET;
		if (!a.sin_port)
			a.sin_port = htons(ephemeral());
	}
	s.bound = true;
}

socklen_t len_of(const FakeSock &s) {
	return s.family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

void copy_addr(const sockaddr_storage &from, socklen_t n, sockaddr *to, socklen_t *l) {
	if (!to || !l)
		return;
	std::memcpy(to, &from, *l < n ? *l : n);
	*l = n;
}

FakeSock *make(int domain, int type, int protocol) {
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0 || fd >= FAKE_MAXFD)
		abort();
	FakeSock &s = fake[fd];
	s = FakeSock{};
	s.open = true;
	s.family = domain;
	s.type = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
	s.protocol = protocol;
	s.tag = fake_tag;
	if (fd >= fake_hi)
		fake_hi = fd + 1;
	return &s;
}

// A datagram send of len bytes to dst: 0 or an errno.
int dgram_send(FakeSock &s, const void *b, size_t len, const sockaddr *dst, socklen_t dl) {
	if (s.send_err) {
		int e = s.send_err;
		if (s.send_err_n && !--s.send_err_n)
			s.send_err = 0;
		return e;
	}
	if (!dst && !s.connected)
		return EDESTADDRREQ;
	if (fake_on_send)
		if (int e = fake_on_send(s, b, len, dst, dl))
			return e;
	if (!s.bound)
		local_of(s);
	s.dgrams_sent++;
	s.dgram_bytes_sent += len;
	return 0;
}

// Copy datagram d into iov (cnt entries): bytes copied.
size_t dgram_copy(const FakeDgram &d, const iovec *iov, size_t cnt) {
	size_t done = 0;
	for (size_t v = 0; v < cnt && done < d.len; v++) {
		auto *p = static_cast<uint8_t *>(iov[v].iov_base);
		for (size_t i = 0; i < iov[v].iov_len && done < d.len; i++, done++)
			p[i] = done < d.head_len ? d.head[done]
						 : fake_dgram_byte(d.len, uint32_t(done));
	}
	return done;
}

// Take the next datagram into mh: its length (MSG_TRUNC: the whole one),
// or -1 with errno.
ssize_t dgram_recv(FakeSock &s, msghdr *mh, int flags) {
	if (!s.rxq_n) {
		errno = EAGAIN;
		return -1;
	}
	const FakeDgram &d = s.rxq[s.rxq_head];
	if (!(flags & MSG_PEEK)) {
		s.rxq_head = (s.rxq_head + 1) % FAKE_RXQ;
		s.rxq_n--;
	}
	if (d.err) {
		errno = d.err;
		return -1;
	}
	size_t got = dgram_copy(d, mh->msg_iov, mh->msg_iovlen);
	mh->msg_flags = got < d.len ? MSG_TRUNC : 0;
	if (mh->msg_name) {
		socklen_t l = mh->msg_namelen;
		copy_addr(d.src, d.src_len, static_cast<sockaddr *>(mh->msg_name), &l);
		mh->msg_namelen = l;
	}
	return (flags & MSG_TRUNC) ? ssize_t(d.len) : ssize_t(got);
}

ssize_t stream_send(FakeSock &s, size_t n) {
	if (s.send_err) {
		errno = s.send_err;
		return -1;
	}
	if (s.shut_wr) {
		errno = EPIPE;
		return -1;
	}
	if (!s.room) {
		errno = EAGAIN;
		return -1;
	}
	size_t k = n < s.room ? n : s.room;
	s.room -= uint32_t(k);
	s.accepted += k;
	return ssize_t(k);
}

} // namespace

} // namespace passt::fuzz

using namespace passt::fuzz;

extern "C" {

int socket(int domain, int type, int protocol) {
	if (!fake_ready)
		return int(syscall(SYS_socket, domain, type, protocol));
	if (int e = fake_socket_err) {
		fake_socket_err = 0;
		errno = e;
		return -1;
	}
	return fake_fd(*make(domain, type, protocol));
}

int close(int fd) {
	if (FakeSock *s = fake_sock(fd))
		*s = FakeSock{};
	return int(syscall(SYS_close, fd));
}

int connect(int fd, const struct sockaddr *sa, socklen_t l) {
	FakeSock *s = fake_sock(fd);
	if (!s)
		return int(syscall(SYS_connect, fd, sa, l));
	if (s->type == SOCK_STREAM && fake_next_connect) {
		errno = fake_next_connect;
		return -1;
	}
	std::memcpy(&s->peer, sa, l < sizeof(s->peer) ? l : sizeof(s->peer));
	s->connected = true;
	if (!s->bound)
		local_of(*s);
	return 0;
}

int bind(int fd, const struct sockaddr *sa, socklen_t l) {
	FakeSock *s = fake_sock(fd);
	if (!s)
		return int(syscall(SYS_bind, fd, sa, l));
	if (l > sizeof(s->local) || sa->sa_family != s->family) {
		errno = EINVAL;
		return -1;
	}
	std::memcpy(&s->local, sa, l);
	s->bound = true;
	local_of(*s); // a port 0 gets one
	return 0;
}

int listen(int fd, int backlog) {
	FakeSock *s = fake_sock(fd);
	if (!s)
		return int(syscall(SYS_listen, fd, backlog));
	s->listening = true;
	return 0;
}

int accept4(int fd, struct sockaddr *sa, socklen_t *l, int flags) {
	FakeSock *s = fake_sock(fd);
	if (!s)
		return int(syscall(SYS_accept4, fd, sa, l, flags));
	if (!s->listening) {
		errno = EINVAL;
		return -1;
	}
	if (!s->backlog) {
		errno = EAGAIN;
		return -1;
	}
	s->backlog--;
	unsigned saved = fake_tag;
	fake_tag = s->accept_tag;
	FakeSock *c = make(s->family, SOCK_STREAM | flags, IPPROTO_TCP);
	fake_tag = saved;
	c->local = s->accept_local.ss_family ? s->accept_local : s->local;
	c->bound = true;
	c->peer = s->accept_peer;
	c->connected = true;
	copy_addr(c->peer, len_of(*c), sa, l);
	return fake_fd(*c);
}

int getsockname(int fd, struct sockaddr *sa, socklen_t *l) {
	FakeSock *s = fake_sock(fd);
	if (!s)
		return int(syscall(SYS_getsockname, fd, sa, l));
	if (!s->bound)
		local_of(*s);
	copy_addr(s->local, len_of(*s), sa, l);
	return 0;
}

int getpeername(int fd, struct sockaddr *sa, socklen_t *l) {
	FakeSock *s = fake_sock(fd);
	if (!s)
		return int(syscall(SYS_getpeername, fd, sa, l));
	if (!s->connected) {
		errno = ENOTCONN;
		return -1;
	}
	copy_addr(s->peer, len_of(*s), sa, l);
	return 0;
}

int setsockopt(int fd, int level, int name, const void *v, socklen_t l) {
	FakeSock *s = fake_sock(fd);
	if (!s)
		return int(syscall(SYS_setsockopt, fd, level, name, v, l));
	if (level == SOL_SOCKET && name == SO_PEEK_OFF && l >= sizeof(int))
		std::memcpy(&s->peek_off, v, sizeof(int));
	return 0;
}

int getsockopt(int fd, int level, int name, void *v, socklen_t *l) {
	FakeSock *s = fake_sock(fd);
	if (!s)
		return int(syscall(SYS_getsockopt, fd, level, name, v, l));
	if (level == SOL_SOCKET && name == SO_ERROR && *l >= sizeof(int)) {
		std::memcpy(v, &s->so_error, sizeof(int));
		s->so_error = 0;
		return 0;
	}
	if (level == SOL_SOCKET && name == SO_SNDBUF && *l >= sizeof(int)) {
		int b = int(s->sndbuf);
		std::memcpy(v, &b, sizeof(int));
		return 0;
	}
	if (level == SOL_SOCKET && name == SO_MEMINFO) {
		uint32_t mi[SK_MEMINFO_VARS] = {};
		mi[SK_MEMINFO_SNDBUF] = s->sndbuf;
		mi[SK_MEMINFO_WMEM_QUEUED] = s->sndbuf > s->room ? s->sndbuf - s->room : 0;
		socklen_t n = *l < sizeof(mi) ? *l : sizeof(mi);
		std::memcpy(v, mi, n);
		*l = n;
		return 0;
	}
	errno = ENOPROTOOPT;
	return -1;
}

int ioctl(int fd, unsigned long req, ...) {
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	FakeSock *s = fake_sock(fd);
	if (!s)
		return int(syscall(SYS_ioctl, fd, req, arg));
	if (req == SIOCOUTQ) {
		int q = int(s->sndbuf > s->room ? s->sndbuf - s->room : 0);
		std::memcpy(arg, &q, sizeof(int));
		return 0;
	}
	errno = ENOTTY;
	return -1;
}

ssize_t sendto(int fd, const void *b, size_t n, int flags, const struct sockaddr *sa, socklen_t l) {
	FakeSock *s = fake_sock(fd);
	if (!s)
		return ssize_t(syscall(SYS_sendto, fd, b, n, flags, sa, l));
	if (s->type == SOCK_STREAM)
		return stream_send(*s, n);
	if (int e = dgram_send(*s, b, n, sa, l)) {
		errno = e;
		return -1;
	}
	return ssize_t(n);
}

ssize_t send(int fd, const void *b, size_t n, int flags) {
	return sendto(fd, b, n, flags, nullptr, 0);
}

// One datagram out of a msghdr (gathered, so that the hook sees it whole).
static int send_one(FakeSock &s, const msghdr *mh, size_t *len) {
	static uint8_t buf[65536 + 64];
	size_t n = 0;
	for (size_t v = 0; v < mh->msg_iovlen; v++) {
		size_t k = mh->msg_iov[v].iov_len;
		FUZZ_CHECK(n + k <= sizeof(buf));
		std::memcpy(buf + n, mh->msg_iov[v].iov_base, k);
		n += k;
	}
	*len = n;
	return dgram_send(s, buf, n, static_cast<const sockaddr *>(mh->msg_name), mh->msg_namelen);
}

ssize_t sendmsg(int fd, const struct msghdr *mh, int flags) {
	FakeSock *s = fake_sock(fd);
	if (!s)
		return ssize_t(syscall(SYS_sendmsg, fd, mh, flags));
	FUZZ_CHECK(s->type != SOCK_STREAM); // the TCP translator uses send()
	size_t n;
	if (int e = send_one(*s, mh, &n)) {
		errno = e;
		return -1;
	}
	return ssize_t(n);
}

int sendmmsg(int fd, struct mmsghdr *v, unsigned int cnt, int flags) {
	FakeSock *s = fake_sock(fd);
	if (!s)
		return int(syscall(SYS_sendmmsg, fd, v, cnt, flags));
	FUZZ_CHECK(s->type != SOCK_STREAM);
	unsigned i = 0;
	for (; i < cnt; i++) {
		size_t n;
		if (int e = send_one(*s, &v[i].msg_hdr, &n)) {
			if (!i) {
				errno = e;
				return -1;
			}
			break;
		}
		v[i].msg_len = unsigned(n);
	}
	return int(i);
}

int shutdown(int fd, int how) {
	FakeSock *s = fake_sock(fd);
	if (!s)
		return int(syscall(SYS_shutdown, fd, how));
	if (how == SHUT_WR || how == SHUT_RDWR)
		s->shut_wr = true;
	return 0;
}

ssize_t recvfrom(int fd, void *b, size_t n, int flags, struct sockaddr *sa, socklen_t *l) {
	FakeSock *s = fake_sock(fd);
	if (!s)
		return ssize_t(syscall(SYS_recvfrom, fd, b, n, flags, sa, l));
	if (s->type != SOCK_STREAM) {
		iovec iov{b, n};
		msghdr mh{};
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_name = sa;
		mh.msg_namelen = l ? *l : 0;
		ssize_t r = dgram_recv(*s, &mh, flags);
		if (r >= 0 && l)
			*l = mh.msg_namelen;
		return r;
	}
	if (s->rx_rst) {
		errno = ECONNRESET;
		return -1;
	}
	uint64_t avail = s->rx_total - s->rx_consumed;
	if (!avail) {
		if (s->rx_eof)
			return 0;
		errno = EAGAIN;
		return -1;
	}
	FUZZ_CHECK(!(flags & MSG_PEEK)); // the translator peeks with recvmsg()
	size_t k = n < avail ? n : avail;
	if (b)
		for (size_t i = 0; i < k; i++)
			static_cast<uint8_t *>(b)[i] = fake_stream_byte(s->tag, s->rx_consumed + i);
	s->rx_consumed += k;
	if (s->peek_off >= 0)
		s->peek_off = s->peek_off > int(k) ? s->peek_off - int(k) : 0;
	return ssize_t(k);
}

ssize_t recv(int fd, void *b, size_t n, int flags) {
	return recvfrom(fd, b, n, flags, nullptr, nullptr);
}

ssize_t recvmsg(int fd, struct msghdr *mh, int flags) {
	FakeSock *s = fake_sock(fd);
	if (!s)
		return ssize_t(syscall(SYS_recvmsg, fd, mh, flags));
	if (s->type != SOCK_STREAM)
		return dgram_recv(*s, mh, flags);
	if (s->rx_rst) {
		errno = ECONNRESET;
		return -1;
	}
	uint64_t from = s->rx_consumed + ((flags & MSG_PEEK) && s->peek_off > 0 ? s->peek_off : 0);
	uint64_t avail = s->rx_total > from ? s->rx_total - from : 0;
	if (!avail) {
		if (s->rx_eof)
			return 0;
		errno = EAGAIN;
		return -1;
	}
	size_t done = 0;
	for (size_t v = 0; v < mh->msg_iovlen && done < avail; v++) {
		auto *p = static_cast<uint8_t *>(mh->msg_iov[v].iov_base);
		size_t len = mh->msg_iov[v].iov_len;
		for (size_t i = 0; i < len && done < avail; i++, done++)
			if (p)
				p[i] = fake_stream_byte(s->tag, from + done);
	}
	if (flags & MSG_PEEK) {
		if (s->peek_off >= 0)
			s->peek_off += int(done);
	} else {
		s->rx_consumed += done;
	}
	mh->msg_flags = 0;
	return ssize_t(done);
}

int recvmmsg(int fd, struct mmsghdr *v, unsigned int cnt, int flags, struct timespec *t) {
	FakeSock *s = fake_sock(fd);
	if (!s)
		return int(syscall(SYS_recvmmsg, fd, v, cnt, flags, t));
	FUZZ_CHECK(s->type != SOCK_STREAM);
	unsigned i = 0;
	for (; i < cnt && s->rxq_n; i++) {
		// An error ends the batch; it is reported by itself (first).
		if (s->rxq[s->rxq_head].err && i)
			break;
		ssize_t r = dgram_recv(*s, &v[i].msg_hdr, flags & ~MSG_TRUNC);
		if (r < 0)
			return -1;
		v[i].msg_len = unsigned(r);
	}
	if (!i) {
		errno = EAGAIN;
		return -1;
	}
	return int(i);
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev) {
	FakeSock *s = fake_sock(fd);
	if (!s)
		return int(syscall(SYS_epoll_ctl, epfd, op, fd, ev));
	switch (op) {
	case EPOLL_CTL_ADD:
		if (s->in_epoll) {
			errno = EEXIST;
			return -1;
		}
		s->in_epoll = true;
		s->events = ev->events;
		s->data = ev->data.u64;
		return 0;
	case EPOLL_CTL_MOD:
		if (!s->in_epoll) {
			errno = ENOENT;
			return -1;
		}
		s->events = ev->events;
		s->data = ev->data.u64;
		return 0;
	case EPOLL_CTL_DEL:
		if (!s->in_epoll) {
			errno = ENOENT;
			return -1;
		}
		s->in_epoll = false;
		return 0;
	}
	errno = EINVAL;
	return -1;
}

} // extern "C"
