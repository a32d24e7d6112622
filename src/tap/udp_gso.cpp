// Software segmentation of UDP GSO frames; see include/passt/tap/udp_gso.h.
#include "passt/tap/udp_gso.h"

#include <cstring>

#include "passt/net/byteorder.h"
#include "passt/net/checksum.h"
#include "passt/net/eth.h"
#include "passt/net/ip4.h"
#include "passt/net/ip6.h"
#include "passt/net/udp.h"

namespace passt {

namespace {

constexpr size_t UDP_CSUM_OFF = 6;

UdpGsoResult refuse(const char *why) { return UdpGsoResult{0, why}; }

void put16(std::byte *p, uint16_t v) {
	p[0] = std::byte(v >> 8);
	p[1] = std::byte(v);
}

// What the headers of the frame say, once checked.
struct Layout {
	bool v4;
	size_t l3_off = EthView::hdr_len; // IP header
	size_t udp_off;                   // UDP header, from the frame start
	size_t payload;                   // UDP payload bytes of the whole frame
	uint16_t ip_id;
	Ipv4Addr s4, d4;
	Ipv6Addr s6, d6;
};

const char *check_frame(std::span<const std::byte> frame, const VirtioNetHdr &vh, Layout &l) {
	auto eth = ConstEthView::parse(frame);
	if (!eth)
		return "truncated Ethernet header";
	size_t l4len;
	if (eth->ethertype() == ethertype::ipv4) {
		auto ip = ConstIp4View::parse(eth->payload());
		if (!ip)
			return "bad IPv4 header or length";
		if (ip->protocol() != ipproto::udp)
			return "not UDP";
		if (ip->is_fragment())
			return "IPv4 fragment";
		if (!ip->checksum_ok())
			return "bad IPv4 header checksum";
		l.v4 = true;
		l.udp_off = l.l3_off + ip->header_len();
		l4len = ip->payload().size();
		l.ip_id = ip->id();
		l.s4 = ip->saddr();
		l.d4 = ip->daddr();
	} else if (eth->ethertype() == ethertype::ipv6) {
		auto ip = ConstIp6View::parse(eth->payload());
		if (!ip)
			return "bad IPv6 header or length";
		if (ip->is_fragment() || ip->l4_info().has_frag)
			return "IPv6 fragment";
		if (ip->proto() != ipproto::udp)
			return "not UDP";
		l.v4 = false;
		l.udp_off = l.l3_off + ip->l4_offset();
		l4len = ip->l4().size();
		l.ip_id = 0;
		l.s6 = ip->saddr();
		l.d6 = ip->daddr();
	} else {
		return "not IP";
	}
	if (l.udp_off + UdpView::hdr_len > UDP_GSO_HDR_MAX)
		return "headers too long";
	if (l.udp_off > frame.size() || l4len > frame.size() - l.udp_off)
		return "truncated";
	auto udp = ConstUdpView::parse(frame.subspan(l.udp_off, l4len));
	if (!udp || udp->length() != l4len)
		return "UDP length disagrees with IP length";
	l.payload = l4len - UdpView::hdr_len;

	if (vh.flags & vnet::F_NEEDS_CSUM) {
		// The field holds a pseudo-header sum, not a checksum: nothing to
		// verify, but it must be the UDP checksum the kernel left to us.
		if (vnet::le(vh.csum_start) != l.udp_off ||
		    vnet::le(vh.csum_offset) != UDP_CSUM_OFF)
			return "partial checksum not at the UDP checksum";
	} else if (l.v4 ? !udp->checksum_ok4(l.s4, l.d4) : !udp->checksum_ok6(l.s6, l.d6)) {
		return "bad UDP checksum";
	}
	return nullptr;
}

// Fill in the lengths and checksums of segment k of its frame, len payload
// bytes at seg, behind a copy of the frame's headers.
void finish_segment(std::span<std::byte> seg, const Layout &l, size_t k, size_t len) {
	std::byte *ip = seg.data() + l.l3_off;
	const size_t l3hdr = l.udp_off - l.l3_off;
	const size_t l4len = UdpView::hdr_len + len;
	if (l.v4) {
		put16(ip + 2, uint16_t(l3hdr + l4len));
		put16(ip + 4, uint16_t(l.ip_id + k));
		// The views parse by construction (checked template, our lengths).
		if (auto v = Ip4View::parse(seg.subspan(l.l3_off)))
			v->fill_checksum();
	} else {
		put16(ip + 4, uint16_t(l3hdr - Ip6View::hdr_len + l4len));
	}
	put16(seg.data() + l.udp_off + 4, uint16_t(l4len));
	auto udp = UdpView::parse(seg.subspan(l.udp_off));
	if (udp && l.v4)
		udp->fill_checksum4(l.s4, l.d4);
	else if (udp)
		udp->fill_checksum6(l.s6, l.d6);
}

} // namespace

UdpGsoResult udp_gso_split(std::span<std::byte> buf, size_t frame_len, const VirtioNetHdr &vh,
			   std::span<std::span<std::byte>> out) {
	if (frame_len > buf.size())
		return refuse("frame larger than its buffer");
	Layout l;
	if (const char *e = check_frame(buf.first(frame_len), vh, l))
		return refuse(e);
	const size_t g = vnet::le(vh.gso_size);
	if (g == 0)
		return refuse("gso_size 0");

	const size_t hlen = l.udp_off + UdpView::hdr_len; // bytes before the payload
	const size_t n = l.payload <= g ? 1 : (l.payload + g - 1) / g;
	if (n > out.size() || n > UDP_GSO_MAX_SEGS)
		return refuse("too many segments");
	const size_t stride = (hlen + g + 7) & ~size_t(7);
	const size_t last = l.payload - (n - 1) * g;
	if ((n - 1) * stride + hlen + last > buf.size())
		return refuse("no room to split");

	// From the last segment back: segment k moves k headers' worth (and
	// padding) to the right, into space no unmoved segment occupies, and
	// the template header at the start stays intact until segment 0.
	std::byte *const base = buf.data();
	for (size_t k = n; k-- > 0;) {
		const size_t len = k == n - 1 ? last : g;
		std::byte *seg = base + k * stride;
		if (k) {
			std::memmove(seg + hlen, base + hlen + k * g, len);
			std::memcpy(seg, base, hlen);
		}
		std::span<std::byte> s(seg, hlen + len);
		finish_segment(s, l, k, len);
		out[k] = s;
	}
	return UdpGsoResult{n, nullptr};
}

} // namespace passt
