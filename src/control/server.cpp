// The control socket (-c/--conf-path): pesto's way into a running passt or
// pasta.
//
// Theory of operation
// -------------------
// The socket is bound before the sandbox, with umask 0177 so that it is
// created owner-only (0600) and no one else may connect; the path is
// removed at exit like passt's own socket. One client is served at a time:
// while it is connected the listening socket is out of the epoll set, and
// the next client waits in the backlog until this one is gone.
//
// The client's socket is non-blocking. Its bytes go into a buffer of one
// request line (CTL_LINE_MAX): each complete line is decoded
// (control/proto.cpp) and handled at once, and its reply built in a fixed
// buffer (CTL_REPLY_MAX) and written; while a reply is not fully out, the
// socket waits for EPOLLOUT and no more input is read. A line that fills
// the buffer without ending, or input that ends in the middle of a line,
// gets an error reply and the client is dropped once it is written. A
// malformed request gets an error reply and the client may go on. A
// client must complete each request and take its reply within
// CTL_TIMEOUT_MS, checked by a timer armed only while a client is
// connected: one that stalls is dropped, and the loop never waits for it.
//
// A change is all or nothing: the operations run on a copy of the four
// tables (control/ops.cpp, with the start-up parser), and only if all
// succeed are the copies moved into the Config and the translators'
// listeners brought in line (the owner's changed hook, which calls the
// fwd_listen_resync() of each and lets "auto" rescan). Listeners that
// stay are not touched, so neither are their connections. Every buffer
// and table here is fixed: nothing allocates after start-up.
//
// #syscalls:init umask chmod fchmodat
// #syscalls accept4 read write close
#include "passt/control/server.h"

#include <cerrno>
#include <cstring>

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "passt/conf/host_defaults.h"
#include "passt/core/log.h"
#include "passt/core/util.h"
#include "passt/tap/tap_stream.h"

