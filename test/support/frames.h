// Frame helpers for the unit tests and fuzz targets, not the daemon: build a
// whole UDP/ICMP frame around a payload given separately (the daemon's
// builders in passt/net/build.h only write headers in front of a payload
// already in place), recompute every checksum of a crafted frame, and read
// the link-layer address out of an NDP option.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "passt/net/addr.h"
#include "passt/net/build.h"
#include "passt/net/tlv.h"

namespace passt {

// Copy payload (which may overlap buf) to its offset in buf, then write the
// headers with the matching *_inplace builder. Frame length, or 0: buf is
// left untouched if the payload does not fit in it, and 0 is returned if
// the builder refuses (a payload too long for the IP length field).
size_t build_udp4(std::span<std::byte> buf, const MacAddr &dst, const MacAddr &src, Ipv4Addr saddr,
		  Ipv4Addr daddr, uint16_t sport, uint16_t dport,
		  std::span<const std::byte> payload, uint8_t ttl = 64);
size_t build_udp6(std::span<std::byte> buf, const MacAddr &dst, const MacAddr &src,
		  const Ipv6Addr &saddr, const Ipv6Addr &daddr, uint16_t sport, uint16_t dport,
		  std::span<const std::byte> payload, uint8_t hop_limit = 64);
// body: the ICMP message after type/code/checksum (echo: id, seq, data).
size_t build_icmp4(std::span<std::byte> buf, const MacAddr &dst, const MacAddr &src, Ipv4Addr saddr,
		   Ipv4Addr daddr, uint8_t type, uint8_t code, std::span<const std::byte> body,
		   uint8_t ttl = 64);
size_t build_icmp6(std::span<std::byte> buf, const MacAddr &dst, const MacAddr &src,
		   const Ipv6Addr &saddr, const Ipv6Addr &daddr, uint8_t type, uint8_t code,
		   std::span<const std::byte> body, uint8_t hop_limit = 255);

// Parse an Ethernet frame and (re)compute the IPv4 header checksum and the
// TCP/UDP/ICMP/ICMPv6 checksum. False (frame unchanged) if it does not parse,
// is an IP fragment or carries another protocol.
bool fill_checksums(std::span<std::byte> frame);

// The address in an NDP source or target link-layer address option (as
// tlv::Reader<tlv::Ndp> returns it); nullopt for other options or a short one.
std::optional<MacAddr> ndp_lladdr(const tlv::Option &o);

} // namespace passt
