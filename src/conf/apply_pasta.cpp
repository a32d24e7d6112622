// pasta's own options: the namespace (-I, --userns, --netns, --netns-only,
// --no-netns-quit, --no-pidns), its configuration (--config-net and the
// deprecated --no-copy-*, --ns-mac-addr) and the loopback bypass
// (--host-lo-to-ns-lo, --no-splice, --splice-only). The PID or command
// after the options is read by derive_pasta_ns() (derive.cpp).
#include "parser.h"

#include <climits>
#include <cstring>

namespace passt::conf_detail {

bool Parser::apply_pasta(int id, const char *arg) {
	switch (id) {
	case 'I': return set_ifname(c_.ns_ifname, id, arg);
	case O_HOST_LO_TO_NS_LO: c_.host_lo_to_ns_lo = true; break;
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
	case O_NO_NETNS_QUIT: c_.no_netns_quit = true; break;
	case O_NO_PIDNS: c_.no_pidns = true; break;
	case O_CONFIG_NET: c_.config_net = true; break;
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
	case O_NO_SPLICE: c_.no_splice = true; break;
	case O_SPLICE_ONLY: c_.splice_only = true; break;
	default: return unhandled(id);
	}
	return true;
}

} // namespace passt::conf_detail
