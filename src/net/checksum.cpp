// Internet checksum; see include/passt/net/checksum.h for the theory of
// operation (native-order 64-bit sums, byte swap for odd-offset chunks).
#include "passt/net/checksum.h"

#include <cstring>

#include "passt/net/iov.h"

namespace passt {

namespace {

// 64-bit add with end-around carry: arithmetic modulo 2^64 - 1, which
// preserves the 16-bit ones' complement sum because 2^16 - 1 divides it.
inline uint64_t add_carry(uint64_t sum, uint64_t v) {
	sum += v;
	return sum + (sum < v);
}

template <class T> inline T load(const std::byte *p) {
	T v;
	std::memcpy(&v, p, sizeof(v));
	return v;
}

} // namespace

uint64_t csum_add(uint64_t sum, std::span<const std::byte> data) {
	const std::byte *p = data.data();
	size_t n = data.size();

	// Four independent words per iteration keep the carry chains short.
	while (n >= 32) {
		uint64_t a = load<uint64_t>(p), b = load<uint64_t>(p + 8);
		uint64_t c = load<uint64_t>(p + 16), d = load<uint64_t>(p + 24);
		sum = add_carry(sum, a);
		sum = add_carry(sum, b);
		sum = add_carry(sum, c);
		sum = add_carry(sum, d);
		p += 32;
		n -= 32;
	}
	while (n >= 8) {
		sum = add_carry(sum, load<uint64_t>(p));
		p += 8;
		n -= 8;
	}
	if (n >= 4) {
		sum = add_carry(sum, load<uint32_t>(p));
		p += 4;
		n -= 4;
	}
	if (n >= 2) {
		sum = add_carry(sum, load<uint16_t>(p));
		p += 2;
		n -= 2;
	}
	if (n) {
		// A last odd byte is the first (high-order on the wire) half of a word.
		std::byte pad[2] = {*p, std::byte{0}};
		sum = add_carry(sum, load<uint16_t>(pad));
	}
	return sum;
}

uint16_t csum_fold(uint64_t sum) {
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return uint16_t(sum);
}

void Checksum::add(std::span<const std::byte> data) {
	if (data.empty())
		return;
	if (!odd_) {
		sum_ = csum_add(sum_, data);
	} else {
		// Shifted by one byte: the chunk's sum, byte-swapped (RFC 1071 2(B)).
		uint16_t part = csum_fold(csum_add(0, data));
		sum_ = add_carry(sum_, __builtin_bswap16(part));
	}
	odd_ ^= (data.size() & 1) != 0;
}

void Checksum::add(std::span<const iovec> iov, size_t offset, size_t len) {
	IovPos pos = iov_skip(iov, offset);
	for (size_t i = pos.idx; i < iov.size() && len; i++) {
		size_t off = i == pos.idx ? pos.off : 0;
		size_t n = iov[i].iov_len - off;
		if (n > len)
			n = len;
		add(std::span<const std::byte>(
			static_cast<const std::byte *>(iov[i].iov_base) + off, n));
		len -= n;
	}
}

void Checksum::add_u16(uint16_t host) {
	std::byte b[2];
	store_be16(b, host);
	add(b);
}

be16 Checksum::sum() const { return be16::from_raw(csum_fold(sum_)); }

be16 Checksum::finish() const { return be16::from_raw(uint16_t(~csum_fold(sum_))); }

be16 inet_checksum(std::span<const std::byte> data) {
	Checksum c;
	c.add(data);
	return c.finish();
}

be16 inet_checksum(std::span<const iovec> iov, size_t offset, size_t len) {
	Checksum c;
	c.add(iov, offset, len);
	return c.finish();
}

uint64_t pseudo_header4(Ipv4Addr saddr, Ipv4Addr daddr, uint8_t proto, uint16_t l4len) {
	std::byte ph[12];
	std::memcpy(ph, saddr.b.data(), 4);
	std::memcpy(ph + 4, daddr.b.data(), 4);
	ph[8] = std::byte{0};
	ph[9] = std::byte{proto};
	store_be16(ph + 10, l4len);
	return csum_add(0, ph);
}

uint64_t pseudo_header6(const Ipv6Addr &saddr, const Ipv6Addr &daddr, uint8_t proto,
			uint32_t l4len) {
	std::byte ph[40];
	std::memcpy(ph, saddr.b.data(), 16);
	std::memcpy(ph + 16, daddr.b.data(), 16);
	store_be32(ph + 32, l4len);
	ph[36] = ph[37] = ph[38] = std::byte{0};
	ph[39] = std::byte{proto};
	return csum_add(0, ph);
}

be16 ip4_header_checksum(std::span<const std::byte> hdr) {
	Checksum c;
	if (hdr.size() < 12) {
		c.add(hdr);
		return c.finish();
	}
	c.add(hdr.first(10));
	c.add(hdr.subspan(12));
	return c.finish();
}

be16 l4_checksum4(Ipv4Addr saddr, Ipv4Addr daddr, uint8_t proto, std::span<const std::byte> seg) {
	Checksum c(pseudo_header4(saddr, daddr, proto, uint16_t(seg.size())));
	c.add(seg);
	return c.finish();
}

be16 l4_checksum6(const Ipv6Addr &saddr, const Ipv6Addr &daddr, uint8_t proto,
		  std::span<const std::byte> seg) {
	Checksum c(pseudo_header6(saddr, daddr, proto, uint32_t(seg.size())));
	c.add(seg);
	return c.finish();
}

namespace {
// Bytes actually available for a range of an iovec array.
size_t iov_range_len(std::span<const iovec> iov, size_t offset, size_t len) {
	size_t total = iov_size(iov);
	if (offset >= total)
		return 0;
	return len < total - offset ? len : total - offset;
}
} // namespace

be16 l4_checksum4(Ipv4Addr saddr, Ipv4Addr daddr, uint8_t proto, std::span<const iovec> iov,
		  size_t offset, size_t len) {
	len = iov_range_len(iov, offset, len);
	Checksum c(pseudo_header4(saddr, daddr, proto, uint16_t(len)));
	c.add(iov, offset, len);
	return c.finish();
}

be16 l4_checksum6(const Ipv6Addr &saddr, const Ipv6Addr &daddr, uint8_t proto,
		  std::span<const iovec> iov, size_t offset, size_t len) {
	len = iov_range_len(iov, offset, len);
	Checksum c(pseudo_header6(saddr, daddr, proto, uint32_t(len)));
	c.add(iov, offset, len);
	return c.finish();
}

} // namespace passt
