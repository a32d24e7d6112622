// passt-repair: the privileged helper that sets and clears TCP_REPAIR on
// sockets the daemon hands it, so that the daemon itself needs no
// capability to migrate TCP connections.
//
// Theory of operation. Started (by a management tool, or by hand) with
// CAP_NET_ADMIN, or as root, it keeps CAP_NET_ADMIN only: every other
// capability leaves the bounding set (where CAP_SETPCAP allows) and the
// effective, permitted, inheritable and ambient sets. It then finds the
// daemon's socket: PATH itself if it exists; in PATH, the first UNIX
// socket whose name ends in ".repair" if PATH is a directory (waiting for
// one with inotify if there is none yet); and if PATH does not exist yet,
// it waits for that name to appear in its directory. Once connected it
// sets no_new_privs and a seccomp filter that allows only what the loop
// calls (recvmsg, setsockopt, send, close, write for its one-line
// messages, exit), and serves:
//
//   daemon -> helper   one signed byte, the TCP_REPAIR value (1 on, 0 off,
//                      -1 off without window probe), with 1 to SCM_MAX_FD
//                      (253) sockets as SCM_RIGHTS
//   helper -> daemon   the same byte, once it is set on every socket
//
// Anything else (an unknown command, a message without sockets, truncated
// ancillary data, a failing setsockopt) is reported on stderr in one line
// and ends the helper with exit status 1, closing the connection, which
// the daemon sees. When the daemon closes the connection (the migration is
// over), the helper exits with status 0.
//
// #syscalls:init close_range prctl capget capset socket connect inotify_init1 ioctl
// #syscalls:init inotify_add_watch read openat getdents64 newfstatat fstat close
// #syscalls:init nanosleep clock_nanosleep write exit_group
// #syscalls:helper recvmsg sendto setsockopt close write exit_group rt_sigreturn
// #syscalls:helper restart_syscall
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

#include <dirent.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "passt/host/isolation.h"

namespace {

constexpr size_t MAX_FDS = 253; // SCM_MAX_FD

// What the serving loop calls, and nothing else.
const long loop_syscalls[] = {
	__NR_recvmsg, __NR_sendto,     __NR_setsockopt,   __NR_close,
	__NR_write,   __NR_exit_group, __NR_rt_sigreturn, __NR_restart_syscall,
};

[[noreturn]] void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
[[noreturn]] void fail(const char *fmt, ...) {
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "passt-repair: ");
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(buf + n, sizeof(buf) - size_t(n) - 1, fmt, ap);
	va_end(ap);
	size_t len = size_t(n) + (m < 0 ? 0 : size_t(m));
	if (len > sizeof(buf) - 2)
		len = sizeof(buf) - 2;
	buf[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, buf, len);
	(void)w;
	_exit(1);
}

void usage() {
	printf("Usage: passt-repair PATH\n"
	       "       passt-repair --help | --version\n"
	       "\n"
	       "Set and clear TCP_REPAIR on sockets passed by passt over the UNIX\n"
	       "domain socket PATH (--repair-path of passt). If PATH is a directory,\n"
	       "wait for a socket ending in .repair there; if it does not exist yet,\n"
	       "wait for it to appear. Needs CAP_NET_ADMIN, and keeps only that.\n");
}

// Keeps CAP_NET_ADMIN only, in every set that can be changed.
void keep_net_admin() {
	// The bounding set first: dropping from it needs CAP_SETPCAP, which
	// goes with the capset below. Without CAP_SETPCAP it stays as it is;
	// no_new_privs, set before the filter, already keeps execve() from
	// granting anything.
	for (int cap = 0; cap <= 63; cap++) {
		if (cap == CAP_NET_ADMIN)
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break; // past the last capability
			if (errno != EPERM)
				fail("dropping capability %d from the bounding set: %s", cap,
				     strerror(errno));
		}
	}
	__user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	__user_cap_data_struct data[2] = {};
	if (syscall(SYS_capget, &hdr, data))
		fail("capget: %s", strerror(errno));
	const uint32_t keep = uint32_t(1) << CAP_NET_ADMIN; // in data[0]
	data[0].effective &= keep;
	data[0].permitted &= keep;
	data[0].inheritable = 0;
	data[1] = {};
	if (syscall(SYS_capset, &hdr, data))
		fail("capset: %s", strerror(errno));
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		fail("clearing the ambient capabilities: %s", strerror(errno));
}

bool is_socket(const std::string &path) {
	struct stat sb;
	return !stat(path.c_str(), &sb) && S_ISSOCK(sb.st_mode);
}

bool ends_with_repair(const char *name) {
	size_t n = strlen(name);
	return n > 7 && !strcmp(name + n - 7, ".repair");
}

// In dir, a socket called name (or, with name empty, any *.repair socket).
std::string find_in(const std::string &dir, const std::string &name) {
	if (!name.empty())
		return is_socket(dir + "/" + name) ? dir + "/" + name : std::string();
	DIR *d = opendir(dir.c_str());
	if (!d)
		fail("%s: %s", dir.c_str(), strerror(errno));
	std::string found;
	while (dirent *e = readdir(d)) {
		if (ends_with_repair(e->d_name) && is_socket(dir + "/" + e->d_name)) {
			found = dir + "/" + e->d_name;
			break;
		}
	}
	closedir(d);
	return found;
}

