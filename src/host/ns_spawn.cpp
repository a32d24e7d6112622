// pasta's namespace handling: the spawned command.
//
// Theory of operation
// -------------------
// Spawning (no PID or --netns given): fork a child that unshare()s user,
// network, UTS and IPC namespaces (see NsSpawn), writes its own maps ("0 UID 1", setgroups "deny",
// "0 GID 1": allowed for an unprivileged writer because it maps only its own
// ids), passes /proc/self/ns/{net,user} to the parent and blocks on the
// socketpair. The parent creates and configures the tap device meanwhile,
// then releases the child, which resets its signal mask and execs COMMAND.
// /proc/net and /proc/sys/net already follow the reader's network namespace,
// so the command sees its own network in /proc without remounting anything.
//
// By default (not --no-pidns) the child also unshares a PID and a mount
// namespace. It can't enter the PID namespace itself: its next child,
// made with CLONE_PARENT so that it is pasta's child (pasta reaps it and
// gets its status), becomes the command, PID 1 there; our child reports
// that PID with the namespaces and exits, and the command itself reports
// whether it could mount a /proc of its own (best effort). With --userns
// the child joins that user namespace instead of creating one (NsSpawn).
//
// The command's exit status becomes pasta's (ns_exit_code(): 128 + signal
// number if it was killed); the signals it is sent and its exit are
// handled in ns_signal.cpp.
//
// #syscalls:pasta sendto kill wait4 close
// #syscalls:init fork clone set_robust_list unshare setns socketpair openat open
// #syscalls:init write read prctl mount execve exit_group rt_sigprocmask rt_sigaction
// #syscalls:init geteuid getegid getpid getppid newfstatat ioctl
#include "passt/host/ns.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "passt/core/util.h"
#include "ns_priv.h"

namespace passt {

using namespace ns_detail;

int ns_exit_code(int wstatus) {
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return 1;
}

namespace {

// Header of the spawned child's messages: the first, with the namespaces'
// fds, and in a new PID namespace a second from the command itself.
struct SpawnHdr {
	int err;          // errno, 0: namespaces created
	int stage;        // what failed, see spawn_stage_name()
	pid_t pid;        // new PID namespace: the command, as pasta sees it
	int proc_err;     // from the command: errno of mounting /proc, 0: mounted
	int from_command; // 1: the command's message, 0: our child's
};

const char *spawn_stage_name(int stage) {
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

// In the child: join the --userns namespace or create the namespaces (and
// the maps of a new user namespace), then open them for pasta in fds. The
// report to send: err 0, or errno and the stage that failed.
SpawnHdr spawn_make_namespaces(const NsSpawn &how, const char *uid_map, const char *gid_map,
			       int fds[2]) {
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
	if (!h.err) {
		fds[0] = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		fds[1] = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
		if (fds[0] < 0 || fds[1] < 0)
			h = {errno, 5, 0, 0, 0};
	}
	return h;
}

// The command, once released by pasta (a byte on chan): a clean signal
// state, then exec. If pasta gave up instead, it never runs.
[[noreturn]] void spawn_wait_and_exec(int chan, char *const *argv) {
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

// The paused command's side of ns_spawn_command(), in the child: enter or
// create the namespaces, report them, wait for the go, exec. Never returns.
[[noreturn]] void spawn_child(const NsSpawn &how, int chan, pid_t parent, char *const *argv,
			      const char *uid_map, const char *gid_map) {
	// While paused, die with pasta; cleared before exec.
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	// A non-dumpable process (after a uid change) has root-owned
	// /proc/self files, and could not write its own maps.
	prctl(PR_SET_DUMPABLE, 1);

	int fds[2] = {-1, -1};
	SpawnHdr h = spawn_make_namespaces(how, uid_map, gid_map, fds);
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
	spawn_wait_and_exec(chan, argv);
}

// What pasta hears from the child: the namespaces (h, from our child),
// and in a new PID namespace the command's own report (h2).
struct SpawnReports {
	SpawnHdr h = {}, h2 = {};
	int fds[NS_CALL_MAX_FDS];
	unsigned nfds = 0;
	bool got_ns = false, got_cmd = false;
	ssize_t n = 0; // the last recv_with_fds() result
};

// Reads the reports, in either order, until both are in, the namespaces
// failed, or the channel fails or closes.
void spawn_collect(int sock, const NsSpawn &how, SpawnReports *r) {
	r->got_cmd = !how.new_pidns;
	while (!r->got_ns || (!r->got_cmd && !r->h.err)) {
		SpawnHdr m = {};
		int f[NS_CALL_MAX_FDS];
		unsigned nf = 0;
		r->n = recv_with_fds(sock, &m, sizeof(m), f, &nf);
		if (r->n != sizeof(m)) {
			for (unsigned i = 0; i < nf; i++)
				close(f[i]);
			break;
		}
		if (m.from_command) {
			r->h2 = m;
			r->got_cmd = true;
			for (unsigned i = 0; i < nf; i++)
				close(f[i]);
			continue;
		}
		r->h = m;
		r->got_ns = true;
		r->nfds = nf;
		std::copy(f, f + nf, r->fds);
	}
}

// argv for execvp(), prepared before fork(): pointers into args, which
// gets $SHELL (else /bin/sh) if empty.
std::vector<char *> spawn_argv(std::vector<std::string> &args) {
	if (args.empty()) {
		const char *sh = getenv("SHELL");
		args.emplace_back(sh && *sh ? sh : "/bin/sh");
	}
	std::vector<char *> cargv;
	cargv.reserve(args.size() + 1);
	for (auto &a : args)
		cargv.push_back(a.data());
	cargv.push_back(nullptr);
	return cargv;
}

} // namespace

int ns_spawn_command(const std::vector<std::string> &argv, const NsSpawn &how, NsHandle *ns,
		     NsCommand *cmd, std::string *err) {
	*cmd = NsCommand{};
	ns_handle_close(ns);

	// Everything the child needs is prepared before fork().
	std::vector<std::string> args = argv;
	std::vector<char *> cargv = spawn_argv(args);

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
	SpawnReports r;
	spawn_collect(sv[0], how, &r);
	const SpawnHdr &h = r.h;
	bool ok = r.got_ns && r.got_cmd && !h.err && r.nfds == 2 && (!how.new_pidns || h.pid > 0);
	if (how.new_pidns) {
		// Our child only made the namespaces, and has exited or will.
		int st;
		waitpid_retry(pid, &st, 0);
		pid = h.pid;
	}
	if (!ok) {
		for (unsigned i = 0; i < r.nfds; i++)
			close(r.fds[i]);
		close(sv[0]);
		int st;
		if (pid > 0) {
			kill(pid, SIGKILL);
			waitpid_retry(pid, &st, 0);
		}
		int e = r.n < 0 ? int(-r.n) : (h.err ? h.err : ECHILD);
		set_err(err, std::string("creating the namespace for the command: ") +
				     spawn_stage_name(h.err ? h.stage : 0) + ": " + errstr(e));
		return -e;
	}

	ns->netns_fd = r.fds[0];
	ns->userns_fd = r.fds[1];
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
		cmd->own_proc = !r.h2.proc_err;
		cmd->proc_errno = r.h2.proc_err;
	}
	return 0;
}

int ns_release_command(NsCommand *cmd) {
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

bool ns_command_poll(NsCommand *cmd) {
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

void ns_kill_command(NsCommand *cmd) {
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

} // namespace passt
