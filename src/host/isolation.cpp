// The sandbox: the daemon parses frames from an untrusted guest, so before
// the first one arrives it gives up everything it does not need to move
// them.
//
// Theory of operation. Confinement comes in four stages, because each
// later one takes away something an earlier part of start-up still needs:
//
// 1. isolate_initial(), first thing in main(). Inherited descriptors are
//    closed (all above 2 but --fd), SIGPIPE is ignored (a write into a
//    closed socket, pipe, pcap FIFO or stderr must return EPIPE, not kill
//    us), and every capability is dropped from the effective, permitted
//    and inheritable sets except the few start-up uses: NET_BIND_SERVICE
//    (listeners on low ports), SETUID/SETGID (becoming nobody), SYS_ADMIN
//    and NET_ADMIN (pasta: joining namespaces, tap and netlink set-up),
//    SYS_PTRACE (pasta run by root: opening /proc/PID/ns of another user's
//    process), and SETFCAP for root (a user namespace that maps uid 0).
//    passt is made non-dumpable: no core file with a guest's memory in
//    it, no ptrace or /proc access by its user.
//
// 2. isolate_user(), once everything that needs a path or privileges is
//    open (sockets, tap, PID and log files, pcap, /proc/net tables, the
//    namespace fds). Started as root, the daemon becomes nobody (or the
//    --runas user), groups cleared; then it creates a user namespace of its
//    own, mapping only that uid: the capabilities it has from there on
//    count in that namespace only.
//
// 3. isolate_prefork(): new mount, IPC and UTS namespaces (and a PID
//    namespace whose PID 1 the daemonised child becomes), an empty
//    read-only tmpfs as root through pivot_root() (chroot() with
//    --chroot-fallback), then no capabilities at all. From here on no
//    path can be opened: everything is reached through descriptors held.
//
// 4. isolate_postfork(), after daemonising: PR_SET_NO_NEW_PRIVS and a
//    seccomp filter per mode (passt, passt --vhost-user, pasta) that allows
//    the listed system calls and kills the process on any other. The lists
//    live next to the code that makes each call, as "#syscalls" comment
//    lines, and src/host/gen_seccomp.sh collects them at build time;
//    test/seccomp/check_syscalls.sh fails when an object file calls a libc
//    function whose system call its source does not list.
//
// pasta's namespace helper (src/host/ns_helper.cpp) confines itself with the same
// building blocks and a list of its own.
//
// Two small processes of ours confine themselves with the same building
// blocks and allowlists of their own, kept as arrays next to their code
// (marked "#syscalls:helper" for the check): pasta's namespace socket
// helper (src/host/ns_helper.cpp) and the clean-up process below, which removes
// the UNIX socket and the PID file when the daemon ends, because the
// daemon itself can no longer reach them (nor, once it is nobody, has the
// right to).
//
// #syscalls:init close_range capget capset prctl rt_sigaction fork clone
// #syscalls:init setgroups setresgid setresuid unshare mount umount2
// #syscalls:init pivot_root chroot chdir openat open read write close
// #syscalls:init fstat newfstatat geteuid getegid socketpair ioctl set_robust_list
// #syscalls:init socket connect lseek
// #syscalls:helper read write unlinkat close exit_group rt_sigreturn restart_syscall
// #syscalls read write close
#include "passt/host/isolation.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <pwd.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "passt/conf/conf.h"
#include "passt/core/log.h"
#include "passt/core/util.h"
#include "passt/seccomp_list.h"

