// EventLoop: typed reference packing, dispatch by kind, removal of
// descriptors whose kind has no handler, timer integration.
#include <gtest/gtest.h>

#include <cerrno>
#include <vector>

#include <sys/eventfd.h>
#include <unistd.h>

#include "passt/core/epoll.h"

using namespace passt;

namespace {

struct Seen {
	RefKind kind;
	int fd;
	uint32_t index;
	uint32_t events;
	void *ctx;
};

struct Recorder {
	std::vector<Seen> seen;
};

void record(void *ctx, EpollRef ref, uint32_t events, const timespec &) {
	auto *r = static_cast<Recorder *>(ctx);
	r->seen.push_back({ref.kind, ref.fd, ref.index, events, ctx});
	// Drain eventfds so level-triggered events don't repeat.
	uint64_t v;
	(void)!read(ref.fd, &v, sizeof(v));
}

// Non-blocking eventfd, signalled or not.
Fd make_eventfd(bool signalled) {
	Fd fd(eventfd(signalled ? 1 : 0, EFD_NONBLOCK | EFD_CLOEXEC));
	return fd;
}

void signal_fd(const Fd &fd) {
	uint64_t one = 1;
	ASSERT_EQ(write(fd.get(), &one, sizeof(one)), ssize_t(sizeof(one)));
}

} // namespace

TEST(CoreEpollRef, PackUnpackRoundTrip) {
	const int fds[] = {0, 1, 2, 1000, 65535, EpollRef::FD_MAX};
	const uint32_t indices[] = {0, 1, 0x7fff, 0x12345678, 0xffffffffu};
	for (size_t k = 0; k < size_t(RefKind::Count); k++) {
		for (int fd : fds) {
			for (uint32_t idx : indices) {
				EpollRef r;
				r.kind = RefKind(k);
				r.fd = fd;
				r.index = idx;
				EpollRef back = EpollRef::unpack(r.pack());
				EXPECT_EQ(back, r)
					<< "kind " << k << " fd " << fd << " idx " << idx;
			}
		}
	}
}

TEST(CoreEpollRef, FieldsDoNotOverlap) {
	EpollRef a;
	a.kind = RefKind::TcpSock;
	a.fd = EpollRef::FD_MAX;
	a.index = 0;
	EpollRef b = EpollRef::unpack(a.pack());
	EXPECT_EQ(b.index, 0u);
	EXPECT_EQ(b.kind, RefKind::TcpSock);

	a.fd = 0;
	a.index = 0xffffffffu;
	b = EpollRef::unpack(a.pack());
	EXPECT_EQ(b.fd, 0);
	EXPECT_EQ(b.kind, RefKind::TcpSock);

	EXPECT_EQ(EpollRef::unpack(0).kind, RefKind::None);
	EXPECT_EQ(EpollRef::unpack(0).index, 0u);
	// The same fd with different kinds or indices packs differently.
	EpollRef c{RefKind::UdpSock, 5, 7}, d{RefKind::UdpListen, 5, 7}, e{RefKind::UdpSock, 5, 8};
	EXPECT_NE(c.pack(), d.pack());
	EXPECT_NE(c.pack(), e.pack());
}

TEST(CoreEpollRef, KindNames) {
	EXPECT_STREQ(ref_kind_name(RefKind::TcpSock), "tcp");
	EXPECT_STREQ(ref_kind_name(RefKind::Count), "invalid");
	EXPECT_STREQ(ref_kind_name(RefKind(200)), "invalid");
	for (size_t k = 0; k < size_t(RefKind::Count); k++)
		EXPECT_STRNE(ref_kind_name(RefKind(k)), "invalid") << k;
}

