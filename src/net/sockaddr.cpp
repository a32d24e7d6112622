// Socket address conversions; see include/passt/net/sockaddr.h.
#include "passt/net/sockaddr.h"

#include <cstring>

namespace passt {

socklen_t sockaddr_from(SockAddr &out, const InAny &addr, uint16_t port, uint32_t scope) {
	std::memset(&out, 0, sizeof(out));
	if (addr.is_v4()) {
		out.sin.sin_family = AF_INET;
		out.sin.sin_port = be16::from_host(port).raw;
		std::memcpy(&out.sin.sin_addr, addr.v4().b.data(), 4);
		return sizeof(out.sin);
	}
	out.sin6.sin6_family = AF_INET6;
	out.sin6.sin6_port = be16::from_host(port).raw;
	std::memcpy(&out.sin6.sin6_addr, addr.v6().b.data(), 16);
	if (addr.v6().is_link_local())
		out.sin6.sin6_scope_id = scope;
	return sizeof(out.sin6);
}

socklen_t sockaddr_loopback(SockAddr &out, bool v6, uint16_t port) {
	return v6 ? sockaddr_from(out, Ipv6Addr::loopback(), port)
		  : sockaddr_from(out, Ipv4Addr::loopback(), port);
}

bool sockaddr_to(const SockAddr &sa, InAny &addr, uint16_t &port, uint32_t &scope) {
	if (sa.sa.sa_family == AF_INET) {
		Ipv4Addr a;
		std::memcpy(a.b.data(), &sa.sin.sin_addr, 4);
		addr = InAny(a);
		port = be16::from_raw(sa.sin.sin_port).host();
		scope = 0;
		return true;
	}
	if (sa.sa.sa_family == AF_INET6) {
		Ipv6Addr a;
		std::memcpy(a.b.data(), &sa.sin6.sin6_addr, 16);
		addr = a.is_v4mapped() ? InAny(a.v4_tail()) : InAny(a);
		port = be16::from_raw(sa.sin6.sin6_port).host();
		scope = sa.sin6.sin6_scope_id;
		return true;
	}
	return false;
}

bool sockaddr_to(const SockAddr &sa, InAny &addr, uint16_t &port) {
	uint32_t scope;
	return sockaddr_to(sa, addr, port, scope);
}

} // namespace passt
