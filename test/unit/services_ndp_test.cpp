// Tests for the NDP responder: crafted and captured (Linux kernel) Router
// and Neighbour Solicitations, every field of the answers, validation
// failures, DAD, learning and the unsolicited RA schedule.
#include "passt/services/ndp.h"

#include <gtest/gtest.h>

#include "capture_tap.h"

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "passt/conf/config.h"
#include "passt/core/log.h"
#include "passt/net/build.h"
#include "passt/net/checksum.h"
#include "passt/net/eth.h"
#include "passt/net/icmpv6.h"
#include "passt/net/ip6.h"
#include "passt/services/dns_name.h"
#include "passt/tap/output.h"
#include "support/frames.h"

using namespace passt;

namespace {

using Bytes = std::vector<std::byte>;

using passt::test::CaptureTap;

Ipv6Addr ip6(const char *s) { return *Ipv6Addr::parse(s); }
MacAddr mac(const char *s) { return *MacAddr::parse(s); }

const MacAddr our_mac = mac("9a:55:9a:55:9a:55");
const MacAddr guest_mac = mac("52:54:00:12:34:56");
const Ipv6Addr guest_ll = ip6("fe80::5054:ff:fe12:3456");
const Ipv6Addr all_routers = ip6("ff02::2");
const Ipv6Addr all_nodes = ip6("ff02::1");
const MacAddr all_nodes_mac = mac("33:33:00:00:00:01");

Config make_config() {
	Config c;
	c.our_tap_mac = our_mac;
	c.mtu = 65520;
	c.ip6.addr = ip6("2001:db8:0:1::5");
	c.ip6.prefix_len = 64;
	c.ip6.gw = ip6("fe80::1");
	c.ip6.our_tap_ll = ip6("fe80::1");
	c.ip6.map_host_loopback = ip6("fe80::1");
	c.ip6.dns = {ip6("2001:db8::53"), ip6("2001:db8::54")};
	c.dns_search = {"example.org", "test.example."};
	return c;
}

Bytes hex(const std::string &h) {
	Bytes b;
	for (size_t i = 0; i + 1 < h.size(); i += 2)
		b.push_back(std::byte(std::stoul(h.substr(i, 2), nullptr, 16)));
	return b;
}

// ICMPv6 frame with a valid checksum; body = everything after the checksum.
Bytes icmp6_frame(const MacAddr &src_mac, const MacAddr &dst_mac, const Ipv6Addr &saddr,
		  const Ipv6Addr &daddr, uint8_t type, const Bytes &body, uint8_t hop = 255,
		  uint8_t code = 0) {
	Bytes buf(2048);
	size_t n = build_icmp6(buf, dst_mac, src_mac, saddr, daddr, type, code, body, hop);
	EXPECT_GT(n, 0u);
	buf.resize(n);
	return buf;
}

Bytes slla(const MacAddr &m, uint8_t type = ndp::opt_source_lladdr) {
	Bytes o = {std::byte(type), std::byte{1}};
	for (uint8_t b : m.b)
		o.push_back(std::byte(b));
	return o;
}

// RS body: 4 reserved bytes, then options.
Bytes rs_body(const Bytes &opts = {}) {
	Bytes b(4);
	b.insert(b.end(), opts.begin(), opts.end());
	return b;
}

// NS body: 4 reserved bytes, target, options.
Bytes ns_body(const Ipv6Addr &target, const Bytes &opts = {}) {
	Bytes b(4);
	for (uint8_t x : target.b)
		b.push_back(std::byte(x));
	b.insert(b.end(), opts.begin(), opts.end());
	return b;
}

Bytes rs_from_guest(const Bytes &opts = slla(guest_mac)) {
	return icmp6_frame(guest_mac, mac("33:33:00:00:00:02"), guest_ll, all_routers,
			   icmp6type::router_solicit, rs_body(opts));
}

Bytes ns_from_guest(const Ipv6Addr &target, const Ipv6Addr &src = guest_ll) {
	return icmp6_frame(guest_mac, mac("33:33:ff:00:00:01"), src, target.solicited_node(),
			   icmp6type::neighbor_solicit, ns_body(target, slla(guest_mac)));
}

// A frame we sent, taken apart, with every check that applies to all of them.
// Its spans point into the frame, which must outlive it.
struct Sent {
	MacAddr eth_dst, eth_src;
	Ipv6Addr saddr, daddr;
	uint8_t hop = 0;
	std::span<const std::byte> msg; // ICMPv6 message, inside the frame taken apart
	std::vector<tlv::Option> opts;
	uint8_t type() const { return uint8_t(msg[0]); }
	uint8_t code() const { return uint8_t(msg[1]); }
};

Sent take_apart(const Bytes &frame) {
	Sent s;
	auto eth = ConstEthView::parse(frame);
	EXPECT_TRUE(eth);
	if (!eth)
		return s;
	EXPECT_EQ(eth->ethertype(), ethertype::ipv6);
	EXPECT_LE(frame.size(), 14u + 1280u);
	s.eth_dst = eth->dst();
	s.eth_src = eth->src();
	auto ip = ConstIp6View::parse(eth->payload());
	EXPECT_TRUE(ip);
	if (!ip)
		return s;
	EXPECT_EQ(ip->proto(), ipproto::icmpv6);
	EXPECT_EQ(ip->bytes().size(), eth->payload().size()); // no trailing bytes
	s.saddr = ip->saddr();
	s.daddr = ip->daddr();
	s.hop = ip->hop_limit();
	auto icmp = ConstIcmp6View::parse(ip->l4());
	EXPECT_TRUE(icmp);
	if (!icmp)
		return s;
	EXPECT_TRUE(icmp->checksum_ok(s.saddr, s.daddr));
	s.msg = icmp->bytes();
	size_t off = s.type() == icmp6type::router_advert ? ndp::ra_opts_off : ndp::na_opts_off;
	EXPECT_GE(s.msg.size(), off);
	if (s.msg.size() < off)
		return s;
	auto opts = s.msg.subspan(off);
	EXPECT_TRUE(tlv::for_each<tlv::Ndp>(opts, [&](const tlv::Option &o) {
		s.opts.push_back(o);
		return true;
	}));
	return s;
}

// The options of s by type; each type must appear at most once.
std::map<uint8_t, std::span<const std::byte>> by_type(const Sent &s) {
	std::map<uint8_t, std::span<const std::byte>> m;
	for (const auto &o : s.opts) {
		EXPECT_EQ(m.count(uint8_t(o.code)), 0u) << "option " << int(o.code) << " twice";
		m[uint8_t(o.code)] = o.bytes;
	}
	return m;
}

uint32_t be32_at(std::span<const std::byte> b, size_t off) { return load_be32(b.data() + off); }
uint16_t be16_at(std::span<const std::byte> b, size_t off) { return load_be16(b.data() + off); }
Ipv6Addr addr_at(std::span<const std::byte> b, size_t off) {
	Ipv6Addr a;
	std::memcpy(a.b.data(), b.data() + off, 16);
	return a;
}

// Names in a DNSSL option, checking the zero padding after them.
std::vector<std::string> dnssl_names(std::span<const std::byte> opt) {
	std::vector<std::string> names;
	size_t pos = 8;
	while (pos < opt.size() && opt[pos] != std::byte{0}) {
		char text[256];
		auto d = dns_name_decode(opt.subspan(pos), text);
		EXPECT_TRUE(d);
		if (!d)
			break;
		names.emplace_back(text, d->text_len);
		pos += d->consumed;
	}
	for (; pos < opt.size(); pos++)
		EXPECT_EQ(opt[pos], std::byte{0}) << "padding at " << pos;
	return names;
}

class NdpTest : public ::testing::Test {
protected:
	void SetUp() override {
		ndp_stats_reset();
		saved_level = log_level();
		log_set_level(LogLevel::Error); // no per-message lines in test output
	}
	void TearDown() override { log_set_level(saved_level); }
	LogLevel saved_level = LogLevel::Info;
	Config c = make_config();
	TapState st;
	CaptureTap tap;
};

// Full check of an RA built from make_config().
void check_full_ra(const Sent &s, const Ipv6Addr &dst, const MacAddr &dst_mac) {
	EXPECT_EQ(s.eth_dst, dst_mac);
	EXPECT_EQ(s.eth_src, our_mac);
	EXPECT_EQ(s.saddr, ip6("fe80::1"));
	EXPECT_EQ(s.daddr, dst);
	EXPECT_EQ(s.hop, 255);
	EXPECT_EQ(s.type(), icmp6type::router_advert);
	EXPECT_EQ(s.code(), 0);
	ASSERT_GE(s.msg.size(), 16u);
	EXPECT_EQ(uint8_t(s.msg[4]), 255);                             // cur hop limit
	EXPECT_EQ(uint8_t(s.msg[5]), ndp::ra_managed | ndp::ra_other); // M, O
	EXPECT_EQ(be16_at(s.msg, 6), 65535);                           // router lifetime
	EXPECT_EQ(be32_at(s.msg, 8), 0u);                              // reachable time
	EXPECT_EQ(be32_at(s.msg, 12), 0u);                             // retrans timer

	auto o = by_type(s);
	EXPECT_EQ(o.size(), 5u);
	ASSERT_TRUE(o.count(ndp::opt_source_lladdr));
	EXPECT_EQ(*ndp_lladdr(
			  *tlv::find<tlv::Ndp>(o[ndp::opt_source_lladdr], ndp::opt_source_lladdr)),
		  our_mac);

	ASSERT_TRUE(o.count(ndp::opt_mtu));
	EXPECT_EQ(o[ndp::opt_mtu].size(), 8u);
	EXPECT_EQ(be32_at(o[ndp::opt_mtu], 4), 65520u);

	ASSERT_TRUE(o.count(ndp::opt_prefix_info));
	auto pi = o[ndp::opt_prefix_info];
	ASSERT_EQ(pi.size(), 32u);
	EXPECT_EQ(uint8_t(pi[2]), 64);
	EXPECT_EQ(uint8_t(pi[3]), ndp::pi_onlink | ndp::pi_autonomous);
	EXPECT_EQ(be32_at(pi, 4), 0xffffffffu);
	EXPECT_EQ(be32_at(pi, 8), 0xffffffffu);
	EXPECT_EQ(be32_at(pi, 12), 0u);
	EXPECT_EQ(addr_at(pi, 16), ip6("2001:db8:0:1::")); // host part cleared

	ASSERT_TRUE(o.count(ndp::opt_rdnss));
	auto rd = o[ndp::opt_rdnss];
	ASSERT_EQ(rd.size(), 8u + 32u);
	EXPECT_EQ(be32_at(rd, 4), 0xffffffffu);
	EXPECT_EQ(addr_at(rd, 8), ip6("2001:db8::53"));
	EXPECT_EQ(addr_at(rd, 24), ip6("2001:db8::54"));

	ASSERT_TRUE(o.count(ndp::opt_dnssl));
	auto sl = o[ndp::opt_dnssl];
	EXPECT_EQ(sl.size() % 8, 0u);
	EXPECT_EQ(be32_at(sl, 4), 0xffffffffu);
	EXPECT_EQ(dnssl_names(sl), (std::vector<std::string>{"example.org", "test.example"}));
}

} // namespace

