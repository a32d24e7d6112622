// SipHash-2-4 (Aumasson & Bernstein, "SipHash: a fast short-input PRF",
// 2012) and the RFC 6528 TCP initial sequence number generator built on it.
//
// SipHash is used wherever a hash is keyed by a per-run secret: flow table
// buckets (so the guest cannot force collisions) and TCP ISNs (so they cannot
// be predicted off-path).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "passt/net/addr.h"

namespace passt {

struct SipKey {
	uint64_t k0 = 0, k1 = 0; // little-endian halves of the 16-byte key
	static SipKey from_bytes(std::span<const std::byte, 16> b);
	// 16 random bytes from getrandom(); nullopt if it fails.
	static std::optional<SipKey> random();
};

// Incremental SipHash-2-4: feed bytes in any pieces, then finish().
class SipHash {
public:
	explicit SipHash(const SipKey &key);
	void add(std::span<const std::byte> data);
	void add_u16(uint16_t v); // host value, hashed as 2 bytes little-endian
	void add_u32(uint32_t v);
	void add_u64(uint64_t v);
	// Hash of everything added (does not modify the state).
	uint64_t finish() const;

private:
	uint64_t v0_, v1_, v2_, v3_;
	uint64_t tail_ = 0; // pending bytes, little-endian
	size_t len_ = 0;    // total bytes added
};

uint64_t siphash24(const SipKey &key, std::span<const std::byte> data);

// RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport, secretkey),
// with F SipHash-2-4 and M a clock ticking every 4.096 us (ns >> 12).
class IsnGenerator {
public:
	explicit IsnGenerator(const SipKey &key) : key_(key) {}
	// With a key from getrandom(); nullopt if that fails.
	static std::optional<IsnGenerator> create();

	// ISN at monotonic time now_ns (for tests) / now.
	uint32_t isn(const InAny &saddr, const InAny &daddr, uint16_t sport, uint16_t dport,
		     uint64_t now_ns) const;
	uint32_t isn(const InAny &saddr, const InAny &daddr, uint16_t sport, uint16_t dport) const;

private:
	SipKey key_;
};

} // namespace passt
