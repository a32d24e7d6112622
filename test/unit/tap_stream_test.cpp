// Tests for the qemu stream backend (src/tap/tap_stream.cpp) over a UNIX
// socketpair: input framing (frames cut anywhere, several per read, bad
// lengths, end of file, a full pool), output batching against a slow
// reader with a small socket buffer (frame boundaries must survive partial
// writes), EPOLLOUT handling through the event loop, and the listening
// socket's path selection in a temporary directory. Every wait is bounded.
#include "passt/tap/tap_stream.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "passt/net/byteorder.h"

using namespace passt;

namespace {

using Bytes = std::vector<std::byte>;

// A frame whose content depends on its sequence number and size.
Bytes make_frame(uint32_t seq, size_t size) {
	Bytes f(size);
	for (size_t i = 0; i < size; i++)
		f[i] = std::byte((seq * 131 + i * 7 + 3) & 0xff);
	if (size >= 4)
		store_be32(f.data(), seq);
	return f;
}

Bytes with_prefix(const Bytes &f) {
	Bytes out(4 + f.size());
	store_be32(out.data(), uint32_t(f.size()));
	std::memcpy(out.data() + 4, f.data(), f.size());
	return out;
}

void write_all_blocking(int fd, const Bytes &b) {
	size_t off = 0;
	while (off < b.size()) {
		ssize_t n = write(fd, b.data() + off, b.size() - off);
		ASSERT_GT(n, 0) << strerror(errno);
		off += size_t(n);
	}
}

// Read what the peer can get within timeout_ms (at most max bytes).
size_t peer_read(int fd, Bytes &acc, size_t max, int timeout_ms) {
	pollfd p{fd, POLLIN, 0};
	if (poll(&p, 1, timeout_ms) <= 0)
		return 0;
	std::byte tmp[65536];
	size_t want = max < sizeof(tmp) ? max : sizeof(tmp);
	ssize_t n = recv(fd, tmp, want, MSG_DONTWAIT);
	if (n <= 0)
		return 0;
	acc.insert(acc.end(), tmp, tmp + n);
	return size_t(n);
}

// Split a length-prefixed stream into frames; false on a bad length or
// trailing bytes.
bool split_stream(const Bytes &s, std::vector<Bytes> &frames) {
	size_t p = 0;
	while (s.size() - p >= 4) {
		uint32_t len = load_be32(s.data() + p);
		if (len == 0 || len > StreamBackend::MAX_FRAME || s.size() - p - 4 < len)
			return false;
		frames.emplace_back(s.begin() + long(p + 4), s.begin() + long(p + 4 + len));
		p += 4 + len;
	}
	return p == s.size();
}

class StreamTest : public ::testing::Test {
protected:
	void SetUp() override {
		ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		be = std::make_unique<StreamBackend>(&stats);
		pool = std::make_unique<FramePool<1024>>(be->region());
		ASSERT_EQ(be->attach(sv[0]), 0);
	}
	void TearDown() override {
		be.reset(); // closes sv[0]
		if (sv[1] >= 0)
			close(sv[1]);
	}
	// All frames in the pool, copied.
	void collect(Pool &p, std::vector<Bytes> &out) {
		for (size_t i = 0; i < p.size(); i++) {
			auto f = p.get(i);
			out.emplace_back(f.begin(), f.end());
		}
	}

