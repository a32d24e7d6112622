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
// Defaults are then derived from HostDefaults, per IP version:
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
//
// #syscalls:init socket connect close newfstatat openat read lseek
#include "passt/conf/conf.h"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>

#include "passt/conf/ports.h"

namespace passt {

namespace {

enum OptId : int {
	O_TRACE = 256, O_STATS, O_LOG_SIZE, O_RUNAS, O_VERSION, O_VHOST_USER, O_PRINT_CAPS,
	O_REPAIR_PATH, O_MIGRATE_EXIT, O_MIGRATE_NO_LINGER, O_OUTBOUND_IF4, O_OUTBOUND_IF6,
	O_DNS_FORWARD, O_DNS_HOST, O_DHCP_DNS, O_NO_DHCP_DNS, O_DHCP_SEARCH, O_NO_DHCP_SEARCH,
	O_FQDN, O_NO_TCP, O_NO_UDP, O_NO_ICMP, O_NO_DHCP, O_NO_NDP, O_NO_DHCPV6, O_NO_RA,
	O_FREEBIND, O_MAP_HOST_LOOPBACK, O_MAP_GUEST_ADDR, O_NO_MAP_GW, O_CHROOT_FALLBACK,
	O_HOST_LO_TO_NS_LO, O_USERNS, O_NETNS, O_NETNS_ONLY, O_NO_NETNS_QUIT, O_NO_PIDNS,
	O_CONFIG_NET, O_NO_COPY_ROUTES, O_NO_COPY_ADDRS, O_NS_MAC_ADDR, O_NO_SPLICE,
	O_SPLICE_ONLY,
};

enum class Only : uint8_t { Any, Pasta, Passt, VhostUser };

struct OptDef {
	const char *name;
	int has_arg;
	int id;
	Only only;
};

// Every option. The first entry for an id gives its name in messages.
const OptDef OPTS[] = {
	{"debug", no_argument, 'd', Only::Any},
	{"trace", no_argument, O_TRACE, Only::Any},
	{"stats", required_argument, O_STATS, Only::Any},
	{"quiet", no_argument, 'q', Only::Any},
	{"foreground", no_argument, 'f', Only::Any},
	{"stderr", no_argument, 'e', Only::Any},
	{"log-file", required_argument, 'l', Only::Any},
	{"log-size", required_argument, O_LOG_SIZE, Only::Any},
	{"runas", required_argument, O_RUNAS, Only::Any},
	{"conf-path", required_argument, 'c', Only::Any},
	{"help", no_argument, 'h', Only::Any},
	{"version", no_argument, O_VERSION, Only::Any},
	{"pcap", required_argument, 'p', Only::Any},
	{"pid", required_argument, 'P', Only::Any},
	{"fd", required_argument, 'F', Only::Any},
	{"mtu", required_argument, 'm', Only::Any},
	{"address", required_argument, 'a', Only::Any},
	{"netmask", required_argument, 'n', Only::Any},
	{"mac-addr", required_argument, 'M', Only::Any},
	{"gateway", required_argument, 'g', Only::Any},
	{"interface", required_argument, 'i', Only::Any},
	{"outbound", required_argument, 'o', Only::Any},
	{"outbound-if4", required_argument, O_OUTBOUND_IF4, Only::Any},
	{"outbound-if6", required_argument, O_OUTBOUND_IF6, Only::Any},
	{"dns", required_argument, 'D', Only::Any},
	{"dns-forward", required_argument, O_DNS_FORWARD, Only::Any},
	{"dns-host", required_argument, O_DNS_HOST, Only::Any},
	{"search", required_argument, 'S', Only::Any},
	{"hostname", required_argument, 'H', Only::Any},
	{"fqdn", required_argument, O_FQDN, Only::Any},
	{"no-dhcp-dns", no_argument, O_NO_DHCP_DNS, Only::Passt},
	{"dhcp-dns", no_argument, O_DHCP_DNS, Only::Pasta},
	{"no-dhcp-search", no_argument, O_NO_DHCP_SEARCH, Only::Passt},
	{"dhcp-search", no_argument, O_DHCP_SEARCH, Only::Pasta},
	{"no-tcp", no_argument, O_NO_TCP, Only::Any},
	{"no-udp", no_argument, O_NO_UDP, Only::Any},
	{"no-icmp", no_argument, O_NO_ICMP, Only::Any},
	{"no-dhcp", no_argument, O_NO_DHCP, Only::Any},
	{"no-ndp", no_argument, O_NO_NDP, Only::Any},
	{"no-dhcpv6", no_argument, O_NO_DHCPV6, Only::Any},
	{"no-ra", no_argument, O_NO_RA, Only::Any},
	{"freebind", no_argument, O_FREEBIND, Only::Any},
	{"map-host-loopback", required_argument, O_MAP_HOST_LOOPBACK, Only::Any},
	{"map-guest-addr", required_argument, O_MAP_GUEST_ADDR, Only::Any},
	{"no-map-gw", no_argument, O_NO_MAP_GW, Only::Any},
	{"chroot-fallback", no_argument, O_CHROOT_FALLBACK, Only::Any},
	{"ipv4-only", no_argument, '4', Only::Any},
	{"ipv6-only", no_argument, '6', Only::Any},
	{"tcp-ports", required_argument, 't', Only::Any},
	{"udp-ports", required_argument, 'u', Only::Any},
	// passt and vhost-user
	{"socket", required_argument, 's', Only::Passt},
	{"socket-path", required_argument, 's', Only::Passt},
	{"vhost-user", no_argument, O_VHOST_USER, Only::Passt},
	{"print-capabilities", no_argument, O_PRINT_CAPS, Only::Any},
	{"repair-path", required_argument, O_REPAIR_PATH, Only::VhostUser},
	{"migrate-exit", no_argument, O_MIGRATE_EXIT, Only::VhostUser},
	{"migrate-no-linger", no_argument, O_MIGRATE_NO_LINGER, Only::VhostUser},
	{"one-off", no_argument, '1', Only::Passt},
	// pasta
	{"ns-ifname", required_argument, 'I', Only::Pasta},
	{"tcp-ns", required_argument, 'T', Only::Pasta},
	{"udp-ns", required_argument, 'U', Only::Pasta},
	{"host-lo-to-ns-lo", no_argument, O_HOST_LO_TO_NS_LO, Only::Pasta},
	{"userns", required_argument, O_USERNS, Only::Pasta},
	{"netns", required_argument, O_NETNS, Only::Pasta},
	{"netns-only", no_argument, O_NETNS_ONLY, Only::Pasta},
	{"no-netns-quit", no_argument, O_NO_NETNS_QUIT, Only::Pasta},
	{"no-pidns", no_argument, O_NO_PIDNS, Only::Pasta},
	{"config-net", no_argument, O_CONFIG_NET, Only::Pasta},
	{"no-copy-routes", no_argument, O_NO_COPY_ROUTES, Only::Pasta},
	{"no-copy-addrs", no_argument, O_NO_COPY_ADDRS, Only::Pasta},
	{"ns-mac-addr", required_argument, O_NS_MAC_ADDR, Only::Pasta},
	{"no-splice", no_argument, O_NO_SPLICE, Only::Any}, // no-op for passt, as in C
	{"splice-only", no_argument, O_SPLICE_ONLY, Only::Pasta},
};
constexpr size_t NOPTS = sizeof(OPTS) / sizeof(OPTS[0]);

// Leading '+': stop at the first non-option (pasta's command); ':' reports
// a missing argument as ':' rather than '?'.
const char OPTSTRING[] = "+:dqfel:hs:c:F:I:p:P:m:a:n:M:g:i:o:D:S:H:461t:u:T:U:";

const OptDef *find_opt(int id) {
	for (const OptDef &o : OPTS)
		if (o.id == id)
			return &o;
	return nullptr;
}

// "-a/--address" or "--trace": how messages name an option.
std::string opt_name(int id) {
	const OptDef *o = find_opt(id);
	if (!o)
		return id > 0 && id < 256 ? std::string("-") + char(id) : std::string("option");
	if (id < 256)
		return std::string("-") + char(id) + "/--" + o->name;
	return std::string("--") + o->name;
}

const struct option *long_options() {
	static struct option table[NOPTS + 1];
	static bool done;
	if (!done) {
		for (size_t i = 0; i < NOPTS; i++)
			table[i] = {OPTS[i].name, OPTS[i].has_arg, nullptr, OPTS[i].id};
		table[NOPTS] = {nullptr, 0, nullptr, 0};
		done = true;
	}
	return table;
}

// Unsigned number, in base 10, or base 0 (C conventions: 0x.., 0..) if
// any_base; no sign, no blanks, no trailing text.
bool parse_ulong(std::string_view s, bool any_base, unsigned long max, unsigned long &out) {
	if (s.empty() || s.size() > 32 || !(s[0] >= '0' && s[0] <= '9'))
		return false;
	std::string tmp(s);
	char *end = nullptr;
	errno = 0;
	unsigned long v = std::strtoul(tmp.c_str(), &end, any_base ? 0 : 10);
	if (errno || *end || v > max)
		return false;
	out = v;
	return true;
}

// IPv4 netmask, dotted (contiguous ones) or as a number of bits.
bool parse_prefix4(std::string_view s, unsigned &out) {
	if (auto m = Ipv4Addr::parse(s)) {
		uint32_t h = m->host();
		unsigned len = unsigned(__builtin_popcount(h));
		if (len && h << (len - 1) << 1) // ones are not contiguous from the top
			return false;
		out = len;
		return true;
	}
	unsigned long v;
	if (!parse_ulong(s, true, 32, v))
		return false;
	out = unsigned(v);
	return true;
}

// IPv4 or IPv6 address, IPv6 optionally in brackets, for -a.
std::optional<InAny> parse_inany(std::string_view s) {
	if (s.size() >= 2 && s.front() == '[' && s.back() == ']') {
		if (auto a6 = Ipv6Addr::parse(s.substr(1, s.size() - 2)))
			return InAny(*a6);
		return std::nullopt;
	}
	return InAny::parse(s);
}

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

// Without a list of interfaces from the prober, any name is taken on trust
// (it then only works as a template if it is one of the uplinks).
bool host_has_iface(const HostDefaults &host, const std::string &name) {
	if (name == host.ifname4 || name == host.ifname6 || host.interfaces.empty())
		return true;
	for (const HostInterface &i : host.interfaces)
		if (i.name == name)
			return true;
	return false;
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

constexpr MacAddr OUR_DEFAULT_MAC{{0x9a, 0x55, 0x9a, 0x55, 0x9a, 0x55}};

// getopt_long() takes any unique prefix of a long option: text ("--x") it
// refused with more than one option starting with it was ambiguous, not
// unknown.
bool ambiguous_long_option(const struct option *longopts, const std::string &text) {
	if (text.compare(0, 2, "--") || text.size() == 2)
		return false;
	const char *name = text.c_str() + 2;
	size_t len = text.size() - 2, matches = 0;
	for (const struct option *o = longopts; o->name; o++)
		matches += !std::strncmp(o->name, name, len);
	return matches > 1;
}

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
	void warn(const std::string &msg) { c_.warnings.push_back(msg); }

	bool mode_allows(int id, const char *arg);
	bool apply(int id, const char *arg, ParseStatus &stop);
	bool set_path(std::string &dst, int id, const char *arg, size_t max);
	bool set_ifname(std::string &dst, int id, const char *arg);
	bool parse_address(const char *arg);
	bool parse_runas(const char *arg);
	bool parse_map(int id, const char *arg, Ipv4Addr &a4, Ipv6Addr &a6, bool *set4,
		       bool *set6);
	bool derive_ip4();
	void derive_ip6();
	void derive_dns();
	bool derive_ports();
	bool derive_pasta_ns(int argc, char **argv, int first_arg);
};

bool Parser::mode_allows(int id, const char *arg) {
	const OptDef *o = find_opt(id);
	if (!o)
		return true;
	switch (o->only) {
	case Only::Any:
		return true;
	case Only::Pasta:
		if (mode_ != Mode::Pasta)
			return fail(opt_name(id) + " is for pasta mode only");
		return true;
	case Only::Passt:
		if (mode_ == Mode::Pasta)
			return fail(opt_name(id) + " is for passt mode only");
		return true;
	case Only::VhostUser:
		if (mode_ != Mode::VhostUser && !(id == O_REPAIR_PATH && !std::strcmp(arg, "none")))
			return fail(opt_name(id) + " is for vhost-user mode (--vhost-user) only");
		return true;
	}
	return true;
}

bool Parser::set_path(std::string &dst, int id, const char *arg, size_t max) {
	size_t len = std::strlen(arg);
	if (!len)
		return fail("empty path for " + opt_name(id));
	if (len > max)
		return fail("path too long for " + opt_name(id) + " (maximum " +
			    std::to_string(max) + " bytes): " + arg);
	dst = arg;
	return true;
}

bool Parser::set_ifname(std::string &dst, int id, const char *arg) {
	size_t len = std::strlen(arg);
	if (!len || len > 15 || std::strchr(arg, '/') || !std::strcmp(arg, ".") ||
	    !std::strcmp(arg, ".."))
		return bad_arg("interface name", id, arg);
	dst = arg;
	return true;
}

// -a ADDR[/PREFIX]
bool Parser::parse_address(const char *arg) {
	std::string_view s(arg);
	std::string_view addr_part = s, prefix_part;
	bool is_prefix = false;
	size_t slash = s.rfind('/');
	if (slash != std::string_view::npos) {
		addr_part = s.substr(0, slash);
		prefix_part = s.substr(slash + 1);
		is_prefix = true;
	}
	auto a = parse_inany(addr_part);
	if (!a)
		return bad_arg("address", 'a', arg);
	bool v4 = a->is_v4();
	if (is_prefix) {
		unsigned long len;
		if (!parse_ulong(prefix_part, false, v4 ? 32 : 128, len))
			return bad_arg("prefix length", 'a', arg);
		if (n_prefix_)
			return fail("redundant prefix length: -n/--netmask given with " +
				    opt_name('a') + " " + arg);
		if (v4)
			a4_prefix_ = unsigned(len);
	} else if (v4) {
		a4_prefix_.reset();
	}
	bool unusable = v4 ? (a->v4().is_unspecified() || a->v4().is_multicast() ||
			      a->v4().is_broadcast() || a->v4().is_loopback())
			   : (a->v6().is_unspecified() || a->v6().is_multicast() ||
			      a->v6().is_loopback());
	if (unusable)
		return bad_arg("address (not a unicast address)", 'a', arg);
	if (v4) {
		a4_ = a->v4();
		c_.ip4.addr_fixed = true;
		c_.ip4.no_copy_addrs = true;
	} else {
		a6_ = a->v6();
		c_.ip6.addr_fixed = true;
		c_.ip6.no_copy_addrs = true;
	}
	a_is_prefix_ = is_prefix;
	return true;
}

// --runas UID|UID:GID|LOGIN|LOGIN:GROUP
bool Parser::parse_runas(const char *arg) {
	std::string s(arg);
	std::string user = s, group;
	bool has_group = false;
	size_t colon = s.find(':');
	if (colon != std::string::npos) {
		user = s.substr(0, colon);
		group = s.substr(colon + 1);
		has_group = true;
	}
	if (user.empty() || (has_group && group.empty()))
		return bad_arg("user or group", O_RUNAS, arg);
	unsigned long v;
	uint32_t uid, gid;
	if (parse_ulong(user, true, UINT32_MAX - 1, v)) {
		uid = gid = uint32_t(v);
	} else {
		struct passwd *pw = getpwnam(user.c_str());
		// As the C passt: a login name must not resolve to root
		if (!pw || !pw->pw_uid)
			return bad_arg("user", O_RUNAS, arg);
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	if (has_group) {
		if (parse_ulong(group, true, UINT32_MAX - 1, v)) {
			gid = uint32_t(v);
		} else {
			struct group *gr = getgrnam(group.c_str());
			if (!gr)
				return bad_arg("group", O_RUNAS, arg);
			gid = gr->gr_gid;
		}
	}
	c_.runas = s;
	c_.runas_uid = uid;
	c_.runas_gid = gid;
	return true;
}

// --map-host-loopback, --map-guest-addr: ADDR or "none"
bool Parser::parse_map(int id, const char *arg, Ipv4Addr &m4, Ipv6Addr &m6, bool *set4,
		       bool *set6) {
	if (!std::strcmp(arg, "none")) {
		m4 = Ipv4Addr{};
		m6 = Ipv6Addr{};
		if (set4)
			*set4 = *set6 = false;
		if (id == O_MAP_HOST_LOOPBACK)
			no_map_gw_ = true;
		return true;
	}
	if (auto a6 = Ipv6Addr::parse(arg)) {
		if (!a6->is_unspecified() && !a6->is_loopback() && !a6->is_multicast()) {
			m6 = *a6;
			if (set6)
				*set6 = true;
			return true;
		}
	} else if (auto a4 = Ipv4Addr::parse(arg)) {
		if (!a4->is_unspecified() && !a4->is_loopback() && !a4->is_multicast()) {
			m4 = *a4;
			if (set4)
				*set4 = true;
			return true;
		}
	}
	return bad_arg("address", id, arg);
}

bool Parser::apply(int id, const char *arg, ParseStatus &stop) {
	if (!mode_allows(id, arg))
		return false;

	unsigned long v;
	switch (id) {
	case 'd':
		c_.log_level = c_.log_level > 1 ? c_.log_level : 1;
		c_.quiet = false;
		break;
	case O_TRACE:
		c_.log_level = 2;
		c_.quiet = false;
		break;
	case 'q':
		c_.quiet = true;
		c_.log_level = 0;
		break;
	case O_STATS:
		if (!parse_ulong(arg, true, UINT_MAX, v))
			return bad_arg("delay", id, arg);
		c_.stats_delay = unsigned(v);
		stats_given_ = true;
		break;
	case 'f':
		c_.foreground = true;
		break;
	case 'e':
		c_.log_stderr = true;
		warn("--stderr is deprecated and will be removed");
		break;
	case 'l':
		return set_path(c_.log_file, id, arg, PATH_MAX - 1);
	case O_LOG_SIZE:
		if (!parse_ulong(arg, true, ULONG_MAX, v) || v < CONF_LOG_SIZE_MIN)
			return fail("invalid size for " + opt_name(id) + " (minimum " +
				    std::to_string(CONF_LOG_SIZE_MIN) + "): " + arg);
		c_.log_size = v;
		break;
	case O_RUNAS:
		return parse_runas(arg);
	case 'c':
		return set_path(c_.conf_path, id, arg, CONF_UNIX_PATH_MAX);
	case 'h':
		stop = ParseStatus::Help;
		break;
	case O_VERSION:
		stop = ParseStatus::Version;
		break;
	case O_PRINT_CAPS:
		stop = ParseStatus::PrintCapabilities;
		break;
	case 'p':
		return set_path(c_.pcap_file, id, arg, PATH_MAX - 1);
	case 'P':
		return set_path(c_.pid_file, id, arg, PATH_MAX - 1);
	case 'F':
		if (!parse_ulong(arg, true, INT_MAX, v))
			return bad_arg("file descriptor", id, arg);
		c_.fd = int(v);
		c_.one_off = true;
		c_.socket_path.clear();
		break;
	case 's':
		if (!set_path(c_.socket_path, id, arg, CONF_UNIX_PATH_MAX))
			return false;
		c_.fd = -1;
		break;
	case O_VHOST_USER:
		break; // mode already switched
	case O_REPAIR_PATH:
		return set_path(c_.repair_path, id, arg, CONF_UNIX_PATH_MAX);
	case O_MIGRATE_EXIT:
		c_.migrate_exit = true;
		warn("--migrate-exit is deprecated and will be removed");
		break;
	case O_MIGRATE_NO_LINGER:
		c_.migrate_no_linger = true;
		warn("--migrate-no-linger is deprecated and will be removed");
		break;
	case '1':
		c_.one_off = true;
		break;
	case 'm':
		if (!parse_ulong(arg, true, ULONG_MAX, v))
			return bad_arg("MTU", id, arg);
		if (v > CONF_MTU_MAX)
			return fail("MTU too large for " + opt_name(id) + ": " + arg +
				    " (maximum " + std::to_string(CONF_MTU_MAX) + ")");
		c_.mtu = unsigned(v);
		c_.mtu_set = true;
		break;
	case 'a':
		return parse_address(arg);
	case 'n': {
		if (a_is_prefix_)
			return fail(std::string("redundant prefix length: -a/--address has one, "
						"and -n/--netmask ") + arg + " was given");
		unsigned len;
		if (!parse_prefix4(arg, len))
			return bad_arg("netmask", id, arg);
		n_prefix_ = len;
		break;
	}
	case 'M': {
		auto m = MacAddr::parse(arg);
		if (!m)
			return bad_arg("MAC address", id, arg);
		c_.our_tap_mac = *m;
		c_.our_tap_mac_set = true;
		break;
	}
	case 'g':
		if (auto g = Ipv6Addr::parse(arg)) {
			if (g->is_unspecified() || g->is_loopback())
				return bad_arg("gateway address", id, arg);
			g6_ = *g;
			if (mode_ == Mode::Pasta)
				c_.ip6.no_copy_routes = true;
		} else if (auto g4 = Ipv4Addr::parse(arg)) {
			if (g4->is_unspecified() || g4->is_broadcast() || g4->is_loopback())
				return bad_arg("gateway address", id, arg);
			g4_ = *g4;
			if (mode_ == Mode::Pasta)
				c_.ip4.no_copy_routes = true;
		} else {
			return bad_arg("gateway address", id, arg);
		}
		break;
	case 'i':
		if (!set_ifname(c_.ifname, id, arg))
			return false;
		if (!host_has_iface(host_, c_.ifname))
			return fail("no such interface for " + opt_name(id) + ": " + arg);
		break;
	case 'o':
		if (auto o6 = Ipv6Addr::parse(arg)) {
			bool v4compat = o6->b[12] | o6->b[13] | o6->b[14] | o6->b[15];
			for (int i = 0; i < 12; i++)
				v4compat = v4compat && !o6->b[i];
			if (o6->is_unspecified() || o6->is_loopback() || o6->is_v4mapped() ||
			    v4compat || o6->is_multicast())
				return bad_arg("outbound address", id, arg);
			c_.ip6.addr_out = *o6;
		} else if (auto o4 = Ipv4Addr::parse(arg)) {
			if (o4->is_unspecified() || o4->is_broadcast() || o4->is_multicast())
				return bad_arg("outbound address", id, arg);
			c_.ip4.addr_out = *o4;
		} else {
			return bad_arg("outbound address", id, arg);
		}
		break;
	case O_OUTBOUND_IF4:
	case O_OUTBOUND_IF6: {
		std::string &dst = id == O_OUTBOUND_IF4 ? c_.ip4.ifname_out : c_.ip6.ifname_out;
		if (!set_ifname(dst, id, arg))
			return false;
		if (!host_has_iface(host_, dst))
			return fail("no such interface for " + opt_name(id) + ": " + arg);
		break;
	}
	case 'D':
		if (!std::strcmp(arg, "none")) {
			c_.no_dns = true;
			c_.ip4.dns.clear();
			c_.ip6.dns.clear();
			c_.ip4.dns_match = c_.ip4.dns_host = Ipv4Addr{};
			c_.ip6.dns_match = c_.ip6.dns_host = Ipv6Addr{};
			dns4_given_ = dns6_given_ = false;
			break;
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
		break;
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
	case 'S': {
		if (!std::strcmp(arg, "none")) {
			c_.no_dns_search = true;
			c_.dns_search.clear();
			search_given_ = false;
			break;
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
				return fail("too many search domains for " + opt_name(id) +
					    " (maximum " + std::to_string(CONF_SEARCH_MAX) +
					    "): " + arg);
			c_.dns_search.emplace_back(dom);
			added++;
		}
		if (!added)
			return bad_arg("search list", id, arg);
		search_given_ = true;
		break;
	}
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
	case O_NO_DHCP_DNS:
		c_.no_dhcp_dns = true;
		break;
	case O_DHCP_DNS:
		c_.no_dhcp_dns = false;
		break;
	case O_NO_DHCP_SEARCH:
		c_.no_dhcp_dns_search = true;
		break;
	case O_DHCP_SEARCH:
		c_.no_dhcp_dns_search = false;
		break;
	case O_NO_TCP:
		c_.no_tcp = true;
		break;
	case O_NO_UDP:
		c_.no_udp = true;
		break;
	case O_NO_ICMP:
		c_.no_icmp = true;
		break;
	case O_NO_DHCP:
		c_.no_dhcp = true;
		break;
	case O_NO_NDP:
		c_.no_ndp = true;
		break;
	case O_NO_DHCPV6:
		c_.no_dhcpv6 = true;
		break;
	case O_NO_RA:
		c_.no_ra = true;
		break;
	case O_FREEBIND:
		c_.freebind = true;
		break;
	case O_MAP_HOST_LOOPBACK:
		return parse_map(id, arg, c_.ip4.map_host_loopback, c_.ip6.map_host_loopback,
				 &c_.ip4.map_host_loopback_set, &c_.ip6.map_host_loopback_set);
	case O_MAP_GUEST_ADDR:
		return parse_map(id, arg, c_.ip4.map_guest_addr, c_.ip6.map_guest_addr, nullptr,
				 nullptr);
	case O_NO_MAP_GW:
		no_map_gw_ = true;
		break;
	case O_CHROOT_FALLBACK:
		c_.chroot_fallback = true;
		break;
	case '4':
		v4_only_ = true;
		v6_only_ = false;
		break;
	case '6':
		v6_only_ = true;
		v4_only_ = false;
		break;
	case 't':
	case 'u':
	case 'T':
	case 'U': {
		// Parsed once the IP versions in use are known
		static const char names[] = "tuTU";
		fwd_given_[std::strchr(names, id) - names] = true;
		fwd_specs_.emplace_back(char(id), arg);
		break;
	}
	case 'I':
		return set_ifname(c_.ns_ifname, id, arg);
	case O_HOST_LO_TO_NS_LO:
		c_.host_lo_to_ns_lo = true;
		break;
	case O_USERNS:
		if (!set_path(c_.userns, id, arg, PATH_MAX - 1))
			return false;
		c_.netns_only = false;
		break;
	case O_NETNS:
		if (!std::strchr(arg, '/'))
			return set_path(c_.netns, id, (std::string("/run/netns/") + arg).c_str(),
					PATH_MAX - 1);
		return set_path(c_.netns, id, arg, PATH_MAX - 1);
	case O_NETNS_ONLY:
		c_.netns_only = true;
		c_.userns.clear();
		break;
	case O_NO_NETNS_QUIT:
		c_.no_netns_quit = true;
		break;
	case O_NO_PIDNS:
		c_.no_pidns = true;
		break;
	case O_CONFIG_NET:
		c_.config_net = true;
		break;
	case O_NO_COPY_ROUTES:
		c_.no_copy_routes = true;
		c_.ip4.no_copy_routes = c_.ip6.no_copy_routes = true;
		warn("--no-copy-routes is deprecated and will be removed");
		break;
	case O_NO_COPY_ADDRS:
		c_.no_copy_addrs = true;
		c_.ip4.no_copy_addrs = c_.ip6.no_copy_addrs = true;
		warn("--no-copy-addrs is deprecated and will be removed");
		break;
	case O_NS_MAC_ADDR: {
		auto m = MacAddr::parse(arg);
		if (!m)
			return bad_arg("MAC address", id, arg);
		c_.ns_mac = *m;
		c_.ns_mac_set = true;
		break;
	}
	case O_NO_SPLICE:
		c_.no_splice = true;
		break;
	case O_SPLICE_ONLY:
		c_.splice_only = true;
		break;
	default:
		return fail("internal error: unhandled option " + opt_name(id));
	}
	return true;
}

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

	std::string name = !c_.ifname.empty()		? c_.ifname
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
			ip4.prefix_len = n_prefix_ ? *n_prefix_
				       : t.prefix   ? t.prefix
						    : t.addr.classful_prefix();
		}
		return true;
	}

