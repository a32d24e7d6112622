// conf_parse(): options in every accepted form, defaults derived from a fake
// HostDefaults, and every class of error (named option, exit failure).
#include <gtest/gtest.h>

#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "passt/conf/conf.h"

using namespace passt;

namespace {

Ipv4Addr v4(const char *s) { return *Ipv4Addr::parse(s); }
Ipv6Addr v6(const char *s) { return *Ipv6Addr::parse(s); }

HostDefaults fake_host() {
	HostDefaults h;
	h.ifname4 = "eth0";
	h.addr4 = v4("192.0.2.2");
	h.prefix4 = 24;
	h.gw4 = v4("192.0.2.1");
	h.ifname6 = "eth0";
	h.addr6 = v6("2001:db8::2");
	h.prefix6 = 64;
	h.addr6_ll = v6("fe80::2");
	h.gw6 = v6("fe80::1");
	h.mac = *MacAddr::parse("02:00:00:00:00:02");
	h.mtu = 1500;
	HostInterface e1;
	e1.name = "eth1";
	e1.addr4 = v4("198.51.100.2");
	e1.prefix4 = 25;
	e1.gw4 = v4("198.51.100.1");
	e1.addr6 = v6("2001:db8:1::2");
	e1.addr6_ll = v6("fe80::1:2");
	e1.gw6 = v6("2001:db8:1::1");
	HostInterface d0;
	d0.name = "dummy0";
	h.interfaces = {e1, d0};
	h.resolvers = {InAny(v4("192.0.2.53")), InAny(v4("127.0.0.53")), InAny(v6("2001:db8::53"))};
	h.search = {"example.com", "test.example"};
	h.ephemeral_first = 49152;
	h.ephemeral_last = 65535;
	return h;
}

struct Result {
	ParseStatus st;
	Config c;
	std::string err;
};

Result parse(Mode m, std::vector<std::string> args, const HostDefaults &h = fake_host()) {
	args.insert(args.begin(), m == Mode::Pasta ? "pasta" : "passt");
	std::vector<char *> argv;
	for (auto &a : args)
		argv.push_back(a.data());
	argv.push_back(nullptr);
	Result r;
	r.st = conf_parse(int(args.size()), argv.data(), m, h, r.c, r.err);
	return r;
}

Result ok(Mode m, std::vector<std::string> args, const HostDefaults &h = fake_host()) {
	Result r = parse(m, std::move(args), h);
	EXPECT_EQ(r.st, ParseStatus::Ok) << r.err;
	return r;
}

} // namespace

TEST(ConfParse, OurMacIsFixedNotTheHosts) {
	HostDefaults h = fake_host();
	ASSERT_FALSE(h.mac.is_zero());
	Result r = ok(Mode::Pasta, {}, h);
	EXPECT_EQ(r.c.our_tap_mac.to_string(), "9a:55:9a:55:9a:55");
	h.mac = MacAddr{};
	EXPECT_EQ(ok(Mode::Passt, {}, h).c.our_tap_mac.to_string(), "9a:55:9a:55:9a:55");
	Result given = ok(Mode::Pasta, {"-M", "02:11:22:33:44:55"});
	EXPECT_EQ(given.c.our_tap_mac.to_string(), "02:11:22:33:44:55");
}

TEST(ConfParse, PasstDefaultsFromHost) {
	Result r = ok(Mode::Passt, {});
	const Config &c = r.c;
	EXPECT_EQ(c.mode, Mode::Passt);
	EXPECT_EQ(c.mtu, 65520u);
	// Our MAC is the C passt's fixed one, not the host uplink's.
	EXPECT_EQ(c.our_tap_mac.to_string(), "9a:55:9a:55:9a:55");
	EXPECT_TRUE(c.ip4.enabled);
	EXPECT_FALSE(c.ip4.local_mode);
	EXPECT_EQ(c.ip4.ifname, "eth0");
	EXPECT_EQ(c.ip4.addr, v4("192.0.2.2"));
	EXPECT_EQ(c.ip4.prefix_len, 24u);
	EXPECT_EQ(c.ip4.gw, v4("192.0.2.1"));
	EXPECT_EQ(c.ip4.map_host_loopback, v4("192.0.2.1"));
	EXPECT_TRUE(c.ip6.enabled);
	EXPECT_EQ(c.ip6.addr, v6("2001:db8::2"));
	EXPECT_EQ(c.ip6.gw, v6("fe80::1"));
	EXPECT_EQ(c.ip6.our_tap_ll, v6("fe80::1"));
	EXPECT_EQ(c.ip6.map_host_loopback, v6("fe80::1"));
	// 127.0.0.53 is unreachable as such: advertised as the mapped gateway
	ASSERT_EQ(c.ip4.dns.size(), 2u);
	EXPECT_EQ(c.ip4.dns[0], v4("192.0.2.53"));
	EXPECT_EQ(c.ip4.dns[1], v4("192.0.2.1"));
	EXPECT_EQ(c.ip4.dns_match, v4("192.0.2.1"));
	EXPECT_EQ(c.ip4.dns_host, v4("192.0.2.53"));
	ASSERT_EQ(c.ip6.dns.size(), 1u);
	EXPECT_EQ(c.ip6.dns[0], v6("2001:db8::53"));
	EXPECT_EQ(c.dns_search, (std::vector<std::string>{"example.com", "test.example"}));
	EXPECT_EQ(c.tcp_in.kind, PortForward::Kind::None);
	EXPECT_TRUE(c.tcp_in.rules.empty());
	EXPECT_TRUE(c.udp_in.rules.empty());
	EXPECT_FALSE(c.no_dhcp);
	EXPECT_FALSE(c.no_ndp);
	EXPECT_FALSE(c.no_dhcpv6);
	EXPECT_FALSE(c.no_dhcp_dns);
	EXPECT_TRUE(c.no_splice);
	EXPECT_EQ(c.log_size, size_t(1) << 20);
	EXPECT_TRUE(c.ns_ifname.empty());
}

