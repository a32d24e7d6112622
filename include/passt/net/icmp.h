// ICMP (v4, RFC 792) header view.
//
//   0 type  1 code  2 checksum  4 rest of header (echo: id, seq)  8 data...
//
// parse() requires the 8-byte header; the view covers the whole message
// (the IPv4 layer has already trimmed it). The checksum covers the message
// only, no pseudo-header.
#pragma once

#include <optional>

#include "passt/net/checksum.h"
#include "passt/net/view.h"

namespace passt {

namespace icmptype {
inline constexpr uint8_t echo_reply = 0;
inline constexpr uint8_t dest_unreach = 3;
inline constexpr uint8_t echo_request = 8;
inline constexpr uint8_t time_exceeded = 11;
inline constexpr uint8_t param_problem = 12;
} // namespace icmptype

template <ByteType B> class BasicIcmpView {
public:
	using Bytes = std::span<B>;
	static constexpr size_t hdr_len = 8;

	static std::optional<BasicIcmpView> parse(Bytes msg) {
		if (msg.size() < hdr_len)
			return std::nullopt;
		return BasicIcmpView(msg);
	}
	// For building: zeroes the 8-byte header; the view covers all of buf.
	static std::optional<BasicIcmpView> init(Bytes buf) requires MutableByte<B> {
		if (buf.size() < hdr_len)
			return std::nullopt;
		__builtin_memset(buf.data(), 0, hdr_len);
		return BasicIcmpView(buf);
	}
	template <ByteType O> requires(!MutableByte<B> && MutableByte<O>)
	BasicIcmpView(const BasicIcmpView<O> &o) : s_(o.bytes()) {} // NOLINT

	uint8_t type() const { return detail::ld8(s_, 0); }
	uint8_t code() const { return detail::ld8(s_, 1); }
	be16 checksum() const { return detail::ldraw16(s_, 2); }
	// Echo request/reply identifier and sequence number.
	uint16_t id() const { return detail::ld16(s_, 4); }
	uint16_t seq() const { return detail::ld16(s_, 6); }
	uint32_t rest() const { return detail::ld32(s_, 4); }
	// Everything after type/code/checksum (id, seq and data for echo).
	Bytes body() const { return s_.subspan(4); }
	// Everything after the 8-byte header.
	Bytes data() const { return s_.subspan(hdr_len); }
	Bytes bytes() const { return s_; }

	bool checksum_ok() const { return inet_checksum(std::span<const std::byte>(s_)).raw == 0; }

	void set_type(uint8_t v) requires MutableByte<B> { detail::st8(s_, 0, v); }
	void set_code(uint8_t v) requires MutableByte<B> { detail::st8(s_, 1, v); }
	void set_checksum(be16 c) requires MutableByte<B> { detail::straw16(s_, 2, c); }
	void set_id(uint16_t v) requires MutableByte<B> { detail::st16(s_, 4, v); }
	void set_seq(uint16_t v) requires MutableByte<B> { detail::st16(s_, 6, v); }
	void set_rest(uint32_t v) requires MutableByte<B> { detail::st32(s_, 4, v); }
	// Checksum over the whole view: build a view of exactly the message.
	void fill_checksum() requires MutableByte<B> {
		set_checksum(be16{});
		set_checksum(inet_checksum(std::span<const std::byte>(s_)));
	}

private:
	explicit BasicIcmpView(Bytes s) : s_(s) {}
	Bytes s_;
};

using IcmpView = BasicIcmpView<std::byte>;
using ConstIcmpView = BasicIcmpView<const std::byte>;

} // namespace passt
