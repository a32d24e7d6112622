// /proc/net/{tcp,tcp6,udp,udp6} parsing for pasta's automatic forwarding,
// and the wanted-ports computation: crafted tables (valid, truncated,
// garbage, split across chunks) and a real read of /proc/self/net after
// binding sockets; then tcp_listen_sync() and udp_listen_sync() against
// real sockets in a namespace of their own.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "passt/core/epoll.h"
#include "passt/core/util.h"
#include "passt/flow/flow.h"
#include "passt/fwd/portscan.h"
#include "passt/host/ns.h"
#include "passt/tcp/tcp.h"
#include "passt/udp/udp.h"

using namespace passt;

namespace {

const char *TCP_HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when "
			 "retrnsmt   uid  timeout inode\n";

// One line of /proc/net/tcp as the kernel prints it.
std::string tcp4_line(int slot, const char *laddr, unsigned lport, unsigned rport, unsigned st) {
	char b[256];
	snprintf(b, sizeof(b),
		 "%4d: %s:%04X 00000000:%04X %02X 00000000:00000000 00:00000000 00000000"
		 "     0        0 %d 1 0000000000000000 100 0 0 10 0\n",
		 slot, laddr, lport, rport, st, 1000 + slot);
	return b;
}

std::string tcp6_line(int slot, unsigned lport, unsigned st) {
	char b[256];
	snprintf(b, sizeof(b),
		 "%4d: 00000000000000000000000000000000:%04X "
		 "00000000000000000000000000000000:0000 %02X 00000000:00000000 00:00000000 "
		 "00000000     0        0 %d 1 0000000000000000 100 0 0 10 0\n",
		 slot, lport, st, 2000 + slot);
	return b;
}

std::vector<unsigned> ports_of(const PortBitmap &b) {
	std::vector<unsigned> v;
	for (unsigned p = 0; p < 65536; p++)
		if (b.test(p))
			v.push_back(p);
	return v;
}

} // namespace

TEST(ProcNetParse, ListeningTcpPorts) {
	std::string t = TCP_HEADER;
	t += tcp4_line(0, "0100007F", 8080, 0, 0x0a);     // listening on 127.0.0.1
	t += tcp4_line(1, "00000000", 22, 0, 0x0a);       // listening on any
	t += tcp4_line(2, "0100007F", 40000, 8080, 0x01); // established: not listening
	t += tcp4_line(3, "0100007F", 5555, 0, 0x07);     // closed
	PortBitmap b;
	EXPECT_EQ(fwd_procnet_parse(t, PROCNET_TCP_LISTEN, b), 2u);
	EXPECT_EQ(ports_of(b), (std::vector<unsigned>{22, 8080}));
}

TEST(ProcNetParse, Tcp6AndLowercaseHex) {
	std::string t = TCP_HEADER;
	t += tcp6_line(0, 0xabcd, 0x0a);
	t += "   1: 00000000000000000000000000000000:beef 00000000000000000000000000000000:0000 0a "
	     "00000000:00000000 00:00000000 00000000     0        0 1 1\n";
	PortBitmap b;
	EXPECT_EQ(fwd_procnet_parse(t, PROCNET_TCP_LISTEN, b), 2u);
	EXPECT_EQ(ports_of(b), (std::vector<unsigned>{0xabcd, 0xbeef}));
}

TEST(ProcNetParse, UdpUnconnectedOnly) {
	std::string t = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when "
			"retrnsmt   uid  timeout inode ref pointer drops\n";
	t += tcp4_line(0, "00000000", 53, 0, 0x07);     // bound, unconnected
	t += tcp4_line(1, "0100007F", 40001, 53, 0x01); // connected client
	t += tcp6_line(2, 5353, 0x07);
	PortBitmap b;
	EXPECT_EQ(fwd_procnet_parse(t, PROCNET_UDP_UNCONNECTED, b), 2u);
	EXPECT_EQ(ports_of(b), (std::vector<unsigned>{53, 5353}));
}

TEST(ProcNetParse, AddsToExistingBits) {
	PortBitmap b;
	b.set(7);
	fwd_procnet_parse(tcp4_line(0, "00000000", 9, 0, 0x0a), PROCNET_TCP_LISTEN, b);
	EXPECT_EQ(ports_of(b), (std::vector<unsigned>{7, 9}));
}

TEST(ProcNetParse, TruncatedLinesIgnored) {
	std::string full = tcp4_line(0, "00000000", 1234, 0, 0x0a);
	// Every cut of the line before the field after "st" must not be taken.
	size_t st_end = full.find(" 0A ") + 3;
	for (size_t n = 0; n <= st_end; n++) {
		PortBitmap b;
		ProcNetParser p(PROCNET_TCP_LISTEN, b);
		p.feed(std::string_view(full).substr(0, n));
		p.finish();
		EXPECT_TRUE(b.none()) << "cut at " << n << ": '" << full.substr(0, n) << "'";
		EXPECT_EQ(p.matched(), 0u);
	}
	// A cut after the queues field is still a usable entry.
	PortBitmap b;
	fwd_procnet_parse(full.substr(0, st_end + 10), PROCNET_TCP_LISTEN, b); // " 00000000:"
	EXPECT_EQ(ports_of(b), (std::vector<unsigned>{1234}));
}