TEST(ConfParse, PastaDefaults) {
	Result r = ok(Mode::Pasta, {});
	const Config &c = r.c;
	EXPECT_EQ(c.ns_ifname, "eth0");
	EXPECT_TRUE(c.no_dhcp_dns);
	EXPECT_TRUE(c.no_dhcp_dns_search);
	EXPECT_FALSE(c.no_splice);
	for (const PortForward *f : {&c.tcp_in, &c.udp_in, &c.tcp_out, &c.udp_out}) {
		EXPECT_EQ(f->kind, PortForward::Kind::Auto);
		ASSERT_EQ(f->rules.size(), 1u);
		EXPECT_EQ(f->rules[0].first, 1);
		EXPECT_EQ(f->rules[0].last, 49151);
		EXPECT_TRUE(f->rules[0].scan);
		EXPECT_TRUE(f->rules[0].weak);
	}
	EXPECT_EQ(c.tcp_out.rules[0].bind_if, "lo");
	EXPECT_EQ(c.tcp_in.rules[0].bind_if, "");
	EXPECT_TRUE(c.command.empty());
	EXPECT_TRUE(c.netns.empty());
}

TEST(ConfParse, LocalModeWithoutHostRoutes) {
	HostDefaults h;
	Result r = ok(Mode::Pasta, {}, h);
	const Config &c = r.c;
	EXPECT_TRUE(c.ip4.enabled);
	EXPECT_TRUE(c.ip4.local_mode);
	EXPECT_EQ(c.ip4.addr, v4("169.254.2.1"));
	EXPECT_EQ(c.ip4.prefix_len, 16u);
	EXPECT_EQ(c.ip4.gw, v4("169.254.2.2"));
	EXPECT_TRUE(c.ip6.local_mode);
	EXPECT_TRUE(c.ip6.addr.is_unspecified());
	EXPECT_EQ(c.ip6.gw, v6("fe80::1"));
	EXPECT_EQ(c.ip6.our_tap_ll, v6("fe80::1"));
	EXPECT_TRUE(c.no_dhcpv6); // no global address to hand out
	EXPECT_FALSE(c.no_dhcp);
	EXPECT_EQ(c.ns_ifname, "tap0");
	EXPECT_TRUE(c.ip4.dns.empty());
	EXPECT_FALSE(c.warnings.empty()); // "Couldn't get any nameserver address"
	// Addresses given on the command line are kept in local mode
	Result a = ok(Mode::Passt, {"-a", "10.1.2.3", "-a", "2001:db8::9"}, h);
	EXPECT_EQ(a.c.ip4.addr, v4("10.1.2.3"));
	EXPECT_EQ(a.c.ip4.prefix_len, 8u); // classful
	EXPECT_EQ(a.c.ip6.addr, v6("2001:db8::9"));
	EXPECT_FALSE(a.c.no_dhcpv6);
}

TEST(ConfParse, Ipv6WithoutGlobalAddressIsLocal) {
	HostDefaults h = fake_host();
	h.addr6 = Ipv6Addr{};
	Result r = ok(Mode::Passt, {}, h);
	EXPECT_TRUE(r.c.ip6.local_mode);
	EXPECT_EQ(r.c.ip6.gw, v6("fe80::1"));
	EXPECT_FALSE(r.c.ip4.local_mode);
}

TEST(ConfParse, VersionOnlyOptions) {
	Result r4 = ok(Mode::Passt, {"-4"});
	EXPECT_TRUE(r4.c.ip4.enabled);
	EXPECT_FALSE(r4.c.ip6.enabled);
	EXPECT_TRUE(r4.c.no_ndp);
	EXPECT_TRUE(r4.c.no_dhcpv6);
	EXPECT_TRUE(r4.c.ip6.dns.empty());
	Result r6 = ok(Mode::Passt, {"--ipv6-only"});
	EXPECT_FALSE(r6.c.ip4.enabled);
	EXPECT_TRUE(r6.c.no_dhcp);
	EXPECT_TRUE(r6.c.ip4.dns.empty());
	// Last one wins, as in the C passt
	Result both = ok(Mode::Passt, {"-4", "-6"});
	EXPECT_FALSE(both.c.ip4.enabled);
	EXPECT_TRUE(both.c.ip6.enabled);
}

TEST(ConfParse, ArgumentForms) {
	for (auto args : std::vector<std::vector<std::string>>{{"-m", "1500"},
							       {"-m1500"},
							       {"--mtu", "1500"},
							       {"--mtu=1500"},
							       {"--mt=1500"}}) {
		Result r = ok(Mode::Passt, args);
		EXPECT_EQ(r.c.mtu, 1500u) << args[0];
		EXPECT_TRUE(r.c.mtu_set);
	}
	Result grouped = ok(Mode::Passt, {"-dfq1"});
	EXPECT_TRUE(grouped.c.foreground);
	EXPECT_TRUE(grouped.c.quiet);
	EXPECT_TRUE(grouped.c.one_off);
	EXPECT_EQ(grouped.c.log_level, 0);
}

