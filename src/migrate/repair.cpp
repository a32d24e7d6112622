// The daemon's end of the repair helper protocol.
//
// Theory of operation. Switching a TCP socket into or out of repair mode
// (setsockopt TCP_REPAIR) needs CAP_NET_ADMIN in the socket's network
// namespace, which the sandboxed daemon does not have. A small privileged
// helper, passt-repair(1), has it instead: before the sandbox the daemon
// listens on a UNIX stream socket (--repair-path; by default the
// vhost-user socket path with ".repair" appended), the helper connects to
// it, and the daemon lends it sockets when a migration needs them:
//
//   daemon -> helper   one byte, the command (1 TCP_REPAIR_ON, 0
//                      TCP_REPAIR_OFF, -1 TCP_REPAIR_OFF_NO_WP), with 1 to
//                      REPAIR_BATCH_MAX (SCM_MAX_FD, 253) sockets as
//                      SCM_RIGHTS ancillary data
//   helper -> daemon   the same byte, no ancillary data, once the option
//                      is set on every socket of the message
//
// The helper closes the connection when a command fails (and exits); the
// daemon closes it on an error of its own or when done. Every wait for the
// helper is bounded (poll with a timeout), so a helper that hangs or never
// comes fails a migration instead of stalling the daemon. Only one helper
// is connected at a time; a newer connection replaces an older one.
//
// #syscalls:init socket bind listen unlink unlinkat umask newfstatat
// #syscalls:vu accept4 poll|ppoll sendmsg recvfrom close
#include "passt/migrate/repair.h"

#include <cerrno>
#include <cstring>

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace passt {

std::string repair_default_path(const std::string &socket_path) { return socket_path + ".repair"; }

int repair_listen(RepairChannel &ch, const std::string &path) {
	sockaddr_un sun = {};
	sun.sun_family = AF_UNIX;
	if (path.empty() || path.size() >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, path.c_str(), path.size() + 1);

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	// A socket file left by an earlier instance would make bind() fail;
	// anything else at that name is not ours to remove.
	struct stat sb;
	if (!lstat(path.c_str(), &sb) && S_ISSOCK(sb.st_mode))
		unlink(path.c_str());
	// Owner-only: whoever connects gets sockets of ours to set options on.
	mode_t old = umask(0077);
	int rc = bind(fd, reinterpret_cast<const sockaddr *>(&sun), sizeof(sun));
	umask(old);
	if (rc < 0 || listen(fd, 1) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	ch.listen_fd = fd;
	ch.path = path;
	return 0;
}

namespace {

// Waits for events on fd up to timeout_ms. 1 ready, 0 timeout, -errno.
int wait_fd(int fd, short events, int timeout_ms) {
	pollfd p = {fd, events, 0};
	for (;;) {
		int n = poll(&p, 1, timeout_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		return n;
	}
}

void drop_conn(RepairChannel &ch) {
	if (ch.conn_fd >= 0)
		close(ch.conn_fd);
	ch.conn_fd = -1;
}

// One message and its echo; the connection is dropped on any error.
int send_one(RepairChannel &ch, std::span<const int> fds, uint8_t byte, int timeout_ms) {
	if (ch.conn_fd < 0)
		return -ENOTCONN;
	if (fds.size() > REPAIR_BATCH_MAX)
		return -EINVAL;

	alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * REPAIR_BATCH_MAX)] = {};
	iovec iov = {&byte, 1};
	msghdr mh = {};
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (!fds.empty()) {
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
		cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
		memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
	}

	int rc = wait_fd(ch.conn_fd, POLLOUT, timeout_ms);
	if (rc <= 0) {
		drop_conn(ch);
		return rc ? rc : -ETIMEDOUT;
	}
	ssize_t n;
	do
		n = sendmsg(ch.conn_fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n != 1) {
		int e = n < 0 ? errno : EIO;
		drop_conn(ch);
		return e == EPIPE ? -ECONNRESET : -e;
	}

	rc = wait_fd(ch.conn_fd, POLLIN, timeout_ms);
	if (rc <= 0) {
		drop_conn(ch);
		return rc ? rc : -ETIMEDOUT;
	}
	uint8_t echo = 0;
	do
		n = recv(ch.conn_fd, &echo, 1, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		int e = n < 0 ? errno : ECONNRESET;
		drop_conn(ch);
		return -e;
	}
	if (echo != byte) {
		drop_conn(ch);
		return -EPROTO;
	}
	return 0;
}

} // namespace

int repair_accept(RepairChannel &ch, int timeout_ms) {
	if (ch.listen_fd < 0)
		return -EBADF;
	int rc = wait_fd(ch.listen_fd, POLLIN, timeout_ms);
	if (rc <= 0)
		return rc ? rc : -ETIMEDOUT;
	int fd = accept4(ch.listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return errno == EAGAIN ? -ETIMEDOUT : -errno;
	drop_conn(ch);
	ch.conn_fd = fd;
	return 0;
}

int repair_set(RepairChannel &ch, std::span<const int> fds, int8_t cmd, int timeout_ms) {
	if (cmd != REPAIR_ON && cmd != REPAIR_OFF && cmd != REPAIR_OFF_NO_WP)
		return -EINVAL;
	if (fds.empty())
		return -EINVAL;
	while (!fds.empty()) {
		size_t n = fds.size() < REPAIR_BATCH_MAX ? fds.size() : REPAIR_BATCH_MAX;
		int rc = send_one(ch, fds.first(n), uint8_t(cmd), timeout_ms);
		if (rc < 0)
			return rc;
		fds = fds.subspan(n);
	}
	return 0;
}

int repair_send_raw(RepairChannel &ch, std::span<const int> fds, uint8_t byte, int timeout_ms) {
	return send_one(ch, fds, byte, timeout_ms);
}

void repair_close(RepairChannel &ch) {
	drop_conn(ch);
	if (ch.listen_fd >= 0)
		close(ch.listen_fd);
	ch.listen_fd = -1;
}

} // namespace passt
