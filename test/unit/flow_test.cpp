// Flow table (allocation, free list, hash lookup and deletion, capacity
// limits) and the forwarding/NAT rules of fwd.h.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include <net/if.h>
#include <sys/mman.h>
#include <unistd.h>

#include "passt/core/timer.h"
#include "passt/flow/flow.h"
#include "passt/fwd/nat.h"

using namespace passt;

namespace {

const timespec T0{100, 0};
const SipKey KEY{0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};

Ipv4Addr v4(const char *s) { return *Ipv4Addr::parse(s); }
Ipv6Addr v6(const char *s) { return *Ipv6Addr::parse(s); }

// A distinct guest side for each n (addresses and ports vary).
FlowSide side_for(uint32_t n) {
	FlowSide s;
	s.peer_addr = InAny(Ipv4Addr::from_host(0x0a000000u | (n & 0xff)));
	s.our_addr = InAny(Ipv4Addr::from_host(0xc6336400u + (n >> 16)));
	s.peer_port = uint16_t(n);
	s.our_port = uint16_t(n >> 8);
	return s;
}

struct Dummy {
	uint64_t a;
	uint32_t b;
};

} // namespace

TEST(FlowTable, InitRejectsBadCapacity) {
	FlowTable t;
	EXPECT_EQ(t.init(0, KEY), -EINVAL);
	EXPECT_EQ(t.init(FLOW_MAX * 16 + 1, KEY), -EINVAL);
	EXPECT_FALSE(t.alloc(FlowType::Ping4, T0));
	EXPECT_EQ(t.init(8), 0); // random key
	EXPECT_EQ(t.capacity(), 8u);
}

TEST(FlowTable, AllocGetFree) {
	FlowTable t;
	ASSERT_EQ(t.init(16, KEY), 0);
	EXPECT_FALSE(t.alloc(FlowType::None, T0));

	auto a = t.alloc(FlowType::Ping4, T0);
	auto b = t.alloc(FlowType::Tcp, T0);
	ASSERT_TRUE(a && b);
	EXPECT_NE(*a, *b);
	EXPECT_EQ(t.in_use(), 2u);
	EXPECT_EQ(t.high_water(), 2u);

	Flow *fa = t.get(*a);
	ASSERT_NE(fa, nullptr);
	EXPECT_EQ(fa->type, FlowType::Ping4);
	EXPECT_EQ(fa->last_active.tv_sec, 100);
	EXPECT_EQ(fa->guest(), FlowSide{});
	EXPECT_EQ(t.get(*a, FlowType::Ping4), fa);
	EXPECT_EQ(t.get(*a, FlowType::Tcp), nullptr);
	EXPECT_EQ(t.get(5), nullptr);   // never allocated
	EXPECT_EQ(t.get(999), nullptr); // out of range

	t.touch(*a, timespec{150, 5});
	EXPECT_EQ(fa->last_active.tv_sec, 150);

	// State area: zeroed on allocation, typed access.
	fa->init_state<Dummy>() = Dummy{42, 7};
	EXPECT_EQ(t.get(*a)->state<Dummy>().a, 42u);

	t.free(*a);
	EXPECT_EQ(t.get(*a), nullptr);
	EXPECT_EQ(t.in_use(), 1u);
	t.free(*a); // double free ignored
	t.free(12345);
	EXPECT_EQ(t.in_use(), 1u);

	// LIFO: the freed entry comes back first, with clean state.
	auto c = t.alloc(FlowType::Udp, T0);
	ASSERT_TRUE(c);
	EXPECT_EQ(*c, *a);
	EXPECT_EQ(t.get(*c)->state<Dummy>().a, 0u);
	EXPECT_EQ(t.get(*c)->hashed, 0);
}

namespace {

// Pages of [p, p + bytes) backed by memory now (mincore()).
size_t resident_pages(const void *p, size_t bytes) {
	const size_t page = size_t(sysconf(_SC_PAGESIZE));
	uintptr_t start = uintptr_t(p) & ~(page - 1);
	size_t n = (uintptr_t(p) + bytes - start + page - 1) / page;
	std::vector<unsigned char> v(n);
	if (mincore(reinterpret_cast<void *>(start), n * page, v.data()) < 0)
		return SIZE_MAX;
	size_t r = 0;
	for (unsigned char c : v)
		r += c & 1;
	return r;
}

} // namespace

// A full-size table costs memory only where flows are: init() does not
// write the entries (about 14 MiB at FLOW_MAX), and the first flows land
// on the first page. Entries handed out for the first time still come in
// index order, after the freed ones.
TEST(FlowTable, EntriesUntouchedUntilUsed) {
	FlowTable t;
	ASSERT_EQ(t.init(FLOW_MAX, KEY), 0);
	auto a = t.alloc(FlowType::Udp, T0);
	ASSERT_TRUE(a);
	EXPECT_EQ(*a, 0u);
	Flow *base = t.get(0);
	ASSERT_NE(base, nullptr);
	t.get(0)->guest() = side_for(1);
	ASSERT_TRUE(t.hash_insert(0, FlowSideIdx::Guest));
	size_t r = resident_pages(base, size_t(FLOW_MAX) * sizeof(Flow));
	EXPECT_LE(r, 2u) << "of " << size_t(FLOW_MAX) * sizeof(Flow) / 4096 << " pages";

	auto b = t.alloc(FlowType::Udp, T0);
	auto c = t.alloc(FlowType::Udp, T0);
	ASSERT_TRUE(b && c);
	EXPECT_EQ(*b, 1u);
	EXPECT_EQ(*c, 2u);
	t.free(1);
	auto d = t.alloc(FlowType::Tcp, T0);
	auto e = t.alloc(FlowType::Tcp, T0);
	ASSERT_TRUE(d && e);
	EXPECT_EQ(*d, 1u); // freed first, then never used
	EXPECT_EQ(*e, 3u);
	EXPECT_EQ(t.high_water(), 4u);
	EXPECT_EQ(t.get(4), nullptr);
	EXPECT_EQ(t.get(FLOW_MAX - 1), nullptr);
	EXPECT_EQ(t.lookup(FlowType::Udp, FlowSideIdx::Guest, side_for(1)), 0u);
	EXPECT_FALSE(t.lookup(FlowType::Udp, FlowSideIdx::Guest, side_for(2)));
	EXPECT_EQ(resident_pages(base, size_t(FLOW_MAX) * sizeof(Flow)), r);

	// init() again starts from a clean table.
	ASSERT_EQ(t.init(64, KEY), 0);
	EXPECT_EQ(t.in_use(), 0u);
	EXPECT_EQ(t.high_water(), 0u);
	EXPECT_FALSE(t.lookup(FlowType::Udp, FlowSideIdx::Guest, side_for(1)));
	EXPECT_EQ(t.alloc(FlowType::Udp, T0), 0u);
}

