// TCP translation on the tap path.
//
// Theory of operation
// -------------------
// We are not a TCP stack. Each TCP connection of the guest is mirrored by
// one host socket, and the host kernel does the real work (congestion
// control, retransmission towards the remote end, buffering). What we do is
// translate: the guest's segments become socket writes, the socket's data
// becomes segments for the guest, and the sequence numbers we show the guest
// are a pure function of what the socket accepted and what it holds.
//
// Flows. A connection is a FlowType::Tcp flow; its guest side (guest
// address/port, destination as the guest addressed it) is hashed for
// lookups of incoming segments, its host side records the socket's peer
// after NAT (fwd.h: the gateway, or --map-host-loopback address, becomes the
// host's loopback). TcpFlow in the flow's state area holds the socket and
// the sequence space towards the guest.
//
// Opening. Outbound: a SYN from the guest creates the flow and starts a
// non-blocking connect(); only when the connect completes (EPOLLOUT, no
// SO_ERROR) does the guest get its SYN-ACK (state Connecting ->
// SynAckSent), so a refused or unreachable destination becomes an RST to
// the guest, as if the guest had talked to the remote end directly (a
// link-local target is scoped to its interface, fwd_scope_id()). The
// guest's ACK makes the flow Established. Inbound (-t): listening sockets
// are opened by tcp_init() for each forwarded port and address family (the
// walk over the rules, its error policy and descriptor budget are shared
// with the other translators in fwd/listeners.cpp); accept() creates the
// flow, and the guest gets a SYN from the mapped source address (a
// loopback source appears as the map-host-loopback address) to its own
// address and the target port (state SynSent); its SYN-ACK makes the flow
// Established, its RST closes the accepted socket with SO_LINGER 0 (the
// host client sees a reset). pasta "-t auto" rules get their listeners from
// tcp_listen_sync(), following the ports bound in the namespace
// (fwd/portscan.cpp, applied by fwd_listen_sync() of fwd/listeners.cpp); a
// listener's slot in TcpCtx::listeners (ListenerSlots, its EpollRef index)
// never moves, and flows keep nothing of the listener after accept(), so
// closing one leaves its connections alone. SYNs carry MSS (from the MTU) and window
// scaling; the guest's MSS and window scale are parsed from its SYN.
//
// Guest -> host. In-sequence payload is written with send(MSG_DONTWAIT);
// rcv_nxt (what we acknowledge to the guest) advances only by what the
// socket accepted, so data the socket refused is simply not acknowledged
// and the guest retransmits it. The window we advertise is the free space
// of the socket's send buffer (SO_SNDBUF - SIOCOUTQ). When it gets small or
// data was refused, EPOLLOUT is armed; once the socket drains we send a
// window update (plus duplicate ACKs if data was refused, so that the guest
// retransmits at once), so the window is never left closed. Segments ahead
// of rcv_nxt (a hole) get a duplicate ACK at once, old ones
// (retransmissions, keepalive probes) a plain ACK. The ACK for in-order
// data waits for the end of the batch of guest frames (the backend's flush
// hook, where it has one): one ACK per flow and batch, not per segment.
// There it may wait longer (delayed ACK, RFC 9293 3.8.6.3): while less than
// two of the guest's full segments are unacknowledged, up to TCP_DELACK_MS
// for a data segment or FIN of ours, which carries it. A request gets no
// pure ACK ahead of its answer then, and a bulk sender is still
// acknowledged every other segment.
//
// Host -> guest. Data is read with MSG_PEEK and stays in the socket until
// the guest acknowledges it: SO_PEEK_OFF (set to 0 on each socket) makes
// each peek continue where the last one stopped, so that peek offset ==
// snd_nxt - snd_una. Without SO_PEEK_OFF, we peek from the start and read
// the bytes already sent into a scratch buffer. Peeked data lands directly
// in a batch buffer of frame slots, behind room for the headers; the frames
// respect the guest's (scaled) window and MSS and go out in one
// send_frames() call; if the backend refuses some, snd_nxt advances only
// over those it took. A backend that reports room (vhost-user: its queue of
// frames waiting for guest buffers is full) makes every flow wait for that
// report (ctx.out_blocked, tcp_out_room()) rather than peek its socket again
// on every host event. With a backend that segments the flow's family
// (TapOutput::tso(): tun with a virtio-net header, vhost-user with the
// guest's GUEST_TSO4/6) a frame carries up to 64 KiB of payload with
// gso_type TCPV4/TCPV6 and gso_size = MSS and a partial checksum: the
// namespace kernel segments it, whatever the MTU. Other frames have full
// checksums.
// A guest ACK discards the acknowledged bytes from the socket (recv with
// MSG_TRUNC, which also moves the peek offset back). Retransmission
// (timeout, or three duplicate ACKs) rewinds: snd_nxt = snd_una and peek
// offset 0; snd_max remembers how far we had got, so that a late ACK for
// data sent before the rewind is still taken.
//
// Closing. A guest FIN (once all its data is written) becomes
// shutdown(SHUT_WR); recv() returning 0 after all data was sent becomes a
// FIN to the guest. The flow is closed when both FINs are through (the
// guest's acknowledged by us, ours by the guest). A guest RST closes the
// socket with SO_LINGER 0 (the host peer gets a reset); ECONNRESET or any
// other socket error becomes an RST to the guest.
//
// Timers. One scan, armed only while there are TCP flows or paused
// listeners (idle: no wake-ups) and then for the earliest deadline of any
// (at most every TCP_TIMER_INTERVAL_MS; tcp_timer.cpp), checks each flow's
// deadline: handshake (TCP_HANDSHAKE_TIMEOUT_MS), retransmission of
// unacknowledged data (TCP_RTO_MS, doubling, RST after TCP_MAX_RETRANS),
// half-closed idle (TCP_FIN_TIMEOUT_MS), and idle (TCP_IDLE_TIMEOUT_MS,
// two hours as Linux keepalive defaults; a guest keepalive probe counts as
// activity and is answered with an ACK).
//
// Floods. Outbound flows are charged to the flow table's TcpOut budget,
// inbound ones to TcpIn (flow.h); a flow is pending until Established. When
// a budget, or the cap on pending connects towards the host, is full, the
// oldest half-open flow is evicted for the new one (flow_evict(): RST to
// the guest, reset host socket); an established flow never is. While more
// than half of that cap is in use, a connect() still in progress times out
// after TCP_SYN_PRESSURE_TIMEOUT_MS instead of the handshake timeout. A
// listener whose accept() runs out of descriptors is left out of epoll for
// ACCEPT_PAUSE_MS (fwd/listeners.h) instead of waking the loop at once,
// over and over, with a rate-limited warning.
//
// Errors. Malformed frames (bad lengths, checksum, fragments, TCP options
// that cannot be walked: TcpRepr::parse()) are dropped.
// (With an offloading backend the TCP checksum was completed by the backend
// itself and is not checked again.)
// A segment that matches no flow gets an RST as RFC 9293 3.10.7.1 says,
// unless it is an RST itself; a SYN that cannot get a flow (table full,
// unforwardable destination, socket failure) gets an RST.
//
// Not done here: the auto (-t auto) port scanning, which belongs to the
// port scanner; pasta's spliced loopback path (splice.cpp: an inbound
// connection from a loopback source is handed over to it, unless
// --no-splice); SACK, timestamps and urgent
// data (the guest is told of neither SACK nor timestamps, and the urgent
// pointer is ignored); zero-window probes towards the guest (a guest that
// closes its window reopens it with a window update, which the tap link
// does not lose). Inbound connections go to the guest's global address
// (last seen, else configured), never to a link-local one.
//
// Files. This one holds the entry points (init, tap input, socket events,
// deferred ACKs); the pieces they call each have a file of their own,
// listed in tcp_priv.h: the guest's frames (tcp_wire.cpp), windows and ACKs
// (tcp_window.cpp), opening and closing connections (tcp_conn.cpp), the
// state machine for guest segments (tcp_from_guest.cpp), socket data to the
// guest (tcp_to_guest.cpp), listeners (tcp_listen.cpp), timers
// (tcp_timer.cpp). Each lists the system calls it makes.
//
// System calls here: getsockopt (SO_ERROR) on socket errors; at start-up,
// setrlimit (prlimit64) for the descriptor limit.
// #syscalls getsockopt
// #syscalls:init prlimit64
#include "passt/tcp/tcp.h"

