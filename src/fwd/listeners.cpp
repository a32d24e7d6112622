// Listening sockets of the forwarding rules (-t, -T, -u, -U).
//
// Theory of operation
// -------------------
// Each inclusive rule of a PortForward covers a range of ports; every port
// not excluded gets one listener per address family, IPv4 and IPv6 (the
// IPv6 one IPV6_V6ONLY), unless the family is disabled or the rule's bind
// address is of the other family. Each translator opens its own kind of
// socket (a TCP listener on the host or, through the namespace's socket
// helper, in the namespace; a bound UDP socket) and decides what closing
// one does to its flows; the walk, the policy and the bookkeeping are here.
//
// Start-up (fwd_listen_open_rules()). The non-scanning rules are opened once.
// A failure is fatal unless the rule is weak (a range given as "all"), the
// whole forward is "all", or the rule has no bind address and the family
// is missing on the host (EAFNOSUPPORT, EADDRNOTAVAIL): then it is a debug
// line and the walk goes on. The walk stops, with a warning, once a share
// of RLIMIT_NOFILE (fwd_listen_budget()) is taken by listeners, keeping the
// rest for connections.
//
// Slots (ListenerSlots). A listener's index is its EpollRef index, so it
// must not move while open: a closed listener's slot goes on a free list
// and is the next one reused. The table is sized at start-up and sealed:
// after init nothing allocates (the sandbox's "no heap" rule, checked by
// test/integration/test_no_heap.sh). With an "auto" rule, room is set
// aside before the start-up walk for as many listeners as the scanning
// rules cover (a listener per port and family), at most the sync's share
// of the descriptors (fwd_auto_room()); since fwd_listen_sync() never has
// more than that share open, the room is never short. If it were, a port
// would get a rate-limited warning and no listener, never a bigger table.
//
// "auto" (fwd_listen_sync()). The scanner (fwd/portscan.cpp) tells which ports
// are bound on the other side; each scan, the scanning rules' listeners
// follow: those whose port is no longer wanted are closed, missing ones
// opened per family. A port already taken on our side fails every scan:
// auto_failed bitmaps (per family) log it only the first time, until the
// port goes away from the scan.
//
// --freebind sets IP_FREEBIND / IPV6_FREEBIND on every listening socket
// before it is bound: -t and -u (passt and pasta), -T and -U (pasta, in
// the namespace), at start-up and for "auto" alike.
//
// fwd_listen_sock() does the part of opening a listener that is the same
// for all: options, bind(), listen(); the socket itself comes from the
// translator (on the host, or from the namespace's socket helper).
//
// RLIMIT_NOFILE is read once, before the sandbox.
// #syscalls:init prlimit64
// #syscalls setsockopt bind ioctl close socket
// #syscalls listen
// (passt too: -t rules added through the control socket, -c, listen at
// run time)
#include "passt/fwd/listeners.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <net/if.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "passt/core/log.h"

namespace passt {

namespace {

const char *family(bool v6) { return v6 ? "IPv6" : "IPv4"; }

// The port on the other side that a listener on port forwards to.
unsigned target_of(const PortRule &r, uint16_t port) { return r.to_first + (port - r.first); }

} // namespace

FwdListener fwd_listener(int fd, const PortRule &r, uint32_t ri, uint16_t port, bool v6) {
	FwdListener l;
	l.fd = fd;
	l.port = port;
	l.target = uint16_t(target_of(r, port));
	l.rule = ri;
	l.v6 = v6;
	l.scan = r.scan;
	return l;
}

socklen_t fwd_listen_addr(SockAddr &sa, const PortRule &r, uint16_t port, bool v6, bool in_ns) {
	if (in_ns) {
		bool own_addr = r.bind_addr && !(r.scan && r.bind_addr->is_unspecified());
		return own_addr ? sockaddr_from(sa, *r.bind_addr, port)
				: sockaddr_loopback(sa, v6, port);
	}
	InAny any = v6 ? InAny(Ipv6Addr::any()) : InAny(Ipv4Addr::any());
	uint32_t scope = r.bind_if.empty() ? 0 : if_nametoindex(r.bind_if.c_str());
	return sockaddr_from(sa, r.bind_addr ? *r.bind_addr : any, port, scope);
}

int fwd_listen_sock(const Config &c, int fd, const PortRule &r, uint16_t port, bool v6, bool stream,
		    bool in_ns) {
	int one = 1;
	if (stream)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		return -errno;
	if (!in_ns && !r.bind_if.empty() &&
	    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, r.bind_if.c_str(),
		       socklen_t(r.bind_if.size() + 1)) < 0)
		return -errno;
	if (int rc = fwd_freebind(c, fd, v6); rc < 0)
		return rc;
	SockAddr sa;
	socklen_t sl = fwd_listen_addr(sa, r, port, v6, in_ns);
	if (bind(fd, &sa.sa, sl) < 0 || (stream && listen(fd, SOMAXCONN) < 0))
		return -errno;
	return 0;
}

bool fwd_listen_family(const Config &c, const PortRule &r, bool v6) {
	if (r.bind_addr && r.bind_addr->is_v4() == v6)
		return false;
	return v6 ? c.ip6.enabled : c.ip4.enabled;
}

int fwd_freebind(const Config &c, int fd, bool v6) {
	if (!c.freebind)
		return 0;
	int one = 1;
	int rc = v6 ? setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof(one))
		    : setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
	return rc < 0 ? -errno : 0;
}

size_t fwd_listen_budget(unsigned div) {
	// Read once, at start-up (main() raised it before any listener):
	// auto-forwarding syncs ask again from inside the sandbox.
	static const size_t limit = [] {
		rlimit rl{};
		getrlimit(RLIMIT_NOFILE, &rl);
		return rl.rlim_cur == RLIM_INFINITY ? size_t(1) << 20 : size_t(rl.rlim_cur);
	}();
	return limit / div;
}