namespace {
void count_fire(void *ctx, const timespec &) { ++*static_cast<int *>(ctx); }
} // namespace

// A flow timer sleeps while there are no flows of its types: the first
// flow arms it (due one interval later), later ones leave its deadline.
TEST(FlowTable, BoundTimerArmedByFirstFlowOfItsTypes) {
	FlowTable t;
	ASSERT_EQ(t.init(64, KEY), 0);
	Timers timers;
	int fired = 0;
	int id = timers.add("ping", 1000, count_fire, &fired, T0);
	ASSERT_GE(id, 0);
	timers.disarm(id);
	t.bind_timer(FlowType::Ping4, timers, id);
	t.bind_timer(FlowType::Ping6, timers, id);
	EXPECT_EQ(timers.next_timeout_ms(T0), -1); // idle: no wake-up at all

	// Another type does not arm it.
	ASSERT_TRUE(t.alloc(FlowType::Tcp, T0));
	EXPECT_FALSE(timers.armed(id));
	EXPECT_EQ(t.in_use(FlowType::Tcp), 1u);

	const timespec t5{105, 0};
	auto a = t.alloc(FlowType::Ping6, t5);
	ASSERT_TRUE(a);
	EXPECT_TRUE(timers.armed(id));
	EXPECT_EQ(timers.next_timeout_ms(t5), 1000);
	auto b = t.alloc(FlowType::Ping4, timespec{105, 500000000});
	ASSERT_TRUE(b);
	EXPECT_EQ(timers.next_timeout_ms(t5), 1000); // deadline kept
	EXPECT_EQ(t.in_use(FlowType::Ping4), 1u);
	EXPECT_EQ(t.in_use(FlowType::Ping6), 1u);

	// The callback's job to disarm it; freeing leaves it as it is.
	t.free(*a);
	t.free(*b);
	EXPECT_EQ(t.in_use(FlowType::Ping4) + t.in_use(FlowType::Ping6), 0u);
	timers.disarm(id);
	EXPECT_EQ(timers.run_due(timespec{200, 0}), 0u);

	// Armed again when a flow appears.
	ASSERT_TRUE(t.alloc(FlowType::Ping4, timespec{300, 0}));
	EXPECT_TRUE(timers.armed(id));
	EXPECT_EQ(timers.run_due(timespec{301, 0}), 1u);
	EXPECT_EQ(fired, 1);
}

TEST(FlowTable, FullTableRefusesAtCapacity) {
	FlowTable t;
	ASSERT_EQ(t.init(FLOW_MAX, KEY), 0);
	t.set_unbudgeted(); // the table's own limit, not a class's
	std::set<uint32_t> seen;
	for (uint32_t i = 0; i < FLOW_MAX; i++) {
		auto idx = t.alloc(FlowType::Ping4, T0);
		ASSERT_TRUE(idx) << "allocation " << i;
		ASSERT_LT(*idx, FLOW_MAX);
		// Every index fits in an epoll reference.
		static_assert(FLOW_MAX - 1 <= UINT32_MAX);
		seen.insert(*idx);
		Flow &f = *t.get(*idx);
		f.guest() = side_for(i);
		ASSERT_TRUE(t.hash_insert(*idx, FlowSideIdx::Guest));
	}
	EXPECT_EQ(seen.size(), size_t(FLOW_MAX));
	EXPECT_EQ(t.in_use(), FLOW_MAX);
	EXPECT_FALSE(t.alloc(FlowType::Ping4, T0));
	EXPECT_FALSE(t.alloc(FlowType::Tcp, T0));

	// Every flow can still be found, and lookups of absent keys terminate.
	for (uint32_t i = 0; i < FLOW_MAX; i += 97) {
		auto idx = t.lookup(FlowType::Ping4, FlowSideIdx::Guest, side_for(i));
		ASSERT_TRUE(idx);
		EXPECT_EQ(t.get(*idx)->guest(), side_for(i));
	}
	EXPECT_FALSE(t.lookup(FlowType::Ping4, FlowSideIdx::Guest, side_for(FLOW_MAX + 3)));

	// One free makes exactly one allocation possible again.
	t.free(1234);
	EXPECT_FALSE(t.lookup(FlowType::Ping4, FlowSideIdx::Guest, side_for(1234)));
	auto again = t.alloc(FlowType::Ping6, T0);
	ASSERT_TRUE(again);
	EXPECT_EQ(*again, 1234u);
	EXPECT_FALSE(t.alloc(FlowType::Ping6, T0));
}

TEST(FlowTable, SmallTableFull) {
	FlowTable t;
	ASSERT_EQ(t.init(3, KEY), 0);
	t.set_unbudgeted();
	EXPECT_TRUE(t.alloc(FlowType::Udp, T0));
	EXPECT_TRUE(t.alloc(FlowType::Udp, T0));
	EXPECT_TRUE(t.alloc(FlowType::Udp, T0));
	EXPECT_FALSE(t.alloc(FlowType::Udp, T0));
}

// --- Budgets and eviction --------------------------------------------------

namespace {

// A fake owner: evicting frees the flow and records its index, unless told
// to refuse.
struct Owner {
	FlowTable *t = nullptr;
	std::vector<uint32_t> evicted;
	bool refuse = false;
	static bool evict(void *o, uint32_t idx) {
		Owner &self = *static_cast<Owner *>(o);
		if (self.refuse)
			return false;
		self.evicted.push_back(idx);
		self.t->free(idx);
		return true;
	}
};

} // namespace

