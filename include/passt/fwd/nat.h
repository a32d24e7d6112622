// Forwarding and NAT rules between the guest's view of addresses and the
// host's.
//
// Theory of operation
// -------------------
// The guest shares the host's addresses, so a few addresses it sees must
// mean something else on the host:
//   - the "map host loopback" address (--map-host-loopback, by default the
//     default gateway, none with --no-map-gw unless given explicitly): a
//     guest destination equal to it is the host itself, reached on its
//     loopback (127.0.0.1 or ::1), from a loopback source address;
//   - the "map guest address" (--map-guest-addr, none by default): a guest
//     destination equal to it is the host's address that the guest also
//     uses (the address assigned to the guest, c.ipX.addr);
//   - the DNS forwarding address (--dns-forward): TCP/UDP port 53 to it goes
//     to the host resolver (--dns-host).
// Our link-local address (c.ip6.our_tap_ll: the source of our router
// advertisements, so the router of a guest configured by SLAAC) stands for
// the host too. With a link-local host gateway it is that gateway, mapped
// to the host's loopback as above. Otherwise it is the host's own
// link-local address on the template interface: it needs no translation,
// only that interface as scope (fwd_scope_id()) and no binding to
// --outbound-if6, and the host sees the flow arrive at, and come from,
// that address.
// In the other direction (flows started by, or replies from, the host) the
// rules are reversed: the host's loopback appears to come from the map host
// loopback address, the guest's own address on the host from the map guest
// address, the host resolver from the DNS forwarding address. Addresses the
// guest cannot see as a peer (loopback, unspecified, its own address) with
// no mapping for them make such flows impossible: the result is then the
// unspecified address and the caller drops the flow.
//
// Everything here is a pure function of the Config, with no state, and no
// I/O but the interface index lookup of fwd_scope_id().
#pragma once

#include <cstdint>

#include "passt/conf/config.h"
#include "passt/flow/flow.h"
#include "passt/net/addr.h"
#include "passt/net/view.h" // ipproto::

namespace passt {

// Effective --map-host-loopback address of each family; unspecified if no
// address is mapped (--no-map-gw without an explicit --map-host-loopback,
// or --map-host-loopback none).
Ipv4Addr fwd_map_host_loopback4(const Config &c);
Ipv6Addr fwd_map_host_loopback6(const Config &c);

// Host-side destination for a guest destination dst (any protocol).
InAny fwd_nat_from_tap(const Config &c, const InAny &dst);
// Same, for a protocol (ipproto::*) and destination port: adds the DNS
// forwarding rule for TCP and UDP port 53.
InAny fwd_nat_from_tap(const Config &c, uint8_t proto, const InAny &dst, uint16_t dport);

// Reverse: the address as which a host source src is presented to the
// guest; unspecified if it can't be presented (see above).
InAny fwd_nat_to_tap(const Config &c, const InAny &src);
InAny fwd_nat_to_tap(const Config &c, uint8_t proto, const InAny &src, uint16_t sport);

// True if the guest can use addr as a peer address as it is: not loopback,
// not unspecified, not multicast, not the limited broadcast address, and not
// the guest's own address.
bool fwd_guest_accessible(const Config &c, const InAny &addr);

// Fill the host side of a flow started by the guest: peer = NAT'd
// destination and the same port, ours = address to bind (loopback for a
// loopback target, else --outbound / -o address or unspecified), port 0
// (the socket picks). False if the guest side's destination can't be
// forwarded (unspecified, loopback or multicast as the guest addressed it,
// limited broadcast, or a family that is disabled).
bool fwd_guest_to_host(const Config &c, uint8_t proto, const FlowSide &guest, FlowSide &host);

// True if addr is our link-local address (c.ip6.our_tap_ll, if set).
bool fwd_is_our_ll(const Config &c, const InAny &addr);

// Interface to bind outbound sockets to for a host-side target ("" for
// none): --outbound-if4/6, never for loopback targets or our link-local
// address (the host itself).
const std::string &fwd_bind_ifname(const Config &c, const InAny &target);

// Interface that scopes a link-local IPv6 host-side address ("" if not
// link-local, or none is known): the template interface for our link-local
// address (it is the host's address there), else --outbound-if6 if given,
// else the template interface.
const std::string &fwd_scope_ifname(const Config &c, const InAny &target);
// Its index, for sin6_scope_id (0 for none or if the lookup fails).
uint32_t fwd_scope_id(const Config &c, const InAny &target);

// pasta's loopback splice, inbound (-t, -u; see tcp/splice.cpp and
// udp/udp_splice.h). A flow from the host source src to a rule with
// (to_addr) or without a target address is spliced, not sent through the
// tap device, if src is a loopback address, the rule has no target address
// and --no-splice is not given. With --no-splice it takes the tap path,
// where the loopback source appears as the --map-host-loopback address.
// With --splice-only there is no tap device: every inbound flow is
// spliced, whatever its source and target.
bool fwd_splice_from_host(const Config &c, const InAny &src, bool to_addr);
// Where a spliced inbound flow of family v6 goes in the namespace: its
// loopback with --host-lo-to-ns-lo; else its own address (seen: the one
// the namespace last used on the tap device, else the configured one), so
// that services listening only on the namespace's loopback are not reached
// from the host's; the loopback if the namespace has no address of that
// family. With --splice-only, the rule's target address (to_addr) if it
// has one of that family, else the loopback.
InAny fwd_splice_ns_target(const Config &c, bool v6, const InAny &seen,
			   const std::optional<InAny> &to_addr);

} // namespace passt
