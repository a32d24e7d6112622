// rtnetlink address operations: listing, adding, and copying a link's
// addresses to another link (see include/passt/host/netlink.h).
#include "passt/host/netlink.h"

#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cerrno>

#include "netlink_priv.h"

namespace passt {

using namespace nl_detail;

int Netlink::addr_list(int family, int ifindex, std::vector<AddrInfo> &out) {
	out.clear();
	if (family != AF_UNSPEC && !family_ok(family))
		return -EAFNOSUPPORT;
	NlRequest req(RTM_GETADDR, NLM_F_DUMP);
	ifaddrmsg ifa{};
	ifa.ifa_family = uint8_t(family);
	req.put_struct(ifa);
	return request_fn(req, [&](const NlMsg &m) {
		AddrInfo a;
		if (m.type != RTM_NEWADDR || !nl_parse_addr(m, a))
			return 0;
		if ((family != AF_UNSPEC && a.family != family) ||
		    (ifindex > 0 && a.ifindex != ifindex))
			return 0;
		out.push_back(a);
		return 0;
	});
}

int Netlink::addr_add(const AddrInfo &a) {
	if (!family_ok(a.family) || a.prefix_len > family_addr_len(a.family) * 8 ||
	    a.addr.is_v4() != (a.family == AF_INET) || a.ifindex <= 0)
		return -EINVAL;
	NlRequest req(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
	ifaddrmsg ifa{};
	ifa.ifa_family = uint8_t(a.family);
	ifa.ifa_prefixlen = uint8_t(a.prefix_len);
	ifa.ifa_flags = uint8_t(a.flags & 0xff);
	ifa.ifa_scope = a.scope;
	ifa.ifa_index = uint32_t(a.ifindex);
	req.put_struct(ifa);
	req.put_addr(IFA_LOCAL, a.family, a.addr);
	req.put_addr(IFA_ADDRESS, a.family, a.has_peer ? a.peer : a.addr);
	req.put_u32(IFA_FLAGS, a.flags);
	return request(req);
}

int Netlink::addr_add(int ifindex, const InAny &addr, unsigned prefix_len, uint32_t flags) {
	AddrInfo a;
	a.family = addr.is_v4() ? AF_INET : AF_INET6;
	a.ifindex = ifindex;
	a.addr = addr;
	a.prefix_len = prefix_len;
	a.scope = RT_SCOPE_UNIVERSE;
	a.flags = flags;
	return addr_add(a);
}
int copy_addrs(Netlink &from, int from_ifindex, Netlink &to, int to_ifindex, int family) {
	std::vector<AddrInfo> addrs;
	int rc = from.addr_list(family, from_ifindex, addrs);
	if (rc < 0)
		return rc;
	int first_err = 0;
	for (const auto &a : addrs) {
		if (a.scope != RT_SCOPE_UNIVERSE)
			continue;
		if (a.family == AF_INET6 && a.addr.v6().is_link_local())
			continue;
		if (a.flags & (IFA_F_DEPRECATED | IFA_F_DADFAILED))
			continue;
		AddrInfo c = a;
		c.ifindex = to_ifindex;
		// Only the settable flag that changes behaviour survives; no DAD for
		// an address that was already validated on the other side.
		c.flags = a.flags & IFA_F_NOPREFIXROUTE;
		if (c.family == AF_INET6)
			c.flags |= IFA_F_NODAD;
		int e = to.addr_add(c);
		if (e < 0 && e != -EEXIST && first_err == 0)
			first_err = e;
	}
	return first_err;
}

} // namespace passt
