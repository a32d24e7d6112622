// The TCP state record (src/migrate/tcp_state.cpp): encoding, and the
// decoder's refusals (truncated, wrong magic or version, inconsistent or
// oversized lengths, fields out of range); then, in a user + network
// namespace of its own, a live loopback connection dumped in repair mode,
// carried through a record, restored, and used both ways.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/sockios.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "netns_test_util.h"
#include "passt/migrate/tcp_state.h"
#include "passt/net/sockaddr.h"

using namespace passt;

namespace {

std::vector<std::byte> bytes(const char *s) {
	std::vector<std::byte> v(strlen(s));
	memcpy(v.data(), s, v.size());
	return v;
}

struct Sample {
	std::vector<std::byte> sq = bytes("sent-then-unsent"), rq = bytes("unread");
	TcpSockState st;
	Sample() {
		st.v6 = false;
		st.local_addr = InAny(Ipv4Addr{{192, 0, 2, 2}});
		st.remote_addr = InAny(Ipv4Addr{{192, 0, 2, 1}});
		st.local_port = 40000;
		st.remote_port = 80;
		st.snd_seq = 0xfffffff0; // wraps within the queue
		st.rcv_seq = 0x12345678;
		st.mss = 1460;
		st.wscale_ok = true;
		st.snd_wscale = 7;
		st.rcv_wscale = 14;
		st.sack_ok = true;
		st.ts_ok = true;
		st.timestamp = 0xdeadbeef;
		st.snd_wl1 = 1, st.snd_wnd = 2, st.max_window = 3, st.rcv_wnd = 4, st.rcv_wup = 5;
		st.sndbuf = 87380, st.rcvbuf = 131072;
		st.sendq = sq;
		st.notsent = 6;
		st.recvq = rq;
	}
	std::vector<std::byte> encode() const {
		std::vector<std::byte> out(tcp_state_encoded_len(st));
		EXPECT_EQ(tcp_state_encode(st, out), out.size());
		return out;
	}
};

void put32(std::vector<std::byte> &r, size_t off, uint32_t v) {
	for (int i = 0; i < 4; i++)
		r[off + size_t(i)] = std::byte(v >> (8 * i));
}

TEST(TcpStateRecord, RoundTrip) {
	Sample s;
	auto rec = s.encode();
	ASSERT_EQ(rec.size(), TCP_STATE_FIXED_LEN + 16 + 6);
	// Little-endian, at the documented offsets (doc/migration.md).
	EXPECT_EQ(memcmp(rec.data(), "PTCP", 4), 0);
	EXPECT_EQ(uint8_t(rec[4]), 1);
	EXPECT_EQ(uint8_t(rec[6]), TCP_STATE_FIXED_LEN);
	EXPECT_EQ(uint8_t(rec[8]), rec.size());
	EXPECT_EQ(uint8_t(rec[56]), 0xf0);
	EXPECT_EQ(uint8_t(rec[59]), 0xff);
	EXPECT_EQ(uint8_t(rec[48]), 40000 & 0xff);

	TcpSockState d;
	size_t used = 0;
	ASSERT_EQ(tcp_state_decode(rec, d, &used), TcpStateErr::Ok);
	EXPECT_EQ(used, rec.size());
	EXPECT_EQ(d.local_addr, s.st.local_addr);
	EXPECT_EQ(d.remote_addr, s.st.remote_addr);
	EXPECT_EQ(d.local_port, 40000);
	EXPECT_EQ(d.remote_port, 80);
	EXPECT_EQ(d.snd_seq, 0xfffffff0u);
	EXPECT_EQ(d.rcv_seq, 0x12345678u);
	EXPECT_EQ(d.mss, 1460u);
	EXPECT_TRUE(d.wscale_ok && d.sack_ok && d.ts_ok);
	EXPECT_EQ(d.snd_wscale, 7);
	EXPECT_EQ(d.rcv_wscale, 14);
	EXPECT_EQ(d.timestamp, 0xdeadbeefu);
	EXPECT_EQ(d.snd_wl1 + d.snd_wnd + d.max_window + d.rcv_wnd + d.rcv_wup, 15u);
	EXPECT_EQ(d.sndbuf, 87380u);
	EXPECT_EQ(d.rcvbuf, 131072u);
	EXPECT_EQ(d.notsent, 6u);
	ASSERT_EQ(d.sendq.size(), s.sq.size());
	ASSERT_EQ(d.recvq.size(), s.rq.size());
	EXPECT_EQ(memcmp(d.sendq.data(), s.sq.data(), s.sq.size()), 0);
	EXPECT_EQ(memcmp(d.recvq.data(), s.rq.data(), s.rq.size()), 0);
	// The queues point into the record.
	EXPECT_EQ(d.sendq.data(), rec.data() + TCP_STATE_FIXED_LEN);

	// A second record after the first: the decoder reads one.
	auto two = rec;
	two.insert(two.end(), rec.begin(), rec.end());
	ASSERT_EQ(tcp_state_decode(two, d, &used), TcpStateErr::Ok);
	EXPECT_EQ(used, rec.size());
}

TEST(TcpStateRecord, EncodeRefuses) {
	Sample s;
	std::vector<std::byte> small(tcp_state_encoded_len(s.st) - 1);
	EXPECT_EQ(tcp_state_encode(s.st, small), 0u);
	s.st.notsent = uint32_t(s.sq.size() + 1);
	std::vector<std::byte> out(tcp_state_encoded_len(s.st));
	EXPECT_EQ(tcp_state_encode(s.st, out), 0u);
	std::vector<std::byte> big(TCP_STATE_QUEUE_MAX + 1);
	s.st.notsent = 0;
	s.st.sendq = big;
	out.resize(tcp_state_encoded_len(s.st));
	EXPECT_EQ(tcp_state_encode(s.st, out), 0u);
}

TEST(TcpStateRecord, Truncated) {
	auto rec = Sample().encode();
	TcpSockState d;
	d.mss = 42;
	for (size_t n = 0; n < rec.size(); n++) {
		std::span<const std::byte> in(rec.data(), n);
		EXPECT_EQ(tcp_state_decode(in, d), TcpStateErr::Truncated) << n;
	}
	EXPECT_EQ(d.mss, 42u); // untouched on failure
}

TEST(TcpStateRecord, MagicAndVersion) {
	TcpSockState d;
	auto rec = Sample().encode();
	rec[0] = std::byte('X');
	EXPECT_EQ(tcp_state_decode(rec, d), TcpStateErr::BadMagic);
	rec = Sample().encode();
	rec[4] = std::byte(2);
	EXPECT_EQ(tcp_state_decode(rec, d), TcpStateErr::BadVersion);
	rec[4] = std::byte(0);
	EXPECT_EQ(tcp_state_decode(rec, d), TcpStateErr::BadVersion);
}

TEST(TcpStateRecord, Lengths) {
	TcpSockState d;
	auto rec = Sample().encode();
	// Fixed part shorter than version 1's.
	rec[6] = std::byte(TCP_STATE_FIXED_LEN - 4);
	EXPECT_EQ(tcp_state_decode(rec, d), TcpStateErr::BadLength);
	// Total not the sum of its parts, either way.
	rec = Sample().encode();
	put32(rec, 8, uint32_t(rec.size() - 1));
	EXPECT_EQ(tcp_state_decode(rec, d), TcpStateErr::BadLength);
	rec.push_back(std::byte(0));
	put32(rec, 8, uint32_t(rec.size()));
	EXPECT_EQ(tcp_state_decode(rec, d), TcpStateErr::BadLength);
	// A queue over the maximum, with a total to match: refused before any
	// read of the queue (the buffer is not that long either).
	rec = Sample().encode();
	put32(rec, 100, uint32_t(TCP_STATE_QUEUE_MAX + 1));
	put32(rec, 8, uint32_t(TCP_STATE_FIXED_LEN + TCP_STATE_QUEUE_MAX + 1 + 6));
	EXPECT_EQ(tcp_state_decode(rec, d), TcpStateErr::Truncated);
	std::vector<std::byte> huge(TCP_STATE_FIXED_LEN + TCP_STATE_QUEUE_MAX + 1 + 6);
	memcpy(huge.data(), rec.data(), TCP_STATE_FIXED_LEN);
	EXPECT_EQ(tcp_state_decode(huge, d), TcpStateErr::BadLength);
	// Lengths whose sum overflows 32 bits.
	rec = Sample().encode();
	put32(rec, 100, 0xffffffff);
	put32(rec, 108, 0xffffffff);
	EXPECT_EQ(tcp_state_decode(rec, d), TcpStateErr::BadLength);
	// A longer fixed part (a later revision's extra fields) is skipped.
	Sample s;
	rec = s.encode();
	std::vector<std::byte> ext(rec.begin(), rec.begin() + TCP_STATE_FIXED_LEN);
	ext.insert(ext.end(), 8, std::byte(0xee));
	ext.insert(ext.end(), rec.begin() + TCP_STATE_FIXED_LEN, rec.end());
	ext[6] = std::byte(TCP_STATE_FIXED_LEN + 8);
	put32(ext, 8, uint32_t(ext.size()));
	ASSERT_EQ(tcp_state_decode(ext, d), TcpStateErr::Ok);
	EXPECT_EQ(memcmp(d.sendq.data(), s.sq.data(), s.sq.size()), 0);
}

TEST(TcpStateRecord, Fields) {
	TcpSockState d;
	auto rec = Sample().encode();
	rec[12] = std::byte(uint8_t(rec[12]) | 0x80); // unknown flag
	EXPECT_EQ(tcp_state_decode(rec, d), TcpStateErr::BadField);
	rec = Sample().encode();
	rec[13] = std::byte(15); // window scale over 14
	EXPECT_EQ(tcp_state_decode(rec, d), TcpStateErr::BadField);
	rec = Sample().encode();
	put32(rec, 104, 17); // notsent over the send queue
	EXPECT_EQ(tcp_state_decode(rec, d), TcpStateErr::BadField);
	rec = Sample().encode();
	rec[16] = std::byte(0x20); // IPv4 socket, IPv6 address
	EXPECT_EQ(tcp_state_decode(rec, d), TcpStateErr::BadField);
	rec = Sample().encode();
	rec[50] = rec[51] = std::byte(0); // no peer port
	EXPECT_EQ(tcp_state_decode(rec, d), TcpStateErr::BadField);
	rec = Sample().encode();
	rec[15] = std::byte(1); // reserved
	EXPECT_EQ(tcp_state_decode(rec, d), TcpStateErr::BadField);
	for (auto e : {TcpStateErr::Ok, TcpStateErr::Truncated, TcpStateErr::BadMagic,
		       TcpStateErr::BadVersion, TcpStateErr::BadLength, TcpStateErr::BadField})
		EXPECT_STRNE(tcp_state_err_str(e), "?");
}

// ---- Live sockets ---------------------------------------------------------

int repair(int fd, int v) { return setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &v, sizeof(v)); }

