// Tests for the shared listener code of the forwarding translators
// (fwd/listeners.h): the rule walk and its skips, the start-up error policy
// and descriptor budget, slots that never move, and "auto" sync with its
// once-only failure log. No sockets: open/close are fakes that record calls.
#include "passt/fwd/listeners.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "passt/core/epoll.h"
#include "passt/core/log.h"
#include "passt/fwd/rules.h"

using namespace passt;

namespace {

struct FakeListener {
	int fd = -1;
	uint16_t port = 0;
	uint32_t rule = 0;
	bool v6 = false;
};

using Call = std::tuple<uint32_t, uint16_t, bool>; // rule, port, v6

PortRule rule(uint16_t first, uint16_t last) {
	PortRule r;
	r.first = first;
	r.last = last;
	r.to_first = first;
	return r;
}

PortBitmap ports(std::initializer_list<unsigned> l) {
	PortBitmap b;
	for (unsigned p : l)
		b.set(p);
	return b;
}

const FwdListenNames NAMES{"TEST", "listener", "listen on", false};
const FwdListenNames NAMES_NS{"TEST splice", "socket", "bind", true};

// Opens fake listeners into slots, failing with fail_rc for (port, v6)
// pairs in busy; records every call.
struct FakeOpener {
	ListenerSlots<FakeListener> &slots;
	std::set<std::pair<uint16_t, bool>> busy;
	int fail_rc = -EADDRINUSE;
	std::vector<Call> calls;
	int next_fd = 100;

	int operator()(const PortRule &, uint32_t ri, uint16_t p, bool v6) {
		calls.emplace_back(ri, p, v6);
		if (busy.count({p, v6}))
			return fail_rc;
		slots.add(FakeListener{next_fd++, p, ri, v6});
		return 0;
	}
};

// Debug log into a file, read back by the tests.
class LogFile {
public:
	LogFile() {
		char tmpl[] = "/tmp/passt-fwd-listeners-XXXXXX";
		if (mkdtemp(tmpl))
			dir_ = tmpl;
		path_ = dir_ + "/log";
		LogConfig c;
		c.level = LogLevel::Debug;
		c.file_path = path_.c_str();
		c.syslog_path = nullptr;
		ok_ = !dir_.empty() && log_init("test", c) == 0;
	}
	~LogFile() {
		log_close();
		unlink(path_.c_str());
		rmdir(dir_.c_str());
	}
	bool ok() const { return ok_; }
	size_t count(const std::string &needle) const {
		std::ifstream f(path_);
		std::stringstream ss;
		ss << f.rdbuf();
		std::string text = ss.str();
		size_t n = 0;
		for (size_t pos = text.find(needle); pos != std::string::npos;
		     pos = text.find(needle, pos + 1))
			n++;
		return n;
	}

private:
	std::string dir_, path_;
	bool ok_ = false;
};

} // namespace

TEST(FwdListenFamily, EnabledAndBindAddress) {
	Config c;
	PortRule r = rule(1, 1);
	EXPECT_TRUE(fwd_listen_family(c, r, false));
	EXPECT_TRUE(fwd_listen_family(c, r, true));
	r.bind_addr = InAny(Ipv4Addr::loopback());
	EXPECT_TRUE(fwd_listen_family(c, r, false));
	EXPECT_FALSE(fwd_listen_family(c, r, true));
	r.bind_addr = InAny(Ipv6Addr::loopback());
	EXPECT_FALSE(fwd_listen_family(c, r, false));
	EXPECT_TRUE(fwd_listen_family(c, r, true));
	c.ip6.enabled = false;
	EXPECT_FALSE(fwd_listen_family(c, r, true));
	r.bind_addr.reset();
	EXPECT_TRUE(fwd_listen_family(c, r, false));
	c.ip4.enabled = false;
	EXPECT_FALSE(fwd_listen_family(c, r, false));
}