namespace passt {

namespace {

// ---- Capabilities (raw capget/capset: libc has no wrapper) -------------

int caps_set(uint64_t keep) {
	__user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	__user_cap_data_struct data[2] = {};
	if (syscall(SYS_capget, &hdr, data))
		return -errno;
	for (int i = 0; i < 2; i++) {
		uint32_t k = uint32_t(keep >> (32 * i));
		data[i].effective &= k;
		data[i].permitted &= k;
		data[i].inheritable = 0;
	}
	if (syscall(SYS_capset, &hdr, data))
		return -errno;
	// The ambient set needs the permitted bits we just dropped anyway,
	// but clear it explicitly: it is what a child would inherit.
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL)
		return -errno;
	return 0;
}

constexpr uint64_t cap_bit(int cap) { return uint64_t(1) << cap; }

// True if /proc/self/uid_map says we are in the initial user namespace.
bool in_initial_userns() {
	int fd = open("/proc/self/uid_map", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true; // no /proc: assume the worst
	char buf[128];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	unsigned long inside, outside, count;
	if (sscanf(buf, "%lu %lu %lu", &inside, &outside, &count) != 3)
		return true;
	return inside == 0 && outside == 0 && count == 4294967295UL;
}

// True if uid is mapped in our user namespace (setuid() to it can work).
bool uid_mapped(uid_t uid) {
	FILE *f = fopen("/proc/self/uid_map", "re");
	if (!f)
		return false;
	unsigned long inside, outside, count;
	bool found = false;
	while (!found && fscanf(f, "%lu %lu %lu", &inside, &outside, &count) == 3)
		found = uid >= inside && uid - inside < count;
	fclose(f);
	return found;
}

// ---- Allowlists from the generated header ------------------------------

template <size_t N> struct NrList {
	long nr[N] = {};
	const char *name[N] = {};
};

template <size_t N> constexpr NrList<N> make_list(const seccomp_list::Entry (&e)[N]) {
	NrList<N> l;
	for (size_t i = 0; i < N; i++) {
		l.nr[i] = e[i].nr;
		l.name[i] = e[i].name;
	}
	return l;
}

constexpr auto passt_list = make_list(seccomp_list::passt);
constexpr auto vu_list = make_list(seccomp_list::vu);
constexpr auto pasta_list = make_list(seccomp_list::pasta);

#if defined(__x86_64__)
constexpr uint32_t SECCOMP_AUDIT_ARCH = AUDIT_ARCH_X86_64;
constexpr bool SECCOMP_CHECK_X32 = true; // x32 numbers alias ours with bit 30 set
#elif defined(__aarch64__)
constexpr uint32_t SECCOMP_AUDIT_ARCH = AUDIT_ARCH_AARCH64;
constexpr bool SECCOMP_CHECK_X32 = false;
#else
// cppcheck-suppress preprocessorErrorDirective
#error "seccomp: add this architecture's AUDIT_ARCH_ value"
#endif

constexpr uint32_t X32_SYSCALL_BIT_ = 0x40000000;

} // namespace

// ---- Stage 1 -------------------------------------------------------------

int isolate_fd_from_argv(int argc, char **argv) {
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = nullptr;
		if (!a || !strcmp(a, "--"))
			break;
		if ((!strcmp(a, "--fd") || !strcmp(a, "-F")) && i + 1 < argc)
			v = argv[i + 1];
		else if (!strncmp(a, "--fd=", 5))
			v = a + 5;
		else if (!strncmp(a, "-F", 2) && a[2])
			v = a + 2;
		if (!v)
			continue;
		char *end;
		errno = 0;
		long fd = strtol(v, &end, 10);
		if (!errno && end != v && !*end && fd > STDERR_FILENO && fd < INT32_MAX)
			return int(fd);
	}
	return -1;
}

