// Split virtqueues (virtio 1.x) over guest memory that a vhost-user front-end
// shared with us, as seen by the device side.
//
// Theory of operation. The guest's RAM arrives as a table of regions, each
// mapped into our address space: guest physical address (GPA) -> pointer,
// plus the front-end's own user address (UVA) of the same bytes, which is
// how vhost-user names the rings themselves. Every translation asks for a
// whole [address, address + length) range and succeeds only if it lies in a
// single region: nothing is ever read or written outside a mapping.
//
// A split virtqueue has three parts: the descriptor table (num entries of
// {addr, len, flags, next}), the available ring (driver -> device: flags,
// idx, ring[num] of chain heads) and the used ring (device -> driver: flags,
// idx, ring[num] of {id, len}). idx fields are free-running 16-bit counters
// (they wrap at 65535); ring slots are idx % num, num a power of two.
//
// pop() takes the next chain the driver made available: it reads avail->idx
// (acquire fence after, so the ring slot and descriptors read later are at
// least as new), then walks the chain from its head, copying each
// descriptor out of shared memory once before checking it (the guest may
// change it under us): index below num, buffer inside one region, no
// indirect descriptors (not offered), read-only buffers before writable ones,
// at most num descriptors (a longer walk is a loop).
//
// Two kinds of errors. A bad chain (a buffer outside guest memory, an
// indirect descriptor, a readable buffer after a writable one) is counted
// and handed back to the driver as used with length 0, so that it is not
// lost, and the queue goes on. A bad ring is what virtio 1.x lets a device
// treat as the driver's fatal error, for which it would set
// DEVICE_NEEDS_RESET: avail->idx more than num ahead of us (the driver
// claims more chains than the ring holds), a head or next index at or past
// num, a chain that loops or is longer than the table. Where such a chain
// ends, and so what to give back, is unknowable: the queue becomes broken,
// and from then on nothing reads or writes its rings (pop() answers Broken,
// push(), publish() and needs_signal() do nothing) until setup() or reset()
// (the front-end stopping and re-programming it). last_avail() stays at the
// chain that broke it, which is what GET_VRING_BASE reports.
//
// push() writes a used element; publish() makes all pushed elements visible
// by storing used->idx after a release fence. needs_signal() tells whether
// the driver wants an interrupt for what was published since it was last
// asked.
//
// Dirty logging (set_log()): these three are the only writes a queue makes
// to guest memory (used elements, used->idx, avail_event; used->flags is
// never written), and each marks what it wrote in the log, at the used
// ring's guest physical address that the front-end gave with
// VHOST_VRING_F_LOG (log_guest_addr): the ring itself is known here only
// by its front-end user address. Buffers are the owner's to mark (VqSeg::gpa).
//
// Notification suppression, both ways. Without VIRTIO_RING_F_EVENT_IDX the
// driver's avail->flags bit VRING_AVAIL_F_NO_INTERRUPT says "no interrupts",
// and we never ask the driver not to kick (VRING_USED_F_NO_NOTIFY unset).
// With it (set_event_idx()), the flags are ignored and each side publishes
// the index it wants to hear about next, in the 16 bits after the other
// side's ring: the driver's used_event (after avail->ring[num]) asks for an
// interrupt once used->idx moves past it, our avail_event (after
// used->ring[num]) asks for a kick once avail->idx moves past it. "Moves
// past" is vring_need_event(): with old and new the index before and after
// an update, the event fires if event is in [old, new) modulo 2^16, that is
// uint16_t(new - event - 1) < uint16_t(new - old) (event_crossed() here).
// needs_signal() keeps the used index at its previous answer, so each
// interval of published entries is checked exactly once (the first answer
// after setup() is always yes). Our side: whenever pop() finds the ring
// empty, and whenever the owner calls arm_kick() (it stopped popping with
// chains possibly left), avail_event is set to last_avail, so the driver's
// next chain kicks us; then a full fence and a second look at avail->idx
// close the race with a driver that read the old avail_event (the chain it
// added without a kick is found here). While we are busy popping,
// avail_event stays behind, so a driver adding chains does not kick: that
// is the suppression. The RX wait queue relies on this: a frame that found
// no buffer saw pop() answer Empty, which armed the kick for the guest's
// refill.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace passt {