TEST(FwdListenWalk, SkipsExclusionsScanRulesAndFamilies) {
	Config c;
	PortForward pf;
	pf.kind = PortForward::Kind::Spec;
	PortRule a = rule(10, 13);
	PortRule v4only = rule(20, 20);
	v4only.bind_addr = InAny(Ipv4Addr::loopback());
	PortRule scan = rule(30, 31);
	scan.scan = true;
	PortRule excl = rule(12, 12);
	excl.exclude = true;
	pf.rules = {a, v4only, scan, excl};

	std::vector<Call> seen;
	int rc = fwd_for_each_listen_port(c, pf, false,
					  [&](const PortRule &, uint32_t ri, uint16_t p, bool v6) {
						  seen.emplace_back(ri, p, v6);
						  return 0;
					  });
	EXPECT_EQ(rc, 0);
	std::vector<Call> want = {{0, 10, false}, {0, 10, true}, {0, 11, false}, {0, 11, true},
				  {0, 13, false}, {0, 13, true}, {1, 20, false}};
	EXPECT_EQ(seen, want);

	// The scanning rules only, with IPv6 disabled.
	c.ip6.enabled = false;
	seen.clear();
	fwd_for_each_listen_port(c, pf, true,
				 [&](const PortRule &, uint32_t ri, uint16_t p, bool v6) {
					 seen.emplace_back(ri, p, v6);
					 return 0;
				 });
	want = {{2, 30, false}, {2, 31, false}};
	EXPECT_EQ(seen, want);
}

TEST(FwdListenWalk, StopsOnNonZero) {
	Config c;
	PortForward pf;
	pf.rules = {rule(1, 100)};
	int n = 0;
	EXPECT_EQ(fwd_for_each_listen_port(c, pf, false,
					   [&](const PortRule &, uint32_t, uint16_t, bool) {
						   return ++n == 3 ? -EIO : 0;
					   }),
		  -EIO);
	EXPECT_EQ(n, 3);
	n = 0;
	EXPECT_EQ(fwd_for_each_listen_port(c, pf, false,
					   [&](const PortRule &, uint32_t, uint16_t, bool) {
						   return ++n == 5 ? 1 : 0;
					   }),
		  0);
	EXPECT_EQ(n, 5);
}

TEST(FwdListenOpen, FatalErrorStopsAndIsReturned) {
	Config c;
	PortForward pf;
	pf.kind = PortForward::Kind::Spec;
	pf.rules = {rule(10, 12)};
	ListenerSlots<FakeListener> slots;
	FakeOpener open{slots, {{11, false}}};
	EXPECT_EQ(fwd_listen_open_rules(c, pf, NAMES, 1000, slots, open), -EADDRINUSE);
	EXPECT_EQ(open.calls.size(), 3u); // 10 v4, 10 v6, 11 v4: stop
	EXPECT_EQ(slots.size(), 2u);
}

TEST(FwdListenOpen, ToleratedFailures) {
	Config c;
	PortForward pf;
	pf.kind = PortForward::Kind::Spec;
	pf.rules = {rule(10, 12)};

	// A weak rule goes on.
	pf.rules[0].weak = true;
	ListenerSlots<FakeListener> s1;
	FakeOpener o1{s1, {{11, false}}};
	EXPECT_EQ(fwd_listen_open_rules(c, pf, NAMES, 1000, s1, o1), 0);
	EXPECT_EQ(o1.calls.size(), 6u);
	EXPECT_EQ(s1.size(), 5u);

	// So does an "all" forward.
	pf.rules[0].weak = false;
	pf.kind = PortForward::Kind::All;
	ListenerSlots<FakeListener> s2;
	FakeOpener o2{s2, {{11, false}}};
	EXPECT_EQ(fwd_listen_open_rules(c, pf, NAMES, 1000, s2, o2), 0);
	EXPECT_EQ(s2.size(), 5u);

	// A missing family without bind address: not fatal...
	pf.kind = PortForward::Kind::Spec;
	ListenerSlots<FakeListener> s3;
	FakeOpener o3{s3, {{10, true}, {11, true}, {12, true}}, -EAFNOSUPPORT};
	EXPECT_EQ(fwd_listen_open_rules(c, pf, NAMES, 1000, s3, o3), 0);
	EXPECT_EQ(s3.size(), 3u);
	ListenerSlots<FakeListener> s4;
	FakeOpener o4{s4, {{12, true}}, -EADDRNOTAVAIL};
	EXPECT_EQ(fwd_listen_open_rules(c, pf, NAMES_NS, 1000, s4, o4), 0);
	EXPECT_EQ(s4.size(), 5u);

	// ... but fatal with one.
	pf.rules[0].bind_addr = InAny(Ipv6Addr::loopback());
	ListenerSlots<FakeListener> s5;
	FakeOpener o5{s5, {{11, true}}, -EADDRNOTAVAIL};
	EXPECT_EQ(fwd_listen_open_rules(c, pf, NAMES, 1000, s5, o5), -EADDRNOTAVAIL);
	EXPECT_EQ(s5.size(), 1u);
}

