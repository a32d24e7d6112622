// TCP translator, the guest's side of the wire: parse the guest's frames
// into TcpReprs, write Ethernet/IP/TCP frames towards the guest (control
// segments here, data segments for tcp_to_guest.cpp), and answer segments
// that belong to no connection with an RST.
#include "passt/net/eth.h"
#include "passt/net/ip4.h"
#include "passt/net/ip6.h"
#include "passt/tap/vnet.h"
#include "tcp_priv.h"

namespace passt::tcp_detail {

namespace {

// The Ethernet and IP headers of a frame carrying l4len bytes of TCP
// between the ends e, at the start of buf.
void write_l2_l3(const TcpCtx &ctx, const Ends &e, std::span<std::byte> buf, size_t l4len) {
	const bool v4 = e.src.is_v4();
	const size_t iphl = l3_len(e.src);
	auto eth = *EthView::init(buf);
	eth.set_dst(ctx.tap.guest_mac);
	eth.set_src(ctx.c.our_tap_mac);
	eth.set_ethertype(v4 ? ethertype::ipv4 : ethertype::ipv6);
	if (v4) {
		auto ip = *Ip4View::init(buf.subspan(ETH_LEN, 20));
		ip.set_total_len(uint16_t(iphl + l4len));
		ip.set_frag(true, false, 0);
		ip.set_ttl(64);
		ip.set_protocol(ipproto::tcp);
		ip.set_saddr(e.src.v4());
		ip.set_daddr(e.dst.v4());
		ip.fill_checksum();
	} else {
		auto ip = *Ip6View::init(buf.subspan(ETH_LEN, 40));
		ip.set_flow_label(e.label);
		ip.set_payload_len(uint16_t(l4len));
		ip.set_next_header(ipproto::tcp);
		ip.set_hop_limit(64);
		ip.set_saddr(e.src.v6());
		ip.set_daddr(e.dst.v6());
	}
}

// The offloads of a frame whose TCP checksum is partial: segmentation
// into gso_mss chunks if its payload is longer.
void ask_offloads(const Ends &e, const TcpRepr &r, size_t payload_len, size_t gso_mss,
		  TapFrame &tf) {
	const size_t iphl = l3_len(e.src);
	tf.needs_csum = true;
	tf.csum_start = uint16_t(ETH_LEN + iphl);
	tf.csum_offset = 16;
	if (gso_mss && payload_len > gso_mss) {
		tf.gso_type = e.src.is_v4() ? vnet::GSO_TCPV4 : vnet::GSO_TCPV6;
		tf.gso_size = uint16_t(gso_mss);
		tf.hdr_len = uint16_t(ETH_LEN + iphl + r.header_len());
	}
}

} // namespace

// Write Ethernet and IP headers at frame and the TCP segment r behind them
// (its payload, if any, already in place there: ETH_LEN + l3_len() +
// r.header_len() bytes into frame). gso_mss != 0 asks the backend to
// segment (and to complete the checksum); otherwise the checksum is
// computed here. Fills tf.
void write_frame(const TcpCtx &ctx, const Ends &e, std::byte *frame, const TcpRepr &r,
		 size_t gso_mss, TapFrame &tf) {
	const size_t iphl = l3_len(e.src);
	const size_t l4len = r.segment_len();
	const size_t total = ETH_LEN + iphl + l4len;
	std::span<std::byte> buf(frame, total);
	write_l2_l3(ctx, e, buf, l4len);
	r.emit(buf.subspan(ETH_LEN + iphl), e.src, e.dst, gso_mss ? L4Csum::Partial : L4Csum::Full);
	tf = TapFrame{};
	tf.frame = std::span<const std::byte>(frame, total);
	if (gso_mss)
		ask_offloads(e, r, r.payload.size(), gso_mss, tf);
}

size_t write_headers(const TcpCtx &ctx, const Ends &e, std::byte *hdr, const TcpRepr &r,
		     size_t payload_len, size_t gso_mss, TapFrame &tf) {
	const size_t iphl = l3_len(e.src);
	const size_t hlen = ETH_LEN + iphl + r.header_len();
	std::span<std::byte> buf(hdr, hlen);
	write_l2_l3(ctx, e, buf, r.header_len() + payload_len);
	r.emit_header(buf.subspan(ETH_LEN + iphl), e.src, e.dst, payload_len);
	tf = TapFrame{};
	tf.frame = std::span<const std::byte>(hdr, hlen);
	ask_offloads(e, r, payload_len, gso_mss, tf);
	return hlen;
}

// Our MSS for the guest: what fits its MTU.
uint16_t our_mss(const TcpCtx &ctx, bool v4) {
	unsigned mtu = ctx.c.mtu ? ctx.c.mtu : 65520;
	unsigned hdr = (v4 ? 20 : 40) + TCP_HLEN;
	unsigned mss = mtu > hdr + 64 ? mtu - hdr : 536;
	return uint16_t(mss > 65535 - hdr ? 65535 - hdr : mss);
}

// Options of our SYN / SYN-ACK: MSS for the guest's MTU, window scale.
TcpOptions syn_opts(const TcpCtx &ctx, bool v4, bool offer_ws) {
	TcpOptions o;
	o.mss = our_mss(ctx, v4);
	if (offer_ws)
		o.wscale = TCP_OUR_WSCALE;
	return o;
}

// A frame without payload (SYN, ACK, FIN, RST) to the guest.
bool send_ctrl_raw(TcpCtx &ctx, const Ends &e, uint8_t flags, uint32_t seq, uint32_t ack,
		   uint16_t wnd, const TcpOptions *opts) {
	alignas(8) std::byte buf[ETH_LEN + 40 + TcpView::max_hdr_len];
	TcpRepr r;
	r.sport = e.sport;
	r.dport = e.dport;
	r.seq = seq;
	r.ack = ack;
	r.flags = flags;
	r.window = wnd;
	if (opts)
		r.opts = *opts;
	TapFrame tf;
	write_frame(ctx, e, buf, r, 0, tf);
	bool ok = ctx.out.send_frames(std::span<const TapFrame>(&tf, 1)) == 1;
	if (flags & tcpflag::rst)
		ctx.stats.rst_to_guest++;
	return ok;
}

namespace {

// The TCP segment of an IPv4 or IPv6 frame, its checksum verified if verify.
std::optional<TcpRepr> parse_l3(const TcpCtx &ctx, const ConstEthView &eth, bool verify,
				FlowSide &g) {
	if (eth.ethertype() == ethertype::ipv4 && ctx.c.ip4.enabled) {
		auto ip = ConstIp4View::parse(eth.payload());
		if (!ip || ip->protocol() != ipproto::tcp || ip->is_fragment() ||
		    !ip->checksum_ok())
			return std::nullopt;
		g.peer_addr = InAny(ip->saddr());
		g.our_addr = InAny(ip->daddr());
		return verify ? TcpRepr::parse4(ip->payload(), ip->saddr(), ip->daddr())
			      : TcpRepr::parse(ip->payload());
	}
	if (eth.ethertype() == ethertype::ipv6 && ctx.c.ip6.enabled) {
		auto ip = ConstIp6View::parse(eth.payload());
		if (!ip || ip->proto() != ipproto::tcp || ip->is_fragment() ||
		    ip->saddr().is_v4mapped() || ip->daddr().is_v4mapped())
			return std::nullopt;
		g.peer_addr = InAny(ip->saddr());
		g.our_addr = InAny(ip->daddr());
		return verify ? TcpRepr::parse6(ip->l4(), ip->saddr(), ip->daddr())
			      : TcpRepr::parse(ip->l4());
	}
	return std::nullopt;
}

} // namespace

// The TCP checksum is verified unless the backend has offloads: then the
// namespace kernel hands over partial checksums which the backend itself
// completed (tap_tun.h), so checking them again would only cost a pass over
// up to 64 KiB per segment. The IPv4 header checksum is always checked.
// g: the guest side the segment names (the guest is the peer).
std::optional<TcpRepr> parse_frame(const TcpCtx &ctx, std::span<std::byte> frame, FlowSide &g) {
	auto eth = ConstEthView::parse(frame);
	if (!eth)
		return std::nullopt;
	auto s = parse_l3(ctx, *eth, !ctx.out.offloads(), g);
	if (!s || !s->sport || !s->dport)
		return std::nullopt;
	g.peer_port = s->sport;
	g.our_port = s->dport;
	return s;
}

// RFC 9293 3.10.7.1: RST for a segment that belongs to no connection.
void rst_unmatched(TcpCtx &ctx, const FlowSide &g, const TcpRepr &s) {
	if (s.flags & tcpflag::rst)
		return;
	Ends e{g.our_addr, g.peer_addr, g.our_port, g.peer_port, 0};
	if (s.flags & tcpflag::ack) {
		send_ctrl_raw(ctx, e, tcpflag::rst, s.ack, 0, 0, nullptr);
	} else {
		uint32_t len = uint32_t(s.payload.size()) + ((s.flags & tcpflag::syn) ? 1 : 0) +
			       ((s.flags & tcpflag::fin) ? 1 : 0);
		send_ctrl_raw(ctx, e, tcpflag::rst | tcpflag::ack, 0, s.seq + len, 0, nullptr);
	}
}

} // namespace passt::tcp_detail
