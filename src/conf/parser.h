// Private to src/conf: the option table and the command-line parser that
// conf.cpp (the two passes), options.cpp (the table, value syntax),
// apply*.cpp (one group of options each) and derive.cpp (defaults) share.
// The public interface is include/passt/conf/conf.h.
#pragma once

#include <getopt.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "passt/conf/conf.h"

namespace passt::conf_detail {

enum OptId : int {
	O_TRACE = 256,
	O_STATS,
	O_LOG_SIZE,
	O_RUNAS,
	O_VERSION,
	O_VHOST_USER,
	O_PRINT_CAPS,
	O_REPAIR_PATH,
	O_MIGRATE_EXIT,
	O_MIGRATE_NO_LINGER,
	O_OUTBOUND_IF4,
	O_OUTBOUND_IF6,
	O_DNS_FORWARD,
	O_DNS_HOST,
	O_DHCP_DNS,
	O_NO_DHCP_DNS,
	O_DHCP_SEARCH,
	O_NO_DHCP_SEARCH,
	O_FQDN,
	O_NO_TCP,
	O_NO_UDP,
	O_NO_ICMP,
	O_NO_DHCP,
	O_NO_NDP,
	O_NO_DHCPV6,
	O_NO_RA,
	O_FREEBIND,
	O_MAP_HOST_LOOPBACK,
	O_MAP_GUEST_ADDR,
	O_NO_MAP_GW,
	O_CHROOT_FALLBACK,
	O_HOST_LO_TO_NS_LO,
	O_USERNS,
	O_NETNS,
	O_NETNS_ONLY,
	O_NO_NETNS_QUIT,
	O_NO_PIDNS,
	O_CONFIG_NET,
	O_NO_COPY_ROUTES,
	O_NO_COPY_ADDRS,
	O_NS_MAC_ADDR,
	O_NO_SPLICE,
	O_SPLICE_ONLY,
};

// The modes an option is valid in.
enum class Only : uint8_t { Any, Pasta, Passt, VhostUser };

// Which Parser::apply_*() applies an option.
enum class Group : uint8_t { Log, General, Addr, Dns, Switch, Forward, Pasta };

struct OptDef {
	const char *name;
	int has_arg;
	int id;
	Only only;
	Group group;
};

// Leading '+': stop at the first non-option (pasta's command); ':' reports
// a missing argument as ':' rather than '?'.
inline constexpr char OPTSTRING[] = "+:dqfel:hs:c:F:I:p:P:m:a:n:M:g:i:o:D:S:H:461t:u:T:U:";

// The table entry for id (the first, for an option with two names), or null.
const OptDef *find_opt(int id);
// "-a/--address" or "--trace": how messages name an option.
std::string opt_name(int id);
// The table in getopt_long()'s format, built once.
const struct option *long_options();
// getopt_long() takes any unique prefix of a long option: text ("--x") it
// refused with more than one option starting with it was ambiguous, not
// unknown.
bool ambiguous_long_option(const struct option *longopts, const std::string &text);

// Unsigned number, in base 10, or base 0 (C conventions: 0x.., 0..) if
// any_base; no sign, no blanks, no trailing text.
bool parse_ulong(std::string_view s, bool any_base, unsigned long max, unsigned long &out);
// IPv4 netmask, dotted (contiguous ones) or as a number of bits.
bool parse_prefix4(std::string_view s, unsigned &out);
// IPv4 or IPv6 address, IPv6 optionally in brackets, for -a.
std::optional<InAny> parse_inany(std::string_view s);

// One collected option: id and argument, or getopt's complaint.
struct Collected {
	int id;
	const char *arg;
	std::string error;
};

class Parser {
public:
	Parser(Mode mode, const HostDefaults &host, Config &out, std::string &error)
		: mode_(mode), host_(host), c_(out), error_(error) {}

	ParseStatus run(int argc, char **argv);

private:
	Mode mode_;
	const HostDefaults &host_;
	Config &c_;
	std::string &error_;

	// Options seen, before derivation
	bool v4_only_ = false, v6_only_ = false;
	std::optional<Ipv4Addr> a4_, g4_;
	std::optional<unsigned> a4_prefix_, n_prefix_;
	std::optional<Ipv6Addr> a6_, g6_;
	bool a_is_prefix_ = false;
	bool dns4_given_ = false, dns6_given_ = false;
	bool search_given_ = false;
	bool stats_given_ = false;
	bool no_map_gw_ = false;
	bool fwd_given_[4] = {}; // t, u, T, U
	std::vector<std::pair<char, std::string>> fwd_specs_;

	bool fail(const std::string &msg) {
		error_ = std::string(mode_name(mode_)) + ": " + msg;
		return false;
	}
	bool bad_arg(const char *what, int id, const char *arg) {
		return fail(std::string("invalid ") + what + " for " + opt_name(id) + ": " + arg);
	}
	bool unhandled(int id) { return fail("internal error: unhandled option " + opt_name(id)); }
	void warn(const std::string &msg) { c_.warnings.push_back(msg); }

	// conf.cpp: the passes over the command line, checks between options
	int collect(int argc, char **argv, std::vector<Collected> &opts);
	void reset_config();
	bool check_combinations();
	void imply_services_off();

	// options.cpp: mode check and dispatch to the option's group
	bool mode_allows(int id, const char *arg);
	bool apply(int id, const char *arg, ParseStatus &stop);

	// apply.cpp: logging, general (paths, runas, back-end), switches, forwarding
	bool apply_log(int id, const char *arg);
	bool apply_general(int id, const char *arg, ParseStatus &stop);
	bool apply_switch(int id);
	bool apply_forward(int id, const char *arg);
	bool set_path(std::string &dst, int id, const char *arg, size_t max);
	bool set_ifname(std::string &dst, int id, const char *arg);
	bool parse_runas(const char *arg);

	// apply_addr.cpp: addresses, routes, interfaces, IP versions, MTU, MAC
	bool apply_addr(int id, const char *arg);
	bool parse_address(const char *arg);
	bool parse_gateway(int id, const char *arg);
	bool parse_outbound(int id, const char *arg);
	// --map-host-loopback / --map-guest-addr ADDR|none (option id): ADDR
	// into a4 or a6 by family, *set4/*set6 (if not null) marking which.
	bool parse_map(int id, const char *arg, Ipv4Addr &a4, Ipv6Addr &a6, bool *set4, bool *set6);

	// apply_dns.cpp: resolvers, search list, names, DHCP DNS options
	bool apply_dns(int id, const char *arg);
	bool parse_dns(int id, const char *arg);
	bool parse_search(int id, const char *arg);

	// apply_pasta.cpp: pasta's namespace and splice options
	bool apply_pasta(int id, const char *arg);

	// derive.cpp: defaults from HostDefaults once every option is applied
	bool derive_ip4();
	void derive_ip6();
	void derive_host_map();
	void derive_dns();
	bool derive_ports();
	bool derive_pasta_ns(int argc, char **argv, int first_arg);
};

} // namespace passt::conf_detail