TEST(FwdListenOpen, BudgetStopsWithoutError) {
	Config c;
	PortForward pf;
	pf.kind = PortForward::Kind::Spec;
	pf.rules = {rule(1000, 1999)};
	ListenerSlots<FakeListener> slots;
	FakeOpener open{slots};
	EXPECT_EQ(fwd_listen_open_rules(c, pf, NAMES, 7, slots, open), 0);
	EXPECT_EQ(slots.size(), 7u);
	EXPECT_EQ(open.calls.size(), 7u);
}

TEST(FwdListenOpen, NoneOpensNothingAutoReserves) {
	Config c;
	PortForward pf;
	pf.rules = {rule(10, 10)};
	ListenerSlots<FakeListener> s1;
	FakeOpener o1{s1};
	EXPECT_EQ(fwd_listen_open_rules(c, pf, NAMES, 1000, s1, o1), 0); // Kind::None
	EXPECT_TRUE(o1.calls.empty());

	PortRule scan = rule(20, 29);
	scan.scan = true;
	pf.rules.push_back(scan);
	pf.kind = PortForward::Kind::Auto;
	ListenerSlots<FakeListener> s2;
	FakeOpener o2{s2};
	EXPECT_EQ(fwd_listen_open_rules(c, pf, NAMES, 1000, s2, o2), 0);
	EXPECT_EQ(o2.calls.size(), 2u); // the explicit rule only
	// Room set aside for the scanning rule (10 ports, 2 families) on top
	// of the explicit listeners, and the table is sealed.
	EXPECT_GE(s2.capacity(), 2u + 20u);
	EXPECT_TRUE(s2.sealed());
	EXPECT_TRUE(s1.capacity() == 0 && !s1.sealed()); // None: untouched
}

TEST(FwdListenAutoRoom, CoveredPortsBudgetAndBound) {
	Config c;
	PortForward pf;
	pf.kind = PortForward::Kind::Auto;
	PortRule scan = rule(20, 29);
	scan.scan = true;
	PortRule excl = rule(25, 26);
	excl.exclude = true;
	pf.rules = {rule(1, 1000), scan, excl}; // the explicit rule does not count
	EXPECT_EQ(fwd_auto_room(c, pf), 16u);   // 8 ports, 2 families
	c.ip6.enabled = false;
	EXPECT_EQ(fwd_auto_room(c, pf), 8u);
	c.ip6.enabled = true;
	pf.rules = {rule(1, 65535)};
	pf.rules[0].scan = true;
	EXPECT_EQ(fwd_auto_room(c, pf), std::min<size_t>(2 * 65535, fwd_listen_budget(4)));
	EXPECT_LE(fwd_auto_room(c, pf), AUTO_MAX_SLOTS);
}

// A share of RLIMIT_NOFILE as read the first time (at start-up, once main()
// raised it): later calls, from inside the sandbox, make no syscall and
// size nothing differently.
TEST(FwdListenBudget, ShareOfTheDescriptorLimitReadOnce) {
	rlimit saved{};
	ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
	size_t all = fwd_listen_budget(1);
	EXPECT_GT(all, 0u);
	if (saved.rlim_max != RLIM_INFINITY) {
		EXPECT_LE(all, size_t(saved.rlim_max));
	}
	EXPECT_EQ(fwd_listen_budget(4), all / 4);
	EXPECT_EQ(fwd_listen_budget(2), all / 2);
	if (saved.rlim_cur > 400) {
		rlimit rl = saved;
		rl.rlim_cur = 400;
		ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
		size_t quarter = fwd_listen_budget(4);
		ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
		EXPECT_EQ(quarter, all / 4);
	}
}

