// TCP connection state for migration: dump, record, restore.
//
// Theory of operation. The kernel's TCP repair mode (setsockopt
// TCP_REPAIR, which needs CAP_NET_ADMIN and is set through passt-repair,
// see repair.cpp) freezes a socket as far as the peer can tell: nothing
// is transmitted, close() discards the socket without a FIN or an RST,
// and the state that is normally private becomes readable and writable:
//
// - sequence numbers: TCP_REPAIR_QUEUE selects the send or the receive
//   queue, TCP_QUEUE_SEQ then reads or sets the sequence number at its
//   end (write_seq, rcv_nxt). The record stores the numbers of the first
//   queued byte instead (end minus queue length, from SIOCOUTQ and
//   SIOCINQ), which are what a new socket must start from before its
//   queues are written back;
// - the queues themselves: recv(MSG_PEEK) returns the selected queue's
//   content without consuming it. The send queue holds data sent but not
//   acknowledged, then data never sent (its length: SIOCOUTQNSD);
// - TCP_REPAIR_WINDOW: the send and receive window edges (snd_wl1,
//   snd_wnd, max_window, rcv_wnd, rcv_wup);
// - the options negotiated on the SYN: MSS (TCP_MAXSEG reads the peer's
//   clamp in repair mode), window scaling, SACK, timestamps (from
//   TCP_INFO), written back with TCP_REPAIR_OPTIONS; TCP_TIMESTAMP reads
//   and sets the timestamp clock, so the peer's PAWS check keeps passing.
//
// Dumping reads the end sequence numbers before and after copying the
// queues and gives up (-EAGAIN) if they moved: repair mode stops output,
// not input. A socket in repair mode goes on taking, and acknowledging,
// what its peer sends, which a dump taken earlier would not carry: data
// lost, with the peer told it arrived. So the socket is quiesced first
// (tcp_state_quiesce): its receive window closed at rcv_nxt
// (TCP_REPAIR_WINDOW) and its receive buffer shrunk to the minimum. What
// the kernel then tells the peer, measured on loopback:
// - a window probe (sent when repair mode goes off) carries the closed
//   window, but the peer ignores it: it is sent below snd_una and acks
//   nothing new, and a peer only takes a window from a segment that does,
//   or from a later sequence number, or a zero window at the same one;
// - with anything in the receive queue, the next segment the peer sends
//   is dropped and answered with a zero window, which the peer takes;
//   with an empty queue, the kernel takes one segment whatever its size
//   (the buffer is never too small for the first), and then answers with
//   a zero window.
// So a peer learns of the closed window only from the next data it sends.
// tcp_state_peer_closed() tells the caller when that has happened (an
// ACK other than the probe went out, offering no window); a peer that has
// been quiet since may still send up to the window it saw last, at any
// time. The caller also waits for data in flight (about an RTT, tcpi_rtt)
// until rcv_nxt stands still, and for the peer's acknowledgement of what
// was sent before (tcp_state_in_flight(): a late ACK finding no socket
// after the source closed it would be answered with a reset). A thawed
// socket (tcp_state_unquiesce) may wait for the peer's next zero-window
// probe before data flows again: its window reopens without an update.
//
// Then the socket is sealed (tcp_state_seal): an MD5 signature key for the
// peer's address (RFC 2385, TCP_MD5SIG). The kernel drops every segment
// without a signature from that peer, before any TCP processing: nothing
// is taken, acknowledged or answered, and the peer retransmits later, to
// wherever the connection lives by then. The dump follows. The record
// carries the buffer size from before, and the target's socket opens its
// window again as its application (the daemon) reads. Should the dump not
// be used (the migration failed), tcp_state_unquiesce() removes the key
// and gives the buffer back.
//
// Restoring: a new socket, repair mode on, bound to the same local address
// (in repair mode the kernel lets it share the port with a listener or a
// socket not closed yet), TCP_QUEUE_SEQ for both queues, then connect(), which in repair mode
// sends no SYN and goes straight to ESTABLISHED; then the options, the
// receive queue (written in repair mode with the receive queue selected,
// it lands there as if received), the sent part of the send queue
// (written in repair mode, it counts as in flight and is retransmitted
// as needed), and the window. Out of repair mode (TCP_REPAIR_OFF also
// sends a window probe so the peer answers with its current window), the
// never-sent tail is queued as ordinary data.
//
// Limits: established sockets only; each queue at most TCP_STATE_QUEUE_MAX
// bytes in a record, and on restore no more than the socket buffers the
// daemon may set (SO_SNDBUF, SO_RCVBUF up to net.core.wmem_max/rmem_max)
// can hold: a queue that does not fit fails the restore with -EAGAIN or
// -ENOMEM rather than losing data. See doc/migration.md for the record.
//
// #syscalls:vu getsockopt setsockopt getsockname getpeername ioctl recvfrom
// #syscalls:vu socket bind connect sendto close
#include "passt/migrate/tcp_state.h"

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "passt/net/byteorder.h"

