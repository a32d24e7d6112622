// libFuzzer target: arbitrary Ethernet frames into the ARP responder.
// Replies must be 42-byte Ethernet/IPv4 ARP replies from our MAC.
// FUZZ_SRCS: src/services/arp.cpp src/core/log.cpp src/core/util.cpp
#include <cstdlib>

#include "passt/conf/config.h"
#include "passt/core/log.h"
#include "passt/services/arp.h"
#include "passt/tap/output.h"

using namespace passt;

namespace {

constexpr MacAddr our_mac{{0x9a, 0x55, 0x9a, 0x55, 0x9a, 0x55}};
constexpr Ipv4Addr guest_ip = Ipv4Addr::from_host(0xc000020a);

struct CheckingSink final : TapOutput {
	bool send_frame(std::span<const std::byte> f) override {
		static const uint8_t head[] = {0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2};
		if (f.size() != 42 || __builtin_memcmp(f.data() + 12, head, sizeof(head)) ||
		    __builtin_memcmp(f.data() + 6, our_mac.b.data(), 6) ||
		    __builtin_memcmp(f.data() + 28, guest_ip.b.data(), 4) == 0)
			abort(); // never claim the guest's own address
		return true;
	}
	void flush() override {}
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	static const Config c = [] {
		Config k;
		k.our_tap_mac = our_mac;
		k.ip4.addr = guest_ip;
		k.ip4.prefix_len = 24;
		k.ip4.gw = Ipv4Addr::from_host(0xc0000201);
		return k;
	}();
	static bool init = (log_set_level(LogLevel::Error), true);
	(void)init;
	static CheckingSink sink;
	TapState st;
	auto in = std::span<const std::byte>(reinterpret_cast<const std::byte *>(data), size);
	arp_input(c, st, in, sink);
	return 0;
}
