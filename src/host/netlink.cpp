// rtnetlink client; see include/passt/host/netlink.h.
//
// Theory of operation
// -------------------
// Every exchange is one request datagram and a reply spread over one or more
// datagrams. Each request carries a fresh sequence number; reply messages
// with another number (left over from an earlier request that was abandoned
// half-way, e.g. after a receive error) or not sent by the kernel (nl_pid 0)
// are discarded. Requests that are not dumps always ask for an ACK
// (NLM_F_ACK), so every reply ends in a well-defined message:
//   - NLMSG_ERROR: error 0 is the ACK, otherwise -errno of the request;
//   - NLMSG_DONE: end of an NLM_F_DUMP multipart reply (it may carry an
//     error code, for dumps that failed part-way).
// Data messages before that (RTM_NEWLINK/NEWADDR/NEWROUTE) go to a callback.
//
// Parsing never trusts a length: a message or attribute whose length is
// shorter than its header or longer than what is left in the datagram ends
// the walk with an error, and address attributes must have exactly the size
// of their family. Requests are built in a fixed 1 KiB buffer; an overflow
// poisons the request instead of writing past it.
//
// The socket belongs to the network namespace it was created in, for its
// whole life: open_in_ns() briefly enters another namespace to create it,
// which is how pasta configures the target namespace while staying in the
// host's.
//
// #syscalls:init socket bind setsockopt sendto recvfrom close getpid openat setns
#include "passt/host/netlink.h"

#include <net/if.h>

#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>

#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace passt {

