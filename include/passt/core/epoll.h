// The event loop: one epoll instance, typed references, dispatch by kind.
//
// Theory of operation: every descriptor is registered together with an
// EpollRef (what it is, the fd, and an index into the owner's table, e.g.
// a flow index or a listening port), packed into epoll_data.u64. When
// epoll_wait() returns, each event's reference is unpacked and handed to
// the handler registered for its kind: dispatch is an array index, with no
// lookup by fd on the hot path. An event whose kind has no handler means a
// bug (or a kind not enabled in this mode): it is logged, rate-limited, and
// the descriptor is removed from the epoll set so that it can't spin.
//
// The loop also drives the periodic Timers: run_once() sleeps no longer
// than the next timer deadline and runs due timers after the I/O events.
// All handlers of one wake-up see the same "now" (CLOCK_MONOTONIC).
//
// A handler that closes a descriptor may leave events for it later in the
// same batch: owners must check that the ref still matches their state
// (the index/fd pair makes that cheap).
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>

#include <sys/epoll.h>

#include "passt/core/timer.h"
#include "passt/core/util.h"

namespace passt {

enum class RefKind : uint8_t {
	None = 0,        // never registered: an all-zero u64 decodes to this
	TapStream,       // connected qemu stream socket (passt)
	TapStreamListen, // listening UNIX socket for qemu (passt)
	TapTun,          // tun/tap fd in the namespace (pasta)
	VhostUserListen, // listening UNIX socket for vhost-user
	VhostUserCmd,    // vhost-user control connection
	VhostUserKick,   // virtqueue kick eventfd
	TcpSock,         // connected TCP socket, index: flow
	TcpListen,       // listening TCP socket, index: port/rule
	TcpSplice,       // spliced TCP socket (pasta loopback), index: flow
	UdpSock,         // connected/"reply" UDP socket, index: flow
	UdpListen,       // bound UDP socket for forwarded ports, index: port
	PingSock,        // ICMP/ICMPv6 echo socket, index: flow
	NsQuitInotify,   // inotify on the netns directory (pasta)
	NsQuitTimer,     // timerfd polling for the netns going away (pasta)
	Signal,          // signalfd
	ControlListen,   // -c/--conf-path: listening UNIX socket
	ControlConn,     // -c/--conf-path: the connected client (pesto)
	RepairListen,    // --repair-path: listening UNIX socket for passt-repair
	RepairConn,      // --repair-path: the connected passt-repair
	Count
};

// Short name for log messages ("tcp", "tap-stream", ...).
const char *ref_kind_name(RefKind kind);

struct EpollRef {
	static constexpr unsigned KIND_BITS = 8;
	static constexpr unsigned FD_BITS = 24;
	static constexpr unsigned INDEX_BITS = 32;
	static constexpr int FD_MAX = (1 << FD_BITS) - 1;

	RefKind kind = RefKind::None;
	int32_t fd = -1; // 0 .. FD_MAX once packed
	uint32_t index = 0;

	constexpr uint64_t pack() const {
		return uint64_t(uint8_t(kind)) |
		       (uint64_t(uint32_t(fd) & uint32_t(FD_MAX)) << KIND_BITS) |
		       (uint64_t(index) << (KIND_BITS + FD_BITS));
	}
	static constexpr EpollRef unpack(uint64_t v) {
		EpollRef r;
		r.kind = RefKind(uint8_t(v & 0xff));
		r.fd = int32_t((v >> KIND_BITS) & uint64_t(FD_MAX));
		r.index = uint32_t(v >> (KIND_BITS + FD_BITS));
		return r;
	}
	friend constexpr bool operator==(const EpollRef &, const EpollRef &) = default;
};

static_assert(EpollRef::KIND_BITS + EpollRef::FD_BITS + EpollRef::INDEX_BITS <=
		      8 * sizeof(epoll_data_t::u64),
	      "EpollRef must fit in epoll_data.u64");
static_assert(size_t(RefKind::Count) <= (size_t(1) << EpollRef::KIND_BITS),
	      "RefKind must fit in KIND_BITS");
static_assert(EpollRef::FD_BITS >= 24, "file descriptors need at least 24 bits");

class EventLoop {
public:
	using Handler = void (*)(void *ctx, EpollRef ref, uint32_t events, const timespec &now);
	static constexpr int MAX_EVENTS = 128;

	EventLoop() = default;
	EventLoop(const EventLoop &) = delete;
	EventLoop &operator=(const EventLoop &) = delete;

	// Create the epoll instance. Returns 0 or -errno.
	int init();
	int fd() const { return epfd_.get(); }

	void set_handler(RefKind kind, Handler fn, void *ctx);

	// Register, change or drop fd. ref.fd is overwritten with fd. Return 0
	// or -errno (-EINVAL for fd outside 0..FD_MAX or an invalid kind).
	int add(int fd, uint32_t events, EpollRef ref);
	int modify(int fd, uint32_t events, EpollRef ref);
	// Also cancels the events for fd still waiting in the batch being
	// dispatched: a handler that closes a socket (and may get its number
	// back from the next socket() or accept()) never sees stale events
	// for it reach whatever now uses that number.
	int remove(int fd);

	// Wait up to timeout_ms (-1: no limit other than timers), dispatch the
	// events, then run due timers. Returns the number of events
	// dispatched, 0 on timeout or EINTR, -errno on epoll failure.
	int run_once(int timeout_ms);
	// run_once(-1) until stop(). Returns 0, or -errno from epoll_wait.
	int run();

	void stop() { running_ = false; }
	bool running() const { return running_; }

	Timers &timers() { return timers_; }

	bool has_handler(RefKind kind) const {
		return size_t(kind) < size_t(RefKind::Count) && handlers_[size_t(kind)].fn;
	}
	// Events dispatched so far, by kind (for --stats).
	uint64_t events_of(RefKind kind) const {
		return size_t(kind) < size_t(RefKind::Count) ? counts_[size_t(kind)] : 0;
	}

private:
	int ctl(int op, int fd, uint32_t events, EpollRef ref);
	void dispatch(const epoll_event &ev, const timespec &now);

	struct Slot {
		Handler fn = nullptr;
		void *ctx = nullptr;
	};

	Fd epfd_;
	bool running_ = true;
	Slot handlers_[size_t(RefKind::Count)];
	uint64_t counts_[size_t(RefKind::Count)] = {};
	Timers timers_;
	epoll_event events_[MAX_EVENTS] = {};
	int batch_n_ = 0;   // events in the batch being dispatched
	int batch_pos_ = 0; // the one being dispatched
};

} // namespace passt
