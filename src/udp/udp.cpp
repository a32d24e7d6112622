// UDP translation between the guest's frames and host UDP sockets.
//
// Theory of operation
// -------------------
// UDP has no connections, so a "flow" here is a pseudo-connection: the
// 4-tuple of one conversation, kept in the shared flow table as a
// FlowType::Udp entry. Its guest side holds the guest's address and port
// and the destination as the guest addressed it; its host side holds the
// real remote end after NAT (fwd.h) and our socket's own address and port.
//
// Outbound (the guest speaks first). A datagram from the guest is parsed
// defensively (IP and UDP lengths, checksums, no fragments), then looked up
// by its guest side. The first datagram of a 4-tuple creates the flow: the
// NAT rules give the host-side target (the map-host-loopback address becomes
// 127.0.0.1 / ::1, --dns-forward's address and port 53 become the host's
// resolver), and a non-blocking UDP socket is opened for the flow alone,
// bound to -o / --outbound-if (never for loopback targets) and connect()ed
// to the target (flow/host_sock.h). It is registered as RefKind::UdpSock with the flow index.
// Guest datagrams go out on that socket (see Batching). Because the socket
// is connected, the kernel hands it only datagrams from the target, so
// every reply belongs to the flow: they are read in batches with
// recvmmsg() straight into frame buffers, behind room for the headers, and
// become frames from the destination as the guest addressed it (reverse
// NAT for free: a reply from the host's loopback appears to come from the
// gateway, the resolver's from the --dns-forward address) to the guest's
// address and port. All frames of one wake-up are queued to the TapOutput
// and flushed once.
//
// Inbound (-u). For each port of each Spec/All rule we bind a socket per
// enabled address family (or to the rule's address/interface), registered
// as RefKind::UdpListen with the port and the rule index in the reference.
// pasta's "-u auto" rules bind and close theirs in udp_listen_sync() as
// ports come and go in the namespace (fwd/portscan.cpp; the sync and the
// sockets' slots are shared with the other translators in
// fwd/listeners.cpp); closing one first closes the inbound flows that
// answer through it.
// A datagram from a host peer is matched by the flow's host side (peer
// address and port, our bound address and port); the first one of a peer
// creates a flow whose guest side goes from the peer as the guest may see
// it (loopback appears as the map-host-loopback address) to the guest's
// address (or the rule's target address) and target port. Such a flow owns
// no socket: the guest's replies, found by their guest side, go back to
// the peer (an explicit destination address) from the same bound socket,
// so the peer sees them come from the port it wrote to.
//
// Batching. The tap backends hand us the guest's frames a batch at a time
// (tap_input_pool()), and the frames stay put until the batch is done. So
// udp_tap_input() only validates a datagram and finds or creates its flow,
// then queues it: a pointer to the payload inside the frame, the flow and
// its socket. At the end of the batch the demux calls udp_tap_flush()
// (also when the queue of UDP_TX_BATCH entries fills up), which sends each
// run of consecutive datagrams for the same socket with one sendmmsg(),
// naming the peer per datagram for inbound flows. Queue order is arrival
// order, so each flow's datagrams leave in the order the guest sent them.
// A UDP GSO frame of pasta's namespace (UDP_SEGMENT there) reaches us
// already cut into its datagrams by the tap layer (tap/udp_gso.h), which
// thus leave as consecutive entries of one run: one sendmmsg(), boundaries
// kept.
// Counters (to_host, per flow too, and last_active) move only when the
// kernel took a datagram; sendmmsg() stops at the first failure, so what
// follows it is offered again: a full socket buffer (or ENOBUFS) drops the
// rest of the run (send_failed), other errors drop only the failing
// datagram. A flow closed with datagrams still queued takes them out of
// the queue unsent, so nothing is ever written to a socket closed or
// reused in between.
//
// pasta's loopback bypass (udp_splice.cpp) takes -u datagrams from a host
// loopback source to rules without a target address (not with
// --no-splice: fwd_splice_from_host()), and the events of its own sockets,
// which are registered as RefKind::UdpSock too.
//
// Limits. Datagrams up to the MTU go both ways; a host datagram that would
// not fit in the guest's MTU is dropped (counted). Guest datagrams to
// broadcast or multicast addresses (limited, or the directed broadcast of
// the guest's prefix, or to a multicast MAC) are dropped and counted: we
// have no way to broadcast on the host's behalf. DHCP and DHCPv6 never get
// here (the tap demux answers them).
//
// Floods. UDP flows are charged to the flow table's Udp budget (flow.h), so
// that a flood of datagrams from many sources cannot take the entries of
// TCP or ICMP; a flow is pending until the other side answers (a reply from
// the host, or the guest's first datagram back to a -u peer). With the
// budget full a new flow evicts the oldest unanswered one, else the oldest
// one (evict_trampoline()).
//
// Timers: flows idle (no datagram either way) for UDP_FLOW_TIMEOUT_S are
// closed from a periodic timer (armed only while UDP flows exist), with
// their socket. Nothing here is fatal on
// the data path: errors are counted and logged rate-limited; asynchronous
// socket errors (ICMP port unreachable reported as ECONNREFUSED) are read
// and logged, and don't cost the next datagram: the send that consumes one
// is tried once more.
//
// #syscalls bind close getsockopt sendmmsg setsockopt socket
#include "passt/udp/udp.h"

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
#include "passt/fwd/listeners.h"
#include "passt/net/build.h"
#include "passt/net/eth.h"
#include "passt/net/ip4.h"
#include "passt/net/ip6.h"
#include "passt/net/recv_batch.h"
#include "passt/net/sockaddr.h"
#include "passt/net/udp_repr.h"
#include "passt/udp/udp_splice.h"

