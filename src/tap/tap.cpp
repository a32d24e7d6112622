// The tap layer's two doors and the L2/L3 demultiplexer for frames from the
// guest; see include/passt/tap/tap.h and include/passt/tap/backend.h.
#include "passt/tap/tap.h"

#include <sys/uio.h>

#include <cerrno>
#include <cstring>

#include "passt/core/log.h"
#include "passt/core/pcap.h"
#include "passt/core/util.h"
#include "passt/net/checksum.h"
#include "passt/net/eth.h"
#include "passt/net/icmp.h"
#include "passt/net/icmpv6.h"
#include "passt/net/ip4.h"
#include "passt/net/ip6.h"
#include "passt/net/udp.h"
#include "passt/services/arp.h"
#include "passt/services/dhcp.h"
#include "passt/services/dhcpv6.h"
#include "passt/services/ndp.h"
#include "passt/tap/backend.h"
#include "passt/tap/vnet.h"

namespace passt {

namespace {

constexpr uint16_t DHCP_SERVER_PORT = 67;
constexpr uint16_t DHCPV6_SERVER_PORT = 547;

void malformed(TapDemux &d, const char *what) {
	d.stats->malformed++;
	debug_rl("tap: dropping malformed %s frame", what);
}

// Hand a frame to an L4 translator, or count it as unhandled.
void to_l4(TapDemux &d, const TapDemux::L4 &h, std::span<std::byte> frame, const timespec &now) {
	if (!h.fn || !h.fn(h.ctx, frame, now))
		d.stats->unhandled++;
}

void input4(TapDemux &d, std::span<std::byte> frame, std::span<std::byte> l3, const timespec &now) {
	auto ip = Ip4View::parse(l3);
	if (!ip)
		return malformed(d, "IPv4");
	if (!ip->saddr().is_unspecified() && !ip->saddr().is_multicast())
		d.st->addr4_seen = ip->saddr();

	switch (ip->protocol()) {
	case ipproto::udp: {
		auto udp = ConstUdpView::parse(ip->payload());
		if (!udp)
			return malformed(d, "UDP");
		if (udp->dport() == DHCP_SERVER_PORT) {
			if (!dhcp_input(*d.c, *d.st, frame, *d.out))
				d.stats->unhandled++;
			return;
		}
		return to_l4(d, d.udp, frame, now);
	}
	case ipproto::icmp: return to_l4(d, d.icmp, frame, now);
	case ipproto::tcp: return to_l4(d, d.tcp, frame, now);
	default: d.stats->unhandled++; // IGMP and friends
	}
}

void input6(TapDemux &d, std::span<std::byte> frame, std::span<std::byte> l3, const timespec &now) {
	auto ip = Ip6View::parse(l3);
	if (!ip)
		return malformed(d, "IPv6");
	const Ipv6Addr src = ip->saddr();
	if (src.is_link_local())
		d.st->addr6_ll_seen = src;
	else if (!src.is_unspecified() && !src.is_multicast())
		d.st->addr6_seen = src;

	switch (ip->l4_info().proto) {
	case ipproto::icmpv6: {
		auto icmp = ConstIcmp6View::parse(ip->l4());
		if (!icmp)
			return malformed(d, "ICMPv6");
		uint8_t type = icmp->type();
		if (type >= 133 && type <= 137) {
			if (!ndp_input(*d.c, *d.st, frame, *d.out))
				d.stats->unhandled++;
			return;
		}
		if (type == 128 || type == 129)
			return to_l4(d, d.icmp, frame, now);
		d.stats->unhandled++; // MLD reports and the like
		return;
	}
	case ipproto::udp: {
		auto udp = ConstUdpView::parse(ip->l4());
		if (!udp)
			return malformed(d, "UDP");
		if (udp->dport() == DHCPV6_SERVER_PORT) {
			if (!dhcpv6_input(*d.c, *d.st, frame, *d.out))
				d.stats->unhandled++;
			return;
		}
		return to_l4(d, d.udp, frame, now);
	}
	case ipproto::tcp: return to_l4(d, d.tcp, frame, now);
	default: d.stats->unhandled++;
	}
}

// End of a batch: let the translators finish what they deferred.
void flush_l4(TapDemux &d, const timespec &now) {
	for (const TapDemux::L4 *h : {&d.icmp, &d.tcp, &d.udp})
		if (h->flush)
			h->flush(h->ctx, now);
}

// The door in: every frame from the guest, from any backend, passes here
// once, before anybody looks at it. pcap_ts: wall-clock time for the
// capture (one per batch), null if capture is off.
void dispatch(TapDemux &d, std::span<std::byte> frame, const timespec &now,
	      const timespec *pcap_ts) {
	d.stats->frames_in++;
	d.stats->bytes_in += frame.size();
	if (pcap_ts)
		pcap_buf(frame.data(), frame.size(), *pcap_ts);

	auto eth = EthView::parse(frame);
	if (!eth)
		return malformed(d, "Ethernet");

	const MacAddr src = eth->src();
	if (!src.is_multicast() && !src.is_zero() && src != d.st->guest_mac) {
		if (d.st->guest_mac_seen)
			debug_rl("tap: guest MAC changed to %s", src.text().c_str());
		d.st->guest_mac = src;
		d.st->guest_mac_seen = true;
	}

	switch (eth->ethertype()) {
	case ethertype::arp:
		if (!arp_input(*d.c, *d.st, frame, *d.out))
			d.stats->unhandled++;
		return;
	case ethertype::ipv4:
		if (!d.c->ip4.enabled) {
			d.stats->unhandled++;
			return;
		}
		return input4(d, frame, eth->payload(), now);
	case ethertype::ipv6:
		if (!d.c->ip6.enabled) {
			d.stats->unhandled++;
			return;
		}
		return input6(d, frame, eth->payload(), now);
	default: d.stats->unhandled++;
	}
}

// Capture a frame to the guest as the guest receives it: a partial
// checksum completed (in the record only: the frame is const), a GSO frame
// whole, which is a valid packet as the translators build it.
void capture_out(const TapFrame &f, const timespec &ts) {
	be16 sum;
	if (!f.needs_csum || !tap_partial_csum(f.frame, f.csum_start, f.csum_offset, sum)) {
		pcap_buf(f.frame.data(), f.frame.size(), ts);
		return;
	}
	const size_t at = size_t(f.csum_start) + f.csum_offset;
	auto *p = const_cast<std::byte *>(f.frame.data());
	iovec iov[3] = {
		{p, at},
		{&sum.raw, sizeof(sum.raw)},
		{p + at + 2, f.frame.size() - at - 2},
	};
	pcap_frame(iov, 3, 0, ts);
}

} // namespace

bool tap_partial_csum(std::span<const std::byte> frame, size_t start, size_t offset, be16 &sum) {
	if (start > frame.size() || offset > frame.size() - start ||
	    frame.size() - start - offset < 2)
		return false;
	// The field holds the pseudo-header sum: summing over it completes it.
	uint16_t folded = csum_fold(csum_add(0, frame.subspan(start)));
	sum = be16::from_raw(uint16_t(~folded));
	return true;
}

// The door out: every frame to the guest, from any translator or service.
bool TapBackend::send_frame(std::span<const std::byte> frame) {
	TapFrame f;
	f.frame = frame;
	if (!xmit(f)) {
		stats_->out_dropped++;
		return false;
	}
	if (pcap_enabled())
		pcap_buf(frame.data(), frame.size(), now_realtime());
	stats_->frames_out++;
	stats_->bytes_out += frame.size();
	return true;
}

bool TapOutput::offloads_ok(const TapFrame &f) const {
	if (f.needs_csum && !offloads())
		return false;
	switch (f.gso_type) {
	case vnet::GSO_NONE: return true;
	case vnet::GSO_TCPV4: return tso(false);
	case vnet::GSO_TCPV6: return tso(true);
	default: return false;
	}
}

size_t TapBackend::send_frames(std::span<const TapFrame> frames) {
	const bool cap = pcap_enabled();
	const timespec ts = cap ? now_realtime() : timespec{};
	size_t sent = 0;
	for (const TapFrame &f : frames) {
		if (!offloads_ok(f) || !xmit(f)) {
			stats_->out_dropped++;
			continue;
		}
		if (cap)
			capture_out(f, ts);
		stats_->frames_out++;
		stats_->bytes_out += f.frame.size();
		sent++;
	}
	xmit_end();
	return sent;
}

size_t TapBackend::direct_begin(size_t hdr_len, size_t payload, size_t budget,
				std::span<TapDirectSlot> slots, std::span<iovec> iov) {
	if (pcap_enabled() || !offloads() || slots.empty() || !budget)
		return 0;
	return direct_reserve(hdr_len, payload, budget, slots, iov);
}

size_t TapBackend::direct_end(std::span<const TapDirectSlot> used) {
	size_t ok = 0;
	while (ok < used.size() && offloads_ok(used[ok].out))
		ok++;
	const size_t sent = direct_commit(used.first(ok));
	for (size_t i = 0; i < sent; i++) {
		stats_->frames_out++;
		stats_->bytes_out += used[i].out.frame.size() + used[i].payload;
	}
	stats_->out_dropped += used.size() - sent;
	xmit_end();
	return sent;
}

void tap_input(TapDemux &d, std::span<std::byte> frame, const timespec &now) {
	const timespec ts = pcap_enabled() ? now_realtime() : timespec{};
	dispatch(d, frame, now, pcap_enabled() ? &ts : nullptr);
	flush_l4(d, now);
}

void tap_input_pool(TapDemux &d, const Pool &pool, const timespec &now) {
	const timespec ts = pcap_enabled() ? now_realtime() : timespec{};
	const timespec *cap = pcap_enabled() ? &ts : nullptr;
	for (size_t i = 0; i < pool.size(); i++)
		dispatch(d, pool.get(i), now, cap);
	flush_l4(d, now);
	d.out->flush();
}

namespace {

bool ra_enabled(const Config &c) { return c.ip6.enabled && !c.no_ndp && !c.no_ra; }

// Wake up for the next RA (NdpRaTimer counts whole seconds), not before.
void ra_rearm(TapDemux &d) {
	if (d.timers && d.ra_timer.scheduled())
		d.timers->arm_at(d.timer, timespec{time_t(d.ra_timer.next_due_s()), 0});
}

} // namespace

int tap_timer_add(TapDemux &d, Timers &timers) {
	if (!ra_enabled(*d.c))
		return 0;
	int id = timers.add(
		"tap", 1000,
		[](void *p, const timespec &now) { tap_timer(*static_cast<TapDemux *>(p), now); },
		&d);
	if (id < 0)
		return -ENOSPC;
	timers.disarm(id);
	d.timers = &timers;
	d.timer = id;
	return 0;
}

void tap_announce(TapDemux &d, const timespec &now) {
	// Ask for the guest's MAC right away, so replies can be unicast before
	// the guest sends anything.
	if (d.c->ip4.enabled && !d.c->ip4.addr.is_unspecified())
		arp_send_init_req(*d.c, *d.out);
	if (ra_enabled(*d.c)) {
		ndp_send_ra(*d.c, *d.st, *d.out);
		d.ra_timer.restart(now);
		ra_rearm(d);
	}
	d.out->flush();
}

void tap_timer(TapDemux &d, const timespec &now) {
	if (!ra_enabled(*d.c))
		return;
	if (d.ra_timer.tick(*d.c, *d.st, *d.out, now))
		d.out->flush();
	ra_rearm(d);
}

} // namespace passt
