// pasta's namespace handling: running code inside the target namespace.
//
// Theory of operation
// -------------------
// pasta serves one network namespace but must itself stay in the namespace
// it was started in: its host-side sockets (the whole point of the
// translation) live there. Three things need the target namespace:
//   - opening the tap device (/dev/net/tun creates it in the caller's netns)
//   - netlink configuration of that device, sysctls such as
//     net.ipv4.ping_group_range, sockets for the loopback bypass
//   - the spawned command, which lives there for good.
//
// setns(2) into a network namespace needs CAP_SYS_ADMIN over its owning user
// namespace, which an unprivileged pasta only has after joining that user
// namespace, and once there it can never return to the original network
// namespace (that would need CAP_SYS_ADMIN in the initial user namespace).
// So pasta never moves: whatever has to happen inside runs in a forked,
// single-threaded, disposable child that enters the user namespace (if it is
// not ours already), then the network namespace, does its work and hands
// results back over an AF_UNIX SOCK_SEQPACKET socketpair, file descriptors
// with SCM_RIGHTS (ns_call). A socket or tun fd keeps belonging to the
// namespace it was created in, so the parent can use it from outside; as the
// owner of the user namespace we spawned, the parent also holds every
// capability over that namespace, which netlink and bind() checks want.
//
// ns_call() is that child: fork (fork_with_channel()), ns_enter(), run the
// function, send a CallHdr with its int, up to NS_CALL_MAX_DATA bytes and
// up to NS_CALL_MAX_FDS descriptors back, _exit(). A child that dies before
// reporting shows as -ECHILD. The descriptor passing here is shared with
// the other ns_*.cpp files (ns_priv.h).
//
// The rest of the namespace handling: ns_join.cpp (opening a PID's or a
// --netns file's namespaces), ns_helper.cpp (the long-lived socket
// helper), ns_sysctl.cpp, ns_spawn.cpp (the spawned command), ns_signal.cpp
// (the signalfd, for passt too) and ns_watch.cpp (a joined namespace going
// away).
//
// #syscalls:pasta recvmsg sendmsg wait4 close
// #syscalls:init setns fstat newfstatat socket exit_group
#include "passt/host/ns.h"

#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "passt/core/util.h"
#include "ns_priv.h"

