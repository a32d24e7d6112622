// Fuzz the UDP view and its checksums over both pseudo-headers, and
// UdpRepr's parse -> emit -> parse.
// FUZZ_MAX_LEN: 65600
#include <cstring>

#include "fuzz_util.h"
#include "passt/net/udp.h"
#include "passt/net/udp_repr.h"

using namespace passt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	fuzz::Input in(data, size);
	if (auto r = UdpRepr::parse(in.cspan())) {
		FUZZ_CHECK(fuzz::within(r->payload, in.cspan()));
		static std::byte out[65536];
		const InAny s(Ipv6Addr::loopback()), d(*Ipv6Addr::parse("2001:db8::1"));
		size_t n = r->emit(std::span(out, sizeof(out)), s, d);
		FUZZ_CHECK(n == r->datagram_len() && n <= size);
		auto back = UdpRepr::parse6(std::span<const std::byte>(out, n), s.v6(), d.v6());
		FUZZ_CHECK(
			back && back->sport == r->sport && back->dport == r->dport &&
			back->payload.size() == r->payload.size() &&
			!std::memcmp(back->payload.data(), r->payload.data(), r->payload.size()));
	}
	auto udp = UdpView::parse(in.span());
	if (!udp)
		return 0;
	FUZZ_CHECK(udp->bytes().size() == udp->length() && udp->length() >= 8);
	FUZZ_CHECK(fuzz::within(udp->payload(), in.span()));
	const Ipv4Addr s4 = Ipv4Addr::from_host(0x0a000001), d4 = Ipv4Addr::from_host(0x0a000002);
	const Ipv6Addr s6 = Ipv6Addr::loopback(), d6 = Ipv6Addr::v4mapped(d4);
	fuzz::sink(udp->sport() + udp->dport() + udp->checksum_ok4(s4, d4) +
		   udp->checksum_ok6(s6, d6));
	udp->fill_checksum4(s4, d4);
	FUZZ_CHECK(udp->checksum_ok4(s4, d4) && udp->checksum().raw != 0);
	udp->fill_checksum6(s6, d6);
	FUZZ_CHECK(udp->checksum_ok6(s6, d6));
	return 0;
}
