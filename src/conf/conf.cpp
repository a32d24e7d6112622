// Command-line parsing and derivation of the configuration.
//
// Theory of operation
//
// conf_parse() runs getopt_long() once over the whole command line,
// collecting (option, argument) pairs, and getopt's own complaints as
// pending errors in their place. The mode is then known (--vhost-user
// anywhere turns passt into vhost-user, as in the C passt), so a second
// walk applies the options in order: each is checked against the mode,
// its argument validated, and the last of conflicting options wins unless
// doc/passt.1 says otherwise. -h, --version and --print-capabilities stop
// the walk where they appear, like the C passt exiting there.
//
// The walks are here; the option table and the syntax of values are in
// options.cpp; each group of options is applied by its own function
// (apply.cpp: logging, general, switches, forwarding; apply_addr.cpp,
// apply_dns.cpp, apply_pasta.cpp); defaults are derived from the host by
// derive.cpp (see there), and the result is checked for options that
// exclude or imply each other. Everything shared between these files is
// in parser.h, private to src/conf.
#include "passt/conf/conf.h"

#include <getopt.h>

#include "parser.h"

namespace passt {

namespace conf_detail {

namespace {

constexpr MacAddr OUR_DEFAULT_MAC{{0x9a, 0x55, 0x9a, 0x55, 0x9a, 0x55}};

} // namespace

// Pass 1: getopt over the whole command line, its complaints kept in place
// as errors. Returns the index of the first non-option argument.
int Parser::collect(int argc, char **argv, std::vector<Collected> &opts) {
	const struct option *longopts = long_options();
	optind = 0;
	opterr = 0;
	for (;;) {
		int longidx = -1;
		int id = getopt_long(argc, argv, OPTSTRING, longopts, &longidx);
		if (id == -1)
			break;
		if (id == '?') {
			std::string what;
			if (optopt && find_opt(optopt)) {
				what = "option " + opt_name(optopt) + " doesn't take an argument";
			} else if (optopt) {
				what = std::string("invalid option -- '") + char(optopt) + "'";
			} else {
				std::string text =
					optind > 0 && optind <= argc ? argv[optind - 1] : "?";
				if (size_t eq = text.find('='); eq != std::string::npos)
					text.resize(eq);
				// getopt's own words: Podman matches them to tell
				// whether this pasta knows an option.
				what = ambiguous_long_option(longopts, text)
					       ? "option '" + text + "' is ambiguous"
					       : "unrecognized option '" + text + "'";
			}
			opts.push_back({id, nullptr, what});
		} else if (id == ':') {
			opts.push_back({id, nullptr,
					"option " + opt_name(optopt) + " requires an argument"});
		} else {
			opts.push_back({id, optarg, {}});
		}
	}
	return optind;
}

// A fresh Config with the defaults that don't depend on the host.
void Parser::reset_config() {
	c_ = Config{};
	c_.mode = mode_;
	c_.mtu = CONF_MTU_DEFAULT;
	// A fixed, locally administered address, as the C passt uses since
	// 2024: the host's own would show the guest a MAC that also sits on
	// the host's link.
	c_.our_tap_mac = OUR_DEFAULT_MAC;
	if (mode_ == Mode::Pasta)
		c_.no_dhcp_dns = c_.no_dhcp_dns_search = true;
}

// Checks between options, and what --splice-only implies.
bool Parser::check_combinations() {
	if (stats_given_ && !c_.foreground)
		return fail("--stats needs -f/--foreground");
	if (mode_ != Mode::Pasta) {
		c_.no_splice = true;
		return true;
	}
	if (c_.host_lo_to_ns_lo && c_.no_splice)
		return fail("--host-lo-to-ns-lo can't be used with --no-splice");
	if (!c_.config_net && c_.no_copy_routes)
		return fail("--no-copy-routes needs --config-net");
	if (!c_.config_net && c_.no_copy_addrs)
		return fail("--no-copy-addrs needs --config-net");
	if (c_.splice_only) {
		if (c_.no_splice)
			return fail("--splice-only can't be used with --no-splice");
		// No tap device: nothing but the loopback bypass, and no service
		// that answers frames.
		c_.host_lo_to_ns_lo = true;
		c_.no_icmp = true;
		c_.no_dhcp = c_.no_dhcpv6 = c_.no_ndp = c_.no_ra = true;
		c_.no_dns = c_.no_dns_search = true;
		c_.ip4.dns.clear();
		c_.ip6.dns.clear();
		c_.dns_search.clear();
	}
	return true;
}

// Services implied off by the options and the derived addresses.
void Parser::imply_services_off() {
	if (c_.no_icmp)
		c_.no_ndp = true;
	if (c_.config_net)
		c_.no_ra = true;
	if (!c_.ip4.enabled || c_.ip4.gw.is_unspecified())
		c_.no_dhcp = true;
	if (!c_.ip6.enabled) {
		c_.no_ndp = true;
		c_.no_dhcpv6 = true;
	} else if (c_.ip6.addr.is_unspecified()) {
		c_.no_dhcpv6 = true;
	}
}

ParseStatus Parser::run(int argc, char **argv) {
	std::vector<Collected> opts;
	int first_arg = collect(argc, argv, opts);

	// --vhost-user anywhere selects the mode
	for (const Collected &o : opts) {
		if (o.id == O_VHOST_USER && mode_ == Mode::Passt)
			mode_ = Mode::VhostUser;
	}

	reset_config();

	// Pass 2: apply in order
	for (const Collected &o : opts) {
		if (!o.error.empty()) {
			fail(o.error);
			return ParseStatus::Error;
		}
		ParseStatus stop = ParseStatus::Ok;
		if (!apply(o.id, o.arg, stop))
			return ParseStatus::Error;
		if (stop != ParseStatus::Ok)
			return stop;
	}

	if (!check_combinations())
		return ParseStatus::Error;

	// Addresses
	if (!derive_ip4())
		return ParseStatus::Error;
	derive_ip6();
	if (c_.mtu && c_.ip4.enabled && c_.mtu < 68)
		warn("MTU " + std::to_string(c_.mtu) + " is too small for IPv4 (minimum 68)");
	if (c_.mtu && c_.ip6.enabled && c_.mtu < 1280)
		warn("MTU " + std::to_string(c_.mtu) + " is too small for IPv6 (minimum 1280)");
	derive_host_map();

	if (!derive_ports())
		return ParseStatus::Error;
	if (!derive_pasta_ns(argc, argv, first_arg))
		return ParseStatus::Error;
	// Spawning a command, pasta shares its terminal: say nothing but
	// warnings unless asked to debug, as the C pasta does, so that the
	// command's own output stays its own.
	if (mode_ == Mode::Pasta && c_.netns.empty() && !c_.log_level)
		c_.quiet = true;

	imply_services_off();
	derive_dns();

	if (mode_ == Mode::Pasta && c_.ns_ifname.empty()) {
		if (!c_.ip4.ifname.empty())
			c_.ns_ifname = c_.ip4.ifname;
		else if (!c_.ip6.ifname.empty())
			c_.ns_ifname = c_.ip6.ifname;
		else
			c_.ns_ifname = "tap0";
	}
	return ParseStatus::Ok;
}

} // namespace conf_detail

using conf_detail::long_options;
using conf_detail::O_OUTBOUND_IF4;
using conf_detail::O_OUTBOUND_IF6;
using conf_detail::OPTSTRING;
using conf_detail::Parser;

void conf_interface_hints(int argc, char **argv, std::string &hint4, std::string &hint6) {
	std::string i, o4, o6;
	optind = 0;
	opterr = 0;
	for (;;) {
		int id = getopt_long(argc, argv, OPTSTRING, long_options(), nullptr);
		if (id == -1)
			break;
		if (id == 'i' && optarg)
			i = optarg;
		else if (id == O_OUTBOUND_IF4 && optarg)
			o4 = optarg;
		else if (id == O_OUTBOUND_IF6 && optarg)
			o6 = optarg;
	}
	optind = 0;
	hint4 = !i.empty() ? i : o4;
	hint6 = !i.empty() ? i : o6;
}

const char *mode_name(Mode mode) { return mode == Mode::Pasta ? "pasta" : "passt"; }

ParseStatus conf_parse(int argc, char **argv, Mode mode, const HostDefaults &host, Config &out,
		       std::string &error) {
	error.clear();
	Parser p(mode, host, out, error);
	return p.run(argc, argv);
}

} // namespace passt