TEST(CoreEventLoop, DispatchesByKind) {
	EventLoop loop;
	ASSERT_EQ(loop.init(), 0);
	Recorder tcp, udp;
	loop.set_handler(RefKind::TcpSock, record, &tcp);
	loop.set_handler(RefKind::UdpSock, record, &udp);

	Fd a = make_eventfd(false), b = make_eventfd(false);
	ASSERT_TRUE(a.valid() && b.valid());
	ASSERT_EQ(loop.add(a.get(), EPOLLIN, EpollRef{RefKind::TcpSock, -1, 42}), 0);
	ASSERT_EQ(loop.add(b.get(), EPOLLIN, EpollRef{RefKind::UdpSock, -1, 7}), 0);

	// Nothing ready: times out.
	EXPECT_EQ(loop.run_once(10), 0);
	EXPECT_TRUE(tcp.seen.empty());
	EXPECT_TRUE(udp.seen.empty());

	signal_fd(b);
	EXPECT_EQ(loop.run_once(2000), 1);
	ASSERT_EQ(udp.seen.size(), 1u);
	EXPECT_TRUE(tcp.seen.empty());
	EXPECT_EQ(udp.seen[0].kind, RefKind::UdpSock);
	EXPECT_EQ(udp.seen[0].fd, b.get()); // add() fills in the fd
	EXPECT_EQ(udp.seen[0].index, 7u);
	EXPECT_TRUE(udp.seen[0].events & EPOLLIN);
	EXPECT_EQ(udp.seen[0].ctx, &udp);

	signal_fd(a);
	signal_fd(b);
	EXPECT_EQ(loop.run_once(2000), 2);
	ASSERT_EQ(tcp.seen.size(), 1u);
	ASSERT_EQ(udp.seen.size(), 2u);
	EXPECT_EQ(tcp.seen[0].index, 42u);
	EXPECT_EQ(tcp.seen[0].fd, a.get());
}

TEST(CoreEventLoop, ModifyChangesRefAndRemoveStopsEvents) {
	EventLoop loop;
	ASSERT_EQ(loop.init(), 0);
	Recorder r;
	loop.set_handler(RefKind::PingSock, record, &r);
	Fd a = make_eventfd(false);
	ASSERT_EQ(loop.add(a.get(), EPOLLIN, EpollRef{RefKind::PingSock, 0, 1}), 0);
	ASSERT_EQ(loop.modify(a.get(), EPOLLIN, EpollRef{RefKind::PingSock, 0, 99}), 0);
	signal_fd(a);
	EXPECT_EQ(loop.run_once(2000), 1);
	ASSERT_EQ(r.seen.size(), 1u);
	EXPECT_EQ(r.seen[0].index, 99u);

	ASSERT_EQ(loop.remove(a.get()), 0);
	signal_fd(a);
	EXPECT_EQ(loop.run_once(20), 0);
	EXPECT_EQ(r.seen.size(), 1u);
	EXPECT_EQ(loop.remove(a.get()), -ENOENT);
}

TEST(CoreEventLoop, RejectsBadRegistrations) {
	EventLoop loop;
	ASSERT_EQ(loop.init(), 0);
	Fd a = make_eventfd(false);
	EXPECT_EQ(loop.add(-1, EPOLLIN, EpollRef{RefKind::TcpSock, 0, 0}), -EINVAL);
	EXPECT_EQ(loop.add(a.get(), EPOLLIN, EpollRef{RefKind::None, 0, 0}), -EINVAL);
	EXPECT_EQ(loop.add(a.get(), EPOLLIN, EpollRef{RefKind::Count, 0, 0}), -EINVAL);
	EXPECT_EQ(loop.add(a.get(), EPOLLIN, EpollRef{RefKind::TcpSock, 0, 0}), 0);
	EXPECT_EQ(loop.add(a.get(), EPOLLIN, EpollRef{RefKind::TcpSock, 0, 0}), -EEXIST);
	EXPECT_EQ(loop.modify(12345, EPOLLIN, EpollRef{RefKind::TcpSock, 0, 0}), -EBADF);
}

