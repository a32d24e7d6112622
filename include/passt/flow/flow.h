// The flow table: one entry per translated "connection" (TCP connection,
// UDP pseudo-connection, ICMP echo session), shared by every translator.
//
// Theory of operation
// -------------------
// A flow joins two flowsides. Each side describes one leg of the flow as
// seen from that leg: the peer's address and port and our own address and
// port on that leg. Side 0 (FlowSideIdx::Guest) is the guest leg: its peer
// is the guest, "ours" is the address/port the guest talks to (the
// destination as the guest addressed it, before any NAT). Side 1
// (FlowSideIdx::Host) is the socket leg: its peer is the real remote end
// after NAT, "ours" is the socket's local address/port. For a spliced TCP
// flow (pasta) the "guest" side is the namespace's socket. Ports of ICMP
// echo flows are echo identifiers.
//
// Storage is fixed: init() allocates the entries and the hash buckets once,
// at start-up; nothing is allocated afterwards. Both are anonymous mappings
// that init() does not write: a page of the table costs memory only once a
// flow (or a hashed side) first lands on it, so an idle daemon holds a few
// pages, not the whole table (about 14 MiB at FLOW_MAX). Entries from
// high_water() on have never been used and are still all zero bytes; a
// bucket stores the complement of its side reference, so that zero bytes
// read as an empty bucket. Freed entries are chained in a LIFO free list
// (so that recently freed, cache-warm entries are reused first and in-use
// indices stay compact), and alloc() takes the next never-used entry when
// that list is empty; it fails cleanly when both are exhausted. The index of a flow never changes while the flow lives, and is
// what epoll references carry (EpollRef::index).
//
// Lookup: either side of a flow can be entered in one hash table keyed by
// (type, side, the side's addresses and ports), hashed with SipHash-2-4
// under a per-run random key so that a guest cannot aim collisions. The
// table uses open addressing with linear probing over a power-of-two array
// of "side references" (flow index * 2 + side) at most 1/4 full (two sides
// per flow, twice the capacity in buckets per side), so a probe sequence is
// always short and always ends at an empty bucket. Removal uses backward
// shift deletion, which leaves no tombstones: the table stays as if the
// removed key had never been inserted. A side's addresses and ports must not
// change while it is hashed (remove, change, insert again).
//
// Per-protocol state lives in a fixed-size, suitably aligned area of each
// entry (Flow::state<T>()), typed by the flow's type: no separate tables
// and no virtual dispatch. Types stored there must be trivially copyable.
//
// Expiry is the owner's business: every flow carries the time of its last
// activity, and owners scan their flows from a periodic timer
// (FlowTable::for_each()).
//
// Budgets and eviction. So that one flood cannot starve every other kind
// of flow, each flow is charged to one budget class (FlowBudget) chosen at
// alloc(): TCP opened by the guest, TCP accepted from the host (-t), UDP
// (tap path), ICMP echo, and pasta's loopback bypass (spliced TCP and UDP).
// Each class may hold a fixed share of the capacity, and the shares add up
// to the capacity, so a class that is full never takes entries from
// another:
//
//   TcpOut 3/8 (24576 of FLOW_MAX)   TcpIn 1/4 (16384)   Udp 1/4 (16384)
//   Icmp 1/16 (4096)                 Splice 1/16 (4096)
//
// A flow is "pending" from alloc() until its owner calls settle(): a UDP
// flow that has seen no reply yet, a TCP connection whose handshake is not
// complete. TcpOut also caps its pending flows (connects in progress towards
// the host, each with a socket) at 1/32 of the capacity (2048 of FLOW_MAX):
// a SYN flood from the guest can hold no more. When a new flow finds its
// class (or its pending cap) full, the table evicts one flow of the same
// class instead of failing, through the owner's evictor (set_evictor(): it
// closes the flow's socket, tells the peers - an RST to the guest for TCP -
// and frees the entry): the oldest pending flow first, else, for the types
// whose owner allows it (UDP: a flow is only a cache of a 4-tuple), the
// oldest settled one. Established TCP is never evicted: then alloc() fails
// and the owner refuses the new connection. "Oldest" is creation order (or
// settle order for settled flows): each (class, type) pair keeps two
// intrusive lists in that order, so the victim is found in O(1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <memory>
#include <new>
#include <optional>
#include <type_traits>

