// The one immutable configuration, built by conf_parse() from the command
// line and the host's state, then passed read-only to every module.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "passt/fwd/fixed_table.h"
#include "passt/net/addr.h"

namespace passt {

enum class Mode : uint8_t { Passt, Pasta, VhostUser };

// One port forwarding rule, as given by -t/-u/-T/-U:
//   [ADDR[%IF]/]FIRST[-LAST][:[TO_ADDR/]TO_FIRST[-TO_LAST]]
// conf_parse() stores inclusive rules with the option's exclusions already
// cut out (so inclusive rules never cover an excluded port), and keeps the
// excluded ranges (~FIRST-LAST) as rules with exclude = true for reference.
// Inclusive rules of one PortForward never overlap for matching addresses.
struct PortRule {
	uint16_t first = 0, last = 0;   // inclusive range of listening ports
	uint16_t to_first = 0;          // first target port (== first if unmapped)
	bool exclude = false;           // ~ range
	std::optional<InAny> bind_addr; // listen only on this address; nullopt:
					// any address of both IP versions
	IfName bind_if;                 // listen only on this interface (%IF); "lo"
					// for -T/-U
	std::optional<InAny> to_addr;   // forward to this address instead of the
					// guest's (or namespace's) own
	bool weak = false;              // best effort: failing to listen on some
					// ports of the range is not fatal ("all")
	bool scan = false;              // pasta "auto": listen only while the
					// target port is bound on the other side
};

// Rules per protocol and direction (a fixed table: -c changes them at run
// time, when nothing may allocate). Documented in doc/passt.1 and pesto.1.
inline constexpr size_t FWD_RULES_MAX = 256;

// Forwarding for one protocol and one direction.
struct PortForward {
	// Summary of what was asked: None (no rules), Spec (explicit ranges),
	// All (all non-ephemeral ports minus exclusions), Auto (any rule scans).
	enum class Kind : uint8_t { None, Spec, All, Auto } kind = Kind::None;
	FixedTable<PortRule, FWD_RULES_MAX> rules;

	// Target port for a listening port, or nullopt if not forwarded.
	std::optional<uint16_t> target(uint16_t port) const;
	// True if port is covered by an exclusion rule.
	bool excluded(uint16_t port) const;
};

struct Ip4Config {
	bool enabled = true;                // false with -6 (or a failing --outbound-if4)
	bool local_mode = false;            // no usable host template: link-local defaults
	std::string ifname;                 // template interface (empty in local mode)
	Ipv4Addr addr;                      // address for the guest (-a), default: host's
	bool addr_fixed = false;            // -a given
	unsigned prefix_len = 0;            // -n, default: host's
	Ipv4Addr gw;                        // -g, default: host's default gateway
	Ipv4Addr map_host_loopback;         // --map-host-loopback (default gw; unspecified: none)
	bool map_host_loopback_set = false; // given explicitly as an address
	Ipv4Addr map_guest_addr;            // --map-guest-addr (unset: unspecified)
	Ipv4Addr addr_out;                  // -o: bind outbound sockets to this
	std::string ifname_out;             // --outbound-if4
	std::vector<Ipv4Addr> dns;          // resolvers advertised to the guest (-D)
	Ipv4Addr dns_match;                 // --dns-forward: queries to this ...
	Ipv4Addr dns_host;                  // ... go to this host resolver (--dns-host)
	bool no_copy_addrs = false;         // pasta --config-net: set only addr
	bool no_copy_routes = false;        // pasta --config-net: set only default route
};

struct Ip6Config {
	bool enabled = true;
	bool local_mode = false;
	std::string ifname; // template interface (empty in local mode)
	Ipv6Addr addr;      // global address for the guest
	bool addr_fixed = false;
	unsigned prefix_len = 64;
	Ipv6Addr gw;         // default router (often link-local)
	Ipv6Addr our_tap_ll; // link-local we use as RA/NA source
	Ipv6Addr map_host_loopback;
	bool map_host_loopback_set = false;
	Ipv6Addr map_guest_addr;
	Ipv6Addr addr_out;
	std::string ifname_out; // --outbound-if6
	std::vector<Ipv6Addr> dns;
	Ipv6Addr dns_match;
	Ipv6Addr dns_host;
	bool no_copy_addrs = false;
	bool no_copy_routes = false;
};

struct Config {
	// Fields are grouped by size (strings and containers, numbers, flags)
	// to keep the struct compact; the comment gives each one's option.