	int sv[2] = {-1, -1};
	TapStats stats;
	std::unique_ptr<StreamBackend> be;
	std::unique_ptr<FramePool<1024>> pool;
};

TEST_F(StreamTest, SeveralFramesInOneRead) {
	Bytes wire;
	std::vector<Bytes> sent;
	for (uint32_t i = 0; i < 5; i++) {
		sent.push_back(make_frame(i, 60 + i * 100));
		Bytes p = with_prefix(sent.back());
		wire.insert(wire.end(), p.begin(), p.end());
	}
	write_all_blocking(sv[1], wire);
	ASSERT_EQ(be->read_batch(*pool), 5);
	std::vector<Bytes> got;
	collect(*pool, got);
	EXPECT_EQ(got, sent);
	// Nothing more: 0, not an error.
	EXPECT_EQ(be->read_batch(*pool), 0);
}

TEST_F(StreamTest, FramesCutByteByByte) {
	Bytes wire;
	std::vector<Bytes> sent;
	const size_t sizes[] = {1, 14, 60, 1514, 3, 9000};
	for (uint32_t i = 0; i < 6; i++) {
		sent.push_back(make_frame(i + 10, sizes[i]));
		Bytes p = with_prefix(sent.back());
		wire.insert(wire.end(), p.begin(), p.end());
	}
	std::vector<Bytes> got;
	for (size_t i = 0; i < wire.size(); i++) {
		write_all_blocking(sv[1], Bytes{wire[i]});
		int n = be->read_batch(*pool);
		ASSERT_GE(n, 0) << "at byte " << i;
		collect(*pool, got);
	}
	EXPECT_EQ(got, sent);
}

TEST_F(StreamTest, LargestFrameAcceptedAcrossWrites) {
	Bytes f = make_frame(7, StreamBackend::MAX_FRAME);
	Bytes w = with_prefix(f);
	// First half, then the rest: no frame until it is complete.
	Bytes a(w.begin(), w.begin() + 30000), b(w.begin() + 30000, w.end());
	write_all_blocking(sv[1], a);
	EXPECT_EQ(be->read_batch(*pool), 0);
	write_all_blocking(sv[1], b);
	ASSERT_EQ(be->read_batch(*pool), 1);
	auto g = pool->get(0);
	EXPECT_EQ(Bytes(g.begin(), g.end()), f);
}

TEST_F(StreamTest, ZeroLengthIsAnError) {
	write_all_blocking(sv[1], with_prefix(make_frame(1, 60)));
	write_all_blocking(sv[1], Bytes(4, std::byte{0}));
	EXPECT_EQ(be->read_batch(*pool), -EPROTO);
	EXPECT_TRUE(pool->empty());
}

TEST_F(StreamTest, TooLongIsAnError) {
	Bytes hdr(4);
	store_be32(hdr.data(), uint32_t(StreamBackend::MAX_FRAME + 1));
	write_all_blocking(sv[1], hdr);
	EXPECT_EQ(be->read_batch(*pool), -EPROTO);

	// Also a huge length, e.g. ASCII garbage.
	int sv2[2];
	ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv2), 0);
	ASSERT_EQ(be->attach(sv2[0]), 0);
	const char junk[] = "GET / HTTP/1.1\r\n";
	ASSERT_EQ(write(sv2[1], junk, sizeof(junk) - 1), ssize_t(sizeof(junk) - 1));
	EXPECT_EQ(be->read_batch(*pool), -EPROTO);
	close(sv2[1]);
}

TEST_F(StreamTest, EndOfFile) {
	write_all_blocking(sv[1], Bytes{std::byte{0}, std::byte{0}}); // half a length
	EXPECT_EQ(be->read_batch(*pool), 0);
	close(sv[1]);
	sv[1] = -1;
	EXPECT_EQ(be->read_batch(*pool), -ESHUTDOWN);
}

// Found by fuzz_tap_stream: three frames then end of file, read with a
// pool of two. The third frame, already in the buffer, was dropped when the
// next call met the end of file; it must come first, then -ESHUTDOWN.
TEST_F(StreamTest, FramesBeforeEndOfFileAreNotLost) {
	Bytes all;
	for (uint32_t i = 0; i < 3; i++) {
		Bytes f = with_prefix(make_frame(i, 42));
		all.insert(all.end(), f.begin(), f.end());
	}
	write_all_blocking(sv[1], all);
	close(sv[1]);
	sv[1] = -1;
	FramePool<2> two(be->region());
	EXPECT_EQ(be->read_batch(two), 2);
	ASSERT_EQ(be->read_batch(two), 1);
	EXPECT_EQ(Bytes(two.get(0).begin(), two.get(0).end()), make_frame(2, 42));
	EXPECT_EQ(be->read_batch(two), -ESHUTDOWN);
}