TEST_F(NdpTest, RouterSolicitationGetsFullAdvertisement) {
	EXPECT_TRUE(ndp_input(c, st, rs_from_guest(), tap));
	ASSERT_EQ(tap.frames.size(), 1u);
	check_full_ra(take_apart(tap.frames[0]), guest_ll, guest_mac);
	EXPECT_EQ(ndp_stats().ra_sent, 1u);
}

TEST_F(NdpTest, RouterSolicitationWithoutOptions) {
	EXPECT_TRUE(ndp_input(c, st, rs_from_guest(Bytes{}), tap));
	ASSERT_EQ(tap.frames.size(), 1u);
	check_full_ra(take_apart(tap.frames[0]), guest_ll, guest_mac);
}

TEST_F(NdpTest, KernelRouterSolicitation) {
	// Linux 6.x, captured on a veth with MAC 52:54:00:12:34:56.
	Bytes f = hex("33330000000252540012345686dd6000000000103afffe800000000000005054"
		      "00fffe123456ff020000000000000000000000000002850071b5000000000101"
		      "525400123456");
	EXPECT_TRUE(ndp_input(c, st, f, tap));
	ASSERT_EQ(tap.frames.size(), 1u);
	check_full_ra(take_apart(tap.frames[0]), guest_ll, guest_mac);
	EXPECT_EQ(st.guest_mac, guest_mac);
	EXPECT_TRUE(st.guest_mac_seen);
	EXPECT_EQ(st.addr6_ll_seen, guest_ll);
	EXPECT_TRUE(st.addr6_seen.is_unspecified());
}

