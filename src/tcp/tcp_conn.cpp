// TCP translator, connections: open one for a guest SYN (host socket and
// non-blocking connect(), SYN-ACK once it completes) or for a connection
// accepted on a listener (SYN to the guest), and close or reset them. The
// per-flow state set up here is described in tcp.cpp.
//
// System calls: setsockopt (TCP_NODELAY, SO_PEEK_OFF, SO_LINGER),
// getsockopt (SO_ERROR), getsockname, getpeername, close. The host socket
// itself is opened, bound and connected by host_sock_open() (host_sock.cpp).
// #syscalls close getpeername getsockname getsockopt setsockopt
#include <cerrno>
#include <cstring>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "passt/core/log.h"
#include "passt/fwd/nat.h"
#include "passt/flow/host_sock.h"
#include "passt/net/sockaddr.h"
#include "passt/tcp/splice.h"
#include "tcp_priv.h"

namespace passt::tcp_detail {

namespace {

uint32_t new_isn(const TcpCtx &ctx, const FlowSide &g) {
	IsnGenerator gen(ctx.key);
	return gen.isn(g.our_addr, g.peer_addr, g.our_port, g.peer_port);
}

uint32_t new_label(const TcpCtx &ctx, const FlowSide &g) {
	SipHash h(ctx.key);
	h.add(std::span<const std::byte>(
		reinterpret_cast<const std::byte *>(g.peer_addr.a.b.data()), 16));
	h.add(std::span<const std::byte>(reinterpret_cast<const std::byte *>(g.our_addr.a.b.data()),
					 16));
	h.add_u16(g.peer_port);
	h.add_u16(g.our_port);
	h.add_u32(0x7c9);
	return uint32_t(h.finish()) & 0xfffff;
}

void sock_close(TcpCtx &ctx, TcpFlow &t, bool reset) {
	if (t.sock < 0)
		return;
	ctx.loop.remove(t.sock);
	if (reset) {
		linger l{1, 0};
		setsockopt(t.sock, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	}
	close(t.sock);
	t.sock = -1;
}

// Sequence space, flow label and handshake deadline of a new flow whose
// guest side is set.
void flow_start(TcpCtx &ctx, Flow &f, TcpFlow &t, const timespec &now) {
	t.snd_una = t.snd_nxt = new_isn(ctx, f.guest());
	t.flow_label = new_label(ctx, f.guest());
	set_deadline(ctx, t, now, TCP_HANDSHAKE_TIMEOUT_MS);
}

// The host socket of an outbound connection, bound to -o / --outbound-if as
// for every translator (host_sock.h), connect() started (it completes on
// EPOLLOUT, connect_done()). The fd, or -1 (logged).
int outbound_sock_open(const Config &c, FlowSide &h) {
	int fd = host_sock_open(c, {SOCK_STREAM, IPPROTO_TCP}, h);
	if (fd >= 0)
		return fd;
	if (fd == -ENETUNREACH || fd == -EHOSTUNREACH || fd == -ECONNREFUSED)
		debug_rl("TCP: connect to %s:%u: %s", h.peer_addr.text().c_str(), h.peer_port,
			 strerror(-fd));
	else
		warn_rl("TCP: can't open socket to %s:%u: %s", h.peer_addr.text().c_str(),
			h.peer_port, strerror(-fd));
	return -1;
}

// A SYN we can open a connection for: no other flags, usable addresses.
bool syn_acceptable(const FlowSide &key, const TcpRepr &s) {
	return !(s.flags & (tcpflag::ack | tcpflag::rst | tcpflag::fin)) &&
	       !key.peer_addr.is_unspecified() && !key.peer_addr.is_loopback() &&
	       !key.our_addr.is_unspecified();
}

// Give up on a new outbound flow: free it, RST to the guest.
void refuse(TcpCtx &ctx, uint32_t idx, const FlowSide &key, const TcpRepr &s) {
	ctx.flows.free(idx);
	rst_unmatched(ctx, key, s);
}

// Where an inbound connection appears in the guest: from the mapped source
// of the host peer h, to the guest's address (or the rule's) and the
// listener's target port. False if one of the addresses is missing.
bool inbound_guest_side(const TcpCtx &ctx, const TcpListener &l, const FlowSide &h, FlowSide &g) {
	const bool v4 = h.peer_addr.is_v4();
	g.our_addr = fwd_nat_to_tap(ctx.c, ipproto::tcp, h.peer_addr, h.peer_port);
	g.our_port = h.peer_port;
	const PortRule &rule = ctx.c.tcp_in.rules[l.rule];
	if (rule.to_addr && rule.to_addr->is_v4() == v4) {
		g.peer_addr = *rule.to_addr;
	} else if (v4) {
		g.peer_addr =
			ctx.tap.addr4_seen.is_unspecified() ? ctx.c.ip4.addr : ctx.tap.addr4_seen;
	} else {
		g.peer_addr =
			ctx.tap.addr6_seen.is_unspecified() ? ctx.c.ip6.addr : ctx.tap.addr6_seen;
	}
	g.peer_port = l.target;
	return !g.our_addr.is_unspecified() && !g.peer_addr.is_unspecified();
}

// pasta: a connection from the host's loopback goes to the namespace
// without frames (splice.cpp), unless --no-splice. True if it was handed
// over (fd with it).
bool splice_inbound(TcpCtx &ctx, const TcpListener &l, const FlowSide &h, Fd &sock,
		    const timespec &now) {
	const PortRule &rule = ctx.c.tcp_in.rules[l.rule];
	if (!ctx.splice || !fwd_splice_from_host(ctx.c, h.peer_addr, bool(rule.to_addr)))
		return false;
	const bool v4 = h.peer_addr.is_v4();
	InAny seen = v4 ? InAny(ctx.tap.addr4_seen) : InAny(ctx.tap.addr6_seen);
	tcp_splice_from_host(*ctx.splice, sock.release(),
			     fwd_splice_ns_target(ctx.c, !v4, seen, rule.to_addr), l.target, now);
	return true;
}

} // namespace

// Options every socket of a flow gets, and the SO_PEEK_OFF probe.
void sock_setup(TcpCtx &ctx, int s) {
	int one = 1;
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (ctx.peek_off) {
		int zero = 0;
		if (setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero)) < 0) {
			info("TCP: SO_PEEK_OFF not supported (%s): peeking from the start",
			     strerror(errno));
			ctx.peek_off = false;
		}
	}
}

