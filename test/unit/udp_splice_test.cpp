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
	socklen_t l = sockaddr_from(sa, v6 ? InAny(Ipv6Addr::loopback()) : InAny(Ipv4Addr::loopback()),
				    port);
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
	socklen_t l = sockaddr_from(sa, v6 ? InAny(Ipv6Addr::loopback()) : InAny(Ipv4Addr::loopback()),
				    port);
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
					 InAny(Ipv4Addr::loopback()), pport, tport, span, now));
	ASSERT_TRUE(udp_splice_from_host(h.ctx, listen, InAny(Ipv4Addr{}), lport,
					 InAny(Ipv4Addr::loopback()), pport, tport, span, now));
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
