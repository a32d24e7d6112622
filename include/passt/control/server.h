// The control socket of -c/--conf-path (control/server.cpp): a UNIX stream
// socket, owner-only, through which pesto shows and changes the forwarding
// rules of the running instance (protocol: control/proto.h, doc/control.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string>

#include "passt/conf/config.h"
#include "passt/control/ops.h"
#include "passt/control/proto.h"
#include "passt/core/epoll.h"
#include "passt/fwd/listeners.h"

namespace passt {

// A client has this long to send each request and take its reply.
inline constexpr unsigned CTL_TIMEOUT_MS = 5000;

struct CtlServer {
	Config *c = nullptr;
	EventLoop *loop = nullptr;
	int listen_fd = -1;
	int conn_fd = -1; // one client at a time; others wait in the backlog
	int timer = -1;
	int64_t deadline_ns = 0; // the client is dropped past it
	bool closing = false;    // drop the client once its reply is out
	size_t in_len = 0;
	size_t out_off = 0, out_len = 0;
	const char *out_data = nullptr;
	CtlApplyContext actx;
	// A change was committed to *c: bring the listeners in line. old has
	// the rules they were opened for; failures go to log.
	void (*changed)(void *owner, const CtlTables &old, FwdChangeLog &log) = nullptr;
	void *owner = nullptr;
	char in[CTL_LINE_MAX];
	char out[CTL_REPLY_MAX];
};

// Before the sandbox: binds path (a stale socket there is replaced, a live
// one or another file is an error) with mode 0600, listens, and fills
// s.actx from c as start-up parsed the options (the host's ephemeral port
// range read again here). 0 or -errno.
int ctl_open(CtlServer &s, Config &c, const std::string &path);

// Registers the listening socket and the client timeout with loop. 0 or
// -errno.
int ctl_start(CtlServer &s, EventLoop &loop);

// Handles one decoded request line into a reply in s.out (also for tests):
// returns the reply's length from s.out_data.
size_t ctl_handle_line(CtlServer &s, std::string_view line);

} // namespace passt