TEST(FlowBudget, SharesOfFlowMaxAddUpToTheTable) {
	FlowTable t;
	ASSERT_EQ(t.init(FLOW_MAX, KEY), 0);
	EXPECT_EQ(t.budget_max(FlowBudget::TcpOut), 24576u);
	EXPECT_EQ(t.budget_max(FlowBudget::TcpIn), 16384u);
	EXPECT_EQ(t.budget_max(FlowBudget::Udp), 16384u);
	EXPECT_EQ(t.budget_max(FlowBudget::Icmp), 4096u);
	EXPECT_EQ(t.budget_max(FlowBudget::Splice), 4096u);
	EXPECT_EQ(t.pending_max(FlowBudget::TcpOut), 2048u);
	uint32_t sum = 0;
	for (size_t b = 0; b < size_t(FlowBudget::Count); b++)
		sum += t.budget_max(FlowBudget(b));
	EXPECT_EQ(sum, FLOW_MAX);
	EXPECT_EQ(flow_default_budget(FlowType::Tcp), FlowBudget::TcpOut);
	EXPECT_EQ(flow_default_budget(FlowType::UdpSplice), FlowBudget::Splice);
	EXPECT_EQ(flow_default_budget(FlowType::Ping6), FlowBudget::Icmp);
	EXPECT_STREQ(flow_budget_name(FlowBudget::TcpIn), "tcp-in");
}

// A UDP flood fills its own share; TCP both ways still gets entries.
TEST(FlowBudget, UdpFloodLeavesTcpAlone) {
	FlowTable t;
	ASSERT_EQ(t.init(FLOW_MAX, KEY), 0);
	Owner udp{&t};
	t.set_evictor(FlowType::Udp, Owner::evict, &udp, true);
	for (uint32_t i = 0; i < 300000; i++)
		ASSERT_TRUE(t.alloc(FlowType::Udp, T0)) << i;
	EXPECT_EQ(t.used(FlowBudget::Udp), 16384u);
	EXPECT_EQ(t.in_use(), 16384u);
	EXPECT_EQ(t.evictions(FlowBudget::Udp), 300000u - 16384u);
	EXPECT_TRUE(t.alloc(FlowType::Tcp, T0, FlowBudget::TcpOut));
	EXPECT_TRUE(t.alloc(FlowType::Tcp, T0, FlowBudget::TcpIn));
	EXPECT_TRUE(t.alloc(FlowType::Ping4, T0));
}

// Unanswered UDP flows go first, oldest first; then the oldest answered.
TEST(FlowBudget, UdpEvictsUnansweredThenOldest) {
	FlowTable t;
	ASSERT_EQ(t.init(64, KEY), 0);
	t.set_budget(FlowBudget::Udp, 4, 4);
	Owner o{&t};
	t.set_evictor(FlowType::Udp, Owner::evict, &o, true);
	uint32_t f[4];
	for (auto &x : f)
		x = *t.alloc(FlowType::Udp, T0);
	t.settle(f[0]);
	t.settle(f[2]);
	EXPECT_FALSE(t.is_pending(f[0]));
	EXPECT_TRUE(t.is_pending(f[1]));
	EXPECT_EQ(t.pending(FlowBudget::Udp), 2u);
	ASSERT_TRUE(t.alloc(FlowType::Udp, T0));
	ASSERT_TRUE(t.alloc(FlowType::Udp, T0));
	EXPECT_EQ(o.evicted, (std::vector<uint32_t>{f[1], f[3]}));
	// Now the two new ones are the pending ones: they go next.
	ASSERT_TRUE(t.alloc(FlowType::Udp, T0));
	ASSERT_EQ(o.evicted.size(), 3u);
	EXPECT_TRUE(t.get(f[0]) && t.get(f[2]));
	// With no pending flow left, the oldest settled (f[0]) goes.
	for (uint32_t i = 0; i < t.high_water(); i++)
		t.settle(i);
	ASSERT_TRUE(t.alloc(FlowType::Udp, T0));
	EXPECT_EQ(o.evicted.back(), f[0]);
	EXPECT_EQ(t.used(FlowBudget::Udp), 4u);
}

// TCP: only half-open flows are evicted; established ones never are.
TEST(FlowBudget, TcpEvictsOnlyHalfOpen) {
	FlowTable t;
	ASSERT_EQ(t.init(64, KEY), 0);
	t.set_budget(FlowBudget::TcpOut, 3, 3);
	Owner o{&t};
	t.set_evictor(FlowType::Tcp, Owner::evict, &o, false);
	uint32_t a = *t.alloc(FlowType::Tcp, T0);
	uint32_t b = *t.alloc(FlowType::Tcp, T0);
	uint32_t c = *t.alloc(FlowType::Tcp, T0);
	t.settle(a);
	t.settle(c);
	auto d = t.alloc(FlowType::Tcp, T0); // b goes
	ASSERT_TRUE(d);
	EXPECT_EQ(o.evicted, std::vector<uint32_t>{b});
	t.settle(*d);
	EXPECT_FALSE(t.alloc(FlowType::Tcp, T0)); // all established: refused
	EXPECT_EQ(t.used(FlowBudget::TcpOut), 3u);
	// Another class is not touched.
	EXPECT_TRUE(t.alloc(FlowType::Tcp, T0, FlowBudget::TcpIn));
	EXPECT_EQ(o.evicted.size(), 1u);
}

// The cap on pending TcpOut flows (connects in progress) evicts the oldest
// pending one even while the class has room.
TEST(FlowBudget, PendingCapEvictsOldestHalfOpen) {
	FlowTable t;
	ASSERT_EQ(t.init(FLOW_MAX, KEY), 0);
	Owner o{&t};
	t.set_evictor(FlowType::Tcp, Owner::evict, &o, false);
	std::vector<uint32_t> first;
	for (uint32_t i = 0; i < 300000; i++) {
		auto idx = t.alloc(FlowType::Tcp, T0);
		ASSERT_TRUE(idx) << i;
		if (i < 3)
			first.push_back(*idx);
	}
	EXPECT_EQ(t.pending(FlowBudget::TcpOut), 2048u);
	EXPECT_EQ(t.used(FlowBudget::TcpOut), 2048u);
	ASSERT_GE(o.evicted.size(), 3u);
	EXPECT_EQ(std::vector<uint32_t>(o.evicted.begin(), o.evicted.begin() + 3), first);
}

