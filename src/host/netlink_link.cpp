// rtnetlink link operations: look-ups, state, MTU, MAC, veth pairs (see
// include/passt/host/netlink.h; requests go through Netlink::request()).
#include "passt/host/netlink.h"

#include <net/if.h>

#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>

#include <cerrno>

#include "netlink_priv.h"

namespace passt {

using namespace nl_detail;

namespace {

NlRequest link_request(uint16_t type, uint16_t flags, int ifindex) {
	NlRequest req(type, flags);
	ifinfomsg ifi{};
	ifi.ifi_family = AF_UNSPEC;
	ifi.ifi_index = ifindex;
	req.put_struct(ifi);
	return req;
}

} // namespace

int Netlink::link_index(std::string_view name) {
	if (name.empty() || name.size() > kIfNameMax)
		return -ENODEV;
	NlRequest req = link_request(RTM_GETLINK, 0, 0);
	req.put_str(IFLA_IFNAME, name);
	req.put_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	int index = 0;
	int rc = request_fn(req, [&](const NlMsg &m) {
		LinkInfo li;
		if (m.type == RTM_NEWLINK && nl_parse_link(m, li) && index == 0)
			index = li.index;
		return 0;
	});
	if (rc < 0)
		return rc;
	return index > 0 ? index : -ENODEV;
}

int Netlink::link_get(int ifindex, LinkInfo &out) {
	if (ifindex <= 0)
		return -ENODEV;
	NlRequest req = link_request(RTM_GETLINK, 0, ifindex);
	req.put_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	bool found = false;
	int rc = request_fn(req, [&](const NlMsg &m) {
		LinkInfo li;
		if (!found && m.type == RTM_NEWLINK && nl_parse_link(m, li) &&
		    li.index == ifindex) {
			out = std::move(li);
			found = true;
		}
		return 0;
	});
	if (rc < 0)
		return rc;
	return found ? 0 : -ENODEV;
}

int Netlink::link_name(int ifindex, std::string &out) {
	LinkInfo li;
	int rc = link_get(ifindex, li);
	if (rc == 0)
		out = li.name;
	return rc;
}

int Netlink::link_list(std::vector<LinkInfo> &out) {
	out.clear();
	NlRequest req = link_request(RTM_GETLINK, NLM_F_DUMP, 0);
	req.put_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	return request_fn(req, [&](const NlMsg &m) {
		LinkInfo li;
		if (m.type == RTM_NEWLINK && nl_parse_link(m, li))
			out.push_back(std::move(li));
		return 0;
	});
}

int Netlink::link_set_up(int ifindex, bool up) {
	NlRequest req(RTM_NEWLINK, 0);
	ifinfomsg ifi{};
	ifi.ifi_family = AF_UNSPEC;
	ifi.ifi_index = ifindex;
	ifi.ifi_flags = up ? IFF_UP : 0;
	ifi.ifi_change = IFF_UP;
	req.put_struct(ifi);
	return request(req);
}

int Netlink::link_set_mtu(int ifindex, unsigned mtu) {
	NlRequest req = link_request(RTM_NEWLINK, 0, ifindex);
	req.put_u32(IFLA_MTU, mtu);
	return request(req);
}

int Netlink::link_set_mac(int ifindex, const MacAddr &mac) {
	NlRequest req = link_request(RTM_NEWLINK, 0, ifindex);
	req.put_attr(IFLA_ADDRESS, mac.b.data(), mac.b.size());
	return request(req);
}

int Netlink::link_del(int ifindex) {
	NlRequest req = link_request(RTM_DELLINK, 0, ifindex);
	return request(req);
}

int Netlink::create_veth(std::string_view a, std::string_view b, int peer_netns_fd) {
	if (a.empty() || b.empty() || a.size() > kIfNameMax || b.size() > kIfNameMax)
		return -EINVAL;
	NlRequest req = link_request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
	req.put_str(IFLA_IFNAME, a);
	size_t linkinfo = req.nest_begin(IFLA_LINKINFO);
	req.put_str(IFLA_INFO_KIND, "veth");
	size_t data = req.nest_begin(IFLA_INFO_DATA);
	size_t peer = req.nest_begin(VETH_INFO_PEER);
	// The peer is described as a link message of its own: ifinfomsg + attributes.
	ifinfomsg pifi{};
	pifi.ifi_family = AF_UNSPEC;
	req.put_struct(pifi);
	req.put_str(IFLA_IFNAME, b);
	if (peer_netns_fd >= 0)
		req.put_u32(IFLA_NET_NS_FD, uint32_t(peer_netns_fd));
	req.nest_end(peer);
	req.nest_end(data);
	req.nest_end(linkinfo);
	return request(req);
}

} // namespace passt
