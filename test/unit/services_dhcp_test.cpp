// DHCPv4 server: replies to every message type parsed in full (options,
// destination, checksums), option selection and ordering, size limits,
// malformed and truncated requests, and DISCOVERs captured from real clients
// (busybox udhcpc and ISC dhclient) on a veth pair.
#include <gtest/gtest.h>

#include "capture_tap.h"

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "passt/conf/config.h"
#include "passt/core/log.h"
#include "passt/net/checksum.h"
#include "passt/services/dhcp.h"
#include "passt/tap/output.h"

using namespace passt;

namespace {

using Bytes = std::vector<std::byte>;
using U8s = std::vector<uint8_t>;

using FakeTap = passt::test::CaptureTap;

constexpr MacAddr our_mac{{0x9a, 0x55, 0x9a, 0x55, 0x9a, 0x55}};
constexpr MacAddr guest_mac{{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}};
constexpr Ipv4Addr guest_ip = Ipv4Addr::from_host(0xc000020a); // 192.0.2.10
constexpr Ipv4Addr gw_ip = Ipv4Addr::from_host(0xc0000201);    // 192.0.2.1
constexpr Ipv4Addr dns1 = Ipv4Addr::from_host(0xc0000235);     // 192.0.2.53
constexpr Ipv4Addr dns2 = Ipv4Addr::from_host(0xc6336435);     // 198.51.100.53
constexpr Ipv4Addr other_ip = Ipv4Addr::from_host(0xc0000263); // 192.0.2.99

Config make_config() {
	Config c;
	c.our_tap_mac = our_mac;
	c.mtu = 65520;
	c.ip4.addr = guest_ip;
	c.ip4.prefix_len = 24;
	c.ip4.gw = gw_ip;
	c.ip4.dns = {dns1, dns2};
	c.dns_search = {"example.com", "sub.example.com", "example.org"};
	c.hostname = "guest";
	c.fqdn = "guest.example.com";
	return c;
}

U8s ip_bytes(const Ipv4Addr &a) { return U8s(a.b.begin(), a.b.end()); }

// A client's BOOTP message, written field by field.
struct Req {
	uint8_t op = 1, htype = 1, hlen = 6;
	uint32_t xid = 0x12345678;
	uint16_t flags = 0;
	Ipv4Addr ciaddr, giaddr;
	MacAddr chaddr = guest_mac;
	bool cookie = true;
	U8s options; // raw, without the end option
	bool end = true;
	size_t pad_to = 300;

	Req &opt(uint8_t code, U8s v) {
		options.push_back(code);
		options.push_back(uint8_t(v.size()));
		options.insert(options.end(), v.begin(), v.end());
		return *this;
	}
	Req &type(uint8_t t) { return opt(53, {t}); }

