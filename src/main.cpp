// Entry point: mode selection from argv[0], start-up order, the loop.
//
// Both modes: the sandbox's first stage (fds, SIGPIPE, capabilities) ->
// probe the host (netlink, resolv.conf) -> parse options -> logging ->
// signalfd (before any child exists, so no SIGCHLD is lost) -> backend
// set-up -> translators (flow table, ICMP, TCP, UDP) -> confine(): the
// rest of the sandbox around daemonising (unless -f) and the PID file ->
// epoll loop. After confine() nothing opens a path or allocates.
//
// pasta: spawn the command paused, or join the target namespace -> open
// the tap device inside it -> --config-net -> release the command (with
// --splice-only no tap device: only lo is brought up, and the translators
// splice every forwarded flow); the loop ends when the command exits (its
// status becomes ours), the joined namespace goes away, or a termination
// signal arrives.
//
// passt: bind the UNIX socket (before daemonising, so qemu can be started
// as soon as we return) -> accept one qemu at a time; when it goes away,
// its flows are dropped and the next one is accepted (or we exit with -1 /
// --fd).
//
// The tap backend (tun, stream or vhost-user) is chosen once, by mode
// (tap_backend_new()), and driven only through its interface
// (passt/tap/backend.h): one handler for all its events, one read loop.
//
// After the sandbox this file only writes stdio on the way out and exits.
// #syscalls write exit_group
// #syscalls:init openat read pipe2 clone set_robust_list setsid dup2 dup3 getpid
// #syscalls:init prlimit64 newfstatat ioctl
#include <fcntl.h>
#include <libgen.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "passt/conf/conf.h"
#include "passt/fwd/rules.h"
#include "passt/conf/resolv.h"
#include "passt/control/server.h"
#include "passt/core/epoll.h"
#include "passt/core/log.h"
#include "passt/core/pcap.h"
#include "passt/core/stats.h"
#include "passt/host/isolation.h"
#include "passt/host/ns.h"
#include "passt/host/pasta_net.h"
#include "passt/host/probe.h"
#include "passt/flow/flow.h"
#include "passt/fwd/auto.h"
#include "passt/icmp/icmp.h"
#include "passt/migrate/migrate.h"
#include "passt/tcp/splice.h"
#include "passt/tcp/tcp.h"
#include "passt/udp/udp.h"
#include "passt/udp/udp_splice.h"
#include "passt/net/pool.h"
#include "passt/tap/backend.h"
#include "passt/tap/tap.h"
#include "passt/tap/tap_stream.h"
#include "passt/tap/tun.h"
#include "passt/tap/vhost_user.h"

using namespace passt;

