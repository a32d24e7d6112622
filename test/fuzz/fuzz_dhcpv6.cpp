// libFuzzer target: Ethernet frames into the DHCPv6 server.
//
// Input: one mode byte, then either a raw Ethernet frame (mode bit 0 clear)
// or a DHCPv6 message that the target wraps in a UDP frame from the guest's
// link-local address to ff02::1:2, port 546 to 547 (bit 0 set). Other mode
// bits vary the configuration. Every reply must be an Advertise or Reply
// from our link-local address, port 547 to 546, with a valid UDP checksum,
// within the IPv6 minimum MTU, whose options parse exactly and start with
// our Server Identifier.
// FUZZ_SRCS: src/core/log.cpp src/core/util.cpp test/support/frames.cpp
#include <cstring>

#include "fuzz_util.h"
#include "passt/conf/config.h"
#include "passt/core/log.h"
#include "passt/net/build.h"
#include "passt/net/eth.h"
#include "passt/net/ip6.h"
#include "passt/net/udp.h"
#include "passt/services/dhcpv6.h"
#include "passt/services/ndp.h"
#include "passt/tap/output.h"
#include "support/frames.h"

using namespace passt;

namespace {

constexpr MacAddr our_mac{{0x9a, 0x55, 0x9a, 0x55, 0x9a, 0x55}};
constexpr MacAddr guest_mac{{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}};

Ipv6Addr addr(const char *s) { return *Ipv6Addr::parse(s); }

struct CheckingSink final : TapOutput {
	const Config *c = nullptr;
	bool send_frame(std::span<const std::byte> f) override {
		FUZZ_CHECK(!c->no_dhcpv6);
		FUZZ_CHECK(f.size() <= 14 + 1280);
		auto eth = ConstEthView::parse(f);
		FUZZ_CHECK(eth && eth->src() == our_mac && !eth->dst().is_multicast());
		auto ip = ConstIp6View::parse(eth->payload());
		FUZZ_CHECK(ip && ip->proto() == ipproto::udp && ip->saddr() == ndp_our_ll(*c));
		auto udp = ConstUdpView::parse(ip->l4());
		FUZZ_CHECK(udp && udp->bytes().size() == ip->l4().size());
		FUZZ_CHECK(udp->checksum_ok6(ip->saddr(), ip->daddr()));
		FUZZ_CHECK(udp->sport() == dhcpv6::server_port &&
			   udp->dport() == dhcpv6::client_port);
		auto p = udp->payload();
		FUZZ_CHECK(p.size() >= 4);
		uint8_t type = uint8_t(p[0]);
		FUZZ_CHECK(type == dhcpv6::msg_advertise || type == dhcpv6::msg_reply);
		// Options tile the message exactly; the first is our Server ID.
		auto duid = dhcpv6_server_duid(*c);
		auto o = p.subspan(4);
		bool first = true;
		while (!o.empty()) {
			FUZZ_CHECK(o.size() >= 4);
			size_t len = load_be16(o.data() + 2);
			FUZZ_CHECK(len <= o.size() - 4);
			if (first) {
				FUZZ_CHECK(load_be16(o.data()) == dhcpv6::opt_serverid);
				FUZZ_CHECK(len == duid.size() &&
					   !std::memcmp(o.data() + 4, duid.data(), len));
				first = false;
			}
			o = o.subspan(4 + len);
		}
		FUZZ_CHECK(!first);
		return true;
	}
	void flush() override {}
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	static bool init = (log_set_level(LogLevel::Error), true);
	(void)init;
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	fuzz::Input in(data + 1, size - 1);

	Config c;
	c.our_tap_mac = our_mac;
	c.ip6.addr = (mode & 2) ? Ipv6Addr{} : addr("2001:db8::5");
	c.ip6.our_tap_ll = (mode & 4) ? Ipv6Addr{} : addr("fe80::1");
	c.ip6.dns = {addr("2001:db8::53"), addr("2001:db8::54")};
	if (mode & 8)
		for (int i = 0; i < 80; i++)
			c.ip6.dns.push_back(addr("2001:db8::1"));
	c.dns_search = {"example.org", "x.y"};
	if (mode & 0x10)
		c.fqdn = "guest.example.org";
	c.no_dhcp_dns = mode & 0x20;
	c.no_dhcp_dns_search = mode & 0x40;
	c.no_dhcpv6 = (mode & 0xe0) == 0xe0;
	TapState st;
	CheckingSink sink;
	sink.c = &c;

	if (!(mode & 1)) {
		dhcpv6_input(c, st, in.cspan(), sink);
		return 0;
	}
	static std::byte buf[4096];
	size_t n = build_udp6(buf, MacAddr{{0x33, 0x33, 0, 1, 0, 2}}, guest_mac,
			      addr("fe80::5054:ff:fe12:3456"), dhcpv6::all_servers(),
			      dhcpv6::client_port, dhcpv6::server_port, in.cspan());
	if (!n)
		return 0;
	fuzz::Input wrapped(reinterpret_cast<const uint8_t *>(buf), n);
	dhcpv6_input(c, st, wrapped.cspan(), sink);
	return 0;
}
