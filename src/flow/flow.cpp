// Flow table: fixed entries, LIFO free list, SipHash-keyed open-addressing
// index of flowsides. See include/passt/flow/flow.h for the design.
//
// getpeername/getsockname: flowside_from_socket(), for the loopback bypass.
// #syscalls:pasta getpeername getsockname
#include "passt/flow/flow.h"

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

int FlowTable::init(uint32_t capacity, std::optional<SipKey> key) {
	flows_.reset();
	buckets_.reset();
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

	flows_.reset(new (std::nothrow) Flow[capacity]());
	buckets_.reset(new (std::nothrow) uint32_t[nb]);
	if (!flows_ || !buckets_) {
		flows_.reset();
		buckets_.reset();
		return -ENOMEM;
	}
	for (size_t i = 0; i < nb; i++)
		buckets_[i] = EMPTY;
	nbuckets_ = nb;

	// Chain so that index 0 is handed out first.
	for (uint32_t i = 0; i < capacity; i++)
		flows_[i].next_free = i + 1 < capacity ? i + 1 : FLOW_NONE;
	free_head_ = 0;
	capacity_ = capacity;
	return 0;
}

std::optional<uint32_t> FlowTable::alloc(FlowType type, const timespec &now) {
	if (type == FlowType::None || type >= FlowType::Count || free_head_ == FLOW_NONE)
		return std::nullopt;
	uint32_t i = free_head_;
	Flow &f = flows_[i];
	free_head_ = f.next_free;

	f = Flow{};
	f.type = type;
	f.last_active = now;
	in_use_++;
	if (i + 1 > hwm_)
		hwm_ = i + 1;
	return i;
}

void FlowTable::free(uint32_t index) {
	if (index >= capacity_ || flows_[index].type == FlowType::None)
		return;
	hash_remove(index, FlowSideIdx::Guest);
	hash_remove(index, FlowSideIdx::Host);
	Flow &f = flows_[index];
	f = Flow{};
	f.next_free = free_head_;
	free_head_ = index;
	in_use_--;
}

Flow *FlowTable::get(uint32_t index) {
	if (index >= capacity_ || flows_[index].type == FlowType::None)
		return nullptr;
	return &flows_[index];
}

const Flow *FlowTable::get(uint32_t index) const {
	if (index >= capacity_ || flows_[index].type == FlowType::None)
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
		uint32_t s = buckets_[b];
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
		uint32_t s = buckets_[b];
		if (s == EMPTY)
			break;
		if (matches(s, f->type, side, key))
			return false;
	}
	// Never full: at most 2 * capacity sides in 4 * capacity buckets.
	buckets_[b] = sidx_of(index, side);
	f->hashed |= bit;
	nhashed_++;
	return true;
}

size_t FlowTable::find_bucket(uint32_t sidx) const {
	const Flow &f = flows_[sidx_flow(sidx)];
	FlowSideIdx side = sidx_side(sidx);
	size_t mask = nbuckets_ - 1;
	for (size_t b = hash(f.type, side, f.side[size_t(side)]) & mask;; b = (b + 1) & mask) {
		if (buckets_[b] == sidx)
			return b;
		if (buckets_[b] == EMPTY)
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
		uint32_t s = buckets_[j];
		if (s == EMPTY)
			break;
		const Flow &f = flows_[sidx_flow(s)];
		FlowSideIdx side = sidx_side(s);
		size_t home = hash(f.type, side, f.side[size_t(side)]) & mask;
		// Distance from home to j, and from the hole to j, going forward.
		if (((j - home) & mask) >= ((j - hole) & mask)) {
			buckets_[hole] = s;
			hole = j;
		}
	}
	buckets_[hole] = EMPTY;
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
