// pasta --config-net. The host's Netlink socket is opened here, in our own
// namespace; ns_run() forks a helper into the target namespace that opens a
// second one there, so both ends of a copy are reachable from one process.
#include "passt/host/pasta_net.h"

#include <linux/if_addr.h>
#include <sys/socket.h>

#include <cerrno>
#include <algorithm>
#include <cstdio>
#include <cstring>

#include "passt/host/netlink.h"

namespace passt {

namespace {

// Steps report failures through NsCallOut::data as text.
void fail(NsCallOut *o, int ret, const char *step, const Netlink &nl) {
	o->ret = ret;
	int n = snprintf(reinterpret_cast<char *>(o->data), sizeof(o->data), "%s: %s%s%s", step,
			 strerror(-ret), nl.last_error()[0] ? ": " : "", nl.last_error());
	o->len = n < 0 ? 0 : std::min(size_t(n), sizeof(o->data) - 1);
}

bool addr_given4(const Config &c, const HostDefaults &h) {
	return c.ip4.addr_fixed || c.ip4.addr != h.addr4;
}
bool addr_given6(const Config &c, const HostDefaults &h) {
	return c.ip6.addr_fixed || c.ip6.addr != h.addr6;
}

} // namespace

int pasta_lo_up(const NsHandle &ns) {
	NsCallOut out;
	int rc = ns_run(
		ns,
		[](NsCallOut *o) {
			Netlink nl;
			if ((o->ret = nl.open()) < 0)
				return;
			int lo = nl.link_index("lo");
			o->ret = lo < 0 ? lo : nl.link_set_up(lo, true);
		},
		&out);
	return rc < 0 ? rc : out.ret;
}

int pasta_config_net(const Config &c, const HostDefaults &host, const NsHandle &ns,
		     const std::string &ifname, std::string *err) {
	Netlink host_nl;
	int rc = host_nl.open();
	if (rc < 0) {
		*err = std::string("netlink socket: ") + strerror(-rc);
		return rc;
	}
	const int host_if4 = host.has4() ? host_nl.link_index(host.ifname4) : -1;
	const int host_if6 = host.has6() ? host_nl.link_index(host.ifname6) : -1;

	NsCallOut out;
	rc = ns_run(
		ns,
		[&](NsCallOut *o) {
			Netlink nl;
			if (int r = nl.open(); r < 0)
				return fail(o, r, "netlink socket in namespace", nl);
			int lo = nl.link_index("lo");
			if (int r = lo < 0 ? lo : nl.link_set_up(lo, true); r < 0)
				return fail(o, r, "bringing up lo", nl);
			int ifi = nl.link_index(ifname);
			if (ifi < 0)
				return fail(o, ifi, "finding the tap device", nl);
			if (int r = nl.link_set_mtu(ifi, c.mtu); r < 0)
				return fail(o, r, "setting the MTU", nl);
			if (c.ns_mac_set) {
				if (int r = nl.link_set_mac(ifi, c.ns_mac); r < 0)
					return fail(o, r, "setting the MAC address (--ns-mac-addr)",
						    nl);
			}
			if (int r = nl.link_set_up(ifi, true); r < 0)
				return fail(o, r, "bringing up the tap device", nl);

			if (c.ip4.enabled) {
				int r;
				if (c.no_copy_addrs || addr_given4(c, host) || host_if4 < 0)
					r = nl.addr_add(ifi, c.ip4.addr, c.ip4.prefix_len);
				else
					r = copy_addrs(host_nl, host_if4, nl, ifi, AF_INET);
				if (r < 0 && r != -EEXIST)
					return fail(o, r, "adding IPv4 addresses", nl);

				if (c.no_copy_routes || host_if4 < 0 || c.ip4.gw != host.gw4)
					r = nl.route_add_default(ifi, c.ip4.gw);
				else
					r = copy_routes(host_nl, host_if4, nl, ifi, AF_INET);
				if (r < 0 && r != -EEXIST)
					return fail(o, r, "adding IPv4 routes", nl);
			}
			if (c.ip6.enabled) {
				int r = 0;
				if (c.no_copy_addrs || addr_given6(c, host) || host_if6 < 0) {
					if (!c.ip6.addr.is_unspecified())
						r = nl.addr_add(ifi, c.ip6.addr, c.ip6.prefix_len,
								IFA_F_NODAD);
				} else {
					r = copy_addrs(host_nl, host_if6, nl, ifi, AF_INET6);
				}
				if (r < 0 && r != -EEXIST)
					return fail(o, r, "adding IPv6 addresses", nl);

				if (c.no_copy_routes || host_if6 < 0 || c.ip6.gw != host.gw6)
					r = c.ip6.gw.is_unspecified()
						    ? 0
						    : nl.route_add_default(ifi, c.ip6.gw);
				else
					r = copy_routes(host_nl, host_if6, nl, ifi, AF_INET6);
				if (r < 0 && r != -EEXIST)
					return fail(o, r, "adding IPv6 routes", nl);
			}
			o->ret = 0;
		},
		&out);
	if (rc < 0) {
		*err = std::string("entering the namespace: ") + strerror(-rc);
		return rc;
	}
	if (out.ret < 0)
		err->assign(reinterpret_cast<const char *>(out.data), out.len);
	return out.ret;
}

} // namespace passt
