// The option table (long names, argument, mode, group) and the syntax of
// option values shared by several options (numbers, netmasks, addresses).
// Parser::apply() checks an option against the mode and hands it to the
// apply_*() of its group (apply.cpp, apply_addr.cpp, apply_dns.cpp,
// apply_pasta.cpp).
#include "parser.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace passt::conf_detail {

namespace {

// Every option. The first entry for an id gives its name in messages.
const OptDef OPTS[] = {
	{"debug", no_argument, 'd', Only::Any, Group::Log},
	{"trace", no_argument, O_TRACE, Only::Any, Group::Log},
	{"stats", required_argument, O_STATS, Only::Any, Group::Log},
	{"quiet", no_argument, 'q', Only::Any, Group::Log},
	{"foreground", no_argument, 'f', Only::Any, Group::Log},
	{"stderr", no_argument, 'e', Only::Any, Group::Log},
	{"log-file", required_argument, 'l', Only::Any, Group::Log},
	{"log-size", required_argument, O_LOG_SIZE, Only::Any, Group::Log},
	{"runas", required_argument, O_RUNAS, Only::Any, Group::General},
	{"conf-path", required_argument, 'c', Only::Any, Group::General},
	{"help", no_argument, 'h', Only::Any, Group::General},
	{"version", no_argument, O_VERSION, Only::Any, Group::General},
	{"pcap", required_argument, 'p', Only::Any, Group::General},
	{"pid", required_argument, 'P', Only::Any, Group::General},
	{"fd", required_argument, 'F', Only::Any, Group::General},
	{"mtu", required_argument, 'm', Only::Any, Group::Addr},
	{"address", required_argument, 'a', Only::Any, Group::Addr},
	{"netmask", required_argument, 'n', Only::Any, Group::Addr},
	{"mac-addr", required_argument, 'M', Only::Any, Group::Addr},
	{"gateway", required_argument, 'g', Only::Any, Group::Addr},
	{"interface", required_argument, 'i', Only::Any, Group::Addr},
	{"outbound", required_argument, 'o', Only::Any, Group::Addr},
	{"outbound-if4", required_argument, O_OUTBOUND_IF4, Only::Any, Group::Addr},
	{"outbound-if6", required_argument, O_OUTBOUND_IF6, Only::Any, Group::Addr},
	{"dns", required_argument, 'D', Only::Any, Group::Dns},
	{"dns-forward", required_argument, O_DNS_FORWARD, Only::Any, Group::Dns},
	{"dns-host", required_argument, O_DNS_HOST, Only::Any, Group::Dns},
	{"search", required_argument, 'S', Only::Any, Group::Dns},
	{"hostname", required_argument, 'H', Only::Any, Group::Dns},
	{"fqdn", required_argument, O_FQDN, Only::Any, Group::Dns},
	{"no-dhcp-dns", no_argument, O_NO_DHCP_DNS, Only::Passt, Group::Dns},
	{"dhcp-dns", no_argument, O_DHCP_DNS, Only::Pasta, Group::Dns},
	{"no-dhcp-search", no_argument, O_NO_DHCP_SEARCH, Only::Passt, Group::Dns},
	{"dhcp-search", no_argument, O_DHCP_SEARCH, Only::Pasta, Group::Dns},
	{"no-tcp", no_argument, O_NO_TCP, Only::Any, Group::Switch},
	{"no-udp", no_argument, O_NO_UDP, Only::Any, Group::Switch},
	{"no-icmp", no_argument, O_NO_ICMP, Only::Any, Group::Switch},
	{"no-dhcp", no_argument, O_NO_DHCP, Only::Any, Group::Switch},
	{"no-ndp", no_argument, O_NO_NDP, Only::Any, Group::Switch},
	{"no-dhcpv6", no_argument, O_NO_DHCPV6, Only::Any, Group::Switch},
	{"no-ra", no_argument, O_NO_RA, Only::Any, Group::Switch},
	{"freebind", no_argument, O_FREEBIND, Only::Any, Group::Switch},
	{"map-host-loopback", required_argument, O_MAP_HOST_LOOPBACK, Only::Any, Group::Addr},
	{"map-guest-addr", required_argument, O_MAP_GUEST_ADDR, Only::Any, Group::Addr},
	{"no-map-gw", no_argument, O_NO_MAP_GW, Only::Any, Group::Addr},
	{"chroot-fallback", no_argument, O_CHROOT_FALLBACK, Only::Any, Group::Switch},
	{"ipv4-only", no_argument, '4', Only::Any, Group::Addr},
	{"ipv6-only", no_argument, '6', Only::Any, Group::Addr},
	{"tcp-ports", required_argument, 't', Only::Any, Group::Forward},
	{"udp-ports", required_argument, 'u', Only::Any, Group::Forward},
	// passt and vhost-user
	{"socket", required_argument, 's', Only::Passt, Group::General},
	{"socket-path", required_argument, 's', Only::Passt, Group::General},
	{"vhost-user", no_argument, O_VHOST_USER, Only::Passt, Group::General},
	{"print-capabilities", no_argument, O_PRINT_CAPS, Only::Any, Group::General},
	{"repair-path", required_argument, O_REPAIR_PATH, Only::VhostUser, Group::General},
	{"migrate-exit", no_argument, O_MIGRATE_EXIT, Only::VhostUser, Group::General},
	{"migrate-no-linger", no_argument, O_MIGRATE_NO_LINGER, Only::VhostUser, Group::General},
	{"one-off", no_argument, '1', Only::Passt, Group::General},
	// pasta
	{"ns-ifname", required_argument, 'I', Only::Pasta, Group::Pasta},
	{"tcp-ns", required_argument, 'T', Only::Pasta, Group::Forward},
	{"udp-ns", required_argument, 'U', Only::Pasta, Group::Forward},
	{"host-lo-to-ns-lo", no_argument, O_HOST_LO_TO_NS_LO, Only::Pasta, Group::Pasta},
	{"userns", required_argument, O_USERNS, Only::Pasta, Group::Pasta},
	{"netns", required_argument, O_NETNS, Only::Pasta, Group::Pasta},
	{"netns-only", no_argument, O_NETNS_ONLY, Only::Pasta, Group::Pasta},
	{"no-netns-quit", no_argument, O_NO_NETNS_QUIT, Only::Pasta, Group::Pasta},
	{"no-pidns", no_argument, O_NO_PIDNS, Only::Pasta, Group::Pasta},
	{"config-net", no_argument, O_CONFIG_NET, Only::Pasta, Group::Pasta},
	{"no-copy-routes", no_argument, O_NO_COPY_ROUTES, Only::Pasta, Group::Pasta},
	{"no-copy-addrs", no_argument, O_NO_COPY_ADDRS, Only::Pasta, Group::Pasta},
	{"ns-mac-addr", required_argument, O_NS_MAC_ADDR, Only::Pasta, Group::Pasta},
	{"no-splice", no_argument, O_NO_SPLICE, Only::Any,
	 Group::Pasta}, // no-op for passt, as in C
	{"splice-only", no_argument, O_SPLICE_ONLY, Only::Pasta, Group::Pasta},
};
constexpr size_t NOPTS = sizeof(OPTS) / sizeof(OPTS[0]);

} // namespace

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

bool Parser::mode_allows(int id, const char *arg) {
	const OptDef *o = find_opt(id);
	if (!o)
		return true;
	switch (o->only) {
	case Only::Any: return true;
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

bool Parser::apply(int id, const char *arg, ParseStatus &stop) {
	if (!mode_allows(id, arg))
		return false;

	const OptDef *o = find_opt(id);
	if (!o)
		return unhandled(id);
	switch (o->group) {
	case Group::Log: return apply_log(id, arg);
	case Group::General: return apply_general(id, arg, stop);
	case Group::Addr: return apply_addr(id, arg);
	case Group::Dns: return apply_dns(id, arg);
	case Group::Switch: return apply_switch(id);
	case Group::Forward: return apply_forward(id, arg);
	case Group::Pasta: return apply_pasta(id, arg);
	}
	return unhandled(id);
}

} // namespace passt::conf_detail