	// Paths and names
	std::string log_file;                // -l
	std::string pcap_file;               // -p
	std::string pid_file;                // -P
	std::string runas;                   // --runas UID[:GID]
	std::string conf_path;               // -c/--conf-path: control socket
	std::string socket_path;             // -s (passt), vhost-user socket
	std::string repair_path;             // --repair-path (vhost-user), "none" disables
	std::string ifname;                  // -i: host interface for derived defaults
	std::string hostname;                // -H: DHCP option 12
	std::string fqdn;                    // --fqdn: DHCP option 81, DHCPv6 option 39
	std::vector<std::string> dns_search; // -S, default: host's resolv.conf

	Ip4Config ip4;
	Ip6Config ip6;

	// Port forwarding: inbound (host -> guest: -t, -u) and, pasta only,
	// outbound (namespace -> host loopback: -T, -U).
	PortForward tcp_in, udp_in, tcp_out, udp_out;

	// pasta
	std::string netns;                // --netns PATH|NAME (resolved to a path)
	std::string userns;               // --userns PATH
	std::string ns_ifname;            // --ns-ifname / -I, default: host's ifname
	std::vector<std::string> command; // COMMAND [ARG...]

	// Non-fatal remarks from parsing ("--stderr is deprecated", MTU too small
	// for IPv6, ...), for the caller to log once logging is set up.
	std::vector<std::string> warnings;

	// Numbers
	size_t log_size = 1 << 20;                    // --log-size
	std::optional<uint32_t> runas_uid, runas_gid; // resolved --runas
	int log_level = 0;                            // 0: info, 1: debug (-d), 2: trace (--trace)
	int fd = -1;                                  // --fd
	unsigned stats_delay = 0;                     // --stats DELAY (seconds), 0: off
	unsigned mtu = 65520;                         // -m, 0: don't advertise an MTU
	int target_pid = 0;                           // pasta PID

	MacAddr our_tap_mac; // -M: our MAC as seen by the guest
	MacAddr ns_mac;      // pasta --ns-mac-addr
	Mode mode = Mode::Passt;

	// Logging and process
	bool quiet = false;           // -q
	bool foreground = false;      // -f
	bool log_stderr = false;      // -e (deprecated, no effect in the C passt)
	bool one_off = false;         // -1, implied by --fd
	bool chroot_fallback = false; // --chroot-fallback

	// Link
	bool migrate_exit = false;      // --migrate-exit (vhost-user, deprecated)
	bool migrate_no_linger = false; // --migrate-no-linger (vhost-user, deprecated)
	bool our_tap_mac_set = false;
	bool mtu_set = false;
	bool no_dns = false;        // -D none
	bool no_dns_search = false; // -S none

	// Services and protocols
	bool no_dhcp = false, no_ndp = false, no_dhcpv6 = false, no_ra = false;
	bool no_icmp = false, no_tcp = false, no_udp = false;
	bool no_map_gw = false;
	bool no_dhcp_dns = false, no_dhcp_dns_search = false;
	bool freebind = false; // --freebind

	// pasta
	bool netns_only = false;                            // --netns-only
	bool config_net = false;                            // --config-net
	bool no_copy_routes = false, no_copy_addrs = false; // as given
	bool no_netns_quit = false;                         // --no-netns-quit
	bool no_pidns = false;                              // --no-pidns
	bool ns_mac_set = false;
	bool host_lo_to_ns_lo = false; // --host-lo-to-ns-lo
	bool no_splice = false;        // --no-splice (always true for passt)
	bool splice_only = false;      // --splice-only
};

} // namespace passt