TEST(ProcNetParse, GarbageIgnored) {
	const char *bad[] = {
		"garbage\n",
		"   0: \n",
		"   0: 00000000:1F90\n",
		"   0: 0000000:1F90 00000000:0000 0A 00000000:00000000\n",   // 7-digit address
		"   0: 000000000:1F90 00000000:0000 0A 00000000:00000000\n", // 9-digit address
		"   0: 0000000G:1F90 00000000:0000 0A 00000000:00000000\n",  // not hex
		"   0: 00000000:11F90 00000000:0000 0A 00000000:00000000\n", // 5-digit port
		"   0: 00000000: 00000000:0000 0A 00000000:00000000\n",      // no port
		"   0: 00000000-1F90 00000000:0000 0A 00000000:00000000\n",  // no colon
		"   0: 00000000:1F90 00000000:0000 A 00000000:00000000\n",   // 1-digit state
		"   0: 00000000:1F90 00000000:0000 0AA 00000000:00000000\n", // 3-digit state
		"   0: 00000000:1F90 00000000:0000 0Z 00000000:00000000\n",  // bad state
		"   0: 00000000:1F90 00000000:0000 0A 0000000000000000\n",   // bad queues
		"   0: 00000000:1F90 zzzz 0A 00000000:00000000\n",           // bad remote
		"   x: 00000000:1F90 00000000:0000 0A 00000000:00000000\n",  // bad slot
		"   0 00000000:1F90 00000000:0000 0A 00000000:00000000\n",   // slot w/o colon
		"   0: 00000000:0000 00000000:0000 0A 00000000:00000000\n",  // port 0
		"\x01\x02\xff\xfe:\n",
	};
	std::string all = TCP_HEADER;
	for (const char *l : bad) {
		PortBitmap b;
		ProcNetParser p(PROCNET_TCP_LISTEN, b);
		p.feed(TCP_HEADER);
		p.feed(l);
		p.finish();
		EXPECT_TRUE(b.none()) << l;
		EXPECT_EQ(p.matched(), 0u) << l;
		all += l;
	}
	// Garbage between good lines does not hide them.
	all += tcp4_line(5, "00000000", 8000, 0, 0x0a);
	all += "\n\n";
	all += "nonsense line without a newline at the end";
	PortBitmap b;
	ProcNetParser p(PROCNET_TCP_LISTEN, b);
	p.feed(all);
	p.finish();
	EXPECT_EQ(ports_of(b), (std::vector<unsigned>{8000}));
	EXPECT_EQ(p.matched(), 1u);
	// Every listed line but "port 0" (well-formed) and the header counts.
	EXPECT_EQ(p.malformed(), std::size(bad) - 1 + 1);
}

TEST(ProcNetParse, OverlongLineSkipped) {
	std::string t = TCP_HEADER;
	std::string longl = tcp4_line(0, "00000000", 1111, 0, 0x0a);
	longl.insert(longl.size() - 1, std::string(PROCNET_LINE_MAX, ' '));
	t += longl;
	t += tcp4_line(1, "00000000", 2222, 0, 0x0a);
	PortBitmap b;
	ProcNetParser p(PROCNET_TCP_LISTEN, b);
	p.feed(t);
	p.finish();
	EXPECT_EQ(ports_of(b), (std::vector<unsigned>{2222}));
	EXPECT_EQ(p.malformed(), 1u);
}

TEST(ProcNetParse, ChunkBoundariesAnywhere) {
	std::string t = TCP_HEADER;
	for (int i = 0; i < 20; i++)
		t += tcp4_line(i, "0100007F", 3000 + unsigned(i) * 7, 0, i % 3 ? 0x0a : 0x01);
	PortBitmap whole;
	size_t n = fwd_procnet_parse(t, PROCNET_TCP_LISTEN, whole);
	EXPECT_EQ(n, 13u);
	for (size_t chunk : {1, 2, 3, 7, 64, 150, 151, 4096}) {
		PortBitmap b;
		ProcNetParser p(PROCNET_TCP_LISTEN, b);
		for (size_t off = 0; off < t.size(); off += chunk)
			p.feed(std::string_view(t).substr(off, chunk));
		p.finish();
		EXPECT_EQ(b, whole) << "chunk " << chunk;
		EXPECT_EQ(p.malformed(), 0u) << "chunk " << chunk;
	}
}

TEST(ProcNetParse, ReadFromFile) {
	char path[] = "/tmp/portscan_test_XXXXXX";
	int fd = mkstemp(path);
	ASSERT_GE(fd, 0);
	unlink(path);
	std::string t = TCP_HEADER;
	for (int i = 0; i < 400; i++) // larger than the read buffer
		t += tcp4_line(i, "00000000", 10000 + unsigned(i), 0, 0x0a);
	ASSERT_EQ(write_all(fd, t.data(), t.size()), 0);
	PortBitmap b;
	EXPECT_EQ(fwd_procnet_read_fd(fd, PROCNET_TCP_LISTEN, b), 400);
	EXPECT_EQ(b.count(), 400u);
	EXPECT_TRUE(b.test(10000));
	EXPECT_TRUE(b.test(10399));
	// Reads again from the start.
	PortBitmap b2;
	EXPECT_EQ(fwd_procnet_read_fd(fd, PROCNET_TCP_LISTEN, b2), 400);
	close(fd);
	EXPECT_LT(fwd_procnet_read_fd(-1, PROCNET_TCP_LISTEN, b2), 0);
}

