// ICMP / ICMPv6 echo through ping sockets. The theory of operation is in
// include/passt/icmp/icmp.h.
//
// A ping socket per flow, opened when the guest first pings.
// #syscalls getsockopt sendto recvfrom close
#include "passt/icmp/icmp.h"

#include <cerrno>
#include <cstring>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "passt/core/log.h"
#include "passt/core/util.h"
#include "passt/fwd/nat.h"
#include "passt/flow/host_sock.h"
#include "passt/flow/refuse.h"
#include "passt/net/build.h"
#include "passt/net/eth.h"
#include "passt/net/icmp.h"
#include "passt/net/icmpv6.h"
#include "passt/net/ip4.h"
#include "passt/net/ip6.h"
#include "passt/net/sockaddr.h"

namespace passt {

namespace {

// Where an ICMP message starts in a frame we build, per family.
constexpr size_t MSG_OFF4 = frame::icmp4_body_off - 4;
constexpr size_t MSG_OFF6 = frame::icmp6_body_off - 4;
// Largest message: the IPv6 payload length field limits it.
constexpr size_t MSG_MAX = 65535;
// Replies read per socket and wake-up (the socket is level-triggered).
constexpr int RECV_BATCH = 32;

// Reply frames are built here, in place; one at a time (single thread).
alignas(64) std::byte reply_buf[MSG_OFF6 + MSG_MAX];

// Open the ping socket of a new flow. Bound, never connected: requests
// name their target. Identifier 0 is bound, so the kernel picks one no
// other ping socket of this namespace holds (asking for the guest's would
// "succeed" even when taken, ping sockets being created reusable, and
// replies would then go to whichever socket the kernel finds first); it
// ends up in host.our_port and pf.host_id. Returns the fd or -errno.
int ping_sock_open(const Config &c, FlowSide &host, PingFlow &pf) {
	int proto = host.peer_addr.is_v4() ? int(IPPROTO_ICMP) : int(IPPROTO_ICMPV6);
	host.our_port = 0;
	int fd = host_sock_open(c, {SOCK_DGRAM, proto, false}, host, &pf.scope_id);
	if (fd >= 0)
		pf.host_id = host.our_port;
	return fd;
}

// Tell the guest that its echo request l3 opened no flow (flow/refuse.h).
void refuse(IcmpCtx &ctx, std::span<const std::byte> l3, Unreachable why, const timespec &now) {
	flow_refuse(ctx.out, ctx.tap.guest_mac, ctx.c.our_tap_mac, l3, why, now);
}

// Create the flow for a new echo session started by the request l3, or
// nullopt (logged, and refused with an ICMP error where we failed).
std::optional<uint32_t> ping_flow_new(IcmpCtx &ctx, FlowType type, const FlowSide &guest,
				      std::span<const std::byte> l3, const timespec &now) {
	auto idx = ctx.flows.alloc(type, now);
	if (!idx) {
		debug_rl("ICMP: flow table full, dropping echo request");
		refuse(ctx, l3, Unreachable::Prohibited, now);
		return std::nullopt;
	}
	Flow &f = *ctx.flows.get(*idx);
	f.guest() = guest;
	PingFlow &pf = f.init_state<PingFlow>();
	pf.guest_id = guest.peer_port;

	uint8_t proto = type == FlowType::Ping4 ? ipproto::icmp : ipproto::icmpv6;
	if (!fwd_guest_to_host(ctx.c, proto, guest, f.host()) ||
	    f.host().peer_addr.is_v4() != guest.our_addr.is_v4()) {
		debug_rl("ICMP: echo request to %s not forwardable", guest.our_addr.text().c_str());
		ctx.flows.free(*idx);
		return std::nullopt;
	}

	int fd = ping_sock_open(ctx.c, f.host(), pf);
	if (fd < 0) {
		if (fd == -EACCES)
			warn_rl("ICMP: can't open ping socket: %s (is our group in "
				"net.ipv4.ping_group_range?)",
				strerror(-fd));
		else
			warn_rl("ICMP: can't open ping socket: %s", strerror(-fd));
		ctx.flows.free(*idx);
		refuse(ctx, l3, unreachable_for(fd), now);
		return std::nullopt;
	}
	pf.sock = fd;

	EpollRef ref;
	ref.kind = RefKind::PingSock;
	ref.index = *idx;
	int rc = ctx.loop.add(fd, EPOLLIN, ref);
	if (rc < 0 || !ctx.flows.hash_insert(*idx, FlowSideIdx::Guest)) {
		warn_rl("ICMP: can't register ping socket: %s", rc < 0 ? strerror(-rc) : "hash");
		if (rc == 0)
			ctx.loop.remove(fd);
		close(fd);
		ctx.flows.free(*idx);
		refuse(ctx, l3, Unreachable::Prohibited, now);
		return std::nullopt;
	}
	debug_rl("ICMP: flow %u: %s id %u -> %s (host %s id %u)", *idx,
		 guest.peer_addr.text().c_str(), guest.peer_port, guest.our_addr.text().c_str(),
		 f.host().peer_addr.text().c_str(), pf.host_id);
	return idx;
}

// An echo request, parsed out of a guest frame.
struct EchoRequest {
	FlowType type;
	InAny src, dst;
	uint16_t id, seq;
	std::span<const std::byte> msg; // whole ICMP/ICMPv6 message
};

std::optional<EchoRequest> parse_echo4(std::span<const std::byte> l3) {
	auto ip = ConstIp4View::parse(l3);
	if (!ip || !ip->checksum_ok() || ip->protocol() != ipproto::icmp || ip->is_fragment())
		return std::nullopt;
	auto icmp = ConstIcmpView::parse(ip->payload());
	if (!icmp || icmp->type() != icmptype::echo_request || icmp->code() != 0 ||
	    !icmp->checksum_ok())
		return std::nullopt;
	Ipv4Addr src = ip->saddr();
	if (src.is_unspecified() || src.is_multicast() || src.is_broadcast() || src.is_loopback())
		return std::nullopt;
	return EchoRequest{FlowType::Ping4, src,         ip->daddr(),
			   icmp->id(),      icmp->seq(), icmp->bytes()};
}

std::optional<EchoRequest> parse_echo6(std::span<const std::byte> l3) {
	auto ip = ConstIp6View::parse(l3);
	if (!ip || ip->proto() != ipproto::icmpv6 || ip->is_fragment())
		return std::nullopt;
	auto icmp = ConstIcmp6View::parse(ip->l4());
	if (!icmp || icmp->type() != icmp6type::echo_request || icmp->code() != 0 ||
	    !icmp->checksum_ok(ip->saddr(), ip->daddr()))
		return std::nullopt;
	Ipv6Addr src = ip->saddr();
	if (src.is_unspecified() || src.is_multicast() || src.is_loopback() || src.is_v4mapped())
		return std::nullopt;
	return EchoRequest{FlowType::Ping6, src,         ip->daddr(),
			   icmp->id(),      icmp->seq(), icmp->bytes()};
}

void icmp_handler_trampoline(void *ctx, EpollRef ref, uint32_t events, const timespec &now) {
	icmp_sock_handler(*static_cast<IcmpCtx *>(ctx), ref, events, now);
}

void icmp_timer_trampoline(void *ctx, const timespec &now) {
	IcmpCtx &c = *static_cast<IcmpCtx *>(ctx);
	icmp_timer(c, now);
	if (!c.flows.in_use(FlowType::Ping4) && !c.flows.in_use(FlowType::Ping6))
		c.loop.timers().disarm(c.timer); // until the next flow (see timer.h)
}

bool is_ping(FlowType t) { return t == FlowType::Ping4 || t == FlowType::Ping6; }

// The ICMP budget is full (flow.h): this echo session goes for a new one
// (unanswered ones first, then the oldest).
bool icmp_evict_trampoline(void *ctx, uint32_t idx) {
	IcmpCtx &c = *static_cast<IcmpCtx *>(ctx);
	const Flow *f = c.flows.get(idx);
	if (!f || !is_ping(f->type))
		return false;
	debug_rl("ICMP: flow %u: evicted for a new echo session", idx);
	icmp_flow_close(c, idx);
	return true;
}

} // namespace

int icmp_init(IcmpCtx &ctx) {
	ctx.loop.set_handler(RefKind::PingSock, icmp_handler_trampoline, &ctx);
	ctx.flows.set_evictor(FlowType::Ping4, icmp_evict_trampoline, &ctx, true);
	ctx.flows.set_evictor(FlowType::Ping6, icmp_evict_trampoline, &ctx, true);
	ctx.timer =
		ctx.loop.timers().add("icmp", ICMP_TIMER_INTERVAL_MS, icmp_timer_trampoline, &ctx);
	if (ctx.timer < 0)
		return -ENOSPC;
	ctx.loop.timers().disarm(ctx.timer);
	ctx.flows.bind_timer(FlowType::Ping4, ctx.loop.timers(), ctx.timer);
	ctx.flows.bind_timer(FlowType::Ping6, ctx.loop.timers(), ctx.timer);
	return 0;
}

bool icmp_tap_input(IcmpCtx &ctx, std::span<const std::byte> frame, const timespec &now) {
	if (ctx.c.no_icmp)
		return false;
	auto eth = ConstEthView::parse(frame);
	if (!eth)
		return false;

	std::optional<EchoRequest> req;
	if (eth->ethertype() == ethertype::ipv4 && ctx.c.ip4.enabled)
		req = parse_echo4(eth->payload());
	else if (eth->ethertype() == ethertype::ipv6 && ctx.c.ip6.enabled)
		req = parse_echo6(eth->payload());
	if (!req) {
		trace_rl("ICMP: dropping malformed or non-echo frame from guest");
		return false;
	}

	// The guest's echo id stands for its port; there is none on our end.
	FlowSide guest = flowside_from_guest(req->src, req->id, req->dst, 0);
	auto idx = ctx.flows.lookup_or_create(req->type, guest, [&] {
		return ping_flow_new(ctx, req->type, guest, eth->payload(), now);
	});
	if (!idx)
		return false;
	Flow &f = *ctx.flows.get(*idx);
	PingFlow &pf = f.state<PingFlow>();

	SockAddr sa;
	socklen_t len = sockaddr_from(sa, f.host().peer_addr, 0, pf.scope_id);
	ssize_t n;
	do
		n = sendto(pf.sock, req->msg.data(), req->msg.size(), MSG_NOSIGNAL, &sa.sa, len);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int e = errno;
		if (e == EAGAIN || e == EWOULDBLOCK)
			debug_rl("ICMP: flow %u: socket buffer full, dropping request", *idx);
		else
			warn_rl("ICMP: flow %u: echo request to %s failed: %s", *idx,
				f.host().peer_addr.text().c_str(), strerror(e));
		return false;
	}
	pf.last_seq = req->seq;
	pf.sent++;
	f.last_active = now;
	trace_rl("ICMP: flow %u: echo request id %u seq %u, %zu bytes", *idx, pf.guest_id, req->seq,
		 req->msg.size());
	return true;
}

