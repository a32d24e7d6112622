// Derivation of the configuration from HostDefaults, once every option is
// applied (see conf.cpp for the walk over the options).
//
// Theory of operation
//
// Defaults are derived from HostDefaults, per IP version:
//   - the template interface is -i, else --outbound-if4/6, else the host's
//     default-route interface;
//   - if it has a usable address (or -a gave one), the guest gets its
//     address, prefix and gateway unless -a/-n/-g say otherwise;
//   - if not, "local mode": 169.254.2.1/16 via 169.254.2.2 for IPv4, no
//     global address and fe80::1 as router for IPv6;
//   - the gateway doubles as the address mapped to the host's loopback
//     unless --map-host-loopback or --no-map-gw say otherwise;
//   - resolvers come from -D, else from resolv.conf; a host resolver the
//     guest can't reach as such (loopback, or the mapped address itself) is
//     advertised as the --dns-forward address, else as the mapped host
//     address (queries to it then go to the host resolver), else dropped.
// Port forwarding options are parsed last, once the IP versions in use are
// known; pasta forwards "auto" in every direction not configured.
#include "parser.h"

#include <climits>

#include "passt/fwd/rules.h"

namespace passt::conf_detail {

namespace {

struct Template4 {
	bool found = false;
	Ipv4Addr addr, gw;
	unsigned prefix = 0;
};

struct Template6 {
	bool found = false;
	Ipv6Addr addr, ll, gw;
};

Template4 template4(const HostDefaults &host, const std::string &name) {
	Template4 t;
	if (name.empty())
		return t;
	if (name == host.ifname4)
		return {true, host.addr4, host.gw4, host.prefix4};
	for (const HostInterface &i : host.interfaces)
		if (i.name == name)
			return {true, i.addr4, i.gw4, i.prefix4};
	return t;
}

Template6 template6(const HostDefaults &host, const std::string &name) {
	Template6 t;
	if (name.empty())
		return t;
	if (name == host.ifname6)
		return {true, host.addr6, host.addr6_ll, host.gw6};
	for (const HostInterface &i : host.interfaces)
		if (i.name == name)
			return {true, i.addr6, i.addr6_ll, i.gw6};
	return t;
}

constexpr Ipv4Addr LL_GUEST_ADDR4 = Ipv4Addr::from_host(0xa9fe0201); // 169.254.2.1
constexpr Ipv4Addr LL_GUEST_GW4 = Ipv4Addr::from_host(0xa9fe0202);   // 169.254.2.2
constexpr unsigned LL_PREFIX4 = 16;

Ipv6Addr ll_guest_gw6() {
	Ipv6Addr a;
	a.b[0] = 0xfe;
	a.b[1] = 0x80;
	a.b[15] = 1;
	return a;
}

} // namespace

// Guest IPv4 address, prefix and gateway: template interface or local mode.
bool Parser::derive_ip4() {
	Ip4Config &ip4 = c_.ip4;
	ip4.enabled = !v6_only_;
	if (!ip4.enabled || c_.splice_only) {
		if (!ip4.ifname_out.empty())
			return fail("--outbound-if4 " + ip4.ifname_out +
				    " given, but IPv4 is not in use");
		return true;
	}

	std::string name = !c_.ifname.empty()        ? c_.ifname
			   : !ip4.ifname_out.empty() ? ip4.ifname_out
						     : host_.ifname4;
	Template4 t = template4(host_, name);
	ip4.gw = g4_ ? *g4_ : t.gw;
	auto prefix_for_given = [this] {
		return a4_prefix_ ? *a4_prefix_ : n_prefix_ ? *n_prefix_ : a4_->classful_prefix();
	};

	if (t.found && (a4_ || !t.addr.is_unspecified())) {
		ip4.ifname = name;
		if (a4_) {
			ip4.addr = *a4_;
			ip4.prefix_len = prefix_for_given();
		} else {
			ip4.addr = t.addr;
			ip4.prefix_len = n_prefix_  ? *n_prefix_
					 : t.prefix ? t.prefix
						    : t.addr.classful_prefix();
		}
		return true;
	}

	if (!ip4.ifname_out.empty())
		return fail("interface " + ip4.ifname_out +
			    " for --outbound-if4 has no usable "
			    "IPv4 address");
	// Local mode: link-local defaults
	ip4.local_mode = true;
	if (a4_) {
		ip4.addr = *a4_;
		ip4.prefix_len = prefix_for_given();
	} else {
		ip4.addr = LL_GUEST_ADDR4;
		ip4.prefix_len = n_prefix_ ? *n_prefix_ : LL_PREFIX4;
	}
	if (ip4.gw.is_unspecified())
		ip4.gw = LL_GUEST_GW4;
	ip4.no_copy_addrs = ip4.no_copy_routes = true;
	return true;
}

void Parser::derive_ip6() {
	Ip6Config &ip6 = c_.ip6;
	ip6.enabled = !v4_only_;
	if (!ip6.enabled || c_.splice_only)
		return;

	std::string name = !c_.ifname.empty()        ? c_.ifname
			   : !ip6.ifname_out.empty() ? ip6.ifname_out
						     : host_.ifname6;
	Template6 t = template6(host_, name);
	ip6.gw = g6_ ? *g6_ : t.gw;
	Ipv6Addr addr = a6_ ? *a6_ : t.addr;
	Ipv6Addr ll = ip6.gw.is_link_local() ? ip6.gw : t.ll;

	if (t.found && !addr.is_unspecified() && !ll.is_unspecified()) {
		ip6.ifname = name;
		ip6.addr = addr;
		ip6.our_tap_ll = ll;
		return;
	}

	// Local mode: no global address unless given, fe80::1 as router
	ip6.local_mode = true;
	ip6.addr = a6_ ? *a6_ : Ipv6Addr{};
	if (ip6.gw.is_unspecified())
		ip6.gw = ll_guest_gw6();
	ip6.our_tap_ll = ip6.gw.is_link_local() ? ip6.gw : ll_guest_gw6();
	ip6.no_copy_addrs = ip6.no_copy_routes = true;
}

// Resolvers from resolv.conf for each IP version not given with -D, and the
// search list unless given with -S.
void Parser::derive_dns() {
	Ip4Config &ip4 = c_.ip4;
	Ip6Config &ip6 = c_.ip6;
	bool used_resolv = false;
	size_t added = 0;

	if (!c_.no_dns) {
		bool want4 = ip4.enabled && !dns4_given_;
		bool want6 = ip6.enabled && !dns6_given_;
		used_resolv = want4 || want6;
		for (const InAny &ns : host_.resolvers) {
			if (ns.is_v4() && want4) {
				Ipv4Addr a = ns.v4();
				if (ip4.dns_host.is_unspecified())
					ip4.dns_host = a;
				if (a.is_loopback() || a == ip4.map_host_loopback) {
					if (!ip4.dns_match.is_unspecified()) {
						a = ip4.dns_match;
					} else if (!ip4.map_host_loopback.is_unspecified()) {
						a = ip4.map_host_loopback;
						ip4.dns_match = a;
					} else {
						continue; // the guest can't reach it
					}
				}
				if (ip4.dns.size() < CONF_DNS_MAX) {
					ip4.dns.push_back(a);
					added++;
				}
			} else if (!ns.is_v4() && want6) {
				Ipv6Addr a = ns.v6();
				if (ip6.dns_host.is_unspecified())
					ip6.dns_host = a;
				if (a.is_loopback() || a == ip6.map_host_loopback) {
					if (!ip6.dns_match.is_unspecified()) {
						a = ip6.dns_match;
					} else if (!ip6.map_host_loopback.is_unspecified()) {
						a = ip6.map_host_loopback;
						ip6.dns_match = a;
					} else {
						continue;
					}
				}
				if (ip6.dns.size() < CONF_DNS_MAX) {
					ip6.dns.push_back(a);
					added++;
				}
			}
		}
	}

	if (!c_.no_dns_search && !search_given_) {
		for (const std::string &s : host_.search) {
			if (c_.dns_search.size() >= CONF_SEARCH_MAX)
				break;
			if (!s.empty() && s.size() <= CONF_DNAME_MAX)
				c_.dns_search.push_back(s);
		}
	}

	if (used_resolv) {
		if (!added)
			warn("Couldn't get any nameserver address");
		if (!c_.no_dhcp_dns) {
			if (ip4.enabled && !c_.no_dhcp && ip4.dns.empty())
				warn("No IPv4 nameserver available for DHCP");
			if (ip6.enabled && ((!c_.no_ndp && !c_.no_ra) || !c_.no_dhcpv6) &&
			    ip6.dns.empty())
				warn("No IPv6 nameserver available for NDP/DHCPv6");
		}
	}
}

// The address mapped to the host's loopback: the gateway, unless
// --map-host-loopback or --no-map-gw said otherwise; none for an IP
// version not in use.
void Parser::derive_host_map() {
	c_.no_map_gw = no_map_gw_;
	if (c_.ip4.enabled && !no_map_gw_ && c_.ip4.map_host_loopback.is_unspecified())
		c_.ip4.map_host_loopback = c_.ip4.gw;
	if (c_.ip6.enabled && !no_map_gw_ && c_.ip6.map_host_loopback.is_unspecified())
		c_.ip6.map_host_loopback = c_.ip6.gw;
	if (!c_.ip4.enabled)
		c_.ip4.map_host_loopback = Ipv4Addr{};
	if (!c_.ip6.enabled)
		c_.ip6.map_host_loopback = Ipv6Addr{};
}

bool Parser::derive_ports() {
	auto fwd_for = [this](char o) -> PortForward & {
		switch (o) {
		case 't': return c_.tcp_in;
		case 'u': return c_.udp_in;
		case 'T': return c_.tcp_out;
		default: return c_.udp_out;
		}
	};
	auto ctx_for = [this](char o) {
		FwdSpecContext ctx;
		ctx.optname = o;
		ctx.ipv4 = c_.ip4.enabled;
		ctx.ipv6 = c_.ip6.enabled;
		ctx.proto_enabled = (o == 't' || o == 'T') ? !c_.no_tcp : !c_.no_udp;
		ctx.scan_allowed = mode_ == Mode::Pasta;
		ctx.ephemeral_first = host_.ephemeral_first;
		ctx.ephemeral_last = host_.ephemeral_last;
		return ctx;
	};

	std::string err;
	for (const auto &[o, spec] : fwd_specs_) {
		if (!fwd_rules_parse(spec, ctx_for(o), fwd_for(o), err))
			return fail(err);
	}
	if (mode_ == Mode::Pasta) {
		static const char names[] = "tuTU";
		for (int i = 0; i < 4; i++) {
			char o = names[i];
			FwdSpecContext ctx = ctx_for(o);
			if (fwd_given_[i] || !ctx.proto_enabled)
				continue;
			if (!fwd_rules_parse("auto", ctx, fwd_for(o), err))
				return fail(err);
		}
	}
	return true;
}

// PID or COMMAND for pasta; namespace paths.
bool Parser::derive_pasta_ns(int argc, char **argv, int first_arg) {
	int nargs = argc - first_arg;
	if (mode_ != Mode::Pasta) {
		if (nargs > 0)
			return fail(std::string("extra non-option argument: ") + argv[first_arg]);
		return true;
	}
	if (!c_.netns.empty() && nargs > 0)
		return fail(std::string("both --netns and PID or command given: ") +
			    argv[first_arg]);

	bool is_pid = false;
	if (nargs == 1) {
		const char *a = argv[first_arg];
		is_pid = *a != '\0';
		for (const char *p = a; *p; p++)
			is_pid = is_pid && *p >= '0' && *p <= '9';
		if (is_pid) {
			unsigned long pid;
			if (!parse_ulong(a, false, INT_MAX, pid))
				return fail(std::string("invalid PID: ") + a);
			c_.target_pid = int(pid);
			c_.netns = "/proc/" + std::to_string(pid) + "/ns/net";
			if (c_.userns.empty() && !c_.netns_only)
				c_.userns = "/proc/" + std::to_string(pid) + "/ns/user";
		}
	}
	if (!is_pid)
		for (int i = first_arg; i < argc; i++)
			c_.command.emplace_back(argv[i]);

	if (c_.no_pidns && !c_.netns.empty())
		return fail("--no-pidns can't be used with a PID or --netns");
	if (!c_.netns.empty() && c_.userns.empty())
		c_.netns_only = true;
	return true;
}

} // namespace passt::conf_detail
