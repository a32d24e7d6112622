// libFuzzer target: arbitrary Ethernet frames into the DHCP server.
// Replies go to a sink that checks they are sane (UDP/IPv4 from port 67, at
// most 1500 + 14 bytes, valid checksums) so that a malformed reply is found too.
// FUZZ_SRCS: src/services/dhcp.cpp src/core/log.cpp src/core/util.cpp
#include <cstdlib>
#include <string>

#include "passt/conf/config.h"
#include "passt/core/log.h"
#include "passt/net/checksum.h"
#include "passt/services/dhcp.h"
#include "passt/tap/output.h"

using namespace passt;

namespace {

struct CheckingSink final : TapOutput {
	bool send_frame(std::span<const std::byte> f) override {
		if (f.size() < 14 + 20 + 8 + 300 || f.size() > 14 + 1500)
			abort();
		if (inet_checksum(f.subspan(14, 20)).raw != 0)
			abort();
		size_t l4 = f.size() - 34;
		Ipv4Addr s, d;
		__builtin_memcpy(s.b.data(), f.data() + 26, 4);
		__builtin_memcpy(d.b.data(), f.data() + 30, 4);
		if (l4_checksum4(s, d, 17, f.subspan(34, l4)).raw != 0)
			abort();
		return true;
	}
	void flush() override {}
};

Config make_config() {
	Config c;
	c.our_tap_mac = MacAddr{{0x9a, 0x55, 0x9a, 0x55, 0x9a, 0x55}};
	c.ip4.addr = Ipv4Addr::from_host(0xc000020a);
	c.ip4.prefix_len = 24;
	c.ip4.gw = Ipv4Addr::from_host(0xc0000201);
	c.ip4.dns = {Ipv4Addr::from_host(0xc0000235), Ipv4Addr::from_host(0xc6336435)};
	c.dns_search = {"example.com", "sub.example.com", "example.org"};
	for (int i = 0; i < 30; i++)
		c.dns_search.push_back("zone" + std::to_string(i) + ".department.example.net");
	c.hostname = "guest";
	c.fqdn = "guest.example.com";
	return c;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	static const Config c = make_config();
	static bool init = (log_set_level(LogLevel::Error), true);
	(void)init;
	static CheckingSink sink;
	TapState st;
	auto in = std::span<const std::byte>(reinterpret_cast<const std::byte *>(data), size);
	dhcp_input(c, st, in, sink);
	// The pure parser straight on the input too (as a UDP payload).
	auto req = dhcp_parse(in);
	if (req) {
		std::byte out[1500];
		DhcpAction act = dhcp_decide(c, *req);
		size_t n = dhcp_build_reply(c, *req, act, out);
		if (act != DhcpAction::Ignore && (n < 300 || n > 1500 - 28))
			abort();
	}
	return 0;
}
