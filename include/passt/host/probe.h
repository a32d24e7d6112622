// host_probe(): the uplink part of HostDefaults, read through rtnetlink.
#pragma once

#include <string>

#include "passt/conf/host_defaults.h"

namespace passt {

class Netlink;

// Fills ifname4/addr4/prefix4/gw4, ifname6/addr6/prefix6/addr6_ll/gw6, mac
// and mtu of out (other fields are left alone). Each family's interface is
// the one of the first default route in the main table, or the hinted one if
// a hint is given. A family without a default route (and no hint) is left
// empty, which is not a failure. False if netlink fails or a hinted
// interface does not exist.
bool host_probe(HostDefaults &out, const std::string &ifname_hint4,
		const std::string &ifname_hint6);

// Same, over an already open socket (any namespace).
bool host_probe(Netlink &nl, HostDefaults &out, const std::string &ifname_hint4,
		const std::string &ifname_hint6);

} // namespace passt
