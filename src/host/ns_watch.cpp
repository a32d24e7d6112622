// pasta's namespace handling: watching a joined namespace.
//
// Theory of operation
// -------------------
// For a joined namespace an fd (pidfd, inotify or a timer) reports when the
// reference the user gave (the PID, the --netns file) is gone, and pasta
// exits then (unless --no-netns-quit). A PID, or a /proc/PID/ns/net path,
// is watched with a pidfd. A --netns file is watched with inotify on its
// directory: its name removed or moved, or the directory itself gone, is
// the end (only the events count: our copy of the mounts, detached from
// the host's, could mislead a look-up). Where inotify fails, a 1 s timer
// looks the name up again, relative to its directory, and compares it with
// the namespace joined. That fd, and the directory of a --netns file, are
// opened before the sandbox; afterwards only fds are used.
//
// #syscalls:pasta poll|ppoll read newfstatat close
// #syscalls:init pidfd_open fcntl openat inotify_init1 inotify_add_watch
// #syscalls:init timerfd_create timerfd_settime
#include "passt/host/ns.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>

#include "ns_priv.h"

namespace passt {

using namespace ns_detail;

namespace {

// PID from "/proc/PID/ns/net", or 0.
pid_t proc_ns_pid(const std::string &path) {
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

int pidfd_open_compat(pid_t pid) { return int(syscall(SYS_pidfd_open, pid, 0)); }

} // namespace

int ns_watch_start(const NsHandle &ns, NsWatch *w) {
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
	// (Not "dir = "/"" after the fact: g++ 12 then sees a -Wrestrict
	// overlap in the inlined assignment that cannot happen.)
	std::string dir = slash == std::string::npos ? std::string(".")
			  : slash == 0               ? std::string("/")
						     : w->path.substr(0, slash);
	w->base = slash == std::string::npos ? w->path : w->path.substr(slash + 1);
	// After the sandbox the path is gone from our view: keep its directory
	// (if it is gone already, so is the namespace: the first tick says so).
	w->dirfd = open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd >= 0 && inotify_add_watch(fd, dir.c_str(),
					 IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF |
						 IN_MOVE_SELF) >= 0) {
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

bool ns_watch_gone(NsWatch *w) {
	switch (w->kind) {
	case NsWatch::Kind::None: return false;
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
				bool dir_gone =
					ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED);
				bool ours = ev->len &&
					    !std::strncmp(ev->name, w->base.c_str(), ev->len);
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

void ns_watch_stop(NsWatch *w) {
	close_fd(&w->fd);
	close_fd(&w->dirfd);
	w->kind = NsWatch::Kind::None;
}

} // namespace passt
