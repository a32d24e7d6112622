// pasta's network namespace handling: spawning a command in a fresh user +
// network namespace, joining an existing one (PID, --netns, --userns),
// running code inside the namespace, signal/exit handling for the command
// and detecting a joined namespace going away. The code, one job a file:
// src/host/ns_call.cpp (ns_call(), ns_run(), ns_socket()), ns_join.cpp,
// ns_helper.cpp (NsSocketHelper), ns_sysctl.cpp, ns_spawn.cpp (the spawned
// command), ns_signal.cpp (the signalfd, used by passt too), ns_watch.cpp.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace passt {

// References to a target namespace. pasta itself never moves into it: work
// that must happen inside (tun open, netlink sockets, sysctls, sockets for
// the loopback bypass) runs in a forked helper that setns()es there.
struct NsHandle {
	int netns_fd = -1;      // /proc/PID/ns/net or the --netns file, O_CLOEXEC
	int userns_fd = -1;     // user namespace to join first, -1: none needed
	pid_t pid = 0;          // target PID or spawned command, 0 if by path
	std::string netns_path; // --netns path as resolved, empty if by PID
};

void ns_handle_close(NsHandle *ns);

// --netns argument to a path: NAME (no '/') means /run/netns/NAME.
std::string ns_netns_path(const std::string &name_or_path);

// Opens the namespaces for `pasta PID` (pid > 0) or `--netns` (netns
// non-empty), with an optional explicit --userns path. Without --userns the
// user namespace is /proc/PID/ns/user, or the owner of the netns
// (NS_GET_USERNS); it is left out if it is our own or an ancestor of ours.
// netns_only: never join a user namespace. Returns 0 or -errno, *err set.
int ns_join(pid_t pid, const std::string &netns, const std::string &userns, bool netns_only,
	    NsHandle *out, std::string *err);

// Enters ns in the calling process, user namespace first. Irreversible for
// an unprivileged caller; only for single-threaded, disposable processes
// (the helpers below use it after fork()). Returns 0 or -errno.
int ns_enter(const NsHandle &ns);

// ---- Running code inside the namespace ----------------------------------

// What a function run by ns_call() hands back: an int, up to
// NS_CALL_MAX_FDS file descriptors (passed with SCM_RIGHTS) and a few bytes.
constexpr size_t NS_CALL_MAX_FDS = 4;
constexpr size_t NS_CALL_MAX_DATA = 256;
struct NsCallOut {
	int ret = 0;
	unsigned nfds = 0;
	int fds[NS_CALL_MAX_FDS] = {-1, -1, -1, -1};
	size_t len = 0;
	unsigned char data[NS_CALL_MAX_DATA] = {};
};
using NsFn = void (*)(void *arg, NsCallOut *out);

// Forks a child that enters ns and runs fn(arg, out); out (ret, data, fds)
// comes back to the caller. The child is a copy: writes to *arg are not
// seen by the caller. Returns 0 if fn ran (its result is out->ret), or
// -errno if the helper could not be started or could not enter ns.
int ns_call(const NsHandle &ns, NsFn fn, void *arg, NsCallOut *out);

// Same with any callable: ns_run(ns, [&](NsCallOut *o) { ... }, &out).
template <class F> int ns_run(const NsHandle &ns, F &&f, NsCallOut *out) {
	std::decay_t<F> fn(std::forward<F>(f)); // functions decay to pointers
	return ns_call(
		ns, [](void *a, NsCallOut *o) { (*static_cast<std::decay_t<F> *>(a))(o); },
		static_cast<void *>(&fn), out);
}

// socket(2) inside ns, through a one-shot helper. Returns fd or -errno.
int ns_socket(const NsHandle &ns, int domain, int type, int protocol);

// A long-lived helper process sitting in ns that creates sockets there on
// request: cheap enough for the data path (one round trip, no fork) and
// usable after the sandbox forbids fork(). It confines itself (seccomp, no
// capabilities, empty root) and ends when fd closes. signal_target > 0:
// the process it may signal on request (the spawned command).
struct NsSocketHelper {
	pid_t pid = -1;
	int fd = -1; // SOCK_SEQPACKET to the helper
};
int ns_socket_helper_start(const NsHandle &ns, NsSocketHelper *h, pid_t signal_target = 0);
// Returns a new socket created inside the namespace, or -errno.
int ns_socket_helper_socket(NsSocketHelper &h, int domain, int type, int protocol);
// Sends sig to the helper's signal_target. Returns 0 or -errno.
int ns_socket_helper_signal(NsSocketHelper &h, int sig);
void ns_socket_helper_stop(NsSocketHelper *h);