// Reads exactly n bytes from fd (up to about 5 s).
bool read_n(int fd, char *buf, size_t n) {
	size_t got = 0;
	for (int i = 0; i < 500 && got < n; i++) {
		pollfd p = {fd, POLLIN, 0};
		poll(&p, 1, 10);
		ssize_t r = recv(fd, buf + got, n - got, MSG_DONTWAIT);
		if (r == 0)
			return false;
		if (r > 0)
			got += size_t(r);
	}
	return got == n;
}

// In a namespace of its own: a loopback listener l, a client c connected
// to it, and the accepted socket s. 0, or the child's exit status.
int live_pair(bool v6, int &l, int &c, int &s) {
	if (int rc = passt::test::enter_netns())
		return rc;
	int af = v6 ? AF_INET6 : AF_INET;
	passt::SockAddr sa = {};
	socklen_t sl = passt::sockaddr_loopback(sa, v6, 0);
	l = socket(af, SOCK_STREAM, 0);
	CHK(l >= 0);
	CHK(!bind(l, &sa.sa, sl) && !listen(l, 1) && !getsockname(l, &sa.sa, &sl));
	c = socket(af, SOCK_STREAM, 0);
	CHK(!connect(c, &sa.sa, sl));
	s = accept(l, nullptr, nullptr);
	CHK(s >= 0);
	return 0;
}

