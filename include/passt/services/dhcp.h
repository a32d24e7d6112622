// DHCPv4 server for the tap side (pasta, passt and vhost-user alike).
//
// Two layers: dhcp_input() takes Ethernet frames from the guest and sends
// replies through TapOutput; below it, dhcp_parse(), dhcp_decide(),
// dhcp_build_reply() and dhcp_reply_dest() work on BOOTP messages alone and
// are pure (no I/O, no state), for tests. See src/services/dhcp.cpp.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "passt/net/addr.h"

namespace passt {

struct Config;
class TapOutput;
struct TapState;

namespace dhcp {
inline constexpr uint16_t server_port = 67;
inline constexpr uint16_t client_port = 68;
inline constexpr uint8_t bootrequest = 1, bootreply = 2;
inline constexpr uint16_t flag_broadcast = 0x8000;
inline constexpr size_t chaddr_off = 28;
inline constexpr size_t cookie_off = 236;  // after op .. file
inline constexpr size_t options_off = 240; // after the magic cookie
inline constexpr uint32_t magic_cookie = 0x63825363;
inline constexpr size_t min_msg_len = 300;       // RFC 951 BOOTP message size
inline constexpr size_t min_max_ip_len = 576;    // RFC 2131 2, RFC 2132 9.10
inline constexpr size_t max_reply_ip_len = 1500; // our own cap on replies

// Option codes (RFC 2132 and later).
namespace opt {
inline constexpr uint8_t pad = 0, subnet_mask = 1, router = 3, dns = 6, hostname = 12;
inline constexpr uint8_t mtu = 26, requested_addr = 50, lease_time = 51, overload = 52;
inline constexpr uint8_t msg_type = 53, server_id = 54, param_list = 55, message = 56;
inline constexpr uint8_t max_msg_size = 57, client_id = 61, rapid_commit = 80;
inline constexpr uint8_t client_fqdn = 81, domain_search = 119, classless_routes = 121;
inline constexpr uint8_t end = 255;
} // namespace opt

// Option 53 values; None: no option 53, a plain BOOTP request.
enum class MsgType : uint8_t {
	None = 0,
	Discover = 1,
	Offer,
	Request,
	Decline,
	Ack,
	Nak,
	Release,
	Inform,
};
} // namespace dhcp

// What we use of a client's BOOTREQUEST, parsed by dhcp_parse().
struct DhcpRequest {
	uint8_t htype = 0, hlen = 0, hops = 0;
	uint32_t xid = 0;
	uint16_t secs = 0, flags = 0;
	Ipv4Addr ciaddr, yiaddr, siaddr, giaddr;
	std::array<uint8_t, 16> chaddr{};
	dhcp::MsgType type = dhcp::MsgType::None;
	std::optional<Ipv4Addr> requested_addr; // option 50
	std::optional<Ipv4Addr> server_id;      // option 54
	uint16_t max_msg_size = 0;              // option 57, 0 if absent
	bool rapid_commit = false;              // option 80 present
	bool client_fqdn = false;               // option 81 present
	// Option 55 (all instances concatenated, RFC 3396), in the client's order.
	std::array<uint8_t, 255> param_list{};
	uint8_t param_list_len = 0;

	MacAddr client_mac() const {
		return MacAddr{{chaddr[0], chaddr[1], chaddr[2], chaddr[3], chaddr[4], chaddr[5]}};
	}
	bool broadcast() const { return flags & dhcp::flag_broadcast; }
	bool requested(uint8_t code) const;
};

// Parse a BOOTP/DHCP message (the UDP payload). Requires op BOOTREQUEST,
// Ethernet hardware type and length, the magic cookie, well-formed options
// (no length running past the end, fixed-size options of the right size,
// no duplicates of those). On failure, *why (if given) names the problem.
std::optional<DhcpRequest> dhcp_parse(std::span<const std::byte> msg, const char **why = nullptr);

// What we do about a request.
enum class DhcpAction : uint8_t {
	Ignore,     // no reply: RELEASE, DECLINE, another server chosen, ...
	Offer,      // DHCPOFFER to a DISCOVER
	Ack,        // DHCPACK to a REQUEST, or to a DISCOVER with rapid commit
	Nak,        // DHCPNAK: the client asks for an address that is not its own
	InformAck,  // DHCPACK to an INFORM: configuration only, no address
	BootpReply, // plain BOOTP reply (no option 53 in the request)
};
DhcpAction dhcp_decide(const Config &c, const DhcpRequest &req);

// Where a reply goes (RFC 2131 4.1): IP and Ethernet destination, UDP port.
struct DhcpDest {
	Ipv4Addr ip;
	MacAddr mac;
	uint16_t port = dhcp::client_port;
};
// yiaddr: the address we assign; peer: Ethernet source of the request.
DhcpDest dhcp_reply_dest(const DhcpRequest &req, DhcpAction act, Ipv4Addr yiaddr,
			 const MacAddr &peer);

// Build the BOOTREPLY message (UDP payload) for act into out. Options that
// do not fit in what the client accepts (576-byte datagram, or option 57)
// are left out, least important first. Returns the message length (>= 300),
// or 0 for Ignore or if out is too small.
size_t dhcp_build_reply(const Config &c, const DhcpRequest &req, DhcpAction act,
			std::span<std::byte> out);

// Encode names in DNS wire format (RFC 1035 3.1) one after the other, as the
// domain search option wants them (RFC 3397), with compression pointers
// (RFC 1035 4.1.4, offsets from the start of out) if compress is set.
// Invalid names (empty labels, labels over 63 bytes, over 255 bytes in all)
// are skipped; encoding stops before the first name that does not fit.
// Returns the number of bytes written.
size_t dhcp_encode_names(std::span<const std::string> names, std::span<std::byte> out,
			 bool compress);

// Handle one Ethernet frame from the guest. True if it is a UDP datagram
// over IPv4 to port 67 (consumed: answered, ignored or dropped as malformed);
// false otherwise. Learns the guest's MAC address from chaddr.
bool dhcp_input(const Config &c, TapState &st, std::span<const std::byte> frame, TapOutput &out);

struct DhcpStats {
	uint64_t malformed = 0;                  // dropped: truncated or invalid
	uint64_t ignored = 0;                    // valid, no reply (see DhcpAction::Ignore)
	uint64_t offers = 0, acks = 0, naks = 0; // acks include INFORM and BOOTP
	uint64_t send_failed = 0;                // TapOutput refused the reply
};
const DhcpStats &dhcp_stats();
void dhcp_stats_reset();

} // namespace passt
