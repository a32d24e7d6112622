// EventStats (--stats): counts per kind from real dispatches, a header every
// HEADER_EVERY lines, silence while nothing moves, whole lines only.
#include <gtest/gtest.h>

#include <string>

#include <sys/eventfd.h>
#include <unistd.h>

#include "passt/core/epoll.h"
#include "passt/core/stats.h"

using namespace passt;

namespace {

void drain(void *, EpollRef ref, uint32_t, const timespec &) {
	uint64_t v;
	(void)!read(ref.fd, &v, sizeof(v));
}

// An event loop with handlers for tcp and udp, and an eventfd of each kind
// to signal.
struct StatsLoop {
	EventLoop loop;
	Fd tcp{eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
	Fd udp{eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};

	StatsLoop() {
		EXPECT_EQ(loop.init(), 0);
		loop.set_handler(RefKind::TcpSock, drain, nullptr);
		loop.set_handler(RefKind::UdpSock, drain, nullptr);
		EXPECT_EQ(loop.add(tcp.get(), EPOLLIN, EpollRef{RefKind::TcpSock, 0, 0}), 0);
		EXPECT_EQ(loop.add(udp.get(), EPOLLIN, EpollRef{RefKind::UdpSock, 0, 0}), 0);
	}
	void fire(const Fd &fd) {
		uint64_t one = 1;
		ASSERT_EQ(write(fd.get(), &one, sizeof(one)), ssize_t(sizeof(one)));
		ASSERT_EQ(loop.run_once(0), 1);
	}
};

std::string next(EventStats &s, size_t size = 4096) {
	std::string buf(size, '\0');
	size_t n = s.next(buf.data(), buf.size());
	buf.resize(n);
	return buf;
}

} // namespace

TEST(CoreStats, SilentUntilSomethingHappens) {
	StatsLoop l;
	EventStats s(l.loop);
	EXPECT_EQ(next(s), "");
}

TEST(CoreStats, HeaderThenTotalsOfHandledKindsOnly) {
	StatsLoop l;
	EventStats s(l.loop);
	l.fire(l.tcp);
	l.fire(l.tcp);
	l.fire(l.udp);
	EXPECT_EQ(l.loop.events_of(RefKind::TcpSock), 2u);
	EXPECT_EQ(l.loop.events_of(RefKind::UdpSock), 1u);
	EXPECT_EQ(next(s), "      tcp      udp\n        2        1\n");
	// Nothing moved: nothing printed.
	EXPECT_EQ(next(s), "");
	l.fire(l.udp);
	EXPECT_EQ(next(s), "        2        2\n");
}

TEST(CoreStats, HeaderRepeatsEveryHeaderEveryLines) {
	StatsLoop l;
	EventStats s(l.loop);
	unsigned headers = 0;
	for (unsigned i = 0; i < 2 * EventStats::HEADER_EVERY + 1; i++) {
		l.fire(l.tcp);
		std::string out = next(s);
		ASSERT_FALSE(out.empty());
		if (out.find("tcp") != std::string::npos) {
			EXPECT_EQ(i % EventStats::HEADER_EVERY, 0u) << "line " << i;
			headers++;
		}
	}
	EXPECT_EQ(headers, 3u);
}

TEST(CoreStats, ShortBufferGetsWholeLinesOrNothing) {
	StatsLoop l;
	EventStats s(l.loop);
	l.fire(l.tcp);
	// Room for the header line only: it is kept, the totals wait.
	std::string header = "      tcp      udp\n";
	EXPECT_EQ(next(s, header.size() + 4), header);
	// The totals were not printed, so they are still due (with the
	// header again, since no line of totals has been printed yet).
	EXPECT_EQ(next(s), header + "        1        0\n");
	// Too short even for the header: nothing.
	l.fire(l.tcp);
	EXPECT_EQ(next(s, 5), "");
	EXPECT_EQ(next(s), "        2        0\n");
}