TEST(FwdListenerSlots, FreedSlotsAreReusedOthersStay) {
	ListenerSlots<FakeListener> s;
	s.reserve_auto();
	const FakeListener *base = s.data();
	EXPECT_EQ(s.next(), 0u);
	EXPECT_EQ(s.add({10, 1, 0, false}), 0u);
	EXPECT_EQ(s.add({11, 2, 0, false}), 1u);
	EXPECT_EQ(s.add({12, 3, 0, true}), 2u);
	s.release(1);
	s.release(1); // twice: no double free
	EXPECT_EQ(s.free_slots(), 1u);
	EXPECT_EQ(s[1].fd, -1);
	EXPECT_EQ(s.next(), 1u);
	EXPECT_EQ(s.add({13, 4, 0, false}), 1u);
	EXPECT_EQ(s.free_slots(), 0u);
	EXPECT_EQ(s.size(), 3u);
	EXPECT_EQ(s[0].fd, 10);
	EXPECT_EQ(s[2].fd, 12);
	EXPECT_EQ(s.next(), 3u);
	EXPECT_EQ(s.data(), base); // no reallocation within the reserve

	s.release(0);
	PortBitmap b = ports({1, 3, 4, 5});
	s.mask(b);
	EXPECT_EQ(b, ports({1, 5})); // slot 0 (port 1) is free: not masked
	s.clear();
	EXPECT_TRUE(s.empty());
	EXPECT_EQ(s.next(), 0u);
}

TEST(FwdListenSync, OpensClosesAndLogsFailuresOnce) {
	LogFile log;
	ASSERT_TRUE(log.ok());
	Config c;
	c.ip6.enabled = false;
	PortForward pf;
	pf.kind = PortForward::Kind::Auto;
	PortRule spec = rule(7000, 7000);
	PortRule scan = rule(20000, 20010);
	scan.scan = scan.weak = true;
	PortRule excl = rule(20008, 20008);
	excl.exclude = true;
	pf.rules = {spec, scan, excl};

	ListenerSlots<FakeListener> slots;
	PortBitmap failed[2];
	FakeOpener open{slots, {{20003, false}}};
	std::vector<uint32_t> closed;
	auto close = [&](uint32_t i) {
		closed.push_back(i);
		slots.release(i);
	};
	ASSERT_EQ(fwd_listen_open_rules(c, pf, NAMES, 1000, slots, open), 0);
	ASSERT_EQ(slots.size(), 1u);

	// 7000 belongs to the explicit rule, 20008 is excluded, 30000 out of range.
	EXPECT_EQ(fwd_listen_sync(c, pf, slots, failed,
				  ports({7000, 20001, 20002, 20003, 20008, 30000}), NAMES, open,
				  close),
		  2);
	EXPECT_TRUE(failed[0].test(20003));
	EXPECT_EQ(log.count("port 20003 bound in the namespace, but no IPv4 listener"), 1u);
	EXPECT_EQ(log.count("port 20001 bound in the namespace, IPv4 listener opened"), 1u);

	// Again: nothing changes, the failure is retried but not logged.
	size_t calls = open.calls.size();
	EXPECT_EQ(fwd_listen_sync(c, pf, slots, failed, ports({20001, 20002, 20003}), NAMES, open,
				  close),
		  0);
	EXPECT_EQ(open.calls.size(), calls + 1);
	EXPECT_EQ(log.count("port 20003 bound in the namespace, but no"), 1u);

	// 20001 goes (its slot is freed and reused), 20004 comes; 20003 goes
	// from the scan, so its failure mark is cleared.
	uint32_t slot1 = 0;
	for (uint32_t i = 0; i < slots.size(); i++)
		if (slots[i].port == 20001)
			slot1 = i;
	EXPECT_EQ(fwd_listen_sync(c, pf, slots, failed, ports({20002, 20004}), NAMES, open, close),
		  2);
	EXPECT_EQ(closed, std::vector<uint32_t>{slot1});
	EXPECT_EQ(slots[slot1].port, 20004);
	EXPECT_FALSE(failed[0].test(20003));
	EXPECT_EQ(log.count("port 20001 no longer bound in the namespace, closing IPv4 listener"),
		  1u);
	EXPECT_EQ(slots.size(), 3u);

	// Nothing wanted: the scanned ones close, the explicit one stays.
	EXPECT_EQ(fwd_listen_sync(c, pf, slots, failed, PortBitmap(), NAMES, open, close), 2);
	size_t open_now = 0;
	for (const FakeListener &l : slots)
		open_now += l.fd >= 0;
	EXPECT_EQ(open_now, 1u);
	EXPECT_EQ(slots[0].port, 7000);
}

