// Tests for the DHCPv6 server: crafted and captured (ISC dhclient 4.4)
// client messages, every option of the answers, identifier rules, status
// codes, and malformed, truncated and lying inputs.
#include "passt/services/dhcpv6.h"

#include <gtest/gtest.h>

#include "capture_tap.h"

#include <cstring>
#include <string>
#include <vector>

#include "passt/conf/config.h"
#include "passt/core/log.h"
#include "passt/net/build.h"
#include "passt/net/eth.h"
#include "passt/net/ip6.h"
#include "passt/net/udp.h"
#include "passt/services/dns_name.h"
#include "passt/tap/output.h"
#include "support/frames.h"

using namespace passt;
using namespace passt::dhcpv6;

namespace {

using Bytes = std::vector<std::byte>;

using passt::test::CaptureTap;

Ipv6Addr ip6(const char *s) { return *Ipv6Addr::parse(s); }
MacAddr mac(const char *s) { return *MacAddr::parse(s); }

// our_tap_mac matches the Server Identifier in the captured Request below.
const MacAddr our_mac = mac("9a:55:9a:55:9a:55");
const MacAddr guest_mac = mac("52:54:00:12:34:56");
const Ipv6Addr guest_ll = ip6("fe80::5054:ff:fe12:3456");
const Ipv6Addr our_ll = ip6("fe80::1");

Config make_config() {
	Config c;
	c.our_tap_mac = our_mac;
	c.ip6.addr = ip6("2001:db8::5");
	c.ip6.gw = our_ll;
	c.ip6.our_tap_ll = our_ll;
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

void put16(Bytes &b, uint16_t v) {
	b.push_back(std::byte(v >> 8));
	b.push_back(std::byte(v));
}
void put32(Bytes &b, uint32_t v) {
	put16(b, uint16_t(v >> 16));
	put16(b, uint16_t(v));
}
void put_addr(Bytes &b, const Ipv6Addr &a) {
	for (uint8_t x : a.b)
		b.push_back(std::byte(x));
}

Bytes opt(uint16_t code, const Bytes &data) {
	Bytes o;
	put16(o, code);
	put16(o, uint16_t(data.size()));
	o.insert(o.end(), data.begin(), data.end());
	return o;
}

Bytes cat(std::initializer_list<Bytes> parts) {
	Bytes r;
	for (const Bytes &p : parts)
		r.insert(r.end(), p.begin(), p.end());
	return r;
}

const Bytes client_duid = hex("00030001525400123456"); // DUID-LL of the guest
Bytes client_id() { return opt(opt_clientid, client_duid); }
Bytes server_id(const MacAddr &m = our_mac) {
	Bytes d = hex("00030001");
	for (uint8_t x : m.b)
		d.push_back(std::byte(x));
	return opt(opt_serverid, d);
}

Bytes iaaddr(const Ipv6Addr &a, uint32_t pref = 3600, uint32_t valid = 7200) {
	Bytes d;
	put_addr(d, a);
	put32(d, pref);
	put32(d, valid);
	return opt(opt_iaaddr, d);
}

Bytes ia_na(uint32_t iaid, const Bytes &sub = {}) {
	Bytes d;
	put32(d, iaid);
	put32(d, 0);
	put32(d, 0);
	d.insert(d.end(), sub.begin(), sub.end());
	return opt(opt_ia_na, d);
}

Bytes msg(uint8_t type, const Bytes &opts, uint32_t xid = 0xabcdef) {
	Bytes m = {std::byte(type), std::byte(xid >> 16), std::byte(xid >> 8), std::byte(xid)};
	m.insert(m.end(), opts.begin(), opts.end());
	return m;
}

Bytes dhcp_frame(const Bytes &payload, const Ipv6Addr &daddr = all_servers(),
		 uint16_t sport = client_port, uint16_t dport = server_port,
		 const Ipv6Addr &saddr = guest_ll) {
	Bytes buf(4096);
	MacAddr dmac = daddr.is_multicast() ? mac("33:33:00:01:00:02") : our_mac;
	size_t n = build_udp6(buf, dmac, guest_mac, saddr, daddr, sport, dport, payload, 1);
	EXPECT_GT(n, 0u);
	buf.resize(n);
	return buf;
}

struct Opt {
	uint16_t code;
	Bytes data;
};

// Options in b, or a test failure if they don't parse exactly.
std::vector<Opt> parse_opts(std::span<const std::byte> b) {
	std::vector<Opt> r;
	while (!b.empty()) {
		EXPECT_GE(b.size(), 4u);
		if (b.size() < 4)
			break;
		size_t len = load_be16(b.data() + 2);
		EXPECT_LE(len, b.size() - 4);
		if (len > b.size() - 4)
			break;
		r.push_back({load_be16(b.data()), Bytes(b.begin() + 4, b.begin() + 4 + long(len))});
		b = b.subspan(4 + len);
	}
	return r;
}

std::vector<Opt> all(const std::vector<Opt> &opts, uint16_t code) {
	std::vector<Opt> r;
	for (const Opt &o : opts)
		if (o.code == code)
			r.push_back(o);
	return r;
}

const Opt *find(const std::vector<Opt> &opts, uint16_t code) {
	const Opt *r = nullptr;
	for (const Opt &o : opts) {
		if (o.code == code) {
			EXPECT_EQ(r, nullptr) << "option " << code << " twice";
			r = &o;
		}
	}
	return r;
}

uint32_t u32(const Bytes &b, size_t off) { return load_be32(b.data() + off); }
uint16_t u16(const Bytes &b, size_t off) { return load_be16(b.data() + off); }
Ipv6Addr addr_at(const Bytes &b, size_t off) {
	Ipv6Addr a;
	std::memcpy(a.b.data(), b.data() + off, 16);
	return a;
}

// A reply taken apart, with the checks every reply must pass.
struct Reply {
	uint8_t type = 0;
	uint32_t xid = 0;
	std::vector<Opt> opts;
};

Reply take_apart(const Bytes &f, const Ipv6Addr &dst = guest_ll) {
	Reply r;
	auto eth = ConstEthView::parse(f);
	EXPECT_TRUE(eth);
	if (!eth)
		return r;
	EXPECT_EQ(eth->dst(), guest_mac);
	EXPECT_EQ(eth->src(), our_mac);
	EXPECT_EQ(eth->ethertype(), ethertype::ipv6);
	EXPECT_LE(f.size(), 14u + 1280u);
	auto ip = ConstIp6View::parse(eth->payload());
	EXPECT_TRUE(ip);
	if (!ip)
		return r;
	EXPECT_EQ(ip->saddr(), our_ll);
	EXPECT_EQ(ip->daddr(), dst);
	EXPECT_EQ(ip->proto(), ipproto::udp);
	auto udp = ConstUdpView::parse(ip->l4());
	EXPECT_TRUE(udp);
	if (!udp)
		return r;
	EXPECT_EQ(udp->length(), ip->l4().size());
	EXPECT_TRUE(udp->checksum_ok6(ip->saddr(), ip->daddr()));
	EXPECT_EQ(udp->sport(), server_port);
	EXPECT_EQ(udp->dport(), client_port);
	auto p = udp->payload();
	EXPECT_GE(p.size(), 4u);
	if (p.size() < 4)
		return r;
	r.type = uint8_t(p[0]);
	r.xid = load_be32(p.data()) & 0xffffff;
	r.opts = parse_opts(p.subspan(4));
	return r;
}

// Server and Client Identifiers as every reply must carry them.
void check_ids(const Reply &r, const Bytes &duid = client_duid) {
	const Opt *s = find(r.opts, opt_serverid);
	ASSERT_TRUE(s);
	EXPECT_EQ(s->data, hex("000300019a559a559a55"));
	const Opt *c = find(r.opts, opt_clientid);
	ASSERT_TRUE(c);
	EXPECT_EQ(c->data, duid);
}

struct Ia {
	uint32_t iaid = 0, t1 = 0, t2 = 0;
	std::vector<Opt> sub;
};

Ia parse_ia_na(const Opt &o) {
	Ia ia;
	EXPECT_EQ(o.code, opt_ia_na);
	EXPECT_GE(o.data.size(), 12u);
	if (o.data.size() < 12)
		return ia;
	ia.iaid = u32(o.data, 0);
	ia.t1 = u32(o.data, 4);
	ia.t2 = u32(o.data, 8);
	ia.sub = parse_opts(std::span<const std::byte>(o.data).subspan(12));
	return ia;
}

// The IA_NA with our address, infinite T1/T2 and lifetimes.
void check_assigned(const Opt &o, uint32_t iaid) {
	Ia ia = parse_ia_na(o);
	EXPECT_EQ(ia.iaid, iaid);
	EXPECT_EQ(ia.t1, infinite);
	EXPECT_EQ(ia.t2, infinite);
	auto addrs = all(ia.sub, opt_iaaddr);
	ASSERT_GE(addrs.size(), 1u);
	ASSERT_EQ(addrs[0].data.size(), 24u);
	EXPECT_EQ(addr_at(addrs[0].data, 0), ip6("2001:db8::5"));
	EXPECT_EQ(u32(addrs[0].data, 16), infinite);
	EXPECT_EQ(u32(addrs[0].data, 20), infinite);
	EXPECT_FALSE(find(ia.sub, opt_status_code));
}

uint16_t status_of(const std::vector<Opt> &opts) {
	const Opt *s = find(opts, opt_status_code);
	EXPECT_TRUE(s);
	if (!s || s->data.size() < 2)
		return 0xffff;
	return u16(s->data, 0);
}

std::vector<std::string> domain_list(const Opt &o) {
	std::vector<std::string> r;
	std::span<const std::byte> b(o.data);
	while (!b.empty()) {
		char text[256];
		auto d = dns_name_decode(b, text);
		EXPECT_TRUE(d);
		if (!d)
			break;
		r.emplace_back(text, d->text_len);
		b = b.subspan(d->consumed);
	}
	return r;
}

// DNS servers and search list from make_config().
void check_dns(const Reply &r) {
	const Opt *d = find(r.opts, opt_dns_servers);
	ASSERT_TRUE(d);
	ASSERT_EQ(d->data.size(), 32u);
	EXPECT_EQ(addr_at(d->data, 0), ip6("2001:db8::53"));
	EXPECT_EQ(addr_at(d->data, 16), ip6("2001:db8::54"));
	const Opt *l = find(r.opts, opt_domain_list);
	ASSERT_TRUE(l);
	EXPECT_EQ(domain_list(*l), (std::vector<std::string>{"example.org", "test.example"}));
}

class Dhcpv6Test : public ::testing::Test {
protected:
	void SetUp() override {
		dhcpv6_stats_reset();
		saved_level = log_level();
		log_set_level(LogLevel::Error); // no per-message lines in test output
	}
	void TearDown() override { log_set_level(saved_level); }
	LogLevel saved_level = LogLevel::Info;
	// Feed a message, expect it consumed, return the one reply (if any).
	std::optional<Reply> ask(const Bytes &m) {
		tap.frames.clear();
		EXPECT_TRUE(dhcpv6_input(c, st, dhcp_frame(m), tap));
		EXPECT_LE(tap.frames.size(), 1u);
		if (tap.frames.empty())
			return std::nullopt;
		return take_apart(tap.frames[0]);
	}
	Config c = make_config();
	TapState st;
	CaptureTap tap;
};

} // namespace

TEST_F(Dhcpv6Test, ServerDuidIsDuidLl) {
	auto d = dhcpv6_server_duid(c);
	EXPECT_EQ(Bytes(d.begin(), d.end()), hex("000300019a559a559a55"));
}

TEST_F(Dhcpv6Test, SolicitGetsAdvertise) {
	auto r = ask(msg(msg_solicit,
			 cat({client_id(), ia_na(0xdeadbeef), opt(opt_elapsed_time, Bytes(2))})));
	ASSERT_TRUE(r);
	EXPECT_EQ(r->type, msg_advertise);
	EXPECT_EQ(r->xid, 0xabcdefu);
	check_ids(*r);
	const Opt *pref = find(r->opts, opt_preference);
	ASSERT_TRUE(pref);
	ASSERT_EQ(pref->data.size(), 1u);
	EXPECT_EQ(uint8_t(pref->data[0]), 255);
	auto ias = all(r->opts, opt_ia_na);
	ASSERT_EQ(ias.size(), 1u);
	check_assigned(ias[0], 0xdeadbeef);
	EXPECT_EQ(all(parse_ia_na(ias[0]).sub, opt_iaaddr).size(), 1u);
	check_dns(*r);
	EXPECT_FALSE(find(r->opts, opt_rapid_commit));
	EXPECT_FALSE(find(r->opts, opt_status_code));
	EXPECT_FALSE(find(r->opts, opt_client_fqdn)); // no --fqdn
	EXPECT_EQ(r->opts.size(), 6u);
	// An Advertise assigns nothing yet.
	EXPECT_TRUE(st.addr6_seen.is_unspecified());
	EXPECT_EQ(st.addr6_ll_seen, guest_ll);
	EXPECT_EQ(st.guest_mac, guest_mac);
	EXPECT_EQ(dhcpv6_stats().replies, 1u);
}

TEST_F(Dhcpv6Test, DhclientSolicit) {
	// ISC dhclient 4.4.3 -6 on a veth: the UDP checksum holds only the
	// pseudo-header sum (checksum offload), which must not matter.
	Bytes f = hex("33330001000252540012345686dd6005a8c900401101fe800000000000005054"
		      "00fffe123456ff02000000000000000000000001000202220223004081940116"
		      "ebfd0001000e000100013299c9e652540012345600060008001700180027001f"
		      "0008000200000003000c0012345600000e1000001518");
	EXPECT_TRUE(dhcpv6_input(c, st, f, tap));
	ASSERT_EQ(tap.frames.size(), 1u);
	Reply r = take_apart(tap.frames[0]);
	EXPECT_EQ(r.type, msg_advertise);
	EXPECT_EQ(r.xid, 0x16ebfdu);
	check_ids(r, hex("000100013299c9e6525400123456"));
	auto ias = all(r.opts, opt_ia_na);
	ASSERT_EQ(ias.size(), 1u);
	check_assigned(ias[0], 0x00123456);
	check_dns(r);
}

TEST_F(Dhcpv6Test, DhclientRequest) {
	// The Request that followed our Advertise (carries our Server ID).
	Bytes f = hex("33330001000252540012345686dd6005a8c9006a1101fe800000000000005054"
		      "00fffe123456ff02000000000000000000000001000202220223006a928c030f"
		      "d0470001000e000100013299cba75254001234560002000a000300019a559a55"
		      "9a5500060008001700180027001f000800020000000300280012345600000e10"
		      "000015180005001820010db800000000000000000000000500001c2000001d4c");
	c.fqdn = "guest.example.org";
	EXPECT_TRUE(dhcpv6_input(c, st, f, tap));
	ASSERT_EQ(tap.frames.size(), 1u);
	Reply r = take_apart(tap.frames[0]);
	EXPECT_EQ(r.type, msg_reply);
	EXPECT_EQ(r.xid, 0x0fd047u);
	check_ids(r, hex("000100013299cba7525400123456"));
	auto ias = all(r.opts, opt_ia_na);
	ASSERT_EQ(ias.size(), 1u);
	check_assigned(ias[0], 0x00123456);
	EXPECT_EQ(all(parse_ia_na(ias[0]).sub, opt_iaaddr).size(), 1u); // hint not echoed
	check_dns(r);
	const Opt *fq = find(r.opts, opt_client_fqdn);
	ASSERT_TRUE(fq);
	ASSERT_GE(fq->data.size(), 2u);
	EXPECT_EQ(uint8_t(fq->data[0]), 0); // client sent no FQDN option
	char text[256];
	auto d = dns_name_decode(std::span<const std::byte>(fq->data).subspan(1), text);
	ASSERT_TRUE(d);
	EXPECT_EQ(d->consumed, fq->data.size() - 1);
	EXPECT_EQ(std::string(text, d->text_len), "guest.example.org");
	EXPECT_EQ(st.addr6_seen, ip6("2001:db8::5"));
}

TEST_F(Dhcpv6Test, DhclientInformationRequest) {
	// dhclient -6 -S: Information-request with a DUID-LL, no IA.
	Bytes f = hex("33330001000252540012345686dd6005a8c9002c1101fe800000000000005054"
		      "00fffe123456ff02000000000000000000000001000202220223002cc3740b7b"
		      "23c60001000a0003000152540012345600060008001700180027001f00080002"
		      "0000");
	EXPECT_TRUE(dhcpv6_input(c, st, f, tap));
	ASSERT_EQ(tap.frames.size(), 1u);
	Reply r = take_apart(tap.frames[0]);
	EXPECT_EQ(r.type, msg_reply);
	EXPECT_EQ(r.xid, 0x7b23c6u);
	check_ids(r);
	EXPECT_TRUE(all(r.opts, opt_ia_na).empty());
	check_dns(r);
	EXPECT_EQ(r.opts.size(), 4u);
	EXPECT_TRUE(st.addr6_seen.is_unspecified());
}

TEST_F(Dhcpv6Test, SolicitWithRapidCommitGetsReply) {
	auto r = ask(msg(msg_solicit, cat({opt(opt_rapid_commit, {}), client_id(), ia_na(7)})));
	ASSERT_TRUE(r);
	EXPECT_EQ(r->type, msg_reply);
	check_ids(*r);
	const Opt *rc = find(r->opts, opt_rapid_commit);
	ASSERT_TRUE(rc);
	EXPECT_TRUE(rc->data.empty());
	EXPECT_FALSE(find(r->opts, opt_preference));
	auto ias = all(r->opts, opt_ia_na);
	ASSERT_EQ(ias.size(), 1u);
	check_assigned(ias[0], 7);
	check_dns(*r);
	EXPECT_EQ(st.addr6_seen, ip6("2001:db8::5"));
}

TEST_F(Dhcpv6Test, RequestRenewRebind) {
	for (uint8_t type : {msg_request, msg_renew}) {
		SCOPED_TRACE(int(type));
		auto r = ask(msg(type, cat({client_id(), server_id(), ia_na(1)})));
		ASSERT_TRUE(r);
		EXPECT_EQ(r->type, msg_reply);
		check_ids(*r);
		ASSERT_EQ(all(r->opts, opt_ia_na).size(), 1u);
		check_assigned(all(r->opts, opt_ia_na)[0], 1);
		check_dns(*r);
	}
	auto r = ask(msg(msg_rebind, cat({client_id(), ia_na(1)})));
	ASSERT_TRUE(r);
	EXPECT_EQ(r->type, msg_reply);
	check_assigned(all(r->opts, opt_ia_na)[0], 1);
}

TEST_F(Dhcpv6Test, RenewInvalidatesForeignAddresses) {
	auto r = ask(msg(
		msg_renew,
		cat({client_id(), server_id(),
		     ia_na(1, cat({iaaddr(ip6("2001:db8::5")), iaaddr(ip6("2001:db8:9::9"))}))})));
	ASSERT_TRUE(r);
	auto ias = all(r->opts, opt_ia_na);
	ASSERT_EQ(ias.size(), 1u);
	check_assigned(ias[0], 1);
	auto addrs = all(parse_ia_na(ias[0]).sub, opt_iaaddr);
	ASSERT_EQ(addrs.size(), 2u);
	EXPECT_EQ(addr_at(addrs[1].data, 0), ip6("2001:db8:9::9"));
	EXPECT_EQ(u32(addrs[1].data, 16), 0u);
	EXPECT_EQ(u32(addrs[1].data, 20), 0u);
}

TEST_F(Dhcpv6Test, ExtraIasGetStatus) {
	Bytes ia_ta = opt(opt_ia_ta, hex("00000009"));
	Bytes ia_pd = opt(opt_ia_pd, hex("0000000a0000000000000000"));
	auto r = ask(msg(msg_request,
			 cat({client_id(), server_id(), ia_na(1), ia_na(2), ia_ta, ia_pd})));
	ASSERT_TRUE(r);
	auto ias = all(r->opts, opt_ia_na);
	ASSERT_EQ(ias.size(), 2u);
	check_assigned(ias[0], 1);
	Ia second = parse_ia_na(ias[1]);
	EXPECT_EQ(second.iaid, 2u);
	EXPECT_TRUE(all(second.sub, opt_iaaddr).empty());
	EXPECT_EQ(status_of(second.sub), status_no_addrs_avail);

	auto tas = all(r->opts, opt_ia_ta);
	ASSERT_EQ(tas.size(), 1u);
	EXPECT_EQ(u32(tas[0].data, 0), 9u);
	EXPECT_EQ(status_of(parse_opts(std::span<const std::byte>(tas[0].data).subspan(4))),
		  status_no_addrs_avail);

	auto pds = all(r->opts, opt_ia_pd);
	ASSERT_EQ(pds.size(), 1u);
	EXPECT_EQ(u32(pds[0].data, 0), 10u);
	EXPECT_EQ(status_of(parse_opts(std::span<const std::byte>(pds[0].data).subspan(12))),
		  status_no_prefix_avail);
	EXPECT_FALSE(find(r->opts, opt_status_code)); // no top-level status
}

TEST_F(Dhcpv6Test, SolicitWithoutIaNa) {
	auto r = ask(msg(msg_solicit, cat({client_id(), opt(opt_ia_pd, Bytes(12))})));
	ASSERT_TRUE(r);
	EXPECT_EQ(r->type, msg_advertise);
	check_ids(*r);
	EXPECT_EQ(status_of(r->opts), status_no_addrs_avail);
	EXPECT_EQ(r->opts.size(), 3u); // Server ID, Client ID, Status Code only
}

TEST_F(Dhcpv6Test, NoAddressToGive) {
	c.ip6.addr = Ipv6Addr{};
	auto r = ask(msg(msg_solicit, cat({client_id(), ia_na(1)})));
	ASSERT_TRUE(r);
	EXPECT_EQ(status_of(r->opts), status_no_addrs_avail);
	EXPECT_TRUE(all(r->opts, opt_ia_na).empty());

	r = ask(msg(msg_request, cat({client_id(), server_id(), ia_na(1)})));
	ASSERT_TRUE(r);
	auto ias = all(r->opts, opt_ia_na);
	ASSERT_EQ(ias.size(), 1u);
	EXPECT_EQ(status_of(parse_ia_na(ias[0]).sub), status_no_addrs_avail);
	EXPECT_TRUE(st.addr6_seen.is_unspecified());
}

TEST_F(Dhcpv6Test, Confirm) {
	auto r = ask(msg(msg_confirm, cat({client_id(), ia_na(1, iaaddr(ip6("2001:db8::5")))})));
	ASSERT_TRUE(r);
	EXPECT_EQ(r->type, msg_reply);
	check_ids(*r);
	EXPECT_EQ(status_of(r->opts), status_success);
	EXPECT_TRUE(all(r->opts, opt_ia_na).empty());

	r = ask(msg(msg_confirm,
		    cat({client_id(), ia_na(1, cat({iaaddr(ip6("2001:db8::5")),
						    iaaddr(ip6("2001:db8:1::5"))}))})));
	ASSERT_TRUE(r);
	EXPECT_EQ(status_of(r->opts), status_not_on_link);

	// No addresses at all: no reply (RFC 8415 18.3.3).
	EXPECT_FALSE(ask(msg(msg_confirm, cat({client_id(), ia_na(1)}))));
	EXPECT_EQ(dhcpv6_stats().ignored, 1u);
	// A Server Identifier has no place in a Confirm.
	EXPECT_FALSE(ask(msg(msg_confirm, cat({client_id(), server_id(),
					       ia_na(1, iaaddr(ip6("2001:db8::5")))}))));
}

TEST_F(Dhcpv6Test, ReleaseAndDecline) {
	for (uint8_t type : {msg_release, msg_decline}) {
		SCOPED_TRACE(int(type));
		auto r = ask(msg(type, cat({client_id(), server_id(),
					    ia_na(1, iaaddr(ip6("2001:db8::5")))})));
		ASSERT_TRUE(r);
		EXPECT_EQ(r->type, msg_reply);
		check_ids(*r);
		EXPECT_EQ(status_of(r->opts), status_success);
		EXPECT_TRUE(all(r->opts, opt_ia_na).empty());
		EXPECT_FALSE(find(r->opts, opt_dns_servers));
		// Without our Server Identifier: not for us.
		EXPECT_FALSE(ask(msg(type, cat({client_id(), ia_na(1)}))));
	}
}

TEST_F(Dhcpv6Test, InformationRequestVariants) {
	// No Client Identifier: allowed (RFC 8415 16.12), none echoed.
	auto r = ask(msg(msg_information_request, opt(opt_oro, hex("00170018"))));
	ASSERT_TRUE(r);
	EXPECT_EQ(r->type, msg_reply);
	EXPECT_FALSE(find(r->opts, opt_clientid));
	EXPECT_TRUE(find(r->opts, opt_serverid));
	check_dns(*r);
	// With our Server Identifier: fine; with another: not for us.
	EXPECT_TRUE(ask(msg(msg_information_request, cat({client_id(), server_id()}))));
	EXPECT_FALSE(ask(msg(msg_information_request,
			     cat({client_id(), server_id(mac("02:00:00:00:00:01"))}))));
	// With an IA: invalid.
	EXPECT_FALSE(ask(msg(msg_information_request, cat({client_id(), ia_na(1)}))));
	EXPECT_EQ(dhcpv6_stats().malformed, 1u);
	EXPECT_EQ(dhcpv6_stats().ignored, 1u);
}

TEST_F(Dhcpv6Test, DnsOptionsFollowConfig) {
	c.no_dhcp_dns = true;
	auto r = ask(msg(msg_information_request, client_id()));
	ASSERT_TRUE(r);
	EXPECT_FALSE(find(r->opts, opt_dns_servers));
	EXPECT_TRUE(find(r->opts, opt_domain_list));

	c.no_dhcp_dns = false;
	c.no_dhcp_dns_search = true;
	r = ask(msg(msg_information_request, client_id()));
	ASSERT_TRUE(r);
	EXPECT_TRUE(find(r->opts, opt_dns_servers));
	EXPECT_FALSE(find(r->opts, opt_domain_list));

	c.no_dhcp_dns_search = false;
	c.ip6.dns.clear();
	c.dns_search = {".", "a..b"};
	r = ask(msg(msg_information_request, client_id()));
	ASSERT_TRUE(r);
	EXPECT_FALSE(find(r->opts, opt_dns_servers));
	EXPECT_FALSE(find(r->opts, opt_domain_list));
}

TEST_F(Dhcpv6Test, FqdnFlags) {
	c.fqdn = "vm.example.org.";
	auto r = ask(msg(msg_request, cat({client_id(), server_id(), ia_na(1),
					   opt(opt_client_fqdn, hex("01026e7300"))})));
	ASSERT_TRUE(r);
	const Opt *fq = find(r->opts, opt_client_fqdn);
	ASSERT_TRUE(fq);
	EXPECT_EQ(uint8_t(fq->data[0]), fqdn_o); // client asked for S: overridden
	EXPECT_EQ(Bytes(fq->data.begin() + 1, fq->data.end()),
		  hex("02766d076578616d706c65036f726700"));

	c.fqdn = std::string(70, 'x'); // can't be encoded: left out
	r = ask(msg(msg_request, cat({client_id(), server_id(), ia_na(1)})));
	ASSERT_TRUE(r);
	EXPECT_FALSE(find(r->opts, opt_client_fqdn));
	check_dns(*r);
}

TEST_F(Dhcpv6Test, HugeConfigStaysWithinMinimumMtu) {
	c.ip6.dns.clear();
	for (int i = 1; i <= 100; i++) {
		Ipv6Addr a = ip6("2001:db8::");
		a.b[15] = uint8_t(i);
		c.ip6.dns.push_back(a);
	}
	for (int i = 0; i < 40; i++)
		c.dns_search.push_back(std::string(60, char('a' + i % 26)) + ".example");
	auto r = ask(msg(msg_request, cat({client_id(), server_id(), ia_na(1)})));
	ASSERT_TRUE(r);
	check_assigned(all(r->opts, opt_ia_na)[0], 1);
	const Opt *d = find(r->opts, opt_dns_servers);
	ASSERT_TRUE(d);
	EXPECT_EQ(d->data.size() % 16, 0u);
	EXPECT_LT(d->data.size() / 16, 100u);
	EXPECT_GT(d->data.size() / 16, 10u);
	EXPECT_LE(tap.frames[0].size(), 14u + 1280u);
}

TEST_F(Dhcpv6Test, TooManyIasDropTheReply) {
	Bytes ias;
	for (uint32_t i = 0; i < 60; i++) {
		Bytes one = ia_na(i);
		ias.insert(ias.end(), one.begin(), one.end());
	}
	EXPECT_FALSE(ask(msg(msg_request, cat({client_id(), server_id(), ias}))));
	EXPECT_EQ(dhcpv6_stats().malformed, 1u);
}

TEST_F(Dhcpv6Test, IdentifierRules) {
	// No Client Identifier.
	EXPECT_FALSE(ask(msg(msg_solicit, ia_na(1))));
	EXPECT_FALSE(ask(msg(msg_request, cat({server_id(), ia_na(1)}))));
	EXPECT_EQ(dhcpv6_stats().malformed, 2u);
	// Server Identifier in a Solicit or Rebind; another server's in a Request.
	EXPECT_FALSE(ask(msg(msg_solicit, cat({client_id(), server_id(), ia_na(1)}))));
	EXPECT_FALSE(ask(msg(msg_rebind, cat({client_id(), server_id(), ia_na(1)}))));
	EXPECT_FALSE(ask(msg(msg_request,
			     cat({client_id(), server_id(mac("02:00:00:00:00:02")), ia_na(1)}))));
	EXPECT_FALSE(ask(msg(msg_renew, cat({client_id(), ia_na(1)}))));
	EXPECT_EQ(dhcpv6_stats().ignored, 4u);
	EXPECT_EQ(dhcpv6_stats().replies, 0u);
	EXPECT_TRUE(st.addr6_seen.is_unspecified());
}

TEST_F(Dhcpv6Test, MalformedMessagesAreDropped) {
	struct Case {
		const char *what;
		Bytes payload;
	};
	Bytes lying = client_id();
	store_be16(lying.data() + 2, 200);                        // longer than the message
	Bytes ia_short = opt(opt_ia_na, hex("0000000100000000")); // 8 < 12
	Bytes ia_ta_short = opt(opt_ia_ta, hex("000001"));        // 3 < 4
	Bytes addr_short = ia_na(1, opt(opt_iaaddr, Bytes(10)));  // IA Address < 24
	Bytes ia_lying = ia_na(1, iaaddr(ip6("2001:db8::5")));
	store_be16(ia_lying.data() + 4 + 12 + 2, 60); // sub-option too long
	Bytes addr_sub_lying = ia_na(1, opt(opt_iaaddr, cat({Bytes(24), hex("000d0009")})));
	Bytes big_duid = opt(opt_clientid, Bytes(131));
	Bytes tiny_duid = opt(opt_clientid, Bytes(1));
	std::vector<Case> cases = {
		{"empty", {}},
		{"3 bytes", hex("010203")},
		{"option header cut", msg(msg_solicit, cat({client_id(), ia_na(1), hex("0003")}))},
		{"option length past the end", msg(msg_solicit, cat({ia_na(1), lying}))},
		{"IA_NA too short", msg(msg_solicit, cat({client_id(), ia_short}))},
		{"IA_TA too short", msg(msg_solicit, cat({client_id(), ia_ta_short}))},
		{"IA Address too short", msg(msg_solicit, cat({client_id(), addr_short}))},
		{"IA sub-option length past the IA",
		 msg(msg_confirm, cat({client_id(), ia_lying}))},
		{"IA Address option past its end",
		 msg(msg_solicit, cat({client_id(), addr_sub_lying}))},
		{"DUID over 130 bytes", msg(msg_solicit, cat({big_duid, ia_na(1)}))},
		{"DUID of 1 byte", msg(msg_solicit, cat({tiny_duid, ia_na(1)}))},
		{"two Client Identifiers",
		 msg(msg_solicit, cat({client_id(), client_id(), ia_na(1)}))},
		{"server ID of 0 bytes",
		 msg(msg_request, cat({client_id(), opt(opt_serverid, {}), ia_na(1)}))},
	};
	uint64_t n = 0;
	for (const auto &k : cases) {
		SCOPED_TRACE(k.what);
		EXPECT_FALSE(ask(k.payload));
		EXPECT_EQ(dhcpv6_stats().malformed, ++n);
	}
	EXPECT_FALSE(st.guest_mac_seen);
}

TEST_F(Dhcpv6Test, TruncatedFrames) {
	// Every prefix of a valid Solicit frame, with the IPv6 and UDP lengths
	// adjusted to the cut: cuts inside the headers are not ours; a cut
	// inside an option is dropped; only the cut right after the Client
	// Identifier is a complete message (a Solicit without IA_NA, answered
	// with NoAddrsAvail).
	Bytes f = dhcp_frame(msg(msg_solicit, cat({client_id(), ia_na(1)})));
	const size_t hdrs = 14 + 40 + 8, boundary = hdrs + 4 + 14;
	for (size_t len = 0; len < f.size(); len++) {
		Bytes cut(f.begin(), f.begin() + long(len));
		if (len >= 14 + 40) // keep the IPv6 length consistent
			store_be16(cut.data() + 14 + 4, uint16_t(len - 14 - 40));
		if (len >= 14 + 40 + 8)
			store_be16(cut.data() + 14 + 40 + 4, uint16_t(len - 14 - 40));
		tap.frames.clear();
		bool consumed = dhcpv6_input(c, st, cut, tap);
		EXPECT_EQ(consumed, len >= hdrs) << len;
		EXPECT_EQ(tap.frames.size(), len == boundary ? 1u : 0u) << len;
		if (len == boundary && tap.frames.size() == 1) {
			Reply r = take_apart(tap.frames[0]);
			EXPECT_EQ(status_of(r.opts), status_no_addrs_avail);
		}
	}
	tap.frames.clear();
	EXPECT_TRUE(dhcpv6_input(c, st, f, tap));
	EXPECT_EQ(tap.frames.size(), 1u);
}

TEST_F(Dhcpv6Test, ServerAndRelayMessagesAreIgnored) {
	for (uint8_t type :
	     {msg_advertise, msg_reply, msg_reconfigure, uint8_t(12), uint8_t(13), uint8_t(200)})
		EXPECT_FALSE(ask(msg(type, cat({client_id(), server_id()}))));
	EXPECT_EQ(dhcpv6_stats().ignored, 6u);
	// From port 547 (a relay agent).
	tap.frames.clear();
	EXPECT_TRUE(dhcpv6_input(c, st,
				 dhcp_frame(msg(msg_solicit, cat({client_id(), ia_na(1)})),
					    all_servers(), server_port),
				 tap));
	EXPECT_TRUE(tap.frames.empty());
}

TEST_F(Dhcpv6Test, WhichFramesAreOurs) {
	Bytes solicit = msg(msg_solicit, cat({client_id(), ia_na(1)}));
	// Unicast to our link-local address: ours, answered.
	EXPECT_TRUE(dhcpv6_input(c, st, dhcp_frame(solicit, our_ll), tap));
	EXPECT_EQ(tap.frames.size(), 1u);
	// Port 547 at another address: ordinary UDP for the caller.
	EXPECT_FALSE(dhcpv6_input(c, st, dhcp_frame(solicit, ip6("2001:db8::53")), tap));
	EXPECT_FALSE(dhcpv6_input(c, st, dhcp_frame(solicit, ip6("ff05::1:3")), tap));
	// Other ports.
	EXPECT_FALSE(dhcpv6_input(c, st, dhcp_frame(solicit, all_servers(), 546, 546), tap));
	EXPECT_FALSE(dhcpv6_input(c, st, dhcp_frame(solicit, all_servers(), 546, 53), tap));
	// IPv4 ethertype, runts.
	Bytes v4 = dhcp_frame(solicit);
	store_be16(v4.data() + 12, ethertype::ipv4);
	EXPECT_FALSE(dhcpv6_input(c, st, v4, tap));
	EXPECT_FALSE(dhcpv6_input(c, st, Bytes(13), tap));
	// UDP length field larger than the packet.
	Bytes lying = dhcp_frame(solicit);
	store_be16(lying.data() + 14 + 40 + 4, 1000);
	EXPECT_FALSE(dhcpv6_input(c, st, lying, tap));
	EXPECT_EQ(tap.frames.size(), 1u);
	// Unspecified source.
	EXPECT_TRUE(dhcpv6_input(
		c, st, dhcp_frame(solicit, all_servers(), client_port, server_port, Ipv6Addr{}),
		tap));
	EXPECT_EQ(tap.frames.size(), 1u);
}

TEST_F(Dhcpv6Test, DisabledConsumesSilently) {
	c.no_dhcpv6 = true;
	EXPECT_FALSE(ask(msg(msg_solicit, cat({client_id(), ia_na(1)}))));
	EXPECT_EQ(dhcpv6_stats().ignored, 1u);
	EXPECT_FALSE(st.guest_mac_seen);
}

TEST_F(Dhcpv6Test, SendFailureIsCounted) {
	tap.refuse = true;
	EXPECT_TRUE(dhcpv6_input(c, st, dhcp_frame(msg(msg_solicit, cat({client_id(), ia_na(1)}))),
				 tap));
	EXPECT_EQ(dhcpv6_stats().send_failed, 1u);
	EXPECT_EQ(dhcpv6_stats().replies, 0u);
}
