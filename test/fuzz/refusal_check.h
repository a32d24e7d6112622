// For the flow targets: frames to the guest that refuse one of its packets
// (flow/refuse.h), an ICMP or ICMPv6 destination unreachable quoting it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "fuzz_util.h"
#include "support/frames.h"

namespace passt::fuzz {

// True if f is an ICMP (ethertype IPv4, protocol 1, type 3) or ICMPv6
// (next header 58, type 1) destination unreachable: the caller checks it
// with check_refusal() instead of as one of its own frames.
inline bool is_refusal(std::span<const std::byte> f) {
	if (f.size() < 14 + 40 + 8)
		return f.size() >= 14 + 20 + 8 && f[12] == std::byte{0x08} &&
		       f[13] == std::byte{0x00} && f[14 + 9] == std::byte{1} &&
		       f[14 + 20] == std::byte{3};
	if (f[12] == std::byte{0x08} && f[13] == std::byte{0x00})
		return f[14 + 9] == std::byte{1} && f[14 + 20] == std::byte{3};
	return f[12] == std::byte{0x86} && f[13] == std::byte{0xdd} && f[14 + 6] == std::byte{58} &&
	       f[14 + 40] == std::byte{1};
}

// A well-formed refusal of a guest packet of protocol quoted_proto: codes
// we send (net/host unreachable, administratively prohibited), valid
// checksums, the quoted packet's IP header from the guest (its source is
// the refusal's destination) with that protocol, as much quoted as the
// RFCs allow and no more.
inline void check_refusal(std::span<const std::byte> f, uint8_t quoted_proto) {
	static std::byte copy[2048];
	FUZZ_CHECK(f.size() <= sizeof(copy));
	std::memcpy(copy, f.data(), f.size());
	FUZZ_CHECK(fill_checksums(std::span(copy, f.size())));
	FUZZ_CHECK(std::memcmp(copy, f.data(), f.size()) == 0);
	if (f[12] == std::byte{0x08}) {
		const size_t q = 14 + 20 + 8; // the quoted packet
		FUZZ_CHECK(f.size() <= 576 + 14 && f.size() >= q + 20);
		const uint8_t code = uint8_t(f[14 + 21]);
		FUZZ_CHECK(code == 0 || code == 1 || code == 13);
		FUZZ_CHECK((uint8_t(f[q]) >> 4) == 4 && uint8_t(f[q + 9]) == quoted_proto);
		FUZZ_CHECK(std::memcmp(f.data() + q + 12, f.data() + 14 + 16, 4) == 0);
		FUZZ_CHECK(std::memcmp(f.data() + q + 16, f.data() + 14 + 12, 4) == 0);
	} else {
		const size_t q = 14 + 40 + 8;
		FUZZ_CHECK(f.size() <= 1280 + 14 && f.size() >= q + 40);
		const uint8_t code = uint8_t(f[14 + 41]);
		FUZZ_CHECK(code == 0 || code == 1 || code == 3);
		FUZZ_CHECK((uint8_t(f[q]) >> 4) == 6 && uint8_t(f[q + 6]) == quoted_proto);
		FUZZ_CHECK(std::memcmp(f.data() + q + 8, f.data() + 14 + 24, 16) == 0);
		FUZZ_CHECK(std::memcmp(f.data() + q + 24, f.data() + 14 + 8, 16) == 0);
	}
}

} // namespace passt::fuzz
