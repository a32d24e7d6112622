// UDP header view (RFC 768).
//
//   0 sport  2 dport  4 length (header + data)  6 checksum  8 data...
//
// parse() checks 8 <= length <= span and trims the view to the length.
// The checksum covers a pseudo-header (see checksum.h); over IPv4 a zero
// checksum means "not computed", over IPv6 it is mandatory (RFC 8200 8.1),
// and a computed zero is sent as 0xffff.
#pragma once

#include <optional>

#include "passt/net/addr.h"
#include "passt/net/checksum.h"
#include "passt/net/view.h"

namespace passt {

template <ByteType B> class BasicUdpView {
public:
	using Bytes = std::span<B>;
	static constexpr size_t hdr_len = 8;

	static std::optional<BasicUdpView> parse(Bytes seg) {
		if (seg.size() < hdr_len)
			return std::nullopt;
		size_t len = detail::ld16(seg, 4);
		if (len < hdr_len || len > seg.size())
			return std::nullopt;
		return BasicUdpView(seg.first(len));
	}
	// For building: zeroes the header; the view covers all of buf.
	static std::optional<BasicUdpView> init(Bytes buf) requires MutableByte<B> {
		if (buf.size() < hdr_len)
			return std::nullopt;
		__builtin_memset(buf.data(), 0, hdr_len);
		return BasicUdpView(buf);
	}
	template <ByteType O> requires(!MutableByte<B> && MutableByte<O>)
	BasicUdpView(const BasicUdpView<O> &o) : s_(o.bytes()) {} // NOLINT

	uint16_t sport() const { return detail::ld16(s_, 0); }
	uint16_t dport() const { return detail::ld16(s_, 2); }
	uint16_t length() const { return detail::ld16(s_, 4); }
	be16 checksum() const { return detail::ldraw16(s_, 6); }
	Bytes payload() const { return s_.subspan(hdr_len); }
	Bytes bytes() const { return s_; }

	// Valid checksum, or none (zero) over IPv4.
	bool checksum_ok4(Ipv4Addr saddr, Ipv4Addr daddr) const {
		return checksum().raw == 0 ||
		       l4_checksum4(saddr, daddr, ipproto::udp, cbytes()).raw == 0;
	}
	bool checksum_ok6(const Ipv6Addr &saddr, const Ipv6Addr &daddr) const {
		return checksum().raw != 0 &&
		       l4_checksum6(saddr, daddr, ipproto::udp, cbytes()).raw == 0;
	}

	void set_sport(uint16_t p) requires MutableByte<B> { detail::st16(s_, 0, p); }
	void set_dport(uint16_t p) requires MutableByte<B> { detail::st16(s_, 2, p); }
	void set_length(uint16_t l) requires MutableByte<B> { detail::st16(s_, 4, l); }
	void set_checksum(be16 c) requires MutableByte<B> { detail::straw16(s_, 6, c); }
	// Compute over the first length() bytes of the view (set length first).
	void fill_checksum4(Ipv4Addr saddr, Ipv4Addr daddr) requires MutableByte<B> {
		set_checksum(be16{});
		store_nonzero(l4_checksum4(saddr, daddr, ipproto::udp, cbytes()));
	}
	void fill_checksum6(const Ipv6Addr &saddr, const Ipv6Addr &daddr) requires MutableByte<B> {
		set_checksum(be16{});
		store_nonzero(l4_checksum6(saddr, daddr, ipproto::udp, cbytes()));
	}

private:
	explicit BasicUdpView(Bytes s) : s_(s) {}
	// Header + data as declared by the length field (clamped to the view).
	std::span<const std::byte> cbytes() const {
		size_t len = length() < s_.size() ? length() : s_.size();
		return std::span<const std::byte>(s_.data(), len);
	}
	void store_nonzero(be16 c) requires MutableByte<B> {
		set_checksum(c.raw ? c : be16{0xffff});
	}

	Bytes s_;
};

using UdpView = BasicUdpView<std::byte>;
using ConstUdpView = BasicUdpView<const std::byte>;

} // namespace passt