TEST_F(StreamTest, NotConnected) {
	be->detach();
	EXPECT_FALSE(be->connected());
	EXPECT_EQ(be->read_batch(*pool), -ENOTCONN);
	Bytes f = make_frame(1, 60);
	EXPECT_FALSE(be->send_frame(f));
	EXPECT_EQ(stats.out_dropped, 1u);
}

TEST_F(StreamTest, FullPoolLeavesFramesForTheNextCall) {
	FramePool<4> small(be->region());
	std::vector<Bytes> sent;
	Bytes wire;
	for (uint32_t i = 0; i < 10; i++) {
		sent.push_back(make_frame(i, 100 + i));
		Bytes p = with_prefix(sent.back());
		wire.insert(wire.end(), p.begin(), p.end());
	}
	write_all_blocking(sv[1], wire);
	std::vector<Bytes> got;
	EXPECT_EQ(be->read_batch(small), 4);
	collect(small, got);
	EXPECT_EQ(be->read_batch(small), 4);
	collect(small, got);
	EXPECT_EQ(be->read_batch(small), 2);
	collect(small, got);
	EXPECT_EQ(be->read_batch(small), 0);
	EXPECT_EQ(got, sent);
}

TEST_F(StreamTest, OutputFramesAndBatching) {
	std::vector<Bytes> sent;
	for (uint32_t i = 0; i < 20; i++) {
		sent.push_back(make_frame(i, 42 + i * 50));
		ASSERT_TRUE(be->send_frame(sent.back()));
	}
	// Queued, not written yet.
	Bytes acc;
	EXPECT_EQ(peer_read(sv[1], acc, 1 << 20, 0), 0u);
	EXPECT_EQ(be->pending_frames(), 20u);
	be->flush();
	EXPECT_EQ(be->last_flush_frames(), 20u);
	EXPECT_EQ(be->pending_bytes(), 0u);
	while (peer_read(sv[1], acc, 1 << 20, 100))
		;
	std::vector<Bytes> got;
	ASSERT_TRUE(split_stream(acc, got));
	EXPECT_EQ(got, sent);
	EXPECT_EQ(stats.frames_out, 20u);

	// Empty and oversized frames are refused.
	EXPECT_FALSE(be->send_frame(Bytes{}));
	EXPECT_FALSE(be->send_frame(Bytes(StreamBackend::MAX_FRAME + 1)));
	EXPECT_EQ(stats.out_dropped, 2u);
}

TEST_F(StreamTest, SendFramesRefusesOffloadsAndFlushes) {
	Bytes a = make_frame(1, 100), b = make_frame(2, 200), c = make_frame(3, 300);
	TapFrame tf[3];
	tf[0].frame = a;
	tf[1].frame = b;
	tf[1].gso_type = 1;
	tf[1].gso_size = 1000;
	tf[2].frame = c;
	EXPECT_FALSE(be->offloads());
	EXPECT_EQ(be->send_frames(std::span<const TapFrame>(tf, 3)), 2u);
	EXPECT_EQ(be->last_flush_frames(), 2u);
	Bytes acc;
	while (peer_read(sv[1], acc, 1 << 20, 100))
		;
	std::vector<Bytes> got;
	ASSERT_TRUE(split_stream(acc, got));
	ASSERT_EQ(got.size(), 2u);
	EXPECT_EQ(got[0], a);
	EXPECT_EQ(got[1], c);
}

