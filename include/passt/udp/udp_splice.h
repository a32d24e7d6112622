// pasta's loopback bypass for UDP: datagrams between the namespace's
// loopback and the host's loopback moved directly between sockets, no frames.
//
// Theory of operation
// -------------------
// Both ends are sockets of the local kernel, so a datagram needs no
// translation: it is read from a socket in one network namespace and
// written to a socket in the other one, in batches (recvmmsg(), then
// sendmmsg() for each run of datagrams that leave through the same
// socket). Sockets inside the namespace come from the socket helper of
// host/ns.h (a socket keeps the namespace it was created in).
//
// Outbound (-U PORT, Spec and All rules): udp_splice_init() binds a
// socket inside the namespace on 127.0.0.1:PORT and [::1]:PORT (or the
// rule's address). With "-U auto" the sockets of the scanning rules follow
// the unconnected UDP sockets bound on the host's loopback or any-address
// instead (scanned about once a second by fwd/auto.cpp with fwd/portscan,
// applied by udp_splice_listen_sync() with the sync, start-up walk and
// slots shared in fwd/listeners.cpp), always on the namespace's
// loopback. A -U socket's slot in the listener table, which is its
// EpollRef index, never moves while it is open: a closed slot is only
// reused, and an event still carrying a closed slot's index is ignored.
// The scan of each side masks our own sockets on it (-u sockets on the
// host, these -U sockets in the namespace), or the two directions would
// forward each other's sockets back; our flows' own sockets are connected
// and never look bound to the scanner. The first datagram of a namespace peer creates a flow
// with its own host socket, connect()ed to the host's loopback of the same
// family at the target port; the peer's datagrams go out through it with
// send semantics, and what comes back on it (the kernel only hands a
// connected socket datagrams from its peer) goes back to the namespace
// peer with sendto() from the namespace socket it wrote to.
//
// Inbound (-u PORT, from a host loopback source, rule without a target
// address, no --no-splice): udp.cpp's -u socket hands the datagram over
// (udp_splice_from_host()). The first datagram of a host peer creates a
// flow with its own namespace socket connect()ed to the target port of the
// namespace's own address (its loopback with --host-lo-to-ns-lo: see
// fwd_splice_ns_target() in fwd/nat.h); replies read there go back to the
// host peer with sendto() from the -u socket. Other sources keep the tap
// path.
//
// Flows are FlowType::UdpSplice entries. Their guest side describes the
// namespace leg (peer: the namespace peer or target, ours: the namespace
// socket), their host side the host leg. Outbound flows are hashed by
// their guest side, inbound ones by their host side, so a datagram from a
// shared (listening) socket finds its flow by (peer, our address:port).
// A flow owns one socket (registered as RefKind::UdpSock with the flow's
// index) and borrows the listening socket it replies through; closing a
// listening socket (a -u one, or a -U one whose host port went away)
// closes the flows that borrow it, and only those. Flows idle for
// UDP_FLOW_TIMEOUT_S in both directions are closed from a periodic timer,
// as on the tap path. No allocation on the data path: the batch buffers
// are static, and room for the "-U auto" sockets is reserved at start-up.
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
#include "passt/host/ns.h"

namespace passt {

// EpollRef.index (RefKind::UdpSock) of a -U socket inside the namespace:
// this bit | listener index. Without it the index is a flow index.
inline constexpr uint32_t UDP_SPLICE_LISTENER_BIT = 1u << 31;

// Per-flow state (Flow::state<UdpSpliceFlow>()).
struct UdpSpliceFlow {
	int32_t sock = -1;       // owned: host socket (-U) / namespace socket (-u)
	int32_t reply_sock = -1; // borrowed: -U namespace socket / -u host socket
	uint8_t inbound = 0;     // 1: started by a host peer (-u), 0: namespace peer (-U)
	uint64_t fwd = 0;        // datagrams peer -> target
	uint64_t back = 0;       // datagrams target -> peer
};

// A -U socket inside the namespace (fd -1: a free slot, see UdpSpliceCtx).
// A -U socket in the namespace: target is the port on the host's
// loopback, rule an index in c.udp_out.rules.
struct UdpSpliceListener : FwdListener {
	InAny addr; // bound address (loopback, or the rule's)
};

struct UdpSpliceStats {
	uint64_t flows_opened = 0, flows_closed = 0, flows_expired = 0;
	uint64_t fwd = 0, back = 0; // datagrams forwarded (peer -> target, back)
	uint64_t send_failed = 0;   // datagrams a socket refused (buffer full, ...)
	uint64_t unforwardable = 0; // no flow entry or no socket for a new peer
	uint64_t truncated = 0;     // datagrams larger than a batch slot
};

struct UdpSpliceCtx {
	const Config &c;
	EventLoop &loop;
	FlowTable &flows;
	NsSocketHelper &helper; // creates sockets inside the namespace

