// pasta's namespace handling: joining an existing namespace.
//
// `pasta PID` and `pasta --netns PATH` name a network namespace; its user
// namespace is the --userns file, else /proc/PID/ns/user, else the owner
// of the netns (NS_GET_USERNS). A user namespace that is our own, or an
// ancestor of ours (NS_GET_USERNS: EPERM), is not joined: we already hold
// what we would get there. Both are opened here, once, as nsfs descriptors
// checked with NS_GET_NSTYPE; everything else uses the descriptors
// (ns_enter() in a child, see ns_call.cpp).
//
// #syscalls:init openat open ioctl fcntl close
#include "passt/host/ns.h"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>

#include "ns_priv.h"

namespace passt {

using namespace ns_detail;

namespace {

// Namespace type (CLONE_NEW*) of an nsfs fd, or -errno (ENOTTY: not nsfs).
int ns_type(int fd) {
	int t = ioctl(fd, NS_GET_NSTYPE);
	return t < 0 ? -errno : t;
}

// The user namespace to join with the network namespace nfd (from path):
// *ufd is the descriptor, or -1 if there is none to join. 0 or -errno,
// *err set.
int open_userns(pid_t pid, const std::string &userns, int nfd, const std::string &path, int *ufd,
		std::string *err) {
	std::string upath;
	if (!userns.empty())
		upath = userns;
	else if (pid > 0)
		upath = "/proc/" + std::to_string(pid) + "/ns/user";

	if (!upath.empty()) {
		*ufd = open(upath.c_str(), O_RDONLY | O_CLOEXEC);
		if (*ufd < 0) {
			int e = errno;
			set_err(err, "cannot open user namespace " + upath + ": " + errstr(e));
			return -e;
		}
		if (ns_type(*ufd) != CLONE_NEWUSER) {
			close_fd(ufd);
			set_err(err, upath + " is not a user namespace");
			return -EINVAL;
		}
	} else {
		// Owner of the netns; EPERM means it is an ancestor of
		// our own user namespace: nothing to join then.
		*ufd = ioctl(nfd, NS_GET_USERNS);
		if (*ufd < 0 && errno != EPERM) {
			int e = errno;
			*ufd = -1;
			set_err(err,
				"cannot find the user namespace owning " + path + ": " + errstr(e));
			return -e;
		}
		if (*ufd >= 0)
			fcntl(*ufd, F_SETFD, FD_CLOEXEC);
	}
	if (*ufd >= 0 && is_own_ns(*ufd, "user"))
		close_fd(ufd);
	return 0;
}

} // namespace

void ns_handle_close(NsHandle *ns) {
	close_fd(&ns->netns_fd);
	close_fd(&ns->userns_fd);
	ns->pid = 0;
	ns->netns_path.clear();
}

std::string ns_netns_path(const std::string &name_or_path) {
	if (name_or_path.empty() || name_or_path.find('/') != std::string::npos)
		return name_or_path;
	return "/run/netns/" + name_or_path;
}

int ns_join(pid_t pid, const std::string &netns, const std::string &userns, bool netns_only,
	    NsHandle *out, std::string *err) {
	ns_handle_close(out);
	if (pid > 0 && !netns.empty()) {
		set_err(err, "a target PID and --netns are mutually exclusive");
		return -EINVAL;
	}
	if (pid <= 0 && netns.empty()) {
		set_err(err, "no target namespace: need a PID or --netns");
		return -EINVAL;
	}
	if (netns_only && !userns.empty()) {
		set_err(err, "--userns and --netns-only are mutually exclusive");
		return -EINVAL;
	}

	std::string path =
		pid > 0 ? "/proc/" + std::to_string(pid) + "/ns/net" : ns_netns_path(netns);
	int nfd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
	if (nfd < 0) {
		int e = errno;
		set_err(err, "cannot open network namespace " + path + ": " + errstr(e));
		return -e;
	}
	int t = ns_type(nfd);
	if (t != CLONE_NEWNET) {
		close(nfd);
		set_err(err, path + " is not a network namespace");
		return -EINVAL;
	}

	int ufd = -1;
	if (!netns_only) {
		int rc = open_userns(pid, userns, nfd, path, &ufd, err);
		if (rc < 0) {
			close(nfd);
			return rc;
		}
	}

	out->netns_fd = nfd;
	out->userns_fd = ufd;
	out->pid = pid > 0 ? pid : 0;
	out->netns_path = pid > 0 ? std::string() : path;
	return 0;
}

} // namespace passt
