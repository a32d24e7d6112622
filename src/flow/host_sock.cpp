// Opening a flow's host socket; the rules are in include/passt/flow/host_sock.h.
// #syscalls socket setsockopt bind connect getsockname close
#include "passt/flow/host_sock.h"

#include <cerrno>
#include <cstring>

#include <netinet/in.h>
#include <sys/socket.h>

#include "passt/core/log.h"
#include "passt/core/util.h"
#include "passt/fwd/nat.h"
#include "passt/net/sockaddr.h"

namespace passt {

namespace {

// Log the step that failed (callers log the flow) and return -errno.
int fail(const char *step, const InAny &addr, int e) {
	debug_rl("host socket: %s (%s): %s", step, addr.text().c_str(), strerror(e));
	return -e;
}

// Bind to --outbound-if4/6 if there is one for this peer.
int bind_ifname(const Config &c, int fd, const InAny &peer) {
	const std::string &ifname = fwd_bind_ifname(c, peer);
	if (ifname.empty())
		return 0;
	if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(),
		       socklen_t(ifname.size() + 1)) < 0)
		return fail("SO_BINDTODEVICE", peer, errno);
	return 0;
}

} // namespace

int host_sock_open(const Config &c, const HostSockSpec &spec, FlowSide &host,
		   uint32_t *peer_scope) {
	bool v4 = host.peer_addr.is_v4();
	int fd = socket(v4 ? AF_INET : AF_INET6, spec.type | SOCK_NONBLOCK | SOCK_CLOEXEC,
			spec.protocol);
	if (fd < 0)
		return fail("socket", host.peer_addr, errno);
	Fd sock(fd);

	if (int rc = bind_ifname(c, fd, host.peer_addr); rc < 0)
		return rc;

	// An unset address of the peer's family: the wildcard.
	InAny ours = host.our_addr;
	if (ours.is_unspecified())
		ours = v4 ? InAny(Ipv4Addr{}) : InAny(Ipv6Addr{});
	SockAddr sa;
	if (spec.type != SOCK_STREAM || !host.our_addr.is_unspecified() || host.our_port) {
		socklen_t len = sockaddr_from(sa, ours, host.our_port, fwd_scope_id(c, ours));
		if (bind(fd, &sa.sa, len) < 0)
			return fail("bind", ours, errno);
	}

	uint32_t scope = fwd_scope_id(c, host.peer_addr);
	if (spec.connect) {
		socklen_t len = sockaddr_from(sa, host.peer_addr, host.peer_port, scope);
		if (connect(fd, &sa.sa, len) < 0 &&
		    !(errno == EINPROGRESS && spec.type == SOCK_STREAM))
			return fail("connect", host.peer_addr, errno);
	}

	SockAddr got;
	socklen_t glen = sizeof(got);
	InAny addr;
	uint16_t port;
	if (getsockname(fd, &got.sa, &glen) < 0)
		return fail("getsockname", host.peer_addr, errno);
	if (!sockaddr_to(got, addr, port))
		return fail("getsockname", host.peer_addr, EAFNOSUPPORT);
	host.our_addr = addr;
	host.our_port = port;
	if (peer_scope)
		*peer_scope = scope;
	return sock.release();
}

} // namespace passt
