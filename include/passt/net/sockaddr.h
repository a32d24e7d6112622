// Socket addresses <-> our address types, for the translators that open
// host sockets (ICMP, UDP, TCP).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>

#include "passt/net/addr.h"

namespace passt {

union SockAddr {
	sockaddr sa;
	sockaddr_in sin;
	sockaddr_in6 sin6;
};

// Fill out for addr:port (scope: interface index for a link-local IPv6
// address, ignored otherwise). Returns the length to pass to the syscall.
socklen_t sockaddr_from(SockAddr &out, const InAny &addr, uint16_t port, uint32_t scope = 0);

// 127.0.0.1:port, or [::1]:port with v6. Returns the length.
socklen_t sockaddr_loopback(SockAddr &out, bool v6, uint16_t port);

// Address, port and scope of sa; a v4-mapped IPv6 address comes back as
// IPv4. False (outputs untouched) for other families.
bool sockaddr_to(const SockAddr &sa, InAny &addr, uint16_t &port, uint32_t &scope);
bool sockaddr_to(const SockAddr &sa, InAny &addr, uint16_t &port);

} // namespace passt
