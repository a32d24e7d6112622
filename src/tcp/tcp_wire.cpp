// TCP translator, the guest's side of the wire: parse the guest's frames
// into segments, write Ethernet/IP/TCP frames towards the guest (control
// segments here, data segments for tcp_to_guest.cpp), and answer segments
// that belong to no connection with an RST.
#include <cstring>

#include "passt/net/checksum.h"
#include "passt/net/eth.h"
#include "passt/net/ip4.h"
#include "passt/net/ip6.h"
#include "passt/tap/vnet.h"
#include "tcp_priv.h"

namespace passt::tcp_detail {

// Write Ethernet, IP and TCP headers at frame; the TCP options (opt_len
// bytes) and payload (plen bytes) must already follow the 20-byte TCP
// header. gso_mss != 0 asks the backend to segment (and to complete the
// checksum); otherwise the checksum is computed here. Fills tf.
void write_frame(const TcpCtx &ctx, const Ends &e, std::byte *frame, size_t opt_len, size_t plen,
		 uint8_t flags, uint32_t seq, uint32_t ack, uint16_t wnd, size_t gso_mss,
		 TapFrame &tf) {
	const bool v4 = e.src.is_v4();
	const size_t iphl = l3_len(e.src);
	const size_t thl = TCP_HLEN + opt_len;
	const size_t l4len = thl + plen;
	const size_t total = ETH_LEN + iphl + l4len;
	std::span<std::byte> buf(frame, total);

	auto eth = *EthView::init(buf);
	eth.set_dst(ctx.tap.guest_mac);
	eth.set_src(ctx.c.our_tap_mac);
	eth.set_ethertype(v4 ? ethertype::ipv4 : ethertype::ipv6);

	std::span<std::byte> l4 = buf.subspan(ETH_LEN + iphl);
	auto th = *TcpView::init(l4.first(TCP_HLEN));
	th.set_sport(e.sport);
	th.set_dport(e.dport);
	th.set_seq(seq);
	th.set_ack_seq(ack);
	th.set_flags(flags);
	th.set_window(wnd);
	// Data offset by hand: the view above only covers the fixed header.
	l4[12] = std::byte(uint8_t((thl / 4) << 4));

	tf = TapFrame{};
	tf.frame = std::span<const std::byte>(frame, total);
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

	if (gso_mss) {
		uint64_t ph = v4 ? pseudo_header4(e.src.v4(), e.dst.v4(), ipproto::tcp,
						  uint16_t(l4len))
				 : pseudo_header6(e.src.v6(), e.dst.v6(), ipproto::tcp,
						  uint32_t(l4len));
		uint16_t folded = csum_fold(ph);
		std::memcpy(l4.data() + 16, &folded, 2);
		tf.needs_csum = true;
		tf.csum_start = uint16_t(ETH_LEN + iphl);
		tf.csum_offset = 16;
		if (plen > gso_mss) {
			tf.gso_type = v4 ? vnet::GSO_TCPV4 : vnet::GSO_TCPV6;
			tf.gso_size = uint16_t(gso_mss);
			tf.hdr_len = uint16_t(ETH_LEN + iphl + thl);
		}
	} else {
		std::span<const std::byte> seg(l4.data(), l4len);
		be16 sum = v4 ? l4_checksum4(e.src.v4(), e.dst.v4(), ipproto::tcp, seg)
			      : l4_checksum6(e.src.v6(), e.dst.v6(), ipproto::tcp, seg);
		std::memcpy(l4.data() + 16, &sum.raw, 2);
	}
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
	alignas(8) std::byte buf[ETH_LEN + 40 + 60];
	size_t opt_len = 0;
	if (opts) {
		std::span<std::byte> o(buf + ETH_LEN + l3_len(e.src) + TCP_HLEN, 40);
		opt_len = tcp_write_options(o, *opts);
	}
	TapFrame tf;
	write_frame(ctx, e, buf, opt_len, 0, flags, seq, ack, wnd, 0, tf);
	bool ok = ctx.out.send_frames(std::span<const TapFrame>(&tf, 1)) == 1;
	if (flags & tcpflag::rst)
		ctx.stats.rst_to_guest++;
	return ok;
}

// The TCP checksum is verified unless the backend has offloads: then the
// namespace kernel hands over partial checksums which the backend itself
// completed (tap_tun.h), so checking them again would only cost a pass over
// up to 64 KiB per segment. The IPv4 header checksum is always checked.
std::optional<Seg> parse_seg(const TcpCtx &ctx, std::span<std::byte> frame) {
	const bool verify = !ctx.out.offloads();
	auto eth = ConstEthView::parse(frame);
	if (!eth)
		return std::nullopt;
	Seg s{};
	std::span<const std::byte> l4;
	if (eth->ethertype() == ethertype::ipv4 && ctx.c.ip4.enabled) {
		auto ip = ConstIp4View::parse(eth->payload());
		if (!ip || ip->protocol() != ipproto::tcp || ip->is_fragment() || !ip->checksum_ok())
			return std::nullopt;
		s.src = InAny(ip->saddr());
		s.dst = InAny(ip->daddr());
		l4 = ip->payload();
		auto th = ConstTcpView::parse(l4);
		if (!th || (verify && !th->checksum_ok4(ip->saddr(), ip->daddr())))
			return std::nullopt;
	} else if (eth->ethertype() == ethertype::ipv6 && ctx.c.ip6.enabled) {
		auto ip = ConstIp6View::parse(eth->payload());
		if (!ip || ip->proto() != ipproto::tcp || ip->is_fragment())
			return std::nullopt;
		s.src = InAny(ip->saddr());
		s.dst = InAny(ip->daddr());
		if (ip->saddr().is_v4mapped() || ip->daddr().is_v4mapped())
			return std::nullopt;
		l4 = ip->l4();
		auto th = ConstTcpView::parse(l4);
		if (!th || (verify && !th->checksum_ok6(ip->saddr(), ip->daddr())))
			return std::nullopt;
	} else {
		return std::nullopt;
	}
	auto th = *ConstTcpView::parse(l4);
	s.sport = th.sport();
	s.dport = th.dport();
	s.seq = th.seq();
	s.ack = th.ack_seq();
	s.flags = th.flags();
	s.wnd = th.window();
	s.payload = th.payload();
	if (s.flags & tcpflag::syn)
		s.opts = th.parse_options();
	if (!s.sport || !s.dport)
		return std::nullopt;
	return s;
}

// RFC 9293 3.10.7.1: RST for a segment that belongs to no connection.
void rst_unmatched(TcpCtx &ctx, const Seg &s) {
	if (s.flags & tcpflag::rst)
		return;
	Ends e{s.dst, s.src, s.dport, s.sport, 0};
	if (s.flags & tcpflag::ack) {
		send_ctrl_raw(ctx, e, tcpflag::rst, s.ack, 0, 0, nullptr);
	} else {
		uint32_t len = uint32_t(s.payload.size()) + ((s.flags & tcpflag::syn) ? 1 : 0) +
			       ((s.flags & tcpflag::fin) ? 1 : 0);
		send_ctrl_raw(ctx, e, tcpflag::rst | tcpflag::ack, 0, s.seq + len, 0, nullptr);
	}
}

} // namespace passt::tcp_detail
