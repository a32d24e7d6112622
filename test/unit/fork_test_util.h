// Helpers for unit tests whose body must run in a child process (one that
// unshares namespaces, opens tap devices, ...): the child gets a deadline,
// reports failures on stderr, and its exit code becomes the test result.
#pragma once

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>

#include "passt/host/ns.h"

namespace passt::test {

// In a child body: on failure print the condition and errno, exit 1.
#define CHK(c)                                                                                  \
	do {                                                                                    \
		if (!(c)) {                                                                     \
			std::fprintf(stderr, "%s:%d: check failed: %s (errno: %s)\n", __FILE__, \
				     __LINE__, #c, std::strerror(errno));                       \
			return 1;                                                               \
		}                                                                               \
	} while (0)

// In a child body: run a check helper that returns such an exit code, and
// return it if it is not 0.
#define CHK_OK(expr)                       \
	do {                               \
		if (int rc_ = (expr); rc_) \
			return rc_;        \
	} while (0)

// Exit code of a child body that found its environment lacking (no user
// namespaces, no /dev/net/tun): the test is skipped, not failed.
inline constexpr int CHILD_SKIP = 77;

// Runs body in a forked child killed by SIGALRM after timeout_s; returns
// the child's exit code (128 + signal if killed).
inline int run_forked(const std::function<int()> &body, unsigned timeout_s = 20) {
	std::fflush(nullptr);
	pid_t pid = fork();
	if (pid == 0) {
		alarm(timeout_s);
		_exit(body());
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return ns_exit_code(st);
}

} // namespace passt::test

// Runs the body forked: CHILD_SKIP skips the test, anything but 0 fails it.
#define RUN_FORKED(...)                                                               \
	do {                                                                          \
		int rc_ = passt::test::run_forked(__VA_ARGS__);                       \
		if (rc_ == passt::test::CHILD_SKIP)                                   \
			GTEST_SKIP() << "environment: see the child's message above"; \
		ASSERT_EQ(rc_, 0);                                                    \
	} while (0)
