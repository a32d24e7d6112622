// Complete writes for blocking descriptors (log file, pcap file, stderr).
//
// #syscalls write writev
#include "passt/core/util.h"

#include <climits>

namespace passt {

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
