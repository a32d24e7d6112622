// Tests for the rtnetlink client and host_probe().
//
// Parser tests feed crafted buffers (built here byte by byte, independently
// of NlRequest) including truncated and lying length fields. Kernel tests
// fork a child that enters a fresh user + network namespace, builds a veth
// "host" there through the code under test, and reports failures through a
// pipe; the parent asserts on the report. Children are bounded by alarm() and
// the parent by a poll() deadline, after which the child is killed.
#include "passt/host/netlink.h"
#include "passt/host/probe.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

using namespace passt;

namespace {

// ------------------------------------------------------------ crafting

// Hand-made netlink bytes, so that lengths can lie.
struct Craft {
	std::vector<std::byte> b;

	void pad() {
		while (b.size() % 4)
			b.push_back(std::byte{0});
	}
	void raw(const void *p, size_t n) {
		auto *c = static_cast<const std::byte *>(p);
		b.insert(b.end(), c, c + n);
		pad();
	}
	template <class T> void put(const T &v) { raw(&v, sizeof(v)); }
	size_t msg_begin(uint16_t type, uint16_t flags, uint32_t seq, uint32_t pid = 0) {
		size_t off = b.size();
		nlmsghdr h{};
		h.nlmsg_type = type;
		h.nlmsg_flags = flags;
		h.nlmsg_seq = seq;
		h.nlmsg_pid = pid;
		put(h);
		return off;
	}
	void msg_end(size_t off) { set_u32(off, uint32_t(b.size() - off)); }
	void attr(uint16_t type, const void *p, size_t n) {
		rtattr a{};
		a.rta_len = uint16_t(sizeof(a) + n);
		a.rta_type = type;
		b.insert(b.end(), reinterpret_cast<std::byte *>(&a),
			 reinterpret_cast<std::byte *>(&a) + sizeof(a));
		raw(p, n);
	}
	void attr_u32(uint16_t type, uint32_t v) { attr(type, &v, 4); }
	void attr_str(uint16_t type, const char *s) { attr(type, s, strlen(s) + 1); }
	size_t nest_begin(uint16_t type) {
		size_t off = b.size();
		attr(type, nullptr, 0);
		return off;
	}
	void nest_end(size_t off) { set_u16(off, uint16_t(b.size() - off)); }
	void set_u16(size_t off, uint16_t v) { std::memcpy(&b[off], &v, 2); }
	void set_u32(size_t off, uint32_t v) { std::memcpy(&b[off], &v, 4); }
	std::span<const std::byte> span() const { return {b.data(), b.size()}; }
};

Ipv4Addr v4(const char *s) { return *Ipv4Addr::parse(s); }
Ipv6Addr v6(const char *s) { return *Ipv6Addr::parse(s); }

NlMsg only_msg(const Craft &c) {
	NlMsgIter it(c.span());
	auto m = it.next();
	EXPECT_TRUE(m.has_value());
	EXPECT_FALSE(it.next().has_value());
	EXPECT_FALSE(it.error());
	return m.value_or(NlMsg{});
}

// ------------------------------------------------------------ building

TEST(NetlinkBuild, HeaderAttributesAndPadding) {
	NlRequest req(RTM_NEWADDR, NLM_F_CREATE);
	ifaddrmsg ifa{};
	ifa.ifa_family = AF_INET;
	ifa.ifa_prefixlen = 24;
	ifa.ifa_index = 7;
	ASSERT_TRUE(req.put_struct(ifa));
	ASSERT_TRUE(req.put_str(IFA_LABEL, "ab")); // 4 + 3 bytes, padded to 8
	ASSERT_TRUE(req.put_addr(IFA_LOCAL, AF_INET, InAny(v4("192.0.2.2"))));
	ASSERT_TRUE(req.put_u32(IFA_FLAGS, IFA_F_NODAD));
	ASSERT_TRUE(req.ok());
	EXPECT_EQ(req.size(), 16u + 8 + 8 + 8 + 8);
	EXPECT_EQ(req.flags(), NLM_F_CREATE | NLM_F_REQUEST);

	auto bytes = req.bytes();
	nlmsghdr h;
	std::memcpy(&h, bytes.data(), sizeof(h));
	EXPECT_EQ(h.nlmsg_len, req.size());
	EXPECT_EQ(h.nlmsg_type, RTM_NEWADDR);
	// String attribute: rta_len counts the NUL but not the padding, which is zero.
	uint16_t rta_len;
	std::memcpy(&rta_len, bytes.data() + 24, 2);
	EXPECT_EQ(rta_len, 7);
	EXPECT_EQ(bytes[24 + 7], std::byte{0});

	NlMsgIter it(bytes);
	auto m = it.next();
	ASSERT_TRUE(m);
	AddrInfo a;
	ASSERT_TRUE(nl_parse_addr(*m, a));
	EXPECT_EQ(a.ifindex, 7);
	EXPECT_EQ(a.prefix_len, 24u);
	EXPECT_EQ(a.addr, InAny(v4("192.0.2.2")));
	EXPECT_EQ(a.flags, uint32_t(IFA_F_NODAD));
	auto attrs = nl_attrs_after(m->payload, sizeof(ifaddrmsg));
	ASSERT_TRUE(attrs);
	NlAttr tb[IFA_FLAGS + 1];
	ASSERT_TRUE(nl_attrs_parse(*attrs, tb));
	EXPECT_EQ(tb[IFA_LABEL].str(), "ab");
}

TEST(NetlinkBuild, NestedAttributes) {
	NlRequest req(RTM_NEWLINK, 0);
	ifinfomsg ifi{};
	req.put_struct(ifi);
	size_t outer = req.nest_begin(IFLA_LINKINFO);
	ASSERT_NE(outer, 0u);
	req.put_str(IFLA_INFO_KIND, "veth");
	size_t inner = req.nest_begin(IFLA_INFO_DATA);
	req.put_u32(1, 0xdeadbeef);
	req.nest_end(inner);
	req.nest_end(outer);
	ASSERT_TRUE(req.ok());

	NlMsgIter it(req.bytes());
	auto m = it.next();
	ASSERT_TRUE(m);
	NlAttr tb[IFLA_LINKINFO + 1];
	ASSERT_TRUE(nl_attrs_parse(*nl_attrs_after(m->payload, sizeof(ifi)), tb));
	ASSERT_TRUE(tb[IFLA_LINKINFO].present); // NLA_F_NESTED masked off the type
	EXPECT_EQ(tb[IFLA_LINKINFO].data.size(), 4u + 8 + 4 + 8);
	NlAttr li[IFLA_INFO_DATA + 1];
	ASSERT_TRUE(nl_attrs_parse(tb[IFLA_LINKINFO].data, li));
	EXPECT_EQ(li[IFLA_INFO_KIND].str(), "veth");
	NlAttr d[2];
	ASSERT_TRUE(nl_attrs_parse(li[IFLA_INFO_DATA].data, d));
	uint32_t v = 0;
	EXPECT_TRUE(d[1].u32(v));
	EXPECT_EQ(v, 0xdeadbeefu);
}

TEST(NetlinkBuild, OverflowPoisonsWithoutWritingPastTheBuffer) {
	NlRequest req(RTM_NEWLINK, 0);
	std::vector<char> big(NlRequest::kSize, 'x');
	EXPECT_FALSE(req.put_attr(1, big.data(), big.size()));
	EXPECT_FALSE(req.ok());
	EXPECT_EQ(req.size(), 16u);
	EXPECT_FALSE(req.put_u32(2, 1)); // stays poisoned

	NlRequest req2(RTM_NEWLINK, 0);
	int n = 0;
	while (req2.put_u32(1, 42))
		n++;
	EXPECT_EQ(n, int((NlRequest::kSize - 16) / 8));
	EXPECT_LE(req2.size(), NlRequest::kSize);
	EXPECT_FALSE(req2.ok());

	// Address of the wrong family is refused too.
	NlRequest req3(RTM_NEWADDR, 0);
	EXPECT_FALSE(req3.put_addr(IFA_LOCAL, AF_INET6, InAny(v4("192.0.2.1"))));
	EXPECT_FALSE(req3.ok());

	// A poisoned request is never sent.
	Netlink nl;
	EXPECT_EQ(nl.request(req3), -EBADF); // not open
}

// ------------------------------------------------------------ message walk

TEST(NetlinkParse, MessageIteration) {
	Craft c;
	size_t m1 = c.msg_begin(RTM_NEWLINK, NLM_F_MULTI, 5);
	uint32_t x = 1;
	c.put(x);
	c.msg_end(m1);
	size_t m2 = c.msg_begin(NLMSG_DONE, NLM_F_MULTI, 5);
	c.msg_end(m2);

	NlMsgIter it(c.span());
	auto a = it.next();
	ASSERT_TRUE(a);
	EXPECT_EQ(a->type, RTM_NEWLINK);
	EXPECT_EQ(a->seq, 5u);
	EXPECT_EQ(a->payload.size(), 4u);
	auto b = it.next();
	ASSERT_TRUE(b);
	EXPECT_EQ(b->type, NLMSG_DONE);
	EXPECT_TRUE(b->payload.empty());
	EXPECT_FALSE(it.next());
	EXPECT_FALSE(it.error());
}

TEST(NetlinkParse, MessageLengthsThatLie) {
	Craft good;
	size_t m = good.msg_begin(RTM_NEWLINK, 0, 1);
	uint32_t x = 0;
	good.put(x);
	good.msg_end(m);

	{ // truncated header
		NlMsgIter it(good.span().first(10));
		EXPECT_FALSE(it.next());
		EXPECT_TRUE(it.error());
	}
	{ // length shorter than the header
		Craft c = good;
		c.set_u32(0, 8);
		NlMsgIter it(c.span());
		EXPECT_FALSE(it.next());
		EXPECT_TRUE(it.error());
	}
	{ // length beyond the buffer
		Craft c = good;
		c.set_u32(0, 4096);
		NlMsgIter it(c.span());
		EXPECT_FALSE(it.next());
		EXPECT_TRUE(it.error());
	}
	{ // good message, then a lying one: the first is still seen
		Craft c = good;
		size_t m2 = c.msg_begin(RTM_NEWLINK, 0, 1);
		c.msg_end(m2);
		c.set_u32(m2, 0xffffffff);
		NlMsgIter it(c.span());
		EXPECT_TRUE(it.next());
		EXPECT_FALSE(it.next());
		EXPECT_TRUE(it.error());
	}
	{ // last message without its padding fits exactly: fine
		Craft c = good;
		c.b.push_back(std::byte{7});
		c.set_u32(0, 21);
		NlMsgIter it(c.span());
		auto a = it.next();
		ASSERT_TRUE(a);
		EXPECT_EQ(a->payload.size(), 5u);
		EXPECT_FALSE(it.next());
		EXPECT_FALSE(it.error());
	}
}

TEST(NetlinkParse, AttributeLengthsThatLie) {
	Craft c;
	c.attr_u32(1, 10);
	c.attr_u32(2, 20);
	NlAttr tb[3];
	ASSERT_TRUE(nl_attrs_parse(c.span(), tb));
	uint32_t v;
	ASSERT_TRUE(tb[2].u32(v));
	EXPECT_EQ(v, 20u);
	EXPECT_FALSE(tb[0].present);

	{ // rta_len shorter than the attribute header
		Craft d = c;
		d.set_u16(8, 2);
		EXPECT_FALSE(nl_attrs_parse(d.span(), tb));
	}
	{ // rta_len beyond the buffer
		Craft d = c;
		d.set_u16(8, 9);
		EXPECT_FALSE(nl_attrs_parse(d.span(), tb));
	}
	{ // trailing bytes too short for a header
		Craft d = c;
		d.b.push_back(std::byte{1});
		d.b.push_back(std::byte{0});
		EXPECT_FALSE(nl_attrs_parse(d.span(), tb));
	}
	{ // types beyond the table are ignored; later duplicates win
		Craft d;
		d.attr_u32(200, 1);
		d.attr_u32(1, 5);
		d.attr_u32(1, 6);
		ASSERT_TRUE(nl_attrs_parse(d.span(), tb));
		ASSERT_TRUE(tb[1].u32(v));
		EXPECT_EQ(v, 6u);
	}
	{ // typed reads check the size
		Craft d;
		uint16_t s = 3;
		d.attr(1, &s, 2);
		ASSERT_TRUE(nl_attrs_parse(d.span(), tb));
		EXPECT_FALSE(tb[1].u32(v));
		uint16_t s2;
		EXPECT_TRUE(tb[1].u16(s2));
		EXPECT_EQ(s2, 3);
	}
	EXPECT_FALSE(nl_attrs_after(c.span(), c.b.size() + 1));
	EXPECT_TRUE(nl_attrs_after(c.span(), c.b.size())->empty());
}

// ------------------------------------------------------------ typed decoders

Craft link_msg(const char *name, uint32_t mtu, const uint8_t *mac, size_t mac_len) {
	Craft c;
	size_t m = c.msg_begin(RTM_NEWLINK, 0, 1);
	ifinfomsg ifi{};
	ifi.ifi_index = 3;
	ifi.ifi_type = 1;
	ifi.ifi_flags = IFF_UP;
	c.put(ifi);
	if (name)
		c.attr_str(IFLA_IFNAME, name);
	c.attr_u32(IFLA_MTU, mtu);
	if (mac)
		c.attr(IFLA_ADDRESS, mac, mac_len);
	c.msg_end(m);
	return c;
}

TEST(NetlinkParse, Link) {
	const uint8_t mac[6] = {2, 0, 0, 0, 0, 9};
	LinkInfo li;
	ASSERT_TRUE(nl_parse_link(only_msg(link_msg("eth0", 1400, mac, 6)), li));
	EXPECT_EQ(li.index, 3);
	EXPECT_EQ(li.name, "eth0");
	EXPECT_EQ(li.mtu, 1400u);
	EXPECT_TRUE(li.has_mac);
	EXPECT_EQ(li.mac, *MacAddr::parse("02:00:00:00:00:09"));
	EXPECT_TRUE(li.flags & IFF_UP);

	// A 4-byte link-layer address (ipip) is not a MAC.
	ASSERT_TRUE(nl_parse_link(only_msg(link_msg("tunl0", 1480, mac, 4)), li));
	EXPECT_FALSE(li.has_mac);

	// Unterminated name: bounded by the attribute.
	Craft c;
	size_t m = c.msg_begin(RTM_NEWLINK, 0, 1);
	c.put(ifinfomsg{});
	c.attr(IFLA_IFNAME, "abcdefgh", 8);
	c.msg_end(m);
	ASSERT_TRUE(nl_parse_link(only_msg(c), li));
	EXPECT_EQ(li.name, "abcdefgh");

	// MTU of the wrong size, truncated ifinfomsg.
	Craft bad;
	m = bad.msg_begin(RTM_NEWLINK, 0, 1);
	bad.put(ifinfomsg{});
	uint16_t small = 1500;
	bad.attr(IFLA_MTU, &small, 2);
	bad.msg_end(m);
	EXPECT_FALSE(nl_parse_link(only_msg(bad), li));
	NlMsg trunc = only_msg(link_msg("eth0", 1500, mac, 6));
	trunc.payload = trunc.payload.first(sizeof(ifinfomsg) - 1);
	EXPECT_FALSE(nl_parse_link(trunc, li));
}

TEST(NetlinkParse, Addr) {
	{ // v4 point-to-point: IFA_LOCAL is ours, IFA_ADDRESS the peer
		Craft c;
		size_t m = c.msg_begin(RTM_NEWADDR, 0, 1);
		ifaddrmsg ifa{};
		ifa.ifa_family = AF_INET;
		ifa.ifa_prefixlen = 32;
		ifa.ifa_index = 4;
		ifa.ifa_flags = IFA_F_PERMANENT;
		c.put(ifa);
		auto l = v4("10.0.0.1"), p = v4("10.0.0.2");
		c.attr(IFA_ADDRESS, p.b.data(), 4);
		c.attr(IFA_LOCAL, l.b.data(), 4);
		c.msg_end(m);
		AddrInfo a;
		ASSERT_TRUE(nl_parse_addr(only_msg(c), a));
		EXPECT_EQ(a.family, AF_INET);
		EXPECT_EQ(a.ifindex, 4);
		EXPECT_EQ(a.addr, InAny(l));
		EXPECT_TRUE(a.has_peer);
		EXPECT_EQ(a.peer, InAny(p));
		EXPECT_EQ(a.flags, uint32_t(IFA_F_PERMANENT));
	}
	auto v6msg = [](uint8_t family, uint8_t plen, size_t addr_len, bool flags_attr) {
		Craft c;
		size_t m = c.msg_begin(RTM_NEWADDR, 0, 1);
		ifaddrmsg ifa{};
		ifa.ifa_family = family;
		ifa.ifa_prefixlen = plen;
		ifa.ifa_scope = RT_SCOPE_UNIVERSE;
		ifa.ifa_flags = IFA_F_NODAD;
		c.put(ifa);
		auto a = v6("2001:db8::2");
		c.attr(IFA_ADDRESS, a.b.data(), addr_len);
		if (flags_attr)
			c.attr_u32(IFA_FLAGS, IFA_F_NODAD | IFA_F_NOPREFIXROUTE);
		c.msg_end(m);
		return c;
	};
	AddrInfo a;
	ASSERT_TRUE(nl_parse_addr(only_msg(v6msg(AF_INET6, 64, 16, true)), a));
	EXPECT_EQ(a.addr, InAny(v6("2001:db8::2")));
	EXPECT_FALSE(a.has_peer);
	EXPECT_EQ(a.prefix_len, 64u);
	EXPECT_EQ(a.flags, uint32_t(IFA_F_NODAD | IFA_F_NOPREFIXROUTE)); // IFA_FLAGS wins
	ASSERT_TRUE(nl_parse_addr(only_msg(v6msg(AF_INET6, 64, 16, false)), a));
	EXPECT_EQ(a.flags, uint32_t(IFA_F_NODAD));

	EXPECT_FALSE(nl_parse_addr(only_msg(v6msg(AF_INET6, 64, 4, false)), a));   // wrong size
	EXPECT_FALSE(nl_parse_addr(only_msg(v6msg(AF_INET6, 129, 16, false)), a)); // prefix
	EXPECT_FALSE(nl_parse_addr(only_msg(v6msg(AF_INET, 24, 16, false)), a));   // family/size
	EXPECT_FALSE(nl_parse_addr(only_msg(v6msg(AF_PACKET, 0, 16, false)), a));

	Craft none; // no address attribute at all
	size_t m = none.msg_begin(RTM_NEWADDR, 0, 1);
	ifaddrmsg ifa{};
	ifa.ifa_family = AF_INET;
	none.put(ifa);
	none.msg_end(m);
	EXPECT_FALSE(nl_parse_addr(only_msg(none), a));
	NlMsg trunc = only_msg(none);
	trunc.payload = trunc.payload.first(3);
	EXPECT_FALSE(nl_parse_addr(trunc, a));
}

Craft route_v4_default(size_t gw_len, uint8_t dst_len = 0) {
	Craft c;
	size_t m = c.msg_begin(RTM_NEWROUTE, NLM_F_MULTI, 1);
	rtmsg r{};
	r.rtm_family = AF_INET;
	r.rtm_dst_len = dst_len;
	r.rtm_table = RT_TABLE_MAIN;
	r.rtm_protocol = RTPROT_DHCP;
	r.rtm_type = RTN_UNICAST;
	c.put(r);
	c.attr_u32(RTA_TABLE, RT_TABLE_MAIN);
	c.attr_u32(RTA_PRIORITY, 100);
	uint8_t gw[16] = {192, 0, 2, 1}; // gw_len 16: the wrong size for IPv4
	c.attr(RTA_GATEWAY, gw, gw_len);
	c.attr_u32(RTA_OIF, 2);
	c.msg_end(m);
	return c;
}

TEST(NetlinkParse, Route) {
	RouteInfo r;
	ASSERT_TRUE(nl_parse_route(only_msg(route_v4_default(4)), r));
	EXPECT_TRUE(r.is_default());
	EXPECT_EQ(r.dst, InAny(Ipv4Addr{}));
	EXPECT_TRUE(r.has_gw);
	EXPECT_EQ(r.gw, InAny(v4("192.0.2.1")));
	EXPECT_EQ(r.oif, 2);
	EXPECT_EQ(r.priority, 100u);
	EXPECT_EQ(r.table, uint32_t(RT_TABLE_MAIN));
	EXPECT_EQ(r.protocol, RTPROT_DHCP);
	EXPECT_FALSE(r.multipath);

	EXPECT_FALSE(nl_parse_route(only_msg(route_v4_default(16)), r));    // gateway size
	EXPECT_FALSE(nl_parse_route(only_msg(route_v4_default(4, 33)), r)); // dst_len

	// RTA_TABLE overrides rtm_table (tables > 255).
	Craft c;
	size_t m = c.msg_begin(RTM_NEWROUTE, 0, 1);
	rtmsg rtm{};
	rtm.rtm_family = AF_INET6;
	rtm.rtm_dst_len = 48;
	rtm.rtm_table = RT_TABLE_MAIN;
	c.put(rtm);
	c.attr_u32(RTA_TABLE, 1000);
	auto dst = v6("2001:db8:1::");
	c.attr(RTA_DST, dst.b.data(), 16);
	c.msg_end(m);
	ASSERT_TRUE(nl_parse_route(only_msg(c), r));
	EXPECT_EQ(r.table, 1000u);
	EXPECT_EQ(r.dst, InAny(dst));
	EXPECT_EQ(r.dst_len, 48u);
	EXPECT_FALSE(r.has_gw);
}

// A v6 default route with two nexthops: fe80::1 on link 5, fe80::2 on link 6.
Craft route_multipath(int lie) {
	Craft c;
	size_t m = c.msg_begin(RTM_NEWROUTE, 0, 1);
	rtmsg rtm{};
	rtm.rtm_family = AF_INET6;
	rtm.rtm_table = RT_TABLE_MAIN;
	rtm.rtm_type = RTN_UNICAST;
	c.put(rtm);
	size_t mp = c.nest_begin(RTA_MULTIPATH);
	const char *gws[2] = {"fe80::1", "fe80::2"};
	for (int i = 0; i < 2; i++) {
		size_t nh_off = c.b.size();
		rtnexthop nh{};
		nh.rtnh_ifindex = 5 + i;
		nh.rtnh_flags = i ? RTNH_F_ONLINK : 0;
		c.put(nh);
		auto gw = v6(gws[i]);
		c.attr(RTA_GATEWAY, gw.b.data(), 16);
		c.set_u16(nh_off, uint16_t(c.b.size() - nh_off));
		if (i == 1 && lie == 1)
			c.set_u16(nh_off, 200); // beyond RTA_MULTIPATH
		if (i == 1 && lie == 2)
			c.set_u16(nh_off, 4); // shorter than rtnexthop
	}
	c.nest_end(mp);
	c.msg_end(m);
	return c;
}

TEST(NetlinkParse, RouteMultipath) {
	RouteInfo r;
	ASSERT_TRUE(nl_parse_route(only_msg(route_multipath(0)), r));
	EXPECT_TRUE(r.multipath);
	EXPECT_EQ(r.oif, 5);
	EXPECT_EQ(r.gw, InAny(v6("fe80::1")));
	EXPECT_FALSE(r.flags & RTNH_F_ONLINK);

	ASSERT_TRUE(nl_parse_route(only_msg(route_multipath(0)), r, 6));
	EXPECT_EQ(r.oif, 6);
	EXPECT_EQ(r.gw, InAny(v6("fe80::2")));
	EXPECT_TRUE(r.flags & RTNH_F_ONLINK);

	ASSERT_TRUE(nl_parse_route(only_msg(route_multipath(0)), r, 99)); // no match: first
	EXPECT_EQ(r.oif, 5);

	EXPECT_FALSE(nl_parse_route(only_msg(route_multipath(1)), r));
	EXPECT_FALSE(nl_parse_route(only_msg(route_multipath(2)), r));
}

// ------------------------------------------------------------ errors, replies

Craft error_msg(int32_t err, uint32_t seq, const char *ext = nullptr, bool lie = false) {
	Craft c;
	size_t m = c.msg_begin(NLMSG_ERROR, ext ? (NLM_F_CAPPED | NLM_F_ACK_TLVS) : 0, seq);
	nlmsgerr e{};
	e.error = err;
	e.msg.nlmsg_len = 40; // the echoed request, capped to its header
	e.msg.nlmsg_seq = seq;
	c.put(e);
	if (ext) {
		size_t a = c.b.size();
		c.attr_str(NLMSGERR_ATTR_MSG, ext);
		if (lie)
			c.set_u16(a, 300);
	}
	c.msg_end(m);
	return c;
}

TEST(NetlinkParse, ErrorMessages) {
	char msg[32];
	EXPECT_EQ(nl_error_code(only_msg(error_msg(0, 1)), msg), 0);
	EXPECT_STREQ(msg, "");
	EXPECT_EQ(nl_error_code(only_msg(error_msg(-EEXIST, 1, "address already assigned")), msg),
		  -EEXIST);
	EXPECT_STREQ(msg, "address already assigned");
	// Text longer than the caller's buffer is cut, still terminated.
	char tiny[6];
	EXPECT_EQ(nl_error_code(only_msg(error_msg(-EINVAL, 1, "long message")), tiny), -EINVAL);
	EXPECT_STREQ(tiny, "long ");
	// Lying TLV: error code still valid, no text.
	EXPECT_EQ(nl_error_code(only_msg(error_msg(-EPERM, 1, "x", true)), msg), -EPERM);
	EXPECT_STREQ(msg, "");
	// Positive error and truncated nlmsgerr are protocol errors.
	EXPECT_EQ(nl_error_code(only_msg(error_msg(5, 1))), -EPROTO);
	NlMsg t = only_msg(error_msg(-EEXIST, 1));
	t.payload = t.payload.first(8);
	EXPECT_EQ(nl_error_code(t), -EPROTO);
}

struct Counter {
	int calls = 0;
	int fail_with = 0;
	static int cb(void *ctx, const NlMsg &m) {
		auto *c = static_cast<Counter *>(ctx);
		EXPECT_EQ(m.type, RTM_NEWLINK);
		c->calls++;
		return c->fail_with;
	}
};

void add_data(Craft &c, uint32_t seq, uint16_t flags = NLM_F_MULTI) {
	size_t m = c.msg_begin(RTM_NEWLINK, flags, seq);
	c.put(ifinfomsg{});
	c.msg_end(m);
}

void add_done(Craft &c, uint32_t seq, int32_t err = 0) {
	size_t m = c.msg_begin(NLMSG_DONE, NLM_F_MULTI, seq);
	c.put(err);
	c.msg_end(m);
}

TEST(NetlinkReply, MultipartDumpAcrossDatagrams) {
	Counter cnt;
	NlReplyState st;
	st.seq = 42;
	Craft d1;
	add_data(d1, 41); // stale reply of an earlier request
	add_data(d1, 42);
	add_data(d1, 42);
	EXPECT_EQ(nl_reply_batch(d1.span(), 0, st, Counter::cb, &cnt), 0);
	EXPECT_FALSE(st.done);
	EXPECT_EQ(cnt.calls, 2);

	Craft d2;
	add_data(d2, 42);
	add_done(d2, 42);
	add_data(d2, 42); // after DONE: ignored
	EXPECT_EQ(nl_reply_batch(d2.span(), 0, st, Counter::cb, &cnt), 0);
	EXPECT_TRUE(st.done);
	EXPECT_EQ(st.result, 0);
	EXPECT_EQ(cnt.calls, 3);
}

TEST(NetlinkReply, ErrorsAckAndForeignSenders) {
	Counter cnt;
	{ // datagram from a user-space sender is ignored whole
		NlReplyState st;
		st.seq = 7;
		Craft d;
		add_data(d, 7);
		add_done(d, 7);
		EXPECT_EQ(nl_reply_batch(d.span(), 1234, st, Counter::cb, &cnt), 0);
		EXPECT_FALSE(st.done);
		EXPECT_EQ(cnt.calls, 0);
	}
	{ // ACK after a data message (non-dump GET)
		NlReplyState st;
		st.seq = 7;
		Craft d;
		add_data(d, 7, 0);
		Craft ack = error_msg(0, 7);
		d.b.insert(d.b.end(), ack.b.begin(), ack.b.end());
		EXPECT_EQ(nl_reply_batch(d.span(), 0, st, Counter::cb, &cnt), 0);
		EXPECT_TRUE(st.done);
		EXPECT_EQ(st.result, 0);
		EXPECT_EQ(cnt.calls, 1);
	}
	{ // stale error for another seq does not end our reply; ours does
		NlReplyState st;
		st.seq = 8;
		Craft d = error_msg(-EBUSY, 7);
		EXPECT_EQ(nl_reply_batch(d.span(), 0, st, nullptr, nullptr), 0);
		EXPECT_FALSE(st.done);
		Craft e = error_msg(-EEXIST, 8, "exists");
		EXPECT_EQ(nl_reply_batch(e.span(), 0, st, nullptr, nullptr), 0);
		EXPECT_TRUE(st.done);
		EXPECT_EQ(st.result, -EEXIST);
		EXPECT_STREQ(st.ext_msg, "exists");
	}
	{ // DONE carrying an error
		NlReplyState st;
		st.seq = 9;
		Craft d;
		add_done(d, 9, -EINTR);
		nl_reply_batch(d.span(), 0, st, nullptr, nullptr);
		EXPECT_TRUE(st.done);
		EXPECT_EQ(st.result, -EINTR);
	}
	{ // callback failure is kept, the reply is still read to its end
		Counter fail;
		fail.fail_with = -ENOMEM;
		NlReplyState st;
		st.seq = 10;
		Craft d;
		add_data(d, 10);
		add_data(d, 10);
		add_done(d, 10);
		nl_reply_batch(d.span(), 0, st, Counter::cb, &fail);
		EXPECT_TRUE(st.done);
		EXPECT_EQ(st.result, -ENOMEM);
		EXPECT_EQ(fail.calls, 1);
	}
	{ // malformed datagram ends the reply with -EPROTO
		NlReplyState st;
		st.seq = 11;
		Craft d;
		add_data(d, 11);
		d.set_u32(0, 1000);
		EXPECT_EQ(nl_reply_batch(d.span(), 0, st, Counter::cb, &cnt), -EPROTO);
		EXPECT_TRUE(st.done);
		EXPECT_EQ(st.result, -EPROTO);
	}
}

// ------------------------------------------------------------ real kernel

// Collects failures inside a child, where gtest assertions cannot be used.
struct Report {
	std::string s;
	void fail(int line, const std::string &what) {
		s += "line " + std::to_string(line) + ": " + what + "\n";
	}
};

#define CHECK(cond)                                \
	do {                                       \
		if (!(cond))                       \
			rep.fail(__LINE__, #cond); \
	} while (0)
#define CHECK_RC(expr)                                                                        \
	do {                                                                                  \
		int rc_ = (expr);                                                             \
		if (rc_ < 0)                                                                  \
			rep.fail(__LINE__, std::string(#expr) + " = " + std::to_string(rc_) + \
						   " (" + strerror(-rc_) + ")");              \
	} while (0)
#define REQUIRE(cond)                              \
	do {                                       \
		if (!(cond)) {                     \
			rep.fail(__LINE__, #cond); \
			return;                    \
		}                                  \
	} while (0)

bool write_file(const char *path, const std::string &s) {
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool ok = write(fd, s.data(), s.size()) == ssize_t(s.size());
	close(fd);
	return ok;
}

// New user namespace (uid/gid 0 mapped to ours) and network namespace.
std::string enter_userns_netns() {
	uid_t uid = geteuid();
	gid_t gid = getegid();
	if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0)
		return std::string("SKIP: unshare: ") + strerror(errno);
	if (!write_file("/proc/self/setgroups", "deny") ||
	    !write_file("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") ||
	    !write_file("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1"))
		return std::string("id maps: ") + strerror(errno);
	return "";
}

// Runs body in a forked child inside fresh namespaces; returns its report
// ("" on success, "SKIP: ..." if namespaces are unavailable).
std::string run_in_netns(const std::function<void(Report &)> &body, int timeout_s = 20) {
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return "pipe failed";
	pid_t pid = fork();
	if (pid < 0)
		return "fork failed";
	if (pid == 0) {
		close(p[0]);
		alarm(unsigned(timeout_s));
		Report rep;
		rep.s = enter_userns_netns();
		if (rep.s.empty())
			body(rep);
		if (!rep.s.empty() && write(p[1], rep.s.data(), rep.s.size()) < 0)
			_exit(3);
		_exit(rep.s.empty() ? 0 : 1);
	}
	close(p[1]);
	std::string out;
	timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long left_ms = (timeout_s + 5) * 1000L - ((now.tv_sec - start.tv_sec) * 1000L +
							  (now.tv_nsec - start.tv_nsec) / 1000000L);
		pollfd pfd{p[0], POLLIN, 0};
		if (left_ms <= 0 || poll(&pfd, 1, int(left_ms)) <= 0) {
			kill(pid, SIGKILL);
			out += "timeout waiting for child\n";
			break;
		}
		char buf[512];
		ssize_t n = read(p[0], buf, sizeof(buf));
		if (n <= 0)
			break;
		out.append(buf, size_t(n));
	}
	close(p[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	if (WIFSIGNALED(status))
		out += "child killed by signal " + std::to_string(WTERMSIG(status)) + "\n";
	else if (WEXITSTATUS(status) != 0 && out.empty())
		out += "child exit status " + std::to_string(WEXITSTATUS(status)) + "\n";
	return out;
}

#define EXPECT_CHILD_OK(...)                                \
	do {                                                \
		std::string r_ = run_in_netns(__VA_ARGS__); \
		if (r_.rfind("SKIP:", 0) == 0)              \
			GTEST_SKIP() << r_;                 \
		EXPECT_EQ(r_, "");                          \
	} while (0)

bool has_addr(const std::vector<AddrInfo> &v, const InAny &a, unsigned plen) {
	for (const auto &x : v)
		if (x.addr == a && x.prefix_len == plen)
			return true;
	return false;
}

const RouteInfo *find_route(const std::vector<RouteInfo> &v, const InAny &dst, unsigned dst_len) {
	for (const auto &r : v)
		if (r.dst == dst && r.dst_len == dst_len)
			return &r;
	return nullptr;
}

TEST(NetlinkKernel, SelfTestCanFail) {
	// The harness reports failures and exit codes from the child.
	std::string r = run_in_netns([](Report &rep) { CHECK(1 + 1 == 3); });
	if (r.rfind("SKIP:", 0) == 0)
		GTEST_SKIP() << r;
	EXPECT_NE(r.find("1 + 1 == 3"), std::string::npos) << r;
}

TEST(NetlinkKernel, ProbeOfVethHost) {
	EXPECT_CHILD_OK([](Report &rep) {
		Netlink nl;
		CHECK_RC(nl.open());
		HostDefaults hd;

		// No default route yet: nothing found, but no failure either.
		CHECK(host_probe(nl, hd, "", ""));
		CHECK(!hd.has4() && !hd.has6());

		CHECK_RC(nl.create_veth("pt0", "pt1"));
		CHECK(nl.create_veth("pt0", "pt2") == -EEXIST);
		int lo = nl.link_index("lo"), a = nl.link_index("pt0"), b = nl.link_index("pt1");
		REQUIRE(lo > 0 && a > 0 && b > 0 && a != b);
		CHECK(nl.link_index("nosuch0") == -ENODEV);
		CHECK(nl.link_index("a-name-that-is-too-long") == -ENODEV);
		std::string name;
		CHECK_RC(nl.link_name(b, name));
		CHECK(name == "pt1");

		MacAddr mac = *MacAddr::parse("02:00:00:00:00:01");
		CHECK_RC(nl.link_set_mac(a, mac));
		CHECK_RC(nl.link_set_mtu(a, 1400));
		for (int i : {lo, a, b})
			CHECK_RC(nl.link_set_up(i, true));
		CHECK_RC(nl.addr_add(a, InAny(v4("192.0.2.2")), 24));
		// Tentative addresses around the usable one: the probe must skip
		// them (DAD made long so that they stay tentative during the test).
		CHECK(write_file("/proc/sys/net/ipv6/conf/pt0/dad_transmits", "100"));
		CHECK_RC(nl.addr_add(a, InAny(v6("2001:db8:a::5")), 64));
		CHECK_RC(nl.addr_add(a, InAny(v6("2001:db8::2")), 64, IFA_F_NODAD));
		CHECK_RC(nl.addr_add(a, InAny(v6("2001:db8:b::5")), 64));
		CHECK(nl.addr_add(a, InAny(v4("192.0.2.2")), 24) == -EEXIST);
		CHECK(nl.addr_add(a, InAny(v4("192.0.2.3")), 33) == -EINVAL);
		CHECK_RC(nl.route_add_default(a, InAny(v4("192.0.2.1"))));
		CHECK_RC(nl.route_add_default(a, InAny(v6("2001:db8::1"))));
		CHECK(nl.route_add_default(a, InAny(v4("192.0.2.1"))) == -EEXIST);

		CHECK(host_probe(nl, hd, "", ""));
		CHECK(hd.ifname4 == "pt0");
		CHECK(hd.addr4 == v4("192.0.2.2"));
		CHECK(hd.prefix4 == 24);
		CHECK(hd.gw4 == v4("192.0.2.1"));
		CHECK(hd.ifname6 == "pt0");
		CHECK(hd.addr6 == v6("2001:db8::2"));
		CHECK(hd.prefix6 == 64);
		CHECK(hd.gw6 == v6("2001:db8::1"));
		CHECK(hd.addr6_ll.is_link_local()); // kernel-made, from the MAC
		CHECK(hd.addr6_ll == v6("fe80::ff:fe00:1"));
		CHECK(hd.mac == mac);
		CHECK(hd.mtu == 1400);
		std::vector<AddrInfo> addrs;
		CHECK_RC(nl.addr_list(AF_INET6, a, addrs));
		int tentative = 0;
		for (const auto &x : addrs)
			tentative += x.addr.v6().b[4] == 0 && x.addr.v6().b[5] >= 0xa &&
				     (x.flags & IFA_F_TENTATIVE);
		CHECK(tentative == 2);

		// The public entry point opens its own socket in the current namespace.
		HostDefaults hd2;
		CHECK(host_probe(hd2, "", ""));
		CHECK(hd2.ifname4 == "pt0" && hd2.gw6 == hd.gw6 && hd2.mtu == 1400);

		// Changes are seen by the queries.
		CHECK_RC(nl.link_set_mtu(a, 9000));
		LinkInfo li;
		CHECK_RC(nl.link_get(a, li));
		CHECK(li.mtu == 9000 && li.name == "pt0" && li.has_mac && li.mac == mac);
		CHECK((li.flags & IFF_UP) != 0);
		CHECK(host_probe(nl, hd, "", "") && hd.mtu == 9000);
		CHECK_RC(nl.link_set_up(b, false));
		CHECK_RC(nl.link_get(b, li));
		CHECK((li.flags & IFF_UP) == 0);

		std::vector<LinkInfo> links;
		CHECK_RC(nl.link_list(links));
		int seen = 0;
		for (const auto &l : links)
			seen += l.name == "lo" || l.name == "pt0" || l.name == "pt1";
		CHECK(seen == 3);

		// Hints override the default-route interface.
		CHECK(host_probe(nl, hd, "pt1", "pt1"));
		CHECK(hd.ifname4 == "pt1" && hd.ifname6 == "pt1");
		CHECK(hd.addr4.is_unspecified() && hd.gw4.is_unspecified());
		CHECK(hd.addr6.is_unspecified() && hd.gw6.is_unspecified());
		CHECK(!host_probe(nl, hd, "nosuch0", ""));

		CHECK_RC(nl.link_del(b)); // deleting one end removes the pair
		CHECK(nl.link_index("pt0") == -ENODEV);
	});
}

TEST(NetlinkKernel, OnlinkAndLinkLocalGateways) {
	EXPECT_CHILD_OK([](Report &rep) {
		Netlink nl;
		CHECK_RC(nl.open());
		CHECK_RC(nl.create_veth("ol0", "ol1"));
		int a = nl.link_index("ol0"), b = nl.link_index("ol1");
		REQUIRE(a > 0 && b > 0);
		CHECK_RC(nl.link_set_up(a, true));
		CHECK_RC(nl.link_set_up(b, true));
		// Cloud style: /32 address, gateway outside it.
		CHECK_RC(nl.addr_add(a, InAny(v4("203.0.113.5")), 32));
		CHECK_RC(nl.route_add_default(a, InAny(v4("198.51.100.1"))));
		CHECK_RC(nl.route_add_default(a, InAny(v6("fe80::1"))));

		RouteInfo r;
		CHECK_RC(nl.default_route(AF_INET, r));
		CHECK(r.oif == a && r.gw == InAny(v4("198.51.100.1")));
		CHECK((r.flags & RTNH_F_ONLINK) != 0);
		CHECK_RC(nl.default_route(AF_INET6, r));
		CHECK(r.oif == a && r.gw == InAny(v6("fe80::1")));
		CHECK(nl.default_route(AF_INET, r, b) == -ENOENT);

		HostDefaults hd;
		CHECK(host_probe(nl, hd, "", ""));
		CHECK(hd.ifname4 == "ol0" && hd.prefix4 == 32 && hd.gw4 == v4("198.51.100.1"));
		CHECK(hd.gw6 == v6("fe80::1") && hd.addr6.is_unspecified());

		RouteInfo bad; // no output link
		bad.family = AF_INET;
		CHECK(nl.route_add(bad) == -EINVAL);
	});
}

TEST(NetlinkKernel, CopyRoutesAndAddrsAcrossNamespaces) {
	EXPECT_CHILD_OK([](Report &rep) {
		// Namespace A (the "host"), then B and C (targets) below it.
		int ns_a = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		REQUIRE(ns_a >= 0);
		REQUIRE(unshare(CLONE_NEWNET) == 0);
		int ns_b = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		REQUIRE(ns_b >= 0);

		Netlink na, nb;
		CHECK_RC(na.open_in_ns(ns_a));
		// open_in_ns() came back to B.
		struct stat cur, sb;
		REQUIRE(stat("/proc/self/ns/net", &cur) == 0 && fstat(ns_b, &sb) == 0);
		CHECK(cur.st_ino == sb.st_ino);
		CHECK_RC(nb.open());

		CHECK_RC(na.create_veth("ca0", "cb0", ns_b));
		CHECK_RC(na.create_veth("xa0", "xb0"));
		int ca0 = na.link_index("ca0"), xa0 = na.link_index("xa0");
		int cb0 = nb.link_index("cb0");
		REQUIRE(ca0 > 0 && xa0 > 0 && cb0 > 0);
		CHECK(na.link_index("cb0") == -ENODEV); // the peer really moved
		for (int i : {na.link_index("lo"), ca0, xa0, na.link_index("xb0")})
			CHECK_RC(na.link_set_up(i, true));
		CHECK_RC(nb.link_set_up(nb.link_index("lo"), true));
		CHECK_RC(nb.link_set_up(cb0, true));

		CHECK_RC(na.addr_add(ca0, InAny(v4("192.0.2.2")), 24));
		CHECK_RC(na.addr_add(ca0, InAny(v6("2001:db8::2")), 64, IFA_F_NODAD));
		CHECK_RC(na.addr_add(xa0, InAny(v4("172.16.0.1")), 16));
		CHECK_RC(na.route_add_default(ca0, InAny(v4("192.0.2.1"))));
		CHECK_RC(na.route_add_default(ca0, InAny(v6("2001:db8::1"))));
		RouteInfo r;
		r.family = AF_INET; // sorts before 192.0.2.0/24, which its gateway needs
		r.dst = InAny(v4("10.0.0.0"));
		r.dst_len = 8;
		r.has_gw = true;
		r.gw = InAny(v4("192.0.2.254"));
		r.oif = ca0;
		r.priority = 50;
		CHECK_RC(na.route_add(r));
		CHECK(na.route_add(r) == -EEXIST);
		RouteInfo d; // direct route, no address in it
		d.family = AF_INET;
		d.dst = InAny(v4("203.0.113.0"));
		d.dst_len = 24;
		d.oif = ca0;
		CHECK_RC(na.route_add(d));
		RouteInfo r6;
		r6.family = AF_INET6;
		r6.dst = InAny(v6("2001:db8:1::"));
		r6.dst_len = 48;
		r6.has_gw = true;
		r6.gw = InAny(v6("fe80::1"));
		r6.oif = ca0;
		CHECK_RC(na.route_add(r6));
		RouteInfo other = r; // on another link: must not be copied
		other.dst = InAny(v4("172.17.0.0"));
		other.dst_len = 16;
		other.gw = InAny(v4("172.16.0.254"));
		other.oif = xa0;
		other.priority = 0;
		CHECK_RC(na.route_add(other));

		// C: routes only, no addresses; its link is another veth from A.
		REQUIRE(unshare(CLONE_NEWNET) == 0);
		int ns_c = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		REQUIRE(ns_c >= 0);
		Netlink nc;
		CHECK_RC(nc.open());
		CHECK_RC(na.create_veth("ca1", "cc1", ns_c));
		int cc1 = nc.link_index("cc1");
		REQUIRE(cc1 > 0);
		CHECK_RC(nc.link_set_up(cc1, true));
		CHECK_RC(na.link_set_up(na.link_index("ca1"), true));
		CHECK_RC(copy_routes(na, ca0, nc, cc1, AF_INET));
		std::vector<RouteInfo> rc_routes;
		CHECK_RC(nc.route_list(AF_INET, rc_routes));
		const RouteInfo *x = find_route(rc_routes, InAny(v4("10.0.0.0")), 8);
		CHECK(x && x->oif == cc1 && x->gw == InAny(v4("192.0.2.254")) && x->priority == 50);
		x = find_route(rc_routes, InAny(v4("192.0.2.0")), 24);
		CHECK(x && !x->has_gw && x->scope == RT_SCOPE_LINK);

		// B: the pasta order, addresses then routes.
		CHECK_RC(copy_addrs(na, ca0, nb, cb0, AF_INET));
		CHECK_RC(copy_addrs(na, ca0, nb, cb0, AF_INET6));
		CHECK_RC(copy_routes(na, ca0, nb, cb0, AF_INET));
		CHECK_RC(copy_routes(na, ca0, nb, cb0, AF_INET6));
		// Again: everything exists, which is not an error.
		CHECK_RC(copy_addrs(na, ca0, nb, cb0, AF_INET6));
		CHECK_RC(copy_routes(na, ca0, nb, cb0, AF_INET));

		std::vector<AddrInfo> aa, ba;
		CHECK_RC(na.addr_list(AF_INET6, ca0, aa));
		CHECK_RC(nb.addr_list(AF_UNSPEC, cb0, ba));
		CHECK(has_addr(ba, InAny(v4("192.0.2.2")), 24));
		CHECK(has_addr(ba, InAny(v6("2001:db8::2")), 64));
		CHECK(!has_addr(ba, InAny(v4("172.16.0.1")), 16));
		for (const auto &x6 : aa) // A's link-local address stays in A
			if (x6.addr.v6().is_link_local())
				CHECK(!has_addr(ba, x6.addr, x6.prefix_len));
		for (const auto &y : ba)
			if (y.addr == InAny(v6("2001:db8::2")))
				CHECK((y.flags & IFA_F_NODAD) && y.scope == RT_SCOPE_UNIVERSE);

		std::vector<RouteInfo> b4, b6;
		CHECK_RC(nb.route_list(AF_INET, b4));
		CHECK_RC(nb.route_list(AF_INET6, b6));
		x = find_route(b4, InAny(Ipv4Addr{}), 0);
		CHECK(x && x->oif == cb0 && x->gw == InAny(v4("192.0.2.1")));
		x = find_route(b4, InAny(v4("10.0.0.0")), 8);
		CHECK(x && x->gw == InAny(v4("192.0.2.254")) && x->priority == 50);
		int subnet_routes = 0; // the kernel's, not a second copy
		for (const auto &y : b4)
			subnet_routes += y.dst == InAny(v4("192.0.2.0")) && y.dst_len == 24;
		CHECK(subnet_routes == 1);
		x = find_route(b4, InAny(v4("203.0.113.0")), 24);
		CHECK(x && x->oif == cb0 && !x->has_gw);
		CHECK(!find_route(b4, InAny(v4("172.17.0.0")), 16));
		x = find_route(b6, InAny(Ipv6Addr{}), 0);
		CHECK(x && x->oif == cb0 && x->gw == InAny(v6("2001:db8::1")));
		x = find_route(b6, InAny(v6("2001:db8:1::")), 48);
		CHECK(x && x->oif == cb0 && x->gw == InAny(v6("fe80::1")));

		// The copy is what a probe in B sees.
		HostDefaults hd;
		CHECK(host_probe(nb, hd, "", ""));
		CHECK(hd.ifname4 == "cb0" && hd.addr4 == v4("192.0.2.2") && hd.prefix4 == 24);
		CHECK(hd.ifname6 == "cb0" && hd.addr6 == v6("2001:db8::2") && hd.prefix6 == 64);
		CHECK(hd.gw4 == v4("192.0.2.1") && hd.gw6 == v6("2001:db8::1"));

		close(ns_a);
		close(ns_b);
		close(ns_c);
	});
}

} // namespace