// Allows ICMP echo sockets for every group mapped in the namespace: writes
// "0 2147483647", or the range mapped in its user namespace, to
// net.ipv4.ping_group_range. Returns 0 or -errno (callers warn).
int ns_set_ping_group_range(const NsHandle &ns);
// The same, in the caller's own network namespace.
int ns_set_ping_group_range_here();

// ---- Spawned command ----------------------------------------------------

struct NsCommand {
	pid_t pid = -1;
	int ctl_fd = -1;                 // to the paused child; closed on release
	NsSocketHelper *relay = nullptr; // signals the command where we may not
	bool exited = false;
	int exit_code = 0; // valid once exited: status, or 128 + signal
	// In its own PID namespace the command is PID 1, which only gets the
	// signals it handles; its /proc/PID/status (which says which) is
	// open here, and killed_by records a signal we turned into SIGKILL.
	int status_fd = -1;
	int killed_by = 0;
	bool own_proc = false; // a /proc of its own PID namespace is mounted
	int proc_errno = 0;    // else why not
};

// How the command's namespaces are made (see ns_spawn_command()).
struct NsSpawn {
	// A new user namespace owning the others, mapping our uid and gid
	// to 0; false (--netns-only, or --userns): needs CAP_SYS_ADMIN.
	bool new_userns = true;
	// --userns: join this user namespace first (new_userns false).
	int userns_fd = -1;
	// Not --no-pidns: a PID namespace (the command is PID 1 there) and a
	// mount namespace with a /proc of its own.
	bool new_pidns = true;
};

// Forks the command paused in new network, UTS and IPC namespaces, by
// default also new user (uid/gid of the caller mapped to 0, setgroups
// denied), PID and mount namespaces; see NsSpawn. argv empty: $SHELL,
// else /bin/sh. On success ns holds the child's namespaces and pid.
// Returns 0 or -errno.
int ns_spawn_command(const std::vector<std::string> &argv, const NsSpawn &how, NsHandle *ns,
		     NsCommand *cmd, std::string *err);
// Lets the paused command exec. Returns 0 or -errno.
int ns_release_command(NsCommand *cmd);
// Kills the command (SIGKILL), paused or not, and reaps it.
void ns_kill_command(NsCommand *cmd);
// Reaps the command if it exited (non-blocking). True if it has exited.
bool ns_command_poll(NsCommand *cmd);
// Exit status convention of shells: WEXITSTATUS, or 128 + signal number.
int ns_exit_code(int wstatus);

// ---- Signals, for the epoll loop ----------------------------------------

// Blocks SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT and returns a
// non-blocking signalfd for them, or -errno. Open it before spawning, so
// no SIGCHLD is lost; the spawned command gets a clean mask and default
// dispositions before exec.
int ns_signalfd_open();

enum class NsSignalEvent { None, CommandExited, Terminate };
struct NsSignalResult {
	NsSignalEvent event = NsSignalEvent::None;
	int exit_code = 0; // CommandExited: the command's; Terminate: 128 + signo
	int signo = 0;     // Terminate: the signal
};
// Call when the signalfd is readable. With a command: SIGTERM/INT/HUP/QUIT
// are forwarded to it (except ones the terminal already sent to our whole
// process group) and its exit is reported. A command that is PID 1 of its
// own namespace and neither handles nor ignores the signal would not see
// it: it is killed instead (SIGKILL), as the signal would have done, and
// its status is 128 + that signal. Without a command (cmd null or never
// spawned) a termination signal yields Terminate.
NsSignalResult ns_signalfd_handle(int sfd, NsCommand *cmd);

// ---- Watching a joined namespace ----------------------------------------

// Readable fd that tells when the namespace reference given by the user
// disappears: a pidfd for a target PID (or /proc/PID/ns/net), inotify on
// the directory of a --netns file, or a 1 s timerfd where inotify fails.
struct NsWatch {
	enum class Kind { None, Pidfd, Inotify, Timer } kind = Kind::None;
	int fd = -1;
	std::string path; // netns file being watched (Inotify, Timer)
	std::string base; // its last component, looked up in dirfd
	int dirfd = -1;   // its directory (O_PATH), opened before the sandbox
	dev_t dev = 0;    // identity of the namespace behind path
	ino_t ino = 0;
};
int ns_watch_start(const NsHandle &ns, NsWatch *w);
// Call when w->fd is readable (drains it). True if the namespace is gone.
bool ns_watch_gone(NsWatch *w);
void ns_watch_stop(NsWatch *w);

} // namespace passt