namespace passt {

namespace {

// Datagrams read per recvmmsg() call, and calls per wake-up at most (the
// sockets are level-triggered: whatever is left wakes us again).
constexpr int RECV_BATCH = 32;
constexpr int RECV_ROUNDS = 8;
// Room for Ethernet + IPv6 + UDP headers in front of each received payload;
// an IPv4 frame starts 20 bytes further in.
constexpr size_t HDR_ROOM = frame::udp6_payload_off;
constexpr size_t V4_SHIFT = frame::udp6_payload_off - frame::udp4_payload_off;
// Largest UDP payloads the IP length fields allow.
constexpr size_t PAYLOAD_MAX4 = 65535 - 20 - 8;
constexpr size_t PAYLOAD_MAX6 = 65535 - 8;
constexpr size_t SLOT = (HDR_ROOM + PAYLOAD_MAX6 + 63) / 64 * 64;
// MTU assumed when none is advertised (-m 0).
constexpr size_t DEFAULT_MTU = 65520;

// Receive buffers: one frame slot per datagram of a batch (single thread).
RecvBatch<RECV_BATCH, SLOT> rx;

InAny any_of(bool v4) { return v4 ? InAny(Ipv4Addr{}) : InAny(Ipv6Addr{}); }

// Biggest payload a frame to the guest may carry within its MTU.
size_t max_payload(const Config &c, bool v4) {
	size_t mtu = c.mtu ? c.mtu : DEFAULT_MTU;
	size_t hdrs = v4 ? 20 + 8 : 40 + 8;
	if (mtu > 65535 + (v4 ? 0 : 40))
		mtu = 65535 + (v4 ? 0 : 40);
	if (mtu <= hdrs)
		return 0;
	size_t m = mtu - hdrs;
	size_t cap = v4 ? PAYLOAD_MAX4 : PAYLOAD_MAX6;
	return m < cap ? m : cap;
}

// Broadcast address of the guest's IPv4 prefix (a /31 or /32 has none).
bool is_directed_bcast4(const Config &c, const Ipv4Addr &dst) {
	unsigned p = c.ip4.prefix_len;
	if (p == 0 || p >= 31)
		return false;
	uint32_t mask = ~uint32_t(0) << (32 - p);
	return (dst.host() & mask) == (c.ip4.addr.host() & mask) && (dst.host() | mask) == ~0u;
}

// Read and log a pending asynchronous error of a socket (clears it).
void drain_sock_error(int fd, const char *what, uint32_t idx) {
	int e = 0;
	socklen_t sl = sizeof(e);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) == 0 && e)
		debug_rl("UDP: %s %u: socket error: %s", what, idx, strerror(e));
}

bool is_udp(const Flow *f) { return f && f->type == FlowType::Udp; }

// Tell the guest that its datagram l3 opened no flow (flow/refuse.h).
void refuse(UdpCtx &ctx, std::span<const std::byte> l3, Unreachable why, const timespec &now) {
	if (flow_refuse(ctx.out, ctx.tap.guest_mac, ctx.c.our_tap_mac, l3, why, now))
		ctx.stats.refused++;
}

