// TCP translator, inbound listeners: one listening socket per forwarded
// port and address family (-t; the walk over the rules, its error policy
// and descriptor budget are fwd/listeners.cpp's), kept in step with the
// namespace's bound ports for pasta's "-t auto", and accept() on them.
//
// System calls: socket, setsockopt, bind, listen (pasta's auto-forwarding
// scans open listeners after start-up, passt only at start-up), accept4,
// close.
// #syscalls accept4 bind close setsockopt socket
// #syscalls:pasta listen
#include <cerrno>
#include <cstring>

#include <netinet/in.h>
#include <sys/socket.h>

#include "passt/core/log.h"
#include "passt/fwd/listeners.h"
#include "passt/net/sockaddr.h"
#include "tcp_priv.h"

namespace passt::tcp_detail {

namespace {

constexpr FwdListenNames NAMES{"TCP", "listener", "listen on", false};

// Open one listener; -errno on failure.
int listen_one(TcpCtx &ctx, const PortRule &r, uint32_t rule, uint16_t port, bool v6) {
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			IPPROTO_TCP);
	return fwd_listen_open(ctx.c, fd < 0 ? -errno : fd, r, port, v6, true, false, [&](int s) {
		TcpListener li = fwd_listener(s, r, rule, port, v6);
		return ctx.listeners.add_polled(ctx.loop, {RefKind::TcpListen, s, 0}, li);
	});
}

// Close the listener in slot i and free the slot.
void listen_close(TcpCtx &ctx, uint32_t i) { ctx.listeners.close_polled(ctx.loop, i); }

} // namespace

int listen_open_all(TcpCtx &ctx) {
	// Keep half of the descriptors for connections.
	return fwd_listen_open_rules(ctx, ctx.c.tcp_in, NAMES, fwd_listen_budget(2), listen_one);
}

} // namespace passt::tcp_detail

namespace passt {

using namespace tcp_detail;

int tcp_listen_sync(TcpCtx &ctx, const PortBitmap &want) {
	if (ctx.c.no_tcp)
		return 0;
	return fwd_listen_sync(ctx, ctx.c.tcp_in, want, NAMES, listen_one, listen_close);
}

int tcp_listen_resync(TcpCtx &ctx, const PortForward &old, FwdChangeLog &log) {
	if (ctx.c.no_tcp)
		return 0;
	return fwd_listen_resync(
		ctx, old, ctx.c.tcp_in, NAMES, listen_one, listen_close,
		+[](TcpCtx &x, uint32_t i, uint32_t ri) { x.listeners[i].rule = ri; },
		[&](const PortRule &r, uint16_t p, bool v6, int rc) {
			fwd_change_log_failed(log, NAMES, r, p, v6, rc);
		});
}

void tcp_listen_handler(TcpCtx &ctx, EpollRef ref, uint32_t, const timespec &now) {
	if (ref.index >= ctx.listeners.size() || ctx.listeners[ref.index].fd != ref.fd)
		return;
	for (int i = 0; i < 64; i++) {
		int fd = accept4(ref.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (accept_out_of_fds(errno)) {
				warn_rl("TCP: accept: %s: pausing the listener for %u ms",
					strerror(errno), ACCEPT_PAUSE_MS);
				ctx.stats.accept_paused++;
				ctx.accept_pause.pause(ctx.loop, ctx.listeners, ref.index, ref,
						       ts_ns(now));
			} else if (errno != EAGAIN && errno != EWOULDBLOCK) {
				warn_rl("TCP: accept: %s", strerror(errno));
			}
			return;
		}
		conn_from_sock(ctx, ctx.listeners[ref.index], fd, now);
	}
}

} // namespace passt
