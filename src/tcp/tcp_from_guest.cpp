// TCP translator, guest -> host: what a segment from the guest does to its
// flow. In order: an RST (checked against the window) closes the flow; the
// handshake states take their SYN-ACK or ACK; the acknowledgement releases
// data we sent (or, the third time it repeats, triggers a retransmission);
// payload goes to the socket, as far as the socket takes it; a FIN shuts
// the socket down for writing; then the guest gets its ACK (now, or at the
// end of the batch) and whatever data its new window allows.
//
// System calls: send (sendto), shutdown.
// #syscalls sendto shutdown
#include <cerrno>
#include <cstring>

#include <sys/socket.h>

#include "passt/core/log.h"
#include "tcp_priv.h"

namespace passt::tcp_detail {

namespace {

// What the payload and FIN of a segment asked of us.
struct RxResult {
	bool need_ack = false; // the segment wants an ACK
	bool in_order = true;  // everything up to its end was taken
	bool hole = false;     // it starts beyond rcv_nxt: duplicate ACK
};

// RFC 5961 3.2: an RST counts if it is in the window (in SynSent: if it
// acknowledges our SYN).
void guest_rst(TcpCtx &ctx, uint32_t idx, const TcpFlow &t, const TcpRepr &s) {
	bool ok;
	if (t.state == TcpState::SynSent)
		ok = (s.flags & tcpflag::ack) && s.ack == t.snd_nxt;
	else
		ok = seq_le(t.rcv_nxt, s.seq) &&
		     seq_le(s.seq, t.rcv_nxt + (t.last_wnd ? t.last_wnd : 1));
	if (ok) {
		debug_rl("TCP: flow %u: reset by the guest", idx);
		flow_close(ctx, idx, true);
	}
}

// A segment for a flow still in its handshake, or a SYN on an established
// one. True if the segment goes on to the ACK and data steps.
bool handshake_step(TcpCtx &ctx, uint32_t idx, Flow &f, const TcpRepr &s, const timespec &now) {
	TcpFlow &t = f.state<TcpFlow>();
	switch (t.state) {
	case TcpState::Connecting:
		// Duplicate SYN while we connect: the SYN-ACK comes when we can.
		return false;
	case TcpState::SynSent:
		if ((s.flags & (tcpflag::syn | tcpflag::ack)) != (tcpflag::syn | tcpflag::ack) ||
		    s.ack != t.snd_nxt) {
			if (s.flags & tcpflag::ack)
				send_ctrl_raw(ctx, ends_of(f), tcpflag::rst, s.ack, 0, 0, nullptr);
			return false;
		}
		t.rcv_nxt = s.seq + 1;
		apply_syn_opts(t, s);
		t.snd_una = t.snd_nxt;
		established(ctx, idx, f, now);
		send_ack(ctx, idx, f);
		data_from_sock(ctx, idx, f, now);
		return false;
	case TcpState::SynAckSent:
		if (s.flags & tcpflag::syn) {
			// The guest did not get our SYN-ACK: send it again.
			if (s.seq + 1 == t.rcv_nxt) {
				TcpOptions o = syn_opts(ctx, f.guest().our_addr.is_v4(),
							t.flags & tcpf::guest_ws);
				send_ctrl_raw(ctx, ends_of(f), tcpflag::syn | tcpflag::ack,
					      t.snd_nxt - 1, t.rcv_nxt, uint16_t(t.last_wnd), &o);
			}
			return false;
		}
		if (!(s.flags & tcpflag::ack) || s.ack != t.snd_nxt) {
			if (s.flags & tcpflag::ack)
				send_ctrl_raw(ctx, ends_of(f), tcpflag::rst, s.ack, 0, 0, nullptr);
			return false;
		}
		established(ctx, idx, f, now);
		return true;
	case TcpState::Established:
		if (s.flags & tcpflag::syn) {
			// RFC 5961 4.2: challenge ACK, nothing else.
			send_ack(ctx, idx, f);
			return false;
		}
		return true;
	}
	return false;
}

// The guest's acknowledgement and window. One for data sent before a rewind
// (beyond snd_nxt, not beyond snd_max) skips what it covers.
void guest_ack(TcpCtx &ctx, uint32_t idx, Flow &f, const TcpRepr &s, const timespec &now) {
	TcpFlow &t = f.state<TcpFlow>();
	if (seq_gt(s.ack, t.snd_nxt) && seq_le(s.ack, t.snd_max)) {
		if ((t.flags & tcpf::host_eof) && s.ack == t.snd_max)
			t.flags |= tcpf::fin_sent; // the FIN, too
		t.snd_nxt = s.ack;
	}
	uint32_t data_end = t.snd_nxt - ((t.flags & tcpf::fin_sent) ? 1 : 0);
	if (seq_gt(s.ack, t.snd_una) && seq_le(s.ack, t.snd_nxt)) {
		uint32_t upto = seq_lt(s.ack, data_end) ? s.ack : data_end;
		if (seq_gt(upto, t.snd_una))
			discard_acked(idx, t, upto - t.snd_una);
		t.snd_una = upto;
		if ((t.flags & tcpf::fin_sent) && s.ack == t.snd_nxt) {
			t.flags |= tcpf::fin_acked;
			t.snd_una = t.snd_nxt;
		}
		t.dup_acks = 0;
		t.retrans = 0;
		if (t.snd_una == t.snd_nxt)
			t.deadline_ns = 0;
		else
			set_deadline(ctx, t, now, TCP_RTO_MS);
	} else if (s.ack == t.snd_una && s.payload.empty() && !(s.flags & tcpflag::fin) &&
		   s.window == t.last_ack_wnd && t.snd_nxt != t.snd_una) {
		if (++t.dup_acks == 3) {
			debug_rl("TCP: flow %u: fast retransmit from %u", idx, t.snd_una);
			rewind(ctx, t);
		}
	}
	t.last_ack_wnd = s.window;
	uint32_t w = uint32_t(s.window) << ((t.flags & tcpf::guest_ws) ? t.guest_wscale : 0);
	t.guest_wnd = w > MAX_GUEST_WND ? MAX_GUEST_WND : w;
	f.last_active = now;
}

// Write the new part of the payload to the socket; rcv_nxt advances by what
// it took. False if the flow was reset.
bool guest_data(TcpCtx &ctx, uint32_t idx, TcpFlow &t, const TcpRepr &s, RxResult &r) {
	size_t plen = s.payload.size();
	if (!plen)
		return true;
	r.need_ack = true;
	uint32_t end = s.seq + uint32_t(plen);
	if (seq_gt(s.seq, t.rcv_nxt)) {
		ctx.stats.holes++;
		r.in_order = false;
		r.hole = true;
		return true;
	}
	if (!seq_gt(end, t.rcv_nxt) || (t.flags & tcpf::guest_fin))
		return true;
	size_t off = t.rcv_nxt - s.seq;
	size_t len = plen - off;
	ssize_t n;
	do
		n = send(t.sock, s.payload.data() + off, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			debug_rl("TCP: flow %u: send: %s", idx, strerror(errno));
			flow_rst(ctx, idx);
			return false;
		}
		n = 0;
	}
	t.rcv_nxt += uint32_t(n);
	if (size_t(n) < len) {
		ctx.stats.partial_sends++;
		r.in_order = false;
		t.flags |= tcpf::want_out | tcpf::data_dropped;
		set_events(ctx, idx, t, est_events(t));
	}
	return true;
}

// A FIN right after all the guest's data: shut the socket down for writing.
// Retransmitted FINs and keepalive probes only want an ACK.
void guest_fin(TcpCtx &ctx, uint32_t idx, TcpFlow &t, const TcpRepr &s, RxResult &r) {
	size_t plen = s.payload.size();
	if ((s.flags & tcpflag::fin) && r.in_order && !(t.flags & tcpf::guest_fin) &&
	    s.seq + uint32_t(plen) == t.rcv_nxt) {
		t.rcv_nxt++;
		t.flags |= tcpf::guest_fin;
		t.flags &= uint8_t(~(tcpf::want_out | tcpf::data_dropped));
		shutdown(t.sock, SHUT_WR);
		set_events(ctx, idx, t, est_events(t));
		r.need_ack = true;
	} else if (((s.flags & tcpflag::fin) && (t.flags & tcpf::guest_fin)) ||
		   (!plen && seq_lt(s.seq, t.rcv_nxt))) {
		r.need_ack = true;
	}
}

// ACK what the segment asked for. In-order data: one ACK at the end of the
// batch will do (if the backend has a flush hook and the list has room).
void ack_guest(TcpCtx &ctx, uint32_t idx, Flow &f, const TcpRepr &s, const RxResult &r) {
	if (!r.need_ack)
		return;
	TcpFlow &t = f.state<TcpFlow>();
	bool plain = r.in_order && !r.hole && !(s.flags & tcpflag::fin) && !s.payload.empty();
	if (!plain) {
		send_ack(ctx, idx, f, true, r.hole);
	} else if (!(t.flags & tcpf::ack_pending)) {
		if (ctx.ack_pending.size() < ctx.ack_pending.capacity()) {
			t.flags |= tcpf::ack_pending;
			ctx.ack_pending.push_back(idx);
		} else {
			send_ack(ctx, idx, f);
		}
	}
}

} // namespace