// Past the budget, wanted ports get no listener (logged once each) until
// others close.
TEST(FwdListenSync, BudgetCapsOpenListeners) {
	LogFile log;
	ASSERT_TRUE(log.ok());
	Config c;
	c.ip6.enabled = false;
	PortForward pf;
	pf.kind = PortForward::Kind::Auto;
	PortRule scan = rule(20000, 20010);
	scan.scan = scan.weak = true;
	pf.rules = {scan};
	ListenerSlots<FakeListener> slots;
	slots.reserve_auto(fwd_auto_room(c, pf));
	PortBitmap failed[2];
	FakeOpener open{slots, {}};
	auto close = [&](uint32_t i) { slots.release(i); };
	EXPECT_EQ(fwd_listen_sync(c, pf, slots, failed, ports({20001, 20002, 20003, 20004}), NAMES,
				  open, close, 3),
		  3);
	EXPECT_EQ(open.calls.size(), 3u);
	EXPECT_TRUE(failed[0].test(20004));
	EXPECT_EQ(log.count("port 20004 bound in the namespace, but no IPv4 listener"), 1u);
	// One goes away: the waiting one gets its listener at the next scan.
	EXPECT_EQ(fwd_listen_sync(c, pf, slots, failed, ports({20002, 20003, 20004}), NAMES, open,
				  close, 3),
		  2);
	EXPECT_FALSE(failed[0].test(20004));
	size_t open_now = 0;
	for (const FakeListener &l : slots)
		open_now += l.fd >= 0;
	EXPECT_EQ(open_now, 3u);
}

TEST(FwdListenSync, BothFamiliesAndTargetInNamespaceLogs) {
	LogFile log;
	ASSERT_TRUE(log.ok());
	Config c;
	PortForward pf;
	pf.kind = PortForward::Kind::Auto;
	PortRule scan = rule(5000, 5009);
	scan.to_first = 6000; // listener on 5000 + i forwards to 6000 + i
	scan.scan = true;
	pf.rules = {scan};
	ListenerSlots<FakeListener> slots;
	slots.reserve_auto(fwd_auto_room(c, pf));
	PortBitmap failed[2];
	FakeOpener open{slots, {{5002, true}}};
	auto close = [&](uint32_t i) { slots.release(i); };
	EXPECT_EQ(fwd_listen_sync(c, pf, slots, failed, ports({5001, 5002}), NAMES_NS, open, close),
		  3);
	EXPECT_FALSE(failed[0].test(5002));
	EXPECT_TRUE(failed[1].test(5002));
	EXPECT_EQ(log.count("TEST splice: host port 6001 bound, IPv6 socket opened on namespace "
			    "port 5001"),
		  1u);
	EXPECT_EQ(log.count("TEST splice: host port 6002 bound, but no IPv6 socket on namespace "
			    "port 5002"),
		  1u);
	EXPECT_EQ(fwd_listen_sync(c, pf, slots, failed, ports({5002}), NAMES_NS, open, close), 2);
	EXPECT_EQ(log.count("host port 6001 no longer bound, closing IPv4 socket in the namespace"),
		  1u);
}

TEST(FwdListenerSlots, PolledSlotsCarryTheirIndexAndClose) {
	EventLoop loop;
	ASSERT_EQ(loop.init(), 0);
	ListenerSlots<FakeListener> s;
	int fds[3];
	for (int &fd : fds) {
		fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		ASSERT_GE(fd, 0);
	}
	constexpr uint32_t BIT = 1u << 31;
	EXPECT_EQ(s.add_polled(loop, {RefKind::TcpListen, fds[0], BIT}, {fds[0], 1, 0, false}), 0);
	EXPECT_EQ(s.add_polled(loop, {RefKind::TcpListen, fds[1], BIT}, {fds[1], 2, 0, false}), 0);
	// Registering the same fd twice fails: nothing is stored.
	EXPECT_LT(s.add_polled(loop, {RefKind::TcpListen, fds[1], BIT}, {fds[1], 3, 0, false}), 0);
	EXPECT_EQ(s.size(), 2u);
	s.close_polled(loop, 0);
	EXPECT_EQ(fcntl(fds[0], F_GETFD), -1); // closed
	EXPECT_EQ(s.next(), 0u);
	EXPECT_EQ(s.add_polled(loop, {RefKind::TcpListen, fds[2], BIT}, {fds[2], 4, 0, true}), 0);
	EXPECT_EQ(s[0].fd, fds[2]);
	// The slot went into the reference: an event on fds[2] names slot 0.
	EpollRef got{};
	loop.set_handler(
		RefKind::TcpListen,
		[](void *p, EpollRef ref, uint32_t, const timespec &) {
			*static_cast<EpollRef *>(p) = ref;
		},
		&got);
	uint64_t one = 1;
	ASSERT_EQ(write(fds[2], &one, sizeof(one)), ssize_t(sizeof(one)));
	loop.run_once(1000);
	EXPECT_EQ(got.fd, fds[2]);
	EXPECT_EQ(got.index, BIT | 0u);
	s.close_all(loop);
	EXPECT_TRUE(s.empty());
	EXPECT_EQ(fcntl(fds[1], F_GETFD), -1);
	EXPECT_EQ(fcntl(fds[2], F_GETFD), -1);
}

