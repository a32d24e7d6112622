// The --help text, the parser and doc/passt.1 must not drift apart: every
// long option in usage() is accepted by conf_parse() in that mode, every
// option the parser knows is in usage() for the modes that accept it, and
// every long option appears in the man page. Run from the repository root.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

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
	return h;
}

// Every "--name" word of text.
std::set<std::string> long_options_in(const std::string &text) {
	std::set<std::string> out;
	auto namechar = [](char c) {
		return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
	};
	for (size_t pos = text.find("--"); pos != std::string::npos;
	     pos = text.find("--", pos + 2)) {
		if (pos > 0 && namechar(text[pos - 1]))
			continue;
		size_t end = pos + 2;
		while (end < text.size() && namechar(text[end]))
			end++;
		if (end > pos + 2 && text[pos + 2] != '-')
			out.insert(text.substr(pos + 2, end - pos - 2));
	}
	return out;
}

// Complete, valid command lines exercising one option each (with whatever
// context it needs). Missing entries fail the test: add one per new option.
const std::map<std::string, std::vector<std::string>> &samples() {
	static const std::map<std::string, std::vector<std::string>> m = {
		{"debug", {"--debug"}},
		{"trace", {"--trace"}},
		{"stats", {"--foreground", "--stats", "1"}},
		{"quiet", {"--quiet"}},
		{"foreground", {"--foreground"}},
		{"stderr", {"--stderr"}},
		{"log-file", {"--log-file", "/tmp/l"}},
		{"log-size", {"--log-size", "1000000"}},
		{"runas", {"--runas", "1000"}},
		{"conf-path", {"--conf-path", "/tmp/c"}},
		{"help", {"--help"}},
		{"version", {"--version"}},
		{"pcap", {"--pcap", "/tmp/p"}},
		{"pid", {"--pid", "/tmp/pid"}},
		{"fd", {"--fd", "3"}},
		{"socket", {"--socket", "/tmp/s"}},
		{"socket-path", {"--socket-path", "/tmp/s"}},
		{"vhost-user", {"--vhost-user"}},
		{"print-capabilities", {"--print-capabilities"}},
		{"repair-path", {"--vhost-user", "--repair-path", "/tmp/r"}},
		{"migrate-exit", {"--vhost-user", "--migrate-exit"}},
		{"migrate-no-linger", {"--vhost-user", "--migrate-no-linger"}},
		{"one-off", {"--one-off"}},
		{"mtu", {"--mtu", "1500"}},
		{"address", {"--address", "192.0.2.9"}},
		{"netmask", {"--netmask", "24"}},
		{"mac-addr", {"--mac-addr", "02:00:00:00:00:01"}},
		{"gateway", {"--gateway", "192.0.2.254"}},
		{"interface", {"--interface", "eth0"}},
		{"outbound", {"--outbound", "192.0.2.2"}},
		{"outbound-if4", {"--outbound-if4", "eth0"}},
		{"outbound-if6", {"--outbound-if6", "eth0"}},
		{"ipv4-only", {"--ipv4-only"}},
		{"ipv6-only", {"--ipv6-only"}},
		{"map-host-loopback", {"--map-host-loopback", "192.0.2.3"}},
		{"map-guest-addr", {"--map-guest-addr", "192.0.2.4"}},
		{"no-map-gw", {"--no-map-gw"}},
		{"dns", {"--dns", "192.0.2.53"}},
		{"dns-forward", {"--dns-forward", "192.0.2.54"}},
		{"dns-host", {"--dns-host", "192.0.2.55"}},
		{"search", {"--search", "example.com"}},
		{"hostname", {"--hostname", "h"}},
		{"fqdn", {"--fqdn", "h.example"}},
		{"dhcp-dns", {"--dhcp-dns"}},
		{"dhcp-search", {"--dhcp-search"}},
		{"no-dhcp-dns", {"--no-dhcp-dns"}},
		{"no-dhcp-search", {"--no-dhcp-search"}},
		{"no-tcp", {"--no-tcp"}},
		{"no-udp", {"--no-udp"}},
		{"no-icmp", {"--no-icmp"}},
		{"no-dhcp", {"--no-dhcp"}},
		{"no-ndp", {"--no-ndp"}},
		{"no-dhcpv6", {"--no-dhcpv6"}},
		{"no-ra", {"--no-ra"}},
		{"freebind", {"--freebind"}},
		{"chroot-fallback", {"--chroot-fallback"}},
		{"tcp-ports", {"--tcp-ports", "22"}},
		{"udp-ports", {"--udp-ports", "53"}},
		{"tcp-ns", {"--tcp-ns", "80"}},
		{"udp-ns", {"--udp-ns", "53"}},
		{"ns-ifname", {"--ns-ifname", "ns0"}},
		{"ns-mac-addr", {"--ns-mac-addr", "02:00:00:00:00:02"}},
		{"config-net", {"--config-net"}},
		{"no-copy-routes", {"--config-net", "--no-copy-routes"}},
		{"no-copy-addrs", {"--config-net", "--no-copy-addrs"}},
		{"userns", {"--userns", "/proc/1/ns/user"}},
		{"netns", {"--netns", "foo"}},
		{"netns-only", {"--netns-only"}},
		{"no-netns-quit", {"--no-netns-quit"}},
		{"no-pidns", {"--no-pidns"}},
		{"host-lo-to-ns-lo", {"--host-lo-to-ns-lo"}},
		{"no-splice", {"--no-splice"}},
		{"splice-only", {"--splice-only"}},
	};
	return m;
}

