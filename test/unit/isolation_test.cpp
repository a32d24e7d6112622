// The sandbox's building blocks (src/host/isolation.cpp): the seccomp
// program and allowlists, that the filter really kills, the empty root,
// capability dropping, --fd parsing, the user to become, and the clean-up
// process. Anything that changes the process runs in a forked child.
#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fork_test_util.h"
#include "passt/conf/conf.h"
#include "passt/host/isolation.h"

using namespace passt;
using passt::test::CHILD_SKIP;
using passt::test::run_forked;

namespace {

const Mode all_modes[] = {Mode::Passt, Mode::VhostUser, Mode::Pasta};

// Raw exit status of a forked body (so that death by a signal shows).
int forked_status(const std::function<int()> &body) {
	std::fflush(nullptr);
	pid_t pid = fork();
	if (pid == 0) {
		alarm(20);
		_exit(body());
	}
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return st;
}

bool listed(Mode m, const char *name) {
	for (const char *n : seccomp_allowlist_names(m))
		if (!std::strcmp(n, name))
			return true;
	return false;
}

int argv_fd(std::vector<std::string> args) {
	std::vector<char *> v;
	for (auto &a : args)
		v.push_back(a.data());
	v.push_back(nullptr);
	return isolate_fd_from_argv(int(args.size()), v.data());
}

// User and mount namespaces of our own, or CHILD_SKIP where not allowed.
int enter_private_namespaces() {
	uid_t uid = geteuid();
	gid_t gid = getegid();
	if (isolate_own_userns(uid, gid) < 0) {
		std::fprintf(stderr, "no user namespaces here\n");
		return CHILD_SKIP;
	}
	if (unshare(CLONE_NEWNS))
		return CHILD_SKIP;
	return 0;
}

} // namespace

TEST(IsolationTest, BuildsArchCheckThenOneJumpPerSyscall) {
	const long nrs[] = {__NR_read, __NR_write, __NR_exit_group};
	sock_filter prog[SECCOMP_MAX_INSNS];
	size_t n = seccomp_build(nrs, prog);
	ASSERT_GT(n, 3u + 2u);
	// First: load and compare the architecture, killing on a mismatch.
	EXPECT_EQ(prog[0].code, BPF_LD | BPF_W | BPF_ABS);
	EXPECT_EQ(prog[0].k, offsetof(seccomp_data, arch));
	EXPECT_EQ(prog[1].code, BPF_JMP | BPF_JEQ | BPF_K);
	EXPECT_EQ(prog[n - 2].code, BPF_RET | BPF_K);
	EXPECT_EQ(prog[n - 2].k, unsigned(SECCOMP_RET_KILL_PROCESS));
	EXPECT_EQ(prog[n - 1].k, unsigned(SECCOMP_RET_ALLOW));
	EXPECT_EQ(size_t(1 + prog[1].jf + 1), n - 2) << "arch mismatch must jump to kill";
	// Each syscall compare jumps to the final ALLOW when equal.
	size_t first = n - 2 - 3;
	for (size_t i = 0; i < 3; i++) {
		const sock_filter &j = prog[first + i];
		EXPECT_EQ(j.code, BPF_JMP | BPF_JEQ | BPF_K);
		EXPECT_EQ(long(j.k), nrs[i]);
		EXPECT_EQ(first + i + 1 + j.jt, n - 1);
		EXPECT_EQ(j.jf, 0);
	}
}

TEST(IsolationTest, BuildRefusesTooSmallBufferAndTooManySyscalls) {
	const long nrs[] = {__NR_read, __NR_write};
	sock_filter small[4];
	EXPECT_EQ(seccomp_build(nrs, small), 0u);
	std::vector<long> many(SECCOMP_MAX_SYSCALLS + 1, __NR_read);
	std::vector<sock_filter> big(SECCOMP_MAX_INSNS + 10);
	EXPECT_EQ(seccomp_build(many, big), 0u);
}

TEST(IsolationTest, AllowlistsAreSortedUniqueAndBounded) {
	for (Mode m : all_modes) {
		auto nrs = seccomp_allowlist(m);
		auto names = seccomp_allowlist_names(m);
		ASSERT_EQ(nrs.size(), names.size());
		ASSERT_GT(nrs.size(), 5u);
		EXPECT_LE(nrs.size(), SECCOMP_MAX_SYSCALLS);
		std::vector<long> v(nrs.begin(), nrs.end());
		std::sort(v.begin(), v.end());
		EXPECT_EQ(std::adjacent_find(v.begin(), v.end()), v.end()) << "duplicates";
		for (const char *need : {"read", "write", "exit_group", "close", "rt_sigreturn"})
			EXPECT_TRUE(listed(m, need)) << mode_name(m) << " lacks " << need;
	}
}

