// What the services and translators see of the tap side: a sink for
// complete Ethernet frames (the backend adds its own framing: a virtio-net
// header for tun, a length prefix for the qemu stream socket, descriptors
// for vhost-user) and what we have learned about the guest from its frames.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <sys/uio.h>

#include "passt/net/addr.h"

namespace passt {

// One frame with the offloads it asks the backend for (the fields of a
// virtio-net header, in host order): a partial L4 checksum to complete, and
// GSO segmentation of a frame larger than the guest's MTU into gso_size
// payload chunks. A frame asking for nothing is an ordinary frame.
struct TapFrame {
	std::span<const std::byte> frame;
	bool needs_csum = false;  // complete the checksum at csum_start + csum_offset
	uint8_t gso_type = 0;     // vnet::GSO_* (0: none)
	uint16_t gso_size = 0;    // payload bytes per segment
	uint16_t hdr_len = 0;     // Ethernet + IP + TCP header bytes
	uint16_t csum_start = 0;  // from the start of the frame
	uint16_t csum_offset = 0; // from csum_start
};

// Zero copy towards the guest: room for one frame in the guest's own
// receive buffers, reserved by TapOutput::direct_begin(). The headers go
// at hdr (contiguous), the payload into the pieces iov[iov_first,
// iov_first + niov) of the caller's iovec array, in order.
struct TapDirectSlot {
	// Set by direct_begin():
	std::byte *hdr = nullptr;
	size_t iov_first = 0;
	size_t niov = 0;
	size_t room = 0; // payload bytes the pieces hold
	// Set by the caller before direct_end():
	TapFrame out;       // the offloads asked for; out.frame: the headers at hdr
	size_t payload = 0; // bytes put into the pieces, from the first one on
};

// Implemented by the tap backends through TapBackend (tap/backend.h),
// whose send_frame()/send_frames() are the tap layer's door out.
class TapOutput {
public:
	// Queue one Ethernet frame (no backend header) for the guest. The bytes
	// are copied or written before the call returns. False if dropped.
	virtual bool send_frame(std::span<const std::byte> frame) = 0;
	// Push out everything queued (one backend write where possible).
	virtual void flush() = 0;

	// True if send_frames() honours partial checksums (needs_csum), and
	// the frames from the guest may carry TCP checksums the backend left
	// partial; callers must not ask for them otherwise.
	virtual bool offloads() const { return false; }
	// True if send_frames() also honours TCP segmentation for that family
	// (gso_type TCPV4, or TCPV6 with v6); never without offloads().
	virtual bool tso(bool v6) const {
		(void)v6;
		return offloads();
	}
	// Whether frame f asks only for what the two above allow.
	bool offloads_ok(const TapFrame &f) const;
	// Send frames in order, in as few backend calls as it can. Returns how
	// many were sent. The default sends them one by one with send_frame()
	// and drops frames asking for offloads.
	virtual size_t send_frames(std::span<const TapFrame> frames) {
		size_t sent = 0;
		for (const TapFrame &f : frames) {
			if (f.needs_csum || f.gso_type)
				continue;
			sent += send_frame(f.frame) ? 1 : 0;
		}
		return sent;
	}

	// Zero copy (tap/backend.h): reserve up to slots.size() frames in the
	// guest's buffers, each with hdr_len bytes of headers and at most
	// payload bytes of payload, budget payload bytes in all, their payload
	// pieces in iov. Frames always carry partial checksums (needs_csum),
	// so only a backend with offloads() may reserve. Returns how many
	// slots it filled; 0: none now, send_frames() instead. A reservation
	// must end with direct_end() before anything else is sent.
	virtual size_t direct_begin(size_t hdr_len, size_t payload, size_t budget,
				    std::span<TapDirectSlot> slots, std::span<iovec> iov) {
		(void)hdr_len, (void)payload, (void)budget, (void)slots, (void)iov;
		return 0;
	}
	// Hand the first used.size() reserved slots to the guest, in order,
	// and give the other ones back unused. Returns how many were sent,
	// from the first one on (the rest never reach the guest).
	virtual size_t direct_end(std::span<const TapDirectSlot> used) {
		(void)used;
		return 0;
	}

	// Deferred work: a translator that coalesces what it sends over a
	// batch of guest frames (TCP acknowledgements) registers one hook, and
	// backends for which runs_flush_hook() is true call it at the start of
	// every flush(). Others never call it: check before relying on it.
	using FlushHook = void (*)(void *ctx);
	void set_flush_hook(FlushHook fn, void *ctx) {
		hook_ = fn;
		hook_ctx_ = ctx;
	}
	virtual bool runs_flush_hook() const { return false; }

	// True if a refusal by send_frame()/send_frames() can mean only that
	// the guest is slow to take frames, and the backend then reports when
	// it takes them again (TapEvent::Room, tap/backend.h): a translator may
	// stop offering frames after a refusal until then, instead of offering
	// them again on every host event. Others never report it.
	virtual bool reports_room() const { return false; }

protected:
	~TapOutput() = default;
	void run_flush_hook() {
		if (hook_)
			hook_(hook_ctx_);
	}

private:
	FlushHook hook_ = nullptr;
	void *hook_ctx_ = nullptr;
};

// Facts learned from the guest's own frames.
struct TapState {
	MacAddr guest_mac = MacAddr::broadcast(); // until the first frame arrives
	bool guest_mac_seen = false;
	Ipv4Addr addr4_seen;    // last IPv4 source address used by the guest
	Ipv6Addr addr6_seen;    // last global IPv6 source address
	Ipv6Addr addr6_ll_seen; // last link-local IPv6 source address
};

} // namespace passt
