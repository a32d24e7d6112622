// Tests for host_sock_open(): binding to the host side's address, port and
// interface, the link-local scope rule, and SO_BINDTODEVICE failures, with
// real sockets in a fresh user + network namespace.
#include <gtest/gtest.h>

#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netns_test_util.h"
#include "passt/conf/config.h"
#include "passt/flow/host_sock.h"
#include "passt/net/sockaddr.h"

using namespace passt;
using passt::test::enter_netns;

namespace {

Ipv4Addr v4(const char *s) { return *Ipv4Addr::parse(s); }
Ipv6Addr v6(const char *s) { return *Ipv6Addr::parse(s); }

// Host side to peer:pport from ours:oport (the same layout as a guest side).
FlowSide side(InAny peer, uint16_t pport, InAny ours, uint16_t oport = 0) {
	return flowside_from_guest(peer, pport, ours, oport);
}

// A bound (listening, for stream) socket at addr:port, or -1.
int server(int type, const InAny &addr, uint16_t port) {
	int s = socket(addr.is_v4() ? AF_INET : AF_INET6, type | SOCK_CLOEXEC, 0);
	SockAddr sa;
	socklen_t l = sockaddr_from(sa, addr, port);
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (s < 0 || bind(s, &sa.sa, l) < 0 || (type == SOCK_STREAM && listen(s, 4) < 0))
		return -1;
	return s;
}

// The lowest free descriptor: the same before and after a call that must
// leave nothing open.
int next_fd() {
	int fd = dup(0);
	close(fd);
	return fd;
}

const HostSockSpec UDP{SOCK_DGRAM, IPPROTO_UDP};
const HostSockSpec TCP{SOCK_STREAM, IPPROTO_TCP};

} // namespace

TEST(HostSock, UdpBindsAddressAndConnectsV4) {
	RUN_FORKED([] {
		if (int rc = enter_netns({v4("203.0.113.1")}); rc)
			return rc;
		Config c;
		InAny a(v4("203.0.113.1"));
		int srv = server(SOCK_DGRAM, a, 5000);
		CHK(srv >= 0);
		FlowSide h = side(a, 5000, a);
		uint32_t scope = 99;
		int fd = host_sock_open(c, UDP, h, &scope);
		CHK(fd >= 0);
		CHK(scope == 0);
		CHK(h.our_addr == a && h.our_port != 0);
		CHK(send(fd, "x", 1, 0) == 1);
		SockAddr from;
		socklen_t fl = sizeof(from);
		char b;
		CHK(recvfrom(srv, &b, 1, 0, &from.sa, &fl) == 1);
		InAny src;
		uint16_t sport;
		CHK(sockaddr_to(from, src, sport));
		CHK(src == a && sport == h.our_port);
		return 0;
	});
}

TEST(HostSock, UdpUnboundTakesKernelChoiceV6) {
	RUN_FORKED([] {
		if (int rc = enter_netns(); rc)
			return rc;
		Config c;
		InAny lo(Ipv6Addr::loopback());
		CHK(server(SOCK_DGRAM, lo, 5001) >= 0);
		FlowSide h = side(lo, 5001, InAny(Ipv6Addr{}));
		int fd = host_sock_open(c, UDP, h);
		CHK(fd >= 0);
		CHK(!h.our_addr.is_v4() && h.our_addr == lo && h.our_port != 0);
		return 0;
	});
}

TEST(HostSock, TcpBindsGivenPortAndConnects) {
	RUN_FORKED([] {
		if (int rc = enter_netns({v4("203.0.113.1")}); rc)
			return rc;
		Config c;
		InAny peer(Ipv4Addr::loopback()), ours(v4("203.0.113.1"));
		int srv = server(SOCK_STREAM, peer, 5002);
		CHK(srv >= 0);
		FlowSide h = side(peer, 5002, ours, 5003);
		int fd = host_sock_open(c, TCP, h);
		CHK(fd >= 0); // connecting (EINPROGRESS) or connected
		CHK(h.our_addr == ours && h.our_port == 5003);
		pollfd p{srv, POLLIN, 0};
		CHK(poll(&p, 1, 5000) == 1);
		SockAddr from;
		socklen_t fl = sizeof(from);
		CHK(accept(srv, &from.sa, &fl) >= 0);
		InAny src;
		uint16_t sport;
		CHK(sockaddr_to(from, src, sport));
		CHK(src == ours && sport == 5003);
		return 0;
	});
}

// Nothing to bind: a stream socket is left for connect() to bind.
TEST(HostSock, TcpWithoutAddressIsNotBound) {
	Config c;
	FlowSide h = side(InAny(Ipv4Addr::loopback()), 9, InAny(Ipv4Addr{}));
	HostSockSpec spec = TCP;
	spec.connect = false;
	int fd = host_sock_open(c, spec, h);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(h.our_port, 0);
	EXPECT_TRUE(h.our_addr.is_unspecified());
	close(fd);
}

