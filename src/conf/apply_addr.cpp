// Options for the guest's addresses and routes: -a, -n, -g, -o, -i,
// --outbound-if4/6, -4/-6, --map-host-loopback, --map-guest-addr,
// --no-map-gw, and the link: -m, -M. Addresses, prefix and gateway are only
// recorded here; derive_ip4() and derive_ip6() (derive.cpp) combine them
// with the template interface.
#include "parser.h"

#include <climits>
#include <cstring>

namespace passt::conf_detail {

namespace {

// Without a list of interfaces from the prober, any name is taken on trust
// (it then only works as a template if it is one of the uplinks).
bool host_has_iface(const HostDefaults &host, const std::string &name) {
	if (name == host.ifname4 || name == host.ifname6 || host.interfaces.empty())
		return true;
	for (const HostInterface &i : host.interfaces)
		if (i.name == name)
			return true;
	return false;
}

} // namespace

bool Parser::apply_addr(int id, const char *arg) {
	unsigned long v;
	switch (id) {
	case 'm':
		if (!parse_ulong(arg, true, ULONG_MAX, v))
			return bad_arg("MTU", id, arg);
		if (v > CONF_MTU_MAX)
			return fail("MTU too large for " + opt_name(id) + ": " + arg +
				    " (maximum " + std::to_string(CONF_MTU_MAX) + ")");
		c_.mtu = unsigned(v);
		c_.mtu_set = true;
		break;
	case 'a': return parse_address(arg);
	case 'n': {
		if (a_is_prefix_)
			return fail(std::string("redundant prefix length: -a/--address has one, "
						"and -n/--netmask ") +
				    arg + " was given");
		unsigned len;
		if (!parse_prefix4(arg, len))
			return bad_arg("netmask", id, arg);
		n_prefix_ = len;
		break;
	}
	case 'M': {
		auto m = MacAddr::parse(arg);
		if (!m)
			return bad_arg("MAC address", id, arg);
		c_.our_tap_mac = *m;
		c_.our_tap_mac_set = true;
		break;
	}
	case 'g': return parse_gateway(id, arg);
	case 'i':
		if (!set_ifname(c_.ifname, id, arg))
			return false;
		if (!host_has_iface(host_, c_.ifname))
			return fail("no such interface for " + opt_name(id) + ": " + arg);
		break;
	case 'o': return parse_outbound(id, arg);
	case O_OUTBOUND_IF4:
	case O_OUTBOUND_IF6: {
		std::string &dst = id == O_OUTBOUND_IF4 ? c_.ip4.ifname_out : c_.ip6.ifname_out;
		if (!set_ifname(dst, id, arg))
			return false;
		if (!host_has_iface(host_, dst))
			return fail("no such interface for " + opt_name(id) + ": " + arg);
		break;
	}
	case O_MAP_HOST_LOOPBACK:
		return parse_map(id, arg, c_.ip4.map_host_loopback, c_.ip6.map_host_loopback,
				 &c_.ip4.map_host_loopback_set, &c_.ip6.map_host_loopback_set);
	case O_MAP_GUEST_ADDR:
		return parse_map(id, arg, c_.ip4.map_guest_addr, c_.ip6.map_guest_addr, nullptr,
				 nullptr);
	case O_NO_MAP_GW: no_map_gw_ = true; break;
	case '4':
		v4_only_ = true;
		v6_only_ = false;
		break;
	case '6':
		v6_only_ = true;
		v4_only_ = false;
		break;
	default: return unhandled(id);
	}
	return true;
}

// -a ADDR[/PREFIX]
bool Parser::parse_address(const char *arg) {
	std::string_view s(arg);
	std::string_view addr_part = s, prefix_part;
	bool is_prefix = false;
	size_t slash = s.rfind('/');
	if (slash != std::string_view::npos) {
		addr_part = s.substr(0, slash);
		prefix_part = s.substr(slash + 1);
		is_prefix = true;
	}
	auto a = parse_inany(addr_part);
	if (!a)
		return bad_arg("address", 'a', arg);
	bool v4 = a->is_v4();
	if (is_prefix) {
		unsigned long len;
		if (!parse_ulong(prefix_part, false, v4 ? 32 : 128, len))
			return bad_arg("prefix length", 'a', arg);
		if (n_prefix_)
			return fail("redundant prefix length: -n/--netmask given with " +
				    opt_name('a') + " " + arg);
		if (v4)
			a4_prefix_ = unsigned(len);
	} else if (v4) {
		a4_prefix_.reset();
	}
	bool unusable =
		v4 ? (a->v4().is_unspecified() || a->v4().is_multicast() ||
		      a->v4().is_broadcast() || a->v4().is_loopback())
		   : (a->v6().is_unspecified() || a->v6().is_multicast() || a->v6().is_loopback());
	if (unusable)
		return bad_arg("address (not a unicast address)", 'a', arg);
	if (v4) {
		a4_ = a->v4();
		c_.ip4.addr_fixed = true;
		c_.ip4.no_copy_addrs = true;
	} else {
		a6_ = a->v6();
		c_.ip6.addr_fixed = true;
		c_.ip6.no_copy_addrs = true;
	}
	a_is_prefix_ = is_prefix;
	return true;
}

// -g ADDR: IPv4 or IPv6 (in pasta, routes are then not copied).
bool Parser::parse_gateway(int id, const char *arg) {
	if (auto g = Ipv6Addr::parse(arg)) {
		if (g->is_unspecified() || g->is_loopback())
			return bad_arg("gateway address", id, arg);
		g6_ = *g;
		if (mode_ == Mode::Pasta)
			c_.ip6.no_copy_routes = true;
	} else if (auto g4 = Ipv4Addr::parse(arg)) {
		if (g4->is_unspecified() || g4->is_broadcast() || g4->is_loopback())
			return bad_arg("gateway address", id, arg);
		g4_ = *g4;
		if (mode_ == Mode::Pasta)
			c_.ip4.no_copy_routes = true;
	} else {
		return bad_arg("gateway address", id, arg);
	}
	return true;
}

// -o ADDR: source address for outbound sockets, IPv4 or IPv6.
bool Parser::parse_outbound(int id, const char *arg) {
	if (auto o6 = Ipv6Addr::parse(arg)) {
		bool v4compat = o6->b[12] | o6->b[13] | o6->b[14] | o6->b[15];
		for (int i = 0; i < 12; i++)
			v4compat = v4compat && !o6->b[i];
		if (o6->is_unspecified() || o6->is_loopback() || o6->is_v4mapped() || v4compat ||
		    o6->is_multicast())
			return bad_arg("outbound address", id, arg);
		c_.ip6.addr_out = *o6;
	} else if (auto o4 = Ipv4Addr::parse(arg)) {
		if (o4->is_unspecified() || o4->is_broadcast() || o4->is_multicast())
			return bad_arg("outbound address", id, arg);
		c_.ip4.addr_out = *o4;
	} else {
		return bad_arg("outbound address", id, arg);
	}
	return true;
}

// --map-host-loopback, --map-guest-addr: ADDR or "none"
bool Parser::parse_map(int id, const char *arg, Ipv4Addr &m4, Ipv6Addr &m6, bool *set4,
		       bool *set6) {
	if (!std::strcmp(arg, "none")) {
		m4 = Ipv4Addr{};
		m6 = Ipv6Addr{};
		if (set4)
			*set4 = *set6 = false;
		if (id == O_MAP_HOST_LOOPBACK)
			no_map_gw_ = true;
		return true;
	}
	if (auto a6 = Ipv6Addr::parse(arg)) {
		if (!a6->is_unspecified() && !a6->is_loopback() && !a6->is_multicast()) {
			m6 = *a6;
			if (set6)
				*set6 = true;
			return true;
		}
	} else if (auto a4 = Ipv4Addr::parse(arg)) {
		if (!a4->is_unspecified() && !a4->is_loopback() && !a4->is_multicast()) {
			m4 = *a4;
			if (set4)
				*set4 = true;
			return true;
		}
	}
	return bad_arg("address", id, arg);
}

} // namespace passt::conf_detail
