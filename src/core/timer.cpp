// Fixed table of periodic timers, see include/passt/core/timer.h.
#include "passt/core/timer.h"

#include <cstdio>

#include "passt/core/log.h"
#include "passt/core/util.h"

namespace passt {

int Timers::add(const char *name, uint32_t interval_ms, Callback cb, void *ctx) {
	return add(name, interval_ms, cb, ctx, now_monotonic());
}

int Timers::add(const char *name, uint32_t interval_ms, Callback cb, void *ctx,
		const timespec &now) {
	if (count_ >= CAPACITY || !interval_ms || !cb)
		return -1;
	Entry &e = entries_[count_];
	snprintf(e.name, sizeof(e.name), "%s", name ? name : "");
	e.interval_ms = interval_ms;
	e.cb = cb;
	e.ctx = ctx;
	e.deadline = timespec_add_ms(now, interval_ms);
	e.armed = true;
	return int(count_++);
}

void Timers::arm(int id, const timespec &now) {
	if (!valid(id) || entries_[id].armed)
		return;
	entries_[id].deadline = timespec_add_ms(now, entries_[id].interval_ms);
	entries_[id].armed = true;
}

void Timers::arm_at(int id, const timespec &deadline) {
	if (!valid(id))
		return;
	entries_[id].deadline = deadline;
	entries_[id].armed = true;
}

void Timers::arm_by(int id, const timespec &deadline) {
	if (!valid(id))
		return;
	Entry &e = entries_[id];
	if (!e.armed || timespec_before(deadline, e.deadline)) {
		e.deadline = deadline;
		e.armed = true;
	}
}

void Timers::disarm(int id) {
	if (valid(id))
		entries_[id].armed = false;
}

size_t Timers::armed_count() const {
	size_t n = 0;
	for (size_t i = 0; i < count_; i++)
		n += entries_[i].armed;
	return n;
}

int Timers::next_timeout_ms(const timespec &now) const {
	int64_t best = INT64_MAX;
	for (size_t i = 0; i < count_; i++) {
		if (!entries_[i].armed)
			continue;
		int64_t ns = timespec_diff_ns(entries_[i].deadline, now);
		if (ns < best)
			best = ns;
	}
	if (best == INT64_MAX)
		return -1;
	if (best <= 0)
		return 0;
	int64_t ms = (best + NS_PER_MS - 1) / NS_PER_MS;
	return ms > INT32_MAX ? INT32_MAX : int(ms);
}

unsigned Timers::run_due(const timespec &now) {
	unsigned ran = 0;
	for (size_t i = 0; i < count_; i++) {
		Entry &e = entries_[i];
		if (!e.armed || timespec_before(now, e.deadline))
			continue;
		e.deadline = timespec_add_ms(e.deadline, e.interval_ms);
		if (!timespec_before(now, e.deadline))
			e.deadline = timespec_add_ms(now, e.interval_ms);
		trace("timer %s", e.name);
		e.cb(e.ctx, now);
		ran++;
	}
	return ran;
}

const char *Timers::name(size_t index) const {
	return index < count_ ? entries_[index].name : nullptr;
}

} // namespace passt
