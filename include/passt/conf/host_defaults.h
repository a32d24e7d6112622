// What the host tells us before any option is applied: the uplink
// interfaces, their addresses, gateways, MAC and MTU (read through netlink
// by host_probe()), the resolvers and search list of /etc/resolv.conf
// (read_resolv_conf(), conf/resolv.h) and the ephemeral port range
// (fwd_read_ephemeral_range(), fwd/rules.h).
// conf_parse() derives every default of the Config from this one struct, so
// option handling is testable without touching the host.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "passt/net/addr.h"

namespace passt {

// One host interface, for -i/--interface and --outbound-if4/6 naming an
// interface other than the default-route ones. Unset fields stay zero.
struct HostInterface {
	std::string name;
	Ipv4Addr addr4; // first global IPv4 address
	unsigned prefix4 = 0;
	Ipv4Addr gw4;   // default gateway through this interface, if any
	Ipv6Addr addr6; // first global IPv6 address
	unsigned prefix6 = 0;
	Ipv6Addr addr6_ll; // link-local address
	Ipv6Addr gw6;
};

struct HostDefaults {
	// IPv4 uplink: interface of the first default route, if any.
	std::string ifname4;
	Ipv4Addr addr4; // first global address on ifname4
	unsigned prefix4 = 0;
	Ipv4Addr gw4; // its default gateway

	// IPv6 uplink
	std::string ifname6;
	Ipv6Addr addr6; // first global address on ifname6
	unsigned prefix6 = 0;
	Ipv6Addr addr6_ll; // link-local address on ifname6
	Ipv6Addr gw6;

	MacAddr mac;      // MAC of the (IPv4, else IPv6) uplink
	unsigned mtu = 0; // its MTU

	// Every interface of the host (may include the uplinks again); only
	// consulted when an option names an interface.
	std::vector<HostInterface> interfaces;

	// /etc/resolv.conf
	std::vector<InAny> resolvers;
	std::vector<std::string> search;

	// /proc/sys/net/ipv4/ip_local_port_range; "all" forwarding skips it.
	// Default: the RFC 6335 dynamic range.
	uint16_t ephemeral_first = 49152, ephemeral_last = 65535;

	bool has4() const { return !ifname4.empty(); }
	bool has6() const { return !ifname6.empty(); }
};

} // namespace passt