	if (!ip4.ifname_out.empty())
		return fail("interface " + ip4.ifname_out + " for --outbound-if4 has no usable "
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

	std::string name = !c_.ifname.empty()		? c_.ifname
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

bool Parser::derive_ports() {
	auto fwd_for = [this](char o) -> PortForward & {
		switch (o) {
		case 't':
			return c_.tcp_in;
		case 'u':
			return c_.udp_in;
		case 'T':
			return c_.tcp_out;
		default:
			return c_.udp_out;
		}
	};
	auto ctx_for = [this](char o) {
		PortSpecContext ctx;
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
		if (!port_spec_parse(spec, ctx_for(o), fwd_for(o), err))
			return fail(err);
	}
	if (mode_ == Mode::Pasta) {
		static const char names[] = "tuTU";
		for (int i = 0; i < 4; i++) {
			char o = names[i];
			PortSpecContext ctx = ctx_for(o);
			if (fwd_given_[i] || !ctx.proto_enabled)
				continue;
			if (!port_spec_parse("auto", ctx, fwd_for(o), err))
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

ParseStatus Parser::run(int argc, char **argv) {
	const struct option *longopts = long_options();
	std::vector<Collected> opts;

	// Pass 1: getopt, errors kept in place
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
				std::string text = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
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
			opts.push_back({id, nullptr, "option " + opt_name(optopt) +
							     " requires an argument"});
		} else {
			opts.push_back({id, optarg, {}});
		}
	}
	int first_arg = optind;

	// --vhost-user anywhere selects the mode
	for (const Collected &o : opts) {
		if (o.id == O_VHOST_USER && mode_ == Mode::Passt)
			mode_ = Mode::VhostUser;
	}

	c_ = Config{};
	c_.mode = mode_;
	c_.mtu = CONF_MTU_DEFAULT;
	// A fixed, locally administered address, as the C passt uses since
	// 2024: the host's own would show the guest a MAC that also sits on
	// the host's link.
	c_.our_tap_mac = OUR_DEFAULT_MAC;
	if (mode_ == Mode::Pasta)
		c_.no_dhcp_dns = c_.no_dhcp_dns_search = true;

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

	// Checks between options
	if (stats_given_ && !c_.foreground) {
		fail("--stats needs -f/--foreground");
		return ParseStatus::Error;
	}
	if (mode_ != Mode::Pasta) {
		c_.no_splice = true;
	} else {
		if (c_.host_lo_to_ns_lo && c_.no_splice) {
			fail("--host-lo-to-ns-lo can't be used with --no-splice");
			return ParseStatus::Error;
		}
		if (!c_.config_net && c_.no_copy_routes) {
			fail("--no-copy-routes needs --config-net");
			return ParseStatus::Error;
		}
		if (!c_.config_net && c_.no_copy_addrs) {
			fail("--no-copy-addrs needs --config-net");
			return ParseStatus::Error;
		}
		if (c_.splice_only) {
			if (c_.no_splice) {
				fail("--splice-only can't be used with --no-splice");
				return ParseStatus::Error;
			}
			c_.host_lo_to_ns_lo = true;
			c_.no_icmp = true;
			c_.no_dns = c_.no_dns_search = true;
			c_.ip4.dns.clear();
			c_.ip6.dns.clear();
			c_.dns_search.clear();
		}
	}

	// Addresses
	if (!derive_ip4())
		return ParseStatus::Error;
	derive_ip6();
	if (c_.mtu && c_.ip4.enabled && c_.mtu < 68)
		warn("MTU " + std::to_string(c_.mtu) + " is too small for IPv4 (minimum 68)");
	if (c_.mtu && c_.ip6.enabled && c_.mtu < 1280)
		warn("MTU " + std::to_string(c_.mtu) + " is too small for IPv6 (minimum 1280)");

	c_.no_map_gw = no_map_gw_;
	if (c_.ip4.enabled && !no_map_gw_ && c_.ip4.map_host_loopback.is_unspecified())
		c_.ip4.map_host_loopback = c_.ip4.gw;
	if (c_.ip6.enabled && !no_map_gw_ && c_.ip6.map_host_loopback.is_unspecified())
		c_.ip6.map_host_loopback = c_.ip6.gw;
	if (!c_.ip4.enabled)
		c_.ip4.map_host_loopback = Ipv4Addr{};
	if (!c_.ip6.enabled)
		c_.ip6.map_host_loopback = Ipv6Addr{};

	if (!derive_ports())
		return ParseStatus::Error;
	if (!derive_pasta_ns(argc, argv, first_arg))
		return ParseStatus::Error;
	// Spawning a command, pasta shares its terminal: say nothing but
	// warnings unless asked to debug, as the C pasta does, so that the
	// command's own output stays its own.
	if (mode_ == Mode::Pasta && c_.netns.empty() && !c_.log_level)
		c_.quiet = true;

	// Services implied off
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

} // namespace

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
