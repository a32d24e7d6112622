// pasta's namespace handling.
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
// For sockets needed later, after fork() may be forbidden, a long-lived
// helper (NsSocketHelper) stays in the namespace and creates them on demand.
// It confines itself as the daemon does (src/host/isolation.cpp): a user
// namespace of its own (its sockets still belong to the network namespace
// it entered), an empty root, no capabilities, and a seccomp list of the
// few calls its loop makes. It keeps its uid, so that it can also relay
// pasta's signals to the spawned command once pasta itself, started by
// root, has become nobody and may no longer signal it. It ends when pasta's
// end of the socket pair closes, whichever process holds it then (pasta
// forks away after starting it).
//
// Spawning (no PID or --netns given): fork a child that unshare()s a user
// and network namespace, writes its own maps ("0 UID 1", setgroups "deny",
// "0 GID 1": allowed for an unprivileged writer because it maps only its own
// ids), passes /proc/self/ns/{net,user} to the parent and blocks on the
// socketpair. The parent creates and configures the tap device meanwhile,
// then releases the child, which resets its signal mask and execs COMMAND.
// /proc/net and /proc/sys/net already follow the reader's network namespace,
// so the command sees its own network in /proc without remounting anything.
//
// Termination: SIGCHLD and the termination signals come through a signalfd
// for the epoll loop. Signals sent to pasta are forwarded to the command;
// when the command exits pasta exits with its status (128 + signal number if
// it was killed). For a joined namespace an fd (pidfd, inotify or a timer)
// reports when the reference the user gave (the PID, the --netns file) is
// gone. That fd, and the directory of a --netns file, are opened before
// the sandbox; afterwards only fds are used.
//
// #syscalls read close
// #syscalls:pasta recvmsg sendmsg sendto wait4 kill poll|ppoll getpgid getpgrp
// #syscalls:pasta newfstatat pread64
// #syscalls:init fork clone unshare setns socketpair openat open write prctl
// #syscalls:init rt_sigprocmask signalfd4 pidfd_open inotify_init1 inotify_add_watch
// #syscalls:init timerfd_create timerfd_settime ioctl fstat execve exit_group
// #syscalls:init close_range fcntl set_robust_list geteuid getegid getpid getppid
// #syscalls:init rt_sigaction mount
// #syscalls:helper recvfrom recv sendmsg socket close kill exit_group rt_sigreturn
// #syscalls:helper restart_syscall
#include "passt/host/ns.h"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "passt/core/util.h"
#include "passt/host/isolation.h"

