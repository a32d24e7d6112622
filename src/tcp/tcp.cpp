// TCP translation on the tap path.
//
// Theory of operation
// -------------------
// We are not a TCP stack. Each TCP connection of the guest is mirrored by
// one host socket, and the host kernel does the real work (congestion
// control, retransmission towards the remote end, buffering). What we do is
// translate: the guest's segments become socket writes, the socket's data
// becomes segments for the guest, and the sequence numbers we show the guest
// are a pure function of what the socket accepted and what it holds.
//
// Flows. A connection is a FlowType::Tcp flow; its guest side (guest
// address/port, destination as the guest addressed it) is hashed for
// lookups of incoming segments, its host side records the socket's peer
// after NAT (fwd.h: the gateway, or --map-host-loopback address, becomes the
// host's loopback). TcpFlow in the flow's state area holds the socket and
// the sequence space towards the guest.
//
// Opening. Outbound: a SYN from the guest creates the flow and starts a
// non-blocking connect(); only when the connect completes (EPOLLOUT, no
// SO_ERROR) does the guest get its SYN-ACK (state Connecting ->
// SynAckSent), so a refused or unreachable destination becomes an RST to
// the guest, as if the guest had talked to the remote end directly (a
// link-local target is scoped to its interface, fwd_scope_id()). The
// guest's ACK makes the flow Established. Inbound (-t): listening sockets
// are opened by tcp_init() for each forwarded port and address family (the
// walk over the rules, its error policy and descriptor budget are shared
// with the other translators in fwd/listeners.cpp); accept() creates the
// flow, and the guest gets a SYN from the mapped source address (a
// loopback source appears as the map-host-loopback address) to its own
// address and the target port (state SynSent); its SYN-ACK makes the flow
// Established, its RST closes the accepted socket with SO_LINGER 0 (the
// host client sees a reset). pasta "-t auto" rules get their listeners from
// tcp_listen_sync(), following the ports bound in the namespace
// (fwd/portscan.cpp, applied by listen_sync() of fwd/listeners.cpp); a
// listener's slot in TcpCtx::listeners (ListenerSlots, its EpollRef index)
// never moves, and flows keep nothing of the listener after accept(), so
// closing one leaves its connections alone. SYNs carry MSS (from the MTU) and window
// scaling; the guest's MSS and window scale are parsed from its SYN.
//
// Guest -> host. In-sequence payload is written with send(MSG_DONTWAIT);
// rcv_nxt (what we acknowledge to the guest) advances only by what the
// socket accepted, so data the socket refused is simply not acknowledged
// and the guest retransmits it. The window we advertise is the free space
// of the socket's send buffer (SO_SNDBUF - SIOCOUTQ). When it gets small or
// data was refused, EPOLLOUT is armed; once the socket drains we send a
// window update (plus duplicate ACKs if data was refused, so that the guest
// retransmits at once), so the window is never left closed. Segments ahead
// of rcv_nxt (a hole) get a duplicate ACK at once, old ones
// (retransmissions, keepalive probes) a plain ACK. The ACK for in-order
// data waits for the end of the batch of guest frames (the backend's flush
// hook, where it has one): one ACK per flow and batch, not per segment.
//
// Host -> guest. Data is read with MSG_PEEK and stays in the socket until
// the guest acknowledges it: SO_PEEK_OFF (set to 0 on each socket) makes
// each peek continue where the last one stopped, so that peek offset ==
// snd_nxt - snd_una. Without SO_PEEK_OFF, we peek from the start and read
// the bytes already sent into a scratch buffer. Peeked data lands directly
// in a batch buffer of frame slots, behind room for the headers; the frames
// respect the guest's (scaled) window and MSS and go out in one
// send_frames() call. With a backend supporting offloads (tun with a
// virtio-net header) a frame carries up to 64 KiB of payload with gso_type
// TCPV4/TCPV6 and gso_size = MSS and a partial checksum: the namespace
// kernel segments it, whatever the MTU. Other frames have full checksums.
// A guest ACK discards the acknowledged bytes from the socket (recv with
// MSG_TRUNC, which also moves the peek offset back). Retransmission
// (timeout, or three duplicate ACKs) rewinds: snd_nxt = snd_una and peek
// offset 0; snd_max remembers how far we had got, so that a late ACK for
// data sent before the rewind is still taken.
//
// Closing. A guest FIN (once all its data is written) becomes
// shutdown(SHUT_WR); recv() returning 0 after all data was sent becomes a
// FIN to the guest. The flow is closed when both FINs are through (the
// guest's acknowledged by us, ours by the guest). A guest RST closes the
// socket with SO_LINGER 0 (the host peer gets a reset); ECONNRESET or any
// other socket error becomes an RST to the guest.
//
// Timers. One periodic scan (TCP_TIMER_INTERVAL_MS) checks each flow's
// deadline: handshake (TCP_HANDSHAKE_TIMEOUT_MS), retransmission of
// unacknowledged data (TCP_RTO_MS, doubling, RST after TCP_MAX_RETRANS),
// half-closed idle (TCP_FIN_TIMEOUT_MS), and idle (TCP_IDLE_TIMEOUT_MS,
// two hours as Linux keepalive defaults; a guest keepalive probe counts as
// activity and is answered with an ACK).
//
// Errors. Malformed frames (bad lengths, checksum, fragments) are dropped.
// (With an offloading backend the TCP checksum was completed by the backend
// itself and is not checked again.)
// A segment that matches no flow gets an RST as RFC 9293 3.10.7.1 says,
// unless it is an RST itself; a SYN that cannot get a flow (table full,
// unforwardable destination, socket failure) gets an RST.
//
// Not done here: the auto (-t auto) port scanning, which belongs to the
// port scanner; pasta's spliced loopback path (splice.cpp: an inbound
// connection from a loopback source is handed over to it, unless
// --no-splice); SACK, timestamps and urgent
// data (the guest is told of neither SACK nor timestamps, and the urgent
// pointer is ignored); zero-window probes towards the guest (a guest that
// closes its window reopens it with a window update, which the tap link
// does not lose). Inbound connections go to the guest's global address
// (last seen, else configured), never to a link-local one.
//
// System calls: host sockets for new flows and accepted connections,
// SIOCOUTQ (ioctl) for what the peer has not acknowledged, MSG_PEEK reads
// (recvmsg), discards (recv: recvfrom) and sends (send: sendto); listeners
// are opened at start-up, and again by pasta's auto-forwarding scans.
// #syscalls accept4 bind close connect getpeername getsockname getsockopt ioctl
// #syscalls recvmsg recvfrom sendto setsockopt shutdown socket
// #syscalls:pasta listen
// #syscalls:init prlimit64
#include "passt/tcp/tcp.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "passt/core/log.h"
#include "passt/core/util.h"
#include "passt/flow/fwd.h"
#include "passt/fwd/listeners.h"
#include "passt/net/checksum.h"
#include "passt/net/eth.h"
#include "passt/net/ip4.h"
#include "passt/net/ip6.h"
#include "passt/net/sockaddr.h"
#include "passt/net/tcp.h"
#include "passt/tap/vnet.h"
#include "passt/tcp/splice.h"

