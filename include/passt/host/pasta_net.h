// pasta --config-net: configure the namespace's interface through netlink.
#pragma once

#include <string>

#include "passt/conf/config.h"
#include "passt/conf/host_defaults.h"
#include "passt/host/ns.h"

namespace passt {

// Inside ns: bring up lo; set the MTU of ifname and bring it up; add the
// guest addresses (copied from the host's uplink unless --no-copy-addrs or
// an address was given with -a) and routes (copied from the host's uplink
// unless --no-copy-routes, else a default route via the gateway). Returns
// 0, or -errno with *err naming the step that failed.
int pasta_config_net(const Config &c, const HostDefaults &host, const NsHandle &ns,
		     const std::string &ifname, std::string *err);

// Inside ns, without --config-net: only bring lo up, as the C pasta does.
int pasta_lo_up(const NsHandle &ns);

} // namespace passt
