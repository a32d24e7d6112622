// passt's vhost-user back-end: frames move through virtqueues in the guest's
// memory, shared with us by qemu (the front-end) over a UNIX socket.
//
// Theory of operation. qemu connects to our listening socket and drives the
// device over that control connection with small messages: a 12-byte header
// (request, flags, payload size, all u32 in host order) and a payload whose
// size must match the request (checked before anything is read from it);
// file descriptors travel with SCM_RIGHTS. We answer GET_* requests with a
// reply carrying the REPLY flag, and, once REPLY_ACK is negotiated, every
// other request that sets NEED_REPLY with a u64 status (0: done). Unknown
// requests get a failure status if an answer is expected, else are logged.
// A malformed message (short header, oversized or wrong-sized payload,
// missing descriptor) ends the connection: the stream can't be trusted
// after it.
//
// SET_MEM_TABLE maps each region of guest RAM (its memfd, from its
// mmap_offset) into a GuestMemory table; SET_VRING_NUM/ADDR/BASE describe a
// queue (ring addresses are qemu's user addresses, translated through the
// same table, and re-translated whenever the table changes); SET_VRING_KICK
// starts it, GET_VRING_BASE stops it and reports where it stopped. With
// VHOST_USER_F_PROTOCOL_FEATURES negotiated, queues also wait for
// SET_VRING_ENABLE. Queue 0 carries frames to the guest (RX), queue 1 from
// it (TX); the TX kick eventfd is in the event loop (RefKind::VhostUserKick).
//
// Features offered: VIRTIO_F_VERSION_1 (so every frame is preceded by the
// 12-byte virtio_net_hdr_v1), VIRTIO_NET_F_MRG_RXBUF (a frame to the guest
// may span several RX buffers, counted in num_buffers),
// VIRTIO_RING_F_EVENT_IDX (used_event/avail_event suppression, see
// virtqueue.h), VHOST_USER_F_PROTOCOL_FEATURES, VHOST_F_LOG_ALL (live
// migration, below), and the offloads: to the guest
// VIRTIO_NET_F_GUEST_CSUM, GUEST_TSO4 and GUEST_TSO6, from it
// VIRTIO_NET_F_CSUM, HOST_TSO4 and HOST_TSO6. No ECN, UFO or USO, no
// indirect descriptors, one queue pair. Protocol features: REPLY_ACK,
// LOG_SHMFD and, with a migration handler, DEVICE_STATE.
//
// Offloads to the guest. offloads() (tap/output.h) is GUEST_CSUM, tso(v6)
// GUEST_TSO6 or GUEST_TSO4 on top of it (the spec has no TSO without
// GUEST_CSUM). Linux guests, and so qemu's, take all three; a driver, or
// qemu's guest_tso4/guest_tso6=off, may leave out one family. TCP asks
// for segmentation per flow, by its family (tso()): such a flow gets up
// to 64 KiB per frame with gso_type TCPV4 or TCPV6 and a partial
// checksum, a flow of the other family one MTU per frame with full
// checksums. Then xmit() writes the virtio-net header from the TapFrame (NEEDS_CSUM
// with csum_start/offset, gso_type, gso_size, hdr_len; the same header
// tap_tun writes, tap_vnet_hdr()), and a frame of up to 64 KiB is spread
// over as many RX buffers as it needs. A frame that asks for nothing has
// full checksums computed by us: with GUEST_CSUM it carries DATA_VALID, so
// the guest does not verify them again.
//
// Zero copy to the guest (TapOutput::direct_begin()/direct_end(), with
// GUEST_CSUM, no capture running, no frame waiting). TCP asks for room
// for a batch of frames; direct_reserve() pops chains as write_rx() would
// and hands out, per frame, where its headers go (after the virtio-net
// header, in the first buffer's first piece, which must hold both) and its
// payload pieces (the rest of the chain, then further chains with
// MRG_RXBUF) as iovecs. TCP peeks the socket into them with one recvmsg()
// and writes the headers in place (partial checksum). direct_commit()
// then writes each frame's virtio-net header (num_buffers: the buffers it
// fills), marks every byte written in the dirty log (the kernel's payload
// and our headers alike: the log is written after the bytes, as for any
// other write), and pushes each chain with what it holds. Chains left
// empty go back with unpop(), or, if a bad chain was returned behind them
// (pop() already gave it back, so the ring can't be rewound over it),
// pushed with length 0. A chain zero copy can't use (a first piece too
// small for the headers, too many pieces) ends the reservation and is
// left to write_rx(). Until the reservation ends nothing else touches RX;
// the epoll loop is single-threaded, so nothing else can.
//
// Offloads from the guest. With VIRTIO_NET_F_CSUM a TX frame may carry
// NEEDS_CSUM, with HOST_TSO4/6 it may be a TCP segment of up to 64 KiB
// with gso_type TCPV4/TCPV6 (always with NEEDS_CSUM). The header is
// checked (vu_tx_hdr_check()) before anything uses the frame, and the
// frame dropped and counted (Stats::tx_bad_headers) if the guest asks for
// what it did not negotiate, or names a checksum field outside the frame,
// or GSO without NEEDS_CSUM or with an unknown type, a zero gso_size, a
// family other than the frame's, or flags a driver must not set. A
// partial checksum is then treated as tap_tun treats the namespace's: a
// TCP one is left alone when the TCP translator won't verify it (that is,
// when offloads() is on and no capture runs, tap_partial_csum_skippable()),
// any other is completed here. A GSO segment goes to the translators whole,
// as one large TCP segment, as pasta's tun hands it over.
//
// TX: read_batch() pops chains, copies each frame (after the header) into
// our own buffer, gives the chain back at once and adds the copy to the
// caller's Pool; flush()/read_batch() publish the used index and signal the
// call eventfd (unless the guest asked for no interrupts). The work of one
// wake-up is bounded, since a guest can keep making chains available (good
// or bad ones) as fast as we take them: one read_batch() takes at most the
// ring size (and at most the pool's capacity) of chains, read_again() is
// false, and if chains are left the TX kick eventfd is written by us, so
// that the level-triggered loop reports it again after the other ready fds
// were served.
//
// RX: send_frame() writes the header and the frame into as many available
// buffers as it needs (one without MRG_RXBUF). A frame that finds no buffer
// waits: it is copied into a bounded queue of ours (static memory, whole
// frames in order), and while that queue is not empty every new frame joins
// it, behind the others. Only while frames wait is the RX kick eventfd in
// the loop: virtio 1.x has the driver notify after adding buffers unless
// the used ring's flags ask it not to (VRING_USED_F_NO_NOTIFY, which we
// never set), or, with the event index, unless avail->idx did not move past
// our avail_event; the pop() that found no buffer set avail_event to where
// we stand (virtqueue.h), so either way the guest's refill kicks us;
// then the queue is drained into the new buffers, published and signalled.
// The kick counter is read before the ring, so buffers added after our look
// come with a kick we will see. Only a frame that finds the queue full is
// refused (counted in rx_no_buf; TCP then does not advance over it). After
// a refusal the RX kick stays watched even once the queue is empty, and
// the first RX kick that leaves it at most half full answers
// TapEvent::Room, so that the translators (TCP) offer frames again then,
// not on every host event meanwhile; a device that becomes ready
// (TapEvent::Ready) means room as well.
// flush() publishes what was written and signals the guest once. Capture
// and counters are the tap layer's (tap/backend.h): frames are captured from
// the copies in the pool, and from the caller's frame when it is accepted
// (written or queued).
//
// Broken queues: a ring error the virtio spec lets a device treat as fatal
// (see virtqueue.h) makes that queue broken. It is counted
// (Stats::broken_queues), logged once (rate-limited), the front-end's error
// eventfd (SET_VRING_ERR) is written, its kick is no longer watched and its
// rings no longer touched; waiting RX frames are dropped. Nothing else is:
// the other queue and the control socket go on. The queue comes back only
// when the front-end stops or re-programs it: GET_VRING_BASE (which reports
// the index of the chain that broke it), SET_VRING_ADDR, SET_VRING_BASE or
// SET_VRING_KICK. A new memory table is no reset: it keeps the queue broken.
// A bad single chain (a short or oversized frame, a buffer outside memory)
// is no ring error: that chain is returned empty and counted, and the queue
// goes on.
//
// Live migration (qemu's docs/interop/vhost-user.rst, "Migration" and
// "Migrating back-end state"). qemu migrates a guest with a vhost-user
// device only if the back-end offers VHOST_F_LOG_ALL (feature bit 26) and
// VHOST_USER_PROTOCOL_F_LOG_SHMFD; we offer both, always.
//
// Dirty page logging. Before copying the guest's RAM, qemu hands us a log
// (SET_LOG_BASE: a "Log description", u64 size and u64 offset, and the
// log's memfd, which we map shared; the reply, always due with LOG_SHMFD,
// is a u64, 0 when mapped), sets VHOST_F_LOG_ALL (SET_FEATURES) and sets
// VHOST_VRING_F_LOG on each running ring (SET_VRING_ADDR with the same ring
// addresses: only its logging changes, the queue goes on). From then on
// every byte we write into guest memory gets its page's bit set in the log
// (DirtyLog, virtqueue.h: 1 bit per 4 KiB page of guest physical address,
// set atomically after the write), and at exactly the places we write:
// RX buffers, in guest_write() (at the descriptor's address, which is
// guest physical), used elements, used->idx and avail_event, in the
// Virtqueue (at the used ring's log_guest_addr, given with
// VHOST_VRING_F_LOG; without the flag the used ring is not logged, as the
// spec says). A write past the end of the log is never marked there, but
// counted (DirtyLog::misses()). SET_LOG_FD gives an eventfd that we write
// when a publish follows newly set bits. Clearing VHOST_F_LOG_ALL stops
// the logging; the map stays until the next SET_LOG_BASE or the end of the
// connection.
//
// Device state (VHOST_USER_PROTOCOL_F_DEVICE_STATE, offered only once a
// MigrationHandler is set, migrate/device_state.h). With the guest stopped
// and both rings stopped (GET_VRING_BASE: the device is "suspended"),
// SET_DEVICE_STATE_FD names a direction (0 save, on the source; 1 load, on
// the target) and a phase (0, stopped: the only one) and carries qemu's
// end of a pipe. We check both, the fd, that no ring runs and that no
// earlier transfer waits for its check; the reply is a u64 whose low byte
// is 0 on success, non-zero on failure, always with the invalid FD flag
// (bit 8): we take qemu's pipe and offer none of ours. Only once the reply
// is sent does the handler run, on the fd made blocking (qemu reads the
// pipe after the reply): migrate_save() writes the whole stream, and we
// close the fd, its end of file; migrate_load() reads to end of file. The
// result waits for CHECK_DEVICE_STATE, whose u64 reply is 0 or 1, then
// migrate_checked(). Nothing touches the queues or guest memory meanwhile:
// they are stopped. If, after a successful save, the device becomes ready
// again on the same connection, qemu resumed the source (the migration
// failed or was cancelled): migrate_resumed() is called before the device
// is reported ready. Requests for a transfer that cannot be honoured are
// answered with failure, never by dropping the connection.
//
// Events: on the control socket (RefKind::VhostUserCmd) a message, whose
// handling may make the device ready (TapEvent::Ready: the runtime
// announces us, then reads TX); a kick (RefKind::VhostUserKick, index: the
// queue) on TX means frames (TapEvent::Read), on RX buffers for the frames
// that wait (handled here: TapEvent::None).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "passt/core/epoll.h"
#include "passt/migrate/device_state.h"
#include "passt/net/pool.h"
#include "passt/tap/backend.h"
#include "passt/tap/tap.h"
#include "passt/tap/virtqueue.h"
#include "passt/tap/vnet.h"