namespace passt {

namespace {

constexpr size_t ETH_LEN = 14;
constexpr size_t TCP_HLEN = 20;
// Room for the headers in front of each payload in the batch buffer.
constexpr size_t HDR_ROOM = 80;
constexpr size_t MAX_FRAMES = 128;
constexpr size_t BATCH_BYTES = 8 << 20;
// Scratch buffer for data already sent (no SO_PEEK_OFF) and its iovecs.
constexpr size_t DISCARD_LEN = 1 << 16;
constexpr size_t DISCARD_IOV = 256;
// Largest window we let the guest's advertisement open.
constexpr uint32_t MAX_GUEST_WND = 32u << 20;

alignas(64) std::byte batch_buf[BATCH_BYTES];
alignas(64) std::byte discard_buf[DISCARD_LEN];
TapFrame batch_frames[MAX_FRAMES];
iovec batch_iov[DISCARD_IOV + MAX_FRAMES];

bool seq_lt(uint32_t a, uint32_t b) { return int32_t(a - b) < 0; }
bool seq_le(uint32_t a, uint32_t b) { return int32_t(a - b) <= 0; }
bool seq_gt(uint32_t a, uint32_t b) { return int32_t(a - b) > 0; }

int64_t ts_ns(const timespec &t) { return int64_t(t.tv_sec) * NS_PER_SEC + t.tv_nsec; }

// Addresses and ports of a frame towards the guest.
struct Ends {
	InAny src, dst; // src: what the guest talks to; dst: the guest
	uint16_t sport, dport;
	uint32_t label;
};

Ends ends_of(const Flow &f) {
	const FlowSide &g = f.guest();
	return Ends{g.our_addr, g.peer_addr, g.our_port, g.peer_port,
		    f.state<TcpFlow>().flow_label};
}

size_t l3_len(const InAny &a) { return a.is_v4() ? 20 : 40; }

// Write Ethernet, IP and TCP headers at frame; the TCP options (opt_len
// bytes) and payload (plen bytes) must already follow the 20-byte TCP
// header. gso_mss != 0 asks the backend to segment (and to complete the
// checksum); otherwise the checksum is computed here. Fills tf.
void write_frame(const TcpCtx &ctx, const Ends &e, std::byte *frame, size_t opt_len, size_t plen,
		 uint8_t flags, uint32_t seq, uint32_t ack, uint16_t wnd, size_t gso_mss,
		 TapFrame &tf) {
	const bool v4 = e.src.is_v4();
	const size_t iphl = l3_len(e.src);
	const size_t thl = TCP_HLEN + opt_len;
	const size_t l4len = thl + plen;
	const size_t total = ETH_LEN + iphl + l4len;
	std::span<std::byte> buf(frame, total);

	auto eth = *EthView::init(buf);
	eth.set_dst(ctx.tap.guest_mac);
	eth.set_src(ctx.c.our_tap_mac);
	eth.set_ethertype(v4 ? ethertype::ipv4 : ethertype::ipv6);

	std::span<std::byte> l4 = buf.subspan(ETH_LEN + iphl);
	auto th = *TcpView::init(l4.first(TCP_HLEN));
	th.set_sport(e.sport);
	th.set_dport(e.dport);
	th.set_seq(seq);
	th.set_ack_seq(ack);
	th.set_flags(flags);
	th.set_window(wnd);
	// Data offset by hand: the view above only covers the fixed header.
	l4[12] = std::byte(uint8_t((thl / 4) << 4));

	tf = TapFrame{};
	tf.frame = std::span<const std::byte>(frame, total);
	if (v4) {
		auto ip = *Ip4View::init(buf.subspan(ETH_LEN, 20));
		ip.set_total_len(uint16_t(iphl + l4len));
		ip.set_frag(true, false, 0);
		ip.set_ttl(64);
		ip.set_protocol(ipproto::tcp);
		ip.set_saddr(e.src.v4());
		ip.set_daddr(e.dst.v4());
		ip.fill_checksum();
	} else {
		auto ip = *Ip6View::init(buf.subspan(ETH_LEN, 40));
		ip.set_flow_label(e.label);
		ip.set_payload_len(uint16_t(l4len));
		ip.set_next_header(ipproto::tcp);
		ip.set_hop_limit(64);
		ip.set_saddr(e.src.v6());
		ip.set_daddr(e.dst.v6());
	}

	if (gso_mss) {
		uint64_t ph = v4 ? pseudo_header4(e.src.v4(), e.dst.v4(), ipproto::tcp,
						  uint16_t(l4len))
				 : pseudo_header6(e.src.v6(), e.dst.v6(), ipproto::tcp,
						  uint32_t(l4len));
		uint16_t folded = csum_fold(ph);
		std::memcpy(l4.data() + 16, &folded, 2);
		tf.needs_csum = true;
		tf.csum_start = uint16_t(ETH_LEN + iphl);
		tf.csum_offset = 16;
		if (plen > gso_mss) {
			tf.gso_type = v4 ? vnet::GSO_TCPV4 : vnet::GSO_TCPV6;
			tf.gso_size = uint16_t(gso_mss);
			tf.hdr_len = uint16_t(ETH_LEN + iphl + thl);
		}
	} else {
		std::span<const std::byte> seg(l4.data(), l4len);
		be16 sum = v4 ? l4_checksum4(e.src.v4(), e.dst.v4(), ipproto::tcp, seg)
			      : l4_checksum6(e.src.v6(), e.dst.v6(), ipproto::tcp, seg);
		std::memcpy(l4.data() + 16, &sum.raw, 2);
	}
}

// Our MSS for the guest: what fits its MTU.
uint16_t our_mss(const TcpCtx &ctx, bool v4) {
	unsigned mtu = ctx.c.mtu ? ctx.c.mtu : 65520;
	unsigned hdr = (v4 ? 20 : 40) + TCP_HLEN;
	unsigned mss = mtu > hdr + 64 ? mtu - hdr : 536;
	return uint16_t(mss > 65535 - hdr ? 65535 - hdr : mss);
}

// A frame without payload (SYN, ACK, FIN, RST) to the guest.
bool send_ctrl_raw(TcpCtx &ctx, const Ends &e, uint8_t flags, uint32_t seq, uint32_t ack,
		   uint16_t wnd, const TcpOptions *opts) {
	alignas(8) std::byte buf[ETH_LEN + 40 + 60];
	size_t opt_len = 0;
	if (opts) {
		std::span<std::byte> o(buf + ETH_LEN + l3_len(e.src) + TCP_HLEN, 40);
		opt_len = tcp_write_options(o, *opts);
	}
	TapFrame tf;
	write_frame(ctx, e, buf, opt_len, 0, flags, seq, ack, wnd, 0, tf);
	bool ok = ctx.out.send_frames(std::span<const TapFrame>(&tf, 1)) == 1;
	if (flags & tcpflag::rst)
		ctx.stats.rst_to_guest++;
	return ok;
}

// Free space in the socket's send buffer: the window for the guest. The
// kernel takes data while the memory it queued (payload plus per-buffer
// overhead, SK_MEMINFO_WMEM_QUEUED) is below SO_SNDBUF, so that is what we
// compare, and keep a margin for the overhead of what the guest sends next.
uint32_t sock_wnd(int sock) {
	uint32_t mi[SK_MEMINFO_VARS] = {};
	socklen_t sl = sizeof(mi);
	int64_t room;
	if (getsockopt(sock, SOL_SOCKET, SO_MEMINFO, mi, &sl) == 0 &&
	    sl > SK_MEMINFO_WMEM_QUEUED * sizeof(uint32_t)) {
		room = int64_t(mi[SK_MEMINFO_SNDBUF]) - mi[SK_MEMINFO_WMEM_QUEUED];
	} else {
		int sndbuf = 0, outq = 0;
		sl = sizeof(sndbuf);
		if (getsockopt(sock, SOL_SOCKET, SO_SNDBUF, &sndbuf, &sl) < 0 ||
		    ioctl(sock, SIOCOUTQ, &outq) < 0)
			return 65535;
		room = int64_t(sndbuf) - outq - outq / 16;
	}
	room -= room / 16;
	return room > 0 ? uint32_t(room) : 0;
}

// Window field for the guest, and the byte window it stands for.
uint16_t wnd_field(const TcpFlow &t, uint32_t bytes, uint32_t &actual) {
	uint8_t ws = (t.flags & tcpf::guest_ws) ? TCP_OUR_WSCALE : 0;
	uint32_t v = bytes >> ws;
	if (v > 65535)
		v = 65535;
	actual = v << ws;
	return uint16_t(v);
}

// TcpFlow::events of a socket taken out of the epoll set.
constexpr uint32_t EV_REMOVED = UINT32_MAX;

void set_events(TcpCtx &ctx, uint32_t idx, TcpFlow &t, uint32_t ev) {
	if (t.events == ev || t.events == EV_REMOVED)
		return;
	EpollRef ref{RefKind::TcpSock, t.sock, idx};
	if (ctx.loop.modify(t.sock, ev, ref) == 0)
		t.events = ev;
}

uint32_t est_events(const TcpFlow &t) {
	uint32_t ev = EPOLLET;
	if (!(t.flags & tcpf::host_eof))
		ev |= EPOLLIN;
	if (t.flags & tcpf::want_out)
		ev |= EPOLLOUT;
	return ev;
}

// Send an ACK with the current window. Arm EPOLLOUT (a window update once
// the socket drains) if the window is less than a full segment, or, from
// the EPOLLOUT handler itself (rearm_small false), only if it is closed:
// that keeps a writable socket from looping on updates.
// same_wnd: repeat the last window (duplicate ACKs must, to count as such).
void send_ack(TcpCtx &ctx, uint32_t idx, Flow &f, bool rearm_small = true, bool same_wnd = false) {
	TcpFlow &t = f.state<TcpFlow>();
	t.flags &= uint8_t(~tcpf::ack_pending); // this one covers it
	uint32_t room = same_wnd ? t.last_wnd : sock_wnd(t.sock);
	uint32_t actual;
	uint16_t field = wnd_field(t, room, actual);
	t.last_wnd = actual;
	send_ctrl_raw(ctx, ends_of(f), tcpflag::ack, t.snd_nxt, t.rcv_nxt, field, nullptr);
	uint32_t small = rearm_small ? our_mss(ctx, f.guest().our_addr.is_v4()) : 1;
	if (t.state == TcpState::Established && actual < small && !(t.flags & tcpf::guest_fin)) {
		t.flags |= tcpf::want_out;
		set_events(ctx, idx, t, est_events(t));
	}
}

void sock_close(TcpCtx &ctx, TcpFlow &t, bool reset) {
	if (t.sock < 0)
		return;
	ctx.loop.remove(t.sock);
	if (reset) {
		linger l{1, 0};
		setsockopt(t.sock, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	}
	close(t.sock);
	t.sock = -1;
}

void flow_close(TcpCtx &ctx, uint32_t idx, bool reset_host) {
	Flow *f = ctx.flows.get(idx, FlowType::Tcp);
	if (!f)
		return;
	sock_close(ctx, f->state<TcpFlow>(), reset_host);
	debug("TCP: flow %u closed%s (totals: %lu partial sends, %lu holes, %lu retransmits, "
	      "%lu window updates, %lu dropped)",
	      idx, reset_host ? " (reset)" : "", (unsigned long)ctx.stats.partial_sends,
	      (unsigned long)ctx.stats.holes, (unsigned long)ctx.stats.retransmits,
	      (unsigned long)ctx.stats.wnd_updates, (unsigned long)ctx.stats.dropped);
	ctx.flows.free(idx);
}

// Reset both ways: RST to the guest, SO_LINGER 0 close of the socket.
void flow_rst(TcpCtx &ctx, uint32_t idx) {
	Flow *f = ctx.flows.get(idx, FlowType::Tcp);
	if (!f)
		return;
	TcpFlow &t = f->state<TcpFlow>();
	if (t.state == TcpState::Connecting)
		send_ctrl_raw(ctx, ends_of(*f), tcpflag::rst | tcpflag::ack, 0, t.rcv_nxt, 0,
			      nullptr);
	else
		send_ctrl_raw(ctx, ends_of(*f), tcpflag::rst | tcpflag::ack, t.snd_nxt, t.rcv_nxt,
			      0, nullptr);
	flow_close(ctx, idx, true);
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

// True if both directions are finished: close the flow.
bool maybe_done(TcpCtx &ctx, uint32_t idx, TcpFlow &t) {
	if ((t.flags & tcpf::guest_fin) && (t.flags & tcpf::fin_acked)) {
		flow_close(ctx, idx, false);
		return true;
	}
	return false;
}

// Forward what the socket holds beyond snd_nxt, as the guest's window
// allows; FIN once the socket reached its end. False if the flow is gone.
bool data_from_sock(TcpCtx &ctx, uint32_t idx, Flow &f, const timespec &now) {
	TcpFlow &t = f.state<TcpFlow>();
	if (t.state != TcpState::Established || (t.flags & tcpf::fin_sent) || t.sock < 0)
		return true;
	const Ends e = ends_of(f);
	const size_t hdrs = ETH_LEN + l3_len(e.src) + TCP_HLEN;
	size_t mss = t.guest_mss;
	if (mss > 65535 - (hdrs - ETH_LEN))
		mss = 65535 - (hdrs - ETH_LEN);
	if (mss < 64)
		mss = 64;
	const bool gso = ctx.out.offloads();
	size_t per_frame = gso ? ((65535 - (hdrs - ETH_LEN)) / mss) * mss : mss;
	if (!per_frame)
		per_frame = mss;
	const size_t stride = HDR_ROOM + ((per_frame + 63) & ~size_t(63));
	size_t nslots = BATCH_BYTES / stride;
	if (nslots > MAX_FRAMES)
		nslots = MAX_FRAMES;

	for (;;) {
		uint32_t in_flight = t.snd_nxt - t.snd_una;
		uint32_t wnd = t.guest_wnd;
		if (in_flight >= wnd)
			return true; // window full: the guest's ACK calls us again
		size_t avail = wnd - in_flight;

		size_t niov = 0;
		if (!ctx.peek_off) {
			size_t skip = in_flight;
			if (skip > DISCARD_LEN * DISCARD_IOV)
				return true;
			while (skip) {
				size_t l = skip < DISCARD_LEN ? skip : DISCARD_LEN;
				batch_iov[niov++] = iovec{discard_buf, l};
				skip -= l;
			}
		}
		size_t nfr = 0, want = 0;
		for (; nfr < nslots && want < avail; nfr++) {
			size_t l = avail - want < per_frame ? avail - want : per_frame;
			batch_iov[niov + nfr] = iovec{batch_buf + nfr * stride + HDR_ROOM, l};
			want += l;
		}
		msghdr mh{};
		mh.msg_iov = batch_iov;
		mh.msg_iovlen = niov + nfr;
		ssize_t n;
		do
			n = recvmsg(t.sock, &mh, MSG_PEEK | MSG_DONTWAIT);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return true;
			debug("TCP: flow %u: recv: %s", idx, strerror(errno));
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
			t.flags |= tcpf::host_eof;
			if (in_flight == 0 || ctx.peek_off) {
				send_ctrl_raw(ctx, e, tcpflag::fin | tcpflag::ack, t.snd_nxt, t.rcv_nxt,
					      uint16_t(t.last_wnd >> ((t.flags & tcpf::guest_ws)
									   ? TCP_OUR_WSCALE
									   : 0)),
					      nullptr);
				t.snd_nxt++;
				t.snd_max = t.snd_nxt;
				t.flags |= tcpf::fin_sent;
				if (!t.deadline_ns)
					t.deadline_ns = ts_ns(now) + int64_t(TCP_RTO_MS) * NS_PER_MS;
			}
			set_events(ctx, idx, t, est_events(t));
			return true;
		}

		uint32_t dummy;
		uint16_t wfield = wnd_field(t, t.last_wnd, dummy);
		size_t left = got, i = 0;
		uint32_t seq = t.snd_nxt;
		for (; left; i++) {
			size_t l = left < per_frame ? left : per_frame;
			std::byte *payload = batch_buf + i * stride + HDR_ROOM;
			std::byte *frame = payload - hdrs;
			uint8_t fl = tcpflag::ack | (left == l ? tcpflag::psh : 0);
			write_frame(ctx, e, frame, 0, l, fl, seq, t.rcv_nxt, wfield,
				    gso && l > mss ? mss : 0, batch_frames[i]);
			seq += uint32_t(l);
			left -= l;
		}
		size_t sent = ctx.out.send_frames(std::span<const TapFrame>(batch_frames, i));
		bool backend_full = sent < i;
		if (backend_full) {
			// Refused frames never reached the guest: advance only over
			// the ones sent, and peek the rest again later.
			size_t bytes = std::min(got, sent * per_frame);
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
			t.deadline_ns = ts_ns(now) + int64_t(TCP_RTO_MS) * NS_PER_MS;
		if (got < want || backend_full)
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
			debug_rl("TCP: flow %u: can't discard %u acknowledged bytes: %s", idx, bytes,
				 n < 0 ? strerror(errno) : "EOF");
			return;
		}
		bytes -= uint32_t(n);
	}
}

// A parsed segment from the guest.
struct Seg {
	InAny src, dst;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t wnd;
	TcpOptions opts;
	std::span<const std::byte> payload;
};

// The TCP checksum is verified unless the backend has offloads: then the
// namespace kernel hands over partial checksums which the backend itself
// completed (tap_tun.h), so checking them again would only cost a pass over
// up to 64 KiB per segment. The IPv4 header checksum is always checked.
std::optional<Seg> parse_seg(const TcpCtx &ctx, std::span<std::byte> frame) {
	const bool verify = !ctx.out.offloads();
	auto eth = ConstEthView::parse(frame);
	if (!eth)
		return std::nullopt;
	Seg s{};
	std::span<const std::byte> l4;
	if (eth->ethertype() == ethertype::ipv4 && ctx.c.ip4.enabled) {
		auto ip = ConstIp4View::parse(eth->payload());
		if (!ip || ip->protocol() != ipproto::tcp || ip->is_fragment() || !ip->checksum_ok())
			return std::nullopt;
		s.src = InAny(ip->saddr());
		s.dst = InAny(ip->daddr());
		l4 = ip->payload();
		auto th = ConstTcpView::parse(l4);
		if (!th || (verify && !th->checksum_ok4(ip->saddr(), ip->daddr())))
			return std::nullopt;
	} else if (eth->ethertype() == ethertype::ipv6 && ctx.c.ip6.enabled) {
		auto ip = ConstIp6View::parse(eth->payload());
		if (!ip || ip->proto() != ipproto::tcp || ip->is_fragment())
			return std::nullopt;
		s.src = InAny(ip->saddr());
		s.dst = InAny(ip->daddr());
		if (ip->saddr().is_v4mapped() || ip->daddr().is_v4mapped())
			return std::nullopt;
		l4 = ip->l4();
		auto th = ConstTcpView::parse(l4);
		if (!th || (verify && !th->checksum_ok6(ip->saddr(), ip->daddr())))
			return std::nullopt;
	} else {
		return std::nullopt;
	}
	auto th = *ConstTcpView::parse(l4);
	s.sport = th.sport();
	s.dport = th.dport();
	s.seq = th.seq();
	s.ack = th.ack_seq();
	s.flags = th.flags();
	s.wnd = th.window();
	s.payload = th.payload();
	if (s.flags & tcpflag::syn)
		s.opts = th.parse_options();
	if (!s.sport || !s.dport)
		return std::nullopt;
	return s;
}

// RFC 9293 3.10.7.1: RST for a segment that belongs to no connection.
void rst_unmatched(TcpCtx &ctx, const Seg &s) {
	if (s.flags & tcpflag::rst)
		return;
	Ends e{s.dst, s.src, s.dport, s.sport, 0};
	if (s.flags & tcpflag::ack) {
		send_ctrl_raw(ctx, e, tcpflag::rst, s.ack, 0, 0, nullptr);
	} else {
		uint32_t len = uint32_t(s.payload.size()) + ((s.flags & tcpflag::syn) ? 1 : 0) +
			       ((s.flags & tcpflag::fin) ? 1 : 0);
		send_ctrl_raw(ctx, e, tcpflag::rst | tcpflag::ack, 0, s.seq + len, 0, nullptr);
	}
}

uint32_t new_isn(const TcpCtx &ctx, const FlowSide &g) {
	IsnGenerator gen(ctx.key);
	return gen.isn(g.our_addr, g.peer_addr, g.our_port, g.peer_port);
}

uint32_t new_label(const TcpCtx &ctx, const FlowSide &g) {
	SipHash h(ctx.key);
	h.add(std::span<const std::byte>(reinterpret_cast<const std::byte *>(g.peer_addr.a.b.data()), 16));
	h.add(std::span<const std::byte>(reinterpret_cast<const std::byte *>(g.our_addr.a.b.data()), 16));
	h.add_u16(g.peer_port);
	h.add_u16(g.our_port);
	h.add_u32(0x7c9);
	return uint32_t(h.finish()) & 0xfffff;
}

void sock_setup(TcpCtx &ctx, int s) {
	int one = 1;
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (ctx.peek_off) {
		int zero = 0;
		if (setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero)) < 0) {
			info("TCP: SO_PEEK_OFF not supported (%s): peeking from the start",
			     strerror(errno));
			ctx.peek_off = false;
		}
	}
}

void apply_syn_opts(TcpFlow &t, const Seg &s) {
	t.guest_mss = s.opts.mss && *s.opts.mss >= 64 ? *s.opts.mss : 536;
	if (s.opts.wscale) {
		t.flags |= tcpf::guest_ws;
		t.guest_wscale = *s.opts.wscale > tcpopt::max_wscale ? tcpopt::max_wscale
								  : *s.opts.wscale;
	}
	t.guest_wnd = s.wnd; // never scaled in a SYN
}

// Options of our SYN / SYN-ACK: MSS for the guest's MTU, window scale.
TcpOptions syn_opts(const TcpCtx &ctx, bool v4, bool offer_ws) {
	TcpOptions o;
	o.mss = our_mss(ctx, v4);
	if (offer_ws)
		o.wscale = TCP_OUR_WSCALE;
	return o;
}

// A SYN from the guest for no existing flow: open the host socket.
void conn_from_tap(TcpCtx &ctx, const Seg &s, const timespec &now) {
	if ((s.flags & (tcpflag::ack | tcpflag::rst | tcpflag::fin)) || s.src.is_unspecified() ||
	    s.src.is_loopback() || s.dst.is_unspecified()) {
		rst_unmatched(ctx, s);
		return;
	}
	auto idx = ctx.flows.alloc(FlowType::Tcp, now);
	if (!idx) {
		debug_rl("TCP: flow table full, resetting connection from the guest");
		rst_unmatched(ctx, s);
		return;
	}
	Flow &f = *ctx.flows.get(*idx);
	FlowSide &g = f.guest();
	g.peer_addr = s.src;
	g.peer_port = s.sport;
	g.our_addr = s.dst;
	g.our_port = s.dport;
	TcpFlow &t = f.init_state<TcpFlow>();
	t.sock = -1;
	t.state = TcpState::Connecting;
	t.rcv_nxt = s.seq + 1;
	apply_syn_opts(t, s);
	t.snd_una = t.snd_nxt = new_isn(ctx, g);
	t.flow_label = new_label(ctx, g);
	t.deadline_ns = ts_ns(now) + int64_t(TCP_HANDSHAKE_TIMEOUT_MS) * NS_PER_MS;

	if (!fwd_guest_to_host(ctx.c, ipproto::tcp, g, f.host()) ||
	    f.host().peer_addr.is_v4() != g.our_addr.is_v4()) {
		debug_rl("TCP: connection to %s not forwardable", g.our_addr.text().c_str());
		ctx.flows.free(*idx);
		rst_unmatched(ctx, s);
		return;
	}
	const FlowSide &h = f.host();
	int fd = socket(h.peer_addr.is_v4() ? AF_INET : AF_INET6,
			SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0) {
		warn_rl("TCP: socket: %s", strerror(errno));
		ctx.flows.free(*idx);
		rst_unmatched(ctx, s);
		return;
	}
	t.sock = fd;
	sock_setup(ctx, fd);
	const std::string &ifname = fwd_bind_ifname(ctx.c, h.peer_addr);
	if (!ifname.empty())
		setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(),
			   socklen_t(ifname.size() + 1));
	SockAddr sa;
	if (!h.our_addr.is_unspecified()) {
		socklen_t l = sockaddr_from(sa, h.our_addr, 0, fwd_scope_id(ctx.c, h.our_addr));
		if (bind(fd, &sa.sa, l) < 0)
			debug_rl("TCP: bind to %s: %s", h.our_addr.text().c_str(), strerror(errno));
	}
	// A link-local target (such as our link-local address, the host's
	// own) needs its interface as scope, or connect() fails.
	socklen_t l = sockaddr_from(sa, h.peer_addr, h.peer_port, fwd_scope_id(ctx.c, h.peer_addr));
	int rc = connect(fd, &sa.sa, l);
	if (rc < 0 && errno != EINPROGRESS) {
		debug("TCP: connect to %s:%u: %s", h.peer_addr.text().c_str(), h.peer_port,
		      strerror(errno));
		close(fd);
		ctx.flows.free(*idx);
		rst_unmatched(ctx, s);
		return;
	}
	EpollRef ref{RefKind::TcpSock, fd, *idx};
	t.events = EPOLLOUT;
	if (ctx.loop.add(fd, EPOLLOUT, ref) < 0 || !ctx.flows.hash_insert(*idx, FlowSideIdx::Guest)) {
		ctx.loop.remove(fd);
		close(fd);
		ctx.flows.free(*idx);
		rst_unmatched(ctx, s);
		return;
	}
	ctx.stats.conns_out++;
	debug("TCP: flow %u: %s:%u -> %s:%u (host %s:%u)", *idx, g.peer_addr.text().c_str(),
	      g.peer_port, g.our_addr.text().c_str(), g.our_port, h.peer_addr.text().c_str(),
	      h.peer_port);
}

