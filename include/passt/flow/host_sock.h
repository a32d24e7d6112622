// The host socket of a flow started by the guest: one place that opens it,
// for every translator (TCP, UDP, ICMP echo).
//
// Given the flow's host side (fwd_guest_to_host(): the peer after NAT, and
// the address to bind, from -o / --outbound or loopback), this opens a
// non-blocking, close-on-exec socket of the requested type and protocol,
// binds it to the host-side interface and address, connects it if asked,
// and reads back what the kernel picked for our end.
//
// The rules, the same for all translators:
//   - Interface: --outbound-if4 / --outbound-if6 of the peer's family, never
//     for a loopback peer or our link-local address (fwd_bind_ifname()). The
//     man page promises that outgoing traffic uses that interface, so if
//     SO_BINDTODEVICE fails (no such interface, or a kernel that does not
//     let us) the socket is not opened: the flow fails rather than leave
//     through whatever interface the routes pick.
//   - Address: our_addr and our_port of the host side. A stream socket
//     binds only if one of them is set (so that connect() picks the source
//     port knowing the whole 4-tuple); a datagram socket always binds, to
//     the wildcard if need be, which is what connect() or sendto() would do
//     anyway and lets a ping socket learn its echo identifier now. A failed
//     bind() fails the socket, for the same reason as above.
//   - Link-local scope: an IPv6 link-local address, ours or the peer's, is
//     scoped by fwd_scope_id() (the one rule: see fwd.h); every other
//     address gets no scope.
//   - Connect (if asked): EINPROGRESS is success for a stream socket, whose
//     caller waits for EPOLLOUT.
// Translator-specific options (TCP_NODELAY, SO_PEEK_OFF, ...) are the
// caller's, after this returns.
//
// Only at flow creation, never per packet. No allocation.
#pragma once

#include <cstdint>

#include "passt/conf/config.h"
#include "passt/flow/flow.h"

namespace passt {

// What to open for a flow.
struct HostSockSpec {
	int type;     // SOCK_STREAM or SOCK_DGRAM
	int protocol; // IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP(V6)
	// connect() to the peer (false: the caller names the peer per
	// datagram, as ICMP does).
	bool connect = true;
};

// Open the socket of a flow whose host side is host (its family is the
// peer's). On success host.our_addr / our_port hold the socket's own
// address and port (echo identifier for ping sockets) as getsockname()
// reports them (for a stream socket still connecting: as far as known),
// *peer_scope (if given) the scope id of the peer for later sendto()s, and
// the fd is returned. On failure -errno, nothing is left open and host is
// unchanged.
int host_sock_open(const Config &c, const HostSockSpec &spec, FlowSide &host,
		   uint32_t *peer_scope = nullptr);

} // namespace passt
