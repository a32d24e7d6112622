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
// The guest side is up to eight connections, 0-3 IPv4 (192.0.2.2), 4-7
// IPv6 (2001:db8::2). Each is either outbound, from the guest's port
// 40000+c to the gateway's port 80+c (192.0.2.1 or fe80::1: the host's
// loopback), or inbound: a host peer (loopback or another host, port
// 40000+c) connects to the -t 8080 listener of its family, whose faked
// accept4() yields the connection's socket, the translator sends its SYN
// to the guest's port 8080, and the fuzzer plays the guest's answer.
// Segments are built from structured operations (flags, sequence and
// acknowledgement relative to what each side has seen, window, options,
// up to 64 KiB of payload), and raw frames are fed too. After every step:
//   - no segment to the guest acknowledges guest data beyond what the fake
//     socket accepted (plus the guest's FIN once shut down);
//   - every TCP flow holds exactly one open fake socket, and every open
//     fake socket is a flow's or one of the two listeners;
//   - frames to the guest parse as TCP over IPv4 or IPv6 with consistent
//     lengths; those of a connection go to the guest's address of its
//     family from the address the guest knows its peer by.
//   - the payload of every data segment to the guest is the host peer's
//     stream at the segment's offset (fake_stream_byte());
//   - with op 15's offloads and zero copy (payload peeked into lent
//     buffers of 64 bytes to 8 KiB pieces), every frame asks only for
//     the offloads offered, and no frame is sent while buffers are lent.
// When the input ends, time runs on past every timeout: every flow must
// be gone by itself, its socket closed, before the table is torn down.
//
// FUZZ_SRCS: src/tcp/tcp.cpp src/tcp/tcp_conn.cpp src/tcp/tcp_from_guest.cpp
// FUZZ_SRCS: src/tcp/tcp_listen.cpp src/tcp/tcp_timer.cpp src/tcp/tcp_to_guest.cpp
// FUZZ_SRCS: src/tcp/tcp_window.cpp src/tcp/tcp_wire.cpp src/tcp/splice.cpp
// FUZZ_SRCS: src/flow/flow.cpp src/fwd/nat.cpp src/flow/host_sock.cpp
// FUZZ_SRCS: src/fwd/listeners.cpp src/fwd/portscan.cpp src/fwd/portscan_diag.cpp src/fwd/rules.cpp
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
#include "flow_fixture.h"
#include "fuzz_util.h"
#include "passt/core/epoll.h"
#include "passt/core/log.h"
#include "passt/flow/flow.h"
#include "passt/host/ns.h"
#include "passt/net/sockaddr.h"
#include "passt/tcp/tcp.h"
#include "support/frames.h"

using namespace passt;
using namespace passt::fuzz;

// Namespace helpers of splice.cpp and portscan.cpp (linked, never reached:
// no splicing, no "auto" ports here).
int passt::ns_call(const NsHandle &, NsFn, void *, NsCallOut *) { abort(); }
int passt::ns_socket_helper_socket(NsSocketHelper &, int, int, int) { abort(); }
int passt::ns_socket(const NsHandle &, int, int, int) { abort(); }