namespace {

// Bound (and for TCP, listening) socket on an ephemeral loopback port.
int bound_socket(int family, int type, uint16_t *port) {
	int fd = socket(family, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	sockaddr_storage ss{};
	socklen_t len;
	if (family == AF_INET) {
		auto *sa = reinterpret_cast<sockaddr_in *>(&ss);
		sa->sin_family = AF_INET;
		sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*sa);
	} else {
		auto *sa = reinterpret_cast<sockaddr_in6 *>(&ss);
		sa->sin6_family = AF_INET6;
		sa->sin6_addr = in6addr_loopback;
		len = sizeof(*sa);
	}
	if (bind(fd, reinterpret_cast<sockaddr *>(&ss), len) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 1) < 0) ||
	    getsockname(fd, reinterpret_cast<sockaddr *>(&ss), &len) < 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in *>(&ss)->sin_port
					: reinterpret_cast<sockaddr_in6 *>(&ss)->sin6_port);
	return fd;
}

} // namespace

TEST(PortScanner, RealProcSelfNet) {
	uint16_t tport = 0, uport = 0, t6port = 0;
	int t = bound_socket(AF_INET, SOCK_STREAM, &tport);
	int u = bound_socket(AF_INET, SOCK_DGRAM, &uport);
	ASSERT_GE(t, 0) << strerror(errno);
	ASSERT_GE(u, 0) << strerror(errno);
	int t6 = bound_socket(AF_INET6, SOCK_STREAM, &t6port); // may fail without IPv6

	PortScanner s;
	ASSERT_GT(s.open_dir("/proc/self/net"), 0);
	PortBitmap tcp, udp;
	EXPECT_EQ(s.scan_tcp(tcp), 0);
	EXPECT_EQ(s.scan_udp(udp), 0);
	EXPECT_TRUE(tcp.test(tport));
	EXPECT_TRUE(udp.test(uport));
	if (t6 >= 0) {
		EXPECT_TRUE(tcp.test(t6port));
	}

	// Closing the sockets takes the ports away on the next scan.
	close(t);
	close(u);
	if (t6 >= 0)
		close(t6);
	EXPECT_EQ(s.scan_tcp(tcp), 0);
	EXPECT_EQ(s.scan_udp(udp), 0);
	EXPECT_FALSE(tcp.test(tport));
	EXPECT_FALSE(udp.test(uport));
	if (t6 >= 0) {
		EXPECT_FALSE(tcp.test(t6port));
	}
}

TEST(PortScanner, OpenSelfAndAdopt) {
	int fds[PortScanner::Count];
	ASSERT_GT(fwd_scan_open_self(fds), 0);
	uint16_t port = 0;
	int t = bound_socket(AF_INET, SOCK_STREAM, &port);
	ASSERT_GE(t, 0);
	PortScanner s;
	s.adopt(fds);
	EXPECT_TRUE(s.any_open());
	PortBitmap tcp;
	EXPECT_EQ(s.scan_tcp(tcp), 0);
	EXPECT_TRUE(tcp.test(port));
	close(t);
	s.close_all();
	EXPECT_FALSE(s.any_open());
	EXPECT_LT(s.scan_tcp(tcp), 0);
}

TEST(PortScanner, MissingDirectory) {
	PortScanner s;
	EXPECT_LT(s.open_dir("/nonexistent/net"), 0);
	EXPECT_FALSE(s.any_open());
}

TEST(PortscanWant, ScanRulesOnly) {
	PortForward f;
	PortRule spec; // explicit, not scanning: never in want
	spec.first = spec.last = spec.to_first = 8080;
	PortRule a1;
	a1.first = 1;
	a1.last = 1000;
	a1.to_first = 1;
	a1.scan = true;
	a1.weak = true;
	PortRule a2 = a1; // mapped: listen on 2000-2009 for 3000-3009
	a2.first = 2000;
	a2.last = 2009;
	a2.to_first = 3000;
	PortRule ex;
	ex.first = 500;
	ex.last = 600;
	ex.to_first = 500;
	ex.exclude = true;
	f.rules = {spec, a1, a2, ex};
	EXPECT_TRUE(fwd_scan_needed(f));

	PortBitmap bound, want;
	// 2003 is bound but a2 listens on it for 3003; 3005 makes 2005 wanted.
	for (unsigned p : {22u, 550u, 1001u, 2003u, 3005u, 8080u, 65535u})
		bound.set(p);
	want.set(12345); // cleared
	fwd_scan_want(f, bound, want);
	EXPECT_EQ(ports_of(want), (std::vector<unsigned>{22, 2005}));
	// Ports the reverse direction listens on in the namespace are ours.
	PortForward rev;
	PortRule rspec;
	rspec.first = 20;
	rspec.last = 25;
	rspec.to_first = 20;
	PortRule rscan = a1; // scanning reverse rules bind nothing of ours there
	rev.rules = {rspec, rscan};
	PortBitmap masked = bound;
	fwd_scan_mask_reverse(rev, masked);
	EXPECT_FALSE(masked.test(22));
	EXPECT_EQ(masked.count(), bound.count() - 1);
	fwd_scan_want(f, masked, want);
	EXPECT_EQ(ports_of(want), (std::vector<unsigned>{2005}));
	// A configuration without scanning rules wants nothing.
	PortForward g;
	g.rules = {spec};
	EXPECT_FALSE(fwd_scan_needed(g));
	fwd_scan_want(g, bound, want);
	EXPECT_TRUE(want.none());
}

