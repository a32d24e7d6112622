// Tests for pasta's namespace handling (src/host/ns.cpp). Each test body
// runs in a forked child with an alarm() timeout, as it spawns processes,
// changes signal masks and creates namespaces. They need unprivileged user
// namespaces, and pass as root, as a normal user and inside `unshare -rn`.
#include "passt/host/ns.h"

#include <gtest/gtest.h>

#include "fork_test_util.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>

using namespace passt;
using passt::test::run_forked;

namespace {

struct TmpDir {
	std::string path;
	TmpDir() {
		char t[] = "/tmp/ns_test.XXXXXX";
		if (mkdtemp(t))
			path = t;
	}
	~TmpDir() {
		std::error_code ec;
		if (!path.empty())
			std::filesystem::remove_all(path, ec);
	}
};

std::string read_file(const std::string &p) {
	std::string s;
	FILE *f = std::fopen(p.c_str(), "r");
	if (!f)
		return s;
	char buf[512];
	size_t n;
	while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0)
		s.append(buf, n);
	std::fclose(f);
	return s;
}

ino_t fd_ino(int fd) {
	struct stat st;
	return fstat(fd, &st) ? 0 : st.st_ino;
}

ino_t path_ino(const char *p) {
	struct stat st;
	return stat(p, &st) ? 0 : st.st_ino;
}

// Waits (polling, bounded) for the command to exit.
bool wait_exit(NsCommand *cmd, int ms = 5000) {
	for (int i = 0; i < ms / 10; i++) {
		if (ns_command_poll(cmd))
			return true;
		usleep(10000);
	}
	return false;
}

// Netns inode of the namespace a socket belongs to (SIOCGSKNS).
ino_t socket_netns_ino(int s) {
	int nfd = ioctl(s, SIOCGSKNS);
	if (nfd < 0)
		return 0;
	ino_t i = fd_ino(nfd);
	close(nfd);
	return i;
}

// For ns_run(): the inode of the network namespace the helper is in.
void netns_inside(NsCallOut *o) {
	ino_t i = path_ino("/proc/self/ns/net");
	std::memcpy(o->data, &i, sizeof(i));
	o->len = sizeof(i);
}

ino_t out_ino(const NsCallOut &o) {
	ino_t i = 0;
	if (o.len == sizeof(i))
		std::memcpy(&i, o.data, sizeof(i));
	return i;
}

std::vector<std::string> sh(const std::string &script) { return {"/bin/sh", "-c", script}; }

} // namespace

TEST(NsTest, NetnsPath) {
	EXPECT_EQ(ns_netns_path("foo"), "/run/netns/foo");
	EXPECT_EQ(ns_netns_path("/var/run/netns/foo"), "/var/run/netns/foo");
	EXPECT_EQ(ns_netns_path("./foo"), "./foo");
	EXPECT_EQ(ns_netns_path(""), "");
}

TEST(NsTest, JoinRejectsBadArguments) {
	NsHandle ns;
	std::string err;
	EXPECT_EQ(ns_join(1, "foo", "", false, &ns, &err), -EINVAL);
	EXPECT_NE(err.find("mutually exclusive"), std::string::npos);
	EXPECT_EQ(ns_join(0, "", "", false, &ns, &err), -EINVAL);
	EXPECT_EQ(ns_join(0, "/proc/self/ns/net", "/proc/self/ns/user", true, &ns, &err), -EINVAL);
	EXPECT_EQ(ns_join(0, "passt-test-no-such-netns", "", false, &ns, &err), -ENOENT);
	EXPECT_NE(err.find("/run/netns/passt-test-no-such-netns"), std::string::npos);
	EXPECT_EQ(ns_join(0x3ffffff0, "", "", false, &ns, &err), -ENOENT);
	// A regular file, and a namespace of the wrong type.
	EXPECT_EQ(ns_join(0, "/proc/self/status", "", false, &ns, &err), -EINVAL);
	EXPECT_NE(err.find("not a network namespace"), std::string::npos);
	EXPECT_EQ(ns_join(0, "/proc/self/ns/uts", "", false, &ns, &err), -EINVAL);
	EXPECT_EQ(ns_join(0, "/proc/self/ns/net", "/proc/self/ns/net", false, &ns, &err), -EINVAL);
	EXPECT_NE(err.find("not a user namespace"), std::string::npos);
	EXPECT_EQ(ns.netns_fd, -1);
	EXPECT_EQ(ns.userns_fd, -1);
}

