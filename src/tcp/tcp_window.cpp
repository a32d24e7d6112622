// TCP translator, windows and ACKs towards the guest: the window we
// advertise is the free space of the socket's send buffer, scaled as agreed
// with the guest; an ACK carries it, and arms EPOLLOUT when it got small so
// that a window update follows once the socket drains. Also keeps each
// socket's epoll interest in step with the flow's state.
//
// System calls: getsockopt (SO_MEMINFO, SO_SNDBUF), ioctl (SIOCOUTQ).
// #syscalls getsockopt ioctl
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "tcp_priv.h"

namespace passt::tcp_detail {

// Free space in the socket's send buffer: the window for the guest. The
// kernel takes data while the memory it queued (payload plus per-buffer
// overhead, SK_MEMINFO_WMEM_QUEUED) is below SO_SNDBUF, so that is what we
// compare, and keep a margin for the overhead of what the guest sends next.
uint32_t sock_wnd(int sock) {
	uint32_t mi[SK_MEMINFO_VARS] = {};
	socklen_t sl = sizeof(mi);
	int64_t room;
	if (getsockopt(sock, SOL_SOCKET, SO_MEMINFO, mi, &sl) == 0 &&
	    sl > SK_MEMINFO_WMEM_QUEUED * sizeof(uint32_t)) {
		room = int64_t(mi[SK_MEMINFO_SNDBUF]) - mi[SK_MEMINFO_WMEM_QUEUED];
	} else {
		int sndbuf = 0, outq = 0;
		sl = sizeof(sndbuf);
		if (getsockopt(sock, SOL_SOCKET, SO_SNDBUF, &sndbuf, &sl) < 0 ||
		    ioctl(sock, SIOCOUTQ, &outq) < 0)
			return 65535;
		room = int64_t(sndbuf) - outq - outq / 16;
	}
	room -= room / 16;
	return room > 0 ? uint32_t(room) : 0;
}

// Window field for the guest, and the byte window it stands for.
uint16_t wnd_field(const TcpFlow &t, uint32_t bytes, uint32_t &actual) {
	uint8_t ws = (t.flags & tcpf::guest_ws) ? TCP_OUR_WSCALE : 0;
	uint32_t v = bytes >> ws;
	if (v > 65535)
		v = 65535;
	actual = v << ws;
	return uint16_t(v);
}

uint16_t last_wnd_field(const TcpFlow &t) {
	return uint16_t(t.last_wnd >> ((t.flags & tcpf::guest_ws) ? TCP_OUR_WSCALE : 0));
}

void set_events(TcpCtx &ctx, uint32_t idx, TcpFlow &t, uint32_t ev) {
	if (t.events == ev || t.events == EV_REMOVED)
		return;
	EpollRef ref{RefKind::TcpSock, t.sock, idx};
	if (ctx.loop.modify(t.sock, ev, ref) == 0)
		t.events = ev;
}

// The epoll interest of an established flow's socket.
uint32_t est_events(const TcpFlow &t) {
	uint32_t ev = EPOLLET;
	if (!(t.flags & tcpf::host_eof))
		ev |= EPOLLIN | EPOLLRDHUP; // RDHUP: see TcpFlow::drained
	if (t.flags & tcpf::want_out)
		ev |= EPOLLOUT;
	return ev;
}

// Send an ACK with the current window. Arm EPOLLOUT (a window update once
// the socket drains) if the window is less than a full segment, or, from
// the EPOLLOUT handler itself (rearm_small false), only if it is closed:
// that keeps a writable socket from looping on updates.
// same_wnd: repeat the last window (duplicate ACKs must, to count as such).
void send_ack(TcpCtx &ctx, uint32_t idx, Flow &f, bool rearm_small, bool same_wnd) {
	TcpFlow &t = f.state<TcpFlow>();
	t.flags &= uint8_t(~tcpf::ack_pending); // this one covers it
	ack_sent(ctx, t);
	uint32_t room = same_wnd ? t.last_wnd : sock_wnd(t.sock);
	uint32_t actual;
	uint16_t field = wnd_field(t, room, actual);
	t.last_wnd = actual;
	send_ctrl_raw(ctx, ends_of(f), tcpflag::ack, t.snd_nxt, t.rcv_nxt, field, nullptr);
	uint32_t small = rearm_small ? our_mss(ctx, f.guest().our_addr.is_v4()) : 1;
	if (t.state == TcpState::Established && actual < small && !(t.flags & tcpf::guest_fin)) {
		t.flags |= tcpf::want_out;
		set_events(ctx, idx, t, est_events(t));
	}
}

bool delay_ack(const TcpCtx &ctx, const Flow &f) {
	const TcpFlow &t = f.state<TcpFlow>();
	if (ctx.delack_timer < 0 || ctx.ack_delayed.size() >= ctx.ack_delayed.capacity() ||
	    t.state != TcpState::Established || (t.flags & (tcpf::guest_fin | tcpf::data_dropped)))
		return false;
	const uint32_t mss = our_mss(ctx, f.guest().our_addr.is_v4());
	const uint32_t unacked = t.rcv_nxt - t.acked;
	return unacked < 2 * mss && t.last_wnd >= unacked + 2 * mss;
}

void ack_sent(TcpCtx &ctx, TcpFlow &t) {
	t.acked = t.rcv_nxt;
	if (!t.delack)
		return;
	t.delack = 0;
	if (ctx.delack_live && !--ctx.delack_live) {
		// Every delayed ACK rode on a segment: no wake-up for them.
		ctx.ack_delayed.clear();
		ctx.loop.timers().disarm(ctx.delack_timer);
	}
}

void delack_timeout(TcpCtx &ctx) {
	for (uint32_t idx : ctx.ack_delayed) {
		Flow *f = ctx.flows.get(idx, FlowType::Tcp);
		if (!f || !f->state<TcpFlow>().delack)
			continue;
		if (f->state<TcpFlow>().frozen) {
			// Migrating: its socket is not ours to query now, and the
			// guest stands still; it sends the data again if need be.
			f->state<TcpFlow>().delack = 0;
			continue;
		}
		send_ack(ctx, idx, *f);
	}
	ctx.ack_delayed.clear();
	ctx.delack_live = 0;
	ctx.loop.timers().disarm(ctx.delack_timer);
	ctx.out.flush();
}

} // namespace passt::tcp_detail
