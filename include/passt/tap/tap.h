// The tap layer: what every backend (tun fd for pasta, qemu stream socket,
// vhost-user; interface in tap/backend.h) feeds and what it sends through.
//
// Theory of operation: a backend reads all the frames available on one
// wake-up into a Pool of bounds-checked views (stripping its own framing:
// virtio-net header, length prefix, descriptors), then hands the batch to
// tap_input_pool(), the L2/L3 demultiplexer. Its first step is the door in:
// each frame is counted (frames_in, bytes_in) and, with --pcap, captured,
// before anything else looks at it. The demux learns the guest's MAC
// and addresses from its frames, then passes each frame to exactly one
// consumer: ARP, DHCP (UDP to port 67), NDP (ICMPv6 133-137), DHCPv6 (UDP
// to port 547), or the L4 translators (ICMP echo, TCP, UDP) that main()
// registers. Frames nobody handles (other ethertypes, IGMP, MLD) are
// dropped quietly; malformed ones are dropped and counted. Replies go out
// through the backend's TapOutput, whose send_frame()/send_frames() are the
// door out (TapBackend, tap/backend.h: capture and counters). A translator may hold on to the frames
// it was given until the end of the batch, when its flush hook runs (UDP
// sends all the batch's datagrams then, with sendmmsg()); the backend
// reuses its buffers only after tap_input_pool() returns. Order holds
// within a flow, not across protocols: within one batch, a TCP connect()
// may reach the host before a UDP datagram the guest sent first.
#pragma once

#include <cstdint>
#include <ctime>
#include <span>

#include "passt/conf/config.h"
#include "passt/core/timer.h"
#include "passt/net/byteorder.h"
#include "passt/net/pool.h"
#include "passt/services/ndp.h"
#include "passt/tap/output.h"

namespace passt {

struct TapStats {
	uint64_t frames_in = 0, bytes_in = 0;
	uint64_t frames_out = 0, bytes_out = 0;
	uint64_t malformed = 0;      // failed to parse: truncated, bad lengths
	uint64_t unhandled = 0;      // well-formed, but nobody's business
	uint64_t out_dropped = 0;    // could not be written to the backend
	uint64_t udp_gso_frames = 0; // UDP GSO frames split into their datagrams
};

// A translator entry point: true if it took the frame (valid or not).
using TapL4Handler = bool (*)(void *ctx, std::span<std::byte> frame, const timespec &now);
// End of a batch: a translator that defers work on the frames it was handed
// (e.g. to batch its socket writes) finishes it here; the frames are still
// valid during the call and may be reused by the backend right after.
using TapL4Flush = void (*)(void *ctx, const timespec &now);

struct TapDemux {
	const Config *c = nullptr;
	TapState *st = nullptr;
	TapOutput *out = nullptr;
	TapStats *stats = nullptr;

	// L4 translators, each with its context; null ones drop their
	// protocol (counted as unhandled). flush, if set, runs at the end of
	// every batch (and after every single tap_input()).
	struct L4 {
		TapL4Handler fn = nullptr;
		void *ctx = nullptr;
		TapL4Flush flush = nullptr;
	};
	L4 icmp; // ICMP / ICMPv6 echo
	L4 tcp;
	L4 udp;

	NdpRaTimer ra_timer; // unsolicited Router Advertisements
	// The loop's timer for them (tap_timer_add()), armed at the next RA's
	// deadline only: none while no guest is there or RAs are off.
	Timers *timers = nullptr;
	int timer = -1;
};

// Dispatch one Ethernet frame from the guest, then run the L4 flush hooks
// (a batch of one; the output is not flushed).
void tap_input(TapDemux &d, std::span<std::byte> frame, const timespec &now);
// Dispatch a batch, run the L4 flush hooks once, then flush the output
// once. The pool's frames must stay valid until this returns, no longer.
void tap_input_pool(TapDemux &d, const Pool &pool, const timespec &now);

// The value a partial checksum (virtio-net NEEDS_CSUM: the field at
// start + offset holds the pseudo-header sum) completes to, without
// writing it. False if the field is out of bounds.
bool tap_partial_csum(std::span<const std::byte> frame, size_t start, size_t offset, be16 &sum);

// Send the start-up announcements the guest expects without asking: an ARP
// request for the guest's address (to learn its MAC) and an unsolicited
// Router Advertisement (unless --no-ra/--no-ndp), then start the RA schedule.
// Call when a guest appears (pasta start, a qemu connection).
void tap_announce(TapDemux &d, const timespec &now);
// Register the tap side's timer with timers, disarmed: tap_announce() arms
// it for the first unsolicited RA, and tap_timer() for each next one. No
// timer at all when RAs are off (no IPv6, --no-ndp, --no-ra). Returns 0, or
// -ENOSPC if the timer table is full.
int tap_timer_add(TapDemux &d, Timers &timers);
// The tap side's timer: send the unsolicited RA that is due, arm for the
// next one.
void tap_timer(TapDemux &d, const timespec &now);

} // namespace passt