TEST_F(NdpTest, RouterSolicitationFromUnspecifiedGoesToAllNodes) {
	Bytes f = icmp6_frame(guest_mac, mac("33:33:00:00:00:02"), Ipv6Addr{}, all_routers,
			      icmp6type::router_solicit, rs_body());
	EXPECT_TRUE(ndp_input(c, st, f, tap));
	ASSERT_EQ(tap.frames.size(), 1u);
	check_full_ra(take_apart(tap.frames[0]), all_nodes, all_nodes_mac);
	EXPECT_TRUE(st.addr6_ll_seen.is_unspecified());
}

TEST_F(NdpTest, RouterSolicitationFromUnspecifiedWithSllaIsInvalid) {
	Bytes f = icmp6_frame(guest_mac, mac("33:33:00:00:00:02"), Ipv6Addr{}, all_routers,
			      icmp6type::router_solicit, rs_body(slla(guest_mac)));
	EXPECT_TRUE(ndp_input(c, st, f, tap));
	EXPECT_TRUE(tap.frames.empty());
	EXPECT_EQ(ndp_stats().malformed, 1u);
}

TEST_F(NdpTest, AdvertisementFlagsAndOptionsFollowConfig) {
	c.no_dhcpv6 = true;
	c.no_dhcp_dns = true;
	c.mtu = 0;
	EXPECT_TRUE(ndp_input(c, st, rs_from_guest(), tap));
	ASSERT_EQ(tap.frames.size(), 1u);
	Sent s = take_apart(tap.frames[0]);
	EXPECT_EQ(uint8_t(s.msg[5]), 0); // no M, no O without a DHCPv6 server
	auto o = by_type(s);
	EXPECT_FALSE(o.count(ndp::opt_rdnss));
	EXPECT_FALSE(o.count(ndp::opt_mtu));
	EXPECT_TRUE(o.count(ndp::opt_dnssl)); // independent of RDNSS
	EXPECT_TRUE(o.count(ndp::opt_prefix_info));

	tap.frames.clear();
	c.no_dhcp_dns = false;
	c.no_dhcp_dns_search = true;
	c.mtu = 1500;
	EXPECT_TRUE(ndp_input(c, st, rs_from_guest(), tap));
	ASSERT_EQ(tap.frames.size(), 1u);
	o = by_type(take_apart(tap.frames[0]));
	EXPECT_TRUE(o.count(ndp::opt_rdnss));
	EXPECT_FALSE(o.count(ndp::opt_dnssl));
	ASSERT_TRUE(o.count(ndp::opt_mtu));
	EXPECT_EQ(be32_at(o[ndp::opt_mtu], 4), 1500u);
}

