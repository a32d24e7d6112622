// libFuzzer target: the ICMP/ICMPv6 echo translator's flows,
// icmp_tap_input() for the guest's echo requests, icmp_sock_handler() for
// what the ping sockets receive, icmp_timer() for expiry, over the fake
// host sockets of fake_sock.cpp (ping sockets: SOCK_DGRAM, IPPROTO_ICMP or
// IPPROTO_ICMPV6, the echo identifier being the port they are bound to).
//
// The guest (192.0.2.2 and 2001:db8::2) sends echo requests with
// fuzzer-chosen identifiers, sequence numbers and sizes (up to what the IP
// length fields allow) to the gateway (the host's loopback) and to other
// hosts; raw frames are fed too. The host side answers: echo replies
// carrying the socket's identifier, with the sequence number of the last
// request or any other, of any length, and junk (other types, another
// identifier, messages shorter than a header or larger than a frame
// takes, receive errors); sends fail for a while (EAGAIN, ENETUNREACH,
// EPERM, EACCES), and so does opening a ping socket. Time advances past
// ICMP_FLOW_TIMEOUT_S. After every step:
//   - every ping flow holds one open fake ping socket of its family, and
//     no fake socket is open without a flow;
//   - a flow's sent and received counts are the requests its socket took
//     and the frames the guest got for it;
//   - every request a socket took is an echo request to the flow's host
//     peer (named: ping sockets are not connected) with the guest's bytes;
//   - every frame to the guest is Ethernet + IPv4/ICMP or IPv6/ICMPv6,
//     lengths consistent, checksums correct, an echo reply from what the
//     guest pinged to the guest with its identifier, of a flow of the
//     table, carrying the bytes of the host's reply.
// When the input ends and time runs past the timeout, the table is empty
// and every fake socket closed.
//
// FUZZ_SRCS: src/icmp/icmp.cpp src/flow/refuse.cpp
// FUZZ_SRCS: src/flow/flow.cpp src/fwd/nat.cpp src/flow/host_sock.cpp
// FUZZ_SRCS: src/core/log.cpp src/core/epoll.cpp src/core/timer.cpp src/core/util.cpp
// FUZZ_SRCS: test/support/frames.cpp test/fuzz/fake_sock.cpp
// FUZZ_MAX_LEN: 65600
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "fake_sock.h"
#include "flow_fixture.h"
#include "fuzz_util.h"
#include "refusal_check.h"
#include "passt/core/epoll.h"
#include "passt/core/log.h"
#include "passt/flow/flow.h"
#include "passt/icmp/icmp.h"
#include "passt/net/sockaddr.h"
#include "support/frames.h"

using namespace passt;
using namespace passt::fuzz;