namespace {

constexpr unsigned NCONN = 8;          // 0-3 IPv4, 4-7 IPv6
constexpr unsigned LISTENER_TAG = 100; // fake_tag of the listeners
constexpr uint16_t FWD_PORT = 8080;    // -t 8080

const MacAddr &GUEST_MAC = FLOW_GUEST_MAC;
const Ipv4Addr GUEST4 = *Ipv4Addr::parse("192.0.2.2"), GW4 = *Ipv4Addr::parse("192.0.2.1");
const Ipv6Addr &GUEST6 = FLOW_GUEST6, &GW6 = FLOW_GW6;

bool conn_v6(unsigned ci) { return ci >= NCONN / 2; }

// What the guest knows of each connection.
struct Conn {
	bool isn_known = false;
	uint32_t isn = 0;     // the guest's ISN
	uint32_t gseq = 0;    // next sequence number the guest would use
	uint32_t our_isn = 0; // ours, from the SYN(-ACK) to the guest
	uint32_t our_max = 0; // highest sequence number we sent, + 1
	uint32_t last_ack = 0;
	bool syn_seen = false;
	bool inbound = false; // accepted on the listener: the guest answers our SYN
	bool synack = false;  // inbound: a SYN-ACK the translator takes was sent
	InAny remote;         // the peer's address as the guest sees it
};

Conn conns[NCONN];
bool raw_fed = false; // this input fed raw frames: their flows may share our ports

// Frames to the guest: checked as they are sent.
class GuestSink final : public TapOutput {
public:
	bool send_frame(std::span<const std::byte> f) override {
		FUZZ_CHECK(!open_);
		check(f);
		return true;
	}
	void flush() override { run_flush_hook(); }
	bool runs_flush_hook() const override { return true; }

	// With lend (op 15): offloads (partial checksums, TSO), and zero copy
	// into "guest buffers" of piece bytes each with gaps between them,
	// at most lend_frames frames a reservation.
	bool lend = false;
	size_t piece = 512, lend_frames = MAX_LENT;
	bool offloads() const override { return lend; }
	size_t send_frames(std::span<const TapFrame> fs) override {
		if (!lend)
			return TapOutput::send_frames(fs);
		FUZZ_CHECK(!open_);
		for (const TapFrame &f : fs) {
			FUZZ_CHECK(tcp_offloads_only(f));
			check(f.frame);
		}
		return fs.size();
	}
	size_t direct_begin(size_t hdr_len, size_t payload, size_t budget,
			    std::span<TapDirectSlot> slots, std::span<iovec> iov) override {
		FUZZ_CHECK(!open_);
		if (!lend || hdr_len > HDR_MAX || payload > 65535)
			return 0;
		size_t n = 0, k = 0;
		for (; n < slots.size() && n < lend_frames && budget; n++) {
			const size_t want = payload < budget ? payload : budget;
			const size_t pieces = (want + piece - 1) / piece;
			if (k + pieces > iov.size())
				break;
			std::byte *b = lent_[n];
			TapDirectSlot &sl = slots[n];
			sl = TapDirectSlot{};
			sl.hdr = b;
			sl.iov_first = k;
			sl.room = want;
			for (size_t i = 0; i < pieces; i++) {
				const size_t l =
					want - i * piece < piece ? want - i * piece : piece;
				iov[k++] = iovec{b + HDR_MAX + i * (piece + GAP), l};
			}
			sl.niov = pieces;
			budget -= want;
		}
		open_ = n > 0;
		hdr_len_ = hdr_len;
		return n;
	}
	size_t direct_end(std::span<const TapDirectSlot> used) override {
		FUZZ_CHECK(open_ || used.empty());
		open_ = false;
		static std::byte f[HDR_MAX + 65536];
		for (const TapDirectSlot &u : used) {
			FUZZ_CHECK(u.out.frame.data() == u.hdr && u.out.frame.size() == hdr_len_);
			FUZZ_CHECK(u.payload <= u.room && tcp_offloads_only(u.out));
			std::memcpy(f, u.hdr, hdr_len_);
			for (size_t i = 0, done = 0; done < u.payload; i++) {
				const size_t l =
					u.payload - done < piece ? u.payload - done : piece;
				std::memcpy(f + hdr_len_ + done,
					    u.hdr + HDR_MAX + i * (piece + GAP), l);
				done += l;
			}
			check(std::span<const std::byte>(f, hdr_len_ + u.payload));
		}
		return used.size();
	}

private:
	// What a TCP frame may ask of a back-end that offers it all: TCP GSO of
	// either family, always with the partial checksum of the TCP header.
	static bool tcp_offloads_only(const TapFrame &f) {
		if (!f.gso_type)
			return true;
		return (f.gso_type == 1 || f.gso_type == 4) && f.needs_csum && f.gso_size &&
		       f.csum_offset == 16 && f.hdr_len > f.csum_start;
	}
	static constexpr size_t MAX_LENT = 8, HDR_MAX = 128, GAP = 8;
	static constexpr size_t LENT_SIZE = HDR_MAX + (65536 / 64 + 1) * (64 + GAP);
	// Room for 64 KiB in pieces of at least 64 bytes.
	alignas(8) std::byte lent_[MAX_LENT][LENT_SIZE];
	bool open_ = false;
	size_t hdr_len_ = 0;

