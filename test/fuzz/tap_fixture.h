// Shared by the tap back-end targets (fuzz_tap_stream, fuzz_tap_tun): the
// configuration and the demultiplexer frames go into after a back-end's
// read_batch(), with every service behind it and stub L4 translators that
// only check what they are handed.
#pragma once

#include <ctime>

#include <sys/socket.h>

#include "fuzz_util.h"
#include "passt/conf/config.h"
#include "passt/tap/tap.h"

namespace passt::fuzz {

inline bool l4_stub(void *, std::span<std::byte> frame, const timespec &) {
	FUZZ_CHECK(frame.size() >= 14);
	return true;
}

inline Config tap_fixture_config() {
	Config c;
	c.our_tap_mac = *MacAddr::parse("9a:55:9a:55:9a:55");
	c.ip4.addr = *Ipv4Addr::parse("192.0.2.2");
	c.ip4.prefix_len = 24;
	c.ip4.gw = *Ipv4Addr::parse("192.0.2.1");
	c.ip4.map_host_loopback = c.ip4.gw;
	c.ip4.dns = {*Ipv4Addr::parse("192.0.2.53")};
	c.ip6.addr = *Ipv6Addr::parse("2001:db8::2");
	c.ip6.gw = *Ipv6Addr::parse("fe80::1");
	c.ip6.our_tap_ll = *Ipv6Addr::parse("fe80::1");
	c.ip6.dns = {*Ipv6Addr::parse("2001:db8::53")};
	c.dns_search = {"example.com", "test.example"};
	return c;
}

// A demux over c, replying through out, counting in stats.
inline TapDemux tap_fixture_demux(const Config &c, TapState &st, TapOutput &out, TapStats &stats) {
	TapDemux d;
	d.c = &c;
	d.st = &st;
	d.out = &out;
	d.stats = &stats;
	d.icmp = {l4_stub, nullptr, nullptr};
	d.tcp = {l4_stub, nullptr, nullptr};
	d.udp = {l4_stub, nullptr, nullptr};
	return d;
}

// How many pool slots an input asks for with its selector byte: 1 to 64,
// or the daemon's 1024.
inline size_t tap_fixture_pool_cap(uint8_t sel) { return (sel & 0x40) ? 1024 : 1 + (sel & 63); }

// A socketpair of type whose end 0 the back-end be takes (attach()); returns
// end 1, the fuzzer's, with a send buffer of sndbuf bytes.
template <class Backend> int tap_fixture_attach(Backend &be, int type, int sndbuf) {
	int sv[2];
	FUZZ_CHECK(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) == 0);
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	FUZZ_CHECK(be.attach(sv[0]) == 0);
	return sv[1];
}

} // namespace passt::fuzz
