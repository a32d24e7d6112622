// Fuzz a whole frame through the demux the tap layer will do (Ethernet ->
// ARP / IPv4 / IPv6 -> TCP / UDP / ICMP / ICMPv6), fill_checksums(), and the
// frame builders with fuzzed payloads.
//
// FUZZ_SRCS: test/support/frames.cpp
// FUZZ_MAX_LEN: 65600
#include "fuzz_util.h"
#include "passt/net/arp.h"
#include "passt/net/build.h"
#include "passt/net/eth.h"
#include "passt/net/icmp.h"
#include "passt/net/icmpv6.h"
#include "passt/net/ip4.h"
#include "passt/net/ip6.h"
#include "passt/net/tcp.h"
#include "passt/net/udp.h"
#include "support/frames.h"

using namespace passt;

namespace {

// Parse every layer; when check is set, all checksums must verify.
void walk(std::span<const std::byte> frame, bool check) {
	auto eth = ConstEthView::parse(frame);
	if (!eth)
		return;
	if (eth->ethertype() == ethertype::arp) {
		if (auto arp = ConstArpView::parse(eth->payload()))
			fuzz::sink(arp->op() + arp->tpa().host());
		return;
	}
	if (eth->ethertype() == ethertype::ipv4) {
		auto ip = ConstIp4View::parse(eth->payload());
		if (!ip)
			return;
		FUZZ_CHECK(!check || ip->checksum_ok());
		switch (ip->protocol()) {
		case ipproto::tcp:
			if (auto t = ConstTcpView::parse(ip->payload())) {
				FUZZ_CHECK(!check || t->checksum_ok4(ip->saddr(), ip->daddr()));
				fuzz::sink(t->parse_options().mss.value_or(0));
			}
			break;
		case ipproto::udp:
			if (auto u = ConstUdpView::parse(ip->payload()))
				FUZZ_CHECK(!check || u->checksum_ok4(ip->saddr(), ip->daddr()));
			break;
		case ipproto::icmp:
			if (auto i = ConstIcmpView::parse(ip->payload()))
				FUZZ_CHECK(!check || i->checksum_ok());
			break;
		}
		return;
	}
	if (eth->ethertype() == ethertype::ipv6) {
		auto ip = ConstIp6View::parse(eth->payload());
		if (!ip)
			return;
		switch (ip->proto()) {
		case ipproto::tcp:
			if (auto t = ConstTcpView::parse(ip->l4()))
				FUZZ_CHECK(!check || t->checksum_ok6(ip->saddr(), ip->daddr()));
			break;
		case ipproto::udp:
			if (auto u = ConstUdpView::parse(ip->l4()))
				FUZZ_CHECK(!check || u->checksum_ok6(ip->saddr(), ip->daddr()));
			break;
		case ipproto::icmpv6:
			if (auto i = ConstIcmp6View::parse(ip->l4())) {
				FUZZ_CHECK(!check || i->checksum_ok(ip->saddr(), ip->daddr()));
				fuzz::sink(tlv::valid<tlv::Ndp>(i->from(ndp::ns_opts_off)));
			}
			break;
		}
	}
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	fuzz::Input in(data, size);
	walk(in.cspan(), false);
	if (fill_checksums(in.span()))
		walk(in.cspan(), true);

	// Builders: the input is the payload; the result must parse back.
	static std::byte buf[65600 + 64];
	const MacAddr a{{2, 0, 0, 0, 0, 1}}, b{{2, 0, 0, 0, 0, 2}};
	const Ipv4Addr s4 = Ipv4Addr::from_host(0xc0000201), d4 = Ipv4Addr::from_host(0xc0000202);
	const Ipv6Addr s6 = Ipv6Addr::v4mapped(s4), d6 = Ipv6Addr::loopback();
	auto payload = in.cspan();
	size_t n;
	n = build_udp4(buf, a, b, s4, d4, 67, 68, payload);
	FUZZ_CHECK(n == (size <= 65535 - 28 ? 42 + size : 0));
	if (n)
		walk(std::span(buf, n), true);
	n = build_udp6(buf, a, b, s6, d6, 547, 546, payload);
	FUZZ_CHECK(n == (size <= 65535 - 8 ? 62 + size : 0));
	if (n)
		walk(std::span(buf, n), true);
	n = build_icmp4(buf, a, b, s4, d4, 0, 0, payload);
	FUZZ_CHECK(n == (size < 4 || size > 65535 - 24 ? 0 : 38 + size));
	if (n)
		walk(std::span(buf, n), true);
	n = build_icmp6(buf, a, b, s6, d6, 129, 0, payload);
	FUZZ_CHECK(n == (size < 4 || size > 65535 - 4 ? 0 : 58 + size));
	if (n)
		walk(std::span(buf, n), true);
	// Not enough room: refused.
	FUZZ_CHECK(build_udp4(std::span(buf, 41 + size), a, b, s4, d4, 1, 2, payload) == 0);
	return 0;
}