// Create the flow of a new outbound 4-tuple for the guest's datagram l3, or
// nullopt (counted, logged, refused with an ICMP error where we failed).
std::optional<uint32_t> outbound_flow_new(UdpCtx &ctx, const FlowSide &guest,
					  std::span<const std::byte> l3, const timespec &now) {
	auto idx = ctx.flows.alloc(FlowType::Udp, now, FlowBudget::Udp);
	if (!idx) {
		ctx.stats.unforwardable++;
		debug_rl("UDP: flow table full, dropping datagram");
		refuse(ctx, l3, Unreachable::Prohibited, now);
		return std::nullopt;
	}
	Flow &f = *ctx.flows.get(*idx);
	f.guest() = guest;
	UdpFlow &uf = f.init_state<UdpFlow>();

	if (!fwd_guest_to_host(ctx.c, ipproto::udp, guest, f.host()) ||
	    f.host().peer_addr.is_v4() != guest.our_addr.is_v4()) {
		ctx.stats.unforwardable++;
		debug_rl("UDP: datagram to %s:%u not forwardable", guest.our_addr.text().c_str(),
			 guest.our_port);
		ctx.flows.free(*idx);
		return std::nullopt;
	}
	// A connected socket: the kernel hands it only the target's replies.
	int fd = host_sock_open(ctx.c, {SOCK_DGRAM, IPPROTO_UDP}, f.host(), &uf.scope_id);
	if (fd < 0) {
		ctx.stats.unforwardable++;
		warn_rl("UDP: can't open socket to %s:%u: %s", f.host().peer_addr.text().c_str(),
			f.host().peer_port, strerror(-fd));
		ctx.flows.free(*idx);
		refuse(ctx, l3, unreachable_for(fd), now);
		return std::nullopt;
	}
	uf.sock = fd;

	EpollRef ref;
	ref.kind = RefKind::UdpSock;
	ref.index = *idx;
	int rc = ctx.loop.add(fd, EPOLLIN, ref);
	if (rc < 0 || !ctx.flows.hash_insert(*idx, FlowSideIdx::Guest)) {
		ctx.stats.unforwardable++;
		warn_rl("UDP: can't register socket: %s", rc < 0 ? strerror(-rc) : "hash");
		if (rc == 0)
			ctx.loop.remove(fd);
		close(fd);
		ctx.flows.free(*idx);
		refuse(ctx, l3, Unreachable::Prohibited, now);
		return std::nullopt;
	}
	ctx.stats.flows_opened++;
	debug_rl("UDP: flow %u: %s:%u -> %s:%u (host %s:%u)", *idx, guest.peer_addr.text().c_str(),
		 guest.peer_port, guest.our_addr.text().c_str(), guest.our_port,
		 f.host().peer_addr.text().c_str(), f.host().peer_port);
	return idx;
}

// The guest's address to deliver inbound datagrams to, per family: the one
// it uses, else the configured one.
InAny guest_addr_for(const UdpCtx &ctx, bool v4) {
	if (v4)
		return ctx.tap.addr4_seen.is_unspecified() ? InAny(ctx.c.ip4.addr)
							   : InAny(ctx.tap.addr4_seen);
	if (!ctx.tap.addr6_seen.is_unspecified())
		return InAny(ctx.tap.addr6_seen);
	if (!ctx.c.ip6.addr.is_unspecified())
		return InAny(ctx.c.ip6.addr);
	return InAny(ctx.tap.addr6_ll_seen);
}

// Create the flow for a host peer's first datagram to a -u port.
std::optional<uint32_t> inbound_flow_new(UdpCtx &ctx, const PortRule &r, uint16_t port,
					 int listen_fd, const FlowSide &host, uint32_t scope,
					 const timespec &now) {
	bool v4 = host.peer_addr.is_v4();
	FlowSide guest;
	guest.peer_addr = r.to_addr ? *r.to_addr : guest_addr_for(ctx, v4);
	guest.peer_port = uint16_t(r.to_first + (port - r.first));
	guest.our_addr = fwd_nat_to_tap(ctx.c, ipproto::udp, host.peer_addr, host.peer_port);
	guest.our_port = host.peer_port;
	if (guest.peer_addr.is_unspecified() || guest.our_addr.is_unspecified() ||
	    guest.peer_addr.is_v4() != v4 || guest.our_addr.is_v4() != v4) {
		ctx.stats.unforwardable++;
		debug_rl("UDP: datagram from %s:%u to port %u can't be presented to the guest",
			 host.peer_addr.text().c_str(), host.peer_port, port);
		return std::nullopt;
	}

	auto idx = ctx.flows.alloc(FlowType::Udp, now, FlowBudget::Udp);
	if (!idx) {
		ctx.stats.unforwardable++;
		debug_rl("UDP: flow table full, dropping datagram");
		return std::nullopt;
	}
	Flow &f = *ctx.flows.get(*idx);
	f.guest() = guest;
	f.host() = host;
	UdpFlow &uf = f.init_state<UdpFlow>();
	uf.sock = listen_fd;
	uf.inbound = true;
	uf.scope_id = scope;
	if (!ctx.flows.hash_insert(*idx, FlowSideIdx::Host) ||
	    !ctx.flows.hash_insert(*idx, FlowSideIdx::Guest)) {
		// The guest side clashes with an outbound flow of the guest.
		ctx.stats.unforwardable++;
		debug_rl("UDP: flow for %s:%u -> port %u clashes with an existing one",
			 host.peer_addr.text().c_str(), host.peer_port, port);
		ctx.flows.free(*idx);
		return std::nullopt;
	}
	ctx.stats.flows_opened++;
	debug_rl("UDP: flow %u: host %s:%u -> port %u, to guest %s:%u from %s:%u", *idx,
		 host.peer_addr.text().c_str(), host.peer_port, port,
		 guest.peer_addr.text().c_str(), guest.peer_port, guest.our_addr.text().c_str(),
		 guest.our_port);
	return idx;
}

