// ARP responder for the tap side (pasta, passt and vhost-user alike).
//
// Every IPv4 destination of the guest is reached through us, so we answer
// ARP requests for any address but the guest's own, always with our MAC
// (Config::our_tap_mac). See src/services/arp.cpp for the rules.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "passt/net/addr.h"

namespace passt {

struct Config;
class TapOutput;
struct TapState;

// What the responder did, for statistics and tests. Counters only grow.
struct ArpStats {
	uint64_t malformed = 0;   // truncated, or not Ethernet/IPv4 ARP: dropped
	uint64_t ignored = 0;     // well-formed but not answered (replies,
				  // announcements, requests for the guest's address)
	uint64_t replies = 0;     // replies handed to TapOutput
	uint64_t send_failed = 0; // replies TapOutput refused
};

// Handle one Ethernet frame from the guest. Returns true if it is an ARP
// frame (ethertype 0x0806): it is then consumed, answered or dropped.
// False for any other frame (left to the caller). Learns the guest's MAC
// address from the Ethernet source of well-formed ARP packets.
bool arp_input(const Config &c, TapState &st, std::span<const std::byte> frame, TapOutput &out);

// ARP request from our gateway address for the guest's address, broadcast:
// the guest's answer tells us its MAC address before it sends anything
// (the C passt does this when a tap connection starts). Returns the frame
// length sent, 0 if IPv4 is off, no guest address is known, or it was not
// sent.
size_t arp_send_init_req(const Config &c, TapOutput &out);

// ARP announcement (RFC 5227 2.3: request with sender == target address,
// target MAC zero, broadcast) telling the guest that ip is now at mac, for
// when the MAC we answer with for an address changes. Returns the frame
// length sent, or 0.
size_t arp_announce(const Config &c, Ipv4Addr ip, const MacAddr &mac, TapOutput &out);

const ArpStats &arp_stats();
void arp_stats_reset();

} // namespace passt