TEST_F(NdpTest, NoMtuOptionBelowIpv6Minimum) {
	c.mtu = 1000;
	EXPECT_TRUE(ndp_input(c, st, rs_from_guest(), tap));
	ASSERT_EQ(tap.frames.size(), 1u);
	EXPECT_FALSE(by_type(take_apart(tap.frames[0])).count(ndp::opt_mtu));
}

TEST_F(NdpTest, EmptyDnsListsGiveNoDnsOptions) {
	c.ip6.dns = {Ipv6Addr{}};
	c.dns_search = {".", "bad..name"};
	EXPECT_TRUE(ndp_input(c, st, rs_from_guest(), tap));
	ASSERT_EQ(tap.frames.size(), 1u);
	auto o = by_type(take_apart(tap.frames[0]));
	EXPECT_FALSE(o.count(ndp::opt_rdnss));
	EXPECT_FALSE(o.count(ndp::opt_dnssl));
}

TEST_F(NdpTest, NoPrefixWithoutAddress) {
	c.ip6.addr = Ipv6Addr{};
	EXPECT_TRUE(ndp_input(c, st, rs_from_guest(), tap));
	ASSERT_EQ(tap.frames.size(), 1u);
	EXPECT_FALSE(by_type(take_apart(tap.frames[0])).count(ndp::opt_prefix_info));
}

TEST_F(NdpTest, HugeDnsListsAreCutToTheMinimumMtu) {
	c.ip6.dns.clear();
	for (int i = 1; i <= 100; i++) {
		Ipv6Addr a = ip6("2001:db8::");
		a.b[15] = uint8_t(i);
		c.ip6.dns.push_back(a);
	}
	c.dns_search.clear();
	for (int i = 0; i < 40; i++)
		c.dns_search.push_back(std::string(60, char('a' + i % 26)) + ".example");
	EXPECT_TRUE(ndp_input(c, st, rs_from_guest(), tap));
	ASSERT_EQ(tap.frames.size(), 1u);
	Sent s = take_apart(tap.frames[0]);
	EXPECT_LE(s.msg.size(), 1280u - 40u);
	auto o = by_type(s);
	ASSERT_TRUE(o.count(ndp::opt_rdnss));
	size_t n = (o[ndp::opt_rdnss].size() - 8) / 16;
	EXPECT_GT(n, 10u);
	EXPECT_LT(n, 100u);
	for (size_t i = 0; i < n; i++)
		EXPECT_EQ(addr_at(o[ndp::opt_rdnss], 8 + 16 * i), c.ip6.dns[i]);
	// The RDNSS took all the room: the search list didn't fit at all.
	EXPECT_FALSE(o.count(ndp::opt_dnssl));

	// Without resolvers, as many search names as fit.
	tap.frames.clear();
	c.ip6.dns.clear();
	EXPECT_TRUE(ndp_input(c, st, rs_from_guest(), tap));
	ASSERT_EQ(tap.frames.size(), 1u);
	Sent s2 = take_apart(tap.frames[0]);
	EXPECT_LE(s2.msg.size(), 1280u - 40u);
	auto o2 = by_type(s2);
	ASSERT_TRUE(o2.count(ndp::opt_dnssl));
	auto names = dnssl_names(o2[ndp::opt_dnssl]);
	EXPECT_GT(names.size(), 5u);
	EXPECT_LT(names.size(), 40u);
	for (size_t i = 0; i < names.size(); i++)
		EXPECT_EQ(names[i] + ".", c.dns_search[i].substr(0, 60) + ".example.");
}

TEST_F(NdpTest, DerivesLinkLocalFromMacWhenUnset) {
	c.ip6.our_tap_ll = Ipv6Addr{};
	EXPECT_EQ(ndp_our_ll(c), ip6("fe80::9855:9aff:fe55:9a55"));
	EXPECT_EQ(ndp_eui64_ll(guest_mac), guest_ll);
	EXPECT_TRUE(ndp_input(c, st, rs_from_guest(), tap));
	ASSERT_EQ(tap.frames.size(), 1u);
	EXPECT_EQ(take_apart(tap.frames[0]).saddr, ip6("fe80::9855:9aff:fe55:9a55"));
}

