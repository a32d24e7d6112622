// UDP translation on the tap path, against real UDP sockets.
//
// Tests that open sockets run in a forked child that enters a new user and
// network namespace (nothing leaves the machine), with lo up and a couple of
// extra addresses on it. The child reports through its exit status (0: pass,
// 77: namespaces unavailable) and prints what failed on stderr; alarm()
// bounds it. Guest frames are built, and frames for the guest checked, here
// byte by byte with checksums computed by the test itself, so that the code
// under test is not checked against itself. The "host" side of each
// exchange is a plain UDP socket the test drives by hand.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fork_test_util.h"
#include "netns_test_util.h"
#include "passt/core/epoll.h"
#include "passt/core/util.h"
#include "passt/flow/flow.h"
#include "passt/net/pool.h"
#include "passt/tap/tap.h"
#include "passt/udp/udp.h"

using namespace passt;

namespace {

using Bytes = std::vector<std::byte>;

const MacAddr GUEST_MAC{{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}};
const MacAddr OUR_MAC{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};

Ipv4Addr v4(const char *s) { return *Ipv4Addr::parse(s); }
Ipv6Addr v6(const char *s) { return *Ipv6Addr::parse(s); }

// --- Frames, built and checked independently of the code under test -------

uint32_t sum16(const std::byte *p, size_t n, uint32_t acc = 0) {
	for (size_t i = 0; i + 1 < n; i += 2)
		acc += uint32_t(uint8_t(p[i])) << 8 | uint8_t(p[i + 1]);
	if (n & 1)
		acc += uint32_t(uint8_t(p[n - 1])) << 8;
	return acc;
}

uint16_t fold(uint32_t acc) {
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return uint16_t(~acc);
}

uint32_t pseudo4(Ipv4Addr s, Ipv4Addr d, uint32_t len) {
	uint32_t acc = sum16(reinterpret_cast<const std::byte *>(s.b.data()), 4);
	acc = sum16(reinterpret_cast<const std::byte *>(d.b.data()), 4, acc);
	return acc + len + 17;
}

uint32_t pseudo6(const Ipv6Addr &s, const Ipv6Addr &d, uint32_t len) {
	uint32_t acc = sum16(reinterpret_cast<const std::byte *>(s.b.data()), 16);
	acc = sum16(reinterpret_cast<const std::byte *>(d.b.data()), 16, acc);
	return acc + (len >> 16) + (len & 0xffff) + 17;
}

void put16(Bytes &b, size_t off, uint16_t v) {
	b[off] = std::byte(v >> 8);
	b[off + 1] = std::byte(v);
}
uint16_t get16(const Bytes &b, size_t off) {
	return uint16_t(uint16_t(uint8_t(b[off])) << 8 | uint8_t(b[off + 1]));
}

Bytes payload_for(unsigned seed, size_t len) {
	Bytes p(len);
	for (size_t i = 0; i < len; i++)
		p[i] = std::byte(uint8_t(i * 13 + seed * 7 + (i >> 8)));
	return p;
}

void put_eth(Bytes &f, uint16_t type, const MacAddr &dst = OUR_MAC) {
	std::memcpy(f.data(), dst.b.data(), 6);
	std::memcpy(f.data() + 6, GUEST_MAC.b.data(), 6);
	put16(f, 12, type);
}

uint16_t nonzero(uint16_t c) { return c ? c : 0xffff; }

// A UDP datagram from the guest, with correct checksums.
Bytes udp4(Ipv4Addr src, Ipv4Addr dst, uint16_t sport, uint16_t dport, const Bytes &data,
	   const MacAddr &eth_dst = OUR_MAC) {
	size_t l4 = 8 + data.size();
	Bytes f(14 + 20 + l4);
	put_eth(f, 0x0800, eth_dst);
	f[14] = std::byte(0x45);
	put16(f, 16, uint16_t(20 + l4));
	f[20] = std::byte(0x40); // DF
	f[22] = std::byte(64);
	f[23] = std::byte(17);
	std::memcpy(f.data() + 26, src.b.data(), 4);
	std::memcpy(f.data() + 30, dst.b.data(), 4);
	put16(f, 24, fold(sum16(f.data() + 14, 20)));
	put16(f, 34, sport);
	put16(f, 36, dport);
	put16(f, 38, uint16_t(l4));
	if (!data.empty())
		std::memcpy(f.data() + 42, data.data(), data.size());
	put16(f, 40, nonzero(fold(sum16(f.data() + 34, l4, pseudo4(src, dst, uint32_t(l4))))));
	return f;
}

Bytes udp6(const Ipv6Addr &src, const Ipv6Addr &dst, uint16_t sport, uint16_t dport,
	   const Bytes &data) {
	size_t l4 = 8 + data.size();
	Bytes f(14 + 40 + l4);
	put_eth(f, 0x86dd);
	f[14] = std::byte(0x60);
	put16(f, 18, uint16_t(l4));
	f[20] = std::byte(17);
	f[21] = std::byte(64);
	std::memcpy(f.data() + 22, src.b.data(), 16);
	std::memcpy(f.data() + 38, dst.b.data(), 16);
	put16(f, 54, sport);
	put16(f, 56, dport);
	put16(f, 58, uint16_t(l4));
	if (!data.empty())
		std::memcpy(f.data() + 62, data.data(), data.size());
	put16(f, 60, nonzero(fold(sum16(f.data() + 54, l4, pseudo6(src, dst, uint32_t(l4))))));
	return f;
}

const Ipv4Addr GUEST4 = *Ipv4Addr::parse("192.0.2.2");
const Ipv4Addr GW4 = *Ipv4Addr::parse("192.0.2.1");
const Ipv6Addr GUEST6 = *Ipv6Addr::parse("2001:db8::2");
const Ipv6Addr GW6 = *Ipv6Addr::parse("fe80::1");

// A frame for the guest, verified field by field.
int check_frame4(const Bytes &f, Ipv4Addr src, Ipv4Addr dst, uint16_t sport, uint16_t dport,
		 const Bytes &data) {
	size_t l4 = 8 + data.size();
	CHK(f.size() == 14 + 20 + l4);
	CHK(std::memcmp(f.data(), GUEST_MAC.b.data(), 6) == 0);
	CHK(std::memcmp(f.data() + 6, OUR_MAC.b.data(), 6) == 0);
	CHK(get16(f, 12) == 0x0800);
	CHK(uint8_t(f[14]) == 0x45);
	CHK(get16(f, 16) == 20 + l4);
	CHK(uint8_t(f[23]) == 17);
	CHK(uint8_t(f[22]) > 0); // TTL
	CHK(fold(sum16(f.data() + 14, 20)) == 0);
	CHK(std::memcmp(f.data() + 26, src.b.data(), 4) == 0);
	CHK(std::memcmp(f.data() + 30, dst.b.data(), 4) == 0);
	CHK(get16(f, 34) == sport);
	CHK(get16(f, 36) == dport);
	CHK(get16(f, 38) == l4);
	CHK(get16(f, 40) != 0); // we always compute it
	CHK(fold(sum16(f.data() + 34, l4, pseudo4(src, dst, uint32_t(l4)))) == 0);
	CHK(Bytes(f.begin() + 42, f.end()) == data);
	return 0;
}

int check_frame6(const Bytes &f, const Ipv6Addr &src, const Ipv6Addr &dst, uint16_t sport,
		 uint16_t dport, const Bytes &data) {
	size_t l4 = 8 + data.size();
	CHK(f.size() == 14 + 40 + l4);
	CHK(std::memcmp(f.data(), GUEST_MAC.b.data(), 6) == 0);
	CHK(std::memcmp(f.data() + 6, OUR_MAC.b.data(), 6) == 0);
	CHK(get16(f, 12) == 0x86dd);
	CHK((uint8_t(f[14]) >> 4) == 6);
	CHK(get16(f, 18) == l4);
	CHK(uint8_t(f[20]) == 17);
	CHK(std::memcmp(f.data() + 22, src.b.data(), 16) == 0);
	CHK(std::memcmp(f.data() + 38, dst.b.data(), 16) == 0);
	CHK(get16(f, 54) == sport);
	CHK(get16(f, 56) == dport);
	CHK(get16(f, 58) == l4);
	CHK(get16(f, 60) != 0); // mandatory over IPv6
	CHK(fold(sum16(f.data() + 54, l4, pseudo6(src, dst, uint32_t(l4)))) == 0);
	CHK(Bytes(f.begin() + 62, f.end()) == data);
	return 0;
}

// --- Host-side sockets driven by the test ----------------------------------

union SA {
	sockaddr sa;
	sockaddr_in sin;
	sockaddr_in6 sin6;
	sockaddr_storage ss;
};

SA sa_of(const char *addr, uint16_t port) {
	SA s{};
	if (auto a4 = Ipv4Addr::parse(addr)) {
		s.sin.sin_family = AF_INET;
		s.sin.sin_port = htons(port);
		std::memcpy(&s.sin.sin_addr, a4->b.data(), 4);
	} else {
		Ipv6Addr a6 = v6(addr);
		s.sin6.sin6_family = AF_INET6;
		s.sin6.sin6_port = htons(port);
		std::memcpy(&s.sin6.sin6_addr, a6.b.data(), 16);
	}
	return s;
}

socklen_t sa_len(const SA &s) {
	return s.sa.sa_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
}

uint16_t sa_port(const SA &s) {
	return ntohs(s.sa.sa_family == AF_INET ? s.sin.sin_port : s.sin6.sin6_port);
}

std::string sa_addr(const SA &s) {
	if (s.sa.sa_family == AF_INET) {
		Ipv4Addr a;
		std::memcpy(a.b.data(), &s.sin.sin_addr, 4);
		return a.to_string();
	}
	Ipv6Addr a;
	std::memcpy(a.b.data(), &s.sin6.sin6_addr, 16);
	return a.to_string();
}

// A bound UDP socket (port 0: any); its port is filled in. -1 on failure.
int host_sock(const char *addr, uint16_t &port) {
	SA s = sa_of(addr, port);
	int fd = socket(s.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int big = 1 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	if (bind(fd, &s.sa, sa_len(s)) < 0) {
		close(fd);
		return -1;
	}
	socklen_t l = sizeof(s);
	getsockname(fd, &s.sa, &l);
	port = sa_port(s);
	return fd;
}

// Receive one datagram within timeout_ms; false on timeout.
bool host_recv(int fd, Bytes &data, SA &from, int timeout_ms = 2000) {
	pollfd p{fd, POLLIN, 0};
	if (poll(&p, 1, timeout_ms) != 1)
		return false;
	data.resize(70000);
	socklen_t l = sizeof(from);
	ssize_t n = recvfrom(fd, data.data(), data.size(), MSG_DONTWAIT, &from.sa, &l);
	if (n < 0)
		return false;
	data.resize(size_t(n));
	return true;
}

bool host_send(int fd, const Bytes &data, const SA &to) {
	return sendto(fd, data.data(), data.size(), 0, &to.sa, sa_len(to)) == ssize_t(data.size());
}

// --- Harness ---------------------------------------------------------------

class FakeTap final : public TapOutput {
public:
	bool send_frame(std::span<const std::byte> frame) override {
		frames.emplace_back(frame.begin(), frame.end());
		return true;
	}
	void flush() override { flushes++; }
	std::vector<Bytes> frames;
	unsigned flushes = 0;
};

Config test_config() {
	Config c;
	c.our_tap_mac = OUR_MAC;
	c.ip4.addr = GUEST4;
	c.ip4.prefix_len = 24;
	c.ip4.gw = GW4;
	c.ip4.map_host_loopback = c.ip4.gw;
	c.ip6.addr = GUEST6;
	c.ip6.gw = GW6;
	c.ip6.map_host_loopback = c.ip6.gw;
	return c;
}

struct Harness {
	Config c = test_config();
	TapState tap;
	FakeTap out;
	EventLoop loop;
	FlowTable flows;
	UdpCtx ctx{c, tap, out, loop, flows};

	int init(uint32_t capacity = 1024) {
		tap.guest_mac = GUEST_MAC;
		tap.guest_mac_seen = true;
		if (loop.init() < 0 || flows.init(capacity) < 0 || udp_init(ctx) < 0)
			return 1;
		return 0;
	}

	// Run the loop until at least n frames arrived or ~5 s passed.
	bool wait_frames(size_t n) {
		for (int i = 0; i < 100 && out.frames.size() < n; i++)
			loop.run_once(50);
		return out.frames.size() >= n;
	}
	// One frame as a batch of its own: queued, then sent.
	bool input(const Bytes &f) {
		bool ok = udp_tap_input(ctx, f, now_monotonic());
		udp_tap_flush(ctx);
		return ok;
	}
};

// Run body in a forked child in a new user and network namespace with
// lo:1 203.0.113.1 (some other host); its exit code is the test's outcome.
void run_sandboxed(const std::function<int()> &body, unsigned timeout_s = 30) {
	RUN_FORKED(
		[&] {
			int rc = passt::test::enter_netns({v4("203.0.113.1")});
			return rc ? rc : body();
		},
		timeout_s);
}

bool fd_open(int fd) { return fcntl(fd, F_GETFD) >= 0; }

// One round trip guest -> gateway:port -> host socket on loopback -> back,
// for a payload of len bytes. Checks what the host socket and the guest see.
int round_trip4(Harness &h, int srv, uint16_t port, uint16_t gport, size_t len, unsigned seed) {
	Bytes data = payload_for(seed, len);
	size_t before = h.out.frames.size();
	CHK(h.input(udp4(GUEST4, GW4, gport, port, data)));
	Bytes got;
	SA from;
	CHK(host_recv(srv, got, from));
	CHK(got == data);
	CHK(sa_addr(from) == "127.0.0.1");
	Bytes reply = payload_for(seed + 1, len);
	CHK(host_send(srv, reply, from));
	CHK(h.wait_frames(before + 1));
	CHK(h.out.frames.size() == before + 1);
	CHK_OK(check_frame4(h.out.frames.back(), GW4, GUEST4, port, gport, reply));
	return 0;
}

int round_trip6(Harness &h, int srv, uint16_t port, uint16_t gport, size_t len, unsigned seed) {
	Bytes data = payload_for(seed, len);
	size_t before = h.out.frames.size();
	CHK(h.input(udp6(GUEST6, GW6, gport, port, data)));
	Bytes got;
	SA from;
	CHK(host_recv(srv, got, from));
	CHK(got == data);
	CHK(sa_addr(from) == "::1");
	Bytes reply = payload_for(seed + 1, len);
	CHK(host_send(srv, reply, from));
	CHK(h.wait_frames(before + 1));
	CHK(h.out.frames.size() == before + 1);
	CHK_OK(check_frame6(h.out.frames.back(), GW6, GUEST6, port, gport, reply));
	return 0;
}

} // namespace

// --- Outbound: guest -> host sockets ---------------------------------------

TEST(UdpSock, Udp4ToGatewayReachesHostLoopback) {
	run_sandboxed([] {
		Harness h;
		CHK_OK(h.init());
		uint16_t port = 0;
		int srv = host_sock("127.0.0.1", port);
		CHK(srv >= 0);
		CHK_OK(round_trip4(h, srv, port, 40000, 100, 1));
		CHK(h.flows.in_use() == 1);
		CHK(h.out.flushes >= 1);

		const Flow *f = h.flows.get(0);
		CHK(f && f->type == FlowType::Udp);
		CHK(f->guest().peer_addr == InAny(GUEST4));
		CHK(f->guest().peer_port == 40000);
		CHK(f->guest().our_addr == InAny(GW4));
		CHK(f->guest().our_port == port);
		CHK(f->host().peer_addr == InAny(Ipv4Addr::loopback()));
		CHK(f->host().peer_port == port);
		CHK(f->host().our_port != 0);
		int sock = f->state<UdpFlow>().sock;
		CHK(fd_open(sock));

		// The same 4-tuple reuses the flow and its socket.
		CHK_OK(round_trip4(h, srv, port, 40000, 10, 3));
		CHK(h.flows.in_use() == 1);
		CHK(h.flows.get(0)->state<UdpFlow>().sock == sock);
		CHK(h.flows.get(0)->state<UdpFlow>().to_host == 2);
		CHK(h.flows.get(0)->state<UdpFlow>().to_guest == 2);
		CHK(h.ctx.stats.to_host == 2 && h.ctx.stats.to_guest == 2);
		close(srv);
		return 0;
	});
}

TEST(UdpSock, Udp6ToGatewayReachesHostLoopback) {
	run_sandboxed([] {
		Harness h;
		CHK_OK(h.init());
		uint16_t port = 0;
		int srv = host_sock("::1", port);
		CHK(srv >= 0);
		CHK_OK(round_trip6(h, srv, port, 40001, 200, 5));
		const Flow *f = h.flows.get(0);
		CHK(f && f->host().peer_addr == InAny(Ipv6Addr::loopback()));

		// A link-local guest source works the same.
		Ipv6Addr ll = v6("fe80::5054:ff:fe12:3456");
		Bytes data = payload_for(9, 30);
		CHK(h.input(udp6(ll, GW6, 40001, port, data)));
		Bytes got;
		SA from;
		CHK(host_recv(srv, got, from));
		CHK(got == data);
		CHK(host_send(srv, data, from));
		CHK(h.wait_frames(2));
		CHK_OK(check_frame6(h.out.frames[1], GW6, ll, port, 40001, data));
		CHK(h.flows.in_use() == 2);
		close(srv);
		return 0;
	});
}

// Zero-length, 1400-byte and 65000-byte datagrams (MTU 65520), both ways.
TEST(UdpSock, PayloadSizes) {
	run_sandboxed([] {
		Harness h;
		h.c.mtu = 65520;
		CHK_OK(h.init());
		uint16_t p4 = 0, p6 = 0;
		int s4 = host_sock("127.0.0.1", p4);
		int s6 = host_sock("::1", p6);
		CHK(s4 >= 0 && s6 >= 0);
		unsigned seed = 10;
		for (size_t len : {size_t(0), size_t(1), size_t(1400), size_t(65000)}) {
			CHK_OK(round_trip4(h, s4, p4, 41000, len, seed++));
			CHK_OK(round_trip6(h, s6, p6, 41000, len, seed++));
		}
		// The largest payloads the MTU allows.
		CHK_OK(round_trip4(h, s4, p4, 41000, 65520 - 28, seed++));
		CHK_OK(round_trip6(h, s6, p6, 41000, 65520 - 48, seed++));
		CHK(h.ctx.stats.oversize == 0);
		close(s4);
		close(s6);
		return 0;
	});
}

// A host datagram that would not fit the guest's MTU is dropped, counted;
// the next one that fits still goes through.
TEST(UdpSock, OversizeRepliesDropped) {
	run_sandboxed([] {
		Harness h;
		h.c.mtu = 1500;
		CHK_OK(h.init());
		uint16_t port = 0;
		int srv = host_sock("127.0.0.1", port);
		CHK(srv >= 0);
		// Guest -> host is not limited by our MTU.
		Bytes big = payload_for(1, 3000);
		CHK(h.input(udp4(GUEST4, GW4, 42000, port, big)));
		Bytes got;
		SA from;
		CHK(host_recv(srv, got, from));
		CHK(got == big);
		CHK(host_send(srv, payload_for(2, 1473), from)); // 1 byte too many
		CHK(host_send(srv, payload_for(3, 1472), from)); // exactly fits
		CHK(h.wait_frames(1));
		for (int i = 0; i < 5; i++)
			h.loop.run_once(20);
		CHK(h.out.frames.size() == 1);
		CHK_OK(check_frame4(h.out.frames[0], GW4, GUEST4, port, 42000,
				    payload_for(3, 1472)));
		CHK(h.ctx.stats.oversize == 1);
		close(srv);
		return 0;
	});
}

// Several concurrent flows (guest ports and destinations): each reply goes
// back to the right guest port from the right address.
TEST(UdpSock, SeveralFlows) {
	run_sandboxed([] {
		Harness h;
		CHK_OK(h.init());
		uint16_t pa = 0, pb = 0;
		int sa = host_sock("127.0.0.1", pa);
		int sb = host_sock("203.0.113.1", pb); // not loopback: no NAT
		CHK(sa >= 0 && sb >= 0);
		constexpr int N = 8;
		// All datagrams first, then all replies, interleaved.
		for (int i = 0; i < N; i++) {
			CHK(h.input(udp4(GUEST4, GW4, uint16_t(43000 + i), pa,
					 payload_for(i, 20 + i))));
			CHK(h.input(udp4(GUEST4, v4("203.0.113.1"), uint16_t(43000 + i), pb,
					 payload_for(100 + i, 30 + i))));
		}
		CHK(h.flows.in_use() == 2 * N);
		for (int i = 0; i < 2 * N; i++) {
			int s = i % 2 ? sb : sa;
			Bytes got;
			SA from;
			CHK(host_recv(s, got, from));
			// Echo back with the data itself as the reply.
			CHK(host_send(s, got, from));
		}
		CHK(h.wait_frames(2 * N));
		for (int i = 0; i < 5; i++)
			h.loop.run_once(10);
		CHK(h.out.frames.size() == 2 * N);
		// Each frame: match it to its guest port and check it fully.
		unsigned seen_a = 0, seen_b = 0;
		for (const Bytes &f : h.out.frames) {
			CHK(f.size() >= 42);
			uint16_t sport = get16(f, 34), dport = get16(f, 36);
			CHK(dport >= 43000 && dport < 43000 + N);
			int i = dport - 43000;
			if (sport == pa) {
				CHK_OK(check_frame4(f, GW4, GUEST4, pa, dport,
						    payload_for(i, 20 + i)));
				seen_a |= 1u << i;
			} else {
				CHK(sport == pb);
				CHK_OK(check_frame4(f, v4("203.0.113.1"), GUEST4, pb, dport,
						    payload_for(100 + i, 30 + i)));
				seen_b |= 1u << i;
			}
		}
		CHK(seen_a == (1u << N) - 1 && seen_b == (1u << N) - 1);
		close(sa);
		close(sb);
		return 0;
	});
}

TEST(UdpSock, IdleFlowsExpire) {
	run_sandboxed([] {
		Harness h;
		CHK_OK(h.init());
		uint16_t port = 0;
		int srv = host_sock("127.0.0.1", port);
		CHK(srv >= 0);
		timespec t0 = now_monotonic();
		Bytes f4 = udp4(GUEST4, GW4, 44000, port, payload_for(1, 8));
		Bytes f6 = udp6(GUEST6, GW6, 44001, port, payload_for(1, 8));
		CHK(!h.loop.timers().armed(h.ctx.timer)); // no flow: no wake-ups
		CHK(udp_tap_input(h.ctx, f4, t0));
		CHK(h.loop.timers().armed(h.ctx.timer));
		CHK(udp_tap_input(h.ctx, f6, t0));
		udp_tap_flush(h.ctx);
		CHK(h.flows.in_use() == 2);
		Bytes got;
		SA from;
		CHK(host_recv(srv, got, from)); // the IPv4 one (nobody on ::1)
		CHK(got == payload_for(1, 8));
		int s0 = h.flows.get(0)->state<UdpFlow>().sock;
		int s1 = h.flows.get(1)->state<UdpFlow>().sock;
		CHK(fd_open(s0) && fd_open(s1));

		// Flow 1 stays busy; flow 0 goes idle.
		timespec t100 = timespec_add_ms(t0, 100000);
		f6 = udp6(GUEST6, GW6, 44001, port, payload_for(2, 8));
		CHK(udp_tap_input(h.ctx, f6, t100));
		udp_tap_flush(h.ctx);
		CHK(udp_timer(h.ctx, timespec_add_ms(t0, 179000)) == 0);
		CHK(h.flows.in_use() == 2);
		CHK(udp_timer(h.ctx, timespec_add_ms(t0, 180000)) == 1);
		CHK(h.flows.in_use() == 1);
		CHK(h.flows.get(0) == nullptr);
		CHK(!fd_open(s0));
		CHK(fd_open(s1));
		CHK(h.ctx.stats.flows_expired == 1);

		// The periodic timer registered by udp_init() does the same.
		CHK(h.loop.timers().run_due(timespec_add_ms(t100, 181000)) >= 1);
		CHK(h.flows.in_use() == 0);
		CHK(!fd_open(s1));
		CHK(!h.loop.timers().armed(h.ctx.timer)); // the last one gone: asleep

		// The 4-tuple works again afterwards, with a new flow.
		CHK_OK(round_trip4(h, srv, port, 44000, 16, 4));
		CHK(h.flows.in_use() == 1);
		CHK(h.loop.timers().armed(h.ctx.timer)); // which arms the timer again
		close(srv);
		return 0;
	});
}

// An ICMP port unreachable for one datagram (nobody listening) is reported
// on the socket; it doesn't cost the next datagram, and is logged, not
// fatal, when the loop sees it.
TEST(UdpSock, PortUnreachableNotFatal) {
	run_sandboxed([] {
		Harness h;
		CHK_OK(h.init());
		uint16_t port = 0;
		int tmp = host_sock("127.0.0.1", port);
		CHK(tmp >= 0);
		close(tmp); // port now closed
		CHK(h.input(udp4(GUEST4, GW4, 45000, port, payload_for(1, 8))));
		usleep(20000); // let the ICMP error arrive
		CHK(h.input(udp4(GUEST4, GW4, 45000, port, payload_for(1, 8))));
		for (int i = 0; i < 5; i++)
			h.loop.run_once(10);
		CHK(h.out.frames.empty());
		CHK(h.flows.in_use() == 1);
		// Now someone listens there: the flow works.
		int srv = host_sock("127.0.0.1", port);
		CHK(srv >= 0);
		CHK_OK(round_trip4(h, srv, port, 45000, 50, 2));
		close(srv);
		return 0;
	});
}

// No route to the destination: dropped, no flow kept, the next one works.
TEST(UdpSock, UnreachableDestinationNotFatal) {
	run_sandboxed([] {
		Harness h;
		CHK_OK(h.init());
		for (int i = 0; i < 5; i++)
			CHK(!h.input(
				udp4(GUEST4, v4("198.51.100.77"), 46000, 9, payload_for(i, 8))));
		CHK(h.flows.in_use() == 0);
		CHK(h.ctx.stats.unforwardable == 5);
		uint16_t port = 0;
		int srv = host_sock("127.0.0.1", port);
		CHK(srv >= 0);
		CHK_OK(round_trip4(h, srv, port, 46000, 8, 1));
		close(srv);
		return 0;
	});
}

TEST(UdpSock, StaleEventsIgnored) {
	run_sandboxed([] {
		Harness h;
		CHK_OK(h.init());
		uint16_t port = 0;
		int srv = host_sock("127.0.0.1", port);
		CHK(srv >= 0);
		CHK(h.input(udp4(GUEST4, GW4, 47000, port, payload_for(1, 8))));
		Bytes got;
		SA from;
		CHK(host_recv(srv, got, from));
		CHK(host_send(srv, got, from));
		usleep(20000);
		int sock = h.flows.get(0)->state<UdpFlow>().sock;
		udp_sock_handler(h.ctx, EpollRef{RefKind::UdpSock, sock + 100, 0}, EPOLLIN,
				 now_monotonic());
		udp_sock_handler(h.ctx, EpollRef{RefKind::UdpSock, sock, 77}, EPOLLIN,
				 now_monotonic());
		udp_listen_handler(h.ctx, EpollRef{RefKind::UdpListen, sock, 5 | 9u << 16}, EPOLLIN,
				   now_monotonic());
		CHK(h.out.frames.empty());
		udp_flow_close(h.ctx, 0);
		CHK(h.flows.in_use() == 0);
		udp_sock_handler(h.ctx, EpollRef{RefKind::UdpSock, sock, 0}, EPOLLIN,
				 now_monotonic());
		CHK(h.out.frames.empty());
		udp_flow_close(h.ctx, 0); // twice: ignored
		close(srv);
		return 0;
	});
}

// A full UDP budget evicts the oldest unanswered flow for the new one.
TEST(UdpSock, FlowTableFullEvicts) {
	run_sandboxed([] {
		Harness h;
		CHK_OK(h.init(2));
		uint16_t port = 0;
		int srv = host_sock("127.0.0.1", port);
		CHK(srv >= 0);
		h.flows.set_unbudgeted(); // the two entries are UDP's
		CHK(h.input(udp4(GUEST4, GW4, 1001, port, payload_for(1, 8))));
		CHK(h.input(udp4(GUEST4, GW4, 1002, port, payload_for(1, 8))));
		// Full: the oldest unanswered flow (1001) is evicted for 1003.
		CHK(h.input(udp4(GUEST4, GW4, 1003, port, payload_for(1, 8))));
		CHK(h.flows.in_use() == 2);
		CHK(h.ctx.stats.flows_evicted == 1);
		CHK(h.flows.evictions(FlowBudget::Udp) == 1);
		CHK(!h.flows.lookup(FlowType::Udp, FlowSideIdx::Guest,
				    flowside_from_guest(InAny(GUEST4), 1001, InAny(GW4), port)));
		CHK(h.input(udp4(GUEST4, GW4, 1001, port, payload_for(1, 8))));
		CHK(h.flows.in_use() == 2);
		close(srv);
		return 0;
	});
}

// --- --dns-forward ---------------------------------------------------------

TEST(UdpSock, DnsForward) {
	run_sandboxed([] {
		Harness h;
		h.c.ip4.dns_match = v4("192.0.2.53");
		h.c.ip4.dns_host = v4("203.0.113.1");
		h.c.ip6.dns_match = v6("2001:db8::53");
		h.c.ip6.dns_host = Ipv6Addr::loopback();
		CHK_OK(h.init());
		uint16_t p53 = 53, p53b = 53;
		int r4 = host_sock("203.0.113.1", p53);
		int r6 = host_sock("::1", p53b);
		CHK(r4 >= 0 && r6 >= 0);

		Bytes q = payload_for(1, 33), a = payload_for(2, 120);
		CHK(h.input(udp4(GUEST4, v4("192.0.2.53"), 50000, 53, q)));
		Bytes got;
		SA from;
		CHK(host_recv(r4, got, from));
		CHK(got == q);
		CHK(host_send(r4, a, from));
		CHK(h.wait_frames(1));
		CHK_OK(check_frame4(h.out.frames[0], v4("192.0.2.53"), GUEST4, 53, 50000, a));

		CHK(h.input(udp6(GUEST6, v6("2001:db8::53"), 50001, 53, q)));
		CHK(host_recv(r6, got, from));
		CHK(got == q);
		CHK(sa_addr(from) == "::1");
		CHK(host_send(r6, a, from));
		CHK(h.wait_frames(2));
		CHK_OK(check_frame6(h.out.frames[1], v6("2001:db8::53"), GUEST6, 53, 50001, a));

		// Only port 53 is redirected: another port to the DNS address goes
		// to that address itself (no route in here: dropped).
		CHK(!h.input(udp4(GUEST4, v4("192.0.2.53"), 50002, 54, q)));
		CHK(h.flows.in_use() == 2);
		close(r4);
		close(r6);
		return 0;
	});
}

// --- Inbound: -u ports ------------------------------------------------------

namespace {

void add_udp_rule(Config &c, uint16_t first, uint16_t last, uint16_t to_first,
		  std::optional<InAny> bind = std::nullopt) {
	c.udp_in.kind = PortForward::Kind::Spec;
	PortRule r;
	r.first = first;
	r.last = last;
	r.to_first = to_first;
	r.bind_addr = bind;
	c.udp_in.rules.push_back(r);
}

// A host peer on addr sends to the -u port; the guest gets the frame from
// presented_src to its address:target; its crafted reply reaches the peer
// from the port it wrote to.
int inbound_exchange(Harness &h, const char *addr, uint16_t port, uint16_t target, bool v4fam,
		     unsigned seed) {
	uint16_t pport = 0;
	int peer = host_sock(addr, pport);
	CHK(peer >= 0);
	Bytes data = payload_for(seed, 77 + seed);
	size_t before = h.out.frames.size();
	CHK(host_send(peer, data, sa_of(addr, port)));
	CHK(h.wait_frames(before + 1));
	const Bytes &f = h.out.frames.back();
	Bytes reply = payload_for(seed + 50, 33);
	if (v4fam) {
		CHK_OK(check_frame4(f, GW4, GUEST4, pport, target, data));
		CHK(h.input(udp4(GUEST4, GW4, target, pport, reply)));
	} else {
		CHK_OK(check_frame6(f, GW6, GUEST6, pport, target, data));
		CHK(h.input(udp6(GUEST6, GW6, target, pport, reply)));
	}
	Bytes got;
	SA from;
	CHK(host_recv(peer, got, from));
	CHK(got == reply);
	CHK(sa_port(from) == port);
	CHK(sa_addr(from) == addr);
	close(peer);
	return 0;
}

} // namespace

TEST(UdpInbound, ForwardedPortBothWays) {
	run_sandboxed([] {
		Harness h;
		add_udp_rule(h.c, 5000, 5001, 6000);
		CHK_OK(h.init());
		CHK(h.ctx.listeners.size() == 4); // two ports, two families
		CHK_OK(inbound_exchange(h, "127.0.0.1", 5000, 6000, true, 1));
		CHK_OK(inbound_exchange(h, "127.0.0.1", 5001, 6001, true, 2));
		CHK_OK(inbound_exchange(h, "::1", 5000, 6000, false, 3));
		CHK(h.flows.in_use() == 3);
		for (const UdpListener &l : h.ctx.listeners)
			CHK(fd_open(l.fd));

		// A second datagram of a peer reuses its flow; replies to an
		// inbound flow never open sockets of their own.
		uint16_t pport = 0;
		int peer = host_sock("127.0.0.1", pport);
		CHK(peer >= 0);
		for (unsigned i = 0; i < 3; i++)
			CHK(host_send(peer, payload_for(i, 10), sa_of("127.0.0.1", 5000)));
		size_t before = h.out.frames.size();
		CHK(h.wait_frames(before + 3));
		CHK(h.flows.in_use() == 4);
		for (unsigned i = 0; i < 3; i++)
			CHK_OK(check_frame4(h.out.frames[before + i], GW4, GUEST4, pport, 6000,
					    payload_for(i, 10)));
		close(peer);

		// Expiry closes inbound flows but never the listening sockets.
		CHK(udp_timer(h.ctx, timespec_add_ms(now_monotonic(), 200000)) >= 4);
		CHK(h.flows.in_use() == 0);
		for (const UdpListener &l : h.ctx.listeners)
			CHK(fd_open(l.fd));
		CHK_OK(inbound_exchange(h, "127.0.0.1", 5000, 6000, true, 5));

		int fd0 = h.ctx.listeners[0].fd;
		udp_close_all(h.ctx);
		CHK(h.ctx.listeners.empty());
		CHK(!fd_open(fd0));
		return 0;
	});
}

// A peer that is not loopback appears with its own address.
TEST(UdpInbound, NonLoopbackPeerKeepsAddress) {
	run_sandboxed([] {
		Harness h;
		add_udp_rule(h.c, 5002, 5002, 5002);
		CHK_OK(h.init());
		uint16_t pport = 0;
		int peer = host_sock("203.0.113.1", pport);
		CHK(peer >= 0);
		Bytes data = payload_for(7, 40);
		CHK(host_send(peer, data, sa_of("203.0.113.1", 5002)));
		CHK(h.wait_frames(1));
		CHK_OK(check_frame4(h.out.frames[0], v4("203.0.113.1"), GUEST4, pport, 5002, data));
		Bytes reply = payload_for(8, 9);
		CHK(h.input(udp4(GUEST4, v4("203.0.113.1"), 5002, pport, reply)));
		Bytes got;
		SA from;
		CHK(host_recv(peer, got, from));
		CHK(got == reply);
		CHK(sa_port(from) == 5002);
		close(peer);
		return 0;
	});
}

// The guest's address as learnt from its frames wins over the configured one.
TEST(UdpInbound, DeliveredToAddressSeen) {
	run_sandboxed([] {
		Harness h;
		add_udp_rule(h.c, 5003, 5003, 7003, InAny(Ipv4Addr::loopback()));
		CHK_OK(h.init());
		CHK(h.ctx.listeners.size() == 1);
		h.tap.addr4_seen = v4("192.0.2.99");
		uint16_t pport = 0;
		int peer = host_sock("127.0.0.1", pport);
		CHK(peer >= 0);
		CHK(host_send(peer, payload_for(1, 5), sa_of("127.0.0.1", 5003)));
		CHK(h.wait_frames(1));
		CHK_OK(check_frame4(h.out.frames[0], GW4, v4("192.0.2.99"), pport, 7003,
				    payload_for(1, 5)));
		close(peer);
		return 0;
	});
}

TEST(UdpInbound, PortInUseIsFatal) {
	run_sandboxed([] {
		uint16_t port = 0;
		int busy = host_sock("127.0.0.1", port);
		CHK(busy >= 0);
		Harness h;
		add_udp_rule(h.c, port, port, port, InAny(Ipv4Addr::loopback()));
		CHK(h.loop.init() == 0 && h.flows.init(16) == 0);
		CHK(udp_init(h.ctx) == -EADDRINUSE);
		CHK(h.ctx.listeners.empty());

		// The same as a weak rule ("all"): not fatal.
		Harness w;
		add_udp_rule(w.c, port, port, port, InAny(Ipv4Addr::loopback()));
		w.c.udp_in.rules[0].weak = true;
		CHK(w.loop.init() == 0 && w.flows.init(16) == 0);
		CHK(udp_init(w.ctx) == 0);
		CHK(w.ctx.listeners.empty());
		close(busy);
		return 0;
	});
}

TEST(UdpInbound, NoUdpOpensNothing) {
	run_sandboxed([] {
		Harness h;
		add_udp_rule(h.c, 5004, 5004, 5004);
		h.c.no_udp = true;
		CHK_OK(h.init());
		CHK(h.ctx.listeners.empty());
		CHK(!h.input(udp4(GUEST4, GW4, 1000, 5004, payload_for(1, 4))));
		CHK(h.flows.in_use() == 0);
		return 0;
	});
}

// --- Input validation (no socket is ever opened for these) ----------------

class UdpInput : public ::testing::Test {
protected:
	void SetUp() override {
		h.tap.guest_mac = GUEST_MAC;
		ASSERT_EQ(h.loop.init(), 0);
		ASSERT_EQ(h.flows.init(64), 0);
	}
	bool input(const Bytes &f) { return h.input(f); }
	void expect_nothing() {
		EXPECT_EQ(h.flows.in_use(), 0u);
		EXPECT_TRUE(h.out.frames.empty());
	}
	Harness h;
};

TEST_F(UdpInput, TruncatedFramesDropped) {
	Bytes f4 = udp4(GUEST4, GW4, 1, 9, payload_for(5, 32));
	for (size_t n = 0; n < f4.size(); n++)
		EXPECT_FALSE(input(Bytes(f4.begin(), f4.begin() + long(n)))) << n;
	Bytes f6 = udp6(GUEST6, GW6, 1, 9, payload_for(5, 32));
	for (size_t n = 0; n < f6.size(); n++)
		EXPECT_FALSE(input(Bytes(f6.begin(), f6.begin() + long(n)))) << n;
	expect_nothing();
	EXPECT_EQ(h.ctx.stats.malformed, f4.size() + f6.size());
}

TEST_F(UdpInput, BadLengthsAndChecksumsDropped) {
	Bytes base = udp4(GUEST4, GW4, 1, 9, payload_for(5, 32));
	// UDP length beyond the IP payload.
	Bytes f = base;
	put16(f, 38, uint16_t(get16(f, 38) + 1));
	EXPECT_FALSE(input(f));
	// UDP length below the header size.
	f = base;
	put16(f, 38, 7);
	EXPECT_FALSE(input(f));
	// IP total length beyond the frame.
	f = base;
	put16(f, 16, uint16_t(get16(f, 16) + 10));
	put16(f, 24, 0);
	put16(f, 24, fold(sum16(f.data() + 14, 20)));
	EXPECT_FALSE(input(f));
	// Bad IPv4 header checksum.
	f = base;
	f[24] ^= std::byte(1);
	EXPECT_FALSE(input(f));
	// Bad UDP checksum.
	f = base;
	f[45] ^= std::byte(0x10);
	EXPECT_FALSE(input(f));
	// Fragment (MF set).
	f = base;
	f[20] = std::byte(0x20);
	put16(f, 24, 0);
	put16(f, 24, fold(sum16(f.data() + 14, 20)));
	EXPECT_FALSE(input(f));
	// Not UDP at all (protocol field says TCP).
	f = base;
	f[23] = std::byte(6);
	put16(f, 24, 0);
	put16(f, 24, fold(sum16(f.data() + 14, 20)));
	EXPECT_FALSE(input(f));
	// IPv6: zero UDP checksum is not allowed, a bad one neither.
	Bytes b6 = udp6(GUEST6, GW6, 1, 9, payload_for(5, 32));
	f = b6;
	put16(f, 60, 0);
	EXPECT_FALSE(input(f));
	f = b6;
	f[70] ^= std::byte(4);
	EXPECT_FALSE(input(f));
	// IPv6 payload length beyond the frame.
	f = b6;
	put16(f, 18, uint16_t(get16(f, 18) + 1));
	EXPECT_FALSE(input(f));
	expect_nothing();
	EXPECT_EQ(h.ctx.stats.malformed, 10u);
}

TEST_F(UdpInput, BadSourcesAndDestinationsDropped) {
	Bytes d = payload_for(1, 8);
	// Broadcast and multicast destinations: counted as such.
	EXPECT_FALSE(input(udp4(GUEST4, Ipv4Addr::broadcast(), 68, 9, d)));
	EXPECT_FALSE(input(udp4(GUEST4, v4("192.0.2.255"), 1, 9, d)));
	EXPECT_FALSE(input(udp4(GUEST4, v4("224.0.0.251"), 5353, 5353, d)));
	EXPECT_FALSE(input(udp6(GUEST6, v6("ff02::fb"), 5353, 5353, d)));
	EXPECT_FALSE(input(udp4(GUEST4, GW4, 1, 9, d, MacAddr::broadcast())));
	EXPECT_EQ(h.ctx.stats.bcast_dropped, 5u);
	// Sources the guest can't have.
	EXPECT_FALSE(input(udp4(Ipv4Addr{}, GW4, 1, 9, d)));
	EXPECT_FALSE(input(udp4(Ipv4Addr::loopback(), GW4, 1, 9, d)));
	EXPECT_FALSE(input(udp4(v4("224.0.0.1"), GW4, 1, 9, d)));
	EXPECT_FALSE(input(udp6(Ipv6Addr{}, GW6, 1, 9, d)));
	EXPECT_FALSE(input(udp6(Ipv6Addr::loopback(), GW6, 1, 9, d)));
	// Destinations that can't be forwarded: port 0, loopback, unspecified.
	EXPECT_FALSE(input(udp4(GUEST4, GW4, 1, 0, d)));
	EXPECT_FALSE(input(udp4(GUEST4, Ipv4Addr::loopback(), 1, 9, d)));
	EXPECT_FALSE(input(udp4(GUEST4, Ipv4Addr{}, 1, 9, d)));
	EXPECT_FALSE(input(udp6(GUEST6, Ipv6Addr::loopback(), 1, 9, d)));
	// A disabled family.
	h.c.ip6.enabled = false;
	EXPECT_FALSE(input(udp6(GUEST6, GW6, 1, 9, d)));
	expect_nothing();
}

// A valid IPv4 datagram with no checksum (zero) is accepted: that is legal
// over IPv4. Checked against a socket, in a sandbox.
TEST(UdpSock, ZeroChecksumOverIpv4Accepted) {
	run_sandboxed([] {
		Harness h;
		CHK_OK(h.init());
		uint16_t port = 0;
		int srv = host_sock("127.0.0.1", port);
		CHK(srv >= 0);
		Bytes data = payload_for(3, 12);
		Bytes f = udp4(GUEST4, GW4, 48000, port, data);
		put16(f, 40, 0);
		CHK(h.input(f));
		Bytes got;
		SA from;
		CHK(host_recv(srv, got, from));
		CHK(got == data);
		close(srv);
		return 0;
	});
}

// --- Batching: guest datagrams queued per tap batch, sent with sendmmsg() ---

namespace {

// True if a datagram is waiting on fd within timeout_ms.
bool readable(int fd, int timeout_ms = 0) {
	pollfd p{fd, POLLIN, 0};
	return poll(&p, 1, timeout_ms) == 1;
}

// Queue frames[i] with udp_tap_input(), no flush; all must be accepted.
int queue_all(Harness &h, const std::vector<Bytes> &frames, const timespec &now) {
	for (const Bytes &f : frames)
		CHK(udp_tap_input(h.ctx, f, now));
	return 0;
}

const UdpFlow &uflow(Harness &h, uint32_t i) { return h.flows.get(i)->state<UdpFlow>(); }

} // namespace

// A batch for one flow: nothing leaves before the flush, then one
// sendmmsg() delivers every datagram, in order, byte for byte.
TEST(UdpBatch, OneFlowOneSendmmsgInOrder) {
	run_sandboxed([] {
		Harness h;
		CHK_OK(h.init());
		uint16_t port = 0;
		int srv = host_sock("127.0.0.1", port);
		CHK(srv >= 0);
		constexpr unsigned N = 40;
		std::vector<Bytes> frames;
		for (unsigned i = 0; i < N; i++)
			frames.push_back(
				udp4(GUEST4, GW4, 40100, port, payload_for(i, 1 + i * 37)));
		timespec t = timespec_add_ms(now_monotonic(), 5000);
		CHK_OK(queue_all(h, frames, t));
		CHK(h.flows.in_use() == 1);
		CHK(h.ctx.stats.to_host == 0 && h.ctx.stats.send_batches == 0);
		CHK(uflow(h, 0).to_host == 0);
		CHK(!readable(srv, 50));

		udp_tap_flush(h.ctx);
		CHK(h.ctx.stats.send_batches == 1);
		CHK(h.ctx.stats.to_host == N && h.ctx.stats.send_failed == 0);
		CHK(uflow(h, 0).to_host == N);
		CHK(h.flows.get(0)->last_active.tv_sec == t.tv_sec &&
		    h.flows.get(0)->last_active.tv_nsec == t.tv_nsec);
		uint16_t our_port = h.flows.get(0)->host().our_port;
		for (unsigned i = 0; i < N; i++) {
			Bytes got;
			SA from;
			CHK(host_recv(srv, got, from));
			CHK(got == payload_for(i, 1 + i * 37));
			CHK(sa_port(from) == our_port);
		}
		CHK(!readable(srv, 50));
		udp_tap_flush(h.ctx); // empty: no call
		CHK(h.ctx.stats.send_batches == 1);
		close(srv);
		return 0;
	});
}

// Flows interleaved in a batch: one sendmmsg() per run of the same socket,
// each flow's datagrams in the order the guest sent them.
TEST(UdpBatch, InterleavedFlowsKeepOrder) {
	run_sandboxed([] {
		Harness h;
		CHK_OK(h.init());
		uint16_t p4 = 0, p6 = 0;
		int s4 = host_sock("127.0.0.1", p4);
		int s6 = host_sock("::1", p6);
		CHK(s4 >= 0 && s6 >= 0);
		// A, B: IPv4 flows to s4 (guest ports 40200, 40201); C: IPv6 to s6.
		const char pattern[] = "AAABBACCAB"; // runs: AAA BB A CC A B
		std::vector<Bytes> frames;
		for (unsigned i = 0; pattern[i]; i++) {
			Bytes d = payload_for(i, 10 + i);
			uint16_t gport = uint16_t(40200 + (pattern[i] - 'A'));
			if (pattern[i] == 'C')
				frames.push_back(udp6(GUEST6, GW6, gport, p6, d));
			else
				frames.push_back(udp4(GUEST4, GW4, gport, p4, d));
		}
		CHK_OK(queue_all(h, frames, now_monotonic()));
		CHK(h.flows.in_use() == 3);
		udp_tap_flush(h.ctx);
		CHK(h.ctx.stats.send_batches == 6);
		CHK(h.ctx.stats.to_host == 10 && h.ctx.stats.send_failed == 0);
		CHK(uflow(h, 0).to_host == 5 && uflow(h, 1).to_host == 3);
		CHK(uflow(h, 2).to_host == 2);

		// Per source port (flow), the payload seeds must come in order.
		uint16_t port_a = h.flows.get(0)->host().our_port;
		uint16_t port_b = h.flows.get(1)->host().our_port;
		std::vector<unsigned> want_a, want_b, want_c, got_a, got_b, got_c;
		for (unsigned i = 0; pattern[i]; i++) {
			char c = pattern[i];
			(c == 'A' ? want_a : c == 'B' ? want_b : want_c).push_back(i);
		}
		for (unsigned k = 0; k < want_a.size() + want_b.size(); k++) {
			Bytes got;
			SA from;
			CHK(host_recv(s4, got, from));
			CHK(sa_port(from) == port_a || sa_port(from) == port_b);
			auto &list = sa_port(from) == port_a ? got_a : got_b;
			unsigned seed = unsigned(got.size()) - 10;
			CHK(got == payload_for(seed, 10 + seed));
			list.push_back(seed);
		}
		for (unsigned k = 0; k < want_c.size(); k++) {
			Bytes got;
			SA from;
			CHK(host_recv(s6, got, from));
			unsigned seed = unsigned(got.size()) - 10;
			CHK(got == payload_for(seed, 10 + seed));
			got_c.push_back(seed);
		}
		CHK(got_a == want_a && got_b == want_b && got_c == want_c);
		CHK(!readable(s4, 50) && !readable(s6));
		close(s4);
		close(s6);
		return 0;
	});
}

// A full queue is sent from udp_tap_input() itself, before the batch ends.
TEST(UdpBatch, FullQueueFlushes) {
	run_sandboxed([] {
		Harness h;
		CHK_OK(h.init());
		uint16_t port = 0;
		int srv = host_sock("127.0.0.1", port);
		CHK(srv >= 0);
		constexpr size_t N = UDP_TX_BATCH + 5;
		std::vector<Bytes> frames;
		for (size_t i = 0; i < N; i++)
			frames.push_back(
				udp4(GUEST4, GW4, 40300, port, payload_for(unsigned(i), 16)));
		timespec t = now_monotonic();
		for (size_t i = 0; i < N; i++) {
			CHK(udp_tap_input(h.ctx, frames[i], t));
			if (i + 1 == UDP_TX_BATCH - 1)
				CHK(h.ctx.stats.send_batches == 0 && h.ctx.stats.to_host == 0);
			if (i + 1 == UDP_TX_BATCH)
				CHK(h.ctx.stats.send_batches == 1 &&
				    h.ctx.stats.to_host == UDP_TX_BATCH);
		}
		CHK(h.ctx.stats.send_batches == 1 && h.ctx.stats.to_host == UDP_TX_BATCH);
		udp_tap_flush(h.ctx);
		CHK(h.ctx.stats.send_batches == 2 && h.ctx.stats.to_host == N);
		for (size_t i = 0; i < N; i++) {
			Bytes got;
			SA from;
			CHK(host_recv(srv, got, from));
			CHK(got == payload_for(unsigned(i), 16));
		}
		CHK(!readable(srv, 50));
		close(srv);
		return 0;
	});
}

// Datagrams queued for a flow that is closed before the flush are never
// sent, even when a new flow gets the same slot and descriptor meanwhile.
TEST(UdpBatch, ClosedFlowQueuedDatagramsDropped) {
	run_sandboxed([] {
		Harness h;
		CHK_OK(h.init());
		uint16_t port = 0;
		int srv = host_sock("127.0.0.1", port);
		CHK(srv >= 0);
		std::vector<Bytes> frames = {
			udp4(GUEST4, GW4, 40400, port, payload_for(1, 11)), // flow 0
			udp4(GUEST4, GW4, 40401, port, payload_for(2, 12)), // flow 1
			udp4(GUEST4, GW4, 40400, port, payload_for(3, 13)), // flow 0
		};
		CHK_OK(queue_all(h, frames, now_monotonic()));
		CHK(h.flows.in_use() == 2);
		int s0 = uflow(h, 0).sock;
		udp_flow_close(h.ctx, 0);
		CHK(!fd_open(s0));
		CHK(h.ctx.stats.send_failed == 2);

		// A new flow, likely in the same slot with the same descriptor.
		Bytes f3 = udp4(GUEST4, GW4, 40402, port, payload_for(4, 14));
		CHK(udp_tap_input(h.ctx, f3, now_monotonic()));
		CHK(h.flows.in_use() == 2);
		udp_tap_flush(h.ctx);
		CHK(h.ctx.stats.to_host == 2 && h.ctx.stats.send_failed == 2);
		CHK(h.ctx.stats.send_batches == 2);
		for (unsigned seed : {2u, 4u}) {
			Bytes got;
			SA from;
			CHK(host_recv(srv, got, from));
			CHK(got == payload_for(seed, 10 + seed));
		}
		CHK(!readable(srv, 50));

		// The expiry timer closing a flow with a datagram queued: same.
		Bytes f4 = udp4(GUEST4, GW4, 40401, port, payload_for(5, 15));
		CHK(udp_tap_input(h.ctx, f4, now_monotonic()));
		CHK(udp_timer(h.ctx, timespec_add_ms(now_monotonic(), 200000)) == 2);
		udp_tap_flush(h.ctx);
		CHK(h.ctx.stats.to_host == 2 && h.ctx.stats.send_failed == 3);
		CHK(h.ctx.stats.send_batches == 2);
		CHK(!readable(srv, 50));
		close(srv);
		return 0;
	});
}

// Replies of inbound flows share the -u socket: one sendmmsg() for the
// run, each datagram to its own peer, from the -u port.
TEST(UdpBatch, InboundRepliesToTheRightPeers) {
	run_sandboxed([] {
		Harness h;
		add_udp_rule(h.c, 5010, 5010, 6010);
		CHK_OK(h.init());
		const char *addr[3] = {"127.0.0.1", "127.0.0.1", "203.0.113.1"};
		int peer[3];
		uint16_t pport[3] = {0, 0, 0};
		for (int i = 0; i < 3; i++) {
			peer[i] = host_sock(addr[i], pport[i]);
			CHK(peer[i] >= 0);
			Bytes d = payload_for(unsigned(i), 5);
			CHK(host_send(peer[i], d, sa_of(addr[i], 5010)));
			CHK(h.wait_frames(size_t(i) + 1));
		}
		CHK(h.flows.in_use() == 3);
		const int order[] = {0, 1, 0, 2, 1, 0};
		std::vector<Bytes> frames;
		for (unsigned k = 0; k < 6; k++) {
			int i = order[k];
			Ipv4Addr from = i == 2 ? v4("203.0.113.1") : GW4;
			Bytes d = payload_for(100 + k, 20 + k);
			frames.push_back(udp4(GUEST4, from, 6010, pport[i], d));
		}
		CHK_OK(queue_all(h, frames, now_monotonic()));
		udp_tap_flush(h.ctx);
		CHK(h.ctx.stats.send_batches == 1);
		CHK(h.ctx.stats.to_host == 6 && h.ctx.stats.send_failed == 0);
		for (unsigned k = 0; k < 6; k++) {
			int i = order[k];
			Bytes got;
			SA from;
			CHK(host_recv(peer[i], got, from));
			CHK(got == payload_for(100 + k, 20 + k));
			CHK(sa_port(from) == 5010);
			CHK(sa_addr(from) == addr[i]);
		}
		for (int i = 0; i < 3; i++)
			CHK(!readable(peer[i], i ? 0 : 50));

		// Everything closed with a reply queued: it is not sent anywhere.
		Bytes f = udp4(GUEST4, GW4, 6010, pport[0], payload_for(7, 7));
		CHK(udp_tap_input(h.ctx, f, now_monotonic()));
		udp_close_all(h.ctx);
		udp_tap_flush(h.ctx);
		CHK(h.ctx.stats.send_failed == 1 && h.ctx.stats.send_batches == 1);
		CHK(!readable(peer[0], 50));
		for (int i = 0; i < 3; i++)
			close(peer[i]);
		return 0;
	});
}

// Datagrams to a closed port: each ICMP port unreachable fails the next
// datagram inside the same sendmmsg() run without sending it; that one is
// retried, so none is lost to an error meant for its predecessor.
TEST(UdpBatch, AsyncErrorsInsideARunRetried) {
	run_sandboxed([] {
		Harness h;
		CHK_OK(h.init());
		uint16_t port = 0;
		int tmp = host_sock("127.0.0.1", port);
		CHK(tmp >= 0);
		close(tmp);
		std::vector<Bytes> frames;
		for (unsigned i = 0; i < 4; i++)
			frames.push_back(udp4(GUEST4, GW4, 40500, port, payload_for(i, 8)));
		CHK_OK(queue_all(h, frames, now_monotonic()));
		udp_tap_flush(h.ctx);
		CHK(h.ctx.stats.to_host == 4 && h.ctx.stats.send_failed == 0);
		CHK(h.ctx.stats.send_batches >= 1 && h.ctx.stats.send_batches <= 8);
		fprintf(stderr, "(4 datagrams to a closed port: %llu sendmmsg() calls)\n",
			(unsigned long long)h.ctx.stats.send_batches);

		// The last one's error, left pending, fails the first call of the
		// next batch; its datagram is sent by the second call.
		usleep(20000);
		int srv = host_sock("127.0.0.1", port);
		CHK(srv >= 0);
		uint64_t calls = h.ctx.stats.send_batches;
		CHK(h.input(udp4(GUEST4, GW4, 40500, port, payload_for(9, 9))));
		CHK(h.ctx.stats.send_batches == calls + 2);
		CHK(h.ctx.stats.to_host == 5 && h.ctx.stats.send_failed == 0);
		Bytes got;
		SA from;
		CHK(host_recv(srv, got, from));
		CHK(got == payload_for(9, 9));
		close(srv);
		return 0;
	});
}

// --- The tap demux's end-of-batch hook ---------------------------------------

namespace {

// Records, in order, what the demux did: 'u'/'t' frames to UDP/TCP,
// 'U'/'T' their flush hooks, 'o' an output flush.
std::string demux_events;

bool rec_udp(void *, std::span<std::byte>, const timespec &) {
	demux_events += 'u';
	return true;
}
bool rec_tcp(void *, std::span<std::byte>, const timespec &) {
	demux_events += 't';
	return true;
}
void rec_udp_flush(void *, const timespec &) { demux_events += 'U'; }
void rec_tcp_flush(void *, const timespec &) { demux_events += 'T'; }

class RecTap final : public TapOutput {
public:
	bool send_frame(std::span<const std::byte>) override { return true; }
	void flush() override { demux_events += 'o'; }
};

// The TCP variant of a guest frame: protocol 6, IPv4 checksum fixed.
Bytes as_tcp(Bytes f) {
	f[23] = std::byte(6);
	put16(f, 24, 0);
	put16(f, 24, fold(sum16(f.data() + 14, 20)));
	return f;
}

struct DemuxHarness {
	Config c = test_config();
	TapState st;
	TapStats stats;
	RecTap out;
	TapDemux d;
	alignas(8) std::byte region[4096];
	FramePool<8> pool{std::span<std::byte>(region, sizeof(region))};

