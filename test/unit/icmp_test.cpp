// ICMP/ICMPv6 echo translation, against real ping sockets.
//
// Tests that open sockets run in a forked child that enters a new user and
// network namespace (so nothing leaves the machine and ping_group_range can
// be set), with lo up and, for some tests, extra addresses on lo. The child
// reports through its exit status (0: pass, 77: namespaces unavailable) and
// prints what failed on stderr; alarm() bounds it. Frames are built and
// checked here byte by byte, with a checksum written for the test, so that
// the code under test is not checked against itself.
#include <gtest/gtest.h>

#include "capture_tap.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
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
#include "passt/icmp/icmp.h"
#include "passt/net/eth.h"
#include "passt/net/icmp.h"
#include "passt/net/ip4.h"

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

uint32_t pseudo6(const Ipv6Addr &s, const Ipv6Addr &d, uint32_t len) {
	uint32_t acc = sum16(reinterpret_cast<const std::byte *>(s.b.data()), 16);
	acc = sum16(reinterpret_cast<const std::byte *>(d.b.data()), 16, acc);
	return acc + (len >> 16) + (len & 0xffff) + 58;
}

void put16(Bytes &b, size_t off, uint16_t v) {
	b[off] = std::byte(v >> 8);
	b[off + 1] = std::byte(v);
}
uint16_t get16(const Bytes &b, size_t off) {
	return uint16_t(uint16_t(uint8_t(b[off])) << 8 | uint8_t(b[off + 1]));
}

Bytes payload_for(uint16_t id, size_t len) {
	Bytes p(len);
	for (size_t i = 0; i < len; i++)
		p[i] = std::byte(uint8_t(i * 7 + id));
	return p;
}

void put_eth(Bytes &f, uint16_t type) {
	std::memcpy(f.data(), OUR_MAC.b.data(), 6);
	std::memcpy(f.data() + 6, GUEST_MAC.b.data(), 6);
	put16(f, 12, type);
}

Bytes echo4(Ipv4Addr src, Ipv4Addr dst, uint16_t id, uint16_t seq, const Bytes &data,
	    uint8_t type = 8, uint8_t code = 0) {
	size_t icmp_len = 8 + data.size();
	Bytes f(14 + 20 + icmp_len);
	put_eth(f, 0x0800);
	f[14] = std::byte(0x45);
	put16(f, 16, uint16_t(20 + icmp_len));
	f[20] = std::byte(0x40); // DF
	f[22] = std::byte(64);
	f[23] = std::byte(1);
	std::memcpy(f.data() + 26, src.b.data(), 4);
	std::memcpy(f.data() + 30, dst.b.data(), 4);
	put16(f, 24, fold(sum16(f.data() + 14, 20)));
	f[34] = std::byte(type);
	f[35] = std::byte(code);
	put16(f, 38, id);
	put16(f, 40, seq);
	std::memcpy(f.data() + 42, data.data(), data.size());
	put16(f, 36, fold(sum16(f.data() + 34, icmp_len)));
	return f;
}

Bytes echo6(const Ipv6Addr &src, const Ipv6Addr &dst, uint16_t id, uint16_t seq, const Bytes &data,
	    uint8_t type = 128) {
	size_t icmp_len = 8 + data.size();
	Bytes f(14 + 40 + icmp_len);
	put_eth(f, 0x86dd);
	f[14] = std::byte(0x60);
	put16(f, 18, uint16_t(icmp_len));
	f[20] = std::byte(58);
	f[21] = std::byte(64);
	std::memcpy(f.data() + 22, src.b.data(), 16);
	std::memcpy(f.data() + 38, dst.b.data(), 16);
	f[54] = std::byte(type);
	put16(f, 58, id);
	put16(f, 60, seq);
	std::memcpy(f.data() + 62, data.data(), data.size());
	put16(f, 56, fold(sum16(f.data() + 54, icmp_len, pseudo6(src, dst, uint32_t(icmp_len)))));
	return f;
}