void isolate_initial(int argc, char **argv, Mode mode) {
	int keep_fd = isolate_fd_from_argv(argc, argv);
	if (keep_fd < 0) {
		close_range(STDERR_FILENO + 1, ~0U, 0);
	} else {
		if (keep_fd > STDERR_FILENO + 1)
			close_range(STDERR_FILENO + 1, unsigned(keep_fd) - 1, 0);
		close_range(unsigned(keep_fd) + 1, ~0U, 0);
	}

	signal(SIGPIPE, SIG_IGN);

	uint64_t keep = cap_bit(CAP_NET_BIND_SERVICE) | cap_bit(CAP_SETUID) | cap_bit(CAP_SETGID);
	if (mode == Mode::Pasta)
		keep |= cap_bit(CAP_SYS_ADMIN) | cap_bit(CAP_NET_ADMIN) | cap_bit(CAP_SYS_PTRACE);
	// Since Linux 5.12, a user namespace mapping uid 0 (ours, staying
	// root where nobody is not mapped, or pasta's command's) needs
	// CAP_SETFCAP in its parent.
	if (geteuid() == 0)
		keep |= cap_bit(CAP_SETFCAP);
	int rc = caps_set(keep);
	if (rc < 0) {
		fprintf(stderr, "%s: dropping capabilities: %s\n", mode_name(mode), strerror(-rc));
		exit(EXIT_FAILURE);
	}
	if (mode != Mode::Pasta && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)) {
		fprintf(stderr, "%s: PR_SET_DUMPABLE: %s\n", mode_name(mode), strerror(errno));
		exit(EXIT_FAILURE);
	}
}

// ---- Stage 2 -------------------------------------------------------------

int isolate_resolve_user(const Config &c, RunAs *out, std::string *err) {
	*out = RunAs{};
	if (c.runas_uid) {
		out->change = true;
		out->uid = uid_t(*c.runas_uid);
		out->gid = gid_t(c.runas_gid ? *c.runas_gid : *c.runas_uid);
		return 0;
	}
	if (geteuid() != 0)
		return 0;
	const struct passwd *pw = getpwnam("nobody");
	bool initial = in_initial_userns();
	if (!pw || pw->pw_uid == 0) {
		if (!initial)
			return 0;
		*err = std::string(mode_name(c.mode)) +
		       ": started as root, but there is no user 'nobody' to switch to: "
		       "use --runas UID[:GID]";
		return -1;
	}
	// In a user namespace (`unshare -r`) nobody may not be mapped: uid 0
	// there is harmless once we are in a namespace of our own.
	if (!initial && !uid_mapped(pw->pw_uid))
		return 0;
	out->change = true;
	out->uid = pw->pw_uid;
	out->gid = pw->pw_gid;
	return 0;
}

int isolate_own_userns(uid_t uid, gid_t gid) {
	if (unshare(CLONE_NEWUSER))
		return -errno;
	// Our /proc/self files belong to root while we are not dumpable, and
	// then we could not write our own maps.
	int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	if (dumpable != 1 && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))
		return -errno;
	char map[64];
	int rc;
	snprintf(map, sizeof(map), "%u %u 1\n", unsigned(uid), unsigned(uid));
	if ((rc = write_file("/proc/self/uid_map", map)) < 0)
		return rc;
	if ((rc = write_file("/proc/self/setgroups", "deny\n")) < 0 && rc != -ENOENT)
		return rc;
	snprintf(map, sizeof(map), "%u %u 1\n", unsigned(gid), unsigned(gid));
	if ((rc = write_file("/proc/self/gid_map", map)) < 0)
		return rc;
	if (dumpable != 1 && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0))
		return -errno;
	return 0;
}

void isolate_user(const RunAs &ru, Mode mode) {
	if (ru.change) {
		if (setgroups(0, nullptr) && !(errno == EPERM && getegid() == ru.gid))
			die("--runas: can't clear supplementary groups: %s", strerror(errno));
		if (setresgid(ru.gid, ru.gid, ru.gid))
			die("--runas: can't switch to group %u: %s", unsigned(ru.gid),
			    strerror(errno));
		if (setresuid(ru.uid, ru.uid, ru.uid))
			die("--runas: can't switch to user %u: %s", unsigned(ru.uid),
			    strerror(errno));
	}
	// A uid change resets the dumpable flag to the sysctl's default:
	// passt stays non-dumpable, pasta as it was.
	if (mode != Mode::Pasta)
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	int rc = isolate_own_userns(geteuid(), getegid());
	if (rc < 0)
		die("Can't create a user namespace for the sandbox: %s", strerror(-rc));
}

// ---- Stage 3 -------------------------------------------------------------