TEST(NsTest, JoinOwnNamespaceNeedsNoUserns) {
	NsHandle ns;
	std::string err;
	ASSERT_EQ(ns_join(0, "/proc/self/ns/net", "", false, &ns, &err), 0) << err;
	EXPECT_EQ(fd_ino(ns.netns_fd), path_ino("/proc/self/ns/net"));
	EXPECT_EQ(ns.userns_fd, -1); // owner is ours or an ancestor
	EXPECT_EQ(ns.netns_path, "/proc/self/ns/net");
	ns_handle_close(&ns);
	EXPECT_EQ(ns.netns_fd, -1);
}

TEST(NsTest, SpawnIsPausedUntilReleased) {
	RUN_FORKED([] {
		TmpDir d;
		CHK(!d.path.empty());
		std::string f = d.path + "/ran";
		NsHandle ns;
		NsCommand cmd;
		std::string err;
		int rc = ns_spawn_command(sh("echo ran > " + f), NsSpawn{}, &ns, &cmd, &err);
		if (rc < 0)
			std::fprintf(stderr, "spawn: %s\n", err.c_str());
		CHK(rc == 0);
		CHK(cmd.pid > 0 && ns.pid == cmd.pid);
		CHK(ns.netns_fd >= 0 && ns.userns_fd >= 0);
		CHK(fd_ino(ns.netns_fd) != path_ino("/proc/self/ns/net"));
		CHK(fd_ino(ns.userns_fd) != path_ino("/proc/self/ns/user"));
		usleep(200000);
		CHK(access(f.c_str(), F_OK) != 0);
		CHK(!ns_command_poll(&cmd));
		CHK(ns_release_command(&cmd) == 0);
		CHK(cmd.ctl_fd == -1);
		CHK(wait_exit(&cmd));
		CHK(cmd.exit_code == 0);
		CHK(read_file(f) == "ran\n");
		ns_handle_close(&ns);
		return 0;
	});
}

TEST(NsTest, SpawnedCommandIsRootInItsOwnNetns) {
	RUN_FORKED([] {
		TmpDir d;
		std::string f = d.path + "/out";
		NsHandle ns;
		NsCommand cmd;
		std::string err;
		std::string script = "exec > " + f +
				     "; id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map "
				     "/proc/self/setgroups; readlink /proc/self/ns/net; "
				     "cat /proc/net/dev";
		CHK(ns_spawn_command(sh(script), NsSpawn{}, &ns, &cmd, &err) == 0);
		CHK(ns_release_command(&cmd) == 0);
		CHK(wait_exit(&cmd) && cmd.exit_code == 0);
		std::string out = read_file(f);
		char uid_line[64], gid_line[64];
		std::snprintf(uid_line, sizeof(uid_line), "0 %u 1", unsigned(geteuid()));
		std::snprintf(gid_line, sizeof(gid_line), "0 %u 1", unsigned(getegid()));
		CHK(out.compare(0, 4, "0\n0\n") == 0);
		// Maps are printed with column padding: compare whitespace-free.
		std::string squeezed;
		bool sp = false;
		for (char c : out) {
			if (c == ' ' || c == '\t') {
				sp = true;
				continue;
			}
			if (sp && !squeezed.empty() && squeezed.back() != '\n')
				squeezed += ' ';
			sp = false;
			squeezed += c;
		}
		CHK(squeezed.find(uid_line) != std::string::npos);
		CHK(squeezed.find(gid_line) != std::string::npos);
		CHK(out.find("deny") != std::string::npos);
		std::string nsline = "net:[" + std::to_string(fd_ino(ns.netns_fd)) + "]";
		CHK(out.find(nsline) != std::string::npos);
		// /proc/net/dev of a fresh namespace: the header and lo only.
		CHK(out.find("lo:") != std::string::npos);
		size_t colons = 0;
		for (size_t p = out.find("Inter-|"); p != std::string::npos && p < out.size(); p++)
			colons += out[p] == ':';
		CHK(colons == 1);
		ns_handle_close(&ns);
		return 0;
	});
}

