// The sandbox: how the daemon confines itself before it reads a single
// frame from the guest. See src/host/isolation.cpp for the theory of
// operation; main.cpp calls the stages in this order:
//
//   isolate_initial()    first thing in main: fds, SIGPIPE, capabilities
//   ... parse options, open everything that needs a path or privileges ...
//   isolate_keep_for_unlink(), isolate_start_cleaner()   socket, PID file
//   isolate_user()       switch to nobody / --runas, own user namespace
//   isolate_prefork()    own mount, IPC, UTS (and PID) namespaces, empty root
//   ... daemonise (fork), write the PID file through its open fd ...
//   isolate_postfork()   no_new_privs, seccomp allowlist of the mode
#pragma once

#include <linux/filter.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "passt/conf/config.h"

namespace passt {

// Stage 1. Closes every inherited descriptor above 2 except the one named
// by --fd/-F on the command line, ignores SIGPIPE, drops every capability
// from the effective, permitted and inheritable sets except those start-up
// still needs (see isolation.cpp), clears the ambient set, and makes passt
// (both back-ends) non-dumpable. Dies on failure.
void isolate_initial(int argc, char **argv, Mode mode);

// The descriptor --fd/-F names in argv, or -1 (exposed for tests).
int isolate_fd_from_argv(int argc, char **argv);

// Who the daemon becomes in isolate_user().
struct RunAs {
	bool change = false; // false: keep the current uid and gid
	uid_t uid = 0;
	gid_t gid = 0;
};

// --runas if given; else, started as root, nobody (required when root in
// the initial user namespace, where staying root is refused; elsewhere
// only if nobody is mapped in our user namespace); else no change.
// Returns 0, or -1 with *err a one-line message.
int isolate_resolve_user(const Config &c, RunAs *out, std::string *err);

// Stage 2: becomes ru (groups cleared, gid, then uid), then enters a new
// user namespace of its own mapping only that uid and gid: from here on
// capabilities count only there. Dies on failure.
void isolate_user(const RunAs &ru, Mode mode);

// Stage 3: new mount, IPC and UTS namespaces, and a new PID namespace for
// the children to come if new_pidns (the daemonised process becomes its
// PID 1), then an empty read-only root (chroot_fallback: chroot() where
// pivot_root() is refused); finally drops every capability. Dies on failure.
void isolate_prefork(bool new_pidns, bool chroot_fallback);

// Stage 4: no_new_privs, then the seccomp allowlist of mode; any other
// system call kills the process. Dies on failure.
void isolate_postfork(Mode mode);

// ---- Building blocks, shared with pasta's namespace helper and tests ----

// Creates and enters a user namespace that maps uid and gid onto
// themselves only (setgroups denied). Returns 0 or -errno.
int isolate_own_userns(uid_t uid, gid_t gid);
// pivot_root() (or, with chroot_fallback, chroot()) into an empty,
// read-only tmpfs mounted in the caller's (private) mount namespace.
// Returns 0 or -errno.
int isolate_empty_root(bool chroot_fallback);
// Empties the effective, permitted, inheritable and ambient capability
// sets. Returns 0 or -errno.
int isolate_drop_all_caps();
// no_new_privs, then a filter allowing exactly the system calls in nrs.
// Returns 0 or -errno.
int isolate_seccomp(std::span<const long> nrs);

// Confines a helper process of ours (single-threaded, holding only the fds
// it needs) that keeps its uid: a user namespace of its own where possible,
// new mount, IPC and UTS namespaces, an empty root, no capabilities, and
// the seccomp allowlist nrs. Returns 0 or -errno.
int isolate_helper_process(std::span<const long> nrs);

// The allowlist of a mode (generated at build time from the "#syscalls"
// lines next to the code that makes each call).
std::span<const long> seccomp_allowlist(Mode mode);
// Its names, for --help style listings and the tests.
std::span<const char *const> seccomp_allowlist_names(Mode mode);

// Writes into out a classic BPF program that checks the architecture, then
// allows exactly nrs and kills the process otherwise. Returns the number
// of instructions, or 0 if out is too small.
constexpr size_t SECCOMP_MAX_SYSCALLS = 200;
constexpr size_t SECCOMP_MAX_INSNS = SECCOMP_MAX_SYSCALLS + 8;
size_t seccomp_build(std::span<const long> nrs, std::span<sock_filter> out);

// Paths to remove when the daemon ends, though by then its root is empty
// and it may have become nobody: isolate_keep_for_unlink() opens the
// directory of each (up to four: UNIX socket, repair socket, control
// socket, PID file), then
// isolate_start_cleaner(), before isolate_user(), forks a small confined
// process that removes them when asked by isolate_unlink_kept() (which
// waits until it is done), or when the daemon dies. Return 0 or -errno.
int isolate_keep_for_unlink(const std::string &path);
int isolate_start_cleaner();
void isolate_unlink_kept();

} // namespace passt