namespace {

Mode mode_from_argv0(const char *argv0) {
	std::string name(argv0);
	size_t slash = name.rfind('/');
	if (slash != std::string::npos)
		name = name.substr(slash + 1);
	return name.rfind("pasta", 0) == 0 ? Mode::Pasta : Mode::Passt;
}

// Probe the host (on the interfaces -i/--outbound-if4/6 name, if any), then
// parse once: every default in the Config derives from what was probed.
Config configure(int argc, char **argv, Mode mode, HostDefaults &host) {
	std::string hint4, hint6;
	conf_interface_hints(argc, argv, hint4, hint6);
	if (!host_probe(host, hint4, hint6)) {
		fprintf(stderr,
			"%s: no such interface for -i/--interface or --outbound-if4/6: %s\n",
			mode_name(mode), (hint4.empty() ? hint6 : hint4).c_str());
		exit(EXIT_FAILURE);
	}
	read_resolv_conf(host);
	fwd_read_ephemeral_range(host);

	Config c;
	std::string error;
	switch (conf_parse(argc, argv, mode, host, c, error)) {
	case ParseStatus::Error: fprintf(stderr, "%s\n", error.c_str()); exit(EXIT_FAILURE);
	case ParseStatus::Help: usage(c.mode, stdout); exit(EXIT_SUCCESS);
	case ParseStatus::Version: print_version(c.mode, stdout); exit(EXIT_SUCCESS);
	case ParseStatus::PrintCapabilities: print_capabilities(stdout); exit(EXIT_SUCCESS);
	case ParseStatus::Ok: break;
	}
	return c;
}

// Options parsed for compatibility whose capability has not landed yet:
// refuse them (one line, exit 1) rather than ignore them silently.
void reject_unsupported(const Config &c) {
	auto refuse = [&](const char *opt) {
		fprintf(stderr, "%s: %s: not supported yet\n", mode_name(c.mode), opt);
		exit(EXIT_FAILURE);
	};
	auto explicit_fwd = [](const PortForward &f) {
		return f.kind == PortForward::Kind::Spec || f.kind == PortForward::Kind::All;
	};
	if (explicit_fwd(c.tcp_out) && c.mode != Mode::Pasta)
		refuse("-T/--tcp-ns");
	if (explicit_fwd(c.udp_out) && c.mode != Mode::Pasta)
		refuse("-U/--udp-ns");
}

void start_logging(const Config &c) {
	LogConfig lc;
	lc.level = log_level_from(c.log_level, c.quiet);
	lc.force_stderr = c.log_stderr;
	lc.file_path = c.log_file.empty() ? nullptr : c.log_file.c_str();
	lc.file_size = c.log_size;
	log_init(mode_name(c.mode), lc);
	for (const auto &w : c.warnings)
		warn("%s", w.c_str());
}

// Opened (and truncated) while we may still open paths; written once the
// daemon's PID is known.
int open_pid_file(const Config &c) {
	if (c.pid_file.empty())
		return -1;
	int fd = open(c.pid_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die("Failed to open PID file %s: %s", c.pid_file.c_str(), strerror(errno));
	return fd;
}

void write_pid_file(const Config &c, int fd, pid_t pid) {
	if (fd < 0)
		return;
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", int(pid));
	if (write_all(fd, buf, size_t(n)) < 0)
		die("Failed to write PID file %s: %s", c.pid_file.c_str(), strerror(errno));
	close(fd);
}

// Go to the background: the parent exits 0 (setup succeeded), the child
// leaves the terminal's session and logs to syslog from now on. null_fd:
// /dev/null, opened before the root became empty. The parent writes the
// PID file: in its own PID namespace the child is PID 1, and only the
// parent knows the number everybody else sees.
void daemonise(const Config &c, int null_fd, int pid_fd) {
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC))
		die("pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid > 0) {
		// The child learns its outside PID too, for its syslog lines.
		if (write_all(pfd[1], &pid, sizeof(pid)) < 0)
			die("pipe: %s", strerror(errno));
		write_pid_file(c, pid_fd, pid);
		_exit(EXIT_SUCCESS);
	}
	pid_t outside = 0;
	close(pfd[1]);
	if (read(pfd[0], &outside, sizeof(outside)) == ssize_t(sizeof(outside)))
		log_set_pid(outside);
	close(pfd[0]);
	if (pid_fd >= 0)
		close(pid_fd);
	if (setsid() < 0)
		die("setsid: %s", strerror(errno));
	if (null_fd >= 0)
		stdio_to_fd(null_fd);
	log_set_daemonised(true);
}

// What every mode runs: the loop, the tap side and the translators.
struct Core {
	const Config *c = nullptr;
	EventLoop loop;
	int sfd = -1;
	int exit_code = 0;

	TapState st;
	TapStats stats;
	std::unique_ptr<TapBackend> tap;
	// The guest went away (error: as in TapEvent::error): the mode's
	// reaction, pasta exits, passt waits for the next client.
	void (*tap_gone)(Core &k, int error) = nullptr;
	TapDemux demux;
	FlowTable flows;
	std::unique_ptr<IcmpCtx> icmp;
	std::unique_ptr<TcpCtx> tcp;
	std::unique_ptr<UdpCtx> udp;
	std::unique_ptr<FramePool<1024>> pool;
	std::unique_ptr<EventStats> event_stats; // --stats
	std::unique_ptr<CtlServer> ctl;          // -c/--conf-path
};

// -c/--conf-path: the control socket, bound before the sandbox; changes
// reach the listeners through changed(owner, ...).
void control_open(Core &k, Config &c, void (*changed)(void *, const CtlTables &, FwdChangeLog &),
		  void *owner) {
	if (c.conf_path.empty())
		return;
	k.ctl = std::make_unique<CtlServer>();
	int rc = ctl_open(*k.ctl, c, c.conf_path);
	if (rc < 0)
		die("Failed to open the control socket %s: %s", c.conf_path.c_str(), strerror(-rc));
	if ((rc = isolate_keep_for_unlink(c.conf_path)) < 0)
		warn("The control socket will not be removed at exit: %s", strerror(-rc));
	k.ctl->changed = changed;
	k.ctl->owner = owner;
	if ((rc = ctl_start(*k.ctl, k.loop)) < 0)
		die("Control socket: %s", strerror(-rc));
	info("Control socket bound at %s", c.conf_path.c_str());
}