namespace passt {

namespace vhost_user {
// Requests (front-end -> back-end).
enum Request : uint32_t {
	GET_FEATURES = 1,
	SET_FEATURES = 2,
	SET_OWNER = 3,
	RESET_OWNER = 4,
	SET_MEM_TABLE = 5,
	SET_LOG_BASE = 6,
	SET_LOG_FD = 7,
	SET_VRING_NUM = 8,
	SET_VRING_ADDR = 9,
	SET_VRING_BASE = 10,
	GET_VRING_BASE = 11,
	SET_VRING_KICK = 12,
	SET_VRING_CALL = 13,
	SET_VRING_ERR = 14,
	GET_PROTOCOL_FEATURES = 15,
	SET_PROTOCOL_FEATURES = 16,
	GET_QUEUE_NUM = 17,
	SET_VRING_ENABLE = 18,
	SEND_RARP = 19,
	SET_DEVICE_STATE_FD = 42,
	CHECK_DEVICE_STATE = 43,
};
inline constexpr uint32_t VERSION = 0x1;
inline constexpr uint32_t FLAG_VERSION_MASK = 0x3;
inline constexpr uint32_t FLAG_REPLY = 0x4;
inline constexpr uint32_t FLAG_NEED_REPLY = 0x8;
inline constexpr size_t HDR_SIZE = 12;
inline constexpr size_t MAX_PAYLOAD = 8 + 32 * 8; // the memory table is the largest
inline constexpr size_t MAX_FDS = 8;

inline constexpr uint64_t F_PROTOCOL_FEATURES = 1ULL << 30; // VHOST_USER_F_
inline constexpr uint64_t VIRTIO_F_VERSION_1 = 1ULL << 32;
inline constexpr uint64_t VIRTIO_NET_F_CSUM = 1ULL << 0;
inline constexpr uint64_t VIRTIO_NET_F_GUEST_CSUM = 1ULL << 1;
inline constexpr uint64_t VIRTIO_NET_F_GUEST_TSO4 = 1ULL << 7;
inline constexpr uint64_t VIRTIO_NET_F_GUEST_TSO6 = 1ULL << 8;
inline constexpr uint64_t VIRTIO_NET_F_HOST_TSO4 = 1ULL << 11;
inline constexpr uint64_t VIRTIO_NET_F_HOST_TSO6 = 1ULL << 12;
inline constexpr uint64_t VIRTIO_NET_F_MRG_RXBUF = 1ULL << 15;
inline constexpr uint64_t VIRTIO_RING_F_EVENT_IDX = 1ULL << 29;
inline constexpr uint64_t VHOST_F_LOG_ALL = 1ULL << 26;
// Offloads towards the guest (offloads() and tso() tell which it took).
inline constexpr uint64_t GUEST_OFFLOADS =
	VIRTIO_NET_F_GUEST_CSUM | VIRTIO_NET_F_GUEST_TSO4 | VIRTIO_NET_F_GUEST_TSO6;
inline constexpr uint64_t HOST_OFFLOADS =
	VIRTIO_NET_F_CSUM | VIRTIO_NET_F_HOST_TSO4 | VIRTIO_NET_F_HOST_TSO6;
inline constexpr uint64_t PROTOCOL_F_LOG_SHMFD = 1ULL << 1;
inline constexpr uint64_t PROTOCOL_F_REPLY_ACK = 1ULL << 3;
inline constexpr uint64_t PROTOCOL_F_DEVICE_STATE = 1ULL << 19;

// SET_VRING_ADDR flags: VHOST_VRING_F_LOG (bit 0), log the used ring at
// log_guest_addr.
inline constexpr uint32_t VRING_F_LOG = 1U << 0;

// "Device state transfer parameters" of SET_DEVICE_STATE_FD.
inline constexpr uint32_t TRANSFER_SAVE = 0, TRANSFER_LOAD = 1;
inline constexpr uint32_t PHASE_STOPPED = 0;

inline constexpr uint64_t VRING_IDX_MASK = 0xff;  // in KICK/CALL/ERR payloads
inline constexpr uint64_t VRING_NOFD = 1ULL << 8; // no descriptor: polling

inline constexpr unsigned RX = 0, TX = 1, NQUEUES = 2;
} // namespace vhost_user

// Why the virtio-net header of a TX frame (after the header) must not be
// trusted, given the negotiated features, or nullptr if it may be: see the
// theory of operation (offloads from the guest).
const char *vu_tx_hdr_check(const VirtioNetHdr &h, std::span<const std::byte> frame,
			    uint64_t features);

class VhostUserBackend final : public TapBackend {
public:
	static constexpr uint64_t FEATURES =
		vhost_user::VIRTIO_F_VERSION_1 | vhost_user::VIRTIO_NET_F_MRG_RXBUF |
		vhost_user::VIRTIO_RING_F_EVENT_IDX | vhost_user::F_PROTOCOL_FEATURES |
		vhost_user::GUEST_OFFLOADS | vhost_user::HOST_OFFLOADS |
		vhost_user::VHOST_F_LOG_ALL;
	// Always offered; DEVICE_STATE too once there is a migration handler.
	static constexpr uint64_t PROTOCOL_FEATURES =
		vhost_user::PROTOCOL_F_REPLY_ACK | vhost_user::PROTOCOL_F_LOG_SHMFD;
	static constexpr size_t VNET_HDR = 12;
	// Longest frame either way: an IPv6 packet with a 64 KiB payload.
	static constexpr size_t MAX_FRAME = 14 + 40 + 65535;
	static constexpr size_t IN_BUF_SIZE = 4 << 20;