TEST(NsTest, ExitCodes) {
	RUN_FORKED([] {
		struct {
			const char *script;
			int code;
			int code_pid1; // in its own PID namespace
		} cases[] = {
			{"exit 7", 7, 7},
			// PID 1 of a namespace can't be killed from inside it
			{"kill -KILL $$", 128 + SIGKILL, 0},
			{"exec /nonexistent/passt-test-command", 127, 127},
		};
		for (bool pidns : {false, true}) {
			for (auto &c : cases) {
				NsHandle ns;
				NsCommand cmd;
				std::string err;
				NsSpawn how;
				how.new_pidns = pidns;
				CHK(ns_spawn_command(sh(c.script), how, &ns, &cmd, &err) == 0);
				CHK(ns_release_command(&cmd) == 0);
				CHK(wait_exit(&cmd));
				int want = pidns ? c.code_pid1 : c.code;
				if (cmd.exit_code != want)
					std::fprintf(stderr, "%s (pidns %d): %d\n", c.script,
						     int(pidns), cmd.exit_code);
				CHK(cmd.exit_code == want);
				ns_handle_close(&ns);
			}
		}
		// exec failure in the child itself
		NsHandle ns;
		NsCommand cmd;
		std::string err;
		CHK(ns_spawn_command({"/nonexistent/passt-test-command"}, NsSpawn{}, &ns, &cmd,
				     &err) == 0);
		CHK(ns_release_command(&cmd) == 0);
		CHK(wait_exit(&cmd) && cmd.exit_code == 127);
		ns_handle_close(&ns);
		return 0;
	});
}

TEST(NsTest, DefaultCommandIsShell) {
	RUN_FORKED([] {
		for (const char *shell : {"/bin/sh", (const char *)nullptr}) {
			if (shell)
				setenv("SHELL", shell, 1);
			else
				unsetenv("SHELL");
			int p[2];
			CHK(pipe(p) == 0);
			CHK(write(p[1], "exit 5\n", 7) == 7);
			close(p[1]);
			CHK(dup2(p[0], 0) == 0);
			close(p[0]);
			NsHandle ns;
			NsCommand cmd;
			std::string err;
			CHK(ns_spawn_command({}, NsSpawn{}, &ns, &cmd, &err) == 0);
			CHK(ns_release_command(&cmd) == 0);
			CHK(wait_exit(&cmd) && cmd.exit_code == 5);
			ns_handle_close(&ns);
		}
		return 0;
	});
}

TEST(NsTest, KillOrAbandonPausedCommand) {
	RUN_FORKED([] {
		TmpDir d;
		std::string f = d.path + "/ran";
		NsHandle ns;
		NsCommand cmd;
		std::string err;
		CHK(ns_spawn_command(sh("touch " + f), NsSpawn{}, &ns, &cmd, &err) == 0);
		ns_kill_command(&cmd);
		CHK(cmd.exited && cmd.exit_code == 128 + SIGKILL);
		ns_handle_close(&ns);

		// Closing the control socket without releasing: never runs.
		CHK(ns_spawn_command(sh("touch " + f), NsSpawn{}, &ns, &cmd, &err) == 0);
		close(cmd.ctl_fd);
		cmd.ctl_fd = -1;
		CHK(wait_exit(&cmd) && cmd.exit_code == 1);
		CHK(access(f.c_str(), F_OK) != 0);
		CHK(ns_release_command(&cmd) == -EBADF);
		ns_handle_close(&ns);
		return 0;
	});
}

