// pasta's loopback bypass for UDP. The theory of operation is at the top of
// include/passt/udp/udp_splice.h: flows, sockets in each namespace, batching.
//
// #syscalls:pasta bind close connect getsockopt sendmmsg setsockopt socket
#include "passt/udp/udp_splice.h"

#include <cerrno>
#include <cstring>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "passt/core/log.h"
#include "passt/core/util.h"
#include "passt/fwd/listeners.h"
#include "passt/net/byteorder.h"
#include "passt/net/recv_batch.h"
#include "passt/net/sockaddr.h"
#include "passt/udp/udp.h"

namespace passt {

namespace {

// Datagrams per recvmmsg()/sendmmsg() call, and receive calls per wake-up
// (level-triggered: whatever is left wakes us again).
constexpr int BATCH = 32;
constexpr int ROUNDS = 8;
// A slot holds the largest datagram loopback can carry (65535 - 8).
constexpr size_t SLOT = 65536;

RecvBatch<BATCH, SLOT> rx;

// One run of datagrams leaving through the same socket.
mmsghdr tx_msgs[BATCH];
iovec tx_iov[BATCH];

// Datagrams queued by udp_splice_from_host(), all for q_fd.
mmsghdr q_msgs[BATCH];
iovec q_iov[BATCH];
int q_fd = -1;
unsigned q_len = 0;

// Read and log a pending asynchronous error (ICMP port unreachable, ...).
void drain_error(int fd, uint32_t idx) {
	int e = 0;
	socklen_t sl = sizeof(e);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) == 0 && e)
		debug_rl("UDP splice: flow %u: socket error: %s", idx, strerror(e));
}

// Send msgs[0 .. n) on fd with as few sendmmsg() calls as the kernel lets
// us. A full send buffer drops the rest; a pending asynchronous error fails
// one call without sending (then we go on); another error drops the
// datagram it happened on. Returns how many were sent.
unsigned send_batch(UdpSpliceCtx &ctx, int fd, mmsghdr *msgs, unsigned n) {
	unsigned done = 0, sent = 0, errors = 0;
	while (done < n && errors <= n) {
		int r = sendmmsg(fd, msgs + done, n - done, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r > 0) {
			done += unsigned(r);
			sent += unsigned(r);
			continue;
		}
		int e = r < 0 ? errno : EIO;
		errors++;
		if (e == EINTR || e == ECONNREFUSED)
			continue;
		if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) {
			debug_rl("UDP splice: socket buffer full, dropping %u datagrams", n - done);
			break;
		}
		debug_rl("UDP splice: send: %s", strerror(e));
		done++;
	}
	ctx.stats.send_failed += n - sent;
	return sent;
}

// Register the flow's own socket and hash side s. False: flow freed.
bool flow_register(UdpSpliceCtx &ctx, uint32_t idx, FlowSideIdx s) {
	UdpSpliceFlow &u = ctx.flows.get(idx)->state<UdpSpliceFlow>();
	EpollRef ref{RefKind::UdpSock, u.sock, idx};
	int rc = ctx.loop.add(u.sock, EPOLLIN, ref);
	if (rc < 0 || !ctx.flows.hash_insert(idx, s)) {
		debug_rl("UDP splice: can't register flow socket: %s",
			 rc < 0 ? strerror(-rc) : "hash");
		if (rc == 0)
			ctx.loop.remove(u.sock);
		close(u.sock);
		ctx.flows.free(idx);
		ctx.stats.unforwardable++;
		return false;
	}
	ctx.stats.flows_opened++;
	return true;
}