#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "passt/net/sockaddr.h"

namespace passt {

// ---- Record -----------------------------------------------------------------

const char *tcp_state_err_str(TcpStateErr e) {
	switch (e) {
	case TcpStateErr::Ok: return "ok";
	case TcpStateErr::Truncated: return "truncated record";
	case TcpStateErr::BadMagic: return "not a TCP state record";
	case TcpStateErr::BadVersion: return "unknown record version";
	case TcpStateErr::BadLength: return "inconsistent or oversized lengths";
	case TcpStateErr::BadField: return "field out of range";
	}
	return "?";
}

namespace {

constexpr uint8_t MAGIC[4] = {'P', 'T', 'C', 'P'};

// Flags byte of the record.
constexpr uint8_t F_V6 = 1, F_WSCALE = 2, F_SACK = 4, F_TS = 8;
constexpr uint8_t F_KNOWN = F_V6 | F_WSCALE | F_SACK | F_TS;
constexpr uint8_t MAX_WSCALE = 14; // RFC 7323

void put16(std::byte *p, uint16_t v) { store_le16(p, v); }
void put32(std::byte *p, uint32_t v) { store_le32(p, v); }
uint16_t get16(const std::byte *p) { return load_le16(p); }
uint32_t get32(const std::byte *p) { return load_le32(p); }

} // namespace

size_t tcp_state_encoded_len(const TcpSockState &st) {
	return TCP_STATE_FIXED_LEN + st.sendq.size() + st.recvq.size();
}

size_t tcp_state_encode(const TcpSockState &st, std::span<std::byte> out) {
	if (st.sendq.size() > TCP_STATE_QUEUE_MAX || st.recvq.size() > TCP_STATE_QUEUE_MAX ||
	    st.notsent > st.sendq.size())
		return 0;
	size_t len = tcp_state_encoded_len(st);
	if (out.size() < len)
		return 0;
	std::byte *p = out.data();
	memset(p, 0, TCP_STATE_FIXED_LEN);
	memcpy(p, MAGIC, 4);
	put16(p + 4, TCP_STATE_VERSION);
	put16(p + 6, uint16_t(TCP_STATE_FIXED_LEN));
	put32(p + 8, uint32_t(len));
	p[12] = std::byte((st.v6 ? F_V6 : 0) | (st.wscale_ok ? F_WSCALE : 0) |
			  (st.sack_ok ? F_SACK : 0) | (st.ts_ok ? F_TS : 0));
	p[13] = std::byte(st.snd_wscale);
	p[14] = std::byte(st.rcv_wscale);
	// p[15]: reserved, zero
	memcpy(p + 16, st.local_addr.a.b.data(), 16);
	memcpy(p + 32, st.remote_addr.a.b.data(), 16);
	put16(p + 48, st.local_port);
	put16(p + 50, st.remote_port);
	const uint32_t fields[] = {st.scope_id,
				   st.snd_seq,
				   st.rcv_seq,
				   st.mss,
				   st.timestamp,
				   st.snd_wl1,
				   st.snd_wnd,
				   st.max_window,
				   st.rcv_wnd,
				   st.rcv_wup,
				   st.sndbuf,
				   st.rcvbuf,
				   uint32_t(st.sendq.size()),
				   st.notsent,
				   uint32_t(st.recvq.size())};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		put32(p + 52 + 4 * i, fields[i]);
	if (!st.sendq.empty())
		memcpy(p + TCP_STATE_FIXED_LEN, st.sendq.data(), st.sendq.size());
	if (!st.recvq.empty())
		memcpy(p + TCP_STATE_FIXED_LEN + st.sendq.size(), st.recvq.data(), st.recvq.size());
	return len;
}

TcpStateErr tcp_state_decode(std::span<const std::byte> in, TcpSockState &st, size_t *used) {
	if (in.size() < 12)
		return TcpStateErr::Truncated;
	const std::byte *p = in.data();
	if (memcmp(p, MAGIC, 4) != 0)
		return TcpStateErr::BadMagic;
	if (get16(p + 4) != TCP_STATE_VERSION)
		return TcpStateErr::BadVersion;
	size_t fixed = get16(p + 6);
	size_t total = get32(p + 8);
	// A later revision of version 1 may append fixed fields: skip them.
	if (fixed < TCP_STATE_FIXED_LEN || total < fixed)
		return TcpStateErr::BadLength;
	if (in.size() < fixed || in.size() < total)
		return TcpStateErr::Truncated;

	uint8_t flags = uint8_t(p[12]);
	uint32_t f[15];
	for (size_t i = 0; i < 15; i++)
		f[i] = get32(p + 52 + 4 * i);
	uint32_t sendq_len = f[12], notsent = f[13], recvq_len = f[14];
	if (sendq_len > TCP_STATE_QUEUE_MAX || recvq_len > TCP_STATE_QUEUE_MAX ||
	    uint64_t(fixed) + sendq_len + recvq_len != total)
		return TcpStateErr::BadLength;

	TcpSockState s;
	memcpy(s.local_addr.a.b.data(), p + 16, 16);
	memcpy(s.remote_addr.a.b.data(), p + 32, 16);
	s.v6 = flags & F_V6;
	s.wscale_ok = flags & F_WSCALE;
	s.sack_ok = flags & F_SACK;
	s.ts_ok = flags & F_TS;
	s.snd_wscale = uint8_t(p[13]);
	s.rcv_wscale = uint8_t(p[14]);
	if ((flags & ~F_KNOWN) || s.snd_wscale > MAX_WSCALE || s.rcv_wscale > MAX_WSCALE ||
	    notsent > sendq_len || uint8_t(p[15]))
		return TcpStateErr::BadField;
	// An IPv4 socket has IPv4 addresses (carried v4-mapped).
	if (!s.v6 && (!s.local_addr.is_v4() || !s.remote_addr.is_v4()))
		return TcpStateErr::BadField;
	s.local_port = get16(p + 48);
	s.remote_port = get16(p + 50);
	if (!s.remote_port)
		return TcpStateErr::BadField;
	s.scope_id = f[0];
	s.snd_seq = f[1];
	s.rcv_seq = f[2];
	s.mss = f[3];
	s.timestamp = f[4];
	s.snd_wl1 = f[5];
	s.snd_wnd = f[6];
	s.max_window = f[7];
	s.rcv_wnd = f[8];
	s.rcv_wup = f[9];
	s.sndbuf = f[10];
	s.rcvbuf = f[11];
	s.sendq = in.subspan(fixed, sendq_len);
	s.notsent = notsent;
	s.recvq = in.subspan(fixed + sendq_len, recvq_len);
	st = s;
	if (used)
		*used = total;
	return TcpStateErr::Ok;
}

// ---- Sockets ------------------------------------------------------------------

namespace {

int set_int(int fd, int level, int opt, int v) {
	return setsockopt(fd, level, opt, &v, sizeof(v)) < 0 ? -errno : 0;
}

// A TCP option's struct (TCP_INFO, TCP_REPAIR_WINDOW); len, if given: how
// many bytes of it the kernel filled.
template <typename T> int get_tcp(int fd, int opt, T &v, socklen_t *len = nullptr) {
	socklen_t sl = sizeof(v);
	if (getsockopt(fd, IPPROTO_TCP, opt, &v, &sl) < 0)
		return -errno;
	if (len)
		*len = sl;
	return 0;
}

int get_u32(int fd, int level, int opt, uint32_t &out) {
	int v = 0;
	socklen_t sl = sizeof(v);
	if (getsockopt(fd, level, opt, &v, &sl) < 0)
		return -errno;
	out = uint32_t(v);
	return 0;
}

// The socket address of addr:port for a socket of st's family (an IPv6
// socket reaches IPv4 peers through v4-mapped addresses).
socklen_t make_sa(SockAddr &sa, const TcpSockState &st, const InAny &addr, uint16_t port) {
	if (!st.v6)
		return sockaddr_from(sa, addr, port);
	sa = {};
	sa.sin6.sin6_family = AF_INET6;
	sa.sin6.sin6_port = htons(port);
	memcpy(&sa.sin6.sin6_addr, addr.a.b.data(), 16);
	sa.sin6.sin6_scope_id = st.scope_id;
	return sizeof(sa.sin6);
}

// TCP_INFO as the kernel has it past what libc declares (Linux 4.2 on),
// up to the number of segments sent.
struct TcpInfoSegs {
	tcp_info base;
	uint64_t pacing_rate, max_pacing_rate, bytes_acked, bytes_received;
	uint32_t segs_out;
};
static_assert(offsetof(TcpInfoSegs, segs_out) == 136, "tcpi_segs_out as in linux/tcp.h");

int select_queue(int fd, int q) { return set_int(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, q); }

// End sequence number of queue q (write_seq, rcv_nxt).
int queue_end(int fd, int q, uint32_t &seq) {
	int rc = select_queue(fd, q);
	return rc < 0 ? rc : get_u32(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, seq);
}

int ioctl_len(int fd, unsigned long req, uint32_t &out) {
	int v = 0;
	if (ioctl(fd, req, &v) < 0)
		return -errno;
	if (v < 0)
		return -EIO;
	out = uint32_t(v);
	return 0;
}

// Copies len bytes of queue q into buf by MSG_PEEK.
int peek_queue(int fd, int q, std::byte *buf, size_t len) {
	int rc = select_queue(fd, q);
	if (rc < 0 || !len)
		return rc;
	ssize_t n;
	do
		n = recv(fd, buf, len, MSG_PEEK | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return size_t(n) == len ? 0 : -EAGAIN;
}

// Writes all of data into fd (the selected queue in repair mode, or the
// send queue as usual); a short write is -EAGAIN.
int write_all(int fd, std::span<const std::byte> data) {
	while (!data.empty()) {
		ssize_t n = send(fd, data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EAGAIN;
		data = data.subspan(size_t(n));
	}
	return 0;
}

int dump_queues(int fd, TcpSockState &st, std::span<std::byte> sendbuf,
		std::span<std::byte> recvbuf) {
	uint32_t wseq = 0, rnxt = 0, outq = 0, notsent = 0, inq = 0;
	// A peek offset (SO_PEEK_OFF: the daemon peeks what it sent the
	// guest) would skip the start of the receive queue: peek from the
	// start, every time.
	int rc = set_int(fd, SOL_SOCKET, SO_PEEK_OFF, -1);
	if (rc < 0 && rc != -EINVAL && rc != -EOPNOTSUPP)
		return rc;
	if ((rc = queue_end(fd, TCP_SEND_QUEUE, wseq)) < 0 ||
	    (rc = queue_end(fd, TCP_RECV_QUEUE, rnxt)) < 0 ||
	    (rc = ioctl_len(fd, SIOCOUTQ, outq)) < 0 ||
	    (rc = ioctl_len(fd, SIOCOUTQNSD, notsent)) < 0 ||
	    (rc = ioctl_len(fd, SIOCINQ, inq)) < 0)
		return rc;
	if (notsent > outq)
		return -EAGAIN;
	if (outq > TCP_STATE_QUEUE_MAX || inq > TCP_STATE_QUEUE_MAX || outq > sendbuf.size() ||
	    inq > recvbuf.size())
		return -E2BIG;
	if ((rc = peek_queue(fd, TCP_SEND_QUEUE, sendbuf.data(), outq)) < 0 ||
	    (rc = peek_queue(fd, TCP_RECV_QUEUE, recvbuf.data(), inq)) < 0)
		return rc;
	uint32_t wseq2 = 0, rnxt2 = 0, inq2 = 0;
	if ((rc = queue_end(fd, TCP_SEND_QUEUE, wseq2)) < 0 ||
	    (rc = queue_end(fd, TCP_RECV_QUEUE, rnxt2)) < 0 ||
	    (rc = ioctl_len(fd, SIOCINQ, inq2)) < 0)
		return rc;
	if (wseq2 != wseq || rnxt2 != rnxt || inq2 != inq)
		return -EAGAIN;
	st.snd_seq = wseq - outq;
	st.rcv_seq = rnxt - inq;
	st.sendq = std::span<const std::byte>(sendbuf.data(), outq);
	st.notsent = notsent;
	st.recvq = std::span<const std::byte>(recvbuf.data(), inq);
	return 0;
}

} // namespace

int tcp_state_dump(int fd, TcpSockState &st, std::span<std::byte> sendbuf,
		   std::span<std::byte> recvbuf) {
	TcpSockState s;
	tcp_info ti = {};
	int rc;
	if ((rc = get_tcp(fd, TCP_INFO, ti)) < 0)
		return rc;
	if (ti.tcpi_state != TCP_ESTABLISHED)
		return -ENOTCONN;
	s.wscale_ok = ti.tcpi_options & TCPI_OPT_WSCALE;
	s.sack_ok = ti.tcpi_options & TCPI_OPT_SACK;
	s.ts_ok = ti.tcpi_options & TCPI_OPT_TIMESTAMPS;
	if (s.wscale_ok) {
		s.snd_wscale = ti.tcpi_snd_wscale;
		s.rcv_wscale = ti.tcpi_rcv_wscale;
	}

	SockAddr la = {}, ra = {};
	socklen_t ll = sizeof(la), rl = sizeof(ra);
	if (getsockname(fd, &la.sa, &ll) < 0 || getpeername(fd, &ra.sa, &rl) < 0)
		return -errno;
	uint32_t scope = 0;
	if (!sockaddr_to(la, s.local_addr, s.local_port, scope) ||
	    !sockaddr_to(ra, s.remote_addr, s.remote_port))
		return -EAFNOSUPPORT;
	s.v6 = la.sa.sa_family == AF_INET6;
	s.scope_id = scope;

	if ((rc = get_u32(fd, IPPROTO_TCP, TCP_MAXSEG, s.mss)) < 0)
		return rc;
	if (s.ts_ok && (rc = get_u32(fd, IPPROTO_TCP, TCP_TIMESTAMP, s.timestamp)) < 0)
		return rc;
	tcp_repair_window w = {};
	if ((rc = get_tcp(fd, TCP_REPAIR_WINDOW, w)) < 0)
		return rc;
	s.snd_wl1 = w.snd_wl1;
	s.snd_wnd = w.snd_wnd;
	s.max_window = w.max_window;
	s.rcv_wnd = w.rcv_wnd;
	s.rcv_wup = w.rcv_wup;
	if ((rc = get_u32(fd, SOL_SOCKET, SO_SNDBUF, s.sndbuf)) < 0 ||
	    (rc = get_u32(fd, SOL_SOCKET, SO_RCVBUF, s.rcvbuf)) < 0)
		return rc;

	rc = dump_queues(fd, s, sendbuf, recvbuf);
	select_queue(fd, TCP_NO_QUEUE);
	if (rc < 0)
		return rc;
	st = s;
	return 0;
}

int tcp_state_quiesce(int fd, TcpQuiesce &q) {
	TcpInfoSegs ti = {};
	socklen_t sl = 0;
	int rc;
	if ((rc = get_tcp(fd, TCP_INFO, ti, &sl)) < 0)
		return rc;
	if (ti.base.tcpi_state != TCP_ESTABLISHED)
		return -ENOTCONN;
	q.rtt_us = ti.base.tcpi_rtt;
	q.segs_known = sl >= offsetof(TcpInfoSegs, segs_out) + sizeof(ti.segs_out);
	q.segs_out = ti.segs_out;
	if ((rc = get_u32(fd, SOL_SOCKET, SO_RCVBUF, q.rcvbuf)) < 0)
		return rc;
	uint32_t rcv_nxt = 0;
	if ((rc = queue_end(fd, TCP_RECV_QUEUE, rcv_nxt)) < 0)
		return rc;
	select_queue(fd, TCP_NO_QUEUE);
	tcp_repair_window w = {};
	if ((rc = get_tcp(fd, TCP_REPAIR_WINDOW, w)) < 0)
		return rc;
	// The right edge of the window moves to rcv_nxt: the next ACK offers
	// nothing more, and the smallest buffer keeps the kernel from
	// offering it again out of free space.
	w.rcv_wup = rcv_nxt;
	w.rcv_wnd = 0;
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &w, sizeof(w)) < 0)
		return -errno;
	return set_int(fd, SOL_SOCKET, SO_RCVBUF, 1);
}

int tcp_state_rcv_nxt(int fd, uint32_t &seq) {
	int rc = queue_end(fd, TCP_RECV_QUEUE, seq);
	select_queue(fd, TCP_NO_QUEUE);
	return rc;
}

int tcp_state_in_flight(int fd, uint32_t &bytes) {
	uint32_t outq = 0, notsent = 0;
	int rc;
	if ((rc = ioctl_len(fd, SIOCOUTQ, outq)) < 0 ||
	    (rc = ioctl_len(fd, SIOCOUTQNSD, notsent)) < 0)
		return rc;
	bytes = outq > notsent ? outq - notsent : 0;
	return 0;
}

int tcp_state_peer_closed(int fd, const TcpQuiesce &q, bool &closed) {
	closed = false;
	if (!q.segs_known)
		return 0;
	TcpInfoSegs ti = {};
	tcp_repair_window w = {};
	int rc;
	if ((rc = get_tcp(fd, TCP_INFO, ti)) < 0 || (rc = get_tcp(fd, TCP_REPAIR_WINDOW, w)) < 0)
		return rc;
	// In repair mode the socket sends ACKs and the probe, nothing else;
	// the last one sent left its window in rcv_wnd.
	closed = ti.segs_out - q.segs_out > 1 && w.rcv_wnd == 0;
	return 0;
}

namespace {

// The key's value does not matter: the peer has none, and signs nothing.
constexpr uint8_t SEAL_KEY[] = {'p', 'a', 's', 's', 't', '-', 'm', 'i',
				'g', 'r', 'a', 't', 'i', 'o', 'n', '!'};

int md5_key(int fd, bool set) {
	tcp_md5sig k = {};
	socklen_t sl = sizeof(k.tcpm_addr);
	if (getpeername(fd, reinterpret_cast<sockaddr *>(&k.tcpm_addr), &sl) < 0)
		return -errno;
	if (set) {
		k.tcpm_keylen = sizeof(SEAL_KEY);
		memcpy(k.tcpm_key, SEAL_KEY, sizeof(SEAL_KEY));
	}
	return setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &k, sizeof(k)) < 0 ? -errno : 0;
}

} // namespace