#include "passt/core/timer.h"
#include "passt/net/addr.h"
#include "passt/net/siphash.h"

namespace passt {

// Default (and production) number of flow entries.
inline constexpr uint32_t FLOW_MAX = 65536;
// Bytes of per-protocol state in each entry.
inline constexpr size_t FLOW_STATE_BYTES = 96;
// An index that is never a valid flow.
inline constexpr uint32_t FLOW_NONE = UINT32_MAX;

enum class FlowType : uint8_t {
	None = 0,  // free entry
	Tcp,       // TCP via tap
	TcpSplice, // TCP spliced between two sockets (pasta)
	Ping4,     // ICMP echo
	Ping6,     // ICMPv6 echo
	Udp,       // UDP
	UdpSplice, // UDP between two sockets, no frames (pasta loopback)
	Count
};

const char *flow_type_name(FlowType type);

// What a flow is charged to (see the theory of operation above).
enum class FlowBudget : uint8_t {
	TcpOut, // TCP opened by the guest
	TcpIn,  // TCP accepted on a -t listener
	Udp,    // UDP on the tap path, both ways
	Icmp,   // ICMP / ICMPv6 echo
	Splice, // pasta's loopback bypass, TCP and UDP
	Count,
	Default = 0xff, // the class of the flow's type (TCP: TcpOut)
};

const char *flow_budget_name(FlowBudget b);
// The class a flow of this type is charged to unless told otherwise.
FlowBudget flow_default_budget(FlowType type);

// Shares of the capacity per class (numerator over FLOW_BUDGET_DEN), and the
// cap on pending TcpOut flows.
inline constexpr uint32_t FLOW_BUDGET_DEN = 32;
inline constexpr uint32_t FLOW_BUDGET_SHARE[size_t(FlowBudget::Count)] = {12, 8, 8, 2, 2};
inline constexpr uint32_t FLOW_TCP_PENDING_SHARE = 1;

// Evict flow index through its owner: close and free it. Return value:
// whether it did (the table checks the entry is free, too).
using FlowEvictor = bool (*)(void *owner, uint32_t index);

enum class FlowSideIdx : uint8_t { Guest = 0, Host = 1 };

// One leg of a flow, as seen from that leg.
struct FlowSide {
	InAny peer_addr;        // the other end (guest side: the guest)
	InAny our_addr;         // our end (guest side: what the guest addressed)
	uint16_t peer_port = 0; // (ping: the guest's echo id on the guest side)
	uint16_t our_port = 0;  // (ping: the socket's echo id on the host side)

	friend constexpr bool operator==(const FlowSide &, const FlowSide &) = default;
};

// The guest side of a flow as a packet from the guest names it: the guest
// is the peer (src:sport), "ours" is the destination it addressed.
constexpr FlowSide flowside_from_guest(const InAny &src, uint16_t sport, const InAny &dst,
				       uint16_t dport) {
	FlowSide s;
	s.peer_addr = src;
	s.peer_port = sport;
	s.our_addr = dst;
	s.our_port = dport;
	return s;
}

// Fill side from a connected socket: peer from getpeername(), ours from
// getsockname(); a field whose call fails is left as it was.
void flowside_from_socket(int fd, FlowSide &side);

struct Flow {
	FlowType type = FlowType::None;
	uint8_t hashed = 0;             // bit n: side n is in the hash table
	uint32_t next_free = FLOW_NONE; // free list link (free entries only)
	timespec last_active{};         // last activity, CLOCK_MONOTONIC
	// Budget bookkeeping (FlowTable only): class, pending or settled, and
	// the links of the (class, type, pending) list in age order.
	FlowBudget budget = FlowBudget::Default;
	uint8_t pending = 0;
	uint32_t age_prev = FLOW_NONE, age_next = FLOW_NONE;
	uint32_t serial = 0; // alloc() or settle() order (wraps; compared as a difference)
	FlowSide side[2];

	FlowSide &guest() { return side[0]; }
	const FlowSide &guest() const { return side[0]; }
	FlowSide &host() { return side[1]; }
	const FlowSide &host() const { return side[1]; }