	// Frames to the guest that wait for RX buffers, at most.
	static constexpr size_t RX_WAIT_BYTES = 2 << 20;
	static constexpr size_t RX_WAIT_FRAMES = 1024;

	struct Stats {
		uint64_t bad_messages = 0;   // unknown or refused requests
		uint64_t rx_no_buf = 0;      // frames to the guest dropped: no buffers, queue full
		uint64_t rx_waited = 0;      // frames to the guest that had to wait for buffers
		uint64_t tx_bad_frames = 0;  // TX chains too short, too long or writable
		uint64_t tx_yields = 0;      // wake-ups that left TX chains for later
		uint64_t broken_queues = 0;  // queues found broken (ring errors)
		uint64_t tx_bad_headers = 0; // TX frames dropped for their virtio-net header
		uint64_t tx_gso_frames = 0;  // TX frames with TCP GSO
		uint64_t rx_gso_frames = 0;  // frames to the guest with TCP GSO
		uint64_t rx_direct = 0;      // frames to the guest read in place (zero copy)
		size_t tx_max_frame = 0;     // longest frame from the guest
		size_t rx_max_frame = 0;     // longest frame to the guest
	};

	// Frames waiting for RX buffers, in order: a byte ring of records
	// {u32 length, virtio-net header, frame padded to 8 bytes}, a record
	// never split at the end of the buffer.
	class RxWaitQueue {
	public:
		bool push(const VirtioNetHdr &hdr, std::span<const std::byte> frame);
		bool push(std::span<const std::byte> frame) { return push(VirtioNetHdr{}, frame); }
		std::span<const std::byte> front() const;
		VirtioNetHdr front_hdr() const;
		void pop();
		size_t size() const { return n_; }
		bool empty() const { return !n_; }
		void clear() { head_ = tail_ = end_ = n_ = 0, wrapped_ = false; }