// The tables of another namespace, by PID and through the helper (as for
// --netns without a PID): a socket listening there shows up, one listening
// here does not.
TEST(PortScanner, OtherNamespace) {
	fflush(nullptr);
	pid_t child = fork();
	ASSERT_GE(child, 0);
	if (child == 0) {
		alarm(20);
		NsHandle ns;
		NsCommand cmd;
		std::string err;
		if (ns_spawn_command({"sleep", "30"}, NsSpawn{}, &ns, &cmd, &err) < 0)
			_exit(77); // no user namespaces here
		int rc = 0;
		auto check = [&](bool ok, const char *what) {
			if (!ok && !rc) {
				fprintf(stderr, "OtherNamespace: %s\n", what);
				rc = 1;
			}
		};
		uint16_t here = 0, there = 0;
		int h = bound_socket(AF_INET, SOCK_STREAM, &here);
		check(h >= 0, "socket here");
		int t = ns_socket(ns, AF_INET, SOCK_STREAM, 0);
		check(t >= 0, "socket in the namespace");
		sockaddr_in sa{};
		sa.sin_family = AF_INET;
		socklen_t len = sizeof(sa);
		check(bind(t, reinterpret_cast<sockaddr *>(&sa), len) == 0 && listen(t, 1) == 0 &&
			      getsockname(t, reinterpret_cast<sockaddr *>(&sa), &len) == 0,
		      "listen in the namespace");
		there = ntohs(sa.sin_port);

		PortScanner by_pid, by_helper;
		check(fwd_scan_open_ns(ns, by_pid) > 0, "open by PID");
		NsHandle path_only = ns;
		path_only.pid = 0;
		check(fwd_scan_open_ns(path_only, by_helper) > 0, "open through the helper");
		for (PortScanner *s : {&by_pid, &by_helper}) {
			PortBitmap b;
			check(s->scan_tcp(b) == 0, "scan");
			check(b.test(there), "namespace port missing");
			check(!b.test(here), "our own port listed");
		}
		close(t);
		PortBitmap b;
		check(by_helper.scan_tcp(b) == 0 && !b.test(there), "closed port still listed");
		close(h);
		ns_kill_command(&cmd);
		_exit(rc);
	}
	int st = 0;
	while (waitpid(child, &st, 0) < 0 && errno == EINTR)
		;
	ASSERT_TRUE(WIFEXITED(st)) << "child killed by signal " << WTERMSIG(st);
	if (WEXITSTATUS(st) == 77)
		GTEST_SKIP() << "no user namespaces";
	EXPECT_EQ(WEXITSTATUS(st), 0);
}

// ---- tcp_listen_sync() / udp_listen_sync(), in a namespace of their own ----

namespace {

class NullTap final : public TapOutput {
public:
	bool send_frame(std::span<const std::byte>) override {
		frames++;
		return true;
	}
	void flush() override {}
	unsigned frames = 0;
};

bool write_text(const char *path, const char *text) {
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = write(fd, text, strlen(text));
	close(fd);
	return n == ssize_t(strlen(text));
}

// New user + network namespace with lo up; 77 if unavailable.
int enter_own_netns() {
	uid_t uid = getuid();
	gid_t gid = getgid();
	if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0)
		return 77;
	char map[64];
	snprintf(map, sizeof(map), "0 %u 1", unsigned(uid));
	if (!write_text("/proc/self/uid_map", map))
		return 77;
	write_text("/proc/self/setgroups", "deny");
	snprintf(map, sizeof(map), "0 %u 1", unsigned(gid));
	if (!write_text("/proc/self/gid_map", map))
		return 77;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ifreq ifr{};
	strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
	bool ok = s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0;
	ifr.ifr_flags = short(ifr.ifr_flags | IFF_UP);
	ok = ok && ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
	if (s >= 0)
		close(s);
	return ok ? 0 : 1;
}

// Runs body in a forked child in its own namespace, bounded by alarm().
void run_in_netns(int (*body)()) {
	fflush(nullptr);
	pid_t child = fork();
	ASSERT_GE(child, 0);
	if (child == 0) {
		alarm(20);
		int rc = enter_own_netns();
		_exit(rc ? rc : body());
	}
	int st = 0;
	while (waitpid(child, &st, 0) < 0 && errno == EINTR)
		;
	ASSERT_TRUE(WIFEXITED(st)) << "child killed by signal " << WTERMSIG(st);
	if (WEXITSTATUS(st) == 77)
		GTEST_SKIP() << "no user namespaces";
	EXPECT_EQ(WEXITSTATUS(st), 0);
}

#define CK(cond)                                                                                 \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			return 1;                                                                \
		}                                                                                \
	} while (0)

Config sync_config() {
	Config c;
	c.ip4.addr = Ipv4Addr::parse("192.0.2.2").value();
	c.ip4.prefix_len = 24;
	c.ip4.gw = Ipv4Addr::parse("192.0.2.1").value();
	c.ip4.map_host_loopback = c.ip4.gw;
	c.ip6.enabled = false; // one listener per port keeps the counts plain
	PortRule spec;         // explicit port next to the scanning rule
	spec.first = spec.last = spec.to_first = 7000;
	PortRule scan;
	scan.first = 20000;
	scan.last = 20010;
	scan.to_first = 20000;
	scan.scan = scan.weak = true;
	PortRule excl;
	excl.first = excl.last = excl.to_first = 20008;
	excl.exclude = true;
	for (PortForward *f : {&c.tcp_in, &c.udp_in}) {
		f->rules = {spec, scan, excl};
		f->kind = PortForward::Kind::Auto;
	}
	return c;
}

