// Timers: deadlines and intervals on a fake clock (deterministic), capacity
// limits, and one run against the real clock with generous bounds.
#include <gtest/gtest.h>

#include <cstring>

#include <unistd.h>

#include "passt/core/timer.h"
#include "passt/core/util.h"

using namespace passt;

namespace {

struct Fired {
	int count = 0;
	timespec last{};
};

void on_fire(void *ctx, const timespec &now) {
	auto *f = static_cast<Fired *>(ctx);
	f->count++;
	f->last = now;
}

timespec at_ms(int64_t ms) { return timespec_add_ms(timespec{1000, 0}, ms); }

} // namespace

TEST(CoreTimespec, Arithmetic) {
	timespec a{10, 900000000}, b{9, 950000000};
	EXPECT_EQ(timespec_diff_ns(a, b), 950000000);
	EXPECT_EQ(timespec_diff_ns(b, a), -950000000);
	EXPECT_EQ(timespec_diff_ms(a, b), 950);
	timespec c = timespec_add_ms(a, 150);
	EXPECT_EQ(c.tv_sec, 11);
	EXPECT_EQ(c.tv_nsec, 50000000);
	timespec d = timespec_add_ms(a, -950);
	EXPECT_EQ(d.tv_sec, 9);
	EXPECT_EQ(d.tv_nsec, 950000000);
	EXPECT_TRUE(timespec_before(b, a));
	EXPECT_FALSE(timespec_before(a, a));
	timespec e = timespec_add_ms(timespec{0, 999999999}, 2500);
	EXPECT_EQ(e.tv_sec, 3);
	EXPECT_EQ(e.tv_nsec, 499999999);
}

TEST(CoreTimers, NoTimersMeansNoTimeout) {
	Timers t;
	EXPECT_EQ(t.next_timeout_ms(at_ms(0)), -1);
	EXPECT_EQ(t.run_due(at_ms(100000)), 0u);
}

TEST(CoreTimers, DeadlinesAndRearming) {
	Timers t;
	Fired f;
	ASSERT_EQ(t.add("a", 100, on_fire, &f, at_ms(0)), 0);
	EXPECT_EQ(t.next_timeout_ms(at_ms(0)), 100);
	EXPECT_EQ(t.next_timeout_ms(at_ms(50)), 50);
	// Rounded up: never wake up before the deadline.
	EXPECT_EQ(t.next_timeout_ms(timespec{1000, 99500000}), 1); // 0.5 ms left
	EXPECT_EQ(t.run_due(at_ms(50)), 0u);
	EXPECT_EQ(f.count, 0);
	EXPECT_EQ(t.run_due(at_ms(100)), 1u);
	EXPECT_EQ(f.count, 1);
	EXPECT_EQ(timespec_diff_ns(f.last, at_ms(100)), 0);
	// Next deadline one interval after the previous one, not after "now".
	EXPECT_EQ(t.run_due(at_ms(150)), 0u);
	EXPECT_EQ(t.next_timeout_ms(at_ms(150)), 50);
	EXPECT_EQ(t.run_due(at_ms(205)), 1u);
	EXPECT_EQ(t.next_timeout_ms(at_ms(205)), 95);
	// Overdue timers report 0.
	EXPECT_EQ(t.next_timeout_ms(at_ms(500)), 0);
	// Far behind: fires once, then re-armed from now (no burst).
	EXPECT_EQ(t.run_due(at_ms(1000)), 1u);
	EXPECT_EQ(f.count, 3);
	EXPECT_EQ(t.run_due(at_ms(1000)), 0u);
	EXPECT_EQ(t.next_timeout_ms(at_ms(1000)), 100);
}

TEST(CoreTimers, IntervalsOverTime) {
	Timers t;
	Fired fast, slow;
	ASSERT_EQ(t.add("fast", 10, on_fire, &fast, at_ms(0)), 0);
	ASSERT_EQ(t.add("slow", 250, on_fire, &slow, at_ms(0)), 1);
	for (int ms = 1; ms <= 1000; ms++)
		t.run_due(at_ms(ms));
	EXPECT_EQ(fast.count, 100);
	EXPECT_EQ(slow.count, 4);
	EXPECT_EQ(t.next_timeout_ms(at_ms(1000)), 10);
	EXPECT_STREQ(t.name(0), "fast");
	EXPECT_STREQ(t.name(1), "slow");
	EXPECT_EQ(t.name(2), nullptr);
}

TEST(CoreTimers, CapacityAndBadArguments) {
	Timers t;
	Fired f;
	EXPECT_EQ(t.add("zero", 0, on_fire, &f), -1);
	EXPECT_EQ(t.add("nocb", 10, nullptr, &f), -1);
	for (size_t i = 0; i < Timers::CAPACITY; i++)
		EXPECT_EQ(t.add("x", 10, on_fire, &f), int(i));
	EXPECT_EQ(t.add("full", 10, on_fire, &f), -1);
	EXPECT_EQ(t.size(), Timers::CAPACITY);
	// Long names are truncated, not overflowed.
	Timers u;
	ASSERT_EQ(u.add("a-very-long-timer-name-that-does-not-fit", 10, on_fire, &f), 0);
	EXPECT_EQ(strlen(u.name(0)), Timers::NAME_MAX_LEN);
}

