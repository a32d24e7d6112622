// NDP responder: Router and Neighbour Discovery (RFC 4861) towards the guest.
//
// Theory of operation
//
// The guest's link has exactly two nodes: the guest and us. We are its
// default router and every other address it talks to is reached through us,
// so the responder is stateless:
//
// - Router Solicitation -> Router Advertisement, to the solicitor (or to
//   all-nodes ff02::1 if it solicited from the unspecified address), from
//   our link-local address. The RA carries: cur hop limit 255 and router
//   lifetime 65535 s (RFC 8319), as the C passt sends; the M and O flags
//   when DHCPv6 is enabled (the C passt always sets M; without a DHCPv6
//   server an M flag would only make the guest wait for one); a Prefix
//   Information option for the /64 of the guest's address with L and A set
//   and infinite lifetimes, so SLAAC and DHCPv6 agree on the prefix; an MTU
//   option (unless --mtu 0 or below the IPv6 minimum); our MAC address as
//   source link-layer address; RDNSS and DNSSL (RFC 8106) with infinite
//   lifetimes unless --no-dhcp-dns / --no-dhcp-search. Each DNS option is
//   sent on its own terms (the C passt sends DNSSL only next to RDNSS).
//   Options that would push the packet over the IPv6 minimum MTU (1280) are
//   cut (RDNSS addresses, DNSSL names) or left out.
// - Neighbour Solicitation -> Neighbour Advertisement with R, S and O set
//   and our MAC address as target link-layer address, for any target but
//   the guest's own addresses (the configured one and those it was seen
//   using), like the C passt. Duplicate Address Detection probes (source
//   ::) are answered, to all-nodes with S clear as RFC 4861 7.2.4 says, only
//   for the addresses we use ourselves (our link-local address, the
//   gateway, the address mapped to the host's loopback): answering a DAD
//   probe for anything else would make the guest give up an address it is
//   free to use (the C passt answers no DAD probe at all).
// - Router Advertisements, Neighbour Advertisements and Redirects from the
//   guest are dropped: we are the only router and keep no neighbour cache.
// - Unsolicited RAs: ndp_send_ra() when a guest connects, then NdpRaTimer
//   every 200 to 600 s at random (RFC 4861 6.2.1 defaults, as the C passt),
//   the first ones after at most 16 s (RFC 4861 6.2.4).
//
// Every message is validated as RFC 4861 6.1 and 7.1 require (hop limit
// 255, code 0, ICMPv6 checksum, minimum length, non-zero option lengths
// within the message, no source link-layer address option and a
// solicited-node destination for messages from ::, no multicast target)
// and dropped otherwise. With --no-ndp every NDP message is dropped; with
// --no-ra Router Solicitations are.
//
// Replies are composed in a stack buffer directly behind the headers
// (build_icmp6_inplace()): nothing is allocated. Options are read and
// written with passt/net/tlv.h (tlv::Ndp).
#include "passt/services/ndp.h"

#include <cstring>

#include "passt/conf/config.h"
#include "passt/core/log.h"
#include "passt/net/build.h"
#include "passt/net/eth.h"
#include "passt/net/icmpv6.h"
#include "passt/net/ip6.h"
#include "passt/net/tlv.h"
#include "passt/services/dns_name.h"
#include "passt/tap/output.h"