namespace passt {

namespace {

void set_err(std::string *err, const std::string &msg)
{
	if (err)
		*err = msg;
}

std::string errstr(int e)
{
	return std::strerror(e);
}

void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

// True if fd refers to the same namespace as our own /proc/self/ns/<kind>.
bool is_own_ns(int fd, const char *kind)
{
	char path[64];
	std::snprintf(path, sizeof(path), "/proc/self/ns/%s", kind);
	struct stat a, b;
	if (fstat(fd, &a) || stat(path, &b))
		return false;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// Namespace type (CLONE_NEW*) of an nsfs fd, or -errno (ENOTTY: not nsfs).
int ns_type(int fd)
{
	int t = ioctl(fd, NS_GET_NSTYPE);
	return t < 0 ? -errno : t;
}

// sendmsg() of buf with up to NS_CALL_MAX_FDS descriptors attached.
int send_with_fds(int sock, const void *buf, size_t len, const int *fds, unsigned nfds)
{
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
ssize_t recv_with_fds(int sock, void *buf, size_t len, int *fds, unsigned *nfds)
{
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

pid_t waitpid_retry(pid_t pid, int *st, int flags)
{
	pid_t r;
	do
		r = waitpid(pid, st, flags);
	while (r < 0 && errno == EINTR);
	return r;
}

// Header of the message an ns_call() child sends back.
struct CallHdr {
	int enter_err; // errno from entering the namespace, 0 if fn ran
	int ret;
	uint32_t len;
};

// Header of the spawned child's messages: the first, with the namespaces'
// fds, and in a new PID namespace a second from the command itself.
struct SpawnHdr {
	int err;      // errno, 0: namespaces created
	int stage;    // what failed, see spawn_stage_name()
	pid_t pid;    // new PID namespace: the command, as pasta sees it
	int proc_err; // from the command: errno of mounting /proc, 0: mounted
	int from_command; // 1: the command's message, 0: our child's
};

const char *spawn_stage_name(int stage)
{
	switch (stage) {
	case 1: return "unshare()";
	case 2: return "writing /proc/self/setgroups";
	case 3: return "writing /proc/self/uid_map";
	case 4: return "writing /proc/self/gid_map";
	case 5: return "opening /proc/self/ns";
	case 6: return "joining the --userns namespace";
	case 7: return "starting the command in its PID namespace";
	default: return "starting";
	}
}

const int term_signals[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};

} // namespace

void ns_handle_close(NsHandle *ns)
{
	close_fd(&ns->netns_fd);
	close_fd(&ns->userns_fd);
	ns->pid = 0;
	ns->netns_path.clear();
}

std::string ns_netns_path(const std::string &name_or_path)
{
	if (name_or_path.empty() || name_or_path.find('/') != std::string::npos)
		return name_or_path;
	return "/run/netns/" + name_or_path;
}

int ns_join(pid_t pid, const std::string &netns, const std::string &userns, bool netns_only,
	    NsHandle *out, std::string *err)
{
	ns_handle_close(out);
	if (pid > 0 && !netns.empty()) {
		set_err(err, "a target PID and --netns are mutually exclusive");
		return -EINVAL;
	}
	if (pid <= 0 && netns.empty()) {
		set_err(err, "no target namespace: need a PID or --netns");
		return -EINVAL;
	}
	if (netns_only && !userns.empty()) {
		set_err(err, "--userns and --netns-only are mutually exclusive");
		return -EINVAL;
	}

	std::string path = pid > 0 ? "/proc/" + std::to_string(pid) + "/ns/net"
				   : ns_netns_path(netns);
	int nfd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
	if (nfd < 0) {
		int e = errno;
		set_err(err, "cannot open network namespace " + path + ": " + errstr(e));
		return -e;
	}
	int t = ns_type(nfd);
	if (t != CLONE_NEWNET) {
		close(nfd);
		set_err(err, path + " is not a network namespace");
		return -EINVAL;
	}

	int ufd = -1;
	if (!netns_only) {
		std::string upath;
		if (!userns.empty())
			upath = userns;
		else if (pid > 0)
			upath = "/proc/" + std::to_string(pid) + "/ns/user";

		if (!upath.empty()) {
			ufd = open(upath.c_str(), O_RDONLY | O_CLOEXEC);
			if (ufd < 0) {
				int e = errno;
				close(nfd);
				set_err(err, "cannot open user namespace " + upath + ": " +
						     errstr(e));
				return -e;
			}
			if (ns_type(ufd) != CLONE_NEWUSER) {
				close(ufd);
				close(nfd);
				set_err(err, upath + " is not a user namespace");
				return -EINVAL;
			}
		} else {
			// Owner of the netns; EPERM means it is an ancestor of
			// our own user namespace: nothing to join then.
			ufd = ioctl(nfd, NS_GET_USERNS);
			if (ufd < 0 && errno != EPERM) {
				int e = errno;
				close(nfd);
				set_err(err, "cannot find the user namespace owning " + path +
						     ": " + errstr(e));
				return -e;
			}
			if (ufd >= 0)
				fcntl(ufd, F_SETFD, FD_CLOEXEC);
		}
		if (ufd >= 0 && is_own_ns(ufd, "user"))
			close_fd(&ufd);
	}

	out->netns_fd = nfd;
	out->userns_fd = ufd;
	out->pid = pid > 0 ? pid : 0;
	out->netns_path = pid > 0 ? std::string() : path;
	return 0;
}

int ns_enter(const NsHandle &ns)
{
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

int ns_call(const NsHandle &ns, NsFn fn, void *arg, NsCallOut *out)
{
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

int ns_socket(const NsHandle &ns, int domain, int type, int protocol)
{
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

namespace {

// A request to the socket helper: a socket (domain, type, protocol), or a
// signal (a) for the command it was started for.
struct HelperReq {
	enum Op : int { Socket = 0, Signal = 1 } op;
	int a, b, c;
};

// What the helper's loop calls, and nothing else (see isolation.cpp).
const long helper_syscalls[] = {
	__NR_recvfrom, __NR_recvmsg, __NR_sendmsg, __NR_socket, __NR_close, __NR_kill,
	__NR_exit_group, __NR_rt_sigreturn, __NR_restart_syscall,
#ifdef __NR_recv
	__NR_recv,
#endif
};

// Main loop of the socket helper: one answer per request, until EOF.
[[noreturn]] void socket_helper_loop(int sock, pid_t signal_target)
{
	for (;;) {
		HelperReq req;
		ssize_t n;
		do
			n = recv(sock, &req, sizeof(req), 0);
		while (n < 0 && errno == EINTR);
		if (n <= 0)
			_exit(0);
		const bool whole = size_t(n) == sizeof(req);
		int e = EINVAL;
		int s = -1;
		if (whole && req.op == HelperReq::Signal) {
			e = signal_target <= 0 ? ESRCH
			    : (kill(signal_target, req.a) < 0 ? errno : 0);
		} else if (whole && req.op == HelperReq::Socket) {
			s = socket(req.a, req.b, req.c);
			e = s < 0 ? errno : 0;
		}
		send_with_fds(sock, &e, sizeof(e), &s, s >= 0 ? 1 : 0);
		if (s >= 0)
			close(s);
	}
}

} // namespace

int ns_socket_helper_start(const NsHandle &ns, NsSocketHelper *h, pid_t signal_target)
{
	int chan;
	pid_t pid = fork_with_channel(&chan);
	if (pid < 0)
		return int(pid);
	if (pid == 0) {
		// Terminal and termination signals are for the command and
		// pasta, not for us: we end when pasta's end of chan closes.
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGINT);
		sigaddset(&set, SIGQUIT);
		sigaddset(&set, SIGHUP);
		sigaddset(&set, SIGTERM);
		sigprocmask(SIG_BLOCK, &set, nullptr);
		// Drop every inherited descriptor: duplicates held here would keep
		// the parent's sockets (and whoever reads its output) waiting
		// after it closes them. The namespace fds go once we are in.
		int e = -stdio_to_dev_null();
		int keep_hi = std::max({chan, ns.netns_fd, ns.userns_fd});
		for (int fd = 3; fd <= keep_hi; fd++)
			if (fd != chan && fd != ns.netns_fd && fd != ns.userns_fd)
				close(fd);
		close_range(unsigned(keep_hi) + 1, ~0U, 0);
		int rc = e ? 0 : ns_enter(ns);
		if (rc < 0)
			e = -rc;
		if (ns.netns_fd >= 0)
			close(ns.netns_fd);
		if (ns.userns_fd >= 0)
			close(ns.userns_fd);
		if (!e && (rc = isolate_helper_process(helper_syscalls)) < 0)
			e = -rc;
		send_with_fds(chan, &e, sizeof(e), nullptr, 0);
		if (e)
			_exit(1);
		socket_helper_loop(chan, signal_target);
	}
	int e = 0;
	int fds[NS_CALL_MAX_FDS];
	unsigned nfds;
	ssize_t n = recv_with_fds(chan, &e, sizeof(e), fds, &nfds);
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
	if (n != sizeof(e) || e) {
		close(chan);
		int st;
		waitpid_retry(pid, &st, 0);
		return n < 0 ? int(n) : (e ? -e : -ECHILD);
	}
	h->pid = pid;
	h->fd = chan;
	return 0;
}

namespace {

// One request to the socket helper and its answer: an errno, with one
// descriptor attached exactly when want_fd and the request succeeded.
// Returns the descriptor (want_fd) or 0, or -errno.
int helper_request(NsSocketHelper &h, const HelperReq &req, bool want_fd)
{
	if (h.fd < 0)
		return -EBADF;
	int rc = send_with_fds(h.fd, &req, sizeof(req), nullptr, 0);
	if (rc < 0)
		return rc;
	int e = 0;
	int fds[NS_CALL_MAX_FDS];
	unsigned nfds;
	ssize_t n = recv_with_fds(h.fd, &e, sizeof(e), fds, &nfds);
	if (n < 0)
		return int(n);
	const unsigned expected = want_fd && !e ? 1 : 0;
	if (n != sizeof(e) || nfds != expected) {
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		return n == 0 ? -ECHILD : -EPROTO;
	}
	if (e)
		return -e;
	return want_fd ? fds[0] : 0;
}

} // namespace

int ns_socket_helper_socket(NsSocketHelper &h, int domain, int type, int protocol)
{
	return helper_request(h, {HelperReq::Socket, domain, type, protocol}, true);
}

int ns_socket_helper_signal(NsSocketHelper &h, int sig)
{
	return helper_request(h, {HelperReq::Signal, sig, 0, 0}, false);
}

void ns_socket_helper_stop(NsSocketHelper *h)
{
	close_fd(&h->fd);
	if (h->pid > 0) {
		kill(h->pid, SIGKILL);
		int st;
		waitpid_retry(h->pid, &st, 0);
	}
	h->pid = -1;
}

int ns_set_ping_group_range_here()
{
	static const char path[] = "/proc/sys/net/ipv4/ping_group_range";
	int rc = write_file(path, "0 2147483647\n");
	if (rc != -EINVAL)
		return rc;

	// Both ends must be mapped in our user namespace: use the lowest and
	// highest group IDs of /proc/self/gid_map instead.
	FILE *f = std::fopen("/proc/self/gid_map", "re");
	if (!f)
		return -errno;
	unsigned long lo = ULONG_MAX, hi = 0, in, outer, cnt;
	while (std::fscanf(f, "%lu %lu %lu", &in, &outer, &cnt) == 3) {
		if (!cnt)
			continue;
		if (in < lo)
			lo = in;
		if (in + cnt - 1 > hi)
			hi = in + cnt - 1;
	}
	std::fclose(f);
	if (lo == ULONG_MAX)
		return -EINVAL;
	if (hi > 2147483647UL)
		hi = 2147483647UL;
	if (lo > hi)
		return -EINVAL;
	char buf[64];
	std::snprintf(buf, sizeof(buf), "%lu %lu\n", lo, hi);
	return write_file(path, buf);
}

int ns_set_ping_group_range(const NsHandle &ns)
{
	NsCallOut out;
	int rc = ns_run(ns, [](NsCallOut *o) { o->ret = ns_set_ping_group_range_here(); }, &out);
	return rc < 0 ? rc : out.ret;
}

int ns_exit_code(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return 1;
}

namespace {

// The paused command's side of ns_spawn_command(), in the child: enter or
// create the namespaces, report them, wait for the go, exec. Never returns.
[[noreturn]] void spawn_child(const NsSpawn &how, int chan, pid_t parent, char *const *argv,
			      const char *uid_map, const char *gid_map)
{
	// While paused, die with pasta; cleared before exec.
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	// A non-dumpable process (after a uid change) has root-owned
	// /proc/self files, and could not write its own maps.
	prctl(PR_SET_DUMPABLE, 1);

	const int flags = CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC |
			  (how.new_userns ? CLONE_NEWUSER : 0) |
			  (how.new_pidns ? CLONE_NEWPID | CLONE_NEWNS : 0);
	SpawnHdr h = {0, 0, 0, 0, 0};
	int rc = 0;
	if (how.userns_fd >= 0 && setns(how.userns_fd, CLONE_NEWUSER)) {
		h = {errno, 6, 0, 0, 0};
	} else if (unshare(flags)) {
		h = {errno, 1, 0, 0, 0};
	} else if (how.new_userns) {
		rc = write_file("/proc/self/setgroups", "deny\n");
		if (rc < 0 && rc != -ENOENT)
			h = {-rc, 2, 0, 0, 0};
		else if ((rc = write_file("/proc/self/uid_map", uid_map)) < 0)
			h = {-rc, 3, 0, 0, 0};
		else if ((rc = write_file("/proc/self/gid_map", gid_map)) < 0)
			h = {-rc, 4, 0, 0, 0};
	}
	int fds[2] = {-1, -1};
	if (!h.err) {
		fds[0] = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		fds[1] = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
		if (fds[0] < 0 || fds[1] < 0)
			h = {errno, 5, 0, 0, 0};
	}
	// The new PID namespace holds our next child, not us: that child
	// becomes the command, PID 1 there, and pasta's child rather than
	// ours (CLONE_PARENT), so that pasta reaps it and gets its status.
	// We only tell pasta its PID, and go.
	if (!h.err && how.new_pidns) {
		long pid = syscall(SYS_clone, CLONE_PARENT, nullptr, nullptr, nullptr, nullptr);
		if (pid < 0) {
			h = {errno, 7, 0, 0, 0};
		} else if (pid > 0) {
			h.pid = pid_t(pid);
			send_with_fds(chan, &h, sizeof(h), fds, 2);
			_exit(0);
		}
		// pid == 0: the command, below
	}
	if (h.err || !how.new_pidns) {
		send_with_fds(chan, &h, sizeof(h), fds, h.err ? 0 : 2);
		if (h.err)
			_exit(1);
	}
	if (how.new_pidns) {
		// The command, PID 1: its own /proc, so that ps and /proc/PID
		// show its namespace. Best effort (a /proc with parts
		// mounted over cannot be mounted again without privileges),
		// and kept from propagating to the mounts we came from.
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) ||
		    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr))
			h.proc_err = errno;
		// Our parent reports the namespaces; we say whether /proc
		// is new.
		h.from_command = 1;
		send_with_fds(chan, &h, sizeof(h), nullptr, 0);
	}
	close(fds[0]);
	close(fds[1]);

	char go;
	ssize_t n;
	do
		n = read(chan, &go, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(1); // pasta gave up: never run the command
	close(chan);

	prctl(PR_SET_PDEATHSIG, 0);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, nullptr);
	execvp(argv[0], argv);
	int e = errno;
	std::fprintf(stderr, "pasta: cannot run %s: %s\n", argv[0], std::strerror(e));
	_exit(e == ENOENT ? 127 : 126);
}

} // namespace

int ns_spawn_command(const std::vector<std::string> &argv, const NsSpawn &how, NsHandle *ns,
		     NsCommand *cmd, std::string *err)
{
	*cmd = NsCommand{};
	ns_handle_close(ns);

	// Everything the child needs is prepared before fork().
	std::vector<std::string> args = argv;
	if (args.empty()) {
		const char *sh = getenv("SHELL");
		args.emplace_back(sh && *sh ? sh : "/bin/sh");
	}
	std::vector<char *> cargv;
	cargv.reserve(args.size() + 1);
	for (auto &a : args)
		cargv.push_back(a.data());
	cargv.push_back(nullptr);

	char uid_map[64], gid_map[64];
	std::snprintf(uid_map, sizeof(uid_map), "0 %u 1\n", unsigned(geteuid()));
	std::snprintf(gid_map, sizeof(gid_map), "0 %u 1\n", unsigned(getegid()));

	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		int e = errno;
		set_err(err, "socketpair: " + errstr(e));
		return -e;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		set_err(err, "fork: " + errstr(e));
		return -e;
	}
	if (pid == 0) {
		close(sv[0]);
		spawn_child(how, sv[1], parent, cargv.data(), uid_map, gid_map);
	}

	close(sv[1]);
	// The namespaces (h, from our child), and in a new PID namespace the
	// command's own report (h2), in either order.
	SpawnHdr h = {}, h2 = {};
	int fds[NS_CALL_MAX_FDS];
	unsigned nfds = 0;
	bool got_ns = false, got_cmd = !how.new_pidns;
	ssize_t n = 0;
	while (!got_ns || (!got_cmd && !h.err)) {
		SpawnHdr m = {};
		int f[NS_CALL_MAX_FDS];
		unsigned nf = 0;
		n = recv_with_fds(sv[0], &m, sizeof(m), f, &nf);
		if (n != sizeof(m)) {
			for (unsigned i = 0; i < nf; i++)
				close(f[i]);
			break;
		}
		if (m.from_command) {
			h2 = m;
			got_cmd = true;
			for (unsigned i = 0; i < nf; i++)
				close(f[i]);
			continue;
		}
		h = m;
		got_ns = true;
		nfds = nf;
		std::copy(f, f + nf, fds);
	}
	bool ok = got_ns && got_cmd && !h.err && nfds == 2 && (!how.new_pidns || h.pid > 0);
	if (how.new_pidns) {
		// Our child only made the namespaces, and has exited or will.
		int st;
		waitpid_retry(pid, &st, 0);
		pid = h.pid;
	}
	if (!ok) {
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		close(sv[0]);
		int st;
		if (pid > 0) {
			kill(pid, SIGKILL);
			waitpid_retry(pid, &st, 0);
		}
		int e = n < 0 ? int(-n) : (h.err ? h.err : ECHILD);
		set_err(err, std::string("creating the namespace for the command: ") +
				     spawn_stage_name(h.err ? h.stage : 0) + ": " + errstr(e));
		return -e;
	}

	ns->netns_fd = fds[0];
	ns->userns_fd = fds[1];
	if (!how.new_userns && how.userns_fd < 0)
		close_fd(&ns->userns_fd);
	ns->pid = pid;
	cmd->pid = pid;
	cmd->ctl_fd = sv[0];
	if (how.new_pidns) {
		// PID 1 of a namespace only gets the signals it handles: see
		// ns_signalfd_handle() for how we make up for that.
		char path[48];
		std::snprintf(path, sizeof(path), "/proc/%d/status", int(pid));
		cmd->status_fd = open(path, O_RDONLY | O_CLOEXEC);
		cmd->own_proc = !h2.proc_err;
		cmd->proc_errno = h2.proc_err;
	}
	return 0;
}

int ns_release_command(NsCommand *cmd)
{
	if (cmd->ctl_fd < 0)
		return -EBADF;
	char go = 'g';
	ssize_t n;
	do
		n = send(cmd->ctl_fd, &go, 1, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	int e = errno;
	close_fd(&cmd->ctl_fd);
	return n == 1 ? 0 : -e;
}

bool ns_command_poll(NsCommand *cmd)
{
	if (cmd->exited)
		return true;
	if (cmd->pid <= 0)
		return false;
	int st;
	pid_t r = waitpid_retry(cmd->pid, &st, WNOHANG);
	if (r == cmd->pid) {
		cmd->exited = true;
		cmd->exit_code = ns_exit_code(st);
		// Killed for a signal it did not handle as PID 1: the status
		// that signal would have given.
		if (cmd->killed_by && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
			cmd->exit_code = 128 + cmd->killed_by;
	} else if (r < 0 && errno == ECHILD) {
		cmd->exited = true; // reaped elsewhere: status unknown
		cmd->exit_code = 1;
	}
	if (cmd->exited) {
		close_fd(&cmd->ctl_fd);
		close_fd(&cmd->status_fd);
	}
	return cmd->exited;
}

void ns_kill_command(NsCommand *cmd)
{
	if (cmd->pid <= 0 || cmd->exited) {
		close_fd(&cmd->ctl_fd);
		return;
	}
	// Signal first: closing the socket first would let a paused child
	// see EOF and exit by itself.
	kill(cmd->pid, SIGKILL);
	close_fd(&cmd->ctl_fd);
	int st;
	if (waitpid_retry(cmd->pid, &st, 0) == cmd->pid)
		cmd->exit_code = ns_exit_code(st);
	cmd->exited = true;
	close_fd(&cmd->status_fd);
}

int ns_signalfd_open()
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (int s : term_signals)
		sigaddset(&set, s);
	if (sigprocmask(SIG_BLOCK, &set, nullptr))
		return -errno;
	int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

namespace {

// Started by root, we are nobody by now: the helper, which kept the
// command's uid, signals it for us.
void command_signal(NsCommand *cmd, int sig)
{
	if (kill(cmd->pid, sig) < 0 && errno == EPERM && cmd->relay)
		ns_socket_helper_signal(*cmd->relay, sig);
}

// The bit of sig in a "SigIgn:" or "SigCgt:" line of /proc/PID/status.
bool status_mask_has(const char *status, const char *field, int sig)
{
	const char *p = std::strstr(status, field);
	if (!p)
		return false;
	p += std::strlen(field);
	while (*p == ' ' || *p == '\t')
		p++;
	char *end = nullptr;
	unsigned long long mask = std::strtoull(p, &end, 16);
	return end != p && sig >= 1 && sig <= 64 && (mask >> (sig - 1)) & 1;
}

// Whether the command, as PID 1 of its PID namespace, would act on sig:
// it does if it catches it (or ignores it, which is acting too). If its
// status can't be read, assume it does: better a command left running
// than one killed that would have cleaned up.
bool command_takes_signal(const NsCommand &cmd, int sig)
{
	char buf[4096];
	ssize_t n = pread(cmd.status_fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	return status_mask_has(buf, "\nSigCgt:", sig) || status_mask_has(buf, "\nSigIgn:", sig);
}

} // namespace

NsSignalResult ns_signalfd_handle(int sfd, NsCommand *cmd)
{
	NsSignalResult r;
	bool have_cmd = cmd && cmd->pid > 0;
	for (;;) {
		struct signalfd_siginfo si;
		ssize_t n = read(sfd, &si, sizeof(si));
		if (n < 0 && errno == EINTR)
			continue;
		if (n != sizeof(si))
			break;
		int sig = int(si.ssi_signo);
		if (sig == SIGCHLD)
			continue; // reaped below
		if (have_cmd && !cmd->exited) {
			// The terminal already signalled our whole process group,
			// command included: forwarding would deliver it twice.
			bool from_tty = si.ssi_code == SI_KERNEL &&
					getpgid(cmd->pid) == getpgrp();
			if (!from_tty)
				command_signal(cmd, sig);
			// As PID 1 it only got the signal if it handles it.
			if (cmd->status_fd >= 0 && !command_takes_signal(*cmd, sig)) {
				command_signal(cmd, SIGKILL);
				cmd->killed_by = sig;
			}
		} else if (r.event == NsSignalEvent::None) {
			r.event = NsSignalEvent::Terminate;
			r.signo = sig;
			r.exit_code = 128 + sig;
		}
	}
	if (have_cmd && !cmd->exited && ns_command_poll(cmd)) {
		r.event = NsSignalEvent::CommandExited;
		r.exit_code = cmd->exit_code;
		r.signo = 0;
	}
	return r;
}

namespace {

// PID from "/proc/PID/ns/net", or 0.
pid_t proc_ns_pid(const std::string &path)
{
	const char pre[] = "/proc/";
	const char post[] = "/ns/net";
	if (path.compare(0, sizeof(pre) - 1, pre))
		return 0;
	size_t i = sizeof(pre) - 1, start = i;
	long v = 0;
	while (i < path.size() && path[i] >= '0' && path[i] <= '9' && v < INT_MAX / 10)
		v = v * 10 + (path[i++] - '0');
	if (i == start || path.compare(i, std::string::npos, post))
		return 0;
	return pid_t(v);
}

int pidfd_open_compat(pid_t pid)
{
	return int(syscall(SYS_pidfd_open, pid, 0));
}

} // namespace

int ns_watch_start(const NsHandle &ns, NsWatch *w)
{
	*w = NsWatch{};
	pid_t pid = ns.pid > 0 ? ns.pid : proc_ns_pid(ns.netns_path);
	if (pid > 0) {
		int fd = pidfd_open_compat(pid);
		if (fd < 0)
			return -errno;
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		w->kind = NsWatch::Kind::Pidfd;
		w->fd = fd;
		return 0;
	}
	if (ns.netns_path.empty() || ns.netns_fd < 0)
		return -EINVAL;

	struct stat st;
	if (fstat(ns.netns_fd, &st))
		return -errno;
	w->path = ns.netns_path;
	w->dev = st.st_dev;
	w->ino = st.st_ino;

	size_t slash = w->path.rfind('/');
	std::string dir = slash == std::string::npos ? "." : w->path.substr(0, slash);
	if (dir.empty())
		dir = "/";
	w->base = slash == std::string::npos ? w->path : w->path.substr(slash + 1);
	// After the sandbox the path is gone from our view: keep its directory
	// (if it is gone already, so is the namespace: the first tick says so).
	w->dirfd = open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd >= 0 && inotify_add_watch(fd, dir.c_str(), IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
							      IN_DELETE_SELF | IN_MOVE_SELF) >= 0) {
		w->kind = NsWatch::Kind::Inotify;
		w->fd = fd;
		return 0;
	}
	if (fd >= 0)
		close(fd);

	fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct itimerspec its = {{1, 0}, {1, 0}};
	if (timerfd_settime(fd, 0, &its, nullptr)) {
		int e = errno;
		close(fd);
		return -e;
	}
	w->kind = NsWatch::Kind::Timer;
	w->fd = fd;
	return 0;
}

bool ns_watch_gone(NsWatch *w)
{
	switch (w->kind) {
	case NsWatch::Kind::None:
		return false;
	case NsWatch::Kind::Pidfd: {
		struct pollfd p = {w->fd, POLLIN, 0};
		return poll(&p, 1, 0) == 1 && (p.revents & (POLLIN | POLLHUP));
	}
	case NsWatch::Kind::Inotify: {
		// Our name removed or moved away, or the directory itself.
		alignas(struct inotify_event) char buf[4096];
		bool gone = false;
		ssize_t n;
		while ((n = read(w->fd, buf, sizeof(buf))) > 0) {
			for (ssize_t off = 0; off + ssize_t(sizeof(inotify_event)) <= n;) {
				const auto *ev = reinterpret_cast<const inotify_event *>(buf + off);
				bool dir_gone = ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED);
				bool ours = ev->len && !std::strncmp(ev->name, w->base.c_str(), ev->len);
				gone = gone || dir_gone || ours;
				off += ssize_t(sizeof(inotify_event) + ev->len);
			}
		}
		// Only the events count: a look-up through our copy of the
		// mounts, detached from the host's, could mislead.
		return gone;
	}
	case NsWatch::Kind::Timer: {
		uint64_t exp;
		while (read(w->fd, &exp, sizeof(exp)) > 0)
			;
		break;
	}
	}
	// Still the same namespace behind the path? Unlinked, unmounted or
	// replaced all count as gone.
	struct stat st;
	if (w->dirfd < 0)
		return true;
	if (fstatat(w->dirfd, w->base.c_str(), &st, 0))
		return errno == ENOENT || errno == ENOTDIR;
	return st.st_dev != w->dev || st.st_ino != w->ino;
}

void ns_watch_stop(NsWatch *w)
{
	close_fd(&w->fd);
	close_fd(&w->dirfd);
	w->kind = NsWatch::Kind::None;
}

} // namespace passt
