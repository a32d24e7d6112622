// util.h: Fd ownership, complete writes, iovec helpers.
#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>
#include <string>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "passt/core/util.h"

using namespace passt;

namespace {
bool fd_open(int fd) { return fcntl(fd, F_GETFD) >= 0; }
} // namespace

TEST(CoreUtil, ArraySize) {
	int a[7];
	static_assert(array_size(a) == 7);
	EXPECT_EQ(array_size(a), 7u);
}

TEST(CoreFd, ClosesOnDestructionAndRelease) {
	int p[2];
	ASSERT_EQ(pipe(p), 0);
	{
		Fd r(p[0]);
		EXPECT_TRUE(r.valid());
		EXPECT_EQ(r.get(), p[0]);
	}
	EXPECT_FALSE(fd_open(p[0]));

	int raw;
	{
		Fd w(p[1]);
		raw = w.release();
		EXPECT_FALSE(w.valid());
	}
	EXPECT_TRUE(fd_open(raw));

	Fd a(raw);
	Fd b(std::move(a));
	EXPECT_FALSE(a.valid());
	EXPECT_EQ(b.get(), raw);
	Fd c;
	c = std::move(b);
	EXPECT_EQ(c.get(), raw);
	c.reset();
	EXPECT_FALSE(fd_open(raw));
	EXPECT_FALSE(c);
}

TEST(CoreUtil, WriteAllAndWritevAll) {
	int p[2];
	ASSERT_EQ(pipe(p), 0);
	Fd r(p[0]), w(p[1]);
	ASSERT_EQ(write_all(w.get(), "hello ", 6), 0);
	std::string a = "wor", b = "", c = "ld!";
	iovec v[4] = {{a.data(), a.size()}, {b.data(), 0}, {c.data(), c.size()}, {b.data(), 0}};
	EXPECT_EQ(iov_length(v, 4), 6u);
	ASSERT_EQ(writev_all(w.get(), v, 4), 0);
	ASSERT_EQ(writev_all(w.get(), v, 0), 0);
	char buf[64] = {};
	ASSERT_EQ(read(r.get(), buf, sizeof(buf)), 12);
	EXPECT_STREQ(buf, "hello world!");

	EXPECT_EQ(write_all(-1, "x", 1), -EBADF);
	r.reset();
	struct sigaction ign {
	}, old{};
	ign.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &ign, &old);
	EXPECT_EQ(write_all(w.get(), "x", 1), -EPIPE);
	sigaction(SIGPIPE, &old, nullptr);
}

TEST(CoreUtil, WritevAllLargerThanPipe) {
	// More data than a pipe holds, read concurrently: exercises short writes.
	int p[2];
	ASSERT_EQ(pipe(p), 0);
	Fd r(p[0]), w(p[1]);
	std::string big(1 << 20, 'z');
	for (size_t i = 0; i < big.size(); i++)
		big[i] = char('a' + i % 23);
	pid_t pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		r.reset();
		iovec v[3] = {{big.data(), 1000},
			      {big.data() + 1000, 500000},
			      {big.data() + 501000, big.size() - 501000}};
		_exit(writev_all(w.get(), v, 3) == 0 ? 0 : 1);
	}
	w.reset();
	std::string got;
	char buf[65536];
	ssize_t n;
	while ((n = read(r.get(), buf, sizeof(buf))) > 0)
		got.append(buf, size_t(n));
	int st = 0;
	waitpid(pid, &st, 0);
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	EXPECT_TRUE(got == big);
}
