// Helpers shared by the test/unit/net_*_test.cpp files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace passt::test {

// Bytes from a hex string; whitespace is skipped. Bad input aborts the test
// binary on purpose (a typo in a test vector must not pass silently).
inline std::vector<std::byte> hex(std::string_view s) {
	std::vector<std::byte> out;
	int hi = -1;
	for (char c : s) {
		int v;
		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v = c - 'A' + 10;
		else if (c == ' ' || c == '\n' || c == '\t')
			continue;
		else
			__builtin_trap();
		if (hi < 0) {
			hi = v;
		} else {
			out.push_back(std::byte(hi << 4 | v));
			hi = -1;
		}
	}
	if (hi >= 0)
		__builtin_trap();
	return out;
}

inline std::vector<std::byte> bytes(std::initializer_list<int> l) {
	std::vector<std::byte> out;
	for (int v : l)
		out.push_back(std::byte(v));
	return out;
}

// Straightforward RFC 1071 reference: 16-bit big-endian words, 64-bit sum.
inline uint16_t ref_sum(std::span<const std::byte> d, uint64_t sum = 0) {
	for (size_t i = 0; i < d.size(); i += 2) {
		uint64_t w = uint64_t(uint8_t(d[i])) << 8;
		if (i + 1 < d.size())
			w |= uint8_t(d[i + 1]);
		sum += w;
	}
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return uint16_t(sum);
}

} // namespace passt::test
