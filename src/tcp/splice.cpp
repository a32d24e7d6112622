// pasta's loopback bypass for TCP.
//
// Theory of operation
// -------------------
// A connection between the namespace's loopback and the host's loopback
// needs no translation at all: both ends are sockets of the local kernel.
// We hold two sockets, one in each network namespace (a socket keeps the
// namespace it was created in, so the namespace one comes from the socket
// helper of host/ns.h), and move bytes between them with splice(2) through
// one pipe per direction: socket -> pipe -> socket, pages handed over by
// reference (SPLICE_F_MOVE), no copy through user space, no frames.
//
// Opening. Outbound (-T PORT): tcp_splice_init() opens listeners inside
// the namespace on 127.0.0.1:PORT and [::1]:PORT. With "-T auto" they
// follow the TCP ports bound on the host's loopback or any-address instead
// (scanned by fwd/portscan.cpp, applied by tcp_splice_listen_sync() with
// the walk, policy and slots shared in fwd/listeners.cpp): a
// listener's slot, its EpollRef index, never moves, and a flow keeps
// nothing of its listener, so closing one leaves established connections
// alone. Ports we listen on ourselves (the -t listeners on the host, these
// in the namespace) are masked out of the scans by fwd/auto.cpp, or the two
// directions would forward each other's listeners. A connection accepted
// there gets a host socket connect()ing, non-blocking, to the host's
// loopback of the same family at the target port. Inbound (-t PORT): the
// tap path's listener hands us a connection accepted from a loopback
// source, unless --no-splice (tcp_splice_from_host()); we connect a socket
// created in the namespace to the target port of the namespace's own
// address, so that what listens only on its loopback stays out of reach as
// it would from outside, or with --host-lo-to-ns-lo of its loopback
// (fwd_splice_ns_target() in fwd/nat.h). Either way the
// accepted socket is side 0 and the connecting one side 1. Until the
// connect completes (EPOLLOUT on side 1) nothing is read from side 0; a
// failed connect (nothing listening: ECONNREFUSED) closes the accepted
// socket with SO_LINGER 0, so its client sees a reset: its own connect
// already succeeded when the kernel accepted it.
//
// Data. Direction d moves sock[d] -> pipe[d] -> sock[!d]; pending[d] counts
// the bytes in the pipe. Both splice() calls are non-blocking: reading
// stops on EAGAIN (no data, or the pipe is full), writing on EAGAIN means
// the destination's send buffer is full: the direction is then "blocked",
// EPOLLIN on the source is masked and EPOLLOUT armed on the destination,
// whose wake-up resumes the direction. So a slow reader throttles its
// writer through the kernel's own buffers plus one pipe, and nothing is
// buffered by us. Pipes start at the kernel's default size; a direction
// that fills its pipe gets it enlarged to SPLICE_PIPE_SIZE with
// F_SETPIPE_SZ (kept as it is when the kernel refuses: pipe-user-pages
// limits), so bulk transfers move large chunks per call while idle
// connections don't use up the user's pipe allowance.
// A handler pass is bounded (a few rounds per event): epoll is
// level-triggered, so a busy direction is simply called again.
//
// Closing. EOF on sock[d] (splice returns 0) once pipe[d] is empty becomes
// shutdown(sock[!d], SHUT_WR): half-closes are passed on in both
// directions independently. When both directions are shut down the flow is
// closed (plain close). A socket error (EPOLLERR, ECONNRESET, EPIPE from
// splice) resets the flow: both sockets are closed with SO_LINGER 0, so
// that the peer of each sees a reset as well. A socket that has both seen
// EOF and been shut down for writing is taken out of epoll (its EPOLLHUP
// can't be masked) while the other direction drains.
//
// Flows. A spliced connection is a FlowType::TcpSplice flow (not hashed:
// no frame ever looks it up); its guest side describes the namespace
// socket, its host side the host socket. EpollRef.index is flow << 1 | side
// for the connection's sockets and SPLICE_LISTENER_BIT | listener for the
// -T listeners.
//
// Timers. Both ends are local sockets, so a peer that goes away resets or
// closes and we see it; what no event ends is a peer that simply stays: a
// connection half-closed by one side whose other side never closes, or one
// left idle for hours, would hold its two sockets and four pipe ends
// forever. tcp_splice_timer() (once a second, while spliced flows exist) resets a flow whose connect
// is still pending after the handshake timeout, a half-closed one idle for
// the FIN timeout and any one idle for the idle timeout: the tap path's
// values (tcp.h). Every event on a flow's sockets counts as activity.
//
// #syscalls:pasta accept4 bind close connect fcntl getsockopt listen pipe2
// #syscalls:pasta setsockopt shutdown socket splice
#include "passt/tcp/splice.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "passt/core/log.h"
#include "passt/core/util.h"
#include "passt/fwd/listeners.h"
#include "passt/net/byteorder.h"
#include "passt/net/sockaddr.h"

