// pasta's namespace handling: sysctls of the target namespace.
//
// ICMP echo ("ping") sockets are only allowed for the groups in
// net.ipv4.ping_group_range, which a new network namespace has empty. The
// whole range is written where the kernel takes it; in a user namespace
// whose map is narrower it refuses ranges it cannot map (EINVAL), and the
// lowest and highest mapped group IDs go there instead.
//
// #syscalls:init openat read write newfstatat close
#include "passt/host/ns.h"

#include <cerrno>
#include <climits>
#include <cstdio>

#include "passt/core/util.h"

namespace passt {

int ns_set_ping_group_range_here() {
	static const char path[] = "/proc/sys/net/ipv4/ping_group_range";
	int rc = write_file(path, "0 2147483647\n");
	if (rc != -EINVAL)
		return rc;

	// Both ends must be mapped in our user namespace: use the lowest and
	// highest group IDs of /proc/self/gid_map instead.
	FILE *f = std::fopen("/proc/self/gid_map", "re");
	if (!f)
		return -errno;
	unsigned long lo = ULONG_MAX, hi = 0, in, outer, cnt;
	while (std::fscanf(f, "%lu %lu %lu", &in, &outer, &cnt) == 3) {
		if (!cnt)
			continue;
		if (in < lo)
			lo = in;
		if (in + cnt - 1 > hi)
			hi = in + cnt - 1;
	}
	std::fclose(f);
	if (lo == ULONG_MAX)
		return -EINVAL;
	if (hi > 2147483647UL)
		hi = 2147483647UL;
	if (lo > hi)
		return -EINVAL;
	char buf[64];
	std::snprintf(buf, sizeof(buf), "%lu %lu\n", lo, hi);
	return write_file(path, buf);
}

int ns_set_ping_group_range(const NsHandle &ns) {
	NsCallOut out;
	int rc = ns_run(
		ns, [](NsCallOut *o) { o->ret = ns_set_ping_group_range_here(); }, &out);
	return rc < 0 ? rc : out.ret;
}

} // namespace passt
