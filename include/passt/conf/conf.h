// Command line -> Config. Option names, argument forms, defaults and checks
// are those of the C passt/pasta, see doc/passt.1.
//
// Typical use in main():
//   std::string if4, if6;  conf_interface_hints(argc, argv, if4, if6);
//   HostDefaults host;  host_probe(host, if4, if6) (false: no such
//   interface, report it naming -i/--outbound-if4/6 and exit 1);
//   read_resolv_conf(host);  fwd_read_ephemeral_range(host);
//   Config c;  std::string e;
//   switch (conf_parse(argc, argv, mode, host, c, e)) {
//   case ParseStatus::Error: fprintf(stderr, "%s\n", e.c_str()); exit(1);
//   case ParseStatus::Help: usage(c.mode, stdout); exit(0);
//   case ParseStatus::Version: print_version(c.mode, stdout); exit(0);
//   case ParseStatus::PrintCapabilities: print_capabilities(stdout); exit(0);
//   case ParseStatus::Ok: break;
//   }
//   ... log c.warnings; if (!c.quiet) log conf_format(c) line by line
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "passt/conf/config.h"
#include "passt/conf/host_defaults.h"

namespace passt {

enum class ParseStatus : uint8_t {
	Ok,                // out is complete, run
	Help,              // -h: print usage() to stdout, exit 0
	Version,           // --version: print_version(), exit 0
	PrintCapabilities, // --print-capabilities: print_capabilities(), exit 0
	Error,             // error holds one line "passt: ...", exit 1
};

// Limits shared with the rest of the daemon.
constexpr unsigned CONF_MTU_MAX = 65521;     // 65535 minus Ethernet header
constexpr unsigned CONF_MTU_DEFAULT = 65520; // the above, rounded to 4 bytes
constexpr size_t CONF_UNIX_PATH_MAX = 107;   // sizeof(sun_path) - 1
constexpr size_t CONF_LOG_SIZE_MIN = 40960;  // as the C passt
constexpr size_t CONF_DNS_MAX = 3;           // resolvers per IP version
constexpr size_t CONF_SEARCH_MAX = 6;        // search domains
constexpr size_t CONF_DNAME_MAX = 253;       // -H, --fqdn, -S entries

// Parses argv (argv[0] is skipped) for mode (chosen by the caller from the
// program name; --vhost-user turns Passt into VhostUser) and derives every
// default from host. Never exits and never prints; getopt state is reset on
// entry, so it may be called repeatedly. On Error, out is unspecified.
ParseStatus conf_parse(int argc, char **argv, Mode mode, const HostDefaults &host, Config &out,
		       std::string &error);

// The template interfaces the command line asks for, if any: -i for both IP
// versions, else --outbound-if4 / --outbound-if6 (empty: the default-route
// interface). For probing the host before conf_parse(); doesn't validate.
void conf_interface_hints(int argc, char **argv, std::string &hint4, std::string &hint6);

// "passt" or "pasta" (vhost-user is passt).
const char *mode_name(Mode mode);

// The --help text for mode.
void usage(Mode mode, FILE *f);
std::string usage_text(Mode mode);

// The --version text.
void print_version(Mode mode, FILE *f);

// The vhost-user back-end capabilities (JSON), for --print-capabilities.
void print_capabilities(FILE *f);

// The start-up summary of the derived configuration, one line per element
// of the result, in the layout of the C passt (template interface, MAC,
// DHCP, NDP/DHCPv6, DNS, search list, forwarding rules).
std::vector<std::string> conf_format(const Config &c);
// The same, written to f, one line each.
void conf_print(const Config &c, FILE *f);

} // namespace passt
