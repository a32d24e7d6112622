// What the pieces of the TCP tap translator share (not part of
// include/passt/tcp/tcp.h): sequence arithmetic, the addresses of a frame to
// the guest, and the functions one file of src/tcp/ offers the others. A
// guest segment travels as a TcpRepr (net/tcp_repr.h), its addresses as the
// guest side of a flow (FlowSide: the guest is the peer). The theory of operation is at the top of tcp.cpp.
//
//   tcp.cpp            entry points: init, tap input, socket events, flush
//   tcp_wire.cpp       guest frames: parse segments, write frames, RST
//   tcp_window.cpp     windows we advertise, ACKs, epoll interest
//   tcp_conn.cpp       opening (both ways) and closing connections
//   tcp_from_guest.cpp segments of an existing flow: the state machine
//   tcp_to_guest.cpp   socket data to the guest, acknowledged discards
//   tcp_listen.cpp     inbound listeners and accept()
//   tcp_timer.cpp      handshake, retransmission and idle timeouts
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <span>

#include "passt/core/util.h"
#include "passt/net/tcp_repr.h"
#include "passt/tcp/tcp.h"

namespace passt::tcp_detail {

constexpr size_t ETH_LEN = 14;
constexpr size_t TCP_HLEN = 20;
// Largest window we let the guest's advertisement open.
constexpr uint32_t MAX_GUEST_WND = 32u << 20;
// TcpFlow::events of a socket taken out of the epoll set.
constexpr uint32_t EV_REMOVED = UINT32_MAX;

inline bool seq_lt(uint32_t a, uint32_t b) { return int32_t(a - b) < 0; }
inline bool seq_le(uint32_t a, uint32_t b) { return int32_t(a - b) <= 0; }
inline bool seq_gt(uint32_t a, uint32_t b) { return int32_t(a - b) > 0; }

inline int64_t ts_ns(const timespec &t) { return int64_t(t.tv_sec) * NS_PER_SEC + t.tv_nsec; }
timespec ts_of(int64_t ns); // tcp_timer.cpp
// A deadline ms milliseconds after now.
inline int64_t deadline_after(const timespec &now, uint32_t ms) {
	return ts_ns(now) + int64_t(ms) * NS_PER_MS;
}

// Make the TCP timer run by deadline_ns (a deadline that may be earlier than
// any it knew of at its last run).
void timer_due_by(TcpCtx &ctx, int64_t deadline_ns);
// Set the flow's deadline (retransmission, handshake) ms after now.
inline void set_deadline(TcpCtx &ctx, TcpFlow &t, const timespec &now, uint32_t ms) {
	t.deadline_ns = deadline_after(now, ms);
	timer_due_by(ctx, t.deadline_ns);
}

inline size_t l3_len(const InAny &a) { return a.is_v4() ? 20 : 40; }

// Addresses and ports of a frame towards the guest.
struct Ends {
	InAny src, dst; // src: what the guest talks to; dst: the guest
	uint16_t sport, dport;
	uint32_t label;
};

inline Ends ends_of(const Flow &f) {
	const FlowSide &g = f.guest();
	return Ends{g.our_addr, g.peer_addr, g.our_port, g.peer_port,
		    f.state<TcpFlow>().flow_label};
}

// tcp_wire.cpp
std::optional<TcpRepr> parse_frame(const TcpCtx &ctx, std::span<std::byte> frame, FlowSide &g);
// The headers of segment r between the ends e, in front of its payload at
// frame, into tf (gso_mss: segment size asked of the backend, 0 for none).
void write_frame(const TcpCtx &ctx, const Ends &e, std::byte *frame, const TcpRepr &r,
		 size_t gso_mss, TapFrame &tf);
// Zero copy: only the headers of segment r (no payload in r) at hdr, for
// payload_len bytes of payload placed elsewhere, with a partial checksum
// (and gso_mss as above). tf.frame covers the headers. Their length.
size_t write_headers(const TcpCtx &ctx, const Ends &e, std::byte *hdr, const TcpRepr &r,
		     size_t payload_len, size_t gso_mss, TapFrame &tf);
// A segment without payload (flags: tcpflag bits) between the ends e, with
// the options opts if not null. False if it could not be sent.
bool send_ctrl_raw(TcpCtx &ctx, const Ends &e, uint8_t flags, uint32_t seq, uint32_t ack,
		   uint16_t wnd, const TcpOptions *opts);
void rst_unmatched(TcpCtx &ctx, const FlowSide &g, const TcpRepr &s);
uint16_t our_mss(const TcpCtx &ctx, bool v4);
TcpOptions syn_opts(const TcpCtx &ctx, bool v4, bool offer_ws);

// tcp_window.cpp
uint32_t sock_wnd(int sock);
uint16_t wnd_field(const TcpFlow &t, uint32_t bytes, uint32_t &actual);
// The window field for the byte window last advertised, unchanged.
uint16_t last_wnd_field(const TcpFlow &t);
void set_events(TcpCtx &ctx, uint32_t idx, TcpFlow &t, uint32_t ev);
uint32_t est_events(const TcpFlow &t);
// An ACK for flow idx with the current window (same_wnd: the one last
// advertised); a window update follows on EPOLLOUT if the window is under
// a segment (rearm_small) or closed. See tcp_window.cpp.
void send_ack(TcpCtx &ctx, uint32_t idx, Flow &f, bool rearm_small = true, bool same_wnd = false);

// tcp_conn.cpp
// Options every socket of a flow gets (TCP_NODELAY, SO_PEEK_OFF 0; the
// first refusal of SO_PEEK_OFF turns ctx.peek_off off).
void sock_setup(TcpCtx &ctx, int s);
// Watch the flow's socket with events and make its guest side findable.
// False (socket out of the epoll set again) if either fails.
bool flow_register(TcpCtx &ctx, uint32_t idx, TcpFlow &t, uint32_t events);
void conn_from_tap(TcpCtx &ctx, const FlowSide &key, const TcpRepr &s, const timespec &now);
void conn_from_sock(TcpCtx &ctx, const TcpListener &l, int fd, const timespec &now);
void connect_done(TcpCtx &ctx, uint32_t idx, Flow &f, const timespec &now);
void established(TcpCtx &ctx, uint32_t idx, Flow &f, const timespec &now);
void apply_syn_opts(TcpFlow &t, const TcpRepr &s);
void flow_close(TcpCtx &ctx, uint32_t idx, bool reset_host);
void flow_rst(TcpCtx &ctx, uint32_t idx);
bool flow_evict(TcpCtx &ctx, uint32_t idx);
bool maybe_done(TcpCtx &ctx, uint32_t idx, TcpFlow &t);

// tcp_from_guest.cpp
void seg_for_flow(TcpCtx &ctx, uint32_t idx, Flow &f, const TcpRepr &s, const timespec &now);

// Delayed ACKs (tcp_flush_acks()). May the ACK of f's in-order guest data
// wait? Established, not closing, less than two of the guest's full
// segments unacknowledged, and the window we advertised keeps room for
// two more: so a bulk sender is acknowledged at once, every other segment.
bool delay_ack(const TcpCtx &ctx, const Flow &f);
// A segment of ours acknowledged all the guest sent (t.acked = rcv_nxt):
// a delayed ACK of t is no longer needed.
void ack_sent(TcpCtx &ctx, TcpFlow &t);
// TCP_DELACK_MS passed: the delayed ACKs still due go now (a frozen flow's
// is dropped).
void delack_timeout(TcpCtx &ctx);

// tcp_to_guest.cpp
bool data_from_sock(TcpCtx &ctx, uint32_t idx, Flow &f, const timespec &now);
void discard_acked(uint32_t idx, TcpFlow &t, uint32_t bytes);
void rewind(TcpCtx &ctx, TcpFlow &t);

// tcp_listen.cpp
int listen_open_all(TcpCtx &ctx);

} // namespace passt::tcp_detail