// The socket buffer fills mid-batch: whatever was cut must resume exactly
// where it stopped, and the reader must see every frame intact, in order.
TEST_F(StreamTest, SlowReaderKeepsFrameBoundaries) {
	int sz = 4096;
	ASSERT_EQ(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)), 0);
	ASSERT_EQ(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz)), 0);

	std::vector<Bytes> sent;
	srand(1);
	const uint32_t N = 400;
	for (uint32_t i = 0; i < N; i++) {
		sent.push_back(make_frame(i, 14 + size_t(rand() % 9000)));
		ASSERT_TRUE(be->send_frame(sent.back()));
	}
	be->flush();
	size_t done = be->last_flush_frames();
	ASSERT_LT(done, N) << "socket buffer too large for this test";
	ASSERT_GT(be->pending_bytes(), 0u);
	EXPECT_EQ(be->pending_frames(), N - done);

	Bytes acc;
	bool saw_cut = false;
	for (int iter = 0; iter < 200000 && be->pending_bytes(); iter++) {
		peer_read(sv[1], acc, 1000 + size_t(iter % 3000), 100);
		be->flush();
		done += be->last_flush_frames();
		EXPECT_EQ(be->pending_frames(), N - done);
		// A partly written frame: fewer bytes pending than its
		// unsent frames take in full.
		size_t whole = 0;
		for (size_t k = done; k < N; k++)
			whole += 4 + sent[k].size();
		EXPECT_LE(be->pending_bytes(), whole);
		if (be->pending_bytes() < whole)
			saw_cut = true;
	}
	EXPECT_EQ(be->pending_bytes(), 0u);
	EXPECT_EQ(done, size_t(N));
	while (peer_read(sv[1], acc, 1 << 20, 100))
		;
	std::vector<Bytes> got;
	ASSERT_TRUE(split_stream(acc, got));
	EXPECT_EQ(got, sent);
	EXPECT_TRUE(saw_cut) << "no flush stopped inside a frame";
	EXPECT_EQ(stats.out_dropped, 0u);
}

// More than the output buffer holds while nobody reads: frames beyond are
// refused (and counted), the accepted ones all arrive intact.
TEST_F(StreamTest, FullOutputBufferRefusesFrames) {
	std::vector<Bytes> accepted;
	uint32_t i = 0;
	size_t refused = 0;
	for (; i < 1000 && !refused; i++) {
		Bytes f = make_frame(i, StreamBackend::MAX_FRAME);
		if (be->send_frame(f))
			accepted.push_back(f);
		else
			refused++;
	}
	ASSERT_EQ(refused, 1u);
	EXPECT_EQ(stats.out_dropped, 1u);
	// The buffer plus what the kernel took: roughly OUT_BUF_SIZE.
	EXPECT_GE(accepted.size() * (StreamBackend::MAX_FRAME + 4),
		  StreamBackend::OUT_BUF_SIZE - StreamBackend::MAX_FRAME - 4);

	Bytes acc;
	for (int iter = 0; iter < 100000 && be->pending_bytes(); iter++) {
		peer_read(sv[1], acc, 1 << 20, 100);
		be->flush();
	}
	EXPECT_EQ(be->pending_bytes(), 0u);
	while (peer_read(sv[1], acc, 1 << 20, 100))
		;
	std::vector<Bytes> got;
	ASSERT_TRUE(split_stream(acc, got));
	EXPECT_EQ(got, accepted);
}

TEST_F(StreamTest, DetachCountsQueuedFrames) {
	for (uint32_t i = 0; i < 3; i++)
		ASSERT_TRUE(be->send_frame(make_frame(i, 100)));
	be->detach();
	EXPECT_EQ(stats.out_dropped, 3u);
	EXPECT_FALSE(be->connected());
}

TEST_F(StreamTest, WriteToClosedPeerBreaksOutputWithoutSignal) {
	close(sv[1]);
	sv[1] = -1;
	ASSERT_TRUE(be->send_frame(make_frame(1, 100)));
	be->flush(); // EPIPE, not SIGPIPE
	EXPECT_TRUE(be->output_broken());
	EXPECT_FALSE(be->send_frame(make_frame(2, 100)));
	EXPECT_EQ(be->read_batch(*pool), -ESHUTDOWN);
}

struct LoopCtx {
	StreamBackend *be;
	int outs = 0, ins = 0;
};

void on_stream(void *ctx, EpollRef, uint32_t events, const timespec &) {
	auto *lc = static_cast<LoopCtx *>(ctx);
	if (events & EPOLLOUT) {
		lc->outs++;
		lc->be->flush();
	}
	if (events & EPOLLIN)
		lc->ins++;
}