int isolate_empty_root(bool chroot_fallback) {
	// Nothing we do to mounts from now on may propagate to the host.
	if (mount("", "/", "", MS_UNBINDABLE | MS_REC, nullptr))
		return -errno;
	// Two inodes, no blocks, read-only: nothing can ever be created in it.
	if (mount("", "/tmp", "tmpfs", MS_NODEV | MS_NOEXEC | MS_NOSUID | MS_RDONLY,
		  "nr_inodes=2,nr_blocks=0"))
		return -errno;
	if (chdir("/tmp"))
		return -errno;
	if (syscall(SYS_pivot_root, ".", ".") == 0) {
		// The old root is stacked on top of the new one: detach it.
		if (umount2(".", MNT_DETACH | UMOUNT_NOFOLLOW))
			return -errno;
	} else {
		int e = errno;
		if (!chroot_fallback)
			return -e;
		if (chroot("."))
			return -errno;
	}
	if (chdir("/"))
		return -errno;
	return 0;
}

int isolate_drop_all_caps() { return caps_set(0); }

void isolate_prefork(bool new_pidns, bool chroot_fallback) {
	int flags = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | (new_pidns ? CLONE_NEWPID : 0);
	if (unshare(flags))
		die("Can't detach into new namespaces for the sandbox: %s", strerror(errno));
	int rc = isolate_empty_root(chroot_fallback);
	if (rc < 0)
		die("Can't move into an empty root for the sandbox: %s%s", strerror(-rc),
		    chroot_fallback ? "" : " (see --chroot-fallback)");
	if ((rc = isolate_drop_all_caps()) < 0)
		die("Can't drop capabilities: %s", strerror(-rc));
}

// ---- Stage 4 -------------------------------------------------------------

size_t seccomp_build(std::span<const long> nrs, std::span<sock_filter> out) {
	const size_t head = SECCOMP_CHECK_X32 ? 4 : 3;
	const size_t n = nrs.size();
	const size_t total = head + n + 2;
	if (total > out.size() || n > SECCOMP_MAX_SYSCALLS)
		return 0;
	const size_t kill = head + n, allow = head + n + 1;
	auto jump = [](size_t from, size_t to) { return uint8_t(to - from - 1); };
	size_t i = 0;
	out[i++] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch));
	out[i] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SECCOMP_AUDIT_ARCH, 0, jump(i, kill));
	i++;
	out[i++] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr));
	if (SECCOMP_CHECK_X32) {
		out[i] = BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT_, jump(i, kill), 0);
		i++;
	}
	for (long nr : nrs) {
		out[i] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, uint32_t(nr), jump(i, allow), 0);
		i++;
	}
	out[i++] = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	out[i++] = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	return i;
}

int isolate_seccomp(std::span<const long> nrs) {
	sock_filter insns[SECCOMP_MAX_INSNS];
	size_t len = seccomp_build(nrs, insns);
	if (!len)
		return -E2BIG;
	sock_fprog prog = {uint16_t(len), insns};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		return -errno;
	return 0;
}

std::span<const long> seccomp_allowlist(Mode mode) {
	switch (mode) {
	case Mode::Pasta: return pasta_list.nr;
	case Mode::VhostUser: return vu_list.nr;
	case Mode::Passt: break;
	}
	return passt_list.nr;
}

std::span<const char *const> seccomp_allowlist_names(Mode mode) {
	switch (mode) {
	case Mode::Pasta: return pasta_list.name;
	case Mode::VhostUser: return vu_list.name;
	case Mode::Passt: break;
	}
	return passt_list.name;
}

int isolate_helper_process(std::span<const long> nrs) {
	// Where our uid is not mapped in the user namespace we are in (root
	// in a rootless container's), no namespace of our own can map it:
	// stay in this one, whose capabilities go below anyway.
	isolate_own_userns(geteuid(), getegid());
	if (unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS))
		return -errno;
	int rc;
	if ((rc = isolate_empty_root(true)) < 0 || (rc = isolate_drop_all_caps()) < 0)
		return rc;
	return isolate_seccomp(nrs);
}

void isolate_postfork(Mode mode) {
	int rc = isolate_seccomp(seccomp_allowlist(mode));
	if (rc < 0)
		die("Can't install the seccomp filter: %s", strerror(-rc));
}