TEST(ConfParse, LoggingAndProcess) {
	Result r = ok(Mode::Passt, {"-d", "-f", "-e", "-l", "/tmp/x.log", "--log-size", "0x10000",
				    "-p", "/tmp/x.pcap", "-P", "/tmp/x.pid", "--stats", "5",
				    "--runas", "0:0", "-c", "/tmp/ctl.sock", "--chroot-fallback"});
	const Config &c = r.c;
	EXPECT_EQ(c.log_level, 1);
	EXPECT_TRUE(c.foreground);
	EXPECT_TRUE(c.log_stderr);
	EXPECT_EQ(c.log_file, "/tmp/x.log");
	EXPECT_EQ(c.log_size, 65536u);
	EXPECT_EQ(c.pcap_file, "/tmp/x.pcap");
	EXPECT_EQ(c.pid_file, "/tmp/x.pid");
	EXPECT_EQ(c.stats_delay, 5u);
	EXPECT_EQ(c.runas_uid, 0u);
	EXPECT_EQ(c.runas_gid, 0u);
	EXPECT_EQ(c.conf_path, "/tmp/ctl.sock");
	EXPECT_TRUE(c.chroot_fallback);
	EXPECT_FALSE(c.warnings.empty()); // -e is deprecated

	EXPECT_EQ(ok(Mode::Passt, {"--trace"}).c.log_level, 2);
	EXPECT_EQ(ok(Mode::Passt, {"--trace", "-d"}).c.log_level, 2);
	Result q = ok(Mode::Passt, {"--trace", "-q"});
	EXPECT_EQ(q.c.log_level, 0);
	EXPECT_TRUE(q.c.quiet);
	EXPECT_FALSE(ok(Mode::Passt, {"-q", "-d"}).c.quiet);

	Result n = ok(Mode::Passt, {"--runas", "nobody"});
	EXPECT_TRUE(n.c.runas_uid.has_value());
	EXPECT_NE(*n.c.runas_uid, 0u);
	Result ng = ok(Mode::Passt, {"--runas", "1000:root"});
	EXPECT_EQ(ng.c.runas_uid, 1000u);
	EXPECT_EQ(ng.c.runas_gid, 0u);
}

TEST(ConfParse, StopOptions) {
	EXPECT_EQ(parse(Mode::Passt, {"-h"}).st, ParseStatus::Help);
	EXPECT_EQ(parse(Mode::Pasta, {"--help"}).st, ParseStatus::Help);
	EXPECT_EQ(parse(Mode::Passt, {"--version"}).st, ParseStatus::Version);
	EXPECT_EQ(parse(Mode::Passt, {"--print-capabilities"}).st, ParseStatus::PrintCapabilities);
	EXPECT_EQ(parse(Mode::Pasta, {"--print-capabilities"}).st, ParseStatus::PrintCapabilities);
	// Options are applied in order: an error before -h wins, -h before one too
	EXPECT_EQ(parse(Mode::Passt, {"-m", "x", "-h"}).st, ParseStatus::Error);
	EXPECT_EQ(parse(Mode::Passt, {"-h", "-m", "x"}).st, ParseStatus::Help);
	EXPECT_EQ(parse(Mode::Passt, {"-h", "--bogus"}).st, ParseStatus::Help);
}

TEST(ConfParse, PasstLinkOptions) {
	Result s = ok(Mode::Passt, {"-s", "/tmp/p.sock", "-1"});
	EXPECT_EQ(s.c.socket_path, "/tmp/p.sock");
	EXPECT_TRUE(s.c.one_off);
	EXPECT_EQ(ok(Mode::Passt, {"--socket-path", "/tmp/q"}).c.socket_path, "/tmp/q");
	EXPECT_EQ(ok(Mode::Passt, {"--socket=/tmp/r"}).c.socket_path, "/tmp/r");
	Result fd = ok(Mode::Passt, {"--fd", "5"});
	EXPECT_EQ(fd.c.fd, 5);
	EXPECT_TRUE(fd.c.one_off);
	EXPECT_EQ(ok(Mode::Passt, {"-F", "5", "-s", "/tmp/x"}).c.fd, -1);
	Result vu = ok(Mode::Passt, {"--repair-path", "/tmp/r.sock", "--vhost-user",
				     "--migrate-exit", "--migrate-no-linger"});
	EXPECT_EQ(vu.c.mode, Mode::VhostUser);
	EXPECT_EQ(vu.c.repair_path, "/tmp/r.sock");
	EXPECT_TRUE(vu.c.migrate_exit);
	EXPECT_TRUE(vu.c.migrate_no_linger);
	EXPECT_EQ(ok(Mode::Passt, {"--repair-path", "none"}).c.repair_path, "none");
	std::string max(107, 'a');
	EXPECT_EQ(ok(Mode::Passt, {"-s", max}).c.socket_path, max);
}

