// The one interface every tap backend implements (tun for pasta, the qemu
// stream socket and vhost-user for passt), so that main.cpp runs them all
// the same way and never asks which one it has.
//
// Theory of operation. A backend owns its descriptors and registers them
// in the event loop itself (attach(), and later ones such as vhost-user's
// kick eventfd), under the RefKinds event_kinds() lists; the runtime points
// all of those at one handler, which calls handle_event() and does what it
// answers: read (the one read loop: read_batch() into the frame pool, then
// tap_input_pool(), again while read_again() says frames may be left that
// no event will announce), announce ourselves then read (a vhost-user
// device just became ready), tell the translators that frames refused
// before would be taken now (room), or drop the guest (gone: the runtime
// detaches, and pasta exits).
//
// The two doors. Every frame from the guest reaches the demux through
// tap_input_pool()/tap_input() (tap.h), every frame to it leaves through
// send_frame()/send_frames() here, which are final: a backend only
// implements xmit() for one frame. Both doors live in tap.cpp, and there,
// and only there, frames are captured (--pcap) and counted in TapStats
// (frames_in/bytes_in, frames_out/bytes_out, out_dropped for frames a
// backend refused or whose offloads it can't do). Backends still count
// what the doors can't see: malformed input they drop while reading, and
// frames they accepted but lost later (a broken or closed connection).
// Zero copy (direct_begin()/direct_end(), used by TCP towards a vhost-user
// guest) passes the same door: the frames are counted there, asked
// offloads checked there, and no capture runs meanwhile.
// Output frames are captured as the guest receives them: a partial
// checksum (needs_csum) is recorded completed; a GSO frame is recorded
// whole, as one (up to 64 KiB) packet with valid lengths and checksum.
//
// passt accepts clients on one listening socket for either backend:
// listen_kind() is its RefKind, client_name() names the peer in logs,
// ready_on_attach() tells whether to announce ourselves (ARP, RA) as soon
// as a client is attached (stream) or only once handle_event() reports the
// device ready (vhost-user), and qemu_hint() how to start qemu.
//
// New backends: implement this in src/tap/, add a Mode in the option
// parser, and one line in tap_backend_new() (src/tap/backend.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "passt/conf/config.h"
#include "passt/core/epoll.h"
#include "passt/net/pool.h"
#include "passt/tap/output.h"
#include "passt/tap/tap.h"

namespace passt {

// What the runtime must do after an event on one of a backend's fds.
struct TapEvent {
	enum Action : uint8_t {
		None,  // handled (or stale)
		Read,  // frames may be waiting: run the read loop
		Ready, // the device just became ready: announce, then read
		Gone,  // the guest is gone or broke the protocol: drop it
		Room,  // frames refused before can be taken now (reports_room())
	};
	Action action = None;
	int error = 0; // Gone: -errno, -ESHUTDOWN for an orderly close, 0: hang-up
};

class TapBackend : public TapOutput {
public:
	virtual ~TapBackend() = default;
	TapBackend(const TapBackend &) = delete;
	TapBackend &operator=(const TapBackend &) = delete;

	// Output, the door to the guest (tap.cpp): capture and count, then
	// xmit(). send_frames() refuses (counted) frames asking for offloads
	// the backend lacks, then calls xmit_end() once (a flush, for
	// backends that queue).
	bool send_frame(std::span<const std::byte> frame) final;
	size_t send_frames(std::span<const TapFrame> frames) final;
	// Zero copy, through the same door: no reservation while a capture
	// runs (its frames are recorded from contiguous copies) or without
	// offloads(); direct_end() counts what was sent, refuses (counted)
	// frames asking for more than the backend offers, and ends like
	// send_frames() (xmit_end()).
	size_t direct_begin(size_t hdr_len, size_t payload, size_t budget,
			    std::span<TapDirectSlot> slots, std::span<iovec> iov) final;
	size_t direct_end(std::span<const TapDirectSlot> used) final;

	// Input. The region read_batch() fills: give it to the Pool.
	virtual std::span<std::byte> region() = 0;
	// Read available frames into pool (reset first). Returns how many
	// (0: none for now), or a negative error after which the guest is
	// gone (the caller detaches, or pasta exits).
	virtual int read_batch(Pool &pool) = 0;
	// After a batch, whether frames may be left that no event will
	// announce, so read_batch() must be called again.
	virtual bool read_again(const Pool &pool) const { return pool.full(); }

	// With a loop, the backend registers (and removes) its own fds.
	void set_event_loop(EventLoop *loop) { loop_ = loop; }
	// Take ownership of the guest-facing descriptor (tap fd, accepted or
	// --fd socket); a previous one is detached first. 0 or -errno (the
	// fd is then closed, except by tun, whose fd stays the caller's).
	virtual int attach(int fd) = 0;
	virtual void detach() = 0;
	virtual bool connected() const = 0;
	// The kinds of the fds it registers, and what an event on them means.
	virtual std::span<const RefKind> event_kinds() const = 0;
	virtual TapEvent handle_event(EpollRef ref, uint32_t events) = 0;

	// passt: accepting clients (see above).
	virtual RefKind listen_kind() const { return RefKind::None; }
	virtual const char *client_name() const { return "Client"; }
	virtual bool ready_on_attach() const { return true; }
	virtual std::string qemu_hint(const std::string &path) const {
		(void)path;
		return {};
	}

protected:
	explicit TapBackend(TapStats *stats) : stats_(stats) {}

	// Write or queue one frame; offloads are asked for only if
	// offloads() and tso() allow them (TapOutput::offloads_ok()). The
	// bytes are copied or written before it returns.
	// False if refused (the door counts it in out_dropped).
	virtual bool xmit(const TapFrame &f) = 0;
	// End of a send_frames() or direct_end() call.
	virtual void xmit_end() {}
	// Zero copy, for backends whose guest buffers we can read into: the
	// reservation (direct_begin()), and handing over the first
	// used.size() slots, each valid for its offloads (the rest go back).
	// The defaults reserve nothing.
	virtual size_t direct_reserve(size_t hdr_len, size_t payload, size_t budget,
				      std::span<TapDirectSlot> slots, std::span<iovec> iov) {
		(void)hdr_len, (void)payload, (void)budget, (void)slots, (void)iov;
		return 0;
	}
	virtual size_t direct_commit(std::span<const TapDirectSlot> used) {
		(void)used;
		return 0;
	}

	TapStats *stats_;
	EventLoop *loop_ = nullptr;
};

// The backend for a mode, unattached: the one place that knows them all.
std::unique_ptr<TapBackend> tap_backend_new(Mode mode, TapStats *stats);

} // namespace passt