int tcp_state_seal(int fd, TcpQuiesce &q) {
	int rc = md5_key(fd, true);
	q.sealed = !rc;
	return rc;
}

int tcp_state_unquiesce(int fd, TcpQuiesce &q) {
	if (q.sealed) {
		if (int rc = md5_key(fd, false))
			return rc;
		q.sealed = false;
	}
	return set_int(fd, SOL_SOCKET, SO_RCVBUF, int(q.rcvbuf / 2));
}

int tcp_state_socket(const TcpSockState &st) {
	int fd = socket(st.v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			IPPROTO_TCP);
	if (fd < 0)
		return -errno;
	// getsockopt reports twice what setsockopt asked for: ask for half of
	// the old size, or for the queue's length if larger (the accounting
	// counts buffer overhead too, and a full old queue may have grown past
	// its nominal size). The kernel caps the request at
	// net.core.{w,r}mem_max; ignore failures here: a queue that does not
	// fit fails the restore itself.
	size_t snd = st.sndbuf / 2 > st.sendq.size() ? st.sndbuf / 2 : st.sendq.size();
	size_t rcv = st.rcvbuf / 2 > st.recvq.size() ? st.rcvbuf / 2 : st.recvq.size();
	if (snd)
		set_int(fd, SOL_SOCKET, SO_SNDBUF, int(snd));
	if (rcv)
		set_int(fd, SOL_SOCKET, SO_RCVBUF, int(rcv));
	int rc = 0;
	if (st.v6)
		rc = set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, st.local_addr.is_v4() ? 0 : 1);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

