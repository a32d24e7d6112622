// host_probe(): pick the host's uplink per address family and read its
// addresses, gateway, MAC and MTU through rtnetlink (see netlink.cpp).
//
// Choice of interface: the hinted one (--outbound-if4/6 style options), else
// the output link of the first default route of the main table. Choice of
// address: the first global-scope one that is usable (not tentative,
// deprecated or DAD-failed); if there is none, the first global one that
// did not fail DAD, as a tentative address is about to become usable.
#include "passt/host/probe.h"

#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cerrno>
#include <vector>

#include "passt/host/netlink.h"

namespace passt {

namespace {

struct Uplink {
	int ifindex = 0; // 0: none for this family
	std::string name;
	bool has_gw = false;
	InAny gw;
};

// Resolves the uplink of one family; false on a netlink error or a missing hint.
bool find_uplink(Netlink &nl, int family, const std::string &hint, Uplink &up) {
	RouteInfo r;
	if (!hint.empty()) {
		int idx = nl.link_index(hint);
		if (idx <= 0)
			return false;
		up.ifindex = idx;
		up.name = hint;
		int rc = nl.default_route(family, r, idx);
		if (rc < 0 && rc != -ENOENT)
			return false;
		if (rc == 0 && r.has_gw) {
			up.has_gw = true;
			up.gw = r.gw;
		}
		return true;
	}

	int rc = nl.default_route(family, r);
	if (rc == -ENOENT)
		return true;
	if (rc < 0)
		return false;
	if (nl.link_name(r.oif, up.name) < 0)
		return false;
	up.ifindex = r.oif;
	up.has_gw = r.has_gw;
	up.gw = r.gw;
	return true;
}

// First address matching scope (and link-locality for IPv6), usable ones first.
const AddrInfo *pick_addr(const std::vector<AddrInfo> &addrs, int family, bool link_local) {
	const AddrInfo *fallback = nullptr;
	for (const auto &a : addrs) {
		if (a.family != family)
			continue;
		if (link_local) {
			if (family != AF_INET6 || !a.addr.v6().is_link_local())
				continue;
		} else if (a.scope != RT_SCOPE_UNIVERSE) {
			continue;
		}
		if (a.flags & IFA_F_DADFAILED)
			continue;
		if (!(a.flags & (IFA_F_TENTATIVE | IFA_F_DEPRECATED)))
			return &a;
		if (!fallback)
			fallback = &a;
	}
	return fallback;
}

} // namespace

bool host_probe(Netlink &nl, HostDefaults &out, const std::string &ifname_hint4,
		const std::string &ifname_hint6) {
	out.ifname4.clear();
	out.addr4 = {};
	out.prefix4 = 0;
	out.gw4 = {};
	out.ifname6.clear();
	out.addr6 = {};
	out.prefix6 = 0;
	out.addr6_ll = {};
	out.gw6 = {};
	out.mac = {};
	out.mtu = 0;

	Uplink up4, up6;
	if (!find_uplink(nl, AF_INET, ifname_hint4, up4) ||
	    !find_uplink(nl, AF_INET6, ifname_hint6, up6))
		return false;

	std::vector<AddrInfo> addrs;
	if (up4.ifindex > 0) {
		if (nl.addr_list(AF_INET, up4.ifindex, addrs) < 0)
			return false;
		out.ifname4 = up4.name;
		if (up4.has_gw)
			out.gw4 = up4.gw.v4();
		if (const AddrInfo *a = pick_addr(addrs, AF_INET, false)) {
			out.addr4 = a->addr.v4();
			out.prefix4 = a->prefix_len;
		}
	}
	if (up6.ifindex > 0) {
		if (nl.addr_list(AF_INET6, up6.ifindex, addrs) < 0)
			return false;
		out.ifname6 = up6.name;
		if (up6.has_gw)
			out.gw6 = up6.gw.v6();
		if (const AddrInfo *a = pick_addr(addrs, AF_INET6, false)) {
			out.addr6 = a->addr.v6();
			out.prefix6 = a->prefix_len;
		}
		if (const AddrInfo *a = pick_addr(addrs, AF_INET6, true))
			out.addr6_ll = a->addr.v6();
	}

	int link = up4.ifindex > 0 ? up4.ifindex : up6.ifindex;
	if (link > 0) {
		LinkInfo li;
		if (nl.link_get(link, li) < 0)
			return false;
		if (li.has_mac)
			out.mac = li.mac;
		out.mtu = li.mtu;
	}
	return true;
}

bool host_probe(HostDefaults &out, const std::string &ifname_hint4,
		const std::string &ifname_hint6) {
	Netlink nl;
	if (nl.open() < 0)
		return false;
	return host_probe(nl, out, ifname_hint4, ifname_hint6);
}

} // namespace passt