bool on_tap_icmp(void *ctx, std::span<std::byte> frame, const timespec &now) {
	return icmp_tap_input(*static_cast<IcmpCtx *>(ctx), frame, now);
}

bool on_tap_tcp(void *ctx, std::span<std::byte> frame, const timespec &now) {
	return tcp_tap_input(*static_cast<TcpCtx *>(ctx), frame, now);
}

bool on_tap_udp(void *ctx, std::span<std::byte> frame, const timespec &now) {
	return udp_tap_input(*static_cast<UdpCtx *>(ctx), frame, now);
}

// Use as many descriptors as we may: each flow holds a socket, and -t/-u
// "all" bind one per port.
void raise_nofile_limit() {
	rlimit lim;
	if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
		lim.rlim_cur = lim.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &lim) < 0)
			debug("Failed to raise the file descriptor limit: %s", strerror(errno));
	}
}

// The one read loop, for every backend: batches into the pool, each
// through the demux, until the backend has nothing left for now.
void tap_read(Core &k, const timespec &now) {
	for (;;) {
		int n = k.tap->read_batch(*k.pool);
		if (n < 0) {
			k.tap_gone(k, n);
			return;
		}
		if (n == 0)
			return;
		tap_input_pool(k.demux, *k.pool, now);
		if (!k.tap->read_again(*k.pool))
			return;
	}
}

// Any event on any of the backend's fds.
void on_tap_event(void *ctx, EpollRef ref, uint32_t events, const timespec &now) {
	auto *k = static_cast<Core *>(ctx);
	TapEvent ev = k->tap->handle_event(ref, events);
	switch (ev.action) {
	case TapEvent::None: return;
	case TapEvent::Gone: k->tap_gone(*k, ev.error); return;
	case TapEvent::Ready:
		tap_announce(k->demux, now);
		if (k->tcp)
			tcp_out_room(*k->tcp, now);
		k->tap->flush();
		tap_read(*k, now);
		return;
	case TapEvent::Read: tap_read(*k, now); return;
	case TapEvent::Room:
		if (k->tcp)
			tcp_out_room(*k->tcp, now);
		k->tap->flush();
		return;
	}
}

// The mode's tap backend, the flow table, translators and the tap demux
// over it, the RA timer and the signalfd. The backend is not attached yet;
// once it is, it registers its fds itself, all handled by on_tap_event().
void core_init(Core &k, const Config &c, void (*tap_gone)(Core &, int)) {
	k.c = &c;
	int rc;
	if ((rc = k.loop.init()) < 0)
		die("epoll: %s", strerror(-rc));
	if ((rc = k.flows.init()) < 0)
		die("flow table: %s", strerror(-rc));
	k.tap = tap_backend_new(c.mode, &k.stats);
	k.tap->set_event_loop(&k.loop);
	k.tap_gone = tap_gone;
	for (RefKind kind : k.tap->event_kinds())
		k.loop.set_handler(kind, on_tap_event, &k);
	TapBackend &out = *k.tap;
	k.pool = std::make_unique<FramePool<1024>>(out.region());

	k.demux.c = &c;
	k.demux.st = &k.st;
	k.demux.out = &out;
	k.demux.stats = &k.stats;

	k.icmp.reset(new IcmpCtx{c, k.st, out, k.loop, k.flows});
	if (!c.no_icmp) {
		if ((rc = icmp_init(*k.icmp)) < 0)
			die("ICMP: %s", strerror(-rc));
		k.demux.icmp = {on_tap_icmp, k.icmp.get()};
	}
	k.tcp.reset(new TcpCtx{c, k.st, out, k.loop, k.flows});
	if (!c.no_tcp) {
		if ((rc = tcp_init(*k.tcp)) < 0)
			die("TCP: %s", strerror(-rc));
		k.demux.tcp = {on_tap_tcp, k.tcp.get()};
	}
	k.udp.reset(new UdpCtx{c, k.st, out, k.loop, k.flows});
	if (!c.no_udp) {
		if ((rc = udp_init(*k.udp)) < 0)
			die("UDP: %s", strerror(-rc));
		k.demux.udp = {on_tap_udp, k.udp.get(), [](void *p, const timespec &) {
				       udp_tap_flush(*static_cast<UdpCtx *>(p));
			       }};
	}

	if (tap_timer_add(k.demux, k.loop.timers()) < 0)
		die("No timer left for the tap side");
	if (k.loop.add(k.sfd, EPOLLIN, EpollRef{RefKind::Signal, k.sfd, 0}) < 0)
		die("epoll_ctl: %s", strerror(errno));
	if (c.stats_delay) {
		k.event_stats.reset(new EventStats(k.loop));
		if (stats_start(k.loop, *k.event_stats, c.stats_delay, STDERR_FILENO) < 0)
			die("--stats: no timer left");
	}
}