// A ping socket is bound even to nothing: the kernel picks its identifier.
TEST(HostSock, PingSocketGetsIdentifier) {
	RUN_FORKED([] {
		if (int rc = enter_netns({}, true); rc)
			return rc;
		Config c;
		for (bool is4 : {true, false}) {
			InAny lo = is4 ? InAny(Ipv4Addr::loopback()) : InAny(Ipv6Addr::loopback());
			InAny any = is4 ? InAny(Ipv4Addr{}) : InAny(Ipv6Addr{});
			FlowSide h = side(lo, 0, any);
			HostSockSpec spec{SOCK_DGRAM, is4 ? int(IPPROTO_ICMP) : int(IPPROTO_ICMPV6),
					  false};
			int fd = host_sock_open(c, spec, h);
			CHK(fd >= 0);
			CHK(h.our_port != 0 && h.our_addr.is_unspecified() &&
			    h.our_addr.is_v4() == is4);
			close(fd);
		}
		return 0;
	});
}

// One scope rule: link-local peers get the interface's index, others none.
TEST(HostSock, ScopeOnlyForLinkLocalPeers) {
	Config c;
	c.ip6.ifname = "lo";
	uint32_t lo = if_nametoindex("lo");
	ASSERT_NE(lo, 0u);
	HostSockSpec spec = UDP;
	spec.connect = false;
	struct Case {
		InAny peer;
		uint32_t want;
	} cases[] = {
		{InAny(v6("fe80::1")), lo},    {InAny(v6("fe80::1234:5678")), lo},
		{InAny(v6("2001:db8::1")), 0}, {InAny(Ipv6Addr::loopback()), 0},
		{InAny(v4("192.0.2.1")), 0},   {InAny(v4("169.254.1.1")), 0},
	};
	for (const Case &k : cases) {
		FlowSide h =
			side(k.peer, 53, k.peer.is_v4() ? InAny(Ipv4Addr{}) : InAny(Ipv6Addr{}));
		uint32_t scope = 99;
		int fd = host_sock_open(c, spec, h, &scope);
		ASSERT_GE(fd, 0) << k.peer.text().c_str();
		EXPECT_EQ(scope, k.want) << k.peer.text().c_str();
		close(fd);
	}
}

// Our link-local address is the host's own on the template interface: its
// scope, and no --outbound-if6 binding (which would fail here).
TEST(HostSock, OurLinkLocalAddressScopedToTemplateUnbound) {
	Config c;
	c.ip6.ifname = "lo";
	c.ip6.ifname_out = "nosuch0";
	c.ip6.our_tap_ll = v6("fe80::1");
	HostSockSpec spec = UDP;
	spec.connect = false;
	FlowSide h = side(InAny(v6("fe80::1")), 53, InAny(Ipv6Addr{}));
	uint32_t scope = 0;
	int fd = host_sock_open(c, spec, h, &scope);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(scope, if_nametoindex("lo"));
	close(fd);
}

// --outbound-if4/6 naming no interface: every kind of socket fails the
// same way, leaves nothing open and the host side as it was; loopback
// peers are never bound to it.
TEST(HostSock, MissingOutboundInterfaceFailsConsistently) {
	RUN_FORKED([] {
		if (int rc = enter_netns({}, true); rc)
			return rc;
		Config c;
		c.ip4.ifname_out = "nosuch0";
		c.ip6.ifname_out = "nosuch0";
		for (bool is4 : {true, false}) {
			InAny peer = is4 ? InAny(v4("192.0.2.1")) : InAny(v6("2001:db8::1"));
			InAny any = is4 ? InAny(Ipv4Addr{}) : InAny(Ipv6Addr{});
			HostSockSpec specs[] = {
				TCP,
				UDP,
				{SOCK_DGRAM, is4 ? int(IPPROTO_ICMP) : int(IPPROTO_ICMPV6), false},
			};
			for (const HostSockSpec &spec : specs) {
				FlowSide h = side(peer, 80, any);
				FlowSide before = h;
				int free_fd = next_fd();
				CHK(host_sock_open(c, spec, h) == -ENODEV);
				CHK(h == before);
				CHK(next_fd() == free_fd);
			}
			InAny lo = is4 ? InAny(Ipv4Addr::loopback()) : InAny(Ipv6Addr::loopback());
			CHK(server(SOCK_DGRAM, lo, 5004) >= 0);
			FlowSide h = side(lo, 5004, lo);
			int fd = host_sock_open(c, UDP, h);
			CHK(fd >= 0);
			close(fd);
		}
		return 0;
	});
}

// A bind() that fails (an address the host does not have) fails the socket.
TEST(HostSock, BindFailureFails) {
	RUN_FORKED([] {
		if (int rc = enter_netns(); rc)
			return rc;
		Config c;
		for (const HostSockSpec &spec : {TCP, UDP}) {
			FlowSide h =
				side(InAny(Ipv4Addr::loopback()), 9, InAny(v4("198.51.100.9")));
			int free_fd = next_fd();
			CHK(host_sock_open(c, spec, h) == -EADDRNOTAVAIL);
			CHK(next_fd() == free_fd);
		}
		return 0;
	});
}