PortBitmap ports(std::initializer_list<unsigned> l) {
	PortBitmap b;
	for (unsigned p : l)
		b.set(p);
	return b;
}

// Ports listening (TCP) or bound unconnected (UDP) here, by the scanner.
PortBitmap bound_here(bool tcp) {
	PortScanner s;
	PortBitmap b;
	if (s.open_dir("/proc/self/net") <= 0 || (tcp ? s.scan_tcp(b) : s.scan_udp(b)) < 0)
		b.set(0); // never set otherwise: makes comparisons fail
	return b;
}

int tcp_sync_body() {
	Config c = sync_config();
	TapState tap;
	NullTap out;
	EventLoop loop;
	FlowTable flows;
	CK(loop.init() == 0 && flows.init(64) == 0);
	TcpCtx ctx{c, tap, out, loop, flows};
	CK(tcp_init(ctx) == 0);
	CK(ctx.listeners.size() == 1 && ctx.listeners[0].port == 7000);
	CK(bound_here(true) == ports({7000}));

	CK(tcp_listen_sync(ctx, ports({20001, 20005, 7000})) == 2);
	CK(bound_here(true) == ports({7000, 20001, 20005}));
	size_t slot5 = 0;
	for (size_t i = 0; i < ctx.listeners.size(); i++)
		if (ctx.listeners[i].port == 20005)
			slot5 = i;
	int fd5 = ctx.listeners[slot5].fd;
	CK(fd5 >= 0);

	// An accepted connection outlives its listener: connect to 20001 and
	// keep the accepted socket as a flow would.
	int cl = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sockaddr_in sa{};
	sa.sin_family = AF_INET;
	sa.sin_port = htons(20001);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CK(connect(cl, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)) == 0);
	int lfd1 = -1;
	for (const TcpListener &l : ctx.listeners)
		if (l.port == 20001)
			lfd1 = l.fd;
	int acc = accept4(lfd1, nullptr, nullptr, SOCK_CLOEXEC);
	CK(acc >= 0);

	// 20001 goes, 20007 comes: same slot count, 20005 untouched.
	CK(tcp_listen_sync(ctx, ports({20005, 20007})) == 2);
	CK(ctx.listeners.size() == 3);
	CK(ctx.listeners[slot5].fd == fd5 && ctx.listeners[slot5].port == 20005);
	CK(bound_here(true) == ports({7000, 20005, 20007}));
	CK(write(cl, "x", 1) == 1);
	char ch = 0;
	CK(read(acc, &ch, 1) == 1 && ch == 'x');
	CK(connect(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0),
		   reinterpret_cast<sockaddr *>(&sa), sizeof(sa)) < 0 &&
	   errno == ECONNREFUSED);
	close(acc);
	close(cl);

	// Idempotent; excluded and out-of-range ports are never opened.
	CK(tcp_listen_sync(ctx, ports({20005, 20007, 20008, 30000})) == 0);
	CK(bound_here(true) == ports({7000, 20005, 20007}));

	// A port already taken on the host is skipped (and retried later).
	int busy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sa.sin_port = htons(20009);
	sa.sin_addr.s_addr = htonl(INADDR_ANY);
	CK(bind(busy, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)) == 0 && listen(busy, 1) == 0);
	CK(tcp_listen_sync(ctx, ports({20009})) == 2); // two closed, none opened
	CK(ctx.auto_failed[0].test(20009));
	close(busy);
	CK(tcp_listen_sync(ctx, ports({20009})) == 1);
	CK(!ctx.auto_failed[0].test(20009));
	CK(bound_here(true) == ports({7000, 20009}));

	// Everything gone: only the explicit port stays.
	CK(tcp_listen_sync(ctx, PortBitmap()) == 1);
	CK(bound_here(true) == ports({7000}));
	tcp_fini(ctx);
	CK(bound_here(true) == ports({}));
	return 0;
}

int udp_sync_body() {
	Config c = sync_config();
	TapState tap;
	NullTap out;
	EventLoop loop;
	FlowTable flows;
	CK(loop.init() == 0 && flows.init(64) == 0);
	UdpCtx ctx{c, tap, out, loop, flows};
	CK(udp_init(ctx) == 0);
	CK(ctx.listeners.size() == 1);
	CK(bound_here(false) == ports({7000}));
	CK(udp_listen_sync(ctx, ports({20002, 20003})) == 2);
	CK(bound_here(false) == ports({7000, 20002, 20003}));

	// A host peer writes to 20002: an inbound flow replying through it.
	int peer = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	sockaddr_in sa{};
	sa.sin_family = AF_INET;
	sa.sin_port = htons(20002);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	// (connected, so that its own port is not "bound" for the scanner)
	CK(connect(peer, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)) == 0);
	CK(send(peer, "hi", 2, 0) == 2);
	for (int i = 0; i < 50 && !ctx.stats.flows_opened; i++)
		loop.run_once(20);
	CK(ctx.stats.flows_opened == 1 && out.frames == 1);

	// 20002 goes: its socket and the flow using it are closed.
	CK(udp_listen_sync(ctx, ports({20003, 20004})) == 2);
	CK(ctx.stats.flows_closed == 1);
	CK(bound_here(false) == ports({7000, 20003, 20004}));
	CK(udp_listen_sync(ctx, ports({20003, 20004, 20008})) == 0);
	CK(udp_listen_sync(ctx, PortBitmap()) == 2);
	CK(bound_here(false) == ports({7000}));
	close(peer);
	udp_close_all(ctx);
	return 0;
}

} // namespace