// The command gets new PID (it is PID 1, with a /proc of its own), mount,
// UTS and IPC namespaces; with new_pidns false only UTS and IPC.
TEST(NsTest, SpawnedCommandIsPid1WithItsOwnUtsAndIpc) {
	RUN_FORKED([] {
		TmpDir d;
		auto own = [](const char *kind) {
			char buf[64];
			ssize_t n = readlink((std::string("/proc/self/ns/") + kind).c_str(), buf,
					     sizeof(buf) - 1);
			return n > 0 ? std::string(buf, size_t(n)) : std::string();
		};
		char host[65] = {};
		CHK(gethostname(host, sizeof(host) - 1) == 0);
		for (bool pidns : {true, false}) {
			std::string f = d.path + (pidns ? "/pidns" : "/nopidns");
			std::string script =
				"exec > " + f +
				"; echo $$; for k in pid mnt uts ipc; do readlink "
				"/proc/self/ns/$k; done; hostname passt-test-inside && "
				"hostname; ls /proc | grep -c '^[0-9]'";
			NsHandle ns;
			NsCommand cmd;
			std::string err;
			NsSpawn how;
			how.new_pidns = pidns;
			CHK(ns_spawn_command(sh(script), how, &ns, &cmd, &err) == 0);
			CHK(pidns == (cmd.status_fd >= 0));
			CHK(ns_release_command(&cmd) == 0);
			CHK(wait_exit(&cmd) && cmd.exit_code == 0);
			std::vector<std::string> l;
			std::string out = read_file(f);
			for (size_t a = 0, b; (b = out.find('\n', a)) != std::string::npos;
			     a = b + 1)
				l.push_back(out.substr(a, b - a));
			CHK(l.size() == 7);
			if (pidns) {
				CHK(l[0] == "1");
				CHK(l[1] != own("pid") && l[2] != own("mnt"));
				// sh, and ls: nothing else is in there
				CHK(cmd.own_proc && std::stoi(l[6]) <= 3);
			} else {
				CHK(l[0] == std::to_string(cmd.pid));
				CHK(l[1] == own("pid") && l[2] == own("mnt"));
				CHK(std::stoi(l[6]) > 3);
			}
			CHK(l[3] != own("uts") && l[4] != own("ipc"));
			CHK(l[5] == "passt-test-inside");
			char after[65] = {};
			CHK(gethostname(after, sizeof(after) - 1) == 0);
			CHK(std::string(after) == host);
			ns_handle_close(&ns);
		}
		return 0;
	});
}

// --userns: the command's namespaces are made inside the given user
// namespace, not in a new one.
TEST(NsTest, SpawnJoinsAGivenUserNamespace) {
	RUN_FORKED([] {
		NsHandle holder;
		NsCommand hcmd;
		std::string err;
		CHK(ns_spawn_command({"sleep", "30"}, NsSpawn{}, &holder, &hcmd, &err) == 0);
		CHK(holder.userns_fd >= 0);
		TmpDir d;
		std::string f = d.path + "/out";
		NsHandle ns;
		NsCommand cmd;
		NsSpawn how;
		how.new_userns = false;
		how.userns_fd = holder.userns_fd;
		CHK(ns_spawn_command(sh("readlink /proc/self/ns/user > " + f + "; id -u >> " + f),
				     how, &ns, &cmd, &err) == 0);
		CHK(ns_release_command(&cmd) == 0);
		CHK(wait_exit(&cmd) && cmd.exit_code == 0);
		std::string want = "user:[" + std::to_string(fd_ino(holder.userns_fd)) + "]\n0\n";
		CHK(read_file(f) == want);
		CHK(ns.userns_fd >= 0 && fd_ino(ns.userns_fd) == fd_ino(holder.userns_fd));
		CHK(ns.netns_fd >= 0 && fd_ino(ns.netns_fd) != fd_ino(holder.netns_fd));
		ns_kill_command(&hcmd);
		ns_handle_close(&ns);
		ns_handle_close(&holder);
		return 0;
	});
}

TEST(NsTest, SignalfdForwardsTerminationAndReportsExit) {
	RUN_FORKED([] {
		int sfd = ns_signalfd_open();
		CHK(sfd >= 0);
		NsHandle ns;
		NsCommand cmd;
		std::string err;
		CHK(ns_spawn_command({"sleep", "30"}, NsSpawn{}, &ns, &cmd, &err) == 0);
		CHK(ns_release_command(&cmd) == 0);
		usleep(100000);
		CHK(kill(getpid(), SIGTERM) == 0);
		NsSignalResult r;
		for (int i = 0; i < 100 && r.event != NsSignalEvent::CommandExited; i++) {
			struct pollfd p = {sfd, POLLIN, 0};
			poll(&p, 1, 100);
			r = ns_signalfd_handle(sfd, &cmd);
			CHK(r.event != NsSignalEvent::Terminate);
		}
		CHK(r.event == NsSignalEvent::CommandExited);
		// sleep, PID 1 of its namespace, ignores SIGTERM: it was
		// killed for it, with the status SIGTERM would have given.
		CHK(r.exit_code == 128 + SIGTERM);
		ns_handle_close(&ns);

		// One that handles it gets it, and is not killed.
		CHK(ns_spawn_command(sh("trap 'exit 9' TERM; while :; do sleep 0.05; done"),
				     NsSpawn{}, &ns, &cmd, &err) == 0);
		CHK(ns_release_command(&cmd) == 0);
		usleep(200000);
		CHK(kill(getpid(), SIGTERM) == 0);
		r = NsSignalResult{};
		for (int i = 0; i < 100 && r.event != NsSignalEvent::CommandExited; i++) {
			struct pollfd p = {sfd, POLLIN, 0};
			poll(&p, 1, 100);
			r = ns_signalfd_handle(sfd, &cmd);
		}
		CHK(r.event == NsSignalEvent::CommandExited && r.exit_code == 9);
		ns_handle_close(&ns);

		// Plain exit, reported through SIGCHLD.
		CHK(ns_spawn_command(sh("exit 3"), NsSpawn{}, &ns, &cmd, &err) == 0);
		CHK(ns_release_command(&cmd) == 0);
		r = NsSignalResult{};
		for (int i = 0; i < 100 && r.event == NsSignalEvent::None; i++) {
			struct pollfd p = {sfd, POLLIN, 0};
			poll(&p, 1, 100);
			r = ns_signalfd_handle(sfd, &cmd);
		}
		CHK(r.event == NsSignalEvent::CommandExited && r.exit_code == 3);
		ns_handle_close(&ns);

		// Nothing to forward to: pasta itself should terminate.
		CHK(kill(getpid(), SIGHUP) == 0);
		struct pollfd p = {sfd, POLLIN, 0};
		CHK(poll(&p, 1, 2000) == 1);
		r = ns_signalfd_handle(sfd, nullptr);
		CHK(r.event == NsSignalEvent::Terminate && r.signo == SIGHUP &&
		    r.exit_code == 128 + SIGHUP);
		// Nothing pending: None.
		r = ns_signalfd_handle(sfd, nullptr);
		CHK(r.event == NsSignalEvent::None);
		close(sfd);
		return 0;
	});
}

