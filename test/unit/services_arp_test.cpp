// ARP responder: which requests are answered, the exact reply, malformed and
// truncated packets, the initial request and announcements.
#include <gtest/gtest.h>

#include "capture_tap.h"

#include <cstring>
#include <vector>

#include "passt/conf/config.h"
#include "passt/services/arp.h"
#include "passt/tap/output.h"

using namespace passt;

namespace {

using Bytes = std::vector<std::byte>;

using FakeTap = passt::test::CaptureTap;

constexpr MacAddr our_mac{{0x9a, 0x55, 0x9a, 0x55, 0x9a, 0x55}};
constexpr MacAddr guest_mac{{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}};
constexpr Ipv4Addr guest_ip = Ipv4Addr::from_host(0xc000020a); // 192.0.2.10
constexpr Ipv4Addr gw_ip = Ipv4Addr::from_host(0xc0000201);    // 192.0.2.1

Config make_config() {
	Config c;
	c.our_tap_mac = our_mac;
	c.ip4.addr = guest_ip;
	c.ip4.prefix_len = 24;
	c.ip4.gw = gw_ip;
	c.ip4.map_host_loopback = gw_ip;
	c.ip4.map_guest_addr = Ipv4Addr::from_host(0xc0000263); // 192.0.2.99
	return c;
}

void put(Bytes &b, size_t off, std::initializer_list<uint8_t> v) {
	for (uint8_t x : v)
		b[off++] = std::byte(x);
}
void put_mac(Bytes &b, size_t off, const MacAddr &m) { std::memcpy(&b[off], m.b.data(), 6); }
void put_ip(Bytes &b, size_t off, const Ipv4Addr &a) { std::memcpy(&b[off], a.b.data(), 4); }
MacAddr get_mac(const Bytes &b, size_t off) {
	MacAddr m;
	std::memcpy(m.b.data(), &b[off], 6);
	return m;
}
Ipv4Addr get_ip(const Bytes &b, size_t off) {
	Ipv4Addr a;
	std::memcpy(a.b.data(), &b[off], 4);
	return a;
}
uint16_t get16(const Bytes &b, size_t off) {
	return uint16_t(uint8_t(b[off]) << 8 | uint8_t(b[off + 1]));
}

// An Ethernet/IPv4 ARP frame from the guest, written byte by byte.
Bytes arp_frame(uint16_t op, Ipv4Addr spa, Ipv4Addr tpa, const MacAddr &sha = guest_mac,
		const MacAddr &eth_dst = MacAddr::broadcast()) {
	Bytes f(42);
	put_mac(f, 0, eth_dst);
	put_mac(f, 6, sha);
	put(f, 12, {0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4, uint8_t(op >> 8), uint8_t(op)});
	put_mac(f, 22, sha);
	put_ip(f, 28, spa);
	put_mac(f, 32, MacAddr{});
	put_ip(f, 38, tpa);
	return f;
}

class ArpTest : public ::testing::Test {
protected:
	void SetUp() override { arp_stats_reset(); }
	bool input(const Bytes &f) { return arp_input(c, st, f, tap); }
	Config c = make_config();
	TapState st;
	FakeTap tap;
};

// Check a reply to a request from guest_mac/guest_ip for tpa.
void expect_reply(const Bytes &r, Ipv4Addr tpa) {
	ASSERT_EQ(r.size(), 42u);
	EXPECT_EQ(get_mac(r, 0), guest_mac);
	EXPECT_EQ(get_mac(r, 6), our_mac);
	EXPECT_EQ(get16(r, 12), 0x0806);
	EXPECT_EQ(get16(r, 14), 1);      // htype
	EXPECT_EQ(get16(r, 16), 0x0800); // ptype
	EXPECT_EQ(uint8_t(r[18]), 6);
	EXPECT_EQ(uint8_t(r[19]), 4);
	EXPECT_EQ(get16(r, 20), 2); // reply
	EXPECT_EQ(get_mac(r, 22), our_mac);
	EXPECT_EQ(get_ip(r, 28), tpa);
	EXPECT_EQ(get_mac(r, 32), guest_mac);
	EXPECT_EQ(get_ip(r, 38), guest_ip);
}

TEST_F(ArpTest, AnswersRequestForGateway) {
	EXPECT_TRUE(input(arp_frame(1, guest_ip, gw_ip)));
	ASSERT_EQ(tap.frames.size(), 1u);
	expect_reply(tap.frames[0], gw_ip);
	EXPECT_EQ(arp_stats().replies, 1u);
	EXPECT_TRUE(st.guest_mac_seen);
	EXPECT_EQ(st.guest_mac, guest_mac);
}

TEST_F(ArpTest, AnswersMappedAndOtherAddresses) {
	// Every destination is reached through us, on the subnet or not.
	const Ipv4Addr targets[] = {c.ip4.map_guest_addr, Ipv4Addr::from_host(0xc0000202),
				    Ipv4Addr::from_host(0xc6336407) /* 198.51.100.7 */};
	for (auto t : targets) {
		tap.frames.clear();
		EXPECT_TRUE(input(arp_frame(1, guest_ip, t)));
		ASSERT_EQ(tap.frames.size(), 1u) << t.to_string();
		expect_reply(tap.frames[0], t);
	}
}

TEST_F(ArpTest, AnswersPaddedFrame) {
	Bytes f = arp_frame(1, guest_ip, gw_ip);
	f.resize(60, std::byte{0xee});
	EXPECT_TRUE(input(f));
	ASSERT_EQ(tap.frames.size(), 1u);
	expect_reply(tap.frames[0], gw_ip);
}

TEST_F(ArpTest, ProbeFromUnconfiguredGuestIsAnsweredForOthers) {
	// RFC 5227 probe (sender 0.0.0.0) for an address that isn't the guest's.
	EXPECT_TRUE(input(arp_frame(1, Ipv4Addr{}, gw_ip)));
	ASSERT_EQ(tap.frames.size(), 1u);
	EXPECT_EQ(get_ip(tap.frames[0], 28), gw_ip);
	EXPECT_EQ(get_ip(tap.frames[0], 38), Ipv4Addr{});
}

TEST_F(ArpTest, NeverAnswersForGuestsOwnAddress) {
	EXPECT_TRUE(input(arp_frame(1, gw_ip, guest_ip)));      // plain request
	EXPECT_TRUE(input(arp_frame(1, Ipv4Addr{}, guest_ip))); // DAD probe
	EXPECT_TRUE(input(arp_frame(1, guest_ip, guest_ip)));   // announcement
	EXPECT_TRUE(input(arp_frame(2, guest_ip, guest_ip)));   // gratuitous reply
	auto other = Ipv4Addr::from_host(0xc0000205);
	EXPECT_TRUE(input(arp_frame(1, other, other))); // announcing another
	EXPECT_TRUE(tap.frames.empty());
	EXPECT_EQ(arp_stats().ignored, 5u);
	EXPECT_EQ(arp_stats().replies, 0u);
}

TEST_F(ArpTest, NeverAnswersForAddressGuestUses) {
	st.addr4_seen = Ipv4Addr::from_host(0xc0000214); // guest picked .20 itself
	EXPECT_TRUE(input(arp_frame(1, Ipv4Addr{}, st.addr4_seen)));
	EXPECT_TRUE(tap.frames.empty());
	EXPECT_TRUE(input(arp_frame(1, st.addr4_seen, gw_ip)));
	EXPECT_EQ(tap.frames.size(), 1u);
}

TEST_F(ArpTest, RepliesFromGuestAreConsumedNotAnswered) {
	EXPECT_TRUE(input(arp_frame(2, guest_ip, gw_ip, guest_mac, our_mac)));
	EXPECT_TRUE(tap.frames.empty());
	EXPECT_EQ(arp_stats().ignored, 1u);
	EXPECT_EQ(st.guest_mac, guest_mac);                // but the MAC is learned
	EXPECT_TRUE(input(arp_frame(3, guest_ip, gw_ip))); // RARP request op
	EXPECT_TRUE(tap.frames.empty());
}

TEST_F(ArpTest, Ipv4DisabledNoReply) {
	c.ip4.enabled = false;
	EXPECT_TRUE(input(arp_frame(1, guest_ip, gw_ip)));
	EXPECT_TRUE(tap.frames.empty());
}

TEST_F(ArpTest, NotArpIsLeftAlone) {
	Bytes f = arp_frame(1, guest_ip, gw_ip);
	put(f, 12, {0x08, 0x00});
	EXPECT_FALSE(input(f));
	put(f, 12, {0x86, 0xdd});
	EXPECT_FALSE(input(f));
	for (size_t n = 0; n < 14; n++)
		EXPECT_FALSE(input(Bytes(f.begin(), f.begin() + n)));
	EXPECT_TRUE(tap.frames.empty());
	EXPECT_EQ(arp_stats().malformed, 0u);
}

TEST_F(ArpTest, MalformedDroppedAndCounted) {
	struct Mut {
		size_t off;
		uint8_t v;
	};
	const Mut muts[] = {
		{15, 0x06}, {14, 0x01}, // htype 6 (IEEE 802), 0x0101
		{16, 0x86}, {17, 0xdd}, // ptype 0x8600, 0x08dd
		{18, 8},                // hlen
		{19, 16},               // plen
	};
	uint64_t expect = 0;
	for (const Mut &m : muts) {
		Bytes f = arp_frame(1, guest_ip, gw_ip);
		f[m.off] = std::byte(m.v);
		EXPECT_TRUE(input(f)) << m.off;
		EXPECT_EQ(arp_stats().malformed, ++expect) << m.off;
	}
	// Every truncation of a valid request that still has an Ethernet header.
	Bytes f = arp_frame(1, guest_ip, gw_ip);
	for (size_t n = 14; n < f.size(); n++) {
		EXPECT_TRUE(input(Bytes(f.begin(), f.begin() + n))) << n;
		EXPECT_EQ(arp_stats().malformed, ++expect) << n;
	}
	EXPECT_TRUE(tap.frames.empty());
	EXPECT_EQ(arp_stats().replies, 0u);
	EXPECT_FALSE(st.guest_mac_seen); // nothing learned from garbage
}

TEST_F(ArpTest, SendFailureCounted) {
	tap.refuse = true;
	EXPECT_TRUE(input(arp_frame(1, guest_ip, gw_ip)));
	EXPECT_EQ(arp_stats().send_failed, 1u);
	EXPECT_EQ(arp_stats().replies, 0u);
}

TEST_F(ArpTest, InitialRequestAsksForGuestAddress) {
	EXPECT_EQ(arp_send_init_req(c, tap), 42u);
	ASSERT_EQ(tap.frames.size(), 1u);
	const Bytes &r = tap.frames[0];
	EXPECT_EQ(get_mac(r, 0), MacAddr::broadcast());
	EXPECT_EQ(get_mac(r, 6), our_mac);
	EXPECT_EQ(get16(r, 12), 0x0806);
	EXPECT_EQ(get16(r, 20), 1);
	EXPECT_EQ(get_mac(r, 22), our_mac);
	EXPECT_EQ(get_ip(r, 28), gw_ip);
	EXPECT_EQ(get_ip(r, 38), guest_ip);

	c.ip4.enabled = false;
	EXPECT_EQ(arp_send_init_req(c, tap), 0u);
	EXPECT_EQ(tap.frames.size(), 1u);
}

TEST_F(ArpTest, AnnouncementFormat) {
	const MacAddr m{{0x02, 0, 0, 0, 0, 0x42}};
	auto ip = Ipv4Addr::from_host(0xc0000202);
	EXPECT_EQ(arp_announce(c, ip, m, tap), 42u);
	ASSERT_EQ(tap.frames.size(), 1u);
	const Bytes &r = tap.frames[0];
	EXPECT_EQ(get_mac(r, 0), MacAddr::broadcast());
	EXPECT_EQ(get_mac(r, 6), m);
	EXPECT_EQ(get16(r, 20), 1);
	EXPECT_EQ(get_mac(r, 22), m);
	EXPECT_EQ(get_ip(r, 28), ip);
	EXPECT_EQ(get_mac(r, 32), MacAddr{});
	EXPECT_EQ(get_ip(r, 38), ip);

	// Fed back to us as if from the guest, an announcement is not answered.
	Bytes back = r;
	tap.frames.clear();
	EXPECT_TRUE(input(back));
	EXPECT_TRUE(tap.frames.empty());
	EXPECT_EQ(arp_announce(c, Ipv4Addr{}, m, tap), 0u);
}

} // namespace