// Watch the flow's socket with events and make its guest side findable.
// False (socket out of the epoll set again) if either fails.
bool flow_register(TcpCtx &ctx, uint32_t idx, TcpFlow &t, uint32_t events) {
	EpollRef ref{RefKind::TcpSock, t.sock, idx};
	t.events = events;
	if (ctx.loop.add(t.sock, events, ref) < 0 ||
	    !ctx.flows.hash_insert(idx, FlowSideIdx::Guest)) {
		ctx.loop.remove(t.sock);
		return false;
	}
	return true;
}

void apply_syn_opts(TcpFlow &t, const TcpRepr &s) {
	t.guest_mss = s.opts.mss && *s.opts.mss >= 64 ? *s.opts.mss : 536;
	if (s.opts.wscale) {
		t.flags |= tcpf::guest_ws;
		t.guest_wscale =
			*s.opts.wscale > tcpopt::max_wscale ? tcpopt::max_wscale : *s.opts.wscale;
	}
	t.guest_wnd = s.window; // never scaled in a SYN
}

// A SYN from the guest for no existing flow (key: its guest side): open the
// host socket.
void conn_from_tap(TcpCtx &ctx, const FlowSide &key, const TcpRepr &s, const timespec &now) {
	if (!syn_acceptable(key, s)) {
		rst_unmatched(ctx, key, s);
		return;
	}
	auto idx = ctx.flows.alloc(FlowType::Tcp, now, FlowBudget::TcpOut);
	if (!idx) {
		debug_rl("TCP: no flow for the guest's connection (budget full), resetting it");
		rst_unmatched(ctx, key, s);
		return;
	}
	Flow &f = *ctx.flows.get(*idx);
	FlowSide &g = f.guest();
	g.peer_addr = key.peer_addr;
	g.peer_port = key.peer_port;
	g.our_addr = key.our_addr;
	g.our_port = key.our_port;
	TcpFlow &t = f.init_state<TcpFlow>();
	t.sock = -1;
	t.state = TcpState::Connecting;
	t.rcv_nxt = s.seq + 1;
	apply_syn_opts(t, s);
	flow_start(ctx, f, t, now);

	if (!fwd_guest_to_host(ctx.c, ipproto::tcp, g, f.host()) ||
	    f.host().peer_addr.is_v4() != g.our_addr.is_v4()) {
		debug_rl("TCP: connection to %s not forwardable", g.our_addr.text().c_str());
		refuse(ctx, *idx, key, s);
		return;
	}
	FlowSide &h = f.host();
	int fd = outbound_sock_open(ctx.c, h);
	if (fd < 0) {
		refuse(ctx, *idx, key, s);
		return;
	}
	t.sock = fd;
	sock_setup(ctx, fd);
	if (!flow_register(ctx, *idx, t, EPOLLOUT)) {
		close(fd);
		refuse(ctx, *idx, key, s);
		return;
	}
	ctx.stats.conns_out++;
	debug_rl("TCP: flow %u: %s:%u -> %s:%u (host %s:%u)", *idx, g.peer_addr.text().c_str(),
		 g.peer_port, g.our_addr.text().c_str(), g.our_port, h.peer_addr.text().c_str(),
		 h.peer_port);
}