// The table is sized at start-up: adds before seal() grow it and keep the
// "auto" room on top; once sealed it never moves or grows, and an add past
// its capacity fails, storing nothing.
TEST(FwdListenerSlots, SealedTableNeverGrows) {
	ListenerSlots<FakeListener> s;
	s.reserve_auto(3);
	EXPECT_GE(s.capacity(), 3u);
	for (int i = 0; i < 40; i++) // start-up: explicit listeners, more than the room
		EXPECT_EQ(s.add({100 + i, uint16_t(i), 0, false}), uint32_t(i));
	EXPECT_GE(s.capacity(), s.size() + 3); // the room is still there
	EXPECT_FALSE(s.full());
	s.seal();
	const FakeListener *base = s.data();
	const size_t cap = s.capacity();
	// Fill the room and what the start-up growth left: no move.
	uint32_t n = 0;
	while (!s.full()) {
		ASSERT_NE(s.add({1000 + int(n), uint16_t(1000 + n), 1, true}),
			  ListenerSlots<FakeListener>::NO_SLOT);
		n++;
	}
	EXPECT_GE(n, 3u);
	EXPECT_EQ(s.size(), cap);
	EXPECT_EQ(s.add({9999, 9999, 1, false}), ListenerSlots<FakeListener>::NO_SLOT);
	EXPECT_EQ(s.size(), cap);
	EXPECT_EQ(s.capacity(), cap);
	EXPECT_EQ(s.data(), base);
	for (const FakeListener &l : s)
		EXPECT_NE(l.fd, 9999); // not stored
	// A freed slot is reused, still without growing; freeing every slot
	// (the free list) allocates nothing either: capacity and data stay.
	s.release(7);
	EXPECT_FALSE(s.full());
	EXPECT_EQ(s.add({7777, 7777, 1, false}), 7u);
	EXPECT_TRUE(s.full());
	for (uint32_t i = 0; i < s.size(); i++)
		s.release(i);
	EXPECT_EQ(s.free_slots(), cap);
	EXPECT_EQ(s.capacity(), cap);
	EXPECT_EQ(s.data(), base);
}

TEST(FwdListenerSlots, AddPolledFailsWhenFullRegistersNothing) {
	EventLoop loop;
	ASSERT_EQ(loop.init(), 0);
	ListenerSlots<FakeListener> s;
	s.reserve_auto(0);
	int a = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), b = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ASSERT_GE(a, 0);
	ASSERT_GE(b, 0);
	ASSERT_EQ(s.add_polled(loop, {RefKind::TcpListen, a, 0}, {a, 1, 0, false}), 0);
	s.seal();
	while (!s.full())
		s.add({-2, 0, 0, false}); // placeholders up to the capacity
	EXPECT_EQ(s.add_polled(loop, {RefKind::TcpListen, b, 0}, {b, 2, 0, false}), -ENOSPC);
	// b was not registered (the caller keeps and closes it): adding it now works.
	EXPECT_EQ(loop.add(b, EPOLLIN, EpollRef{RefKind::TcpListen, b, 0}), 0);
	loop.remove(b);
	close(b);
	s.close_polled(loop, 0);
	EXPECT_EQ(fcntl(a, F_GETFD), -1);
}

