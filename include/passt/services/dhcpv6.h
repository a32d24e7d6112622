// DHCPv6 server (RFC 8415) for the tap side (pasta, passt and vhost-user
// alike): it hands the guest its one address (Config::ip6.addr) and DNS
// configuration. See src/services/dhcpv6.cpp for the rules.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "passt/net/addr.h"

namespace passt {

struct Config;
class TapOutput;
struct TapState;

namespace dhcpv6 {
inline constexpr uint16_t client_port = 546;
inline constexpr uint16_t server_port = 547;

// Message types (RFC 8415 7.3).
inline constexpr uint8_t msg_solicit = 1;
inline constexpr uint8_t msg_advertise = 2;
inline constexpr uint8_t msg_request = 3;
inline constexpr uint8_t msg_confirm = 4;
inline constexpr uint8_t msg_renew = 5;
inline constexpr uint8_t msg_rebind = 6;
inline constexpr uint8_t msg_reply = 7;
inline constexpr uint8_t msg_release = 8;
inline constexpr uint8_t msg_decline = 9;
inline constexpr uint8_t msg_reconfigure = 10;
inline constexpr uint8_t msg_information_request = 11;

// Option codes (RFC 8415 21, RFC 3646, RFC 4704).
inline constexpr uint16_t opt_clientid = 1;
inline constexpr uint16_t opt_serverid = 2;
inline constexpr uint16_t opt_ia_na = 3;
inline constexpr uint16_t opt_ia_ta = 4;
inline constexpr uint16_t opt_iaaddr = 5;
inline constexpr uint16_t opt_oro = 6;
inline constexpr uint16_t opt_preference = 7;
inline constexpr uint16_t opt_elapsed_time = 8;
inline constexpr uint16_t opt_status_code = 13;
inline constexpr uint16_t opt_rapid_commit = 14;
inline constexpr uint16_t opt_dns_servers = 23;
inline constexpr uint16_t opt_domain_list = 24;
inline constexpr uint16_t opt_ia_pd = 25;
inline constexpr uint16_t opt_client_fqdn = 39;

// Status codes (RFC 8415 21.13).
inline constexpr uint16_t status_success = 0;
inline constexpr uint16_t status_unspec_fail = 1;
inline constexpr uint16_t status_no_addrs_avail = 2;
inline constexpr uint16_t status_no_binding = 3;
inline constexpr uint16_t status_not_on_link = 4;
inline constexpr uint16_t status_use_multicast = 5;
inline constexpr uint16_t status_no_prefix_avail = 6;

// Client FQDN flags (RFC 4704 4.1).
inline constexpr uint8_t fqdn_s = 0x01, fqdn_o = 0x02, fqdn_n = 0x04;

// Lifetimes and T1/T2 we give: infinite (the address never changes).
inline constexpr uint32_t infinite = 0xffffffff;

// All_DHCP_Relay_Agents_and_Servers, ff02::1:2.
inline constexpr Ipv6Addr all_servers() {
	Ipv6Addr a;
	a.b[0] = 0xff;
	a.b[1] = 0x02;
	a.b[13] = 0x01;
	a.b[15] = 0x02;
	return a;
}

// Length of our DUID: DUID-LL (RFC 8415 11.4), type 3, hardware type 1.
inline constexpr size_t duid_len = 10;
} // namespace dhcpv6

// What the server did, for statistics and tests. Counters only grow.
struct Dhcpv6Stats {
	uint64_t malformed = 0;   // truncated or lying lengths, missing or
				  // misplaced identifiers: dropped
	uint64_t ignored = 0;     // well-formed but not answered (--no-dhcpv6,
				  // other servers' messages, Confirm without
				  // addresses, server message types)
	uint64_t replies = 0;     // Advertise and Reply messages sent
	uint64_t send_failed = 0; // replies TapOutput refused
};

// Handle one Ethernet frame from the guest. Returns true if it is a DHCPv6
// message for us: UDP to port 547 at ff02::1:2 or at our link-local address
// (ndp_our_ll()). It is then consumed, answered or dropped. False for any
// other frame, left to the caller (UDP to port 547 elsewhere is ordinary
// traffic). Learns the guest's MAC and link-local address.
bool dhcpv6_input(const Config &c, TapState &st, std::span<const std::byte> frame, TapOutput &out);

// Our Server Identifier: DUID-LL with c.our_tap_mac. DUID-LL needs no
// clock and no stored state and stays the same across restarts for the same
// MAC address, which is all a server on a two-node link needs.
std::array<std::byte, dhcpv6::duid_len> dhcpv6_server_duid(const Config &c);

const Dhcpv6Stats &dhcpv6_stats();
void dhcpv6_stats_reset();

} // namespace passt