// Waits until find_in(dir, name) finds something, and returns it.
std::string wait_in(const std::string &dir, const std::string &name) {
	int in = inotify_init1(IN_CLOEXEC);
	if (in < 0)
		fail("inotify_init1: %s", strerror(errno));
	// The watch first, then the look: a socket created in between is seen.
	if (inotify_add_watch(in, dir.c_str(), IN_CREATE | IN_MOVED_TO) < 0)
		fail("%s: %s", dir.c_str(), strerror(errno));
	std::string found = find_in(dir, name);
	alignas(inotify_event) char buf[4096];
	while (found.empty()) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fail("waiting for a socket in %s: %s", dir.c_str(),
			     n < 0 ? strerror(errno) : "end of events");
		found = find_in(dir, name);
	}
	close(in);
	return found;
}

// The socket to connect to, as the man page describes PATH.
std::string resolve(const std::string &path) {
	struct stat sb;
	if (!stat(path.c_str(), &sb))
		return S_ISDIR(sb.st_mode) ? wait_in(path, "") : path;
	if (errno != ENOENT)
		fail("%s: %s", path.c_str(), strerror(errno));
	size_t slash = path.rfind('/');
	std::string dir = slash == std::string::npos ? "." : slash ? path.substr(0, slash) : "/";
	std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
	if (name.empty())
		fail("%s: %s", path.c_str(), strerror(ENOENT));
	return wait_in(dir, name);
}

int connect_to(const std::string &path) {
	sockaddr_un sun = {};
	sun.sun_family = AF_UNIX;
	if (path.size() >= sizeof(sun.sun_path))
		fail("%s: path too long for a UNIX domain socket", path.c_str());
	memcpy(sun.sun_path, path.c_str(), path.size() + 1);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		fail("socket: %s", strerror(errno));
	// A socket file appears at bind(), a moment before the daemon listens
	// on it: retry a refused connection for up to about 5 seconds.
	for (int tries = 0;; tries++) {
		if (!connect(s, reinterpret_cast<const sockaddr *>(&sun), sizeof(sun)))
			return s;
		if (errno != ECONNREFUSED || tries >= 50)
			fail("connecting to %s: %s", path.c_str(), strerror(errno));
		timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, nullptr);
	}
}

// One command; returns false when the daemon closed the connection.
bool serve_one(int s) {
	int8_t cmd = 0;
	iovec iov = {&cmd, 1};
	alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
	msghdr mh = {};
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	ssize_t n;
	do
		n = recvmsg(s, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		fail("receiving a command: %s", strerror(errno));
	if (n == 0)
		return false;
	if (mh.msg_flags & MSG_CTRUNC)
		fail("too many sockets in one message (at most %zu)", MAX_FDS);

	int fds[MAX_FDS];
	size_t nfds = 0;
	for (cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (k > MAX_FDS - nfds)
			fail("too many sockets in one message (at most %zu)", MAX_FDS);
		memcpy(fds + nfds, CMSG_DATA(c), k * sizeof(int));
		nfds += k;
	}
	if (cmd != TCP_REPAIR_ON && cmd != TCP_REPAIR_OFF && cmd != TCP_REPAIR_OFF_NO_WP)
		fail("unknown command %d (1: on, 0: off, -1: off without window probe)", cmd);
	if (!nfds)
		fail("command %d without sockets", cmd);

	// The sign is the point: -1 is TCP_REPAIR_OFF_NO_WP.
	int v = cmd; // NOLINT(bugprone-signed-char-misuse)
	for (size_t i = 0; i < nfds; i++) {
		if (setsockopt(fds[i], IPPROTO_TCP, TCP_REPAIR, &v, sizeof(v)) < 0)
			fail("setting TCP_REPAIR to %d on socket %zu of %zu: %s", v, i + 1, nfds,
			     strerror(errno));
	}
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);

	do
		n = send(s, &cmd, 1, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		fail("answering: %s", n < 0 ? strerror(errno) : "short write");
	return true;
}

} // namespace

int main(int argc, char **argv) {
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage();
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "--version")) {
		printf("passt-repair " PASST_VERSION "\n");
		return 0;
	}
	if (argc != 2 || argv[1][0] == '-' || !argv[1][0])
		fail("%s (see --help)", argc < 2   ? "missing PATH"
					: argc > 2 ? "one PATH only"
						   : "PATH must not be empty or start with '-'");
	// Nothing inherited beyond stdio.
	syscall(SYS_close_range, 3U, ~0U, 0U);
	keep_net_admin();

	int s = connect_to(resolve(argv[1]));
	int rc = passt::isolate_seccomp(loop_syscalls);
	if (rc < 0)
		fail("installing the seccomp filter: %s", strerror(-rc));
	while (serve_one(s))
		;
	_exit(0); // exit() could flush stdio or run handlers outside the filter
}