	// Per-protocol state of type T in the entry's state area.
	template <class T> T &state() {
		check_state_type<T>();
		return *std::launder(reinterpret_cast<T *>(state_));
	}
	template <class T> const T &state() const {
		check_state_type<T>();
		return *std::launder(reinterpret_cast<const T *>(state_));
	}
	// Construct a fresh T in the state area (call once after alloc()).
	template <class T> T &init_state() {
		check_state_type<T>();
		return *new (state_) T{};
	}

private:
	template <class T> static constexpr void check_state_type() {
		static_assert(sizeof(T) <= FLOW_STATE_BYTES, "flow state too large");
		static_assert(alignof(T) <= 8, "flow state over-aligned");
		static_assert(std::is_trivially_copyable_v<T>,
			      "flow state must be trivially copyable");
	}

	alignas(8) std::byte state_[FLOW_STATE_BYTES] = {};
};

class FlowTable {
public:
	FlowTable() = default;
	~FlowTable() { release(); }
	FlowTable(const FlowTable &) = delete;
	FlowTable &operator=(const FlowTable &) = delete;

	// Allocate capacity entries (1 .. FLOW_MAX * 16) and the hash buckets,
	// keyed with key, or a random key if none is given. Returns 0, -EINVAL,
	// -ENOMEM, or -EIO if no random key could be had. May be called again
	// (tests): everything is dropped first.
	int init(uint32_t capacity = FLOW_MAX, std::optional<SipKey> key = std::nullopt);

	uint32_t capacity() const { return capacity_; }
	uint32_t in_use() const { return in_use_; }
	// Flows of one type in use.
	uint32_t in_use(FlowType type) const {
		return type < FlowType::Count ? by_type_[size_t(type)] : 0;
	}
	// Timer id of timers serves the flows of type: alloc() arms it
	// (Timers::arm(): a timer already armed keeps its deadline) when a flow
	// of the type appears; the timer's callback disarms it when it finds
	// none left. Several types may share one timer.
	void bind_timer(FlowType type, Timers &timers, int id);
	// One more than the highest index allocated since init(): scans stop there.
	uint32_t high_water() const { return hwm_; }

	// A free entry set to type, both sides zeroed, state area zeroed,
	// last_active = now, charged to budget (Default: the type's class) and
	// pending. If the class (or its pending cap) is full, one flow of the
	// class is evicted first (see above). nullopt if no entry can be had
	// (or type is None).
	// The caller must not hold a Flow reference across alloc(): an
	// eviction may have freed it.
	std::optional<uint32_t> alloc(FlowType type, const timespec &now,
				      FlowBudget budget = FlowBudget::Default);
	// Remove the flow's hashed sides and return it to the free list.
	// Freeing a free or out-of-range index is ignored.
	void free(uint32_t index);

	// The flow is no longer pending (answered, handshake complete): it is
	// then evicted only if its type allows it, after every pending flow.
	void settle(uint32_t index);
	bool is_pending(uint32_t index) const;

	// The owner of flows of type: evict(owner, index) closes and frees one.
	// settled_too: settled flows of the type may be evicted as well (UDP).
	// Without an evictor, flows of the type are never evicted.
	void set_evictor(FlowType type, FlowEvictor evict, void *owner, bool settled_too);

	// Budget of a class: entries in use, pending, and the limits.
	uint32_t used(FlowBudget b) const { return used_[size_t(b)]; }
	uint32_t pending(FlowBudget b) const { return pending_n_[size_t(b)]; }
	uint32_t budget_max(FlowBudget b) const { return max_[size_t(b)]; }
	uint32_t pending_max(FlowBudget b) const { return pending_max_[size_t(b)]; }
	// Set a class's limits (tests; init() sets the shares above). A limit
	// of 0 is taken as 1.
	void set_budget(FlowBudget b, uint32_t max, uint32_t pending_max);
	// Every class may use the whole table (no budgets), as in tests that
	// exercise a table of a few entries.
	void set_unbudgeted();
	// Flows evicted since init(), per class.
	uint64_t evictions(FlowBudget b) const { return evicted_[size_t(b)]; }

	// The entry at index if it is in use (and of the given type), else null.
	Flow *get(uint32_t index);
	const Flow *get(uint32_t index) const;
	Flow *get(uint32_t index, FlowType type);