// Turn the payload of n bytes in rx slot i into a frame for the guest side
// g and queue it. False if it was dropped.
bool slot_to_tap(UdpCtx &ctx, int i, size_t n, const FlowSide &g) {
	std::byte *slot = rx.buf[i];
	size_t len;
	const std::byte *start;
	if (g.peer_addr.is_v4()) {
		std::span<std::byte> buf(slot + V4_SHIFT, SLOT - V4_SHIFT);
		len = build_udp4_inplace(buf, ctx.tap.guest_mac, ctx.c.our_tap_mac, g.our_addr.v4(),
					 g.peer_addr.v4(), g.our_port, g.peer_port, n);
		start = buf.data();
	} else {
		std::span<std::byte> buf(slot, SLOT);
		len = build_udp6_inplace(buf, ctx.tap.guest_mac, ctx.c.our_tap_mac, g.our_addr.v6(),
					 g.peer_addr.v6(), g.our_port, g.peer_port, n);
		start = buf.data();
	}
	if (!len || !ctx.out.send_frame(std::span<const std::byte>(start, len))) {
		ctx.stats.tap_dropped++;
		debug_rl("UDP: frame to guest dropped");
		return false;
	}
	return true;
}

// Parsed guest datagram: its IP addresses and the datagram itself.
struct GuestDatagram {
	InAny src, dst;
	UdpRepr udp;
};

std::optional<GuestDatagram> parse4(std::span<const std::byte> l3) {
	auto ip = ConstIp4View::parse(l3);
	if (!ip || !ip->checksum_ok() || ip->protocol() != ipproto::udp || ip->is_fragment())
		return std::nullopt;
	auto udp = UdpRepr::parse4(ip->payload(), ip->saddr(), ip->daddr());
	if (!udp)
		return std::nullopt;
	Ipv4Addr src = ip->saddr(), dst = ip->daddr();
	if (src.is_unspecified() || src.is_multicast() || src.is_broadcast() || src.is_loopback())
		return std::nullopt;
	return GuestDatagram{src, dst, *udp};
}

std::optional<GuestDatagram> parse6(std::span<const std::byte> l3) {
	auto ip = ConstIp6View::parse(l3);
	if (!ip || ip->proto() != ipproto::udp || ip->is_fragment())
		return std::nullopt;
	auto udp = UdpRepr::parse6(ip->l4(), ip->saddr(), ip->daddr());
	if (!udp)
		return std::nullopt;
	Ipv6Addr src = ip->saddr();
	if (src.is_unspecified() || src.is_multicast() || src.is_loopback() || src.is_v4mapped())
		return std::nullopt;
	return GuestDatagram{src, ip->daddr(), *udp};
}

bool is_bcast_or_mcast(const Config &c, const InAny &dst) {
	if (dst.is_v4()) {
		Ipv4Addr d = dst.v4();
		return d.is_multicast() || d.is_broadcast() || is_directed_bcast4(c, d);
	}
	return dst.v6().is_multicast();
}

bool is_async_error(int e) {
	return e == ECONNREFUSED || e == EHOSTUNREACH || e == ENETUNREACH || e == EHOSTDOWN;
}

// sendmmsg() vectors for one run of the guest datagram queue (single thread).
mmsghdr tx_msgs[UDP_TX_BATCH];
iovec tx_iov[UDP_TX_BATCH];
SockAddr tx_names[UDP_TX_BATCH];

void tx_sent(UdpCtx &ctx, const UdpTxEntry &t) {
	Flow &f = *ctx.flows.get(t.flow);
	f.state<UdpFlow>().to_host++;
	ctx.stats.to_host++;
	f.last_active = t.when;
	if (f.state<UdpFlow>().inbound) // the guest answered a host peer
		ctx.flows.settle(t.flow);
}