TEST(ListenSync, Tcp) { run_in_netns(tcp_sync_body); }
TEST(ListenSync, Udp) { run_in_netns(udp_sync_body); }

// ---- -T auto: only sockets on the loopback or the any-address count --------

namespace {

// An address column as the kernel prints it: each 32-bit word of the
// network-order bytes with %08X, in this machine's byte order.
std::string proc_addr(const uint8_t *b, size_t len) {
	std::string s;
	for (size_t w = 0; w < len / 4; w++) {
		uint32_t v;
		memcpy(&v, b + w * 4, 4);
		char x[9];
		snprintf(x, sizeof(x), "%08X", v);
		s += x;
	}
	return s;
}

std::string line_for(int slot, const uint8_t *addr, size_t len, unsigned port, unsigned st) {
	char b[300];
	std::string zero(len * 2, '0');
	snprintf(b, sizeof(b),
		 "%4d: %s:%04X %s:0000 %02X 00000000:00000000 00:00000000 00000000"
		 "     0        0 %d 1\n",
		 slot, proc_addr(addr, len).c_str(), port, zero.c_str(), st, 3000 + slot);
	return b;
}

} // namespace

TEST(ProcNetParse, LoopbackOrAnyIpv4) {
	const uint8_t lo[4] = {127, 0, 0, 1}, lo2[4] = {127, 1, 2, 3}, any[4] = {0, 0, 0, 0};
	const uint8_t pub[4] = {192, 0, 2, 2}, rev[4] = {1, 0, 0, 127}; // not 127/8
	std::string t = TCP_HEADER;
	t += line_for(0, lo, 4, 1001, 0x0a);
	t += line_for(1, lo2, 4, 1002, 0x0a);
	t += line_for(2, any, 4, 1003, 0x0a);
	t += line_for(3, pub, 4, 1004, 0x0a);
	t += line_for(4, rev, 4, 1005, 0x0a);
	t += line_for(5, lo, 4, 1006, 0x01); // loopback, but not listening
	PortBitmap all, local;
	EXPECT_EQ(fwd_procnet_parse(t, PROCNET_TCP_LISTEN, all), 5u);
	EXPECT_EQ(ports_of(all), (std::vector<unsigned>{1001, 1002, 1003, 1004, 1005}));
	EXPECT_EQ(fwd_procnet_parse(t, PROCNET_TCP_LISTEN, local, ProcNetAddr::LoopbackOrAny), 3u);
	EXPECT_EQ(ports_of(local), (std::vector<unsigned>{1001, 1002, 1003}));
}

TEST(ProcNetParse, LoopbackOrAnyIpv6) {
	uint8_t any[16] = {}, lo[16] = {}, mapped_lo[16] = {}, mapped_pub[16] = {};
	uint8_t two[16] = {}, doc[16] = {0x20, 0x01, 0x0d, 0xb8};
	lo[15] = 1;
	two[15] = 2; // ::2 is neither
	doc[15] = 1;
	mapped_lo[10] = mapped_lo[11] = 0xff;
	mapped_lo[12] = 127;
	mapped_lo[15] = 1;
	memcpy(mapped_pub, mapped_lo, 12);
	mapped_pub[12] = 192;
	mapped_pub[14] = 2;
	std::string t = TCP_HEADER;
	t += line_for(0, any, 16, 2001, 0x0a);
	t += line_for(1, lo, 16, 2002, 0x0a);
	t += line_for(2, mapped_lo, 16, 2003, 0x0a);
	t += line_for(3, mapped_pub, 16, 2004, 0x0a);
	t += line_for(4, two, 16, 2005, 0x0a);
	t += line_for(5, doc, 16, 2006, 0x0a);
	PortBitmap local;
	EXPECT_EQ(fwd_procnet_parse(t, PROCNET_TCP_LISTEN, local, ProcNetAddr::LoopbackOrAny), 3u);
	EXPECT_EQ(ports_of(local), (std::vector<unsigned>{2001, 2002, 2003}));
}

TEST(ProcNetParse, LoopbackOrAnyMalformedStillSkipped) {
	const uint8_t lo[4] = {127, 0, 0, 1};
	std::string good = line_for(0, lo, 4, 4242, 0x0a);
	std::string t = TCP_HEADER;
	t += good.substr(0, 12) + "\n";                    // cut inside the address
	t += "   1: 0100007G:1092 00000000:0000 0A x:y\n"; // not hex
	PortBitmap local;
	ProcNetParser p(PROCNET_TCP_LISTEN, local, ProcNetAddr::LoopbackOrAny);
	p.feed(t);
	p.finish();
	EXPECT_EQ(p.matched(), 0u);
	EXPECT_EQ(p.malformed(), 2u);
	EXPECT_TRUE(local.none());
	// A good line split anywhere is still found.
	for (size_t cut = 1; cut < good.size(); cut += 7) {
		PortBitmap b;
		ProcNetParser q(PROCNET_TCP_LISTEN, b, ProcNetAddr::LoopbackOrAny);
		q.feed(good.substr(0, cut));
		q.feed(good.substr(cut));
		q.finish();
		EXPECT_TRUE(b.test(4242)) << "cut at " << cut;
	}
}