// Requests from the guest's usual address to the gateway.
Bytes gw4(uint16_t id, uint16_t seq, const Bytes &data) {
	return echo4(v4("192.0.2.2"), v4("192.0.2.1"), id, seq, data);
}
Bytes gw6(uint16_t id, uint16_t seq, const Bytes &data) {
	return echo6(v6("2001:db8::2"), v6("fe80::1"), id, seq, data);
}

// An echo reply frame for the guest, verified field by field.
int check_reply4(const Bytes &f, Ipv4Addr src, Ipv4Addr dst, uint16_t id, uint16_t seq,
		 const Bytes &data) {
	CHK(f.size() == 14 + 20 + 8 + data.size());
	CHK(std::memcmp(f.data(), GUEST_MAC.b.data(), 6) == 0);
	CHK(std::memcmp(f.data() + 6, OUR_MAC.b.data(), 6) == 0);
	CHK(get16(f, 12) == 0x0800);
	CHK(uint8_t(f[14]) == 0x45);
	CHK(get16(f, 16) == 20 + 8 + data.size());
	CHK(uint8_t(f[23]) == 1);
	CHK(fold(sum16(f.data() + 14, 20)) == 0); // header checksum
	CHK(std::memcmp(f.data() + 26, src.b.data(), 4) == 0);
	CHK(std::memcmp(f.data() + 30, dst.b.data(), 4) == 0);
	CHK(uint8_t(f[34]) == 0); // echo reply
	CHK(uint8_t(f[35]) == 0);
	CHK(fold(sum16(f.data() + 34, 8 + data.size())) == 0);
	CHK(get16(f, 38) == id);
	CHK(get16(f, 40) == seq);
	CHK(std::memcmp(f.data() + 42, data.data(), data.size()) == 0);
	return 0;
}

int check_reply6(const Bytes &f, const Ipv6Addr &src, const Ipv6Addr &dst, uint16_t id,
		 uint16_t seq, const Bytes &data) {
	size_t icmp_len = 8 + data.size();
	CHK(f.size() == 14 + 40 + icmp_len);
	CHK(std::memcmp(f.data(), GUEST_MAC.b.data(), 6) == 0);
	CHK(std::memcmp(f.data() + 6, OUR_MAC.b.data(), 6) == 0);
	CHK(get16(f, 12) == 0x86dd);
	CHK((uint8_t(f[14]) >> 4) == 6);
	CHK(get16(f, 18) == icmp_len);
	CHK(uint8_t(f[20]) == 58);
	CHK(std::memcmp(f.data() + 22, src.b.data(), 16) == 0);
	CHK(std::memcmp(f.data() + 38, dst.b.data(), 16) == 0);
	CHK(uint8_t(f[54]) == 129);
	CHK(uint8_t(f[55]) == 0);
	CHK(fold(sum16(f.data() + 54, icmp_len, pseudo6(src, dst, uint32_t(icmp_len)))) == 0);
	CHK(get16(f, 58) == id);
	CHK(get16(f, 60) == seq);
	CHK(std::memcmp(f.data() + 62, data.data(), data.size()) == 0);
	return 0;
}

// --- Harness ---------------------------------------------------------------

using FakeTap = passt::test::CaptureTap;

Config test_config() {
	Config c;
	c.our_tap_mac = OUR_MAC;
	c.ip4.addr = v4("192.0.2.2");
	c.ip4.gw = v4("192.0.2.1");
	c.ip4.map_host_loopback = c.ip4.gw;
	c.ip6.addr = v6("2001:db8::2");
	c.ip6.gw = v6("fe80::1");
	c.ip6.map_host_loopback = c.ip6.gw;
	return c;
}

struct Harness {
	Config c = test_config();
	TapState tap;
	FakeTap out;
	EventLoop loop;
	FlowTable flows;
	IcmpCtx ctx{c, tap, out, loop, flows};