// Host connect() finished for a Connecting flow.
void connect_done(TcpCtx &ctx, uint32_t idx, Flow &f, const timespec &now) {
	TcpFlow &t = f.state<TcpFlow>();
	int err = 0;
	socklen_t sl = sizeof(err);
	if (getsockopt(t.sock, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
		err = errno;
	if (err) {
		debug("TCP: flow %u: connect: %s", idx, strerror(err));
		flow_rst(ctx, idx);
		return;
	}
	SockAddr sa;
	socklen_t l = sizeof(sa);
	if (getsockname(t.sock, &sa.sa, &l) == 0)
		sockaddr_to(sa, f.host().our_addr, f.host().our_port);
	TcpOptions o = syn_opts(ctx, f.guest().our_addr.is_v4(), t.flags & tcpf::guest_ws);
	uint32_t room = sock_wnd(t.sock);
	t.last_wnd = room > 65535 ? 65535 : room;
	send_ctrl_raw(ctx, ends_of(f), tcpflag::syn | tcpflag::ack, t.snd_nxt, t.rcv_nxt,
		      uint16_t(t.last_wnd), &o);
	t.snd_nxt++;
	t.snd_una = t.snd_max = t.snd_nxt; // the SYN is not data: count from after it
	t.state = TcpState::SynAckSent;
	set_events(ctx, idx, t, 0);
	f.last_active = now;
}

// The handshake with the guest is complete.
void established(TcpCtx &ctx, uint32_t idx, Flow &f, const timespec &now) {
	TcpFlow &t = f.state<TcpFlow>();
	t.state = TcpState::Established;
	t.deadline_ns = 0;
	t.retrans = 0;
	set_events(ctx, idx, t, est_events(t));
	f.last_active = now;
}

// A segment for an existing flow.
void seg_for_flow(TcpCtx &ctx, uint32_t idx, Flow &f, const Seg &s, const timespec &now) {
	TcpFlow &t = f.state<TcpFlow>();

	if (s.flags & tcpflag::rst) {
		bool ok;
		if (t.state == TcpState::SynSent)
			ok = (s.flags & tcpflag::ack) && s.ack == t.snd_nxt;
		else
			ok = seq_le(t.rcv_nxt, s.seq) &&
			     seq_le(s.seq, t.rcv_nxt + (t.last_wnd ? t.last_wnd : 1));
		if (ok) {
			debug("TCP: flow %u: reset by the guest", idx);
			flow_close(ctx, idx, true);
		}
		return;
	}

	switch (t.state) {
	case TcpState::Connecting:
		// Duplicate SYN while we connect: the SYN-ACK comes when we can.
		return;
	case TcpState::SynSent:
		if ((s.flags & (tcpflag::syn | tcpflag::ack)) != (tcpflag::syn | tcpflag::ack) ||
		    s.ack != t.snd_nxt) {
			if (s.flags & tcpflag::ack)
				send_ctrl_raw(ctx, ends_of(f), tcpflag::rst, s.ack, 0, 0, nullptr);
			return;
		}
		t.rcv_nxt = s.seq + 1;
		apply_syn_opts(t, s);
		t.snd_una = t.snd_nxt;
		established(ctx, idx, f, now);
		send_ack(ctx, idx, f);
		data_from_sock(ctx, idx, f, now);
		return;
	case TcpState::SynAckSent:
		if (s.flags & tcpflag::syn) {
			// The guest did not get our SYN-ACK: send it again.
			if (s.seq + 1 == t.rcv_nxt) {
				TcpOptions o = syn_opts(ctx, f.guest().our_addr.is_v4(),
							t.flags & tcpf::guest_ws);
				send_ctrl_raw(ctx, ends_of(f), tcpflag::syn | tcpflag::ack,
					      t.snd_nxt - 1, t.rcv_nxt, uint16_t(t.last_wnd), &o);
			}
			return;
		}
		if (!(s.flags & tcpflag::ack) || s.ack != t.snd_nxt) {
			if (s.flags & tcpflag::ack)
				send_ctrl_raw(ctx, ends_of(f), tcpflag::rst, s.ack, 0, 0, nullptr);
			return;
		}
		established(ctx, idx, f, now);
		break;
	case TcpState::Established:
		if (s.flags & tcpflag::syn) {
			// RFC 5961 4.2: challenge ACK, nothing else.
			send_ack(ctx, idx, f);
			return;
		}
		break;
	}
	if (!(s.flags & tcpflag::ack))
		return;

	// Acknowledgement of what we sent. One for data sent before a rewind
	// (beyond snd_nxt, not beyond snd_max) skips what it covers.
	if (seq_gt(s.ack, t.snd_nxt) && seq_le(s.ack, t.snd_max)) {
		if ((t.flags & tcpf::host_eof) && s.ack == t.snd_max)
			t.flags |= tcpf::fin_sent; // the FIN, too
		t.snd_nxt = s.ack;
	}
	uint32_t data_end = t.snd_nxt - ((t.flags & tcpf::fin_sent) ? 1 : 0);
	if (seq_gt(s.ack, t.snd_una) && seq_le(s.ack, t.snd_nxt)) {
		uint32_t upto = seq_lt(s.ack, data_end) ? s.ack : data_end;
		if (seq_gt(upto, t.snd_una))
			discard_acked(idx, t, upto - t.snd_una);
		t.snd_una = upto;
		if ((t.flags & tcpf::fin_sent) && s.ack == t.snd_nxt) {
			t.flags |= tcpf::fin_acked;
			t.snd_una = t.snd_nxt;
		}
		t.dup_acks = 0;
		t.retrans = 0;
		t.deadline_ns = t.snd_una == t.snd_nxt
					? 0
					: ts_ns(now) + int64_t(TCP_RTO_MS) * NS_PER_MS;
	} else if (s.ack == t.snd_una && s.payload.empty() && !(s.flags & tcpflag::fin) &&
		   s.wnd == t.last_ack_wnd && t.snd_nxt != t.snd_una) {
		if (++t.dup_acks == 3) {
			debug("TCP: flow %u: fast retransmit from %u", idx, t.snd_una);
			rewind(ctx, t);
		}
	}
	t.last_ack_wnd = s.wnd;
	uint32_t w = uint32_t(s.wnd) << ((t.flags & tcpf::guest_ws) ? t.guest_wscale : 0);
	t.guest_wnd = w > MAX_GUEST_WND ? MAX_GUEST_WND : w;
	f.last_active = now;

	// Data (and FIN) from the guest.
	bool need_ack = false;
	size_t plen = s.payload.size();
	bool in_order = true, hole = false;
	if (plen) {
		need_ack = true;
		uint32_t end = s.seq + uint32_t(plen);
		if (seq_gt(s.seq, t.rcv_nxt)) {
			ctx.stats.holes++;
			in_order = false; // a hole: duplicate ACK
			hole = true;
		} else if (seq_gt(end, t.rcv_nxt) && !(t.flags & tcpf::guest_fin)) {
			size_t off = t.rcv_nxt - s.seq;
			size_t len = plen - off;
			ssize_t n;
			do
				n = send(t.sock, s.payload.data() + off, len,
					 MSG_NOSIGNAL | MSG_DONTWAIT);
			while (n < 0 && errno == EINTR);
			if (n < 0) {
				if (errno != EAGAIN && errno != EWOULDBLOCK) {
					debug("TCP: flow %u: send: %s", idx, strerror(errno));
					flow_rst(ctx, idx);
					return;
				}
				n = 0;
			}
			t.rcv_nxt += uint32_t(n);
			if (size_t(n) < len) {
				ctx.stats.partial_sends++;
				in_order = false;
				t.flags |= tcpf::want_out | tcpf::data_dropped;
				set_events(ctx, idx, t, est_events(t));
			}
		}
	}
	if ((s.flags & tcpflag::fin) && in_order && !(t.flags & tcpf::guest_fin) &&
	    s.seq + uint32_t(plen) == t.rcv_nxt) {
		t.rcv_nxt++;
		t.flags |= tcpf::guest_fin;
		t.flags &= uint8_t(~(tcpf::want_out | tcpf::data_dropped));
		shutdown(t.sock, SHUT_WR);
		set_events(ctx, idx, t, est_events(t));
		need_ack = true;
	} else if (((s.flags & tcpflag::fin) && (t.flags & tcpf::guest_fin)) ||
		   (!plen && seq_lt(s.seq, t.rcv_nxt))) {
		need_ack = true; // a retransmitted FIN, or a keepalive probe
	}
	if (need_ack) {
		// In-order data: one ACK at the end of the batch will do.
		bool plain = in_order && !hole && !(s.flags & tcpflag::fin) && plen;
		if (!plain) {
			send_ack(ctx, idx, f, true, hole);
		} else if (!(t.flags & tcpf::ack_pending)) {
			if (ctx.ack_pending.size() < ctx.ack_pending.capacity()) {
				t.flags |= tcpf::ack_pending;
				ctx.ack_pending.push_back(idx);
			} else {
				send_ack(ctx, idx, f);
			}
		}
	}

	if (maybe_done(ctx, idx, t))
		return;
	data_from_sock(ctx, idx, f, now);
	if (Flow *g = ctx.flows.get(idx, FlowType::Tcp))
		maybe_done(ctx, idx, g->state<TcpFlow>());
}

// An accepted connection on a listener: new flow, SYN to the guest.
void conn_from_sock(TcpCtx &ctx, const TcpListener &l, int fd, const timespec &now) {
	Fd sock(fd);
	SockAddr peer, local;
	socklen_t pl = sizeof(peer), ll = sizeof(local);
	if (getpeername(fd, &peer.sa, &pl) < 0 || getsockname(fd, &local.sa, &ll) < 0)
		return;
	FlowSide h;
	sockaddr_to(peer, h.peer_addr, h.peer_port);
	sockaddr_to(local, h.our_addr, h.our_port);
	const bool v4 = h.peer_addr.is_v4();
	// pasta: from the host's loopback, no frames (splice.cpp), unless
	// --no-splice; in the namespace, to its address or its loopback.
	if (ctx.splice &&
	    fwd_splice_from_host(ctx.c, h.peer_addr, bool(ctx.c.tcp_in.rules[l.rule].to_addr))) {
		InAny seen = v4 ? InAny(ctx.tap.addr4_seen) : InAny(ctx.tap.addr6_seen);
		tcp_splice_from_host(*ctx.splice, sock.release(),
				     fwd_splice_ns_target(ctx.c, !v4, seen), l.target, now);
		return;
	}
	if (v4 ? !ctx.c.ip4.enabled : !ctx.c.ip6.enabled)
		return;

	FlowSide g;
	g.our_addr = fwd_nat_to_tap(ctx.c, ipproto::tcp, h.peer_addr, h.peer_port);
	g.our_port = h.peer_port;
	const PortRule &rule = ctx.c.tcp_in.rules[l.rule];
	if (rule.to_addr && rule.to_addr->is_v4() == v4) {
		g.peer_addr = *rule.to_addr;
	} else if (v4) {
		g.peer_addr = ctx.tap.addr4_seen.is_unspecified() ? ctx.c.ip4.addr
								   : ctx.tap.addr4_seen;
	} else {
		g.peer_addr = ctx.tap.addr6_seen.is_unspecified() ? ctx.c.ip6.addr
								   : ctx.tap.addr6_seen;
	}
	g.peer_port = l.target;
	if (g.our_addr.is_unspecified() || g.peer_addr.is_unspecified()) {
		debug_rl("TCP: can't present connection from %s to the guest",
			 h.peer_addr.text().c_str());
		return;
	}
	auto idx = ctx.flows.alloc(FlowType::Tcp, now);
	if (!idx) {
		debug_rl("TCP: flow table full, refusing inbound connection");
		linger lg{1, 0};
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		return;
	}
	Flow &f = *ctx.flows.get(*idx);
	f.guest() = g;
	f.host() = h;
	TcpFlow &t = f.init_state<TcpFlow>();
	t.sock = fd;
	t.state = TcpState::SynSent;
	t.snd_una = t.snd_nxt = new_isn(ctx, g);
	t.flow_label = new_label(ctx, g);
	t.deadline_ns = ts_ns(now) + int64_t(TCP_HANDSHAKE_TIMEOUT_MS) * NS_PER_MS;
	sock_setup(ctx, fd);
	EpollRef ref{RefKind::TcpSock, fd, *idx};
	t.events = 0;
	if (ctx.loop.add(fd, 0, ref) < 0 || !ctx.flows.hash_insert(*idx, FlowSideIdx::Guest)) {
		ctx.loop.remove(fd);
		ctx.flows.free(*idx);
		return;
	}
	sock.release();
	TcpOptions o = syn_opts(ctx, v4, true);
	uint32_t room = sock_wnd(fd);
	t.last_wnd = room > 65535 ? 65535 : room;
	send_ctrl_raw(ctx, ends_of(f), tcpflag::syn, t.snd_nxt, 0, uint16_t(t.last_wnd), &o);
	t.snd_nxt++;
	t.snd_max = t.snd_nxt;
	ctx.stats.conns_in++;
	debug("TCP: flow %u: inbound %s:%u -> guest %s:%u", *idx, h.peer_addr.text().c_str(),
	      h.peer_port, g.peer_addr.text().c_str(), g.peer_port);
}

void sock_trampoline(void *c, EpollRef ref, uint32_t ev, const timespec &now) {
	tcp_sock_handler(*static_cast<TcpCtx *>(c), ref, ev, now);
}
void listen_trampoline(void *c, EpollRef ref, uint32_t ev, const timespec &now) {
	tcp_listen_handler(*static_cast<TcpCtx *>(c), ref, ev, now);
}
void timer_trampoline(void *c, const timespec &now) { tcp_timer(*static_cast<TcpCtx *>(c), now); }
void flush_trampoline(void *c) { tcp_flush_acks(*static_cast<TcpCtx *>(c)); }

// Open one listener; -errno on failure.
int listen_one(TcpCtx &ctx, const PortRule &r, uint32_t rule, uint16_t port, bool v6) {
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			IPPROTO_TCP);
	if (fd < 0)
		return -errno;
	Fd s(fd);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (v6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (!r.bind_if.empty() &&
	    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, r.bind_if.c_str(),
		       socklen_t(r.bind_if.size() + 1)) < 0)
		return -errno;
	if (int rc = listen_freebind(ctx.c, fd, v6); rc < 0)
		return rc;
	SockAddr sa;
	InAny any = v6 ? InAny(Ipv6Addr::any()) : InAny(Ipv4Addr::any());
	socklen_t l = sockaddr_from(sa, r.bind_addr ? *r.bind_addr : any, port);
	if (bind(fd, &sa.sa, l) < 0 || listen(fd, SOMAXCONN) < 0)
		return -errno;
	TcpListener li;
	li.fd = fd;
	li.port = port;
	li.target = uint16_t(r.to_first + (port - r.first));
	li.rule = rule;
	li.v6 = v6;
	if (int rc = ctx.listeners.add_polled(ctx.loop, {RefKind::TcpListen, fd, 0}, li); rc < 0)
		return rc;
	s.release();
	return 0;
}

// Close the listener in slot i and free the slot.
void listen_close(TcpCtx &ctx, uint32_t i) { ctx.listeners.close_polled(ctx.loop, i); }

constexpr ListenNames NAMES{"TCP", "listener", "listen on", false};

} // namespace

