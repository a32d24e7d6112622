// TCP translator, host -> guest: peek what the socket holds beyond what the
// guest has seen, straight into a batch of frame slots, and send it as data
// segments within the guest's window and MSS (or as 64 KiB GSO frames with
// an offloading backend); FIN when the socket reached its end. Data stays in
// the socket until the guest acknowledges it (discard_acked()), and a
// retransmission only rewinds the sequence (rewind()).
//
// Zero copy: a backend that lends us the guest's own receive buffers
// (vhost-user, TapOutput::direct_begin()) gets the payload peeked straight
// into them and the headers written in place, with partial checksums; the
// frame slots here serve every other case (no such backend, a capture
// running, frames waiting for buffers, a buffer too small for the headers).
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
// recvmsg() takes at most UIO_MAXIOV pieces: the discarded ones, then the
// frames' (one each in batch_buf, any number in guest buffers).
constexpr size_t MAX_IOV = 1024;
static_assert(DISCARD_IOV + MAX_FRAMES <= MAX_IOV);
iovec batch_iov[MAX_IOV];
TapDirectSlot direct_slots[MAX_FRAMES];

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

// Without SO_PEEK_OFF, the first pieces of a peek take the in_flight bytes
// already sent, into the scratch buffer (at most MAX_SKIP). How many.
size_t skip_iov(const TcpCtx &ctx, uint32_t in_flight) {
	size_t niov = 0;
	if (ctx.peek_off)
		return 0;
	for (size_t skip = in_flight; skip;) {
		size_t l = skip < DISCARD_LEN ? skip : DISCARD_LEN;
		batch_iov[niov++] = iovec{discard_buf, l};
		skip -= l;
	}
	return niov;
}

ssize_t peek_iov(const TcpFlow &t, size_t niov) {
	msghdr mh{};
	mh.msg_iov = batch_iov;
	mh.msg_iovlen = niov;
	ssize_t n;
	do
		n = recvmsg(t.sock, &mh, MSG_PEEK | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	return n;
}

// Peek up to avail new bytes into the frame slots of batch_buf. want: the
// bytes asked for. recvmsg()'s result.
ssize_t peek(const TcpCtx &ctx, const TcpFlow &t, const Layout &lo, uint32_t in_flight,
	     size_t avail, size_t &want) {
	const size_t niov = skip_iov(ctx, in_flight);
	size_t nfr = 0;
	want = 0;
	for (; nfr < lo.nslots && want < avail; nfr++) {
		size_t l = avail - want < lo.per_frame ? avail - want : lo.per_frame;
		batch_iov[niov + nfr] = iovec{batch_buf + nfr * lo.stride + HDR_ROOM, l};
		want += l;
	}
	return peek_iov(t, niov + nfr);
}

// Zero copy: peek up to avail new bytes into guest buffers the backend
// reserved, nslots frames of them (0: none could be reserved, nothing was
// read). want: the bytes asked for.
ssize_t peek_direct(TcpCtx &ctx, const TcpFlow &t, const Layout &lo, uint32_t in_flight,
		    size_t avail, size_t &want, size_t &nslots) {
	want = nslots = 0;
	if (!ctx.out.offloads())
		return 0;
	const size_t niov = skip_iov(ctx, in_flight);
	nslots = ctx.out.direct_begin(lo.hdrs, lo.per_frame, avail,
				      std::span<TapDirectSlot>(direct_slots, lo.nslots),
				      std::span<iovec>(batch_iov + niov, MAX_IOV - niov));
	if (!nslots)
		return 0;
	const TapDirectSlot &last = direct_slots[nslots - 1];
	for (size_t i = 0; i < nslots; i++)
		want += direct_slots[i].room;
	ssize_t n = peek_iov(t, niov + last.iov_first + last.niov);
	if (n <= 0 || size_t(n) <= (ctx.peek_off ? 0 : in_flight)) {
		const int saved = errno;
		ctx.out.direct_end({}); // nothing to send: every buffer goes back
		errno = saved;
	}
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
		ack_sent(ctx, t);
		t.snd_nxt++;
		t.snd_max = t.snd_nxt;
		t.flags |= tcpf::fin_sent;
		if (!t.deadline_ns)
			set_deadline(ctx, t, now, TCP_RTO_MS);
	}
	set_events(ctx, idx, t, est_events(t));
}

