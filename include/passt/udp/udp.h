// UDP translation on the tap path: the guest's datagrams leave through
// ordinary host UDP sockets, the answers come back as frames. The theory of
// operation is at the top of src/udp/udp.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <span>
#include <vector>

#include "passt/conf/config.h"
#include "passt/core/epoll.h"
#include "passt/flow/flow.h"
#include "passt/fwd/listeners.h"
#include "passt/fwd/portscan.h"
#include "passt/tap/output.h"

namespace passt {

struct UdpSpliceCtx; // udp_splice.h

// A flow with no datagram either way for this long is closed (as the C
// passt does), checked every UDP_TIMER_INTERVAL_MS.
inline constexpr unsigned UDP_FLOW_TIMEOUT_S = 180;
inline constexpr uint32_t UDP_TIMER_INTERVAL_MS = 1000;

// Per-protocol state of a FlowType::Udp flow (Flow::state<UdpFlow>()).
struct UdpFlow {
	// Outbound flows (started by the guest): the flow's own connected
	// socket, registered as RefKind::UdpSock, closed with the flow.
	// Inbound flows (started by a host peer on a -u port): the listening
	// socket the peer wrote to, which the flow does not own.
	int sock = -1;
	bool inbound = false;
	uint32_t scope_id = 0; // interface of a link-local IPv6 host peer
	uint64_t to_host = 0;  // datagrams forwarded guest -> host
	uint64_t to_guest = 0; // datagrams forwarded host -> guest
};

// Counters, for tests and debugging.
struct UdpStats {
	uint64_t flows_opened = 0, flows_closed = 0, flows_expired = 0;
	uint64_t flows_evicted = 0;         // closed to make room for new ones (flow.h)
	uint64_t to_host = 0, to_guest = 0; // datagrams forwarded
	uint64_t malformed = 0;             // guest frames that failed to parse/verify
	uint64_t bcast_dropped = 0;         // guest datagrams to broadcast/multicast
	uint64_t unforwardable = 0;         // no NAT result, no socket, no flow entry
	uint64_t refused = 0;               // of those, told with an ICMP error
	// Accepted guest datagrams not sent: the socket refused them, or their
	// flow closed first.
	uint64_t send_failed = 0;
	uint64_t send_batches = 0; // sendmmsg() calls made for guest datagrams
	uint64_t oversize = 0;     // host datagrams larger than the MTU allows
	uint64_t tap_dropped = 0;  // frames the tap output refused
};

// Guest datagrams queued by udp_tap_input() per flush at most: a full
// queue is sent before the next datagram is queued.
inline constexpr size_t UDP_TX_BATCH = 128;

// A guest datagram accepted and not yet sent. The payload points into the
// guest's frame, valid until the end of the tap batch (udp_tap_flush()).
struct UdpTxEntry {
	const std::byte *data = nullptr;
	size_t len = 0;
	uint32_t flow = 0;
	int sock = -1;   // the flow's socket
	timespec when{}; // for the flow's last_active once sent
};

struct UdpTxQueue {
	UdpTxEntry e[UDP_TX_BATCH];
	size_t n = 0;
};

// One bound socket of an inbound (-u) rule.
struct UdpListener {
	int fd = -1;
	uint16_t port = 0; // the port it listens on
	uint16_t rule = 0; // index into Config::udp_in.rules
	bool v6 = false;
};

// What the UDP translator works with. The first five references outlive
// it; the rest is filled by udp_init().
struct UdpCtx {
	const Config &c;
	TapState &tap;
	TapOutput &out;
	EventLoop &loop;
	FlowTable &flows;

	// -u sockets, in slots (fwd/listeners.h) that their EpollRef does not
	// name: it carries the port and the rule.
	ListenerSlots<UdpListener> listeners;
	UdpStats stats{};
	// "-u auto": ports that could not be bound (already bound on the host,
	// ...) per family, so that retries every scan log only once.
	PortBitmap auto_failed[2];
	// pasta: the loopback bypass (udp_splice.h), set after udp_init().
	// -u datagrams from a host loopback source go there instead of the
	// tap, and UdpSock events of its sockets are handed to it.
	UdpSpliceCtx *splice = nullptr;
	// Guest datagrams of the tap batch at hand, sent by udp_tap_flush().
	UdpTxQueue txq;
	int timer = -1; // the loop's expiry timer (udp_init())
};

// Register the UdpSock and UdpListen handlers and the expiry timer with
// ctx.loop, and open the -u sockets of the rules that don't scan (Auto
// rules get theirs from udp_listen_sync()). A port of a non-weak rule that
// can be bound on no address family is fatal: returns -errno of the last
// failure (e.g. -EADDRINUSE); -ENOSPC if the timer table is full; else 0.
int udp_init(UdpCtx &ctx);

// Handle one Ethernet frame from the guest carrying an IPv4 or IPv6 UDP
// datagram (DHCP/DHCPv6 are the tap demux's). True if the datagram was
// accepted for sending: it is queued, and goes out with the rest of the
// batch at the next udp_tap_flush() (or earlier, if the queue fills up);
// a send failure then is counted (stats.send_failed), not reported here.
// False if it was dropped (malformed, bad checksum, fragment,
// broadcast/multicast destination, not forwardable, --no-udp, no flow or
// socket). The frame must stay valid until the next udp_tap_flush().
bool udp_tap_input(UdpCtx &ctx, std::span<const std::byte> frame, const timespec &now);

// End of a tap batch (TapDemux flush hook): send the queued guest
// datagrams, one sendmmsg() per run of consecutive datagrams on the same
// socket, in the order they came.
void udp_tap_flush(UdpCtx &ctx);

// RefKind::UdpSock events (index: flow): read the replies waiting on the
// flow's socket with recvmmsg() and queue them to the guest; flush once.
void udp_sock_handler(UdpCtx &ctx, EpollRef ref, uint32_t events, const timespec &now);

// RefKind::UdpListen events (index: port | rule << 16): datagrams from host
// peers to a -u port, each to its flow (created on the first datagram of a
// peer), sent to the guest's target port; flush once.
void udp_listen_handler(UdpCtx &ctx, EpollRef ref, uint32_t events, const timespec &now);

// pasta "-u auto": make the sockets of the scanning rules of c.udp_in match
// want (listening ports, see fwd_scan_want()): bind the missing ones (ports
// already bound on the host are skipped, logged once), close those no
// longer wanted, together with the inbound flows that reply through them.
// Returns the number of sockets opened plus closed.
int udp_listen_sync(UdpCtx &ctx, const PortBitmap &want);
// Run-time rule change (-c): c.udp_in holds new rules, old the previous ones; listeners of rules
// that stay are kept, the others closed with the flows replying through them, missing ones opened
// (failures reported in log). See fwd_listen_resync().
int udp_listen_resync(UdpCtx &ctx, const PortForward &old, FwdChangeLog &log);

// Close flows idle for UDP_FLOW_TIMEOUT_S or more. Returns how many.
unsigned udp_timer(UdpCtx &ctx, const timespec &now);

// Close one flow now (its socket, for outbound flows); guest datagrams of
// the flow still queued are dropped (counted as send_failed). Ignores
// other flows.
void udp_flow_close(UdpCtx &ctx, uint32_t index);

// Close every UDP flow and every -u socket (shutdown, tests).
void udp_close_all(UdpCtx &ctx);

} // namespace passt