int tcp_init(TcpCtx &ctx) {
	auto key = SipKey::random();
	if (!key)
		return -EIO;
	ctx.key = *key;
	// One socket per connection: use all the descriptors we may have.
	rlimit rl{};
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (ctx.out.runs_flush_hook()) {
		ctx.ack_pending.clear();
		ctx.ack_pending.reserve(4096);
		ctx.out.set_flush_hook(flush_trampoline, &ctx);
	}
	ctx.loop.set_handler(RefKind::TcpSock, sock_trampoline, &ctx);
	ctx.loop.set_handler(RefKind::TcpListen, listen_trampoline, &ctx);
	if (ctx.loop.timers().add("tcp", TCP_TIMER_INTERVAL_MS, timer_trampoline, &ctx) < 0)
		return -ENOSPC;
	// Keep half of the descriptors for connections.
	return listen_open_rules(ctx, ctx.c.tcp_in, NAMES, listen_budget(2), listen_one);
}

int tcp_listen_sync(TcpCtx &ctx, const PortBitmap &want) {
	if (ctx.c.no_tcp)
		return 0;
	return listen_sync(ctx, ctx.c.tcp_in, want, NAMES, listen_one, listen_close);
}

void tcp_flush_acks(TcpCtx &ctx) {
	for (uint32_t idx : ctx.ack_pending) {
		Flow *f = ctx.flows.get(idx, FlowType::Tcp);
		if (!f || !(f->state<TcpFlow>().flags & tcpf::ack_pending))
			continue;
		f->state<TcpFlow>().flags &= uint8_t(~tcpf::ack_pending);
		send_ack(ctx, idx, *f);
	}
	ctx.ack_pending.clear();
}