// An owner that does not free its flow: alloc() fails, nothing leaks.
TEST(FlowBudget, RefusingEvictorFailsCleanly) {
	FlowTable t;
	ASSERT_EQ(t.init(64, KEY), 0);
	t.set_budget(FlowBudget::Udp, 1, 1);
	Owner o{&t};
	o.refuse = true;
	t.set_evictor(FlowType::Udp, Owner::evict, &o, true);
	ASSERT_TRUE(t.alloc(FlowType::Udp, T0));
	EXPECT_FALSE(t.alloc(FlowType::Udp, T0));
	EXPECT_EQ(t.in_use(), 1u);
	// No evictor at all: refused as well.
	t.set_evictor(FlowType::Udp, nullptr, nullptr, false);
	EXPECT_FALSE(t.alloc(FlowType::Udp, T0));
}

TEST(FlowSide, FromGuestPacket) {
	FlowSide s =
		flowside_from_guest(InAny(v4("192.0.2.2")), 1000, InAny(v4("198.51.100.1")), 80);
	EXPECT_EQ(s.peer_addr, InAny(v4("192.0.2.2")));
	EXPECT_EQ(s.peer_port, 1000);
	EXPECT_EQ(s.our_addr, InAny(v4("198.51.100.1")));
	EXPECT_EQ(s.our_port, 80);
}

// An existing flow is found without create(); a missing one is what
// create() returns, including its failure.
TEST(FlowTable, LookupOrCreate) {
	FlowTable t;
	ASSERT_EQ(t.init(64, KEY), 0);
	FlowSide k = side_for(7);
	int calls = 0;
	auto make = [&]() -> std::optional<uint32_t> {
		calls++;
		auto i = t.alloc(FlowType::Udp, T0);
		if (i) {
			t.get(*i)->guest() = k;
			t.hash_insert(*i, FlowSideIdx::Guest);
		}
		return i;
	};
	auto a = t.lookup_or_create(FlowType::Udp, k, make);
	ASSERT_TRUE(a);
	EXPECT_EQ(calls, 1);
	EXPECT_EQ(t.lookup_or_create(FlowType::Udp, k, make), a);
	EXPECT_EQ(calls, 1);
	// Another type with the same key is another flow.
	EXPECT_FALSE(t.lookup_or_create(FlowType::Ping4, k, [&]() -> std::optional<uint32_t> {
		calls++;
		return std::nullopt;
	}));
	EXPECT_EQ(calls, 2);
}

TEST(FlowTable, LookupByTypeAndSide) {
	FlowTable t;
	ASSERT_EQ(t.init(64, KEY), 0);
	FlowSide k;
	k.peer_addr = InAny(v6("2001:db8::5"));
	k.our_addr = InAny(v6("2001:db8::1"));
	k.peer_port = 777;

	auto a = t.alloc(FlowType::Ping6, T0);
	ASSERT_TRUE(a);
	t.get(*a)->guest() = k;
	EXPECT_FALSE(t.lookup(FlowType::Ping6, FlowSideIdx::Guest, k)); // not hashed yet
	ASSERT_TRUE(t.hash_insert(*a, FlowSideIdx::Guest));
	EXPECT_FALSE(t.hash_insert(*a, FlowSideIdx::Guest)); // already hashed
	EXPECT_EQ(t.lookup(FlowType::Ping6, FlowSideIdx::Guest, k), a);
	// Same key, other type or other side: no match.
	EXPECT_FALSE(t.lookup(FlowType::Ping4, FlowSideIdx::Guest, k));
	EXPECT_FALSE(t.lookup(FlowType::Ping6, FlowSideIdx::Host, k));
	// Any field differing: no match.
	FlowSide k2 = k;
	k2.peer_port = 778;
	EXPECT_FALSE(t.lookup(FlowType::Ping6, FlowSideIdx::Guest, k2));
	k2 = k;
	k2.our_port = 1;
	EXPECT_FALSE(t.lookup(FlowType::Ping6, FlowSideIdx::Guest, k2));
	k2 = k;
	k2.our_addr = InAny(v6("2001:db8::2"));
	EXPECT_FALSE(t.lookup(FlowType::Ping6, FlowSideIdx::Guest, k2));

	// A second flow of the same type with an identical side is refused;
	// of another type it is fine.
	auto b = t.alloc(FlowType::Ping6, T0);
	auto c = t.alloc(FlowType::Udp, T0);
	t.get(*b)->guest() = k;
	t.get(*c)->guest() = k;
	EXPECT_FALSE(t.hash_insert(*b, FlowSideIdx::Guest));
	EXPECT_TRUE(t.hash_insert(*c, FlowSideIdx::Guest));
	EXPECT_EQ(t.lookup(FlowType::Udp, FlowSideIdx::Guest, k), c);

	// Both sides of one flow hashed, found each by its own side.
	FlowSide h;
	h.peer_addr = InAny(v4("203.0.113.9"));
	h.our_port = 40000;
	t.get(*c)->host() = h;
	ASSERT_TRUE(t.hash_insert(*c, FlowSideIdx::Host));
	EXPECT_EQ(t.lookup(FlowType::Udp, FlowSideIdx::Host, h), c);
	EXPECT_EQ(t.hashed_count(), 3u);

	// free() takes out every hashed side.
	t.free(*c);
	EXPECT_FALSE(t.lookup(FlowType::Udp, FlowSideIdx::Host, h));
	EXPECT_FALSE(t.lookup(FlowType::Udp, FlowSideIdx::Guest, k));
	EXPECT_EQ(t.hashed_count(), 1u);
	EXPECT_EQ(t.lookup(FlowType::Ping6, FlowSideIdx::Guest, k), a);

	// Removing a side that is not hashed, or of a free flow, is harmless.
	t.hash_remove(*b, FlowSideIdx::Guest);
	t.hash_remove(*c, FlowSideIdx::Guest);
	EXPECT_EQ(t.lookup(FlowType::Ping6, FlowSideIdx::Guest, k), a);
	EXPECT_FALSE(t.hash_insert(*c, FlowSideIdx::Guest)); // free flow
}