namespace {

const MacAddr &GUEST_MAC = FLOW_GUEST_MAC;

// Byte i of the data (after id and sequence) of a guest request of len bytes.
uint8_t guest_byte(size_t len, size_t i) { return uint8_t((i * 5 + len * 3 + 1) & 0xff); }

bool is_ping(FlowType t) { return t == FlowType::Ping4 || t == FlowType::Ping6; }

struct State;
State &state();
Flow *flow_of_sock(int fd);

bool check_payload = true; // off while raw frames (any bytes) are handled

// Every echo request, as a ping socket takes it.
int on_send(FakeSock &k, const void *buf, size_t len, const sockaddr *dst, socklen_t dl) {
	const auto *m = static_cast<const uint8_t *>(buf);
	Flow *f = flow_of_sock(fake_fd(k));
	FUZZ_CHECK(f && dst && dst->sa_family == k.family);
	FUZZ_CHECK(k.protocol == (k.family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6));
	FUZZ_CHECK(len >= 8 && len <= 65535);
	FUZZ_CHECK(m[0] == (k.family == AF_INET ? 8 : 128) && m[1] == 0);
	SockAddr sa{};
	std::memcpy(&sa, dst, dl < sizeof(sa) ? dl : sizeof(sa));
	InAny addr;
	uint16_t port;
	FUZZ_CHECK(sockaddr_to(sa, addr, port) && addr == f->host().peer_addr);
	if (check_payload)
		for (size_t i = 8; i < len; i++)
			FUZZ_CHECK(m[i] == guest_byte(len - 8, i - 8));
	return 0;
}

class GuestSink final : public TapOutput {
public:
	FlowTable *flows = nullptr;
	const Config *c = nullptr;
	unsigned long refusals = 0;
	bool send_frame(std::span<const std::byte> f) override {
		check(f);
		return true;
	}
	void flush() override { run_flush_hook(); }

private:
	void check(std::span<const std::byte> f) {
		FUZZ_CHECK(f.size() >= 14 + 20 + 8);
		if (fuzz::is_refusal(f)) {
			// An echo request that opened no flow (flow/refuse.h).
			fuzz::check_refusal(f, uint8_t(f[12] == std::byte{0x08} ? 1 : 58));
			refusals++;
			return;
		}
		FUZZ_CHECK(std::memcmp(f.data(), GUEST_MAC.b.data(), 6) == 0);
		FUZZ_CHECK(std::memcmp(f.data() + 6, c->our_tap_mac.b.data(), 6) == 0);
		const bool v6 = be16at(f, 12) == 0x86dd;
		const GuestL3 g3 = guest_l3(f, v6 ? 58 : 1, 8);
		const size_t l4 = g3.l4;
		const InAny src = g3.src, dst = g3.dst;
		const FlowType type = v6 ? FlowType::Ping6 : FlowType::Ping4;
		FUZZ_CHECK(uint8_t(f[l4]) == (v6 ? 129 : 0)); // echo reply
		FUZZ_CHECK(f[l4 + 1] == std::byte{0});
		static std::byte copy[65600];
		FUZZ_CHECK(f.size() <= sizeof(copy));
		std::memcpy(copy, f.data(), f.size());
		FUZZ_CHECK(fill_checksums(std::span(copy, f.size())));
		FUZZ_CHECK(std::memcmp(copy, f.data(), f.size()) == 0);
		// To a flow's guest end, with the guest's identifier.
		FlowSide g = flowside_from_guest(dst, be16at(f, l4 + 4), src, 0);
		auto idx = flows->lookup(type, FlowSideIdx::Guest, g);
		FUZZ_CHECK(idx);
		Flow *fl = flows->get(*idx);
		FakeSock *k = fake_sock(fl->state<PingFlow>().sock);
		FUZZ_CHECK(k);
		k->user++;
		// The host's reply: its data after id and sequence.
		size_t n = f.size() - l4;
		for (size_t i = 8; i < n; i++)
			FUZZ_CHECK(uint8_t(f[l4 + i]) == fake_dgram_byte(uint32_t(n), uint32_t(i)));
	}
};

struct State : FlowState<GuestSink, IcmpCtx> {};

State &state() {
	static State *s = [] {
		auto *st = new State;
		log_set_level(LogLevel::Error);
		Config &c = st->c;
		flow_fixture_config(c, st->tap);
		st->out.flows = &st->flows;
		st->out.c = &st->c;
		if (st->loop.init() < 0 || st->flows.init(32) < 0 || icmp_init(st->ctx) < 0)
			abort();
		fake_ready = true;
		fake_on_send = on_send;
		return st;
	}();
	return *s;
}

Flow *flow_of_sock(int fd) {
	Flow *got = nullptr;
	state().flows.for_each([&](uint32_t, Flow &f) {
		if (is_ping(f.type) && f.state<PingFlow>().sock == fd)
			got = &f;
	});
	return got;
}

void check_tables(State &s) {
	unsigned n = 0;
	s.flows.for_each([&](uint32_t, Flow &f) {
		FUZZ_CHECK(is_ping(f.type));
		const PingFlow &pf = f.state<PingFlow>();
		FakeSock *k = fake_sock(pf.sock);
		FUZZ_CHECK(k && k->type == SOCK_DGRAM);
		FUZZ_CHECK(k->family == (f.type == FlowType::Ping4 ? AF_INET : AF_INET6));
		FUZZ_CHECK(k->dgrams_sent == pf.sent && k->user == pf.received);
		FUZZ_CHECK(f.host().our_port == pf.host_id);
		n++;
	});
	FUZZ_CHECK(fake_open_count() == n);
}

// An echo request from the guest: family, identifier, sequence, target, size.
void guest_echo(State &s, bool v6, uint16_t id, uint16_t seq, unsigned dst, size_t len) {
	static std::byte f[65600];
	static std::byte body[65536];
	size_t max = v6 ? 65535 - 4 - 4 : 65535 - 20 - 4 - 4;
	if (len > max)
		len = max;
	body[0] = std::byte(id >> 8);
	body[1] = std::byte(id);
	body[2] = std::byte(seq >> 8);
	body[3] = std::byte(seq);
	for (size_t i = 0; i < len; i++)
		body[4 + i] = std::byte(guest_byte(len, i));
	static const char *const d4[] = {"192.0.2.1", "198.51.100.7", "192.0.2.9", "203.0.113.1"};
	static const char *const d6[] = {"fe80::1", "2001:db8:1::7", "2001:db8::9", "fe80::9"};
	std::span<const std::byte> b(body, 4 + len);
	size_t n = v6 ? build_icmp6(f, s.c.our_tap_mac, GUEST_MAC, s.c.ip6.addr,
				    *Ipv6Addr::parse(d6[dst & 3]), 128, 0, b)
		      : build_icmp4(f, s.c.our_tap_mac, GUEST_MAC, s.c.ip4.addr,
				    *Ipv4Addr::parse(d4[dst & 3]), 8, 0, b);
	FUZZ_CHECK(n);
	icmp_tap_input(s.ctx, std::span<const std::byte>(f, n), s.now());
	s.out.flush();
}

void deliver(State &s, FakeSock *k, uint32_t ev) {
	if (deliver_events(k, ev, [&](EpollRef ref, uint32_t e) {
		    FUZZ_CHECK(ref.kind == RefKind::PingSock);
		    icmp_sock_handler(s.ctx, ref, e, s.now());
	    }))
		s.out.flush();
}

// The socket's echo identifier: the port it is bound to.
uint16_t sock_id(const FakeSock &k) {
	return k.family == AF_INET6
		       ? ntohs(reinterpret_cast<const sockaddr_in6 &>(k.local).sin6_port)
		       : ntohs(reinterpret_cast<const sockaddr_in &>(k.local).sin_port);
}

// What the host's side of ping socket k receives next.
void host_message(FakeSock &k, uint8_t how, uint16_t seq, uint32_t len) {
	FakeDgram d;
	bool v4 = k.family == AF_INET;
	d.len = len;
	d.head_len = 8;
	d.head[0] = uint8_t(v4 ? 0 : 129);
	uint16_t id = sock_id(k);
	switch (how & 7) {
	case 1: d.head[0] = uint8_t(v4 ? 3 : 1); break; // an error message
	case 2: id = uint16_t(id + 1); break;           // someone else's
	case 3: d.len = how >> 5; break;                // shorter than a header
	case 4: d.err = (how & 8) ? ECONNREFUSED : ENETUNREACH; break;
	case 5: d.head[1] = 1; break; // a code for an echo reply
	default: break;
	}
	d.head[4] = uint8_t(id >> 8);
	d.head[5] = uint8_t(id);
	d.head[6] = uint8_t(seq >> 8);
	d.head[7] = uint8_t(seq);
	fake_push_dgram(k, d);
}

void advance(State &s, int64_t ms) {
	s.now_ns += ms * 1000000;
	icmp_timer(s.ctx, s.now());
	s.out.flush();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	State &s = state();
	fuzz::Reader in{data, size};
	for (int step = 0; !in.empty() && step < 256; step++) {
		uint8_t op = in.u8();
		switch (op & 15) {
		case 0:
		case 1: { // an echo request: one of four identifiers or any
			uint8_t a = in.u8();
			uint16_t id = (a & 0x80) ? in.u16() : uint16_t(0x100 + (a & 3));
			uint16_t seq = in.u16();
			size_t len = (op & 1) ? in.u16() : in.u8();
			guest_echo(s, a & 0x40, id, seq, a >> 2, len);
			break;
		}
		case 2: { // the host side's messages on a ping socket
			FakeSock *k = fake_nth(in.u8());
			unsigned n = 1 + ((op >> 4) & 7);
			for (unsigned i = 0; i < n && k && !in.empty(); i++) {
				uint8_t how = in.u8();
				uint16_t seq = (how & 0x10) ? in.u16() : uint16_t(i);
				uint32_t len = (op & 0x80) ? uint32_t(in.u16()) + in.u8()
							   : uint32_t(8 + in.u8());
				host_message(*k, how, seq, len);
			}
			deliver(s, k, EPOLLIN);
			break;
		}
		case 3: { // SO_ERROR and EPOLLERR
			FakeSock *k = fake_nth(in.u8());
			if (k) {
				k->so_error = (op & 0x10) ? EHOSTUNREACH : ECONNREFUSED;
				deliver(s, k, EPOLLERR | ((op & 0x20) ? EPOLLIN : 0));
			}
			break;
		}
		case 4: { // sends fail for a while
			FakeSock *k = fake_nth(in.u8());
			uint8_t o = in.u8();
			static const int errs[] = {0,      EAGAIN, ENETUNREACH,  EPERM,
						   EACCES, EINTR,  EHOSTUNREACH, EMSGSIZE};
			if (k) {
				k->send_err = errs[o & 7];
				k->send_err_n = 1 + ((o >> 3) & 3);
			}
			break;
		}
		case 5: { // the next ping socket can't be had
			static const int errs[] = {EACCES, EAFNOSUPPORT, EMFILE, EPERM};
			fake_socket_err = errs[(op >> 4) & 3];
			break;
		}
		case 6: { // time passes
			uint16_t ms = in.u16();
			advance(s, int64_t(ms) * ((op & 0x10) ? 100 : 1));
			break;
		}
		case 7: { // a raw frame, checksums filled in
			auto b = in.take(in.u16());
			static std::byte f[65600];
			std::memcpy(f, b.data(), b.size());
			fill_checksums(std::span(f, b.size()));
			check_payload = false;
			icmp_tap_input(s.ctx, std::span<const std::byte>(f, b.size()), s.now());
			s.out.flush();
			check_payload = true;
			break;
		}
		case 8: // any events on any fake socket
			deliver(s, fake_nth(in.u8()), in.u8());
			break;
		default: s.out.flush(); break;
		}
		check_tables(s);
	}

	// The input is over: every session must expire by itself.
	fake_socket_err = 0;
	for (int i = 0; i < 3; i++) {
		advance(s, int64_t(ICMP_FLOW_TIMEOUT_S) * 1000 / 2 + 1000);
		check_tables(s);
	}
	FUZZ_CHECK(s.flows.in_use() == 0 && fake_open_count() == 0);
	return 0;
}