// The guest went away: its flows mean nothing to the next one (TCP peers on
// the host are reset).
void core_drop_guest_flows(Core &k) {
	k.flows.for_each([&](uint32_t i, Flow &f) {
		if (f.type == FlowType::Ping4 || f.type == FlowType::Ping6)
			icmp_flow_close(*k.icmp, i);
		else if (f.type == FlowType::Udp)
			udp_flow_close(*k.udp, i);
	});
	if (k.tcp)
		tcp_drop_guest_flows(*k.tcp);
	k.st = TapState{};
}

// The end, from inside the sandbox: nothing is freed on the way out
// (free() may give memory back with munmap() or brk(), which the filter
// does not allow), the kernel takes it all back anyway.
[[noreturn]] void core_exit(Core &k) {
	debug("tap: %lu frames in, %lu out, %lu malformed, %lu unhandled, %lu dropped",
	      (unsigned long)k.stats.frames_in, (unsigned long)k.stats.frames_out,
	      (unsigned long)k.stats.malformed, (unsigned long)k.stats.unhandled,
	      (unsigned long)k.stats.out_dropped);
	isolate_unlink_kept();
	pcap_close();
	fflush(nullptr);
	_exit(k.exit_code);
}

// Stages 2 to 4 of the sandbox (see passt/host/isolation.h), with what
// must happen between them: the PID file and /dev/null are opened while
// paths still exist, and the process forks to the background (fork_away)
// into its new PID namespace (new_pidns). The caller registered what
// else is to be removed at exit with isolate_keep_for_unlink().
void confine(Core &k, const Config &c, const RunAs &ru, bool fork_away, bool new_pidns) {
	int pid_fd = open_pid_file(c);
	int rc;
	if (!c.pid_file.empty() && (rc = isolate_keep_for_unlink(c.pid_file)) < 0)
		warn("The PID file will not be removed at exit: %s", strerror(-rc));
	if ((rc = isolate_start_cleaner()) < 0)
		die("Failed to start the clean-up process: %s", strerror(-rc));
	int null_fd = fork_away ? open("/dev/null", O_RDWR | O_CLOEXEC) : -1;

	isolate_user(ru, c.mode);
	isolate_prefork(new_pidns, c.chroot_fallback);
	if (fork_away) {
		daemonise(c, null_fd, pid_fd);
		// An epoll registration of a signalfd watches the signals of
		// the process that made it: make it again in this one.
		if (k.loop.remove(k.sfd) < 0 ||
		    k.loop.add(k.sfd, EPOLLIN, EpollRef{RefKind::Signal, k.sfd, 0}) < 0)
			die("epoll_ctl: %s", strerror(errno));
	} else {
		write_pid_file(c, pid_fd, getpid());
	}
	isolate_postfork(c.mode);
}

void open_pcap_and_print(const Config &c) {
	if (!c.pcap_file.empty() && pcap_open(c.pcap_file.c_str()) < 0)
		die("Failed to open pcap file %s", c.pcap_file.c_str());
	if (!c.quiet)
		conf_print(c, stderr);
}

// ---- pasta: tap device in a namespace -------------------------------------

struct PastaRuntime : Core {
	NsHandle ns;
	NsCommand cmd;
	bool have_cmd = false;
	NsWatch watch;
	FwdAuto autofwd;            // -t/-u/-T/-U auto
	NsSocketHelper sock_helper; // sockets in the namespace (splice)
	std::unique_ptr<SpliceCtx> splice;
	std::unique_ptr<UdpSpliceCtx> udp_splice; // -U, and -u from the host's loopback
};

