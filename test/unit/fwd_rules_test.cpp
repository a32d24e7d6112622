// Port forwarding specifications: grammar, edge cases, conflicts, and the
// PortForward::target()/excluded() queries.
#include <gtest/gtest.h>

#include "passt/fwd/rules.h"

using namespace passt;

namespace {

FwdSpecContext ctx(char opt = 't') {
	FwdSpecContext c;
	c.optname = opt;
	c.ephemeral_first = 32768;
	c.ephemeral_last = 60999;
	return c;
}

bool parse(const char *spec, PortForward &f, std::string &err, FwdSpecContext c = ctx()) {
	return fwd_rules_parse(spec, c, f, err);
}

PortForward ok(const char *spec, FwdSpecContext c = ctx()) {
	PortForward f;
	std::string err;
	EXPECT_TRUE(fwd_rules_parse(spec, c, f, err)) << spec << ": " << err;
	return f;
}

std::string fail(const char *spec, FwdSpecContext c = ctx()) {
	PortForward f;
	std::string err;
	EXPECT_FALSE(fwd_rules_parse(spec, c, f, err)) << spec;
	EXPECT_NE(err.find(fwd_opt_name(c.optname)), std::string::npos) << err;
	return err;
}

size_t inclusive(const PortForward &f) {
	size_t n = 0;
	for (const auto &r : f.rules)
		n += !r.exclude;
	return n;
}

} // namespace

TEST(ConfPorts, SinglePortsAndRanges) {
	PortForward f = ok("22");
	ASSERT_EQ(f.rules.size(), 1u);
	EXPECT_EQ(f.rules[0].first, 22);
	EXPECT_EQ(f.rules[0].last, 22);
	EXPECT_EQ(f.rules[0].to_first, 22);
	EXPECT_FALSE(f.rules[0].bind_addr.has_value()); // dual stack
	EXPECT_FALSE(f.rules[0].weak);
	EXPECT_EQ(f.kind, PortForward::Kind::Spec);
	EXPECT_EQ(f.target(22), 22);
	EXPECT_FALSE(f.target(23));

	f = ok("1");
	EXPECT_EQ(f.target(1), 1);
	f = ok("65535");
	EXPECT_EQ(f.target(65535), 65535);
	f = ok("1-65535");
	EXPECT_EQ(f.target(40000), 40000);

	f = ok("22:2222");
	EXPECT_EQ(f.target(22), 2222);
	f = ok("22-80:32-90");
	EXPECT_EQ(f.target(22), 32);
	EXPECT_EQ(f.target(80), 90);
	EXPECT_FALSE(f.target(81));
	f = ok("22,25,8000-8001");
	EXPECT_EQ(inclusive(f), 3u);
	EXPECT_EQ(f.target(25), 25);
	EXPECT_EQ(f.target(8001), 8001);
	f = ok("65535:1");
	EXPECT_EQ(f.target(65535), 1);
}

TEST(ConfPorts, Exclusions) {
	PortForward f = ok("2000-5000,~3000-3010");
	EXPECT_EQ(inclusive(f), 2u);
	EXPECT_EQ(f.target(2999), 2999);
	EXPECT_FALSE(f.target(3000));
	EXPECT_FALSE(f.target(3010));
	EXPECT_EQ(f.target(3011), 3011);
	EXPECT_TRUE(f.excluded(3005));
	EXPECT_FALSE(f.excluded(2999));

	// Exclusions may come first, and overlap each other
	f = ok("~25,20-30,~24-26");
	EXPECT_EQ(f.target(23), 23);
	EXPECT_FALSE(f.target(25));
	EXPECT_FALSE(f.target(26));
	EXPECT_EQ(f.target(27), 27);

	// Mapped ranges keep their offset across the cut
	f = ok("100-110:200-210,~105");
	EXPECT_EQ(f.target(104), 204);
	EXPECT_FALSE(f.target(105));
	EXPECT_EQ(f.target(106), 206);

	// Only exclusions: everything else but the ephemeral range, best effort
	f = ok("~20000-20010");
	EXPECT_EQ(f.kind, PortForward::Kind::All);
	EXPECT_EQ(f.target(1), 1);
	EXPECT_EQ(f.target(19999), 19999);
	EXPECT_FALSE(f.target(20005));
	EXPECT_EQ(f.target(32767), 32767);
	EXPECT_FALSE(f.target(32768));
	EXPECT_FALSE(f.target(60999));
	EXPECT_EQ(f.target(61000), 61000);
	EXPECT_EQ(f.target(65535), 65535);
	for (const auto &r : f.rules)
		EXPECT_TRUE(r.exclude || r.weak);

	// ~0 is fine as an exclusion
	f = ok("~0");
	EXPECT_EQ(f.target(1), 1);
}