namespace passt {

namespace {

NdpStats stats;

// We keep every message we send within the IPv6 minimum MTU.
constexpr size_t ip6_min_mtu = 1280;
constexpr size_t ip6_hdr = Ip6View::hdr_len;
// ICMPv6 message length limit, and the "body" (after type/code/checksum).
constexpr size_t msg_max = ip6_min_mtu - ip6_hdr;
constexpr size_t body_max = msg_max - 4;
constexpr size_t buf_len = frame::icmp6_body_off + body_max;

constexpr uint32_t infinite = 0xffffffff;

const Ipv6Addr all_nodes = [] {
	Ipv6Addr a;
	a.b[0] = 0xff;
	a.b[1] = 0x02;
	a.b[15] = 1;
	return a;
}();

// Ethernet multicast address for an IPv6 multicast address (RFC 2464 7).
MacAddr multicast_mac(const Ipv6Addr &a) {
	return MacAddr{{0x33, 0x33, a.b[12], a.b[13], a.b[14], a.b[15]}};
}

bool is_solicited_node(const Ipv6Addr &a) {
	static const uint8_t prefix[13] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff};
	return std::memcmp(a.b.data(), prefix, sizeof(prefix)) == 0;
}

using Writer = tlv::Writer<tlv::Ndp>;

void put_mtu_opt(Writer &w, uint32_t mtu) {
	std::byte d[6]{}; // reserved, MTU
	store_be32(d + 2, mtu);
	w.add(ndp::opt_mtu, d);
}

// Prefix Information for the /64 of addr, on-link and autonomous.
void put_prefix_opt(Writer &w, const Ipv6Addr &addr) {
	std::byte d[30]{};
	d[0] = std::byte(64);
	d[1] = std::byte(ndp::pi_onlink | ndp::pi_autonomous);
	store_be32(d + 2, infinite);           // valid lifetime
	store_be32(d + 6, infinite);           // preferred lifetime
	std::memcpy(d + 14, addr.b.data(), 8); // rest of the prefix stays zero
	w.add(ndp::opt_prefix_info, d);
}

// Header of an RDNSS or DNSSL option: reserved, lifetime (infinite).
size_t open_dns_opt(Writer &w, uint8_t type) {
	size_t at = w.open(type);
	w.zeros(2);
	w.put32(infinite);
	return at;
}

// RDNSS (RFC 8106 5.1): as many of the specified resolvers as fit.
void put_rdnss_opt(Writer &w, const std::vector<Ipv6Addr> &dns) {
	Writer::Mark mark = w.mark();
	size_t at = open_dns_opt(w, ndp::opt_rdnss);
	for (const Ipv6Addr &a : dns)
		if (!a.is_unspecified() && w.room() >= 16)
			w.put(a.b);
	w.close(at);
	if (w.overflow() || w.len() == at + 8)
		w.rollback(mark);
}

// DNSSL (RFC 8106 5.2): the search list in DNS wire format, zero-padded to
// a multiple of 8 bytes; names that don't fit are left out.
void put_dnssl_opt(Writer &w, const std::vector<std::string> &search) {
	size_t fit = tlv::max_data<tlv::Ndp>(w.room()); // 6 bytes before the names
	std::byte names[254 * 8];
	size_t len = fit < 6 ? 0 : dns_search_encode(search, std::span(names, fit - 6));
	if (!len)
		return;
	size_t at = open_dns_opt(w, ndp::opt_dnssl);
	w.put(std::span<const std::byte>(names, len));
	w.close(at);
}

// Hand a frame to the tap and count it.
bool send(TapOutput &out, std::span<const std::byte> frame, uint64_t &counter) {
	if (!frame.empty() && out.send_frame(frame)) {
		counter++;
		return true;
	}
	stats.send_failed++;
	return false;
}

// Router Advertisement to dst (IPv6) at dst_mac.
bool send_ra(const Config &c, TapOutput &out, const Ipv6Addr &dst, const MacAddr &dst_mac) {
	std::byte buf[buf_len];
	Writer w(std::span<std::byte>(buf + frame::icmp6_body_off, body_max));

	w.put8(255); // cur hop limit, as the C passt
	w.put8(c.no_dhcpv6 ? 0 : (ndp::ra_managed | ndp::ra_other));
	w.put16(ndp_router_lifetime_s);
	w.zeros(8); // reachable time, retrans timer: unspecified

	w.add(ndp::opt_source_lladdr, c.our_tap_mac.b);
	if (c.mtu >= ip6_min_mtu)
		put_mtu_opt(w, c.mtu);
	if (!c.ip6.addr.is_unspecified())
		put_prefix_opt(w, c.ip6.addr);
	if (!c.no_dhcp_dns)
		put_rdnss_opt(w, c.ip6.dns);
	if (!c.no_dhcp_dns_search)
		put_dnssl_opt(w, c.dns_search);

	size_t n = build_icmp6_inplace(std::span<std::byte>(buf), dst_mac, c.our_tap_mac,
				       ndp_our_ll(c), dst, icmp6type::router_advert, 0, w.len(),
				       ndp::hop_limit);
	return send(out, std::span<const std::byte>(buf, n), stats.ra_sent);
}

// Neighbour Advertisement for target, router and override flags set.
bool send_na(const Config &c, TapOutput &out, const Ipv6Addr &dst, const MacAddr &dst_mac,
	     const Ipv6Addr &target, bool solicited) {
	std::byte buf[frame::icmp6_body_off + 4 + 16 + 8];
	Writer w(std::span<std::byte>(buf + frame::icmp6_body_off, 4 + 16 + 8));

	w.put32(ndp::na_router | ndp::na_override | (solicited ? ndp::na_solicited : 0));
	w.put(target.b);
	w.add(ndp::opt_target_lladdr, c.our_tap_mac.b);

	size_t n = build_icmp6_inplace(std::span<std::byte>(buf), dst_mac, c.our_tap_mac,
				       ndp_our_ll(c), dst, icmp6type::neighbor_advert, 0, w.len(),
				       ndp::hop_limit);
	return send(out, std::span<const std::byte>(buf, n), stats.na_sent);
}

// An address the guest uses itself: never answered for.
bool is_guest_addr(const Config &c, const TapState &st, const Ipv6Addr &a) {
	return a == c.ip6.addr || a == st.addr6_seen || a == st.addr6_ll_seen;
}

// An address we use ourselves on the link, defended against DAD.
bool is_our_addr(const Config &c, const Ipv6Addr &a) {
	if (a.is_unspecified())
		return false;
	return a == ndp_our_ll(c) || a == c.ip6.gw || a == c.ip6.map_host_loopback;
}

// Minimum length of each message type (RFC 4861 4.1 to 4.5).
size_t min_len(uint8_t type) {
	switch (type) {
	case icmp6type::router_solicit: return ndp::rs_opts_off;
	case icmp6type::router_advert: return ndp::ra_opts_off;
	case icmp6type::neighbor_solicit: return ndp::ns_opts_off;
	case icmp6type::neighbor_advert: return ndp::na_opts_off;
	default: // redirect: reserved, target, destination
		return 40;
	}
}

size_t opts_off(uint8_t type) { return type == icmp6type::redirect ? 40 : min_len(type); }

void learn(TapState &st, const MacAddr &mac, const Ipv6Addr &saddr) {
	if (!mac.is_multicast() && !mac.is_zero()) {
		st.guest_mac = mac;
		st.guest_mac_seen = true;
	}
	if (saddr.is_unspecified() || saddr.is_multicast() || saddr.is_loopback())
		return;
	if (saddr.is_link_local())
		st.addr6_ll_seen = saddr;
	else
		st.addr6_seen = saddr;
}

} // namespace

