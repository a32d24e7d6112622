// qemu stream socket backend and its listening socket; see
// include/passt/tap/tap_stream.h for the theory of operation.
//
// After the sandbox: accepting the next client (both back-ends; the
// stream one also reads and writes frames with recv and send).
// #syscalls:passt,vu accept4 setsockopt close
// #syscalls:passt fcntl recvfrom sendto
// #syscalls:init socket bind listen connect unlink unlinkat newfstatat openat read
#include "passt/tap/tap_stream.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "passt/core/log.h"
#include "passt/net/byteorder.h"

namespace passt {

StreamBackend::StreamBackend(TapStats *stats) : TapBackend(stats) {}

StreamBackend::~StreamBackend() {
	if (fd_ >= 0)
		close(fd_);
}

int StreamBackend::attach(int fd) {
	detach();
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	if (loop_) {
		int rc = loop_->add(fd, EPOLLIN | EPOLLRDHUP, EpollRef{RefKind::TapStream, fd, 0});
		if (rc < 0) {
			close(fd);
			return rc;
		}
	}
	fd_ = fd;
	in_len_ = in_parse_ = 0;
	out_head_ = out_tail_ = out_cur_left_ = out_frames_ = 0;
	last_flush_frames_ = 0;
	out_broken_ = false;
	epollout_ = false;
	return 0;
}

void StreamBackend::detach() {
	if (fd_ < 0)
		return;
	if (loop_)
		loop_->remove(fd_);
	close(fd_);
	fd_ = -1;
	stats_->out_dropped += out_frames_;
	in_len_ = in_parse_ = 0;
	out_head_ = out_tail_ = out_cur_left_ = out_frames_ = 0;
	epollout_ = false;
}

int StreamBackend::read_batch(Pool &pool) {
	pool.reset();
	if (fd_ < 0)
		return -ENOTCONN;

	// The previous batch is consumed: move what is left to the start.
	if (in_parse_) {
		std::memmove(ibuf_, ibuf_ + in_parse_, in_len_ - in_parse_);
		in_len_ -= in_parse_;
		in_parse_ = 0;
	}

	bool drained = false;
	for (;;) {
		// Split complete frames off [in_parse_, in_len_).
		while (!pool.full() && in_len_ - in_parse_ >= LEN_PREFIX) {
			uint32_t len = load_be32(ibuf_ + in_parse_);
			if (len == 0 || len > MAX_FRAME) {
				warn("tap: bad frame length %u from qemu, closing the connection",
				     unsigned(len));
				pool.reset();
				return -EPROTO;
			}
			if (in_len_ - in_parse_ - LEN_PREFIX < len)
				break;
			pool.add(std::span<std::byte>(ibuf_ + in_parse_ + LEN_PREFIX, len));
			in_parse_ += LEN_PREFIX + len;
		}
		// A cut frame must be able to complete in place, so stop once
		// less than one maximum frame fits: the next call compacts (the
		// socket stays readable, so epoll calls us again).
		if (pool.full() || drained || sizeof(ibuf_) - in_len_ < LEN_PREFIX + MAX_FRAME)
			break;

		ssize_t n = recv(fd_, ibuf_ + in_len_, sizeof(ibuf_) - in_len_, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			// Frames that arrived before the error go first: the
			// next call hears of it again (then end of file).
			if (!pool.empty())
				break;
			return -errno;
		}
		if (n == 0) {
			// The same for end of file, which stays.
			if (!pool.empty())
				break;
			return -ESHUTDOWN;
		}
		// A short read means the socket is (for now) empty: parse, and
		// don't spend a syscall to hear EAGAIN.
		drained = size_t(n) < sizeof(ibuf_) - in_len_;
		in_len_ += size_t(n);
	}
	return int(pool.size());
}

// Move the unsent bytes to the start of the output buffer.
void StreamBackend::compact_output() {
	if (!out_head_)
		return;
	std::memmove(obuf_, obuf_ + out_head_, out_tail_ - out_head_);
	out_tail_ -= out_head_;
	out_head_ = 0;
}

bool StreamBackend::xmit(const TapFrame &f) {
	const std::span<const std::byte> frame = f.frame;
	if (fd_ < 0 || out_broken_ || frame.empty() || frame.size() > MAX_FRAME)
		return false;
	const size_t need = LEN_PREFIX + frame.size();
	if (sizeof(obuf_) - out_tail_ < need) {
		compact_output();
		if (sizeof(obuf_) - out_tail_ < need) {
			flush();
			compact_output();
		}
		if (sizeof(obuf_) - out_tail_ < need) {
			debug_rl("tap: output to qemu is full, dropping a frame");
			return false;
		}
	}
	store_be32(obuf_ + out_tail_, uint32_t(frame.size()));
	std::memcpy(obuf_ + out_tail_ + LEN_PREFIX, frame.data(), frame.size());
	out_tail_ += need;
	out_frames_++;
	return true;
}

std::span<const RefKind> StreamBackend::event_kinds() const {
	static constexpr RefKind kinds[] = {RefKind::TapStream};
	return kinds;
}

TapEvent StreamBackend::handle_event(EpollRef, uint32_t events) {
	if (fd_ < 0)
		return {};
	if (events & EPOLLOUT)
		flush();
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP | EPOLLERR)))
		return {};
	return {TapEvent::Read, 0};
}

std::string StreamBackend::qemu_hint(const std::string &path) const {
	return tap_stream_qemu_hint(path);
}