TEST(NsTest, CallRunsInsideAndPassesBackDataAndFds) {
	RUN_FORKED([] {
		NsHandle ns;
		NsCommand cmd;
		std::string err;
		CHK(ns_spawn_command({"true"}, NsSpawn{}, &ns, &cmd, &err) == 0);
		ino_t want = fd_ino(ns.netns_fd);
		ino_t mine = path_ino("/proc/self/ns/net");
		NsCallOut out;
		int rc = ns_run(
			ns,
			[](NsCallOut *o) {
				o->ret = 42;
				ino_t i = path_ino("/proc/self/ns/net");
				std::memcpy(o->data, &i, sizeof(i));
				o->len = sizeof(i);
				o->fds[0] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
				o->fds[1] = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
				o->nfds = 2;
			},
			&out);
		CHK(rc == 0);
		CHK(out.ret == 42);
		CHK(out.len == sizeof(ino_t));
		ino_t inside;
		std::memcpy(&inside, out.data, sizeof(inside));
		CHK(inside == want && inside != mine);
		CHK(out.nfds == 2);
		CHK(socket_netns_ino(out.fds[0]) == want);
		CHK(socket_netns_ino(out.fds[1]) == want);
		CHK(fcntl(out.fds[0], F_GETFD) & FD_CLOEXEC);
		close(out.fds[0]);
		close(out.fds[1]);

		int s = ns_socket(ns, AF_INET, SOCK_DGRAM, 0);
		CHK(s >= 0 && socket_netns_ino(s) == want);
		close(s);
		CHK(ns_socket(ns, 12345, SOCK_DGRAM, 0) == -EAFNOSUPPORT);

		// A handle whose "netns" is not one: setns fails, reported.
		NsHandle bad;
		bad.netns_fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
		CHK(ns_run(
			    bad, [](NsCallOut *o) { o->ret = 1; }, &out) == -EINVAL);
		ns_handle_close(&bad);
		CHK(ns_run(
			    bad, [](NsCallOut *o) { o->ret = 1; }, &out) == -EBADF);

		ns_kill_command(&cmd);
		ns_handle_close(&ns);
		return 0;
	});
}