// With the event loop, pending output arms EPOLLOUT, which drains the
// queue, and is disarmed afterwards (no busy loop on a writable socket).
TEST_F(StreamTest, EventLoopEpollOut) {
	EventLoop loop;
	ASSERT_EQ(loop.init(), 0);
	LoopCtx lc{be.get()};
	loop.set_handler(RefKind::TapStream, on_stream, &lc);
	be->set_event_loop(&loop);
	int s2[2];
	ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, s2), 0);
	ASSERT_EQ(be->attach(s2[0]), 0); // replaces sv[0] (closed by detach)
	close(sv[1]);
	sv[1] = s2[1];
	int sz = 4096;
	ASSERT_EQ(setsockopt(s2[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)), 0);

	std::vector<Bytes> sent;
	for (uint32_t i = 0; i < 100; i++) {
		sent.push_back(make_frame(i, 1500));
		ASSERT_TRUE(be->send_frame(sent.back()));
	}
	be->flush();
	ASSERT_GT(be->pending_bytes(), 0u);
	// Nothing read yet: the socket is not writable, no event.
	EXPECT_EQ(loop.run_once(50), 0);

	Bytes acc;
	for (int iter = 0; iter < 20000 && be->pending_bytes(); iter++) {
		peer_read(sv[1], acc, 1 << 16, 100);
		loop.run_once(100);
	}
	EXPECT_EQ(be->pending_bytes(), 0u);
	EXPECT_GT(lc.outs, 0);
	// Drained: EPOLLOUT is off again, so an idle loop times out.
	int outs = lc.outs;
	EXPECT_EQ(loop.run_once(50), 0);
	EXPECT_EQ(lc.outs, outs);

	while (peer_read(sv[1], acc, 1 << 20, 100))
		;
	std::vector<Bytes> got;
	ASSERT_TRUE(split_stream(acc, got));
	EXPECT_EQ(got, sent);

	// Input still reported through the loop.
	write_all_blocking(sv[1], with_prefix(make_frame(1, 60)));
	EXPECT_EQ(loop.run_once(1000), 1);
	EXPECT_EQ(lc.ins, 1);
	be->detach();
	be->set_event_loop(nullptr);
}

// A temporary directory, removed with its content.
class ListenTest : public ::testing::Test {
protected:
	void SetUp() override {
		char tmpl[] = "/tmp/tap_stream_test.XXXXXX";
		ASSERT_NE(mkdtemp(tmpl), nullptr);
		dir = tmpl;
	}
	void TearDown() override {
		for (int fd : fds)
			close(fd);
		std::string cmd = "rm -rf '" + dir + "'";
		ASSERT_EQ(system(cmd.c_str()), 0);
	}
	std::string path(unsigned n) { return dir + "/passt_" + std::to_string(n) + ".socket"; }
	int keep(int fd) {
		if (fd >= 0)
			fds.push_back(fd);
		return fd;
	}
	bool exists(const std::string &p) {
		struct stat st;
		return lstat(p.c_str(), &st) == 0;
	}

	std::string dir;
	std::vector<int> fds;
};

TEST_F(ListenTest, AutoPathSkipsLiveSockets) {
	std::string chosen;
	int a = keep(tap_stream_listen("", chosen, dir));
	ASSERT_GE(a, 0);
	EXPECT_EQ(chosen, path(1));
	EXPECT_TRUE(tap_stream_path_live(path(1)));

	int b = keep(tap_stream_listen("", chosen, dir));
	ASSERT_GE(b, 0);
	EXPECT_EQ(chosen, path(2));

	// Non-blocking, close-on-exec.
	EXPECT_TRUE(fcntl(b, F_GETFL) & O_NONBLOCK);
	EXPECT_TRUE(fcntl(b, F_GETFD) & FD_CLOEXEC);
}