TEST(CoreEventLoop, UnhandledKindIsRemoved) {
	EventLoop loop;
	ASSERT_EQ(loop.init(), 0);
	Recorder handled;
	loop.set_handler(RefKind::TcpSock, record, &handled);

	// Level-triggered and never drained: would fire forever if kept.
	Fd orphan = make_eventfd(true);
	Fd ok = make_eventfd(false);
	ASSERT_EQ(loop.add(orphan.get(), EPOLLIN, EpollRef{RefKind::PingSock, 0, 3}), 0);
	ASSERT_EQ(loop.add(ok.get(), EPOLLIN, EpollRef{RefKind::TcpSock, 0, 0}), 0);

	EXPECT_EQ(loop.run_once(2000), 1);
	// Gone from the set: a second removal fails, and no more events.
	EXPECT_EQ(loop.remove(orphan.get()), -ENOENT);
	EXPECT_EQ(loop.run_once(20), 0);

	// The loop still works for handled kinds.
	signal_fd(ok);
	EXPECT_EQ(loop.run_once(2000), 1);
	EXPECT_EQ(handled.seen.size(), 1u);

	// A handler can also be cleared, with the same effect.
	loop.set_handler(RefKind::TcpSock, nullptr, nullptr);
	signal_fd(ok);
	EXPECT_EQ(loop.run_once(2000), 1);
	EXPECT_EQ(handled.seen.size(), 1u);
	EXPECT_EQ(loop.remove(ok.get()), -ENOENT);
}

TEST(CoreEventLoop, ManyEventsInOneWakeUp) {
	EventLoop loop;
	ASSERT_EQ(loop.init(), 0);
	Recorder r;
	loop.set_handler(RefKind::UdpListen, record, &r);
	std::vector<Fd> fds;
	const int n = EventLoop::MAX_EVENTS + 10;
	for (int i = 0; i < n; i++) {
		fds.push_back(make_eventfd(true));
		ASSERT_TRUE(fds.back().valid());
		ASSERT_EQ(loop.add(fds.back().get(), EPOLLIN,
				   EpollRef{RefKind::UdpListen, 0, uint32_t(i)}),
			  0);
	}
	int total = 0;
	for (int round = 0; round < 10 && total < n; round++) {
		int got = loop.run_once(2000);
		ASSERT_GT(got, 0);
		EXPECT_LE(got, EventLoop::MAX_EVENTS);
		total += got;
	}
	EXPECT_EQ(total, n);
	std::vector<bool> hit(n, false);
	for (const Seen &s : r.seen) {
		ASSERT_LT(s.index, uint32_t(n));
		EXPECT_FALSE(hit[s.index]) << "index " << s.index << " twice";
		hit[s.index] = true;
		EXPECT_EQ(s.fd, fds[s.index].get());
	}
}

namespace {
struct StopCtx {
	EventLoop *loop;
	int calls = 0;
};
void stop_handler(void *ctx, EpollRef ref, uint32_t, const timespec &) {
	auto *s = static_cast<StopCtx *>(ctx);
	uint64_t v;
	(void)!read(ref.fd, &v, sizeof(v));
	if (++s->calls == 3)
		s->loop->stop();
}
void resignal_timer(void *ctx, const timespec &) {
	uint64_t one = 1;
	(void)!write(*static_cast<int *>(ctx), &one, sizeof(one));
}
} // namespace

TEST(CoreEventLoop, RunUntilStop) {
	EventLoop loop;
	ASSERT_EQ(loop.init(), 0);
	EXPECT_TRUE(loop.running());
	StopCtx s{&loop};
	loop.set_handler(RefKind::Signal, stop_handler, &s);
	Fd a = make_eventfd(true);
	int afd = a.get();
	ASSERT_EQ(loop.add(a.get(), EPOLLIN, EpollRef{RefKind::Signal, 0, 0}), 0);
	// A timer re-signals the eventfd every 5 ms; the third event stops.
	ASSERT_GE(loop.timers().add("resignal", 5, resignal_timer, &afd), 0);
	alarm(10); // a hang fails the test run instead of blocking forever
	EXPECT_EQ(loop.run(), 0);
	alarm(0);
	EXPECT_FALSE(loop.running());
	EXPECT_EQ(s.calls, 3);
}

namespace {
void count_timer(void *ctx, const timespec &) { ++*static_cast<int *>(ctx); }
} // namespace

