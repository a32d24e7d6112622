// Refusing a guest's new datagram flow out loud.
//
// When a translator cannot open a flow for the guest's first datagram (UDP)
// or echo request (ICMP) — the flow table or its budget is full, the host
// socket could not be opened because descriptors ran out (EMFILE, ENFILE),
// or it failed to bind or connect — the packet is dropped, and the guest is
// told at once with an ICMP or ICMPv6 destination unreachable, quoting it,
// instead of waiting for a reply that never comes. TCP refuses the same way
// with an RST (tcp_conn.cpp), which needs no help from here.
//
// The errors are rate-limited by one token bucket for the whole process
// (RFC 4443 2.4 f asks for it; the figures are Linux's defaults for its own
// ICMP errors), so that a guest flooding new flows while we are out of
// descriptors gets a bounded trickle of errors back, and the log line the
// caller writes is rate-limited as every guest-triggered line is.
#pragma once

#include <cstddef>
#include <ctime>
#include <span>

#include "passt/net/addr.h"
#include "passt/net/build.h"
#include "passt/tap/output.h"

namespace passt {

// Errors at most REFUSE_PER_SEC a second, in bursts of REFUSE_BURST.
inline constexpr unsigned REFUSE_PER_SEC = 1000;
inline constexpr unsigned REFUSE_BURST = 50;

// The reason to give for a host socket that failed with -err (as
// host_sock_open() returns it): no route, host unreachable, else
// administratively prohibited (out of descriptors or memory, a bind that
// failed, no permission).
Unreachable unreachable_for(int err);

// Send the guest a destination unreachable for its packet l3 (IP header
// on), from our MAC to the guest's. False if not sent: the bucket is empty,
// the packet is one that must not be answered (build_unreachable()), or the
// back-end refused the frame.
bool flow_refuse(TapOutput &out, const MacAddr &guest_mac, const MacAddr &our_mac,
		 std::span<const std::byte> l3, Unreachable why, const timespec &now);

// Forget the bucket's state (tests).
void flow_refuse_reset();

} // namespace passt
