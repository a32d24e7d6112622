// --stats: event counts by kind; see include/passt/core/stats.h.
// #syscalls write
#include "passt/core/stats.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include <unistd.h>

namespace passt {

namespace {

// A column is as wide as its name, and never narrower than this.
constexpr int MIN_COLUMN = 8;

int column_width(RefKind kind) { return std::max(MIN_COLUMN, int(strlen(ref_kind_name(kind)))); }

// Append one line made by cell(kind, width) for every column to buf at
// *len, if it fits whole. Returns false (and leaves *len) if it does not.
template <typename Cell>
bool append_line(const EventLoop &loop, char *buf, size_t size, size_t *len, Cell cell) {
	size_t at = *len;
	for (size_t k = 1; k < size_t(RefKind::Count); k++) {
		RefKind kind = RefKind(k);
		if (!loop.has_handler(kind))
			continue;
		if (at >= size)
			return false;
		int n = cell(buf + at, size - at, kind, column_width(kind));
		if (n < 0 || size_t(n) >= size - at)
			return false;
		at += size_t(n);
	}
	if (at + 1 >= size)
		return false;
	buf[at++] = '\n';
	buf[at] = '\0';
	*len = at;
	return true;
}

} // namespace

size_t EventStats::next(char *buf, size_t size) {
	bool moved = false;
	for (size_t k = 1; k < size_t(RefKind::Count); k++)
		moved |= loop_.events_of(RefKind(k)) != printed_[k];
	if (!moved || !size)
		return 0;

	size_t len = 0;
	buf[0] = '\0';
	if (lines_ % HEADER_EVERY == 0 &&
	    !append_line(loop_, buf, size, &len, [](char *p, size_t n, RefKind kind, int w) {
		    return snprintf(p, n, " %*s", w, ref_kind_name(kind));
	    }))
		return 0;
	bool fits =
		append_line(loop_, buf, size, &len, [this](char *p, size_t n, RefKind kind, int w) {
			return snprintf(p, n, " %*llu", w,
					(unsigned long long)loop_.events_of(kind));
		});
	if (!fits)
		return len;
	for (size_t k = 1; k < size_t(RefKind::Count); k++)
		printed_[k] = loop_.events_of(RefKind(k));
	lines_++;
	return len;
}

namespace {

struct StatsTimer {
	EventStats *stats;
	int fd;
};

StatsTimer stats_timer;

void stats_tick(void *ctx, const timespec &) {
	auto *t = static_cast<StatsTimer *>(ctx);
	char buf[4096];
	size_t len = t->stats->next(buf, sizeof(buf));
	if (len && write(t->fd, buf, len) < 0) {
		// Nowhere to say it: standard error is what failed.
	}
}

} // namespace

int stats_start(EventLoop &loop, EventStats &stats, unsigned delay_s, int fd) {
	stats_timer = StatsTimer{&stats, fd};
	uint32_t ms = delay_s > UINT32_MAX / 1000 ? UINT32_MAX : delay_s * 1000;
	return loop.timers().add("stats", ms, stats_tick, &stats_timer) < 0 ? -1 : 0;
}

} // namespace passt
