// Frame builders; see include/passt/net/build.h.
//
// Each builder lays out Ethernet (14) + IPv4 (20) or IPv6 (40) + L4 header
// in front of a payload already in place, then fills lengths and checksums
// innermost first: the L4 checksum needs the addresses, the IPv4 header
// checksum needs the total length.
#include "passt/net/build.h"

#include <algorithm>
#include <cstring>

#include "passt/net/arp.h"
#include "passt/net/eth.h"
#include "passt/net/icmp.h"
#include "passt/net/icmpv6.h"
#include "passt/net/ip4.h"
#include "passt/net/ip6.h"
#include "passt/net/tcp.h"
#include "passt/net/udp.h"

namespace passt {

namespace {

constexpr size_t eth_len = EthView::hdr_len;
constexpr size_t ip4_len = Ip4View::min_hdr_len;
constexpr size_t ip6_len = Ip6View::hdr_len;

void put_eth(std::span<std::byte> frame, const MacAddr &dst, const MacAddr &src, uint16_t type) {
	auto eth = EthView::init(frame);
	eth->set_dst(dst);
	eth->set_src(src);
	eth->set_ethertype(type);
}

// IPv4 header at frame[14..34] for an L4 message of l4len bytes.
void put_ip4(std::span<std::byte> frame, Ipv4Addr saddr, Ipv4Addr daddr, uint8_t proto,
	     size_t l4len, uint8_t ttl) {
	auto ip = Ip4View::init(frame.subspan(eth_len));
	ip->set_total_len(uint16_t(ip4_len + l4len));
	ip->set_frag(true, false, 0);
	ip->set_ttl(ttl);
	ip->set_protocol(proto);
	ip->set_saddr(saddr);
	ip->set_daddr(daddr);
	ip->fill_checksum();
}

void put_ip6(std::span<std::byte> frame, const Ipv6Addr &saddr, const Ipv6Addr &daddr,
	     uint8_t proto, size_t l4len, uint8_t hop_limit) {
	auto ip = Ip6View::init(frame.subspan(eth_len));
	ip->set_payload_len(uint16_t(l4len));
	ip->set_next_header(proto);
	ip->set_hop_limit(hop_limit);
	ip->set_saddr(saddr);
	ip->set_daddr(daddr);
}

bool fits(std::span<std::byte> buf, size_t hdrs, size_t len, size_t max_l3_payload) {
	return len <= max_l3_payload && len <= buf.size() && hdrs <= buf.size() - len;
}

} // namespace

size_t build_udp4_inplace(std::span<std::byte> buf, const MacAddr &dst, const MacAddr &src,
			  Ipv4Addr saddr, Ipv4Addr daddr, uint16_t sport, uint16_t dport,
			  size_t payload_len, uint8_t ttl) {
	constexpr size_t hdrs = frame::udp4_payload_off;
	if (!fits(buf, hdrs, payload_len, 65535 - ip4_len - UdpView::hdr_len))
		return 0;
	auto frame = buf.first(hdrs + payload_len);
	size_t l4len = UdpView::hdr_len + payload_len;

	put_eth(frame, dst, src, ethertype::ipv4);
	auto udp = UdpView::init(frame.subspan(eth_len + ip4_len));
	udp->set_sport(sport);
	udp->set_dport(dport);
	udp->set_length(uint16_t(l4len));
	udp->fill_checksum4(saddr, daddr);
	put_ip4(frame, saddr, daddr, ipproto::udp, l4len, ttl);
	return frame.size();
}

size_t build_udp6_inplace(std::span<std::byte> buf, const MacAddr &dst, const MacAddr &src,
			  const Ipv6Addr &saddr, const Ipv6Addr &daddr, uint16_t sport,
			  uint16_t dport, size_t payload_len, uint8_t hop_limit) {
	constexpr size_t hdrs = frame::udp6_payload_off;
	if (!fits(buf, hdrs, payload_len, 65535 - UdpView::hdr_len))
		return 0;
	auto frame = buf.first(hdrs + payload_len);
	size_t l4len = UdpView::hdr_len + payload_len;

	put_eth(frame, dst, src, ethertype::ipv6);
	put_ip6(frame, saddr, daddr, ipproto::udp, l4len, hop_limit);
	auto udp = UdpView::init(frame.subspan(eth_len + ip6_len));
	udp->set_sport(sport);
	udp->set_dport(dport);
	udp->set_length(uint16_t(l4len));
	udp->fill_checksum6(saddr, daddr);
	return frame.size();
}

size_t build_icmp4_inplace(std::span<std::byte> buf, const MacAddr &dst, const MacAddr &src,
			   Ipv4Addr saddr, Ipv4Addr daddr, uint8_t type, uint8_t code,
			   size_t body_len, uint8_t ttl) {
	constexpr size_t hdrs = frame::icmp4_body_off;
	// Every ICMP message has at least the 4 bytes after the checksum.
	if (body_len < 4 || !fits(buf, hdrs, body_len, 65535 - ip4_len - 4))
		return 0;
	auto frame = buf.first(hdrs + body_len);

	put_eth(frame, dst, src, ethertype::ipv4);
	// parse(), not init(): init() would zero the body's first word.
	auto icmp = IcmpView::parse(frame.subspan(eth_len + ip4_len));
	icmp->set_type(type);
	icmp->set_code(code);
	icmp->fill_checksum();
	put_ip4(frame, saddr, daddr, ipproto::icmp, 4 + body_len, ttl);
	return frame.size();
}

size_t build_icmp6_inplace(std::span<std::byte> buf, const MacAddr &dst, const MacAddr &src,
			   const Ipv6Addr &saddr, const Ipv6Addr &daddr, uint8_t type, uint8_t code,
			   size_t body_len, uint8_t hop_limit) {
	constexpr size_t hdrs = frame::icmp6_body_off;
	if (body_len < 4 || !fits(buf, hdrs, body_len, 65535 - 4))
		return 0;
	auto frame = buf.first(hdrs + body_len);

	put_eth(frame, dst, src, ethertype::ipv6);
	put_ip6(frame, saddr, daddr, ipproto::icmpv6, 4 + body_len, hop_limit);
	auto icmp = Icmp6View::parse(frame.subspan(eth_len + ip6_len));
	icmp->set_type(type);
	icmp->set_code(code);
	icmp->fill_checksum(saddr, daddr);
	return frame.size();
}

namespace {

// The "unused" word of a destination unreachable, before the quote.
constexpr size_t unreach_unused = 4;
// The largest error datagrams the RFCs let us send, headers included.
constexpr size_t unreach4_max = 576;
constexpr size_t unreach6_max = 1280;

// Informational ICMP messages (queries), which may be answered with an
// error; every other type is an error itself, or unknown.
bool icmp4_is_query(uint8_t type) {
	return type == icmptype::echo_request || type == 13 || type == 15 || type == 17;
}

size_t unreachable4(std::span<std::byte> buf, const MacAddr &dst, const MacAddr &src,
		    std::span<const std::byte> l3, Unreachable why) {
	auto ip = ConstIp4View::parse(l3);
	if (!ip || ip->total_len() < ip->header_len() || ip->frag_offset())
		return 0;
	const Ipv4Addr from = ip->daddr(), to = ip->saddr();
	if (to.is_unspecified() || to.is_multicast() || to.is_broadcast() || to.is_loopback() ||
	    from.is_unspecified() || from.is_multicast() || from.is_broadcast())
		return 0;
	size_t len = std::min<size_t>(ip->total_len(), l3.size());
	if (ip->protocol() == ipproto::icmp &&
	    (len <= ip->header_len() || !icmp4_is_query(uint8_t(l3[ip->header_len()]))))
		return 0;
	len = std::min(len, unreach4_max - ip4_len - IcmpView::hdr_len);
	const size_t body = unreach_unused + len;
	if (buf.size() < frame::icmp4_body_off + body)
		return 0;
	std::byte *b = buf.data() + frame::icmp4_body_off;
	std::memset(b, 0, unreach_unused);
	std::memcpy(b + unreach_unused, l3.data(), len);
	const uint8_t code = why == Unreachable::Net ? 0 : why == Unreachable::Host ? 1 : 13;
	return build_icmp4_inplace(buf, dst, src, from, to, icmptype::dest_unreach, code, body);
}

size_t unreachable6(std::span<std::byte> buf, const MacAddr &dst, const MacAddr &src,
		    std::span<const std::byte> l3, Unreachable why) {
	auto ip = ConstIp6View::parse(l3);
	if (!ip || ip->l4_info().frag_offset)
		return 0;
	const Ipv6Addr from = ip->daddr(), to = ip->saddr();
	if (to.is_unspecified() || to.is_multicast() || to.is_loopback() || from.is_unspecified() ||
	    from.is_multicast())
		return 0;
	if (ip->proto() == ipproto::icmpv6 &&
	    (ip->l4().empty() || uint8_t(ip->l4()[0]) < icmp6type::echo_request))
		return 0;
	const size_t len = std::min(ip->bytes().size(), unreach6_max - ip6_len - IcmpView::hdr_len);
	const size_t body = unreach_unused + len;
	if (buf.size() < frame::icmp6_body_off + body)
		return 0;
	std::byte *b = buf.data() + frame::icmp6_body_off;
	std::memset(b, 0, unreach_unused);
	std::memcpy(b + unreach_unused, l3.data(), len);
	const uint8_t code = why == Unreachable::Net ? 0 : why == Unreachable::Host ? 3 : 1;
	return build_icmp6_inplace(buf, dst, src, from, to, icmp6type::dest_unreach, code, body,
				   64);
}

} // namespace

size_t build_unreachable(std::span<std::byte> buf, const MacAddr &dst, const MacAddr &src,
			 std::span<const std::byte> l3, Unreachable why) {
	if (l3.empty())
		return 0;
	switch (uint8_t(l3[0]) >> 4) {
	case 4: return unreachable4(buf, dst, src, l3, why);
	case 6: return unreachable6(buf, dst, src, l3, why);
	default: return 0;
	}
}

size_t build_arp(std::span<std::byte> buf, const MacAddr &eth_dst, const MacAddr &eth_src,
		 uint16_t op, const MacAddr &sha, Ipv4Addr spa, const MacAddr &tha, Ipv4Addr tpa) {
	if (buf.size() < frame::arp_len)
		return 0;
	auto frame = buf.first(frame::arp_len);
	put_eth(frame, eth_dst, eth_src, ethertype::arp);
	auto arp = ArpView::init(frame.subspan(eth_len));
	arp->set_op(op);
	arp->set_sha(sha);
	arp->set_spa(spa);
	arp->set_tha(tha);
	arp->set_tpa(tpa);
	return frame.size();
}

} // namespace passt
