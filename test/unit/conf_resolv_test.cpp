// resolv.conf parsing: nameservers (v4, v6, v6 with scope), search and
// domain lines, comments and malformed lines.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <unistd.h>

#include "passt/conf/resolv.h"

using namespace passt;

namespace {

struct Parsed {
	std::vector<InAny> ns;
	std::vector<std::string> search;
};

Parsed parse(std::string_view text) {
	Parsed p;
	parse_resolv_conf(text, p.ns, p.search);
	return p;
}

std::vector<std::string> strs(const std::vector<InAny> &v) {
	std::vector<std::string> out;
	for (const auto &a : v)
		out.push_back(a.to_string());
	return out;
}

} // namespace

TEST(ConfResolv, Typical) {
	Parsed p = parse("# generated\n"
			 "nameserver 192.0.2.53\n"
			 "nameserver 2001:db8::53\n"
			 "nameserver fe80::1%eth0\n"
			 "search example.com test.example\n"
			 "options edns0 trust-ad\n");
	EXPECT_EQ(strs(p.ns), (std::vector<std::string>{"192.0.2.53", "2001:db8::53", "fe80::1"}));
	EXPECT_EQ(p.search, (std::vector<std::string>{"example.com", "test.example"}));
}

TEST(ConfResolv, BlanksCommentsAndLastSearchWins) {
	Parsed p = parse("nameserver\t127.0.0.53   # local stub\r\n"
			 "  nameserver 192.0.2.1\n" // keyword not at line start: ignored
			 "; comment\n"
			 "#nameserver 192.0.2.2\n"
			 "search a.example\n"
			 "domain b.example c.example\n");
	EXPECT_EQ(strs(p.ns), (std::vector<std::string>{"127.0.0.53"}));
	EXPECT_EQ(p.search, (std::vector<std::string>{"b.example"}));
	p = parse("domain b.example\nsearch x.example y.example ;rest\n");
	EXPECT_EQ(p.search, (std::vector<std::string>{"x.example", "y.example"}));
}

TEST(ConfResolv, MalformedLines) {
	Parsed p = parse("nameserver\n"
			 "nameserver \n"
			 "nameserver not-an-address\n"
			 "nameserver 300.1.1.1\n"
			 "nameserver 192.0.2.1.5\n"
			 "nameserver %eth0\n"
			 "nameservers 192.0.2.9\n"
			 "nameserver192.0.2.8\n"
			 "search\n"
			 "search  \n"
			 "garbage line here\n"
			 "\n\n\x01\xff\n"
			 "nameserver 192.0.2.7"); // no final newline
	EXPECT_EQ(strs(p.ns), (std::vector<std::string>{"192.0.2.7"}));
	EXPECT_TRUE(p.search.empty());
	EXPECT_TRUE(parse("").ns.empty());
	// Embedded NUL doesn't end parsing early or crash
	const char raw[] = "nameserver 192.0.2.1\n\0\nnameserver 192.0.2.2\n";
	std::string nul(raw, sizeof(raw) - 1);
	EXPECT_EQ(parse(nul).ns.size(), 2u);
}

TEST(ConfResolv, ReadFile) {
	char path[] = "/tmp/conf_resolv_test.XXXXXX";
	int fd = mkstemp(path);
	ASSERT_GE(fd, 0);
	const char text[] = "nameserver 192.0.2.53\nsearch example.org\n";
	ASSERT_EQ(write(fd, text, sizeof(text) - 1), ssize_t(sizeof(text) - 1));
	close(fd);
	HostDefaults h;
	h.resolvers.push_back(InAny(Ipv4Addr::loopback())); // replaced
	EXPECT_TRUE(read_resolv_conf(h, path));
	unlink(path);
	EXPECT_EQ(strs(h.resolvers), (std::vector<std::string>{"192.0.2.53"}));
	EXPECT_EQ(h.search, (std::vector<std::string>{"example.org"}));

	HostDefaults g;
	g.search = {"kept"};
	EXPECT_FALSE(read_resolv_conf(g, "/nonexistent/resolv.conf"));
	EXPECT_EQ(g.search, (std::vector<std::string>{"kept"}));
}