void tcp_fini(TcpCtx &ctx) {
	if (ctx.out.runs_flush_hook())
		ctx.out.set_flush_hook(nullptr, nullptr);
	ctx.flows.for_each([&](uint32_t i, Flow &f) {
		if (f.type == FlowType::Tcp)
			flow_close(ctx, i, false);
	});
	ctx.listeners.close_all(ctx.loop);
}

void tcp_drop_guest_flows(TcpCtx &ctx) {
	ctx.ack_pending.clear();
	unsigned n = 0;
	ctx.flows.for_each([&](uint32_t i, Flow &f) {
		if (f.type == FlowType::Tcp) {
			flow_close(ctx, i, true);
			n++;
		}
	});
	if (n)
		debug("TCP: guest gone, %u connections reset", n);
}

bool tcp_tap_input(TcpCtx &ctx, std::span<std::byte> frame, const timespec &now) {
	if (ctx.c.no_tcp)
		return false;
	auto s = parse_seg(ctx, frame);
	if (!s) {
		ctx.stats.dropped++;
		trace_rl("TCP: dropping malformed frame from the guest");
		return false;
	}
	FlowSide key;
	key.peer_addr = s->src;
	key.peer_port = s->sport;
	key.our_addr = s->dst;
	key.our_port = s->dport;
	auto idx = ctx.flows.lookup(FlowType::Tcp, FlowSideIdx::Guest, key);
	if (!idx) {
		if ((s->flags & (tcpflag::syn | tcpflag::ack | tcpflag::rst)) == tcpflag::syn) {
			conn_from_tap(ctx, *s, now);
		} else {
			ctx.stats.dropped++;
			rst_unmatched(ctx, *s);
		}
		return true;
	}
	seg_for_flow(ctx, *idx, *ctx.flows.get(*idx), *s, now);
	return true;
}

