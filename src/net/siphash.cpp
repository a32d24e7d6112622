// SipHash-2-4 and RFC 6528 ISNs; see include/passt/net/siphash.h.
//
// SipHash keeps four 64-bit words of state. Each 8-byte little-endian
// message word is xored into v3, mixed by two SipRounds ("2") and xored into
// v0. The last word holds the leftover bytes and the message length mod 256
// in its top byte. Finalisation xors 0xff into v2, runs four rounds ("4")
// and returns v0 ^ v1 ^ v2 ^ v3.
//
// #syscalls clock_gettime
// #syscalls:init getrandom
#include "passt/net/siphash.h"

#include <sys/random.h>

#include <cerrno>
#include <ctime>

namespace passt {

namespace {

inline uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

inline void sipround(uint64_t &v0, uint64_t &v1, uint64_t &v2, uint64_t &v3) {
	v0 += v1;
	v1 = rotl(v1, 13);
	v1 ^= v0;
	v0 = rotl(v0, 32);
	v2 += v3;
	v3 = rotl(v3, 16);
	v3 ^= v2;
	v0 += v3;
	v3 = rotl(v3, 21);
	v3 ^= v0;
	v2 += v1;
	v1 = rotl(v1, 17);
	v1 ^= v2;
	v2 = rotl(v2, 32);
}

inline uint64_t load_le64(const std::byte *p) {
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | uint8_t(p[i]);
	return v;
}

} // namespace

SipKey SipKey::from_bytes(std::span<const std::byte, 16> b) {
	return SipKey{load_le64(b.data()), load_le64(b.data() + 8)};
}

std::optional<SipKey> SipKey::random() {
	std::byte buf[16];
	size_t got = 0;
	while (got < sizeof(buf)) {
		ssize_t r = getrandom(buf + got, sizeof(buf) - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return std::nullopt;
		got += size_t(r);
	}
	return from_bytes(std::span<const std::byte, 16>(buf));
}

SipHash::SipHash(const SipKey &key)
	: v0_(key.k0 ^ 0x736f6d6570736575ULL), v1_(key.k1 ^ 0x646f72616e646f6dULL),
	  v2_(key.k0 ^ 0x6c7967656e657261ULL), v3_(key.k1 ^ 0x7465646279746573ULL) {}

void SipHash::add(std::span<const std::byte> data) {
	const std::byte *p = data.data();
	size_t n = data.size();

	// Complete a pending partial word first.
	while (n && (len_ & 7)) {
		tail_ |= uint64_t(uint8_t(*p++)) << (8 * (len_ & 7));
		len_++;
		n--;
		if (!(len_ & 7)) {
			v3_ ^= tail_;
			sipround(v0_, v1_, v2_, v3_);
			sipround(v0_, v1_, v2_, v3_);
			v0_ ^= tail_;
			tail_ = 0;
		}
	}
	for (; n >= 8; p += 8, n -= 8, len_ += 8) {
		uint64_t m = load_le64(p);
		v3_ ^= m;
		sipround(v0_, v1_, v2_, v3_);
		sipround(v0_, v1_, v2_, v3_);
		v0_ ^= m;
	}
	for (; n; n--, len_++)
		tail_ |= uint64_t(uint8_t(*p++)) << (8 * (len_ & 7));
}

void SipHash::add_u16(uint16_t v) {
	std::byte b[2] = {std::byte(v), std::byte(v >> 8)};
	add(b);
}

void SipHash::add_u32(uint32_t v) {
	std::byte b[4];
	for (int i = 0; i < 4; i++)
		b[i] = std::byte(v >> (8 * i));
	add(b);
}

void SipHash::add_u64(uint64_t v) {
	std::byte b[8];
	for (int i = 0; i < 8; i++)
		b[i] = std::byte(v >> (8 * i));
	add(b);
}

uint64_t SipHash::finish() const {
	uint64_t v0 = v0_, v1 = v1_, v2 = v2_, v3 = v3_;
	uint64_t b = tail_ | (uint64_t(len_ & 0xff) << 56);

	v3 ^= b;
	sipround(v0, v1, v2, v3);
	sipround(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	for (int i = 0; i < 4; i++)
		sipround(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t siphash24(const SipKey &key, std::span<const std::byte> data) {
	SipHash h(key);
	h.add(data);
	return h.finish();
}

std::optional<IsnGenerator> IsnGenerator::create() {
	auto key = SipKey::random();
	if (!key)
		return std::nullopt;
	return IsnGenerator(*key);
}

uint32_t IsnGenerator::isn(const InAny &saddr, const InAny &daddr, uint16_t sport, uint16_t dport,
			   uint64_t now_ns) const {
	SipHash h(key_);
	h.add(std::as_bytes(std::span(saddr.a.b)));
	h.add(std::as_bytes(std::span(daddr.a.b)));
	h.add_u16(sport);
	h.add_u16(dport);
	// M: a timer ticking every 2^12 ns = 4.096 us (RFC 6528 3).
	return uint32_t(h.finish()) + uint32_t(now_ns >> 12);
}

uint32_t IsnGenerator::isn(const InAny &saddr, const InAny &daddr, uint16_t sport,
			   uint16_t dport) const {
	timespec ts{};
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = uint64_t(ts.tv_sec) * 1000000000ULL + uint64_t(ts.tv_nsec);
	return isn(saddr, daddr, sport, dport, now);
}

} // namespace passt
