// TCP translator, host -> guest: peek what the socket holds beyond what the
// guest has seen, straight into a batch of frame slots, and send it as data
// segments within the guest's window and MSS (or as 64 KiB GSO frames with
// an offloading backend); FIN when the socket reached its end. Data stays in
// the socket until the guest acknowledges it (discard_acked()), and a
// retransmission only rewinds the sequence (rewind()).
//
// System calls: recvmsg (MSG_PEEK), recv (MSG_TRUNC discards: recvfrom),
// setsockopt (SO_PEEK_OFF).
// #syscalls recvmsg recvfrom setsockopt
#include <algorithm>
#include <cerrno>
#include <cstring>

#include <sys/socket.h>

#include "passt/core/log.h"
#include "tcp_priv.h"

namespace passt::tcp_detail {

namespace {

// Room for the headers in front of each payload in the batch buffer.
constexpr size_t HDR_ROOM = 80;
constexpr size_t MAX_FRAMES = 128;
constexpr size_t BATCH_BYTES = 8 << 20;
// Scratch buffer for data already sent (no SO_PEEK_OFF) and its iovecs.
constexpr size_t DISCARD_LEN = 1 << 16;
constexpr size_t DISCARD_IOV = 256;
constexpr size_t MAX_SKIP = DISCARD_LEN * DISCARD_IOV;

alignas(64) std::byte batch_buf[BATCH_BYTES];
alignas(64) std::byte discard_buf[DISCARD_LEN];
TapFrame batch_frames[MAX_FRAMES];
iovec batch_iov[DISCARD_IOV + MAX_FRAMES];

// How the payload of one flow is cut into frames and laid out in batch_buf.
struct Layout {
	size_t hdrs;      // Ethernet + IP + TCP header bytes in front of a payload
	size_t mss;       // payload per wire segment
	size_t per_frame; // payload per frame (a multiple of mss with GSO)
	size_t stride;    // bytes between frame slots in batch_buf
	size_t nslots;    // frame slots in one batch
	bool gso;
};

Layout layout_for(const TcpCtx &ctx, const TcpFlow &t, const Ends &e) {
	Layout lo{};
	lo.hdrs = ETH_LEN + l3_len(e.src) + TCP_HLEN;
	lo.mss = t.guest_mss;
	if (lo.mss > 65535 - (lo.hdrs - ETH_LEN))
		lo.mss = 65535 - (lo.hdrs - ETH_LEN);
	if (lo.mss < 64)
		lo.mss = 64;
	lo.gso = ctx.out.tso(!e.src.is_v4());
	lo.per_frame = lo.gso ? ((65535 - (lo.hdrs - ETH_LEN)) / lo.mss) * lo.mss : lo.mss;
	if (!lo.per_frame)
		lo.per_frame = lo.mss;
	lo.stride = HDR_ROOM + ((lo.per_frame + 63) & ~size_t(63));
	lo.nslots = BATCH_BYTES / lo.stride;
	if (lo.nslots > MAX_FRAMES)
		lo.nslots = MAX_FRAMES;
	return lo;
}

// Peek up to avail new bytes into the frame slots (behind the bytes already
// in flight, into the scratch buffer, without SO_PEEK_OFF: at most
// MAX_SKIP). want: the bytes asked for. recvmsg()'s result.
ssize_t peek(const TcpCtx &ctx, const TcpFlow &t, const Layout &lo, uint32_t in_flight,
	     size_t avail, size_t &want) {
	size_t niov = 0;
	if (!ctx.peek_off) {
		size_t skip = in_flight;
		while (skip) {
			size_t l = skip < DISCARD_LEN ? skip : DISCARD_LEN;
			batch_iov[niov++] = iovec{discard_buf, l};
			skip -= l;
		}
	}
	size_t nfr = 0;
	want = 0;
	for (; nfr < lo.nslots && want < avail; nfr++) {
		size_t l = avail - want < lo.per_frame ? avail - want : lo.per_frame;
		batch_iov[niov + nfr] = iovec{batch_buf + nfr * lo.stride + HDR_ROOM, l};
		want += l;
	}
	msghdr mh{};
	mh.msg_iov = batch_iov;
	mh.msg_iovlen = niov + nfr;
	ssize_t n;
	do
		n = recvmsg(t.sock, &mh, MSG_PEEK | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	return n;
}

// The socket reached its end: FIN to the guest once everything before it
// was sent.
void host_eof(TcpCtx &ctx, uint32_t idx, TcpFlow &t, const Ends &e, uint32_t in_flight,
	      const timespec &now) {
	t.flags |= tcpf::host_eof;
	if (in_flight == 0 || ctx.peek_off) {
		send_ctrl_raw(ctx, e, tcpflag::fin | tcpflag::ack, t.snd_nxt, t.rcv_nxt,
			      last_wnd_field(t), nullptr);
		t.snd_nxt++;
		t.snd_max = t.snd_nxt;
		t.flags |= tcpf::fin_sent;
		if (!t.deadline_ns)
			set_deadline(ctx, t, now, TCP_RTO_MS);
	}
	set_events(ctx, idx, t, est_events(t));
}

// Write the headers of the got bytes peeked into the frame slots and send
// the frames; advance snd_nxt over what the backend took. False if the
// backend refused some.
bool frames_out(TcpCtx &ctx, Flow &f, const Ends &e, const Layout &lo, size_t got,
		const timespec &now) {
	TcpFlow &t = f.state<TcpFlow>();
	uint32_t dummy;
	uint16_t wfield = wnd_field(t, t.last_wnd, dummy);
	size_t left = got, i = 0;
	uint32_t seq = t.snd_nxt;
	for (; left; i++) {
		size_t l = left < lo.per_frame ? left : lo.per_frame;
		std::byte *payload = batch_buf + i * lo.stride + HDR_ROOM;
		std::byte *frame = payload - lo.hdrs;
		TcpRepr r;
		r.sport = e.sport;
		r.dport = e.dport;
		r.seq = seq;
		r.ack = t.rcv_nxt;
		r.flags = tcpflag::ack | (left == l ? tcpflag::psh : 0);
		r.window = wfield;
		r.payload = std::span<const std::byte>(payload, l);
		write_frame(ctx, e, frame, r, lo.gso && l > lo.mss ? lo.mss : 0, batch_frames[i]);
		seq += uint32_t(l);
		left -= l;
	}
	size_t sent = ctx.out.send_frames(std::span<const TapFrame>(batch_frames, i));
	bool backend_full = sent < i;
	if (backend_full && ctx.out.reports_room())
		ctx.out_blocked = true; // until tcp_out_room()
	if (backend_full) {
		// Refused frames never reached the guest: advance only over
		// the ones sent, and peek the rest again later.
		size_t bytes = std::min(got, sent * lo.per_frame);
		seq = t.snd_nxt + uint32_t(bytes);
		if (ctx.peek_off) {
			int off = int(seq - t.snd_una);
			setsockopt(t.sock, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof(off));
		}
	}
	t.snd_nxt = seq;
	if (seq_gt(seq, t.snd_max))
		t.snd_max = seq;
	f.last_active = now;
	if (!t.deadline_ns)
		set_deadline(ctx, t, now, TCP_RTO_MS);
	return !backend_full;
}

} // namespace

// Forward what the socket holds beyond snd_nxt, as the guest's window
// allows; FIN once the socket reached its end. False if the flow is gone.
bool data_from_sock(TcpCtx &ctx, uint32_t idx, Flow &f, const timespec &now) {
	TcpFlow &t = f.state<TcpFlow>();
	if (t.state != TcpState::Established || (t.flags & tcpf::fin_sent) || t.sock < 0 ||
	    t.frozen)
		return true;
	if (ctx.out_blocked)
		return true; // the backend reports room: tcp_out_room() calls us

	const Ends e = ends_of(f);
	const Layout lo = layout_for(ctx, t, e);

	for (;;) {
		uint32_t in_flight = t.snd_nxt - t.snd_una;
		uint32_t wnd = t.guest_wnd;
		if (in_flight >= wnd)
			return true; // window full: the guest's ACK calls us again
		if (!ctx.peek_off && in_flight > MAX_SKIP)
			return true;
		size_t want;
		ssize_t n = peek(ctx, t, lo, in_flight, wnd - in_flight, want);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return true;
			debug_rl("TCP: flow %u: recv: %s", idx, strerror(errno));
			flow_rst(ctx, idx);
			return false;
		}
		size_t got = size_t(n);
		bool eof = false;
		if (ctx.peek_off) {
			eof = got == 0;
		} else {
			if (got == 0)
				eof = in_flight == 0;
			got = got > in_flight ? got - in_flight : 0;
			if (!got && !eof)
				return true;
		}
		if (eof) {
			host_eof(ctx, idx, t, e, in_flight, now);
			return true;
		}
		if (!frames_out(ctx, f, e, lo, got, now) || got < want)
			return true;
	}
}

// Drop acknowledged bytes from the socket.
void discard_acked(uint32_t idx, TcpFlow &t, uint32_t bytes) {
	while (bytes) {
		ssize_t n = recv(t.sock, nullptr, bytes, MSG_TRUNC | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			debug_rl("TCP: flow %u: can't discard %u acknowledged bytes: %s", idx,
				 bytes, n < 0 ? strerror(errno) : "EOF");
			return;
		}
		bytes -= uint32_t(n);
	}
}

// Rewind the sequence towards the guest to its last acknowledgement.
void rewind(TcpCtx &ctx, TcpFlow &t) {
	t.snd_nxt = t.snd_una;
	t.flags &= uint8_t(~tcpf::fin_sent);
	if (ctx.peek_off) {
		int zero = 0;
		setsockopt(t.sock, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero));
	}
	ctx.stats.retransmits++;
}

} // namespace passt::tcp_detail