int fwd_listen_open_failed(const FwdListenNames &n, const PortForward &pf, const PortRule &r,
			   uint16_t port, bool v6, int rc) {
	if (r.weak || pf.kind == PortForward::Kind::All ||
	    (!r.bind_addr && (rc == -EAFNOSUPPORT || rc == -EADDRNOTAVAIL))) {
		debug("%s: no %s %s on %sport %u: %s", n.proto, family(v6), n.sock,
		      n.in_ns ? "namespace " : "", port, strerror(-rc));
		return 0;
	}
	err("%s: can't %s %s port %u%s: %s", n.proto, n.verb, family(v6), port,
	    n.in_ns ? " in the namespace" : "", strerror(-rc));
	return rc;
}

int FwdPortTries::at(const FwdListenNames &n, const PortForward &pf, const PortRule &r,
		     uint16_t port) {
	if (r_ == &r && port_ == port)
		return 0;
	int rc = settle(n, pf);
	r_ = &r;
	port_ = port;
	return rc;
}

int FwdPortTries::settle(const FwdListenNames &n, const PortForward &pf) {
	int rc = r_ && !ok_ && err_ < 0 ? fwd_listen_open_failed(n, pf, *r_, port_, v6_, err_) : 0;
	r_ = nullptr;
	ok_ = false;
	err_ = 0;
	return rc;
}

void fwd_listen_log_budget(const FwdListenNames &n, size_t count) {
	warn("%s: too many forwarded ports, stopping at %zu %ss", n.proto, count, n.sock);
}

void fwd_listen_log_count(const FwdListenNames &n, size_t count) {
	if (n.in_ns)
		debug("%s: %zu %ss in the namespace", n.proto, count, n.sock);
	else
		debug("%s: %zu inbound %ss", n.proto, count, n.sock);
}

void fwd_listen_log_closed(const FwdListenNames &n, const PortRule &r, uint16_t port, bool v6) {
	if (n.in_ns)
		debug("%s: host port %u no longer bound, closing %s %s in the namespace", n.proto,
		      target_of(r, port), family(v6), n.sock);
	else
		debug("%s: port %u no longer bound in the namespace, closing %s %s", n.proto, port,
		      family(v6), n.sock);
}

void fwd_listen_log_removed(const FwdListenNames &n, uint16_t port, bool v6) {
	debug("%s: rules changed, closing %s %s on %sport %u", n.proto, family(v6), n.sock,
	      n.in_ns ? "namespace " : "", port);
}

void fwd_listen_log_opened(const FwdListenNames &n, const PortRule &r, uint16_t port, bool v6) {
	if (n.in_ns)
		debug("%s: host port %u bound, %s %s opened on namespace port %u", n.proto,
		      target_of(r, port), family(v6), n.sock, port);
	else
		debug("%s: port %u bound in the namespace, %s %s opened", n.proto, port, family(v6),
		      n.sock);
}

size_t fwd_auto_room(const Config &c, const PortForward &pf) {
	size_t cover = 0;
	fwd_for_each_listen_port(c, pf, true, [&](const PortRule &, uint32_t, uint16_t, bool) {
		cover++;
		return 0;
	});
	return std::min({cover, fwd_listen_budget(4), AUTO_MAX_SLOTS});
}

void fwd_listen_log_full(const FwdListenNames &n, const PortRule &r, uint16_t port, bool v6,
			 size_t slots) {
	if (n.in_ns)
		warn_rl("%s: all %zu %s slots taken, host port %u not forwarded (%s)", n.proto,
			slots, n.sock, target_of(r, port), family(v6));
	else
		warn_rl("%s: all %zu %s slots taken, port %u not forwarded (%s)", n.proto, slots,
			n.sock, port, family(v6));
}

void fwd_listen_log_no_listener(const FwdListenNames &n, const PortRule &r, uint16_t port, bool v6,
				int rc) {
	if (n.in_ns)
		debug("%s: host port %u bound, but no %s %s on namespace port %u: %s", n.proto,
		      target_of(r, port), family(v6), n.sock, port, strerror(-rc));
	else
		debug("%s: port %u bound in the namespace, but no %s %s on the host: %s", n.proto,
		      port, family(v6), n.sock, strerror(-rc));
}

bool fwd_rules_listen_alike(const PortRule &a, const PortRule &b, uint16_t port) {
	if (a.exclude || b.exclude || a.scan != b.scan)
		return false;
	if (port < a.first || port > a.last || port < b.first || port > b.last)
		return false;
	if (target_of(a, port) != target_of(b, port))
		return false;
	return a.bind_addr == b.bind_addr && a.bind_if == b.bind_if && a.to_addr == b.to_addr;
}

void fwd_change_log_failed(FwdChangeLog &log, const FwdListenNames &n, const PortRule &r,
			   uint16_t port, bool v6, int rc) {
	log.failures++;
	if (n.in_ns)
		debug("%s: no %s %s on namespace port %u: %s", n.proto, family(v6), n.sock, port,
		      strerror(-rc));
	else
		debug("%s: no %s %s on port %u: %s", n.proto, family(v6), n.sock, port,
		      strerror(-rc));
	(void)r;
	if (!log.buf || log.used + 1 >= log.len)
		return;
	int w = snprintf(log.buf + log.used, log.len - log.used,
			 "warning: %s: can't %s %s port %u%s: %s\n", n.proto, n.verb, family(v6),
			 port, n.in_ns ? " in the namespace" : "", strerror(-rc));
	if (w > 0)
		log.used = std::min(log.len - 1, log.used + size_t(w));
}

} // namespace passt
