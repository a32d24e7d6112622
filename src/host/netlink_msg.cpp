// rtnetlink messages: parsing replies and building requests; see
// include/passt/host/netlink.h, and netlink.cpp for the exchange itself.
//
// Theory of operation
// -------------------
// Parsing never trusts a length: a message or attribute whose length is
// shorter than its header or longer than what is left in the datagram ends
// the walk with an error, and address attributes must have exactly the size
// of their family. Requests are built in a fixed 1 KiB buffer; an overflow
// poisons the request instead of writing past it.
//
// nl_reply_batch() applies the reply rules of netlink.cpp's exchange to one
// datagram: stale sequence numbers and non-kernel senders are skipped, and
// NLMSG_ERROR / NLMSG_DONE / NLMSG_OVERRUN end the reply.
#include "passt/host/netlink.h"

#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "netlink_priv.h"

namespace passt {

using namespace nl_detail;

namespace {

constexpr uint16_t kTypeMask = uint16_t(~(NLA_F_NESTED | NLA_F_NET_BYTEORDER));

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
		case NLMSG_NOOP: break;
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
} // namespace passt
