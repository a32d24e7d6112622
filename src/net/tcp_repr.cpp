// TcpRepr: parse a TCP segment into plain values and write one from them;
// see include/passt/net/tcp_repr.h.
#include "passt/net/tcp_repr.h"

#include <cstring>

namespace passt {

namespace {

std::optional<TcpRepr> from_view(const ConstTcpView &th) {
	TcpRepr r;
	r.opts = th.parse_options();
	r.sport = th.sport();
	r.dport = th.dport();
	r.seq = th.seq();
	r.ack = th.ack_seq();
	r.flags = th.flags();
	r.window = th.window();
	r.urgent = th.urgent();
	r.payload = th.payload();
	return r;
}

} // namespace

std::optional<TcpRepr> TcpRepr::parse(std::span<const std::byte> seg) {
	auto th = ConstTcpView::parse(seg);
	if (!th)
		return std::nullopt;
	return from_view(*th);
}

std::optional<TcpRepr> TcpRepr::parse4(std::span<const std::byte> seg, Ipv4Addr saddr,
				       Ipv4Addr daddr) {
	auto th = ConstTcpView::parse(seg);
	if (!th || !th->checksum_ok4(saddr, daddr))
		return std::nullopt;
	return from_view(*th);
}

std::optional<TcpRepr> TcpRepr::parse6(std::span<const std::byte> seg, const Ipv6Addr &saddr,
				       const Ipv6Addr &daddr) {
	auto th = ConstTcpView::parse(seg);
	if (!th || !th->checksum_ok6(saddr, daddr))
		return std::nullopt;
	return from_view(*th);
}

// The header fields and options into the first header_len() bytes of seg
// (checksum zero).
TcpView TcpRepr::write_header(std::span<std::byte> seg) const {
	auto th = *TcpView::init(seg);
	th.set_sport(sport);
	th.set_dport(dport);
	th.set_seq(seq);
	th.set_ack_seq(ack);
	th.set_flags(flags);
	th.set_window(window);
	th.set_urgent(urgent);
	const size_t hlen = header_len();
	tcp_write_options(seg.subspan(TcpView::min_hdr_len, hlen - TcpView::min_hdr_len), opts);
	th.set_header_len(hlen);
	return th;
}

size_t TcpRepr::emit(std::span<std::byte> out, const InAny &src, const InAny &dst,
		     L4Csum csum) const {
	const size_t hlen = header_len(), len = segment_len();
	if (len > out.size())
		return 0;
	std::span<std::byte> seg = out.first(len);
	std::byte *at = seg.data() + hlen;
	// Payload first: it may sit where the header goes (moved, not copied).
	if (!payload.empty() && payload.data() != at)
		std::memmove(at, payload.data(), payload.size());

	auto th = write_header(seg);
	const bool v4 = src.is_v4();
	if (csum == L4Csum::Partial) {
		if (v4)
			th.fill_pseudo_checksum4(src.v4(), dst.v4());
		else
			th.fill_pseudo_checksum6(src.v6(), dst.v6());
	} else if (v4) {
		th.fill_checksum4(src.v4(), dst.v4());
	} else {
		th.fill_checksum6(src.v6(), dst.v6());
	}
	return len;
}

size_t TcpRepr::emit_header(std::span<std::byte> out, const InAny &src, const InAny &dst,
			    size_t payload_len) const {
	const size_t hlen = header_len();
	if (hlen > out.size() || payload_len > 65535 - hlen)
		return 0;
	auto th = write_header(out.first(hlen));
	if (src.is_v4())
		th.fill_pseudo_checksum4(src.v4(), dst.v4(), hlen + payload_len);
	else
		th.fill_pseudo_checksum6(src.v6(), dst.v6(), hlen + payload_len);
	return hlen;
}

} // namespace passt