Ipv6Addr ndp_eui64_ll(const MacAddr &mac) {
	Ipv6Addr a;
	a.b[0] = 0xfe;
	a.b[1] = 0x80;
	a.b[8] = mac.b[0] ^ 0x02; // universal/local bit, inverted
	a.b[9] = mac.b[1];
	a.b[10] = mac.b[2];
	a.b[11] = 0xff;
	a.b[12] = 0xfe;
	a.b[13] = mac.b[3];
	a.b[14] = mac.b[4];
	a.b[15] = mac.b[5];
	return a;
}

Ipv6Addr ndp_our_ll(const Config &c) {
	if (!c.ip6.our_tap_ll.is_unspecified())
		return c.ip6.our_tap_ll;
	static bool told;
	if (!told) {
		told = true;
		debug("NDP: no link-local address configured, using %s (EUI-64 of our MAC)",
		      ndp_eui64_ll(c.our_tap_mac).text().c_str());
	}
	return ndp_eui64_ll(c.our_tap_mac);
}

bool ndp_input(const Config &c, TapState &st, std::span<const std::byte> frame, TapOutput &out) {
	auto eth = ConstEthView::parse(frame);
	if (!eth || eth->ethertype() != ethertype::ipv6)
		return false;
	auto ip = ConstIp6View::parse(eth->payload());
	if (!ip || ip->proto() != ipproto::icmpv6 || ip->is_fragment())
		return false;
	const auto l4 = ip->l4();
	if (l4.empty())
		return false;
	uint8_t type = uint8_t(l4[0]);
	if (type < icmp6type::router_solicit || type > icmp6type::redirect)
		return false;

	// From here on the frame is ours: answered or dropped.
	if (c.no_ndp || !c.ip6.enabled) {
		stats.ignored++;
		return true;
	}
	auto icmp = ConstIcmp6View::parse(l4);
	if (!icmp) {
		stats.malformed++;
		return true;
	}

	const Ipv6Addr saddr = ip->saddr(), daddr = ip->daddr();
	const MacAddr src_mac = eth->src();
	const auto msg = icmp->bytes();
	if (ip->hop_limit() != ndp::hop_limit || icmp->code() != 0 || msg.size() < min_len(type) ||
	    !icmp->checksum_ok(saddr, daddr) || saddr.is_multicast() || src_mac.is_multicast()) {
		stats.malformed++;
		debug_rl("NDP: dropping invalid message, type %u", type);
		return true;
	}
	const auto opts = msg.subspan(opts_off(type));
	if (!tlv::valid<tlv::Ndp>(opts)) {
		stats.malformed++;
		debug_rl("NDP: dropping message with malformed options, type %u", type);
		return true;
	}
	const bool unspec = saddr.is_unspecified();
	if (unspec && tlv::find<tlv::Ndp>(opts, ndp::opt_source_lladdr)) {
		stats.malformed++;
		return true;
	}
	Ipv6Addr target;
	if (type == icmp6type::neighbor_solicit || type == icmp6type::neighbor_advert) {
		target = *icmp->target();
		if (target.is_multicast() ||
		    (type == icmp6type::neighbor_solicit && unspec && !is_solicited_node(daddr))) {
			stats.malformed++;
			return true;
		}
	}

	learn(st, src_mac, saddr);

	if (type == icmp6type::router_solicit) {
		if (c.no_ra) {
			stats.ignored++;
			return true;
		}
		info_rl("NDP: received RS, sending RA");
		if (unspec)
			send_ra(c, out, all_nodes, multicast_mac(all_nodes));
		else
			send_ra(c, out, saddr, src_mac);
		return true;
	}

	if (type != icmp6type::neighbor_solicit) {
		stats.ignored++; // RA, NA, redirect: nothing to do for a router alone
		return true;
	}

	if (is_guest_addr(c, st, target) || target == saddr ||
	    (unspec && !is_our_addr(c, target))) {
		stats.ignored++;
		return true;
	}
	debug_rl("NDP: received NS for %s, sending NA", target.text().c_str());
	if (unspec)
		send_na(c, out, all_nodes, multicast_mac(all_nodes), target, false);
	else
		send_na(c, out, saddr, src_mac, target, true);
	return true;
}