	Bytes bytes() const {
		Bytes m(240);
		m[0] = std::byte(op);
		m[1] = std::byte(htype);
		m[2] = std::byte(hlen);
		for (int i = 0; i < 4; i++)
			m[4 + i] = std::byte(xid >> (24 - 8 * i));
		m[8] = std::byte(0);
		m[9] = std::byte(3); // secs
		m[10] = std::byte(flags >> 8);
		m[11] = std::byte(flags);
		std::memcpy(&m[12], ciaddr.b.data(), 4);
		std::memcpy(&m[24], giaddr.b.data(), 4);
		std::memcpy(&m[28], chaddr.b.data(), 6);
		if (cookie) {
			m[236] = std::byte(99);
			m[237] = std::byte(130);
			m[238] = std::byte(83);
			m[239] = std::byte(99);
		}
		for (uint8_t b : options)
			m.push_back(std::byte(b));
		if (end)
			m.push_back(std::byte(255));
		if (m.size() < pad_to)
			m.resize(pad_to);
		return m;
	}
};

// Ethernet + IPv4 + UDP around msg, with valid checksums.
Bytes udp_frame(const Bytes &msg, uint16_t dport = 67, Ipv4Addr src = Ipv4Addr{},
		Ipv4Addr dst = Ipv4Addr::broadcast(), const MacAddr &eth_src = guest_mac) {
	Bytes f(42 + msg.size());
	auto put16 = [&](size_t off, uint16_t v) {
		f[off] = std::byte(v >> 8);
		f[off + 1] = std::byte(v);
	};
	std::memcpy(&f[0], MacAddr::broadcast().b.data(), 6);
	std::memcpy(&f[6], eth_src.b.data(), 6);
	put16(12, 0x0800);
	f[14] = std::byte(0x45);
	put16(16, uint16_t(28 + msg.size()));
	f[22] = std::byte(64);
	f[23] = std::byte(17);
	std::memcpy(&f[26], src.b.data(), 4);
	std::memcpy(&f[30], dst.b.data(), 4);
	be16 ipc = inet_checksum(std::span<const std::byte>(&f[14], 20));
	std::memcpy(&f[24], &ipc.raw, 2);
	put16(34, 68);
	put16(36, dport);
	put16(38, uint16_t(8 + msg.size()));
	std::memcpy(&f[42], msg.data(), msg.size());
	be16 uc = l4_checksum4(src, dst, 17, std::span<const std::byte>(&f[34], 8 + msg.size()));
	std::memcpy(&f[40], &uc.raw, 2);
	return f;
}

Bytes hex(const char *s) {
	Bytes b;
	for (; s[0] && s[1]; s += 2) {
		auto nib = [](char ch) { return ch <= '9' ? ch - '0' : ch - 'a' + 10; };
		b.push_back(std::byte(nib(s[0]) << 4 | nib(s[1])));
	}
	return b;
}

// A reply, parsed by the test on its own.
struct Reply {
	MacAddr eth_dst, eth_src;
	Ipv4Addr ip_src, ip_dst;
	uint16_t sport = 0, dport = 0;
	size_t ip_len = 0, msg_len = 0;
	uint8_t op = 0, htype = 0, hlen = 0, hops = 0;
	uint32_t xid = 0;
	uint16_t secs = 0, flags = 0;
	Ipv4Addr ciaddr, yiaddr, siaddr, giaddr;
	MacAddr chaddr;
	std::map<uint8_t, U8s> opt; // instances concatenated
	std::vector<uint8_t> order; // codes in order of first appearance
	bool has(uint8_t code) const { return opt.count(code) != 0; }
};

uint16_t be16at(const Bytes &b, size_t off) {
	return uint16_t(uint8_t(b[off]) << 8 | uint8_t(b[off + 1]));
}

::testing::AssertionResult parse_reply(const Bytes &f, Reply &r) {
	auto fail = [](const char *w) { return ::testing::AssertionFailure() << w; };
	if (f.size() < 42 + 240)
		return fail("frame too short");
	std::memcpy(r.eth_dst.b.data(), &f[0], 6);
	std::memcpy(r.eth_src.b.data(), &f[6], 6);
	if (be16at(f, 12) != 0x0800)
		return fail("not IPv4");
	if (uint8_t(f[14]) != 0x45)
		return fail("IP version/IHL");
	r.ip_len = be16at(f, 16);
	if (r.ip_len != f.size() - 14)
		return fail("IP total length");
	if (uint8_t(f[23]) != 17)
		return fail("not UDP");
	if (inet_checksum(std::span<const std::byte>(&f[14], 20)).raw != 0)
		return fail("IP header checksum");
	std::memcpy(r.ip_src.b.data(), &f[26], 4);
	std::memcpy(r.ip_dst.b.data(), &f[30], 4);
	r.sport = be16at(f, 34);
	r.dport = be16at(f, 36);
	if (be16at(f, 38) != r.ip_len - 20)
		return fail("UDP length");
	if (be16at(f, 40) == 0)
		return fail("no UDP checksum");
	auto seg = std::span<const std::byte>(&f[34], r.ip_len - 20);
	if (l4_checksum4(r.ip_src, r.ip_dst, 17, seg).raw)
		return fail("UDP checksum");

	Bytes m(f.begin() + 42, f.end());
	r.msg_len = m.size();
	r.op = uint8_t(m[0]);
	r.htype = uint8_t(m[1]);
	r.hlen = uint8_t(m[2]);
	r.hops = uint8_t(m[3]);
	r.xid = uint32_t(be16at(m, 4)) << 16 | be16at(m, 6);
	r.secs = be16at(m, 8);
	r.flags = be16at(m, 10);
	std::memcpy(r.ciaddr.b.data(), &m[12], 4);
	std::memcpy(r.yiaddr.b.data(), &m[16], 4);
	std::memcpy(r.siaddr.b.data(), &m[20], 4);
	std::memcpy(r.giaddr.b.data(), &m[24], 4);
	std::memcpy(r.chaddr.b.data(), &m[28], 6);
	for (size_t i = 34; i < 236; i++)
		if (m[i] != std::byte{0})
			return fail("chaddr padding, sname or file not zero");
	if (be16at(m, 236) != 0x6382 || be16at(m, 238) != 0x5363)
		return fail("magic cookie");
	size_t i = 240;
	for (;;) {
		if (i >= m.size())
			return fail("no end option");
		uint8_t code = uint8_t(m[i]);
		if (code == 255)
			break;
		if (code == 0)
			return fail("pad inside options");
		if (i + 2 > m.size() || i + 2 + uint8_t(m[i + 1]) > m.size())
			return fail("option runs past the end");
		size_t len = uint8_t(m[i + 1]);
		if (!r.opt.count(code))
			r.order.push_back(code);
		else if (r.order.back() != code)
			return fail("split option instances not consecutive");
		auto &v = r.opt[code];
		for (size_t k = 0; k < len; k++)
			v.push_back(uint8_t(m[i + 2 + k]));
		i += 2 + len;
	}
	for (i++; i < m.size(); i++)
		if (m[i] != std::byte{0})
			return fail("non-zero padding after end");
	return ::testing::AssertionSuccess();
}

// Decode a list of DNS names in wire format with pointers (RFC 1035 4.1.4).
std::vector<std::string> decode_names(const U8s &d) {
	std::vector<std::string> out;
	size_t i = 0;
	while (i < d.size()) {
		std::string name;
		size_t p = i;
		bool jumped = false;
		for (int guard = 0; guard < 300; guard++) {
			if (p >= d.size())
				return {"<overrun>"};
			uint8_t l = d[p];
			if ((l & 0xc0) == 0xc0) {
				size_t to = size_t(l & 0x3f) << 8 | d[p + 1];
				if (!jumped)
					i = p + 2;
				jumped = true;
				p = to;
				continue;
			}
			if (l == 0) {
				if (!jumped)
					i = p + 1;
				break;
			}
			if (!name.empty())
				name += '.';
			name.append(reinterpret_cast<const char *>(&d[p + 1]), l);
			p += 1 + l;
		}
		out.push_back(name);
	}
	return out;
}

class DhcpTest : public ::testing::Test {
protected:
	void SetUp() override {
		dhcp_stats_reset();
		log_set_level(LogLevel::Warning); // no per-reply info lines
	}
	void TearDown() override { log_set_level(LogLevel::Info); }
	bool input(const Bytes &f) { return dhcp_input(c, st, f, tap); }
	// Send a request, expect exactly one reply, parse it.
	Reply exchange(const Req &q) {
		Reply r;
		tap.frames.clear();
		EXPECT_TRUE(input(udp_frame(q.bytes())));
		EXPECT_EQ(tap.frames.size(), 1u);
		if (tap.frames.size() == 1) {
			EXPECT_TRUE(parse_reply(tap.frames[0], r));
		}
		return r;
	}
	void expect_none(const Req &q) {
		tap.frames.clear();
		EXPECT_TRUE(input(udp_frame(q.bytes())));
		EXPECT_TRUE(tap.frames.empty());
	}
	Config c = make_config();
	TapState st;
	FakeTap tap;
};

const U8s search_wire = {
	7, 'e', 'x', 'a', 'm',  'p',  'l', 'e', 3, 'c', 'o', 'm', 0, // example.com @0
	3, 's', 'u', 'b', 0xc0, 0x00,                                // sub + ptr to 0
	7, 'e', 'x', 'a', 'm',  'p',  'l', 'e', 3, 'o', 'r', 'g', 0, // example.org
};

// Common checks of OFFER/ACK: header and the configuration options.
void expect_config(const Reply &r, uint8_t type) {
	EXPECT_EQ(r.op, 2);
	EXPECT_EQ(r.htype, 1);
	EXPECT_EQ(r.hlen, 6);
	EXPECT_EQ(r.hops, 0);
	EXPECT_EQ(r.xid, 0x12345678u);
	EXPECT_EQ(r.secs, 0);
	EXPECT_EQ(r.siaddr, Ipv4Addr{});
	EXPECT_EQ(r.chaddr, guest_mac);
	EXPECT_EQ(r.eth_src, our_mac);
	EXPECT_EQ(r.ip_src, gw_ip);
	EXPECT_EQ(r.sport, 67);
	EXPECT_EQ(r.dport, 68);
	EXPECT_GE(r.msg_len, 300u);
	EXPECT_LE(r.ip_len, 576u);
	ASSERT_FALSE(r.order.empty());
	EXPECT_EQ(r.order[0], 53);
	EXPECT_EQ(r.opt.at(53), U8s{type});
	EXPECT_EQ(r.opt.at(54), ip_bytes(gw_ip));
	EXPECT_EQ(r.opt.at(1), (U8s{255, 255, 255, 0}));
	EXPECT_EQ(r.opt.at(3), ip_bytes(gw_ip));
	EXPECT_EQ(r.opt.at(6), (U8s{192, 0, 2, 53, 198, 51, 100, 53}));
	EXPECT_EQ(r.opt.at(26), (U8s{0xff, 0xf0}));
	EXPECT_EQ(r.opt.at(12), (U8s{'g', 'u', 'e', 's', 't'}));
	EXPECT_EQ(r.opt.at(119), search_wire);
	EXPECT_FALSE(r.has(121)); // gateway on the subnet
	EXPECT_FALSE(r.has(15));
	EXPECT_FALSE(r.has(81)); // client did not send or ask for it
	EXPECT_FALSE(r.has(58)); // no T1/T2 with an infinite lease
	EXPECT_FALSE(r.has(59));
}

TEST_F(DhcpTest, DiscoverGetsOfferUnicastToChaddr) {
	Reply r = exchange(Req().type(1));
	expect_config(r, 2);
	EXPECT_EQ(r.yiaddr, guest_ip);
	EXPECT_EQ(r.ciaddr, Ipv4Addr{});
	EXPECT_EQ(r.flags, 0);
	EXPECT_EQ(r.opt.at(51), (U8s{0xff, 0xff, 0xff, 0xff}));
	// RFC 2131 4.1: no broadcast bit, no ciaddr: unicast to yiaddr/chaddr.
	EXPECT_EQ(r.ip_dst, guest_ip);
	EXPECT_EQ(r.eth_dst, guest_mac);
	EXPECT_EQ(r.order.size(), r.opt.size()); // every option once
	EXPECT_FALSE(r.has(80));
	EXPECT_EQ(dhcp_stats().offers, 1u);
	EXPECT_TRUE(st.guest_mac_seen);
	EXPECT_EQ(st.guest_mac, guest_mac);
}

TEST_F(DhcpTest, BroadcastFlagGetsBroadcastReply) {
	Req q;
	q.flags = 0x8000;
	Reply r = exchange(q.type(1));
	expect_config(r, 2);
	EXPECT_EQ(r.flags, 0x8000);
	EXPECT_EQ(r.ip_dst, Ipv4Addr::broadcast());
	EXPECT_EQ(r.eth_dst, MacAddr::broadcast());
}

TEST_F(DhcpTest, RequestSelectingGetsAck) {
	Req q;
	q.type(3).opt(50, ip_bytes(guest_ip)).opt(54, ip_bytes(gw_ip));
	Reply r = exchange(q);
	expect_config(r, 5);
	EXPECT_EQ(r.yiaddr, guest_ip);
	EXPECT_EQ(r.opt.at(51), (U8s{0xff, 0xff, 0xff, 0xff}));
	EXPECT_EQ(r.ip_dst, guest_ip);
	EXPECT_EQ(dhcp_stats().acks, 1u);
}

TEST_F(DhcpTest, RequestRenewingUnicastToCiaddr) {
	Req q;
	q.ciaddr = guest_ip;
	q.flags = 0x8000; // ciaddr wins over the broadcast bit
	Reply r = exchange(q.type(3));
	expect_config(r, 5);
	EXPECT_EQ(r.ciaddr, guest_ip);
	EXPECT_EQ(r.yiaddr, guest_ip);
	EXPECT_EQ(r.ip_dst, guest_ip);
	EXPECT_EQ(r.eth_dst, guest_mac);
}

TEST_F(DhcpTest, RequestWithoutAnyAddressGetsAck) {
	Reply r = exchange(Req().type(3));
	expect_config(r, 5);
	EXPECT_EQ(r.yiaddr, guest_ip);
}

void expect_nak(const Reply &r) {
	EXPECT_EQ(r.op, 2);
	EXPECT_EQ(r.xid, 0x12345678u);
	EXPECT_EQ(r.yiaddr, Ipv4Addr{});
	EXPECT_EQ(r.ciaddr, Ipv4Addr{});
	EXPECT_EQ(r.siaddr, Ipv4Addr{});
	EXPECT_EQ(r.chaddr, guest_mac);
	EXPECT_EQ(r.ip_dst, Ipv4Addr::broadcast());
	EXPECT_EQ(r.eth_dst, MacAddr::broadcast());
	EXPECT_EQ(r.ip_src, gw_ip);
	EXPECT_EQ(r.opt.at(53), U8s{6});
	EXPECT_EQ(r.opt.at(54), ip_bytes(gw_ip));
	ASSERT_TRUE(r.has(56));
	EXPECT_FALSE(r.opt.at(56).empty());
	EXPECT_EQ(r.opt.size(), 3u); // nothing else
	EXPECT_GE(r.msg_len, 300u);
}

TEST_F(DhcpTest, RequestForOtherAddressGetsNak) {
	Req q;
	q.type(3).opt(50, ip_bytes(other_ip));
	expect_nak(exchange(q));
	EXPECT_EQ(dhcp_stats().naks, 1u);
}

TEST_F(DhcpTest, RenewOfOtherAddressGetsNak) {
	Req q;
	q.ciaddr = other_ip;
	expect_nak(exchange(q.type(3)));
}

TEST_F(DhcpTest, RequestForAnotherServerIsIgnored) {
	Req q;
	q.type(3).opt(50, ip_bytes(guest_ip)).opt(54, ip_bytes(other_ip));
	expect_none(q);
	EXPECT_EQ(dhcp_stats().ignored, 1u);
}

TEST_F(DhcpTest, InformGetsAckWithoutAddress) {
	Req q;
	q.ciaddr = guest_ip;
	Reply r = exchange(q.type(8));
	expect_config(r, 5);
	EXPECT_EQ(r.yiaddr, Ipv4Addr{});
	EXPECT_EQ(r.ciaddr, guest_ip);
	EXPECT_FALSE(r.has(51)); // RFC 2131 table 3: no lease time
	EXPECT_EQ(r.ip_dst, guest_ip);
	EXPECT_EQ(r.eth_dst, guest_mac);
}

TEST_F(DhcpTest, ReleaseDeclineAndServerTypesIgnored) {
	for (uint8_t t : {4, 7, 2, 5, 6, 9, 200}) {
		Req q;
		q.ciaddr = guest_ip;
		expect_none(q.type(t));
	}
	EXPECT_EQ(dhcp_stats().ignored, 7u);
	EXPECT_EQ(dhcp_stats().malformed, 0u);
}

TEST_F(DhcpTest, RapidCommitDiscoverGetsAck) {
	Req q;
	q.type(1).opt(80, {});
	Reply r = exchange(q);
	expect_config(r, 5);
	EXPECT_EQ(r.opt.at(80), U8s{});
	EXPECT_EQ(r.yiaddr, guest_ip);
}

TEST_F(DhcpTest, ParameterRequestListOrdersOptions) {
	Req q;
	q.type(1).opt(55, {3, 1, 119, 6, 42});
	Reply r = exchange(q);
	expect_config(r, 2);
	// 53 first, then the list (42 we don't have), then the rest by code.
	EXPECT_EQ(r.order, (std::vector<uint8_t>{53, 3, 1, 119, 6, 12, 26, 51, 54}));

	Req q2;
	q2.type(1).opt(55, {1, 53, 3});
	r = exchange(q2);
	EXPECT_EQ(r.order, (std::vector<uint8_t>{1, 53, 3, 6, 12, 26, 51, 54, 119}));
}

TEST_F(DhcpTest, ClientFqdnAnsweredOnlyWhenAsked) {
	Req q;
	q.type(1).opt(81, {0, 0, 0});
	Reply r = exchange(q);
	U8s want = {0x04, 0xff, 0xff, 5,   'g', 'u', 'e', 's', 't', 7,   'e',
		    'x',  'a',  'm',  'p', 'l', 'e', 3,   'c', 'o', 'm', 0};
	EXPECT_EQ(r.opt.at(81), want);
	Req q2;
	q2.type(1).opt(55, {81});
	EXPECT_EQ(exchange(q2).opt.at(81), want);
}

TEST_F(DhcpTest, GatewayOffSubnetGetsClasslessRoutes) {
	c.ip4.gw = Ipv4Addr::from_host(0xcb007101); // 203.0.113.1
	Reply r = exchange(Req().type(1));
	EXPECT_EQ(r.opt.at(121), (U8s{32, 203, 0, 113, 1, 0, 0, 0, 0, 0, 203, 0, 113, 1}));
	EXPECT_EQ(r.opt.at(3), (U8s{203, 0, 113, 1}));
	EXPECT_EQ(r.opt.at(54), (U8s{203, 0, 113, 1}));
	EXPECT_EQ(r.ip_src, c.ip4.gw);
}

TEST_F(DhcpTest, OptionalOptionsFollowConfig) {
	c.no_dhcp_dns = true;
	c.no_dhcp_dns_search = true;
	c.mtu = 0;
	c.hostname.clear();
	Reply r = exchange(Req().type(1));
	EXPECT_FALSE(r.has(6));
	EXPECT_FALSE(r.has(119));
	EXPECT_FALSE(r.has(26));
	EXPECT_FALSE(r.has(12));
	EXPECT_TRUE(r.has(1));
	EXPECT_TRUE(r.has(3));

	c = make_config();
	c.ip4.dns.clear();
	c.dns_search.clear();
	c.mtu = 1500;
	r = exchange(Req().type(1));
	EXPECT_FALSE(r.has(6));
	EXPECT_FALSE(r.has(119));
	EXPECT_EQ(r.opt.at(26), (U8s{0x05, 0xdc}));

	c = make_config();
	c.ip4.dns = {Ipv4Addr{}, dns2}; // unspecified entries are skipped
	EXPECT_EQ(exchange(Req().type(1)).opt.at(6), ip_bytes(dns2));
}

TEST_F(DhcpTest, NoDhcpConsumesSilently) {
	c.no_dhcp = true;
	expect_none(Req().type(1));
	c = make_config();
	c.ip4.enabled = false;
	expect_none(Req().type(1));
}

TEST_F(DhcpTest, BootpRequestGetsBootpReply) {
	Reply r = exchange(Req()); // no option 53
	EXPECT_EQ(r.op, 2);
	EXPECT_EQ(r.yiaddr, guest_ip);
	EXPECT_FALSE(r.has(53));
	EXPECT_FALSE(r.has(54));
	EXPECT_FALSE(r.has(51));
	EXPECT_EQ(r.opt.at(1), (U8s{255, 255, 255, 0}));
	EXPECT_EQ(r.opt.at(3), ip_bytes(gw_ip));
	EXPECT_GE(r.msg_len, 300u);
}

TEST_F(DhcpTest, RelayedRequestGoesToRelay) {
	Req q;
	q.giaddr = other_ip;
	MacAddr relay_mac{{0x02, 1, 2, 3, 4, 5}};
	tap.frames.clear();
	EXPECT_TRUE(input(udp_frame(q.type(1).bytes(), 67, other_ip, gw_ip, relay_mac)));
	ASSERT_EQ(tap.frames.size(), 1u);
	Reply r;
	ASSERT_TRUE(parse_reply(tap.frames[0], r));
	EXPECT_EQ(r.giaddr, other_ip);
	EXPECT_EQ(r.ip_dst, other_ip);
	EXPECT_EQ(r.dport, 67);
	EXPECT_EQ(r.eth_dst, relay_mac);
}

TEST_F(DhcpTest, LongSearchListFitsTheClientsLimit) {
	c.dns_search.clear();
	for (int i = 0; i < 40; i++)
		c.dns_search.push_back("zone" + std::to_string(i) + ".department.example.net");
	// Default limit: 576-byte datagram, names cut at a boundary.
	Reply r = exchange(Req().type(1));
	EXPECT_LE(r.ip_len, 576u);
	ASSERT_TRUE(r.has(119));
	auto names = decode_names(r.opt.at(119));
	ASSERT_GT(names.size(), 3u);
	ASSERT_LT(names.size(), 40u);
	for (size_t i = 0; i < names.size(); i++)
		EXPECT_EQ(names[i], c.dns_search[i]);
	EXPECT_TRUE(r.has(6)); // more important options stay
	EXPECT_TRUE(r.has(12));

	// With option 57 the client takes all of it, split over 255-byte options.
	Req q;
	q.type(1).opt(57, {0x05, 0xdc});
	r = exchange(q);
	EXPECT_LE(r.ip_len, 1500u);
	EXPECT_GT(r.ip_len, 576u);
	ASSERT_GT(r.opt.at(119).size(), 255u);
	EXPECT_EQ(decode_names(r.opt.at(119)), c.dns_search);
}

TEST_F(DhcpTest, SmallMtuCapsReply) {
	c.mtu = 576;
	Req q;
	q.type(1).opt(57, {0xff, 0xff});
	c.dns_search.assign(30, "a-rather-long-label-for-a-search-domain.example");
	Reply r = exchange(q);
	EXPECT_LE(r.ip_len, 576u);
}

U8s as_u8s(const std::byte *b, size_t n) {
	return U8s(reinterpret_cast<const uint8_t *>(b), reinterpret_cast<const uint8_t *>(b) + n);
}

TEST_F(DhcpTest, EncodeNames) {
	std::byte buf[256];
	std::vector<std::string> names = {"example.com", "sub.example.com", "example.org"};
	size_t n = dhcp_encode_names(names, buf, true);
	EXPECT_EQ(as_u8s(buf, n), search_wire);

	// Case-insensitive compression, trailing dot, invalid names skipped.
	names = {"Example.COM.", "", "a..b", std::string(64, 'x') + ".com", "www.example.com"};
	n = dhcp_encode_names(names, buf, true);
	U8s want = {7,   'E', 'x', 'a', 'm', 'p', 'l', 'e',  3, 'C',
		    'O', 'M', 0,   3,   'w', 'w', 'w', 0xc0, 0};
	EXPECT_EQ(as_u8s(buf, n), want);

	// Without compression: plain labels.
	names = {"a.b", "c.a.b"};
	n = dhcp_encode_names(names, buf, false);
	want = {1, 'a', 1, 'b', 0, 1, 'c', 1, 'a', 1, 'b', 0};
	EXPECT_EQ(as_u8s(buf, n), want);

	// Stops before a name that does not fit.
	n = dhcp_encode_names(names, std::span<std::byte>(buf, 8), false);
	EXPECT_EQ(n, 5u);
	// Over 255 bytes in wire format: skipped.
	std::string big;
	for (int i = 0; i < 5; i++)
		big += std::string(60, 'q') + ".";
	names = {big, "ok"};
	n = dhcp_encode_names(names, buf, true);
	EXPECT_EQ(n, 4u);
}

TEST_F(DhcpTest, NotOursIsLeftAlone) {
	Bytes f = udp_frame(Req().type(1).bytes(), 53);
	EXPECT_FALSE(input(f)); // other port
	f = udp_frame(Req().type(1).bytes());
	f[23] = std::byte(6); // TCP
	EXPECT_FALSE(input(f));
	f = udp_frame(Req().type(1).bytes());
	f[12] = std::byte(0x86);
	f[13] = std::byte(0xdd);
	EXPECT_FALSE(input(f));
	f = udp_frame(Req().type(1).bytes());
	f[20] = std::byte(0x00);
	f[21] = std::byte(0x10); // non-first fragment: not even a UDP header
	EXPECT_FALSE(input(f));
	EXPECT_TRUE(tap.frames.empty());
	EXPECT_EQ(dhcp_stats().malformed, 0u);
}

TEST_F(DhcpTest, TruncatedFramesNeverAnswered) {
	Bytes f = udp_frame(Req().type(1).bytes());
	for (size_t n = 0; n < f.size(); n++) {
		Bytes t(f.begin(), f.begin() + n);
		bool consumed = input(t);
		// The IP total length lies now: nothing parses as UDP to port 67.
		EXPECT_FALSE(consumed) << n;
	}
	EXPECT_TRUE(tap.frames.empty());
}

// Each case: a frame from a valid DISCOVER with one thing wrong.
struct Broken {
	const char *what;
	Bytes frame;
};

std::vector<Broken> broken_frames() {
	std::vector<Broken> v;
	auto with_udp_len = [](Bytes f, size_t msg_len) {
		// Cut the message to msg_len, fix up IP/UDP lengths and checksums.
		Bytes msg(f.begin() + 42, f.begin() + 42 + msg_len);
		return udp_frame(msg);
	};
	Bytes ok = udp_frame(Req().type(1).bytes());

	v.push_back({"message shorter than the fixed part", with_udp_len(ok, 100)});
	v.push_back({"message ends before the cookie", with_udp_len(ok, 238)});
	Bytes f = ok;
	f[38] = std::byte(0x02); // UDP length 0x2xx > IP payload
	v.push_back({"UDP length past IP payload", f});
	f = ok;
	f[38] = std::byte(0);
	f[39] = std::byte(4);
	v.push_back({"UDP length below header", f});
	f = ok;
	f[20] = std::byte(0x20); // more fragments
	v.push_back({"first fragment", f});

	Req q;
	q.op = 2;
	v.push_back({"BOOTREPLY from guest", udp_frame(q.type(1).bytes())});
	q = Req();
	q.htype = 6;
	v.push_back({"htype not Ethernet", udp_frame(q.type(1).bytes())});
	q = Req();
	q.hlen = 16;
	v.push_back({"hlen not 6", udp_frame(q.type(1).bytes())});
	q = Req();
	q.cookie = false;
	v.push_back({"no magic cookie", udp_frame(q.type(1).bytes())});

	q = Req();
	q.type(1).options.insert(q.options.end(), {12, 200, 'x'});
	q.end = false;
	q.pad_to = 0;
	v.push_back({"option length past the end", udp_frame(q.bytes())});
	q = Req();
	q.type(1).options.push_back(12);
	q.end = false;
	q.pad_to = 0;
	v.push_back({"option header truncated", udp_frame(q.bytes())});
	q = Req();
	q.opt(53, {1, 1});
	v.push_back({"message type of length 2", udp_frame(q.bytes())});
	q = Req();
	q.opt(53, {});
	v.push_back({"message type of length 0", udp_frame(q.bytes())});
	q = Req();
	q.type(0);
	v.push_back({"message type 0", udp_frame(q.bytes())});
	q = Req();
	q.type(1).type(3);
	v.push_back({"duplicate message type", udp_frame(q.bytes())});
	q = Req();
	q.type(3).opt(50, {192, 0, 2});
	v.push_back({"requested address of length 3", udp_frame(q.bytes())});
	q = Req();
	q.type(3).opt(54, {192, 0, 2, 1, 0});
	v.push_back({"server id of length 5", udp_frame(q.bytes())});
	q = Req();
	q.type(1).opt(57, {2});
	v.push_back({"max size of length 1", udp_frame(q.bytes())});
	q = Req();
	q.type(1).opt(80, {1});
	v.push_back({"rapid commit with data", udp_frame(q.bytes())});
	return v;
}

TEST_F(DhcpTest, MalformedDroppedAndCounted) {
	uint64_t n = 0;
	for (const Broken &b : broken_frames()) {
		EXPECT_TRUE(input(b.frame)) << b.what;
		EXPECT_EQ(dhcp_stats().malformed, ++n) << b.what;
		EXPECT_TRUE(tap.frames.empty()) << b.what;
	}
	EXPECT_FALSE(st.guest_mac_seen);
}

TEST_F(DhcpTest, ParserReportsWhy) {
	const char *why = nullptr;
	Bytes m = Req().type(1).bytes();
	EXPECT_TRUE(dhcp_parse(m, &why).has_value());
	m[236] = std::byte(0);
	EXPECT_FALSE(dhcp_parse(m, &why).has_value());
	ASSERT_NE(why, nullptr);
	EXPECT_NE(std::string(why).find("cookie"), std::string::npos);
	// Every truncation of the fixed part fails, none reads past the end.
	m = Req().type(1).bytes();
	for (size_t n = 0; n < 240; n++)
		EXPECT_FALSE(dhcp_parse(std::span<const std::byte>(m.data(), n)).has_value()) << n;
	// Cut right after the cookie: no options, no end, still a BOOTP request.
	auto r = dhcp_parse(std::span<const std::byte>(m.data(), 240));
	ASSERT_TRUE(r.has_value());
	EXPECT_EQ(r->type, dhcp::MsgType::None);
	// Pads before options and trailing garbage after the end are fine.
	Req q;
	q.options = {0, 0, 53, 1, 3, 0, 50, 4, 192, 0, 2, 10};
	m = q.bytes();
	m.push_back(std::byte(0x77));
	r = dhcp_parse(m);
	ASSERT_TRUE(r.has_value());
	EXPECT_EQ(r->type, dhcp::MsgType::Request);
	EXPECT_EQ(r->requested_addr, guest_ip);
}

TEST_F(DhcpTest, SendFailureCounted) {
	tap.refuse = true;
	EXPECT_TRUE(input(udp_frame(Req().type(1).bytes())));
	EXPECT_EQ(dhcp_stats().send_failed, 1u);
	EXPECT_EQ(dhcp_stats().offers, 0u);
}

TEST_F(DhcpTest, ReplyDestinationRules) {
	DhcpRequest q;
	std::memcpy(q.chaddr.data(), guest_mac.b.data(), 6);
	MacAddr peer{{0x02, 9, 9, 9, 9, 9}};
	auto d = dhcp_reply_dest(q, DhcpAction::Offer, guest_ip, peer);
	EXPECT_EQ(d.ip, guest_ip);
	EXPECT_EQ(d.mac, guest_mac);
	EXPECT_EQ(d.port, 68);
	d = dhcp_reply_dest(q, DhcpAction::Nak, Ipv4Addr{}, peer);
	EXPECT_EQ(d.ip, Ipv4Addr::broadcast());
	q.chaddr.fill(0); // no usable chaddr: fall back to the frame's source
	d = dhcp_reply_dest(q, DhcpAction::Ack, guest_ip, peer);
	EXPECT_EQ(d.mac, peer);
}

// DISCOVERs captured from real clients on a veth pair inside `unshare -rn`
// (MAC 52:54:00:12:34:56, neither sets the broadcast flag).
// busybox 1.35.0 `udhcpc -i va -n -q -t 1`:
const char *udhcpc_discover =
	"ffffffffffff52540012345608004500014800000000401179a600000000ffffffff00440043"
	"0134a31e01010600af08a36c0000000000000000000000000000000000000000525400123456"
	"0000000000000000000000000000000000000000000000000000000000000000000000000000"
	"0000000000000000000000000000000000000000000000000000000000000000000000000000"
	"0000000000000000000000000000000000000000000000000000000000000000000000000000"
	"0000000000000000000000000000000000000000000000000000000000000000000000000000"
	"0000000000000000000000000000000000000000000000000000000000000000000000000000"
	"000000000000000000000000638253633501013902024037070103060c0f1c2a3c0c75646863"
	"7020312e33352e303d0701525400123456ff0000000000000000000000000000000000000000";
// ISC dhclient 4.4.3-P1 `dhclient -1 -d va`:
const char *dhclient_discover =
	"ffffffffffff525400123456080045100148000000008011399600000000ffffffff00440043"
	"01348c48010106005e4842160000000000000000000000000000000000000000525400123456"
	"0000000000000000000000000000000000000000000000000000000000000000000000000000"
	"0000000000000000000000000000000000000000000000000000000000000000000000000000"
	"0000000000000000000000000000000000000000000000000000000000000000000000000000"
	"0000000000000000000000000000000000000000000000000000000000000000000000000000"
	"0000000000000000000000000000000000000000000000000000000000000000000000000000"
	"000000000000000000000000638253633501010c02766d370d011c02030f06770c2c2f1a792a"
	"ff00000000000000000000000000000000000000000000000000000000000000000000000000";

TEST_F(DhcpTest, RealUdhcpcDiscover) {
	Bytes f = hex(udhcpc_discover);
	ASSERT_EQ(f.size(), 342u);
	EXPECT_TRUE(input(f));
	ASSERT_EQ(tap.frames.size(), 1u);
	Reply r;
	ASSERT_TRUE(parse_reply(tap.frames[0], r));
	EXPECT_EQ(r.op, 2);
	EXPECT_EQ(r.xid, 0xaf08a36cu);
	EXPECT_EQ(r.opt.at(53), U8s{2});
	EXPECT_EQ(r.yiaddr, guest_ip);
	EXPECT_EQ(r.chaddr, guest_mac);
	EXPECT_EQ(r.ip_dst, guest_ip);
	EXPECT_EQ(r.eth_dst, guest_mac);
	EXPECT_LE(r.ip_len, 576u); // its option 57 says 576
	// Its parameter list: 1 3 6 12 15 28 42 (15, 28, 42: we have none).
	EXPECT_EQ(r.order, (std::vector<uint8_t>{53, 1, 3, 6, 12, 26, 51, 54, 119}));
	EXPECT_EQ(r.opt.at(1), (U8s{255, 255, 255, 0}));
	EXPECT_EQ(r.opt.at(3), ip_bytes(gw_ip));
	EXPECT_EQ(r.opt.at(54), ip_bytes(gw_ip));
	EXPECT_EQ(r.opt.at(6), (U8s{192, 0, 2, 53, 198, 51, 100, 53}));
	EXPECT_EQ(r.opt.at(119), search_wire);
	EXPECT_EQ(st.guest_mac, guest_mac);
}

TEST_F(DhcpTest, RealDhclientDiscover) {
	Bytes f = hex(dhclient_discover);
	ASSERT_EQ(f.size(), 342u);
	EXPECT_TRUE(input(f));
	ASSERT_EQ(tap.frames.size(), 1u);
	Reply r;
	ASSERT_TRUE(parse_reply(tap.frames[0], r));
	EXPECT_EQ(r.xid, 0x5e484216u);
	EXPECT_EQ(r.opt.at(53), U8s{2});
	EXPECT_EQ(r.yiaddr, guest_ip);
	EXPECT_EQ(r.ip_dst, guest_ip);
	EXPECT_EQ(r.eth_dst, guest_mac);
	// Its list: 1 28 2 3 15 6 119 12 44 47 26 121 42.
	EXPECT_EQ(r.order, (std::vector<uint8_t>{53, 1, 3, 6, 119, 12, 26, 51, 54}));
	EXPECT_EQ(r.opt.at(26), (U8s{0xff, 0xf0}));
	EXPECT_EQ(r.opt.at(51), (U8s{0xff, 0xff, 0xff, 0xff}));
}

} // namespace
