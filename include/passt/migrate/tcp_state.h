// The kernel state of one connected TCP socket, as TCP_REPAIR exposes it:
// dumped from a socket in repair mode, carried in a versioned record, and
// restored into a new socket that takes the connection over without the
// peer noticing. See src/migrate/tcp_state.cpp for the theory of operation
// and doc/migration.md for the record layout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "passt/net/addr.h"

namespace passt {

// The most queued data a record carries per queue (send and receive, each):
// a socket holding more cannot be dumped (-E2BIG). 4 MiB is the default
// ceiling of the kernel's send buffer autotuning (net.ipv4.tcp_wmem).
constexpr size_t TCP_STATE_QUEUE_MAX = size_t(4) << 20;

// Record format version written by tcp_state_encode().
constexpr uint16_t TCP_STATE_VERSION = 1;
// Length of the fixed part of a version 1 record (queue data follows).
constexpr size_t TCP_STATE_FIXED_LEN = 112;

struct TcpSockState {
	bool v6 = false; // AF_INET6 socket (addresses may be v4-mapped)
	InAny local_addr, remote_addr;
	uint16_t local_port = 0, remote_port = 0;
	uint32_t scope_id = 0; // IPv6 link-local scope, else 0

	uint32_t snd_seq = 0; // sequence number of the first byte of sendq (snd_una)
	uint32_t rcv_seq = 0; // sequence number of the first byte of recvq (copied_seq)

	uint32_t mss = 0;       // TCP_MAXSEG in repair mode: the peer's MSS clamp
	bool wscale_ok = false; // window scaling negotiated
	uint8_t snd_wscale = 0; // the peer's shift
	uint8_t rcv_wscale = 0; // ours
	bool sack_ok = false;   // SACK permitted
	bool ts_ok = false;     // timestamps negotiated
	uint32_t timestamp = 0; // TCP_TIMESTAMP: our current timestamp value

	// TCP_REPAIR_WINDOW
	uint32_t snd_wl1 = 0, snd_wnd = 0, max_window = 0, rcv_wnd = 0, rcv_wup = 0;

	uint32_t sndbuf = 0, rcvbuf = 0; // SO_SNDBUF, SO_RCVBUF as getsockopt reports them

	// The send queue, unacknowledged data first; its last notsent bytes
	// were never sent (SIOCOUTQNSD). Points into a caller's buffer.
	std::span<const std::byte> sendq;
	uint32_t notsent = 0;
	// The receive queue: data acknowledged to the peer, not yet read.
	std::span<const std::byte> recvq;
};

// ---- Record ---------------------------------------------------------------

enum class TcpStateErr : uint8_t {
	Ok,
	Truncated, // shorter than its fixed part or than its length field says
	BadMagic,
	BadVersion, // a version this reader does not know
	BadLength,  // length fields inconsistent, or a queue over TCP_STATE_QUEUE_MAX
	BadField,   // a field out of range (family, window scale, notsent > sendq)
};
const char *tcp_state_err_str(TcpStateErr e);

// Bytes tcp_state_encode() writes for st.
size_t tcp_state_encoded_len(const TcpSockState &st);
// Writes st into out; returns the length, or 0 if out is too small or a
// queue is over TCP_STATE_QUEUE_MAX.
size_t tcp_state_encode(const TcpSockState &st, std::span<std::byte> out);
// Reads one record from the start of in into st (whose queues then point
// into in); *used, if given, is set to the record's length.
TcpStateErr tcp_state_decode(std::span<const std::byte> in, TcpSockState &st,
			     size_t *used = nullptr);

// ---- Sockets (the fd must be in repair mode where said) ------------------

// Fills st from fd, an established TCP socket in repair mode; the queues are
// copied into sendbuf and recvbuf, which st then points into. Returns 0, or
// -errno: -E2BIG if a queue does not fit (or is over TCP_STATE_QUEUE_MAX),
// -EAGAIN if the queues changed while being read, -ENOTCONN if not
// established.
int tcp_state_dump(int fd, TcpSockState &st, std::span<std::byte> sendbuf,
		   std::span<std::byte> recvbuf);

// Before a dump (fd in repair mode): close the receive window and shrink
// the receive buffer, so that the peer stops sending (see tcp_state.cpp).
// q: what was there before, and the connection's smoothed RTT.
struct TcpQuiesce {
	uint32_t rcvbuf = 0; // SO_RCVBUF as getsockopt reported it
	uint32_t rtt_us = 0; // tcpi_rtt
	// Segments the socket had sent (tcpi_segs_out) when its window
	// closed, if the kernel reports them.
	uint32_t segs_out = 0;
	bool segs_known = false;
	bool sealed = false; // tcp_state_seal() set the key
};
int tcp_state_quiesce(int fd, TcpQuiesce &q);
// closed: since the quiesce, fd sent an ACK other than the window probe,
// and offered no window in it, which the peer takes as its send window (a
// window probe's it ignores). Until then a peer that was quiet may still
// send up to the window it saw last. fd in repair mode, after the probe.
int tcp_state_peer_closed(int fd, const TcpQuiesce &q, bool &closed);
// After the quiesce, before the dump: from now on the socket drops, and
// does not acknowledge, whatever the peer sends (an MD5 signature key for
// the peer, which signs nothing it sends), so the dump stays exact and a
// source socket left behind swallows nothing. Undone by unquiesce.
int tcp_state_seal(int fd, TcpQuiesce &q);
// The sequence number at the end of the receive queue (rcv_nxt), fd in
// repair mode: it stops moving once the peer's data in flight has landed.
int tcp_state_rcv_nxt(int fd, uint32_t &seq);
// Bytes sent and not acknowledged yet (SIOCOUTQ - SIOCOUTQNSD): in repair
// mode nothing more is sent, so this only goes down, as the peer's ACKs
// arrive.
int tcp_state_in_flight(int fd, uint32_t &bytes);
// The dump is not used after all (the migration failed): the seal off,
// the receive buffer back to its size before (the window opens again by
// itself, and the peer retransmits what the seal dropped).
int tcp_state_unquiesce(int fd, TcpQuiesce &q);

// A new non-blocking socket for st, its buffer sizes set. Returns the fd or
// -errno. The caller puts it in repair mode, then calls tcp_state_restore().
int tcp_state_socket(const TcpSockState &st);

// Restores st into fd (from tcp_state_socket(), now in repair mode): binds
// it to the local address, then sequence numbers, timestamp, connect() (no
// SYN in repair mode), options, the receive queue, the sent part of the
// send queue, the window. Returns 0 or -errno. Then the caller takes fd out
// of repair mode and calls tcp_state_restore_unsent().
int tcp_state_restore(int fd, const TcpSockState &st);

// Queues the never-sent tail of the send queue on fd, out of repair mode
// now, as ordinary data. Returns 0, or -errno (-EAGAIN: it did not fit).
int tcp_state_restore_unsent(int fd, const TcpSockState &st);

} // namespace passt