void tcp_sock_handler(TcpCtx &ctx, EpollRef ref, uint32_t events, const timespec &now) {
	Flow *f = ctx.flows.get(ref.index, FlowType::Tcp);
	if (!f || f->state<TcpFlow>().sock != ref.fd) {
		debug_rl("TCP: event for stale socket %d (flow %u)", ref.fd, ref.index);
		return;
	}
	TcpFlow &t = f->state<TcpFlow>();
	switch (t.state) {
	case TcpState::Connecting:
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			connect_done(ctx, ref.index, *f, now);
		return;
	case TcpState::SynAckSent:
	case TcpState::SynSent:
		if (events & EPOLLERR) {
			flow_rst(ctx, ref.index);
		}
		return;
	case TcpState::Established:
		break;
	}
	if (events & EPOLLERR) {
		int err = 0;
		socklen_t sl = sizeof(err);
		getsockopt(t.sock, SOL_SOCKET, SO_ERROR, &err, &sl);
		debug("TCP: flow %u: socket error: %s", ref.index, strerror(err));
		flow_rst(ctx, ref.index);
		return;
	}
	if ((events & EPOLLOUT) && (t.flags & tcpf::want_out)) {
		bool dropped = t.flags & tcpf::data_dropped;
		t.flags &= uint8_t(~(tcpf::want_out | tcpf::data_dropped));
		set_events(ctx, ref.index, t, est_events(t));
		send_ack(ctx, ref.index, *f, false);
		ctx.stats.wnd_updates++;
		if (dropped) {
			// The guest sees a window update, then three duplicates:
			// it retransmits what the socket refused, now.
			for (int i = 0; i < 3; i++)
				send_ctrl_raw(ctx, ends_of(*f), tcpflag::ack, t.snd_nxt, t.rcv_nxt,
					      uint16_t(t.last_wnd >>
						       ((t.flags & tcpf::guest_ws) ? TCP_OUR_WSCALE : 0)),
					      nullptr);
		}
	}
	if ((events & EPOLLHUP) && (t.flags & tcpf::host_eof) && (t.flags & tcpf::guest_fin)) {
		// Both directions are shut down: nothing more to hear from the
		// socket, and EPOLLHUP can't be masked.
		ctx.loop.remove(t.sock);
		t.events = EV_REMOVED;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) {
		if (!data_from_sock(ctx, ref.index, *f, now))
			return;
		if (Flow *g = ctx.flows.get(ref.index, FlowType::Tcp))
			maybe_done(ctx, ref.index, g->state<TcpFlow>());
	}
}

