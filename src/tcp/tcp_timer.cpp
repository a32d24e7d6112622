// TCP translator, timers: one scan over the TCP flows enforces each flow's
// deadlines (handshake, retransmission with back-off, half-closed and
// established idle timeouts; see tcp.cpp and the TCP_*_MS constants in
// tcp.h).
//
// The scan is not periodic: it re-arms its timer for the earliest deadline
// it found (a flow's retransmission or handshake deadline, last activity
// plus the half-close or idle timeout, the end of an accept pause), no
// sooner than TCP_TIMER_INTERVAL_MS, so that an open but idle connection
// costs one wake-up per timeout, not ten a second. A deadline set between
// two scans that is earlier than the next one (set_deadline(), a flow that
// becomes half-closed, an accept pause) moves the timer earlier
// (timer_due_by()). A scan that comes early finds nothing due and sleeps
// again; none comes late. The handshake deadline counts as its SYN-flood
// value (TCP_SYN_PRESSURE_TIMEOUT_MS) for the wake-up, since pressure may
// appear after the scan.
#include <algorithm>

#include "passt/core/log.h"
#include "passt/tcp/splice.h"
#include "tcp_priv.h"

namespace passt::tcp_detail {

namespace {

constexpr int64_t NONE = INT64_MAX;
constexpr int64_t ms_ns(uint32_t ms) { return int64_t(ms) * NS_PER_MS; }
// How much earlier a connect() to the host times out under SYN pressure.
constexpr int64_t PRESSURE_CUT = ms_ns(TCP_HANDSHAKE_TIMEOUT_MS - TCP_SYN_PRESSURE_TIMEOUT_MS);

// The earliest time the flow's state needs the timer (NONE: never).
int64_t next_deadline(const Flow &f, const TcpFlow &t) {
	int64_t next = NONE;
	if (t.deadline_ns)
		next = t.state == TcpState::Connecting ? t.deadline_ns - PRESSURE_CUT
						       : t.deadline_ns;
	if (t.state != TcpState::Established)
		return next;
	const int64_t active = ts_ns(f.last_active);
	if (t.flags & (tcpf::guest_fin | tcpf::fin_sent))
		next = std::min(next, active + ms_ns(TCP_FIN_TIMEOUT_MS));
	return std::min(next, active + ms_ns(TCP_IDLE_TIMEOUT_MS));
}

// Timeouts of one flow at n (ns, now as timespec). Returns when the flow
// needs the timer next (NONE once it is gone, or never).
int64_t flow_timer(TcpCtx &ctx, uint32_t i, Flow &f, int64_t n, const timespec &now,
		   bool pressure) {
	TcpFlow &t = f.state<TcpFlow>();
	int64_t idle = timespec_diff_ns(now, f.last_active);
	if (t.state != TcpState::Established) {
		int64_t deadline = t.deadline_ns;
		// SYN-flood protection: under pressure, a connect() to the host
		// gets a shorter deadline (the handshake deadline less the
		// difference, so that no start time need be kept).
		if (deadline && t.state == TcpState::Connecting && pressure)
			deadline -= PRESSURE_CUT;
		if (deadline && n >= deadline) {
			debug_rl("TCP: flow %u: handshake timeout", i);
			flow_rst(ctx, i);
			return NONE;
		}
		return next_deadline(f, t);
	}
	if ((t.flags & (tcpf::guest_fin | tcpf::fin_sent)) && idle >= ms_ns(TCP_FIN_TIMEOUT_MS)) {
		debug_rl("TCP: flow %u: half-closed, idle: closing", i);
		flow_rst(ctx, i);
		return NONE;
	}
	if (idle >= ms_ns(TCP_IDLE_TIMEOUT_MS)) {
		debug_rl("TCP: flow %u: idle: closing", i);
		flow_rst(ctx, i);
		return NONE;
	}
	if (!t.deadline_ns || n < t.deadline_ns)
		return next_deadline(f, t);
	if (t.snd_una == t.snd_nxt) {
		t.deadline_ns = 0;
		return next_deadline(f, t);
	}
	if (++t.retrans > TCP_MAX_RETRANS) {
		debug_rl("TCP: flow %u: no ACK from the guest, resetting", i);
		flow_rst(ctx, i);
		return NONE;
	}
	debug_rl("TCP: flow %u: retransmission timeout (%u)", i, t.retrans);
	rewind(ctx, t);
	t.deadline_ns = n + (int64_t(TCP_RTO_MS) << (t.retrans < 6 ? t.retrans : 6)) * NS_PER_MS;
	data_from_sock(ctx, i, f, now);
	// data_from_sock() may have closed the flow.
	const Flow *g = ctx.flows.get(i, FlowType::Tcp);
	return g ? next_deadline(*g, g->state<TcpFlow>()) : NONE;
}

} // namespace

timespec ts_of(int64_t ns) { return timespec{time_t(ns / NS_PER_SEC), long(ns % NS_PER_SEC)}; }

void timer_due_by(TcpCtx &ctx, int64_t deadline_ns) {
	ctx.loop.timers().arm_by(ctx.timer, ts_of(deadline_ns));
}

} // namespace passt::tcp_detail

namespace passt {

void tcp_timer(TcpCtx &ctx, const timespec &now) {
	const int64_t n = tcp_detail::ts_ns(now);
	// More than half of the pending-connect cap in use: shorter SYN timeout.
	const bool pressure = ctx.flows.pending(FlowBudget::TcpOut) * 2 >
			      ctx.flows.pending_max(FlowBudget::TcpOut);
	int64_t next = tcp_detail::NONE;
	ctx.flows.for_each([&](uint32_t i, Flow &f) {
		if (f.type == FlowType::Tcp)
			next = std::min(next, tcp_detail::flow_timer(ctx, i, f, n, now, pressure));
	});
	ctx.accept_pause.resume_due(ctx.loop, ctx.listeners, EpollRef{RefKind::TcpListen, -1, 0},
				    n);
	if (ctx.splice)
		tcp_splice_resume_listeners(*ctx.splice, now);
	if (ctx.accept_pause.until_ns)
		next = std::min(next, ctx.accept_pause.until_ns);
	if (ctx.splice && ctx.splice->accept_pause.until_ns)
		next = std::min(next, ctx.splice->accept_pause.until_ns);
	// Nothing left to watch: sleep until a flow or a pause arms us again.
	// Else until the earliest deadline (flows that went away meanwhile
	// cost at most one early run).
	if (next == tcp_detail::NONE && !ctx.flows.in_use(FlowType::Tcp)) {
		ctx.loop.timers().disarm(ctx.timer);
		return;
	}
	next = std::max(next, n + tcp_detail::ms_ns(TCP_TIMER_INTERVAL_MS));
	if (next == tcp_detail::NONE) // flows, none with a deadline: not possible today
		next = n + tcp_detail::ms_ns(TCP_IDLE_TIMEOUT_MS);
	ctx.loop.timers().arm_at(ctx.timer, tcp_detail::ts_of(next));
}

} // namespace passt