TEST(PortScanner, RealLoopbackOnly) {
	// A listener on 127.0.0.1 counts; the same kind of socket bound to a
	// non-loopback address would not, but a test process may have none,
	// so that side is covered by the parser tests above.
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_GE(fd, 0);
	sockaddr_in sa{};
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)), 0);
	ASSERT_EQ(listen(fd, 1), 0);
	socklen_t sl = sizeof(sa);
	ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr *>(&sa), &sl), 0);
	uint16_t port = ntohs(sa.sin_port);
	PortScanner s;
	ASSERT_GT(s.open_dir("/proc/self/net"), 0);
	PortBitmap b;
	EXPECT_EQ(s.scan_tcp(b, ProcNetAddr::LoopbackOrAny), 0);
	EXPECT_TRUE(b.test(port));
	close(fd);
	EXPECT_EQ(s.scan_tcp(b, ProcNetAddr::LoopbackOrAny), 0);
	EXPECT_FALSE(b.test(port));
}

// ---- -U auto: the host's UDP sockets on the loopback or the any-address ----

TEST(ProcNetParse, UdpLoopbackOrAny) {
	const uint8_t lo[4] = {127, 0, 0, 1}, any[4] = {}, pub[4] = {192, 0, 2, 2};
	uint8_t lo6[16] = {}, pub6[16] = {0x20, 0x01, 0x0d, 0xb8};
	lo6[15] = 1;
	pub6[15] = 1;
	std::string t = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when "
			"retrnsmt   uid  timeout inode ref pointer drops\n";
	t += line_for(0, lo, 4, 5001, 0x07);
	t += line_for(1, any, 4, 5002, 0x07);
	t += line_for(2, pub, 4, 5003, 0x07); // bound elsewhere: not for -U
	t += line_for(3, lo, 4, 5004, 0x01);  // connected (a flow's socket)
	t += line_for(4, lo6, 16, 5005, 0x07);
	t += line_for(5, pub6, 16, 5006, 0x07); // not for -U
	t += line_for(6, lo6, 16, 5007, 0x01);  // connected
	t += line_for(7, lo, 4, 5008, 0x0a);    // a TCP state: not a bound UDP socket
	PortBitmap all, local;
	EXPECT_EQ(fwd_procnet_parse(t, PROCNET_UDP_UNCONNECTED, all), 5u);
	EXPECT_EQ(ports_of(all), (std::vector<unsigned>{5001, 5002, 5003, 5005, 5006}));
	EXPECT_EQ(fwd_procnet_parse(t, PROCNET_UDP_UNCONNECTED, local, ProcNetAddr::LoopbackOrAny),
		  3u);
	EXPECT_EQ(ports_of(local), (std::vector<unsigned>{5001, 5002, 5005}));
}

namespace {

// A UDP socket bound to addr (IPv4, host order; freebind lets it be any
// address), connected to the loopback at peer unless 0. Its port in *port.
int udp_on(uint32_t addr, uint16_t peer, uint16_t *port) {
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
	sockaddr_in sa{};
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(addr);
	socklen_t sl = sizeof(sa);
	bool ok = bind(fd, reinterpret_cast<sockaddr *>(&sa), sl) == 0 &&
		  getsockname(fd, reinterpret_cast<sockaddr *>(&sa), &sl) == 0;
	*port = ntohs(sa.sin_port);
	if (ok && peer) {
		sockaddr_in to{};
		to.sin_family = AF_INET;
		to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		to.sin_port = htons(peer);
		ok = connect(fd, reinterpret_cast<sockaddr *>(&to), sizeof(to)) == 0;
	}
	if (!ok) {
		close(fd);
		return -1;
	}
	return fd;
}

} // namespace

// The real tables: unconnected sockets on 127.0.0.1 and 0.0.0.0 count for
// -U auto, one on another address doesn't, and a connected one (what our
// own flow sockets are) counts for neither scan.
TEST(PortScanner, RealUdpLoopbackOnly) {
	uint16_t plo = 0, pany = 0, ppub = 0, pconn = 0, pconn_any = 0;
	int lo = udp_on(INADDR_LOOPBACK, 0, &plo);
	int any = udp_on(INADDR_ANY, 0, &pany);
	int pub = udp_on(0xc0000207, 0, &ppub); // 192.0.2.7, with IP_FREEBIND
	int conn = udp_on(INADDR_LOOPBACK, plo, &pconn);
	int conn_any = udp_on(INADDR_ANY, pany, &pconn_any);
	ASSERT_GE(lo, 0) << strerror(errno);
	ASSERT_GE(any, 0) << strerror(errno);
	ASSERT_GE(conn, 0) << strerror(errno);
	ASSERT_GE(conn_any, 0) << strerror(errno);
	PortScanner s;
	ASSERT_GT(s.open_dir("/proc/self/net"), 0);
	PortBitmap all, local;
	EXPECT_EQ(s.scan_udp(all), 0);
	EXPECT_EQ(s.scan_udp(local, ProcNetAddr::LoopbackOrAny), 0);
	EXPECT_TRUE(local.test(plo));
	EXPECT_TRUE(local.test(pany));
	EXPECT_FALSE(local.test(pconn));
	EXPECT_FALSE(local.test(pconn_any));
	EXPECT_FALSE(all.test(pconn));
	EXPECT_FALSE(all.test(pconn_any));
	if (pub >= 0) {
		EXPECT_TRUE(all.test(ppub));
		EXPECT_FALSE(local.test(ppub));
		close(pub);
	}
	for (int fd : {lo, any, conn, conn_any})
		close(fd);
	EXPECT_EQ(s.scan_udp(local, ProcNetAddr::LoopbackOrAny), 0);
	EXPECT_FALSE(local.test(plo));
	EXPECT_FALSE(local.test(pany));
}