TEST_F(NdpTest, NoRaDropsSolicitations) {
	c.no_ra = true;
	EXPECT_TRUE(ndp_input(c, st, rs_from_guest(), tap));
	EXPECT_TRUE(tap.frames.empty());
	EXPECT_EQ(ndp_stats().ignored, 1u);
	// Neighbour solicitations are still answered.
	EXPECT_TRUE(ndp_input(c, st, ns_from_guest(ip6("fe80::1")), tap));
	EXPECT_EQ(tap.frames.size(), 1u);
}

TEST_F(NdpTest, NoNdpConsumesEverything) {
	c.no_ndp = true;
	EXPECT_TRUE(ndp_input(c, st, rs_from_guest(), tap));
	EXPECT_TRUE(ndp_input(c, st, ns_from_guest(ip6("fe80::1")), tap));
	EXPECT_TRUE(tap.frames.empty());
	EXPECT_EQ(ndp_stats().ignored, 2u);
	EXPECT_FALSE(st.guest_mac_seen);
	EXPECT_FALSE(ndp_send_ra(c, st, tap));
}

TEST_F(NdpTest, InvalidSolicitationsAreDropped) {
	struct Case {
		const char *what;
		Bytes frame;
	};
	std::vector<Case> cases;
	cases.push_back({"hop limit 64",
			 icmp6_frame(guest_mac, mac("33:33:00:00:00:02"), guest_ll, all_routers,
				     icmp6type::router_solicit, rs_body(), 64)});
	cases.push_back(
		{"hop limit 254",
		 icmp6_frame(guest_mac, mac("33:33:ff:00:00:01"), guest_ll, ip6("ff02::1:ff00:1"),
			     icmp6type::neighbor_solicit, ns_body(ip6("fe80::1")), 254)});
	cases.push_back(
		{"code 1", icmp6_frame(guest_mac, mac("33:33:00:00:00:02"), guest_ll, all_routers,
				       icmp6type::router_solicit, rs_body(), 255, 1)});
	Bytes bad_csum = rs_from_guest();
	bad_csum[14 + 40 + 2] ^= std::byte{0x01};
	cases.push_back({"bad checksum", bad_csum});
	Bytes zero_opt = {std::byte{1}, std::byte{0}, std::byte{}, std::byte{},
			  std::byte{},  std::byte{},  std::byte{}, std::byte{}};
	cases.push_back({"zero-length option",
			 icmp6_frame(guest_mac, mac("33:33:00:00:00:02"), guest_ll, all_routers,
				     icmp6type::router_solicit, rs_body(zero_opt))});
	Bytes long_opt = slla(guest_mac);
	long_opt[1] = std::byte{2}; // 16 bytes claimed, 8 present
	cases.push_back({"option past the end",
			 icmp6_frame(guest_mac, mac("33:33:00:00:00:02"), guest_ll, all_routers,
				     icmp6type::router_solicit, rs_body(long_opt))});
	cases.push_back({"truncated option header",
			 icmp6_frame(guest_mac, mac("33:33:00:00:00:02"), guest_ll, all_routers,
				     icmp6type::router_solicit, rs_body(Bytes{std::byte{1}}))});
	cases.push_back(
		{"NS shorter than 24 bytes",
		 icmp6_frame(guest_mac, mac("33:33:ff:00:00:01"), guest_ll, ip6("ff02::1:ff00:1"),
			     icmp6type::neighbor_solicit, Bytes(12))});
	cases.push_back({"NS for a multicast target", ns_from_guest(ip6("ff02::1"))});
	cases.push_back({"DAD to a unicast destination",
			 icmp6_frame(guest_mac, our_mac, Ipv6Addr{}, ip6("fe80::1"),
				     icmp6type::neighbor_solicit, ns_body(ip6("fe80::1")))});
	cases.push_back({"DAD with a source link-layer address",
			 icmp6_frame(guest_mac, mac("33:33:ff:00:00:01"), Ipv6Addr{},
				     ip6("fe80::1").solicited_node(), icmp6type::neighbor_solicit,
				     ns_body(ip6("fe80::1"), slla(guest_mac)))});
	cases.push_back({"multicast source address",
			 icmp6_frame(guest_mac, mac("33:33:00:00:00:02"), ip6("ff02::5"),
				     all_routers, icmp6type::router_solicit, rs_body())});

	uint64_t n = 0;
	for (const auto &k : cases) {
		SCOPED_TRACE(k.what);
		EXPECT_TRUE(ndp_input(c, st, k.frame, tap));
		EXPECT_TRUE(tap.frames.empty());
		EXPECT_EQ(ndp_stats().malformed, ++n);
	}
	EXPECT_FALSE(st.guest_mac_seen);
}

TEST_F(NdpTest, TruncatedIcmpHeaderIsConsumed) {
	// An IPv6 packet whose ICMPv6 part is just "RS, code 0".
	Bytes f = rs_from_guest(Bytes{});
	f.resize(14 + 40 + 2);
	store_be16(f.data() + 14 + 4, 2);
	EXPECT_TRUE(ndp_input(c, st, f, tap));
	EXPECT_TRUE(tap.frames.empty());
	EXPECT_EQ(ndp_stats().malformed, 1u);
}

