// pasta's namespace handling: signals, for the epoll loop (passt uses the
// same signalfd for its termination signals).
//
// Theory of operation
// -------------------
// SIGCHLD and the termination signals come through a signalfd for the
// epoll loop. Signals sent to pasta are forwarded to the command (by the
// socket helper where pasta, started by root, has become nobody and may
// not signal it), except those the terminal already sent to the whole
// process group; when the command exits pasta exits with its status (128 +
// signal number if it was killed). Without a command (passt, or a joined
// namespace) a termination signal is reported as Terminate, 128 + its
// number, for the caller to exit with.
//
// A command that is PID 1 of its own PID namespace only gets the signals it
// handles (or ignores): for any other one it is killed with SIGKILL
// instead, as the signal would have done, and its status is made up as
// 128 + that signal. Its /proc/PID/status, opened before the sandbox, says
// which signals it catches or ignores.
//
// #syscalls read
// #syscalls:pasta kill getpgid getpgrp pread64
// #syscalls:init rt_sigprocmask signalfd4
#include "passt/host/ns.h"

#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>

namespace passt {

namespace {

const int term_signals[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};

} // namespace

int ns_signalfd_open() {
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
void command_signal(NsCommand *cmd, int sig) {
	if (kill(cmd->pid, sig) < 0 && errno == EPERM && cmd->relay)
		ns_socket_helper_signal(*cmd->relay, sig);
}

// The bit of sig in a "SigIgn:" or "SigCgt:" line of /proc/PID/status.
bool status_mask_has(const char *status, const char *field, int sig) {
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
bool command_takes_signal(const NsCommand &cmd, int sig) {
	char buf[4096];
	ssize_t n = pread(cmd.status_fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	return status_mask_has(buf, "\nSigCgt:", sig) || status_mask_has(buf, "\nSigIgn:", sig);
}

} // namespace

NsSignalResult ns_signalfd_handle(int sfd, NsCommand *cmd) {
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
			bool from_tty = si.ssi_code == SI_KERNEL && getpgid(cmd->pid) == getpgrp();
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

} // namespace passt