// A data segment of the flow from seq, as the last of a batch if last.
TcpRepr data_repr(const Ends &e, const TcpFlow &t, uint32_t seq, uint16_t wfield, bool last) {
	TcpRepr r;
	r.sport = e.sport;
	r.dport = e.dport;
	r.seq = seq;
	r.ack = t.rcv_nxt;
	r.flags = tcpflag::ack | (last ? tcpflag::psh : 0);
	r.window = wfield;
	return r;
}

// The backend took bytes of the bytes peeked (refused: not the rest,
// which never reached the guest): advance snd_nxt over them only; the rest
// is peeked again later. full: the refusal meant no room, so wait for the
// backend's room report. False if the backend refused some.
bool advance(TcpCtx &ctx, Flow &f, size_t bytes, bool refused, bool full, const timespec &now) {
	TcpFlow &t = f.state<TcpFlow>();
	if (refused && full && ctx.out.reports_room())
		ctx.out_blocked = true; // until tcp_out_room()
	uint32_t seq = t.snd_nxt + uint32_t(bytes);
	if (refused && ctx.peek_off) {
		int off = int(seq - t.snd_una);
		setsockopt(t.sock, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof(off));
	}
	t.snd_nxt = seq;
	if (seq_gt(seq, t.snd_max))
		t.snd_max = seq;
	if (bytes)
		ack_sent(ctx, t); // data segments carry ack = rcv_nxt
	f.last_active = now;
	if (!t.deadline_ns)
		set_deadline(ctx, t, now, TCP_RTO_MS);
	return !refused;
}

// Write the headers of the got bytes peeked into the frame slots and send
// the frames. False if the backend refused some.
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
		TcpRepr r = data_repr(e, t, seq, wfield, left == l);
		r.payload = std::span<const std::byte>(payload, l);
		write_frame(ctx, e, payload - lo.hdrs, r, lo.gso && l > lo.mss ? lo.mss : 0,
			    batch_frames[i]);
		seq += uint32_t(l);
		left -= l;
	}
	size_t sent = ctx.out.send_frames(std::span<const TapFrame>(batch_frames, i));
	return advance(ctx, f, std::min(got, sent * lo.per_frame), sent < i, true, now);
}

// Zero copy: the same for the got bytes peeked into the nslots reserved
// guest buffers (filled in order), headers written in place.
bool direct_out(TcpCtx &ctx, Flow &f, const Ends &e, const Layout &lo, size_t got, size_t nslots,
		const timespec &now) {
	TcpFlow &t = f.state<TcpFlow>();
	uint32_t dummy;
	uint16_t wfield = wnd_field(t, t.last_wnd, dummy);
	size_t left = got, i = 0;
	uint32_t seq = t.snd_nxt;
	for (; left && i < nslots; i++) {
		TapDirectSlot &s = direct_slots[i];
		size_t l = std::min(left, s.room);
		write_headers(ctx, e, s.hdr, data_repr(e, t, seq, wfield, left == l), l,
			      lo.gso && l > lo.mss ? lo.mss : 0, s.out);
		s.payload = l;
		seq += uint32_t(l);
		left -= l;
	}
	size_t sent = ctx.out.direct_end(std::span<const TapDirectSlot>(direct_slots, i));
	size_t bytes = 0;
	for (size_t k = 0; k < sent; k++)
		bytes += direct_slots[k].payload;
	// The buffers were there: a refusal here is no lack of room, and no
	// room report would follow it.
	return advance(ctx, f, bytes, sent < i, false, now);
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
		if (t.drained == DRAINED_YES)
			return true; // nothing new: the socket's EPOLLIN edge calls us
		size_t want, nslots;
		ssize_t n = peek_direct(ctx, t, lo, in_flight, wnd - in_flight, want, nslots);
		if (!nslots)
			n = peek(ctx, t, lo, in_flight, wnd - in_flight, want);
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
		const bool all_taken = nslots ? direct_out(ctx, f, e, lo, got, nslots, now)
					      : frames_out(ctx, f, e, lo, got, now);
		if (!all_taken)
			return true;
		if (got < want) {
			// All the socket held went out: until its next EPOLLIN
			// (edge-triggered), a peek would find nothing more.
			if (t.drained == DRAINED_NO)
				t.drained = DRAINED_YES;
			return true;
		}
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
	if (t.drained == DRAINED_YES)
		t.drained = DRAINED_NO;
	t.flags &= uint8_t(~tcpf::fin_sent);
	if (ctx.peek_off) {
		int zero = 0;
		setsockopt(t.sock, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero));
	}
	ctx.stats.retransmits++;
}

} // namespace passt::tcp_detail