// A run-time rule change (-c): each translator's listeners follow, and
// "auto" directions are turned on or off.
void pasta_rules_changed(void *p, const CtlTables &old, FwdChangeLog &log) {
	auto *rt = static_cast<PastaRuntime *>(p);
	if (rt->tcp)
		tcp_listen_resync(*rt->tcp, old.dir[0], log);
	if (rt->udp)
		udp_listen_resync(*rt->udp, old.dir[1], log);
	if (rt->splice)
		tcp_splice_listen_resync(*rt->splice, old.dir[2], log);
	if (rt->udp_splice)
		udp_splice_listen_resync(*rt->udp_splice, old.dir[3], log);
	fwd_auto_rules_changed(rt->autofwd, *rt->c);
}

// The tap device broke: nothing to wait for, exit.
void pasta_tap_gone(Core &k, int error) {
	if (error)
		err("reading from the tap device: %s", strerror(-error));
	else
		err("tap device error, exiting");
	k.exit_code = EXIT_FAILURE;
	k.loop.stop();
}

void on_pasta_signal(void *ctx, EpollRef, uint32_t, const timespec &) {
	auto *rt = static_cast<PastaRuntime *>(ctx);
	NsSignalResult r = ns_signalfd_handle(rt->sfd, rt->have_cmd ? &rt->cmd : nullptr);
	switch (r.event) {
	case NsSignalEvent::CommandExited:
		debug("command exited with status %d", r.exit_code);
		rt->exit_code = r.exit_code;
		rt->loop.stop();
		break;
	case NsSignalEvent::Terminate:
		info("terminating on signal %d", r.signo);
		rt->exit_code = r.exit_code;
		rt->loop.stop();
		break;
	case NsSignalEvent::None: break;
	}
}

void on_ns_gone(void *ctx, EpollRef, uint32_t, const timespec &) {
	auto *rt = static_cast<PastaRuntime *>(ctx);
	if (ns_watch_gone(&rt->watch)) {
		info("namespace is gone, exiting");
		rt->loop.stop();
	}
}

// The target namespace: join the one given (PID, --netns), watching it from
// now on, or spawn the command, paused, in new ones.
void pasta_enter_ns(PastaRuntime &rt, const Config &c) {
	std::string error;
	int rc;
	if (c.target_pid || !c.netns.empty()) {
		// conf records a PID's namespace as its /proc path too: join by PID.
		rc = ns_join(c.target_pid, c.target_pid ? std::string() : c.netns, c.userns,
			     c.netns_only, &rt.ns, &error);
		if (rc < 0)
			die("Failed to join the target namespace: %s", error.c_str());
		// Watch it from now on: if it goes away while we set up, the
		// loop still learns of it (a pidfd stays readable once the
		// process has exited).
		if (!c.no_netns_quit && (rc = ns_watch_start(rt.ns, &rt.watch)) < 0)
			die("The target namespace went away: %s", strerror(-rc));
	} else {
		NsSpawn how;
		how.new_pidns = !c.no_pidns;
		how.new_userns = !c.netns_only && c.userns.empty();
		if (!c.userns.empty() &&
		    (how.userns_fd = open(c.userns.c_str(), O_RDONLY | O_CLOEXEC)) < 0)
			die("Failed to open the user namespace %s: %s", c.userns.c_str(),
			    strerror(errno));
		rc = ns_spawn_command(c.command, how, &rt.ns, &rt.cmd, &error);
		if (how.userns_fd >= 0)
			close(how.userns_fd);
		if (rc < 0)
			die("Failed to start the command in a new namespace: %s", error.c_str());
		rt.have_cmd = true;
		if (how.new_pidns && !rt.cmd.own_proc)
			debug("The command's PID namespace has the host's /proc: mounting its own: "
			      "%s",
			      strerror(rt.cmd.proc_errno));
	}
}

// Set-up failed: the spawned command, if any, goes too.
[[noreturn]] void pasta_fail(PastaRuntime &rt, const char *fmt, const char *what) {
	if (rt.have_cmd)
		ns_kill_command(&rt.cmd);
	die(fmt, what);
}