	void touch(uint32_t index, const timespec &now);

	// Enter a side of an in-use flow in the hash table. False (table
	// unchanged) if the index is not in use, the side is already hashed, or
	// another flow of the same type already has an identical side there.
	bool hash_insert(uint32_t index, FlowSideIdx side);
	// Take a side out of the hash table (no effect if not hashed).
	void hash_remove(uint32_t index, FlowSideIdx side);
	// The flow of this type whose hashed side equals key, or nullopt.
	std::optional<uint32_t> lookup(FlowType type, FlowSideIdx side, const FlowSide &key) const;

	// The flow of this type whose guest side is key, else what create()
	// returns (the index of the flow it made for key, or nullopt): for
	// translators whose every guest packet may start a flow (UDP, ICMP).
	template <class F>
	std::optional<uint32_t> lookup_or_create(FlowType type, const FlowSide &key, F &&create) {
		if (auto idx = lookup(type, FlowSideIdx::Guest, key))
			return idx;
		return create();
	}

	// Call f(index, Flow &) for each flow in use, in index order. f may
	// free the flow it is given (but no other).
	template <class F> void for_each(F &&f) {
		for (uint32_t i = 0; i < hwm_; i++) {
			if (flows_[i].type != FlowType::None)
				f(i, flows_[i]);
		}
	}

	// Hash buckets (for tests: occupancy checks).
	size_t bucket_count() const { return nbuckets_; }
	size_t hashed_count() const { return nhashed_; }

private:
	static constexpr uint32_t EMPTY = UINT32_MAX;
	// Buckets hold ~sidx (zero bytes: EMPTY).
	uint32_t bucket(size_t b) const { return ~buckets_[b]; }
	void set_bucket(size_t b, uint32_t sidx) { buckets_[b] = ~sidx; }
	// Unmap the entries and buckets.
	void release();

	uint64_t hash(FlowType type, FlowSideIdx side, const FlowSide &key) const;
	bool matches(uint32_t sidx, FlowType type, FlowSideIdx side, const FlowSide &key) const;
	// Bucket holding sidx, or nbuckets_ if absent.
	size_t find_bucket(uint32_t sidx) const;
	void erase_bucket(size_t b);

	// Age lists, one per (class, type, pending).
	struct AgeList {
		uint32_t head = FLOW_NONE, tail = FLOW_NONE;
	};
	static constexpr size_t NB = size_t(FlowBudget::Count);
	static constexpr size_t NT = size_t(FlowType::Count);
	AgeList &list_of(const Flow &f) {
		return lists_[size_t(f.budget)][size_t(f.type)][f.pending ? 1 : 0];
	}
	void list_append(uint32_t index);
	void list_unlink(uint32_t index);
	// The flow to evict for a new one of class b (pending only: no settled
	// flow), or FLOW_NONE.
	uint32_t victim(FlowBudget b, bool pending_only) const;
	bool evict_one(uint32_t index);

	struct Evictor {
		FlowEvictor fn = nullptr;
		void *owner = nullptr;
		bool settled_too = false;
	};
	Evictor evictors_[NT];
	AgeList lists_[NB][NT][2];
	uint32_t used_[NB] = {};
	uint32_t pending_n_[NB] = {};
	uint32_t max_[NB] = {};
	uint32_t pending_max_[NB] = {};
	uint64_t evicted_[NB] = {};
	bool evicting_ = false;
	uint32_t serial_ = 0;

	struct Bound {
		Timers *timers = nullptr;
		int id = -1;
	};
	Bound timer_of_[NT];
	uint32_t by_type_[NT] = {};

	Flow *flows_ = nullptr;       // capacity_ entries, mapped by init()
	uint32_t *buckets_ = nullptr; // nbuckets_, mapped by init()
	size_t flows_bytes_ = 0, buckets_bytes_ = 0;
	size_t nbuckets_ = 0;
	size_t nhashed_ = 0;
	uint32_t capacity_ = 0;
	uint32_t in_use_ = 0;
	uint32_t hwm_ = 0;
	uint32_t free_head_ = FLOW_NONE;
	SipKey key_;
};

} // namespace passt