void StreamBackend::flush() {
	last_flush_frames_ = 0;
	if (fd_ < 0 || out_broken_ || out_head_ == out_tail_) {
		update_epollout();
		return;
	}

	ssize_t n;
	do
		n = send(fd_, obuf_ + out_head_, out_tail_ - out_head_,
			 MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			debug_rl("tap: writing to qemu: %s", strerror(errno));
			out_broken_ = true;
			stats_->out_dropped += out_frames_;
			out_head_ = out_tail_ = out_cur_left_ = out_frames_ = 0;
		}
		update_epollout();
		return;
	}

	// Count the frames completed by these n bytes, walking the prefixes.
	size_t left = size_t(n);
	size_t p = out_head_;
	if (out_cur_left_) {
		size_t step = left < out_cur_left_ ? left : out_cur_left_;
		out_cur_left_ -= step;
		left -= step;
		p += step;
		if (!out_cur_left_)
			last_flush_frames_++;
	}
	while (left) {
		size_t flen = LEN_PREFIX + load_be32(obuf_ + p);
		if (left < flen) {
			out_cur_left_ = flen - left;
			break;
		}
		left -= flen;
		p += flen;
		last_flush_frames_++;
	}
	out_frames_ -= last_flush_frames_;
	out_head_ += size_t(n);
	if (out_head_ == out_tail_)
		out_head_ = out_tail_ = 0;
	update_epollout();
}

// Ask for EPOLLOUT exactly while output is pending.
void StreamBackend::update_epollout() {
	if (!loop_ || fd_ < 0)
		return;
	bool want = out_head_ != out_tail_ && !out_broken_;
	if (want == epollout_)
		return;
	uint32_t ev = EPOLLIN | EPOLLRDHUP | (want ? uint32_t(EPOLLOUT) : 0);
	if (loop_->modify(fd_, ev, EpollRef{RefKind::TapStream, fd_, 0}) == 0)
		epollout_ = want;
}

namespace {

bool make_sun(const std::string &path, sockaddr_un &sa) {
	std::memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (path.empty() || path.size() >= sizeof(sa.sun_path))
		return false;
	std::memcpy(sa.sun_path, path.data(), path.size());
	return true;
}

// Look for a listening socket bound to path in /proc/net/unix (this
// network namespace only). Lines: "Num RefCount Protocol Flags Type St
// Inode Path"; listening sockets have __SO_ACCEPTCON (0x10000) in Flags.
bool listed_as_listening(const std::string &path) {
	FILE *f = fopen("/proc/net/unix", "re");
	if (!f)
		return false;
	char line[512 + 108];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long flags = 0;
		int off = -1;
		if (sscanf(line, "%*s %*s %*s %lx %*s %*s %*s %n", &flags, &off) < 1 || off < 0)
			continue;
		char *p = line + off;
		size_t l = strcspn(p, "\n");
		found = (flags & 0x10000) && l == path.size() && !path.compare(0, l, p, l);
	}
	fclose(f);
	return found;
}

enum class BindResult { Ok, Live, NotSocket, Error };

// Bind and listen on path, replacing a stale socket file.
BindResult bind_listen(const std::string &path, int &fd_out, int &error) {
	sockaddr_un sa;
	if (!make_sun(path, sa)) {
		error = ENAMETOOLONG;
		return BindResult::Error;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			error = errno;
			return BindResult::Error;
		}
		if (bind(fd, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)) == 0) {
			if (listen(fd, 1) < 0) {
				error = errno;
				close(fd);
				unlink(path.c_str());
				return BindResult::Error;
			}
			fd_out = fd;
			return BindResult::Ok;
		}
		error = errno;
		close(fd);
		if (error != EADDRINUSE || attempt)
			return error == EADDRINUSE ? BindResult::Live : BindResult::Error;

		struct stat stb;
		if (lstat(path.c_str(), &stb) < 0)
			continue; // gone meanwhile: try again
		if (!S_ISSOCK(stb.st_mode)) {
			error = EEXIST;
			return BindResult::NotSocket;
		}
		if (tap_stream_path_live(path)) {
			error = EADDRINUSE;
			return BindResult::Live;
		}
		if (unlink(path.c_str()) < 0 && errno != ENOENT) {
			error = errno;
			return BindResult::Error;
		}
		debug("replacing stale socket %s", path.c_str());
	}
	error = EADDRINUSE;
	return BindResult::Live;
}

} // namespace

bool tap_stream_path_live(const std::string &path) {
	if (listed_as_listening(path))
		return true;
	sockaddr_un sa;
	if (!make_sun(path, sa))
		return false;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	int rc = connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof(sa));
	int e = errno;
	close(fd);
	// EAGAIN: a listener whose backlog is full, alive all the same.
	return rc == 0 || e == EAGAIN || e == EINPROGRESS;
}

int tap_stream_listen(const std::string &path, std::string &chosen_path, const std::string &dir) {
	int fd = -1, error = 0;
	if (!path.empty()) {
		if (bind_listen(path, fd, error) != BindResult::Ok)
			return -error;
		chosen_path = path;
		return fd;
	}
	for (unsigned i = 1; i <= TAP_STREAM_AUTO_MAX; i++) {
		std::string p = dir + "/passt_" + std::to_string(i) + ".socket";
		switch (bind_listen(p, fd, error)) {
		case BindResult::Ok: chosen_path = p; return fd;
		case BindResult::Live:
		case BindResult::NotSocket: continue;
		case BindResult::Error: return -error;
		}
	}
	return -EADDRINUSE;
}

int tap_stream_accept(int listen_fd) {
	int fd;
	do
		fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -errno;
	// Large buffers let one flush() carry a whole batch; the kernel caps
	// them at net.core.[rw]mem_max.
	int sz = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	return fd;
}

std::string tap_stream_qemu_hint(const std::string &path) {
	return "You can now start qemu (>= 7.2, with commit 13c6be96618c):\n"
	       "    kvm ... -device virtio-net-pci,netdev=s "
	       "-netdev stream,id=s,server=off,addr.type=unix,addr.path=" +
	       path;
}

} // namespace passt
