// Listening sockets of the forwarding rules, shared by the four forwarding
// translators: -t (tcp.cpp), -T (tcp/splice.cpp), -u (udp.cpp) and -U
// (udp/udp_splice.cpp). See src/fwd/listeners.cpp for the theory of
// operation. What a listener holds, how its socket is opened and what
// closing it does to flows stay with each translator; this is the part
// that is the same for all: which (rule, port, family) get a listener, the
// start-up error policy and descriptor budget, slots that never move, and
// following the scanned ports of "auto" rules.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <sys/epoll.h>
#include <unistd.h>

#include "passt/conf/config.h"
#include "passt/core/epoll.h"
#include "passt/fwd/portscan.h"
#include "passt/net/sockaddr.h"

namespace passt {

// How log lines name one kind of listener, e.g. {"TCP", "listener",
// "listen on", false} or {"UDP splice", "socket", "bind", true}.
struct FwdListenNames {
	const char *proto; // "TCP", "TCP splice", "UDP", "UDP splice"
	const char *sock;  // "listener" or "socket"
	const char *verb;  // "listen on" or "bind" (start-up errors)
	bool in_ns;        // -T/-U: opened in the namespace for ports bound on the host
	// -u: at start-up, a port whose socket opened on one family is
	// forwarded; only a port with none is a failure.
	bool any_family = false;
};

// What every translator's listener holds (UDP splice adds its bound
// address): the fields ListenerSlots and fwd_listen_sync() use, and the
// target port on the other side.
struct FwdListener {
	int fd = -1;
	uint16_t port = 0;   // listening port
	uint16_t target = 0; // port it forwards to on the other side
	uint32_t rule = 0;   // index in the PortForward's rules
	bool v6 = false;     // IPv6 socket (IPV6_V6ONLY)
	bool scan = false;   // opened for a scanning ("auto") rule
	bool paused = false; // TCP: out of epoll after accept() ran out of fds
};

// The record of listener fd for port of rule r (index ri), family v6.
FwdListener fwd_listener(int fd, const PortRule &r, uint32_t ri, uint16_t port, bool v6);

// The address a listener of rule r binds for port, family v6: on the host
// (in_ns false) the rule's address or the unspecified one, scoped to the
// rule's interface if it names one; in the namespace (-T/-U) the rule's
// address, or the loopback (always for scanning rules without one but
// the unspecified address). Returns its length.
socklen_t fwd_listen_addr(SockAddr &sa, const PortRule &r, uint16_t port, bool v6, bool in_ns);

// Makes fd, a new socket of family v6, a listener of rule r on port:
// IPV6_V6ONLY; for a stream socket SO_REUSEADDR; on the host the rule's
// interface (SO_BINDTODEVICE); --freebind (fwd_freebind()); bind() to
// fwd_listen_addr(); listen() for a stream socket. 0 or -errno (fd stays
// the caller's either way).
int fwd_listen_sock(const Config &c, int fd, const PortRule &r, uint16_t port, bool v6, bool stream,
		    bool in_ns);

// Opens a listener of rule r on port from fd, a new socket of family v6
// (or -errno, passed through): fwd_listen_sock(), then add(fd) -> 0 or
// -errno records it. fd is closed on any failure. 0 or -errno.
template <typename Add>
int fwd_listen_open(const Config &c, int fd, const PortRule &r, uint16_t port, bool v6, bool stream,
		    bool in_ns, Add &&add) {
	if (fd < 0)
		return fd;
	int rc = fwd_listen_sock(c, fd, r, port, v6, stream, in_ns);
	if (rc == 0)
		rc = add(fd);
	if (rc < 0)
		::close(fd);
	return rc;
}

// True if rule r gets a listener of family v6: the family is enabled in c
// and matches the rule's bind address, if any.
bool fwd_listen_family(const Config &c, const PortRule &r, bool v6);

// --freebind: let listening socket fd (family v6 or not) bind an address
// the host (or, for -T/-U, the namespace) doesn't have, or not yet
// (IP_FREEBIND, IPV6_FREEBIND). Nothing without the option. 0 or -errno.
int fwd_freebind(const Config &c, int fd, bool v6);

// How many listeners the start-up walk may open: RLIMIT_NOFILE / div, so
// that the rest of the descriptors stay for connections and flows.
size_t fwd_listen_budget(unsigned div);

// Start-up policy for a listener that could not be opened (rc < 0): a weak
// rule, an "all" forward, or a rule without bind address on a family the
// host lacks (EAFNOSUPPORT, EADDRNOTAVAIL) is logged at debug level and
// returns 0 (go on); anything else is logged as an error and returns rc.
int fwd_listen_open_failed(const FwdListenNames &n, const PortForward &pf, const PortRule &r,
			   uint16_t port, bool v6, int rc);
// The start-up walk's failures of one port, for FwdListenNames::any_family:
// the verdict (fwd_listen_open_failed() with the last error) waits until
// every family of the port was tried, and only if none opened.
class FwdPortTries {
public:
	// The walk is at (r, port) now: settles the port before if it moved
	// on. 0, or the verdict on the port before.
	int at(const FwdListenNames &n, const PortForward &pf, const PortRule &r, uint16_t port);
	void opened() { ok_ = true; }
	void failed(bool v6, int rc) {
		v6_ = v6;
		err_ = rc;
	}
	// The end of the walk: the verdict on the last port.
	int settle(const FwdListenNames &n, const PortForward &pf);

private:
	const PortRule *r_ = nullptr;
	uint16_t port_ = 0;
	bool v6_ = false, ok_ = false;
	int err_ = 0;
};

// Log lines of the start-up walk and of fwd_listen_sync().
void fwd_listen_log_budget(const FwdListenNames &n, size_t count);
void fwd_listen_log_count(const FwdListenNames &n, size_t count);
void fwd_listen_log_closed(const FwdListenNames &n, const PortRule &r, uint16_t port, bool v6);
// fwd_listen_resync(): no rule forwards port (family v6) alike any more.
void fwd_listen_log_removed(const FwdListenNames &n, uint16_t port, bool v6);
void fwd_listen_log_opened(const FwdListenNames &n, const PortRule &r, uint16_t port, bool v6);
void fwd_listen_log_no_listener(const FwdListenNames &n, const PortRule &r, uint16_t port, bool v6,
				int rc);
// A warning (rate-limited): no slot left of the slots sized at start-up.
void fwd_listen_log_full(const FwdListenNames &n, const PortRule &r, uint16_t port, bool v6,
			 size_t slots);

// How many more listeners than the start-up ones "auto" rules of pf may
// need at once: one per (port, family) their ranges cover, at most the
// fwd_listen_sync() budget (fwd_listen_budget(4)), at most AUTO_MAX_SLOTS.
size_t fwd_auto_room(const Config &c, const PortForward &pf);
// The bound without the rules: one listener per port and family.
constexpr size_t AUTO_MAX_SLOTS = 2 * 65536;

// Listeners in slots that never move: a slot's index is the EpollRef index
// of its socket (where the translator uses one), so a closed listener
// (fd -1) leaves its slot to the next one opened, and the others stay
// where they are. T has at least: int fd; uint16_t port; an integer rule
// (index in the PortForward's rules); bool v6.
//
// The table is sized at start-up and never grows afterwards (nothing may
// allocate once the sandbox is entered): start-up adds grow it, keeping
// room for reserve_auto()'s "auto" listeners on top; seal() (at the end of
// the start-up walk, or the first fwd_listen_sync()) fixes the capacity. A
// sealed table with no free slot is full(): add() then fails, storing
// nothing. The free list always has room for every slot, so release()
// never allocates either.
template <typename T> class ListenerSlots {
public:
	// What add() returns when the table is full.
	static constexpr uint32_t NO_SLOT = UINT32_MAX;

	// Start-up, before any add() of a forward with "auto" rules: keep room
	// for this many more listeners than the start-up ones. The default is
	// the bound without the rules; fwd_listen_open_rules() passes
	// fwd_auto_room().
	void reserve_auto(size_t room) {
		room_ = room;
		grow(v_.size());
	}
	void reserve_auto() { reserve_auto(std::min(fwd_listen_budget(4), AUTO_MAX_SLOTS)); }
	// End of start-up: the capacity is what it is now, for good.
	void seal() { sealed_ = true; }
	bool sealed() const { return sealed_; }
	// No slot left for add(): only a sealed table is ever full.
	bool full() const { return sealed_ && free_.empty() && v_.size() >= v_.capacity(); }

	// The slot the next add() will use: a free one if there is one.
	uint32_t next() const { return free_.empty() ? uint32_t(v_.size()) : free_.back(); }
	// Stores l in next(); returns its slot, or NO_SLOT if full().
	uint32_t add(const T &l) {
		if (free_.empty()) {
			if (sealed_ ? v_.size() >= v_.capacity()
				    : v_.size() + 1 + room_ > v_.capacity()) {
				if (sealed_)
					return NO_SLOT;
				grow(v_.size() + 1);
			}
			v_.push_back(l); // within the capacity: no reallocation
			return uint32_t(v_.size() - 1);
		}
		uint32_t s = free_.back();
		free_.pop_back();
		v_[s] = l;
		return s;
	}
	// Slot i is free again (its socket already closed by the caller).
	void release(uint32_t i) {
		if (i >= v_.size() || v_[i].fd < 0)
			return;
		v_[i].fd = -1;
		free_.push_back(i); // free_.capacity() >= v_.capacity(): no allocation
	}
	// Registers l.fd with loop for EPOLLIN under ref, the slot next() ORed
	// into its index, and stores l in that slot. 0, or -errno (l.fd is then
	// left to the caller): -ENOSPC if full().
	int add_polled(EventLoop &loop, EpollRef ref, const T &l) {
		if (full())
			return -ENOSPC;
		ref.index |= next();
		if (int rc = loop.add(l.fd, EPOLLIN, ref); rc < 0)
			return rc;
		add(l);
		return 0;
	}
	// Takes the listener in slot i out of loop, closes it, frees the slot.
	void close_polled(EventLoop &loop, uint32_t i) {
		if (i >= v_.size() || v_[i].fd < 0)
			return;
		loop.remove(v_[i].fd);
		::close(v_[i].fd);
		release(i);
	}
	// Closes every listener (close_polled()) and forgets the slots.
	void close_all(EventLoop &loop) {
		for (uint32_t i = 0; i < v_.size(); i++)
			close_polled(loop, i);
		clear();
	}
	// Forgets the slots; the capacity stays.
	void clear() {
		v_.clear();
		free_.clear();
	}
	// Clears from ports the ports of the open listeners: a scan of the
	// side they listen on must not forward them back.
	void mask(PortBitmap &ports) const {
		for (const T &l : v_)
			if (l.fd >= 0)
				ports.reset(l.port);
	}

	// Slots, open or free (fd -1).
	size_t size() const { return v_.size(); }
	bool empty() const { return v_.empty(); }
	size_t free_slots() const { return free_.size(); }
	size_t capacity() const { return v_.capacity(); }
	const T *data() const { return v_.data(); }
	T &operator[](size_t i) { return v_[i]; }
	const T &operator[](size_t i) const { return v_[i]; }
	typename std::vector<T>::iterator begin() { return v_.begin(); }
	typename std::vector<T>::iterator end() { return v_.end(); }
	typename std::vector<T>::const_iterator begin() const { return v_.begin(); }
	typename std::vector<T>::const_iterator end() const { return v_.end(); }

private:
	// Start-up only: capacity for n slots plus room_, with as many again
	// as n for the next start-up adds (so that a long walk copies little),
	// and as much free list.
	void grow(size_t n) {
		if (n + room_ > v_.capacity())
			v_.reserve(n + room_ + std::max<size_t>(n, 16));
		free_.reserve(v_.capacity());
	}

	std::vector<T> v_;
	std::vector<uint32_t> free_;
	size_t room_ = 0;     // slots kept for "auto" beyond the start-up ones
	bool sealed_ = false; // start-up is over: the capacity is fixed
};

// accept() out of descriptors (EMFILE, ENFILE; ENOBUFS, ENOMEM): the
// pending connection stays queued and a level-triggered listener would wake
// the loop at once, again and again. The listener is taken out of the epoll
// set (events 0) for ACCEPT_PAUSE_MS and put back by
// AcceptPause::resume_due() from a periodic timer; the slot type T needs a
// bool `paused`.
inline constexpr uint32_t ACCEPT_PAUSE_MS = 1000;

inline bool accept_out_of_fds(int err) {
	return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

struct AcceptPause {
	int64_t until_ns = 0; // when paused listeners go back; 0: none paused
	int timer = -1;       // the loop's timer that calls resume_due(): armed by pause()

	// Pause the listener in slot i (ref: its EpollRef).
	template <class T>
	void pause(EventLoop &loop, ListenerSlots<T> &slots, uint32_t i, EpollRef ref,
		   int64_t now_ns) {
		if (i >= slots.size() || slots[i].fd < 0 || slots[i].paused)
			return;
		if (loop.modify(slots[i].fd, 0, ref) < 0)
			return;
		slots[i].paused = true;
		if (!until_ns) {
			until_ns = now_ns + int64_t(ACCEPT_PAUSE_MS) * 1000000;
			loop.timers().arm_by(timer, timespec{time_t(until_ns / 1000000000),
							     long(until_ns % 1000000000)});
		}
	}
	// Put paused listeners back (base: their EpollRef without the slot).
	template <class T>
	void resume_due(EventLoop &loop, ListenerSlots<T> &slots, EpollRef base, int64_t now_ns) {
		if (!until_ns || now_ns < until_ns)
			return;
		until_ns = 0;
		for (uint32_t i = 0; i < slots.size(); i++) {
			if (slots[i].fd < 0 || !slots[i].paused)
				continue;
			EpollRef ref = base;
			ref.fd = slots[i].fd;
			ref.index |= i;
			loop.modify(slots[i].fd, EPOLLIN, ref);
			slots[i].paused = false;
		}
	}
};

// Calls fn(rule, rule_index, port, v6) for every listener the rules of pf
// with r.scan == scan want: exclusions and excluded ports are skipped, and
// families that fwd_listen_family() refuses. fn returns 0 to go on, < 0 to
// stop the walk with that value, > 0 to stop it with 0.
template <typename Fn>
int fwd_for_each_listen_port(const Config &c, const PortForward &pf, bool scan, Fn &&fn) {
	for (uint32_t ri = 0; ri < pf.rules.size(); ri++) {
		const PortRule &r = pf.rules[ri];
		if (r.exclude || r.scan != scan)
			continue;
		for (uint32_t p = r.first; p <= r.last; p++) {
			if (pf.excluded(uint16_t(p)))
				continue;
			for (int v6 = 0; v6 < 2; v6++) {
				if (!fwd_listen_family(c, r, v6))
					continue;
				int rc = fn(r, ri, uint16_t(p), bool(v6));
				if (rc)
					return rc < 0 ? rc : 0;
			}
		}
	}
	return 0;
}

// Start-up: open the listeners of the non-scanning rules of pf with
// open(rule, rule_index, port, v6) -> 0 or -errno (which adds to slots),
// at most budget slots (a warning, then the rest is left out), failures
// handled by fwd_listen_open_failed(). Sets aside room for "auto" rules
// (fwd_auto_room()), then seals slots: its capacity is fixed from now.
// Returns 0 or the first fatal -errno.
template <typename T, typename Open>
int fwd_listen_open_rules(const Config &c, const PortForward &pf, const FwdListenNames &n,
			  size_t budget, ListenerSlots<T> &slots, Open &&open) {
	// With a control socket (-c) any rule may come at run time: keep the
	// room of the "auto" bound for it.
	if (!c.conf_path.empty())
		slots.reserve_auto();
	else if (pf.kind == PortForward::Kind::Auto)
		slots.reserve_auto(fwd_auto_room(c, pf));
	if (pf.kind == PortForward::Kind::None)
		return 0;
	bool stopped = false;
	FwdPortTries tries;
	int rc = fwd_for_each_listen_port(
		c, pf, false, [&](const PortRule &r, uint32_t ri, uint16_t p, bool v6) {
			if (int trc = n.any_family ? tries.at(n, pf, r, p) : 0; trc < 0)
				return trc;
			if (slots.size() >= budget) {
				fwd_listen_log_budget(n, slots.size());
				stopped = true;
				return 1;
			}
			int orc = open(r, ri, p, v6);
			if (orc >= 0)
				tries.opened();
			else if (n.any_family)
				tries.failed(v6, orc);
			else
				return fwd_listen_open_failed(n, pf, r, p, v6, orc);
			return 0;
		});
	if (rc == 0 && n.any_family)
		rc = tries.settle(n, pf);
	if (rc == 0 && !stopped)
		fwd_listen_log_count(n, slots.size());
	slots.seal();
	return rc;
}

// "auto": make the listeners of the scanning rules of pf match want (ports
// to listen on, see fwd_scan_want()). Listeners of a scanning rule whose
// port is no longer wanted are closed with close(slot) (which frees the
// slot); missing ones are opened per family with open(rule, rule_index,
// port, v6) -> 0 or -errno. A port whose listener fails to open is marked
// in failed[v6] so that the retry at every scan logs only once; ports no
// longer wanted are unmarked. At most budget listeners are open at a time
// (a host or namespace with thousands of bound ports must not take all our
// descriptors): past it, a port fails with -EMFILE. The slots are sealed
// first (it runs from the loop, inside the sandbox): if none is left, a
// port fails with -ENOSPC and a warning, open() is not called and nothing
// allocates. Returns the number opened plus closed.
template <typename T, typename Open, typename Close>
int fwd_listen_sync(const Config &c, const PortForward &pf, ListenerSlots<T> &slots,
		    PortBitmap (&failed)[2], const PortBitmap &want, const FwdListenNames &n,
		    Open &&open, Close &&close, size_t budget = fwd_listen_budget(4)) {
	int changes = 0;
	slots.seal();
	size_t open_now = slots.size() - slots.free_slots();
	// Which (family, port) listeners the rule at hand has; one pass over
	// the slots per scanning rule (there is normally one).
	static PortBitmap have[2];
	for (uint32_t ri = 0; ri < pf.rules.size(); ri++) {
		const PortRule &r = pf.rules[ri];
		if (r.exclude || !r.scan)
			continue;
		have[0].reset();
		have[1].reset();
		for (uint32_t i = 0; i < slots.size(); i++) {
			const T &l = slots[i];
			if (l.fd < 0 || uint32_t(l.rule) != ri)
				continue;
			if (!want.test(l.port)) {
				fwd_listen_log_closed(n, r, l.port, l.v6);
				close(i);
				open_now--;
				changes++;
				continue;
			}
			have[l.v6].set(l.port);
		}
		for (uint32_t p = r.first; p <= r.last; p++) {
			if (!want.test(p) || pf.excluded(uint16_t(p))) {
				failed[0].reset(p);
				failed[1].reset(p);
				continue;
			}
			for (int v6 = 0; v6 < 2; v6++) {
				if (have[v6].test(p) || !fwd_listen_family(c, r, v6))
					continue;
				int rc = open_now >= budget ? -EMFILE
					 : slots.full()     ? -ENOSPC
							    : open(r, ri, uint16_t(p), bool(v6));
				if (rc < 0) {
					if (!failed[v6].test(p) && rc == -ENOSPC && slots.full())
						fwd_listen_log_full(n, r, uint16_t(p), v6,
								    slots.size());
					else if (!failed[v6].test(p))
						fwd_listen_log_no_listener(n, r, uint16_t(p), v6,
									   rc);
					failed[v6].set(p);
					continue;
				}
				failed[v6].reset(p);
				open_now++;
				fwd_listen_log_opened(n, r, uint16_t(p), v6);
				changes++;
			}
		}
	}
	return changes;
}

// What a run-time change could not do, for the reply to the control
// socket: one "warning: ..." line per listener that failed to open,
// appended to buf (cut short, never overflowing, when it is full).
struct FwdChangeLog {
	char *buf = nullptr;
	size_t len = 0, used = 0;
	unsigned failures = 0;
};
void fwd_change_log_failed(FwdChangeLog &log, const FwdListenNames &n, const PortRule &r,
			   uint16_t port, bool v6, int rc);

// Two rules listen alike on port: the same addresses, interface, target
// and kind (scanning or not), both covering port with the same target port.
// A listener of the one can serve the other (fwd_listen_resync()).
bool fwd_rules_listen_alike(const PortRule &a, const PortRule &b, uint16_t port);

// Run-time rule change (the control socket, -c): pf holds the new rules,
// old the ones the open listeners were made for (their rule indices point
// into old). A listener whose port the new rules forward alike
// (fwd_rules_listen_alike(), not excluded) stays open, so connections
// accepted from it and the flows it serves are untouched; it is told its
// new rule index with rekey(slot, new_index). Any other listener is closed
// with close(slot). Then the non-scanning rules' missing listeners are
// opened with open(rule, rule_index, port, v6); scanning rules get theirs
// at the next scan (fwd_listen_sync()). A listener that fails to open is
// reported through failed(rule, port, v6, rc) and the walk goes on. The
// slots are sealed: nothing allocates. Returns the number opened plus
// closed.
template <typename T, typename Open, typename Close, typename Rekey, typename Failed>
int fwd_listen_resync(const Config &c, const PortForward &old, const PortForward &pf,
		      ListenerSlots<T> &slots, const FwdListenNames &n, Open &&open, Close &&close,
		      Rekey &&rekey, Failed &&failed) {
	int changes = 0;
	slots.seal();
	for (uint32_t i = 0; i < slots.size(); i++) {
		const T &l = slots[i];
		if (l.fd < 0)
			continue;
		uint32_t keep = UINT32_MAX;
		if (uint32_t(l.rule) < old.rules.size() && !pf.excluded(l.port)) {
			const PortRule &o = old.rules[l.rule];
			for (uint32_t ri = 0; ri < pf.rules.size() && keep == UINT32_MAX; ri++)
				if (fwd_rules_listen_alike(o, pf.rules[ri], l.port) &&
				    fwd_listen_family(c, pf.rules[ri], l.v6))
					keep = ri;
		}
		if (keep == UINT32_MAX) {
			fwd_listen_log_removed(n, l.port, l.v6);
			close(i);
			changes++;
		} else if (keep != uint32_t(l.rule)) {
			rekey(i, keep);
		}
	}
	static PortBitmap have[2];
	for (uint32_t ri = 0; ri < pf.rules.size(); ri++) {
		const PortRule &r = pf.rules[ri];
		if (r.exclude || r.scan)
			continue;
		have[0].reset();
		have[1].reset();
		for (uint32_t i = 0; i < slots.size(); i++)
			if (slots[i].fd >= 0 && uint32_t(slots[i].rule) == ri)
				have[slots[i].v6].set(slots[i].port);
		for (uint32_t p = r.first; p <= r.last; p++) {
			if (pf.excluded(uint16_t(p)))
				continue;
			for (int v6 = 0; v6 < 2; v6++) {
				if (have[v6].test(p) || !fwd_listen_family(c, r, v6))
					continue;
				int rc =
					slots.full() ? -ENOSPC : open(r, ri, uint16_t(p), bool(v6));
				if (rc < 0) {
					failed(r, uint16_t(p), bool(v6), rc);
					continue;
				}
				changes++;
			}
		}
	}
	return changes;
}

// The same two for a translator's context: ctx.c is the Config, ctx.listeners
// the ListenerSlots, ctx.auto_failed the bitmaps; open(ctx, rule,
// rule_index, port, v6) and close(ctx, slot) as above.
template <typename Ctx, typename Open>
int fwd_listen_open_rules(Ctx &ctx, const PortForward &pf, const FwdListenNames &n, size_t budget,
			  Open *open) {
	return fwd_listen_open_rules(ctx.c, pf, n, budget, ctx.listeners,
				     [&](const PortRule &r, uint32_t ri, uint16_t p, bool v6) {
					     return open(ctx, r, ri, p, v6);
				     });
}
template <typename Ctx, typename Open, typename Close>
int fwd_listen_sync(Ctx &ctx, const PortForward &pf, const PortBitmap &want,
		    const FwdListenNames &n, Open *open, Close *close) {
	return fwd_listen_sync(
		ctx.c, pf, ctx.listeners, ctx.auto_failed, want, n,
		[&](const PortRule &r, uint32_t ri, uint16_t p, bool v6) {
			return open(ctx, r, ri, p, v6);
		},
		[&](uint32_t i) { close(ctx, i); });
}

// fwd_listen_resync() for a translator's context, as the two above; the
// listener's rule index is set by rekey(ctx, slot, rule_index).
template <typename Ctx, typename Open, typename Close, typename Rekey, typename Failed>
int fwd_listen_resync(Ctx &ctx, const PortForward &old, const PortForward &pf,
		      const FwdListenNames &n, Open *open, Close *close, Rekey *rekey,
		      Failed &&failed) {
	return fwd_listen_resync(
		ctx.c, old, pf, ctx.listeners, n,
		[&](const PortRule &r, uint32_t ri, uint16_t p, bool v6) {
			return open(ctx, r, ri, p, v6);
		},
		[&](uint32_t i) { close(ctx, i); },
		[&](uint32_t i, uint32_t ri) { rekey(ctx, i, ri); }, failed);
}

} // namespace passt