int live_round_trip(bool v6) {
	int l, c, s;
	if (int rc = live_pair(v6, l, c, s))
		return rc;

	// Some data each way, left unread: the client's receive queue, and
	// (already acknowledged) the server's.
	CHK(send(s, "to-client", 9, 0) == 9);
	CHK(send(c, "to-server", 9, 0) == 9);
	usleep(100000);
	if (repair(c, 1) < 0) {
		std::fprintf(stderr, "TCP_REPAIR: %s\n", std::strerror(errno));
		return errno == EPERM ? passt::test::CHILD_SKIP : 1;
	}
	std::vector<std::byte> sb(1 << 16), rb(1 << 16);
	TcpSockState st;
	CHK(tcp_state_dump(c, st, sb, rb) == 0);
	CHK(st.recvq.size() == 9 && !memcmp(st.recvq.data(), "to-client", 9));
	CHK(st.sendq.empty());
	std::vector<std::byte> rec(tcp_state_encoded_len(st));
	CHK(tcp_state_encode(st, rec) == rec.size());
	TcpSockState back;
	CHK(tcp_state_decode(rec, back) == TcpStateErr::Ok);
	close(c); // in repair mode: no FIN, no RST

	int n = tcp_state_socket(back);
	CHK(n >= 0);
	CHK(repair(n, 1) == 0);
	CHK(tcp_state_restore(n, back) == 0);
	CHK(repair(n, 0) == 0);
	CHK(tcp_state_restore_unsent(n, back) == 0);

	char buf[64];
	CHK(read_n(n, buf, 9) && !memcmp(buf, "to-client", 9));
	CHK(read_n(s, buf, 9) && !memcmp(buf, "to-server", 9));
	CHK(send(n, "again", 5, 0) == 5 && read_n(s, buf, 5) && !memcmp(buf, "again", 5));
	CHK(send(s, "back", 4, 0) == 4 && read_n(n, buf, 4) && !memcmp(buf, "back", 4));
	int err = 0;
	socklen_t el = sizeof(err);
	CHK(!getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el) && err == 0);
	return 0;
}