TEST(ConfParse, AddressOptions) {
	Result r = ok(Mode::Passt,
		      {"-a", "10.0.0.5/20", "-a", "2001:db8:5::5/48", "-g", "10.0.0.1", "-g",
		       "2001:db8:5::1", "-M", "02:11:22:33:44:55", "-o", "192.0.2.99", "-o",
		       "2001:db8::99", "--outbound-if4", "eth0", "--outbound-if6", "eth0"});
	const Config &c = r.c;
	EXPECT_EQ(c.ip4.addr, v4("10.0.0.5"));
	EXPECT_EQ(c.ip4.prefix_len, 20u);
	EXPECT_TRUE(c.ip4.addr_fixed);
	EXPECT_EQ(c.ip6.addr, v6("2001:db8:5::5"));
	EXPECT_EQ(c.ip6.prefix_len, 64u); // the C passt also keeps /64
	EXPECT_EQ(c.ip4.gw, v4("10.0.0.1"));
	EXPECT_EQ(c.ip6.gw, v6("2001:db8:5::1"));
	EXPECT_EQ(c.ip6.our_tap_ll, v6("fe80::2")); // gateway not link-local: host's LL
	EXPECT_EQ(c.ip4.map_host_loopback, v4("10.0.0.1"));
	EXPECT_EQ(c.our_tap_mac.to_string(), "02:11:22:33:44:55");
	EXPECT_TRUE(c.our_tap_mac_set);
	EXPECT_EQ(c.ip4.addr_out, v4("192.0.2.99"));
	EXPECT_EQ(c.ip6.addr_out, v6("2001:db8::99"));
	EXPECT_EQ(c.ip4.ifname_out, "eth0");
	EXPECT_EQ(c.ip6.ifname_out, "eth0");

	EXPECT_EQ(ok(Mode::Passt, {"-n", "255.255.240.0"}).c.ip4.prefix_len, 20u);
	EXPECT_EQ(ok(Mode::Passt, {"-n", "22"}).c.ip4.prefix_len, 22u);
	EXPECT_EQ(ok(Mode::Passt, {"-a", "10.0.0.5", "-n", "16"}).c.ip4.prefix_len, 16u);
	EXPECT_EQ(ok(Mode::Passt, {"-n", "16", "-a", "10.0.0.5"}).c.ip4.prefix_len, 16u);
	EXPECT_EQ(ok(Mode::Passt, {"-a", "172.16.0.5"}).c.ip4.prefix_len, 16u);
	EXPECT_EQ(ok(Mode::Passt, {"-a", "[2001:db8::7]"}).c.ip6.addr, v6("2001:db8::7"));
	EXPECT_EQ(ok(Mode::Passt, {"-a", "10.0.0.5", "-a", "10.0.0.6"}).c.ip4.addr, v4("10.0.0.6"));

	// -i: another interface as template for both versions
	Result i = ok(Mode::Pasta, {"-i", "eth1"});
	EXPECT_EQ(i.c.ip4.addr, v4("198.51.100.2"));
	EXPECT_EQ(i.c.ip4.prefix_len, 25u);
	EXPECT_EQ(i.c.ip4.gw, v4("198.51.100.1"));
	EXPECT_EQ(i.c.ip6.addr, v6("2001:db8:1::2"));
	EXPECT_EQ(i.c.ip6.our_tap_ll, v6("fe80::1:2"));
	EXPECT_EQ(i.c.ns_ifname, "eth1");
	Result oi = ok(Mode::Passt, {"--outbound-if4", "eth1"});
	EXPECT_EQ(oi.c.ip4.ifname, "eth1");
	EXPECT_EQ(oi.c.ip6.ifname, "eth0");
	Result d = ok(Mode::Passt, {"-i", "dummy0"});
	EXPECT_TRUE(d.c.ip4.local_mode);
	EXPECT_TRUE(d.c.ip6.local_mode);
}

TEST(ConfParse, MappingOptions) {
	Result r = ok(Mode::Passt, {"--map-host-loopback", "192.0.2.100", "--map-guest-addr",
				    "192.0.2.101", "--map-guest-addr", "2001:db8::101"});
	EXPECT_EQ(r.c.ip4.map_host_loopback, v4("192.0.2.100"));
	EXPECT_TRUE(r.c.ip4.map_host_loopback_set);
	EXPECT_EQ(r.c.ip6.map_host_loopback, v6("fe80::1")); // other version: gateway
	EXPECT_EQ(r.c.ip4.map_guest_addr, v4("192.0.2.101"));
	EXPECT_EQ(r.c.ip6.map_guest_addr, v6("2001:db8::101"));

	Result none = ok(Mode::Passt, {"--map-host-loopback", "none"});
	EXPECT_TRUE(none.c.ip4.map_host_loopback.is_unspecified());
	EXPECT_TRUE(none.c.ip6.map_host_loopback.is_unspecified());
	EXPECT_TRUE(none.c.no_map_gw);
	// Without a mapped address, the loopback resolver can't be used
	ASSERT_EQ(none.c.ip4.dns.size(), 1u);
	EXPECT_EQ(none.c.ip4.dns[0], v4("192.0.2.53"));

	Result gw = ok(Mode::Passt, {"--no-map-gw"});
	EXPECT_TRUE(gw.c.ip4.map_host_loopback.is_unspecified());
	Result gm = ok(Mode::Passt, {"--no-map-gw", "--map-host-loopback", "192.0.2.100"});
	EXPECT_EQ(gm.c.ip4.map_host_loopback, v4("192.0.2.100"));
	EXPECT_TRUE(gm.c.ip6.map_host_loopback.is_unspecified());
	Result mg = ok(Mode::Passt, {"--map-guest-addr", "192.0.2.9", "--map-guest-addr", "none"});
	EXPECT_TRUE(mg.c.ip4.map_guest_addr.is_unspecified());
}

