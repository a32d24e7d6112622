// What the flow targets (fuzz_tcp_flow, fuzz_udp_flow, fuzz_icmp_flow)
// share besides the fake sockets: the guest and its addressing, and the
// checks on the Ethernet and IP layers of every frame sent to the guest.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include <sys/epoll.h>

#include "fake_sock.h"
#include "fuzz_util.h"
#include "passt/conf/config.h"
#include "passt/core/epoll.h"
#include "passt/flow/flow.h"
#include "passt/net/addr.h"
#include "passt/tap/output.h"

namespace passt::fuzz {

inline const MacAddr FLOW_GUEST_MAC{{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}};
inline const Ipv4Addr FLOW_GUEST4 = Ipv4Addr::from_host(0xc0000202); // 192.0.2.2
inline const Ipv4Addr FLOW_GW4 = Ipv4Addr::from_host(0xc0000201);    // 192.0.2.1
inline const Ipv6Addr FLOW_GUEST6 = *Ipv6Addr::parse("2001:db8::2");
inline const Ipv6Addr FLOW_GW6 = *Ipv6Addr::parse("fe80::1");

// The guest at 192.0.2.2/24 via 192.0.2.1 and 2001:db8::2 via fe80::1,
// both gateways standing for the host's loopback, our MAC
// 9a:55:9a:55:9a:55, the guest's MAC already seen.
inline void flow_fixture_config(Config &c, TapState &tap) {
	c.ip4.addr = FLOW_GUEST4;
	c.ip4.prefix_len = 24;
	c.ip4.gw = FLOW_GW4;
	c.ip4.map_host_loopback = FLOW_GW4;
	c.ip6.addr = FLOW_GUEST6;
	c.ip6.gw = FLOW_GW6;
	c.ip6.our_tap_ll = FLOW_GW6;
	c.ip6.map_host_loopback = FLOW_GW6;
	c.our_tap_mac = *MacAddr::parse("9a:55:9a:55:9a:55");
	tap.guest_mac = FLOW_GUEST_MAC;
	tap.guest_mac_seen = true;
}

inline uint16_t be16at(std::span<const std::byte> f, size_t o) {
	return uint16_t(uint16_t(f[o]) << 8 | uint16_t(f[o + 1]));
}

// The IP layer of a frame to the guest, as the translators write it.
struct GuestL3 {
	bool v6;
	size_t l4; // offset of the L4 header in the frame
	InAny src, dst;
};

// Checks that f carries protocol proto in IPv4 without options or IPv6
// without extension headers, with an IP length that matches the frame and
// room for min_l4 bytes of L4 header; returns where things are.
inline GuestL3 guest_l3(std::span<const std::byte> f, uint8_t proto, size_t min_l4) {
	GuestL3 g{};
	FUZZ_CHECK(f.size() >= 14 + 20 + min_l4);
	g.v6 = be16at(f, 12) == 0x86dd;
	if (g.v6) {
		FUZZ_CHECK(f.size() >= 14 + 40 + min_l4);
		FUZZ_CHECK((uint8_t(f[14]) >> 4) == 6 && uint8_t(f[14 + 6]) == proto);
		FUZZ_CHECK(be16at(f, 18) == f.size() - 14 - 40);
		Ipv6Addr a, b;
		std::memcpy(a.b.data(), f.data() + 14 + 8, 16);
		std::memcpy(b.b.data(), f.data() + 14 + 24, 16);
		g.src = InAny(a);
		g.dst = InAny(b);
		g.l4 = 14 + 40;
	} else {
		FUZZ_CHECK(be16at(f, 12) == 0x0800);
		FUZZ_CHECK(f[14] == std::byte{0x45} && uint8_t(f[14 + 9]) == proto);
		FUZZ_CHECK(be16at(f, 16) == f.size() - 14);
		Ipv4Addr a, b;
		std::memcpy(a.b.data(), f.data() + 14 + 12, 4);
		std::memcpy(b.b.data(), f.data() + 14 + 16, 4);
		g.src = InAny(a);
		g.dst = InAny(b);
		g.l4 = 14 + 20;
	}
	return g;
}

// A translator under test: Ctx (TcpCtx, UdpCtx, IcmpCtx) over the target's
// guest sink, with a clock that starts at 1000 s and moves only when the
// target says so.
template <class Sink, class Ctx> struct FlowState {
	Config c;
	TapState tap;
	Sink out;
	EventLoop loop;
	FlowTable flows;
	Ctx ctx{c, tap, out, loop, flows};
	int64_t now_ns = int64_t(1000) * 1000000000;
	timespec now() const { return {time_t(now_ns / 1000000000), long(now_ns % 1000000000)}; }
};

// Events ev on fake socket k, as epoll would report them: only if the
// translator registered k, and only those it asked for (errors and hang-up
// always). handle(ref, events) gets them; false if there was nothing to
// deliver.
template <class Handle> bool deliver_events(FakeSock *k, uint32_t ev, Handle &&handle) {
	if (!k || !k->in_epoll)
		return false;
	ev &= k->events | EPOLLERR | EPOLLHUP;
	if (!ev)
		return false;
	handle(EpollRef::unpack(k->data), ev);
	return true;
}

} // namespace passt::fuzz