// First datagram of a namespace peer to a -U socket: a host socket
// connected to the host's loopback at the target port. g: the flow's
// namespace side (the peer, and the -U socket's address and port).
std::optional<uint32_t> outbound_new(UdpSpliceCtx &ctx, const UdpSpliceListener &l,
				     const FlowSide &g, const timespec &now) {
	int fd = socket(l.v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			IPPROTO_UDP);
	if (fd < 0) {
		ctx.stats.unforwardable++;
		debug_rl("UDP splice: socket: %s", strerror(errno));
		return std::nullopt;
	}
	SockAddr sa;
	socklen_t sl = sockaddr_loopback(sa, l.v6, l.target);
	if (connect(fd, &sa.sa, sl) < 0) {
		ctx.stats.unforwardable++;
		debug_rl("UDP splice: connect to host port %u: %s", l.target, strerror(errno));
		close(fd);
		return std::nullopt;
	}
	auto idx = ctx.flows.alloc(FlowType::UdpSplice, now);
	if (!idx) {
		ctx.stats.unforwardable++;
		debug_rl("UDP splice: flow table full, dropping datagram");
		close(fd);
		return std::nullopt;
	}
	Flow &f = *ctx.flows.get(*idx);
	f.guest() = g;
	flowside_from_socket(fd, f.host());
	UdpSpliceFlow &u = f.init_state<UdpSpliceFlow>();
	u.sock = fd;
	u.reply_sock = l.fd;
	u.inbound = 0;
	if (!flow_register(ctx, *idx, FlowSideIdx::Guest))
		return std::nullopt;
	debug_rl("UDP splice: flow %u: namespace %s:%u -> port %u, host port %u", *idx,
		 g.peer_addr.text().c_str(), g.peer_port, l.port, l.target);
	return idx;
}

// Datagrams from namespace peers on -U socket li: each to its flow's host
// socket, consecutive ones of a flow with one sendmmsg().
void listener_input(UdpSpliceCtx &ctx, uint32_t li, const timespec &now) {
	const UdpSpliceListener l = ctx.listeners[li];
	for (int round = 0; round < ROUNDS; round++) {
		int n = rx.recv(l.fd, 0, SLOT, true);
		if (n < 0) {
			debug_rl("UDP splice: namespace port %u: recv: %s", l.port, strerror(-n));
			continue;
		}
		int run_fd = -1;
		unsigned run = 0;
		for (int i = 0; i < n; i++) {
			if (rx.truncated(i)) {
				ctx.stats.truncated++;
				continue;
			}
			FlowSide g;
			if (!sockaddr_to(rx.names[i], g.peer_addr, g.peer_port))
				continue;
			g.our_addr = l.addr;
			g.our_port = l.port;
			auto idx = ctx.flows.lookup(FlowType::UdpSplice, FlowSideIdx::Guest, g);
			if (!idx)
				idx = outbound_new(ctx, l, g, now);
			if (!idx)
				continue;
			Flow &f = *ctx.flows.get(*idx);
			UdpSpliceFlow &u = f.state<UdpSpliceFlow>();
			if (u.sock != run_fd && run) {
				send_batch(ctx, run_fd, tx_msgs, run);
				run = 0;
			}
			run_fd = u.sock;
			tx_iov[run].iov_base = rx.buf[i];
			tx_iov[run].iov_len = rx.len(i);
			tx_msgs[run].msg_hdr = msghdr{};
			tx_msgs[run].msg_hdr.msg_iov = &tx_iov[run];
			tx_msgs[run].msg_hdr.msg_iovlen = 1;
			run++;
			u.fwd++;
			ctx.stats.fwd++;
			f.last_active = now;
		}
		if (run)
			send_batch(ctx, run_fd, tx_msgs, run);
		if (n < BATCH)
			break;
	}
}