// ---- Exit clean-up -----------------------------------------------------

// The clean-up process: forked before the uid change, it holds the
// directories of the paths to remove and the other end of a socket pair.
// A byte from the daemon (orderly exit) or EOF (the daemon died, even by
// SIGKILL) makes it remove the names; on a byte it answers once done, so
// that the files are gone when the daemon's exit is seen.

namespace {

struct KeptPath {
	int dirfd = -1;
	char name[256] = {};
};
// The UNIX socket, the repair socket, the control socket, the PID file.
constexpr size_t KEPT_MAX = 4;
KeptPath kept[KEPT_MAX];
int cleaner_sock = -1;

const long cleaner_syscalls[] = {
	__NR_read,       __NR_write,        __NR_unlinkat,        __NR_close,
	__NR_exit_group, __NR_rt_sigreturn, __NR_restart_syscall,
};

// Closes every descriptor above 2 but those in keep.
void close_all_except(std::span<const int> keep) {
	unsigned from = STDERR_FILENO + 1;
	for (;;) {
		unsigned next = ~0U;
		for (int fd : keep)
			if (fd >= 0 && unsigned(fd) >= from && unsigned(fd) < next)
				next = unsigned(fd);
		if (next > from)
			close_range(from, next == ~0U ? ~0U : next - 1, 0);
		if (next == ~0U)
			return;
		from = next + 1;
	}
}

[[noreturn]] void cleaner_main(int sock) {
	int keep[1 + KEPT_MAX] = {sock};
	for (size_t i = 0; i < KEPT_MAX; i++)
		keep[1 + i] = kept[i].dirfd;
	close_all_except(keep);
	// Not the caller's terminal or pipes either: whoever waits for
	// the end of our output must not wait for us.
	if (stdio_to_dev_null() < 0)
		_exit(1);
	// The directories are reached through the fds: our uid is all that
	// the removal needs.
	if (isolate_helper_process(cleaner_syscalls) < 0)
		_exit(1);
	char b;
	ssize_t n;
	do
		n = read(sock, &b, 1);
	while (n < 0 && errno == EINTR);
	for (const KeptPath &k : kept)
		if (k.dirfd >= 0)
			unlinkat(k.dirfd, k.name, 0);
	if (n == 1)
		(void)!write(sock, &b, 1);
	_exit(0);
}

} // namespace

int isolate_keep_for_unlink(const std::string &path) {
	for (KeptPath &k : kept) {
		if (k.dirfd >= 0)
			continue;
		size_t slash = path.rfind('/');
		size_t base_at = slash == std::string::npos ? 0 : slash + 1;
		if (base_at >= path.size() || path.size() - base_at >= sizeof(k.name))
			return -EINVAL;
		std::string dir = slash == std::string::npos ? std::string(".")
							     : path.substr(0, slash ? slash : 1);
		int fd = open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		k.dirfd = fd;
		snprintf(k.name, sizeof(k.name), "%s", path.c_str() + base_at);
		return 0;
	}
	return -ENOSPC;
}

int isolate_start_cleaner() {
	if (std::all_of(std::begin(kept), std::end(kept),
			[](const KeptPath &k) { return k.dirfd < 0; }))
		return 0;
	int fd;
	pid_t pid = fork_with_channel(&fd);
	if (pid < 0)
		return int(pid);
	if (pid == 0)
		cleaner_main(fd);
	for (KeptPath &k : kept) {
		if (k.dirfd >= 0)
			close(k.dirfd);
		k.dirfd = -1;
	}
	cleaner_sock = fd;
	return 0;
}

void isolate_unlink_kept() {
	if (cleaner_sock < 0)
		return;
	char b = 'x';
	ssize_t n;
	if (write(cleaner_sock, &b, 1) == 1) {
		do
			n = read(cleaner_sock, &b, 1);
		while (n < 0 && errno == EINTR);
	}
	close(cleaner_sock);
	cleaner_sock = -1;
}

} // namespace passt
