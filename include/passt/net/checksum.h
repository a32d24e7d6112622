// Internet checksum (RFC 1071) over contiguous bytes and iovec arrays.
//
// Theory of operation: the ones' complement sum is independent of byte
// order, so data is summed as native-endian 64-bit words (eight bytes per
// step, end-around carry) and folded to 16 bits at the end; the folded value
// stored with memcpy is then already in network order, which is why results
// are returned as be16 (raw). A chunk that starts at an odd offset of the
// checksummed stream (an iovec boundary in the middle of a 16-bit word) is
// summed on its own and byte-swapped before being added (RFC 1071, 2(B)).
//
// Convention: *_checksum() functions return the value to store in the
// checksum field when computed with that field zeroed; computed over data
// whose checksum field is already filled they return 0 if it is correct.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>

#include "passt/net/addr.h"
#include "passt/net/byteorder.h"

namespace passt {

// Unfolded sum of data (native order) added to sum; data is taken to start at
// an even offset of the checksummed stream. 8 bytes per step.
uint64_t csum_add(uint64_t sum, std::span<const std::byte> data);

// Fold a running sum to 16 bits (native order, not complemented).
uint16_t csum_fold(uint64_t sum);

// Running checksum over data fed in pieces of any length (odd too).
class Checksum {
public:
	Checksum() = default;
	explicit Checksum(uint64_t initial) : sum_(initial) {}

	void add(std::span<const std::byte> data);
	// len bytes of iov starting at byte offset (clamped to what iov holds).
	void add(std::span<const iovec> iov, size_t offset = 0, size_t len = SIZE_MAX);
	// A 16-bit value at an even position, given in host order.
	void add_u16(uint16_t host);
	// Bytes summed so far is odd (next byte is the low half of a word).
	bool odd() const { return odd_; }

	// 16-bit ones' complement sum, network order (not complemented).
	be16 sum() const;
	// ~sum(): the value for a checksum field.
	be16 finish() const;

private:
	uint64_t sum_ = 0;
	bool odd_ = false;
};

// Checksum of contiguous bytes / of an iovec array / of a range of it.
be16 inet_checksum(std::span<const std::byte> data);
be16 inet_checksum(std::span<const iovec> iov, size_t offset = 0, size_t len = SIZE_MAX);

// Unfolded sums of the TCP/UDP/ICMPv6 pseudo-headers (RFC 793/768, RFC 8200
// 8.1), to seed a Checksum. l4len: upper-layer length in bytes.
uint64_t pseudo_header4(Ipv4Addr saddr, Ipv4Addr daddr, uint8_t proto, uint16_t l4len);
uint64_t pseudo_header6(const Ipv6Addr &saddr, const Ipv6Addr &daddr, uint8_t proto,
			uint32_t l4len);

// IPv4 header checksum of hdr (whole header incl. options), treating the
// checksum field (bytes 10-11) as zero: the value to store. hdr.size() >= 20.
be16 ip4_header_checksum(std::span<const std::byte> hdr);

// Upper-layer checksum with pseudo-header, over the whole segment as given.
be16 l4_checksum4(Ipv4Addr saddr, Ipv4Addr daddr, uint8_t proto, std::span<const std::byte> seg);
be16 l4_checksum6(const Ipv6Addr &saddr, const Ipv6Addr &daddr, uint8_t proto,
		  std::span<const std::byte> seg);
// Same, for a segment of len bytes at offset within an iovec array.
be16 l4_checksum4(Ipv4Addr saddr, Ipv4Addr daddr, uint8_t proto, std::span<const iovec> iov,
		  size_t offset, size_t len);
be16 l4_checksum6(const Ipv6Addr &saddr, const Ipv6Addr &daddr, uint8_t proto,
		  std::span<const iovec> iov, size_t offset, size_t len);

} // namespace passt