namespace {

constexpr size_t kAlign = 4; // NLMSG_ALIGNTO == RTA_ALIGNTO == NLA_ALIGNTO
constexpr size_t kRecvSize = 65536;
constexpr size_t kNlHdr = sizeof(nlmsghdr);
constexpr size_t kAttrHdr = sizeof(rtattr);
constexpr uint16_t kTypeMask = uint16_t(~(NLA_F_NESTED | NLA_F_NET_BYTEORDER));

constexpr size_t align4(size_t n) { return (n + kAlign - 1) & ~(kAlign - 1); }

// Advances a span by an aligned length that may overshoot its end.
std::span<const std::byte> skip(std::span<const std::byte> s, size_t n) {
	n = align4(n);
	return n >= s.size() ? std::span<const std::byte>{} : s.subspan(n);
}

template <class T> bool read_struct(std::span<const std::byte> s, T &out) {
	if (s.size() < sizeof(T))
		return false;
	std::memcpy(&out, s.data(), sizeof(T));
	return true;
}

size_t family_addr_len(int family) {
	return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

// Address attribute of the given family into an InAny; false if the size is wrong.
bool read_addr(const NlAttr &a, int family, InAny &out) {
	if (!a.present || a.data.size() != family_addr_len(family))
		return false;
	if (family == AF_INET) {
		Ipv4Addr v4;
		std::memcpy(v4.b.data(), a.data.data(), 4);
		out = v4;
	} else {
		Ipv6Addr v6;
		std::memcpy(v6.b.data(), a.data.data(), 16);
		out = v6;
	}
	return true;
}

bool family_ok(int family) { return family == AF_INET || family == AF_INET6; }

} // namespace

// ---------------------------------------------------------------- parsing

std::optional<NlMsg> NlMsgIter::next() {
	if (error_ || rest_.empty())
		return std::nullopt;
	nlmsghdr h;
	if (!read_struct(rest_, h) || h.nlmsg_len < kNlHdr || h.nlmsg_len > rest_.size()) {
		error_ = true;
		rest_ = {};
		return std::nullopt;
	}
	NlMsg m;
	m.type = h.nlmsg_type;
	m.flags = h.nlmsg_flags;
	m.seq = h.nlmsg_seq;
	m.pid = h.nlmsg_pid;
	m.payload = rest_.subspan(kNlHdr, h.nlmsg_len - kNlHdr);
	rest_ = skip(rest_, h.nlmsg_len);
	return m;
}

bool NlAttr::u8(uint8_t &v) const {
	if (!present || data.size() != 1)
		return false;
	v = uint8_t(data[0]);
	return true;
}

bool NlAttr::u16(uint16_t &v) const {
	if (!present || data.size() != 2)
		return false;
	std::memcpy(&v, data.data(), 2);
	return true;
}

bool NlAttr::u32(uint32_t &v) const {
	if (!present || data.size() != 4)
		return false;
	std::memcpy(&v, data.data(), 4);
	return true;
}

std::string_view NlAttr::str() const {
	if (!present)
		return {};
	const char *p = reinterpret_cast<const char *>(data.data());
	return std::string_view(p, strnlen(p, data.size()));
}

std::optional<NlAttr> NlAttrIter::next() {
	if (error_ || rest_.empty())
		return std::nullopt;
	rtattr h;
	if (!read_struct(rest_, h) || h.rta_len < kAttrHdr || h.rta_len > rest_.size()) {
		error_ = true;
		rest_ = {};
		return std::nullopt;
	}
	NlAttr a;
	a.type = h.rta_type & kTypeMask;
	a.present = true;
	a.data = rest_.subspan(kAttrHdr, h.rta_len - kAttrHdr);
	rest_ = skip(rest_, h.rta_len);
	return a;
}

bool nl_attrs_parse(std::span<const std::byte> buf, std::span<NlAttr> table) {
	for (auto &t : table)
		t = NlAttr{};
	NlAttrIter it(buf);
	while (auto a = it.next()) {
		if (a->type < table.size())
			table[a->type] = *a;
	}
	return !it.error();
}

std::optional<std::span<const std::byte>> nl_attrs_after(std::span<const std::byte> payload,
							  size_t hdr_len) {
	if (payload.size() < hdr_len)
		return std::nullopt;
	return skip(payload, hdr_len);
}

bool nl_parse_link(const NlMsg &m, LinkInfo &out) {
	ifinfomsg ifi;
	if (!read_struct(m.payload, ifi))
		return false;
	auto attrs = nl_attrs_after(m.payload, sizeof(ifi));
	NlAttr tb[IFLA_MTU + 1];
	if (!attrs || !nl_attrs_parse(*attrs, tb))
		return false;

	out = LinkInfo{};
	out.index = ifi.ifi_index;
	out.type = ifi.ifi_type;
	out.flags = ifi.ifi_flags;
	out.name = std::string(tb[IFLA_IFNAME].str());
	if (tb[IFLA_MTU].present) {
		uint32_t mtu;
		if (!tb[IFLA_MTU].u32(mtu))
			return false;
		out.mtu = mtu;
	}
	// Links without an Ethernet address (tun, ipip: other sizes) have no MAC.
	if (tb[IFLA_ADDRESS].present && tb[IFLA_ADDRESS].data.size() == 6) {
		std::memcpy(out.mac.b.data(), tb[IFLA_ADDRESS].data.data(), 6);
		out.has_mac = true;
	}
	return true;
}

bool nl_parse_addr(const NlMsg &m, AddrInfo &out) {
	ifaddrmsg ifa;
	if (!read_struct(m.payload, ifa) || !family_ok(ifa.ifa_family))
		return false;
	auto attrs = nl_attrs_after(m.payload, sizeof(ifa));
	NlAttr tb[IFA_FLAGS + 1];
	if (!attrs || !nl_attrs_parse(*attrs, tb))
		return false;

	out = AddrInfo{};
	out.family = ifa.ifa_family;
	out.ifindex = int(ifa.ifa_index);
	out.prefix_len = ifa.ifa_prefixlen;
	out.scope = ifa.ifa_scope;
	out.flags = ifa.ifa_flags;
	if (out.prefix_len > family_addr_len(out.family) * 8)
		return false;
	if (tb[IFA_FLAGS].present && !tb[IFA_FLAGS].u32(out.flags))
		return false;

	InAny address, local;
	bool has_address = tb[IFA_ADDRESS].present, has_local = tb[IFA_LOCAL].present;
	if (has_address && !read_addr(tb[IFA_ADDRESS], out.family, address))
		return false;
	if (has_local && !read_addr(tb[IFA_LOCAL], out.family, local))
		return false;
	if (has_local) {
		out.addr = local;
		if (has_address && address != local) {
			out.has_peer = true;
			out.peer = address;
		}
	} else if (has_address) {
		out.addr = address;
	} else {
		return false;
	}
	return true;
}

namespace {

// Picks a nexthop out of RTA_MULTIPATH (a list of rtnexthop, each followed by
// its own attributes): the first one on prefer_oif, else the first one.
bool parse_multipath(std::span<const std::byte> mp, RouteInfo &out, int prefer_oif) {
	bool found = false;
	while (!mp.empty()) {
		rtnexthop nh;
		if (!read_struct(mp, nh) || nh.rtnh_len < sizeof(nh) || nh.rtnh_len > mp.size())
			return false;
		auto attrs = mp.subspan(sizeof(nh), nh.rtnh_len - sizeof(nh));
		NlAttr tb[RTA_GATEWAY + 1];
		if (!nl_attrs_parse(attrs, tb))
			return false;
		InAny gw;
		bool has_gw = tb[RTA_GATEWAY].present;
		if (has_gw && !read_addr(tb[RTA_GATEWAY], out.family, gw))
			return false;

		bool take = !found || (prefer_oif > 0 && nh.rtnh_ifindex == prefer_oif &&
				       out.oif != prefer_oif);
		if (take) {
			out.oif = nh.rtnh_ifindex;
			out.has_gw = has_gw;
			out.gw = has_gw ? gw : InAny{};
			out.flags = (out.flags & ~0xffu) | nh.rtnh_flags;
			found = true;
		}
		mp = skip(mp, nh.rtnh_len);
	}
	return found;
}

} // namespace

bool nl_parse_route(const NlMsg &m, RouteInfo &out, int prefer_oif) {
	rtmsg rtm;
	if (!read_struct(m.payload, rtm) || !family_ok(rtm.rtm_family))
		return false;
	auto attrs = nl_attrs_after(m.payload, sizeof(rtm));
	NlAttr tb[RTA_TABLE + 1];
	if (!attrs || !nl_attrs_parse(*attrs, tb))
		return false;

	out = RouteInfo{};
	out.family = rtm.rtm_family;
	out.table = rtm.rtm_table;
	out.protocol = rtm.rtm_protocol;
	out.scope = rtm.rtm_scope;
	out.type = rtm.rtm_type;
	out.flags = rtm.rtm_flags;
	out.dst_len = rtm.rtm_dst_len;
	if (out.dst_len > family_addr_len(out.family) * 8)
		return false;
	if (tb[RTA_TABLE].present && !tb[RTA_TABLE].u32(out.table))
		return false;
	if (tb[RTA_DST].present && !read_addr(tb[RTA_DST], out.family, out.dst))
		return false;
	if (!tb[RTA_DST].present) // the unspecified address of the family
		out.dst = out.family == AF_INET ? InAny(Ipv4Addr{}) : InAny(Ipv6Addr{});
	if (tb[RTA_PRIORITY].present && !tb[RTA_PRIORITY].u32(out.priority))
		return false;
	if (tb[RTA_OIF].present) {
		uint32_t oif;
		if (!tb[RTA_OIF].u32(oif))
			return false;
		out.oif = int(oif);
	}
	if (tb[RTA_GATEWAY].present) {
		if (!read_addr(tb[RTA_GATEWAY], out.family, out.gw))
			return false;
		out.has_gw = true;
	}
	if (tb[RTA_MULTIPATH].present) {
		out.multipath = true;
		if (!parse_multipath(tb[RTA_MULTIPATH].data, out, prefer_oif))
			return false;
	}
	return true;
}

int nl_error_code(const NlMsg &m, std::span<char> ext_msg) {
	if (!ext_msg.empty())
		ext_msg[0] = '\0';
	nlmsgerr e;
	if (!read_struct(m.payload, e) || e.error > 0)
		return -EPROTO;

	if (!ext_msg.empty() && (m.flags & NLM_F_ACK_TLVS)) {
		// TLVs follow the echoed request: its header only if NLM_F_CAPPED.
		size_t off = sizeof(e);
		if (!(m.flags & NLM_F_CAPPED) && e.msg.nlmsg_len > kNlHdr)
			off += e.msg.nlmsg_len - kNlHdr;
		auto tlvs = nl_attrs_after(m.payload, off);
		NlAttr tb[NLMSGERR_ATTR_MSG + 1];
		if (tlvs && nl_attrs_parse(*tlvs, tb) && tb[NLMSGERR_ATTR_MSG].present) {
			std::string_view s = tb[NLMSGERR_ATTR_MSG].str();
			size_t n = std::min(s.size(), ext_msg.size() - 1);
			std::memcpy(ext_msg.data(), s.data(), n);
			ext_msg[n] = '\0';
		}
	}
	return e.error;
}

int nl_reply_batch(std::span<const std::byte> dgram, uint32_t sender_pid, NlReplyState &st,
		   NlCallback cb, void *ctx) {
	if (sender_pid != 0) // not from the kernel
		return 0;
	NlMsgIter it(dgram);
	while (auto m = it.next()) {
		if (m->seq != st.seq || st.done)
			continue;
		switch (m->type) {
		case NLMSG_NOOP:
			break;
		case NLMSG_ERROR: {
			int e = nl_error_code(*m, st.ext_msg);
			if (st.result == 0)
				st.result = e;
			st.done = true;
			break;
		}
		case NLMSG_DONE: {
			int32_t e = 0;
			if (read_struct(m->payload, e) && e < 0 && st.result == 0)
				st.result = e;
			st.done = true;
			break;
		}
		case NLMSG_OVERRUN:
			if (st.result == 0)
				st.result = -ENOBUFS;
			st.done = true;
			break;
		default:
			if (cb && st.result == 0) {
				int r = cb(ctx, *m);
				if (r < 0)
					st.result = r;
			}
			break;
		}
	}
	if (it.error()) {
		if (st.result == 0)
			st.result = -EPROTO;
		st.done = true;
		return -EPROTO;
	}
	return 0;
}

// ---------------------------------------------------------------- building

NlRequest::NlRequest(uint16_t type, uint16_t flags) {
	nlmsghdr h{};
	h.nlmsg_len = kNlHdr;
	h.nlmsg_type = type;
	h.nlmsg_flags = flags | NLM_F_REQUEST;
	std::memcpy(buf_, &h, sizeof(h));
	len_ = kNlHdr;
}

void NlRequest::sync_len() {
	uint32_t l = uint32_t(len_);
	std::memcpy(buf_ + offsetof(nlmsghdr, nlmsg_len), &l, sizeof(l));
}

bool NlRequest::put_raw(const void *data, size_t len) {
	if (!ok_ || len > kSize || align4(len) > kSize - len_) {
		ok_ = false;
		return false;
	}
	if (len)
		std::memcpy(buf_ + len_, data, len);
	std::memset(buf_ + len_ + len, 0, align4(len) - len);
	len_ += align4(len);
	sync_len();
	return true;
}

bool NlRequest::put_attr(uint16_t type, const void *data, size_t len) {
	if (!ok_ || len > 0xffff - kAttrHdr || align4(kAttrHdr + len) > kSize - len_) {
		ok_ = false;
		return false;
	}
	rtattr a;
	a.rta_len = uint16_t(kAttrHdr + len);
	a.rta_type = type;
	std::memcpy(buf_ + len_, &a, sizeof(a));
	len_ += kAttrHdr;
	sync_len();
	return put_raw(data, len);
}

bool NlRequest::put_str(uint16_t type, std::string_view s) {
	if (!ok_ || s.size() >= kSize) {
		ok_ = false;
		return false;
	}
	char tmp[kSize];
	s.copy(tmp, s.size());
	tmp[s.size()] = '\0';
	return put_attr(type, tmp, s.size() + 1);
}

bool NlRequest::put_addr(uint16_t type, int family, const InAny &a) {
	if (family == AF_INET && a.is_v4())
		return put_attr(type, a.v4().b.data(), 4);
	if (family == AF_INET6 && !a.is_v4())
		return put_attr(type, a.v6().b.data(), 16);
	ok_ = false;
	return false;
}

size_t NlRequest::nest_begin(uint16_t type) {
	size_t off = len_;
	if (!put_attr(type | NLA_F_NESTED, nullptr, 0))
		return 0;
	return off;
}

void NlRequest::nest_end(size_t off) {
	if (!ok_ || off < kNlHdr || off + kAttrHdr > len_ || len_ - off > 0xffff) {
		ok_ = false;
		return;
	}
	uint16_t l = uint16_t(len_ - off);
	std::memcpy(buf_ + off + offsetof(rtattr, rta_len), &l, sizeof(l));
}

void NlRequest::set_seq(uint32_t seq) {
	std::memcpy(buf_ + offsetof(nlmsghdr, nlmsg_seq), &seq, sizeof(seq));
}

uint32_t NlRequest::seq() const {
	uint32_t s;
	std::memcpy(&s, buf_ + offsetof(nlmsghdr, nlmsg_seq), sizeof(s));
	return s;
}

uint16_t NlRequest::flags() const {
	uint16_t f;
	std::memcpy(&f, buf_ + offsetof(nlmsghdr, nlmsg_flags), sizeof(f));
	return f;
}

void NlRequest::set_flags(uint16_t f) {
	std::memcpy(buf_ + offsetof(nlmsghdr, nlmsg_flags), &f, sizeof(f));
}

// ---------------------------------------------------------------- socket

Netlink::Netlink(Netlink &&o) noexcept
	: fd_(o.fd_), seq_(o.seq_), rbuf_(std::move(o.rbuf_)) {
	o.fd_ = -1;
	std::memcpy(last_err_, o.last_err_, sizeof(last_err_));
}

Netlink &Netlink::operator=(Netlink &&o) noexcept {
	if (this != &o) {
		close();
		fd_ = o.fd_;
		seq_ = o.seq_;
		rbuf_ = std::move(o.rbuf_);
		std::memcpy(last_err_, o.last_err_, sizeof(last_err_));
		o.fd_ = -1;
	}
	return *this;
}

void Netlink::close() {
	if (fd_ >= 0)
		::close(fd_);
	fd_ = -1;
}

// Options, binding and the receive buffer for a fresh socket; takes ownership of fd.
int Netlink::setup_socket(int fd) {
	int one = 1;
	// Short error replies with the kernel's reason text; both optional.
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	// The kernel always answers; a timeout only guards against our own bugs.
	timeval tv{5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	sockaddr_nl sa{};
	sa.nl_family = AF_NETLINK;
	if (bind(fd, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)) < 0) {
		int e = errno;
		::close(fd);
		return -e;
	}
	if (!rbuf_)
		rbuf_ = std::make_unique<std::byte[]>(kRecvSize);
	close();
	fd_ = fd;
	seq_ = uint32_t(getpid()) << 16; // distinct per process, for readable traces
	return 0;
}

int Netlink::open() {
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	return setup_socket(fd);
}

int Netlink::open_in_ns(int netns_fd) {
	int orig = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (orig < 0)
		orig = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (orig < 0)
		return -errno;
	if (setns(netns_fd, CLONE_NEWNET) < 0) {
		int e = errno;
		::close(orig);
		return -e;
	}
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	int sock_err = errno;
	if (setns(orig, CLONE_NEWNET) < 0) {
		// Stuck in the wrong namespace: the caller must not go on.
		int e = errno;
		if (fd >= 0)
			::close(fd);
		::close(orig);
		return -e;
	}
	::close(orig);
	if (fd < 0)
		return -sock_err;
	return setup_socket(fd);
}

int Netlink::request(NlRequest &req, NlCallback cb, void *ctx) {
	last_err_[0] = '\0';
	if (fd_ < 0)
		return -EBADF;
	if (!req.ok())
		return -EMSGSIZE;
	uint16_t flags = req.flags() | NLM_F_REQUEST;
	if ((flags & NLM_F_DUMP) != NLM_F_DUMP)
		flags |= NLM_F_ACK;
	req.set_flags(flags);
	if (++seq_ == 0)
		++seq_;
	req.set_seq(seq_);

	sockaddr_nl kernel{};
	kernel.nl_family = AF_NETLINK;
	auto out = req.bytes();
	ssize_t n;
	do {
		n = sendto(fd_, out.data(), out.size(), 0, reinterpret_cast<sockaddr *>(&kernel),
			   sizeof(kernel));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (size_t(n) != out.size())
		return -EIO;

	NlReplyState st;
	st.seq = seq_;
	while (!st.done) {
		sockaddr_nl from{};
		socklen_t fl = sizeof(from);
		n = recvfrom(fd_, rbuf_.get(), kRecvSize, MSG_TRUNC, reinterpret_cast<sockaddr *>(&from),
			     &fl);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		// Too big for our buffer: the rest of this reply is skipped by its seq.
		if (size_t(n) > kRecvSize)
			return -EMSGSIZE;
		if (fl < sizeof(from) || from.nl_family != AF_NETLINK)
			continue;
		nl_reply_batch({rbuf_.get(), size_t(n)}, from.nl_pid, st, cb, ctx);
	}
	std::memcpy(last_err_, st.ext_msg, sizeof(last_err_));
	last_err_[sizeof(last_err_) - 1] = '\0';
	return st.result;
}

// ---------------------------------------------------------------- queries

namespace {

constexpr size_t kIfNameMax = 15; // IFNAMSIZ - 1

NlRequest link_request(uint16_t type, uint16_t flags, int ifindex) {
	NlRequest req(type, flags);
	ifinfomsg ifi{};
	ifi.ifi_family = AF_UNSPEC;
	ifi.ifi_index = ifindex;
	req.put_struct(ifi);
	return req;
}

} // namespace

int Netlink::link_index(std::string_view name) {
	if (name.empty() || name.size() > kIfNameMax)
		return -ENODEV;
	NlRequest req = link_request(RTM_GETLINK, 0, 0);
	req.put_str(IFLA_IFNAME, name);
	req.put_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	int index = 0;
	int rc = request_fn(req, [&](const NlMsg &m) {
		LinkInfo li;
		if (m.type == RTM_NEWLINK && nl_parse_link(m, li) && index == 0)
			index = li.index;
		return 0;
	});
	if (rc < 0)
		return rc;
	return index > 0 ? index : -ENODEV;
}

int Netlink::link_get(int ifindex, LinkInfo &out) {
	if (ifindex <= 0)
		return -ENODEV;
	NlRequest req = link_request(RTM_GETLINK, 0, ifindex);
	req.put_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	bool found = false;
	int rc = request_fn(req, [&](const NlMsg &m) {
		LinkInfo li;
		if (!found && m.type == RTM_NEWLINK && nl_parse_link(m, li) &&
		    li.index == ifindex) {
			out = std::move(li);
			found = true;
		}
		return 0;
	});
	if (rc < 0)
		return rc;
	return found ? 0 : -ENODEV;
}

int Netlink::link_name(int ifindex, std::string &out) {
	LinkInfo li;
	int rc = link_get(ifindex, li);
	if (rc == 0)
		out = li.name;
	return rc;
}

int Netlink::link_list(std::vector<LinkInfo> &out) {
	out.clear();
	NlRequest req = link_request(RTM_GETLINK, NLM_F_DUMP, 0);
	req.put_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	return request_fn(req, [&](const NlMsg &m) {
		LinkInfo li;
		if (m.type == RTM_NEWLINK && nl_parse_link(m, li))
			out.push_back(std::move(li));
		return 0;
	});
}

namespace {

// Dumps the routes of family and hands fn the unicast ones of the main table
// (with their nexthop on oif if oif > 0, others skipped).
template <class F> int dump_routes(Netlink &nl, int family, int oif, F &&fn) {
	if (!family_ok(family))
		return -EAFNOSUPPORT;
	NlRequest req(RTM_GETROUTE, NLM_F_DUMP);
	rtmsg rtm{};
	rtm.rtm_family = uint8_t(family);
	req.put_struct(rtm);
	return nl.request_fn(req, [&](const NlMsg &m) {
		RouteInfo r;
		if (m.type != RTM_NEWROUTE || !nl_parse_route(m, r, oif))
			return 0;
		if (r.family != family || r.table != RT_TABLE_MAIN || r.type != RTN_UNICAST ||
		    (r.flags & RTM_F_CLONED) || r.oif <= 0 || (oif > 0 && r.oif != oif))
			return 0;
		fn(r);
		return 0;
	});
}

} // namespace

int Netlink::route_list(int family, std::vector<RouteInfo> &out, int oif) {
	out.clear();
	return dump_routes(*this, family, oif, [&](const RouteInfo &r) { out.push_back(r); });
}

// Scans the dump without storing it: hosts may carry very large tables.
int Netlink::default_route(int family, RouteInfo &out, int oif) {
	bool found = false;
	int rc = dump_routes(*this, family, oif, [&](const RouteInfo &r) {
		if (!found && r.is_default()) {
			out = r;
			found = true;
		}
	});
	if (rc < 0)
		return rc;
	return found ? 0 : -ENOENT;
}

int Netlink::addr_list(int family, int ifindex, std::vector<AddrInfo> &out) {
	out.clear();
	if (family != AF_UNSPEC && !family_ok(family))
		return -EAFNOSUPPORT;
	NlRequest req(RTM_GETADDR, NLM_F_DUMP);
	ifaddrmsg ifa{};
	ifa.ifa_family = uint8_t(family);
	req.put_struct(ifa);
	return request_fn(req, [&](const NlMsg &m) {
		AddrInfo a;
		if (m.type != RTM_NEWADDR || !nl_parse_addr(m, a))
			return 0;
		if ((family != AF_UNSPEC && a.family != family) ||
		    (ifindex > 0 && a.ifindex != ifindex))
			return 0;
		out.push_back(a);
		return 0;
	});
}

// ---------------------------------------------------------------- changes

int Netlink::link_set_up(int ifindex, bool up) {
	NlRequest req(RTM_NEWLINK, 0);
	ifinfomsg ifi{};
	ifi.ifi_family = AF_UNSPEC;
	ifi.ifi_index = ifindex;
	ifi.ifi_flags = up ? IFF_UP : 0;
	ifi.ifi_change = IFF_UP;
	req.put_struct(ifi);
	return request(req);
}

int Netlink::link_set_mtu(int ifindex, unsigned mtu) {
	NlRequest req = link_request(RTM_NEWLINK, 0, ifindex);
	req.put_u32(IFLA_MTU, mtu);
	return request(req);
}

int Netlink::link_set_mac(int ifindex, const MacAddr &mac) {
	NlRequest req = link_request(RTM_NEWLINK, 0, ifindex);
	req.put_attr(IFLA_ADDRESS, mac.b.data(), mac.b.size());
	return request(req);
}

int Netlink::link_del(int ifindex) {
	NlRequest req = link_request(RTM_DELLINK, 0, ifindex);
	return request(req);
}

int Netlink::create_veth(std::string_view a, std::string_view b, int peer_netns_fd) {
	if (a.empty() || b.empty() || a.size() > kIfNameMax || b.size() > kIfNameMax)
		return -EINVAL;
	NlRequest req = link_request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
	req.put_str(IFLA_IFNAME, a);
	size_t linkinfo = req.nest_begin(IFLA_LINKINFO);
	req.put_str(IFLA_INFO_KIND, "veth");
	size_t data = req.nest_begin(IFLA_INFO_DATA);
	size_t peer = req.nest_begin(VETH_INFO_PEER);
	// The peer is described as a link message of its own: ifinfomsg + attributes.
	ifinfomsg pifi{};
	pifi.ifi_family = AF_UNSPEC;
	req.put_struct(pifi);
	req.put_str(IFLA_IFNAME, b);
	if (peer_netns_fd >= 0)
		req.put_u32(IFLA_NET_NS_FD, uint32_t(peer_netns_fd));
	req.nest_end(peer);
	req.nest_end(data);
	req.nest_end(linkinfo);
	return request(req);
}

int Netlink::addr_add(const AddrInfo &a) {
	if (!family_ok(a.family) || a.prefix_len > family_addr_len(a.family) * 8 ||
	    a.addr.is_v4() != (a.family == AF_INET) || a.ifindex <= 0)
		return -EINVAL;
	NlRequest req(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
	ifaddrmsg ifa{};
	ifa.ifa_family = uint8_t(a.family);
	ifa.ifa_prefixlen = uint8_t(a.prefix_len);
	ifa.ifa_flags = uint8_t(a.flags & 0xff);
	ifa.ifa_scope = a.scope;
	ifa.ifa_index = uint32_t(a.ifindex);
	req.put_struct(ifa);
	req.put_addr(IFA_LOCAL, a.family, a.addr);
	req.put_addr(IFA_ADDRESS, a.family, a.has_peer ? a.peer : a.addr);
	req.put_u32(IFA_FLAGS, a.flags);
	return request(req);
}

int Netlink::addr_add(int ifindex, const InAny &addr, unsigned prefix_len, uint32_t flags) {
	AddrInfo a;
	a.family = addr.is_v4() ? AF_INET : AF_INET6;
	a.ifindex = ifindex;
	a.addr = addr;
	a.prefix_len = prefix_len;
	a.scope = RT_SCOPE_UNIVERSE;
	a.flags = flags;
	return addr_add(a);
}

int Netlink::route_add(const RouteInfo &r) {
	if (!family_ok(r.family) || r.dst_len > family_addr_len(r.family) * 8 || r.oif <= 0 ||
	    (r.dst_len > 0 && r.dst.is_v4() != (r.family == AF_INET)) ||
	    (r.has_gw && r.gw.is_v4() != (r.family == AF_INET)))
		return -EINVAL;
	NlRequest req(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
	rtmsg rtm{};
	rtm.rtm_family = uint8_t(r.family);
	rtm.rtm_dst_len = uint8_t(r.dst_len);
	rtm.rtm_table = r.table < 256 ? uint8_t(r.table) : uint8_t(RT_TABLE_UNSPEC);
	rtm.rtm_protocol = r.protocol ? r.protocol : RTPROT_BOOT;
	// As iproute2 does: a route without a gateway reaches its link directly.
	rtm.rtm_scope = (!r.has_gw && r.scope == RT_SCOPE_UNIVERSE) ? uint8_t(RT_SCOPE_LINK) : r.scope;
	rtm.rtm_type = RTN_UNICAST;
	rtm.rtm_flags = r.flags & RTNH_F_ONLINK;
	req.put_struct(rtm);
	req.put_u32(RTA_TABLE, r.table);
	if (r.dst_len > 0)
		req.put_addr(RTA_DST, r.family, r.dst);
	if (r.has_gw)
		req.put_addr(RTA_GATEWAY, r.family, r.gw);
	req.put_u32(RTA_OIF, uint32_t(r.oif));
	if (r.priority)
		req.put_u32(RTA_PRIORITY, r.priority);
	return request(req);
}

int Netlink::route_add_default(int ifindex, const InAny &gw) {
	RouteInfo r;
	r.family = gw.is_v4() ? AF_INET : AF_INET6;
	r.dst = r.family == AF_INET ? InAny(Ipv4Addr{}) : InAny(Ipv6Addr{});
	r.has_gw = true;
	r.gw = gw;
	r.oif = ifindex;
	r.scope = RT_SCOPE_UNIVERSE;
	int rc = route_add(r);
	// Gateway outside every subnet of the link (e.g. a /32 address with a
	// gateway elsewhere, common in clouds): the kernel wants it marked onlink.
	if (rc == -ENETUNREACH || rc == -EHOSTUNREACH || rc == -EINVAL) {
		r.flags |= RTNH_F_ONLINK;
		if (route_add(r) == 0)
			return 0;
	}
	return rc;
}

// ---------------------------------------------------------------- copies

int copy_routes(Netlink &from, int from_ifindex, Netlink &to, int to_ifindex, int family) {
	std::vector<RouteInfo> routes;
	int rc = from.route_list(family, routes, from_ifindex);
	if (rc < 0)
		return rc;

	std::vector<RouteInfo> todo;
	for (int pass = 0; pass < 2; pass++) { // direct routes, then via a gateway
		for (const auto &r : routes) {
			if (r.has_gw != (pass == 1))
				continue;
			if (family == AF_INET6 && (r.dst.v6().is_link_local() || r.dst.v6().is_multicast()))
				continue;
			RouteInfo c = r;
			c.oif = to_ifindex;
			c.table = RT_TABLE_MAIN;
			c.multipath = false;
			c.flags = r.flags & RTNH_F_ONLINK;
			// Routes the kernel or a router made become plain static ones.
			if (c.protocol < RTPROT_STATIC)
				c.protocol = RTPROT_BOOT;
			todo.push_back(c);
		}
	}

	std::vector<RouteInfo> failed;
	for (const auto &c : todo) {
		int e = to.route_add(c);
		if (e < 0 && e != -EEXIST)
			failed.push_back(c);
	}
	// A gateway may only become reachable through a route added later.
	int first_err = 0;
	for (const auto &c : failed) {
		int e = to.route_add(c);
		if (e < 0 && e != -EEXIST && first_err == 0)
			first_err = e;
	}
	return first_err;
}

int copy_addrs(Netlink &from, int from_ifindex, Netlink &to, int to_ifindex, int family) {
	std::vector<AddrInfo> addrs;
	int rc = from.addr_list(family, from_ifindex, addrs);
	if (rc < 0)
		return rc;
	int first_err = 0;
	for (const auto &a : addrs) {
		if (a.scope != RT_SCOPE_UNIVERSE)
			continue;
		if (a.family == AF_INET6 && a.addr.v6().is_link_local())
			continue;
		if (a.flags & (IFA_F_DEPRECATED | IFA_F_DADFAILED))
			continue;
		AddrInfo c = a;
		c.ifindex = to_ifindex;
		// Only the settable flag that changes behaviour survives; no DAD for
		// an address that was already validated on the other side.
		c.flags = a.flags & IFA_F_NOPREFIXROUTE;
		if (c.family == AF_INET6)
			c.flags |= IFA_F_NODAD;
		int e = to.addr_add(c);
		if (e < 0 && e != -EEXIST && first_err == 0)
			first_err = e;
	}
	return first_err;
}

} // namespace passt
