// Complete writes for blocking descriptors (log file, pcap file, stderr),
// and forking a helper process with a channel to it.
//
// #syscalls write writev
// #syscalls:init socketpair clone set_robust_list openat dup2|dup3
#include "passt/core/util.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <climits>
#include <cstring>

namespace passt {

int stdio_to_fd(int fd) {
	int e = 0;
	for (int std_fd = STDIN_FILENO; std_fd <= STDERR_FILENO && !e; std_fd++)
		if (std_fd != fd && dup2(fd, std_fd) < 0)
			e = errno;
	if (fd > STDERR_FILENO)
		close(fd);
	return -e;
}

int stdio_to_dev_null() {
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : stdio_to_fd(fd);
}

pid_t fork_with_channel(int *fd) {
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		return -e;
	}
	close(sv[pid ? 1 : 0]);
	*fd = sv[pid ? 0 : 1];
	return pid;
}

int write_file(const char *path, const char *s) {
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t len = std::strlen(s);
	ssize_t n = write(fd, s, len);
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	return size_t(n) == len ? 0 : -EIO;
}

int write_all(int fd, const void *buf, size_t len) {
	const char *p = static_cast<const char *>(buf);
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= size_t(n);
	}
	return 0;
}

int writev_all(int fd, iovec *iov, size_t cnt) {
	// Skip empty leading entries so that a zero-length tail ends the loop.
	while (cnt && iov->iov_len == 0) {
		iov++;
		cnt--;
	}
	while (cnt) {
		int batch = cnt > size_t(IOV_MAX) ? IOV_MAX : int(cnt);
		ssize_t n = writev(fd, iov, batch);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		size_t done = size_t(n);
		while (cnt && done >= iov->iov_len) {
			done -= iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt && done) {
			iov->iov_base = static_cast<char *>(iov->iov_base) + done;
			iov->iov_len -= done;
		}
		while (cnt && iov->iov_len == 0) {
			iov++;
			cnt--;
		}
	}
	return 0;
}

} // namespace passt