// Host connect() finished for a Connecting flow.
void connect_done(TcpCtx &ctx, uint32_t idx, Flow &f, const timespec &now) {
	TcpFlow &t = f.state<TcpFlow>();
	int err = 0;
	socklen_t sl = sizeof(err);
	if (getsockopt(t.sock, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
		err = errno;
	if (err) {
		debug_rl("TCP: flow %u: connect: %s", idx, strerror(err));
		flow_rst(ctx, idx);
		return;
	}
	SockAddr sa;
	socklen_t l = sizeof(sa);
	if (getsockname(t.sock, &sa.sa, &l) == 0)
		sockaddr_to(sa, f.host().our_addr, f.host().our_port);
	TcpOptions o = syn_opts(ctx, f.guest().our_addr.is_v4(), t.flags & tcpf::guest_ws);
	uint32_t room = sock_wnd(t.sock);
	t.last_wnd = room > 65535 ? 65535 : room;
	send_ctrl_raw(ctx, ends_of(f), tcpflag::syn | tcpflag::ack, t.snd_nxt, t.rcv_nxt,
		      uint16_t(t.last_wnd), &o);
	t.snd_nxt++;
	t.snd_una = t.snd_max = t.snd_nxt; // the SYN is not data: count from after it
	t.state = TcpState::SynAckSent;
	set_events(ctx, idx, t, 0);
	f.last_active = now;
}

// The handshake with the guest is complete.
void established(TcpCtx &ctx, uint32_t idx, Flow &f, const timespec &now) {
	TcpFlow &t = f.state<TcpFlow>();
	t.state = TcpState::Established;
	ctx.flows.settle(idx); // no longer a candidate for eviction
	t.deadline_ns = 0;
	t.retrans = 0;
	set_events(ctx, idx, t, est_events(t));
	f.last_active = now;
}

// An accepted connection on a listener: new flow, SYN to the guest.
void conn_from_sock(TcpCtx &ctx, const TcpListener &l, int fd, const timespec &now) {
	Fd sock(fd);
	SockAddr peer, local;
	socklen_t pl = sizeof(peer), ll = sizeof(local);
	if (getpeername(fd, &peer.sa, &pl) < 0 || getsockname(fd, &local.sa, &ll) < 0)
		return;
	FlowSide h;
	sockaddr_to(peer, h.peer_addr, h.peer_port);
	sockaddr_to(local, h.our_addr, h.our_port);
	const bool v4 = h.peer_addr.is_v4();
	if (splice_inbound(ctx, l, h, sock, now))
		return;
	if (v4 ? !ctx.c.ip4.enabled : !ctx.c.ip6.enabled)
		return;

	FlowSide g;
	if (!inbound_guest_side(ctx, l, h, g)) {
		debug_rl("TCP: can't present connection from %s to the guest",
			 h.peer_addr.text().c_str());
		return;
	}
	auto idx = ctx.flows.alloc(FlowType::Tcp, now, FlowBudget::TcpIn);
	if (!idx) {
		debug_rl("TCP: no flow for an inbound connection (budget full), refusing it");
		linger lg{1, 0};
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		return;
	}
	Flow &f = *ctx.flows.get(*idx);
	f.guest() = g;
	f.host() = h;
	TcpFlow &t = f.init_state<TcpFlow>();
	t.sock = fd;
	t.state = TcpState::SynSent;
	flow_start(ctx, f, t, now);
	sock_setup(ctx, fd);
	if (!flow_register(ctx, *idx, t, 0)) {
		ctx.flows.free(*idx);
		return;
	}
	sock.release();
	TcpOptions o = syn_opts(ctx, v4, true);
	uint32_t room = sock_wnd(fd);
	t.last_wnd = room > 65535 ? 65535 : room;
	send_ctrl_raw(ctx, ends_of(f), tcpflag::syn, t.snd_nxt, 0, uint16_t(t.last_wnd), &o);
	t.snd_nxt++;
	t.snd_max = t.snd_nxt;
	ctx.stats.conns_in++;
	debug_rl("TCP: flow %u: inbound %s:%u -> guest %s:%u", *idx, h.peer_addr.text().c_str(),
		 h.peer_port, g.peer_addr.text().c_str(), g.peer_port);
}

void flow_close(TcpCtx &ctx, uint32_t idx, bool reset_host) {
	Flow *f = ctx.flows.get(idx, FlowType::Tcp);
	if (!f)
		return;
	sock_close(ctx, f->state<TcpFlow>(), reset_host);
	debug_rl("TCP: flow %u closed%s (totals: %lu partial sends, %lu holes, %lu retransmits, "
		 "%lu window updates, %lu dropped)",
		 idx, reset_host ? " (reset)" : "", (unsigned long)ctx.stats.partial_sends,
		 (unsigned long)ctx.stats.holes, (unsigned long)ctx.stats.retransmits,
		 (unsigned long)ctx.stats.wnd_updates, (unsigned long)ctx.stats.dropped);
	ctx.flows.free(idx);
}

// Reset both ways: RST to the guest, SO_LINGER 0 close of the socket.
void flow_rst(TcpCtx &ctx, uint32_t idx) {
	Flow *f = ctx.flows.get(idx, FlowType::Tcp);
	if (!f)
		return;
	TcpFlow &t = f->state<TcpFlow>();
	if (t.state == TcpState::Connecting)
		send_ctrl_raw(ctx, ends_of(*f), tcpflag::rst | tcpflag::ack, 0, t.rcv_nxt, 0,
			      nullptr);
	else
		send_ctrl_raw(ctx, ends_of(*f), tcpflag::rst | tcpflag::ack, t.snd_nxt, t.rcv_nxt,
			      0, nullptr);
	flow_close(ctx, idx, true);
}

// The flow table needs room (flow.h): a half-open flow goes, oldest first,
// with an RST to the guest and a reset host socket.
bool flow_evict(TcpCtx &ctx, uint32_t idx) {
	Flow *f = ctx.flows.get(idx, FlowType::Tcp);
	if (!f)
		return false;
	debug_rl("TCP: flow %u: evicted (half-open, %s) for a new connection", idx,
		 flow_budget_name(f->budget));
	ctx.stats.evicted++;
	flow_rst(ctx, idx);
	return true;
}

// True if both directions are finished: close the flow.
bool maybe_done(TcpCtx &ctx, uint32_t idx, TcpFlow &t) {
	if ((t.flags & tcpf::guest_fin) && (t.flags & tcpf::fin_acked)) {
		flow_close(ctx, idx, false);
		return true;
	}
	return false;
}

} // namespace passt::tcp_detail
