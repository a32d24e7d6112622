// libFuzzer target: Ethernet frames into the NDP responder.
//
// Input: one mode byte, then either a raw Ethernet frame (mode bit 0 clear)
// or "type, code, ICMPv6 body" that the target wraps in a frame with a valid
// checksum (bit 0 set), so that the fuzzer gets past checksum validation.
// Other mode bits pick the source/destination addresses, the hop limit and
// configuration flags. Every frame the responder sends must be a well-formed
// RA or NA from our MAC and link-local address, hop limit 255, valid
// checksum and options, within the IPv6 minimum MTU, and never an NA for
// one of the guest's own addresses.
// FUZZ_SRCS: src/core/log.cpp src/core/util.cpp test/support/frames.cpp
#include <cstring>

#include "fuzz_util.h"
#include "passt/conf/config.h"
#include "passt/core/log.h"
#include "passt/net/build.h"
#include "passt/net/eth.h"
#include "passt/net/icmpv6.h"
#include "passt/net/ip6.h"
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
	const TapState *st = nullptr;
	bool send_frame(std::span<const std::byte> f) override {
		FUZZ_CHECK(f.size() <= 14 + 1280);
		auto eth = ConstEthView::parse(f);
		FUZZ_CHECK(eth && eth->src() == our_mac && eth->ethertype() == ethertype::ipv6);
		auto ip = ConstIp6View::parse(eth->payload());
		FUZZ_CHECK(ip && ip->proto() == ipproto::icmpv6 && ip->hop_limit() == 255);
		FUZZ_CHECK(ip->saddr() == ndp_our_ll(*c));
		FUZZ_CHECK(ip->bytes().size() == eth->payload().size());
		auto icmp = ConstIcmp6View::parse(ip->l4());
		FUZZ_CHECK(icmp && icmp->code() == 0 &&
			   icmp->checksum_ok(ip->saddr(), ip->daddr()));
		if (icmp->type() == icmp6type::router_advert) {
			FUZZ_CHECK(icmp->bytes().size() >= ndp::ra_opts_off);
			FUZZ_CHECK(tlv::valid<tlv::Ndp>(icmp->from(ndp::ra_opts_off)));
			FUZZ_CHECK(!c->no_ra);
		} else {
			FUZZ_CHECK(icmp->type() == icmp6type::neighbor_advert);
			FUZZ_CHECK(icmp->bytes().size() == ndp::na_opts_off + 8);
			FUZZ_CHECK(tlv::valid<tlv::Ndp>(icmp->from(ndp::na_opts_off)));
			Ipv6Addr t = *icmp->target();
			FUZZ_CHECK(!t.is_multicast() && t != c->ip6.addr && t != st->addr6_seen &&
				   t != st->addr6_ll_seen);
		}
		FUZZ_CHECK(!c->no_ndp);
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
	auto rest = in.cspan();

	Config c;
	c.our_tap_mac = our_mac;
	c.ip6.addr = addr("2001:db8::5");
	c.ip6.gw = addr("fe80::1");
	c.ip6.our_tap_ll = (mode & 0x20) ? Ipv6Addr{} : addr("fe80::1");
	c.ip6.map_host_loopback = c.ip6.gw;
	c.ip6.dns = {addr("2001:db8::53")};
	c.dns_search = {"example.org", "a.b.c"};
	c.no_ra = mode & 0x40;
	c.no_dhcpv6 = mode & 0x80;
	c.no_ndp = (mode & 0xe0) == 0xe0;
	TapState st;
	st.addr6_seen = addr("2001:db8::77");
	CheckingSink sink;
	sink.c = &c;
	sink.st = &st;

	if (!(mode & 1)) {
		ndp_input(c, st, rest, sink);
		return 0;
	}
	// Wrapped: type, code, body (at least 4 bytes, as every NDP message).
	if (rest.size() < 2 + 4)
		return 0;
	Ipv6Addr saddr = (mode & 2)   ? Ipv6Addr{}
			 : (mode & 4) ? addr("2001:db8::9")
				      : addr("fe80::5054:ff:fe12:3456");
	Ipv6Addr daddr = addr("ff02::2");
	if ((mode & 8) && rest.size() >= 2 + 20) {
		Ipv6Addr t;
		std::memcpy(t.b.data(), rest.data() + 2 + 4, 16);
		daddr = t.solicited_node();
	}
	uint8_t hop = (mode & 0x10) ? 64 : 255;
	static std::byte buf[4096];
	size_t n = build_icmp6(buf, our_mac, guest_mac, saddr, daddr, uint8_t(rest[0]),
			       uint8_t(rest[1]), rest.subspan(2), hop);
	if (!n)
		return 0;
	fuzz::Input wrapped(reinterpret_cast<const uint8_t *>(buf), n);
	ndp_input(c, st, wrapped.cspan(), sink);
	return 0;
}
