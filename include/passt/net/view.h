// Common pieces of the header views (eth.h, ip4.h, ...).
//
// Every wire-format view is a class template over the byte type B, which is
// either std::byte (a frame we may write: setters are enabled) or
// const std::byte (read-only). Aliases name the two: Ip4View / ConstIp4View.
// A view is two or three words (a span plus a cached length) and is passed
// by value. parse() validates and never reads outside the span; init()
// (mutable views only) prepares a header for building a frame.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

#include "passt/net/byteorder.h"

namespace passt {

// std::byte or const std::byte.
template <class B>
concept ByteType = std::is_same_v<std::remove_const_t<B>, std::byte>;

// True for the byte type of writable views.
template <class B>
concept MutableByte = std::is_same_v<B, std::byte>;

// IP protocol numbers (IPv4 protocol field, IPv6 next header).
namespace ipproto {
inline constexpr uint8_t hopopts = 0;
inline constexpr uint8_t icmp = 1;
inline constexpr uint8_t tcp = 6;
inline constexpr uint8_t udp = 17;
inline constexpr uint8_t routing = 43;
inline constexpr uint8_t fragment = 44;
inline constexpr uint8_t icmpv6 = 58;
inline constexpr uint8_t none = 59;
inline constexpr uint8_t dstopts = 60;
} // namespace ipproto

namespace detail {

template <ByteType B> inline uint16_t ld16(std::span<B> s, size_t off) {
	return load_be16(s.data() + off);
}
template <ByteType B> inline uint32_t ld32(std::span<B> s, size_t off) {
	return load_be32(s.data() + off);
}
inline void st16(std::span<std::byte> s, size_t off, uint16_t v) { store_be16(s.data() + off, v); }
inline void st32(std::span<std::byte> s, size_t off, uint32_t v) { store_be32(s.data() + off, v); }
template <ByteType B> inline uint8_t ld8(std::span<B> s, size_t off) { return uint8_t(s[off]); }
inline void st8(std::span<std::byte> s, size_t off, uint8_t v) { s[off] = std::byte(v); }
// Raw (network order) 16-bit field, for checksums.
template <ByteType B> inline be16 ldraw16(std::span<B> s, size_t off) {
	be16 v;
	__builtin_memcpy(&v.raw, s.data() + off, 2);
	return v;
}
inline void straw16(std::span<std::byte> s, size_t off, be16 v) {
	__builtin_memcpy(s.data() + off, &v.raw, 2);
}

} // namespace detail
} // namespace passt