namespace passt {

namespace {

constexpr uint32_t EV_NONE = UINT32_MAX; // socket not in the epoll set
constexpr size_t SPLICE_LEN = size_t(SPLICE_PIPE_SIZE);
constexpr int ROUNDS = 8; // read/write rounds per direction and event

uint8_t eof_bit(unsigned d) { return d ? splf::eof1 : splf::eof0; }
uint8_t shut_bit(unsigned d) { return d ? splf::shut1 : splf::shut0; }
uint8_t blocked_bit(unsigned d) { return d ? splf::blocked1 : splf::blocked0; }

// Close with SO_LINGER 0: the peer gets an RST, not a FIN.
void close_reset(int fd) {
	if (fd < 0)
		return;
	linger lg{1, 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

// Register or update sock[s] for ev. A socket out of epoll (EPOLLHUP, see
// the handler) stays out while it wants nothing, unless forced (new flow).
void set_events(SpliceCtx &ctx, uint32_t idx, SpliceFlow &t, unsigned s, uint32_t ev,
		bool force = false) {
	if (t.events[s] == ev || (t.events[s] == EV_NONE && !ev && !force))
		return;
	EpollRef ref{RefKind::TcpSplice, t.sock[s], idx << 1 | s};
	int rc = t.events[s] == EV_NONE ? ctx.loop.add(t.sock[s], ev, ref)
					: ctx.loop.modify(t.sock[s], ev, ref);
	if (rc == 0)
		t.events[s] = ev;
	else
		debug_rl("TCP splice: flow %u: epoll_ctl: %s", idx, strerror(-rc));
}

void flow_close(SpliceCtx &ctx, uint32_t idx, bool reset) {
	Flow *f = ctx.flows.get(idx, FlowType::TcpSplice);
	if (!f)
		return;
	SpliceFlow &t = f->state<SpliceFlow>();
	for (unsigned s = 0; s < 2; s++) {
		if (t.sock[s] < 0)
			continue;
		if (t.events[s] != EV_NONE)
			ctx.loop.remove(t.sock[s]);
		if (reset)
			close_reset(t.sock[s]);
		else
			close(t.sock[s]);
		t.sock[s] = -1;
	}
	for (auto &p : t.pipe)
		for (int &fd : p) {
			if (fd >= 0)
				close(fd);
			fd = -1;
		}
	if (reset)
		ctx.stats.resets++;
	debug_rl("TCP splice: flow %u: %s", idx, reset ? "reset" : "closed");
	ctx.flows.free(idx);
}

void grow_pipe(SpliceFlow &t, unsigned d);

// Move what can be moved in direction d. False if the flow was reset.
bool move(SpliceCtx &ctx, uint32_t idx, SpliceFlow &t, unsigned d) {
	const int src = t.sock[d], dst = t.sock[!d];
	const unsigned flags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
	for (int round = 0; round < ROUNDS; round++) {
		bool progress = false;
		if (!(t.flags & eof_bit(d))) {
			ssize_t n = splice(src, nullptr, t.pipe[d][1], nullptr, SPLICE_LEN, flags);
			if (n > 0) {
				t.pending[d] += uint32_t(n);
				progress = true;
				if (t.pending[d] >= (t.pipe_size[d] & ~SPLICE_PIPE_FIXED))
					grow_pipe(t, d);
			} else if (n == 0) {
				t.flags |= eof_bit(d);
			} else if (errno != EAGAIN && errno != EINTR) {
				debug_rl("TCP splice: flow %u: reading side %u: %s", idx, d,
					 strerror(errno));
				flow_close(ctx, idx, true);
				return false;
			}
		}
		if (t.pending[d]) {
			ssize_t m =
				splice(t.pipe[d][0], nullptr, dst, nullptr, t.pending[d], flags);
			if (m > 0) {
				t.pending[d] -= uint32_t(m);
				ctx.stats.bytes[d] += uint64_t(m);
				progress = true;
			} else if (m < 0 && errno == EAGAIN) {
				t.flags |= blocked_bit(d);
				break;
			} else if (m < 0 && errno != EINTR) {
				debug_rl("TCP splice: flow %u: writing side %u: %s", idx, !d,
					 strerror(errno));
				flow_close(ctx, idx, true);
				return false;
			}
		}
		if (!progress)
			break;
	}
	// Data left in the pipe with the round budget spent: let the
	// destination's EPOLLOUT call us again.
	if (t.pending[d])
		t.flags |= blocked_bit(d);
	if ((t.flags & eof_bit(d)) && !t.pending[d] && !(t.flags & shut_bit(d))) {
		shutdown(dst, SHUT_WR);
		t.flags |= shut_bit(d);
	}
	return true;
}

// After moving data: events, sockets done with, flow done. False if closed.
bool update(SpliceCtx &ctx, uint32_t idx, SpliceFlow &t) {
	if ((t.flags & splf::shut0) && (t.flags & splf::shut1)) {
		flow_close(ctx, idx, false);
		return false;
	}
	for (unsigned s = 0; s < 2; s++) {
		// Read to EOF and shut down for writing: nothing more to do with
		// it, and its EPOLLHUP would fire forever.
		if ((t.flags & eof_bit(s)) && (t.flags & shut_bit(!s))) {
			if (t.events[s] != EV_NONE) {
				ctx.loop.remove(t.sock[s]);
				t.events[s] = EV_NONE;
			}
			continue;
		}
		set_events(ctx, idx, t, s, tcp_splice_events(t, s));
	}
	return true;
}

// Pipes for both directions, of the kernel's default size. 0 or -errno.
int open_pipes(SpliceFlow &t) {
	for (unsigned d = 0; d < 2; d++) {
		if (pipe2(t.pipe[d], O_NONBLOCK | O_CLOEXEC) < 0)
			return -errno;
		int size = fcntl(t.pipe[d][0], F_GETPIPE_SZ);
		t.pipe_size[d] = size > 0 ? uint32_t(size) : SPLICE_PIPE_FIXED;
	}
	return 0;
}

// Direction d filled its pipe: enlarge it to SPLICE_PIPE_SIZE, once. Idle
// and interactive connections keep small pipes, so that many of them fit
// in the user's pipe allowance (fs.pipe-user-pages-soft), past which the
// kernel gives new pipes a single page or two.
void grow_pipe(SpliceFlow &t, unsigned d) {
	if (t.pipe_size[d] & SPLICE_PIPE_FIXED || t.pipe_size[d] >= uint32_t(SPLICE_PIPE_SIZE))
		return;
	int size = fcntl(t.pipe[d][0], F_SETPIPE_SZ, SPLICE_PIPE_SIZE);
	if (size < 0) {
		trace_rl("TCP splice: F_SETPIPE_SZ: %s", strerror(errno));
		t.pipe_size[d] |= SPLICE_PIPE_FIXED;
		return;
	}
	t.pipe_size[d] = uint32_t(size);
}

void sock_setup(int fd) {
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// Connect fd to addr:port. 1: connected, 0: in progress, -errno.
int connect_to(int fd, const InAny &addr, uint16_t port) {
	SockAddr sa;
	socklen_t l = sockaddr_from(sa, addr, port);
	if (connect(fd, &sa.sa, l) == 0)
		return 1;
	if (errno == EINPROGRESS || errno == EINTR)
		return 0;
	return -errno;
}

// A connection accepted by a -T listener inside the namespace.
void conn_from_ns(SpliceCtx &ctx, const SpliceListener &l, int fd, const timespec &now) {
	int hs = socket(l.v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			IPPROTO_TCP);
	if (hs < 0) {
		debug_rl("TCP splice: socket: %s", strerror(errno));
		close_reset(fd);
		return;
	}
	sock_setup(hs);
	int rc = connect_to(hs, l.v6 ? InAny(Ipv6Addr::loopback()) : InAny(Ipv4Addr::loopback()),
			    l.target);
	if (rc < 0) {
		debug_rl("TCP splice: connecting to host port %u: %s", l.target, strerror(-rc));
		close_reset(fd);
		close(hs);
		ctx.stats.resets++;
		return;
	}
	uint32_t idx = tcp_splice_join(ctx, fd, hs, rc == 0, false, now);
	if (idx != FLOW_NONE) {
		ctx.stats.conns_out++;
		debug_rl("TCP splice: flow %u: namespace port %u -> host port %u", idx, l.port,
			 l.target);
	}
}

void listen_accept(SpliceCtx &ctx, uint32_t li, const timespec &now) {
	if (li >= ctx.listeners.size())
		return;
	for (int i = 0; i < 64; i++) {
		int fd = accept4(ctx.listeners[li].fd, nullptr, nullptr,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (accept_out_of_fds(errno)) {
				warn_rl("TCP splice: accept: %s: pausing the listener for %u ms",
					strerror(errno), ACCEPT_PAUSE_MS);
				ctx.accept_pause.pause(
					ctx.loop, ctx.listeners, li,
					EpollRef{RefKind::TcpSplice, ctx.listeners[li].fd,
						 SPLICE_LISTENER_BIT | li},
					int64_t(now.tv_sec) * 1000000000 + now.tv_nsec);
			} else if (errno != EAGAIN && errno != EWOULDBLOCK) {
				warn_rl("TCP splice: accept: %s", strerror(errno));
			}
			return;
		}
		conn_from_ns(ctx, ctx.listeners[li], fd, now);
	}
}

} // namespace

void tcp_splice_resume_listeners(SpliceCtx &ctx, const timespec &now) {
	ctx.accept_pause.resume_due(ctx.loop, ctx.listeners,
				    EpollRef{RefKind::TcpSplice, -1, SPLICE_LISTENER_BIT},
				    int64_t(now.tv_sec) * 1000000000 + now.tv_nsec);
}

namespace {

// One listener in the namespace on addr:port (or the loopback; always the
// loopback unless an address is given, for scanning rules), in a free slot
// if there is one. -errno.
int listen_one(SpliceCtx &ctx, const PortRule &r, uint32_t ri, uint16_t port, bool v6) {
	int fd = ns_socket_helper_socket(ctx.helper, v6 ? AF_INET6 : AF_INET,
					 SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	return fwd_listen_open(ctx.c, fd, r, port, v6, true, true, [&](int s) {
		EpollRef ref{RefKind::TcpSplice, s, SPLICE_LISTENER_BIT};
		return ctx.listeners.add_polled(ctx.loop, ref, fwd_listener(s, r, ri, port, v6));
	});
}

// Close listener i and free its slot; accepted connections stay.
void listen_close(SpliceCtx &ctx, uint32_t i) { ctx.listeners.close_polled(ctx.loop, i); }

constexpr FwdListenNames NAMES{"TCP splice", "listener", "listen on", true};

void trampoline(void *c, EpollRef ref, uint32_t ev, const timespec &now) {
	tcp_splice_handler(*static_cast<SpliceCtx *>(c), ref, ev, now);
}

} // namespace

uint32_t tcp_splice_events(const SpliceFlow &t, unsigned s) {
	s &= 1;
	if (t.flags & splf::connecting)
		return s == 1 ? uint32_t(EPOLLOUT) : 0;
	uint32_t ev = 0;
	if (!(t.flags & eof_bit(s)) && !(t.flags & blocked_bit(s)))
		ev |= EPOLLIN;
	if (t.flags & blocked_bit(!s))
		ev |= EPOLLOUT;
	return ev;
}

uint32_t tcp_splice_join(SpliceCtx &ctx, int accepted, int connected, bool connecting, bool inbound,
			 const timespec &now) {
	auto idx = ctx.flows.alloc(FlowType::TcpSplice, now);
	if (!idx) {
		debug_rl("TCP splice: flow table full, resetting connection");
		close_reset(accepted);
		close(connected);
		return FLOW_NONE;
	}
	Flow &f = *ctx.flows.get(*idx);
	SpliceFlow &t = f.init_state<SpliceFlow>();
	t.sock[0] = accepted;
	t.sock[1] = connected;
	t.events[0] = t.events[1] = EV_NONE;
	t.inbound = inbound;
	if (connecting)
		t.flags |= splf::connecting;
	// Guest side: the namespace's socket.
	flowside_from_socket(inbound ? connected : accepted, f.guest());
	flowside_from_socket(inbound ? accepted : connected, f.host());
	if (int rc = open_pipes(t); rc < 0) {
		debug_rl("TCP splice: pipe: %s", strerror(-rc));
		flow_close(ctx, *idx, true);
		return FLOW_NONE;
	}
	for (unsigned s = 0; s < 2; s++) {
		set_events(ctx, *idx, t, s, tcp_splice_events(t, s), true);
		if (t.events[s] == EV_NONE) {
			flow_close(ctx, *idx, true);
			return FLOW_NONE;
		}
	}
	return *idx;
}

void tcp_splice_timer(SpliceCtx &ctx, const timespec &now) {
	ctx.flows.for_each([&](uint32_t i, Flow &f) {
		if (f.type != FlowType::TcpSplice)
			return;
		const SpliceFlow &t = f.state<SpliceFlow>();
		int64_t idle_ms = timespec_diff_ns(now, f.last_active) / NS_PER_MS;
		const char *why = nullptr;
		if ((t.flags & splf::connecting) && idle_ms >= TCP_HANDSHAKE_TIMEOUT_MS)
			why = "connect timed out";
		else if ((t.flags & (splf::eof0 | splf::eof1)) && idle_ms >= TCP_FIN_TIMEOUT_MS)
			why = "half-closed, idle";
		else if (idle_ms >= TCP_IDLE_TIMEOUT_MS)
			why = "idle";
		if (!why)
			return;
		debug_rl("TCP splice: flow %u: %s: resetting", i, why);
		flow_close(ctx, i, true);
	});
}

int tcp_splice_init(SpliceCtx &ctx) {
	ctx.loop.set_handler(RefKind::TcpSplice, trampoline, &ctx);
	// Armed only while there are spliced flows (see timer.h).
	ctx.timer = ctx.loop.timers().add(
		"tcp-splice", SPLICE_TIMER_INTERVAL_MS,
		[](void *p, const timespec &now) {
			SpliceCtx &s = *static_cast<SpliceCtx *>(p);
			tcp_splice_timer(s, now);
			if (!s.flows.in_use(FlowType::TcpSplice))
				s.loop.timers().disarm(s.timer);
		},
		&ctx);
	if (ctx.timer < 0)
		return -ENOSPC;
	ctx.loop.timers().disarm(ctx.timer);
	ctx.flows.bind_timer(FlowType::TcpSplice, ctx.loop.timers(), ctx.timer);
	return fwd_listen_open_rules(ctx, ctx.c.tcp_out, NAMES, fwd_listen_budget(4), listen_one);
}

void tcp_splice_fini(SpliceCtx &ctx) {
	ctx.flows.for_each([&](uint32_t i, Flow &f) {
		if (f.type == FlowType::TcpSplice)
			flow_close(ctx, i, true);
	});
	ctx.listeners.close_all(ctx.loop);
}

int tcp_splice_listen_sync(SpliceCtx &ctx, const PortBitmap &want) {
	if (ctx.c.no_tcp)
		return 0;
	return fwd_listen_sync(ctx, ctx.c.tcp_out, want, NAMES, listen_one, listen_close);
}

int tcp_splice_listen_resync(SpliceCtx &ctx, const PortForward &old, FwdChangeLog &log) {
	if (ctx.c.no_tcp)
		return 0;
	return fwd_listen_resync(
		ctx, old, ctx.c.tcp_out, NAMES, listen_one, listen_close,
		+[](SpliceCtx &x, uint32_t i, uint32_t ri) { x.listeners[i].rule = ri; },
		[&](const PortRule &r, uint16_t p, bool v6, int rc) {
			fwd_change_log_failed(log, NAMES, r, p, v6, rc);
		});
}

bool tcp_splice_from_host(SpliceCtx &ctx, int fd, const InAny &target, uint16_t target_port,
			  const timespec &now) {
	const bool v6 = !target.is_v4();
	int ns = ns_socket_helper_socket(ctx.helper, v6 ? AF_INET6 : AF_INET,
					 SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (ns < 0) {
		debug_rl("TCP splice: socket in the namespace: %s", strerror(-ns));
		close_reset(fd);
		ctx.stats.resets++;
		return false;
	}
	sock_setup(fd);
	sock_setup(ns);
	int rc = connect_to(ns, target, target_port);
	if (rc < 0) {
		debug_rl("TCP splice: connecting to namespace %s port %u: %s",
			 target.text().c_str(), target_port, strerror(-rc));
		close_reset(fd);
		close(ns);
		ctx.stats.resets++;
		return false;
	}
	uint32_t idx = tcp_splice_join(ctx, fd, ns, rc == 0, true, now);
	if (idx == FLOW_NONE)
		return false;
	ctx.stats.conns_in++;
	debug_rl("TCP splice: flow %u: host -> namespace %s port %u", idx, target.text().c_str(),
		 target_port);
	return true;
}

void tcp_splice_handler(SpliceCtx &ctx, EpollRef ref, uint32_t events, const timespec &now) {
	if (ref.index & SPLICE_LISTENER_BIT) {
		uint32_t li = ref.index & ~SPLICE_LISTENER_BIT;
		if (li < ctx.listeners.size() && ctx.listeners[li].fd == ref.fd)
			listen_accept(ctx, li, now);
		return;
	}
	const uint32_t idx = ref.index >> 1;
	const unsigned s = ref.index & 1;
	Flow *f = ctx.flows.get(idx, FlowType::TcpSplice);
	if (!f || f->state<SpliceFlow>().sock[s] != ref.fd) {
		debug_rl("TCP splice: event for stale socket %d (flow %u)", ref.fd, idx);
		return;
	}
	SpliceFlow &t = f->state<SpliceFlow>();
	ctx.flows.touch(idx, now);

	if (t.flags & splf::connecting) {
		if (s == 0) {
			// The accepted side went away before we got through.
			if (events & (EPOLLERR | EPOLLHUP))
				flow_close(ctx, idx, true);
			return;
		}
		int e = 0;
		socklen_t sl = sizeof(e);
		if (getsockopt(t.sock[1], SOL_SOCKET, SO_ERROR, &e, &sl) < 0)
			e = errno;
		if (e || (events & (EPOLLERR | EPOLLHUP))) {
			debug_rl("TCP splice: flow %u: connect: %s", idx,
				 strerror(e ? e : ECONNRESET));
			flow_close(ctx, idx, true);
			return;
		}
		t.flags &= uint8_t(~splf::connecting);
		flowside_from_socket(t.sock[1], t.inbound ? f->guest() : f->host());
		if (!move(ctx, idx, t, 0) || !move(ctx, idx, t, 1))
			return;
		update(ctx, idx, t);
		return;
	}

	if (events & EPOLLERR) {
		int e = 0;
		socklen_t sl = sizeof(e);
		getsockopt(t.sock[s], SOL_SOCKET, SO_ERROR, &e, &sl);
		debug_rl("TCP splice: flow %u: socket error on side %u: %s", idx, s, strerror(e));
		flow_close(ctx, idx, true);
		return;
	}
	if ((events & EPOLLOUT) && (t.flags & blocked_bit(!s))) {
		t.flags &= uint8_t(~blocked_bit(!s));
		if (!move(ctx, idx, t, !s))
			return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) {
		if (!move(ctx, idx, t, s))
			return;
	}
	if (!update(ctx, idx, t))
		return;
	// EPOLLHUP can't be masked: a socket that wants no input now (its
	// direction is blocked) leaves epoll until the direction resumes.
	if ((events & EPOLLHUP) && t.events[s] != EV_NONE && !(tcp_splice_events(t, s) & EPOLLIN) &&
	    !(t.flags & blocked_bit(!s))) {
		ctx.loop.remove(t.sock[s]);
		t.events[s] = EV_NONE;
	}
}

} // namespace passt