// Many inserts and deletes in random order, checked against a model: the
// open-addressing deletion must keep every remaining key reachable.
TEST(FlowTable, DeleteReinsertKeepsHashConsistent) {
	FlowTable t;
	constexpr uint32_t CAP = 512;
	ASSERT_EQ(t.init(CAP, KEY), 0);
	t.set_unbudgeted();
	std::mt19937 rng(12345);
	std::vector<int64_t> key_of(CAP, -1); // flow index -> key number
	uint32_t next_key = 0;

	for (int step = 0; step < 20000; step++) {
		bool do_alloc = (rng() % 3) != 0;
		if (do_alloc) {
			auto idx = t.alloc(FlowType::Tcp, T0);
			if (!idx) {
				ASSERT_EQ(t.in_use(), CAP);
				continue;
			}
			ASSERT_EQ(key_of[*idx], -1);
			uint32_t k = next_key++;
			t.get(*idx)->guest() = side_for(k);
			ASSERT_TRUE(t.hash_insert(*idx, FlowSideIdx::Guest));
			key_of[*idx] = k;
		} else {
			uint32_t idx = rng() % CAP;
			if (key_of[idx] < 0) {
				EXPECT_EQ(t.get(idx), nullptr);
				continue;
			}
			if (rng() % 2) {
				t.free(idx);
				key_of[idx] = -1;
			} else {
				// Re-key in place: remove, change, insert.
				t.hash_remove(idx, FlowSideIdx::Guest);
				EXPECT_FALSE(t.lookup(FlowType::Tcp, FlowSideIdx::Guest,
						      side_for(uint32_t(key_of[idx]))));
				uint32_t k = next_key++;
				t.get(idx)->guest() = side_for(k);
				ASSERT_TRUE(t.hash_insert(idx, FlowSideIdx::Guest));
				key_of[idx] = k;
			}
		}
		if (step % 500 == 0) {
			size_t live = 0;
			for (uint32_t i = 0; i < CAP; i++) {
				if (key_of[i] < 0)
					continue;
				live++;
				auto found = t.lookup(FlowType::Tcp, FlowSideIdx::Guest,
						      side_for(uint32_t(key_of[i])));
				ASSERT_TRUE(found) << "step " << step << " flow " << i;
				EXPECT_EQ(*found, i);
			}
			EXPECT_EQ(t.hashed_count(), live);
			EXPECT_EQ(t.in_use(), live);
		}
	}
	// Keys deleted long ago are all gone.
	for (uint32_t k = 0; k < 200; k++) {
		bool live = false;
		for (uint32_t i = 0; i < CAP; i++)
			live |= key_of[i] == int64_t(k);
		EXPECT_EQ(bool(t.lookup(FlowType::Tcp, FlowSideIdx::Guest, side_for(k))), live);
	}
}

TEST(FlowTable, ForEachVisitsLiveFlowsAndAllowsFree) {
	FlowTable t;
	ASSERT_EQ(t.init(32, KEY), 0);
	t.set_unbudgeted();
	for (int i = 0; i < 10; i++)
		t.alloc(i % 2 ? FlowType::Ping4 : FlowType::Udp, T0);
	t.free(3);
	std::vector<uint32_t> visited;
	t.for_each([&](uint32_t i, Flow &f) {
		visited.push_back(i);
		if (f.type == FlowType::Ping4)
			t.free(i);
	});
	EXPECT_EQ(visited, (std::vector<uint32_t>{0, 1, 2, 4, 5, 6, 7, 8, 9}));
	EXPECT_EQ(t.in_use(), 5u);
	EXPECT_EQ(t.get(1), nullptr);
	EXPECT_NE(t.get(2), nullptr);
}

TEST(FlowTable, TypeNames) {
	EXPECT_STREQ(flow_type_name(FlowType::Ping4), "ping4");
	EXPECT_STREQ(flow_type_name(FlowType::None), "free");
	EXPECT_STREQ(flow_type_name(FlowType::TcpSplice), "tcp-splice");
}

// --- Forwarding / NAT -------------------------------------------------------

namespace {

Config base_config() {
	Config c;
	c.ip4.addr = v4("192.0.2.2");
	c.ip4.gw = v4("192.0.2.1");
	c.ip4.map_host_loopback = c.ip4.gw; // default filled by conf: the gateway
	c.ip6.addr = v6("2001:db8::2");
	c.ip6.gw = v6("fe80::1");
	c.ip6.map_host_loopback = c.ip6.gw;
	return c;
}

} // namespace

TEST(Fwd, GatewayMapsToHostLoopback) {
	Config c = base_config();
	EXPECT_EQ(fwd_nat_from_tap(c, InAny(v4("192.0.2.1"))), InAny(Ipv4Addr::loopback()));
	EXPECT_EQ(fwd_nat_from_tap(c, InAny(v6("fe80::1"))), InAny(Ipv6Addr::loopback()));
	// Anything else is left alone.
	EXPECT_EQ(fwd_nat_from_tap(c, InAny(v4("198.51.100.7"))), InAny(v4("198.51.100.7")));
	EXPECT_EQ(fwd_nat_from_tap(c, InAny(v6("2001:db8::99"))), InAny(v6("2001:db8::99")));
	EXPECT_EQ(fwd_nat_from_tap(c, InAny(v4("192.0.2.2"))), InAny(v4("192.0.2.2")));

	// Reverse: host loopback appears as the gateway.
	EXPECT_EQ(fwd_nat_to_tap(c, InAny(Ipv4Addr::loopback())), InAny(v4("192.0.2.1")));
	EXPECT_EQ(fwd_nat_to_tap(c, InAny(v4("127.0.0.53"))), InAny(v4("192.0.2.1")));
	EXPECT_EQ(fwd_nat_to_tap(c, InAny(Ipv6Addr::loopback())), InAny(v6("fe80::1")));
	EXPECT_EQ(fwd_nat_to_tap(c, InAny(v4("198.51.100.7"))), InAny(v4("198.51.100.7")));
}