void tcp_listen_handler(TcpCtx &ctx, EpollRef ref, uint32_t, const timespec &now) {
	if (ref.index >= ctx.listeners.size() || ctx.listeners[ref.index].fd != ref.fd)
		return;
	for (int i = 0; i < 64; i++) {
		int fd = accept4(ref.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				warn_rl("TCP: accept: %s", strerror(errno));
			return;
		}
		conn_from_sock(ctx, ctx.listeners[ref.index], fd, now);
	}
}

void tcp_timer(TcpCtx &ctx, const timespec &now) {
	const int64_t n = ts_ns(now);
	ctx.flows.for_each([&](uint32_t i, Flow &f) {
		if (f.type != FlowType::Tcp)
			return;
		TcpFlow &t = f.state<TcpFlow>();
		int64_t idle = timespec_diff_ns(now, f.last_active);
		if (t.state != TcpState::Established) {
			if (t.deadline_ns && n >= t.deadline_ns) {
				debug("TCP: flow %u: handshake timeout", i);
				flow_rst(ctx, i);
			}
			return;
		}
		if ((t.flags & (tcpf::guest_fin | tcpf::fin_sent)) &&
		    idle >= int64_t(TCP_FIN_TIMEOUT_MS) * NS_PER_MS) {
			debug("TCP: flow %u: half-closed, idle: closing", i);
			flow_rst(ctx, i);
			return;
		}
		if (idle >= int64_t(TCP_IDLE_TIMEOUT_MS) * NS_PER_MS) {
			debug("TCP: flow %u: idle: closing", i);
			flow_rst(ctx, i);
			return;
		}
		if (t.deadline_ns && n >= t.deadline_ns) {
			if (t.snd_una == t.snd_nxt) {
				t.deadline_ns = 0;
				return;
			}
			if (++t.retrans > TCP_MAX_RETRANS) {
				debug("TCP: flow %u: no ACK from the guest, resetting", i);
				flow_rst(ctx, i);
				return;
			}
			debug("TCP: flow %u: retransmission timeout (%u)", i, t.retrans);
			rewind(ctx, t);
			t.deadline_ns = n + (int64_t(TCP_RTO_MS) << (t.retrans < 6 ? t.retrans : 6)) *
						    NS_PER_MS;
			data_from_sock(ctx, i, f, now);
		}
	});
}

} // namespace passt