TEST_F(ListenTest, StaleSocketIsReused) {
	std::string chosen;
	int a = tap_stream_listen("", chosen, dir);
	ASSERT_GE(a, 0);
	close(a); // the file stays: stale
	ASSERT_TRUE(exists(path(1)));
	EXPECT_FALSE(tap_stream_path_live(path(1)));
	int b = keep(tap_stream_listen("", chosen, dir));
	ASSERT_GE(b, 0);
	EXPECT_EQ(chosen, path(1));
}

TEST_F(ListenTest, NonSocketFileIsSkipped) {
	int f = open(path(1).c_str(), O_CREAT | O_WRONLY, 0600);
	ASSERT_GE(f, 0);
	close(f);
	std::string chosen;
	int a = keep(tap_stream_listen("", chosen, dir));
	ASSERT_GE(a, 0);
	EXPECT_EQ(chosen, path(2));
	EXPECT_TRUE(exists(path(1))); // not removed
	std::string c2;
	EXPECT_EQ(tap_stream_listen(path(1), c2, dir), -EEXIST);
}

TEST_F(ListenTest, AllLive) {
	std::string chosen;
	for (unsigned i = 1; i <= TAP_STREAM_AUTO_MAX; i++) {
		ASSERT_GE(keep(tap_stream_listen("", chosen, dir)), 0);
		ASSERT_EQ(chosen, path(i));
	}
	EXPECT_EQ(tap_stream_listen("", chosen, dir), -EADDRINUSE);
}

TEST_F(ListenTest, ExplicitPath) {
	std::string p = dir + "/my.sock", chosen;
	int a = keep(tap_stream_listen(p, chosen, dir));
	ASSERT_GE(a, 0);
	EXPECT_EQ(chosen, p);
	std::string c2;
	EXPECT_EQ(tap_stream_listen(p, c2, dir), -EADDRINUSE);
	// The live socket was left alone.
	EXPECT_TRUE(tap_stream_path_live(p));

	std::string longp = dir + "/" + std::string(120, 'x');
	EXPECT_EQ(tap_stream_listen(longp, c2, dir), -ENAMETOOLONG);
	EXPECT_EQ(tap_stream_listen(dir + "/nodir/x.sock", c2, dir), -ENOENT);
}

TEST_F(ListenTest, ExplicitStalePathIsReplaced) {
	std::string p = dir + "/stale.sock", chosen;
	int a = tap_stream_listen(p, chosen, dir);
	ASSERT_GE(a, 0);
	close(a);
	int b = keep(tap_stream_listen(p, chosen, dir));
	EXPECT_GE(b, 0);
}

TEST_F(ListenTest, AcceptAndExchange) {
	std::string chosen;
	int l = keep(tap_stream_listen("", chosen, dir));
	ASSERT_GE(l, 0);
	EXPECT_EQ(tap_stream_accept(l), -EAGAIN);

	int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_GE(c, 0);
	keep(c);
	sockaddr_un sa{};
	sa.sun_family = AF_UNIX;
	std::strcpy(sa.sun_path, chosen.c_str());
	ASSERT_EQ(connect(c, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)), 0);
	int s = tap_stream_accept(l);
	ASSERT_GE(s, 0);

	TapStats st;
	auto be = std::make_unique<StreamBackend>(&st);
	FramePool<16> p(be->region());
	ASSERT_EQ(be->attach(s), 0);
	Bytes f = make_frame(5, 342);
	write_all_blocking(c, with_prefix(f));
	int n = 0;
	for (int i = 0; i < 100 && n == 0; i++) {
		pollfd pf{s, POLLIN, 0};
		poll(&pf, 1, 10);
		n = be->read_batch(p);
	}
	ASSERT_EQ(n, 1);
	EXPECT_EQ(Bytes(p.get(0).begin(), p.get(0).end()), f);
}

TEST(TapStreamHint, NamesThePath) {
	std::string h = tap_stream_qemu_hint("/tmp/passt_3.socket");
	EXPECT_NE(h.find("addr.path=/tmp/passt_3.socket"), std::string::npos);
	EXPECT_NE(h.find("-netdev stream"), std::string::npos);
}

} // namespace
