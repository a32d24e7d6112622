// TCP translation on the tap path: guest TCP segments <-> host TCP sockets.
// The theory of operation is at the top of src/tcp/tcp.cpp.
#pragma once

#include <cstdint>
#include <ctime>
#include <span>
#include <vector>

#include "passt/conf/config.h"
#include "passt/core/epoll.h"
#include "passt/flow/flow.h"
#include "passt/fwd/listeners.h"
#include "passt/fwd/portscan.h"
#include "passt/net/siphash.h"
#include "passt/tap/output.h"

namespace passt {

struct SpliceCtx;
struct TcpFlowImage;

// Timeouts (milliseconds), and the shortest sleep of the scan that enforces
// them: it runs at the earliest deadline of any flow (see tcp_timer.cpp),
// at most every TCP_TIMER_INTERVAL_MS.
inline constexpr uint32_t TCP_TIMER_INTERVAL_MS = 100;
inline constexpr uint32_t TCP_HANDSHAKE_TIMEOUT_MS = 10000; // SYN to established
// ... for a connect() to the host still in progress while more than half
// of the pending-connect cap (flow.h) is used: SYN-flood protection.
inline constexpr uint32_t TCP_SYN_PRESSURE_TIMEOUT_MS = 2000;
inline constexpr uint32_t TCP_DELACK_MS = 1;                     // longest wait of a delayed ACK
inline constexpr uint32_t TCP_RTO_MS = 1000;                     // retransmission to the guest
inline constexpr unsigned TCP_MAX_RETRANS = 8;                   // then RST both ways
inline constexpr uint32_t TCP_FIN_TIMEOUT_MS = 60000;            // half-closed, idle
inline constexpr uint32_t TCP_IDLE_TIMEOUT_MS = 2 * 3600 * 1000; // established, idle
// Window scale we announce to the guest.
inline constexpr uint8_t TCP_OUR_WSCALE = 8;

// Connection states as the guest sees them (see tcp.cpp).
enum class TcpState : uint8_t {
	Connecting,  // guest SYN seen, host connect() in progress
	SynAckSent,  // host connected, SYN-ACK sent, waiting for the guest's ACK
	SynSent,     // inbound: accepted on the host, SYN sent to the guest
	Established, // data both ways; half-close tracked in TcpFlow::flags
};

namespace tcpf {
inline constexpr uint8_t guest_fin = 0x01;    // guest sent FIN (we shut down SHUT_WR)
inline constexpr uint8_t host_eof = 0x02;     // recv() returned 0 on the socket
inline constexpr uint8_t fin_sent = 0x04;     // our FIN to the guest is out (seq counted)
inline constexpr uint8_t fin_acked = 0x08;    // ... and acknowledged
inline constexpr uint8_t want_out = 0x10;     // EPOLLOUT armed: send a window update
inline constexpr uint8_t guest_ws = 0x20;     // window scaling agreed with the guest
inline constexpr uint8_t data_dropped = 0x40; // guest data refused by the socket
inline constexpr uint8_t ack_pending = 0x80;  // in TcpCtx::ack_pending, ACK at flush
} // namespace tcpf

// TcpFlow::drained: may data_from_sock() skip its peek? Only if the last
// peek found less than it asked for, all of it went out, and the socket
// reported nothing since (its EPOLLIN, EPOLLRDHUP are edge-triggered). A
// guest's ACK then costs no recvmsg() that would find nothing.
inline constexpr uint8_t DRAINED_NO = 0;    // peek
inline constexpr uint8_t DRAINED_YES = 1;   // skip: nothing new
inline constexpr uint8_t DRAINED_NEVER = 2; // the peer closed: only a peek tells the end

// Per-flow state (Flow::state<TcpFlow>()), 96 bytes at most.
struct TcpFlow {
	int32_t sock = -1;
	TcpState state = TcpState::Connecting;
	uint8_t flags = 0;
	uint8_t guest_wscale = 0; // shift for the guest's window field
	uint8_t dup_acks = 0;
	uint8_t retrans = 0;       // consecutive timeouts
	uint8_t frozen = 0;        // migrating: socket in repair mode, left alone (tcp_migrate.cpp)
	uint8_t drained = 0;       // tcp_to_guest.cpp: DRAINED_*
	uint8_t delack = 0;        // in TcpCtx::ack_delayed, its ACK not yet sent
	uint16_t guest_mss = 536;  // from the guest's SYN / SYN-ACK
	uint32_t snd_una = 0;      // towards the guest: oldest unacknowledged
	uint32_t snd_nxt = 0;      //   next sequence number to send
	uint32_t snd_max = 0;      //   highest snd_nxt so far (before rewinds)
	uint32_t rcv_nxt = 0;      // from the guest: next expected sequence number
	uint32_t acked = 0;        //   the last acknowledgement we sent it
	uint32_t guest_wnd = 0;    // the guest's receive window, bytes (scaled)
	uint32_t last_wnd = 0;     // last window we advertised, bytes
	uint32_t last_ack_wnd = 0; // the guest's last window field (dup ACK check)
	uint32_t flow_label = 0;   // IPv6 flow label of frames to the guest
	uint32_t events = 0;       // epoll events registered for sock
	int64_t deadline_ns = 0;   // retransmission / handshake / FIN timer; 0: none
};

// A -t listener: target is the port in the guest, rule an index in
// c.tcp_in.rules.
using TcpListener = FwdListener;

struct TcpStats {
	uint64_t conns_out = 0, conns_in = 0;
	uint64_t rst_to_guest = 0;
	uint64_t retransmits = 0;
	uint64_t dropped = 0;       // malformed or unmatched frames
	uint64_t partial_sends = 0; // guest data the socket didn't take (all)
	uint64_t holes = 0;         // guest segments beyond rcv_nxt
	uint64_t wnd_updates = 0;   // window updates on EPOLLOUT
	uint64_t evicted = 0;       // half-open flows evicted for new ones
	uint64_t accept_paused = 0; // listeners paused: accept() out of fds
};

struct TcpCtx {
	const Config &c;
	TapState &tap;
	TapOutput &out;
	EventLoop &loop;
	FlowTable &flows;