// The namespace's socket helper and the loopback bypass (TCP and UDP
// splice), which open their -T/-U listeners in the namespace through it.
void pasta_start_splice(PastaRuntime &rt, const Config &c) {
	int rc;
	// The helper also relays our signals to the command, which we may no
	// longer signal ourselves once we are nobody.
	if ((!c.no_tcp || !c.no_udp || rt.have_cmd) &&
	    (rc = ns_socket_helper_start(rt.ns, &rt.sock_helper, rt.have_cmd ? rt.cmd.pid : 0)) < 0)
		pasta_fail(rt, "Failed to start the namespace socket helper: %s", strerror(-rc));
	if (rt.have_cmd)
		rt.cmd.relay = &rt.sock_helper;
	if (!c.no_udp) {
		rt.udp_splice.reset(new UdpSpliceCtx{c, rt.loop, rt.flows, rt.sock_helper});
		if ((rc = udp_splice_init(*rt.udp_splice)) < 0)
			pasta_fail(rt, "UDP splice: %s", strerror(-rc));
		rt.udp->splice = rt.udp_splice.get();
	}
	if (!c.no_tcp) {
		rt.splice.reset(new SpliceCtx{c, rt.loop, rt.flows, rt.sock_helper});
		if ((rc = tcp_splice_init(*rt.splice)) < 0)
			pasta_fail(rt, "TCP splice: %s", strerror(-rc));
		rt.tcp->splice = rt.splice.get();
		rt.splice->accept_pause.timer = rt.tcp->timer; // tcp_timer() resumes them
	}
}

[[noreturn]] void pasta_main(Config &c, const HostDefaults &host, const RunAs &ru) {
	auto rt = std::make_unique<PastaRuntime>();
	std::string error;

	rt->sfd = ns_signalfd_open();
	if (rt->sfd < 0)
		die("signalfd: %s", strerror(-rt->sfd));

	pasta_enter_ns(*rt, c);
	int rc;

	// --splice-only: no tap device, only the loopback (nothing else of
	// the namespace's network is ours to configure then).
	int tapfd = -1;
	if (c.splice_only) {
		if ((rc = pasta_lo_up(rt->ns)) < 0)
			warn("Failed to bring up lo in the namespace: %s", strerror(-rc));
	} else {
		const std::string ifname = c.ns_ifname.empty() ? std::string("tap0") : c.ns_ifname;
		char actual[IFNAMSIZ] = {};
		unsigned offloads = 0;
		tapfd = tun_open_in_ns(rt->ns, ifname.c_str(), true, actual, &offloads);
		if (tapfd < 0)
			pasta_fail(*rt, "Failed to open the tap device in the namespace: %s",
				   strerror(-tapfd));
		debug("tap device %s, offloads 0x%x", actual, offloads);

		if (c.config_net) {
			if (pasta_config_net(c, host, rt->ns, actual, &error) < 0)
				pasta_fail(*rt,
					   "Failed to configure the namespace (--config-net): %s",
					   error.c_str());
		} else if ((rc = pasta_lo_up(rt->ns)) < 0) {
			warn("Failed to bring up lo in the namespace: %s", strerror(-rc));
		}
	}
	if ((rc = ns_set_ping_group_range(rt->ns)) < 0)
		debug("Failed to set ping_group_range in the namespace: %s", strerror(-rc));

	open_pcap_and_print(c);
	core_init(*rt, c, pasta_tap_gone);
	pasta_start_splice(*rt, c);

	// -t/-u/-T/-U auto: start, then rescan from a timer. (A lambda: the
	// address of a function of another file would be a GOT load.)
	FwdAutoTranslators fwd_ts{rt->tcp.get(), rt->splice.get(), rt->udp.get(),
				  rt->udp_splice.get()};
	if (fwd_auto_start(rt->autofwd, c, rt->ns, fwd_ts) &&
	    rt->loop.timers().add(
		    "auto-fwd", FWD_AUTO_INTERVAL_MS,
		    [](void *p, const timespec &now) { fwd_auto_timer(p, now); }, &rt->autofwd) < 0)
		warn("No timer left for automatic port forwarding");
	control_open(*rt, c, pasta_rules_changed, rt.get());
	for (int d = 0; rt->ctl && d < 4; d++)
		rt->ctl->actx.spec[d].scan_allowed = fwd_auto_can_scan(rt->autofwd, c, d);

	rt->loop.set_handler(RefKind::Signal, on_pasta_signal, rt.get());
	rt->loop.set_handler(RefKind::NsQuitInotify, on_ns_gone, rt.get());
	rt->loop.set_handler(RefKind::NsQuitTimer, on_ns_gone, rt.get());
	if (tapfd >= 0 && (rc = rt->tap->attach(tapfd)) < 0)
		pasta_fail(*rt, "epoll_ctl: %s", strerror(-rc));

	if (rt->watch.fd >= 0) {
		RefKind k = rt->watch.kind == NsWatch::Kind::Timer ? RefKind::NsQuitTimer
								   : RefKind::NsQuitInotify;
		rt->loop.add(rt->watch.fd, EPOLLIN, EpollRef{k, rt->watch.fd, 0});
	}

	// Joining an existing namespace, we detach once it is set up (unless
	// -f); with a spawned command we stay its parent, in the foreground.
	const bool fork_away = !rt->have_cmd && !c.foreground;
	confine(*rt, c, ru, fork_away, fork_away);
	if (rt->have_cmd && (rc = ns_release_command(&rt->cmd)) < 0)
		die("Failed to start the command: %s", strerror(-rc));

	if (tapfd >= 0)
		tap_announce(rt->demux, now_monotonic());
	if ((rc = rt->loop.run()) < 0)
		err("epoll_wait: %s", strerror(-rc));
	core_exit(*rt);
}