	int init(uint32_t capacity = 1024) {
		tap.guest_mac = GUEST_MAC;
		tap.guest_mac_seen = true;
		if (loop.init() < 0 || flows.init(capacity) < 0 || icmp_init(ctx) < 0)
			return 1;
		return 0;
	}

	// Run the loop until at least n frames arrived or ~5 s passed.
	bool wait_frames(size_t n) {
		for (int i = 0; i < 100 && out.frames.size() < n; i++)
			loop.run_once(50);
		return out.frames.size() >= n;
	}
};

// Run body in a forked child in a new user and network namespace with
// lo:1 198.51.100.2 (the guest's
// address on the host), lo:2 203.0.113.1 (some other host) and ping sockets; its exit code is the test's outcome.
void run_sandboxed(const std::function<int()> &body, bool allow_ping = true,
		   unsigned timeout_s = 20) {
	RUN_FORKED(
		[&] {
			int rc = passt::test::enter_netns({v4("198.51.100.2"), v4("203.0.113.1")},
							  allow_ping);
			return rc ? rc : body();
		},
		timeout_s);
}

bool fd_open(int fd) { return fcntl(fd, F_GETFD) >= 0; }

} // namespace

// --- Tests with real ping sockets -----------------------------------------

TEST(IcmpSock, Echo4ToGatewayReachesHostLoopback) {
	run_sandboxed([] {
		Harness h;
		CHK_OK(h.init());
		Bytes data = payload_for(1, 56);
		Bytes req = gw4(0x1234, 7, data);
		timespec now = now_monotonic();
		CHK(icmp_tap_input(h.ctx, req, now));
		CHK(h.flows.in_use() == 1);
		CHK(h.wait_frames(1));
		CHK_OK(check_reply4(h.out.frames[0], v4("192.0.2.1"), v4("192.0.2.2"), 0x1234, 7,
				    data));
		CHK(h.out.flushes >= 1);

		// The flow records both sides.
		const Flow *f = h.flows.get(0);
		CHK(f && f->type == FlowType::Ping4);
		CHK(f->host().peer_addr == InAny(Ipv4Addr::loopback()));
		CHK(f->guest().our_addr == InAny(v4("192.0.2.1")));
		CHK(f->guest().peer_port == 0x1234);
		CHK(f->state<PingFlow>().host_id == f->host().our_port);

		// A second request of the session reuses the flow and socket.
		int sock = f->state<PingFlow>().sock;
		Bytes req2 = gw4(0x1234, 8, data);
		CHK(icmp_tap_input(h.ctx, req2, now_monotonic()));
		CHK(h.flows.in_use() == 1);
		CHK(h.flows.get(0)->state<PingFlow>().sock == sock);
		CHK(h.wait_frames(2));
		CHK_OK(check_reply4(h.out.frames[1], v4("192.0.2.1"), v4("192.0.2.2"), 0x1234, 8,
				    data));
		CHK(h.flows.get(0)->state<PingFlow>().sent == 2);
		CHK(h.flows.get(0)->state<PingFlow>().received == 2);
		return 0;
	});
}

TEST(IcmpSock, Echo6ToGatewayReachesHostLoopback) {
	run_sandboxed([] {
		Harness h;
		CHK_OK(h.init());
		Bytes data = payload_for(2, 100);
		Ipv6Addr guest = v6("2001:db8::2"), gw = v6("fe80::1");
		Bytes req = echo6(guest, gw, 0xbeef, 1, data);
		CHK(icmp_tap_input(h.ctx, req, now_monotonic()));
		CHK(h.wait_frames(1));
		CHK_OK(check_reply6(h.out.frames[0], gw, guest, 0xbeef, 1, data));
		const Flow *f = h.flows.get(0);
		CHK(f && f->type == FlowType::Ping6);
		CHK(f->host().peer_addr == InAny(Ipv6Addr::loopback()));

		// Link-local guest source works the same.
		Ipv6Addr ll = v6("fe80::5054:ff:fe12:3456");
		Bytes req2 = echo6(ll, gw, 0xbeef, 2, data);
		CHK(icmp_tap_input(h.ctx, req2, now_monotonic()));
		CHK(h.flows.in_use() == 2);
		CHK(h.wait_frames(2));
		CHK_OK(check_reply6(h.out.frames[1], gw, ll, 0xbeef, 2, data));
		return 0;
	});
}