// Replies on a flow's own socket: back to the flow's peer from the
// socket it wrote to, one sendmmsg() per batch.
void flow_input(UdpSpliceCtx &ctx, uint32_t idx, Flow &f, uint32_t events, const timespec &now) {
	UdpSpliceFlow &u = f.state<UdpSpliceFlow>();
	if (events & EPOLLERR)
		drain_error(u.sock, idx);
	const FlowSide &peer_side = u.inbound ? f.host() : f.guest();
	SockAddr to;
	socklen_t tl = sockaddr_from(to, peer_side.peer_addr, peer_side.peer_port);
	for (int round = 0; round < ROUNDS; round++) {
		int n = rx.recv(u.sock, 0, SLOT, false);
		if (n < 0) {
			debug_rl("UDP splice: flow %u: recv: %s", idx, strerror(-n));
			continue;
		}
		unsigned m = 0;
		for (int i = 0; i < n; i++) {
			if (rx.truncated(i)) {
				ctx.stats.truncated++;
				continue;
			}
			tx_iov[m].iov_base = rx.buf[i];
			tx_iov[m].iov_len = rx.len(i);
			msghdr &mh = tx_msgs[m].msg_hdr;
			mh = msghdr{};
			mh.msg_name = &to;
			mh.msg_namelen = tl;
			mh.msg_iov = &tx_iov[m];
			mh.msg_iovlen = 1;
			m++;
		}
		if (m) {
			send_batch(ctx, u.reply_sock, tx_msgs, m);
			u.back += m;
			ctx.stats.back += m;
		}
		if (n > 0)
			f.last_active = now;
		if (n < BATCH)
			break;
	}
}

// One -U socket inside the namespace on the rule's address or the loopback
// of the family (always the loopback for scanning rules), in a free slot if
// there is one. 0 or -errno.
int listen_one(UdpSpliceCtx &ctx, const PortRule &r, uint32_t ri, uint16_t port, bool v6) {
	int fd = ns_socket_helper_socket(ctx.helper, v6 ? AF_INET6 : AF_INET,
					 SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
	bool own_addr = r.bind_addr && !(r.scan && r.bind_addr->is_unspecified());
	return fwd_listen_open(ctx.c, fd, r, port, v6, false, true, [&](int s) {
		UdpSpliceListener li;
		static_cast<FwdListener &>(li) = fwd_listener(s, r, ri, port, v6);
		li.addr =
			own_addr ? *r.bind_addr
				 : (v6 ? InAny(Ipv6Addr::loopback()) : InAny(Ipv4Addr::loopback()));
		EpollRef ref{RefKind::UdpSock, s, UDP_SPLICE_LISTENER_BIT};
		return ctx.listeners.add_polled(ctx.loop, ref, li);
	});
}

// Close -U socket i and free its slot, with the flows replying through it
// (their namespace peers wrote to it); other flows stay.
void listen_close(UdpSpliceCtx &ctx, uint32_t i) {
	UdpSpliceListener &l = ctx.listeners[i];
	if (l.fd < 0)
		return;
	const int fd = l.fd;
	ctx.flows.for_each([&](uint32_t fi, Flow &f) {
		if (f.type == FlowType::UdpSplice && !f.state<UdpSpliceFlow>().inbound &&
		    f.state<UdpSpliceFlow>().reply_sock == fd)
			udp_splice_flow_close(ctx, fi);
	});
	ctx.listeners.close_polled(ctx.loop, i);
}

constexpr FwdListenNames NAMES{"UDP splice", "socket", "bind", true};

void timer_trampoline(void *c, const timespec &now) {
	UdpSpliceCtx &ctx = *static_cast<UdpSpliceCtx *>(c);
	udp_splice_timer(ctx, now);
	if (!ctx.flows.in_use(FlowType::UdpSplice))
		ctx.loop.timers().disarm(ctx.timer);
}

} // namespace

namespace {

// The splice budget is full (flow.h): the oldest spliced UDP flow goes.
bool evict_trampoline(void *c, uint32_t idx) {
	UdpSpliceCtx &ctx = *static_cast<UdpSpliceCtx *>(c);
	if (!ctx.flows.get(idx, FlowType::UdpSplice))
		return false;
	debug_rl("UDP splice: flow %u: evicted for a new flow", idx);
	udp_splice_flow_close(ctx, idx);
	return true;
}

} // namespace

