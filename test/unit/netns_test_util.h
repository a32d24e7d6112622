// A fresh user + network namespace for unit tests that open real sockets:
// lo up, optional extra IPv4 addresses on lo, optional ping sockets. Call
// enter_netns() in a forked child (fork_test_util.h's RUN_FORKED), never in
// the test process itself.
#pragma once

#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <initializer_list>

#include "fork_test_util.h"
#include "passt/net/addr.h"

namespace passt::test {

inline bool netns_write(const char *path, const char *text) {
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = write(fd, text, std::strlen(text));
	close(fd);
	return n == ssize_t(std::strlen(text));
}

// Set interface (or alias) name up, through any socket s.
inline bool netns_if_up(int s, const char *name) {
	ifreq ifr{};
	std::snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return false;
	ifr.ifr_flags = short(ifr.ifr_flags | IFF_UP);
	return ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
}

// Add a as the address of the lo alias label ("lo:N").
inline bool netns_lo_alias(int s, const char *label, const Ipv4Addr &a) {
	ifreq ifr{};
	std::snprintf(ifr.ifr_name, IFNAMSIZ, "%s", label);
	sockaddr_in sin{};
	sin.sin_family = AF_INET;
	std::memcpy(&sin.sin_addr, a.b.data(), 4);
	std::memcpy(&ifr.ifr_addr, &sin, sizeof(sin));
	return ioctl(s, SIOCSIFADDR, &ifr) == 0 && netns_if_up(s, label);
}

// Enter a new user + network namespace (uid and gid 0 mapped to ours),
// bring lo up (127.0.0.1, ::1), add addrs on lo as lo:1, lo:2, ... and
// with ping allow ping sockets for our group. Returns 0, CHILD_SKIP if
// namespaces are not available here, or 1 (with a message on stderr).
inline int enter_netns(std::initializer_list<Ipv4Addr> addrs = {}, bool ping = false) {
	uid_t uid = getuid();
	gid_t gid = getgid();
	if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0) {
		std::fprintf(stderr, "unshare: %s\n", std::strerror(errno));
		return CHILD_SKIP;
	}
	char map[64];
	std::snprintf(map, sizeof(map), "0 %u 1", unsigned(uid));
	if (!netns_write("/proc/self/uid_map", map))
		return CHILD_SKIP;
	netns_write("/proc/self/setgroups", "deny");
	std::snprintf(map, sizeof(map), "0 %u 1", unsigned(gid));
	if (!netns_write("/proc/self/gid_map", map))
		return CHILD_SKIP;

	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CHK(s >= 0);
	bool ok = netns_if_up(s, "lo");
	unsigned n = 0;
	for (const Ipv4Addr &a : addrs) {
		char label[IFNAMSIZ];
		std::snprintf(label, sizeof(label), "lo:%u", ++n);
		ok = ok && netns_lo_alias(s, label, a);
	}
	close(s);
	CHK(ok);
	// A new namespace starts with ping sockets disabled ("1 0"); where only
	// our own group is mapped the full range is refused: then just ours.
	if (ping)
		CHK(netns_write("/proc/sys/net/ipv4/ping_group_range", "0 2147483647") ||
		    netns_write("/proc/sys/net/ipv4/ping_group_range", "0 0"));
	return 0;
}

} // namespace passt::test
