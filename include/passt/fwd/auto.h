// pasta's automatic port forwarding ("auto" in -t, -u, -T and -U): which
// ports the four forwarding directions listen on follows what is bound on
// the other side, rescanned every second. See src/fwd/auto.cpp.
#pragma once

#include <cstdint>
#include <ctime>

#include "passt/conf/config.h"
#include "passt/fwd/portscan.h"

namespace passt {

struct NsHandle;
struct TcpCtx;
struct SpliceCtx;
struct UdpCtx;
struct UdpSpliceCtx;

// The translators whose listeners "auto" rules drive (any may be null:
// that direction then never scans, and masks nothing of the others).
struct FwdAutoTranslators {
	TcpCtx *tcp = nullptr;              // -t: listeners on the host
	SpliceCtx *splice = nullptr;        // -T: listeners in the namespace
	UdpCtx *udp = nullptr;              // -u: sockets on the host
	UdpSpliceCtx *udp_splice = nullptr; // -U: sockets in the namespace
};

// One forwarding direction as the scan sees it.
struct FwdAutoDir {
	const PortForward *rules = nullptr; // this direction's rules
	const PortForward *rev = nullptr;   // the reverse direction's
	bool udp = false;                   // UDP tables, else TCP
	// Scans the host's tables (-T/-U), else the namespace's (-t/-u).
	bool host = false;
	bool on = false; // an "auto" rule, and a scanner
	// Makes this direction's listeners match want (the translator's sync).
	int (*sync)(void *owner, const PortBitmap &want) = nullptr;
	void *owner = nullptr;
	// Clears the ports of the reverse direction's listeners from a scan.
	void (*mask_rev)(const void *rev_owner, PortBitmap &ports) = nullptr;
	const void *rev_owner = nullptr;
};

// The state of automatic forwarding: the four directions (-t, -u, -T, -U,
// in that order), the scanners of both sides and the scan's bitmaps.
struct FwdAuto {
	FwdAutoDir dirs[4];
	PortScanner ns_scanner;   // the namespace's /proc/net tables
	PortScanner host_scanner; // ours (the host's)
	PortBitmap bound, want;
};

// Start-up: fills a's directions from c and t, opens the scanners the
// directions with "auto" rules need (a direction whose scanner can't be
// opened is off, with a warning) and runs the first scan. True if any
// direction is on: the caller then runs fwd_auto_timer() every
// FWD_AUTO_INTERVAL_MS.
bool fwd_auto_start(FwdAuto &a, const Config &c, const NsHandle &ns, const FwdAutoTranslators &t);
// With c.conf_path set (the control socket), both sides' scanners are
// opened whatever the rules, and the result is true: rules may turn "auto"
// at run time.
inline constexpr unsigned FWD_AUTO_INTERVAL_MS = 1000;

// Whether direction dir (0..3: -t, -u, -T, -U) has what "auto" needs (its
// translators and its side's scanner): the control socket refuses an
// "auto" rule where it hasn't.
bool fwd_auto_can_scan(const FwdAuto &a, const Config &c, int dir);
// After a run-time rule change: directions with "auto" rules (and a
// scanner) are on, others off; one scan right away.
void fwd_auto_rules_changed(FwdAuto &a, const Config &c);

// One scan of every direction that is on; ctx is the FwdAuto (a timer
// callback).
void fwd_auto_timer(void *ctx, const timespec &now);
void fwd_auto_scan(FwdAuto &a);

} // namespace passt