	private:
		// Not wrapped: records in [head_, tail_). Wrapped: in
		// [head_, end_), then [0, tail_), tail_ <= head_.
		size_t head_ = 0, tail_ = 0, end_ = 0, n_ = 0;
		bool wrapped_ = false;
		alignas(8) std::byte buf_[RX_WAIT_BYTES];
	};

	explicit VhostUserBackend(TapStats *stats);
	~VhostUserBackend();

	// With a loop (set_event_loop()), attach() registers the control
	// socket (RefKind::VhostUserCmd) and started TX queues register their
	// kick eventfd (RefKind::VhostUserKick, index: queue).

	// Take ownership of a connected control socket (accepted, or --fd);
	// a previous front-end is detached first. Returns 0 or -errno.
	int attach(int fd) override;
	// Forget the front-end: unmap guest memory, close every descriptor.
	void detach() override;
	bool connected() const override { return fd_ >= 0; }
	int fd() const { return fd_; }
	std::span<const RefKind> event_kinds() const override;
	TapEvent handle_event(EpollRef ref, uint32_t events) override;

	RefKind listen_kind() const override { return RefKind::VhostUserListen; }
	const char *client_name() const override { return "vhost-user front-end"; }
	// Frames can move only once the front-end has set up the queues.
	bool ready_on_attach() const override { return false; }
	std::string qemu_hint(const std::string &path) const override;

