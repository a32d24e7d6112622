// ARP responder (RFC 826) for the tap side.
//
// Theory of operation
// -------------------
// The guest sits alone on a point-to-point Ethernet link whose other end is
// us. Whatever IPv4 address it wants to reach, on its subnet or off it (the
// gateway, the --map-host-loopback and --map-guest-addr addresses, other
// hosts of the host's subnet that the guest believes are on-link), frames
// must come to us, so every ARP request is answered with our own MAC
// (Config::our_tap_mac), as the C passt does. Three exceptions:
//   - a request for the guest's own address (the configured one, or the one
//     it was last seen using as source): answering would make
//     the guest's duplicate address detection (RFC 5227 probes, sender
//     0.0.0.0) or arping conclude that someone else holds its address;
//   - announcements and gratuitous ARP (sender address == target address,
//     sender not 0.0.0.0): the guest tells the link about itself, there is
//     nothing to answer, and answering would claim its address;
//   - anything but a request (replies are only of use to learn the guest's
//     MAC, which we do from every well-formed ARP frame).
// Packets that are not Ethernet/IPv4 ARP (other hardware or protocol types,
// address lengths) or are truncated are dropped and counted as malformed.
// The reply is 42 bytes: tap peers do not need the 60-byte Ethernet minimum.
// No state is kept besides the guest's MAC in TapState and the counters.
#include "passt/services/arp.h"

#include <array>

#include "passt/conf/config.h"
#include "passt/core/log.h"
#include "passt/net/arp.h"
#include "passt/net/build.h"
#include "passt/net/eth.h"
#include "passt/tap/output.h"

namespace passt {

namespace {

ArpStats stats;

// Hand a built frame to the tap; counts and returns its length, or 0.
size_t send(TapOutput &out, std::span<const std::byte> frame) {
	if (frame.empty())
		return 0;
	if (!out.send_frame(frame)) {
		stats.send_failed++;
		return 0;
	}
	return frame.size();
}

} // namespace

const ArpStats &arp_stats() { return stats; }
void arp_stats_reset() { stats = ArpStats{}; }

bool arp_input(const Config &c, TapState &st, std::span<const std::byte> frame, TapOutput &out) {
	auto eth = ConstEthView::parse(frame);
	if (!eth || eth->ethertype() != ethertype::arp)
		return false;

	auto arp = ConstArpView::parse(eth->payload());
	if (!arp) {
		stats.malformed++;
		debug_rl("ARP: dropping malformed packet (%zu bytes)", eth->payload().size());
		return true;
	}

	MacAddr src = eth->src();
	if (!src.is_multicast() && !src.is_zero()) {
		st.guest_mac = src;
		st.guest_mac_seen = true;
	}

	if (arp->op() != arpop::request) {
		stats.ignored++;
		return true;
	}
	Ipv4Addr spa = arp->spa(), tpa = arp->tpa();
	if (!spa.is_unspecified() && spa == tpa) {
		stats.ignored++; // announcement / gratuitous ARP
		return true;
	}
	if (!c.ip4.enabled || tpa == c.ip4.addr ||
	    (!st.addr4_seen.is_unspecified() && tpa == st.addr4_seen)) {
		stats.ignored++;
		return true;
	}

	std::array<std::byte, frame::arp_len> buf;
	size_t len = build_arp(buf, src, c.our_tap_mac, arpop::reply, c.our_tap_mac, tpa,
			       arp->sha(), spa);
	if (send(out, std::span<const std::byte>(buf.data(), len)))
		stats.replies++;
	return true;
}

size_t arp_send_init_req(const Config &c, TapOutput &out) {
	if (!c.ip4.enabled || c.ip4.addr.is_unspecified())
		return 0;
	std::array<std::byte, frame::arp_len> buf;
	size_t len = build_arp(buf, MacAddr::broadcast(), c.our_tap_mac, arpop::request,
			       c.our_tap_mac, c.ip4.gw, MacAddr::broadcast(), c.ip4.addr);
	debug("ARP: asking for the guest's MAC address (%s)", c.ip4.addr.text().c_str());
	return send(out, std::span<const std::byte>(buf.data(), len));
}

size_t arp_announce(const Config &c, Ipv4Addr ip, const MacAddr &mac, TapOutput &out) {
	if (!c.ip4.enabled || ip.is_unspecified())
		return 0;
	std::array<std::byte, frame::arp_len> buf;
	// RFC 5227 2.3: a request whose sender and target addresses are both the
	// announced one; the target hardware address is ignored, zero it.
	size_t len =
		build_arp(buf, MacAddr::broadcast(), mac, arpop::request, mac, ip, MacAddr{}, ip);
	debug("ARP: announcing %s at %s", ip.text().c_str(), mac.text().c_str());
	return send(out, std::span<const std::byte>(buf.data(), len));
}

} // namespace passt