// ---- passt: qemu's -netdev stream socket, or vhost-user ------------------

struct PasstRuntime : Core {
	int listen_fd = -1;
	std::string sock_path;
	std::unique_ptr<Migrator> migrator; // vhost-user: live migration
};

// A run-time rule change (-c): passt has -t and -u only.
void passt_rules_changed(void *p, const CtlTables &old, FwdChangeLog &log) {
	auto *rt = static_cast<PasstRuntime *>(p);
	if (rt->tcp)
		tcp_listen_resync(*rt->tcp, old.dir[0], log);
	if (rt->udp)
		udp_listen_resync(*rt->udp, old.dir[1], log);
}

// The client (qemu's stream socket or vhost-user front-end) went away or
// broke the protocol: close it; with -1/--fd quit, else wait for the next.
void passt_tap_gone(Core &k, int error) {
	auto &rt = static_cast<PasstRuntime &>(k);
	const char *why = error && error != -ESHUTDOWN ? strerror(-error) : nullptr;
	info("%s connection closed%s%s", rt.tap->client_name(), why ? ": " : "", why ? why : "");
	rt.tap->detach();
	core_drop_guest_flows(rt);
	if (rt.migrator)
		rt.migrator->front_end_gone();
	if (rt.c->one_off || rt.c->fd >= 0 || rt.listen_fd < 0) {
		rt.loop.stop();
		return;
	}
	rt.loop.modify(rt.listen_fd, EPOLLIN, EpollRef{rt.tap->listen_kind(), rt.listen_fd, 0});
}

// A client on the listening socket: one at a time. A stream client can take
// frames at once; a vhost-user front-end only once its rings are set up
// (TapEvent::Ready).
void on_passt_listen(void *ctx, EpollRef, uint32_t, const timespec &now) {
	auto *rt = static_cast<PasstRuntime *>(ctx);
	int fd = tap_stream_accept(rt->listen_fd);
	if (fd < 0)
		return;
	if (rt->tap->connected()) {
		info("Rejecting a second client: one at a time");
		close(fd);
		return;
	}
	int rc = rt->tap->attach(fd);
	if (rc < 0) {
		err("Failed to set up the client connection: %s", strerror(-rc));
		return;
	}
	info("%s connected", rt->tap->client_name());
	// Stop accepting while connected.
	rt->loop.modify(rt->listen_fd, 0, EpollRef{rt->tap->listen_kind(), rt->listen_fd, 0});
	if (rt->tap->ready_on_attach())
		tap_announce(rt->demux, now);
}

void on_repair_event(void *ctx, EpollRef ref, uint32_t events, const timespec &) {
	static_cast<Migrator *>(ctx)->handle_event(ref, events);
}