TEST(TcpStateLive, RoundTripV4) {
	RUN_FORKED([] { return live_round_trip(false); });
}
TEST(TcpStateLive, RoundTripV6) {
	RUN_FORKED([] { return live_round_trip(true); });
}

// The daemon's side of a migration on one connection: the accepted socket
// (its local port is the listener's, which stays open: an inbound flow)
// with data peeked behind an SO_PEEK_OFF offset, as the daemon peeks what
// it sent the guest. Quiesced: the buffer size is kept, the buffer
// shrunk, nothing in flight, rcv_nxt where the dump ends; the dump holds
// the whole queue despite the offset; the restore binds beside the
// listener; unquiesce gives the buffer back.
int live_quiesce(bool v6) {
	int l, c, s;
	if (int rc = live_pair(v6, l, c, s))
		return rc;
	CHK(send(c, "to-server", 9, 0) == 9);
	usleep(100000);
	int zero = 0;
	char buf[64];
	CHK(!setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero)));
	CHK(recv(s, buf, 4, MSG_PEEK) == 4); // the offset is 4 now
	if (repair(s, 1) < 0)
		return errno == EPERM ? passt::test::CHILD_SKIP : 1;

	int before = 0;
	socklen_t bl = sizeof(before);
	CHK(!getsockopt(s, SOL_SOCKET, SO_RCVBUF, &before, &bl));
	TcpQuiesce q;
	CHK(tcp_state_quiesce(s, q) == 0);
	CHK(q.rcvbuf == uint32_t(before));
	int now = 0;
	CHK(!getsockopt(s, SOL_SOCKET, SO_RCVBUF, &now, &bl) && now < before && now < 8192);
	uint32_t in_flight = 1, rcv_nxt = 0;
	CHK(tcp_state_in_flight(s, in_flight) == 0 && in_flight == 0);
	CHK(tcp_state_rcv_nxt(s, rcv_nxt) == 0);

	std::vector<std::byte> sb(1 << 16), rb(1 << 16);
	TcpSockState st;
	CHK(tcp_state_dump(s, st, sb, rb) == 0);
	CHK(st.recvq.size() == 9 && !memcmp(st.recvq.data(), "to-server", 9));
	CHK(st.rcv_seq + 9 == rcv_nxt);
	st.rcvbuf = q.rcvbuf;
	std::vector<std::byte> rec(tcp_state_encoded_len(st));
	CHK(tcp_state_encode(st, rec) == rec.size());
	TcpSockState back;
	CHK(tcp_state_decode(rec, back) == TcpStateErr::Ok);

	// A second socket on the listener's port while the first still
	// exists (in repair mode) and the listener is open.
	int n = tcp_state_socket(back);
	CHK(n >= 0);
	CHK(repair(n, 1) == 0);
	CHK(tcp_state_unquiesce(s, q) == 0);
	CHK(!getsockopt(s, SOL_SOCKET, SO_RCVBUF, &now, &bl) && now == before);
	close(s); // in repair mode: silent
	CHK(tcp_state_restore(n, back) == 0);
	CHK(repair(n, 0) == 0);
	CHK(read_n(n, buf, 9) && !memcmp(buf, "to-server", 9));
	CHK(send(n, "reply", 5, 0) == 5 && read_n(c, buf, 5) && !memcmp(buf, "reply", 5));
	return 0;
}