TEST(ConfParse, DnsOptions) {
	Result r =
		ok(Mode::Passt, {"-D", "192.0.2.200", "-D", "::1", "--dns-forward", "192.0.2.250",
				 "--dns-host", "192.0.2.53", "-S", "a.example b.example", "-S",
				 "c.example", "-H", "guest", "--fqdn", "guest.example"});
	const Config &c = r.c;
	ASSERT_EQ(c.ip4.dns.size(), 1u);
	EXPECT_EQ(c.ip4.dns[0], v4("192.0.2.200"));
	ASSERT_EQ(c.ip6.dns.size(), 1u);
	EXPECT_EQ(c.ip6.dns[0], v6("::1")); // given addresses are not remapped
	EXPECT_EQ(c.ip4.dns_match, v4("192.0.2.250"));
	EXPECT_EQ(c.ip4.dns_host, v4("192.0.2.53"));
	EXPECT_EQ(c.dns_search, (std::vector<std::string>{"a.example", "b.example", "c.example"}));
	EXPECT_EQ(c.hostname, "guest");
	EXPECT_EQ(c.fqdn, "guest.example");

	Result none = ok(Mode::Passt, {"-D", "none", "-S", "none"});
	EXPECT_TRUE(none.c.no_dns);
	EXPECT_TRUE(none.c.ip4.dns.empty());
	EXPECT_TRUE(none.c.ip6.dns.empty());
	EXPECT_TRUE(none.c.no_dns_search);
	EXPECT_TRUE(none.c.dns_search.empty());
	Result after = ok(Mode::Passt, {"-D", "none", "-D", "192.0.2.9"});
	EXPECT_FALSE(after.c.no_dns);
	ASSERT_EQ(after.c.ip4.dns.size(), 1u);
	EXPECT_EQ(ok(Mode::Passt, {"-S", "none."}).c.dns_search,
		  (std::vector<std::string>{"none."}));

	// --dns-forward: the loopback resolver is advertised as that address
	Result fwd = ok(Mode::Passt, {"--dns-forward", "192.0.2.250"});
	ASSERT_EQ(fwd.c.ip4.dns.size(), 2u);
	EXPECT_EQ(fwd.c.ip4.dns[1], v4("192.0.2.250"));
	EXPECT_EQ(fwd.c.ip4.dns_match, v4("192.0.2.250"));
	// Too many resolvers: the rest is dropped with a warning
	Result many = ok(Mode::Passt, {"-D", "192.0.2.1", "-D", "192.0.2.2", "-D", "192.0.2.3",
				       "-D", "192.0.2.4"});
	EXPECT_EQ(many.c.ip4.dns.size(), 3u);
	EXPECT_FALSE(many.c.warnings.empty());

	Result p = ok(Mode::Passt, {"--no-dhcp-dns", "--no-dhcp-search"});
	EXPECT_TRUE(p.c.no_dhcp_dns);
	EXPECT_TRUE(p.c.no_dhcp_dns_search);
	Result q = ok(Mode::Pasta, {"--dhcp-dns", "--dhcp-search"});
	EXPECT_FALSE(q.c.no_dhcp_dns);
	EXPECT_FALSE(q.c.no_dhcp_dns_search);
}

TEST(ConfParse, ServiceSwitches) {
	Result r = ok(Mode::Passt, {"--no-tcp", "--no-udp", "--no-icmp", "--no-dhcp", "--no-dhcpv6",
				    "--no-ra", "--freebind"});
	const Config &c = r.c;
	EXPECT_TRUE(c.no_tcp && c.no_udp && c.no_icmp && c.no_dhcp && c.no_dhcpv6 && c.no_ra);
	EXPECT_TRUE(c.no_ndp); // implied by --no-icmp
	EXPECT_TRUE(c.freebind);
	EXPECT_TRUE(ok(Mode::Passt, {"--no-ndp"}).c.no_ndp);
	EXPECT_FALSE(ok(Mode::Passt, {"--no-ndp"}).c.no_icmp);
	// pasta --no-tcp: no default TCP forwarding, UDP still auto
	Result p = ok(Mode::Pasta, {"--no-tcp"});
	EXPECT_TRUE(p.c.tcp_in.rules.empty());
	EXPECT_FALSE(p.c.udp_in.rules.empty());
}

TEST(ConfParse, PastaNamespaceOptions) {
	Result r = ok(Mode::Pasta, {"--config-net", "--no-copy-routes", "--no-copy-addrs", "-I",
				    "ns0", "--ns-mac-addr", "02:00:00:00:00:99", "--no-netns-quit",
				    "--host-lo-to-ns-lo", "--netns", "foo"});
	const Config &c = r.c;
	EXPECT_TRUE(c.config_net);
	EXPECT_TRUE(c.no_ra); // implied by --config-net
	EXPECT_TRUE(c.no_copy_routes && c.ip4.no_copy_routes && c.ip6.no_copy_routes);
	EXPECT_TRUE(c.no_copy_addrs && c.ip4.no_copy_addrs);
	EXPECT_EQ(c.ns_ifname, "ns0");
	EXPECT_EQ(c.ns_mac.to_string(), "02:00:00:00:00:99");
	EXPECT_TRUE(c.ns_mac_set);
	EXPECT_TRUE(c.no_netns_quit);
	EXPECT_TRUE(c.host_lo_to_ns_lo);
	EXPECT_EQ(c.netns, "/run/netns/foo");
	EXPECT_TRUE(c.netns_only); // netns without --userns

	Result path = ok(Mode::Pasta, {"--netns", "/proc/1/ns/net", "--userns", "/proc/1/ns/user"});
	EXPECT_EQ(path.c.netns, "/proc/1/ns/net");
	EXPECT_EQ(path.c.userns, "/proc/1/ns/user");
	EXPECT_FALSE(path.c.netns_only);
	EXPECT_TRUE(ok(Mode::Pasta, {"--netns-only"}).c.netns_only);
	EXPECT_TRUE(ok(Mode::Pasta, {"--no-pidns"}).c.no_pidns);
	EXPECT_TRUE(ok(Mode::Pasta, {"--no-splice"}).c.no_splice);
	Result so = ok(Mode::Pasta, {"--splice-only"});
	EXPECT_TRUE(so.c.splice_only && so.c.no_icmp && so.c.host_lo_to_ns_lo && so.c.no_dns);
	EXPECT_TRUE(so.c.ip4.dns.empty());
	// -g implies --no-copy-routes for its IP version only
	Result g = ok(Mode::Pasta, {"-g", "192.0.2.254"});
	EXPECT_TRUE(g.c.ip4.no_copy_routes);
	EXPECT_FALSE(g.c.ip6.no_copy_routes);
}

