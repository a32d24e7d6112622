// Frame builders: write an Ethernet + IPv4/IPv6 + UDP/ICMP/ICMPv6 header
// stack in front of a payload in a caller-provided buffer, filling lengths
// and checksums. Used by the services (DHCP/DHCPv6 replies, RA/NA, echo
// replies, ARP replies) that answer the guest directly, and the ICMP
// errors with which translators refuse a guest's packet.
//
// Each builder expects the payload already at the matching *_off offset in
// buf (the services compose it directly in the frame) and writes only the
// headers in front of it. It returns the frame length, or 0 (buffer
// untouched) if the frame does not fit in buf or is too long for the IP
// length field. (Tests build frames around a separate payload with
// test/support/frames.h.)
// IPv4 headers get ID 0, DF set, no options; IPv6 headers traffic class and
// flow label 0.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "passt/net/addr.h"

namespace passt {

namespace frame {
inline constexpr size_t udp4_payload_off = 14 + 20 + 8;
inline constexpr size_t udp6_payload_off = 14 + 40 + 8;
// ICMP "body": everything after type, code and checksum.
inline constexpr size_t icmp4_body_off = 14 + 20 + 4;
inline constexpr size_t icmp6_body_off = 14 + 40 + 4;
inline constexpr size_t arp_len = 14 + 28;
} // namespace frame

// Ethernet, IPv4 and UDP headers (checksums included) in front of the
// payload_len bytes already at frame::udp4_payload_off in buf, dst/src the
// MAC addresses. Returns the frame length, 0 if buf is too small or the
// datagram too long.
size_t build_udp4_inplace(std::span<std::byte> buf, const MacAddr &dst, const MacAddr &src,
			  Ipv4Addr saddr, Ipv4Addr daddr, uint16_t sport, uint16_t dport,
			  size_t payload_len, uint8_t ttl = 64);

// The same for IPv6 (payload at frame::udp6_payload_off).
size_t build_udp6_inplace(std::span<std::byte> buf, const MacAddr &dst, const MacAddr &src,
			  const Ipv6Addr &saddr, const Ipv6Addr &daddr, uint16_t sport,
			  uint16_t dport, size_t payload_len, uint8_t hop_limit = 64);

// body: the ICMP message after type/code/checksum (echo: id, seq, data).
size_t build_icmp4_inplace(std::span<std::byte> buf, const MacAddr &dst, const MacAddr &src,
			   Ipv4Addr saddr, Ipv4Addr daddr, uint8_t type, uint8_t code,
			   size_t body_len, uint8_t ttl = 64);

// body: the ICMPv6 message after type/code/checksum (RA: hop limit, flags,
// lifetime, timers, options). Hop limit defaults to 255 as NDP requires.
size_t build_icmp6_inplace(std::span<std::byte> buf, const MacAddr &dst, const MacAddr &src,
			   const Ipv6Addr &saddr, const Ipv6Addr &daddr, uint8_t type, uint8_t code,
			   size_t body_len, uint8_t hop_limit = 255);

// Why build_unreachable() refuses a packet: ICMP destination unreachable
// codes no route (v4 0, v6 0), host/address unreachable (v4 1, v6 3) and
// administratively prohibited (v4 13, v6 1), which we use for a flow we
// could not open (out of descriptors, table full, a bind that failed).
enum class Unreachable : uint8_t { Net, Host, Prohibited };

// An ICMP or ICMPv6 destination unreachable for the guest, in answer to its
// packet l3 (from the IP header on): from the packet's destination to its
// source, quoting as much of it as RFC 1812 4.3.2.3 (576 bytes in all) or
// RFC 4443 2.4 (1280) allows. 0 if l3 is no valid IP packet or is one that
// must not be answered (RFC 1122 3.2.2, RFC 4443 2.4 e): an ICMP error, a
// non-first fragment, a multicast or broadcast destination, a source that
// names no single host.
size_t build_unreachable(std::span<std::byte> buf, const MacAddr &dst, const MacAddr &src,
			 std::span<const std::byte> l3, Unreachable why);

// Ethernet + Ethernet/IPv4 ARP packet (42 bytes, not padded to 60).
size_t build_arp(std::span<std::byte> buf, const MacAddr &eth_dst, const MacAddr &eth_src,
		 uint16_t op, const MacAddr &sha, Ipv4Addr spa, const MacAddr &tha, Ipv4Addr tpa);

} // namespace passt
