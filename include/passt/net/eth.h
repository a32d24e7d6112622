// Ethernet II header view (no VLAN tags: the tap peers never send them).
//
//   0      6      12         14
//   | dst  | src  | ethertype | payload ...
#pragma once

#include <optional>

#include "passt/net/addr.h"
#include "passt/net/view.h"

namespace passt {

namespace ethertype {
inline constexpr uint16_t ipv4 = 0x0800;
inline constexpr uint16_t arp = 0x0806;
inline constexpr uint16_t ipv6 = 0x86dd;
} // namespace ethertype

template <ByteType B> class BasicEthView {
public:
	using Bytes = std::span<B>;
	static constexpr size_t hdr_len = 14;

	// A frame of at least 14 bytes; the payload is everything after.
	static std::optional<BasicEthView> parse(Bytes frame) {
		if (frame.size() < hdr_len)
			return std::nullopt;
		return BasicEthView(frame);
	}
	// For building: same check, nothing is written.
	static std::optional<BasicEthView> init(Bytes buf) requires MutableByte<B> {
		return parse(buf);
	}
	// Read-only view of a writable one.
	template <ByteType O> requires(!MutableByte<B> && MutableByte<O>)
	BasicEthView(const BasicEthView<O> &o) : s_(o.bytes()) {} // NOLINT

	MacAddr dst() const { return mac_at(0); }
	MacAddr src() const { return mac_at(6); }
	uint16_t ethertype() const { return detail::ld16(s_, 12); }
	Bytes payload() const { return s_.subspan(hdr_len); }
	Bytes header() const { return s_.first(hdr_len); }
	Bytes bytes() const { return s_; }

	void set_dst(const MacAddr &m) requires MutableByte<B> { put_mac(0, m); }
	void set_src(const MacAddr &m) requires MutableByte<B> { put_mac(6, m); }
	void set_ethertype(uint16_t t) requires MutableByte<B> { detail::st16(s_, 12, t); }

private:
	explicit BasicEthView(Bytes s) : s_(s) {}
	MacAddr mac_at(size_t off) const {
		MacAddr m;
		__builtin_memcpy(m.b.data(), s_.data() + off, 6);
		return m;
	}
	void put_mac(size_t off, const MacAddr &m) requires MutableByte<B> {
		__builtin_memcpy(s_.data() + off, m.b.data(), 6);
	}

	Bytes s_;
};

using EthView = BasicEthView<std::byte>;
using ConstEthView = BasicEthView<const std::byte>;

} // namespace passt
