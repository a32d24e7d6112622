// Port scanning for pasta's automatic forwarding (-t/-u auto, -T/-U auto).
//
// Theory of operation
// -------------------
// The kernel lists the sockets of a network namespace in text tables,
// /proc/net/tcp, tcp6, udp and udp6 as seen from a process in that
// namespace (/proc/PID/net/... for any PID in it). After a header line,
// each line describes one socket:
//
//   "  12: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 ..."
//      sl  local addr:port remote addr:port st tx_queue:rx_queue ...
//
// Addresses are hex (8 digits for IPv4, 32 for IPv6) and the ports are hex
// in host-readable order. "st" is the TCP state number; UDP sockets reuse
// the numbering: 07 (TCP_CLOSE) is a bound, unconnected UDP socket, the
// kind a server uses, 01 a connected one. A port is "bound" for us if some
// TCP socket of either family listens on it (0A), or some unconnected UDP
// socket has it as local port. For the namespace's ports (-t/-u auto) the
// local address is not looked at: a socket bound to a single address (even
// loopback) still makes the port forwarded, as in the C pasta. For the
// host's ports (-T/-U auto, ProcNetAddr::LoopbackOrAny) only sockets that
// traffic to the host's loopback could reach count: bound to a loopback
// address or to the unspecified one. Connected UDP sockets (st 01: our own
// flow sockets among them) are never "bound": they only take datagrams
// from their peer. Each 8-digit group of an address is
// the kernel's %08X of a 32-bit word holding network-order bytes, so the
// word's bytes as this machine stores them are the address bytes.
//
// Parsing is strict about the fields it uses (slot "N:", both addr:port
// pairs with valid lengths, a two-digit state, and a following field, so
// a line cut short is not taken) and ignores everything after them. Lines
// that don't fit are skipped and counted, never fatal. The text is read in
// fixed-size chunks into a fixed buffer; a line split between chunks is
// carried over in the parser, so nothing is allocated.
//
// Where the kernel has it, a sock_diag netlink dump gives the same answer
// for a fraction of the CPU time (portscan_diag.cpp): PortScanner::scan_*()
// use it first and fall back to these tables.
//
// The table files are opened once at start-up and read again from offset 0
// each scan: an open /proc/.../net file stays tied to the namespace it was
// opened in, which is what lets a helper process inside the namespace open
// them and hand them over (for --netns without a PID).
//
// fwd_scan_want() turns the bound ports into the listening ports wanted on
// the host for the scanning rules: port p of a rule is wanted if the rule's
// target port for p is bound in the namespace.
//
// The tables are opened at start-up; every scan rewinds and reads them.
// #syscalls:pasta lseek read
// #syscalls:init openat close
#include "passt/fwd/portscan.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

#include "passt/core/log.h"
#include "passt/host/ns.h"