	// Read and handle one control message. Returns 0, 1 if the device has
	// just become ready to carry frames both ways (announce ourselves,
	// then read TX), or a negative error after which the caller must
	// detach(): -ESHUTDOWN on end of file, -EPROTO for a malformed
	// message, -errno from the socket.
	int handle_cmd();

	// Both queues started and enabled, memory mapped.
	bool ready() const;

	// Consume queue q's kick eventfd counter (it stays readable otherwise).
	void drain_kick(unsigned q = vhost_user::TX);
	// The region read_batch() copies frames into: give it to the Pool.
	std::span<std::byte> region() override { return {ibuf_, sizeof(ibuf_)}; }
	// Copy available TX frames into pool (reset first), returning their
	// chains to the guest: at most the ring size of chains, good or bad.
	// Returns the number of frames (0: none). If chains are left, the TX
	// kick eventfd is written, so the loop comes back after other fds.
	int read_batch(Pool &pool) override;
	bool read_again(const Pool &) const override { return false; }
	// Move waiting frames into RX buffers while there are buffers.
	void drain_rx_wait();
	size_t rx_waiting() const { return rxw_.size(); }

	// Publish the RX (and TX) used indices and signal the guest.
	void flush() override;
	// Refusals mean a full wait queue (or RX not running): see above.
	bool reports_room() const override { return true; }

