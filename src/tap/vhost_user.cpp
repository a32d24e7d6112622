// vhost-user back-end: control protocol, guest memory and the two net
// queues. See the theory of operation in include/passt/tap/vhost_user.h.
//
// vhost-user messages (recv, recvmsg for the ones carrying fds, send), guest
// memory regions mapped and unmapped as the front-end sets its table, and
// the kick (read; TX also written, to come back to chains left), call and
// error (write) eventfds of each queue.
// #syscalls:vu close fcntl setsockopt recvfrom recvmsg sendto mmap munmap read write
#include "passt/tap/vhost_user.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "passt/core/log.h"
#include "passt/net/eth.h"
#include "passt/net/ip4.h"
#include "passt/tap/tap_tun.h"
#include "passt/tap/vnet.h"

namespace passt {

using namespace vhost_user;

namespace {

uint64_t ld64(const std::byte *p) {
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}
uint32_t ld32(const std::byte *p) {
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

void close_fd(int &fd) {
	if (fd >= 0)
		close(fd);
	fd = -1;
}

const char *request_name(uint32_t r) {
	switch (r) {
	case GET_FEATURES: return "GET_FEATURES";
	case SET_FEATURES: return "SET_FEATURES";
	case SET_OWNER: return "SET_OWNER";
	case RESET_OWNER: return "RESET_OWNER";
	case SET_MEM_TABLE: return "SET_MEM_TABLE";
	case SET_LOG_BASE: return "SET_LOG_BASE";
	case SET_LOG_FD: return "SET_LOG_FD";
	case SET_VRING_NUM: return "SET_VRING_NUM";
	case SET_VRING_ADDR: return "SET_VRING_ADDR";
	case SET_VRING_BASE: return "SET_VRING_BASE";
	case GET_VRING_BASE: return "GET_VRING_BASE";
	case SET_VRING_KICK: return "SET_VRING_KICK";
	case SET_VRING_CALL: return "SET_VRING_CALL";
	case SET_VRING_ERR: return "SET_VRING_ERR";
	case GET_PROTOCOL_FEATURES: return "GET_PROTOCOL_FEATURES";
	case SET_PROTOCOL_FEATURES: return "SET_PROTOCOL_FEATURES";
	case GET_QUEUE_NUM: return "GET_QUEUE_NUM";
	case SET_VRING_ENABLE: return "SET_VRING_ENABLE";
	case SEND_RARP: return "SEND_RARP";
	case SET_DEVICE_STATE_FD: return "SET_DEVICE_STATE_FD";
	case CHECK_DEVICE_STATE: return "CHECK_DEVICE_STATE";
	default: return "unknown";
	}
}

// Read exactly len bytes (the socket has a receive timeout). 0 or -errno;
// -ESHUTDOWN on end of file.
int read_exact(int fd, std::byte *buf, size_t len) {
	size_t got = 0;
	while (got < len) {
		ssize_t n = recv(fd, buf + got, len - got, 0);
		if (n == 0)
			return -ESHUTDOWN;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? -EPROTO : -errno;
		}
		got += size_t(n);
	}
	return 0;
}

// Status of a request that does not reply with data (REPLY_ACK): 0 done.
constexpr int ACK_OK = 0, ACK_FAIL = 1;
// dispatch() result for requests that sent their own reply.
constexpr int REPLIED = 2;

} // namespace

VhostUserBackend::VhostUserBackend(TapStats *stats) : TapBackend(stats) {}

VhostUserBackend::~VhostUserBackend() { detach(); }

int VhostUserBackend::attach(int fd) {
	detach();
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	// A message's header and payload arrive together: never wait long for
	// the rest, nor for the front-end to take a reply.
	timeval tv = {1, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (loop_) {
		int rc = loop_->add(fd, EPOLLIN | EPOLLRDHUP,
				    EpollRef{RefKind::VhostUserCmd, fd, 0});
		if (rc < 0) {
			close(fd);
			return rc;
		}
	}
	fd_ = fd;
	features_ = protocol_features_ = 0;
	was_ready_ = false;
	return 0;
}

void VhostUserBackend::detach() {
	const Stats &v = vstats_;
	if (fd_ >= 0 && log_.misses())
		warn("vhost-user: %llu writes to guest memory were past the end of the dirty log",
		     (unsigned long long)log_.misses());
	if (fd_ >= 0 && (v.rx_waited || v.rx_no_buf || v.tx_yields || v.tx_bad_frames ||
			 v.broken_queues || v.tx_bad_headers || v.tx_max_frame || v.rx_max_frame))
		info("vhost-user: front-end gone; frames to it: %llu read in place (zero copy), "
		     "%llu waited for RX buffers, %llu "
		     "refused, %llu with GSO, longest %zu bytes; from it: %llu bad TX frames, "
		     "%llu bad headers, %llu with GSO, longest %zu bytes, %llu wake-ups left "
		     "chains for later; %llu broken queues",
		     (unsigned long long)v.rx_direct, (unsigned long long)v.rx_waited,
		     (unsigned long long)v.rx_no_buf, (unsigned long long)v.rx_gso_frames,
		     v.rx_max_frame, (unsigned long long)v.tx_bad_frames,
		     (unsigned long long)v.tx_bad_headers, (unsigned long long)v.tx_gso_frames,
		     v.tx_max_frame, (unsigned long long)v.tx_yields,
		     (unsigned long long)v.broken_queues);
	for (unsigned q = 0; q < NQUEUES; q++) {
		stop_queue(q);
		close_fd(q_[q].kick);
		close_fd(q_[q].call);
		close_fd(q_[q].err);
		q_[q] = Queue{};
	}
	ndchains_ = ndsegs_ = 0;
	dopen_ = false;
	unmap_memory();
	unmap_log();
	log_ = DirtyLog{}; // off, no misses: a new front-end starts afresh
	close_fd(log_fd_);
	close_fd(xfer_fd_);
	xfer_done_ = saved_ = false;
	if (fd_ >= 0) {
		if (loop_)
			loop_->remove(fd_);
		close(fd_);
		fd_ = -1;
	}
	features_ = protocol_features_ = 0;
	was_ready_ = false;
	rx_pending_ = false;
	refused_ = false;
	rxw_.clear();
}

bool VhostUserBackend::ready() const {
	for (unsigned q = 0; q < NQUEUES; q++)
		if (!q_[q].started || !q_[q].enabled || !vq_[q].ready())
			return false;
	return true;
}

int VhostUserBackend::handle_cmd() {
	if (fd_ < 0)
		return -ENOTCONN;
	std::byte hdr[HDR_SIZE];
	alignas(cmsghdr) char cbuf[CMSG_SPACE(MAX_FDS * sizeof(int))];
	iovec iov = {hdr, sizeof(hdr)};
	msghdr mh = {};
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	ssize_t n;
	do
		n = recvmsg(fd_, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return -ESHUTDOWN;
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;

	int fds[MAX_FDS];
	size_t nfds = 0;
	for (cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int f;
			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (nfds < MAX_FDS)
				fds[nfds++] = f;
			else
				close(f);
		}
	}
	auto close_all = [&]() {
		for (size_t i = 0; i < nfds; i++)
			close_fd(fds[i]);
	};
	int rc = 0;
	std::byte payload[MAX_PAYLOAD];
	if (mh.msg_flags & MSG_CTRUNC) {
		warn("vhost-user: too many descriptors with a message");
		rc = -EPROTO;
	} else if (size_t(n) < HDR_SIZE) {
		rc = read_exact(fd_, hdr + n, HDR_SIZE - size_t(n));
	}
	uint32_t request = 0, flags = 0, size = 0;
	if (!rc) {
		request = ld32(hdr);
		flags = ld32(hdr + 4);
		size = ld32(hdr + 8);
		if ((flags & FLAG_VERSION_MASK) != VERSION) {
			warn("vhost-user: unsupported protocol version in flags 0x%x", flags);
			rc = -EPROTO;
		} else if (size > MAX_PAYLOAD) {
			warn("vhost-user: %s: payload of %u bytes is too large",
			     request_name(request), size);
			rc = -EPROTO;
		} else {
			rc = read_exact(fd_, payload, size);
		}
	}
	if (rc < 0) {
		close_all();
		return rc == -ESHUTDOWN ? -EPROTO : rc; // EOF inside a message
	}

	int status = dispatch(request, flags, payload, size, fds, nfds);
	close_all(); // whatever the request did not keep
	if (status < 0)
		return status;
	if (status != REPLIED && (flags & FLAG_NEED_REPLY) &&
	    (protocol_features_ & PROTOCOL_F_REPLY_ACK)) {
		uint64_t v = status == ACK_OK ? 0 : 1;
		if ((rc = reply(request, &v, sizeof(v))) < 0)
			return rc;
	}
	if (xfer_fd_ >= 0)
		run_transfer(); // SET_DEVICE_STATE_FD accepted, and its reply sent
	bool r = ready();
	bool became = r && !was_ready_;
	was_ready_ = r;
	if (became && saved_) {
		// The queues run again after our state was saved: the
		// migration failed or was cancelled, the guest is still ours.
		saved_ = xfer_done_ = false;
		if (migration_)
			migration_->migrate_resumed();
	}
	return became ? 1 : 0;
}

int VhostUserBackend::reply(uint32_t request, const void *payload, size_t size) {
	std::byte msg[HDR_SIZE + 16];
	uint32_t flags = VERSION | FLAG_REPLY, sz = uint32_t(size);
	memcpy(msg, &request, 4);
	memcpy(msg + 4, &flags, 4);
	memcpy(msg + 8, &sz, 4);
	memcpy(msg + HDR_SIZE, payload, size);
	size_t len = HDR_SIZE + size, off = 0;
	while (off < len) {
		ssize_t n = send(fd_, msg + off, len - off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += size_t(n);
	}
	return 0;
}

// Handle one request whose payload (size bytes) has been read. Returns
// ACK_OK/ACK_FAIL (the REPLY_ACK status), REPLIED, or a fatal -errno. Any
// descriptor kept is set to -1 in fds.
int VhostUserBackend::dispatch(uint32_t request, uint32_t flags, const std::byte *p, size_t size,
			       int *fds, size_t nfds) {
	(void)flags;
	auto refuse = [&](const char *why) {
		debug("vhost-user: %s refused: %s", request_name(request), why);
		vstats_.bad_messages++;
		return ACK_FAIL;
	};
	auto want = [&](size_t s) { return size == s; };
	// GET_* requests: no payload in, a u64 out.
	auto reply_u64 = [&](uint64_t v) {
		if (!want(0))
			return refuse("payload size");
		int rc = reply(request, &v, sizeof(v));
		return rc < 0 ? rc : REPLIED;
	};
	// Queue index from a vring state or file payload.
	auto queue_of = [&](uint64_t v) -> int {
		uint64_t q = v & VRING_IDX_MASK;
		return q < NQUEUES ? int(q) : -1;
	};

	switch (request) {
	case GET_FEATURES: return reply_u64(FEATURES);
	case SET_FEATURES: {
		if (!want(8))
			return refuse("payload size");
		uint64_t v = ld64(p);
		if (v & ~FEATURES)
			return refuse("features we did not offer");
		features_ = v;
		for (unsigned q = 0; q < NQUEUES; q++)
			vq_[q].set_event_idx(features_ & VIRTIO_RING_F_EVENT_IDX);
		// "Migration": VHOST_F_LOG_ALL starts and stops the logging of
		// every write to guest memory (the used rings: VHOST_VRING_F_LOG).
		log_.enable(features_ & VHOST_F_LOG_ALL);
		if (!(features_ & F_PROTOCOL_FEATURES))
			for (unsigned q = 0; q < NQUEUES; q++)
				q_[q].enabled = true; // no SET_VRING_ENABLE will come
		debug("vhost-user: features 0x%llx", (unsigned long long)v);
		return ACK_OK;
	}
	case GET_PROTOCOL_FEATURES: return reply_u64(offered_protocol_features());
	case SET_PROTOCOL_FEATURES: {
		if (!want(8))
			return refuse("payload size");
		uint64_t v = ld64(p);
		if (v & ~offered_protocol_features())
			return refuse("protocol features we did not offer");
		protocol_features_ = v;
		return ACK_OK;
	}
	case SET_OWNER: return want(0) ? ACK_OK : refuse("payload size");
	case RESET_OWNER:
		if (!want(0))
			return refuse("payload size");
		for (unsigned q = 0; q < NQUEUES; q++) {
			stop_queue(q);
			close_fd(q_[q].kick);
			close_fd(q_[q].call);
			close_fd(q_[q].err);
			q_[q] = Queue{};
		}
		features_ = 0;
		log_.enable(false);
		return ACK_OK;
	case GET_QUEUE_NUM: return reply_u64(NQUEUES);
	case SET_MEM_TABLE: return set_mem_table(p, size, fds, nfds);
	case SET_VRING_NUM:
	case SET_VRING_BASE:
	case SET_VRING_ENABLE:
	case GET_VRING_BASE: {
		if (!want(8))
			return refuse("payload size");
		uint32_t idx = ld32(p), num = ld32(p + 4);
		if (idx >= NQUEUES)
			return refuse("no such queue");
		Queue &q = q_[idx];
		if (request == SET_VRING_NUM) {
			if (!num || num > virtq::MAX_SIZE || (num & (num - 1)))
				return refuse("queue size not a power of two up to 1024");
			if (q.started)
				return refuse("queue running");
			q.num = num;
		} else if (request == SET_VRING_BASE) {
			// A broken queue may be re-based where it runs: that is
			// the front-end re-programming it.
			if (q.started && !vq_[idx].broken())
				return refuse("queue running");
			q.base = uint16_t(num);
			if (q.started) {
				q.broken_noted = false;
				map_queue(idx);
			}
		} else if (request == SET_VRING_ENABLE) {
			q.enabled = num != 0;
			update_kick_registration(idx);
		} else {
			stop_queue(idx);
			uint32_t st[2] = {idx, q.base};
			int rc = reply(request, st, sizeof(st));
			return rc < 0 ? rc : REPLIED;
		}
		return ACK_OK;
	}
	case SET_VRING_ADDR: {
		if (!want(40))
			return refuse("payload size");
		// "A vring address description": index, flags, then the
		// descriptor, used and available ring addresses, log_guest_addr.
		uint32_t idx = ld32(p), vflags = ld32(p + 4);
		if (idx >= NQUEUES)
			return refuse("no such queue");
		Queue &q = q_[idx];
		const uint64_t desc = ld64(p + 8), used = ld64(p + 16), avail = ld64(p + 24);
		q.log_used = vflags & VRING_F_LOG;
		q.log_gpa = ld64(p + 32);
		Virtqueue &vq = vq_[idx];
		if (q.started && vq.ready() && q.addr_set && desc == q.desc_uva &&
		    used == q.used_uva && avail == q.avail_uva) {
			// The same rings, running: only logging changes (qemu
			// turns VHOST_VRING_F_LOG on and off this way, "Migration").
			vq.set_log(q.log_used ? &log_ : nullptr, q.log_gpa);
			debug("vhost-user: queue %u: used ring %s", idx,
			      q.log_used ? "logged" : "no longer logged");
			return ACK_OK;
		}
		if (q.started && vq.ready()) {
			// New rings for a running queue: go on from where we are.
			if (vq.publish())
				signal(idx);
			q.base = vq.last_avail();
		}
		q.desc_uva = desc;
		q.used_uva = used;
		q.avail_uva = avail;
		q.addr_set = true;
		q.broken_noted = false;
		if (q.started && !map_queue(idx))
			return refuse("ring addresses outside guest memory");
		return ACK_OK;
	}
	case SET_VRING_KICK:
	case SET_VRING_CALL:
	case SET_VRING_ERR: {
		if (!want(8))
			return refuse("payload size");
		uint64_t v = ld64(p);
		int idx = queue_of(v);
		if (idx < 0 || (v & ~(VRING_IDX_MASK | VRING_NOFD)))
			return refuse("bad queue index or flags");
		bool nofd = v & VRING_NOFD;
		if (!nofd && nfds != 1)
			return refuse("expected one descriptor");
		int fd = -1;
		if (!nofd) {
			fd = fds[0];
			fds[0] = -1;
		}
		Queue &q = q_[idx];
		if (request == SET_VRING_KICK) {
			if (q.registered && loop_ && q.kick >= 0)
				loop_->remove(q.kick);
			q.registered = false;
			close_fd(q.kick);
			q.kick = fd;
			q.started = true;
			q.broken_noted = false;
			if (!map_queue(unsigned(idx)))
				warn("vhost-user: queue %d started without valid rings", idx);
			update_kick_registration(unsigned(idx));
		} else if (request == SET_VRING_CALL) {
			close_fd(q.call);
			q.call = fd;
		} else {
			close_fd(q.err);
			q.err = fd;
		}
		return ACK_OK;
	}
	case SEND_RARP:
		// Migration announcement: the guest's own traffic teaches peers.
		return size >= 6 && size <= 8 ? ACK_OK : refuse("payload size");
	case SET_LOG_BASE: return set_log_base(p, size, fds, nfds);
	case SET_LOG_FD:
		// An eventfd "to inform the front-end that the log has been
		// modified": written when a publish marked pages (signal()).
		if (!want(0))
			return refuse("payload size");
		if (nfds != 1)
			return refuse("expected one descriptor");
		close_fd(log_fd_);
		log_fd_ = fds[0];
		fds[0] = -1;
		return ACK_OK;
	case SET_DEVICE_STATE_FD: return set_device_state_fd(p, size, fds, nfds);
	case CHECK_DEVICE_STATE: return check_device_state(size);
	default:
		warn("vhost-user: unsupported request %u (%s)", request, request_name(request));
		vstats_.bad_messages++;
		return ACK_FAIL;
	}
}

// SET_MEM_TABLE: u32 count, u32 padding, then count regions of {guest
// address, size, user address, mmap offset}, one memfd each. The new table
// replaces the old one only if every region maps.
int VhostUserBackend::set_mem_table(const std::byte *p, size_t size, int *fds, size_t nfds) {
	auto refuse = [&](const char *why) {
		warn("vhost-user: SET_MEM_TABLE refused: %s", why);
		vstats_.bad_messages++;
		return ACK_FAIL;
	};
	if (size < 8)
		return refuse("payload size");
	uint32_t n = ld32(p);
	if (!n || n > GuestMemory::MAX_REGIONS || size != 8 + 32 * size_t(n))
		return refuse("region count or payload size");
	if (nfds != n)
		return refuse("one descriptor per region expected");

	GuestRegion regions[GuestMemory::MAX_REGIONS];
	Mapping maps[GuestMemory::MAX_REGIONS];
	for (uint32_t i = 0; i < n; i++) {
		const std::byte *r = p + 8 + 32 * size_t(i);
		uint64_t gpa = ld64(r), len = ld64(r + 8), uva = ld64(r + 16), off = ld64(r + 24);
		bool ok = len && off + len > off && off + len <= (uint64_t(1) << 47);
		void *m = ok ? mmap(nullptr, size_t(off + len), PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_NORESERVE, fds[i], 0)
			     : MAP_FAILED;
		if (m == MAP_FAILED) {
			int e = ok ? errno : EINVAL;
			for (uint32_t j = 0; j < i; j++)
				munmap(maps[j].addr, maps[j].len);
			warn("vhost-user: mapping guest memory region %u: %s", i, strerror(e));
			return refuse("region not mappable");
		}
		maps[i] = {m, size_t(off + len)};
		regions[i] = {gpa, len, uva, static_cast<std::byte *>(m) + off};
	}
	GuestMemory next;
	if (!next.set({regions, n})) {
		for (uint32_t j = 0; j < n; j++)
			munmap(maps[j].addr, maps[j].len);
		return refuse("regions overflow the address space");
	}

	// Rings point into the old mappings: finish with them, then swap. A
	// broken queue stays broken: the front-end did not touch its rings.
	VqBreak why[NQUEUES];
	for (unsigned q = 0; q < NQUEUES; q++) {
		why[q] = vq_[q].broken_why();
		if (vq_[q].publish())
			signal(q);
		q_[q].base = vq_[q].num() ? vq_[q].last_avail() : q_[q].base;
		vq_[q].reset();
	}
	unmap_memory();
	mem_ = next;
	for (uint32_t i = 0; i < n; i++) {
		maps_[i] = maps[i];
		debug("vhost-user: region %u: guest 0x%llx, %llu bytes", i,
		      (unsigned long long)regions[i].gpa, (unsigned long long)regions[i].size);
	}
	nmaps_ = n;
	for (unsigned q = 0; q < NQUEUES; q++) {
		if (q_[q].started && map_queue(q)) {
			vq_[q].mark_broken(why[q]);
			update_kick_registration(q);
		}
	}
	return ACK_OK;
}

void VhostUserBackend::unmap_memory() {
	for (unsigned q = 0; q < NQUEUES; q++)
		vq_[q].reset();
	for (size_t i = 0; i < nmaps_; i++)
		munmap(maps_[i].addr, maps_[i].len);
	nmaps_ = 0;
	mem_.clear();
}

// SET_LOG_BASE, with LOG_SHMFD: a "Log description" (u64 log size, u64 log
// offset, where guest address 0 is logged) and the log's memfd. Mapped
// shared, it replaces the old log. This request always has a reply
// ("Communication": SET_LOG_BASE if LOG_SHMFD), a u64, 0 when done.
int VhostUserBackend::set_log_base(const std::byte *p, size_t size, int *fds, size_t nfds) {
	auto answer = [&](uint64_t v) {
		int rc = reply(SET_LOG_BASE, &v, sizeof(v));
		return rc < 0 ? rc : REPLIED;
	};
	auto refuse = [&](const char *why) {
		warn("vhost-user: SET_LOG_BASE refused: %s", why);
		vstats_.bad_messages++;
		return answer(1);
	};
	if (!(protocol_features_ & PROTOCOL_F_LOG_SHMFD)) {
		// Without it the payload is an address in the front-end.
		vstats_.bad_messages++;
		warn("vhost-user: SET_LOG_BASE without LOG_SHMFD");
		return ACK_FAIL;
	}
	if (size != 16)
		return refuse("payload size");
	if (nfds != 1)
		return refuse("expected one descriptor");
	const uint64_t len = ld64(p), off = ld64(p + 8);
	if (!len || off + len < off || off + len > (uint64_t(1) << 47))
		return refuse("log size or offset");
	void *m = mmap(nullptr, size_t(off + len), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_NORESERVE, fds[0], 0);
	if (m == MAP_FAILED) {
		warn("vhost-user: mapping the dirty log: %s", strerror(errno));
		return refuse("log not mappable");
	}
	unmap_log();
	log_map_ = {m, size_t(off + len)};
	log_.set_map(static_cast<std::byte *>(m) + off, len);
	debug("vhost-user: dirty log of %llu bytes", (unsigned long long)len);
	return answer(0);
}

void VhostUserBackend::unmap_log() {
	log_.set_map(nullptr, 0);
	if (log_map_.addr)
		munmap(log_map_.addr, log_map_.len);
	log_map_ = {};
}

// SET_DEVICE_STATE_FD ("Migrating back-end state"): "Device state transfer
// parameters" (u32 transfer direction, u32 migration phase) and the
// front-end's end of a pipe. The reply is a u64: bits 0-7 zero on success,
// bit 8 the invalid FD flag, always set: we use the front-end's channel and
// return none (and never an fd with an error). The transfer itself runs
// after the reply (run_transfer()), as the front-end reads the pipe only
// once it has the answer. Only the stopped phase exists, in which the
// device is suspended ("Suspended device state"): a running queue refuses.
int VhostUserBackend::set_device_state_fd(const std::byte *p, size_t size, int *fds, size_t nfds) {
	auto answer = [&](const char *why) {
		if (why) {
			warn("vhost-user: SET_DEVICE_STATE_FD refused: %s", why);
			vstats_.bad_messages++;
		}
		uint64_t v = VRING_NOFD | (why ? 1 : 0);
		int rc = reply(SET_DEVICE_STATE_FD, &v, sizeof(v));
		return rc < 0 ? rc : REPLIED;
	};
	if (!(protocol_features_ & PROTOCOL_F_DEVICE_STATE) || !migration_)
		return answer("DEVICE_STATE not negotiated");
	if (size != 8)
		return answer("payload size");
	const uint32_t dir = ld32(p), phase = ld32(p + 4);
	if (dir != TRANSFER_SAVE && dir != TRANSFER_LOAD)
		return answer("unknown transfer direction");
	if (phase != PHASE_STOPPED)
		return answer("unknown migration phase");
	if (nfds != 1)
		return answer("expected one descriptor");
	if (xfer_done_)
		return answer("the last transfer was not checked yet");
	for (unsigned q = 0; q < NQUEUES; q++)
		if (q_[q].started)
			return answer("device not suspended: a queue is running");
	int rc = answer(nullptr);
	if (rc < 0)
		return rc;
	xfer_fd_ = fds[0];
	fds[0] = -1;
	xfer_save_ = dir == TRANSFER_SAVE;
	return REPLIED;
}

// The transfer SET_DEVICE_STATE_FD accepted, now that it was answered: the
// handler writes the whole stream (save) or reads it to end of file (load),
// on a blocking fd, which we close then (the end of file of a save). The
// result waits for CHECK_DEVICE_STATE. Nothing here touches the queues.
void VhostUserBackend::run_transfer() {
	const int fd = xfer_fd_;
	xfer_fd_ = -1;
	int rc;
	const int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || ((fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0))
		rc = -errno;
	else if (!migration_)
		rc = -ENOSYS;
	else
		rc = xfer_save_ ? migration_->migrate_save(fd) : migration_->migrate_load(fd);
	close(fd);
	xfer_status_ = rc;
	xfer_done_ = true;
	if (xfer_save_ && !rc)
		saved_ = true;
	if (rc)
		warn("vhost-user: device state %s failed: %s", xfer_save_ ? "save" : "load",
		     strerror(-rc));
	else
		info("vhost-user: device state %s", xfer_save_ ? "saved" : "loaded");
}

// CHECK_DEVICE_STATE: no payload, a u64 reply, 0 if the last transfer
// succeeded, else non-zero (also if there was none to check).
int VhostUserBackend::check_device_state(size_t size) {
	auto answer = [&](uint64_t v) {
		int rc = reply(CHECK_DEVICE_STATE, &v, sizeof(v));
		return rc < 0 ? rc : REPLIED;
	};
	auto refuse = [&](const char *why) {
		warn("vhost-user: CHECK_DEVICE_STATE refused: %s", why);
		vstats_.bad_messages++;
		return answer(1);
	};
	if (!(protocol_features_ & PROTOCOL_F_DEVICE_STATE) || !migration_)
		return refuse("DEVICE_STATE not negotiated");
	if (size)
		return refuse("payload size");
	if (!xfer_done_)
		return refuse("no transfer to check");
	xfer_done_ = false;
	const int st = xfer_status_;
	int rc = answer(st ? 1 : 0);
	migration_->migrate_checked(xfer_save_, st);
	return rc;
}

// Translate queue q's ring addresses and point its Virtqueue at them.
bool VhostUserBackend::map_queue(unsigned q) {
	Queue &s = q_[q];
	vq_[q].reset();
	if (!s.num || !s.addr_set || !mem_.size())
		return false;
	std::byte *desc = mem_.uva_to_host(s.desc_uva, virtq::desc_bytes(s.num));
	std::byte *avail = mem_.uva_to_host(s.avail_uva, virtq::avail_bytes(s.num));
	std::byte *used = mem_.uva_to_host(s.used_uva, virtq::used_bytes(s.num));
	bool ok = vq_[q].setup(&mem_, s.num, desc, avail, used, s.base);
	if (!ok) {
		vstats_.bad_messages++;
	} else {
		vq_[q].set_event_idx(features_ & VIRTIO_RING_F_EVENT_IDX);
		vq_[q].set_log(s.log_used ? &log_ : nullptr, s.log_gpa);
	}
	update_kick_registration(q);
	return ok;
}

// GET_VRING_BASE (or teardown): give back what we hold, remember where the
// queue stopped, stop watching its kicks.
void VhostUserBackend::stop_queue(unsigned q) {
	Queue &s = q_[q];
	if (vq_[q].num()) {
		if (vq_[q].publish())
			signal(q);
		s.base = vq_[q].last_avail();
	}
	vq_[q].reset();
	if (s.registered && loop_ && s.kick >= 0)
		loop_->remove(s.kick);
	s.registered = false;
	close_fd(s.kick);
	s.started = false;
	s.broken_noted = false;
	if (q == RX) {
		rx_pending_ = false;
		rxw_.clear(); // for rings that are gone
	}
}

// TX kicks mean frames for us; RX kicks (new buffers) are watched only while
// frames wait for buffers. Never for a queue that is not running.
void VhostUserBackend::update_kick_registration(unsigned q) {
	Queue &s = q_[q];
	bool want = loop_ && s.kick >= 0 && s.started && s.enabled && vq_[q].ready() &&
		    (q == TX || !rxw_.empty() || refused_);
	if (want && !s.registered) {
		if (loop_->add(s.kick, EPOLLIN, EpollRef{RefKind::VhostUserKick, s.kick, q}) == 0)
			s.registered = true;
	} else if (!want && s.registered) {
		if (loop_)
			loop_->remove(s.kick);
		s.registered = false;
	}
}

void VhostUserBackend::signal(unsigned q) {
	if (log_fd_ >= 0 && log_.take_marked()) {
		uint64_t one = 1;
		if (write(log_fd_, &one, sizeof(one)) < 0 && errno != EAGAIN)
			debug_rl("vhost-user: signalling the dirty log: %s", strerror(errno));
	}
	if (q_[q].call < 0 || !vq_[q].needs_signal())
		return;
	uint64_t one = 1;
	if (write(q_[q].call, &one, sizeof(one)) < 0 && errno != EAGAIN)
		debug_rl("vhost-user: signalling queue %u: %s", q, strerror(errno));
}

void VhostUserBackend::drain_kick(unsigned q) {
	int fd = q < NQUEUES ? q_[q].kick : -1;
	uint64_t v;
	if (fd >= 0 && read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		debug_rl("vhost-user: reading the kick of queue %u: %s", q, strerror(errno));
}

// Queue q was found broken: count and log it once per set-up, tell the
// front-end (its error eventfd), stop watching its kicks. Its rings are not
// touched again until the front-end sets it up anew.
void VhostUserBackend::note_broken(unsigned q) {
	Queue &s = q_[q];
	if (!vq_[q].broken() || s.broken_noted)
		return;
	s.broken_noted = true;
	vstats_.broken_queues++;
	warn_rl("vhost-user: %s queue broken (%s at index %u): stopped until the front-end "
		"sets it up again",
		q == RX ? "RX" : "TX", vq_[q].broken_reason(), unsigned(vq_[q].last_avail()));
	if (s.err >= 0) {
		uint64_t one = 1;
		if (write(s.err, &one, sizeof(one)) < 0 && errno != EAGAIN)
			debug_rl("vhost-user: signalling the error of queue %u: %s", q,
				 strerror(errno));
	}
	if (q == RX)
		rxw_.clear();
	update_kick_registration(q);
}

int VhostUserBackend::read_batch(Pool &pool) {
	pool.reset();
	Queue &s = q_[TX];
	Virtqueue &vq = vq_[TX];
	if (!s.started || !s.enabled || !vq.ready())
		return 0;
	size_t off = 0;
	// Chains this call may take, good or bad: see the theory of operation.
	size_t budget = std::min<size_t>(vq.num(), pool.capacity());
	bool more = true; // false once the ring is empty or broken
	while (budget && !pool.full()) {
		VqPop r = vq.pop(chain_);
		if (r == VqPop::Empty || r == VqPop::Broken) {
			more = false;
			break;
		}
		budget--;
		if (r == VqPop::Bad)
			continue;
		if (chain_.n_in || chain_.out_bytes <= VNET_HDR ||
		    chain_.out_bytes - VNET_HDR > MAX_FRAME) {
			vstats_.tx_bad_frames++;
			vq.push(chain_.head, 0);
			continue;
		}
		if (chain_.out_bytes - VNET_HDR > IN_BUF_SIZE - off) {
			vq.unpop(1); // no room left in our buffer: next time
			break;
		}
		// Gather the virtio-net header, then the frame.
		VirtioNetHdr h;
		auto *hb = reinterpret_cast<std::byte *>(&h);
		size_t hdone = 0, len = 0;
		for (unsigned i = 0; i < chain_.n_out; i++) {
			const VqSeg &g = chain_.segs[i];
			size_t from = std::min<size_t>(VNET_HDR - hdone, g.len);
			memcpy(hb + hdone, g.ptr, from);
			hdone += from;
			memcpy(ibuf_ + off + len, g.ptr + from, g.len - from);
			len += g.len - from;
		}
		vq.push(chain_.head, 0);
		if (!tx_offloads(h, {ibuf_ + off, len}))
			continue;
		if (len > vstats_.tx_max_frame)
			vstats_.tx_max_frame = len;
		pool.add({ibuf_ + off, len});
		off = std::min(IN_BUF_SIZE, off + ((len + 7) & ~size_t(7)));
	}
	if (vq.publish())
		signal(TX);
	note_broken(TX);
	if (more && vq.arm_kick()) {
		// Chains left: come back to them after the other ready fds.
		vstats_.tx_yields++;
		uint64_t one = 1;
		if (s.kick >= 0 && write(s.kick, &one, sizeof(one)) < 0 && errno != EAGAIN)
			debug_rl("vhost-user: re-arming the TX kick: %s", strerror(errno));
	}
	return int(pool.size());
}

// Write one frame, preceded by its virtio-net header, into RX buffers: as
// many as it takes with MRG_RXBUF, else one. Nothing is published here.
VhostUserBackend::RxWrite VhostUserBackend::write_rx(const VirtioNetHdr &hdr,
						     std::span<const std::byte> frame) {
	Virtqueue &vq = vq_[RX];
	if (!q_[RX].started || !q_[RX].enabled || !vq.ready() || frame.size() > MAX_FRAME)
		return RxWrite::Refused;
	const bool mrg = features_ & VIRTIO_NET_F_MRG_RXBUF;
	const size_t need = VNET_HDR + frame.size();

	// As many buffers as a ring may hold: a 64 KiB frame in small ones.
	constexpr size_t MAX_BUFS = virtq::MAX_SIZE;
	struct Used {
		uint16_t head;
		uint32_t len;
	} used[MAX_BUFS];
	size_t nbuf = 0, done = 0, nbad = 0;
	VqSeg nb_seg{}; // the first buffer's first piece, which holds num_buffers
	bool nb_field = false;
	while (done < need) {
		if (nbuf == MAX_BUFS || (!mrg && nbuf == 1))
			break;
		VqPop r = vq.pop(chain_);
		if (r == VqPop::Empty || r == VqPop::Broken)
			break;
		if (r == VqPop::Bad) {
			nbad++;
			continue;
		}
		const VqSeg *w = chain_.segs + chain_.n_out;
		if (!nbuf && (!chain_.n_in || w[0].len < VNET_HDR)) {
			// The header must fit in the first buffer's first piece.
			vq.push(chain_.head, 0);
			nbad++;
			continue;
		}
		uint32_t wrote = 0;
		for (unsigned i = 0; i < chain_.n_in && done < need; i++) {
			size_t room = w[i].len, pos = 0;
			while (room && done < need) {
				size_t k;
				if (done < VNET_HDR) {
					k = std::min(room, VNET_HDR - done);
					guest_write(w[i], pos,
						    reinterpret_cast<const std::byte *>(&hdr) +
							    done,
						    k);
				} else {
					k = std::min(room, need - done);
					guest_write(w[i], pos, frame.data() + (done - VNET_HDR), k);
				}
				if (!nbuf && !done) {
					nb_seg = w[i];
					nb_field = true;
				}
				pos += k;
				room -= k;
				done += k;
				wrote += uint32_t(k);
			}
		}
		used[nbuf++] = {chain_.head, wrote};
	}
	if (vq.broken()) {
		// GET_VRING_BASE then reports the frame's first chain.
		if (!nbad)
			vq.unpop(uint16_t(nbuf));
		note_broken(RX);
		return RxWrite::Refused;
	}
	if (done < need || !nb_field) {
		if (!nbad) {
			vq.unpop(uint16_t(nbuf)); // the same buffers serve the next frame
		} else {
			// Bad chains were already returned in between: give the
			// good ones back empty rather than reorder the ring.
			for (size_t i = 0; i < nbuf; i++)
				vq.push(used[i].head, 0);
			rx_pending_ = true;
		}
		return RxWrite::NoBuf;
	}
	uint16_t nb = htole16(uint16_t(nbuf));
	guest_write(nb_seg, 10, &nb, sizeof(nb));
	for (size_t i = 0; i < nbuf; i++)
		vq.push(used[i].head, used[i].len);
	rx_pending_ = true;
	if (hdr.gso_type)
		vstats_.rx_gso_frames++;
	if (frame.size() > vstats_.rx_max_frame)
		vstats_.rx_max_frame = frame.size();
	return RxWrite::Ok;
}

// Zero copy: pop chains as write_rx() does, but write nothing yet; hand
// out where each frame's headers (behind the virtio-net header, in the
// first buffer's first piece) and payload (the rest of that buffer, then
// the next buffers with MRG_RXBUF) go. Any chain this can't use here (no
// room for the headers, too many pieces, no writable piece) goes back
// (unpop()) and ends the reservation: write_rx() deals with it then.
size_t VhostUserBackend::direct_reserve(size_t hdr_len, size_t payload, size_t budget,
					std::span<TapDirectSlot> slots, std::span<iovec> iov) {
	if (dopen_) {
		warn_rl("vhost-user: a zero-copy reservation was never ended");
		direct_release(0);
	}
	Virtqueue &vq = vq_[RX];
	if (!q_[RX].started || !q_[RX].enabled || !vq.ready() || !rxw_.empty() ||
	    hdr_len + payload > MAX_FRAME || !payload || slots.size() > UINT16_MAX)
		return 0;
	const bool mrg = features_ & VIRTIO_NET_F_MRG_RXBUF;
	const size_t first_need = VNET_HDR + hdr_len;
	ndchains_ = ndsegs_ = 0;
	dhdr_ = hdr_len;
	dbad_ = false;
	size_t nslot = 0, niov = 0;
	bool stop = false;
	while (!stop && nslot < slots.size() && budget) {
		TapDirectSlot &slot = slots[nslot];
		slot = TapDirectSlot{};
		slot.iov_first = niov;
		const size_t want = std::min(payload, budget);
		size_t room = 0, nch = 0;
		while (room < want && (mrg || !nch)) {
			if (ndchains_ == DIRECT_MAX) {
				stop = true;
				break;
			}
			VqPop r = vq.pop(chain_);
			if (r != VqPop::Ok) {
				dbad_ = r == VqPop::Bad; // already returned, empty
				stop = true;
				break;
			}
			const VqSeg *w = chain_.segs + chain_.n_out;
			if (!chain_.n_in || (!nch && w[0].len < first_need) ||
			    chain_.n_in > DIRECT_MAX - ndsegs_ || chain_.n_in > iov.size() - niov) {
				vq.unpop(1);
				stop = true;
				break;
			}
			dchains_[ndchains_++] = {chain_.head, uint16_t(nslot), uint32_t(ndsegs_),
						 chain_.n_in};
			for (unsigned i = 0; i < chain_.n_in; i++) {
				dsegs_[ndsegs_++] = w[i];
				const size_t skip = !nch && !i ? first_need : 0;
				const size_t len = std::min(size_t(w[i].len) - skip, want - room);
				if (len)
					iov[niov++] = iovec{w[i].ptr + skip, len};
				room += len;
			}
			if (!nch)
				slot.hdr = w[0].ptr + VNET_HDR;
			nch++;
		}
		if (!room)
			break; // its chains (if any) go back with direct_commit()
		slot.niov = niov - slot.iov_first;
		slot.room = room;
		budget -= room;
		nslot++;
	}
	if (vq.broken())
		note_broken(RX); // as write_rx(): nothing written, the chains go back
	if (!nslot || vq.broken()) {
		direct_release(0);
		return 0;
	}
	dopen_ = true;
	return nslot;
}

// Give back the chains from first on: popped again next time (in the same
// order) unless a bad chain was returned behind them, then empty (and a
// broken queue's rings are not touched at all).
void VhostUserBackend::direct_release(size_t first) {
	Virtqueue &vq = vq_[RX];
	if (first < ndchains_) {
		if (!dbad_) {
			vq.unpop(uint16_t(ndchains_ - first));
		} else if (!vq.broken()) {
			for (size_t c = first; c < ndchains_; c++)
				vq.push(dchains_[c].head, 0);
			rx_pending_ = true;
		}
	}
	ndchains_ = ndsegs_ = 0;
	dopen_ = false;
}

// Hand over the first used.size() frames of the reservation: the virtio-net
// header (num_buffers: the buffers the frame fills), the dirty log marked
// over every byte written (the kernel wrote the payload, the translator
// the headers), each chain returned with what it holds. Chains left empty
// go back: direct_release().
size_t VhostUserBackend::direct_commit(std::span<const TapDirectSlot> used) {
	if (!dopen_)
		return 0;
	Virtqueue &vq = vq_[RX];
	size_t ok = 0;
	while (ok < used.size() && used[ok].payload <= used[ok].room &&
	       used[ok].out.frame.data() == used[ok].hdr && used[ok].out.frame.size() == dhdr_)
		ok++;
	if (ok < used.size())
		warn_rl("vhost-user: zero-copy frame %zu does not match its reservation", ok);

	// How much each chain holds, and the last one that holds anything.
	uint32_t len[DIRECT_MAX];
	size_t last = 0;
	for (size_t c = 0, left = 0, slot = SIZE_MAX; c < ndchains_; c++) {
		const DirectChain &dc = dchains_[c];
		if (dc.slot != slot) {
			slot = dc.slot;
			left = slot < ok ? VNET_HDR + dhdr_ + used[slot].payload : 0;
		}
		len[c] = 0;
		for (uint32_t i = 0; i < dc.nseg && left; i++) {
			const VqSeg &g = dsegs_[dc.seg_first + i];
			const size_t k = std::min(size_t(g.len), left);
			log_.mark(g.gpa, k);
			len[c] += uint32_t(k);
			left -= k;
		}
		if (len[c])
			last = c + 1;
	}
	for (size_t c = 0, slot = SIZE_MAX; c < last; c++) {
		const DirectChain &dc = dchains_[c];
		if (dc.slot != slot) {
			// The frame's first chain: its header, once its buffers
			// are counted.
			slot = dc.slot;
			const TapDirectSlot &u = used[slot];
			VirtioNetHdr hdr = tap_vnet_hdr(u.out);
			if (!u.out.needs_csum)
				hdr.flags = vnet::F_DATA_VALID;
			uint16_t nbuf = 0;
			for (size_t d = c; d < ndchains_ && dchains_[d].slot == slot; d++)
				nbuf = uint16_t(nbuf + (len[d] ? 1 : 0));
			hdr.num_buffers = htole16(nbuf);
			guest_write(dsegs_[dc.seg_first], 0, &hdr, sizeof(hdr));
			vstats_.rx_direct++;
			if (hdr.gso_type)
				vstats_.rx_gso_frames++;
			vstats_.rx_max_frame = std::max(vstats_.rx_max_frame, dhdr_ + u.payload);
		}
		// An empty chain before a full one (a short frame followed by
		// another) can only go back empty.
		vq.push(dc.head, len[c]);
	}
	if (last)
		rx_pending_ = true;
	direct_release(last);
	return ok;
}

const char *vu_tx_hdr_check(const VirtioNetHdr &h, std::span<const std::byte> frame,
			    uint64_t features) {
	constexpr size_t eth = 14;
	if (h.flags & ~vnet::F_NEEDS_CSUM)
		return "flags a driver must not set"; // DATA_VALID, RSC_INFO
	const bool csum = h.flags & vnet::F_NEEDS_CSUM;
	if (csum && !(features & VIRTIO_NET_F_CSUM))
		return "partial checksum without VIRTIO_NET_F_CSUM";
	if (csum) {
		const size_t start = vnet::le(h.csum_start), off = vnet::le(h.csum_offset);
		if (start < eth || start > frame.size() || off > frame.size() - start ||
		    frame.size() - start - off < 2)
			return "checksum field outside the frame";
	}
	if (h.gso_type == vnet::GSO_NONE)
		return nullptr;
	const bool v4 = h.gso_type == vnet::GSO_TCPV4, v6 = h.gso_type == vnet::GSO_TCPV6;
	if (!v4 && !v6)
		return "GSO type not offered"; // UDP, USO, ECN
	if ((v4 && !(features & VIRTIO_NET_F_HOST_TSO4)) ||
	    (v6 && !(features & VIRTIO_NET_F_HOST_TSO6)))
		return "TCP GSO not negotiated";
	if (!csum)
		return "GSO without a partial checksum";
	if (!vnet::le(h.gso_size))
		return "GSO size 0";
	// The family the header names is the frame's, and the checksum is
	// the TCP one right behind the IP header (no options for IPv6).
	if (frame.size() < eth + 40 || vnet::le(h.csum_offset) != 16)
		return "GSO frame is no TCP segment";
	const uint16_t type = uint16_t(uint16_t(frame[12]) << 8 | uint16_t(frame[13]));
	const size_t start = vnet::le(h.csum_start);
	if (v4 && (type != ethertype::ipv4 || (uint8_t(frame[eth]) >> 4) != 4 ||
		   uint8_t(frame[eth + 9]) != ipproto::tcp ||
		   start != eth + 4 * (size_t(frame[eth]) & 0x0f)))
		return "TCPV4 GSO on a frame that is no IPv4 TCP segment";
	if (v6 && (type != ethertype::ipv6 || (uint8_t(frame[eth]) >> 4) != 6 ||
		   uint8_t(frame[eth + 6]) != ipproto::tcp || start != eth + 40))
		return "TCPV6 GSO on a frame that is no IPv6 TCP segment";
	return nullptr;
}

bool VhostUserBackend::tx_offloads(const VirtioNetHdr &h, std::span<std::byte> frame) {
	if (const char *why = vu_tx_hdr_check(h, frame, features_)) {
		vstats_.tx_bad_headers++;
		stats_->malformed++;
		debug_rl("vhost-user: dropping a TX frame of %zu bytes: %s (flags 0x%x, gso_type "
			 "%u)",
			 frame.size(), why, unsigned(h.flags), unsigned(h.gso_type));
		return false;
	}
	if (h.gso_type)
		vstats_.tx_gso_frames++;
	if (!(h.flags & vnet::F_NEEDS_CSUM))
		return true;
	// As tap_tun does: a TCP checksum the translator won't verify is left
	// alone, any other completed (bounds were checked above).
	const size_t start = vnet::le(h.csum_start), off = vnet::le(h.csum_offset);
	if (offloads() && tap_partial_csum_skippable(frame, start, off))
		return true;
	if (!tap_complete_partial_csum(frame, start, off)) {
		vstats_.tx_bad_headers++;
		stats_->malformed++;
		return false;
	}
	return true;
}

// A frame for the guest: written into RX buffers, or, if there are none (or
// frames already wait for them), queued behind the others.
bool VhostUserBackend::xmit(const TapFrame &f) {
	VirtioNetHdr hdr = tap_vnet_hdr(f);
	// Our own full checksums need no second look by the guest.
	if (!f.needs_csum && (features_ & VIRTIO_NET_F_GUEST_CSUM))
		hdr.flags = vnet::F_DATA_VALID;
	if (dopen_) {
		warn_rl("vhost-user: a frame during a zero-copy reservation");
		direct_release(0);
	}
	if (!rxw_.empty())
		drain_rx_wait();
	if (rxw_.empty()) {
		RxWrite w = write_rx(hdr, f.frame);
		if (w == RxWrite::Ok)
			return true;
		if (w == RxWrite::Refused) {
			vstats_.rx_no_buf++;
			refused_ = true;
			return false;
		}
	}
	if (!rxw_.push(hdr, f.frame)) {
		vstats_.rx_no_buf++;
		if (!refused_) {
			refused_ = true;
			update_kick_registration(RX);
		}
		return false;
	}
	vstats_.rx_waited++;
	if (rxw_.size() == 1)
		update_kick_registration(RX);
	return true;
}

void VhostUserBackend::drain_rx_wait() {
	bool had = !rxw_.empty();
	while (!rxw_.empty()) {
		RxWrite w = write_rx(rxw_.front_hdr(), rxw_.front());
		if (w == RxWrite::NoBuf)
			break;
		if (w == RxWrite::Refused) {
			rxw_.clear(); // the queue stopped or broke under them
			break;
		}
		rxw_.pop();
	}
	if (had && rxw_.empty())
		update_kick_registration(RX);
}

// A record: u32 length, the 12-byte header, the frame (8-byte aligned).
constexpr size_t RXW_REC_HDR = 4 + sizeof(VirtioNetHdr);

bool VhostUserBackend::RxWaitQueue::push(const VirtioNetHdr &hdr,
					 std::span<const std::byte> frame) {
	const size_t need = RXW_REC_HDR + ((frame.size() + 7) & ~size_t(7));
	if (n_ == RX_WAIT_FRAMES || need > RX_WAIT_BYTES)
		return false;
	if (!n_)
		clear();
	// Room after the tail: up to the end, or up to the head once wrapped.
	size_t room = wrapped_ ? head_ - tail_ : RX_WAIT_BYTES - tail_;
	if (room < need) {
		if (wrapped_ || head_ < need)
			return false;
		end_ = tail_; // wrap: the rest of the buffer is left unused
		wrapped_ = true;
		tail_ = 0;
	}
	const size_t at = tail_;
	uint32_t len = uint32_t(frame.size());
	memcpy(buf_ + at, &len, 4);
	memcpy(buf_ + at + 4, &hdr, sizeof(hdr));
	memcpy(buf_ + at + RXW_REC_HDR, frame.data(), frame.size());
	tail_ = at + need;
	n_++;
	return true;
}

std::span<const std::byte> VhostUserBackend::RxWaitQueue::front() const {
	if (!n_)
		return {};
	uint32_t len;
	memcpy(&len, buf_ + head_, 4);
	return {buf_ + head_ + RXW_REC_HDR, size_t(len)};
}

VirtioNetHdr VhostUserBackend::RxWaitQueue::front_hdr() const {
	VirtioNetHdr h{};
	if (n_)
		memcpy(&h, buf_ + head_ + 4, sizeof(h));
	return h;
}

void VhostUserBackend::RxWaitQueue::pop() {
	if (!n_)
		return;
	if (!--n_) {
		clear();
		return;
	}
	uint32_t len;
	memcpy(&len, buf_ + head_, 4);
	head_ += RXW_REC_HDR + ((size_t(len) + 7) & ~size_t(7));
	if (wrapped_ && head_ == end_) {
		head_ = 0;
		wrapped_ = false;
	}
}

void VhostUserBackend::flush() {
	if (!rx_pending_)
		return;
	rx_pending_ = false;
	if (vq_[RX].publish())
		signal(RX);
}

std::span<const RefKind> VhostUserBackend::event_kinds() const {
	static constexpr RefKind kinds[] = {RefKind::VhostUserCmd, RefKind::VhostUserKick};
	return kinds;
}

TapEvent VhostUserBackend::handle_event(EpollRef ref, uint32_t events) {
	if (ref.kind == RefKind::VhostUserKick && ref.index == RX) {
		// New RX buffers: the counter first, then the ring (see above).
		drain_kick(RX);
		drain_rx_wait();
		flush();
		if (refused_ && rxw_.size() <= RX_WAIT_FRAMES / 2) {
			refused_ = false;
			update_kick_registration(RX);
			return {TapEvent::Room, 0};
		}
		return {};
	}
	if (ref.kind == RefKind::VhostUserKick) {
		drain_kick(TX);
		return {TapEvent::Read, 0};
	}
	if (fd_ < 0)
		return {};
	int rc = (events & EPOLLIN) ? handle_cmd() : -ESHUTDOWN;
	if (rc < 0)
		return {TapEvent::Gone, rc};
	if (rc == 1) {
		refused_ = false; // Ready means room too
		update_kick_registration(RX);
		info("vhost-user: guest device ready");
		return {TapEvent::Ready, 0};
	}
	return {};
}

std::string VhostUserBackend::qemu_hint(const std::string &path) const {
	return vhost_user_qemu_hint(path);
}

std::string vhost_user_qemu_hint(const std::string &path) {
	return "You can now start qemu (shared guest memory is required):\n"
	       "    kvm ... -object memory-backend-memfd,id=mem,size=512M,share=on "
	       "-numa node,memdev=mem -chardev socket,id=c,path=" +
	       path + " -netdev vhost-user,id=n,chardev=c -device virtio-net-pci,netdev=n";
}

} // namespace passt
