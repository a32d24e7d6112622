// Unit tests for the spliced TCP path (src/tcp/splice.cpp), over real TCP
// sockets on this namespace's loopback: two client/server pairs, the
// server ends joined by a flow, data driven through the event loop.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "passt/core/util.h"
#include "passt/tcp/splice.h"

using namespace passt;

namespace {

// A connected pair over 127.0.0.1: a client and the accepted socket.
struct Pair {
	int client = -1, server = -1;
	~Pair() {
		if (client >= 0)
			close(client);
		if (server >= 0)
			close(server);
	}
};

bool make_pair(Pair &p) {
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		return false;
	sockaddr_in sa{};
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof(sa);
	bool ok = bind(l, reinterpret_cast<sockaddr *>(&sa), sl) == 0 && listen(l, 4) == 0 &&
		  getsockname(l, reinterpret_cast<sockaddr *>(&sa), &sl) == 0;
	if (ok) {
		p.client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ok = p.client >= 0 &&
		     connect(p.client, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)) == 0;
	}
	if (ok) {
		p.server = accept4(l, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
		ok = p.server >= 0;
	}
	close(l);
	return ok;
}

// Bytes readable on fd within timeout_ms, appended to out; 0 on EOF,
// -errno on error, 1 if data came (or timeout with none: -ETIMEDOUT).
int read_some(int fd, std::vector<char> &out, int timeout_ms) {
	pollfd pfd{fd, POLLIN, 0};
	if (poll(&pfd, 1, timeout_ms) <= 0)
		return -ETIMEDOUT;
	char buf[65536];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN ? 1 : -errno;
	if (n == 0)
		return 0;
	out.insert(out.end(), buf, buf + n);
	return 1;
}

int64_t ts_ns_of(const timespec &t) { return int64_t(t.tv_sec) * 1000000000 + t.tv_nsec; }

class SpliceTest : public ::testing::Test {
protected:
	void SetUp() override {
		ASSERT_EQ(loop.init(), 0);
		ASSERT_EQ(flows.init(64), 0);
		ctx = std::make_unique<SpliceCtx>(SpliceCtx{c, loop, flows, helper});
		ASSERT_EQ(tcp_splice_init(*ctx), 0);
		EXPECT_TRUE(ctx->listeners.empty()); // no -T in this Config
	}
	void TearDown() override { tcp_splice_fini(*ctx); }

	// Join a.server and b.server; a.client and b.client then talk.
	uint32_t join(Pair &a, Pair &b) {
		uint32_t idx =
			tcp_splice_join(*ctx, a.server, b.server, false, false, now_monotonic());
		a.server = b.server = -1; // taken by the flow
		return idx;
	}
	void spin(int rounds = 5) {
		for (int i = 0; i < rounds; i++)
			loop.run_once(10);
	}
	// Run the loop until fd has data/EOF/error; then read it.
	int pump_read(int fd, std::vector<char> &out) {
		for (int i = 0; i < 500; i++) {
			loop.run_once(5);
			int rc = read_some(fd, out, 0);
			if (rc != -ETIMEDOUT)
				return rc;
		}
		return -ETIMEDOUT;
	}