#include <cerrno>
#include <cstring>

#include <sys/resource.h>
#include <sys/socket.h>

#include "passt/core/log.h"
#include "tcp_priv.h"

namespace passt {

using namespace tcp_detail;

namespace {

void sock_trampoline(void *c, EpollRef ref, uint32_t ev, const timespec &now) {
	tcp_sock_handler(*static_cast<TcpCtx *>(c), ref, ev, now);
}
void listen_trampoline(void *c, EpollRef ref, uint32_t ev, const timespec &now) {
	tcp_listen_handler(*static_cast<TcpCtx *>(c), ref, ev, now);
}
void timer_trampoline(void *c, const timespec &now) { tcp_timer(*static_cast<TcpCtx *>(c), now); }
void flush_trampoline(void *c) { tcp_flush_acks(*static_cast<TcpCtx *>(c)); }
void delack_trampoline(void *c, const timespec &) {
	tcp_send_delayed_acks(*static_cast<TcpCtx *>(c));
}
bool evict_trampoline(void *c, uint32_t idx) { return flow_evict(*static_cast<TcpCtx *>(c), idx); }

// The socket of an established flow drained (EPOLLOUT): window update, and
// if guest data was refused, duplicate ACKs so that the guest resends it.
void sock_writable(TcpCtx &ctx, uint32_t idx, Flow &f) {
	TcpFlow &t = f.state<TcpFlow>();
	bool dropped = t.flags & tcpf::data_dropped;
	t.flags &= uint8_t(~(tcpf::want_out | tcpf::data_dropped));
	set_events(ctx, idx, t, est_events(t));
	send_ack(ctx, idx, f, false);
	ctx.stats.wnd_updates++;
	if (dropped) {
		// The guest sees a window update, then three duplicates:
		// it retransmits what the socket refused, now.
		for (int i = 0; i < 3; i++)
			send_ctrl_raw(ctx, ends_of(f), tcpflag::ack, t.snd_nxt, t.rcv_nxt,
				      last_wnd_field(t), nullptr);
	}
}

} // namespace

int tcp_init(TcpCtx &ctx) {
	auto key = SipKey::random();
	if (!key)
		return -EIO;
	ctx.key = *key;
	// One socket per connection: use all the descriptors we may have.
	rlimit rl{};
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (ctx.out.runs_flush_hook()) {
		ctx.ack_pending.clear();
		ctx.ack_pending.reserve(4096);
		ctx.ack_delayed.clear();
		ctx.ack_delayed.reserve(4096);
		ctx.out.set_flush_hook(flush_trampoline, &ctx);
		ctx.delack_timer =
			ctx.loop.timers().add("tcp-delack", TCP_DELACK_MS, delack_trampoline, &ctx);
		if (ctx.delack_timer >= 0)
			ctx.loop.timers().disarm(ctx.delack_timer);
	}
	ctx.loop.set_handler(RefKind::TcpSock, sock_trampoline, &ctx);
	ctx.loop.set_handler(RefKind::TcpListen, listen_trampoline, &ctx);
	// Half-open connections only: established ones are never evicted.
	ctx.flows.set_evictor(FlowType::Tcp, evict_trampoline, &ctx, false);
	// Armed while there are flows or paused listeners (tcp_timer()).
	ctx.timer = ctx.loop.timers().add("tcp", TCP_TIMER_INTERVAL_MS, timer_trampoline, &ctx);
	if (ctx.timer < 0)
		return -ENOSPC;
	ctx.loop.timers().disarm(ctx.timer);
	ctx.flows.bind_timer(FlowType::Tcp, ctx.loop.timers(), ctx.timer);
	ctx.accept_pause.timer = ctx.timer;
	return listen_open_all(ctx);
}

// The end of a batch: the ACKs of in-order guest data. Each goes now, or,
// if delay_ack() allows, waits (at most TCP_DELACK_MS) for a segment of
// ours that carries it: in a request-response exchange the answer is
// there within microseconds, and a pure ACK ahead of it costs the guest's
// kernel a packet and breaks its own delayed ACKs (the round trip through
// pasta grew by a third without this).
void tcp_flush_acks(TcpCtx &ctx) {
	bool armed = false;
	for (uint32_t idx : ctx.ack_pending) {
		Flow *f = ctx.flows.get(idx, FlowType::Tcp);
		if (!f || !(f->state<TcpFlow>().flags & tcpf::ack_pending))
			continue;
		TcpFlow &t = f->state<TcpFlow>();
		t.flags &= uint8_t(~tcpf::ack_pending);
		if (!delay_ack(ctx, *f)) {
			send_ack(ctx, idx, *f);
			continue;
		}
		if (t.delack)
			continue; // waiting already: its deadline stands
		t.delack = 1;
		ctx.ack_delayed.push_back(idx);
		ctx.delack_live++;
		if (!armed) {
			const timespec by =
				tcp_detail::ts_of(deadline_after(now_monotonic(), TCP_DELACK_MS));
			ctx.loop.timers().arm_by(ctx.delack_timer, by);
			armed = true;
		}
	}
	ctx.ack_pending.clear();
}

void tcp_send_delayed_acks(TcpCtx &ctx) { tcp_detail::delack_timeout(ctx); }

void tcp_fini(TcpCtx &ctx) {
	if (ctx.out.runs_flush_hook())
		ctx.out.set_flush_hook(nullptr, nullptr);
	ctx.flows.for_each([&](uint32_t i, Flow &f) {
		if (f.type == FlowType::Tcp)
			flow_close(ctx, i, false);
	});
	ctx.listeners.close_all(ctx.loop);
}

void tcp_drop_guest_flows(TcpCtx &ctx) {
	ctx.ack_pending.clear();
	ctx.ack_delayed.clear();
	ctx.delack_live = 0;
	if (ctx.delack_timer >= 0)
		ctx.loop.timers().disarm(ctx.delack_timer);
	ctx.out_blocked = false; // whatever the old guest refused
	unsigned n = 0;
	ctx.flows.for_each([&](uint32_t i, Flow &f) {
		if (f.type == FlowType::Tcp) {
			flow_close(ctx, i, true);
			n++;
		}
	});
	if (n)
		debug("TCP: guest gone, %u connections reset", n);
}

void tcp_out_room(TcpCtx &ctx, const timespec &now) {
	if (!ctx.out_blocked)
		return;
	ctx.out_blocked = false;
	ctx.flows.for_each([&](uint32_t i, Flow &f) {
		// Once refused again, the rest waits for the next report.
		if (f.type == FlowType::Tcp && !ctx.out_blocked)
			data_from_sock(ctx, i, f, now);
	});
}

bool tcp_tap_input(TcpCtx &ctx, std::span<std::byte> frame, const timespec &now) {
	if (ctx.c.no_tcp)
		return false;
	FlowSide key;
	auto s = parse_frame(ctx, frame, key);
	if (!s) {
		ctx.stats.dropped++;
		trace_rl("TCP: dropping malformed frame from the guest");
		return false;
	}
	auto idx = ctx.flows.lookup(FlowType::Tcp, FlowSideIdx::Guest, key);
	if (!idx) {
		if ((s->flags & (tcpflag::syn | tcpflag::ack | tcpflag::rst)) == tcpflag::syn) {
			conn_from_tap(ctx, key, *s, now);
		} else {
			ctx.stats.dropped++;
			rst_unmatched(ctx, key, *s);
		}
		return true;
	}
	seg_for_flow(ctx, *idx, *ctx.flows.get(*idx), *s, now);
	return true;
}

void tcp_sock_handler(TcpCtx &ctx, EpollRef ref, uint32_t events, const timespec &now) {
	Flow *f = ctx.flows.get(ref.index, FlowType::Tcp);
	if (!f || f->state<TcpFlow>().sock != ref.fd) {
		debug_rl("TCP: event for stale socket %d (flow %u)", ref.fd, ref.index);
		return;
	}
	TcpFlow &t = f->state<TcpFlow>();
	switch (t.state) {
	case TcpState::Connecting:
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			connect_done(ctx, ref.index, *f, now);
		return;
	case TcpState::SynAckSent:
	case TcpState::SynSent:
		if (events & EPOLLERR) {
			flow_rst(ctx, ref.index);
		}
		return;
	case TcpState::Established: break;
	}
	if (events & EPOLLERR) {
		int err = 0;
		socklen_t sl = sizeof(err);
		getsockopt(t.sock, SOL_SOCKET, SO_ERROR, &err, &sl);
		debug_rl("TCP: flow %u: socket error: %s", ref.index, strerror(err));
		flow_rst(ctx, ref.index);
		return;
	}
	if ((events & EPOLLOUT) && (t.flags & tcpf::want_out))
		sock_writable(ctx, ref.index, *f);
	if ((events & EPOLLHUP) && (t.flags & tcpf::host_eof) && (t.flags & tcpf::guest_fin)) {
		// Both directions are shut down: nothing more to hear from the
		// socket, and EPOLLHUP can't be masked.
		ctx.loop.remove(t.sock);
		t.events = EV_REMOVED;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) {
		// New data, or the end: peek again, and, once the peer closed,
		// always (only a peek returning 0 tells the end).
		t.drained = (events & (EPOLLRDHUP | EPOLLHUP)) ? DRAINED_NEVER : DRAINED_NO;
		if (!data_from_sock(ctx, ref.index, *f, now))
			return;
		if (Flow *g = ctx.flows.get(ref.index, FlowType::Tcp))
			maybe_done(ctx, ref.index, g->state<TcpFlow>());
	}
}

} // namespace passt