void tx_failed(UdpCtx &ctx, const UdpTxEntry &t, int e) {
	ctx.stats.send_failed++;
	if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) {
		debug_rl("UDP: flow %u: no buffer space, dropping datagram", t.flow);
		return;
	}
	const Flow &f = *ctx.flows.get(t.flow);
	debug_rl("UDP: flow %u: send to %s:%u failed: %s", t.flow,
		 f.host().peer_addr.text().c_str(), f.host().peer_port, strerror(e));
}

// Send queue entries [a, b), all on one socket, in order. sendmmsg() stops
// at the first datagram that fails and, having sent some, doesn't say why:
// the rest is then tried again, which either sends it or reports that
// datagram's error. A full socket buffer drops all that is left. A pending
// asynchronous error (an ICMP error to an earlier datagram) fails the
// datagram that consumed it without sending it: that one is tried once more.
void send_run(UdpCtx &ctx, size_t a, size_t b) {
	const UdpTxEntry *q = ctx.txq.e;
	const int fd = q[a].sock;
	const size_t n = b - a;
	for (size_t k = 0; k < n; k++) {
		const UdpTxEntry &t = q[a + k];
		tx_iov[k].iov_base = const_cast<std::byte *>(t.data);
		tx_iov[k].iov_len = t.len;
		msghdr &mh = tx_msgs[k].msg_hdr;
		mh = msghdr{};
		mh.msg_iov = &tx_iov[k];
		mh.msg_iovlen = 1;
		const Flow &f = *ctx.flows.get(t.flow);
		const UdpFlow &uf = f.state<UdpFlow>();
		if (uf.inbound) { // the shared -u socket: sendto() the flow's peer
			mh.msg_name = &tx_names[k];
			mh.msg_namelen = sockaddr_from(tx_names[k], f.host().peer_addr,
						       f.host().peer_port, uf.scope_id);
		}
		tx_msgs[k].msg_len = 0;
	}
	size_t pos = 0;
	bool retried = false; // the datagram at pos consumed an asynchronous error
	while (pos < n) {
		int rc;
		do
			rc = sendmmsg(fd, tx_msgs + pos, unsigned(n - pos), MSG_NOSIGNAL);
		while (rc < 0 && errno == EINTR);
		ctx.stats.send_batches++;
		if (rc > 0) {
			for (size_t k = pos; k < pos + size_t(rc); k++)
				tx_sent(ctx, q[a + k]);
			pos += size_t(rc);
			retried = false;
			continue;
		}
		int e = rc < 0 ? errno : EAGAIN;
		// No room (socket buffer, or the device queue: ENOBUFS): the
		// rest of the run would fail the same way, one call each.
		if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) {
			for (; pos < n; pos++)
				tx_failed(ctx, q[a + pos], e);
			break;
		}
		if (is_async_error(e) && !retried) {
			retried = true;
			continue;
		}
		tx_failed(ctx, q[a + pos], e);
		pos++;
		retried = false;
	}
}

// The UDP budget is full (flow.h): this flow goes for a new one.
bool evict_trampoline(void *ctx, uint32_t idx) {
	UdpCtx &u = *static_cast<UdpCtx *>(ctx);
	if (!is_udp(u.flows.get(idx)))
		return false;
	debug_rl("UDP: flow %u: evicted for a new flow (%s)", idx,
		 u.flows.is_pending(idx) ? "never answered" : "oldest");
	u.stats.flows_evicted++;
	udp_flow_close(u, idx);
	return true;
}

void sock_trampoline(void *ctx, EpollRef ref, uint32_t events, const timespec &now) {
	udp_sock_handler(*static_cast<UdpCtx *>(ctx), ref, events, now);
}

void listen_trampoline(void *ctx, EpollRef ref, uint32_t events, const timespec &now) {
	udp_listen_handler(*static_cast<UdpCtx *>(ctx), ref, events, now);
}

void timer_trampoline(void *ctx, const timespec &now) {
	UdpCtx &c = *static_cast<UdpCtx *>(ctx);
	udp_timer(c, now);
	if (!c.flows.in_use(FlowType::Udp)) // until the next flow (see timer.h)
		c.loop.timers().disarm(c.timer);
}

// Bind one -u socket: family v6 or not, the rule's address and interface
// (and --freebind). Returns the fd or -errno.
int listen_sock_open(const Config &c, const PortRule &r, bool v6, uint16_t port) {
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			IPPROTO_UDP);
	if (fd < 0)
		return -errno;
	Fd sock(fd);
	if (int rc = fwd_listen_sock(c, fd, r, port, v6, false, false); rc < 0)
		return rc;
	return sock.release();
}

