// Port forwarding specifications (-t, -u, -T, -U) and the host's ephemeral
// port range. See doc/passt.1, "-t, --tcp-ports", for the grammar.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "passt/conf/config.h"
#include "passt/conf/host_defaults.h"

namespace passt {

// What a specification may use, decided by the rest of the configuration.
struct FwdSpecContext {
	char optname = 't';            // 't', 'u', 'T' or 'U'
	bool ipv4 = true, ipv6 = true; // IP versions in operation
	bool proto_enabled = true;     // false with --no-tcp / --no-udp
	bool scan_allowed = false;     // "auto" is for pasta only
	uint16_t ephemeral_first = 49152, ephemeral_last = 65535;
};

// "-t/--tcp-ports" for 't', and so on.
const char *fwd_opt_name(char optname);

// Room for one message of fwd_rules_parse() and one formatted rule.
inline constexpr size_t FWD_ERR_TEXT = 512;
inline constexpr size_t FWD_RULE_TEXT = 160;

// Parses one option argument and appends its rules to fwd (which may already
// hold rules from earlier options of the same kind). On failure returns false
// with a one-line message naming the option in err; fwd may then hold part
// of the rules and should be discarded. Allocates nothing (the control
// socket calls it inside the sandbox); more than FWD_RULES_MAX rules in fwd
// is a failure ("too many forwarding rules").
bool fwd_rules_parse(std::string_view arg, const FwdSpecContext &ctx, PortForward &fwd, char *err,
		     size_t errlen);
// The same with the message in a std::string (start-up only).
bool fwd_rules_parse(std::string_view arg, const FwdSpecContext &ctx, PortForward &fwd,
		     std::string &err);

// Same rule: ports, target, addresses, interface and flags.
bool fwd_rule_equal(const PortRule &a, const PortRule &b);

// Recomputes fwd.kind from its rules (done by fwd_rules_parse()).
void fwd_update_kind(PortForward &fwd);

// "TCP [*]:1000-1010  =>  2000-2010 (best effort)": one rule, for start-up
// output and error messages; into buf (FWD_RULE_TEXT is enough) without
// allocating, or as a std::string at start-up.
void fwd_rule_format(const PortRule &rule, const char *proto, char *buf, size_t len);
std::string fwd_rule_format(const PortRule &rule, const char *proto);

// Parses the two numbers of /proc/sys/net/ipv4/ip_local_port_range.
bool fwd_parse_ephemeral_range(std::string_view text, uint16_t &first, uint16_t &last);
// Reads that file into host.ephemeral_first/last; false (host unchanged) if
// it can't be read or parsed.
bool fwd_read_ephemeral_range(HostDefaults &host,
			      const char *path = "/proc/sys/net/ipv4/ip_local_port_range");

} // namespace passt