TEST(ConfParse, PastaPositionalArguments) {
	Result pid = ok(Mode::Pasta, {"1234"});
	EXPECT_EQ(pid.c.target_pid, 1234);
	EXPECT_EQ(pid.c.netns, "/proc/1234/ns/net");
	EXPECT_EQ(pid.c.userns, "/proc/1234/ns/user");
	EXPECT_TRUE(pid.c.command.empty());
	Result pidu = ok(Mode::Pasta, {"--netns-only", "1234"});
	EXPECT_TRUE(pidu.c.userns.empty());
	EXPECT_TRUE(pidu.c.netns_only);

	Result cmd = ok(Mode::Pasta, {"-f", "sh", "-c", "echo -t"});
	EXPECT_EQ(cmd.c.command, (std::vector<std::string>{"sh", "-c", "echo -t"}));
	EXPECT_TRUE(cmd.c.foreground);
	EXPECT_EQ(cmd.c.tcp_in.kind, PortForward::Kind::Auto); // "-t" belongs to sh
	Result dd = ok(Mode::Pasta, {"--", "-x", "y"});
	EXPECT_EQ(dd.c.command, (std::vector<std::string>{"-x", "y"}));
	Result two = ok(Mode::Pasta, {"1234", "5"});
	EXPECT_EQ(two.c.target_pid, 0);
	EXPECT_EQ(two.c.command, (std::vector<std::string>{"1234", "5"}));
	Result mixed = ok(Mode::Pasta, {"12a"});
	EXPECT_EQ(mixed.c.command, (std::vector<std::string>{"12a"}));
}

namespace {

struct ErrCase {
	Mode mode;
	std::vector<std::string> args;
	const char *needle; // must appear in the message
};

} // namespace

