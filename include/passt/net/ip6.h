// IPv6 header view (RFC 8200).
//
//   0 ver|tc|flow label (4 bytes)  4 payload length  6 next header
//   7 hop limit  8 saddr  24 daddr  40 extension headers... upper layer
//
// parse() checks version 6 and 40 + payload length <= span, trims the view
// to that length, then walks the extension headers this daemon may meet
// (hop-by-hop, which must come first; routing; destination options;
// fragment) to find the upper-layer protocol and its offset. Any header
// running off the end of the payload, a misplaced hop-by-hop header or more
// than ip6_max_ext_hdrs headers make the packet malformed. Other next-header
// values (AH, ESP, no next header, unknown) end the walk and are reported as
// proto(). For a non-first fragment the walk stops after the fragment header:
// l4() is then fragment data, not an upper-layer header (see is_fragment()).
#pragma once

#include <optional>

#include "passt/net/addr.h"
#include "passt/net/checksum.h"
#include "passt/net/view.h"

namespace passt {

// Most extension headers ip6_walk_ext() follows before giving up.
inline constexpr unsigned ip6_max_ext_hdrs = 16;

// Result of the extension header walk.
struct Ip6L4Info {
	uint8_t proto = ipproto::none; // upper-layer protocol (or where the walk stopped)
	size_t offset = 0;             // of the upper layer, from the start of the payload
	bool has_frag = false;         // a fragment header was seen
	bool frag_more = false;        // its M flag
	uint16_t frag_offset = 0;      // its offset, in bytes
	uint32_t frag_id = 0;          // its identification
};

// Walk the extension headers at the start of payload (the bytes after the
// fixed header, already trimmed to the payload length), first_nh being the
// fixed header's next header field. nullopt if malformed.
std::optional<Ip6L4Info> ip6_walk_ext(std::span<const std::byte> payload, uint8_t first_nh);

template <ByteType B> class BasicIp6View {
public:
	using Bytes = std::span<B>;
	static constexpr size_t hdr_len = 40;

	static std::optional<BasicIp6View> parse(Bytes pkt) {
		if (pkt.size() < hdr_len || (detail::ld8(pkt, 0) >> 4) != 6)
			return std::nullopt;
		size_t plen = detail::ld16(pkt, 4);
		if (plen > pkt.size() - hdr_len)
			return std::nullopt;
		Bytes s = pkt.first(hdr_len + plen);
		auto info = ip6_walk_ext(std::span<const std::byte>(s.subspan(hdr_len)),
					 detail::ld8(pkt, 6));
		if (!info)
			return std::nullopt;
		return BasicIp6View(s, *info);
	}
	// For building: version 6, traffic class and flow label 0, other fields
	// zeroed. The view covers all of buf; payload() = l4() = buf[40..] and
	// proto() = ipproto::none until a frame is re-parsed.
	static std::optional<BasicIp6View> init(Bytes buf) requires MutableByte<B> {
		if (buf.size() < hdr_len)
			return std::nullopt;
		__builtin_memset(buf.data(), 0, hdr_len);
		detail::st8(buf, 0, 0x60);
		return BasicIp6View(buf, Ip6L4Info{});
	}
	template <ByteType O> requires(!MutableByte<B> && MutableByte<O>)
	BasicIp6View(const BasicIp6View<O> &o) : s_(o.bytes()), info_(o.l4_info()) {} // NOLINT

	uint8_t traffic_class() const { return uint8_t(detail::ld16(s_, 0) >> 4); }
	uint32_t flow_label() const { return detail::ld32(s_, 0) & 0xfffff; }
	uint16_t payload_len() const { return detail::ld16(s_, 4); }
	uint8_t next_header() const { return detail::ld8(s_, 6); }
	uint8_t hop_limit() const { return detail::ld8(s_, 7); }
	Ipv6Addr saddr() const { return addr_at(8); }
	Ipv6Addr daddr() const { return addr_at(24); }
	Bytes header() const { return s_.first(hdr_len); }
	// Everything after the fixed header (extension headers included).
	Bytes payload() const { return s_.subspan(hdr_len); }
	Bytes bytes() const { return s_; }

	// Upper-layer protocol, its bytes and offset from the start of the
	// IPv6 header, as found by parse().
	uint8_t proto() const { return info_.proto; }
	Bytes l4() const { return s_.subspan(hdr_len + info_.offset); }
	size_t l4_offset() const { return hdr_len + info_.offset; }
	const Ip6L4Info &l4_info() const { return info_; }
	// Part of a fragmented datagram (not an atomic fragment).
	bool is_fragment() const {
		return info_.has_frag && (info_.frag_more || info_.frag_offset);
	}

	void set_traffic_class(uint8_t tc) requires MutableByte<B> {
		uint32_t w = detail::ld32(s_, 0);
		detail::st32(s_, 0, (w & 0xf00fffff) | (uint32_t(tc) << 20));
	}
	void set_flow_label(uint32_t fl) requires MutableByte<B> {
		uint32_t w = detail::ld32(s_, 0);
		detail::st32(s_, 0, (w & 0xfff00000) | (fl & 0xfffff));
	}
	void set_payload_len(uint16_t v) requires MutableByte<B> { detail::st16(s_, 4, v); }
	void set_next_header(uint8_t v) requires MutableByte<B> { detail::st8(s_, 6, v); }
	void set_hop_limit(uint8_t v) requires MutableByte<B> { detail::st8(s_, 7, v); }
	void set_saddr(const Ipv6Addr &a) requires MutableByte<B> { put_addr(8, a); }
	void set_daddr(const Ipv6Addr &a) requires MutableByte<B> { put_addr(24, a); }

private:
	BasicIp6View(Bytes s, const Ip6L4Info &info) : s_(s), info_(info) {}
	Ipv6Addr addr_at(size_t off) const {
		Ipv6Addr a;
		__builtin_memcpy(a.b.data(), s_.data() + off, 16);
		return a;
	}
	void put_addr(size_t off, const Ipv6Addr &a) requires MutableByte<B> {
		__builtin_memcpy(s_.data() + off, a.b.data(), 16);
	}

	Bytes s_;
	Ip6L4Info info_;
};

using Ip6View = BasicIp6View<std::byte>;
using ConstIp6View = BasicIp6View<const std::byte>;

} // namespace passt