namespace passt {

namespace {

// Tables of a request: the copy worked on, and the rules before it.
CtlTables work, before;

int64_t ns_of(const timespec &t) { return int64_t(t.tv_sec) * 1000000000 + t.tv_nsec; }

PortForward &table(Config &c, int d) {
	switch (d) {
	case 0: return c.tcp_in;
	case 1: return c.udp_in;
	case 2: return c.tcp_out;
	default: return c.udp_out;
	}
}

void copy_tables(CtlTables &t, Config &c) {
	for (int d = 0; d < 4; d++)
		t.dir[d] = table(c, d);
}

void drop_client(CtlServer &s) {
	if (s.conn_fd < 0)
		return;
	s.loop->remove(s.conn_fd);
	close(s.conn_fd);
	s.conn_fd = -1;
	s.in_len = s.out_off = s.out_len = 0;
	s.closing = false;
	s.loop->timers().disarm(s.timer);
	s.loop->modify(s.listen_fd, EPOLLIN, EpollRef{RefKind::ControlListen, s.listen_fd, 0});
}

// Writes what is left of the reply; false if the client is gone.
bool flush_out(CtlServer &s) {
	while (s.out_off < s.out_len) {
		ssize_t n = write(s.conn_fd, s.out_data + s.out_off, s.out_len - s.out_off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			s.loop->modify(s.conn_fd, EPOLLOUT,
				       EpollRef{RefKind::ControlConn, s.conn_fd, 0});
			return true;
		}
		if (n <= 0)
			return false;
		s.out_off += size_t(n);
	}
	s.out_off = s.out_len = 0;
	s.deadline_ns = ns_of(now_monotonic()) + int64_t(CTL_TIMEOUT_MS) * 1000000;
	if (s.closing)
		return false;
	s.loop->modify(s.conn_fd, EPOLLIN, EpollRef{RefKind::ControlConn, s.conn_fd, 0});
	return true;
}

size_t error_reply(CtlServer &s, const char *msg) {
	CtlReply r(s.out, sizeof(s.out));
	r.line("%s", msg);
	size_t n = r.finish(false);
	s.out_data = r.data();
	return n;
}

// Complete lines in the input, one at a time while no reply is pending.
bool process_input(CtlServer &s) {
	while (!s.out_len) {
		char *nl = static_cast<char *>(memchr(s.in, '\n', s.in_len));
		if (!nl) {
			if (s.in_len >= sizeof(s.in)) {
				s.out_len = error_reply(s, "request too long");
				s.closing = true;
				return flush_out(s);
			}
			return true;
		}
		size_t len = size_t(nl - s.in);
		s.out_len = ctl_handle_line(s, std::string_view(s.in, len));
		s.in_len -= len + 1;
		memmove(s.in, nl + 1, s.in_len);
		if (!flush_out(s))
			return false;
	}
	return true;
}

void on_conn(CtlServer &s, uint32_t events) {
	if (s.out_len) {
		if (!flush_out(s) || (!s.out_len && !process_input(s)))
			drop_client(s);
		return;
	}
	for (;;) {
		if (s.in_len >= sizeof(s.in))
			break;
		ssize_t n = read(s.conn_fd, s.in + s.in_len, sizeof(s.in) - s.in_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			// The end of the client's input: a partial line is a
			// truncated request.
			if (n == 0 && s.in_len && !memchr(s.in, '\n', s.in_len)) {
				s.out_len = error_reply(s, "truncated request");
				s.closing = true;
				if (flush_out(s) && s.out_len)
					return;
			} else if (n == 0 && s.in_len) {
				s.closing = true;
				if (process_input(s) && s.out_len)
					return;
			}
			drop_client(s);
			return;
		}
		s.in_len += size_t(n);
		if (!process_input(s)) {
			drop_client(s);
			return;
		}
		if (s.out_len)
			return; // wait for EPOLLOUT
	}
	if (!process_input(s))
		drop_client(s);
	(void)events;
}

void on_listen(CtlServer &s) {
	if (s.conn_fd >= 0)
		return;
	int fd = accept4(s.listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (s.loop->add(fd, EPOLLIN, EpollRef{RefKind::ControlConn, fd, 0}) < 0) {
		close(fd);
		return;
	}
	s.conn_fd = fd;
	s.in_len = s.out_off = s.out_len = 0;
	s.closing = false;
	timespec now = now_monotonic();
	s.deadline_ns = ns_of(now) + int64_t(CTL_TIMEOUT_MS) * 1000000;
	s.loop->timers().arm(s.timer, now);
	// One at a time: the next waits in the backlog.
	s.loop->modify(s.listen_fd, 0, EpollRef{RefKind::ControlListen, s.listen_fd, 0});
	debug("control: client connected");
}

void on_event(void *ctx, EpollRef ref, uint32_t events, const timespec &) {
	CtlServer &s = *static_cast<CtlServer *>(ctx);
	if (ref.kind == RefKind::ControlListen)
		on_listen(s);
	else if (ref.fd == s.conn_fd)
		on_conn(s, events);
}

void on_timer(void *ctx, const timespec &now) {
	CtlServer &s = *static_cast<CtlServer *>(ctx);
	if (s.conn_fd < 0) {
		s.loop->timers().disarm(s.timer);
		return;
	}
	if (ns_of(now) >= s.deadline_ns) {
		debug("control: client timed out");
		drop_client(s);
	}
}

} // namespace

int ctl_open(CtlServer &s, Config &c, const std::string &path) {
	s.c = &c;
	mode_t old = umask(0177);
	std::string chosen;
	int fd = tap_stream_listen(path, chosen);
	umask(old);
	if (fd < 0)
		return fd;
	if (chmod(path.c_str(), 0600) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	s.listen_fd = fd;

	HostDefaults host;
	fwd_read_ephemeral_range(host);
	static const char names[] = "tuTU";
	for (int d = 0; d < 4; d++) {
		FwdSpecContext &x = s.actx.spec[d];
		x.optname = names[d];
		x.ipv4 = c.ip4.enabled;
		x.ipv6 = c.ip6.enabled;
		x.proto_enabled = d % 2 == 0 ? !c.no_tcp : !c.no_udp;
		x.scan_allowed = c.mode == Mode::Pasta;
		x.ephemeral_first = host.ephemeral_first;
		x.ephemeral_last = host.ephemeral_last;
		s.actx.available[d] = d < 2 || c.mode == Mode::Pasta;
	}
	return 0;
}

int ctl_start(CtlServer &s, EventLoop &loop) {
	s.loop = &loop;
	loop.set_handler(RefKind::ControlListen, on_event, &s);
	loop.set_handler(RefKind::ControlConn, on_event, &s);
	s.timer = loop.timers().add("control", 1000, on_timer, &s);
	if (s.timer < 0)
		return -ENOSPC;
	loop.timers().disarm(s.timer);
	return loop.add(s.listen_fd, EPOLLIN, EpollRef{RefKind::ControlListen, s.listen_fd, 0});
}

size_t ctl_handle_line(CtlServer &s, std::string_view line) {
	static CtlRequest req;
	char err[FWD_ERR_TEXT];
	if (!ctl_parse_request(line, req, err, sizeof(err))) {
		debug("control: %s", err);
		return error_reply(s, err);
	}
	CtlReply r(s.out, sizeof(s.out));
	if (req.verb == CtlVerb::Show) {
		copy_tables(work, *s.c);
		ctl_format_rules(work, s.actx, r);
		size_t n = r.finish(true);
		s.out_data = r.data();
		return n;
	}
	copy_tables(work, *s.c);
	if (!ctl_apply_ops(req, s.actx, work, err, sizeof(err))) {
		info("control: change refused: %s", err);
		return error_reply(s, err);
	}
	copy_tables(before, *s.c);
	for (int d = 0; d < 4; d++)
		table(*s.c, d) = work.dir[d];
	char warnings[4096];
	FwdChangeLog log{warnings, sizeof(warnings), 0, 0};
	warnings[0] = 0;
	if (s.changed)
		s.changed(s.owner, before, log);
	info("control: forwarding rules changed%s", log.failures ? ", with failures" : "");
	for (char *p = warnings; *p;) {
		char *nl = strchr(p, '\n');
		if (!nl)
			break;
		*nl = 0;
		r.line("%s", p);
		p = nl + 1;
	}
	ctl_format_rules(work, s.actx, r);
	size_t n = r.finish(true);
	s.out_data = r.data();
	return n;
}

} // namespace passt
