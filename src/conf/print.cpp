// Start-up summary of the configuration, in the layout users of the C
// passt know: template interface, MAC, what DHCP and NDP/DHCPv6 will hand
// out (resolvers and search list only where they are handed out: not by
// default in pasta, see --dhcp-dns) and forwarding rules.
//
// #syscalls:init write newfstatat ioctl
#include "passt/conf/conf.h"
#include "passt/fwd/rules.h"

namespace passt {

namespace {

void add_rules(std::vector<std::string> &out, const PortForward &f, const char *proto) {
	for (const PortRule &r : f.rules)
		if (!r.exclude)
			out.push_back("    " + fwd_rule_format(r, proto));
}

// The search list, where DHCP, DHCPv6 or NDP hand it out.
void add_search(std::vector<std::string> &out, const Config &c) {
	if (c.no_dhcp_dns_search)
		return;
	for (size_t i = 0; i < c.dns_search.size(); i++) {
		if (!i)
			out.emplace_back("DNS search list:");
		out.push_back("    " + c.dns_search[i]);
	}
}

} // namespace

// Longer than most functions: one block per section of the summary, in the
// order printed, which reads best as a list.
std::vector<std::string> conf_format(const Config &c) {
	std::vector<std::string> out;
	const Ip4Config &ip4 = c.ip4;
	const Ip6Config &ip6 = c.ip6;
	bool v4 = ip4.enabled, v6 = ip6.enabled;

	bool t4 = v4 && !ip4.ifname.empty(), t6 = v6 && !ip6.ifname.empty();
	if (t4 || t6) {
		std::string s = "Template interface: ";
		if (t4)
			s += ip4.ifname + " (IPv4)";
		if (t4 && t6)
			s += ", ";
		if (t6)
			s += ip6.ifname + " (IPv6)";
		out.push_back(s);
	}
	if (!ip4.ifname_out.empty() || !ip6.ifname_out.empty()) {
		std::string s = "Outbound interface: ";
		if (!ip4.ifname_out.empty())
			s += ip4.ifname_out + " (IPv4)";
		if (!ip4.ifname_out.empty() && !ip6.ifname_out.empty())
			s += ", ";
		if (!ip6.ifname_out.empty())
			s += ip6.ifname_out + " (IPv6)";
		out.push_back(s);
	}
	if (!ip4.addr_out.is_unspecified())
		out.push_back("Outbound IPv4 address: " + ip4.addr_out.to_string());
	if (!ip6.addr_out.is_unspecified())
		out.push_back("Outbound IPv6 address: " + ip6.addr_out.to_string());
	if (c.mode == Mode::Pasta && !c.splice_only)
		out.push_back("Namespace interface: " + c.ns_ifname);

	out.emplace_back("MAC:");
	out.push_back("    host: " + c.our_tap_mac.to_string());

	if (v4) {
		if (!ip4.map_host_loopback.is_unspecified())
			out.push_back("    NAT to host 127.0.0.1: " +
				      ip4.map_host_loopback.to_string());
		if (!c.no_dhcp) {
			out.emplace_back("DHCP:");
			out.push_back("    assign: " + ip4.addr.to_string());
			out.push_back("    mask: " + Ipv4Addr::netmask(ip4.prefix_len).to_string());
			out.push_back("    router: " + ip4.gw.to_string());
		}
		// Resolvers and search list go out in DHCP replies only.
		for (size_t i = 0; !c.no_dhcp && !c.no_dhcp_dns && i < ip4.dns.size(); i++) {
			if (!i)
				out.emplace_back("DNS:");
			out.push_back("    " + ip4.dns[i].to_string());
		}
		if (!c.no_dhcp)
			add_search(out, c);
	}

	if (v6) {
		if (!ip6.map_host_loopback.is_unspecified())
			out.push_back("    NAT to host ::1: " + ip6.map_host_loopback.to_string());
		const char *hdr = nullptr;
		if (!c.no_ndp && !c.no_dhcpv6)
			hdr = "NDP/DHCPv6:";
		else if (!c.no_dhcpv6)
			hdr = "DHCPv6:";
		else if (!c.no_ndp)
			hdr = "NDP:";
		if (hdr) {
			out.emplace_back(hdr);
			out.push_back("    assign: " + ip6.addr.to_string());
			out.push_back("    router: " + ip6.gw.to_string());
			out.push_back("    our link-local: " + ip6.our_tap_ll.to_string());
		}
		// ... and in router advertisements or DHCPv6 replies.
		for (size_t i = 0; hdr && !c.no_dhcp_dns && i < ip6.dns.size(); i++) {
			if (!i)
				out.emplace_back("DNS:");
			out.push_back("    " + ip6.dns[i].to_string());
		}
		if (hdr)
			add_search(out, c);
	}

	out.emplace_back("Inbound forwarding rules (HOST):");
	add_rules(out, c.tcp_in, "TCP");
	add_rules(out, c.udp_in, "UDP");
	if (c.mode == Mode::Pasta) {
		out.emplace_back("Outbound forwarding rules (SPLICE):");
		add_rules(out, c.tcp_out, "TCP");
		add_rules(out, c.udp_out, "UDP");
	}
	return out;
}

void conf_print(const Config &c, FILE *f) {
	for (const std::string &line : conf_format(c))
		std::fprintf(f, "%s\n", line.c_str());
}

} // namespace passt