	DemuxHarness() {
		d.c = &c;
		d.st = &st;
		d.out = &out;
		d.stats = &stats;
		d.udp = {rec_udp, nullptr, rec_udp_flush};
		d.tcp = {rec_tcp, nullptr, rec_tcp_flush};
		d.icmp = {rec_udp, nullptr}; // no hook: must be skipped
		demux_events.clear();
	}
	// Copy frames into the region and the pool.
	bool fill(const std::vector<Bytes> &frames) {
		pool.reset();
		size_t off = 0;
		for (const Bytes &f : frames) {
			if (off + f.size() > sizeof(region))
				return false;
			std::memcpy(region + off, f.data(), f.size());
			if (!pool.add(std::span<std::byte>(region + off, f.size())))
				return false;
			off += f.size();
		}
		return true;
	}
};

} // namespace

TEST(TapDemuxHook, FlushHooksRunOncePerBatchBeforeOutput) {
	DemuxHarness h;
	Bytes u = udp4(GUEST4, GW4, 1000, 2000, payload_for(1, 8));
	ASSERT_TRUE(h.fill({u, u, as_tcp(u), u}));
	tap_input_pool(h.d, h.pool, now_monotonic());
	EXPECT_EQ(demux_events, "uutuTUo");
	EXPECT_EQ(h.stats.frames_in, 4u);

	// A single frame is a batch of one (no output flush there).
	demux_events.clear();
	tap_input(h.d, h.pool.get(0), now_monotonic());
	EXPECT_EQ(demux_events, "uTU");

	// Even an empty batch or a malformed frame ends with the hooks.
	demux_events.clear();
	h.pool.reset();
	tap_input_pool(h.d, h.pool, now_monotonic());
	EXPECT_EQ(demux_events, "TUo");
	demux_events.clear();
	tap_input(h.d, h.pool.get(0), now_monotonic()); // empty span
	EXPECT_EQ(demux_events, "TU");
	EXPECT_EQ(h.stats.malformed, 1u);
}

// The real thing: UDP behind the demux, as main() wires it; one pool of
// datagrams becomes one sendmmsg(), sent before tap_input_pool() returns.
TEST(TapDemuxHook, UdpPoolSentAtEndOfBatch) {
	run_sandboxed([] {
		Harness h;
		CHK_OK(h.init());
		uint16_t port = 0;
		int srv = host_sock("127.0.0.1", port);
		CHK(srv >= 0);
		TapStats stats;
		TapDemux d;
		d.c = &h.c;
		d.st = &h.tap;
		d.out = &h.out;
		d.stats = &stats;
		d.udp.fn = [](void *p, std::span<std::byte> f, const timespec &now) {
			return udp_tap_input(*static_cast<UdpCtx *>(p), f, now);
		};
		d.udp.ctx = &h.ctx;
		d.udp.flush = [](void *p, const timespec &) {
			udp_tap_flush(*static_cast<UdpCtx *>(p));
		};
		static std::byte region[8192];
		FramePool<16> pool{std::span<std::byte>(region, sizeof(region))};
		size_t off = 0;
		for (unsigned i = 0; i < 10; i++) {
			Bytes f = udp4(GUEST4, GW4, 40600, port, payload_for(i, 100 + i));
			std::memcpy(region + off, f.data(), f.size());
			CHK(pool.add(std::span<std::byte>(region + off, f.size())));
			off += f.size();
		}
		unsigned flushes = h.out.flushes;
		tap_input_pool(d, pool, now_monotonic());
		CHK(h.out.flushes == flushes + 1);
		CHK(h.ctx.stats.send_batches == 1 && h.ctx.stats.to_host == 10);
		CHK(stats.unhandled == 0);
		// The region is free for the next read: scribble over it.
		std::memset(region, 0xee, sizeof(region));
		for (unsigned i = 0; i < 10; i++) {
			Bytes got;
			SA from;
			CHK(host_recv(srv, got, from));
			CHK(got == payload_for(i, 100 + i));
		}
		CHK(!readable(srv, 50));
		close(srv);
		return 0;
	});
}

// Unsolicited RAs: the tap side's timer sleeps until a guest is announced,
// then wakes up at each next RA's deadline only (not every second). With
// RAs off there is no timer at all.
TEST(TapDemuxHook, RaTimerSleepsUntilTheNextRa) {
	DemuxHarness h;
	ASSERT_TRUE(h.c.ip6.enabled && !h.c.no_ndp && !h.c.no_ra);
	Timers t;
	ASSERT_EQ(tap_timer_add(h.d, t), 0);
	EXPECT_EQ(t.size(), 1u);
	EXPECT_EQ(t.armed_count(), 0u); // no guest yet
	const timespec now{1000, 0};
	tap_announce(h.d, now);
	ASSERT_TRUE(t.armed(h.d.timer));
	int64_t due = h.d.ra_timer.next_due_s();
	EXPECT_GT(due, 1000);
	EXPECT_EQ(t.next_timeout_ms(now), (due - 1000) * 1000);
	EXPECT_EQ(t.run_due(timespec{time_t(due - 1), 999999999}), 0u);
	EXPECT_EQ(t.run_due(timespec{time_t(due), 0}), 1u);
	ASSERT_TRUE(t.armed(h.d.timer));
	int64_t next = h.d.ra_timer.next_due_s();
	EXPECT_GT(next, due);
	EXPECT_EQ(t.next_timeout_ms(timespec{time_t(due), 0}), (next - due) * 1000);

	DemuxHarness off;
	off.c.no_ra = true;
	Timers t2;
	EXPECT_EQ(tap_timer_add(off.d, t2), 0);
	EXPECT_EQ(t2.size(), 0u);
}
