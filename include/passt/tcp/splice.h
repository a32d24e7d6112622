// pasta's loopback bypass for TCP: connections between the namespace's
// loopback and the host's loopback joined with splice(2), no frames.
// The theory of operation is at the top of src/tcp/splice.cpp.
#pragma once

#include <cstdint>
#include <ctime>
#include <vector>

#include "passt/conf/config.h"
#include "passt/core/epoll.h"
#include "passt/flow/flow.h"
#include "passt/fwd/listeners.h"
#include "passt/fwd/portscan.h"
#include "passt/host/ns.h"
#include "passt/tcp/tcp.h"

namespace passt {

// Pipe size asked for with F_SETPIPE_SZ (the default is kept if refused).
inline constexpr int SPLICE_PIPE_SIZE = 1 << 20;
// SpliceFlow::pipe_size bit: the kernel refused to enlarge the pipe.
inline constexpr uint32_t SPLICE_PIPE_FIXED = 1u << 31;
// EpollRef.index of a spliced socket: flow index << 1 | side; of a -T
// listener in the namespace: SPLICE_LISTENER_BIT | listener index.
inline constexpr uint32_t SPLICE_LISTENER_BIT = 1u << 31;

namespace splf {
inline constexpr uint8_t connecting = 0x01; // connect() of side 1 in progress
inline constexpr uint8_t eof0 = 0x02;       // side 0 returned EOF (direction 0 read done)
inline constexpr uint8_t eof1 = 0x04;
inline constexpr uint8_t shut0 = 0x08; // direction 0 done: side 1 shut down SHUT_WR
inline constexpr uint8_t shut1 = 0x10;
inline constexpr uint8_t blocked0 = 0x20; // direction 0 waits for side 1 to drain (EPOLLOUT)
inline constexpr uint8_t blocked1 = 0x40;
} // namespace splf

// Per-flow state (Flow::state<SpliceFlow>()). Side 0 is the socket that
// was accepted (namespace side for -T, host side for -t), side 1 the socket
// we connected. Direction d moves data from sock[d] to sock[!d] through
// pipe[d] (pipe[d][0]: read end, pipe[d][1]: write end).
struct SpliceFlow {
	int32_t sock[2] = {-1, -1};
	int32_t pipe[2][2] = {{-1, -1}, {-1, -1}};
	uint32_t pending[2] = {0, 0}; // bytes sitting in pipe[d]
	uint32_t events[2] = {0, 0};  // epoll events registered for sock[s]
	// Capacity of pipe[d]: the kernel's default at first, SPLICE_PIPE_SIZE
	// once the direction has filled it; SPLICE_PIPE_FIXED set: stays as is.
	uint32_t pipe_size[2] = {0, 0};
	uint8_t flags = 0;
	uint8_t inbound = 0; // 1: accepted on the host (-t), 0: in the namespace (-T)
};

// A -T listener inside the namespace (fd -1: a free slot, see SpliceCtx).
// A -T listener in the namespace: target is the port on the host's
// loopback, rule an index in c.tcp_out.rules.
using SpliceListener = FwdListener;

struct SpliceStats {
	uint64_t conns_out = 0, conns_in = 0; // -T (ns -> host), -t (host -> ns)
	uint64_t resets = 0;                  // flows closed with a reset
	uint64_t bytes[2] = {0, 0};           // moved in direction 0 / 1
};

struct SpliceCtx {
	const Config &c;
	EventLoop &loop;
	FlowTable &flows;
	NsSocketHelper &helper; // creates sockets inside the namespace

	// -T listeners. The slot of an entry is its EpollRef index (with
	// SPLICE_LISTENER_BIT) and stays fixed while it is open (fwd/listeners.h).
	ListenerSlots<SpliceListener> listeners;
	AcceptPause accept_pause; // resumed by the TCP timer, which pause() arms
	int timer = -1;           // the loop's splice timer (tcp_splice_init())
	// "-T auto": ports whose listener failed to open, per family, so that
	// retries every scan log only once.
	PortBitmap auto_failed[2];
	SpliceStats stats{};
};

// Register the RefKind::TcpSplice handler and open the -T listeners (Spec
// and All rules of c.tcp_out) on the namespace's 127.0.0.1 and ::1.
// 0 or -errno.
int tcp_splice_init(SpliceCtx &ctx);
// Put back -T listeners paused when accept() ran out of descriptors, once
// their pause is over (called from the TCP timer).
void tcp_splice_resume_listeners(SpliceCtx &ctx, const timespec &now);
// Close every spliced flow (with a reset) and the listeners.
void tcp_splice_fini(SpliceCtx &ctx);
// pasta "-T auto": make the listeners of the scanning rules of c.tcp_out
// match want (namespace ports, see fwd_scan_want() on the host's bound
// ports): open the missing ones on the namespace's 127.0.0.1 and ::1
// (ports taken in the namespace are skipped, logged once), close those no
// longer wanted. Spliced connections are not touched. Returns the number
// of listeners opened plus closed.
int tcp_splice_listen_sync(SpliceCtx &ctx, const PortBitmap &want);
// Run-time rule change (-c): c.tcp_out holds new rules, old the previous ones; listeners of rules
// that stay are kept, the others closed (spliced connections stay), missing ones opened (failures
// reported in log). See fwd_listen_resync().
int tcp_splice_listen_resync(SpliceCtx &ctx, const PortForward &old, FwdChangeLog &log);
// An inbound (-t) connection accepted on the host from a loopback source:
// splice it to target:target_port in the namespace (target: the address
// fwd_splice_ns_target() picks, of the connection's family). Takes fd in
// every case (closed with a reset on failure). True if spliced.
bool tcp_splice_from_host(SpliceCtx &ctx, int fd, const InAny &target, uint16_t target_port,
			  const timespec &now);
// Timeouts, the tap path's (tcp.h), checked every SPLICE_TIMER_INTERVAL_MS
// from the loop's timers: a connect still pending TCP_HANDSHAKE_TIMEOUT_MS
// after the flow started, a flow with one direction closed and nothing moved
// for TCP_FIN_TIMEOUT_MS, any flow idle for TCP_IDLE_TIMEOUT_MS: each is
// reset (both sockets closed with SO_LINGER 0, the pipes closed).
inline constexpr uint32_t SPLICE_TIMER_INTERVAL_MS = 1000;
void tcp_splice_timer(SpliceCtx &ctx, const timespec &now);
// Events on a spliced socket or a -T listener (RefKind::TcpSplice).
void tcp_splice_handler(SpliceCtx &ctx, EpollRef ref, uint32_t events, const timespec &now);

// For tests: epoll events wanted on side s of a flow in state t.
uint32_t tcp_splice_events(const SpliceFlow &t, unsigned s);
// Create a flow joining two connected (or connecting: flags has
// splf::connecting) non-blocking sockets; takes both in every case.
// Returns the flow index or FLOW_NONE.
uint32_t tcp_splice_join(SpliceCtx &ctx, int accepted, int connected, bool connecting, bool inbound,
			 const timespec &now);

} // namespace passt
