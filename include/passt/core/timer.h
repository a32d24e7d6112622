// Periodic work driven from the epoll loop, without timer fds.
//
// Each timer has an interval and a next deadline on CLOCK_MONOTONIC. The
// loop sleeps in epoll_wait() for at most next_timeout_ms() and then calls
// run_due(), which runs every timer whose deadline has passed and moves its
// deadline one interval on. A timer that fell more than one interval behind
// (a long stall) fires once and is re-armed from now: missed periods are
// skipped, not replayed in a burst. Capacity is fixed; registration is
// done at start-up and nothing is allocated afterwards.
//
// A timer is armed or not. One that is not armed is skipped by
// next_timeout_ms() and run_due(), so that an idle daemon sleeps in
// epoll_wait() until something happens: a timer that serves flows of a kind
// is disarmed by its callback when none are left and armed again (first
// due one interval later) when one appears, see FlowTable::bind_timer().
// A callback may disarm or re-arm its own timer: run_due() moves the
// deadline before the call, so what the callback sets is what stays.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>

namespace passt {

class Timers {
public:
	using Callback = void (*)(void *ctx, const timespec &now);
	static constexpr size_t CAPACITY = 16;
	static constexpr size_t NAME_MAX_LEN = 23;

	// Register a timer, armed, first due interval_ms from now. Returns its index,
	// or -1 if the table is full, interval_ms is 0 or cb is null.
	int add(const char *name, uint32_t interval_ms, Callback cb, void *ctx);
	// Same, with an explicit current time (for tests and for callers that
	// already read the clock).
	int add(const char *name, uint32_t interval_ms, Callback cb, void *ctx,
		const timespec &now);

	// Arm timer id, first due one interval after now; no effect on a timer
	// already armed (its deadline stays) or on an invalid id.
	void arm(int id, const timespec &now);
	// Arm timer id with this deadline (moved if it was armed already).
	void arm_at(int id, const timespec &deadline);
	// Make timer id due no later than deadline: armed with it if it was
	// not armed, moved earlier if it was due later, else left alone.
	void arm_by(int id, const timespec &deadline);
	// Stop timer id until it is armed again.
	void disarm(int id);
	bool armed(int id) const { return valid(id) && entries_[id].armed; }
	// Timers armed now (a daemon with no work: 0, or only the ones its
	// options ask for, such as -t auto's port scan or --stats).
	size_t armed_count() const;

	// Milliseconds until the earliest deadline (rounded up, so that the
	// loop never wakes just before a deadline and spins), 0 if one is
	// already due, -1 if no timer is armed.
	int next_timeout_ms(const timespec &now) const;

	// Run every armed timer due at now. Returns how many ran.
	unsigned run_due(const timespec &now);

	size_t size() const { return count_; }
	const char *name(size_t index) const;

private:
	bool valid(int id) const { return id >= 0 && size_t(id) < count_; }

	struct Entry {
		char name[NAME_MAX_LEN + 1];
		uint32_t interval_ms;
		Callback cb;
		void *ctx;
		timespec deadline;
		bool armed;
	};
	Entry entries_[CAPACITY] = {};
	size_t count_ = 0;
};

} // namespace passt
