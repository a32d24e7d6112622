// TCP translator, timers: one periodic scan over the TCP flows enforces
// each flow's deadlines (handshake, retransmission with back-off, half-closed
// and established idle timeouts; see tcp.cpp and the TCP_*_MS constants in
// tcp.h).
#include "passt/core/log.h"
#include "passt/tcp/splice.h"
#include "tcp_priv.h"

namespace passt::tcp_detail {

namespace {

// Timeouts of one flow at n (ns, now as timespec).
void flow_timer(TcpCtx &ctx, uint32_t i, Flow &f, int64_t n, const timespec &now, bool pressure) {
	TcpFlow &t = f.state<TcpFlow>();
	int64_t idle = timespec_diff_ns(now, f.last_active);
	if (t.state != TcpState::Established) {
		int64_t deadline = t.deadline_ns;
		// SYN-flood protection: under pressure, a connect() to the host
		// gets a shorter deadline (the handshake deadline less the
		// difference, so that no start time need be kept).
		if (deadline && t.state == TcpState::Connecting && pressure)
			deadline -=
				int64_t(TCP_HANDSHAKE_TIMEOUT_MS - TCP_SYN_PRESSURE_TIMEOUT_MS) *
				NS_PER_MS;
		if (deadline && n >= deadline) {
			debug_rl("TCP: flow %u: handshake timeout", i);
			flow_rst(ctx, i);
		}
		return;
	}
	if ((t.flags & (tcpf::guest_fin | tcpf::fin_sent)) &&
	    idle >= int64_t(TCP_FIN_TIMEOUT_MS) * NS_PER_MS) {
		debug_rl("TCP: flow %u: half-closed, idle: closing", i);
		flow_rst(ctx, i);
		return;
	}
	if (idle >= int64_t(TCP_IDLE_TIMEOUT_MS) * NS_PER_MS) {
		debug_rl("TCP: flow %u: idle: closing", i);
		flow_rst(ctx, i);
		return;
	}
	if (!t.deadline_ns || n < t.deadline_ns)
		return;
	if (t.snd_una == t.snd_nxt) {
		t.deadline_ns = 0;
		return;
	}
	if (++t.retrans > TCP_MAX_RETRANS) {
		debug_rl("TCP: flow %u: no ACK from the guest, resetting", i);
		flow_rst(ctx, i);
		return;
	}
	debug_rl("TCP: flow %u: retransmission timeout (%u)", i, t.retrans);
	rewind(ctx, t);
	t.deadline_ns = n + (int64_t(TCP_RTO_MS) << (t.retrans < 6 ? t.retrans : 6)) * NS_PER_MS;
	data_from_sock(ctx, i, f, now);
}

} // namespace

} // namespace passt::tcp_detail

namespace passt {

void tcp_timer(TcpCtx &ctx, const timespec &now) {
	const int64_t n = tcp_detail::ts_ns(now);
	// More than half of the pending-connect cap in use: shorter SYN timeout.
	const bool pressure = ctx.flows.pending(FlowBudget::TcpOut) * 2 >
			      ctx.flows.pending_max(FlowBudget::TcpOut);
	ctx.flows.for_each([&](uint32_t i, Flow &f) {
		if (f.type == FlowType::Tcp)
			tcp_detail::flow_timer(ctx, i, f, n, now, pressure);
	});
	ctx.accept_pause.resume_due(ctx.loop, ctx.listeners, EpollRef{RefKind::TcpListen, -1, 0},
				    n);
	if (ctx.splice)
		tcp_splice_resume_listeners(*ctx.splice, now);
	// Nothing left to watch: sleep until a flow or a pause arms us again.
	if (!ctx.flows.in_use(FlowType::Tcp) && !ctx.accept_pause.until_ns &&
	    !(ctx.splice && ctx.splice->accept_pause.until_ns))
		ctx.loop.timers().disarm(ctx.timer);
}

} // namespace passt