ParseStatus run(Mode mode, std::vector<std::string> args, std::string &err) {
	args.insert(args.begin(), mode_name(mode));
	std::vector<char *> argv;
	for (auto &a : args)
		argv.push_back(a.data());
	argv.push_back(nullptr);
	Config c;
	return conf_parse(int(args.size()), argv.data(), mode, host(), c, err);
}

} // namespace

TEST(ConfUsage, EveryHelpOptionIsAccepted) {
	for (Mode mode : {Mode::Passt, Mode::Pasta}) {
		std::set<std::string> opts = long_options_in(usage_text(mode));
		EXPECT_GT(opts.size(), 50u);
		for (const std::string &o : opts) {
			auto it = samples().find(o);
			ASSERT_NE(it, samples().end()) << "no sample for --" << o;
			std::string err;
			ParseStatus st = run(mode, it->second, err);
			EXPECT_NE(st, ParseStatus::Error)
				<< mode_name(mode) << " --" << o << ": " << err;
		}
	}
}

TEST(ConfUsage, OptionsMissingFromHelpAreRejected) {
	// An option the parser accepts in a mode must be in that mode's help;
	// equivalently, every sample not in the help text is refused.
	for (Mode mode : {Mode::Passt, Mode::Pasta}) {
		std::set<std::string> opts = long_options_in(usage_text(mode));
		for (const auto &[name, args] : samples()) {
			if (opts.count(name) || name == "no-splice")
				continue; // --no-splice: silently accepted by passt, like C
			std::string err;
			EXPECT_EQ(run(mode, args, err), ParseStatus::Error)
				<< mode_name(mode) << " accepts --" << name
				<< " but its help doesn't list it";
		}
	}
}

TEST(ConfUsage, EveryOptionInManPage) {
	std::ifstream f("doc/passt.1");
	ASSERT_TRUE(f.good()) << "run from the repository root";
	std::stringstream ss;
	ss << f.rdbuf();
	// roff writes hyphens as "\\-"; compare in plain text
	std::string raw = ss.str(), man;
	for (size_t i = 0; i < raw.size(); i++) {
		if (raw.compare(i, 2, "\\-") == 0)
			i++;
		man += raw[i];
	}
	std::set<std::string> all;
	for (Mode mode : {Mode::Passt, Mode::Pasta})
		for (const auto &o : long_options_in(usage_text(mode)))
			all.insert(o);
	for (const auto &[name, args] : samples())
		all.insert(name);
	for (const std::string &o : all) {
		std::string roff = "--" + o;
		bool found = false;
		for (size_t pos = man.find(roff); pos != std::string::npos;
		     pos = man.find(roff, pos + 1)) {
			char next = pos + roff.size() < man.size() ? man[pos + roff.size()] : ' ';
			if (!(std::isalnum(static_cast<unsigned char>(next)) || next == '-')) {
				found = true;
				break;
			}
		}
		EXPECT_TRUE(found) << "--" << o << " missing from doc/passt.1";
	}
	EXPECT_NE(man.find("DIFFERENCES FROM THE C IMPLEMENTATION"), std::string::npos);
}

TEST(ConfUsage, VersionAndCapabilities) {
	char *buf = nullptr;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ASSERT_NE(f, nullptr);
	print_version(Mode::Pasta, f);
	print_capabilities(f);
	usage(Mode::Passt, f);
	fclose(f);
	std::string s(buf, len);
	free(buf);
	EXPECT_EQ(s.rfind("pasta ", 0), 0u);
	EXPECT_NE(s.find("\"type\": \"net\""), std::string::npos);
	EXPECT_NE(s.find("Usage: passt"), std::string::npos);
	EXPECT_EQ(usage_text(Mode::Passt).find("--netns"), std::string::npos);
	EXPECT_EQ(usage_text(Mode::Pasta).find("--vhost-user"), std::string::npos);
}
