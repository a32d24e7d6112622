// Byte order in the type system.
//
// On-wire 16- and 32-bit fields are held as be16/be32, never as plain
// integers, so that mixing host and network order fails to compile. The
// load/store helpers read and write big-endian values at any alignment,
// which is what header views over raw frame bytes need.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace passt {

constexpr uint16_t bswap16_if_le(uint16_t v) {
	if constexpr (std::endian::native == std::endian::little)
		return __builtin_bswap16(v);
	else
		return v;
}

constexpr uint32_t bswap32_if_le(uint32_t v) {
	if constexpr (std::endian::native == std::endian::little)
		return __builtin_bswap32(v);
	else
		return v;
}

constexpr uint64_t bswap64_if_le(uint64_t v) {
	if constexpr (std::endian::native == std::endian::little)
		return __builtin_bswap64(v);
	else
		return v;
}

// A 16-bit value stored in network byte order.
struct be16 {
	uint16_t raw = 0; // network order, as on the wire

	static constexpr be16 from_host(uint16_t v) { return be16{bswap16_if_le(v)}; }
	static constexpr be16 from_raw(uint16_t r) { return be16{r}; }
	constexpr uint16_t host() const { return bswap16_if_le(raw); }
	friend constexpr bool operator==(be16 a, be16 b) = default;
};

// A 32-bit value stored in network byte order.
struct be32 {
	uint32_t raw = 0;

	static constexpr be32 from_host(uint32_t v) { return be32{bswap32_if_le(v)}; }
	static constexpr be32 from_raw(uint32_t r) { return be32{r}; }
	constexpr uint32_t host() const { return bswap32_if_le(raw); }
	friend constexpr bool operator==(be32 a, be32 b) = default;
};

static_assert(sizeof(be16) == 2 && sizeof(be32) == 4);

// Unaligned big-endian accessors over raw bytes. Callers guarantee bounds.
inline uint16_t load_be16(const std::byte *p) {
	uint16_t v;
	std::memcpy(&v, p, sizeof(v));
	return bswap16_if_le(v);
}

inline uint32_t load_be32(const std::byte *p) {
	uint32_t v;
	std::memcpy(&v, p, sizeof(v));
	return bswap32_if_le(v);
}

inline void store_be16(std::byte *p, uint16_t v) {
	v = bswap16_if_le(v);
	std::memcpy(p, &v, sizeof(v));
}

inline void store_be32(std::byte *p, uint32_t v) {
	v = bswap32_if_le(v);
	std::memcpy(p, &v, sizeof(v));
}

// Unaligned little-endian accessors (the migration records, doc/migration.md),
// byte by byte: the same on any host.
inline uint16_t load_le16(const std::byte *p) {
	return uint16_t(unsigned(p[0]) | unsigned(p[1]) << 8);
}

inline uint32_t load_le32(const std::byte *p) {
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | uint32_t(p[i]);
	return v;
}

inline void store_le16(std::byte *p, uint16_t v) {
	p[0] = std::byte(v);
	p[1] = std::byte(v >> 8);
}

inline void store_le32(std::byte *p, uint32_t v) {
	for (int i = 0; i < 4; i++)
		p[i] = std::byte(v >> (8 * i));
}

} // namespace passt