TEST(IsolationTest, AllowlistsLeaveOutWhatTheLoopNeverNeeds) {
	// Creating processes, running programs, opening paths, changing
	// privileges or namespaces, tracing others: never after set-up.
	const char *never[] = {"execve",
			       "execveat",
			       "fork",
			       "vfork",
			       "clone",
			       "clone3",
			       "open",
			       "openat",
			       "openat2",
			       "creat",
			       "ptrace",
			       "mount",
			       "umount2",
			       "pivot_root",
			       "chroot",
			       "unshare",
			       "setns",
			       "setuid",
			       "setresuid",
			       "setgid",
			       "setresgid",
			       "capset",
			       "init_module",
			       "finit_module",
			       "bpf",
			       "perf_event_open",
			       "process_vm_readv",
			       "process_vm_writev",
			       "keyctl",
			       "memfd_create",
			       "userfaultfd",
			       "mknod",
			       "mknodat",
			       "chmod",
			       "fchmodat",
			       "chown",
			       "fchownat",
			       "rename",
			       "renameat",
			       "renameat2",
			       "symlink",
			       "link",
			       "unlinkat"};
	for (Mode m : all_modes)
		for (const char *n : never)
			EXPECT_FALSE(listed(m, n)) << mode_name(m) << " allows " << n;
}

TEST(IsolationTest, FilterKillsOnAForbiddenSyscall) {
	for (Mode m : all_modes) {
		int st = forked_status([m] {
			if (isolate_seccomp(seccomp_allowlist(m)) < 0)
				return 2;
			char *const args[] = {const_cast<char *>("/bin/true"), nullptr};
			syscall(SYS_execve, "/bin/true", args, environ);
			return 3; // not reached: execve is not in any list
		});
		ASSERT_TRUE(WIFSIGNALED(st)) << mode_name(m) << ": status " << st;
		EXPECT_EQ(WTERMSIG(st), SIGSYS) << mode_name(m);
	}
	// Same for a path open, which nothing may do in the sandbox.
	int st = forked_status([] {
		if (isolate_seccomp(seccomp_allowlist(Mode::Pasta)) < 0)
			return 2;
		syscall(SYS_openat, AT_FDCWD, "/etc/hostname", O_RDONLY);
		return 3;
	});
	ASSERT_TRUE(WIFSIGNALED(st));
	EXPECT_EQ(WTERMSIG(st), SIGSYS);
}

TEST(IsolationTest, FilterLetsListedSyscallsThrough) {
	// Reading and writing a pipe opened before, then exiting: every mode's
	// loop does that much.
	for (Mode m : all_modes) {
		int st = forked_status([m] {
			int p[2];
			if (pipe(p))
				return 2;
			if (isolate_seccomp(seccomp_allowlist(m)) < 0)
				return 3;
			// Raw calls: a sanitizer's wrappers make calls of their own.
			char c = 'x';
			if (syscall(SYS_write, p[1], &c, 1) != 1 ||
			    syscall(SYS_read, p[0], &c, 1) != 1 || c != 'x')
				syscall(SYS_exit_group, 4);
			syscall(SYS_close, p[0]);
			syscall(SYS_close, p[1]);
			syscall(SYS_exit_group, 0);
			return 5;
		});
		ASSERT_TRUE(WIFEXITED(st)) << mode_name(m) << ": status " << st;
		EXPECT_EQ(WEXITSTATUS(st), 0) << mode_name(m);
	}
}

TEST(IsolationTest, EmptyRootHasNothingInIt) {
	RUN_FORKED([] {
		int rc = enter_private_namespaces();
		if (rc)
			return rc;
		CHK(isolate_empty_root(false) == 0 || isolate_empty_root(true) == 0);
		DIR *d = opendir("/");
		CHK(d);
		int entries = 0;
		while (dirent *e = readdir(d))
			if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, ".."))
				entries++;
		closedir(d);
		CHK(entries == 0);
		CHK(open("/etc/passwd", O_RDONLY) < 0 && errno == ENOENT);
		// Read-only: nothing can be created in it.
		CHK(mkdir("/x", 0700) < 0);
		CHK(open("/x", O_CREAT | O_WRONLY, 0600) < 0);
		return 0;
	});
}

TEST(IsolationTest, DropAllCapsEmptiesEverySet) {
	RUN_FORKED([] {
		int rc = enter_private_namespaces(); // full caps in our own userns
		if (rc)
			return rc;
		__user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
		__user_cap_data_struct data[2] = {};
		CHK(syscall(SYS_capget, &hdr, data) == 0);
		CHK(data[0].effective != 0);
		CHK(isolate_drop_all_caps() == 0);
		CHK(syscall(SYS_capget, &hdr, data) == 0);
		for (auto &d : data)
			CHK(d.effective == 0 && d.permitted == 0 && d.inheritable == 0);
		CHK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_ADMIN, 0, 0) == 0);
		// Without CAP_SYS_ADMIN even our own namespace refuses mounts.
		CHK(unshare(CLONE_NEWNS) < 0 && errno == EPERM);
		return 0;
	});
}

