// Options for name resolution and the names given to the guest: -D,
// --dns-forward, --dns-host, -S, -H, --fqdn and the DHCP/NDP DNS switches.
// Resolvers and search domains from the host are added later, by
// derive_dns() (derive.cpp), for what these leave open.
#include "parser.h"

#include <cstring>

namespace passt::conf_detail {

bool Parser::apply_dns(int id, const char *arg) {
	switch (id) {
	case 'D': return parse_dns(id, arg);
	case O_DNS_FORWARD:
		if (auto f6 = Ipv6Addr::parse(arg)) {
			if (f6->is_unspecified() || f6->is_loopback())
				return bad_arg("DNS forwarding address", id, arg);
			c_.ip6.dns_match = *f6;
		} else if (auto f4 = Ipv4Addr::parse(arg)) {
			if (f4->is_unspecified() || f4->is_broadcast() || f4->is_loopback())
				return bad_arg("DNS forwarding address", id, arg);
			c_.ip4.dns_match = *f4;
		} else {
			return bad_arg("DNS forwarding address", id, arg);
		}
		break;
	case O_DNS_HOST:
		if (auto h6 = Ipv6Addr::parse(arg)) {
			if (h6->is_unspecified())
				return bad_arg("host nameserver address", id, arg);
			c_.ip6.dns_host = *h6;
		} else if (auto h4 = Ipv4Addr::parse(arg)) {
			if (h4->is_unspecified() || h4->is_broadcast())
				return bad_arg("host nameserver address", id, arg);
			c_.ip4.dns_host = *h4;
		} else {
			return bad_arg("host nameserver address", id, arg);
		}
		break;
	case 'S': return parse_search(id, arg);
	case 'H':
		if (std::strlen(arg) > CONF_DNAME_MAX)
			return bad_arg("hostname (too long)", id, arg);
		c_.hostname = arg;
		break;
	case O_FQDN:
		if (std::strlen(arg) > CONF_DNAME_MAX)
			return bad_arg("FQDN (too long)", id, arg);
		c_.fqdn = arg;
		break;
	case O_NO_DHCP_DNS: c_.no_dhcp_dns = true; break;
	case O_DHCP_DNS: c_.no_dhcp_dns = false; break;
	case O_NO_DHCP_SEARCH: c_.no_dhcp_dns_search = true; break;
	case O_DHCP_SEARCH: c_.no_dhcp_dns_search = false; break;
	default: return unhandled(id);
	}
	return true;
}

// -D ADDR|none: one more resolver (of its IP version), or none at all.
bool Parser::parse_dns(int id, const char *arg) {
	if (!std::strcmp(arg, "none")) {
		c_.no_dns = true;
		c_.ip4.dns.clear();
		c_.ip6.dns.clear();
		c_.ip4.dns_match = c_.ip4.dns_host = Ipv4Addr{};
		c_.ip6.dns_match = c_.ip6.dns_host = Ipv6Addr{};
		dns4_given_ = dns6_given_ = false;
		return true;
	}
	c_.no_dns = false;
	if (auto d4 = Ipv4Addr::parse(arg)) {
		dns4_given_ = true;
		if (c_.ip4.dns.size() < CONF_DNS_MAX)
			c_.ip4.dns.push_back(*d4);
		else
			warn(std::string("too many IPv4 resolvers, ignoring ") + arg);
	} else if (auto d6 = Ipv6Addr::parse(arg)) {
		dns6_given_ = true;
		if (c_.ip6.dns.size() < CONF_DNS_MAX)
			c_.ip6.dns.push_back(*d6);
		else
			warn(std::string("too many IPv6 resolvers, ignoring ") + arg);
	} else {
		return bad_arg("DNS address", id, arg);
	}
	return true;
}

// -S LIST|none: search domains, blank-separated; -S again adds to the list.
bool Parser::parse_search(int id, const char *arg) {
	if (!std::strcmp(arg, "none")) {
		c_.no_dns_search = true;
		c_.dns_search.clear();
		search_given_ = false;
		return true;
	}
	c_.no_dns_search = false;
	if (!search_given_)
		c_.dns_search.clear();
	std::string_view s(arg);
	size_t added = 0;
	while (!s.empty()) {
		size_t start = s.find_first_not_of(" \t");
		if (start == std::string_view::npos)
			break;
		s.remove_prefix(start);
		size_t end = s.find_first_of(" \t");
		std::string_view dom = s.substr(0, end);
		s.remove_prefix(dom.size());
		if (dom.size() > CONF_DNAME_MAX)
			return bad_arg("search domain (too long)", id, arg);
		if (c_.dns_search.size() >= CONF_SEARCH_MAX)
			return fail("too many search domains for " + opt_name(id) + " (maximum " +
				    std::to_string(CONF_SEARCH_MAX) + "): " + arg);
		c_.dns_search.emplace_back(dom);
		added++;
	}
	if (!added)
		return bad_arg("search list", id, arg);
	search_given_ = true;
	return true;
}

} // namespace passt::conf_detail