void icmp_sock_handler(IcmpCtx &ctx, EpollRef ref, uint32_t events, const timespec &now) {
	Flow *f = ctx.flows.get(ref.index);
	if (!f || !is_ping(f->type) || f->state<PingFlow>().sock != ref.fd) {
		debug_rl("ICMP: event for stale ping socket %d (flow %u)", ref.fd, ref.index);
		return;
	}
	PingFlow &pf = f->state<PingFlow>();
	bool v4 = f->type == FlowType::Ping4;

	if (events & EPOLLERR) {
		int e = 0;
		socklen_t sl = sizeof(e);
		if (getsockopt(pf.sock, SOL_SOCKET, SO_ERROR, &e, &sl) == 0 && e)
			debug_rl("ICMP: flow %u: socket error: %s", ref.index, strerror(e));
	}

	size_t off = v4 ? MSG_OFF4 : MSG_OFF6;
	size_t cap = v4 ? MSG_MAX - 20 : MSG_MAX;
	unsigned sent = 0;
	for (int i = 0; i < RECV_BATCH; i++) {
		std::byte *msg = reply_buf + off;
		ssize_t n = recv(pf.sock, msg, cap, MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				debug_rl("ICMP: flow %u: recv: %s", ref.index, strerror(errno));
			break;
		}
		if (size_t(n) > cap || size_t(n) < IcmpView::hdr_len) {
			debug_rl("ICMP: flow %u: dropping reply of %zd bytes", ref.index, n);
			continue;
		}
		uint8_t type = uint8_t(msg[0]);
		if (type != (v4 ? icmptype::echo_reply : icmp6type::echo_reply) ||
		    load_be16(msg + 4) != pf.host_id) {
			debug_rl("ICMP: flow %u: unexpected message type %u", ref.index, type);
			continue;
		}
		store_be16(msg + 4, pf.guest_id);

		std::span<std::byte> buf(reply_buf, off + size_t(n));
		const FlowSide &g = f->guest();
		size_t len;
		if (v4)
			len = build_icmp4_inplace(buf, ctx.tap.guest_mac, ctx.c.our_tap_mac,
						  g.our_addr.v4(), g.peer_addr.v4(),
						  icmptype::echo_reply, 0, size_t(n) - 4);
		else
			len = build_icmp6_inplace(buf, ctx.tap.guest_mac, ctx.c.our_tap_mac,
						  g.our_addr.v6(), g.peer_addr.v6(),
						  icmp6type::echo_reply, 0, size_t(n) - 4, 64);
		if (!len || !ctx.out.send_frame(std::span<const std::byte>(reply_buf, len))) {
			debug_rl("ICMP: flow %u: reply dropped", ref.index);
			continue;
		}
		pf.received++;
		f->last_active = now;
		ctx.flows.settle(ref.index);
		sent++;
		trace_rl("ICMP: flow %u: echo reply id %u seq %u", ref.index, pf.guest_id,
			 load_be16(msg + 6));
	}
	if (sent)
		ctx.out.flush();
}

void icmp_flow_close(IcmpCtx &ctx, uint32_t index) {
	Flow *f = ctx.flows.get(index);
	if (!f || !is_ping(f->type))
		return;
	PingFlow &pf = f->state<PingFlow>();
	if (pf.sock >= 0) {
		ctx.loop.remove(pf.sock);
		close(pf.sock);
	}
	debug_rl("ICMP: flow %u closed (%u requests, %u replies)", index, pf.sent, pf.received);
	ctx.flows.free(index);
}

unsigned icmp_timer(IcmpCtx &ctx, const timespec &now) {
	unsigned closed = 0;
	ctx.flows.for_each([&](uint32_t i, Flow &f) {
		if (!is_ping(f.type))
			return;
		int64_t idle_ns = timespec_diff_ns(now, f.last_active);
		if (idle_ns >= int64_t(ICMP_FLOW_TIMEOUT_S) * NS_PER_SEC) {
			icmp_flow_close(ctx, i);
			closed++;
		}
	});
	return closed;
}

} // namespace passt
