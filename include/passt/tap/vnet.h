// The virtio-net header (virtio 1.x, "v1", 12 bytes, little-endian fields)
// that precedes each frame on the tun fd with IFF_VNET_HDR and in vhost-user
// virtqueues. <linux/virtio_net.h> does not compile as C++ (a field is named
// "class"), hence this definition. It carries the offload state of a frame:
// a checksum left for the receiver to complete, and GSO segmentation.
#pragma once

#include <endian.h>

#include <cstdint>

namespace passt {

struct VirtioNetHdr {
	uint8_t flags = 0;
	uint8_t gso_type = 0;
	uint16_t hdr_len = 0; // little-endian on the wire, as all below
	uint16_t gso_size = 0;
	uint16_t csum_start = 0;
	uint16_t csum_offset = 0;
	uint16_t num_buffers = 0;
};
static_assert(sizeof(VirtioNetHdr) == 12);

namespace vnet {
inline constexpr uint8_t F_NEEDS_CSUM = 1;
inline constexpr uint8_t F_DATA_VALID = 2;
inline constexpr uint8_t GSO_NONE = 0;
inline constexpr uint8_t GSO_TCPV4 = 1;
inline constexpr uint8_t GSO_UDP = 3;
inline constexpr uint8_t GSO_TCPV6 = 4;
inline constexpr uint8_t GSO_UDP_L4 = 5;
inline constexpr uint8_t GSO_ECN = 0x80;

inline uint16_t le(uint16_t v) { return le16toh(v); }
} // namespace vnet

} // namespace passt