TEST_F(NdpTest, NotNdpIsLeftAlone) {
	// Echo request.
	Bytes echo = icmp6_frame(guest_mac, our_mac, guest_ll, ip6("fe80::1"),
				 icmp6type::echo_request, Bytes(8));
	EXPECT_FALSE(ndp_input(c, st, echo, tap));
	// ICMPv6 type 138 (router renumbering) and 132 (MLD done).
	EXPECT_FALSE(ndp_input(
		c, st, icmp6_frame(guest_mac, our_mac, guest_ll, ip6("fe80::1"), 138, Bytes(8)),
		tap));
	EXPECT_FALSE(ndp_input(
		c, st, icmp6_frame(guest_mac, our_mac, guest_ll, ip6("fe80::1"), 132, Bytes(20)),
		tap));
	// UDP.
	Bytes udp(2048);
	udp.resize(build_udp6(udp, our_mac, guest_mac, guest_ll, ip6("fe80::1"), 1000, 133,
			      Bytes(16)));
	EXPECT_FALSE(ndp_input(c, st, udp, tap));
	// IPv4 ethertype with the same bytes.
	Bytes v4 = rs_from_guest();
	store_be16(v4.data() + 12, ethertype::ipv4);
	EXPECT_FALSE(ndp_input(c, st, v4, tap));
	// Runts.
	EXPECT_FALSE(ndp_input(c, st, Bytes(10), tap));
	Bytes runt = rs_from_guest();
	runt.resize(14 + 30);
	EXPECT_FALSE(ndp_input(c, st, runt, tap));
	EXPECT_FALSE(ndp_input(c, st, Bytes{}, tap));
	EXPECT_TRUE(tap.frames.empty());
	EXPECT_EQ(ndp_stats().malformed + ndp_stats().ignored, 0u);
}

TEST_F(NdpTest, SolicitationBehindHopByHopHeader) {
	// Ethernet, IPv6 (next header: hop-by-hop), 8-byte hop-by-hop header
	// with a PadN option, then the RS with its checksum over 16 bytes.
	Bytes rs = {std::byte{133}, std::byte{0}, std::byte{}, std::byte{},
		    std::byte{},    std::byte{},  std::byte{}, std::byte{}};
	Bytes o = slla(guest_mac);
	rs.insert(rs.end(), o.begin(), o.end());
	be16 cs = l4_checksum6(guest_ll, all_routers, ipproto::icmpv6, rs);
	std::memcpy(rs.data() + 2, &cs.raw, 2);

	Bytes f(14 + 40);
	std::memcpy(f.data(), "\x33\x33\x00\x00\x00\x02", 6);
	std::memcpy(f.data() + 6, guest_mac.b.data(), 6);
	store_be16(f.data() + 12, ethertype::ipv6);
	f[14] = std::byte{0x60};
	store_be16(f.data() + 14 + 4, uint16_t(8 + rs.size()));
	f[14 + 6] = std::byte{ipproto::hopopts};
	f[14 + 7] = std::byte{255};
	std::memcpy(f.data() + 14 + 8, guest_ll.b.data(), 16);
	std::memcpy(f.data() + 14 + 24, all_routers.b.data(), 16);
	Bytes hbh = {std::byte{ipproto::icmpv6},
		     std::byte{0},
		     std::byte{1},
		     std::byte{4},
		     std::byte{},
		     std::byte{},
		     std::byte{},
		     std::byte{}};
	f.insert(f.end(), hbh.begin(), hbh.end());
	f.insert(f.end(), rs.begin(), rs.end());

	EXPECT_TRUE(ndp_input(c, st, f, tap));
	ASSERT_EQ(tap.frames.size(), 1u);
	check_full_ra(take_apart(tap.frames[0]), guest_ll, guest_mac);
}

// Check an NA: destination, flags, target, and our MAC as target lladdr.
void check_na(const Sent &s, const Ipv6Addr &dst, const MacAddr &dst_mac, const Ipv6Addr &target,
	      bool solicited) {
	EXPECT_EQ(s.eth_dst, dst_mac);
	EXPECT_EQ(s.eth_src, our_mac);
	EXPECT_EQ(s.saddr, ip6("fe80::1"));
	EXPECT_EQ(s.daddr, dst);
	EXPECT_EQ(s.hop, 255);
	EXPECT_EQ(s.type(), icmp6type::neighbor_advert);
	EXPECT_EQ(s.code(), 0);
	ASSERT_EQ(s.msg.size(), 32u);
	uint32_t flags = ndp::na_router | ndp::na_override | (solicited ? ndp::na_solicited : 0);
	EXPECT_EQ(be32_at(s.msg, 4), flags);
	EXPECT_EQ(addr_at(s.msg, 8), target);
	ASSERT_EQ(s.opts.size(), 1u);
	EXPECT_EQ(s.opts[0].code, ndp::opt_target_lladdr);
	EXPECT_EQ(*ndp_lladdr(s.opts[0]), our_mac);
}

