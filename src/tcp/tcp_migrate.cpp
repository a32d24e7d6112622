// TCP translator, live migration: what src/migrate/migrate.cpp needs of
// the flows it moves (doc/migration.md).
//
// Theory of operation. Only what the translator alone knows travels here:
// the flow's two sides, its sequence numbers on the guest's side and what
// it learnt from the guest's SYN (TcpFlowImage); the socket's own state
// goes through TCP_REPAIR (migrate/tcp_state.h). The two meet at the
// socket's queues: towards the guest, the receive queue starts with the
// byte numbered snd_una (data stays in the socket until the guest
// acknowledges it, tcp.cpp), and from the guest, rcv_nxt counts what the
// socket accepted. So the image needs no queue of its own.
//
// A flow moves when it is established with no FIN either way (a closing
// socket is not in a state TCP_REPAIR can dump and restore), and its
// socket is open. On the source, freeze takes the socket out of the event
// loop and stops the flow's timer: nothing touches the socket while it is
// in repair mode. thaw undoes that if the migration fails, rewinding to
// snd_una (data sent but not acknowledged is sent again, the guest drops
// what it already has). On the target, adopt makes a flow for a restored
// socket, its sequence rewound the same way: the guest may have lost
// frames in flight, it acknowledges what it had.
// #syscalls:vu setsockopt
#include <cerrno>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "passt/core/log.h"
#include "passt/migrate/stream.h"
#include "tcp_priv.h"

namespace passt {

using namespace tcp_detail;

const char *tcp_flow_unmigratable(TcpCtx &ctx, uint32_t idx) {
	const Flow *f = ctx.flows.get(idx, FlowType::Tcp);
	if (!f)
		return "no such flow";
	const TcpFlow &t = f->state<TcpFlow>();
	if (t.state != TcpState::Established)
		return "not established";
	if (t.flags & tcpf::guest_fin)
		return "the guest sent FIN";
	if (t.flags & tcpf::host_eof)
		return "the host peer closed its side";
	if (t.flags & tcpf::fin_sent)
		return "FIN sent to the guest";
	if (t.sock < 0)
		return "no socket";
	if (t.frozen)
		return "already frozen";
	if (t.events == EV_REMOVED)
		return "socket no longer watched";
	return nullptr;
}

bool tcp_flow_image(TcpCtx &ctx, uint32_t idx, TcpFlowImage &img) {
	const Flow *f = ctx.flows.get(idx, FlowType::Tcp);
	if (!f)
		return false;
	const TcpFlow &t = f->state<TcpFlow>();
	img.guest = f->guest();
	img.host = f->host();
	img.inbound = f->budget == FlowBudget::TcpIn;
	img.guest_ws = t.flags & tcpf::guest_ws;
	img.guest_wscale = t.guest_wscale;
	img.guest_mss = t.guest_mss;
	img.snd_una = t.snd_una;
	img.rcv_nxt = t.rcv_nxt;
	img.guest_wnd = t.guest_wnd;
	img.last_wnd = t.last_wnd;
	img.flow_label = t.flow_label;
	return true;
}

int tcp_flow_freeze(TcpCtx &ctx, uint32_t idx) {
	Flow *f = ctx.flows.get(idx, FlowType::Tcp);
	if (!f)
		return -ENOENT;
	TcpFlow &t = f->state<TcpFlow>();
	if (t.events != EV_REMOVED)
		ctx.loop.remove(t.sock);
	t.events = EV_REMOVED;
	t.deadline_ns = 0;
	t.frozen = 1;
	return t.sock;
}

void tcp_flow_thaw(TcpCtx &ctx, uint32_t idx, const timespec &now) {
	Flow *f = ctx.flows.get(idx, FlowType::Tcp);
	if (!f)
		return;
	TcpFlow &t = f->state<TcpFlow>();
	if (t.sock < 0 || !t.frozen)
		return;
	t.frozen = 0;
	t.drained = DRAINED_NO; // what arrived while out of the loop has no event
	uint32_t ev = est_events(t);
	if (ctx.loop.add(t.sock, ev, EpollRef{RefKind::TcpSock, t.sock, idx}) < 0) {
		warn("TCP: flow %u: can't watch its socket again, resetting it", idx);
		flow_rst(ctx, idx);
		return;
	}
	t.events = ev;
	// The dump peeked without an offset (SO_PEEK_OFF off): start again
	// from the last acknowledgement, offset 0.
	t.snd_nxt = t.snd_una;
	if (ctx.peek_off) {
		int zero = 0;
		setsockopt(t.sock, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero));
	}
	f->last_active = now;
	data_from_sock(ctx, idx, *f, now);
}

void tcp_flow_discard(TcpCtx &ctx, uint32_t idx) { flow_close(ctx, idx, false); }

int tcp_flow_adopt(TcpCtx &ctx, const TcpFlowImage &img, int sock, const timespec &now) {
	if (ctx.flows.lookup(FlowType::Tcp, FlowSideIdx::Guest, img.guest))
		return -EEXIST;
	auto idx = ctx.flows.alloc(FlowType::Tcp, now,
				   img.inbound ? FlowBudget::TcpIn : FlowBudget::TcpOut);
	if (!idx)
		return -ENOSPC;
	Flow &f = *ctx.flows.get(*idx);
	f.guest() = img.guest;
	f.host() = img.host;
	TcpFlow &t = f.init_state<TcpFlow>();
	t.sock = sock;
	t.state = TcpState::Established;
	if (img.guest_ws)
		t.flags |= tcpf::guest_ws;
	t.guest_wscale = img.guest_wscale;
	t.guest_mss = img.guest_mss;
	t.snd_una = t.snd_nxt = t.snd_max = img.snd_una;
	t.rcv_nxt = img.rcv_nxt;
	t.guest_wnd = img.guest_wnd;
	t.last_wnd = t.last_ack_wnd = img.last_wnd;
	t.flow_label = img.flow_label;
	sock_setup(ctx, sock);
	if (!flow_register(ctx, *idx, t, est_events(t))) {
		t.sock = -1;
		ctx.flows.free(*idx);
		return -EIO;
	}
	ctx.flows.settle(*idx);
	if (img.inbound)
		ctx.stats.conns_in++;
	else
		ctx.stats.conns_out++;
	debug("TCP: flow %u: migrated in, %s:%u -> %s:%u (host %s:%u)", *idx,
	      img.guest.peer_addr.text().c_str(), img.guest.peer_port,
	      img.guest.our_addr.text().c_str(), img.guest.our_port,
	      img.host.peer_addr.text().c_str(), img.host.peer_port);
	return int(*idx);
}

} // namespace passt
