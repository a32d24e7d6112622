// libFuzzer target: arbitrary frames through the whole tap demultiplexer
// with every service behind it (ARP, DHCP, NDP, DHCPv6) and stub L4
// translators. Whatever the input, nothing may crash, every frame must be
// counted exactly once (handled, unhandled or malformed), and each reply
// must be a sane Ethernet frame.
// FUZZ_SRCS: src/tap/tap.cpp src/core/log.cpp src/core/util.cpp src/core/pcap.cpp src/core/timer.cpp
// FUZZ_MAX_LEN: 65600
#include <cstdlib>
#include <cstring>
#include <vector>

#include "passt/conf/config.h"
#include "passt/tap/tap.h"
#include "tap_fixture.h"

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

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
	static const Config c = fuzz::tap_fixture_config();
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