int udp_splice_init(UdpSpliceCtx &ctx) {
	ctx.flows.set_evictor(FlowType::UdpSplice, evict_trampoline, &ctx, true);
	// Armed only while there are flows (see timer.h).
	ctx.timer =
		ctx.loop.timers().add("udp-splice", UDP_TIMER_INTERVAL_MS, timer_trampoline, &ctx);
	if (ctx.timer < 0)
		return -ENOSPC;
	ctx.loop.timers().disarm(ctx.timer);
	ctx.flows.bind_timer(FlowType::UdpSplice, ctx.loop.timers(), ctx.timer);
	int rc = fwd_listen_open_rules(ctx, ctx.c.udp_out, NAMES, fwd_listen_budget(4), listen_one);
	if (rc < 0)
		udp_splice_fini(ctx);
	return rc;
}

void udp_splice_fini(UdpSpliceCtx &ctx) {
	q_len = 0;
	q_fd = -1;
	ctx.flows.for_each([&](uint32_t i, Flow &f) {
		if (f.type == FlowType::UdpSplice)
			udp_splice_flow_close(ctx, i);
	});
	ctx.listeners.close_all(ctx.loop); // their flows are gone already
}

int udp_splice_listen_sync(UdpSpliceCtx &ctx, const PortBitmap &want) {
	if (ctx.c.no_udp)
		return 0;
	return fwd_listen_sync(ctx, ctx.c.udp_out, want, NAMES, listen_one, listen_close);
}

int udp_splice_listen_resync(UdpSpliceCtx &ctx, const PortForward &old, FwdChangeLog &log) {
	if (ctx.c.no_udp)
		return 0;
	return fwd_listen_resync(
		ctx, old, ctx.c.udp_out, NAMES, listen_one, listen_close,
		+[](UdpSpliceCtx &x, uint32_t i, uint32_t ri) { x.listeners[i].rule = ri; },
		[&](const PortRule &r, uint16_t p, bool v6, int rc) {
			fwd_change_log_failed(log, NAMES, r, p, v6, rc);
		});
}

void udp_splice_handler(UdpSpliceCtx &ctx, EpollRef ref, uint32_t events, const timespec &now) {
	if (ref.index & UDP_SPLICE_LISTENER_BIT) {
		uint32_t li = ref.index & ~UDP_SPLICE_LISTENER_BIT;
		if (li >= ctx.listeners.size() || ctx.listeners[li].fd != ref.fd)
			return;
		if (events & EPOLLERR)
			drain_error(ref.fd, li);
		listener_input(ctx, li, now);
		return;
	}
	Flow *f = ctx.flows.get(ref.index, FlowType::UdpSplice);
	if (!f || f->state<UdpSpliceFlow>().sock != ref.fd) {
		debug_rl("UDP splice: event for stale socket %d (flow %u)", ref.fd, ref.index);
		return;
	}
	flow_input(ctx, ref.index, *f, events, now);
}

