// libFuzzer target: the TCP translator's state machine, tcp_tap_input()
// and tcp_sock_handler()/tcp_timer(), over a fake host socket layer.
//
// The host sockets are fake_sock.cpp's (libc's socket calls overridden; a
// fake socket is an eventfd that the rest treats as a TCP socket whose
// behaviour the fuzzer chooses): connect() succeeding at once, in progress
// or refused; send() taking all, part or nothing (EAGAIN) or failing
// (EPIPE, ECONNRESET); data, end of file and resets from the host peer;
// the send buffer's free room (the window). epoll_ctl() on a fake socket
// only records what the translator asked for, and events are delivered
// by the harness. Other descriptors go to the kernel. Nothing leaves.
//
// The guest side is up to four IPv4 connections from 192.0.2.2:40000+c to
// the gateway (the host's loopback); segments are built from structured
// operations (flags, sequence and acknowledgement relative to what each
// side has seen, window, options, up to 64 KiB of payload), and raw
// frames are fed too. After every step:
//   - no segment to the guest acknowledges guest data beyond what the fake
//     socket accepted (plus the guest's FIN once shut down);
//   - every TCP flow holds exactly one open fake socket and vice versa;
//   - frames to the guest parse as TCP/IPv4 to a guest port.
// When the input ends, time runs on past every timeout: every flow must
// be gone by itself, its socket closed, before the table is torn down.
//
// FUZZ_SRCS: src/tcp/tcp.cpp src/tcp/tcp_conn.cpp src/tcp/tcp_from_guest.cpp
// FUZZ_SRCS: src/tcp/tcp_listen.cpp src/tcp/tcp_timer.cpp src/tcp/tcp_to_guest.cpp
// FUZZ_SRCS: src/tcp/tcp_window.cpp src/tcp/tcp_wire.cpp src/tcp/splice.cpp
// FUZZ_SRCS: src/flow/flow.cpp src/fwd/nat.cpp src/flow/host_sock.cpp
// FUZZ_SRCS: src/fwd/listeners.cpp src/fwd/portscan.cpp src/fwd/rules.cpp
// FUZZ_SRCS: src/core/log.cpp src/core/epoll.cpp src/core/timer.cpp src/core/util.cpp
// FUZZ_SRCS: test/support/frames.cpp test/fuzz/fake_sock.cpp
// FUZZ_MAX_LEN: 65600
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "fake_sock.h"
#include "fuzz_util.h"
#include "passt/core/epoll.h"
#include "passt/core/log.h"
#include "passt/flow/flow.h"
#include "passt/host/ns.h"
#include "passt/tcp/tcp.h"
#include "support/frames.h"

using namespace passt;
using namespace passt::fuzz;

// Namespace helpers of splice.cpp and portscan.cpp (linked, never reached:
// no splicing, no "auto" ports here).
int passt::ns_call(const NsHandle &, NsFn, void *, NsCallOut *) { abort(); }
int passt::ns_socket_helper_socket(NsSocketHelper &, int, int, int) { abort(); }

namespace {

constexpr unsigned NCONN = 4;

} // namespace

