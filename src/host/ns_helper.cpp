// pasta's namespace handling: the socket helper (NsSocketHelper).
//
// Theory of operation
// -------------------
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
// Requests (HelperReq: a socket, or a signal for the command) and answers
// (an errno, with the socket attached by SCM_RIGHTS) travel over a
// SOCK_SEQPACKET pair, one answer per request: the helper is
// single-threaded and keeps no state between requests.
//
// #syscalls:pasta kill
// #syscalls:init rt_sigprocmask close_range close exit_group
// #syscalls:helper recvfrom recv sendmsg socket close kill exit_group rt_sigreturn
// #syscalls:helper restart_syscall
#include "passt/host/ns.h"

#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>

#include "passt/core/util.h"
#include "passt/host/isolation.h"
#include "ns_priv.h"

namespace passt {

using namespace ns_detail;

namespace {

// A request to the socket helper: a socket (domain, type, protocol), or a
// signal (a) for the command it was started for.
struct HelperReq {
	enum Op : int { Socket = 0, Signal = 1 } op;
	int a, b, c;
};

// What the helper's loop calls, and nothing else (see isolation.cpp).
const long helper_syscalls[] = {
	__NR_recvfrom, __NR_recvmsg,    __NR_sendmsg,      __NR_socket,          __NR_close,
	__NR_kill,     __NR_exit_group, __NR_rt_sigreturn, __NR_restart_syscall,
#ifdef __NR_recv
	__NR_recv,
#endif
};

// Main loop of the socket helper: one answer per request, until EOF.
[[noreturn]] void socket_helper_loop(int sock, pid_t signal_target) {
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

int ns_socket_helper_start(const NsHandle &ns, NsSocketHelper *h, pid_t signal_target) {
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
int helper_request(NsSocketHelper &h, const HelperReq &req, bool want_fd) {
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

int ns_socket_helper_socket(NsSocketHelper &h, int domain, int type, int protocol) {
	return helper_request(h, {HelperReq::Socket, domain, type, protocol}, true);
}

int ns_socket_helper_signal(NsSocketHelper &h, int sig) {
	return helper_request(h, {HelperReq::Signal, sig, 0, 0}, false);
}

void ns_socket_helper_stop(NsSocketHelper *h) {
	close_fd(&h->fd);
	if (h->pid > 0) {
		kill(h->pid, SIGKILL);
		int st;
		waitpid_retry(h->pid, &st, 0);
	}
	h->pid = -1;
}

} // namespace passt