// Bind one -u socket and register it; its EpollRef carries the port and
// the rule (not its slot). 0 or -errno.
int listen_one(UdpCtx &ctx, const PortRule &r, uint32_t ri, uint16_t port, bool v6) {
	if (ri > UINT16_MAX)
		return -ERANGE;
	int fd = listen_sock_open(ctx.c, r, v6, port);
	if (fd < 0)
		return fd;
	EpollRef ref;
	ref.kind = RefKind::UdpListen;
	ref.index = uint32_t(port) | ri << 16;
	if (int rc = ctx.loop.add(fd, EPOLLIN, ref); rc < 0) {
		close(fd);
		return rc;
	}
	ctx.listeners.add(UdpListener{fd, port, uint16_t(ri), v6});
	return 0;
}

// Close -u socket i and free its slot, with the inbound flows (and, with
// the loopback bypass, the spliced ones) that reply through it.
void listen_close(UdpCtx &ctx, uint32_t i) {
	const UdpListener l = ctx.listeners[i];
	if (l.fd < 0)
		return;
	ctx.flows.for_each([&](uint32_t fi, Flow &f) {
		if (f.type == FlowType::Udp && f.state<UdpFlow>().inbound &&
		    f.state<UdpFlow>().sock == l.fd)
			udp_flow_close(ctx, fi);
	});
	if (ctx.splice)
		udp_splice_listener_closed(*ctx.splice, l.fd);
	ctx.listeners.close_polled(ctx.loop, i);
}

constexpr FwdListenNames NAMES{"UDP", "socket", "bind", false, true};

} // namespace

int udp_init(UdpCtx &ctx) {
	ctx.loop.set_handler(RefKind::UdpSock, sock_trampoline, &ctx);
	ctx.loop.set_handler(RefKind::UdpListen, listen_trampoline, &ctx);
	// A UDP flow only caches a 4-tuple: unanswered ones go first, then
	// the oldest.
	ctx.flows.set_evictor(FlowType::Udp, evict_trampoline, &ctx, true);
	ctx.timer = ctx.loop.timers().add("udp", UDP_TIMER_INTERVAL_MS, timer_trampoline, &ctx);
	if (ctx.timer < 0)
		return -ENOSPC;
	ctx.loop.timers().disarm(ctx.timer);
	ctx.flows.bind_timer(FlowType::Udp, ctx.loop.timers(), ctx.timer);

	// Auto: scanning rules are bound by udp_listen_sync(); explicit rules
	// given alongside them are bound here, with no descriptor budget.
	if (ctx.c.no_udp)
		return 0;
	int rc = fwd_listen_open_rules(ctx, ctx.c.udp_in, NAMES, SIZE_MAX, listen_one);
	if (rc < 0)
		udp_close_all(ctx);
	return rc;
}

bool udp_tap_input(UdpCtx &ctx, std::span<const std::byte> frame, const timespec &now) {
	if (ctx.c.no_udp)
		return false;
	auto eth = ConstEthView::parse(frame);
	if (!eth) {
		ctx.stats.malformed++;
		return false;
	}
	std::optional<GuestDatagram> d;
	if (eth->ethertype() == ethertype::ipv4 && ctx.c.ip4.enabled)
		d = parse4(eth->payload());
	else if (eth->ethertype() == ethertype::ipv6 && ctx.c.ip6.enabled)
		d = parse6(eth->payload());
	if (!d) {
		ctx.stats.malformed++;
		trace_rl("UDP: dropping malformed frame from guest");
		return false;
	}
	if (eth->dst().is_multicast() || is_bcast_or_mcast(ctx.c, d->dst)) {
		ctx.stats.bcast_dropped++;
		trace_rl("UDP: not forwarding datagram to %s", d->dst.text().c_str());
		return false;
	}
	if (d->udp.dport == 0) {
		ctx.stats.unforwardable++;
		return false;
	}

	FlowSide guest = flowside_from_guest(d->src, d->udp.sport, d->dst, d->udp.dport);
	auto idx = ctx.flows.lookup_or_create(FlowType::Udp, guest, [&] {
		return outbound_flow_new(ctx, guest, eth->payload(), now);
	});
	if (!idx)
		return false;
	// Queued, not sent: the whole batch goes out from udp_tap_flush().
	UdpTxQueue &q = ctx.txq;
	q.e[q.n++] = UdpTxEntry{d->udp.payload.data(), d->udp.payload.size(), *idx,
				ctx.flows.get(*idx)->state<UdpFlow>().sock, now};
	if (q.n == UDP_TX_BATCH)
		udp_tap_flush(ctx);
	return true;
}