TEST(IsolationTest, FdFromArgv) {
	EXPECT_EQ(argv_fd({"passt", "--fd", "5"}), 5);
	EXPECT_EQ(argv_fd({"passt", "-F", "7", "-f"}), 7);
	EXPECT_EQ(argv_fd({"passt", "--fd=9"}), 9);
	EXPECT_EQ(argv_fd({"passt", "-F12"}), 12);
	EXPECT_EQ(argv_fd({"passt", "-f"}), -1);
	// Standard streams are never "kept": they are kept anyway.
	EXPECT_EQ(argv_fd({"passt", "--fd", "1"}), -1);
	EXPECT_EQ(argv_fd({"passt", "--fd", "x"}), -1);
	EXPECT_EQ(argv_fd({"passt", "--fd"}), -1);
	// After "--" it is the command's argument, not ours.
	EXPECT_EQ(argv_fd({"pasta", "--", "prog", "--fd", "5"}), -1);
}

TEST(IsolationTest, InitialStageClosesInheritedFdsButTheNamedOne) {
	RUN_FORKED([] {
		int keep = open("/dev/null", O_RDONLY);
		int other = open("/dev/null", O_RDONLY);
		CHK(keep > 2 && other > 2);
		std::string fdarg = std::to_string(keep);
		std::vector<std::string> args = {"passt", "-f", "--fd", fdarg};
		std::vector<char *> v;
		for (auto &a : args)
			v.push_back(a.data());
		v.push_back(nullptr);
		isolate_initial(int(args.size()), v.data(), Mode::Passt);
		CHK(fcntl(keep, F_GETFD) >= 0);
		CHK(fcntl(other, F_GETFD) < 0 && errno == EBADF);
		CHK(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0);
		// SIGPIPE is ignored: a write into a closed pipe returns EPIPE.
		int p[2];
		CHK(pipe(p) == 0);
		close(p[0]);
		char c = 0;
		CHK(write(p[1], &c, 1) < 0 && errno == EPIPE);
		return 0;
	});
}

TEST(IsolationTest, RunAsOptionWinsAndUsersStayThemselves) {
	Config c;
	c.mode = Mode::Passt;
	c.runas_uid = 1234;
	c.runas_gid = 4321;
	RunAs ru;
	std::string err;
	ASSERT_EQ(isolate_resolve_user(c, &ru, &err), 0) << err;
	EXPECT_TRUE(ru.change);
	EXPECT_EQ(ru.uid, 1234u);
	EXPECT_EQ(ru.gid, 4321u);

	if (geteuid() != 0) {
		Config u;
		ASSERT_EQ(isolate_resolve_user(u, &ru, &err), 0);
		EXPECT_FALSE(ru.change) << "a user keeps its own uid";
	}
}

TEST(IsolationTest, CleanerRemovesKeptPathsOnRequestAndWhenWeDie) {
	char tmpl[] = "/tmp/isolation_test.XXXXXX";
	ASSERT_NE(mkdtemp(tmpl), nullptr);
	const std::string dir = tmpl;
	const std::string a = dir + "/a.socket", b = dir + "/b.pid", r = dir + "/a.socket.repair",
			  k = dir + "/c.ctl";
	for (const std::string &f : {a, b, r, k})
		close(open(f.c_str(), O_CREAT | O_WRONLY, 0600));

	// Orderly: the files are gone once isolate_unlink_kept() returns. Four
	// fit (socket, repair socket, control socket, PID file), not five.
	RUN_FORKED([&] {
		for (const std::string &f : {a, r, k, b})
			CHK(isolate_keep_for_unlink(f) == 0);
		CHK(isolate_keep_for_unlink(dir + "/e") == -ENOSPC);
		CHK(isolate_start_cleaner() == 0);
		CHK(access(a.c_str(), F_OK) == 0);
		isolate_unlink_kept();
		for (const std::string &f : {a, b, r, k})
			CHK(access(f.c_str(), F_OK) < 0);
		return 0;
	});

	// The daemon killed: its end of the socket closes, the file goes.
	close(open(a.c_str(), O_CREAT | O_WRONLY, 0600));
	int st = forked_status([&] {
		if (isolate_keep_for_unlink(a) < 0 || isolate_start_cleaner() < 0)
			return 1;
		raise(SIGKILL);
		return 2;
	});
	ASSERT_TRUE(WIFSIGNALED(st));
	bool gone = false;
	for (int i = 0; i < 100 && !gone; i++) {
		gone = access(a.c_str(), F_OK) < 0;
		if (!gone)
			usleep(10000);
	}
	EXPECT_TRUE(gone) << "the clean-up process did not remove " << a;
	rmdir(dir.c_str());
}