bool ndp_send_ra(const Config &c, TapState &st, TapOutput &out) {
	(void)st;
	if (!c.ip6.enabled || c.no_ndp || c.no_ra)
		return false;
	return send_ra(c, out, all_nodes, multicast_mac(all_nodes));
}

NdpRaTimer::NdpRaTimer(uint64_t seed) : rng_(seed ? seed : 0x9e3779b97f4a7c15ULL) {}

// xorshift64*: plenty for de-synchronising routers (RFC 4861 6.2.4).
uint32_t NdpRaTimer::next_interval_s() {
	rng_ ^= rng_ >> 12;
	rng_ ^= rng_ << 25;
	rng_ ^= rng_ >> 27;
	uint64_t r = (rng_ * 0x2545f4914f6cdd1dULL) >> 32;
	uint32_t span = ndp_max_rtr_adv_interval_s - ndp_min_rtr_adv_interval_s;
	uint32_t interval = ndp_min_rtr_adv_interval_s + uint32_t(r % span);
	if (sent_ < ndp_max_initial_rtr_advertisements &&
	    interval > ndp_max_initial_rtr_adv_interval_s)
		interval = ndp_max_initial_rtr_adv_interval_s;
	return interval;
}

void NdpRaTimer::restart(const timespec &now) {
	sent_ = 1;
	next_s_ = int64_t(now.tv_sec) + next_interval_s();
	scheduled_ = true;
}

bool NdpRaTimer::tick(const Config &c, TapState &st, TapOutput &out, const timespec &now) {
	if (!scheduled_) {
		next_s_ = int64_t(now.tv_sec) + next_interval_s();
		scheduled_ = true;
		return false;
	}
	if (int64_t(now.tv_sec) < next_s_)
		return false;
	bool sent = ndp_send_ra(c, st, out);
	if (sent)
		sent_++;
	uint32_t interval = next_interval_s();
	next_s_ = int64_t(now.tv_sec) + interval;
	if (sent)
		info_rl("NDP: sent unsolicited RA, next in %us", interval);
	return sent;
}

const NdpStats &ndp_stats() { return stats; }
void ndp_stats_reset() { stats = NdpStats{}; }

} // namespace passt