// Sessions with distinct ids get their own flows and sockets; the same id to
// three destinations makes three sessions, whose replies must each come back
// from the right address with the guest's identifier.
TEST(IcmpSock, ConcurrentIdsAndIdRestore) {
	run_sandboxed([] {
		Harness h;
		CHK_OK(h.init());
		h.c.ip4.map_guest_addr = v4("192.0.2.3");
		h.c.ip4.addr = v4("198.51.100.2"); // on lo in the sandbox
		Ipv4Addr guest = v4("198.51.100.2");
		constexpr int N = 8;
		timespec now = now_monotonic();
		for (int i = 0; i < N; i++) {
			Bytes req = echo4(guest, v4("192.0.2.1"), uint16_t(100 + i), uint16_t(i),
					  payload_for(uint16_t(i), 16 + i));
			CHK(icmp_tap_input(h.ctx, req, now));
		}
		CHK(h.flows.in_use() == N);
		// Same id as the first session, other destinations: the mapped
		// guest address and a plain address.
		Bytes r1 = echo4(guest, v4("192.0.2.3"), 100, 500, payload_for(50, 20));
		Bytes r2 = echo4(guest, v4("203.0.113.1"), 100, 501, payload_for(51, 24));
		CHK(icmp_tap_input(h.ctx, r1, now));
		CHK(icmp_tap_input(h.ctx, r2, now));
		CHK(h.flows.in_use() == N + 2);

		// One socket per session, each with its own identifier.
		std::vector<int> socks, ids;
		h.flows.for_each([&](uint32_t, Flow &f) {
			socks.push_back(f.state<PingFlow>().sock);
			ids.push_back(f.state<PingFlow>().host_id);
		});
		std::sort(socks.begin(), socks.end());
		CHK(std::unique(socks.begin(), socks.end()) == socks.end());
		std::sort(ids.begin(), ids.end());
		CHK(std::unique(ids.begin(), ids.end()) == ids.end());

		CHK(h.wait_frames(N + 2));
		CHK(h.out.frames.size() == N + 2);
		std::vector<bool> seen(N + 2);
		for (const Bytes &f : h.out.frames) {
			CHK(f.size() >= 42);
			uint16_t seq = get16(f, 40);
			if (seq < N) {
				uint16_t id = uint16_t(100 + seq);
				CHK_OK(check_reply4(f, v4("192.0.2.1"), guest, id, seq,
						    payload_for(seq, 16 + seq)));
				seen[seq] = true;
			} else if (seq == 500) {
				CHK_OK(check_reply4(f, v4("192.0.2.3"), guest, 100, 500,
						    payload_for(50, 20)));
				seen[N] = true;
			} else {
				CHK(seq == 501);
				CHK_OK(check_reply4(f, v4("203.0.113.1"), guest, 100, 501,
						    payload_for(51, 24)));
				seen[N + 1] = true;
			}
		}
		for (bool s : seen)
			CHK(s);
		return 0;
	});
}

