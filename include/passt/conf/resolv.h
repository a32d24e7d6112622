// /etc/resolv.conf: resolvers and the domain search list of the host.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "passt/conf/host_defaults.h"
#include "passt/net/addr.h"

namespace passt {

// Appends the "nameserver" addresses of text to resolvers (in file order,
// IPv6 "%scope" suffixes dropped) and replaces search with the domains of
// the last "search" or "domain" line, as the resolver does. Comment lines
// ('#', ';'), unknown keywords and malformed lines are skipped.
void parse_resolv_conf(std::string_view text, std::vector<InAny> &resolvers,
		       std::vector<std::string> &search);

// Reads path (at most 64 KiB) into host.resolvers and host.search; false if
// the file can't be read (host unchanged).
bool read_resolv_conf(HostDefaults &host, const char *path = "/etc/resolv.conf");

} // namespace passt