// One piece of guest RAM mapped here.
struct GuestRegion {
	uint64_t gpa = 0;          // guest physical address of the first byte
	uint64_t size = 0;         // bytes
	uint64_t uva = 0;          // front-end (qemu) user address of the first byte
	std::byte *host = nullptr; // where the first byte is mapped here
};

// The region table: translations of whole ranges, never across regions.
class GuestMemory {
public:
	static constexpr size_t MAX_REGIONS = 8;

	// Replace the table; false (table emptied) if too many regions, an
	// empty one, or one whose address ranges wrap around.
	bool set(std::span<const GuestRegion> regions);
	void clear() { n_ = 0; }
	size_t size() const { return n_; }
	const GuestRegion &region(size_t i) const { return regions_[i]; }

	// Pointer to [gpa, gpa + len) if it lies in one region, else nullptr.
	std::byte *gpa_to_host(uint64_t gpa, uint64_t len) const;
	// The same for a front-end user address.
	std::byte *uva_to_host(uint64_t uva, uint64_t len) const;

private:
	GuestRegion regions_[MAX_REGIONS];
	size_t n_ = 0;
};

// A buffer of a popped chain, already translated and bounds-checked.
struct VqSeg {
	std::byte *ptr;
	uint32_t len;
	uint64_t gpa; // where the driver put it: what the dirty log records
};

// The front-end's dirty page log during a live migration (vhost-user.rst,
// "Migration"): a bitmap shared with the front-end (and with whoever else
// writes guest memory), one bit per VHOST_LOG_PAGE (4 KiB) of guest
// physical address, log[page / 8] bit page % 8. A device that writes guest
// memory while VHOST_F_LOG_ALL is negotiated must set the bits of every
// page it wrote, after the write (so that a page the front-end copies
// after it finds the bit carries the new bytes), atomically (others set
// bits in the same bytes, and the front-end clears them while we run).
// A page past the end of the map is never written: it is counted as a
// miss, as is any write while logging is on but no map was given.
class DirtyLog {
public:
	static constexpr uint64_t PAGE = 0x1000;
	// The bitmap, size bytes at base (nullptr: none).
	void set_map(std::byte *base, uint64_t size) { base_ = base, size_ = base ? size : 0; }
	// VHOST_F_LOG_ALL negotiated: mark from now on.
	void enable(bool on) { on_ = on; }
	bool enabled() const { return on_; }
	// Record a write of len bytes at guest physical address gpa.
	void mark(uint64_t gpa, uint64_t len);
	// Bits were set since the last call (the front-end's log eventfd).
	bool take_marked() {
		bool m = marked_;
		marked_ = false;
		return m;
	}
	uint64_t misses() const { return misses_; }

private:
	std::byte *base_ = nullptr;
	uint64_t size_ = 0;
	bool on_ = false;
	bool marked_ = false;
	uint64_t misses_ = 0;
};

// A popped descriptor chain: read-only segments first, then writable ones.
struct VqChain {
	static constexpr size_t MAX_SEGS = 1024;
	uint16_t head = 0;
	uint16_t n_out = 0; // device-readable (driver -> device) segments
	uint16_t n_in = 0;  // device-writable segments, after the readable ones
	uint64_t out_bytes = 0;
	uint64_t in_bytes = 0;
	VqSeg segs[MAX_SEGS];
};

namespace virtq {
inline constexpr uint16_t DESC_F_NEXT = 1;
inline constexpr uint16_t DESC_F_WRITE = 2;
inline constexpr uint16_t DESC_F_INDIRECT = 4;
inline constexpr uint16_t AVAIL_F_NO_INTERRUPT = 1;
inline constexpr uint16_t USED_F_NO_NOTIFY = 1;
inline constexpr unsigned MAX_SIZE = 1024; // largest queue we accept

// Ring layouts (little-endian fields), for tests and size computations.
struct Desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
static_assert(sizeof(Desc) == 16);
struct UsedElem {
	uint32_t id;
	uint32_t len;
};
static_assert(sizeof(UsedElem) == 8);
inline constexpr size_t desc_bytes(unsigned num) { return 16 * size_t(num); }
inline constexpr size_t avail_bytes(unsigned num) { return 4 + 2 * size_t(num) + 2; }
inline constexpr size_t used_bytes(unsigned num) { return 4 + 8 * size_t(num) + 2; }
} // namespace virtq

