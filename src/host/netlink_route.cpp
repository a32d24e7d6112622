// rtnetlink route operations: dumps, adding (default) routes, and copying a
// link's routes to another link (see include/passt/host/netlink.h).
#include "passt/host/netlink.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cerrno>

#include "netlink_priv.h"

namespace passt {

using namespace nl_detail;

namespace {

// Dumps the routes of family and hands fn the unicast ones of the main table
// (with their nexthop on oif if oif > 0, others skipped).
template <class F> int dump_routes(Netlink &nl, int family, int oif, F &&fn) {
	if (!family_ok(family))
		return -EAFNOSUPPORT;
	NlRequest req(RTM_GETROUTE, NLM_F_DUMP);
	rtmsg rtm{};
	rtm.rtm_family = uint8_t(family);
	req.put_struct(rtm);
	return nl.request_fn(req, [&](const NlMsg &m) {
		RouteInfo r;
		if (m.type != RTM_NEWROUTE || !nl_parse_route(m, r, oif))
			return 0;
		if (r.family != family || r.table != RT_TABLE_MAIN || r.type != RTN_UNICAST ||
		    (r.flags & RTM_F_CLONED) || r.oif <= 0 || (oif > 0 && r.oif != oif))
			return 0;
		fn(r);
		return 0;
	});
}

} // namespace

int Netlink::route_list(int family, std::vector<RouteInfo> &out, int oif) {
	out.clear();
	return dump_routes(*this, family, oif, [&](const RouteInfo &r) { out.push_back(r); });
}

// Scans the dump without storing it: hosts may carry very large tables.
int Netlink::default_route(int family, RouteInfo &out, int oif) {
	bool found = false;
	int rc = dump_routes(*this, family, oif, [&](const RouteInfo &r) {
		if (!found && r.is_default()) {
			out = r;
			found = true;
		}
	});
	if (rc < 0)
		return rc;
	return found ? 0 : -ENOENT;
}

int Netlink::route_add(const RouteInfo &r) {
	if (!family_ok(r.family) || r.dst_len > family_addr_len(r.family) * 8 || r.oif <= 0 ||
	    (r.dst_len > 0 && r.dst.is_v4() != (r.family == AF_INET)) ||
	    (r.has_gw && r.gw.is_v4() != (r.family == AF_INET)))
		return -EINVAL;
	NlRequest req(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
	rtmsg rtm{};
	rtm.rtm_family = uint8_t(r.family);
	rtm.rtm_dst_len = uint8_t(r.dst_len);
	rtm.rtm_table = r.table < 256 ? uint8_t(r.table) : uint8_t(RT_TABLE_UNSPEC);
	rtm.rtm_protocol = r.protocol ? r.protocol : RTPROT_BOOT;
	// As iproute2 does: a route without a gateway reaches its link directly.
	rtm.rtm_scope =
		(!r.has_gw && r.scope == RT_SCOPE_UNIVERSE) ? uint8_t(RT_SCOPE_LINK) : r.scope;
	rtm.rtm_type = RTN_UNICAST;
	rtm.rtm_flags = r.flags & RTNH_F_ONLINK;
	req.put_struct(rtm);
	req.put_u32(RTA_TABLE, r.table);
	if (r.dst_len > 0)
		req.put_addr(RTA_DST, r.family, r.dst);
	if (r.has_gw)
		req.put_addr(RTA_GATEWAY, r.family, r.gw);
	req.put_u32(RTA_OIF, uint32_t(r.oif));
	if (r.priority)
		req.put_u32(RTA_PRIORITY, r.priority);
	return request(req);
}

int Netlink::route_add_default(int ifindex, const InAny &gw) {
	RouteInfo r;
	r.family = gw.is_v4() ? AF_INET : AF_INET6;
	r.dst = r.family == AF_INET ? InAny(Ipv4Addr{}) : InAny(Ipv6Addr{});
	r.has_gw = true;
	r.gw = gw;
	r.oif = ifindex;
	r.scope = RT_SCOPE_UNIVERSE;
	int rc = route_add(r);
	// Gateway outside every subnet of the link (e.g. a /32 address with a
	// gateway elsewhere, common in clouds): the kernel wants it marked onlink.
	if (rc == -ENETUNREACH || rc == -EHOSTUNREACH || rc == -EINVAL) {
		r.flags |= RTNH_F_ONLINK;
		if (route_add(r) == 0)
			return 0;
	}
	return rc;
}
int copy_routes(Netlink &from, int from_ifindex, Netlink &to, int to_ifindex, int family) {
	std::vector<RouteInfo> routes;
	int rc = from.route_list(family, routes, from_ifindex);
	if (rc < 0)
		return rc;

	std::vector<RouteInfo> todo;
	for (int pass = 0; pass < 2; pass++) { // direct routes, then via a gateway
		for (const auto &r : routes) {
			if (r.has_gw != (pass == 1))
				continue;
			if (family == AF_INET6 &&
			    (r.dst.v6().is_link_local() || r.dst.v6().is_multicast()))
				continue;
			RouteInfo c = r;
			c.oif = to_ifindex;
			c.table = RT_TABLE_MAIN;
			c.multipath = false;
			c.flags = r.flags & RTNH_F_ONLINK;
			// Routes the kernel or a router made become plain static ones.
			if (c.protocol < RTPROT_STATIC)
				c.protocol = RTPROT_BOOT;
			todo.push_back(c);
		}
	}

	std::vector<RouteInfo> failed;
	for (const auto &c : todo) {
		int e = to.route_add(c);
		if (e < 0 && e != -EEXIST)
			failed.push_back(c);
	}
	// A gateway may only become reachable through a route added later.
	int first_err = 0;
	for (const auto &c : failed) {
		int e = to.route_add(c);
		if (e < 0 && e != -EEXIST && first_err == 0)
			first_err = e;
	}
	return first_err;
}

} // namespace passt