namespace passt {

namespace ns_detail {

// True if fd refers to the same namespace as our own /proc/self/ns/<kind>.
bool is_own_ns(int fd, const char *kind) {
	char path[64];
	std::snprintf(path, sizeof(path), "/proc/self/ns/%s", kind);
	struct stat a, b;
	if (fstat(fd, &a) || stat(path, &b))
		return false;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// sendmsg() of buf with up to NS_CALL_MAX_FDS descriptors attached.
int send_with_fds(int sock, const void *buf, size_t len, const int *fds, unsigned nfds) {
	struct iovec iov = {const_cast<void *>(buf), len};
	union {
		char buf[CMSG_SPACE(sizeof(int) * NS_CALL_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct msghdr mh = {};
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds > NS_CALL_MAX_FDS)
		nfds = NS_CALL_MAX_FDS;
	if (nfds) {
		std::memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		std::memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	ssize_t n;
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : 0;
}

// recvmsg() counterpart: returns bytes read (0 on EOF) or -errno; received
// descriptors (O_CLOEXEC) go to fds, their count to *nfds.
ssize_t recv_with_fds(int sock, void *buf, size_t len, int *fds, unsigned *nfds) {
	struct iovec iov = {buf, len};
	union {
		char buf[CMSG_SPACE(sizeof(int) * NS_CALL_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct msghdr mh = {};
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof(u.buf);
	ssize_t n;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	*nfds = 0;
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < cnt; i++) {
			int fd;
			std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*nfds < NS_CALL_MAX_FDS)
				fds[(*nfds)++] = fd;
			else
				close(fd);
		}
	}
	if (mh.msg_flags & MSG_CTRUNC) {
		for (unsigned i = 0; i < *nfds; i++)
			close(fds[i]);
		*nfds = 0;
		return -EMSGSIZE;
	}
	return n;
}

pid_t waitpid_retry(pid_t pid, int *st, int flags) {
	pid_t r;
	do
		r = waitpid(pid, st, flags);
	while (r < 0 && errno == EINTR);
	return r;
}

} // namespace ns_detail

using namespace ns_detail;

namespace {

// Header of the message an ns_call() child sends back.
struct CallHdr {
	int enter_err; // errno from entering the namespace, 0 if fn ran
	int ret;
	uint32_t len;
};

} // namespace

int ns_enter(const NsHandle &ns) {
	if (ns.netns_fd < 0)
		return -EBADF;
	if (ns.userns_fd >= 0 && !is_own_ns(ns.userns_fd, "user")) {
		if (setns(ns.userns_fd, CLONE_NEWUSER))
			return -errno;
	}
	if (setns(ns.netns_fd, CLONE_NEWNET))
		return -errno;
	return 0;
}

int ns_call(const NsHandle &ns, NsFn fn, void *arg, NsCallOut *out) {
	*out = NsCallOut{};
	int chan;
	pid_t pid = fork_with_channel(&chan);
	if (pid < 0)
		return int(pid);
	if (pid == 0) {
		struct {
			CallHdr h;
			unsigned char data[NS_CALL_MAX_DATA];
		} msg = {};
		int rc = ns_enter(ns);
		if (rc < 0) {
			msg.h.enter_err = -rc;
			send_with_fds(chan, &msg.h, sizeof(msg.h), nullptr, 0);
			_exit(1);
		}
		NsCallOut res;
		fn(arg, &res);
		msg.h.ret = res.ret;
		msg.h.len = uint32_t(res.len > NS_CALL_MAX_DATA ? NS_CALL_MAX_DATA : res.len);
		std::memcpy(msg.data, res.data, msg.h.len);
		rc = send_with_fds(chan, &msg, sizeof(msg.h) + msg.h.len, res.fds,
				   res.nfds > NS_CALL_MAX_FDS ? NS_CALL_MAX_FDS : res.nfds);
		_exit(rc < 0 ? 1 : 0);
	}

	struct {
		CallHdr h;
		unsigned char data[NS_CALL_MAX_DATA];
	} msg = {};
	int fds[NS_CALL_MAX_FDS];
	unsigned nfds = 0;
	ssize_t n = recv_with_fds(chan, &msg, sizeof(msg), fds, &nfds);
	close(chan);
	int st;
	waitpid_retry(pid, &st, 0);

	if (n < 0)
		return int(n);
	if (size_t(n) < sizeof(msg.h) || msg.h.len > NS_CALL_MAX_DATA ||
	    size_t(n) != sizeof(msg.h) + msg.h.len) {
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		return -ECHILD; // the helper died before reporting
	}
	if (msg.h.enter_err) {
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		return -msg.h.enter_err;
	}
	out->ret = msg.h.ret;
	out->len = msg.h.len;
	std::memcpy(out->data, msg.data, msg.h.len);
	out->nfds = nfds;
	for (unsigned i = 0; i < nfds; i++)
		out->fds[i] = fds[i];
	return 0;
}

int ns_socket(const NsHandle &ns, int domain, int type, int protocol) {
	NsCallOut out;
	int rc = ns_run(
		ns,
		[&](NsCallOut *o) {
			int s = socket(domain, type, protocol);
			if (s < 0) {
				o->ret = -errno;
				return;
			}
			o->fds[0] = s;
			o->nfds = 1;
		},
		&out);
	if (rc < 0)
		return rc;
	if (out.ret < 0)
		return out.ret;
	if (out.nfds != 1) {
		for (unsigned i = 0; i < out.nfds; i++)
			close(out.fds[i]);
		return -EPROTO;
	}
	return out.fds[0];
}

} // namespace passt