// vhost-user: the state stream for live migration, and the socket
// passt-repair connects to (--repair-path; by default the vhost-user
// socket's path with ".repair" appended, none with --fd), bound before
// the sandbox.
void migration_open(PasstRuntime &rt, const Config &c) {
	rt.migrator =
		std::make_unique<Migrator>(c, rt.st, c.no_tcp ? nullptr : rt.tcp.get(), rt.loop);
	static_cast<VhostUserBackend &>(*rt.tap).set_migration_handler(rt.migrator.get());
	std::string path = c.repair_path;
	if (path.empty() && !rt.sock_path.empty())
		path = repair_default_path(rt.sock_path);
	if (path.empty() || path == "none")
		return;
	int rc = rt.migrator->open_repair(path);
	if (rc < 0)
		die("Failed to open the repair socket %s: %s", path.c_str(), strerror(-rc));
	if ((rc = isolate_keep_for_unlink(path)) < 0)
		warn("The repair socket will not be removed at exit: %s", strerror(-rc));
	rt.loop.set_handler(RefKind::RepairListen, on_repair_event, rt.migrator.get());
	rt.loop.set_handler(RefKind::RepairConn, on_repair_event, rt.migrator.get());
	info("Repair socket bound at %s", path.c_str());
}

void on_passt_signal(void *ctx, EpollRef, uint32_t, const timespec &) {
	auto *rt = static_cast<PasstRuntime *>(ctx);
	NsSignalResult r = ns_signalfd_handle(rt->sfd, nullptr);
	if (r.event == NsSignalEvent::Terminate) {
		info("terminating on signal %d", r.signo);
		rt->exit_code = r.exit_code;
		rt->loop.stop();
	}
}

[[noreturn]] void passt_main(Config &c, const RunAs &ru) {
	auto rt = std::make_unique<PasstRuntime>();
	int rc;
	rt->sfd = ns_signalfd_open();
	if (rt->sfd < 0)
		die("signalfd: %s", strerror(-rt->sfd));

	if (c.fd < 0) {
		rt->listen_fd = tap_stream_listen(c.socket_path, rt->sock_path);
		if (rt->listen_fd < 0)
			die("Failed to open the UNIX socket %s: %s",
			    c.socket_path.empty() ? "(probing /tmp/passt_N.socket)"
						  : c.socket_path.c_str(),
			    strerror(-rt->listen_fd));
		info("UNIX domain socket bound at %s", rt->sock_path.c_str());
		if ((rc = isolate_keep_for_unlink(rt->sock_path)) < 0)
			warn("The socket file will not be removed at exit: %s", strerror(-rc));
	}
	open_pcap_and_print(c);

	core_init(*rt, c, passt_tap_gone);
	const RefKind listen_kind = rt->tap->listen_kind();
	rt->loop.set_handler(listen_kind, on_passt_listen, rt.get());
	rt->loop.set_handler(RefKind::Signal, on_passt_signal, rt.get());
	control_open(*rt, c, passt_rules_changed, rt.get());
	if (c.mode == Mode::VhostUser)
		migration_open(*rt, c);
	if (c.fd >= 0) {
		if ((rc = rt->tap->attach(c.fd)) < 0)
			die("--fd %d: %s", c.fd, strerror(-rc));
	} else {
		if (rt->loop.add(rt->listen_fd, EPOLLIN, EpollRef{listen_kind, rt->listen_fd, 0}) <
		    0)
			die("epoll_ctl: %s", strerror(errno));
		info("%s", rt->tap->qemu_hint(rt->sock_path).c_str());
	}

	// Our own PID namespace even with -f: only children would enter it,
	// and there are none, but it costs nothing.
	confine(*rt, c, ru, !c.foreground, true);
	// A vhost-user guest is announced to once its queues are running.
	if (rt->tap->ready_on_attach() && rt->tap->connected())
		tap_announce(rt->demux, now_monotonic());
	if ((rc = rt->loop.run()) < 0)
		err("epoll_wait: %s", strerror(-rc));
	if (rt->listen_fd >= 0)
		close(rt->listen_fd);
	core_exit(*rt);
}

} // namespace

int main(int argc, char **argv) {
	Mode mode = mode_from_argv0(argc > 0 ? argv[0] : "passt");
	isolate_initial(argc, argv, mode);
	HostDefaults host;
	Config c = configure(argc, argv, mode, host);
	reject_unsupported(c);
	RunAs ru;
	std::string error;
	if (isolate_resolve_user(c, &ru, &error) < 0) {
		fprintf(stderr, "%s\n", error.c_str());
		exit(EXIT_FAILURE);
	}
	start_logging(c);
	raise_nofile_limit();

	if (c.mode == Mode::Pasta)
		pasta_main(c, host, ru);
	passt_main(c, ru);
}