TEST_F(NdpTest, NeighbourSolicitationForGatewayAndOthers) {
	for (const char *t : {"fe80::1", "2001:db8:0:1::7", "2001:db8:5::1", "fe80::abcd"}) {
		SCOPED_TRACE(t);
		tap.frames.clear();
		EXPECT_TRUE(ndp_input(c, st, ns_from_guest(ip6(t)), tap));
		ASSERT_EQ(tap.frames.size(), 1u);
		check_na(take_apart(tap.frames[0]), guest_ll, guest_mac, ip6(t), true);
	}
	EXPECT_EQ(ndp_stats().na_sent, 4u);
}

TEST_F(NdpTest, KernelNeighbourSolicitations) {
	// Linux 6.x resolving the gateway fe80::1, from its link-local address.
	Bytes gw = hex("3333ff00000152540012345686dd6000000000203afffe800000000000005054"
		       "00fffe123456ff0200000000000000000001ff0000018700722200000000fe80"
		       "00000000000000000000000000010101525400123456");
	EXPECT_TRUE(ndp_input(c, st, gw, tap));
	ASSERT_EQ(tap.frames.size(), 1u);
	check_na(take_apart(tap.frames[0]), guest_ll, guest_mac, ip6("fe80::1"), true);

	// Resolving the on-link 2001:db8::7 from its SLAAC address.
	Bytes onlink = hex("3333ff00000752540012345686dd6000000000203aff20010db8000000005054"
			   "00fffe123456ff0200000000000000000001ff000007870013a6000000002001"
			   "0db80000000000000000000000070101525400123456");
	EXPECT_TRUE(ndp_input(c, st, onlink, tap));
	ASSERT_EQ(tap.frames.size(), 2u);
	check_na(take_apart(tap.frames[1]), ip6("2001:db8::5054:ff:fe12:3456"), guest_mac,
		 ip6("2001:db8::7"), true);
	EXPECT_EQ(st.addr6_seen, ip6("2001:db8::5054:ff:fe12:3456"));
	EXPECT_EQ(st.addr6_ll_seen, guest_ll);
}

TEST_F(NdpTest, GuestOwnAddressesAreNotAnswered) {
	EXPECT_TRUE(ndp_input(c, st, ns_from_guest(c.ip6.addr), tap));
	EXPECT_TRUE(tap.frames.empty());

	st.addr6_seen = ip6("2001:db8:0:1::99");
	EXPECT_TRUE(ndp_input(c, st, ns_from_guest(ip6("2001:db8:0:1::99")), tap));
	EXPECT_TRUE(tap.frames.empty());

	// The guest's link-local address is learnt from the NS itself; asking
	// for its own source address gets nothing either.
	EXPECT_TRUE(ndp_input(c, st, ns_from_guest(guest_ll), tap));
	EXPECT_TRUE(tap.frames.empty());
	EXPECT_EQ(ndp_stats().ignored, 3u);
}

TEST_F(NdpTest, KernelDadProbeIsNotAnswered) {
	// Linux DAD for its link-local address (source ::, nonce option).
	Bytes dad = hex("3333ff12345652540012345686dd6000000000203aff00000000000000000000"
			"000000000000ff0200000000000000000001ff1234568700bdab00000000fe80"
			"000000000000505400fffe1234560e0130ef952c3232");
	EXPECT_TRUE(ndp_input(c, st, dad, tap));
	EXPECT_TRUE(tap.frames.empty());
	EXPECT_EQ(ndp_stats().ignored, 1u);
	EXPECT_EQ(ndp_stats().malformed, 0u);
	EXPECT_TRUE(st.addr6_ll_seen.is_unspecified()); // DAD source :: teaches nothing
}

TEST_F(NdpTest, DadForGuestAddressesIsNotAnswered) {
	for (const Ipv6Addr &t : {c.ip6.addr, ip6("2001:db8:0:1::1234"), ip6("fe80::77")}) {
		Bytes f = icmp6_frame(guest_mac, mac("33:33:ff:00:00:01"), Ipv6Addr{},
				      t.solicited_node(), icmp6type::neighbor_solicit, ns_body(t));
		EXPECT_TRUE(ndp_input(c, st, f, tap));
	}
	EXPECT_TRUE(tap.frames.empty());
	EXPECT_EQ(ndp_stats().ignored, 3u);
}

TEST_F(NdpTest, DadForOurAddressIsDefended) {
	Bytes f = icmp6_frame(guest_mac, mac("33:33:ff:00:00:01"), Ipv6Addr{},
			      ip6("fe80::1").solicited_node(), icmp6type::neighbor_solicit,
			      ns_body(ip6("fe80::1")));
	EXPECT_TRUE(ndp_input(c, st, f, tap));
	ASSERT_EQ(tap.frames.size(), 1u);
	check_na(take_apart(tap.frames[0]), all_nodes, all_nodes_mac, ip6("fe80::1"), false);
}