void udp_tap_flush(UdpCtx &ctx) {
	UdpTxQueue &q = ctx.txq;
	// Closing a flow takes its entries out of the queue; should one still
	// name a flow or socket that is gone, it is dropped here, never sent.
	size_t kept = 0;
	for (size_t i = 0; i < q.n; i++) {
		const Flow *f = ctx.flows.get(q.e[i].flow);
		if (!is_udp(f) || f->state<UdpFlow>().sock != q.e[i].sock || q.e[i].sock < 0) {
			ctx.stats.send_failed++;
			continue;
		}
		q.e[kept++] = q.e[i];
	}
	q.n = kept;
	for (size_t i = 0; i < q.n;) {
		size_t j = i + 1;
		while (j < q.n && q.e[j].sock == q.e[i].sock)
			j++;
		send_run(ctx, i, j);
		i = j;
	}
	q.n = 0;
}

void udp_sock_handler(UdpCtx &ctx, EpollRef ref, uint32_t events, const timespec &now) {
	Flow *f = ctx.flows.get(ref.index);
	if ((ref.index & UDP_SPLICE_LISTENER_BIT) || (f && f->type == FlowType::UdpSplice)) {
		if (ctx.splice)
			udp_splice_handler(*ctx.splice, ref, events, now);
		return;
	}
	if (!is_udp(f) || f->state<UdpFlow>().inbound || f->state<UdpFlow>().sock != ref.fd) {
		debug_rl("UDP: event for stale socket %d (flow %u)", ref.fd, ref.index);
		return;
	}
	if (events & EPOLLERR)
		drain_sock_error(ref.fd, "flow", ref.index);

	UdpFlow &uf = f->state<UdpFlow>();
	const FlowSide &g = f->guest();
	size_t cap = max_payload(ctx.c, g.peer_addr.is_v4());
	unsigned queued = 0;
	for (int round = 0; round < RECV_ROUNDS; round++) {
		int n = rx.recv(ref.fd, HDR_ROOM, cap, false);
		if (n < 0) {
			debug_rl("UDP: flow %u: recv: %s", ref.index, strerror(-n));
			continue; // the error is consumed: data may follow
		}
		for (int i = 0; i < n; i++) {
			if (rx.truncated(i)) {
				ctx.stats.oversize++;
				debug_rl("UDP: flow %u: datagram larger than the MTU dropped",
					 ref.index);
				continue;
			}
			if (slot_to_tap(ctx, i, rx.len(i), g)) {
				uf.to_guest++;
				ctx.stats.to_guest++;
				queued++;
			}
		}
		if (n > 0) {
			f->last_active = now;
			ctx.flows.settle(ref.index); // the host answered the guest
		}
		if (n < RECV_BATCH)
			break;
	}
	if (queued)
		ctx.out.flush();
}

void udp_listen_handler(UdpCtx &ctx, EpollRef ref, uint32_t events, const timespec &now) {
	uint16_t port = uint16_t(ref.index & 0xffff);
	size_t rule_idx = ref.index >> 16;
	const PortForward &in = ctx.c.udp_in;
	if (rule_idx >= in.rules.size() || port < in.rules[rule_idx].first ||
	    port > in.rules[rule_idx].last) {
		debug_rl("UDP: event for unknown listening socket %d", ref.fd);
		return;
	}
	const PortRule &r = in.rules[rule_idx];
	if (events & EPOLLERR)
		drain_sock_error(ref.fd, "port", port);

	unsigned queued = 0;
	for (int round = 0; round < RECV_ROUNDS; round++) {
		// Take whatever fits a slot; the MTU of the sender's family is
		// checked per datagram.
		int n = rx.recv(ref.fd, HDR_ROOM, PAYLOAD_MAX6, true);
		if (n < 0) {
			debug_rl("UDP: port %u: recv: %s", port, strerror(-n));
			continue;
		}
		for (int i = 0; i < n; i++) {
			FlowSide host;
			uint32_t scope = 0;
			if (!sockaddr_to(rx.names[i], host.peer_addr, host.peer_port, scope))
				continue;
			bool v4 = host.peer_addr.is_v4();
			size_t len = rx.len(i);
			if (ctx.splice && !rx.truncated(i) &&
			    fwd_splice_from_host(ctx.c, host.peer_addr, bool(r.to_addr))) {
				// From the host's loopback: no frames (udp_splice.cpp),
				// unless --no-splice.
				InAny seen =
					v4 ? InAny(ctx.tap.addr4_seen) : InAny(ctx.tap.addr6_seen);
				udp_splice_from_host(
					*ctx.splice, ref.fd,
					r.bind_addr ? *r.bind_addr : any_of(v4), port,
					host.peer_addr, host.peer_port,
					fwd_splice_ns_target(ctx.c, !v4, seen, r.to_addr),
					uint16_t(r.to_first + (port - r.first)),
					std::span<const std::byte>(rx.buf[i] + HDR_ROOM, len), now);
				continue;
			}
			if (rx.truncated(i) || len > max_payload(ctx.c, v4)) {
				ctx.stats.oversize++;
				debug_rl("UDP: port %u: datagram larger than the MTU dropped",
					 port);
				continue;
			}
			host.our_addr = r.bind_addr ? *r.bind_addr : any_of(v4);
			host.our_port = port;

			auto idx = ctx.flows.lookup(FlowType::Udp, FlowSideIdx::Host, host);
			if (!idx)
				idx = inbound_flow_new(ctx, r, port, ref.fd, host, scope, now);
			if (!idx)
				continue;
			Flow &f = *ctx.flows.get(*idx);
			if (slot_to_tap(ctx, i, len, f.guest())) {
				f.state<UdpFlow>().to_guest++;
				ctx.stats.to_guest++;
				queued++;
			}
			f.last_active = now;
		}
		if (ctx.splice)
			udp_splice_flush(*ctx.splice); // before the buffers are reused
		if (n < RECV_BATCH)
			break;
	}
	if (queued)
		ctx.out.flush();
}

