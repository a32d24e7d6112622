// Test-side frame helpers; see frames.h.
#include "support/frames.h"

#include <cstring>

#include "passt/net/eth.h"
#include "passt/net/icmp.h"
#include "passt/net/icmpv6.h"
#include "passt/net/ip4.h"
#include "passt/net/ip6.h"
#include "passt/net/tcp.h"
#include "passt/net/udp.h"

namespace passt {

namespace {

// Moves payload to off in buf; false (buf untouched) if it does not fit.
bool place(std::span<std::byte> buf, size_t off, std::span<const std::byte> payload) {
	if (off > buf.size() || payload.size() > buf.size() - off)
		return false;
	if (!payload.empty())
		std::memmove(buf.data() + off, payload.data(), payload.size());
	return true;
}

bool fill4(Ip4View ip) {
	if (ip.is_fragment())
		return false;
	const Ipv4Addr s = ip.saddr(), d = ip.daddr();
	if (ip.protocol() == ipproto::icmp) {
		auto icmp = IcmpView::parse(ip.payload());
		if (!icmp)
			return false;
		icmp->fill_checksum();
	} else if (ip.protocol() == ipproto::tcp) {
		auto tcp = TcpView::parse(ip.payload());
		if (!tcp)
			return false;
		tcp->fill_checksum4(s, d);
	} else if (ip.protocol() == ipproto::udp) {
		auto udp = UdpView::parse(ip.payload());
		if (!udp)
			return false;
		udp->fill_checksum4(s, d);
	} else {
		return false;
	}
	ip.fill_checksum();
	return true;
}

bool fill6(Ip6View ip) {
	if (ip.is_fragment())
		return false;
	const Ipv6Addr s = ip.saddr(), d = ip.daddr();
	if (ip.proto() == ipproto::icmpv6) {
		auto icmp = Icmp6View::parse(ip.l4());
		if (!icmp)
			return false;
		icmp->fill_checksum(s, d);
	} else if (ip.proto() == ipproto::tcp) {
		auto tcp = TcpView::parse(ip.l4());
		if (!tcp)
			return false;
		tcp->fill_checksum6(s, d);
	} else if (ip.proto() == ipproto::udp) {
		auto udp = UdpView::parse(ip.l4());
		if (!udp)
			return false;
		udp->fill_checksum6(s, d);
	} else {
		return false;
	}
	return true;
}

} // namespace

size_t build_udp4(std::span<std::byte> buf, const MacAddr &dst, const MacAddr &src, Ipv4Addr saddr,
		  Ipv4Addr daddr, uint16_t sport, uint16_t dport,
		  std::span<const std::byte> payload, uint8_t ttl) {
	if (!place(buf, frame::udp4_payload_off, payload))
		return 0;
	return build_udp4_inplace(buf, dst, src, saddr, daddr, sport, dport, payload.size(), ttl);
}

size_t build_udp6(std::span<std::byte> buf, const MacAddr &dst, const MacAddr &src,
		  const Ipv6Addr &saddr, const Ipv6Addr &daddr, uint16_t sport, uint16_t dport,
		  std::span<const std::byte> payload, uint8_t hop_limit) {
	if (!place(buf, frame::udp6_payload_off, payload))
		return 0;
	return build_udp6_inplace(buf, dst, src, saddr, daddr, sport, dport, payload.size(),
				  hop_limit);
}

size_t build_icmp4(std::span<std::byte> buf, const MacAddr &dst, const MacAddr &src, Ipv4Addr saddr,
		   Ipv4Addr daddr, uint8_t type, uint8_t code, std::span<const std::byte> body,
		   uint8_t ttl) {
	if (body.size() < 4 || !place(buf, frame::icmp4_body_off, body))
		return 0;
	return build_icmp4_inplace(buf, dst, src, saddr, daddr, type, code, body.size(), ttl);
}

size_t build_icmp6(std::span<std::byte> buf, const MacAddr &dst, const MacAddr &src,
		   const Ipv6Addr &saddr, const Ipv6Addr &daddr, uint8_t type, uint8_t code,
		   std::span<const std::byte> body, uint8_t hop_limit) {
	if (body.size() < 4 || !place(buf, frame::icmp6_body_off, body))
		return 0;
	return build_icmp6_inplace(buf, dst, src, saddr, daddr, type, code, body.size(), hop_limit);
}

bool fill_checksums(std::span<std::byte> frame) {
	auto eth = EthView::parse(frame);
	if (!eth)
		return false;
	if (eth->ethertype() == ethertype::ipv4) {
		auto ip = Ip4View::parse(eth->payload());
		return ip && fill4(*ip);
	}
	if (eth->ethertype() == ethertype::ipv6) {
		auto ip = Ip6View::parse(eth->payload());
		return ip && fill6(*ip);
	}
	return false;
}

std::optional<MacAddr> ndp_lladdr(const tlv::Option &o) {
	if ((o.code != ndp::opt_source_lladdr && o.code != ndp::opt_target_lladdr) ||
	    o.data.size() < 6)
		return std::nullopt;
	MacAddr m;
	for (size_t i = 0; i < 6; i++)
		m.b[i] = uint8_t(o.data[i]);
	return m;
}

} // namespace passt