TEST(ConfPorts, AllNoneAuto) {
	PortForward f = ok("all");
	EXPECT_EQ(f.kind, PortForward::Kind::All);
	EXPECT_EQ(f.target(80), 80);
	EXPECT_FALSE(f.target(40000));
	EXPECT_FALSE(f.target(0));
	f = ok("all,~80");
	EXPECT_FALSE(f.target(80));
	EXPECT_EQ(f.target(81), 81);

	f = ok("none");
	EXPECT_EQ(f.kind, PortForward::Kind::None);
	EXPECT_TRUE(f.rules.empty());

	FwdSpecContext p = ctx();
	p.scan_allowed = true;
	f = ok("auto", p);
	EXPECT_EQ(f.kind, PortForward::Kind::Auto);
	EXPECT_TRUE(f.rules[0].scan);
	EXPECT_TRUE(f.rules[0].weak);
	f = ok("8000-8010,auto", p);
	EXPECT_EQ(f.kind, PortForward::Kind::Auto);
	ASSERT_EQ(f.rules.size(), 1u);
	EXPECT_EQ(f.rules[0].first, 8000);
	EXPECT_TRUE(f.rules[0].scan);
	EXPECT_FALSE(f.rules[0].weak);
	f = ok("::1/auto", p);
	ASSERT_TRUE(f.rules[0].bind_addr.has_value());
	EXPECT_EQ(f.rules[0].bind_addr->to_string(), "::1");

	std::string e = fail("auto");
	EXPECT_NE(e.find("pasta"), std::string::npos);
}

TEST(ConfPorts, ListeningAddressAndInterface) {
	PortForward f = ok("192.0.2.1/22");
	ASSERT_TRUE(f.rules[0].bind_addr.has_value());
	EXPECT_EQ(f.rules[0].bind_addr->to_string(), "192.0.2.1");
	EXPECT_EQ(f.rules[0].bind_if, "");

	f = ok("192.0.2.1%eth0/22");
	EXPECT_EQ(f.rules[0].bind_if, "eth0");
	f = ok("%eth0/22");
	EXPECT_FALSE(f.rules[0].bind_addr.has_value());
	EXPECT_EQ(f.rules[0].bind_if, "eth0");
	f = ok("*/22");
	EXPECT_FALSE(f.rules[0].bind_addr.has_value());
	f = ok("::1/all");
	EXPECT_EQ(f.rules[0].bind_addr->to_string(), "::1");
	EXPECT_TRUE(f.rules[0].weak);
	f = ok("[2001:db8::1]/80");
	EXPECT_EQ(f.rules[0].bind_addr->to_string(), "2001:db8::1");
	f = ok("[fe80::1]%eth0/80");
	EXPECT_EQ(f.rules[0].bind_if, "eth0");
	// A bare IPv6 address is read greedily: this is a listening address
	f = ok("1:2::3/80");
	EXPECT_EQ(f.rules[0].bind_addr->to_string(), "1:2::3");
	EXPECT_EQ(f.rules[0].first, 80);
	f = ok("192.0.2.1/20-30,~25");
	EXPECT_EQ(inclusive(f), 2u);
	EXPECT_FALSE(f.target(25));

	fail("192.0.2.1%/22");
	fail("%0123456789abcdef/22");
	fail("%../22");
	fail("300.0.0.1/22");
	fail("[2001:db8::1/80");
}

TEST(ConfPorts, TargetAddress) {
	PortForward f = ok("0.0.0.0/5000:192.0.2.5/6000");
	ASSERT_EQ(f.rules.size(), 1u);
	EXPECT_EQ(f.rules[0].to_addr->to_string(), "192.0.2.5");
	EXPECT_EQ(f.target(5000), 6000);
	f = ok("127.0.0.6/all:192.0.2.6");
	EXPECT_EQ(f.rules[0].to_addr->to_string(), "192.0.2.6");
	f = ok("0.0.0.0/80:192.0.2.7");
	EXPECT_EQ(f.rules[0].to_addr->to_string(), "192.0.2.7");
	EXPECT_EQ(f.target(80), 80);
	f = ok("[::]/80:[2001:db8::7]/8080");
	EXPECT_EQ(f.rules[0].to_addr->to_string(), "2001:db8::7");
	EXPECT_EQ(f.target(80), 8080);
	f = ok("0.0.0.0/80:0.0.0.0");
	EXPECT_FALSE(f.rules[0].to_addr.has_value()); // unspecified: the guest's own

	fail("80:192.0.2.7");           // dual-stack rule with a target address
	fail("0.0.0.0/80:2001:db8::7"); // versions differ
	fail("0.0.0.0/80:224.0.0.1");   // multicast
}