// ---- sock_diag: the same answers as the tables, without them ----

namespace {

// A socket bound to addr (IPv4 or IPv6 text), port 0; listening if TCP,
// connected to itself if connect_self (an established TCP pair or a
// connected UDP socket, neither of which may be listed). Port in *port.
int diag_sock(const char *addr, int type, bool connect_self, uint16_t *port, int *peer) {
	sockaddr_storage ss{};
	socklen_t len;
	int family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	if (family == AF_INET) {
		auto *sa = reinterpret_cast<sockaddr_in *>(&ss);
		sa->sin_family = AF_INET;
		inet_pton(AF_INET, addr, &sa->sin_addr);
		len = sizeof(*sa);
	} else {
		auto *sa = reinterpret_cast<sockaddr_in6 *>(&ss);
		sa->sin6_family = AF_INET6;
		inet_pton(AF_INET6, addr, &sa->sin6_addr);
		len = sizeof(*sa);
	}
	int fd = socket(family, type | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, reinterpret_cast<sockaddr *>(&ss), len) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 4) < 0) ||
	    getsockname(fd, reinterpret_cast<sockaddr *>(&ss), &len) < 0)
		return -1;
	*port = ntohs(reinterpret_cast<sockaddr_in *>(&ss)->sin_port);
	if (connect_self) {
		int c = type == SOCK_STREAM ? socket(family, type | SOCK_CLOEXEC, 0) : fd;
		if (c < 0 || connect(c, reinterpret_cast<sockaddr *>(&ss), len) < 0)
			return -1;
		if (peer)
			*peer = c;
	}
	return fd;
}

int diag_matches_tables_body() {
	uint16_t p[8];
	int peer = -1;
	CK(diag_sock("0.0.0.0", SOCK_STREAM, false, &p[0], nullptr) >= 0);
	CK(diag_sock("127.0.0.1", SOCK_STREAM, true, &p[1], &peer) >= 0); // + established pair
	CK(diag_sock("::", SOCK_STREAM, false, &p[2], nullptr) >= 0);
	CK(diag_sock("::1", SOCK_STREAM, false, &p[3], nullptr) >= 0);
	CK(diag_sock("0.0.0.0", SOCK_DGRAM, false, &p[4], nullptr) >= 0);
	CK(diag_sock("127.0.0.1", SOCK_DGRAM, true, &p[5], nullptr) >= 0); // connected: never
	CK(diag_sock("::1", SOCK_DGRAM, false, &p[6], nullptr) >= 0);
	// The accepted end of the established pair: its port is the listener's.
	uint16_t client_port = 0;
	sockaddr_storage cs{};
	socklen_t cl = sizeof(cs);
	CK(getsockname(peer, reinterpret_cast<sockaddr *>(&cs), &cl) == 0);
	client_port = ntohs(reinterpret_cast<sockaddr_in *>(&cs)->sin_port);

	int diag = fwd_diag_open();
	CK(diag >= 0);
	int tables[PortScanner::Count];
	CK(fwd_scan_open_self(tables) > 0);
	for (bool udp : {false, true}) {
		for (ProcNetAddr a : {ProcNetAddr::Any, ProcNetAddr::LoopbackOrAny}) {
			PortBitmap by_diag, by_table;
			CK(fwd_diag_scan(diag, udp, by_diag, a) >= 0);
			const uint8_t st = udp ? PROCNET_UDP_UNCONNECTED : PROCNET_TCP_LISTEN;
			const int first = udp ? PortScanner::Udp : PortScanner::Tcp;
			for (int t : {first, first + 1})
				CK(fwd_procnet_read_fd(tables[t], st, by_table, a) >= 0);
			CK(by_diag == by_table);
		}
	}
	PortBitmap tcp, udp;
	CK(fwd_diag_scan(diag, false, tcp, ProcNetAddr::Any) == 4);
	CK(tcp.test(p[0]) && tcp.test(p[1]) && tcp.test(p[2]) && tcp.test(p[3]));
	CK(!tcp.test(client_port));
	CK(fwd_diag_scan(diag, true, udp, ProcNetAddr::Any) == 2);
	CK(udp.test(p[4]) && !udp.test(p[5]) && udp.test(p[6]));

	// The scanner uses it, and says the same.
	PortScanner s;
	CK(s.open_dir("/proc/self/net") > 0);
	s.adopt_diag(diag);
	PortBitmap again;
	CK(s.scan_tcp(again) == 0 && again == tcp);
	// A broken diag socket: this scan reads the tables instead.
	close(s.diag);
	s.diag = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CK(s.scan_tcp(again) == 0 && again == tcp);
	return 0;
}

} // namespace

TEST(PortScanDiag, MatchesTheTables) { run_in_netns(diag_matches_tables_body); }