	static uint32_t be32at(std::span<const std::byte> f, size_t o) {
		return uint32_t(f[o]) << 24 | uint32_t(f[o + 1]) << 16 | uint32_t(f[o + 2]) << 8 |
		       uint32_t(f[o + 3]);
	}
	void check(std::span<const std::byte> f) {
		const GuestL3 g3 = guest_l3(f, 6, 20);
		const size_t t = g3.l4;
		const bool v6 = g3.v6;
		const InAny src = g3.src, dst = g3.dst;
		uint16_t sport = be16at(f, t), dport = be16at(f, t + 2);
		uint32_t seq = be32at(f, t + 4), ack = be32at(f, t + 8);
		uint8_t flags = uint8_t(f[t + 13]);
		size_t thl = (size_t(f[t + 12]) >> 4) * 4;
		FUZZ_CHECK(thl >= 20 && t + thl <= f.size());
		size_t len = f.size() - t - thl;
		// One of our connections: outbound 40000+c <- 80+c, inbound
		// 8080 <- 40000+c, between the addresses it was made with.
		unsigned ci;
		bool inbound = dport == FWD_PORT;
		if (inbound && sport >= 40000 && sport < 40000 + NCONN)
			ci = sport - 40000;
		else if (!inbound && dport >= 40000 && dport < 40000 + NCONN &&
			 sport == 80 + dport - 40000)
			ci = dport - 40000;
		else
			return; // a reply to a raw frame
		Conn &c = conns[ci];
		if (c.inbound != inbound || v6 != conn_v6(ci) || src != c.remote ||
		    dst != (v6 ? InAny(GUEST6) : InAny(GUEST4))) {
			FUZZ_CHECK(raw_fed); // else a frame of ours with wrong addresses
			return;              // a raw frame's flow on the same ports
		}
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
		// The payload is the host peer's stream at that offset, copied or
		// peeked in place alike.
		if (c.syn_seen && len && !(flags & 0x02)) {
			const uint32_t off = seq - (c.our_isn + 1);
			for (size_t i = 0; i < len; i++)
				FUZZ_CHECK(uint8_t(f[t + thl + i]) ==
					   fake_stream_byte(ci, off + i));
		}
		if (!(flags & 0x10) || !c.isn_known)
			return;
		c.last_ack = ack;
		// Guest data acknowledged: never more than the socket took.
		uint64_t took = 0;
		bool shut = false, any = false;
		for (int i = 0; i < fake_hi; i++) {
			const FakeSock &s = fake[i];
			if (s.open && s.tag == ci) {
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

struct State : FlowState<GuestSink, TcpCtx> {};

State &state() {
	static State *s = [] {
		auto *st = new State;
		log_set_level(LogLevel::Error);
		flow_fixture_config(st->c, st->tap);
		// -t 8080, both families: the listeners are fake sockets too.
		st->c.tcp_in.kind = PortForward::Kind::Spec;
		PortRule r;
		r.first = r.last = r.to_first = FWD_PORT;
		st->c.tcp_in.rules.push_back(r);
		if (st->loop.init() < 0 || st->flows.init(64) < 0)
			abort();
		fake_ready = true;
		fake_tag = LISTENER_TAG;
		if (tcp_init(st->ctx) < 0)
			abort();
		return st;
	}();
	return *s;
}

uint32_t tcp_flows(State &s) {
	uint32_t n = 0;
	s.flows.for_each([&](uint32_t, Flow &f) { n += f.type == FlowType::Tcp; });
	return n;
}

// The listener of a family.
FakeSock *listener(State &s, bool v6) {
	for (const auto &l : s.ctx.listeners)
		if (FakeSock *k = l.fd >= 0 ? fake_sock(l.fd) : nullptr)
			if ((k->family == AF_INET6) == v6)
				return k;
	return nullptr;
}

unsigned listeners(State &s) {
	unsigned n = 0;
	for (const auto &l : s.ctx.listeners)
		n += l.fd >= 0 && fake_sock(l.fd) && fake_sock(l.fd)->listening;
	return n;
}

void check_tables(State &s) {
	FUZZ_CHECK(s.flows.in_use() == tcp_flows(s));
	FUZZ_CHECK(listeners(s) == 2);
	FUZZ_CHECK(fake_open_count() == s.flows.in_use() + 2);
}

// Start connection ci afresh, outbound or inbound from the peer the guest
// sees at remote.
void conn_reset(unsigned ci, bool inbound, const InAny &remote) {
	conns[ci] = Conn{};
	conns[ci].inbound = inbound;
	conns[ci].remote = remote;
}

// An inbound connection's SYN-ACK from the guest: if the translator will
// take it (an ACK of our SYN, in SYN_SENT), its sequence number is the
// guest's ISN from now on.
void guest_synack(Conn &c, const FakeSock *k, uint8_t flags, uint32_t seq, uint32_t ack) {
	if (!c.inbound || !k || c.synack || !c.syn_seen || (flags & 0x16) != 0x12 ||
	    ack != c.our_isn + 1)
		return;
	c.synack = true;
	c.isn = seq;
	c.isn_known = true;
	c.gseq = seq + 1;
}

void conn_outbound(unsigned ci) { conn_reset(ci, false, conn_v6(ci) ? InAny(GW6) : InAny(GW4)); }

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
	static std::byte f[14 + 40 + 60 + 65536];
	const Conn &c = conns[ci];
	const bool v6 = conn_v6(ci);
	const size_t l3 = v6 ? 40 : 20;
	size_t opt = (mss >= 0 ? 4 : 0) + (ws >= 0 ? 4 : 0);
	size_t thl = 20 + opt;
	size_t cap = v6 ? 65535 - thl : 65535 - 20 - thl;
	if (payload > cap)
		payload = cap;
	size_t n = 14 + l3 + thl + payload;
	std::memset(f, 0, 14 + l3 + thl);
	std::memcpy(f, s.c.our_tap_mac.b.data(), 6);
	std::memcpy(f + 6, GUEST_MAC.b.data(), 6);
	std::byte *ip = f + 14;
	if (v6) {
		put16(f + 12, 0x86dd);
		ip[0] = std::byte{0x60};
		put16(ip + 4, uint16_t(thl + payload));
		ip[6] = std::byte{6};
		ip[7] = std::byte{64};
		std::memcpy(ip + 8, GUEST6.b.data(), 16);
		std::memcpy(ip + 24, c.remote.v6().b.data(), 16);
	} else {
		put16(f + 12, 0x0800);
		ip[0] = std::byte{0x45};
		put16(ip + 2, uint16_t(20 + thl + payload));
		ip[6] = std::byte{0x40};
		ip[8] = std::byte{64};
		ip[9] = std::byte{6};
		std::memcpy(ip + 12, GUEST4.b.data(), 4);
		std::memcpy(ip + 16, c.remote.v4().b.data(), 4);
	}
	std::byte *t = ip + l3;
	put16(t, c.inbound ? FWD_PORT : uint16_t(40000 + ci));
	put16(t + 2, c.inbound ? uint16_t(40000 + ci) : uint16_t(80 + ci));
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
	if (deliver_events(k, ev, [&](EpollRef ref, uint32_t e) {
		    if (ref.kind == RefKind::TcpListen)
			    tcp_listen_handler(s.ctx, ref, e, s.now());
		    else if (ref.kind == RefKind::TcpSock)
			    tcp_sock_handler(s.ctx, ref, e, s.now());
		    else
			    FUZZ_CHECK(false);
	    }))
		s.out.flush();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	State &s = state();
	fuzz::Reader in{data, size};
	for (unsigned ci = 0; ci < NCONN; ci++)
		conn_outbound(ci);
	raw_fed = false;
	s.out.lend = false;
	for (int step = 0; !in.empty() && step < 512; step++) {
		uint8_t op = in.u8();
		unsigned ci = (op >> 4) & (NCONN - 1);
		Conn &c = conns[ci];
		FakeSock *k = conn_sock(ci);
		switch (op & 15) {
		case 0: { // the guest opens (or repeats its SYN)
			if (k && c.inbound)
				break;
			if (!k || !c.isn_known) {
				conn_outbound(ci);
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
				conn_outbound(ci);
				c.isn = seq;
				c.isn_known = true;
				c.gseq = seq + 1;
			} else {
				guest_synack(c, k, flags | ((how & 32) ? 0 : 0x10), seq, ack);
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
			if (ms >= TCP_DELACK_MS) // the delack timer runs on the real clock
				tcp_send_delayed_acks(s.ctx);
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
			raw_fed = true;
			tcp_tap_input(s.ctx, std::span(f, b.size()), s.now());
			s.out.flush();
			break;
		}
		case 13: { // a host peer connects to the -t port of ci's family
			if (k)
				break;
			uint8_t o = in.u8();
			const bool v6 = conn_v6(ci), lo = o & 1;
			FakeSock *l = listener(s, v6);
			if (!l)
				break;
			InAny peer = lo   ? (v6 ? InAny(Ipv6Addr::loopback())
						: InAny(*Ipv4Addr::parse("127.0.0.1")))
				     : v6 ? InAny(*Ipv6Addr::parse("2001:db8:2::20"))
					  : InAny(*Ipv4Addr::parse("198.51.100.20"));
			InAny local = lo   ? peer
				      : v6 ? InAny(*Ipv6Addr::parse("2001:db8:2::1"))
					   : InAny(*Ipv4Addr::parse("198.51.100.1"));
			// The loopback appears to the guest as the gateway.
			conn_reset(ci, true, lo ? (v6 ? InAny(GW6) : InAny(GW4)) : peer);
			SockAddr sa;
			socklen_t sl = sockaddr_from(sa, peer, uint16_t(40000 + ci));
			std::memcpy(&l->accept_peer, &sa, sl);
			sl = sockaddr_from(sa, local, FWD_PORT);
			std::memcpy(&l->accept_local, &sa, sl);
			// A second connection from the same peer and port clashes.
			l->backlog = 1 + ((o >> 1) & 1);
			l->accept_tag = ci;
			deliver(s, l, EPOLLIN);
			l->backlog = 0;
			break;
		}
		case 14: { // the guest answers our SYN: SYN-ACK, options, window
			if (!c.inbound || !c.syn_seen)
				break;
			uint8_t o = in.u8();
			uint32_t isn = uint32_t(in.u16()) << 16 | in.u16();
			uint8_t flags = (o & 0x10) ? 0x14 : 0x12; // or a RST
			uint32_t ack = c.our_isn + 1 - ((o & 0x20) ? in.u8() : 0);
			guest_synack(c, k, flags, isn, ack);
			guest_segment(s, ci, flags, isn, ack, in.u16(), (o & 4) ? in.u16() : -1,
				      (o & 8) ? in.u8() : -1, 0);
			break;
		}
		case 15: { // the back-end's offloads and zero copy, on or off
			uint8_t o = in.u8();
			s.out.lend = o & 1;
			s.out.piece = size_t(64) << ((o >> 1) & 7); // 64 B to 8 KiB
			s.out.lend_frames = 1 + ((o >> 4) & 7);
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
	// Tear down whatever is left (nothing), and the table must be empty:
	// only the listeners are open.
	tcp_drop_guest_flows(s.ctx);
	FUZZ_CHECK(s.flows.in_use() == 0 && fake_open_count() == 2);
	return 0;
}