TEST(CoreTimers, RealClock) {
	Timers t;
	Fired f;
	timespec start = now_monotonic();
	ASSERT_EQ(t.add("real", 10, on_fire, &f), 0);
	while (f.count < 5 && timespec_diff_ms(now_monotonic(), start) < 5000) {
		int ms = t.next_timeout_ms(now_monotonic());
		ASSERT_GE(ms, 0);
		ASSERT_LE(ms, 10);
		usleep(useconds_t(ms) * 1000);
		t.run_due(now_monotonic());
	}
	int64_t elapsed = timespec_diff_ms(now_monotonic(), start);
	EXPECT_EQ(f.count, 5);
	EXPECT_GE(elapsed, 45);
	EXPECT_LT(elapsed, 5000);
}

// An idle daemon has no armed timer: a disarmed one is neither waited for
// nor run, and arming it starts a fresh interval.
TEST(CoreTimers, DisarmedTimersSleep) {
	Timers t;
	Fired f;
	ASSERT_EQ(t.add("a", 100, on_fire, &f, at_ms(0)), 0);
	EXPECT_TRUE(t.armed(0));
	EXPECT_EQ(t.armed_count(), 1u);
	t.disarm(0);
	EXPECT_FALSE(t.armed(0));
	EXPECT_EQ(t.armed_count(), 0u);
	EXPECT_EQ(t.next_timeout_ms(at_ms(0)), -1);
	EXPECT_EQ(t.run_due(at_ms(100000)), 0u);
	EXPECT_EQ(f.count, 0);

	// Armed at 500 ms: due at 600, not at once for the time it slept.
	t.arm(0, at_ms(500));
	EXPECT_TRUE(t.armed(0));
	EXPECT_EQ(t.next_timeout_ms(at_ms(500)), 100);
	// Arming an armed timer keeps its deadline.
	t.arm(0, at_ms(550));
	EXPECT_EQ(t.next_timeout_ms(at_ms(550)), 50);
	EXPECT_EQ(t.run_due(at_ms(599)), 0u);
	EXPECT_EQ(t.run_due(at_ms(600)), 1u);
	EXPECT_EQ(f.count, 1);
	EXPECT_EQ(t.next_timeout_ms(at_ms(600)), 100);

	// arm_at() moves the deadline, either way.
	t.arm_at(0, at_ms(5000));
	EXPECT_EQ(t.next_timeout_ms(at_ms(600)), 4400);
	t.arm_at(0, at_ms(650));
	EXPECT_EQ(t.next_timeout_ms(at_ms(600)), 50);

	// arm_by() only ever brings the deadline nearer, and arms a sleeping
	// timer with the deadline given.
	t.arm_by(0, at_ms(900));
	EXPECT_EQ(t.next_timeout_ms(at_ms(600)), 50);
	t.arm_by(0, at_ms(620));
	EXPECT_EQ(t.next_timeout_ms(at_ms(600)), 20);
	t.disarm(0);
	t.arm_by(0, at_ms(3000));
	EXPECT_TRUE(t.armed(0));
	EXPECT_EQ(t.next_timeout_ms(at_ms(600)), 2400);

	// Bad ids are ignored.
	t.arm(7, at_ms(0));
	t.arm(-1, at_ms(0));
	t.arm_by(7, at_ms(0));
	t.disarm(7);
	EXPECT_FALSE(t.armed(7));
	EXPECT_EQ(t.armed_count(), 1u);
}

namespace {

// Runs n times, then disarms itself, as a flow timer does once the last
// flow is gone; or re-arms itself further away.
struct SelfDisarm {
	Timers *t = nullptr;
	int id = -1;
	int left = 0;
	int count = 0;
	int64_t rearm_ms = 0; // > 0: arm_at(now + rearm_ms) instead
};

void self_disarm(void *ctx, const timespec &now) {
	auto *s = static_cast<SelfDisarm *>(ctx);
	s->count++;
	if (s->rearm_ms > 0)
		s->t->arm_at(s->id, timespec_add_ms(now, s->rearm_ms));
	else if (--s->left <= 0)
		s->t->disarm(s->id);
}

} // namespace

TEST(CoreTimers, CallbackDisarmsOrRearmsItself) {
	Timers t;
	SelfDisarm s{&t, -1, 2, 0, 0};
	Fired other;
	s.id = t.add("self", 100, self_disarm, &s, at_ms(0));
	ASSERT_EQ(s.id, 0);
	ASSERT_EQ(t.add("other", 1000, on_fire, &other, at_ms(0)), 1);
	EXPECT_EQ(t.run_due(at_ms(100)), 1u);
	EXPECT_TRUE(t.armed(s.id));
	EXPECT_EQ(t.run_due(at_ms(200)), 1u);
	EXPECT_FALSE(t.armed(s.id));                   // what the callback set stays
	EXPECT_EQ(t.next_timeout_ms(at_ms(200)), 800); // only "other" is waited for
	for (int ms = 300; ms <= 5000; ms += 100)
		t.run_due(at_ms(ms));
	EXPECT_EQ(s.count, 2);
	EXPECT_EQ(other.count, 5);

	// Re-armed from its callback further than one interval away.
	s.rearm_ms = 3000;
	t.arm(s.id, at_ms(5000));
	t.disarm(1); // "other" out of the way
	EXPECT_EQ(t.run_due(at_ms(5100)), 1u);
	EXPECT_EQ(s.count, 3);
	EXPECT_EQ(t.run_due(at_ms(8099)), 0u);
	EXPECT_EQ(t.run_due(at_ms(8100)), 1u);
	EXPECT_EQ(s.count, 4);
}