TEST(IcmpSock, IdleFlowsExpire) {
	run_sandboxed([] {
		Harness h;
		CHK_OK(h.init());
		CHK(!h.loop.timers().armed(h.ctx.timer)); // no session: no wake-ups
		timespec t0 = now_monotonic();
		CHK(icmp_tap_input(h.ctx, gw4(1, 1, payload_for(1, 8)), t0));
		CHK(h.loop.timers().armed(h.ctx.timer));
		CHK(icmp_tap_input(h.ctx, gw6(2, 1, payload_for(2, 8)), t0));
		CHK(h.wait_frames(2));
		int s0 = h.flows.get(0)->state<PingFlow>().sock;
		int s1 = h.flows.get(1)->state<PingFlow>().sock;
		CHK(fd_open(s0) && fd_open(s1));

		// Keep flow 1 busy; flow 0 goes idle.
		timespec t30 = timespec_add_ms(now_monotonic(), 30000);
		CHK(icmp_tap_input(h.ctx, gw6(2, 2, payload_for(2, 8)), t30));
		CHK(icmp_timer(h.ctx, timespec_add_ms(t0, 59000)) == 0);
		CHK(h.flows.in_use() == 2);
		CHK(icmp_timer(h.ctx, timespec_add_ms(now_monotonic(), 61000)) == 1);
		CHK(h.flows.in_use() == 1);
		CHK(h.flows.get(0) == nullptr);
		CHK(!fd_open(s0));
		CHK(fd_open(s1));

		// The periodic timer registered by icmp_init() does the same.
		CHK(h.loop.timers().run_due(timespec_add_ms(now_monotonic(), 100000)) >= 1);
		CHK(h.flows.in_use() == 0);
		CHK(!fd_open(s1));
		CHK(!h.loop.timers().armed(h.ctx.timer)); // the last one gone: asleep

		// A new request after expiry opens a new session.
		size_t before = h.out.frames.size();
		CHK(icmp_tap_input(h.ctx, gw4(1, 2, payload_for(1, 8)), now_monotonic()));
		CHK(h.loop.timers().armed(h.ctx.timer)); // and arms the timer again
		CHK(h.flows.in_use() == 1);
		CHK(h.wait_frames(before + 1));
		CHK_OK(check_reply4(h.out.frames.back(), v4("192.0.2.1"), v4("192.0.2.2"), 1, 2,
				    payload_for(1, 8)));
		return 0;
	});
}

// Socket errors are not fatal: EACCES (ping_group_range excludes us) frees
// the flow; later requests are still handled.
TEST(IcmpSock, PingGroupRangeExcludesUs) {
	run_sandboxed(
		[] {
			Harness h;
			CHK_OK(h.init());
			for (int i = 0; i < 20; i++) {
				Bytes req = gw4(uint16_t(i), 1, payload_for(1, 8));
				CHK(!icmp_tap_input(h.ctx, req, now_monotonic()));
			}
			CHK(h.flows.in_use() == 0);
			// Each request is refused out loud: administratively
			// prohibited, quoting it (flow/refuse.h).
			CHK(h.out.frames.size() == 20);
			for (const auto &f : h.out.frames) {
				auto ip = ConstIp4View::parse(ConstEthView::parse(f)->payload());
				CHK(ip && ip->protocol() == ipproto::icmp);
				auto icmp = ConstIcmpView::parse(ip->payload());
				CHK(icmp && icmp->type() == icmptype::dest_unreach);
				CHK(icmp->code() == 13 && icmp->checksum_ok());
			}
			return 0;
		},
		false);
}

TEST(IcmpSock, UnreachableDestinationNotFatal) {
	run_sandboxed([] {
		Harness h;
		CHK_OK(h.init());
		// No route to this address in the sandbox: sendto() fails.
		for (int i = 0; i < 10; i++) {
			Bytes req = echo4(v4("192.0.2.2"), v4("192.0.2.77"), 9, uint16_t(i),
					  payload_for(1, 8));
			CHK(!icmp_tap_input(h.ctx, req, now_monotonic()));
		}
		CHK(h.flows.in_use() == 1); // the session stays until it expires
		Bytes ok = gw4(9, 1, payload_for(1, 8));
		CHK(icmp_tap_input(h.ctx, ok, now_monotonic()));
		CHK(h.wait_frames(1));
		CHK(h.out.frames.size() == 1);
		return 0;
	});
}