int udp_listen_sync(UdpCtx &ctx, const PortBitmap &want) {
	if (ctx.c.no_udp)
		return 0;
	return fwd_listen_sync(ctx, ctx.c.udp_in, want, NAMES, listen_one, listen_close);
}

// A kept -u socket's EpollRef carries its rule: re-register it with the new
// index.
static void udp_listen_rekey(UdpCtx &ctx, uint32_t i, uint32_t ri) {
	UdpListener &l = ctx.listeners[i];
	l.rule = uint16_t(ri);
	EpollRef ref;
	ref.kind = RefKind::UdpListen;
	ref.fd = l.fd;
	ref.index = uint32_t(l.port) | ri << 16;
	ctx.loop.modify(l.fd, EPOLLIN, ref);
}

int udp_listen_resync(UdpCtx &ctx, const PortForward &old, FwdChangeLog &log) {
	if (ctx.c.no_udp)
		return 0;
	return fwd_listen_resync(ctx, old, ctx.c.udp_in, NAMES, listen_one, listen_close,
				 udp_listen_rekey,
				 [&](const PortRule &r, uint16_t p, bool v6, int rc) {
					 fwd_change_log_failed(log, NAMES, r, p, v6, rc);
				 });
}

void udp_flow_close(UdpCtx &ctx, uint32_t index) {
	Flow *f = ctx.flows.get(index);
	if (!is_udp(f))
		return;
	UdpFlow &uf = f->state<UdpFlow>();
	// Its datagrams still queued would go to a closed (or reused) socket.
	UdpTxQueue &q = ctx.txq;
	size_t kept = 0;
	for (size_t i = 0; i < q.n; i++) {
		if (q.e[i].flow == index) {
			ctx.stats.send_failed++;
			continue;
		}
		q.e[kept++] = q.e[i];
	}
	q.n = kept;
	if (!uf.inbound && uf.sock >= 0) {
		ctx.loop.remove(uf.sock);
		close(uf.sock);
	}
	debug_rl("UDP: flow %u closed (%llu to host, %llu to guest)", index,
		 (unsigned long long)uf.to_host, (unsigned long long)uf.to_guest);
	ctx.stats.flows_closed++;
	ctx.flows.free(index);
}

unsigned udp_timer(UdpCtx &ctx, const timespec &now) {
	unsigned closed = 0;
	ctx.flows.for_each([&](uint32_t i, Flow &f) {
		if (f.type != FlowType::Udp)
			return;
		if (timespec_diff_ns(now, f.last_active) >=
		    int64_t(UDP_FLOW_TIMEOUT_S) * NS_PER_SEC) {
			udp_flow_close(ctx, i);
			ctx.stats.flows_expired++;
			closed++;
		}
	});
	return closed;
}

void udp_close_all(UdpCtx &ctx) {
	ctx.flows.for_each([&](uint32_t i, Flow &f) {
		if (f.type == FlowType::Udp)
			udp_flow_close(ctx, i);
	});
	for (const UdpListener &l : ctx.listeners)
		if (l.fd >= 0 && ctx.splice)
			udp_splice_listener_closed(*ctx.splice, l.fd);
	ctx.listeners.close_all(ctx.loop);
}

} // namespace passt
