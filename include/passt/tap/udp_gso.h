// Software segmentation of UDP GSO frames from pasta's tap device.
//
// Theory of operation: with USO4/USO6 on the tap device (tun.h), a socket
// in the namespace that uses UDP_SEGMENT, or forwards UDP that GRO merged,
// hands us one frame (virtio-net gso_type UDP_L4) holding several
// datagrams: one Ethernet/IP/UDP header whose lengths cover the whole
// payload, which is the datagrams' payloads back to back, each gso_size
// bytes but the last (which may be shorter). Datagram boundaries are the
// application's message boundaries, so they must hold on the host: the
// frame is cut here into the frames the kernel would have sent without
// the offload, each with its own headers (IPv4 total length, a new
// identification per segment and header checksum; IPv6 payload length;
// UDP length and a checksum computed from scratch), and every consumer
// behind the tap layer sees ordinary, complete frames. The UDP translator
// then queues the segments one after the other on the flow's socket, so
// they leave in one sendmmsg() (udp.cpp, Batching).
//
// Why here and not with UDP_SEGMENT on the host socket: that would hand
// the kernel one write per frame, but it needs the offload state carried
// through the demux to the translator (the L4 handler interface has no
// room for it), it fails (EINVAL) when gso_size plus headers exceed the
// host route's MTU, which a datagram sent alone need not respect (it is
// fragmented), and beyond the kernel's per-send segment limit, so every
// such frame would need this path as the fallback anyway. Splitting costs
// one memmove of the payload, in place: the buffer the tap backend reads
// into keeps room after each frame for the extra headers.
//
// Checksums: with VIRTIO_NET_HDR_F_NEEDS_CSUM (what the kernel always
// sets on GSO frames) the UDP checksum field holds only a pseudo-header
// sum over the whole frame; it is never validated, only the offsets are
// checked to name the UDP checksum. Without the flag, the checksum of the
// whole datagram must be valid before it is split (as for any datagram,
// zero means none over IPv4). Either way each segment's is recomputed.
//
// Malformed frames are refused (the caller drops and counts them): not
// IPv4/IPv6 + UDP, an IPv4 fragment or bad header checksum, IP and UDP
// lengths that disagree, gso_size 0, more segments than the caller has
// room for, headers longer than UDP_GSO_HDR_MAX. A frame whose payload
// fits in one gso_size is one datagram, and is passed on as one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "passt/tap/vnet.h"

namespace passt {

// Most segments one frame may be split into: twice what a Linux UDP socket
// takes in one send (128), so that the limit never bites a real sender.
inline constexpr size_t UDP_GSO_MAX_SEGS = 256;
// Longest Ethernet + IP (with options or extension headers) + UDP header
// we split behind.
inline constexpr size_t UDP_GSO_HDR_MAX = 128;
// Room udp_gso_split() may need beyond the frame itself: a header for each
// extra segment, each segment padded to 8 bytes.
inline constexpr size_t UDP_GSO_EXTRA_ROOM = UDP_GSO_MAX_SEGS * (UDP_GSO_HDR_MAX + 8);

struct UdpGsoResult {
	size_t segs = 0;             // frames written to out; 0 on error
	const char *error = nullptr; // why the frame was refused, or null
};

// True if vh asks for UDP GSO (gso_type UDP_L4, ECN bit ignored).
inline bool is_udp_gso(const VirtioNetHdr &vh) {
	return (vh.gso_type & uint8_t(~vnet::GSO_ECN)) == vnet::GSO_UDP_L4;
}

// Split the UDP GSO frame of frame_len bytes at the start of buf, vh being
// its virtio-net header, into complete frames, one per segment, written in
// place from the start of buf onwards (buf beyond frame_len is free room;
// at most UDP_GSO_EXTRA_ROOM of it is needed); out[i] is segment i. Each
// segment starts 8-byte aligned relative to the start of buf. On error
// nothing in buf is changed and segs is 0.
UdpGsoResult udp_gso_split(std::span<std::byte> buf, size_t frame_len, const VirtioNetHdr &vh,
			   std::span<std::span<std::byte>> out);

} // namespace passt
