// Address parsing and formatting; see include/passt/net/addr.h.
#include "passt/net/addr.h"

#include <arpa/inet.h>
#include <cstdio>

namespace passt {

namespace {

// inet_pton() wants a NUL-terminated string: copy into a bounded buffer.
template <size_t N> bool to_cstr(std::string_view text, char (&buf)[N]) {
	if (text.empty() || text.size() >= N)
		return false;
	text.copy(buf, text.size());
	buf[text.size()] = '\0';
	return true;
}

int hex_digit(char c) {
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool bits_equal(const uint8_t *a, const uint8_t *b, unsigned bits) {
	unsigned bytes = bits / 8;
	for (unsigned i = 0; i < bytes; i++)
		if (a[i] != b[i])
			return false;
	unsigned rest = bits % 8;
	if (!rest)
		return true;
	uint8_t mask = uint8_t(0xff << (8 - rest));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

} // namespace

std::optional<Ipv4Addr> Ipv4Addr::parse(std::string_view text) {
	char buf[INET_ADDRSTRLEN];
	Ipv4Addr a;
	if (!to_cstr(text, buf) || inet_pton(AF_INET, buf, a.b.data()) != 1)
		return std::nullopt;
	return a;
}

bool Ipv4Addr::same_prefix(const Ipv4Addr &other, unsigned prefix_len) const {
	return bits_equal(b.data(), other.b.data(), prefix_len > 32 ? 32 : prefix_len);
}

unsigned Ipv4Addr::classful_prefix() const {
	if (b[0] < 128)
		return 8;
	if (b[0] < 192)
		return 16;
	return 24;
}

Ipv4Addr Ipv4Addr::netmask(unsigned prefix_len) {
	if (prefix_len == 0)
		return Ipv4Addr{};
	if (prefix_len >= 32)
		return broadcast();
	return from_host(~((1u << (32 - prefix_len)) - 1));
}

AddrText Ipv4Addr::text() const {
	AddrText t;
	inet_ntop(AF_INET, b.data(), t.s, sizeof(t.s));
	return t;
}

std::optional<Ipv6Addr> Ipv6Addr::parse(std::string_view text) {
	char buf[INET6_ADDRSTRLEN];
	Ipv6Addr a;
	if (!to_cstr(text, buf) || inet_pton(AF_INET6, buf, a.b.data()) != 1)
		return std::nullopt;
	return a;
}

bool Ipv6Addr::same_prefix(const Ipv6Addr &other, unsigned prefix_len) const {
	return bits_equal(b.data(), other.b.data(), prefix_len > 128 ? 128 : prefix_len);
}

Ipv6Addr Ipv6Addr::solicited_node() const {
	Ipv6Addr s;
	s.b[0] = 0xff;
	s.b[1] = 0x02;
	s.b[11] = 0x01;
	s.b[12] = 0xff;
	s.b[13] = b[13];
	s.b[14] = b[14];
	s.b[15] = b[15];
	return s;
}

AddrText Ipv6Addr::text() const {
	AddrText t;
	inet_ntop(AF_INET6, b.data(), t.s, sizeof(t.s));
	return t;
}

std::optional<InAny> InAny::parse(std::string_view text) {
	if (auto v4 = Ipv4Addr::parse(text))
		return InAny(*v4);
	if (auto v6 = Ipv6Addr::parse(text))
		return InAny(*v6);
	return std::nullopt;
}

std::optional<MacAddr> MacAddr::parse(std::string_view text) {
	// Exactly six two-digit hex groups separated by ':'.
	if (text.size() != 17)
		return std::nullopt;
	MacAddr m;
	for (size_t i = 0; i < 6; i++) {
		int hi = hex_digit(text[i * 3]), lo = hex_digit(text[i * 3 + 1]);
		if (hi < 0 || lo < 0)
			return std::nullopt;
		if (i < 5 && text[i * 3 + 2] != ':')
			return std::nullopt;
		m.b[i] = uint8_t(hi << 4 | lo);
	}
	return m;
}

AddrText MacAddr::text() const {
	AddrText t;
	std::snprintf(t.s, sizeof(t.s), "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3],
		      b[4], b[5]);
	return t;
}

} // namespace passt