TEST(CoreEventLoop, TimersBoundTheWait) {
	EventLoop loop;
	ASSERT_EQ(loop.init(), 0);
	int fired = 0;
	ASSERT_GE(loop.timers().add("count", 20, count_timer, &fired), 0);
	timespec start = now_monotonic();
	// With no fds, run_once(-1) returns only thanks to the timer.
	while (fired < 3 && timespec_diff_ms(now_monotonic(), start) < 5000)
		ASSERT_GE(loop.run_once(-1), 0);
	int64_t elapsed = timespec_diff_ms(now_monotonic(), start);
	EXPECT_EQ(fired, 3);
	EXPECT_GE(elapsed, 55); // three 20 ms periods, minus rounding slack
	EXPECT_LT(elapsed, 5000);

	// An explicit timeout shorter than the timer wins.
	Timers &t = loop.timers();
	EXPECT_EQ(t.size(), 1u);
	EXPECT_STREQ(t.name(0), "count");
	start = now_monotonic();
	EventLoop idle;
	ASSERT_EQ(idle.init(), 0);
	EXPECT_EQ(idle.run_once(15), 0);
	EXPECT_GE(timespec_diff_ms(now_monotonic(), start), 10);
}

TEST(CoreEventLoop, UninitialisedLoopFails) {
	EventLoop loop;
	EXPECT_EQ(loop.run_once(0), -EBADF);
	EXPECT_EQ(loop.add(0, EPOLLIN, EpollRef{RefKind::TcpSock, 0, 0}), -EBADF);
}

namespace {
// Closes the other of two descriptors on the first event, and puts a new,
// quiet eventfd under the same number (as accept() could), registered with
// another index.
struct CloseOther {
	EventLoop *loop;
	int fds[2];
	std::vector<uint32_t> seen;
	Fd replacement;
};
void close_other(void *ctx, EpollRef ref, uint32_t, const timespec &) {
	auto *c = static_cast<CloseOther *>(ctx);
	c->seen.push_back(ref.index);
	uint64_t v;
	(void)!read(ref.fd, &v, sizeof(v));
	if (c->seen.size() > 1)
		return;
	int other = c->fds[ref.index ^ 1];
	c->loop->remove(other);
	close(other);
	c->replacement = make_eventfd(false);
	ASSERT_EQ(c->replacement.get(), other); // the lowest free number
	c->loop->add(c->replacement.get(), EPOLLIN, EpollRef{RefKind::UdpListen, 0, 99});
}
} // namespace

// An event fetched in the same batch for a descriptor a handler removed is
// dropped, not delivered to what now uses the number.
TEST(CoreEventLoop, RemoveCancelsEventsLaterInTheBatch) {
	EventLoop loop;
	ASSERT_EQ(loop.init(), 0);
	CloseOther c{&loop, {-1, -1}, {}, Fd()};
	Fd a = make_eventfd(true), b = make_eventfd(true);
	c.fds[0] = a.get();
	c.fds[1] = b.get();
	loop.set_handler(RefKind::UdpListen, close_other, &c);
	ASSERT_EQ(loop.add(a.get(), EPOLLIN, EpollRef{RefKind::UdpListen, 0, 0}), 0);
	ASSERT_EQ(loop.add(b.get(), EPOLLIN, EpollRef{RefKind::UdpListen, 0, 1}), 0);
	EXPECT_EQ(loop.run_once(2000), 2); // both fetched in one batch
	ASSERT_EQ(c.seen.size(), 1u);      // ... but only one delivered
	// The closed one's Fd wrapper must not close the replacement's number.
	(c.seen[0] == 0 ? b : a).release();
	// The replacement works normally afterwards.
	uint64_t one = 1;
	ASSERT_EQ(write(c.replacement.get(), &one, sizeof(one)), ssize_t(sizeof(one)));
	EXPECT_EQ(loop.run_once(2000), 1);
	ASSERT_EQ(c.seen.size(), 2u);
	EXPECT_EQ(c.seen[1], 99u);
}