TEST(ConfParse, Errors) {
	const ErrCase cases[] = {
		// getopt level
		// Podman matches getopt's wording to find options an older
		// pasta lacks: keep it exactly.
		{Mode::Passt, {"--bogus"}, "unrecognized option '--bogus'"},
		{Mode::Pasta, {"--bogus=1"}, "unrecognized option '--bogus'"},
		{Mode::Passt, {"-x"}, "invalid option -- 'x'"},
		{Mode::Passt, {"-m"}, "-m/--mtu"},
		{Mode::Passt, {"--mtu"}, "-m/--mtu"},
		{Mode::Passt, {"--debug=1"}, "-d/--debug"},
		{Mode::Passt, {"--no"}, "option '--no' is ambiguous"},
		// mode restrictions
		{Mode::Passt, {"--netns", "x"}, "--netns is for pasta"},
		{Mode::Passt, {"--userns", "/x"}, "--userns"},
		{Mode::Passt, {"--netns-only"}, "--netns-only"},
		{Mode::Passt, {"--config-net"}, "--config-net"},
		{Mode::Passt, {"--no-copy-routes"}, "--no-copy-routes"},
		{Mode::Passt, {"--no-copy-addrs"}, "--no-copy-addrs"},
		{Mode::Passt, {"-I", "x"}, "-I/--ns-ifname"},
		{Mode::Passt, {"--ns-ifname", "x"}, "-I/--ns-ifname"},
		{Mode::Passt, {"-T", "22"}, "-T/--tcp-ns is for pasta"},
		{Mode::Passt, {"-U", "22"}, "-U/--udp-ns"},
		{Mode::Passt, {"--no-netns-quit"}, "--no-netns-quit"},
		{Mode::Passt, {"--ns-mac-addr", "02:00:00:00:00:01"}, "--ns-mac-addr"},
		{Mode::Passt, {"--dhcp-dns"}, "--dhcp-dns"},
		{Mode::Passt, {"--dhcp-search"}, "--dhcp-search"},
		{Mode::Passt, {"--host-lo-to-ns-lo"}, "--host-lo-to-ns-lo"},
		{Mode::Passt, {"--splice-only"}, "--splice-only"},
		{Mode::Passt, {"--no-pidns"}, "--no-pidns"},
		{Mode::Pasta, {"-s", "/tmp/x"}, "-s/--socket is for passt"},
		{Mode::Pasta, {"--socket-path", "/tmp/x"}, "-s/--socket"},
		{Mode::Pasta, {"-1"}, "-1/--one-off"},
		{Mode::Pasta, {"--vhost-user"}, "--vhost-user"},
		{Mode::Pasta, {"--no-dhcp-dns"}, "--no-dhcp-dns"},
		{Mode::Pasta, {"--no-dhcp-search"}, "--no-dhcp-search"},
		{Mode::Passt, {"--repair-path", "/tmp/r"}, "--repair-path"},
		{Mode::Passt, {"--migrate-exit"}, "--migrate-exit"},
		{Mode::Passt, {"--migrate-no-linger"}, "--migrate-no-linger"},
		// values
		{Mode::Passt, {"-m", "65522"}, "-m/--mtu"},
		{Mode::Passt, {"-m", "-1"}, "-m/--mtu"},
		{Mode::Passt, {"-m", "15OO"}, "-m/--mtu"},
		{Mode::Passt, {"-a", "300.1.1.1"}, "-a/--address: 300.1.1.1"},
		{Mode::Passt, {"-a", "10.0.0.1/33"}, "-a/--address"},
		{Mode::Passt, {"-a", "2001:db8::1/129"}, "-a/--address"},
		{Mode::Passt, {"-a", "10.0.0.1/"}, "-a/--address"},
		{Mode::Passt, {"-a", "127.0.0.1"}, "-a/--address"},
		{Mode::Passt, {"-a", "224.0.0.1"}, "-a/--address"},
		{Mode::Passt, {"-a", "::"}, "-a/--address"},
		{Mode::Passt, {"-a", "::1"}, "-a/--address"},
		{Mode::Passt, {"-a", "10.0.0.1/24", "-n", "24"}, "-n/--netmask"},
		{Mode::Passt, {"-n", "24", "-a", "10.0.0.1/24"}, "-n/--netmask"},
		{Mode::Passt, {"-n", "33"}, "-n/--netmask"},
		{Mode::Passt, {"-n", "255.0.255.0"}, "-n/--netmask"},
		{Mode::Passt, {"-M", "02:00:00:00:00"}, "-M/--mac-addr"},
		{Mode::Passt, {"-M", "zz:00:00:00:00:00"}, "-M/--mac-addr"},
		{Mode::Pasta, {"--ns-mac-addr", "nope"}, "--ns-mac-addr"},
		{Mode::Passt, {"-g", "0.0.0.0"}, "-g/--gateway"},
		{Mode::Passt, {"-g", "127.0.0.1"}, "-g/--gateway"},
		{Mode::Passt, {"-g", "::1"}, "-g/--gateway"},
		{Mode::Passt, {"-g", "gateway"}, "-g/--gateway"},
		{Mode::Passt, {"-i", "nosuch0"}, "-i/--interface"},
		{Mode::Passt, {"-i", "a-very-long-interface-name"}, "-i/--interface"},
		{Mode::Passt, {"--outbound-if4", "nosuch0"}, "--outbound-if4"},
		{Mode::Passt, {"--outbound-if6", ""}, "--outbound-if6"},
		{Mode::Passt, {"--outbound-if4", "eth0", "-6"}, "--outbound-if4"},
		{Mode::Passt, {"--outbound-if4", "dummy0"}, "--outbound-if4"},
		{Mode::Passt, {"-o", "0.0.0.0"}, "-o/--outbound"},
		{Mode::Passt, {"-o", "224.0.0.1"}, "-o/--outbound"},
		{Mode::Passt, {"-o", "::ffff:1.2.3.4"}, "-o/--outbound"},
		{Mode::Passt, {"-o", "ff02::1"}, "-o/--outbound"},
		{Mode::Passt, {"-D", "dns.example"}, "-D/--dns"},
		{Mode::Passt, {"--dns-forward", "127.0.0.1"}, "--dns-forward"},
		{Mode::Passt, {"--dns-forward", "255.255.255.255"}, "--dns-forward"},
		{Mode::Passt, {"--dns-host", "::"}, "--dns-host"},
		{Mode::Passt, {"--dns-host", "x"}, "--dns-host"},
		{Mode::Passt, {"-S", ""}, "-S/--search"},
		{Mode::Passt, {"-S", std::string(254, 'a')}, "-S/--search"},
		{Mode::Passt, {"-S", "a b c d e f g"}, "-S/--search"},
		{Mode::Passt, {"-H", std::string(254, 'h')}, "-H/--hostname"},
		{Mode::Passt, {"--fqdn", std::string(254, 'h')}, "--fqdn"},
		{Mode::Passt, {"--map-host-loopback", "127.0.0.1"}, "--map-host-loopback"},
		{Mode::Passt, {"--map-host-loopback", "ff02::1"}, "--map-host-loopback"},
		{Mode::Passt, {"--map-guest-addr", "0.0.0.0"}, "--map-guest-addr"},
		{Mode::Passt, {"--log-size", "100"}, "--log-size"},
		{Mode::Passt, {"--log-size", "big"}, "--log-size"},
		{Mode::Passt, {"--stats", "1"}, "--stats"},
		{Mode::Passt, {"-f", "--stats", "x"}, "--stats"},
		{Mode::Passt, {"--runas", "no-such-user-here"}, "--runas"},
		{Mode::Passt, {"--runas", "root"}, "--runas"},
		{Mode::Passt, {"--runas", "1000:no-such-group-here"}, "--runas"},
		{Mode::Passt, {"--runas", ":5"}, "--runas"},
		{Mode::Passt, {"--fd", "x"}, "-F/--fd"},
		{Mode::Passt, {"-F", "2147483648"}, "-F/--fd"},
		{Mode::Passt, {"-s", std::string(108, 'a')}, "-s/--socket"},
		{Mode::Passt, {"-s", ""}, "-s/--socket"},
		{Mode::Passt, {"-c", std::string(108, 'a')}, "-c/--conf-path"},
		{Mode::Passt, {"-l", std::string(4096, 'a')}, "-l/--log-file"},
		{Mode::Passt, {"-p", ""}, "-p/--pcap"},
		{Mode::Passt, {"-P", std::string(4096, 'a')}, "-P/--pid"},
		{Mode::Pasta, {"--netns", std::string(4096, 'a')}, "--netns"},
		{Mode::Pasta, {"--userns", ""}, "--userns"},
		{Mode::Pasta, {"-I", "0123456789abcdef"}, "-I/--ns-ifname"},
		{Mode::Passt,
		 {"--vhost-user", "--repair-path", std::string(108, 'r')},
		 "--repair-path"},
		// combinations
		{Mode::Pasta, {"--no-copy-routes"}, "--config-net"},
		{Mode::Pasta, {"--no-copy-addrs"}, "--config-net"},
		{Mode::Pasta, {"--host-lo-to-ns-lo", "--no-splice"}, "--no-splice"},
		{Mode::Pasta, {"--splice-only", "--no-splice"}, "--no-splice"},
		{Mode::Pasta, {"--netns", "x", "1234"}, "--netns"},
		{Mode::Pasta, {"--netns", "x", "sh"}, "--netns"},
		{Mode::Pasta, {"--no-pidns", "1234"}, "--no-pidns"},
		{Mode::Pasta, {"--no-pidns", "--netns", "x"}, "--no-pidns"},
		{Mode::Pasta, {"99999999999"}, "PID"},
		{Mode::Passt, {"extra"}, "extra"},
		// port forwarding (more in conf_ports_test.cpp)
		{Mode::Passt, {"-t", "0"}, "-t/--tcp-ports"},
		{Mode::Passt, {"-u", "65536"}, "-u/--udp-ports"},
		{Mode::Passt, {"-t", "auto"}, "-t/--tcp-ports"},
		{Mode::Passt, {"-t", "22", "--no-tcp"}, "-t/--tcp-ports"},
		{Mode::Passt, {"-t", "22", "-t", "20-30"}, "-t/--tcp-ports"},
		{Mode::Passt, {"-4", "-t", "[::1]/22"}, "-t/--tcp-ports"},
		{Mode::Pasta, {"-T", "127.0.0.1/22"}, "-T/--tcp-ns"},
		{Mode::Pasta, {"-U", "x"}, "-U/--udp-ns"},
	};
	for (const ErrCase &e : cases) {
		std::string joined;
		for (const auto &a : e.args)
			joined += a.substr(0, 40) + " ";
		Result r = parse(e.mode, e.args);
		EXPECT_EQ(r.st, ParseStatus::Error) << joined;
		EXPECT_NE(r.err.find(e.needle), std::string::npos)
			<< joined << "-> \"" << r.err << "\" lacks \"" << e.needle << "\"";
		const char *prefix = e.mode == Mode::Pasta ? "pasta: " : "passt: ";
		EXPECT_EQ(r.err.rfind(prefix, 0), 0u) << r.err;
		EXPECT_EQ(r.err.find('\n'), std::string::npos) << r.err;
	}
}