TEST(NsTest, SocketHelper) {
	RUN_FORKED([] {
		NsHandle ns;
		NsCommand cmd;
		std::string err;
		CHK(ns_spawn_command({"true"}, NsSpawn{}, &ns, &cmd, &err) == 0);
		ino_t want = fd_ino(ns.netns_fd);

		// The helper must not keep our descriptors open.
		int p[2];
		CHK(pipe2(p, 0) == 0);
		NsSocketHelper h;
		CHK(ns_socket_helper_start(ns, &h) == 0);
		CHK(h.pid > 0 && h.fd >= 0);
		close(p[1]);
		struct pollfd pfd = {p[0], POLLIN, 0};
		CHK(poll(&pfd, 1, 2000) == 1 && (pfd.revents & POLLHUP));
		close(p[0]);

		for (int i = 0; i < 20; i++) {
			int s = ns_socket_helper_socket(h, i % 2 ? AF_INET6 : AF_INET,
							SOCK_STREAM | SOCK_NONBLOCK, 0);
			CHK(s >= 0);
			CHK(socket_netns_ino(s) == want);
			CHK(fcntl(s, F_GETFL) & O_NONBLOCK);
			CHK(fcntl(s, F_GETFD) & FD_CLOEXEC);
			close(s);
		}
		CHK(ns_socket_helper_socket(h, 12345, SOCK_DGRAM, 0) == -EAFNOSUPPORT);
		// Netlink, as used for configuring the namespace.
		int nl = ns_socket_helper_socket(h, AF_NETLINK, SOCK_RAW, 0);
		CHK(nl >= 0 && socket_netns_ino(nl) == want);
		close(nl);

		pid_t hp = h.pid;
		ns_socket_helper_stop(&h);
		CHK(h.fd == -1 && h.pid == -1);
		CHK(kill(hp, 0) == -1 && errno == ESRCH);
		CHK(ns_socket_helper_socket(h, AF_INET, SOCK_DGRAM, 0) == -EBADF);

		// Helper start fails cleanly when the namespace cannot be entered.
		NsHandle bad;
		bad.netns_fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
		CHK(ns_socket_helper_start(bad, &h) == -EINVAL);
		ns_handle_close(&bad);

		ns_kill_command(&cmd);
		ns_handle_close(&ns);
		return 0;
	});
}

TEST(NsTest, JoinByPidAndPath) {
	RUN_FORKED([] {
		NsHandle sp;
		NsCommand cmd;
		std::string err;
		CHK(ns_spawn_command({"true"}, NsSpawn{}, &sp, &cmd, &err) == 0);
		ino_t net = fd_ino(sp.netns_fd), user = fd_ino(sp.userns_fd);

		NsHandle j;
		CHK(ns_join(cmd.pid, "", "", false, &j, &err) == 0);
		CHK(fd_ino(j.netns_fd) == net && fd_ino(j.userns_fd) == user);
		CHK(j.pid == cmd.pid && j.netns_path.empty());
		NsCallOut out;
		CHK(ns_run(j, netns_inside, &out) == 0);
		CHK(out_ino(out) == net);

		CHK(ns_join(cmd.pid, "", "", true, &j, &err) == 0);
		CHK(fd_ino(j.netns_fd) == net && j.userns_fd == -1);

		// By path: the owner of the netns is found with NS_GET_USERNS.
		std::string path = "/proc/" + std::to_string(cmd.pid) + "/ns/net";
		CHK(ns_join(0, path, "", false, &j, &err) == 0);
		CHK(fd_ino(j.netns_fd) == net && fd_ino(j.userns_fd) == user);
		CHK(j.pid == 0 && j.netns_path == path);

		// Explicit --userns.
		std::string upath = "/proc/" + std::to_string(cmd.pid) + "/ns/user";
		CHK(ns_join(0, path, upath, false, &j, &err) == 0);
		CHK(fd_ino(j.userns_fd) == user);
		CHK(ns_run(j, netns_inside, &out) == 0);
		CHK(out_ino(out) == net);
		ns_handle_close(&j);

		ns_kill_command(&cmd);
		ns_handle_close(&sp);
		return 0;
	});
}