	uint64_t features() const { return features_; }
	uint64_t protocol_features() const { return protocol_features_; }
	// What GET_PROTOCOL_FEATURES answers.
	uint64_t offered_protocol_features() const {
		return PROTOCOL_FEATURES | (migration_ ? vhost_user::PROTOCOL_F_DEVICE_STATE : 0);
	}
	// Who saves and loads the daemon's state through SET_DEVICE_STATE_FD
	// (nullptr: nobody, DEVICE_STATE is not offered). Not owned.
	void set_migration_handler(MigrationHandler *h) { migration_ = h; }
	// Its misses(): writes the log could not record (none, or too small).
	const DirtyLog &dirty_log() const { return log_; }
	// What the guest took of the offloads towards it (see above).
	bool offloads() const override { return features_ & vhost_user::VIRTIO_NET_F_GUEST_CSUM; }
	bool tso(bool v6) const override {
		return offloads() && (features_ & (v6 ? vhost_user::VIRTIO_NET_F_GUEST_TSO6
						      : vhost_user::VIRTIO_NET_F_GUEST_TSO4));
	}
	const Stats &vu_stats() const { return vstats_; }
	const Virtqueue &queue(unsigned i) const { return vq_[i]; }

private:
	struct Queue {
		unsigned num = 0;
		uint64_t desc_uva = 0, used_uva = 0, avail_uva = 0;
		bool addr_set = false;
		bool log_used = false; // VHOST_VRING_F_LOG: used ring logged at log_gpa
		uint64_t log_gpa = 0;
		uint16_t base = 0;
		int kick = -1, call = -1, err = -1;
		bool started = false; // kick received, not stopped
		bool enabled = false; // SET_VRING_ENABLE
		bool registered = false;
		bool broken_noted = false; // counted and logged since the last set-up
	};
	enum class RxWrite : uint8_t { Ok, NoBuf, Refused };

