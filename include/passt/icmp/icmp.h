// ICMP / ICMPv6 echo translation through unprivileged "ping" sockets.
//
// Theory of operation
// -------------------
// The guest's echo requests (ICMP type 8, ICMPv6 type 128) are forwarded
// with Linux ping sockets (socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP) and the
// ICMPv6 equivalent), which need no privileges, only a group within
// net.ipv4.ping_group_range. Each echo session is a flow (Ping4 / Ping6)
// keyed by its guest side: guest address, echo identifier, destination as
// the guest addressed it. The first request of a session allocates the flow,
// applies the forwarding/NAT rules (fwd.h: e.g. the gateway address reaches
// the host's loopback), opens a non-blocking socket (bound to the -o
// address and --outbound-if, unless the target is loopback) and registers
// it with the event loop as RefKind::PingSock carrying the flow index.
//
// A ping socket owns an echo identifier like a UDP socket owns a port: the
// kernel overwrites the identifier of every request sent through it, and
// delivers to it the replies carrying it. We let the kernel pick the
// identifier when binding (port 0), which makes it unique in the namespace:
// an explicit one would be granted even if taken, as ping sockets are
// created with address reuse on, and replies would then be delivered to
// only one of the sockets sharing it. The socket's identifier is recorded
// in the host side (our_port). Sequence numbers and data pass unchanged.
// Replies are read from the socket, get the guest's identifier back, and
// are sent to the guest as an echo reply from the address it pinged (before
// NAT) to its own address, with fresh IP and ICMP checksums, from our MAC
// to the guest's.
//
// Timers: a session is closed (socket and flow) after ICMP_FLOW_TIMEOUT_S
// seconds without a request or reply; icmp_timer() checks, from a periodic
// timer armed only while echo sessions exist. Nothing here is fatal: a socket that can't be opened (EACCES when
// ping_group_range excludes us, EAFNOSUPPORT, ...) or a failed send
// (ENETUNREACH, ...) drops the request with a rate-limited message. Errors
// reported asynchronously on the socket (EPOLLERR) are read and logged.
// Malformed frames (truncated, bad lengths, bad checksums, fragments, other
// ICMP types, non-zero code) are dropped.
//
// ICMP errors for the guest's TCP/UDP flows and echo to broadcast or
// multicast addresses are not handled here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <span>

#include "passt/conf/config.h"
#include "passt/core/epoll.h"
#include "passt/flow/flow.h"
#include "passt/tap/output.h"

namespace passt {

inline constexpr unsigned ICMP_FLOW_TIMEOUT_S = 60;
inline constexpr uint32_t ICMP_TIMER_INTERVAL_MS = 1000;

// Per-protocol state of a Ping4/Ping6 flow (Flow::state<PingFlow>()).
struct PingFlow {
	int sock = -1;         // ping socket, registered as RefKind::PingSock
	uint16_t guest_id = 0; // echo identifier the guest uses
	uint16_t host_id = 0;  // identifier the kernel gave the socket
	uint16_t last_seq = 0; // sequence number of the last request sent
	uint32_t scope_id = 0; // interface of a link-local IPv6 target
	uint32_t sent = 0;     // requests sent / replies forwarded (statistics)
	uint32_t received = 0;
};

// What the ICMP translator works with. All references outlive it.
struct IcmpCtx {
	const Config &c;
	const TapState &tap;
	TapOutput &out;
	EventLoop &loop;
	FlowTable &flows;
	int timer = -1; // the loop's expiry timer (icmp_init())
};

// Register the PingSock handler and the periodic expiry timer with
// ctx.loop. Returns 0, or -ENOSPC if the timer table is full.
int icmp_init(IcmpCtx &ctx);

// Handle one Ethernet frame from the guest carrying an IPv4 ICMP or an
// IPv6 ICMPv6 message. True if it was an echo request that was sent out;
// false if it was dropped (malformed, not an echo request, --no-icmp, no
// flow or socket could be had, send failure).
bool icmp_tap_input(IcmpCtx &ctx, std::span<const std::byte> frame, const timespec &now);

// Ping socket events (RefKind::PingSock, index: flow): forward the replies
// waiting on the socket to the guest, then flush the tap output.
void icmp_sock_handler(IcmpCtx &ctx, EpollRef ref, uint32_t events, const timespec &now);

// Close sessions idle for ICMP_FLOW_TIMEOUT_S or more. Returns how many.
unsigned icmp_timer(IcmpCtx &ctx, const timespec &now);

// Close one session (socket and flow) now. Ignores non-ping flows.
void icmp_flow_close(IcmpCtx &ctx, uint32_t index);

} // namespace passt