TEST(ConfParse, ErrorMessageExample) {
	Result r = parse(Mode::Passt, {"--address", "300.1.1.1"});
	EXPECT_EQ(r.st, ParseStatus::Error);
	EXPECT_EQ(r.err, "passt: invalid address for -a/--address: 300.1.1.1");
}

TEST(ConfParse, RepeatedCallsAreIndependent) {
	Result a = ok(Mode::Passt, {"-t", "22", "-m", "1400"});
	Result b = ok(Mode::Passt, {});
	EXPECT_EQ(a.c.tcp_in.rules.size(), 1u);
	EXPECT_TRUE(b.c.tcp_in.rules.empty());
	EXPECT_EQ(b.c.mtu, 65520u);
	EXPECT_EQ(ok(Mode::Pasta, {"1", "2"}).c.command.size(), 2u);
	EXPECT_EQ(ok(Mode::Pasta, {}).c.command.size(), 0u);
}

TEST(ConfParse, MtuLimitsAndWarnings) {
	EXPECT_EQ(ok(Mode::Passt, {"-m", "65521"}).c.mtu, 65521u);
	EXPECT_EQ(ok(Mode::Passt, {"-m", "0"}).c.mtu, 0u);
	Result small = ok(Mode::Passt, {"-m", "576"});
	bool warned = false;
	for (const auto &w : small.c.warnings)
		warned |= w.find("IPv6") != std::string::npos;
	EXPECT_TRUE(warned);
	EXPECT_TRUE(ok(Mode::Passt, {"-m", "576", "-4"}).c.warnings.empty() ||
		    ok(Mode::Passt, {"-m", "576", "-4"}).c.warnings[0].find("MTU") ==
			    std::string::npos);
}

TEST(ConfParse, InterfaceHintsAndUnlistedInterfaces) {
	std::vector<std::string> args = {"pasta",
					 "-f",
					 "--outbound-if6",
					 "eth2",
					 "-i",
					 "eth1",
					 "--outbound-if4",
					 "eth3",
					 "--",
					 "-i",
					 "x"};
	std::vector<char *> argv;
	for (auto &a : args)
		argv.push_back(a.data());
	argv.push_back(nullptr);
	std::string h4, h6;
	conf_interface_hints(int(args.size()), argv.data(), h4, h6);
	EXPECT_EQ(h4, "eth1");
	EXPECT_EQ(h6, "eth1");
	std::vector<std::string> args2 = {"passt", "--outbound-if6", "eth2", "--bogus"};
	std::vector<char *> argv2;
	for (auto &a : args2)
		argv2.push_back(a.data());
	argv2.push_back(nullptr);
	conf_interface_hints(int(args2.size()), argv2.data(), h4, h6);
	EXPECT_EQ(h4, "");
	EXPECT_EQ(h6, "eth2");

	// A prober that lists no interfaces: names are taken on trust
	HostDefaults h = fake_host();
	h.interfaces.clear();
	Result r = ok(Mode::Passt, {"-i", "eth9"}, h);
	EXPECT_TRUE(r.c.ip4.local_mode);
	Result o = parse(Mode::Passt, {"--outbound-if4", "eth9"}, h);
	EXPECT_EQ(o.st, ParseStatus::Error);
	EXPECT_NE(o.err.find("--outbound-if4"), std::string::npos);
	// ... and the hinted probe result is used as template
	h.ifname4 = "eth9";
	EXPECT_EQ(ok(Mode::Passt, {"--outbound-if4", "eth9"}, h).c.ip4.ifname, "eth9");
}