// The caller of a full table: fwd_listen_sync() does not call open(), warns
// once per port (until the port goes away from the scan), and the port
// gets a listener as soon as a slot is freed. Nothing grows.
TEST(FwdListenSync, FullTableRefusesWarnsOnceAndRecovers) {
	LogFile log;
	ASSERT_TRUE(log.ok());
	Config c;
	c.ip6.enabled = false;
	PortForward pf;
	pf.kind = PortForward::Kind::Auto;
	PortRule scan = rule(20000, 20010);
	scan.scan = true;
	pf.rules = {scan};
	ListenerSlots<FakeListener> slots;
	slots.reserve_auto(2);
	slots.seal();
	while (slots.capacity() - slots.size() > 2) // leave exactly two slots
		slots.add({-1, 0, 0, false});       // taken, no listener
	const FakeListener *base = slots.data();
	const size_t cap = slots.capacity();
	PortBitmap failed[2];
	FakeOpener open{slots, {}};
	auto close = [&](uint32_t i) { slots.release(i); };
	const size_t room = 2;
	PortBitmap want = ports({20001, 20002, 20003, 20004, 20005, 20006});
	EXPECT_EQ(fwd_listen_sync(c, pf, slots, failed, want, NAMES, open, close, 1000), int(room));
	EXPECT_EQ(open.calls.size(), room); // never called on a full table
	EXPECT_TRUE(slots.full());
	size_t refused = 0;
	for (unsigned p = 20001; p <= 20006; p++)
		refused += failed[0].test(p);
	EXPECT_EQ(refused, 6 - room);
	EXPECT_EQ(log.count("listener slots taken, port"), 6 - room);
	EXPECT_EQ(log.count("port 20006 not forwarded (IPv4)"), 1u);

	// Again: nothing opened, nothing logged, nothing moved.
	EXPECT_EQ(fwd_listen_sync(c, pf, slots, failed, want, NAMES, open, close, 1000), 0);
	EXPECT_EQ(open.calls.size(), room);
	EXPECT_EQ(log.count("listener slots taken, port"), 6 - room);
	EXPECT_EQ(slots.capacity(), cap);
	EXPECT_EQ(slots.data(), base);

	// 20001 goes: its slot goes to the first refused port.
	want.reset(20001);
	EXPECT_EQ(fwd_listen_sync(c, pf, slots, failed, want, NAMES, open, close, 1000), 2);
	EXPECT_EQ(open.calls.size(), room + 1);
	EXPECT_EQ(slots.capacity(), cap);
	EXPECT_EQ(slots.data(), base);
}

// --freebind: the option is set on the socket, and binding an address the
// host doesn't have then works (without it: EADDRNOTAVAIL). No traffic.
TEST(FwdListenFreebind, SetOnlyWithTheOption) {
	for (bool v6 : {false, true}) {
		Config c;
		int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd < 0 && v6)
			continue; // no IPv6 here
		ASSERT_GE(fd, 0);
		const int level = v6 ? IPPROTO_IPV6 : IPPROTO_IP;
		const int name = v6 ? IPV6_FREEBIND : IP_FREEBIND;
		sockaddr_storage ss{};
		socklen_t sl;
		if (v6) {
			auto *s6 = reinterpret_cast<sockaddr_in6 *>(&ss);
			s6->sin6_family = AF_INET6;
			inet_pton(AF_INET6, "2001:db8:5eed::9", &s6->sin6_addr);
			sl = sizeof(*s6);
		} else {
			auto *s4 = reinterpret_cast<sockaddr_in *>(&ss);
			s4->sin_family = AF_INET;
			inet_pton(AF_INET, "203.0.113.9", &s4->sin_addr);
			sl = sizeof(*s4);
		}
		int val = -1;
		socklen_t vl = sizeof(val);
		EXPECT_EQ(fwd_freebind(c, fd, v6), 0);
		ASSERT_EQ(getsockopt(fd, level, name, &val, &vl), 0);
		EXPECT_EQ(val, 0) << "v6 " << v6;
		EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr *>(&ss), sl), -1);
		EXPECT_EQ(errno, EADDRNOTAVAIL);

		c.freebind = true;
		EXPECT_EQ(fwd_freebind(c, fd, v6), 0);
		ASSERT_EQ(getsockopt(fd, level, name, &val, &vl), 0);
		EXPECT_EQ(val, 1) << "v6 " << v6;
		EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr *>(&ss), sl), 0) << strerror(errno);
		close(fd);
	}
}

