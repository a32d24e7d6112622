// Event loop: typed epoll references and dispatch by kind.
// See include/passt/core/epoll.h for the theory of operation.
//
// #syscalls epoll_wait|epoll_pwait epoll_ctl
// Signals come through a signalfd, but should a handler ever run, its
// return (rt_sigreturn) must not be what kills the daemon.
// #syscalls rt_sigreturn
// #syscalls:init epoll_create1
#include "passt/core/epoll.h"

#include <cerrno>

#include "passt/core/log.h"

namespace passt {

const char *ref_kind_name(RefKind kind) {
	switch (kind) {
	case RefKind::None: return "none";
	case RefKind::TapStream: return "tap-stream";
	case RefKind::TapStreamListen: return "tap-stream-listen";
	case RefKind::TapTun: return "tap-tun";
	case RefKind::VhostUserListen: return "vhost-user-listen";
	case RefKind::VhostUserCmd: return "vhost-user-cmd";
	case RefKind::VhostUserKick: return "vhost-user-kick";
	case RefKind::TcpSock: return "tcp";
	case RefKind::TcpListen: return "tcp-listen";
	case RefKind::TcpSplice: return "tcp-splice";
	case RefKind::UdpSock: return "udp";
	case RefKind::UdpListen: return "udp-listen";
	case RefKind::PingSock: return "ping";
	case RefKind::NsQuitInotify: return "nsquit-inotify";
	case RefKind::NsQuitTimer: return "nsquit-timer";
	case RefKind::Signal: return "signal";
	case RefKind::ControlListen: return "control-listen";
	case RefKind::ControlConn: return "control";
	case RefKind::RepairListen: return "repair-listen";
	case RefKind::RepairConn: return "repair";
	case RefKind::Count: break;
	}
	return "invalid";
}

int EventLoop::init() {
	int fd = epoll_create1(EPOLL_CLOEXEC);
	if (fd < 0)
		return -errno;
	epfd_.reset(fd);
	running_ = true;
	return 0;
}

void EventLoop::set_handler(RefKind kind, Handler fn, void *ctx) {
	if (size_t(kind) >= size_t(RefKind::Count))
		return;
	handlers_[size_t(kind)] = Slot{fn, ctx};
}

int EventLoop::ctl(int op, int fd, uint32_t events, EpollRef ref) {
	if (fd < 0 || fd > EpollRef::FD_MAX)
		return -EINVAL;
	if (op != EPOLL_CTL_DEL && (ref.kind == RefKind::None || ref.kind >= RefKind::Count))
		return -EINVAL;
	ref.fd = fd;
	epoll_event ev{};
	ev.events = events;
	ev.data.u64 = ref.pack();
	if (epoll_ctl(epfd_.get(), op, fd, &ev) < 0)
		return -errno;
	return 0;
}

int EventLoop::add(int fd, uint32_t events, EpollRef ref) {
	return ctl(EPOLL_CTL_ADD, fd, events, ref);
}

int EventLoop::modify(int fd, uint32_t events, EpollRef ref) {
	return ctl(EPOLL_CTL_MOD, fd, events, ref);
}

int EventLoop::remove(int fd) {
	for (int j = batch_pos_ + 1; j < batch_n_; j++)
		if (EpollRef::unpack(events_[j].data.u64).fd == fd)
			events_[j].events = 0; // cancelled: run_once() skips it
	return ctl(EPOLL_CTL_DEL, fd, 0, EpollRef{});
}

void EventLoop::dispatch(const epoll_event &ev, const timespec &now) {
	EpollRef ref = EpollRef::unpack(ev.data.u64);
	size_t k = size_t(ref.kind);
	if (k < size_t(RefKind::Count))
		counts_[k]++;
	if (k < size_t(RefKind::Count) && handlers_[k].fn) {
		handlers_[k].fn(handlers_[k].ctx, ref, ev.events, now);
		return;
	}
	warn_rl("epoll: event 0x%x for fd %d of kind %s (%u) with no handler, removing", ev.events,
		ref.fd, ref_kind_name(ref.kind), unsigned(k));
	epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, ref.fd, nullptr);
}

int EventLoop::run_once(int timeout_ms) {
	timespec now = now_monotonic();
	int t = timers_.next_timeout_ms(now);
	if (t >= 0 && (timeout_ms < 0 || t < timeout_ms))
		timeout_ms = t;

	int n = epoll_wait(epfd_.get(), events_, MAX_EVENTS, timeout_ms);
	if (n < 0) {
		if (errno != EINTR)
			return -errno;
		n = 0;
	}

	now = now_monotonic();
	batch_n_ = n;
	for (batch_pos_ = 0; batch_pos_ < n; batch_pos_++)
		if (events_[batch_pos_].events)
			dispatch(events_[batch_pos_], now);
	batch_n_ = batch_pos_ = 0;
	timers_.run_due(now);
	return n;
}

int EventLoop::run() {
	while (running_) {
		int rc = run_once(-1);
		if (rc < 0)
			return rc;
	}
	return 0;
}

} // namespace passt