// Events for a flow that was closed, or for another descriptor, are ignored.
TEST(IcmpSock, StaleEventsIgnored) {
	run_sandboxed([] {
		Harness h;
		CHK_OK(h.init());
		CHK(icmp_tap_input(h.ctx, gw4(3, 1, payload_for(3, 8)), now_monotonic()));
		int sock = h.flows.get(0)->state<PingFlow>().sock;
		EpollRef wrong_fd{RefKind::PingSock, sock + 100, 0};
		icmp_sock_handler(h.ctx, wrong_fd, EPOLLIN, now_monotonic());
		CHK(h.out.frames.empty());
		EpollRef no_flow{RefKind::PingSock, sock, 77};
		icmp_sock_handler(h.ctx, no_flow, EPOLLIN, now_monotonic());
		CHK(h.out.frames.empty());
		icmp_flow_close(h.ctx, 0);
		CHK(h.flows.in_use() == 0);
		EpollRef closed{RefKind::PingSock, sock, 0};
		icmp_sock_handler(h.ctx, closed, EPOLLIN, now_monotonic());
		CHK(h.out.frames.empty());
		icmp_flow_close(h.ctx, 0); // twice: ignored
		return 0;
	});
}

// A full flow table evicts the oldest session for a new one.
TEST(IcmpSock, FlowTableFullEvicts) {
	run_sandboxed([] {
		Harness h;
		CHK_OK(h.init(2));
		timespec now = now_monotonic();
		h.flows.set_unbudgeted(); // the two entries are ICMP's
		CHK(icmp_tap_input(h.ctx, gw4(1, 1, payload_for(1, 8)), now));
		CHK(icmp_tap_input(h.ctx, gw4(2, 1, payload_for(1, 8)), now));
		CHK(h.wait_frames(2));
		// Both answered: the oldest session (1) goes for the new one.
		CHK(icmp_tap_input(h.ctx, gw4(3, 1, payload_for(1, 8)), now));
		CHK(h.flows.in_use() == 2);
		CHK(h.flows.evictions(FlowBudget::Icmp) == 1);
		CHK(h.wait_frames(3));
		return 0;
	});
}

// --- Input validation (no socket is ever opened for these) ----------------

class IcmpInput : public ::testing::Test {
protected:
	void SetUp() override {
		h.tap.guest_mac = GUEST_MAC;
		ASSERT_EQ(h.loop.init(), 0);
		ASSERT_EQ(h.flows.init(64), 0);
	}
	bool input(const Bytes &f) { return icmp_tap_input(h.ctx, f, now_monotonic()); }
	void expect_nothing() {
		EXPECT_EQ(h.flows.in_use(), 0u);
		EXPECT_TRUE(h.out.frames.empty());
	}
	Harness h;
};

TEST_F(IcmpInput, TruncatedFramesDropped) {
	Bytes f4 = gw4(5, 5, payload_for(5, 32));
	for (size_t n = 0; n < f4.size(); n++)
		EXPECT_FALSE(input(Bytes(f4.begin(), f4.begin() + long(n)))) << n;
	Bytes f6 = gw6(5, 5, payload_for(5, 32));
	for (size_t n = 0; n < f6.size(); n++)
		EXPECT_FALSE(input(Bytes(f6.begin(), f6.begin() + long(n)))) << n;
	expect_nothing();
}