	Config c;
	EventLoop loop;
	FlowTable flows;
	NsSocketHelper helper; // never started: fd -1
	std::unique_ptr<SpliceCtx> ctx;
};

TEST_F(SpliceTest, EventsFollowState) {
	SpliceFlow t;
	t.flags = splf::connecting;
	EXPECT_EQ(tcp_splice_events(t, 0), 0u);
	EXPECT_EQ(tcp_splice_events(t, 1), uint32_t(EPOLLOUT));
	t.flags = 0;
	EXPECT_EQ(tcp_splice_events(t, 0), uint32_t(EPOLLIN));
	EXPECT_EQ(tcp_splice_events(t, 1), uint32_t(EPOLLIN));
	// Direction 0 blocked: stop reading side 0, wait for side 1 to drain.
	t.flags = splf::blocked0;
	EXPECT_EQ(tcp_splice_events(t, 0), 0u);
	EXPECT_EQ(tcp_splice_events(t, 1), uint32_t(EPOLLIN | EPOLLOUT));
	// Side 1 at EOF: nothing more to read there.
	t.flags = splf::eof1;
	EXPECT_EQ(tcp_splice_events(t, 1), 0u);
	EXPECT_EQ(tcp_splice_events(t, 0), uint32_t(EPOLLIN));
}

TEST_F(SpliceTest, DataBothWays) {
	Pair a, b;
	ASSERT_TRUE(make_pair(a));
	ASSERT_TRUE(make_pair(b));
	uint32_t idx = join(a, b);
	ASSERT_NE(idx, FLOW_NONE);
	EXPECT_EQ(flows.in_use(), 1u);
	EXPECT_NE(flows.get(idx, FlowType::TcpSplice), nullptr);

	const char msg[] = "hello through the pipe";
	ASSERT_EQ(send(a.client, msg, sizeof(msg), 0), ssize_t(sizeof(msg)));
	std::vector<char> got;
	while (got.size() < sizeof(msg))
		ASSERT_EQ(pump_read(b.client, got), 1);
	EXPECT_EQ(std::memcmp(got.data(), msg, sizeof(msg)), 0);

	const char reply[] = "and back";
	ASSERT_EQ(send(b.client, reply, sizeof(reply), 0), ssize_t(sizeof(reply)));
	got.clear();
	while (got.size() < sizeof(reply))
		ASSERT_EQ(pump_read(a.client, got), 1);
	EXPECT_EQ(std::memcmp(got.data(), reply, sizeof(reply)), 0);
	EXPECT_EQ(ctx->stats.bytes[0], sizeof(msg));
	EXPECT_EQ(ctx->stats.bytes[1], sizeof(reply));
	// Small exchanges leave the pipes at the kernel's default size.
	const SpliceFlow &t = flows.get(idx, FlowType::TcpSplice)->state<SpliceFlow>();
	for (unsigned d = 0; d < 2; d++) {
		EXPECT_LT(t.pipe_size[d] & ~SPLICE_PIPE_FIXED, uint32_t(SPLICE_PIPE_SIZE));
		EXPECT_EQ(fcntl(t.pipe[d][0], F_GETPIPE_SZ),
			  int(t.pipe_size[d] & ~SPLICE_PIPE_FIXED));
	}
}

TEST_F(SpliceTest, BulkWithSlowReaderIsComplete) {
	Pair a, b;
	ASSERT_TRUE(make_pair(a));
	ASSERT_TRUE(make_pair(b));
	ASSERT_NE(join(a, b), FLOW_NONE);

	// More than the pipe and both socket buffers hold: the direction must
	// block and resume, not drop or reorder.
	std::vector<char> data(32 << 20);
	for (size_t i = 0; i < data.size(); i++)
		data[i] = char(i * 7 + (i >> 12));
	size_t sent = 0;
	auto send_more = [&] {
		if (sent < data.size()) {
			ssize_t n = send(a.client, data.data() + sent, data.size() - sent,
					 MSG_DONTWAIT);
			if (n > 0)
				sent += size_t(n);
		}
	};
	auto blocked = [&] {
		bool any = false;
		flows.for_each([&](uint32_t, Flow &f) {
			if (f.state<SpliceFlow>().flags & splf::blocked0)
				any = true;
		});
		return any;
	};
	// Phase 1: nobody reads, until the direction is blocked.
	bool saw_blocked = false;
	for (int i = 0; i < 2000 && !saw_blocked; i++) {
		send_more();
		loop.run_once(1);
		saw_blocked = blocked();
	}
	EXPECT_TRUE(saw_blocked) << "sent " << sent;
	EXPECT_LT(sent, data.size());
	// Phase 2: read everything (20 s at most).
	std::vector<char> got;
	const int64_t deadline = ts_ns_of(now_monotonic()) + 20 * int64_t(1000000000);
	while (got.size() < data.size() && ts_ns_of(now_monotonic()) < deadline) {
		send_more();
		loop.run_once(1);
		while (read_some(b.client, got, 0) == 1 && got.size() < data.size()) {
		}
	}
	ASSERT_EQ(got.size(), data.size());
	EXPECT_TRUE(got == data);
	EXPECT_FALSE(blocked());
	// The bulk direction filled its pipe, which was enlarged (where the
	// kernel allows it); the idle one was not.
	flows.for_each([&](uint32_t, Flow &f) {
		const SpliceFlow &t = f.state<SpliceFlow>();
		int size0 = fcntl(t.pipe[0][0], F_GETPIPE_SZ);
		if (!(t.pipe_size[0] & SPLICE_PIPE_FIXED)) {
			EXPECT_EQ(t.pipe_size[0], uint32_t(SPLICE_PIPE_SIZE));
			EXPECT_EQ(size0, SPLICE_PIPE_SIZE);
		}
		EXPECT_LT(fcntl(t.pipe[1][0], F_GETPIPE_SZ), SPLICE_PIPE_SIZE);
	});
}

TEST_F(SpliceTest, HalfCloseBothWaysThenFlowCloses) {
	Pair a, b;
	ASSERT_TRUE(make_pair(a));
	ASSERT_TRUE(make_pair(b));
	ASSERT_NE(join(a, b), FLOW_NONE);

	ASSERT_EQ(send(a.client, "abc", 3, 0), 3);
	ASSERT_EQ(shutdown(a.client, SHUT_WR), 0);
	std::vector<char> got;
	int rc;
	while ((rc = pump_read(b.client, got)) == 1) {
	}
	EXPECT_EQ(rc, 0) << "EOF expected after the data";
	EXPECT_EQ(std::string(got.begin(), got.end()), "abc");

	// The other direction still works after the half-close.
	ASSERT_EQ(send(b.client, "xyz", 3, 0), 3);
	ASSERT_EQ(shutdown(b.client, SHUT_WR), 0);
	got.clear();
	while ((rc = pump_read(a.client, got)) == 1) {
	}
	EXPECT_EQ(rc, 0);
	EXPECT_EQ(std::string(got.begin(), got.end()), "xyz");
	spin();
	EXPECT_EQ(flows.in_use(), 0u) << "flow must close when both directions are done";
	EXPECT_EQ(ctx->stats.resets, 0u);
}

TEST_F(SpliceTest, ResetIsPassedOn) {
	Pair a, b;
	ASSERT_TRUE(make_pair(a));
	ASSERT_TRUE(make_pair(b));
	ASSERT_NE(join(a, b), FLOW_NONE);
	ASSERT_EQ(send(a.client, "x", 1, 0), 1);
	std::vector<char> got;
	ASSERT_EQ(pump_read(b.client, got), 1);

	linger lg{1, 0};
	setsockopt(a.client, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(a.client);
	a.client = -1;
	int rc;
	while ((rc = pump_read(b.client, got)) == 1) {
	}
	EXPECT_EQ(rc, -ECONNRESET);
	EXPECT_EQ(flows.in_use(), 0u);
	EXPECT_EQ(ctx->stats.resets, 1u);
}

TEST_F(SpliceTest, FromHostWithoutHelperResetsClient) {
	Pair a;
	ASSERT_TRUE(make_pair(a));
	int fd = a.server;
	a.server = -1;
	EXPECT_FALSE(
		tcp_splice_from_host(*ctx, fd, InAny(Ipv4Addr::loopback()), 9, now_monotonic()));
	EXPECT_EQ(fcntl(fd, F_GETFD), -1) << "the accepted socket must be taken";
	std::vector<char> got;
	EXPECT_EQ(read_some(a.client, got, 2000), -ECONNRESET);
	EXPECT_EQ(flows.in_use(), 0u);
}

TEST_F(SpliceTest, ConnectingFlowWaitsThenRefusalResets) {
	// A connect to a closed loopback port through the flow: the accepted
	// side must see a reset.
	Pair a;
	ASSERT_TRUE(make_pair(a));
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sockaddr_in sa{};
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof(sa);
	ASSERT_EQ(bind(l, reinterpret_cast<sockaddr *>(&sa), sl), 0);
	ASSERT_EQ(getsockname(l, reinterpret_cast<sockaddr *>(&sa), &sl), 0);
	close(l); // bound, never listening: the port is closed now
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ASSERT_GE(s, 0);
	int rc = connect(s, reinterpret_cast<sockaddr *>(&sa), sizeof(sa));
	if (rc == 0 || errno != EINPROGRESS) {
		close(s);
		GTEST_SKIP() << "loopback connect completed synchronously";
	}
	uint32_t idx = tcp_splice_join(*ctx, a.server, s, true, false, now_monotonic());
	a.server = -1;
	ASSERT_NE(idx, FLOW_NONE);
	std::vector<char> got;
	int r;
	while ((r = pump_read(a.client, got)) == 1) {
	}
	EXPECT_EQ(r, -ECONNRESET);
	EXPECT_EQ(flows.in_use(), 0u);
}

} // namespace

namespace {

timespec later(const timespec &t, int64_t ms) {
	timespec r = t;
	r.tv_sec += time_t(ms / 1000);
	r.tv_nsec += long(ms % 1000) * 1000000L;
	if (r.tv_nsec >= 1000000000L) {
		r.tv_sec++;
		r.tv_nsec -= 1000000000L;
	}
	return r;
}

} // namespace

// A connection half-closed by one side whose other side never closes: reset
// after the FIN timeout without activity, not held forever.
TEST_F(SpliceTest, HalfClosedIdleFlowIsResetAfterFinTimeout) {
	Pair a, b;
	ASSERT_TRUE(make_pair(a));
	ASSERT_TRUE(make_pair(b));
	uint32_t idx = join(a, b);
	ASSERT_NE(idx, FLOW_NONE);
	ASSERT_EQ(shutdown(a.client, SHUT_WR), 0);
	std::vector<char> got;
	ASSERT_EQ(pump_read(b.client, got), 0) << "the half-close must be passed on";
	spin();
	ASSERT_EQ(flows.in_use(), 1u);
	const timespec last = flows.get(idx, FlowType::TcpSplice)->last_active;

	tcp_splice_timer(*ctx, later(last, TCP_FIN_TIMEOUT_MS - 1000));
	EXPECT_EQ(flows.in_use(), 1u) << "reset before the FIN timeout";
	tcp_splice_timer(*ctx, later(last, TCP_FIN_TIMEOUT_MS));
	EXPECT_EQ(flows.in_use(), 0u);
	EXPECT_EQ(ctx->stats.resets, 1u);
	// The side that never closed sees the reset.
	int rc;
	got.clear();
	while ((rc = read_some(a.client, got, 2000)) == 1) {
	}
	EXPECT_EQ(rc, -ECONNRESET);
}

// Both directions open, nothing moving: reset after the idle timeout only.
TEST_F(SpliceTest, IdleFlowIsResetAfterIdleTimeoutOnly) {
	Pair a, b;
	ASSERT_TRUE(make_pair(a));
	ASSERT_TRUE(make_pair(b));
	uint32_t idx = join(a, b);
	ASSERT_NE(idx, FLOW_NONE);
	const timespec last = flows.get(idx, FlowType::TcpSplice)->last_active;
	tcp_splice_timer(*ctx, later(last, TCP_FIN_TIMEOUT_MS * 2));
	tcp_splice_timer(*ctx, later(last, TCP_IDLE_TIMEOUT_MS - 1000));
	EXPECT_EQ(flows.in_use(), 1u) << "an open, idle flow lives until the idle timeout";

	// Activity moves the deadline.
	ASSERT_EQ(send(a.client, "x", 1, 0), 1);
	std::vector<char> got;
	ASSERT_EQ(pump_read(b.client, got), 1);
	const timespec active = flows.get(idx, FlowType::TcpSplice)->last_active;
	EXPECT_GT(ts_ns_of(active), ts_ns_of(last));
	tcp_splice_timer(*ctx, later(active, TCP_IDLE_TIMEOUT_MS - 1000));
	EXPECT_EQ(flows.in_use(), 1u);
	tcp_splice_timer(*ctx, later(active, TCP_IDLE_TIMEOUT_MS));
	EXPECT_EQ(flows.in_use(), 0u);
}

// A connect that never completes ends at the handshake timeout.
TEST_F(SpliceTest, PendingConnectIsResetAfterHandshakeTimeout) {
	Pair a, b;
	ASSERT_TRUE(make_pair(a));
	ASSERT_TRUE(make_pair(b));
	// Marked connecting and the loop never run: as if no answer came.
	const timespec start = now_monotonic();
	uint32_t idx = tcp_splice_join(*ctx, a.server, b.server, true, false, start);
	a.server = b.server = -1;
	ASSERT_NE(idx, FLOW_NONE);
	tcp_splice_timer(*ctx, later(start, TCP_HANDSHAKE_TIMEOUT_MS - 1000));
	EXPECT_EQ(flows.in_use(), 1u);
	tcp_splice_timer(*ctx, later(start, TCP_HANDSHAKE_TIMEOUT_MS));
	EXPECT_EQ(flows.in_use(), 0u);
	std::vector<char> got;
	EXPECT_EQ(read_some(a.client, got, 2000), -ECONNRESET);
}