	// -U sockets. The slot of an entry is its EpollRef index (with
	// UDP_SPLICE_LISTENER_BIT) and stays fixed while it is open
	// (fwd/listeners.h).
	ListenerSlots<UdpSpliceListener> listeners;
	// "-U auto": ports whose socket failed to open, per family, so that
	// retries every scan log only once.
	PortBitmap auto_failed[2];
	UdpSpliceStats stats{};
	int timer = -1; // the loop's expiry timer (udp_splice_init())
};

// Open the -U sockets (the non-scanning rules of c.udp_out) inside the
// namespace, set aside room for "-U auto" ones, and register the expiry
// timer. Handlers are reached through
// udp_sock_handler() (RefKind::UdpSock). 0 or -errno.
int udp_splice_init(UdpSpliceCtx &ctx);
// Close every spliced flow and the -U sockets.
void udp_splice_fini(UdpSpliceCtx &ctx);

// pasta "-U auto": make the sockets of the scanning rules of c.udp_out
// match want (namespace ports, see fwd_scan_want() on the host's bound
// ports): bind the missing ones on the namespace's 127.0.0.1 and ::1
// (ports taken in the namespace are skipped, logged once), close those no
// longer wanted together with the flows that reply through them. Returns
// the number of sockets opened plus closed.
int udp_splice_listen_sync(UdpSpliceCtx &ctx, const PortBitmap &want);
// Run-time rule change (-c): c.udp_out holds new rules, old the previous ones; listeners of rules
// that stay are kept, the others closed with the flows replying through them, missing ones opened
// (failures reported in log). See fwd_listen_resync().
int udp_splice_listen_resync(UdpSpliceCtx &ctx, const PortForward &old, FwdChangeLog &log);

// RefKind::UdpSock events whose index is a -U listener or a UdpSplice flow.
void udp_splice_handler(UdpSpliceCtx &ctx, EpollRef ref, uint32_t events, const timespec &now);

// A datagram read by a -u socket (listen_fd, bound to bound_addr:port)
// from a host loopback peer: find or create its flow and queue the payload
// to target:target_port in the namespace (target: what
// fwd_splice_ns_target() picks, of the peer's family; a new flow's socket
// is connected to it, an existing flow keeps its own). payload must stay
// valid until udp_splice_flush(). False if dropped (counted).
bool udp_splice_from_host(UdpSpliceCtx &ctx, int listen_fd, const InAny &bound_addr, uint16_t port,
			  const InAny &peer, uint16_t peer_port, const InAny &target,
			  uint16_t target_port, std::span<const std::byte> payload,
			  const timespec &now);
// Send what udp_splice_from_host() queued (sendmmsg per socket).
void udp_splice_flush(UdpSpliceCtx &ctx);

// A -u socket is being closed: close the flows replying through it.
void udp_splice_listener_closed(UdpSpliceCtx &ctx, int listen_fd);

// Close flows idle for UDP_FLOW_TIMEOUT_S or more. Returns how many.
unsigned udp_splice_timer(UdpSpliceCtx &ctx, const timespec &now);
void udp_splice_flow_close(UdpSpliceCtx &ctx, uint32_t index);

} // namespace passt
