// conf_format(): the start-up summary lists what the guest will be given.
#include <gtest/gtest.h>

#include <algorithm>

#include "passt/conf/conf.h"

using namespace passt;

namespace {

HostDefaults host() {
	HostDefaults h;
	h.ifname4 = h.ifname6 = "eth0";
	h.addr4 = *Ipv4Addr::parse("192.0.2.2");
	h.prefix4 = 24;
	h.gw4 = *Ipv4Addr::parse("192.0.2.1");
	h.addr6 = *Ipv6Addr::parse("2001:db8::2");
	h.addr6_ll = *Ipv6Addr::parse("fe80::2");
	h.gw6 = *Ipv6Addr::parse("fe80::1");
	h.resolvers = {InAny(*Ipv4Addr::parse("192.0.2.53"))};
	h.search = {"example.com"};
	return h;
}

std::vector<std::string> lines(Mode mode, std::vector<std::string> args) {
	args.insert(args.begin(), mode_name(mode));
	std::vector<char *> argv;
	for (auto &a : args)
		argv.push_back(a.data());
	Config c;
	std::string err;
	EXPECT_EQ(conf_parse(int(args.size()), argv.data(), mode, host(), c, err), ParseStatus::Ok)
		<< err;
	return conf_format(c);
}

bool has(const std::vector<std::string> &v, const std::string &line) {
	return std::find(v.begin(), v.end(), line) != v.end();
}

} // namespace

TEST(ConfPrint, Passt) {
	auto l = lines(Mode::Passt, {"-t", "2222:22"});
	const std::vector<std::string> expect = {
		"Template interface: eth0 (IPv4), eth0 (IPv6)",
		"MAC:",
		"    host: 9a:55:9a:55:9a:55",
		"    NAT to host 127.0.0.1: 192.0.2.1",
		"DHCP:",
		"    assign: 192.0.2.2",
		"    mask: 255.255.255.0",
		"    router: 192.0.2.1",
		"DNS:",
		"    192.0.2.53",
		"DNS search list:",
		"    example.com",
		"    NAT to host ::1: fe80::1",
		"NDP/DHCPv6:",
		"    assign: 2001:db8::2",
		"    router: fe80::1",
		"    our link-local: fe80::1",
		"DNS search list:",
		"    example.com",
		"Inbound forwarding rules (HOST):",
		"    TCP [*]:2222  =>  22 ",
	};
	EXPECT_EQ(l, expect);
}

TEST(ConfPrint, VariantsFollowConfiguration) {
	auto l = lines(Mode::Passt, {"--no-dhcp", "--no-ndp", "-o", "192.0.2.2", "--outbound-if6",
				     "eth0", "--no-map-gw"});
	EXPECT_FALSE(has(l, "DHCP:"));
	EXPECT_TRUE(has(l, "DHCPv6:"));
	EXPECT_FALSE(has(l, "NDP/DHCPv6:"));
	EXPECT_TRUE(has(l, "Outbound IPv4 address: 192.0.2.2"));
	EXPECT_TRUE(has(l, "Outbound interface: eth0 (IPv6)"));
	EXPECT_FALSE(has(l, "    NAT to host 127.0.0.1: 192.0.2.1"));

	auto p = lines(Mode::Pasta,
		       {"-4", "-I", "ns0", "-t", "none", "-u", "none", "-T", "none", "-U", "53"});
	EXPECT_TRUE(has(p, "Template interface: eth0 (IPv4)"));
	EXPECT_TRUE(has(p, "Namespace interface: ns0"));
	EXPECT_FALSE(has(p, "NDP/DHCPv6:"));
	EXPECT_TRUE(has(p, "Outbound forwarding rules (SPLICE):"));
	EXPECT_TRUE(has(p, "    UDP [0.0.0.0]%lo:53  =>  53 "));
	EXPECT_EQ(p.back(), "    UDP [0.0.0.0]%lo:53  =>  53 ");

	auto a = lines(Mode::Pasta, {"-t", "none", "-u", "none", "-T", "none", "-U", "none"});
	EXPECT_EQ(a.back(), "Outbound forwarding rules (SPLICE):");
}

// pasta hands out no resolvers or search list unless asked (--dhcp-dns,
// --dhcp-search), and the summary says only what is handed out.
TEST(ConfPrint, ResolversOnlyWhereHandedOut) {
	auto p = lines(Mode::Pasta, {});
	EXPECT_FALSE(has(p, "DNS:"));
	EXPECT_FALSE(has(p, "    192.0.2.53"));
	EXPECT_FALSE(has(p, "DNS search list:"));

	auto d = lines(Mode::Pasta, {"--dhcp-dns"});
	EXPECT_TRUE(has(d, "DNS:"));
	EXPECT_TRUE(has(d, "    192.0.2.53"));
	EXPECT_FALSE(has(d, "DNS search list:"));

	auto s = lines(Mode::Pasta, {"--dhcp-search"});
	EXPECT_FALSE(has(s, "DNS:"));
	EXPECT_TRUE(has(s, "DNS search list:"));

	auto n = lines(Mode::Passt, {"--no-dhcp-dns", "--no-dhcp-search"});
	EXPECT_FALSE(has(n, "DNS:"));
	EXPECT_FALSE(has(n, "DNS search list:"));

	// Nothing hands them out with DHCP, NDP and DHCPv6 all off.
	auto off = lines(Mode::Passt, {"--no-dhcp", "--no-ndp", "--no-dhcpv6"});
	EXPECT_FALSE(has(off, "DNS:"));
	EXPECT_FALSE(has(off, "    192.0.2.53"));
	EXPECT_FALSE(has(off, "DNS search list:"));
	// IPv4 off: the IPv4 resolver is not listed under IPv6.
	auto v4off = lines(Mode::Passt, {"--no-dhcp"});
	EXPECT_FALSE(has(v4off, "    192.0.2.53"));
	EXPECT_TRUE(has(v4off, "DNS search list:"));
}

TEST(ConfPrint, ToFile) {
	char *buf = nullptr;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ASSERT_NE(f, nullptr);
	Config c;
	c.ip4.enabled = c.ip6.enabled = false;
	conf_print(c, f);
	fclose(f);
	std::string s(buf, len);
	free(buf);
	EXPECT_EQ(s, "MAC:\n    host: 00:00:00:00:00:00\nInbound forwarding rules (HOST):\n");
}
