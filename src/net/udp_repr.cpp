// UdpRepr: parse a UDP datagram into plain values and write one from them;
// see include/passt/net/udp_repr.h.
#include "passt/net/udp_repr.h"

#include <cstring>

namespace passt {

namespace {

UdpRepr from_view(const ConstUdpView &u) { return UdpRepr{u.sport(), u.dport(), u.payload()}; }

} // namespace

std::optional<UdpRepr> UdpRepr::parse(std::span<const std::byte> seg) {
	auto u = ConstUdpView::parse(seg);
	if (!u)
		return std::nullopt;
	return from_view(*u);
}

std::optional<UdpRepr> UdpRepr::parse4(std::span<const std::byte> seg, Ipv4Addr saddr,
				       Ipv4Addr daddr) {
	auto u = ConstUdpView::parse(seg);
	if (!u || !u->checksum_ok4(saddr, daddr))
		return std::nullopt;
	return from_view(*u);
}

std::optional<UdpRepr> UdpRepr::parse6(std::span<const std::byte> seg, const Ipv6Addr &saddr,
				       const Ipv6Addr &daddr) {
	auto u = ConstUdpView::parse(seg);
	if (!u || !u->checksum_ok6(saddr, daddr))
		return std::nullopt;
	return from_view(*u);
}

size_t UdpRepr::emit(std::span<std::byte> out, const InAny &src, const InAny &dst) const {
	const size_t len = datagram_len();
	if (len > out.size() || len > 65535)
		return 0;
	std::span<std::byte> seg = out.first(len);
	std::byte *at = seg.data() + UdpView::hdr_len;
	if (!payload.empty() && payload.data() != at)
		std::memmove(at, payload.data(), payload.size());
	auto u = *UdpView::init(seg);
	u.set_sport(sport);
	u.set_dport(dport);
	u.set_length(uint16_t(len));
	if (src.is_v4())
		u.fill_checksum4(src.v4(), dst.v4());
	else
		u.fill_checksum6(src.v6(), dst.v6());
	return len;
}

} // namespace passt
