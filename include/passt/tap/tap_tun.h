// pasta's backend: the tap device in the namespace, opened with
// IFF_VNET_HDR so that every frame carries a virtio-net header.
//
// Theory of operation: on each wake-up read_batch() read()s frames into one
// large buffer until EAGAIN or until the Pool is full; one read() is one
// frame, preceded by its 12-byte virtio_net_hdr_v1. Frames the namespace
// kernel left with a partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM, which it
// does once checksum offload is on) are completed here, so consumers see
// valid checksums, with one exception: a TCP segment's, when no capture
// runs. The TCP translator doesn't verify checksums behind an offloading
// backend (the namespace kernel made the segment: nothing on the way can
// have damaged it), and the sum over up to 64 KiB was a tenth of the
// daemon's time from the namespace to the host; the field's bounds are
// still checked. A frame with gso_type UDP_L4 (USO: several datagrams
// behind one header) is split here, in place, into one complete frame per
// datagram (tap/udp_gso.h), so that datagram boundaries hold on the host;
// the buffer keeps room after each frame for that, and a batch stops when
// the pool has fewer free slots than such a frame may need. TCP GSO frames
// are passed on whole: a byte stream needs no boundaries. Frames towards the namespace are written one per
// writev() with a zeroed header (no offload requested: checksums are
// already complete). A full device queue drops the frame, counted.
// send_frames() writes frames (one writev() each: a tun fd takes one frame
// per write) with a header carrying their offload requests: TCP frames of
// up to 64 KiB with gso_type TCPV4/TCPV6 and gso_size = MSS, and a partial
// checksum, are segmented by the namespace kernel, whatever the MTU.
// Capture and counters are the tap layer's (tap/backend.h); frames cut
// short or with a bad partial checksum are dropped here, counted malformed.
// Events: EPOLLIN on the fd (RefKind::TapTun) means frames; EPOLLERR or
// EPOLLHUP that the device is gone.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <span>

#include "passt/net/pool.h"
#include "passt/tap/backend.h"
#include "passt/tap/tap.h"
#include "passt/tap/vnet.h"

namespace passt {

class TunBackend final : public TapBackend {
public:
	// fd: non-blocking tap fd (or -1: attach() it later); vnet_hdr: opened
	// with IFF_VNET_HDR and a 12-byte header size. stats is updated on
	// both directions. The fd stays the caller's: never closed here.
	TunBackend(int fd, bool vnet_hdr, TapStats *stats);

	int fd() const { return fd_; }
	std::span<std::byte> region() override { return {buf_, sizeof(buf_)}; }

	// Read available frames into pool (reset first). Returns the number of
	// frames, or -errno on a fatal error (the device went away).
	int read_batch(Pool &pool) override;

	// Use fd from now on, registered in the loop if there is one.
	int attach(int fd) override;
	void detach() override;
	bool connected() const override { return fd_ >= 0; }
	std::span<const RefKind> event_kinds() const override;
	TapEvent handle_event(EpollRef ref, uint32_t events) override;

	void flush() override { run_flush_hook(); }
	bool runs_flush_hook() const override { return true; }
	// With IFF_VNET_HDR: frames may ask for GSO and partial checksums,
	// which go to the namespace kernel in the virtio-net header.
	bool offloads() const override { return vnet_hdr_; }

	static constexpr size_t VNET_HDR_LEN = 12;
	static constexpr size_t MAX_FRAME = 65535 + 14 + VNET_HDR_LEN;

private:
	// One writev() of the frame behind a header with its offload requests.
	bool xmit(const TapFrame &f) override;

	// Split the UDP GSO frame of len bytes at buf_[at] in place and add
	// its segments to pool; bytes of buf_ they take from at, 0 if the
	// frame was dropped (counted as malformed).
	size_t read_udp_gso(Pool &pool, const VirtioNetHdr &vh, size_t at, size_t len);

	int fd_;
	bool vnet_hdr_;
	alignas(64) std::byte buf_[8 << 20];
};

// The virtio-net header asking for f's offloads (all zero for none), as
// the tun and vhost-user backends write it before a frame to the guest.
VirtioNetHdr tap_vnet_hdr(const TapFrame &f);

// Complete a partial checksum as a device would: sum frame[start..] and
// store the folded complement at start + offset. False if out of bounds.
bool tap_complete_partial_csum(std::span<std::byte> frame, size_t start, size_t offset);

// Whether the partial checksum at start + offset of frame is a TCP one that
// the TCP translator will never look at (see above): the field is the TCP
// checksum of an IPv4 or IPv6 (no extension headers) TCP segment, within
// the frame. Capture wants completed checksums: never with pcap on.
bool tap_partial_csum_skippable(std::span<const std::byte> frame, size_t start, size_t offset);

} // namespace passt