TEST(TcpStateLive, QuiesceDumpAndRestoreBesideTheListenerV4) {
	RUN_FORKED([] { return live_quiesce(false); });
}
TEST(TcpStateLive, QuiesceDumpAndRestoreBesideTheListenerV6) {
	RUN_FORKED([] { return live_quiesce(true); });
}

// What the peer is told, and what the seal keeps out: the daemon's socket
// s quiesced and probed (repair off and on, as passt-repair does) has not
// told its peer c of the closed window yet; c's next data does it (the
// kernel answers it with a zero window, which c then keeps to: what c
// sends next stays unsent); sealed, s takes nothing, not even what c
// retransmits; unquiesced, s gets every byte, in order.
int live_seal(bool v6) {
	int l, c, s;
	if (int rc = live_pair(v6, l, c, s))
		return rc;
	if (repair(s, 1) < 0)
		return errno == EPERM ? passt::test::CHILD_SKIP : 1;
	TcpQuiesce q;
	CHK(tcp_state_quiesce(s, q) == 0);
	CHK(q.segs_known);
	CHK(repair(s, 0) == 0 && repair(s, 1) == 0); // the window probe
	usleep(20000);
	bool closed = true;
	CHK(tcp_state_peer_closed(s, q, closed) == 0 && !closed);

	static char data[3][20000];
	for (int k = 0; k < 3; k++)
		memset(data[k], 'a' + k, sizeof(data[k]));
	CHK(send(c, data[0], sizeof(data[0]), 0) == ssize_t(sizeof(data[0])));
	usleep(50000);
	CHK(tcp_state_peer_closed(s, q, closed) == 0 && closed);
	uint32_t before = 0, after = 0, notsent = 0;
	CHK(tcp_state_rcv_nxt(s, before) == 0);
	CHK(send(c, data[1], sizeof(data[1]), 0) == ssize_t(sizeof(data[1])));
	usleep(50000);
	CHK(!ioctl(c, SIOCOUTQNSD, &notsent) && notsent == sizeof(data[1]));

	CHK(tcp_state_seal(s, q) == 0 && q.sealed);
	CHK(send(c, data[2], sizeof(data[2]), 0) == ssize_t(sizeof(data[2])));
	usleep(600000); // c retransmits, or probes, at least once meanwhile
	CHK(tcp_state_rcv_nxt(s, after) == 0 && after == before);

	CHK(tcp_state_unquiesce(s, q) == 0 && !q.sealed);
	CHK(repair(s, 0) == 0);
	static char buf[sizeof(data)];
	CHK(read_n(s, buf, sizeof(buf)) && !memcmp(buf, data, sizeof(data)));
	CHK(send(s, "ok", 2, 0) == 2 && read_n(c, buf, 2) && !memcmp(buf, "ok", 2));
	return 0;
}

TEST(TcpStateLive, PeerLearnsTheClosedWindowAndTheSealDropsV4) {
	RUN_FORKED([] { return live_seal(false); });
}
TEST(TcpStateLive, PeerLearnsTheClosedWindowAndTheSealDropsV6) {
	RUN_FORKED([] { return live_seal(true); });
}

TEST(TcpStateLive, DumpRefusesNonEstablished) {
	RUN_FORKED([] {
		if (int rc = passt::test::enter_netns())
			return rc;
		int c = socket(AF_INET, SOCK_STREAM, 0);
		CHK(c >= 0);
		CHK(repair(c, 1) == 0);
		std::vector<std::byte> sb(16), rb(16);
		TcpSockState st;
		CHK(tcp_state_dump(c, st, sb, rb) == -ENOTCONN);
		return 0;
	});
}

} // namespace