namespace {

const MacAddr GUEST_MAC{{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}};

// What the guest knows of each connection.
struct Conn {
	bool isn_known = false;
	uint32_t isn = 0;     // the guest's ISN
	uint32_t gseq = 0;    // next sequence number the guest would use
	uint32_t our_isn = 0; // ours, from the SYN(-ACK) to the guest
	uint32_t our_max = 0; // highest sequence number we sent, + 1
	uint32_t last_ack = 0;
	bool syn_seen = false;
};

Conn conns[NCONN];

// Frames to the guest: checked as they are sent.
class GuestSink final : public TapOutput {
public:
	bool send_frame(std::span<const std::byte> f) override {
		check(f);
		return true;
	}
	void flush() override { run_flush_hook(); }
	bool runs_flush_hook() const override { return true; }

private:
	static uint32_t be32at(std::span<const std::byte> f, size_t o) {
		return uint32_t(f[o]) << 24 | uint32_t(f[o + 1]) << 16 | uint32_t(f[o + 2]) << 8 |
		       uint32_t(f[o + 3]);
	}
	void check(std::span<const std::byte> f) {
		FUZZ_CHECK(f.size() >= 14 + 20 + 20);
		FUZZ_CHECK(f[12] == std::byte{0x08} && f[13] == std::byte{0x00});
		size_t ihl = (size_t(f[14]) & 15) * 4;
		FUZZ_CHECK(ihl == 20 && f[14 + 9] == std::byte{6});
		size_t t = 14 + ihl;
		uint16_t dport = uint16_t(uint16_t(f[t + 2]) << 8 | uint16_t(f[t + 3]));
		uint32_t seq = be32at(f, t + 4), ack = be32at(f, t + 8);
		uint8_t flags = uint8_t(f[t + 13]);
		size_t thl = (size_t(f[t + 12]) >> 4) * 4;
		FUZZ_CHECK(thl >= 20 && t + thl <= f.size());
		size_t len = f.size() - t - thl;
		if (dport < 40000 || dport >= 40000 + NCONN)
			return; // a reply to a raw frame
		Conn &c = conns[dport - 40000];
		if (flags & 0x04) // RST
			return;
		if (flags & 0x02) {
			c.our_isn = seq;
			c.our_max = seq + 1;
			c.syn_seen = true;
		}
		uint32_t end =
			seq + uint32_t(len) + ((flags & 0x01) ? 1 : 0) + ((flags & 0x02) ? 1 : 0);
		if (c.syn_seen && int32_t(end - c.our_max) > 0)
			c.our_max = end;
		if (!(flags & 0x10) || !c.isn_known)
			return;
		c.last_ack = ack;
		// Guest data acknowledged: never more than the socket took.
		uint64_t took = 0;
		bool shut = false, any = false;
		for (int i = 0; i < fake_hi; i++) {
			const FakeSock &s = fake[i];
			if (s.open && s.tag == unsigned(dport - 40000)) {
				took += s.accepted;
				shut |= s.shut_wr;
				any = true;
			}
		}
		if (!any)
			return;
		uint32_t acked = ack - (c.isn + 1);
		FUZZ_CHECK(uint64_t(acked) <= took + (shut ? 1 : 0));
	}
};

struct State {
	Config c;
	TapState tap;
	GuestSink out;
	EventLoop loop;
	FlowTable flows;
	TcpCtx ctx{c, tap, out, loop, flows};
	int64_t now_ns = int64_t(1000) * 1000000000;
	timespec now() const { return {time_t(now_ns / 1000000000), long(now_ns % 1000000000)}; }
};

State &state() {
	static State *s = [] {
		auto *st = new State;
		log_set_level(LogLevel::Error);
		st->c.ip4.addr = *Ipv4Addr::parse("192.0.2.2");
		st->c.ip4.prefix_len = 24;
		st->c.ip4.gw = *Ipv4Addr::parse("192.0.2.1");
		st->c.ip4.map_host_loopback = st->c.ip4.gw;
		st->c.ip6.enabled = false;
		st->c.our_tap_mac = *MacAddr::parse("9a:55:9a:55:9a:55");
		st->tap.guest_mac = GUEST_MAC;
		st->tap.guest_mac_seen = true;
		if (st->loop.init() < 0 || st->flows.init(64) < 0 || tcp_init(st->ctx) < 0)
			abort();
		fake_ready = true;
		return st;
	}();
	return *s;
}

uint32_t tcp_flows(State &s) {
	uint32_t n = 0;
	s.flows.for_each([&](uint32_t, Flow &f) { n += f.type == FlowType::Tcp; });
	return n;
}

void check_tables(State &s) {
	FUZZ_CHECK(s.flows.in_use() == tcp_flows(s));
	FUZZ_CHECK(fake_open_count() == s.flows.in_use());
}

void put16(std::byte *p, uint16_t v) {
	p[0] = std::byte(v >> 8);
	p[1] = std::byte(v);
}
void put32(std::byte *p, uint32_t v) {
	put16(p, uint16_t(v >> 16));
	put16(p + 2, uint16_t(v));
}

// A segment from the guest for connection c.
void guest_segment(State &s, unsigned ci, uint8_t flags, uint32_t seq, uint32_t ack, uint16_t wnd,
		   int mss, int ws, size_t payload) {
	static std::byte f[14 + 20 + 60 + 65536];
	size_t opt = (mss >= 0 ? 4 : 0) + (ws >= 0 ? 4 : 0);
	size_t thl = 20 + opt;
	if (payload > 65535 - 20 - thl)
		payload = 65535 - 20 - thl;
	size_t n = 14 + 20 + thl + payload;
	std::memset(f, 0, 14 + 20 + thl);
	std::memcpy(f, s.c.our_tap_mac.b.data(), 6);
	std::memcpy(f + 6, GUEST_MAC.b.data(), 6);
	put16(f + 12, 0x0800);
	std::byte *ip = f + 14;
	ip[0] = std::byte{0x45};
	put16(ip + 2, uint16_t(20 + thl + payload));
	ip[6] = std::byte{0x40};
	ip[8] = std::byte{64};
	ip[9] = std::byte{6};
	std::memcpy(ip + 12, s.c.ip4.addr.b.data(), 4);
	std::memcpy(ip + 16, s.c.ip4.gw.b.data(), 4);
	std::byte *t = ip + 20;
	put16(t, uint16_t(40000 + ci));
	put16(t + 2, uint16_t(80 + ci));
	put32(t + 4, seq);
	put32(t + 8, ack);
	t[12] = std::byte(uint8_t((thl / 4) << 4));
	t[13] = std::byte(flags);
	put16(t + 14, wnd);
	std::byte *o = t + 20;
	if (mss >= 0) {
		o[0] = std::byte{2};
		o[1] = std::byte{4};
		put16(o + 2, uint16_t(mss));
		o += 4;
	}
	if (ws >= 0) {
		o[0] = std::byte{1};
		o[1] = std::byte{3};
		o[2] = std::byte{3};
		o[3] = std::byte(uint8_t(ws));
	}
	for (size_t i = 0; i < payload; i++)
		t[thl + i] = std::byte(uint8_t(seq + i));
	FUZZ_CHECK(fill_checksums(std::span(f, n)));
	fake_tag = ci;
	tcp_tap_input(s.ctx, std::span(f, n), s.now());
	s.out.flush();
}

FakeSock *conn_sock(unsigned ci) {
	for (int i = 0; i < fake_hi; i++)
		if (fake[i].open && fake[i].tag == ci)
			return &fake[i];
	return nullptr;
}

void deliver(State &s, FakeSock *k, uint32_t ev) {
	if (!k || !k->in_epoll)
		return;
	ev &= k->events | EPOLLERR | EPOLLHUP;
	if (!ev)
		return;
	EpollRef ref = EpollRef::unpack(k->data);
	FUZZ_CHECK(ref.kind == RefKind::TcpSock);
	tcp_sock_handler(s.ctx, ref, ev, s.now());
	s.out.flush();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	State &s = state();
	fuzz::Reader in{data, size};
	for (auto &c : conns)
		c = Conn{};
	for (int step = 0; !in.empty() && step < 512; step++) {
		uint8_t op = in.u8();
		unsigned ci = (op >> 4) & (NCONN - 1);
		Conn &c = conns[ci];
		FakeSock *k = conn_sock(ci);
		switch (op & 15) {
		case 0: { // the guest opens (or repeats its SYN)
			if (!k || !c.isn_known) {
				c = Conn{};
				c.isn = uint32_t(in.u16()) << 16 | in.u16();
				c.isn_known = true;
				c.gseq = c.isn + 1;
			}
			uint8_t o = in.u8();
			fake_next_connect = (o & 3) == 0   ? 0
					    : (o & 3) == 1 ? EINPROGRESS
					    : (o & 3) == 2 ? ECONNREFUSED
							   : ENETUNREACH;
			guest_segment(s, ci, 0x02, c.isn, 0, in.u16(), (o & 4) ? in.u16() : -1,
				      (o & 8) ? in.u8() : -1, 0);
			break;
		}
		case 1:
		case 2:
		case 3: { // a segment: flags, where, how much
			uint8_t flags = in.u8();
			uint8_t how = in.u8();
			uint32_t seq = (how & 1) ? c.last_ack : c.gseq;
			seq += uint32_t(int8_t(in.u8()));
			uint32_t ack = c.our_max - ((how & 2) ? in.u8() : 0);
			if (how & 4)
				ack = c.our_isn + uint32_t(in.u16()) * 16;
			uint16_t wnd = (how & 8) ? in.u16() : 65535;
			size_t len = (op & 15) == 3 ? in.u16() : ((how & 16) ? in.u8() : 0);
			if ((flags & 0x02) && !k) { // a SYN that may open it
				c = Conn{};
				c.isn = seq;
				c.isn_known = true;
				c.gseq = seq + 1;
			}
			guest_segment(s, ci, flags | ((how & 32) ? 0 : 0x10), seq, ack, wnd, -1, -1,
				      len);
			if (int32_t(seq + uint32_t(len) - c.gseq) > 0)
				c.gseq = seq + uint32_t(len) + ((flags & 1) ? 1 : 0);
			break;
		}
		case 4: { // the host's connect() completes
			if (!k)
				break;
			uint8_t o = in.u8();
			k->so_error = (o & 1) ? ECONNREFUSED : 0;
			deliver(s, k, EPOLLOUT | ((o & 1) ? EPOLLERR : 0));
			break;
		}
		case 5: // the host peer sends
			if (k) {
				k->rx_total += in.u16();
				deliver(s, k, EPOLLIN);
			}
			break;
		case 6: // the host peer closes
			if (k) {
				k->rx_eof = true;
				deliver(s, k, EPOLLIN | EPOLLRDHUP);
			}
			break;
		case 7: // the host peer resets
			if (k) {
				k->rx_rst = true;
				k->so_error = ECONNRESET;
				k->send_err = ECONNRESET;
				deliver(s, k, EPOLLIN | EPOLLERR | EPOLLHUP);
			}
			break;
		case 8: // room in the send buffer changes (the window)
			if (k) {
				uint8_t o = in.u8();
				k->room = uint32_t(in.u16()) << (o & 7);
				k->sndbuf = k->room + (uint32_t(in.u8()) << 10);
				if (o & 8)
					deliver(s, k, EPOLLOUT);
			}
			break;
		case 9: // send() starts failing
			if (k)
				k->send_err = (in.u8() & 1) ? EPIPE : ECONNRESET;
			break;
		case 10: // any events
			deliver(s, k, in.u8() | (uint32_t(in.u8() & 0x20) << 8));
			break;
		case 11: { // time passes, timers run
			uint16_t ms = in.u16();
			s.now_ns += int64_t(ms) * ((op & 0x80) ? 100000000 : 1000000);
			tcp_timer(s.ctx, s.now());
			s.out.flush();
			break;
		}
		case 12: { // a raw frame, checksums filled in
			auto b = in.take(in.u16());
			static std::byte f[65600];
			std::memcpy(f, b.data(), b.size());
			fill_checksums(std::span(f, b.size()));
			fake_tag = NCONN; // not one of ours: no sequence checks
			tcp_tap_input(s.ctx, std::span(f, b.size()), s.now());
			s.out.flush();
			break;
		}
		default: s.out.flush(); break;
		}
		check_tables(s);
	}

	// The input is over: with time, every connection must go by itself.
	static const uint32_t steps_ms[] = {1000, 1000, 1000, 1000,  1000,  1000, 1000,
					    1000, 1000, 1000, 11000, 61000, 61000};
	for (uint32_t ms : steps_ms) {
		s.now_ns += int64_t(ms) * 1000000;
		tcp_timer(s.ctx, s.now());
		s.out.flush();
		check_tables(s);
	}
	for (int i = 0; i < 2; i++) {
		s.now_ns += int64_t(TCP_IDLE_TIMEOUT_MS + 1000) * 1000000;
		tcp_timer(s.ctx, s.now());
		s.out.flush();
		check_tables(s);
	}
	FUZZ_CHECK(s.flows.in_use() == 0);
	// Tear down whatever is left (nothing), and the table must be empty.
	tcp_drop_guest_flows(s.ctx);
	FUZZ_CHECK(s.flows.in_use() == 0 && fake_open_count() == 0);
	return 0;
}