TEST(ConfPorts, MalformedSpecs) {
	const char *bad[] = {"",         "0",
			     "65536",    "99999999999",
			     "80-70",    "22-",
			     "-22",      "22:",
			     "22:0",     "22-23:30",
			     "22:30-32", "a",
			     "22,",      ",22",
			     "22,,23",   "~",
			     "~30-20",   "22 ",
			     " 22",      "22x",
			     "0-5",      "65535:65535-65536",
			     "all:",     "~22:23",
			     "none,22",  "65000-65535:65001-65536"};
	for (const char *s : bad)
		fail(s);
	std::string e = fail("80-70");
	EXPECT_NE(e.find("ends before"), std::string::npos) << e;
	e = fail("65536");
	EXPECT_NE(e.find("65535"), std::string::npos) << e;
	e = fail("22-23:30");
	EXPECT_NE(e.find("size"), std::string::npos) << e;
	e = fail("0");
	EXPECT_NE(e.find("port 0"), std::string::npos) << e;
}

TEST(ConfPorts, ConflictsAndNone) {
	PortForward f;
	std::string err;
	ASSERT_TRUE(parse("22", f, err));
	EXPECT_FALSE(parse("20-30", f, err));
	EXPECT_NE(err.find("conflict"), std::string::npos) << err;

	PortForward g;
	ASSERT_TRUE(parse("192.0.2.1/22", g, err));
	EXPECT_TRUE(parse("192.0.2.2/22", g, err)) << err;     // other address
	EXPECT_TRUE(parse("[2001:db8::1]/22", g, err)) << err; // other version
	EXPECT_FALSE(parse("0.0.0.0/22", g, err));             // any IPv4 overlaps
	EXPECT_FALSE(parse("22", g, err));                     // dual stack overlaps

	PortForward h;
	ASSERT_TRUE(parse("22", h, err));
	EXPECT_FALSE(parse("none", h, err));
	EXPECT_NE(err.find("none"), std::string::npos);
	PortForward k;
	ASSERT_TRUE(parse("none", k, err));
	EXPECT_TRUE(parse("22", k, err));
	// "all" twice overlaps itself
	PortForward a;
	ASSERT_TRUE(parse("all", a, err));
	EXPECT_FALSE(parse("all", a, err));
	// Same range in one option
	PortForward d;
	EXPECT_FALSE(parse("22,22", d, err));
}

TEST(ConfPorts, ContextChecks) {
	FwdSpecContext c4 = ctx();
	c4.ipv6 = false;
	PortForward f = ok("22", c4);
	ASSERT_TRUE(f.rules[0].bind_addr.has_value());
	EXPECT_EQ(f.rules[0].bind_addr->to_string(), "0.0.0.0");
	fail("[::1]/22", c4);
	FwdSpecContext c6 = ctx();
	c6.ipv4 = false;
	f = ok("22", c6);
	EXPECT_EQ(f.rules[0].bind_addr->to_string(), "::");
	fail("127.0.0.1/22", c6);

	FwdSpecContext off = ctx('u');
	off.proto_enabled = false;
	fail("53", off);
	EXPECT_TRUE(ok("none", off).rules.empty());

	FwdSpecContext ns = ctx('T');
	ns.scan_allowed = true;
	f = ok("8080:80", ns);
	EXPECT_EQ(f.rules[0].bind_if, "lo");
	EXPECT_EQ(f.target(8080), 80);
	fail("127.0.0.1/80", ns);
	fail("%eth0/80", ns);
}

TEST(ConfPorts, Format) {
	PortForward f = ok("192.0.2.1%eth0/22-23:2022-2023");
	EXPECT_EQ(fwd_rule_format(f.rules[0], "TCP"), "TCP [192.0.2.1]%eth0:22-23  =>  2022-2023 ");
	f = ok("22");
	EXPECT_EQ(fwd_rule_format(f.rules[0], "UDP"), "UDP [*]:22  =>  22 ");
	f = ok("all");
	EXPECT_EQ(fwd_rule_format(f.rules[0], "TCP"),
		  "TCP [*]:1-32767  =>  1-32767  (best effort)");
}

TEST(ConfPorts, EphemeralRange) {
	uint16_t a = 0, b = 0;
	EXPECT_TRUE(fwd_parse_ephemeral_range("32768\t60999\n", a, b));
	EXPECT_EQ(a, 32768);
	EXPECT_EQ(b, 60999);
	EXPECT_TRUE(fwd_parse_ephemeral_range("1024 1024", a, b));
	EXPECT_EQ(a, 1024);
	EXPECT_EQ(b, 1024);
	for (const char *s :
	     {"", "32768", "32768\t", "60999 32768", "1 65536", "a b", "1\t2\t3", "-1 5", "10,20"})
		EXPECT_FALSE(fwd_parse_ephemeral_range(s, a, b)) << s;

	HostDefaults h;
	if (fwd_read_ephemeral_range(h)) {
		EXPECT_LE(h.ephemeral_first, h.ephemeral_last);
	}
	HostDefaults g;
	EXPECT_FALSE(fwd_read_ephemeral_range(g, "/nonexistent/ip_local_port_range"));
	EXPECT_EQ(g.ephemeral_first, 49152);
}