namespace passt {

namespace {

constexpr const char *TABLE_NAMES[PortScanner::Count] = {"tcp", "tcp6", "udp", "udp6"};

int hexval(char ch) {
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

bool all_hex(std::string_view s) {
	for (char ch : s)
		if (hexval(ch) < 0)
			return false;
	return !s.empty();
}

bool is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\r'; }

// Next whitespace-separated token of s (consumed), empty at the end.
std::string_view next_token(std::string_view &s) {
	size_t i = 0;
	while (i < s.size() && is_space(s[i]))
		i++;
	size_t j = i;
	while (j < s.size() && !is_space(s[j]))
		j++;
	std::string_view tok = s.substr(i, j - i);
	s.remove_prefix(j);
	return tok;
}

// An address column: 4 (IPv4) or 16 (IPv6) bytes in network order.
struct RawAddr {
	uint8_t b[16] = {};
	size_t len = 0;
};

// "HEXADDR:HEXPORT" with an IPv4 or IPv6 sized address; the port, or -1.
// The address goes to addr if given.
int parse_endpoint(std::string_view tok, RawAddr *addr = nullptr) {
	size_t colon = tok.find(':');
	if (colon == std::string_view::npos)
		return -1;
	std::string_view a = tok.substr(0, colon), port = tok.substr(colon + 1);
	if ((a.size() != 8 && a.size() != 32) || !all_hex(a))
		return -1;
	if (port.empty() || port.size() > 4 || !all_hex(port))
		return -1;
	if (addr) {
		addr->len = a.size() / 2;
		for (size_t w = 0; w < a.size() / 8; w++) {
			uint32_t v = 0;
			for (size_t i = 0; i < 8; i++)
				v = v * 16 + uint32_t(hexval(a[w * 8 + i]));
			memcpy(addr->b + w * 4, &v, 4);
		}
	}
	int v = 0;
	for (char ch : port)
		v = v * 16 + hexval(ch);
	return v;
}

} // namespace

bool fwd_loopback_or_any(const uint8_t *b, size_t len) {
	const uint8_t *v4 = nullptr;
	static constexpr uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (len == 4)
		v4 = b;
	else if (len == 16 && !memcmp(b, mapped, sizeof(mapped)))
		v4 = b + 12;
	if (v4)
		return v4[0] == 127 || (!v4[0] && !v4[1] && !v4[2] && !v4[3]);
	if (len != 16)
		return false;
	for (size_t i = 0; i < 15; i++)
		if (b[i])
			return false;
	return b[15] <= 1;
}

void ProcNetParser::line(std::string_view l) {
	bool header = first_line_;
	first_line_ = false;
	std::string_view rest = l;
	std::string_view slot = next_token(rest);
	if (slot.empty())
		return; // blank line
	bool ok = slot.size() >= 2 && slot.back() == ':';
	for (size_t i = 0; ok && i + 1 < slot.size(); i++)
		ok = slot[i] >= '0' && slot[i] <= '9';
	if (!ok) {
		if (!header)
			malformed_++;
		return;
	}
	RawAddr laddr;
	int local = parse_endpoint(next_token(rest), &laddr);
	int remote = parse_endpoint(next_token(rest));
	std::string_view st = next_token(rest);
	std::string_view queues = next_token(rest);
	if (local < 0 || remote < 0 || st.size() != 2 || !all_hex(st) ||
	    queues.find(':') == std::string_view::npos) {
		malformed_++;
		return;
	}
	entries_++;
	uint8_t state = uint8_t(hexval(st[0]) * 16 + hexval(st[1]));
	if (state != state_ || local == 0)
		return;
	if (addr_ == ProcNetAddr::LoopbackOrAny && !fwd_loopback_or_any(laddr.b, laddr.len))
		return;
	matched_++;
	ports_.set(size_t(local));
}

void ProcNetParser::feed(std::string_view chunk) {
	while (!chunk.empty()) {
		size_t nl = chunk.find('\n');
		std::string_view piece = chunk.substr(0, nl);
		bool complete = nl != std::string_view::npos;
		chunk.remove_prefix(complete ? nl + 1 : chunk.size());

		if (!overlong_) {
			if (len_ + piece.size() > sizeof(buf_)) {
				overlong_ = true;
			} else if (len_ == 0 && complete) {
				line(piece); // the common case: no copy
			} else {
				memcpy(buf_ + len_, piece.data(), piece.size());
				len_ += piece.size();
				if (complete)
					line(std::string_view(buf_, len_));
			}
		}
		if (complete) {
			if (overlong_) {
				first_line_ = false;
				malformed_++;
			}
			overlong_ = false;
			len_ = 0;
		}
	}
}

void ProcNetParser::finish() {
	if (overlong_) {
		malformed_++;
	} else if (len_) {
		line(std::string_view(buf_, len_));
	}
	overlong_ = false;
	len_ = 0;
}

size_t fwd_procnet_parse(std::string_view text, uint8_t state, PortBitmap &ports,
			 ProcNetAddr addr) {
	ProcNetParser p(state, ports, addr);
	p.feed(text);
	p.finish();
	return p.matched();
}

int fwd_procnet_read_fd(int fd, uint8_t state, PortBitmap &ports, ProcNetAddr addr) {
	// Not on the stack of a daemon that may run with a small one; the
	// daemon is single-threaded, so one buffer will do.
	static char buf[16384];
	if (lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	ProcNetParser p(state, ports, addr);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		p.feed(std::string_view(buf, size_t(n)));
	}
	p.finish();
	return int(p.matched());
}

int PortScanner::open_dir(const char *dir) {
	close_all();
	int opened = 0, last_err = -ENOENT;
	for (int t = 0; t < Count; t++) {
		char path[256];
		int n = snprintf(path, sizeof(path), "%s/%s", dir, TABLE_NAMES[t]);
		if (n < 0 || size_t(n) >= sizeof(path))
			return -ENAMETOOLONG;
		fds[t] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[t] < 0)
			last_err = -errno;
		else
			opened++;
	}
	return opened ? opened : last_err;
}

void PortScanner::adopt(const int (&table_fds)[Count]) {
	close_all();
	for (int t = 0; t < Count; t++)
		fds[t] = table_fds[t];
}

bool PortScanner::any_open() const {
	for (int fd : fds)
		if (fd >= 0)
			return true;
	return false;
}

void PortScanner::close_all() {
	for (int &fd : fds) {
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	if (diag >= 0)
		close(diag);
	diag = -1;
}

void PortScanner::adopt_diag(int fd) {
	if (diag >= 0)
		close(diag);
	diag = fd < 0 ? -1 : fd;
	diag_ok[0] = diag_ok[1] = true;
}

namespace {

int scan_two(const PortScanner &s, int a, int b, uint8_t state, PortBitmap &bound,
	     ProcNetAddr addr = ProcNetAddr::Any) {
	bound.reset();
	int ok = 0, last_err = -EBADF;
	for (int t : {a, b}) {
		if (s.fds[t] < 0)
			continue;
		int rc = fwd_procnet_read_fd(s.fds[t], state, bound, addr);
		if (rc < 0)
			last_err = rc;
		else
			ok++;
	}
	return ok ? 0 : last_err;
}

// Through sock_diag while it works for the protocol: true if bound holds
// the answer. A kernel that can't (no handler for the protocol) is asked
// no more; another failure falls back to the tables this once.
bool scan_diag(const PortScanner &s, bool udp, PortBitmap &bound, ProcNetAddr addr) {
	if (s.diag < 0 || !s.diag_ok[udp])
		return false;
	bound.reset();
	int rc = fwd_diag_scan(s.diag, udp, bound, addr);
	if (rc >= 0)
		return true;
	if (rc == -ENOENT || rc == -EOPNOTSUPP || rc == -EINVAL || rc == -EPROTONOSUPPORT) {
		s.diag_ok[udp] = false;
		debug("port scan: no sock_diag for %s (%s), reading /proc from now on",
		      udp ? "UDP" : "TCP", strerror(-rc));
	} else {
		debug_rl("port scan: sock_diag dump failed: %s", strerror(-rc));
	}
	return false;
}

} // namespace

int PortScanner::scan_tcp(PortBitmap &bound, ProcNetAddr addr) const {
	if (scan_diag(*this, false, bound, addr))
		return 0;
	return scan_two(*this, Tcp, Tcp6, PROCNET_TCP_LISTEN, bound, addr);
}

int PortScanner::scan_udp(PortBitmap &bound, ProcNetAddr addr) const {
	if (scan_diag(*this, true, bound, addr))
		return 0;
	return scan_two(*this, Udp, Udp6, PROCNET_UDP_UNCONNECTED, bound, addr);
}

int fwd_scan_open_self(int (&table_fds)[PortScanner::Count]) {
	int opened = 0;
	for (int t = 0; t < PortScanner::Count; t++) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/net/%s", TABLE_NAMES[t]);
		table_fds[t] = open(path, O_RDONLY | O_CLOEXEC);
		if (table_fds[t] >= 0)
			opened++;
	}
	return opened;
}

int fwd_scan_open_ns(const NsHandle &ns, PortScanner &s) {
	if (ns.pid > 0) {
		char dir[64];
		snprintf(dir, sizeof(dir), "/proc/%d/net", int(ns.pid));
		int rc = s.open_dir(dir);
		if (rc > 0)
			return rc;
	}
	// The helper sends the open tables back, compacted (no -1 can travel
	// with SCM_RIGHTS); data[t] is the index of table t among them, or
	// 0xff if it could not be opened.
	NsCallOut out;
	int rc = ns_run(
		ns,
		[](NsCallOut *o) {
			int fds[PortScanner::Count];
			fwd_scan_open_self(fds);
			o->len = PortScanner::Count;
			for (int t = 0; t < PortScanner::Count; t++) {
				o->data[t] = 0xff;
				if (fds[t] < 0 || o->nfds >= NS_CALL_MAX_FDS)
					continue;
				o->data[t] = uint8_t(o->nfds);
				o->fds[o->nfds++] = fds[t];
			}
			o->ret = o->nfds ? 0 : -ENOENT;
		},
		&out);
	if (rc < 0)
		return rc;
	int fds[PortScanner::Count] = {-1, -1, -1, -1};
	bool used[NS_CALL_MAX_FDS] = {};
	for (int t = 0; t < PortScanner::Count && size_t(t) < out.len; t++) {
		unsigned k = out.data[t];
		if (k < out.nfds && !used[k]) {
			fds[t] = out.fds[k];
			used[k] = true;
		}
	}
	for (unsigned k = 0; k < out.nfds; k++)
		if (!used[k])
			close(out.fds[k]);
	s.adopt(fds);
	if (!s.any_open())
		return out.ret < 0 ? out.ret : -ENOENT;
	int n = 0;
	for (int fd : s.fds)
		n += fd >= 0;
	return n;
}

void fwd_scan_want(const PortForward &fwd, const PortBitmap &bound, PortBitmap &want) {
	want.reset();
	for (const PortRule &r : fwd.rules) {
		if (r.exclude || !r.scan)
			continue;
		for (uint32_t p = r.first; p <= r.last; p++) {
			uint32_t target = r.to_first + (p - r.first);
			if (target <= 65535 && bound.test(target))
				want.set(p);
		}
	}
	// conf_parse() already cuts exclusions out of inclusive rules; this
	// keeps that true for hand-made configurations too.
	for (const PortRule &r : fwd.rules) {
		if (!r.exclude)
			continue;
		for (uint32_t p = r.first; p <= r.last; p++)
			want.reset(p);
	}
}

void fwd_scan_mask_reverse(const PortForward &rev, PortBitmap &bound) {
	for (const PortRule &r : rev.rules) {
		if (r.exclude || r.scan)
			continue;
		for (uint32_t p = r.first; p <= r.last; p++)
			bound.reset(p);
	}
}

bool fwd_scan_needed(const PortForward &fwd) {
	for (const PortRule &r : fwd.rules)
		if (r.scan && !r.exclude)
			return true;
	return false;
}

} // namespace passt
