// pasta's automatic port forwarding: "auto" rules of -t, -u, -T and -U.
//
// Theory of operation
// -------------------
// The four directions are one table (FwdAuto::dirs) and one routine walks
// it: -t and -u listen on the host exactly on the ports bound in the
// namespace; -T and -U listen in the namespace on the ports bound on the
// host's loopback or any-address. Each scan of a direction reads the
// other side's TCP or UDP tables (fwd/portscan.cpp) into a bitmap of bound
// ports, clears from it what the reverse direction listens on (its
// explicit rules, portscan's mask, and its open listeners, auto or not),
// turns what is left into the ports the direction's "auto" rules want,
// and hands that to the direction's translator, whose sync
// (fwd_listen_sync() in fwd/listeners.h) opens and closes listeners to
// match. The masking is what keeps the two directions from forwarding each
// other's sockets back and forth; our UDP flows' sockets are connected,
// which the scans skip.
//
// Directions are scanned in table order, every FWD_AUTO_INTERVAL_MS, from
// a timer the caller registers. Scanners are opened at start-up (the
// namespace's through /proc/PID/net or a helper, ours as /proc/self/net:
// pasta itself runs in the host's namespace) and read without path
// lookups afterwards, inside the sandbox. Nothing here allocates.
//
// With a control socket (-c), rules may become "auto" at run time: both
// sides' scanners are then opened at start-up whatever the rules, and
// fwd_auto_rules_changed() turns directions on and off after a change.
#include "passt/fwd/auto.h"

#include <cstring>

#include "passt/core/log.h"
#include "passt/host/ns.h"
#include "passt/tcp/splice.h"
#include "passt/tcp/tcp.h"
#include "passt/udp/udp.h"
#include "passt/udp/udp_splice.h"

namespace passt {

namespace {

// Type-erased hooks into the translators' listener tables.
template <typename Ctx> void mask_of(const void *owner, PortBitmap &ports) {
	static_cast<const Ctx *>(owner)->listeners.mask(ports);
}

int sync_tcp(void *p, const PortBitmap &want) {
	return tcp_listen_sync(*static_cast<TcpCtx *>(p), want);
}
int sync_udp(void *p, const PortBitmap &want) {
	return udp_listen_sync(*static_cast<UdpCtx *>(p), want);
}
int sync_tcp_splice(void *p, const PortBitmap &want) {
	return tcp_splice_listen_sync(*static_cast<SpliceCtx *>(p), want);
}
int sync_udp_splice(void *p, const PortBitmap &want) {
	return udp_splice_listen_sync(*static_cast<UdpSpliceCtx *>(p), want);
}

// The four directions, in scan order. A direction needs its own translator
// (and the one of the reverse direction, whose listeners it masks, where
// that is a -T/-U one: as before, -T/-U auto need both sides).
void fill_dirs(FwdAuto &a, const Config &c, const FwdAutoTranslators &t) {
	FwdAutoDir &ti = a.dirs[0], &ui = a.dirs[1], &to = a.dirs[2], &uo = a.dirs[3];
	ti = {&c.tcp_in, &c.tcp_out,         false,   false, false, sync_tcp,
	      t.tcp,     mask_of<SpliceCtx>, t.splice};
	ui = {&c.udp_in,   &c.udp_out, true, false, false, sync_udp, t.udp, mask_of<UdpSpliceCtx>,
	      t.udp_splice};
	to = {&c.tcp_out,      &c.tcp_in, false,           true, false,
	      sync_tcp_splice, t.splice,  mask_of<TcpCtx>, t.tcp};
	uo = {&c.udp_out,   &c.udp_in,       true, true, false, sync_udp_splice,
	      t.udp_splice, mask_of<UdpCtx>, t.udp};
	for (FwdAutoDir &d : a.dirs) {
		bool proto_on = d.udp ? !c.no_udp : !c.no_tcp;
		d.on = proto_on && d.owner && (!d.host || d.rev_owner) && fwd_scan_needed(*d.rules);
	}
}

// Could direction d scan (rules aside)?
bool dir_can_scan(const FwdAuto &a, const FwdAutoDir &d, const Config &c) {
	bool proto_on = d.udp ? !c.no_udp : !c.no_tcp;
	const PortScanner &s = d.host ? a.host_scanner : a.ns_scanner;
	return proto_on && d.owner && (!d.host || d.rev_owner) && s.any_open();
}

// Opens the scanner of one side if a direction scanning it is on; turns
// those directions off (with a warning) if it can't be opened.
void open_side(FwdAuto &a, bool host, const NsHandle &ns, bool always) {
	bool needed = always;
	for (const FwdAutoDir &d : a.dirs)
		needed |= d.on && d.host == host;
	if (!needed)
		return;
	int rc = host ? a.host_scanner.open_dir("/proc/self/net")
		      : fwd_scan_open_ns(ns, a.ns_scanner);
	if (rc >= 0) {
		// The cheap way, where the kernel has it (fwd/portscan.h).
		PortScanner &s = host ? a.host_scanner : a.ns_scanner;
		s.adopt_diag(host ? fwd_diag_open() : fwd_diag_open_ns(ns));
		return;
	}
	if (host)
		warn("Can't read the host's sockets, no automatic -T/-U forwarding: %s",
		     strerror(-rc));
	else
		warn("Can't read the namespace's sockets, no automatic forwarding: %s",
		     strerror(-rc));
	for (FwdAutoDir &d : a.dirs)
		if (d.host == host)
			d.on = false;
}

// One scan of direction d.
void scan_dir(FwdAuto &a, const FwdAutoDir &d) {
	const PortScanner &s = d.host ? a.host_scanner : a.ns_scanner;
	ProcNetAddr which = d.host ? ProcNetAddr::LoopbackOrAny : ProcNetAddr::Any;
	if ((d.udp ? s.scan_udp(a.bound, which) : s.scan_tcp(a.bound, which)) != 0)
		return;
	fwd_scan_mask_reverse(*d.rev, a.bound);
	if (d.rev_owner)
		d.mask_rev(d.rev_owner, a.bound);
	fwd_scan_want(*d.rules, a.bound, a.want);
	d.sync(d.owner, a.want);
}

} // namespace

bool fwd_auto_start(FwdAuto &a, const Config &c, const NsHandle &ns, const FwdAutoTranslators &t) {
	fill_dirs(a, c, t);
	const bool runtime = !c.conf_path.empty();
	open_side(a, false, ns, runtime);
	open_side(a, true, ns, runtime);
	if (runtime) {
		for (FwdAutoDir &d : a.dirs)
			d.on = d.on && dir_can_scan(a, d, c);
		return true; // the timer runs: rules may turn "auto" later
	}
	bool any = false;
	for (const FwdAutoDir &d : a.dirs)
		any |= d.on;
	if (any)
		fwd_auto_scan(a);
	return any;
}

bool fwd_auto_can_scan(const FwdAuto &a, const Config &c, int dir) {
	return dir >= 0 && dir < 4 && dir_can_scan(a, a.dirs[dir], c);
}

void fwd_auto_rules_changed(FwdAuto &a, const Config &c) {
	for (FwdAutoDir &d : a.dirs)
		d.on = dir_can_scan(a, d, c) && fwd_scan_needed(*d.rules);
	fwd_auto_scan(a);
}

void fwd_auto_scan(FwdAuto &a) {
	for (const FwdAutoDir &d : a.dirs)
		if (d.on)
			scan_dir(a, d);
}

void fwd_auto_timer(void *ctx, const timespec &) { fwd_auto_scan(*static_cast<FwdAuto *>(ctx)); }

} // namespace passt