	// Filled by tcp_init().
	SipKey key{}; // ISNs and IPv6 flow labels
	// Inbound (-t) sockets. The slot of an entry is its EpollRef index and
	// stays fixed while it is open (fwd/listeners.h).
	ListenerSlots<TcpListener> listeners;
	AcceptPause accept_pause;
	int timer = -1; // the loop's TCP timer (tcp_init())
	// "-t auto": ports whose listener failed to open (already bound on the
	// host, ...) per family, so that retries every scan log only once.
	PortBitmap auto_failed[2];
	bool peek_off = true; // SO_PEEK_OFF works on TCP sockets
	// The backend refused data frames and will report room
	// (out.reports_room()): no flow peeks its socket until then.
	bool out_blocked = false;
	// Flows whose ACK for in-order guest data waits for the end of the
	// batch (out.flush()): one ACK per flow and batch. Capacity fixed at
	// init; empty capacity (no flush hook in the backend): ACK at once.
	std::vector<uint32_t> ack_pending;
	// Delayed ACKs (tcp_flush_acks()): flows whose in-order guest data,
	// less than two of its segments since our last ACK, waits for a
	// segment of ours to carry the ACK (the answer of a request-response
	// exchange, usually), or for delack_timer, TCP_DELACK_MS after.
	// delack_live: of them, those still waiting.
	std::vector<uint32_t> ack_delayed;
	size_t delack_live = 0;
	int delack_timer = -1;
	TcpStats stats{};
	// pasta: inbound connections from a loopback source are spliced into
	// the namespace through this (splice.h) instead of the tap, unless
	// --no-splice (fwd_splice_from_host()).
	SpliceCtx *splice = nullptr;
};

// Register the TcpSock/TcpListen/TcpTimer handlers and timers with ctx.loop
// and open the inbound listeners for c.tcp_in. 0 or -errno.
int tcp_init(TcpCtx &ctx);
// Close every TCP flow (RST to the guest is not sent) and the listeners.
void tcp_fini(TcpCtx &ctx);
// The guest went away (passt: qemu disconnected): close every TCP flow at
// once, resetting its host socket so the host peer learns the other end is
// gone. Nothing is sent towards the (absent) guest; listeners stay.
void tcp_drop_guest_flows(TcpCtx &ctx);
// The backend takes frames again (TapEvent::Room): every established flow
// forwards what its socket holds, as far as the backend now takes.
void tcp_out_room(TcpCtx &ctx, const timespec &now);
// A TCP segment from the guest (whole Ethernet frame). True if taken.
bool tcp_tap_input(TcpCtx &ctx, std::span<std::byte> frame, const timespec &now);
// Events on a connected socket (RefKind::TcpSock, index: flow).
void tcp_sock_handler(TcpCtx &ctx, EpollRef ref, uint32_t events, const timespec &now);
// Events on a listening socket (RefKind::TcpListen, index: listener).
void tcp_listen_handler(TcpCtx &ctx, EpollRef ref, uint32_t events, const timespec &now);
// pasta "-t auto": make the listeners of the scanning rules of c.tcp_in
// match want (listening ports, see fwd_scan_want()): open the missing ones
// (ports already bound on the host are skipped, logged once), close those
// no longer wanted. Connections already accepted are not touched. Returns
// the number of listeners opened plus closed.
int tcp_listen_sync(TcpCtx &ctx, const PortBitmap &want);
// Run-time rule change (-c): c.tcp_in holds new rules, old the previous ones; listeners of rules
// that stay are kept, the others closed (accepted connections stay), missing ones opened (failures
// reported in log). See fwd_listen_resync().
int tcp_listen_resync(TcpCtx &ctx, const PortForward &old, FwdChangeLog &log);
// Send the ACKs deferred over a batch of guest frames (flush hook).
void tcp_flush_acks(TcpCtx &ctx);
// Every delayed ACK still due, now (the delack timer's work).
void tcp_send_delayed_acks(TcpCtx &ctx);
// Retransmissions and timeouts of every TCP flow; re-arms its timer for the
// earliest deadline left.
void tcp_timer(TcpCtx &ctx, const timespec &now);

// ---- Live migration (src/tcp/tcp_migrate.cpp) ----------------------------
// Why flow idx can't move, for the log, or nullptr if it can: established,
// no FIN either way, socket open and watched, not frozen already.
const char *tcp_flow_unmigratable(TcpCtx &ctx, uint32_t idx);
// What the translator holds for flow idx (false: no such TCP flow).
bool tcp_flow_image(TcpCtx &ctx, uint32_t idx, TcpFlowImage &img);
// Take the flow's socket out of the event loop and stop its timer (the
// socket goes into repair mode next). The socket, or -ENOENT.
int tcp_flow_freeze(TcpCtx &ctx, uint32_t idx);
// Source, the migration failed: a frozen flow (its socket out of repair
// mode again) runs again, from its last acknowledgement.
void tcp_flow_thaw(TcpCtx &ctx, uint32_t idx, const timespec &now);
// Close a flow without telling either peer (its socket in repair mode
// sends nothing) and free it.
void tcp_flow_discard(TcpCtx &ctx, uint32_t idx);
// Target: a flow for img over sock, restored and out of repair mode. The
// flow index, or -errno (-EEXIST: a flow with that guest side exists,
// -ENOSPC: no flow entry, -EIO: its socket can't be watched); on error sock
// is not taken.
int tcp_flow_adopt(TcpCtx &ctx, const TcpFlowImage &img, int sock, const timespec &now);

} // namespace passt