int tcp_state_restore(int fd, const TcpSockState &st) {
	// Bound in repair mode, which lets the socket share its local port
	// with a listener (an inbound connection keeps the listener's port)
	// and with sockets the previous owner has not closed yet.
	SockAddr local;
	socklen_t ll = make_sa(local, st, st.local_addr, st.local_port);
	if (bind(fd, &local.sa, ll) < 0)
		return -errno;
	int rc;
	if ((rc = select_queue(fd, TCP_SEND_QUEUE)) < 0 ||
	    (rc = set_int(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, int(st.snd_seq))) < 0 ||
	    (rc = select_queue(fd, TCP_RECV_QUEUE)) < 0 ||
	    (rc = set_int(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, int(st.rcv_seq))) < 0)
		return rc;
	if (st.ts_ok && (rc = set_int(fd, IPPROTO_TCP, TCP_TIMESTAMP, int(st.timestamp))) < 0)
		return rc;

	SockAddr sa;
	socklen_t sl = make_sa(sa, st, st.remote_addr, st.remote_port);
	if (connect(fd, &sa.sa, sl) < 0)
		return -errno;

	tcp_repair_opt opts[4];
	unsigned n = 0;
	opts[n++] = {TCPOPT_MAXSEG, st.mss};
	if (st.wscale_ok)
		opts[n++] = {TCPOPT_WINDOW, uint32_t(st.snd_wscale) | uint32_t(st.rcv_wscale)
									      << 16};
	if (st.sack_ok)
		opts[n++] = {TCPOPT_SACK_PERMITTED, 0};
	if (st.ts_ok)
		opts[n++] = {TCPOPT_TIMESTAMP, 0};
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_OPTIONS, opts, socklen_t(n * sizeof(opts[0]))) <
	    0)
		return -errno;

	size_t sent = st.sendq.size() - st.notsent;
	if ((rc = select_queue(fd, TCP_RECV_QUEUE)) < 0 || (rc = write_all(fd, st.recvq)) < 0 ||
	    (rc = select_queue(fd, TCP_SEND_QUEUE)) < 0 ||
	    (rc = write_all(fd, st.sendq.first(sent))) < 0 ||
	    (rc = select_queue(fd, TCP_NO_QUEUE)) < 0)
		return rc;

	tcp_repair_window w = {st.snd_wl1, st.snd_wnd, st.max_window, st.rcv_wnd, st.rcv_wup};
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &w, sizeof(w)) < 0)
		return -errno;
	return 0;
}

int tcp_state_restore_unsent(int fd, const TcpSockState &st) {
	return write_all(fd, st.sendq.last(st.notsent));
}

} // namespace passt
