// The parsed form of a UDP datagram: ports and payload as plain values. The
// UDP translator reads guest datagrams into one; UdpView (udp.h) does the
// byte work both ways.
//
// parse() takes the IP payload and fails if it is shorter than the header
// or the length field is below 8 or beyond the span; a length field below
// the span's size trims the payload to it (what follows is not the
// datagram's, as RFC 768 and Linux have it). The parse*() variants with
// addresses also check the checksum: over IPv4 a zero checksum means none
// was computed, over IPv6 one is mandatory.
//
// emit() writes header and checksum through UdpView and moves the payload
// behind the header unless it is already there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "passt/net/addr.h"
#include "passt/net/udp.h"

namespace passt {

struct UdpRepr {
	uint16_t sport = 0, dport = 0;
	std::span<const std::byte> payload;

	static std::optional<UdpRepr> parse(std::span<const std::byte> seg);
	static std::optional<UdpRepr> parse4(std::span<const std::byte> seg, Ipv4Addr saddr,
					     Ipv4Addr daddr);
	static std::optional<UdpRepr> parse6(std::span<const std::byte> seg, const Ipv6Addr &saddr,
					     const Ipv6Addr &daddr);

	size_t datagram_len() const { return UdpView::hdr_len + payload.size(); }

	// Write the datagram at the start of out, checksummed for src -> dst
	// (IPv4 if src is a v4-mapped address). Its length, or 0 (out
	// untouched) if it does not fit in out or in the length field.
	size_t emit(std::span<std::byte> out, const InAny &src, const InAny &dst) const;
};

} // namespace passt