TEST(NsTest, PingGroupRange) {
	RUN_FORKED([] {
		NsHandle ns;
		NsCommand cmd;
		std::string err;
		CHK(ns_spawn_command({"true"}, NsSpawn{}, &ns, &cmd, &err) == 0);
		auto try_ping_socket = [](NsCallOut *o) {
			int s = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
			o->ret = s < 0 ? -errno : 0;
			if (s >= 0)
				close(s);
		};
		NsCallOut out;
		// A new namespace starts with "1 0": nobody may.
		CHK(ns_run(ns, try_ping_socket, &out) == 0);
		CHK(out.ret == -EACCES);
		CHK(ns_set_ping_group_range(ns) == 0);
		CHK(ns_run(ns, try_ping_socket, &out) == 0);
		CHK(out.ret == 0);
		// Only gid 0 is mapped in there: the range is "0 0".
		CHK(ns_run(
			    ns,
			    [](NsCallOut *o) {
				    FILE *f =
					    std::fopen("/proc/sys/net/ipv4/ping_group_range", "r");
				    unsigned a = 9, b = 9;
				    o->ret = f && std::fscanf(f, "%u %u", &a, &b) == 2 ? 0 : -1;
				    if (f)
					    std::fclose(f);
				    std::memcpy(o->data, &a, sizeof(a));
				    std::memcpy(o->data + sizeof(a), &b, sizeof(b));
				    o->len = 2 * sizeof(unsigned);
			    },
			    &out) == 0);
		unsigned a, b;
		std::memcpy(&a, out.data, sizeof(a));
		std::memcpy(&b, out.data + sizeof(a), sizeof(b));
		CHK(out.ret == 0 && a == 0 && b == 0);
		ns_kill_command(&cmd);
		ns_handle_close(&ns);
		return 0;
	});
}

TEST(NsTest, WatchPid) {
	RUN_FORKED([] {
		NsHandle ns;
		NsCommand cmd;
		std::string err;
		CHK(ns_spawn_command({"sleep", "0.3"}, NsSpawn{}, &ns, &cmd, &err) == 0);
		NsWatch w;
		CHK(ns_watch_start(ns, &w) == 0);
		CHK(w.kind == NsWatch::Kind::Pidfd && w.fd >= 0);
		CHK(!ns_watch_gone(&w));
		CHK(ns_release_command(&cmd) == 0);
		struct pollfd p = {w.fd, POLLIN, 0};
		CHK(poll(&p, 1, 5000) == 1);
		CHK(ns_watch_gone(&w));
		ns_watch_stop(&w);
		CHK(w.fd == -1);
		CHK(wait_exit(&cmd) && cmd.exit_code == 0);

		// /proc/PID/ns/net given as --netns: watched by PID too.
		CHK(ns_spawn_command({"true"}, NsSpawn{}, &ns, &cmd, &err) == 0);
		NsHandle j;
		CHK(ns_join(0, "/proc/" + std::to_string(cmd.pid) + "/ns/net", "", false, &j,
			    &err) == 0);
		CHK(ns_watch_start(j, &w) == 0 && w.kind == NsWatch::Kind::Pidfd);
		CHK(!ns_watch_gone(&w));
		ns_kill_command(&cmd);
		CHK(ns_watch_gone(&w));
		ns_watch_stop(&w);
		ns_handle_close(&j);
		ns_handle_close(&ns);
		return 0;
	});
}

TEST(NsTest, WatchPathInotifyAndTimer) {
	RUN_FORKED([] {
		// The watch only cares about the path and the identity of the
		// file behind it: a regular file stands in for a netns mount.
		TmpDir d;
		std::string f = d.path + "/netns";
		int fd = open(f.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
		CHK(fd >= 0);
		NsHandle ns;
		ns.netns_fd = fd;
		ns.netns_path = f;
		NsWatch w;
		CHK(ns_watch_start(ns, &w) == 0);
		CHK(w.kind == NsWatch::Kind::Inotify);
		CHK(!ns_watch_gone(&w));
		// Unrelated activity in the directory: readable, not gone.
		int other = open((d.path + "/other").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
		close(other);
		CHK(unlink((d.path + "/other").c_str()) == 0);
		struct pollfd p = {w.fd, POLLIN, 0};
		CHK(poll(&p, 1, 2000) == 1);
		CHK(!ns_watch_gone(&w));
		// Replaced by another file of the same name: gone.
		CHK(rename(f.c_str(), (d.path + "/old").c_str()) == 0);
		int nf = open(f.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
		close(nf);
		CHK(poll(&p, 1, 2000) == 1);
		CHK(ns_watch_gone(&w));
		ns_watch_stop(&w);

		// Directory that cannot be watched: timer fallback.
		ns.netns_path = "/nonexistent-passt-test-dir/netns";
		CHK(ns_watch_start(ns, &w) == 0);
		CHK(w.kind == NsWatch::Kind::Timer);
		p = {w.fd, POLLIN, 0};
		CHK(poll(&p, 1, 3000) == 1);
		CHK(ns_watch_gone(&w));
		ns_watch_stop(&w);
		ns_handle_close(&ns);

		NsHandle none;
		CHK(ns_watch_start(none, &w) == -EINVAL);
		CHK(!ns_watch_gone(&w));
		return 0;
	});
}
