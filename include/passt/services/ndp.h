// NDP responder for the tap side (pasta, passt and vhost-user alike): we are
// the guest's only router and the only neighbour it ever reaches, so we
// answer Router Solicitations with a Router Advertisement describing the
// guest's prefix, and Neighbour Solicitations for any address but the
// guest's own with our MAC address. See src/services/ndp.cpp for the rules.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <span>

#include "passt/net/addr.h"

namespace passt {

struct Config;
class TapOutput;
struct TapState;

// What the responder did, for statistics and tests. Counters only grow.
struct NdpStats {
	uint64_t malformed = 0;   // failed RFC 4861 validation: dropped
	uint64_t ignored = 0;     // valid but not answered (RA/NA/redirect from
				  // the guest, DAD or NS for the guest's own
				  // addresses, --no-ndp, --no-ra)
	uint64_t ra_sent = 0;     // router advertisements (solicited or not)
	uint64_t na_sent = 0;     // neighbour advertisements
	uint64_t send_failed = 0; // messages TapOutput refused
};

// RFC 4861 6.2.1 defaults and the limits of 10 (router constants).
inline constexpr uint32_t ndp_max_rtr_adv_interval_s = 600;
inline constexpr uint32_t ndp_min_rtr_adv_interval_s = ndp_max_rtr_adv_interval_s / 3;
inline constexpr uint32_t ndp_max_initial_rtr_adv_interval_s = 16;
inline constexpr unsigned ndp_max_initial_rtr_advertisements = 3;
// Router lifetime we advertise (the largest, RFC 8319).
inline constexpr uint16_t ndp_router_lifetime_s = 65535;

// Handle one Ethernet frame from the guest. Returns true if it is an NDP
// message (ICMPv6 type 133 to 137, possibly after IPv6 extension headers):
// it is then consumed, answered or dropped. False for any other frame, left
// to the caller. Learns the guest's MAC and IPv6 source addresses from valid
// NDP messages with a specified source address.
bool ndp_input(const Config &c, TapState &st, std::span<const std::byte> frame, TapOutput &out);

// Send an unsolicited Router Advertisement to all-nodes (ff02::1), e.g. when
// the guest connects. Returns false if IPv6, NDP or RAs are disabled, or the
// frame was not sent.
bool ndp_send_ra(const Config &c, TapState &st, TapOutput &out);

// The link-local address we speak from: c.ip6.our_tap_ll, or, if that is
// unset, the modified EUI-64 address derived from c.our_tap_mac (RFC 4291
// 2.5.1, appendix A).
Ipv6Addr ndp_our_ll(const Config &c);

// Modified EUI-64 link-local address fe80::/64 for a MAC address.
Ipv6Addr ndp_eui64_ll(const MacAddr &mac);

// Schedule of unsolicited Router Advertisements (RFC 4861 6.2.4): one every
// random interval in [ndp_min_rtr_adv_interval_s, ndp_max_rtr_adv_interval_s),
// the first few capped at ndp_max_initial_rtr_adv_interval_s so that a guest
// that missed the first one learns its prefix soon. The caller drives it
// from a periodic timer (a second is fine) and calls restart() when a guest
// connects, right after its ndp_send_ra() for that guest.
class NdpRaTimer {
public:
	// seed: for the interval randomisation; any value, 0 included.
	explicit NdpRaTimer(uint64_t seed = 0);

	// Start a new schedule at now: the next RA is an initial one.
	void restart(const timespec &now);
	// Send an RA if one is due and schedule the next. The first call after
	// construction only schedules (like restart()). True if an RA was sent.
	bool tick(const Config &c, TapState &st, TapOutput &out, const timespec &now);
	// Monotonic second at which the next RA is due (valid once scheduled).
	int64_t next_due_s() const { return next_s_; }
	bool scheduled() const { return scheduled_; }

private:
	uint32_t next_interval_s();
	uint64_t rng_;
	int64_t next_s_ = 0;
	bool scheduled_ = false;
	unsigned sent_ = 0; // RAs sent since restart (the initial one counted)
};

const NdpStats &ndp_stats();
void ndp_stats_reset();

} // namespace passt
