// Split virtqueues over shared guest memory: see the theory of operation in
// include/passt/tap/virtqueue.h.
#include "passt/tap/virtqueue.h"

#include <endian.h>

#include <atomic>
#include <cstring>

namespace passt {

namespace {

// [a, a + len) inside [base, base + size), without overflow.
bool range_in(uint64_t a, uint64_t len, uint64_t base, uint64_t size) {
	if (a < base)
		return false;
	uint64_t off = a - base;
	return off <= size && len <= size - off;
}

// Loads and stores of ring fields: the guest writes them concurrently, so
// each is one access of the field's own size (volatile: never re-read or
// torn by the compiler), converted from little-endian.
uint16_t ld16(const std::byte *p) {
	return le16toh(*reinterpret_cast<const volatile uint16_t *>(p));
}
void st16(std::byte *p, uint16_t v) { *reinterpret_cast<volatile uint16_t *>(p) = htole16(v); }
void st32(std::byte *p, uint32_t v) { *reinterpret_cast<volatile uint32_t *>(p) = htole32(v); }

// Avail ring: flags at 0, idx at 2, ring[] at 4. Used: flags, idx, ring[] at 4.
constexpr size_t RING_IDX = 2;
constexpr size_t RING_ENTRIES = 4;

} // namespace

bool GuestMemory::set(std::span<const GuestRegion> regions) {
	n_ = 0;
	if (regions.size() > MAX_REGIONS)
		return false;
	for (const GuestRegion &r : regions) {
		if (!r.size || !r.host || r.gpa + r.size < r.gpa || r.uva + r.size < r.uva)
			return false;
	}
	for (size_t i = 0; i < regions.size(); i++)
		regions_[i] = regions[i];
	n_ = regions.size();
	return true;
}

std::byte *GuestMemory::gpa_to_host(uint64_t gpa, uint64_t len) const {
	for (size_t i = 0; i < n_; i++) {
		const GuestRegion &r = regions_[i];
		if (range_in(gpa, len, r.gpa, r.size))
			return r.host + (gpa - r.gpa);
	}
	return nullptr;
}

std::byte *GuestMemory::uva_to_host(uint64_t uva, uint64_t len) const {
	for (size_t i = 0; i < n_; i++) {
		const GuestRegion &r = regions_[i];
		if (range_in(uva, len, r.uva, r.size))
			return r.host + (uva - r.uva);
	}
	return nullptr;
}

bool Virtqueue::setup(const GuestMemory *mem, unsigned num, std::byte *desc, std::byte *avail,
		      std::byte *used, uint16_t last_avail) {
	reset();
	if (!mem || !num || num > virtq::MAX_SIZE || (num & (num - 1)))
		return false;
	if (!desc || !avail || !used)
		return false;
	if ((reinterpret_cast<uintptr_t>(desc) & 15) || (reinterpret_cast<uintptr_t>(avail) & 1) ||
	    (reinterpret_cast<uintptr_t>(used) & 3))
		return false;
	mem_ = mem;
	num_ = num;
	desc_ = desc;
	avail_ = avail;
	used_ = used;
	last_avail_ = last_avail;
	used_idx_ = published_idx_ = ld16(used_ + RING_IDX);
	signalled_valid_ = false;
	event_idx_ = false;
	return true;
}

void Virtqueue::reset() {
	mem_ = nullptr;
	num_ = 0;
	desc_ = avail_ = used_ = nullptr;
	last_avail_ = used_idx_ = published_idx_ = signalled_idx_ = 0;
	signalled_valid_ = event_idx_ = false;
	log_ = nullptr;
	log_used_ = 0;
	broken_ = VqBreak::None;
}

void DirtyLog::mark(uint64_t gpa, uint64_t len) {
	if (!on_ || !len)
		return;
	if (!base_ || gpa + (len - 1) < gpa) {
		misses_++;
		return;
	}
	const uint64_t first = gpa / PAGE, last = (gpa + (len - 1)) / PAGE;
	bool miss = false;
	for (uint64_t page = first; page <= last; page++) {
		if (page / 8 >= size_) {
			miss = true; // never outside the map
			break;
		}
		// Release: the bytes written are visible to whoever sees the bit.
		std::atomic_ref<uint8_t> b(reinterpret_cast<uint8_t &>(base_[page / 8]));
		b.fetch_or(uint8_t(1U << (page % 8)), std::memory_order_release);
		marked_ = true;
	}
	if (miss)
		misses_++;
}

uint16_t Virtqueue::load_avail_idx() const {
	uint16_t idx = ld16(avail_ + RING_IDX);
	// Ring entries and descriptors read after this are no older than idx.
	std::atomic_thread_fence(std::memory_order_acquire);
	return idx;
}

bool Virtqueue::has_avail() const { return ready() && load_avail_idx() != last_avail_; }

bool Virtqueue::arm_kick() {
	if (!ready())
		return false;
	if (event_idx_) {
		// avail_event, after used->ring[num]: kick once avail->idx
		// moves past last_avail_. Then look again (see the header).
		st16(used_ + RING_ENTRIES + 8 * size_t(num_), last_avail_);
		log_used(RING_ENTRIES + 8 * size_t(num_), 2);
		std::atomic_thread_fence(std::memory_order_seq_cst);
	}
	return load_avail_idx() != last_avail_;
}

VqPop Virtqueue::pop(VqChain &chain) {
	if (!ready())
		return VqPop::Broken;
	uint16_t avail_idx = load_avail_idx();
	uint16_t pending = uint16_t(avail_idx - last_avail_);
	if (!pending) {
		// Idle from here: ask for a kick, and take a chain added
		// meanwhile by a driver that saw the old avail_event.
		if (!event_idx_ || !arm_kick())
			return VqPop::Empty;
		avail_idx = load_avail_idx();
		pending = uint16_t(avail_idx - last_avail_);
	}
	if (pending > num_)
		return set_broken(VqBreak::AvailIdx);
	uint16_t head = ld16(avail_ + RING_ENTRIES + 2 * size_t(last_avail_ & (num_ - 1)));
	if (head >= num_)
		return set_broken(VqBreak::Head);

	chain.head = head;
	chain.n_out = chain.n_in = 0;
	chain.out_bytes = chain.in_bytes = 0;
	uint16_t i = head;
	bool ok = true;
	for (unsigned count = 0;; count++) {
		// Longer than the table: a loop. The table itself is corrupt,
		// and the chain's end (what to give back) is unknowable.
		if (count >= num_ || count >= VqChain::MAX_SEGS)
			return set_broken(VqBreak::Loop);
		virtq::Desc d;
		memcpy(&d, desc_ + 16 * size_t(i), sizeof(d));
		uint64_t addr = le64toh(d.addr);
		uint32_t len = le32toh(d.len);
		uint16_t flags = le16toh(d.flags);
		uint16_t next = le16toh(d.next);
		if (flags & virtq::DESC_F_INDIRECT) {
			ok = false;
			break;
		}
		std::byte *p = len ? mem_->gpa_to_host(addr, len) : nullptr;
		if (len && !p) {
			ok = false;
			break;
		}
		bool writable = flags & virtq::DESC_F_WRITE;
		if (!writable && chain.n_in) {
			ok = false; // readable after writable
			break;
		}
		if (len) {
			chain.segs[chain.n_out + chain.n_in] = {p, len, addr};
			if (writable) {
				chain.n_in++;
				chain.in_bytes += len;
			} else {
				chain.n_out++;
				chain.out_bytes += len;
			}
		}
		if (!(flags & virtq::DESC_F_NEXT))
			break;
		if (next >= num_)
			return set_broken(VqBreak::Next);
		i = next;
	}
	// The head is taken only now: a broken queue reports where it stood
	// before the chain that broke it.
	last_avail_++;
	if (ok)
		return VqPop::Ok;
	bad_chains_++;
	push(head, 0);
	return VqPop::Bad;
}

VqPop Virtqueue::set_broken(VqBreak why) {
	broken_ = why;
	return VqPop::Broken;
}

const char *Virtqueue::broken_reason() const {
	switch (broken_) {
	case VqBreak::None: return "not broken";
	case VqBreak::AvailIdx: return "avail index more than the ring size ahead";
	case VqBreak::Head: return "chain head out of range";
	case VqBreak::Next: return "next descriptor out of range";
	case VqBreak::Loop: return "descriptor chain loops or is longer than the ring";
	case VqBreak::Marked: return "marked broken";
	}
	return "?";
}

void Virtqueue::push(uint16_t head, uint32_t len) {
	if (!ready())
		return;
	const size_t off = RING_ENTRIES + 8 * size_t(used_idx_ & (num_ - 1));
	st32(used_ + off, head);
	st32(used_ + off + 4, len);
	log_used(off, 8);
	used_idx_++;
}

bool Virtqueue::publish() {
	if (!ready() || used_idx_ == published_idx_)
		return false;
	// The used elements must be visible before the index that covers them.
	std::atomic_thread_fence(std::memory_order_release);
	st16(used_ + RING_IDX, used_idx_);
	log_used(RING_IDX, 2);
	published_idx_ = used_idx_;
	// Order the index store before our later read of avail->flags.
	std::atomic_thread_fence(std::memory_order_seq_cst);
	return true;
}

bool Virtqueue::needs_signal() {
	if (!ready())
		return false;
	if (!event_idx_)
		return !(ld16(avail_) & virtq::AVAIL_F_NO_INTERRUPT);
	// used_event, after avail->ring[num]. publish() fenced our index
	// store before this load.
	const uint16_t event = ld16(avail_ + RING_ENTRIES + 2 * size_t(num_));
	const uint16_t old = signalled_idx_;
	const bool valid = signalled_valid_;
	signalled_idx_ = published_idx_;
	signalled_valid_ = true;
	return !valid || event_crossed(event, published_idx_, old);
}

} // namespace passt
