// ARP (RFC 826) view, Ethernet/IPv4 only.
//
//   htype(2)=1 ptype(2)=0x0800 hlen(1)=6 plen(1)=4 oper(2)
//   sha(6) spa(4) tha(6) tpa(4)                         = 28 bytes
// parse() rejects any other hardware/protocol type or address length.
#pragma once

#include <optional>

#include "passt/net/addr.h"
#include "passt/net/view.h"

namespace passt {

namespace arpop {
inline constexpr uint16_t request = 1;
inline constexpr uint16_t reply = 2;
} // namespace arpop

template <ByteType B> class BasicArpView {
public:
	using Bytes = std::span<B>;
	static constexpr size_t hdr_len = 28;

	// Ethernet/IPv4 ARP packet; trailing bytes (Ethernet padding) are ignored.
	static std::optional<BasicArpView> parse(Bytes pkt) {
		if (pkt.size() < hdr_len)
			return std::nullopt;
		if (detail::ld16(pkt, 0) != 1 || detail::ld16(pkt, 2) != 0x0800 ||
		    detail::ld8(pkt, 4) != 6 || detail::ld8(pkt, 5) != 4)
			return std::nullopt;
		return BasicArpView(pkt.first(hdr_len));
	}
	// For building: writes htype/ptype/hlen/plen; the rest is left as is.
	static std::optional<BasicArpView> init(Bytes buf) requires MutableByte<B> {
		if (buf.size() < hdr_len)
			return std::nullopt;
		detail::st16(buf, 0, 1);
		detail::st16(buf, 2, 0x0800);
		detail::st8(buf, 4, 6);
		detail::st8(buf, 5, 4);
		return BasicArpView(buf.first(hdr_len));
	}
	template <ByteType O> requires(!MutableByte<B> && MutableByte<O>)
	BasicArpView(const BasicArpView<O> &o) : s_(o.bytes()) {} // NOLINT

	uint16_t op() const { return detail::ld16(s_, 6); }
	MacAddr sha() const { return mac_at(8); }
	Ipv4Addr spa() const { return ip_at(14); }
	MacAddr tha() const { return mac_at(18); }
	Ipv4Addr tpa() const { return ip_at(24); }
	Bytes bytes() const { return s_; }

	void set_op(uint16_t op) requires MutableByte<B> { detail::st16(s_, 6, op); }
	void set_sha(const MacAddr &m) requires MutableByte<B> { put(8, m.b.data(), 6); }
	void set_spa(const Ipv4Addr &a) requires MutableByte<B> { put(14, a.b.data(), 4); }
	void set_tha(const MacAddr &m) requires MutableByte<B> { put(18, m.b.data(), 6); }
	void set_tpa(const Ipv4Addr &a) requires MutableByte<B> { put(24, a.b.data(), 4); }

private:
	explicit BasicArpView(Bytes s) : s_(s) {}
	MacAddr mac_at(size_t off) const {
		MacAddr m;
		__builtin_memcpy(m.b.data(), s_.data() + off, 6);
		return m;
	}
	Ipv4Addr ip_at(size_t off) const {
		Ipv4Addr a;
		__builtin_memcpy(a.b.data(), s_.data() + off, 4);
		return a;
	}
	void put(size_t off, const uint8_t *p, size_t n) requires MutableByte<B> {
		__builtin_memcpy(s_.data() + off, p, n);
	}

	Bytes s_;
};

using ArpView = BasicArpView<std::byte>;
using ConstArpView = BasicArpView<const std::byte>;

} // namespace passt
