// libFuzzer target: the UDP translator's flows, udp_tap_input() and
// udp_tap_flush() for the guest's datagrams, udp_sock_handler() and
// udp_listen_handler() for the host's, udp_timer() for expiry, over the
// fake host sockets of fake_sock.cpp.
//
// The guest (192.0.2.2 and 2001:db8::2) sends datagrams of fuzzer-chosen
// length (up to the 64 KiB the IP length fields allow) from four ports to
// the gateway (the host's loopback), to other hosts and to fuzzer-chosen
// ports, alone or in batches of several per flush, and along any flow the
// table holds (so also its replies to inbound flows); raw frames are fed
// too. The host side answers on the flows' sockets (datagrams of any
// length, receive errors such as ECONNREFUSED, SO_ERROR with EPOLLERR),
// refuses sends for a while (EAGAIN, ENOBUFS, ECONNREFUSED, EPERM,
// EMSGSIZE), and host peers write to the -u 5000-5001 listeners of both
// families from loopback, link-local and other sources, which opens
// inbound flows. Time advances past UDP_FLOW_TIMEOUT_S. After every step:
//   - every outbound flow holds one open fake datagram socket, every
//     inbound flow one of the listeners, and no fake socket is open that
//     is neither a listener nor an outbound flow's;
//   - each outbound flow's to_host count is what its socket took, and the
//     translator's to_host total what all sockets took; a datagram sent
//     unconnected (to a named peer) goes out on a listener only;
//   - every guest datagram the fake sockets took carries the guest's bytes;
//   - every frame to the guest parses as Ethernet + IPv4/IPv6 + UDP with
//     consistent lengths and correct checksums, from our MAC to the
//     guest's, belongs to a flow of the table (by its guest side) and
//     carries the host's bytes; their count is the to_guest total.
// When the input ends and time runs past every timeout, the table is
// empty and only the listeners are left open.
//
// FUZZ_SRCS: src/udp/udp.cpp src/udp/udp_splice.cpp src/flow/refuse.cpp
// FUZZ_SRCS: src/flow/flow.cpp src/fwd/nat.cpp src/flow/host_sock.cpp
// FUZZ_SRCS: src/fwd/listeners.cpp src/fwd/portscan.cpp src/fwd/portscan_diag.cpp src/fwd/rules.cpp
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
#include "passt/host/ns.h"
#include "passt/net/sockaddr.h"
#include "passt/udp/udp.h"
#include "support/frames.h"

using namespace passt;
using namespace passt::fuzz;

// Namespace helpers of udp_splice.cpp and portscan.cpp (linked, never
// reached: no loopback bypass, no "auto" ports here).
int passt::ns_call(const NsHandle &, NsFn, void *, NsCallOut *) { abort(); }
int passt::ns_socket_helper_socket(NsSocketHelper &, int, int, int) { abort(); }
int passt::ns_socket(const NsHandle &, int, int, int) { abort(); }