TEST(Fwd, NoMapGw) {
	Config c = base_config();
	c.no_map_gw = true;
	EXPECT_TRUE(fwd_map_host_loopback4(c).is_unspecified());
	EXPECT_TRUE(fwd_map_host_loopback6(c).is_unspecified());
	EXPECT_EQ(fwd_nat_from_tap(c, InAny(v4("192.0.2.1"))), InAny(v4("192.0.2.1")));
	EXPECT_EQ(fwd_nat_from_tap(c, InAny(v6("fe80::1"))), InAny(v6("fe80::1")));
	// Host loopback can't be shown to the guest at all.
	EXPECT_TRUE(fwd_nat_to_tap(c, InAny(Ipv4Addr::loopback())).is_unspecified());
	EXPECT_TRUE(fwd_nat_to_tap(c, InAny(Ipv6Addr::loopback())).is_unspecified());

	// An explicit --map-host-loopback still applies with --no-map-gw.
	c.ip4.map_host_loopback = v4("192.0.2.100");
	c.ip4.map_host_loopback_set = true;
	EXPECT_EQ(fwd_nat_from_tap(c, InAny(v4("192.0.2.100"))), InAny(Ipv4Addr::loopback()));
	EXPECT_EQ(fwd_nat_from_tap(c, InAny(v4("192.0.2.1"))), InAny(v4("192.0.2.1")));
	EXPECT_EQ(fwd_nat_to_tap(c, InAny(Ipv4Addr::loopback())), InAny(v4("192.0.2.100")));
}

TEST(Fwd, MapHostLoopbackNone) {
	Config c = base_config();
	c.ip4.map_host_loopback = Ipv4Addr{};
	EXPECT_EQ(fwd_nat_from_tap(c, InAny(v4("192.0.2.1"))), InAny(v4("192.0.2.1")));
	// Unspecified destination must never match an unset mapping.
	EXPECT_TRUE(fwd_nat_from_tap(c, InAny(Ipv4Addr{})).is_unspecified());
	EXPECT_FALSE(fwd_nat_from_tap(c, InAny(Ipv4Addr{})).is_loopback());
}

TEST(Fwd, MapGuestAddr) {
	Config c = base_config();
	c.ip4.map_guest_addr = v4("169.254.1.2");
	c.ip6.map_guest_addr = v6("fd00::2");
	EXPECT_EQ(fwd_nat_from_tap(c, InAny(v4("169.254.1.2"))), InAny(v4("192.0.2.2")));
	EXPECT_EQ(fwd_nat_from_tap(c, InAny(v6("fd00::2"))), InAny(v6("2001:db8::2")));
	// Reverse: the host's address shared with the guest appears as the
	// mapped address.
	EXPECT_EQ(fwd_nat_to_tap(c, InAny(v4("192.0.2.2"))), InAny(v4("169.254.1.2")));
	EXPECT_EQ(fwd_nat_to_tap(c, InAny(v6("2001:db8::2"))), InAny(v6("fd00::2")));
	// Gateway mapping unaffected.
	EXPECT_EQ(fwd_nat_from_tap(c, InAny(v4("192.0.2.1"))), InAny(Ipv4Addr::loopback()));

	// Without --map-guest-addr, the guest's own address seen from the host
	// is presented through the loopback mapping, or not at all.
	Config d = base_config();
	EXPECT_EQ(fwd_nat_to_tap(d, InAny(v4("192.0.2.2"))), InAny(v4("192.0.2.1")));
	d.no_map_gw = true;
	EXPECT_TRUE(fwd_nat_to_tap(d, InAny(v4("192.0.2.2"))).is_unspecified());
}

TEST(Fwd, DnsForward) {
	Config c = base_config();
	c.ip4.dns_match = v4("192.0.2.53");
	c.ip4.dns_host = v4("198.51.100.53");
	c.ip6.dns_match = v6("2001:db8::53");
	c.ip6.dns_host = v6("2001:db8:1::53");
	EXPECT_EQ(fwd_nat_from_tap(c, ipproto::udp, InAny(v4("192.0.2.53")), 53),
		  InAny(v4("198.51.100.53")));
	EXPECT_EQ(fwd_nat_from_tap(c, ipproto::tcp, InAny(v6("2001:db8::53")), 53),
		  InAny(v6("2001:db8:1::53")));
	// Other port or protocol: untouched.
	EXPECT_EQ(fwd_nat_from_tap(c, ipproto::udp, InAny(v4("192.0.2.53")), 54),
		  InAny(v4("192.0.2.53")));
	EXPECT_EQ(fwd_nat_from_tap(c, ipproto::icmp, InAny(v4("192.0.2.53")), 53),
		  InAny(v4("192.0.2.53")));
	EXPECT_EQ(fwd_nat_to_tap(c, ipproto::udp, InAny(v4("198.51.100.53")), 53),
		  InAny(v4("192.0.2.53")));
	EXPECT_EQ(fwd_nat_to_tap(c, ipproto::udp, InAny(v4("198.51.100.53")), 5353),
		  InAny(v4("198.51.100.53")));
}

TEST(Fwd, GuestAccessible) {
	Config c = base_config();
	EXPECT_TRUE(fwd_guest_accessible(c, InAny(v4("198.51.100.1"))));
	EXPECT_FALSE(fwd_guest_accessible(c, InAny(v4("127.0.0.1"))));
	EXPECT_FALSE(fwd_guest_accessible(c, InAny(Ipv4Addr{})));
	EXPECT_FALSE(fwd_guest_accessible(c, InAny(v4("255.255.255.255"))));
	EXPECT_FALSE(fwd_guest_accessible(c, InAny(v4("224.0.0.1"))));
	EXPECT_FALSE(fwd_guest_accessible(c, InAny(v4("192.0.2.2"))));
	EXPECT_FALSE(fwd_guest_accessible(c, InAny(v6("ff02::1"))));
	EXPECT_FALSE(fwd_guest_accessible(c, InAny(v6("2001:db8::2"))));
	EXPECT_TRUE(fwd_guest_accessible(c, InAny(v6("2001:db8::3"))));
}

