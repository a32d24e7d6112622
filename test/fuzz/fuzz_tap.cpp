// libFuzzer target: arbitrary frames through the whole tap demultiplexer
// with every service behind it (ARP, DHCP, NDP, DHCPv6) and stub L4
// translators. Whatever the input, nothing may crash, every frame must be
// counted exactly once (handled, unhandled or malformed), and each reply
// must be a sane Ethernet frame.
// FUZZ_SRCS: src/tap/tap.cpp src/core/log.cpp src/core/util.cpp src/core/pcap.cpp
// FUZZ_MAX_LEN: 65600
#include <cstdlib>
#include <cstring>
#include <vector>

#include "passt/conf/config.h"
#include "passt/tap/tap.h"

using namespace passt;

namespace {

struct CheckingSink final : TapOutput {
	size_t frames = 0;
	bool send_frame(std::span<const std::byte> f) override {
		if (f.size() < 14 || f.size() > 65535 + 14)
			abort();
		frames++;
		return true;
	}
	void flush() override {}
};

unsigned l4_calls;
bool l4_stub(void *, std::span<std::byte> frame, const timespec &) {
	if (frame.size() < 14)
		abort();
	l4_calls++;
	return true;
}

Config make_config() {
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

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
	static const Config c = make_config();
	static std::vector<std::byte> buf(65536 + 64);
	if (size > 65535 + 14)
		return 0;
	// Our own copy: the demux may be handed writable frames.
	std::memcpy(buf.data(), data, size);

	TapState st;
	TapStats stats;
	CheckingSink out;
	TapDemux d;
	d.c = &c;
	d.st = &st;
	d.out = &out;
	d.stats = &stats;
	d.icmp = {l4_stub, nullptr};
	d.tcp = {l4_stub, nullptr};
	d.udp = {l4_stub, nullptr};

	timespec now{1, 0};
	tap_input(d, std::span<std::byte>(buf.data(), size), now);
	if (stats.frames_in != 1 || stats.malformed + stats.unhandled > 1)
		abort();
	return 0;
}