TEST_F(IcmpInput, MalformedFramesDropped) {
	const Bytes d = payload_for(6, 16);
	const Ipv4Addr g4 = v4("192.0.2.2"), gw4 = v4("192.0.2.1");
	const Ipv6Addr g6 = v6("2001:db8::2"), gw6 = v6("fe80::1");
	Bytes f;

	f = echo4(g4, gw4, 1, 1, d);
	f[36] ^= std::byte(1); // ICMP checksum
	EXPECT_FALSE(input(f));
	f = echo4(g4, gw4, 1, 1, d);
	f[24] ^= std::byte(1); // IP header checksum
	EXPECT_FALSE(input(f));
	f = echo4(g4, gw4, 1, 1, d);
	f[14] = std::byte(0x55); // version 5
	EXPECT_FALSE(input(f));
	f = echo4(g4, gw4, 1, 1, d);
	f[14] = std::byte(0x44); // IHL 4
	EXPECT_FALSE(input(f));
	f = echo4(g4, gw4, 1, 1, d);
	put16(f, 16, uint16_t(f.size())); // total length past the frame
	EXPECT_FALSE(input(f));
	EXPECT_FALSE(input(echo4(g4, gw4, 1, 1, d, 0)));    // echo reply
	EXPECT_FALSE(input(echo4(g4, gw4, 1, 1, d, 13)));   // timestamp
	EXPECT_FALSE(input(echo4(g4, gw4, 1, 1, d, 8, 1))); // non-zero code
	EXPECT_FALSE(input(echo4(v4("0.0.0.0"), gw4, 1, 1, d)));
	EXPECT_FALSE(input(echo4(v4("224.0.0.1"), gw4, 1, 1, d)));
	EXPECT_FALSE(input(echo4(g4, v4("127.0.0.1"), 1, 1, d))); // not forwardable
	EXPECT_FALSE(input(echo4(g4, v4("255.255.255.255"), 1, 1, d)));
	EXPECT_FALSE(input(echo4(g4, v4("0.0.0.0"), 1, 1, d)));

	// Fragment: MF set (checksum recomputed so only the flag is wrong).
	f = echo4(g4, gw4, 1, 1, d);
	f[20] = std::byte(0x20);
	put16(f, 24, 0);
	put16(f, 24, fold(sum16(f.data() + 14, 20)));
	EXPECT_FALSE(input(f));
	// Not ICMP.
	f = echo4(g4, gw4, 1, 1, d);
	f[23] = std::byte(17);
	put16(f, 24, 0);
	put16(f, 24, fold(sum16(f.data() + 14, 20)));
	EXPECT_FALSE(input(f));
	// IPv6 ethertype carrying IPv4.
	f = echo4(g4, gw4, 1, 1, d);
	put16(f, 12, 0x86dd);
	EXPECT_FALSE(input(f));
	// ARP ethertype.
	f = echo4(g4, gw4, 1, 1, d);
	put16(f, 12, 0x0806);
	EXPECT_FALSE(input(f));

	f = echo6(g6, gw6, 1, 1, d);
	f[56] ^= std::byte(1); // checksum
	EXPECT_FALSE(input(f));
	f = echo6(g6, gw6, 1, 1, d);
	put16(f, 18, uint16_t(f.size())); // payload length past the frame
	EXPECT_FALSE(input(f));
	f = echo6(g6, gw6, 1, 1, d);
	f[20] = std::byte(17); // next header UDP
	EXPECT_FALSE(input(f));
	EXPECT_FALSE(input(echo6(g6, gw6, 1, 1, d, 129))); // echo reply
	EXPECT_FALSE(input(echo6(g6, gw6, 1, 1, d, 135))); // NS: not ours
	EXPECT_FALSE(input(echo6(v6("::"), gw6, 1, 1, d)));
	EXPECT_FALSE(input(echo6(v6("ff02::1"), gw6, 1, 1, d)));
	EXPECT_FALSE(input(echo6(g6, v6("::1"), 1, 1, d)));
	EXPECT_FALSE(input(echo6(g6, v6("ff02::1"), 1, 1, d)));
	expect_nothing();
}

TEST_F(IcmpInput, DisabledByConfig) {
	h.c.no_icmp = true;
	EXPECT_FALSE(input(gw4(1, 1, payload_for(1, 8))));
	EXPECT_FALSE(input(gw6(1, 1, payload_for(1, 8))));
	h.c.no_icmp = false;
	h.c.ip4.enabled = false;
	h.c.ip6.enabled = false;
	EXPECT_FALSE(input(gw4(1, 1, payload_for(1, 8))));
	EXPECT_FALSE(input(gw6(1, 1, payload_for(1, 8))));
	expect_nothing();
}