TEST(Fwd, GuestToHostSide) {
	Config c = base_config();
	c.ip4.addr_out = v4("192.0.2.77");
	c.ip4.ifname_out = "eth9";
	FlowSide g, h;
	g.peer_addr = InAny(v4("192.0.2.2"));
	g.peer_port = 1000;

	g.our_addr = InAny(v4("192.0.2.1")); // gateway -> host loopback
	g.our_port = 80;
	ASSERT_TRUE(fwd_guest_to_host(c, ipproto::tcp, g, h));
	EXPECT_EQ(h.peer_addr, InAny(Ipv4Addr::loopback()));
	EXPECT_EQ(h.peer_port, 80);
	EXPECT_EQ(h.our_addr, InAny(Ipv4Addr::loopback()));
	EXPECT_EQ(h.our_port, 0);
	EXPECT_EQ(fwd_bind_ifname(c, h.peer_addr), "");

	g.our_addr = InAny(v4("203.0.113.5")); // elsewhere: -o address, interface
	ASSERT_TRUE(fwd_guest_to_host(c, ipproto::tcp, g, h));
	EXPECT_EQ(h.peer_addr, InAny(v4("203.0.113.5")));
	EXPECT_EQ(h.our_addr, InAny(v4("192.0.2.77")));
	EXPECT_EQ(fwd_bind_ifname(c, h.peer_addr), "eth9");

	// Not forwardable.
	for (const char *bad : {"0.0.0.0", "127.0.0.1", "224.0.0.5", "255.255.255.255"}) {
		g.our_addr = InAny(v4(bad));
		EXPECT_FALSE(fwd_guest_to_host(c, ipproto::icmp, g, h)) << bad;
	}
	g.our_addr = InAny(v6("::1"));
	EXPECT_FALSE(fwd_guest_to_host(c, ipproto::icmpv6, g, h));
	// --map-guest-addr with no address assigned to the guest.
	Config d = c;
	d.ip4.map_guest_addr = v4("192.0.2.3");
	d.ip4.addr = Ipv4Addr{};
	g.our_addr = InAny(v4("192.0.2.3"));
	EXPECT_FALSE(fwd_guest_to_host(d, ipproto::icmp, g, h));
	d.ip4.addr = v4("192.0.2.2");
	ASSERT_TRUE(fwd_guest_to_host(d, ipproto::icmp, g, h));
	EXPECT_EQ(h.peer_addr, InAny(v4("192.0.2.2")));
	// Family disabled.
	g.our_addr = InAny(v6("2001:db8::99"));
	EXPECT_TRUE(fwd_guest_to_host(c, ipproto::icmpv6, g, h));
	EXPECT_TRUE(h.our_addr.is_unspecified());
	EXPECT_FALSE(h.our_addr.is_v4());
	c.ip6.enabled = false;
	EXPECT_FALSE(fwd_guest_to_host(c, ipproto::icmpv6, g, h));
}

// Our link-local address (the router of a guest configured by SLAAC) when
// the host's gateway is global: the host's own link-local address on the
// template interface, forwarded as it is, scoped to that interface.
TEST(Fwd, OurLinkLocalGlobalGateway) {
	Config c = base_config();
	c.ip6.gw = v6("2001:db8::1");
	c.ip6.map_host_loopback = c.ip6.gw;
	c.ip6.our_tap_ll = v6("fe80::aa:bbff:fecc:dd01");
	c.ip6.ifname = "lo"; // an interface every test machine has
	c.ip6.ifname_out = "eth9";
	const InAny ll(c.ip6.our_tap_ll);
	EXPECT_TRUE(fwd_is_our_ll(c, ll));
	EXPECT_FALSE(fwd_is_our_ll(c, InAny(v6("fe80::1"))));
	EXPECT_FALSE(fwd_is_our_ll(c, InAny(v4("192.0.2.1"))));

	FlowSide g, h;
	g.peer_addr = InAny(v6("fe80::99"));
	g.peer_port = 1000;
	g.our_addr = ll;
	g.our_port = 5201;
	for (uint8_t proto : {ipproto::tcp, ipproto::udp, ipproto::icmpv6}) {
		ASSERT_TRUE(fwd_guest_to_host(c, proto, g, h)) << int(proto);
		EXPECT_EQ(h.peer_addr, ll) << int(proto);
		EXPECT_EQ(h.peer_port, 5201) << int(proto);
		EXPECT_TRUE(h.our_addr.is_unspecified()) << int(proto);
	}
	// The host's address on the template interface, not on -o's.
	EXPECT_EQ(fwd_scope_ifname(c, ll), "lo");
	EXPECT_EQ(fwd_scope_id(c, ll), if_nametoindex("lo"));
	EXPECT_NE(fwd_scope_id(c, ll), 0u);
	EXPECT_EQ(fwd_bind_ifname(c, ll), "");
	// Other link-local targets are on the link of --outbound-if6.
	EXPECT_EQ(fwd_scope_ifname(c, InAny(v6("fe80::77"))), "eth9");
	EXPECT_EQ(fwd_bind_ifname(c, InAny(v6("fe80::77"))), "eth9");
	c.ip6.ifname_out.clear();
	EXPECT_EQ(fwd_scope_ifname(c, InAny(v6("fe80::77"))), "lo");
	// No scope for anything else.
	EXPECT_EQ(fwd_scope_ifname(c, InAny(v6("2001:db8::1"))), "");
	EXPECT_EQ(fwd_scope_ifname(c, InAny(Ipv6Addr::loopback())), "");
	EXPECT_EQ(fwd_scope_ifname(c, InAny(v4("169.254.1.1"))), "");
	EXPECT_EQ(fwd_scope_id(c, InAny(v6("2001:db8::1"))), 0u);

	// Replies and host-initiated flows from it keep it as source.
	EXPECT_EQ(fwd_nat_to_tap(c, ll), ll);
	EXPECT_EQ(fwd_nat_to_tap(c, ipproto::udp, ll, 5201), ll);
	// The gateway itself is still the host's loopback.
	EXPECT_EQ(fwd_nat_from_tap(c, InAny(v6("2001:db8::1"))), InAny(Ipv6Addr::loopback()));
}