bool udp_splice_from_host(UdpSpliceCtx &ctx, int listen_fd, const InAny &bound_addr, uint16_t port,
			  const InAny &peer, uint16_t peer_port, const InAny &target,
			  uint16_t target_port, std::span<const std::byte> payload,
			  const timespec &now) {
	FlowSide h;
	h.peer_addr = peer;
	h.peer_port = peer_port;
	h.our_addr = bound_addr;
	h.our_port = port;
	auto idx = ctx.flows.lookup(FlowType::UdpSplice, FlowSideIdx::Host, h);
	if (!idx) {
		bool v6 = !peer.is_v4();
		int fd = ns_socket_helper_socket(ctx.helper, v6 ? AF_INET6 : AF_INET,
						 SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
						 IPPROTO_UDP);
		if (fd < 0) {
			ctx.stats.unforwardable++;
			debug_rl("UDP splice: socket in the namespace: %s", strerror(-fd));
			return false;
		}
		// The namespace sees the host peer's port, as the C pasta
		// shows it, where that port is free there; else any port.
		SockAddr sa;
		InAny any = v6 ? InAny(Ipv6Addr{}) : InAny(Ipv4Addr{});
		socklen_t sl = sockaddr_from(sa, any, peer_port);
		if (bind(fd, &sa.sa, sl) < 0)
			debug_rl("UDP splice: port %u is taken in the namespace: %s", peer_port,
				 strerror(errno));
		sl = sockaddr_from(sa, target, target_port);
		if (connect(fd, &sa.sa, sl) < 0) {
			ctx.stats.unforwardable++;
			debug_rl("UDP splice: connect to namespace %s port %u: %s",
				 target.text().c_str(), target_port, strerror(errno));
			close(fd);
			return false;
		}
		idx = ctx.flows.alloc(FlowType::UdpSplice, now);
		if (!idx) {
			ctx.stats.unforwardable++;
			debug_rl("UDP splice: flow table full, dropping datagram");
			close(fd);
			return false;
		}
		Flow &nf = *ctx.flows.get(*idx);
		nf.host() = h;
		flowside_from_socket(fd, nf.guest());
		UdpSpliceFlow &nu = nf.init_state<UdpSpliceFlow>();
		nu.sock = fd;
		nu.reply_sock = listen_fd;
		nu.inbound = 1;
		if (!flow_register(ctx, *idx, FlowSideIdx::Host))
			return false;
		debug_rl("UDP splice: flow %u: host %s:%u -> port %u, namespace port %u", *idx,
			 peer.text().c_str(), peer_port, port, target_port);
	}
	Flow &f = *ctx.flows.get(*idx);
	UdpSpliceFlow &u = f.state<UdpSpliceFlow>();
	if ((q_len && q_fd != u.sock) || q_len == BATCH)
		udp_splice_flush(ctx);
	q_fd = u.sock;
	q_iov[q_len].iov_base = const_cast<std::byte *>(payload.data());
	q_iov[q_len].iov_len = payload.size();
	q_msgs[q_len].msg_hdr = msghdr{};
	q_msgs[q_len].msg_hdr.msg_iov = &q_iov[q_len];
	q_msgs[q_len].msg_hdr.msg_iovlen = 1;
	q_len++;
	u.fwd++;
	ctx.stats.fwd++;
	f.last_active = now;
	return true;
}

void udp_splice_flush(UdpSpliceCtx &ctx) {
	if (q_len && q_fd >= 0)
		send_batch(ctx, q_fd, q_msgs, q_len);
	q_len = 0;
	q_fd = -1;
}

void udp_splice_listener_closed(UdpSpliceCtx &ctx, int listen_fd) {
	udp_splice_flush(ctx);
	ctx.flows.for_each([&](uint32_t i, Flow &f) {
		if (f.type == FlowType::UdpSplice && f.state<UdpSpliceFlow>().inbound &&
		    f.state<UdpSpliceFlow>().reply_sock == listen_fd)
			udp_splice_flow_close(ctx, i);
	});
}

unsigned udp_splice_timer(UdpSpliceCtx &ctx, const timespec &now) {
	unsigned closed = 0;
	ctx.flows.for_each([&](uint32_t i, Flow &f) {
		if (f.type != FlowType::UdpSplice)
			return;
		if (timespec_diff_ns(now, f.last_active) >=
		    int64_t(UDP_FLOW_TIMEOUT_S) * NS_PER_SEC) {
			udp_splice_flow_close(ctx, i);
			ctx.stats.flows_expired++;
			closed++;
		}
	});
	return closed;
}

void udp_splice_flow_close(UdpSpliceCtx &ctx, uint32_t index) {
	Flow *f = ctx.flows.get(index, FlowType::UdpSplice);
	if (!f)
		return;
	UdpSpliceFlow &u = f->state<UdpSpliceFlow>();
	if (u.sock >= 0) {
		if (q_fd == u.sock) {
			q_len = 0;
			q_fd = -1;
		}
		ctx.loop.remove(u.sock);
		close(u.sock);
	}
	debug_rl("UDP splice: flow %u closed (%llu forwarded, %llu back)", index,
		 (unsigned long long)u.fwd, (unsigned long long)u.back);
	ctx.stats.flows_closed++;
	ctx.flows.free(index);
}

} // namespace passt