	// One control message: request with its flags, payload and the fds
	// that came with it (taken). 0, or -errno to drop the connection.
	int dispatch(uint32_t request, uint32_t flags, const std::byte *payload, size_t size,
		     int *fds, size_t nfds);
	int reply(uint32_t request, const void *payload, size_t size);
	int set_mem_table(const std::byte *payload, size_t size, int *fds, size_t nfds);
	int set_log_base(const std::byte *payload, size_t size, int *fds, size_t nfds);
	void unmap_log();
	int set_device_state_fd(const std::byte *payload, size_t size, int *fds, size_t nfds);
	int check_device_state(size_t size);
	void run_transfer();
	// Copy n bytes into buffer s at offset off, and log them.
	void guest_write(const VqSeg &s, size_t off, const void *src, size_t n) {
		memcpy(s.ptr + off, src, n);
		log_.mark(s.gpa + off, n);
	}
	void unmap_memory();
	bool map_queue(unsigned q);
	void stop_queue(unsigned q);
	void update_kick_registration(unsigned q);
	void signal(unsigned q);
	void note_broken(unsigned q);
	RxWrite write_rx(const VirtioNetHdr &hdr, std::span<const std::byte> frame);
	// Check a TX frame's header, complete or leave its partial checksum.
	// False (counted) if the frame must be dropped.
	bool tx_offloads(const VirtioNetHdr &h, std::span<std::byte> frame);
	bool xmit(const TapFrame &f) override;
	void xmit_end() override { flush(); }
	size_t direct_reserve(size_t hdr_len, size_t payload, size_t budget,
			      std::span<TapDirectSlot> slots, std::span<iovec> iov) override;
	size_t direct_commit(std::span<const TapDirectSlot> used) override;
	// Give back the reserved chains from index first on, unused.
	void direct_release(size_t first);

	struct Mapping {
		void *addr = nullptr;
		size_t len = 0;
	};

	int fd_ = -1;
	uint64_t features_ = 0;
	uint64_t protocol_features_ = 0;
	bool was_ready_ = false;
	Stats vstats_;

	// Dirty logging: the log (SET_LOG_BASE), its mapping, its eventfd.
	DirtyLog log_;
	Mapping log_map_;
	int log_fd_ = -1;

	// Device state transfer: the fd taken by SET_DEVICE_STATE_FD, run
	// once the reply is sent; then its result waits for
	// CHECK_DEVICE_STATE. saved_: a save succeeded, so the device
	// becoming ready again means the source resumed.
	MigrationHandler *migration_ = nullptr;
	int xfer_fd_ = -1;
	bool xfer_save_ = false;
	bool xfer_done_ = false;
	int xfer_status_ = 0;
	bool saved_ = false;

	GuestMemory mem_;
	Mapping maps_[GuestMemory::MAX_REGIONS];
	size_t nmaps_ = 0;

	Queue q_[vhost_user::NQUEUES];
	Virtqueue vq_[vhost_user::NQUEUES];
	bool rx_pending_ = false;
	bool refused_ = false; // a frame was refused: report room (TapEvent::Room)

	VqChain chain_{};
	RxWaitQueue rxw_;

	// The open zero-copy reservation: its chains in the order popped, each
	// with the frame (slot) it serves and its writable pieces in dsegs_.
	struct DirectChain {
		uint16_t head;
		uint16_t slot;
		uint32_t seg_first, nseg;
	};
	static constexpr size_t DIRECT_MAX = 1024; // chains, and pieces
	DirectChain dchains_[DIRECT_MAX]{};
	VqSeg dsegs_[DIRECT_MAX]{};
	size_t ndchains_ = 0, ndsegs_ = 0;
	size_t dhdr_ = 0;    // header bytes of each frame, after the virtio-net one
	bool dopen_ = false; // reserved, not committed: nothing else may touch RX
	bool dbad_ = false;  // a bad chain was returned meanwhile: no unpop()
	alignas(64) std::byte ibuf_[IN_BUF_SIZE];
};

// The lines telling the user how to connect qemu to path over vhost-user.
std::string vhost_user_qemu_hint(const std::string &path);

} // namespace passt