// ... and when the host's gateway is link-local: it is our link-local
// address, mapped to the host's loopback both ways, no scope needed.
TEST(Fwd, OurLinkLocalLinkLocalGateway) {
	Config c = base_config(); // gateway fe80::1
	c.ip6.our_tap_ll = c.ip6.gw;
	c.ip6.ifname = "lo";
	const InAny ll(c.ip6.our_tap_ll);
	FlowSide g, h;
	g.peer_addr = InAny(v6("fe80::99"));
	g.peer_port = 1000;
	g.our_addr = ll;
	g.our_port = 5201;
	for (uint8_t proto : {ipproto::tcp, ipproto::udp, ipproto::icmpv6}) {
		ASSERT_TRUE(fwd_guest_to_host(c, proto, g, h)) << int(proto);
		EXPECT_EQ(h.peer_addr, InAny(Ipv6Addr::loopback())) << int(proto);
		EXPECT_EQ(h.our_addr, InAny(Ipv6Addr::loopback())) << int(proto);
		EXPECT_EQ(fwd_scope_id(c, h.peer_addr), 0u);
		EXPECT_EQ(fwd_scope_id(c, h.our_addr), 0u);
	}
	EXPECT_EQ(fwd_nat_to_tap(c, InAny(Ipv6Addr::loopback())), ll);

	// With --no-map-gw it is forwarded like any other link-local
	// address: to the gateway, on the template interface.
	c.no_map_gw = true;
	ASSERT_TRUE(fwd_guest_to_host(c, ipproto::tcp, g, h));
	EXPECT_EQ(h.peer_addr, ll);
	EXPECT_EQ(fwd_scope_ifname(c, ll), "lo");
}

TEST(Fwd, SpliceFromHost) {
	Config c = base_config();
	c.mode = Mode::Pasta;
	const InAny lo4(Ipv4Addr::loopback()), lo6(Ipv6Addr::loopback());
	EXPECT_TRUE(fwd_splice_from_host(c, lo4, false));
	EXPECT_TRUE(fwd_splice_from_host(c, InAny(v4("127.0.0.53")), false));
	EXPECT_TRUE(fwd_splice_from_host(c, lo6, false));
	// Other sources, and rules with a target address, take the tap path.
	EXPECT_FALSE(fwd_splice_from_host(c, InAny(v4("198.51.100.7")), false));
	EXPECT_FALSE(fwd_splice_from_host(c, InAny(v6("2001:db8::9")), false));
	EXPECT_FALSE(fwd_splice_from_host(c, lo4, true));
	// --no-splice: everything does.
	c.no_splice = true;
	EXPECT_FALSE(fwd_splice_from_host(c, lo4, false));
	EXPECT_FALSE(fwd_splice_from_host(c, lo6, false));
	// --splice-only: no tap device, every source and rule is spliced.
	Config s = base_config();
	s.mode = Mode::Pasta;
	s.splice_only = true;
	EXPECT_TRUE(fwd_splice_from_host(s, InAny(v4("198.51.100.7")), false));
	EXPECT_TRUE(fwd_splice_from_host(s, InAny(v6("2001:db8::9")), true));
	EXPECT_TRUE(fwd_splice_from_host(s, lo4, true));
	// passt never splices.
	Config p = base_config();
	EXPECT_FALSE(fwd_splice_from_host(p, lo4, false));
}

TEST(Fwd, SpliceNamespaceTarget) {
	Config c = base_config();
	c.mode = Mode::Pasta;
	const InAny lo4(Ipv4Addr::loopback()), lo6(Ipv6Addr::loopback());
	// By default, the namespace's own address: seen on the tap, else configured.
	EXPECT_EQ(fwd_splice_ns_target(c, false, InAny(Ipv4Addr{}), std::nullopt),
		  InAny(v4("192.0.2.2")));
	EXPECT_EQ(fwd_splice_ns_target(c, false, InAny(v4("192.0.2.9")), std::nullopt),
		  InAny(v4("192.0.2.9")));
	EXPECT_EQ(fwd_splice_ns_target(c, true, InAny(Ipv6Addr{}), std::nullopt),
		  InAny(v6("2001:db8::2")));
	EXPECT_EQ(fwd_splice_ns_target(c, true, InAny(v6("2001:db8::7")), std::nullopt),
		  InAny(v6("2001:db8::7")));
	// A seen address of the other family is not used.
	EXPECT_EQ(fwd_splice_ns_target(c, true, InAny(v4("192.0.2.9")), std::nullopt),
		  InAny(v6("2001:db8::2")));
	// No address of that family: the loopback.
	Config n = c;
	n.ip6.addr = Ipv6Addr{};
	EXPECT_EQ(fwd_splice_ns_target(n, true, InAny(Ipv6Addr{}), std::nullopt), lo6);
	n.ip4.addr = Ipv4Addr{};
	EXPECT_EQ(fwd_splice_ns_target(n, false, InAny(Ipv4Addr{}), std::nullopt), lo4);
	// --host-lo-to-ns-lo: always the loopback of the family.
	c.host_lo_to_ns_lo = true;
	EXPECT_EQ(fwd_splice_ns_target(c, false, InAny(v4("192.0.2.9")), std::nullopt), lo4);
	EXPECT_EQ(fwd_splice_ns_target(c, true, InAny(Ipv6Addr{}), std::nullopt), lo6);
	// --splice-only: the rule's target address of the family, else the
	// loopback (no tap: no address seen, none configured).
	Config s = base_config();
	s.mode = Mode::Pasta;
	s.splice_only = true;
	const std::optional<InAny> to4 = InAny(v4("127.0.0.2")), to6 = InAny(v6("::1"));
	EXPECT_EQ(fwd_splice_ns_target(s, false, InAny(v4("192.0.2.9")), std::nullopt), lo4);
	EXPECT_EQ(fwd_splice_ns_target(s, false, InAny(Ipv4Addr{}), to4), *to4);
	EXPECT_EQ(fwd_splice_ns_target(s, true, InAny(Ipv6Addr{}), to4), lo6);
	EXPECT_EQ(fwd_splice_ns_target(s, true, InAny(Ipv6Addr{}), to6), *to6);
}