// A segment for an existing flow.
void seg_for_flow(TcpCtx &ctx, uint32_t idx, Flow &f, const TcpRepr &s, const timespec &now) {
	TcpFlow &t = f.state<TcpFlow>();
	if (t.frozen)
		return; // its socket is being migrated: the guest sends it again
	if (s.flags & tcpflag::rst) {
		guest_rst(ctx, idx, t, s);
		return;
	}
	if (!handshake_step(ctx, idx, f, s, now) || !(s.flags & tcpflag::ack))
		return;
	guest_ack(ctx, idx, f, s, now);

	RxResult r;
	if (!guest_data(ctx, idx, t, s, r))
		return;
	guest_fin(ctx, idx, t, s, r);
	ack_guest(ctx, idx, f, s, r);
	// Half-closed now (the guest's FIN, or the ACK of ours): the FIN
	// timeout applies, maybe earlier than the timer's next run.
	if (t.flags & (tcpf::guest_fin | tcpf::fin_sent))
		timer_due_by(ctx, deadline_after(now, TCP_FIN_TIMEOUT_MS));

	if (maybe_done(ctx, idx, t))
		return;
	data_from_sock(ctx, idx, f, now);
	if (Flow *g = ctx.flows.get(idx, FlowType::Tcp))
		maybe_done(ctx, idx, g->state<TcpFlow>());
}

} // namespace passt::tcp_detail
