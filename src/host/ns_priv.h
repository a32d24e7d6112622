// Helpers shared by the ns_*.cpp files (not part of include/passt/host/ns.h):
// error strings, descriptor passing over the AF_UNIX channels to our
// children, and waiting for them.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstring>
#include <string>

#include <unistd.h>

namespace passt::ns_detail {

inline void set_err(std::string *err, const std::string &msg) {
	if (err)
		*err = msg;
}

inline std::string errstr(int e) { return std::strerror(e); }

inline void close_fd(int *fd) {
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

// True if fd refers to the same namespace as our own /proc/self/ns/<kind>.
bool is_own_ns(int fd, const char *kind);

// sendmsg() of buf with up to NS_CALL_MAX_FDS descriptors attached.
int send_with_fds(int sock, const void *buf, size_t len, const int *fds, unsigned nfds);

// recvmsg() counterpart: returns bytes read (0 on EOF) or -errno; received
// descriptors (O_CLOEXEC) go to fds, their count to *nfds.
ssize_t recv_with_fds(int sock, void *buf, size_t len, int *fds, unsigned *nfds);

// waitpid(), retried on EINTR.
pid_t waitpid_retry(pid_t pid, int *st, int flags);

} // namespace passt::ns_detail
