// pasta's tap device.
//
// Theory of operation
// -------------------
// A TUNSETIFF on /dev/net/tun creates (or attaches to) a tap interface in
// the network namespace of the calling task; the fd keeps serving that
// interface wherever it is used later. pasta therefore opens it inside the
// target namespace, through a forked helper (ns_call), and receives the fd.
//
// IFF_NO_PI: frames are plain Ethernet, no packet-info prefix.
// IFF_VNET_HDR: every frame, in both directions, is preceded by a
// virtio_net_hdr_v1 (12 bytes, little-endian: flags, gso_type, hdr_len,
// gso_size, csum_start, csum_offset, num_buffers). TUNSETOFFLOAD then tells
// the kernel what we can take from it: TUN_F_CSUM lets it hand over frames
// with a partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM), TSO4/TSO6 TCP
// segments of up to 64 KiB at any MTU, USO4/USO6 (kernel >= 6.2, both or
// neither) the same for UDP. Unknown flags make the kernel fail with
// EINVAL, so we step down through smaller sets and report what stuck.
// Frames we write with an all-zero header are ordinary complete frames.
//
// #syscalls:init openat ioctl close
#include "passt/tap/tun.h"

#include "passt/host/ns.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace passt {

// <linux/virtio_net.h> does not compile as C++ (a member named "class"):
// TUN_VNET_HDR_LEN is the size of its struct virtio_net_hdr_v1, 5 x u16 + u8 x 2.
static_assert(TUN_VNET_HDR_LEN == 2 * 5 + 2);
static_assert(TUN_OFFLOAD_CSUM == TUN_F_CSUM && TUN_OFFLOAD_TSO4 == TUN_F_TSO4 &&
	      TUN_OFFLOAD_TSO6 == TUN_F_TSO6);

int tun_set_offloads(int fd, unsigned flags) {
	return ioctl(fd, TUNSETOFFLOAD, flags) ? -errno : 0;
}

int tun_open(const char *ifname, bool vnet_hdr, char *actual_name_out, unsigned *offloads_out) {
	if (offloads_out)
		*offloads_out = 0;
	struct ifreq ifr;
	std::memset(&ifr, 0, sizeof(ifr));
	if (ifname && *ifname) {
		if (std::strlen(ifname) >= IFNAMSIZ)
			return -EINVAL;
		std::memcpy(ifr.ifr_name, ifname, std::strlen(ifname));
	}
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet_hdr ? IFF_VNET_HDR : 0);

	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, TUNSETIFF, &ifr)) {
		int e = errno;
		close(fd);
		return -e;
	}

	if (vnet_hdr) {
		int sz = int(TUN_VNET_HDR_LEN);
		if (ioctl(fd, TUNSETVNETHDRSZ, &sz)) {
			int e = errno;
			close(fd);
			return -e;
		}
		// Little-endian is the default on little-endian hosts and what
		// virtio 1.0 mandates; say so for the others. Old kernels lack
		// the ioctl, which is only a problem on big-endian machines.
		int le = 1;
		ioctl(fd, TUNSETVNETLE, &le);

		static const unsigned sets[] = {
			TUN_OFFLOAD_CSUM | TUN_OFFLOAD_TSO4 | TUN_OFFLOAD_TSO6 | TUN_OFFLOAD_USO4 |
				TUN_OFFLOAD_USO6,
			TUN_OFFLOAD_CSUM | TUN_OFFLOAD_TSO4 | TUN_OFFLOAD_TSO6,
			TUN_OFFLOAD_CSUM,
		};
		unsigned got = 0;
		for (unsigned s : sets) {
			if (tun_set_offloads(fd, s) == 0) {
				got = s;
				break;
			}
		}
		if (offloads_out)
			*offloads_out = got;
	}

	if (actual_name_out) {
		std::memcpy(actual_name_out, ifr.ifr_name, IFNAMSIZ);
		actual_name_out[IFNAMSIZ - 1] = '\0';
	}
	return fd;
}

int tun_open_in_ns(const NsHandle &ns, const char *ifname, bool vnet_hdr, char *actual_name_out,
		   unsigned *offloads_out) {
	struct Result {
		unsigned offloads;
		char name[IFNAMSIZ];
	};
	static_assert(sizeof(Result) <= NS_CALL_MAX_DATA);
	if (offloads_out)
		*offloads_out = 0;
	if (ifname && std::strlen(ifname) >= IFNAMSIZ)
		return -EINVAL;

	NsCallOut out;
	int rc = ns_run(
		ns,
		[&](NsCallOut *o) {
			Result r = {};
			int fd = tun_open(ifname, vnet_hdr, r.name, &r.offloads);
			if (fd < 0) {
				o->ret = fd;
				return;
			}
			o->fds[0] = fd;
			o->nfds = 1;
			std::memcpy(o->data, &r, sizeof(r));
			o->len = sizeof(r);
		},
		&out);
	if (rc < 0)
		return rc;
	if (out.ret < 0)
		return out.ret;
	if (out.nfds != 1 || out.len != sizeof(Result)) {
		for (unsigned i = 0; i < out.nfds; i++)
			close(out.fds[i]);
		return -EPROTO;
	}
	Result r;
	std::memcpy(&r, out.data, sizeof(r));
	r.name[IFNAMSIZ - 1] = '\0';
	if (actual_name_out)
		std::memcpy(actual_name_out, r.name, IFNAMSIZ);
	if (offloads_out)
		*offloads_out = r.offloads;
	return out.fds[0];
}

int tun_open_in_ns(int netns_fd, int userns_fd, const char *ifname, bool vnet_hdr,
		   char *actual_name_out, unsigned *offloads_out) {
	NsHandle ns;
	ns.netns_fd = netns_fd;
	ns.userns_fd = userns_fd;
	int rc = tun_open_in_ns(ns, ifname, vnet_hdr, actual_name_out, offloads_out);
	// The handle borrows the caller's descriptors: do not close them.
	ns.netns_fd = -1;
	ns.userns_fd = -1;
	return rc;
}

} // namespace passt