TEST_F(NdpTest, AdvertisementsFromGuestAreDropped) {
	// RA, NA and redirect from the guest: valid, consumed, not answered.
	Bytes ra_body(12);
	EXPECT_TRUE(ndp_input(c, st,
			      icmp6_frame(guest_mac, all_nodes_mac, guest_ll, all_nodes,
					  icmp6type::router_advert, ra_body),
			      tap));
	EXPECT_TRUE(ndp_input(c, st,
			      icmp6_frame(guest_mac, all_nodes_mac, guest_ll, all_nodes,
					  icmp6type::neighbor_advert,
					  ns_body(guest_ll, slla(guest_mac, 2))),
			      tap));
	EXPECT_TRUE(ndp_input(c, st,
			      icmp6_frame(guest_mac, our_mac, guest_ll, ip6("fe80::1"),
					  icmp6type::redirect, Bytes(36)),
			      tap));
	EXPECT_TRUE(tap.frames.empty());
	EXPECT_EQ(ndp_stats().ignored, 3u);
	EXPECT_EQ(ndp_stats().malformed, 0u);
	// A redirect too short to hold its addresses is malformed.
	EXPECT_TRUE(ndp_input(c, st,
			      icmp6_frame(guest_mac, our_mac, guest_ll, ip6("fe80::1"),
					  icmp6type::redirect, Bytes(20)),
			      tap));
	EXPECT_EQ(ndp_stats().malformed, 1u);
}

TEST_F(NdpTest, SendFailureIsCounted) {
	tap.refuse = true;
	EXPECT_TRUE(ndp_input(c, st, rs_from_guest(), tap));
	EXPECT_EQ(ndp_stats().send_failed, 1u);
	EXPECT_EQ(ndp_stats().ra_sent, 0u);
	EXPECT_FALSE(ndp_send_ra(c, st, tap));
}

TEST_F(NdpTest, UnsolicitedAdvertisement) {
	EXPECT_TRUE(ndp_send_ra(c, st, tap));
	ASSERT_EQ(tap.frames.size(), 1u);
	check_full_ra(take_apart(tap.frames[0]), all_nodes, all_nodes_mac);

	c.no_ra = true;
	EXPECT_FALSE(ndp_send_ra(c, st, tap));
	c.no_ra = false;
	c.ip6.enabled = false;
	EXPECT_FALSE(ndp_send_ra(c, st, tap));
	EXPECT_EQ(tap.frames.size(), 1u);
}

TEST_F(NdpTest, TimerSchedule) {
	NdpRaTimer t(12345);
	timespec now{1000, 0};
	EXPECT_FALSE(t.tick(c, st, tap, now)); // first call only schedules
	ASSERT_TRUE(t.scheduled());
	EXPECT_TRUE(tap.frames.empty());

	std::vector<int64_t> intervals;
	int64_t last = now.tv_sec;
	for (int sent = 0; sent < 12; sent++) {
		int64_t due = t.next_due_s();
		intervals.push_back(due - last);
		now.tv_sec = due - 1;
		EXPECT_FALSE(t.tick(c, st, tap, now));
		now.tv_sec = due;
		EXPECT_TRUE(t.tick(c, st, tap, now));
		EXPECT_EQ(tap.frames.size(), size_t(sent + 1));
		last = due;
	}
	// The first three intervals (RFC 4861 6.2.4) are capped at 16 s, the
	// rest random in [200, 600).
	for (size_t i = 0; i < intervals.size(); i++) {
		if (i < ndp_max_initial_rtr_advertisements) {
			EXPECT_EQ(intervals[i], 16) << i;
		} else {
			EXPECT_GE(intervals[i], 200) << i;
			EXPECT_LT(intervals[i], 600) << i;
		}
	}
	bool varied = false;
	for (size_t i = 4; i < intervals.size(); i++)
		varied |= intervals[i] != intervals[3];
	EXPECT_TRUE(varied);
	for (const Bytes &f : tap.frames) {
		Sent s = take_apart(f);
		EXPECT_EQ(s.daddr, all_nodes);
		EXPECT_EQ(s.type(), icmp6type::router_advert);
	}
}

TEST_F(NdpTest, TimerRestartAndDisabled) {
	NdpRaTimer t(7);
	timespec now{50, 0};
	t.restart(now); // the caller just sent the first RA itself
	EXPECT_EQ(t.next_due_s(), 66);
	now.tv_sec = 66;
	EXPECT_TRUE(t.tick(c, st, tap, now));
	EXPECT_EQ(t.next_due_s(), 82);
	now.tv_sec = 82;
	EXPECT_TRUE(t.tick(c, st, tap, now));
	EXPECT_GE(t.next_due_s(), 82 + 200);

	// With --no-ra nothing is sent, the schedule still moves on.
	c.no_ra = true;
	now.tv_sec = t.next_due_s();
	EXPECT_FALSE(t.tick(c, st, tap, now));
	EXPECT_GT(t.next_due_s(), now.tv_sec);
	EXPECT_EQ(tap.frames.size(), 2u);
}
