// pasta's tap device: /dev/net/tun in IFF_TAP | IFF_NO_PI mode, optionally
// with virtio-net headers and offloads. See src/tap/tun.cpp.
#pragma once

#include <net/if.h>

#include <cstddef>

namespace passt {

struct NsHandle;

// Size of the virtio-net header (struct virtio_net_hdr_v1, with
// num_buffers) that precedes every frame on a tun fd opened with vnet_hdr.
constexpr size_t TUN_VNET_HDR_LEN = 12;

// TUNSETOFFLOAD flags; USO is only known to kernels >= 6.2 headers.
constexpr unsigned TUN_OFFLOAD_CSUM = 0x01;
constexpr unsigned TUN_OFFLOAD_TSO4 = 0x02;
constexpr unsigned TUN_OFFLOAD_TSO6 = 0x04;
constexpr unsigned TUN_OFFLOAD_USO4 = 0x20;
constexpr unsigned TUN_OFFLOAD_USO6 = 0x40;

// Opens /dev/net/tun (O_RDWR | O_NONBLOCK | O_CLOEXEC) and creates or
// attaches tap device ifname (null or "": the kernel picks "tap%d") in the
// caller's network namespace. With vnet_hdr: IFF_VNET_HDR, a 12-byte
// little-endian header, and the richest offload set the kernel takes of
// CSUM+TSO4+TSO6+USO4+USO6, CSUM+TSO4+TSO6, CSUM, none; the accepted set
// goes to *offloads_out. actual_name_out (IFNAMSIZ bytes) gets the name.
// Returns the fd or -errno.
int tun_open(const char *ifname, bool vnet_hdr, char *actual_name_out,
	     unsigned *offloads_out = nullptr);

// tun_open() run inside the namespace of ns (user namespace first if any),
// the fd passed back to the caller, which stays where it is.
int tun_open_in_ns(const NsHandle &ns, const char *ifname, bool vnet_hdr, char *actual_name_out,
		   unsigned *offloads_out = nullptr);

// Same, from raw namespace descriptors (userns_fd -1: none).
int tun_open_in_ns(int netns_fd, int userns_fd, const char *ifname, bool vnet_hdr,
		   char *actual_name_out, unsigned *offloads_out = nullptr);

// Changes the offloads of an open tun fd, for instance to turn them off
// again; returns 0 or -errno.
int tun_set_offloads(int fd, unsigned flags);

} // namespace passt
