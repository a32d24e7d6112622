// Forwarding and NAT rules; see include/passt/fwd/nat.h.
// fwd_scope_id() asks the kernel for an interface index (if_nametoindex:
// socket, ioctl and close), when a flow to a link-local address starts.
// #syscalls socket ioctl close
#include "passt/fwd/nat.h"

#include <net/if.h>

#include "passt/net/view.h"

namespace passt {

namespace {

constexpr uint16_t DNS_PORT = 53;

bool dns_proto(uint8_t proto) { return proto == ipproto::tcp || proto == ipproto::udp; }

bool is_multicast(const InAny &a) {
	return a.is_v4() ? a.v4().is_multicast() : a.v6().is_multicast();
}

// --map-guest-addr of the address's family (unspecified if none).
InAny map_guest(const Config &c, const InAny &a) {
	if (a.is_v4()) {
		const Ipv4Addr &m = c.ip4.map_guest_addr;
		return m.is_unspecified() ? InAny() : InAny(m);
	}
	const Ipv6Addr &m = c.ip6.map_guest_addr;
	return m.is_unspecified() ? InAny() : InAny(m);
}

InAny map_host_lo(const Config &c, const InAny &a) {
	if (a.is_v4()) {
		Ipv4Addr m = fwd_map_host_loopback4(c);
		return m.is_unspecified() ? InAny() : InAny(m);
	}
	Ipv6Addr m = fwd_map_host_loopback6(c);
	return m.is_unspecified() ? InAny() : InAny(m);
}

InAny guest_addr(const Config &c, const InAny &a) {
	return a.is_v4() ? InAny(c.ip4.addr) : InAny(c.ip6.addr);
}

} // namespace

Ipv4Addr fwd_map_host_loopback4(const Config &c) {
	if (c.no_map_gw && !c.ip4.map_host_loopback_set)
		return Ipv4Addr{};
	return c.ip4.map_host_loopback;
}

Ipv6Addr fwd_map_host_loopback6(const Config &c) {
	if (c.no_map_gw && !c.ip6.map_host_loopback_set)
		return Ipv6Addr{};
	return c.ip6.map_host_loopback;
}

InAny fwd_nat_from_tap(const Config &c, const InAny &dst) {
	if (dst.is_unspecified())
		return dst;
	if (InAny m = map_host_lo(c, dst); !m.is_unspecified() && m == dst)
		return dst.is_v4() ? InAny(Ipv4Addr::loopback()) : InAny(Ipv6Addr::loopback());
	if (InAny m = map_guest(c, dst); !m.is_unspecified() && m == dst)
		return guest_addr(c, dst);
	return dst;
}

InAny fwd_nat_from_tap(const Config &c, uint8_t proto, const InAny &dst, uint16_t dport) {
	if (dns_proto(proto) && dport == DNS_PORT && !dst.is_unspecified()) {
		if (dst.is_v4() && !c.ip4.dns_match.is_unspecified() &&
		    dst.v4() == c.ip4.dns_match && !c.ip4.dns_host.is_unspecified())
			return InAny(c.ip4.dns_host);
		if (!dst.is_v4() && !c.ip6.dns_match.is_unspecified() &&
		    dst.v6() == c.ip6.dns_match && !c.ip6.dns_host.is_unspecified())
			return InAny(c.ip6.dns_host);
	}
	return fwd_nat_from_tap(c, dst);
}

InAny fwd_nat_to_tap(const Config &c, const InAny &src) {
	if (src.is_unspecified())
		return InAny();
	if (src.is_loopback())
		return map_host_lo(c, src);
	if (src == guest_addr(c, src)) {
		if (InAny m = map_guest(c, src); !m.is_unspecified())
			return m;
		// The guest would take its own address for itself: present the
		// host through the loopback mapping instead, if there is one.
		return map_host_lo(c, src);
	}
	if (!fwd_guest_accessible(c, src))
		return InAny();
	return src;
}

InAny fwd_nat_to_tap(const Config &c, uint8_t proto, const InAny &src, uint16_t sport) {
	if (dns_proto(proto) && sport == DNS_PORT && !src.is_unspecified()) {
		if (src.is_v4() && !c.ip4.dns_host.is_unspecified() && src.v4() == c.ip4.dns_host &&
		    !c.ip4.dns_match.is_unspecified())
			return InAny(c.ip4.dns_match);
		if (!src.is_v4() && !c.ip6.dns_host.is_unspecified() &&
		    src.v6() == c.ip6.dns_host && !c.ip6.dns_match.is_unspecified())
			return InAny(c.ip6.dns_match);
	}
	return fwd_nat_to_tap(c, src);
}

bool fwd_guest_accessible(const Config &c, const InAny &addr) {
	if (addr.is_unspecified() || addr.is_loopback() || is_multicast(addr))
		return false;
	if (addr.is_v4() && addr.v4().is_broadcast())
		return false;
	return addr != guest_addr(c, addr);
}

bool fwd_guest_to_host(const Config &c, uint8_t proto, const FlowSide &guest, FlowSide &host) {
	const InAny &dst = guest.our_addr;
	if (dst.is_v4() ? !c.ip4.enabled : !c.ip6.enabled)
		return false;
	if (dst.is_unspecified() || dst.is_loopback() || is_multicast(dst))
		return false;
	if (dst.is_v4() && dst.v4().is_broadcast())
		return false;

	host = FlowSide{};
	host.peer_addr = fwd_nat_from_tap(c, proto, dst, guest.our_port);
	host.peer_port = guest.our_port;
	// A mapping to an address that is not configured: nowhere to go.
	if (host.peer_addr.is_unspecified())
		return false;
	if (host.peer_addr.is_loopback())
		host.our_addr = host.peer_addr.is_v4() ? InAny(Ipv4Addr::loopback())
						       : InAny(Ipv6Addr::loopback());
	else if (host.peer_addr.is_v4())
		host.our_addr = InAny(c.ip4.addr_out);
	else
		host.our_addr = InAny(c.ip6.addr_out);
	return true;
}

bool fwd_is_our_ll(const Config &c, const InAny &addr) {
	return !addr.is_v4() && !c.ip6.our_tap_ll.is_unspecified() && addr.v6() == c.ip6.our_tap_ll;
}

const std::string &fwd_bind_ifname(const Config &c, const InAny &target) {
	static const std::string none;
	if (target.is_loopback() || fwd_is_our_ll(c, target))
		return none;
	return target.is_v4() ? c.ip4.ifname_out : c.ip6.ifname_out;
}

const std::string &fwd_scope_ifname(const Config &c, const InAny &target) {
	static const std::string none;
	if (target.is_v4() || !target.v6().is_link_local())
		return none;
	if (fwd_is_our_ll(c, target) || c.ip6.ifname_out.empty())
		return c.ip6.ifname;
	return c.ip6.ifname_out;
}

uint32_t fwd_scope_id(const Config &c, const InAny &target) {
	const std::string &name = fwd_scope_ifname(c, target);
	return name.empty() ? 0 : if_nametoindex(name.c_str());
}

bool fwd_splice_from_host(const Config &c, const InAny &src, bool to_addr) {
	if (c.mode != Mode::Pasta || c.no_splice)
		return false;
	return c.splice_only || (!to_addr && src.is_loopback());
}

InAny fwd_splice_ns_target(const Config &c, bool v6, const InAny &seen,
			   const std::optional<InAny> &to_addr) {
	InAny lo = v6 ? InAny(Ipv6Addr::loopback()) : InAny(Ipv4Addr::loopback());
	if (c.splice_only)
		return to_addr && to_addr->is_v4() != v6 ? *to_addr : lo;
	if (c.host_lo_to_ns_lo)
		return lo;
	if (!seen.is_unspecified() && seen.is_v4() != v6)
		return seen;
	InAny own = v6 ? InAny(c.ip6.addr) : InAny(c.ip4.addr);
	return own.is_unspecified() ? lo : own;
}

} // namespace passt
