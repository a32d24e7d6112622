// Small helpers shared by every module: compile-time array sizes, timespec
// arithmetic, an owning file descriptor and complete (EINTR- and
// short-write-safe) writes. Nothing here allocates.
//
// #syscalls clock_gettime close
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <utility>

#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

namespace passt {

template <class T, size_t N> constexpr size_t array_size(const T (&)[N]) { return N; }

constexpr int64_t NS_PER_SEC = 1000000000LL;
constexpr int64_t NS_PER_MS = 1000000LL;

// a - b in nanoseconds (negative if a is earlier).
constexpr int64_t timespec_diff_ns(const timespec &a, const timespec &b) {
	return (int64_t(a.tv_sec) - int64_t(b.tv_sec)) * NS_PER_SEC +
	       (int64_t(a.tv_nsec) - int64_t(b.tv_nsec));
}

// a - b in milliseconds, truncated towards zero.
constexpr int64_t timespec_diff_ms(const timespec &a, const timespec &b) {
	return timespec_diff_ns(a, b) / NS_PER_MS;
}

// t + ms milliseconds, normalised (0 <= tv_nsec < 1e9).
constexpr timespec timespec_add_ms(const timespec &t, int64_t ms) {
	int64_t ns = int64_t(t.tv_nsec) + (ms % 1000) * NS_PER_MS;
	int64_t s = int64_t(t.tv_sec) + ms / 1000;
	while (ns >= NS_PER_SEC) {
		ns -= NS_PER_SEC;
		s++;
	}
	while (ns < 0) {
		ns += NS_PER_SEC;
		s--;
	}
	timespec r{};
	r.tv_sec = time_t(s);
	r.tv_nsec = long(ns);
	return r;
}

// True if a is strictly earlier than b.
constexpr bool timespec_before(const timespec &a, const timespec &b) {
	return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

inline timespec now_monotonic() {
	timespec t{};
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t;
}

inline timespec now_realtime() {
	timespec t{};
	clock_gettime(CLOCK_REALTIME, &t);
	return t;
}

// Owning file descriptor: closes on destruction, move-only.
class Fd {
public:
	Fd() = default;
	explicit Fd(int fd) : fd_(fd) {}
	Fd(const Fd &) = delete;
	Fd &operator=(const Fd &) = delete;
	Fd(Fd &&o) noexcept : fd_(o.release()) {}
	Fd &operator=(Fd &&o) noexcept {
		if (this != &o)
			reset(o.release());
		return *this;
	}
	~Fd() { reset(); }

	int get() const { return fd_; }
	bool valid() const { return fd_ >= 0; }
	explicit operator bool() const { return valid(); }

	// Give up ownership without closing; returns the descriptor.
	int release() { return std::exchange(fd_, -1); }

	// Close the current descriptor (if any) and own fd instead.
	void reset(int fd = -1) {
		if (fd_ >= 0 && fd_ != fd)
			close(fd_);
		fd_ = fd;
	}

private:
	int fd_ = -1;
};

// fork() with an AF_UNIX SOCK_SEQPACKET channel (O_CLOEXEC) between parent
// and child: returns the child's PID in the parent and 0 in the child, *fd
// being each one's end, or -errno with nothing left open.
pid_t fork_with_channel(int *fd);

// Points standard input, output and error at /dev/null: for helper
// processes, which must not hold the caller's terminal or pipes open (a
// caller waiting for EOF on our output, as Podman does, would wait for
// them too). Returns 0 or -errno.
int stdio_to_dev_null();
// The same with an fd already open on /dev/null (before the root became
// empty), which is closed unless it is one of the three.
int stdio_to_fd(int fd);

// Writes the string s to the file at path in one write() (maps, sysctls
// under /proc). Returns 0, or -errno (-EIO for a short write).
int write_file(const char *path, const char *s);

// Write all len bytes, retrying on EINTR and short writes.
// Returns 0, or -errno on failure (EAGAIN included: callers with
// non-blocking descriptors must not use this).
int write_all(int fd, const void *buf, size_t len);

// writev() all of iov[0..cnt), retrying on EINTR and short writes.
// iov is modified (advanced) in place. Returns 0 or -errno.
int writev_all(int fd, iovec *iov, size_t cnt);

// Total length of an iovec array.
inline size_t iov_length(const iovec *iov, size_t cnt) {
	size_t n = 0;
	for (size_t i = 0; i < cnt; i++)
		n += iov[i].iov_len;
	return n;
}

} // namespace passt