// Run-time rule changes (-c): fwd_listen_resync() keeps the listeners of
// rules that stay (re-indexed), closes the others, opens the new ones.
TEST(FwdListenResync, KeepsCloseAndOpens) {
	Config c;
	c.ip6.enabled = false; // one family: one listener per port
	PortForward old, now;
	old.rules.push_back(rule(80, 80));
	old.rules.push_back(rule(90, 91));
	fwd_update_kind(old);
	ListenerSlots<FakeListener> slots;
	slots.reserve_auto(16);
	FakeOpener open{slots};
	ASSERT_EQ(fwd_listen_open_rules(c, old, NAMES, 100, slots, open), 0);
	ASSERT_EQ(slots.size(), 3u);
	const int fd80 = slots[0].fd, fd91 = slots[2].fd;

	// New table: 91 (alike, another index), 80 now mapped elsewhere, 100 new.
	PortRule moved = rule(80, 80);
	moved.to_first = 8080;
	now.rules.push_back(rule(100, 100));
	now.rules.push_back(moved);
	now.rules.push_back(rule(91, 91));
	fwd_update_kind(now);
	open.calls.clear();
	std::vector<uint32_t> closed;
	std::vector<std::pair<uint32_t, uint32_t>> rekeyed;
	std::vector<Call> failed;
	open.busy.insert({100, false}); // the new port fails once...
	int changes = fwd_listen_resync(
		c, old, now, slots, NAMES, open,
		[&](uint32_t i) {
			closed.push_back(i);
			slots.release(i);
		},
		[&](uint32_t i, uint32_t ri) {
			rekeyed.emplace_back(i, ri);
			slots[i].rule = ri;
		},
		[&](const PortRule &, uint16_t p, bool v6, int) { failed.emplace_back(0, p, v6); });
	// 80 (target changed) and 90 (gone) closed; 91 kept as rule 2.
	EXPECT_EQ(closed, (std::vector<uint32_t>{0, 1}));
	EXPECT_EQ(rekeyed, (std::vector<std::pair<uint32_t, uint32_t>>{{2, 2}}));
	EXPECT_EQ(slots[2].fd, fd91);
	// ...which is reported, and the walk goes on to 80 under its new rule.
	EXPECT_EQ(failed, (std::vector<Call>{{0, 100, false}}));
	EXPECT_EQ(open.calls, (std::vector<Call>{{0, 100, false}, {1, 80, false}}));
	EXPECT_EQ(changes, 3); // two closed, one opened
	bool reopened80 = false;
	for (const FakeListener &l : slots)
		reopened80 |= l.fd >= 0 && l.port == 80 && l.fd != fd80 && l.rule == 1;
	EXPECT_TRUE(reopened80);

	// The same table again: nothing to do, nothing opened or closed.
	open.busy.clear();
	open.calls.clear();
	closed.clear();
	PortForward same = now;
	changes = fwd_listen_resync(
		c, now, same, slots, NAMES, open, [&](uint32_t i) { closed.push_back(i); },
		[&](uint32_t, uint32_t) {}, [&](const PortRule &, uint16_t, bool, int) {});
	EXPECT_TRUE(closed.empty());
	ASSERT_EQ(open.calls.size(), 1u); // only the port that failed before
	EXPECT_EQ(open.calls[0], (Call{0, 100, false}));
	EXPECT_EQ(changes, 1);
}

TEST(FwdListenResync, ScanRulesWaitForTheScanFullSlotsFail) {
	Config c;
	c.ip6.enabled = false;
	PortForward old, now;
	PortRule scan = rule(1, 1000);
	scan.scan = true;
	now.rules.push_back(scan);
	now.rules.push_back(rule(2000, 2003));
	fwd_update_kind(now);
	ListenerSlots<FakeListener> slots;
	slots.reserve_auto(0); // no room at all
	slots.seal();
	FakeOpener open{slots};
	std::vector<Call> failed;
	fwd_listen_resync(
		c, old, now, slots, NAMES, open, [&](uint32_t) {}, [&](uint32_t, uint32_t) {},
		[&](const PortRule &, uint16_t p, bool v6, int rc) {
			EXPECT_EQ(rc, -ENOSPC);
			failed.emplace_back(0, p, v6);
		});
	// The scanning rule opens nothing now; the others find no slot (a
	// sealed table never grows) and are reported, open() not called.
	EXPECT_TRUE(open.calls.empty());
	EXPECT_EQ(failed,
		  (std::vector<Call>{
			  {0, 2000, false}, {0, 2001, false}, {0, 2002, false}, {0, 2003, false}}));
	EXPECT_EQ(slots.capacity(), 0u);
	EXPECT_TRUE(fwd_rules_listen_alike(rule(5, 9), rule(1, 10), 7));
	EXPECT_FALSE(fwd_rules_listen_alike(rule(5, 9), scan, 7));
}
