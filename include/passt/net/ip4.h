// IPv4 header view (RFC 791).
//
//   0 ver|ihl  1 tos  2 total length  4 id  6 flags|fragment offset
//   8 ttl  9 protocol  10 header checksum  12 saddr  16 daddr  20 options...
//
// parse() checks version 4, 5 <= IHL, IHL*4 <= total length <= span, and
// trims the view to the total length (Ethernet padding is dropped), so
// payload() is exactly the datagram's payload. Options are skipped, and
// available raw through options(). The header checksum is not checked by
// parse(): call checksum_ok().
#pragma once

#include <optional>

#include "passt/net/addr.h"
#include "passt/net/checksum.h"
#include "passt/net/view.h"

namespace passt {

template <ByteType B> class BasicIp4View {
public:
	using Bytes = std::span<B>;
	static constexpr size_t min_hdr_len = 20;
	static constexpr size_t max_hdr_len = 60;

	static std::optional<BasicIp4View> parse(Bytes pkt) {
		if (pkt.size() < min_hdr_len)
			return std::nullopt;
		uint8_t vihl = detail::ld8(pkt, 0);
		size_t hlen = size_t(vihl & 0x0f) * 4;
		if ((vihl >> 4) != 4 || hlen < min_hdr_len || hlen > pkt.size())
			return std::nullopt;
		size_t tot = detail::ld16(pkt, 2);
		if (tot < hlen || tot > pkt.size())
			return std::nullopt;
		return BasicIp4View(pkt.first(tot), hlen);
	}
	// For building: writes version 4, IHL 5, and zeroes the rest of the
	// 20-byte header. The view covers all of buf, payload() = buf[20..].
	static std::optional<BasicIp4View> init(Bytes buf) requires MutableByte<B> {
		if (buf.size() < min_hdr_len)
			return std::nullopt;
		__builtin_memset(buf.data(), 0, min_hdr_len);
		detail::st8(buf, 0, 0x45);
		return BasicIp4View(buf, min_hdr_len);
	}
	template <ByteType O> requires(!MutableByte<B> && MutableByte<O>)
	BasicIp4View(const BasicIp4View<O> &o) // NOLINT
		: s_(o.bytes()), hlen_(o.header_len()) {}

	size_t header_len() const { return hlen_; }
	uint8_t tos() const { return detail::ld8(s_, 1); }
	uint16_t total_len() const { return detail::ld16(s_, 2); }
	uint16_t id() const { return detail::ld16(s_, 4); }
	bool df() const { return detail::ld8(s_, 6) & 0x40; }
	bool mf() const { return detail::ld8(s_, 6) & 0x20; }
	// Fragment offset in bytes (the field counts 8-byte units).
	uint32_t frag_offset() const { return uint32_t(detail::ld16(s_, 6) & 0x1fff) * 8; }
	// Part of a fragmented datagram (not the whole of it).
	bool is_fragment() const { return mf() || frag_offset(); }
	uint8_t ttl() const { return detail::ld8(s_, 8); }
	uint8_t protocol() const { return detail::ld8(s_, 9); }
	be16 checksum() const { return detail::ldraw16(s_, 10); }
	Ipv4Addr saddr() const { return addr_at(12); }
	Ipv4Addr daddr() const { return addr_at(16); }
	Bytes options() const { return s_.subspan(min_hdr_len, hlen_ - min_hdr_len); }
	Bytes header() const { return s_.first(hlen_); }
	Bytes payload() const { return s_.subspan(hlen_); }
	// Header and payload: the datagram after parse(), all of buf after init().
	Bytes bytes() const { return s_; }

	// Sum over the header, checksum field included, is all ones.
	bool checksum_ok() const {
		return inet_checksum(std::span<const std::byte>(header())).raw == 0;
	}

	void set_tos(uint8_t v) requires MutableByte<B> { detail::st8(s_, 1, v); }
	void set_total_len(uint16_t v) requires MutableByte<B> { detail::st16(s_, 2, v); }
	void set_id(uint16_t v) requires MutableByte<B> { detail::st16(s_, 4, v); }
	// offset_bytes must be a multiple of 8 (low bits are dropped).
	void set_frag(bool dont_frag, bool more, uint32_t offset_bytes) requires MutableByte<B> {
		detail::st16(s_, 6,
			     uint16_t((dont_frag ? 0x4000 : 0) | (more ? 0x2000 : 0) |
				      ((offset_bytes / 8) & 0x1fff)));
	}
	void set_ttl(uint8_t v) requires MutableByte<B> { detail::st8(s_, 8, v); }
	void set_protocol(uint8_t v) requires MutableByte<B> { detail::st8(s_, 9, v); }
	void set_checksum(be16 v) requires MutableByte<B> { detail::straw16(s_, 10, v); }
	void set_saddr(const Ipv4Addr &a) requires MutableByte<B> { put_addr(12, a); }
	void set_daddr(const Ipv4Addr &a) requires MutableByte<B> { put_addr(16, a); }
	// Compute and store the header checksum (after all other fields are set).
	void fill_checksum() requires MutableByte<B> {
		set_checksum(ip4_header_checksum(header()));
	}

private:
	BasicIp4View(Bytes s, size_t hlen) : s_(s), hlen_(hlen) {}
	Ipv4Addr addr_at(size_t off) const {
		Ipv4Addr a;
		__builtin_memcpy(a.b.data(), s_.data() + off, 4);
		return a;
	}
	void put_addr(size_t off, const Ipv4Addr &a) requires MutableByte<B> {
		__builtin_memcpy(s_.data() + off, a.b.data(), 4);
	}

	Bytes s_;
	size_t hlen_;
};

using Ip4View = BasicIp4View<std::byte>;
using ConstIp4View = BasicIp4View<const std::byte>;

} // namespace passt
