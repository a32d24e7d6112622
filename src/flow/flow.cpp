// Flow table: fixed entries, LIFO free list, SipHash-keyed open-addressing
// index of flowsides. See include/passt/flow/flow.h for the design.
//
// getpeername/getsockname: flowside_from_socket(), for the loopback bypass.
// #syscalls:pasta getpeername getsockname
// The entries and buckets are anonymous mappings, made before the sandbox
// (and unmapped by tests that init() again).
// #syscalls:init mmap munmap
#include "passt/flow/flow.h"

#include <sys/mman.h>
#include <sys/socket.h>

#include "passt/net/sockaddr.h"

#include <cerrno>
#include <cstring>

namespace passt {

namespace {

// Side reference: what a hash bucket stores.
constexpr uint32_t sidx_of(uint32_t index, FlowSideIdx side) { return index * 2 + uint32_t(side); }
constexpr uint32_t sidx_flow(uint32_t sidx) { return sidx / 2; }
constexpr FlowSideIdx sidx_side(uint32_t sidx) { return FlowSideIdx(sidx & 1); }

} // namespace

const char *flow_type_name(FlowType type) {
	switch (type) {
	case FlowType::None: return "free";
	case FlowType::Tcp: return "tcp";
	case FlowType::TcpSplice: return "tcp-splice";
	case FlowType::Ping4: return "ping4";
	case FlowType::Ping6: return "ping6";
	case FlowType::Udp: return "udp";
	case FlowType::UdpSplice: return "udp-splice";
	case FlowType::Count: break;
	}
	return "?";
}

const char *flow_budget_name(FlowBudget b) {
	switch (b) {
	case FlowBudget::TcpOut: return "tcp-out";
	case FlowBudget::TcpIn: return "tcp-in";
	case FlowBudget::Udp: return "udp";
	case FlowBudget::Icmp: return "icmp";
	case FlowBudget::Splice: return "splice";
	case FlowBudget::Count:
	case FlowBudget::Default: break;
	}
	return "?";
}

FlowBudget flow_default_budget(FlowType type) {
	switch (type) {
	case FlowType::Tcp: return FlowBudget::TcpOut;
	case FlowType::TcpSplice:
	case FlowType::UdpSplice: return FlowBudget::Splice;
	case FlowType::Ping4:
	case FlowType::Ping6: return FlowBudget::Icmp;
	case FlowType::Udp: return FlowBudget::Udp;
	case FlowType::None:
	case FlowType::Count: break;
	}
	return FlowBudget::Udp;
}

// A zero-filled anonymous mapping of bytes, or null: its pages are not
// backed by memory until written.
namespace {

void *map_zeroed(size_t bytes) {
	void *p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? nullptr : p;
}

} // namespace

void FlowTable::release() {
	if (flows_)
		munmap(flows_, flows_bytes_);
	if (buckets_)
		munmap(buckets_, buckets_bytes_);
	flows_ = nullptr;
	buckets_ = nullptr;
	flows_bytes_ = buckets_bytes_ = 0;
}

int FlowTable::init(uint32_t capacity, std::optional<SipKey> key) {
	release();
	nbuckets_ = nhashed_ = 0;
	capacity_ = in_use_ = hwm_ = 0;
	free_head_ = FLOW_NONE;

	if (capacity == 0 || capacity > FLOW_MAX * 16)
		return -EINVAL;
	if (!key) {
		key = SipKey::random();
		if (!key)
			return -EIO;
	}
	key_ = *key;

	// Two sides per flow, kept at most a quarter full.
	size_t want = size_t(capacity) * 4;
	size_t nb = 16;
	while (nb < want)
		nb <<= 1;

	// Not written here (see flow.h): zero bytes are what an entry that was
	// never used and an empty bucket look like.
	static_assert(std::is_trivially_destructible_v<Flow>);
	flows_bytes_ = size_t(capacity) * sizeof(Flow);
	buckets_bytes_ = nb * sizeof(uint32_t);
	flows_ = static_cast<Flow *>(map_zeroed(flows_bytes_));
	buckets_ = static_cast<uint32_t *>(map_zeroed(buckets_bytes_));
	if (!flows_ || !buckets_) {
		release();
		return -ENOMEM;
	}
	nbuckets_ = nb;

	for (size_t b = 0; b < NB; b++) {
		uint32_t m = uint32_t(uint64_t(capacity) * FLOW_BUDGET_SHARE[b] / FLOW_BUDGET_DEN);
		max_[b] = m ? m : 1;
		pending_max_[b] = max_[b];
		used_[b] = pending_n_[b] = 0;
		evicted_[b] = 0;
		for (size_t t = 0; t < NT; t++)
			lists_[b][t][0] = lists_[b][t][1] = AgeList{};
	}
	uint32_t pm = uint32_t(uint64_t(capacity) * FLOW_TCP_PENDING_SHARE / FLOW_BUDGET_DEN);
	pending_max_[size_t(FlowBudget::TcpOut)] = pm ? pm : 1;
	serial_ = 0;
	for (Evictor &e : evictors_)
		e = Evictor{};

	for (size_t t = 0; t < NT; t++)
		by_type_[t] = 0;
	// The free list starts empty: alloc() hands out never-used entries from
	// index 0 up (high_water()) once it is.
	capacity_ = capacity;
	return 0;
}

void FlowTable::bind_timer(FlowType type, Timers &timers, int id) {
	if (type == FlowType::None || type >= FlowType::Count)
		return;
	timer_of_[size_t(type)] = Bound{&timers, id};
}

void FlowTable::set_budget(FlowBudget b, uint32_t max, uint32_t pending_max) {
	if (b >= FlowBudget::Count)
		return;
	max_[size_t(b)] = max ? max : 1;
	pending_max_[size_t(b)] = pending_max ? pending_max : 1;
}

void FlowTable::set_unbudgeted() {
	for (size_t b = 0; b < NB; b++)
		max_[b] = pending_max_[b] = capacity_ ? capacity_ : 1;
}

void FlowTable::set_evictor(FlowType type, FlowEvictor fn, void *owner, bool settled_too) {
	if (type == FlowType::None || type >= FlowType::Count)
		return;
	evictors_[size_t(type)] = Evictor{fn, owner, settled_too};
}

void FlowTable::list_append(uint32_t index) {
	Flow &f = flows_[index];
	AgeList &l = list_of(f);
	f.serial = serial_++;
	f.age_prev = l.tail;
	f.age_next = FLOW_NONE;
	if (l.tail != FLOW_NONE)
		flows_[l.tail].age_next = index;
	else
		l.head = index;
	l.tail = index;
}

void FlowTable::list_unlink(uint32_t index) {
	Flow &f = flows_[index];
	AgeList &l = list_of(f);
	if (f.age_prev != FLOW_NONE)
		flows_[f.age_prev].age_next = f.age_next;
	else
		l.head = f.age_next;
	if (f.age_next != FLOW_NONE)
		flows_[f.age_next].age_prev = f.age_prev;
	else
		l.tail = f.age_prev;
	f.age_prev = f.age_next = FLOW_NONE;
}

// The oldest evictable flow of class b: among the heads of the class's
// pending lists first, then (unless pending_only) of its settled lists of
// types that allow it. The types of a class are few (at most two).
uint32_t FlowTable::victim(FlowBudget b, bool pending_only) const {
	for (int pend = 1; pend >= (pending_only ? 1 : 0); pend--) {
		uint32_t best = FLOW_NONE;
		for (size_t t = 1; t < NT; t++) {
			const Evictor &e = evictors_[t];
			if (!e.fn || (!pend && !e.settled_too))
				continue;
			uint32_t h = lists_[size_t(b)][t][pend].head;
			if (h == FLOW_NONE)
				continue;
			if (best == FLOW_NONE ||
			    int32_t(flows_[h].serial - flows_[best].serial) < 0)
				best = h;
		}
		if (best != FLOW_NONE)
			return best;
	}
	return FLOW_NONE;
}

bool FlowTable::evict_one(uint32_t index) {
	Flow &f = flows_[index];
	const Evictor &e = evictors_[size_t(f.type)];
	FlowBudget b = f.budget;
	evicting_ = true; // an evictor must not allocate
	bool ok = e.fn(e.owner, index);
	evicting_ = false;
	if (!ok || flows_[index].type != FlowType::None)
		return false;
	evicted_[size_t(b)]++;
	return true;
}

std::optional<uint32_t> FlowTable::alloc(FlowType type, const timespec &now, FlowBudget budget) {
	if (type == FlowType::None || type >= FlowType::Count || evicting_)
		return std::nullopt;
	if (budget == FlowBudget::Default || budget >= FlowBudget::Count)
		budget = flow_default_budget(type);
	const size_t bi = size_t(budget);
	// Make room in the class: pending cap first (a pending flow goes),
	// then the class's share, then the table itself.
	if (pending_n_[bi] >= pending_max_[bi]) {
		uint32_t v = victim(budget, true);
		if (v == FLOW_NONE || !evict_one(v))
			return std::nullopt;
	}
	const auto full = [this] { return free_head_ == FLOW_NONE && hwm_ >= capacity_; };
	if (used_[bi] >= max_[bi] || full()) {
		uint32_t v = victim(budget, false);
		if (v == FLOW_NONE || !evict_one(v))
			return std::nullopt;
	}
	if (full())
		return std::nullopt;
	uint32_t i;
	if (free_head_ != FLOW_NONE) {
		i = free_head_;
		free_head_ = flows_[i].next_free;
		flows_[i] = Flow{};
	} else {
		i = hwm_; // never used: first touch of its bytes
		new (&flows_[i]) Flow{};
	}
	Flow &f = flows_[i];
	f.type = type;
	f.last_active = now;
	f.budget = budget;
	f.pending = 1;
	list_append(i);
	used_[bi]++;
	pending_n_[bi]++;
	in_use_++;
	if (i + 1 > hwm_)
		hwm_ = i + 1;
	if (by_type_[size_t(type)]++ == 0) {
		const Bound &t = timer_of_[size_t(type)];
		if (t.timers)
			t.timers->arm(t.id, now);
	}
	return i;
}

void FlowTable::settle(uint32_t index) {
	Flow *f = get(index);
	if (!f || !f->pending)
		return;
	list_unlink(index);
	f->pending = 0;
	pending_n_[size_t(f->budget)]--;
	list_append(index);
}

bool FlowTable::is_pending(uint32_t index) const {
	const Flow *f = get(index);
	return f && f->pending;
}

void FlowTable::free(uint32_t index) {
	if (index >= hwm_ || flows_[index].type == FlowType::None)
		return;
	{
		Flow &f = flows_[index];
		by_type_[size_t(f.type)]--;
		list_unlink(index);
		used_[size_t(f.budget)]--;
		if (f.pending)
			pending_n_[size_t(f.budget)]--;
	}
	hash_remove(index, FlowSideIdx::Guest);
	hash_remove(index, FlowSideIdx::Host);
	Flow &f = flows_[index];
	f = Flow{};
	f.next_free = free_head_;
	free_head_ = index;
	in_use_--;
}

Flow *FlowTable::get(uint32_t index) {
	if (index >= hwm_ || flows_[index].type == FlowType::None)
		return nullptr;
	return &flows_[index];
}

const Flow *FlowTable::get(uint32_t index) const {
	if (index >= hwm_ || flows_[index].type == FlowType::None)
		return nullptr;
	return &flows_[index];
}

Flow *FlowTable::get(uint32_t index, FlowType type) {
	Flow *f = get(index);
	return f && f->type == type ? f : nullptr;
}

void FlowTable::touch(uint32_t index, const timespec &now) {
	if (Flow *f = get(index))
		f->last_active = now;
}

uint64_t FlowTable::hash(FlowType type, FlowSideIdx side, const FlowSide &key) const {
	SipHash h(key_);
	h.add_u16(uint16_t(uint16_t(type) << 8 | uint16_t(side)));
	h.add(std::as_bytes(std::span(key.peer_addr.a.b)));
	h.add(std::as_bytes(std::span(key.our_addr.a.b)));
	h.add_u32(uint32_t(key.peer_port) << 16 | key.our_port);
	return h.finish();
}

bool FlowTable::matches(uint32_t sidx, FlowType type, FlowSideIdx side, const FlowSide &key) const {
	const Flow &f = flows_[sidx_flow(sidx)];
	return sidx_side(sidx) == side && f.type == type && f.side[size_t(side)] == key;
}

std::optional<uint32_t> FlowTable::lookup(FlowType type, FlowSideIdx side,
					  const FlowSide &key) const {
	if (!nbuckets_)
		return std::nullopt;
	size_t mask = nbuckets_ - 1;
	for (size_t b = hash(type, side, key) & mask;; b = (b + 1) & mask) {
		uint32_t s = bucket(b);
		if (s == EMPTY)
			return std::nullopt;
		if (matches(s, type, side, key))
			return sidx_flow(s);
	}
}

bool FlowTable::hash_insert(uint32_t index, FlowSideIdx side) {
	Flow *f = get(index);
	uint8_t bit = uint8_t(1u << unsigned(side));
	if (!f || (f->hashed & bit))
		return false;
	const FlowSide &key = f->side[size_t(side)];
	size_t mask = nbuckets_ - 1;
	size_t b = hash(f->type, side, key) & mask;
	for (;; b = (b + 1) & mask) {
		uint32_t s = bucket(b);
		if (s == EMPTY)
			break;
		if (matches(s, f->type, side, key))
			return false;
	}
	// Never full: at most 2 * capacity sides in 4 * capacity buckets.
	set_bucket(b, sidx_of(index, side));
	f->hashed |= bit;
	nhashed_++;
	return true;
}

size_t FlowTable::find_bucket(uint32_t sidx) const {
	const Flow &f = flows_[sidx_flow(sidx)];
	FlowSideIdx side = sidx_side(sidx);
	size_t mask = nbuckets_ - 1;
	for (size_t b = hash(f.type, side, f.side[size_t(side)]) & mask;; b = (b + 1) & mask) {
		if (bucket(b) == sidx)
			return b;
		if (bucket(b) == EMPTY)
			return nbuckets_;
	}
}

// Backward shift deletion: move later members of the probe run into the
// hole whenever their home bucket does not lie cyclically in (hole, pos].
void FlowTable::erase_bucket(size_t hole) {
	size_t mask = nbuckets_ - 1;
	size_t j = hole;
	for (;;) {
		j = (j + 1) & mask;
		uint32_t s = bucket(j);
		if (s == EMPTY)
			break;
		const Flow &f = flows_[sidx_flow(s)];
		FlowSideIdx side = sidx_side(s);
		size_t home = hash(f.type, side, f.side[size_t(side)]) & mask;
		// Distance from home to j, and from the hole to j, going forward.
		if (((j - home) & mask) >= ((j - hole) & mask)) {
			set_bucket(hole, s);
			hole = j;
		}
	}
	set_bucket(hole, EMPTY);
}

void FlowTable::hash_remove(uint32_t index, FlowSideIdx side) {
	Flow *f = get(index);
	uint8_t bit = uint8_t(1u << unsigned(side));
	if (!f || !(f->hashed & bit))
		return;
	size_t b = find_bucket(sidx_of(index, side));
	if (b < nbuckets_) {
		erase_bucket(b);
		nhashed_--;
	}
	f->hashed &= uint8_t(~bit);
}

void flowside_from_socket(int fd, FlowSide &side) {
	SockAddr sa;
	socklen_t l = sizeof(sa);
	if (getpeername(fd, &sa.sa, &l) == 0)
		sockaddr_to(sa, side.peer_addr, side.peer_port);
	l = sizeof(sa);
	if (getsockname(fd, &sa.sa, &l) == 0)
		sockaddr_to(sa, side.our_addr, side.our_port);
}

} // namespace passt
