// --stats DELAY: a table of the events handled, by kind, on standard error.
//
// Theory of operation: the event loop counts every event it dispatches, by
// kind of descriptor. Every DELAY seconds a timer compares those counts with
// the ones of the last line printed and, if any moved, prints one line of
// running totals, one column per kind that has a handler in this mode, under
// a line of column names repeated every HEADER_EVERY lines. An idle daemon
// prints nothing. Lines are formatted on the stack and written with one
// write(2) each: no allocation, so it runs unchanged inside the sandbox.
#pragma once

#include <cstddef>
#include <cstdint>

#include "passt/core/epoll.h"

namespace passt {

class EventStats {
public:
	static constexpr unsigned HEADER_EVERY = 20;

	explicit EventStats(const EventLoop &loop) : loop_(loop) {}

	// Format what is due now into buf: nothing (returns 0) if no count
	// moved since the last call that printed, else the header when due
	// and a line of totals. Returns the length; output that does not fit
	// is cut at the end of the last whole line.
	size_t next(char *buf, size_t size);

private:
	const EventLoop &loop_;
	uint64_t printed_[size_t(RefKind::Count)] = {};
	unsigned lines_ = 0;
};

// Print stats to fd every delay_s seconds from loop's timers. Returns 0, or
// -1 if the timer table is full.
int stats_start(EventLoop &loop, EventStats &stats, unsigned delay_s, int fd);

} // namespace passt
