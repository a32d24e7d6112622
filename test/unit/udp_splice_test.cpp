// UDP loopback bypass (udp_splice.cpp). The "namespace" is our own network
// namespace, reached through a socket helper that joins it: sockets on the
// loopback are real, and both legs of a flow can be watched.
#include "passt/udp/udp_splice.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "passt/core/util.h"
#include "passt/net/sockaddr.h"
#include "passt/udp/udp.h"

using namespace passt;

namespace {

int udp_sock(bool v6, uint16_t port = 0) {
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	SockAddr sa;
	socklen_t l = sockaddr_from(
		sa, v6 ? InAny(Ipv6Addr::loopback()) : InAny(Ipv4Addr::loopback()), port);
	if (bind(fd, &sa.sa, l) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

uint16_t port_of(int fd) {
	SockAddr sa;
	socklen_t l = sizeof(sa);
	InAny a;
	uint16_t p = 0;
	if (getsockname(fd, &sa.sa, &l) == 0)
		sockaddr_to(sa, a, p);
	return p;
}

// A port that was free a moment ago.
uint16_t free_port(bool v6) {
	int fd = udp_sock(v6);
	uint16_t p = port_of(fd);
	close(fd);
	return p;
}

// Receive one datagram within timeout_ms: its payload, source port.
bool recv_one(int fd, std::string &data, uint16_t &from, int timeout_ms = 2000) {
	pollfd p{fd, POLLIN, 0};
	if (poll(&p, 1, timeout_ms) != 1)
		return false;
	char buf[70000];
	SockAddr sa;
	socklen_t l = sizeof(sa);
	ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, &sa.sa, &l);
	if (n < 0)
		return false;
	InAny a;
	sockaddr_to(sa, a, from);
	data.assign(buf, size_t(n));
	return true;
}

bool send_to(int fd, const std::string &data, bool v6, uint16_t port) {
	SockAddr sa;
	socklen_t l = sockaddr_from(
		sa, v6 ? InAny(Ipv6Addr::loopback()) : InAny(Ipv4Addr::loopback()), port);
	return sendto(fd, data.data(), data.size(), 0, &sa.sa, l) == ssize_t(data.size());
}

struct Harness {
	Config c;
	EventLoop loop;
	FlowTable flows;
	NsHandle ns;
	NsSocketHelper helper;
	UdpSpliceCtx ctx{c, loop, flows, helper};
	bool ok = false;

	Harness(uint16_t port = 0, uint16_t target = 0) {
		if (port) {
			c.udp_out.kind = PortForward::Kind::Spec;
			PortRule r;
			r.first = r.last = port;
			r.to_first = target;
			c.udp_out.rules.push_back(r);
		}
		start();
	}
	// Rules of kind for c.udp_out, IPv6 on or off.
	Harness(std::vector<PortRule> rules, PortForward::Kind kind, bool ip6) {
		for (const PortRule &r : rules)
			c.udp_out.rules.push_back(r);
		c.udp_out.kind = kind;
		c.ip6.enabled = ip6;
		start();
	}
	void start() {
		ns.netns_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		if (ns.netns_fd < 0 || loop.init() < 0 || flows.init(64) < 0 ||
		    ns_socket_helper_start(ns, &helper) < 0)
			return;
		// Dispatch as main.cpp does, through the UDP handler's kind.
		loop.set_handler(
			RefKind::UdpSock,
			[](void *p, EpollRef ref, uint32_t ev, const timespec &now) {
				udp_splice_handler(*static_cast<UdpSpliceCtx *>(p), ref, ev, now);
			},
			&ctx);
		ok = udp_splice_init(ctx) == 0;
	}
	~Harness() {
		udp_splice_fini(ctx);
		ns_socket_helper_stop(&helper);
		ns_handle_close(&ns);
	}
	void spin(int rounds = 5) {
		for (int i = 0; i < rounds; i++)
			loop.run_once(20);
	}
	unsigned splice_flows() {
		unsigned n = 0;
		flows.for_each([&](uint32_t, Flow &f) { n += f.type == FlowType::UdpSplice; });
		return n;
	}
};

} // namespace

// -U: peers to the namespace port reach the host target, replies come back
// to the right peer from the forwarded port; one flow per peer.
TEST(UdpSplice, OutboundBothWaysPerPeer) {
	for (bool v6 : {false, true}) {
		int target = udp_sock(v6);
		ASSERT_GE(target, 0);
		uint16_t tport = port_of(target), port = free_port(v6);
		Harness h(port, tport);
		if (!h.ok)
			GTEST_SKIP() << "no socket helper / can't bind";
		int a = udp_sock(v6), b = udp_sock(v6);
		ASSERT_TRUE(send_to(a, "from-a", v6, port));
		ASSERT_TRUE(send_to(b, "from-b-longer", v6, port));
		h.spin();
		std::string d1, d2;
		uint16_t f1 = 0, f2 = 0;
		ASSERT_TRUE(recv_one(target, d1, f1));
		ASSERT_TRUE(recv_one(target, d2, f2));
		EXPECT_EQ(d1, "from-a");
		EXPECT_EQ(d2, "from-b-longer");
		EXPECT_NE(f1, f2); // two flows, two host sockets
		EXPECT_EQ(h.splice_flows(), 2u);
		// Answer b first, then a: each reply to its own peer.
		ASSERT_TRUE(send_to(target, "reply-b", v6, f2));
		ASSERT_TRUE(send_to(target, "", v6, f1));
		h.spin();
		std::string r;
		uint16_t from = 0;
		ASSERT_TRUE(recv_one(b, r, from));
		EXPECT_EQ(r, "reply-b");
		EXPECT_EQ(from, port);
		ASSERT_TRUE(recv_one(a, r, from));
		EXPECT_EQ(r, "");
		EXPECT_EQ(from, port);
		EXPECT_FALSE(recv_one(a, r, from, 50));
		EXPECT_EQ(h.ctx.stats.fwd, 2u);
		EXPECT_EQ(h.ctx.stats.back, 2u);
		close(a);
		close(b);
		close(target);
	}
}

// A burst from one peer goes through in order and intact (sendmmsg runs).
TEST(UdpSplice, OutboundBatch) {
	int target = udp_sock(false);
	ASSERT_GE(target, 0);
	int big = 1 << 20;
	setsockopt(target, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	uint16_t port = free_port(false);
	Harness h(port, port_of(target));
	if (!h.ok)
		GTEST_SKIP() << "no socket helper";
	int a = udp_sock(false);
	for (int i = 0; i < 40; i++)
		ASSERT_TRUE(send_to(a, "n" + std::to_string(i), false, port));
	h.spin();
	for (int i = 0; i < 40; i++) {
		std::string d;
		uint16_t f;
		ASSERT_TRUE(recv_one(target, d, f)) << i;
		EXPECT_EQ(d, "n" + std::to_string(i));
	}
	EXPECT_EQ(h.splice_flows(), 1u);
	close(a);
	close(target);
}

// -u from a loopback peer: queued, flushed to the namespace target; the
// reply leaves through the -u socket to the peer.
TEST(UdpSplice, FromHost) {
	Harness h;
	if (!h.ok)
		GTEST_SKIP() << "no socket helper";
	int listen = udp_sock(false), target = udp_sock(false), peer = udp_sock(false);
	ASSERT_GE(listen, 0);
	uint16_t lport = port_of(listen), tport = port_of(target), pport = port_of(peer);
	timespec now = now_monotonic();
	const char msg[] = "hello namespace";
	auto span = std::as_bytes(std::span<const char>(msg, sizeof(msg) - 1));
	ASSERT_TRUE(udp_splice_from_host(h.ctx, listen, InAny(Ipv4Addr{}), lport,
					 InAny(Ipv4Addr::loopback()), pport,
					 InAny(Ipv4Addr::loopback()), tport, span, now));
	ASSERT_TRUE(udp_splice_from_host(h.ctx, listen, InAny(Ipv4Addr{}), lport,
					 InAny(Ipv4Addr::loopback()), pport,
					 InAny(Ipv4Addr::loopback()), tport, span, now));
	std::string d;
	uint16_t from = 0;
	EXPECT_FALSE(recv_one(target, d, from, 20)); // queued, not sent yet
	udp_splice_flush(h.ctx);
	ASSERT_TRUE(recv_one(target, d, from));
	EXPECT_EQ(d, "hello namespace");
	ASSERT_TRUE(recv_one(target, d, from));
	EXPECT_EQ(h.splice_flows(), 1u);
	ASSERT_TRUE(send_to(target, "answer", false, from));
	h.spin();
	uint16_t src = 0;
	ASSERT_TRUE(recv_one(peer, d, src));
	EXPECT_EQ(d, "answer");
	EXPECT_EQ(src, lport);
	// Closing the -u socket closes the flows that reply through it.
	udp_splice_listener_closed(h.ctx, listen);
	EXPECT_EQ(h.splice_flows(), 0u);
	close(listen);
	close(target);
	close(peer);
}

// Idle flows expire after UDP_FLOW_TIMEOUT_S, not before; stale events are
// ignored.
TEST(UdpSplice, ExpiryAndStaleEvents) {
	int target = udp_sock(false);
	uint16_t port = free_port(false);
	Harness h(port, port_of(target));
	if (!h.ok)
		GTEST_SKIP() << "no socket helper";
	int a = udp_sock(false);
	ASSERT_TRUE(send_to(a, "x", false, port));
	h.spin();
	ASSERT_EQ(h.splice_flows(), 1u);
	timespec t = now_monotonic();
	t.tv_sec += UDP_FLOW_TIMEOUT_S - 5;
	EXPECT_EQ(udp_splice_timer(h.ctx, t), 0u);
	t.tv_sec += 10;
	EXPECT_EQ(udp_splice_timer(h.ctx, t), 1u);
	EXPECT_EQ(h.splice_flows(), 0u);
	// Events for a closed flow, an unknown listener, a wrong fd: no effect.
	udp_splice_handler(h.ctx, EpollRef{RefKind::UdpSock, a, 0}, EPOLLIN, t);
	udp_splice_handler(h.ctx, EpollRef{RefKind::UdpSock, a, UDP_SPLICE_LISTENER_BIT | 999},
			   EPOLLIN, t);
	udp_splice_handler(h.ctx, EpollRef{RefKind::UdpSock, a, UDP_SPLICE_LISTENER_BIT},
			   EPOLLIN | EPOLLERR, t);
	EXPECT_EQ(h.splice_flows(), 0u);
	close(a);
	close(target);
}

// ---- -U auto: udp_splice_listen_sync() ---------------------------------------

namespace {

// A scanning rule for namespace port `port`, forwarded to host port target
// (different ports: "namespace" and host are the same one here).
PortRule scan_rule(uint16_t port, uint16_t target) {
	PortRule r;
	r.first = r.last = port;
	r.to_first = target;
	r.scan = r.weak = true;
	return r;
}

PortBitmap want_of(std::initializer_list<uint16_t> l) {
	PortBitmap b;
	for (uint16_t p : l)
		b.set(p);
	return b;
}

// Slot of the open -U socket on port, or -1.
int slot_of(const UdpSpliceCtx &ctx, uint16_t port) {
	for (size_t i = 0; i < ctx.listeners.size(); i++)
		if (ctx.listeners[i].fd >= 0 && ctx.listeners[i].port == port)
			return int(i);
	return -1;
}

// Whether 127.0.0.1:port can be bound right now.
bool port_free(uint16_t port) {
	int fd = udp_sock(false, port);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

} // namespace

// Sockets open as their ports become wanted and close as they go; a closed
// slot is reused without moving the others, and nothing reallocates; flows
// replying through a closed socket close with it, others stay and work.
TEST(UdpSpliceAuto, ListenSyncSlotsAndFlows) {
	int ta = udp_sock(false), tb = udp_sock(false);
	ASSERT_GE(ta, 0);
	ASSERT_GE(tb, 0);
	uint16_t pa = free_port(false), pb = free_port(false);
	ASSERT_NE(pa, pb);
	Harness h({scan_rule(pa, port_of(ta)), scan_rule(pb, port_of(tb))}, PortForward::Kind::Auto,
		  false);
	if (!h.ok)
		GTEST_SKIP() << "no socket helper";
	UdpSpliceCtx &ctx = h.ctx;
	EXPECT_TRUE(ctx.listeners.empty());      // scanning rules wait for the scan
	EXPECT_GE(ctx.listeners.capacity(), 2u); // both scanning rules, sized at start-up
	EXPECT_TRUE(ctx.listeners.sealed());
	const UdpSpliceListener *base = ctx.listeners.data();

	EXPECT_EQ(udp_splice_listen_sync(ctx, want_of({pa})), 1);
	EXPECT_EQ(udp_splice_listen_sync(ctx, want_of({pa})), 0); // already there
	EXPECT_EQ(udp_splice_listen_sync(ctx, want_of({pa, pb})), 1);
	ASSERT_EQ(ctx.listeners.size(), 2u);
	int sa = slot_of(ctx, pa), sb = slot_of(ctx, pb);
	ASSERT_EQ(sa, 0);
	ASSERT_EQ(sb, 1);
	EXPECT_FALSE(port_free(pa));
	EXPECT_FALSE(port_free(pb));
	EXPECT_TRUE(ctx.listeners[0].addr == InAny(Ipv4Addr::loopback()));
	EXPECT_EQ(ctx.listeners[0].target, port_of(ta));
	const int fd_a = ctx.listeners[0].fd, fd_b = ctx.listeners[1].fd;

	// A flow through each socket, and an inbound (-u) one on the side.
	int peer_a = udp_sock(false), peer_b = udp_sock(false);
	ASSERT_TRUE(send_to(peer_a, "to-a", false, pa));
	ASSERT_TRUE(send_to(peer_b, "to-b", false, pb));
	h.spin();
	std::string d;
	uint16_t from_a = 0, from_b = 0;
	ASSERT_TRUE(recv_one(ta, d, from_a));
	EXPECT_EQ(d, "to-a");
	ASSERT_TRUE(recv_one(tb, d, from_b));
	EXPECT_EQ(d, "to-b");
	int ulisten = udp_sock(false), utarget = udp_sock(false);
	const char msg[] = "in";
	ASSERT_TRUE(udp_splice_from_host(
		ctx, ulisten, InAny(Ipv4Addr{}), port_of(ulisten), InAny(Ipv4Addr::loopback()),
		40000, InAny(Ipv4Addr::loopback()), port_of(utarget),
		std::as_bytes(std::span<const char>(msg, 2)), now_monotonic()));
	udp_splice_flush(ctx);
	EXPECT_EQ(h.splice_flows(), 3u);

	// pa goes away on the host: its socket and only its flow close.
	EXPECT_EQ(udp_splice_listen_sync(ctx, want_of({pb})), 1);
	EXPECT_EQ(ctx.listeners[0].fd, -1);
	EXPECT_EQ(ctx.listeners[1].fd, fd_b); // not moved
	EXPECT_EQ(h.splice_flows(), 2u);
	EXPECT_TRUE(port_free(pa));
	// An event still carrying the closed slot is ignored.
	udp_splice_handler(ctx, EpollRef{RefKind::UdpSock, fd_a, UDP_SPLICE_LISTENER_BIT | 0},
			   EPOLLIN, now_monotonic());
	EXPECT_EQ(h.splice_flows(), 2u);
	// The flow through pb still works both ways.
	ASSERT_TRUE(send_to(peer_b, "again-b", false, pb));
	h.spin();
	ASSERT_TRUE(recv_one(tb, d, from_b));
	EXPECT_EQ(d, "again-b");
	ASSERT_TRUE(send_to(tb, "reply-b", false, from_b));
	h.spin();
	uint16_t src = 0;
	ASSERT_TRUE(recv_one(peer_b, d, src));
	EXPECT_EQ(d, "reply-b");
	EXPECT_EQ(src, pb);
	EXPECT_EQ(h.splice_flows(), 2u);

	// pa comes back: slot 0 again, nothing moved or reallocated.
	EXPECT_EQ(udp_splice_listen_sync(ctx, want_of({pa, pb})), 1);
	EXPECT_EQ(ctx.listeners.size(), 2u);
	EXPECT_EQ(slot_of(ctx, pa), 0);
	EXPECT_EQ(ctx.listeners[1].fd, fd_b);
	EXPECT_EQ(ctx.listeners.data(), base);
	ASSERT_TRUE(send_to(peer_a, "a-back", false, pa));
	h.spin();
	ASSERT_TRUE(recv_one(ta, d, from_a));
	EXPECT_EQ(d, "a-back");

	// Masking: both namespace ports are ours.
	PortBitmap bound = want_of({pa, pb, 9});
	ctx.listeners.mask(bound);
	EXPECT_EQ(bound, want_of({9}));

	// Nothing wanted: both close with their flows, the -u flow stays.
	EXPECT_EQ(udp_splice_listen_sync(ctx, PortBitmap{}), 2);
	EXPECT_EQ(h.splice_flows(), 1u);
	EXPECT_EQ(ctx.listeners.free_slots(), 2u);
	bound = want_of({pa, pb});
	ctx.listeners.mask(bound);
	EXPECT_EQ(bound, want_of({pa, pb}));
	EXPECT_TRUE(port_free(pa));
	EXPECT_TRUE(port_free(pb));
	for (int fd : {ta, tb, peer_a, peer_b, ulisten, utarget})
		close(fd);
}

// A port taken in the namespace is skipped (and retried), excluded ports
// and explicit rules are left alone; ::1 gets a socket too with IPv6.
TEST(UdpSpliceAuto, ListenSyncTakenExcludedExplicit) {
	int t = udp_sock(false);
	ASSERT_GE(t, 0);
	uint16_t pa = free_port(false), px = free_port(false), pe = free_port(false);
	PortRule excl;
	excl.first = excl.last = excl.to_first = px;
	excl.exclude = true;
	PortRule spec;
	spec.first = spec.last = pe;
	spec.to_first = port_of(t);
	int probe6 = udp_sock(true);
	bool v6 = probe6 >= 0;
	if (v6)
		close(probe6);
	Harness h({scan_rule(pa, port_of(t)), scan_rule(px, port_of(t)), excl, spec},
		  PortForward::Kind::Auto, v6);
	if (!h.ok)
		GTEST_SKIP() << "no socket helper";
	UdpSpliceCtx &ctx = h.ctx;
	// The explicit rule is opened by init, and kept by every sync.
	ASSERT_GE(slot_of(ctx, pe), 0);
	const int fd_e = ctx.listeners[size_t(slot_of(ctx, pe))].fd;

	int squat = udp_sock(false, pa);
	ASSERT_GE(squat, 0);
	int changes = udp_splice_listen_sync(ctx, want_of({pa, px}));
	EXPECT_TRUE(ctx.auto_failed[0].test(pa));
	EXPECT_EQ(changes, v6 ? 1 : 0); // ::1 only, px excluded
	close(squat);
	EXPECT_EQ(udp_splice_listen_sync(ctx, want_of({pa, px})), 1);
	EXPECT_FALSE(ctx.auto_failed[0].test(pa));
	unsigned open_a = 0;
	for (const UdpSpliceListener &l : ctx.listeners)
		open_a += l.fd >= 0 && l.port == pa;
	EXPECT_EQ(open_a, v6 ? 2u : 1u);
	EXPECT_LT(slot_of(ctx, px), 0);
	EXPECT_EQ(udp_splice_listen_sync(ctx, PortBitmap{}), v6 ? 2 : 1);
	EXPECT_EQ(ctx.listeners[size_t(slot_of(ctx, pe))].fd, fd_e);
	close(t);
}
