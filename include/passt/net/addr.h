// Address value types: IPv4, IPv6, "either" (InAny, v4 held as v4-mapped
// v6) and Ethernet MAC. All are trivially copyable, compare by value and
// parse from / format to text without allocation on the data path
// (to_string() allocates and is for configuration and tests).
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "passt/net/byteorder.h"

namespace passt {

// Fixed buffer large enough for any formatted address (IPv6 with v4 tail).
struct AddrText {
	char s[48] = {};
	const char *c_str() const { return s; }
};

struct Ipv4Addr {
	std::array<uint8_t, 4> b{}; // network order

	static constexpr Ipv4Addr from_host(uint32_t v) {
		return Ipv4Addr{{uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)}};
	}
	static constexpr Ipv4Addr from_be(be32 v) { return from_host(v.host()); }
	static constexpr Ipv4Addr any() { return Ipv4Addr{}; }
	static constexpr Ipv4Addr loopback() { return from_host(0x7f000001); }
	static constexpr Ipv4Addr broadcast() { return from_host(0xffffffff); }
	static std::optional<Ipv4Addr> parse(std::string_view text);

	constexpr uint32_t host() const {
		return (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) |
		       b[3];
	}
	constexpr be32 be() const { return be32::from_host(host()); }

	constexpr bool is_unspecified() const { return host() == 0; }
	constexpr bool is_loopback() const { return b[0] == 127; }
	constexpr bool is_multicast() const { return (b[0] & 0xf0) == 224; }
	constexpr bool is_broadcast() const { return host() == 0xffffffff; }
	constexpr bool is_link_local() const { return b[0] == 169 && b[1] == 254; }

	// True if this and other share the first prefix_len bits.
	bool same_prefix(const Ipv4Addr &other, unsigned prefix_len) const;
	// Classful default prefix length (A: 8, B: 16, C: 24), as the C passt.
	unsigned classful_prefix() const;
	// Netmask for a prefix length, e.g. 24 -> 255.255.255.0.
	static Ipv4Addr netmask(unsigned prefix_len);

	AddrText text() const;
	std::string to_string() const { return text().s; }
	friend constexpr auto operator<=>(const Ipv4Addr &, const Ipv4Addr &) = default;
};

struct Ipv6Addr {
	std::array<uint8_t, 16> b{};

	static constexpr Ipv6Addr any() { return Ipv6Addr{}; }
	static constexpr Ipv6Addr loopback() {
		Ipv6Addr a;
		a.b[15] = 1;
		return a;
	}
	static std::optional<Ipv6Addr> parse(std::string_view text);
	// ::ffff:a.b.c.d
	static constexpr Ipv6Addr v4mapped(const Ipv4Addr &v4) {
		Ipv6Addr a;
		a.b[10] = 0xff;
		a.b[11] = 0xff;
		a.b[12] = v4.b[0];
		a.b[13] = v4.b[1];
		a.b[14] = v4.b[2];
		a.b[15] = v4.b[3];
		return a;
	}

	constexpr bool is_unspecified() const { return *this == Ipv6Addr{}; }
	constexpr bool is_loopback() const { return *this == loopback(); }
	constexpr bool is_multicast() const { return b[0] == 0xff; }
	constexpr bool is_link_local() const { return b[0] == 0xfe && (b[1] & 0xc0) == 0x80; }
	constexpr bool is_v4mapped() const {
		for (int i = 0; i < 10; i++)
			if (b[i])
				return false;
		return b[10] == 0xff && b[11] == 0xff;
	}
	constexpr Ipv4Addr v4_tail() const { return Ipv4Addr{{b[12], b[13], b[14], b[15]}}; }

	bool same_prefix(const Ipv6Addr &other, unsigned prefix_len) const;
	// Solicited-node multicast address ff02::1:ffXX:XXXX for this address.
	Ipv6Addr solicited_node() const;

	AddrText text() const;
	std::string to_string() const { return text().s; }
	friend constexpr auto operator<=>(const Ipv6Addr &, const Ipv6Addr &) = default;
};

// Either family; IPv4 is stored as a v4-mapped IPv6 address so that flow
// keys hash and compare uniformly.
struct InAny {
	Ipv6Addr a{};

	constexpr InAny() = default;
	constexpr InAny(const Ipv6Addr &v6) : a(v6) {} // NOLINT(google-explicit-constructor)
	constexpr InAny(const Ipv4Addr &v4)
		: a(Ipv6Addr::v4mapped(v4)) {} // NOLINT(google-explicit-constructor)
	static std::optional<InAny> parse(std::string_view text);

	constexpr bool is_v4() const { return a.is_v4mapped(); }
	constexpr Ipv4Addr v4() const { return a.v4_tail(); }
	constexpr const Ipv6Addr &v6() const { return a; }
	constexpr bool is_unspecified() const {
		return is_v4() ? v4().is_unspecified() : a.is_unspecified();
	}
	constexpr bool is_loopback() const {
		return is_v4() ? v4().is_loopback() : a.is_loopback();
	}

	AddrText text() const { return is_v4() ? v4().text() : a.text(); }
	std::string to_string() const { return text().s; }
	friend constexpr auto operator<=>(const InAny &, const InAny &) = default;
};

struct MacAddr {
	std::array<uint8_t, 6> b{};

	static constexpr MacAddr broadcast() {
		return MacAddr{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
	}
	static std::optional<MacAddr> parse(std::string_view text);

	constexpr bool is_zero() const { return *this == MacAddr{}; }
	constexpr bool is_broadcast() const { return *this == broadcast(); }
	constexpr bool is_multicast() const { return b[0] & 1; }

	AddrText text() const;
	std::string to_string() const { return text().s; }
	friend constexpr auto operator<=>(const MacAddr &, const MacAddr &) = default;
};

} // namespace passt