// Why a queue is broken (None: it is not).
enum class VqBreak : uint8_t {
	None,
	AvailIdx, // avail->idx more than num ahead of last_avail
	Head,     // a head index at or past num
	Next,     // a next index at or past num
	Loop,     // a chain longer than the table
	Marked,   // by the owner (mark_broken())
};

enum class VqPop : uint8_t {
	Ok,     // chain filled in
	Empty,  // nothing available
	Bad,    // a malformed chain was returned to the driver (used, len 0)
	Broken, // the queue is unusable until set up again
};

class Virtqueue {
public:
	// Point the queue at its rings (already translated: desc, avail and
	// used pointers to at least desc/avail/used_bytes(num), suitably
	// aligned), with num a power of two up to virtq::MAX_SIZE. Next avail
	// index: last_avail; next used index read from the used ring. False
	// (queue left unset) if num or an alignment is wrong.
	bool setup(const GuestMemory *mem, unsigned num, std::byte *desc, std::byte *avail,
		   std::byte *used, uint16_t last_avail);
	void reset();
	bool ready() const { return num_ != 0 && broken_ == VqBreak::None; }
	bool broken() const { return broken_ != VqBreak::None; }
	VqBreak broken_why() const { return broken_; }
	const char *broken_reason() const;
	// Keep a queue broken across a re-translation of its rings (a new
	// memory table is no reset by the front-end).
	void mark_broken(VqBreak why = VqBreak::Marked) {
		if (num_ && why != VqBreak::None)
			broken_ = why;
	}
	unsigned num() const { return num_; }
	uint16_t last_avail() const { return last_avail_; }
	uint16_t used_idx() const { return used_idx_; }

	// Take the next available chain. See the theory of operation.
	VqPop pop(VqChain &chain);
	// Give back the last n chains popped and not pushed (e.g. not enough
	// buffers for a whole frame): they are popped again next time.
	void unpop(uint16_t n) { last_avail_ = uint16_t(last_avail_ - n); }
	// Return chain head to the driver with len bytes written (not yet
	// visible: publish()).
	void push(uint16_t head, uint32_t len);
	// Make every pushed element visible. True if any was pending.
	bool publish();
	// Without event index: true unless the driver set
	// VRING_AVAIL_F_NO_INTERRUPT. With it: true if the used index crossed
	// used_event since the last call (see above).
	bool needs_signal();
	// True if the driver made chains available that we have not popped.
	bool has_avail() const;
	// Ask for a kick at the next chain made available (event index only;
	// without it the driver always kicks). True if chains are already
	// there, for which no kick may come: the caller must come back to
	// them itself.
	bool arm_kick();
	// VIRTIO_RING_F_EVENT_IDX negotiated: used_event/avail_event instead
	// of the flags. Set after setup(), which clears it.
	void set_event_idx(bool on) { event_idx_ = on; }
	bool event_idx() const { return event_idx_; }
	// Log the used ring's writes into log at used_gpa (log_guest_addr), or
	// not (nullptr). Set after setup(), which clears it.
	void set_log(DirtyLog *log, uint64_t used_gpa) { log_ = log, log_used_ = used_gpa; }
	// vring_need_event(): did an index moving from old to new cross event?
	static bool event_crossed(uint16_t event, uint16_t new_idx, uint16_t old_idx) {
		return uint16_t(new_idx - event - 1) < uint16_t(new_idx - old_idx);
	}

	uint64_t bad_chains() const { return bad_chains_; }

private:
	uint16_t load_avail_idx() const;
	VqPop set_broken(VqBreak why);
	// Offset off of the used ring was written (len bytes).
	void log_used(size_t off, size_t len) {
		if (log_)
			log_->mark(log_used_ + off, len);
	}

	const GuestMemory *mem_ = nullptr;
	unsigned num_ = 0;
	std::byte *desc_ = nullptr;
	std::byte *avail_ = nullptr;
	std::byte *used_ = nullptr;
	uint16_t last_avail_ = 0;
	uint16_t used_idx_ = 0;      // next used slot (private until published)
	uint16_t published_idx_ = 0; // last value stored in used->idx
	uint16_t signalled_idx_ = 0; // used index at the last needs_signal()
	bool signalled_valid_ = false;
	bool event_idx_ = false;
	DirtyLog *log_ = nullptr;
	uint64_t log_used_ = 0; // guest physical address of the used ring
	VqBreak broken_ = VqBreak::None;
	uint64_t bad_chains_ = 0;
};

} // namespace passt