namespace {

const MacAddr &GUEST_MAC = FLOW_GUEST_MAC;

// Byte i of a guest datagram of len bytes.
uint8_t guest_byte(size_t len, size_t i) { return uint8_t((i * 5 + len * 3 + 1) & 0xff); }

struct State;
State &state();

bool check_payload = true; // off while raw frames (any bytes) are handled
uint64_t taken = 0;        // guest datagrams the fake sockets took
uint64_t frames = 0;       // frames to the guest

bool is_listener(State &s, int fd);

// Every guest datagram, as a socket takes it.
int on_send(FakeSock &k, const void *buf, size_t len, const sockaddr *dst, socklen_t) {
	FUZZ_CHECK(len <= 65535);
	if (dst) // the shared -u socket replies to a named peer
		FUZZ_CHECK(is_listener(state(), fake_fd(k)) && dst->sa_family == k.family);
	if (check_payload)
		for (size_t i = 0; i < len; i++)
			FUZZ_CHECK(static_cast<const uint8_t *>(buf)[i] == guest_byte(len, i));
	taken++;
	return 0;
}

class GuestSink final : public TapOutput {
public:
	FlowTable *flows = nullptr;
	const Config *c = nullptr;
	unsigned long refusals = 0;
	bool send_frame(std::span<const std::byte> f) override {
		check(f);
		frames++;
		return true;
	}
	void flush() override { run_flush_hook(); }

private:
	void check(std::span<const std::byte> f) {
		FUZZ_CHECK(f.size() >= 14 + 20 + 8);
		if (fuzz::is_refusal(f)) {
			// A datagram that opened no flow (flow/refuse.h).
			fuzz::check_refusal(f, 17);
			refusals++;
			return;
		}
		FUZZ_CHECK(std::memcmp(f.data(), GUEST_MAC.b.data(), 6) == 0);
		FUZZ_CHECK(std::memcmp(f.data() + 6, c->our_tap_mac.b.data(), 6) == 0);
		const GuestL3 g3 = guest_l3(f, 17, 8);
		const size_t l4 = g3.l4;
		const InAny src = g3.src, dst = g3.dst;
		FUZZ_CHECK(be16at(f, l4 + 4) == f.size() - l4);
		// Checksums: recomputing them changes nothing.
		static std::byte copy[65600];
		FUZZ_CHECK(f.size() <= sizeof(copy));
		std::memcpy(copy, f.data(), f.size());
		FUZZ_CHECK(fill_checksums(std::span(copy, f.size())));
		FUZZ_CHECK(std::memcmp(copy, f.data(), f.size()) == 0);
		// To a flow's guest end, from what the guest addressed.
		FlowSide g = flowside_from_guest(dst, be16at(f, l4 + 2), src, be16at(f, l4));
		FUZZ_CHECK(flows->lookup(FlowType::Udp, FlowSideIdx::Guest, g));
		size_t n = f.size() - l4 - 8;
		for (size_t i = 0; i < n; i++)
			FUZZ_CHECK(uint8_t(f[l4 + 8 + i]) ==
				   fake_dgram_byte(uint32_t(n), uint32_t(i)));
	}
};

struct State : FlowState<GuestSink, UdpCtx> {};

State &state() {
	static State *s = [] {
		auto *st = new State;
		log_set_level(LogLevel::Error);
		Config &c = st->c;
		flow_fixture_config(c, st->tap);
		// -u 5000-5001:6000-6001, both families.
		c.udp_in.kind = PortForward::Kind::Spec;
		PortRule r;
		r.first = 5000;
		r.last = 5001;
		r.to_first = 6000;
		c.udp_in.rules.push_back(r);
		st->out.flows = &st->flows;
		st->out.c = &st->c;
		if (st->loop.init() < 0 || st->flows.init(32) < 0)
			abort();
		fake_ready = true; // the listeners are fake too
		fake_on_send = on_send;
		if (udp_init(st->ctx) < 0)
			abort();
		return st;
	}();
	return *s;
}

bool is_listener(State &s, int fd) {
	for (const UdpListener &l : s.ctx.listeners)
		if (l.fd >= 0 && l.fd == fd)
			return true;
	return false;
}

unsigned listeners(State &s) {
	unsigned n = 0;
	for (const UdpListener &l : s.ctx.listeners)
		n += l.fd >= 0;
	return n;
}

void check_tables(State &s) {
	unsigned outbound = 0;
	s.flows.for_each([&](uint32_t, Flow &f) {
		FUZZ_CHECK(f.type == FlowType::Udp);
		const UdpFlow &uf = f.state<UdpFlow>();
		if (uf.inbound) {
			FUZZ_CHECK(is_listener(s, uf.sock));
			return;
		}
		outbound++;
		FakeSock *k = fake_sock(uf.sock);
		FUZZ_CHECK(k && k->type == SOCK_DGRAM && !is_listener(s, uf.sock));
		FUZZ_CHECK(k->dgrams_sent == uf.to_host);
	});
	FUZZ_CHECK(fake_open_count() == listeners(s) + outbound);
	FUZZ_CHECK(s.ctx.stats.to_host == taken);
	FUZZ_CHECK(s.ctx.stats.to_guest == frames);
	FUZZ_CHECK(s.ctx.txq.n == 0);
}

// Guest frames of one batch: they must stay put until the flush.
constexpr unsigned BATCH = 8;
std::byte gframe[BATCH][65600];
unsigned gframes = 0;

// Addresses the guest may write to: the gateway (the host's loopback),
// another host, a host on the guest's own prefix, a link-local one (v6).
InAny dest(unsigned which, bool v6) {
	static const char *const d4[] = {"192.0.2.1", "198.51.100.7", "192.0.2.9", "203.0.113.1"};
	static const char *const d6[] = {"fe80::1", "2001:db8:1::7", "2001:db8::9", "fe80::9"};
	return v6 ? InAny(*Ipv6Addr::parse(d6[which & 3])) : InAny(*Ipv4Addr::parse(d4[which & 3]));
}

// One guest datagram along guest side g (guest: peer, destination: ours),
// queued; false if there is no room left in this batch.
bool guest_datagram(State &s, const FlowSide &g, size_t len) {
	if (gframes == BATCH)
		return false;
	std::byte *f = gframe[gframes++];
	static std::byte payload[65536];
	bool v4 = g.peer_addr.is_v4();
	size_t max = v4 ? 65535 - 28 : 65535 - 8;
	if (len > max)
		len = max;
	for (size_t i = 0; i < len; i++)
		payload[i] = std::byte(guest_byte(len, i));
	std::span<std::byte> buf(f, sizeof(gframe[0]));
	std::span<const std::byte> p(payload, len);
	size_t n = v4 ? build_udp4(buf, s.c.our_tap_mac, GUEST_MAC, g.peer_addr.v4(),
				   g.our_addr.v4(), g.peer_port, g.our_port, p)
		      : build_udp6(buf, s.c.our_tap_mac, GUEST_MAC, g.peer_addr.v6(),
				   g.our_addr.v6(), g.peer_port, g.our_port, p);
	FUZZ_CHECK(n);
	udp_tap_input(s.ctx, std::span<const std::byte>(f, n), s.now());
	return true;
}

void flush(State &s) {
	udp_tap_flush(s.ctx);
	s.out.flush();
	gframes = 0;
}

// The fuzzer's guest datagram: family, source port, destination.
FlowSide guest_side(State &s, fuzz::Reader &in) {
	uint8_t a = in.u8();
	bool v6 = a & 1;
	InAny src = v6 ? InAny(s.c.ip6.addr) : InAny(s.c.ip4.addr);
	uint16_t dport = (a & 0x80) ? in.u16() : uint16_t(53 + ((a >> 5) & 3));
	return flowside_from_guest(src, uint16_t(40000 + ((a >> 1) & 3)), dest(a >> 3, v6), dport);
}

// The n-th UDP flow of the table, or null.
Flow *nth_flow(State &s, unsigned n) {
	if (!s.flows.in_use())
		return nullptr;
	n %= s.flows.in_use();
	Flow *got = nullptr;
	s.flows.for_each([&](uint32_t, Flow &f) {
		if (!n-- && !got)
			got = &f;
	});
	return got;
}

void deliver(State &s, FakeSock *k, uint32_t ev) {
	if (deliver_events(k, ev, [&](EpollRef ref, uint32_t e) {
		    if (ref.kind == RefKind::UdpSock)
			    udp_sock_handler(s.ctx, ref, e, s.now());
		    else if (ref.kind == RefKind::UdpListen)
			    udp_listen_handler(s.ctx, ref, e, s.now());
		    else
			    FUZZ_CHECK(false);
	    }))
		s.out.flush();
}

// A datagram of len bytes from src into k's queue.
void host_datagram(FakeSock &k, const InAny &src, uint16_t port, uint32_t scope, uint32_t len) {
	FakeDgram d;
	d.len = len;
	SockAddr sa;
	d.src_len = sockaddr_from(sa, src, port, scope);
	std::memcpy(&d.src, &sa, d.src_len);
	fake_push_dgram(k, d);
}

// A host peer's address: loopback, link-local (v6), or another host.
InAny host_peer(uint8_t o, bool v6) {
	static const char *const p4[] = {"127.0.0.1", "198.51.100.20", "192.0.2.77", "127.0.0.5"};
	static const char *const p6[] = {"::1", "2001:db8:2::20", "fe80::20", "2001:db8::77"};
	return v6 ? InAny(*Ipv6Addr::parse(p6[o & 3])) : InAny(*Ipv4Addr::parse(p4[o & 3]));
}

FakeSock *outbound_sock(State &s, unsigned n) {
	unsigned total = 0;
	s.flows.for_each([&](uint32_t, Flow &f) { total += !f.state<UdpFlow>().inbound; });
	if (!total)
		return nullptr;
	n %= total;
	FakeSock *got = nullptr;
	s.flows.for_each([&](uint32_t, Flow &f) {
		if (!f.state<UdpFlow>().inbound && !n-- && !got)
			got = fake_sock(f.state<UdpFlow>().sock);
	});
	return got;
}

FakeSock *listener(State &s, unsigned n) {
	unsigned total = listeners(s), i = 0;
	if (!total)
		return nullptr;
	n %= total;
	for (const UdpListener &l : s.ctx.listeners)
		if (l.fd >= 0 && i++ == n)
			return fake_sock(l.fd);
	return nullptr;
}

void advance(State &s, int64_t ms) {
	s.now_ns += ms * 1000000;
	udp_timer(s.ctx, s.now());
	s.out.flush();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	State &s = state();
	fuzz::Reader in{data, size};
	for (int step = 0; !in.empty() && step < 256; step++) {
		uint8_t op = in.u8();
		switch (op & 15) {
		case 0: { // one guest datagram
			FlowSide g = guest_side(s, in);
			guest_datagram(s, g, (op & 0x10) ? in.u16() : in.u8());
			flush(s);
			break;
		}
		case 1: { // a batch of guest datagrams, one flush
			unsigned n = 1 + (op >> 4) % BATCH;
			for (unsigned i = 0; i < n && !in.empty(); i++) {
				FlowSide g = guest_side(s, in);
				guest_datagram(s, g, in.u8() << (i & 1 ? 8 : 0));
			}
			flush(s);
			break;
		}
		case 2: { // the guest along a flow of the table (replies to inbound ones)
			Flow *f = nth_flow(s, in.u8());
			uint16_t len = (op & 0x10) ? in.u16() : in.u8();
			if (f) {
				FlowSide g = f->guest();
				guest_datagram(s, g, len);
				if (op & 0x20) // and again, in the same batch
					guest_datagram(s, g, len / 2);
			}
			flush(s);
			break;
		}
		case 3: { // the host answers on an outbound flow's socket
			FakeSock *k = outbound_sock(s, in.u8());
			unsigned n = 1 + ((op >> 4) & 7);
			for (unsigned i = 0; i < n && k && !in.empty(); i++) {
				uint32_t len = (op & 0x80) ? uint32_t(in.u16()) + in.u8() : in.u8();
				FakeDgram d;
				d.len = len;
				fake_push_dgram(*k, d);
			}
			deliver(s, k, EPOLLIN);
			break;
		}
		case 4: { // receive errors and SO_ERROR (ICMP errors reported)
			FakeSock *k = fake_nth(in.u8());
			uint8_t o = in.u8();
			static const int errs[] = {ECONNREFUSED, EHOSTUNREACH, ENETUNREACH,
						   EMSGSIZE};
			if (k) {
				if (o & 4) {
					FakeDgram d;
					d.err = errs[o & 3];
					fake_push_dgram(*k, d);
				}
				if (o & 8)
					k->so_error = errs[(o >> 4) & 3];
				deliver(s, k, EPOLLIN | ((o & 8) ? EPOLLERR : 0));
			}
			break;
		}
		case 5: { // sends fail for a while
			FakeSock *k = fake_nth(in.u8());
			uint8_t o = in.u8();
			static const int errs[] = {0,     EAGAIN,   ENOBUFS,      ECONNREFUSED,
						   EPERM, EMSGSIZE, EHOSTUNREACH, EINTR};
			if (k) {
				k->send_err = errs[o & 7];
				k->send_err_n = (o >> 3) & 3;
				if (!k->send_err_n && k->send_err == EINTR)
					k->send_err_n = 1;
			}
			break;
		}
		case 6: { // a host peer writes to a -u port
			FakeSock *k = listener(s, in.u8());
			uint8_t o = in.u8();
			uint16_t port = in.u16();
			unsigned n = 1 + ((op >> 4) & 3);
			for (unsigned i = 0; i < n && k && !in.empty(); i++) {
				uint32_t len = (op & 0x80) ? uint32_t(in.u16()) + in.u8() : in.u8();
				InAny src = host_peer(o >> (2 * (i & 1)), k->family == AF_INET6);
				host_datagram(*k, src, uint16_t(port + (i >> 1)),
					      (o & 0x40) ? 2 : 0, len);
			}
			deliver(s, k, EPOLLIN);
			break;
		}
		case 7: { // time passes
			uint16_t ms = in.u16();
			advance(s, int64_t(ms) * ((op & 0x10) ? 100 : 1));
			break;
		}
		case 8: { // a raw frame, checksums filled in
			auto b = in.take(in.u16());
			std::memcpy(gframe[0], b.data(), b.size());
			gframes = 1;
			fill_checksums(std::span(gframe[0], b.size()));
			check_payload = false;
			udp_tap_input(s.ctx, std::span<const std::byte>(gframe[0], b.size()),
				      s.now());
			flush(s);
			check_payload = true;
			break;
		}
		case 9: // any events on any fake socket
			deliver(s, fake_nth(in.u8()), in.u8());
			break;
		default: s.out.flush(); break;
		}
		check_tables(s);
	}

	// The input is over: every flow must expire by itself.
	// What the host still has for the listeners (which stay) goes: the next
	// input starts from the same state.
	for (FakeSock &k : fake) {
		k.rxq_n = 0;
		k.send_err = 0;
		k.send_err_n = 0;
		k.so_error = 0;
	}
	for (int i = 0; i < 3; i++) {
		advance(s, int64_t(UDP_FLOW_TIMEOUT_S) * 1000 / 2 + 1000);
		check_tables(s);
	}
	FUZZ_CHECK(s.flows.in_use() == 0);
	FUZZ_CHECK(fake_open_count() == listeners(s) && listeners(s) == 4);
	return 0;
}
