// ICMPv6 (RFC 4443) header view, with NDP (RFC 4861) constants (NDP options
// are read and written with passt/net/tlv.h, tlv::Ndp).
//
//   0 type  1 code  2 checksum  4 message body...
//   echo: 4 id  6 seq  8 data;  NS/NA: 4 flags/reserved  8 target  24 options
//   RS: 4 reserved  8 options;  RA: 4 cur hop limit  5 flags  6 router
//   lifetime  8 reachable time  12 retrans timer  16 options
//
// parse() requires 8 bytes (every message type has at least that); the view
// covers the whole message. The checksum includes the IPv6 pseudo-header.
// NDP options are type(1) length(1, in units of 8 bytes, never 0) data.
#pragma once

#include <optional>

#include "passt/net/addr.h"
#include "passt/net/checksum.h"
#include "passt/net/view.h"

namespace passt {

namespace icmp6type {
inline constexpr uint8_t dest_unreach = 1;
inline constexpr uint8_t packet_too_big = 2;
inline constexpr uint8_t time_exceeded = 3;
inline constexpr uint8_t param_problem = 4;
inline constexpr uint8_t echo_request = 128;
inline constexpr uint8_t echo_reply = 129;
inline constexpr uint8_t router_solicit = 133;   // RS
inline constexpr uint8_t router_advert = 134;    // RA
inline constexpr uint8_t neighbor_solicit = 135; // NS
inline constexpr uint8_t neighbor_advert = 136;  // NA
inline constexpr uint8_t redirect = 137;
} // namespace icmp6type

namespace ndp {
// Offsets of the options within each message (from the ICMPv6 header).
inline constexpr size_t rs_opts_off = 8;
inline constexpr size_t ra_opts_off = 16;
inline constexpr size_t ns_opts_off = 24;
inline constexpr size_t na_opts_off = 24;
inline constexpr size_t target_off = 8; // NS/NA target address
// Neighbor advertisement flags (first 32-bit word after the checksum).
inline constexpr uint32_t na_router = 0x80000000;
inline constexpr uint32_t na_solicited = 0x40000000;
inline constexpr uint32_t na_override = 0x20000000;
// Router advertisement flags (byte 5).
inline constexpr uint8_t ra_managed = 0x80;
inline constexpr uint8_t ra_other = 0x40;
// Prefix information option flags (byte 3 of the option).
inline constexpr uint8_t pi_onlink = 0x80;
inline constexpr uint8_t pi_autonomous = 0x40;
// Option types.
inline constexpr uint8_t opt_source_lladdr = 1;
inline constexpr uint8_t opt_target_lladdr = 2;
inline constexpr uint8_t opt_prefix_info = 3;
inline constexpr uint8_t opt_redirected_hdr = 4;
inline constexpr uint8_t opt_mtu = 5;
inline constexpr uint8_t opt_rdnss = 25; // RFC 8106
inline constexpr uint8_t opt_dnssl = 31; // RFC 8106
// Hop limit every NDP message must carry (RFC 4861 6.1, 7.1).
inline constexpr uint8_t hop_limit = 255;

} // namespace ndp

template <ByteType B> class BasicIcmp6View {
public:
	using Bytes = std::span<B>;
	static constexpr size_t hdr_len = 8;

	static std::optional<BasicIcmp6View> parse(Bytes msg) {
		if (msg.size() < hdr_len)
			return std::nullopt;
		return BasicIcmp6View(msg);
	}
	// For building: zeroes the first 8 bytes; the view covers all of buf.
	static std::optional<BasicIcmp6View> init(Bytes buf) requires MutableByte<B> {
		if (buf.size() < hdr_len)
			return std::nullopt;
		__builtin_memset(buf.data(), 0, hdr_len);
		return BasicIcmp6View(buf);
	}
	template <ByteType O> requires(!MutableByte<B> && MutableByte<O>)
	BasicIcmp6View(const BasicIcmp6View<O> &o) : s_(o.bytes()) {} // NOLINT

	uint8_t type() const { return detail::ld8(s_, 0); }
	uint8_t code() const { return detail::ld8(s_, 1); }
	be16 checksum() const { return detail::ldraw16(s_, 2); }
	uint16_t id() const { return detail::ld16(s_, 4); }  // echo
	uint16_t seq() const { return detail::ld16(s_, 6); } // echo
	// 32-bit word after the checksum (NA flags, MTU, pointer, ...).
	uint32_t word() const { return detail::ld32(s_, 4); }
	// Everything after type/code/checksum.
	Bytes body() const { return s_.subspan(4); }
	// Everything after the first 8 bytes (echo data, RS options, ...).
	Bytes data() const { return s_.subspan(hdr_len); }
	Bytes bytes() const { return s_; }
	// NS/NA target address, nullopt if the message is too short.
	std::optional<Ipv6Addr> target() const {
		if (s_.size() < ndp::target_off + 16)
			return std::nullopt;
		Ipv6Addr a;
		__builtin_memcpy(a.b.data(), s_.data() + ndp::target_off, 16);
		return a;
	}
	// Bytes from offset on (e.g. ndp::ns_opts_off), empty if beyond the end.
	Bytes from(size_t off) const { return off <= s_.size() ? s_.subspan(off) : Bytes(); }

	bool checksum_ok(const Ipv6Addr &saddr, const Ipv6Addr &daddr) const {
		return l4_checksum6(saddr, daddr, ipproto::icmpv6, std::span<const std::byte>(s_))
			       .raw == 0;
	}

	void set_type(uint8_t v) requires MutableByte<B> { detail::st8(s_, 0, v); }
	void set_code(uint8_t v) requires MutableByte<B> { detail::st8(s_, 1, v); }
	void set_checksum(be16 c) requires MutableByte<B> { detail::straw16(s_, 2, c); }
	void set_id(uint16_t v) requires MutableByte<B> { detail::st16(s_, 4, v); }
	void set_seq(uint16_t v) requires MutableByte<B> { detail::st16(s_, 6, v); }
	void set_word(uint32_t v) requires MutableByte<B> { detail::st32(s_, 4, v); }
	// Checksum over the whole view: build a view of exactly the message.
	void fill_checksum(const Ipv6Addr &saddr, const Ipv6Addr &daddr) requires MutableByte<B> {
		set_checksum(be16{});
		set_checksum(l4_checksum6(saddr, daddr, ipproto::icmpv6,
					  std::span<const std::byte>(s_)));
	}

private:
	explicit BasicIcmp6View(Bytes s) : s_(s) {}
	Bytes s_;
};

using Icmp6View = BasicIcmp6View<std::byte>;
using ConstIcmp6View = BasicIcmp6View<const std::byte>;

} // namespace passt
