// pasta's automatic port forwarding ("-t auto", "-u auto", "-T auto", "-U
// auto"): which ports are bound in the namespace (or, for -T and -U, on the
// host), asked of the kernel with sock_diag dumps (src/fwd/portscan_diag.cpp)
// or read from its /proc/net/{tcp,tcp6,udp,udp6} tables as the namespace
// sees them (src/fwd/portscan.cpp).
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "passt/conf/config.h"

namespace passt {

struct NsHandle;

// One bit per port number (bit 0 is never set by the scanner).
using PortBitmap = std::bitset<65536>;

// Socket states in the "st" column (the kernel's TCP state numbers, which
// UDP sockets reuse): a listening TCP socket, an unconnected UDP socket.
inline constexpr uint8_t PROCNET_TCP_LISTEN = 0x0a;
inline constexpr uint8_t PROCNET_UDP_UNCONNECTED = 0x07;

// Which sockets of a table count, by their local address.
enum class ProcNetAddr : uint8_t {
	Any,           // every socket (the namespace's ports, for -t/-u auto)
	LoopbackOrAny, // bound to a loopback (127.0.0.0/8, ::1, ::ffff:127.x)
		       // or to the unspecified address (the host's, for -T/-U auto)
};

// Whether a socket's local address (4 or 16 bytes, network order) is one
// LoopbackOrAny counts: 127.0.0.0/8 or 0.0.0.0, also IPv4-mapped, ::1 or
// ::. For both the table parser and the sock_diag dumps.
bool fwd_loopback_or_any(const uint8_t *addr, size_t len);

// Longest table line we accept; real ones are under 200 characters.
inline constexpr size_t PROCNET_LINE_MAX = 512;

// Incremental parser of one table: feed() it the text in chunks of any
// size (lines may be split between chunks), then finish(). Sets in ports
// the local port of every well-formed entry whose state is `state`; the
// header line and malformed or over-long lines are skipped (and counted).
// With addr = LoopbackOrAny, sockets bound to other addresses are not set
// (but still counted in entries()).
class ProcNetParser {
public:
	ProcNetParser(uint8_t state, PortBitmap &ports, ProcNetAddr addr = ProcNetAddr::Any)
		: state_(state), addr_(addr), ports_(ports) {}
	void feed(std::string_view chunk);
	// Parses a last line without a newline, if any.
	void finish();

	size_t matched() const { return matched_; }     // entries in `state`
	size_t entries() const { return entries_; }     // well-formed entries
	size_t malformed() const { return malformed_; } // other lines, header aside

private:
	void line(std::string_view l);

	uint8_t state_;
	ProcNetAddr addr_;
	PortBitmap &ports_;
	char buf_[PROCNET_LINE_MAX] = {};
	size_t len_ = 0;
	bool overlong_ = false; // skipping the rest of a too long line
	bool first_line_ = true;
	size_t matched_ = 0, entries_ = 0, malformed_ = 0;
};

// Parses a whole table held in text (tests, and one-shot reads). Returns
// the number of entries in `state`.
size_t fwd_procnet_parse(std::string_view text, uint8_t state, PortBitmap &ports,
			 ProcNetAddr addr = ProcNetAddr::Any);

// Reads the table open on fd from its start (the kernel regenerates it on
// each read from offset 0) and adds its matching ports. Returns the number
// of entries in `state`, or -errno.
int fwd_procnet_read_fd(int fd, uint8_t state, PortBitmap &ports,
			ProcNetAddr addr = ProcNetAddr::Any);

// The four tables of one network namespace, open for the daemon's lifetime
// (the open files keep pointing at the namespace they were opened in, so
// no path lookups are needed after start-up).
struct PortScanner {
	enum Table { Tcp = 0, Tcp6, Udp, Udp6, Count };
	int fds[Count] = {-1, -1, -1, -1};
	// A NETLINK_SOCK_DIAG socket of the same namespace (portscan_diag.cpp),
	// -1 if none: scans use it while it works for the protocol, and fall
	// back to the tables for good once the kernel says it can't.
	int diag = -1;
	mutable bool diag_ok[2] = {true, true}; // TCP, UDP

	PortScanner() = default;
	PortScanner(const PortScanner &) = delete;
	PortScanner &operator=(const PortScanner &) = delete;
	~PortScanner() { close_all(); }

	// Opens dir/tcp, dir/tcp6, dir/udp, dir/udp6 (e.g. dir = "/proc/PID/net").
	// A missing table (no IPv6 in the kernel) is left closed; returns the
	// number opened, or -errno if none could be.
	int open_dir(const char *dir);
	// Takes over already open table fds (from a helper in the namespace),
	// in Table order; -1 entries are skipped.
	void adopt(const int (&table_fds)[Count]);
	bool any_open() const;
	void close_all();

	// Takes over a sock_diag socket (fwd_diag_open*()), or -errno (none).
	void adopt_diag(int fd);

	// Ports bound in the namespace: TCP listening sockets of both families,
	// or unconnected (bound) UDP sockets (connected ones, st 01, never
	// count). bound is cleared first. Returns 0, or -errno if no table
	// could be read. addr: see ProcNetAddr.
	int scan_tcp(PortBitmap &bound, ProcNetAddr addr = ProcNetAddr::Any) const;
	int scan_udp(PortBitmap &bound, ProcNetAddr addr = ProcNetAddr::Any) const;
};

// Opens the four tables as /proc/self/net/... from inside the calling
// process's network namespace into table_fds (for ns helpers). Returns the
// number opened.
int fwd_scan_open_self(int (&table_fds)[PortScanner::Count]);

// Opens the tables of the namespace behind ns into s: /proc/PID/net for a
// PID in it (spawned command, "pasta PID"), else (--netns PATH only, or if
// that fails) through a helper process that enters the namespace and hands
// the open files back. Returns the number of tables opened, or -errno.
int fwd_scan_open_ns(const NsHandle &ns, PortScanner &s);

// sock_diag scanning (src/fwd/portscan_diag.cpp). fwd_diag_scan() sets in
// ports the local ports of the TCP listening sockets (udp: unconnected UDP
// sockets) of both families in fd's namespace, filtered by addr as the
// table parser does; returns how many, or -errno (-ENOENT: the kernel has
// no sock_diag handler for the protocol). fwd_diag_open() opens the socket
// in our own namespace, fwd_diag_open_ns() in ns; fd or -errno.
int fwd_diag_scan(int fd, bool udp, PortBitmap &ports, ProcNetAddr addr);
int fwd_diag_open();
int fwd_diag_open_ns(const NsHandle &ns);

// Listening ports wanted for the scanning rules of fwd: port p is set if a
// rule with scan = true (not an exclusion) covers p, p is not excluded,
// and the target port of p is set in bound. Clears want first. Ports of
// non-scanning rules are never set.
void fwd_scan_want(const PortForward &fwd, const PortBitmap &bound, PortBitmap &want);

// Clears from bound the ports that the reverse direction listens on with
// explicit rules (rev: -T/-U for the namespace's ports, -t/-u for the
// host's): those sockets are ours, and forwarding them back would make a
// loop. Listeners opened by scanning are masked by their owners' modules.
void fwd_scan_mask_reverse(const PortForward &rev, PortBitmap &bound);

// True if any inclusive rule of fwd scans.
bool fwd_scan_needed(const PortForward &fwd);

} // namespace passt
