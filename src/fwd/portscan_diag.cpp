// Port scanning through NETLINK_SOCK_DIAG, the cheap way to the same
// answer as /proc/net/{tcp,tcp6,udp,udp6} (portscan.cpp).
//
// Theory of operation
// -------------------
// Reading /proc/net/tcp makes the kernel walk its whole table of
// established connections, which is shared by every network namespace of
// the machine, to print the few sockets of ours: measured here, 10 ms of
// system time for tcp and tcp6 once, and pasta scans every second, on both
// sides, for as long as it runs (about 5% of its samples during a bulk
// transfer). A sock_diag dump asking for listening TCP sockets only
// (idiag_states = 1 << TCP_LISTEN) walks the listening hash and nothing
// else; for UDP it asks for unconnected sockets (TCP_CLOSE, which UDP
// reuses: the /proc tables' state 07) and walks the UDP table. A dump
// lists the sockets of the namespace the netlink socket was created in,
// so the socket is made there once, at start-up (ns_socket() for the
// namespace's side), and the same request is sent again at each scan.
//
// Each reply is a run of inet_diag_msg records, ended by NLMSG_DONE;
// NLMSG_ERROR means the kernel can't do it (no inet_diag or udp_diag in
// it: ENOENT), and the scanner then falls back to /proc for that protocol
// for good. Records are checked for length before use and anything
// unexpected ends the dump with an error (the caller then reads /proc).
// Local addresses and the LoopbackOrAny filter are those of portscan.cpp.
//
// #syscalls:pasta sendto recvfrom
// #syscalls:init socket close
#include <cerrno>
#include <cstring>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "passt/fwd/portscan.h"
#include "passt/host/ns.h"

namespace passt {

namespace {

// TCP states as sock_diag numbers them (linux/tcp_states.h, not exported
// to user space under these names).
constexpr unsigned DIAG_TCP_LISTEN = 10;
constexpr unsigned DIAG_UDP_UNCONNECTED = 7; // TCP_CLOSE

// One reply batch; the kernel fills up to a page-sized skb per recv.
alignas(8) unsigned char diag_buf[32768];

// One dump of family/protocol sockets in state; sets their local ports.
// Returns the number of sockets set, or -errno.
int dump_one(int fd, int family, int protocol, unsigned state, PortBitmap &ports,
	     ProcNetAddr addr) {
	struct {
		nlmsghdr nlh;
		inet_diag_req_v2 req;
	} msg{};
	static uint32_t seq;
	msg.nlh.nlmsg_len = sizeof(msg);
	msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	msg.nlh.nlmsg_seq = ++seq;
	msg.req.sdiag_family = uint8_t(family);
	msg.req.sdiag_protocol = uint8_t(protocol);
	msg.req.idiag_states = 1U << state;
	ssize_t n;
	do
		n = send(fd, &msg, sizeof(msg), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;

	int found = 0;
	for (;;) {
		do
			n = recv(fd, diag_buf, sizeof(diag_buf), 0);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		size_t left = size_t(n);
		for (const auto *h = reinterpret_cast<const nlmsghdr *>(diag_buf);
		     NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
			if (h->nlmsg_seq != msg.nlh.nlmsg_seq)
				continue; // an answer to an earlier, abandoned dump
			if (h->nlmsg_type == NLMSG_DONE)
				return found;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const auto *e = static_cast<const nlmsgerr *>(NLMSG_DATA(h));
				if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
					return -EPROTO;
				return e->error < 0 ? e->error : -EPROTO;
			}
			if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
			    h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg)))
				return -EPROTO;
			const auto *d = static_cast<const inet_diag_msg *>(NLMSG_DATA(h));
			if (d->idiag_state != state)
				continue;
			const uint16_t port = ntohs(d->id.idiag_sport);
			if (!port)
				continue;
			if (addr == ProcNetAddr::LoopbackOrAny &&
			    !fwd_loopback_or_any(reinterpret_cast<const uint8_t *>(d->id.idiag_src),
						 d->idiag_family == AF_INET ? 4 : 16))
				continue;
			ports.set(port);
			found++;
		}
	}
}

} // namespace

int fwd_diag_scan(int fd, bool udp, PortBitmap &ports, ProcNetAddr addr) {
	const int protocol = udp ? IPPROTO_UDP : IPPROTO_TCP;
	const unsigned state = udp ? DIAG_UDP_UNCONNECTED : DIAG_TCP_LISTEN;
	int total = 0;
	for (int family : {AF_INET, AF_INET6}) {
		int rc = dump_one(fd, family, protocol, state, ports, addr);
		// A kernel without IPv6 has no AF_INET6 sockets to list.
		if (rc == -EAFNOSUPPORT && family == AF_INET6)
			continue;
		if (rc < 0)
			return rc;
		total += rc;
	}
	return total;
}

int fwd_diag_open() {
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	return fd < 0 ? -errno : fd;
}

int fwd_diag_open_ns(const NsHandle &ns) {
	return ns_socket(ns, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
}

} // namespace passt
