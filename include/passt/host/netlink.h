// rtnetlink client: one NETLINK_ROUTE socket per network namespace, used at
// start-up to learn the host's uplink (host_probe()) and, with pasta
// --config-net, to configure the interface in the target namespace.
//
// Requests are built in a fixed buffer (NlRequest); replies are parsed by
// pure functions over byte spans (NlMsgIter, nl_attrs_parse(), nl_parse_*(),
// nl_reply_batch()) that never trust a length field, so that tests can feed
// them crafted and malformed buffers. Only Linux UAPI headers and libc.
#pragma once

#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "passt/net/addr.h"

namespace passt {

// ---------------------------------------------------------------- parsing

// One netlink message found in a receive buffer. payload excludes the
// nlmsghdr and is bounded by both nlmsg_len and the buffer.
struct NlMsg {
	uint16_t type = 0;
	uint16_t flags = 0;
	uint32_t seq = 0;
	uint32_t pid = 0;
	std::span<const std::byte> payload;
};

// Walks the messages of one datagram. next() returns nullopt at the end, or
// on a message whose length field is impossible, in which case error() is set.
class NlMsgIter {
public:
	explicit NlMsgIter(std::span<const std::byte> buf) : rest_(buf) {}
	std::optional<NlMsg> next();
	bool error() const { return error_; }

private:
	std::span<const std::byte> rest_;
	bool error_ = false;
};

// One attribute (rtattr / nlattr: same layout). type has the NLA_F_NESTED and
// NLA_F_NET_BYTEORDER bits removed.
struct NlAttr {
	uint16_t type = 0;
	bool present = false;
	std::span<const std::byte> data;

	// Typed reads: false if absent or of the wrong size.
	bool u8(uint8_t &v) const;
	bool u16(uint16_t &v) const;
	bool u32(uint32_t &v) const;
	// NUL-terminated (or unterminated, bounded by the length) string.
	std::string_view str() const;
};

// Walks a sequence of attributes; error() set on a lying rta_len or on
// trailing bytes too short to be an attribute header.
class NlAttrIter {
public:
	explicit NlAttrIter(std::span<const std::byte> buf) : rest_(buf) {}
	std::optional<NlAttr> next();
	bool error() const { return error_; }

private:
	std::span<const std::byte> rest_;
	bool error_ = false;
};

// Fills table[type] for each attribute whose type fits the table (later
// duplicates win, unknown types are ignored). False if malformed.
bool nl_attrs_parse(std::span<const std::byte> buf, std::span<NlAttr> table);

// Attributes following a fixed family header of hdr_len bytes in a payload
// (the header padded to 4 bytes). nullopt if the payload is shorter than hdr_len.
std::optional<std::span<const std::byte>> nl_attrs_after(std::span<const std::byte> payload,
							 size_t hdr_len);

// A link as reported by RTM_NEWLINK.
struct LinkInfo {
	int index = 0;
	std::string name;
	unsigned type = 0;  // ARPHRD_*
	unsigned flags = 0; // IFF_*
	unsigned mtu = 0;
	bool has_mac = false; // IFLA_ADDRESS present and 6 bytes long
	MacAddr mac;
};

// An address as reported by RTM_NEWADDR.
struct AddrInfo {
	int family = 0; // AF_INET or AF_INET6
	int ifindex = 0;
	InAny addr; // local address: IFA_LOCAL, else IFA_ADDRESS
	bool has_peer = false;
	InAny peer; // IFA_ADDRESS when it differs from IFA_LOCAL (point-to-point)
	unsigned prefix_len = 0;
	uint8_t scope = 0;  // RT_SCOPE_*
	uint32_t flags = 0; // IFA_F_*, from IFA_FLAGS if present
};

// A route as reported by RTM_NEWROUTE, with one nexthop (for RTA_MULTIPATH,
// the chosen one, see nl_parse_route()).
struct RouteInfo {
	int family = 0;
	uint32_t table = RT_TABLE_MAIN; // RTA_TABLE if present, else rtm_table
	uint8_t protocol = 0;           // RTPROT_*
	uint8_t scope = 0;              // RT_SCOPE_*
	uint8_t type = RTN_UNICAST;     // RTN_*
	uint32_t flags = 0;             // rtm_flags (RTM_F_*, RTNH_F_*)
	InAny dst;
	unsigned dst_len = 0;
	bool has_gw = false;
	InAny gw;
	int oif = 0;
	uint32_t priority = 0;  // metric
	bool multipath = false; // came from RTA_MULTIPATH

	bool is_default() const { return dst_len == 0; }
};

// Decoders for one message of the matching type; false on a truncated
// header, a malformed attribute list, a family other than AF_INET/AF_INET6
// (addr, route) or an address attribute of the wrong length.
bool nl_parse_link(const NlMsg &m, LinkInfo &out);
bool nl_parse_addr(const NlMsg &m, AddrInfo &out);
// For a multipath route, the first nexthop on prefer_oif (if > 0) is taken,
// else the first nexthop.
bool nl_parse_route(const NlMsg &m, RouteInfo &out, int prefer_oif = 0);

// Error code of an NLMSG_ERROR message: 0 for an ACK, -errno, or -EPROTO if
// truncated or positive. If ext_msg is given, the kernel's extended-ACK text
// (NLMSGERR_ATTR_MSG) is copied there, NUL-terminated, or set to "".
int nl_error_code(const NlMsg &m, std::span<char> ext_msg = {});

// Callback for each reply message that carries data (not ACK/DONE/ERROR).
// Returning a negative value makes the request fail with that value once the
// reply has been fully read.
using NlCallback = int (*)(void *ctx, const NlMsg &m);

// State of one request/reply exchange across datagrams.
struct NlReplyState {
	uint32_t seq = 0;       // sequence number of our request
	bool done = false;      // reply complete (ACK, NLMSG_ERROR or NLMSG_DONE seen)
	int result = 0;         // 0, or the first -errno (kernel or callback)
	char ext_msg[128] = {}; // kernel's extended-ACK text for a failure
};

// Handles one received datagram of a reply: messages from other sequence
// numbers (stale replies of an aborted request) or from a non-kernel sender
// are skipped. Returns 0, or -EPROTO if the datagram is malformed (st.done is
// then set so the caller stops).
int nl_reply_batch(std::span<const std::byte> dgram, uint32_t sender_pid, NlReplyState &st,
		   NlCallback cb, void *ctx);

// ---------------------------------------------------------------- building

// A request in a fixed buffer: nlmsghdr, then a family header, then
// attributes. On overflow every later put fails and ok() turns false; the
// buffer is never written out of bounds.
class NlRequest {
public:
	static constexpr size_t kSize = 1024;

	NlRequest(uint16_t type, uint16_t flags);

	// Appends raw bytes padded to 4 (family header, or VETH_INFO_PEER's ifinfomsg).
	bool put_raw(const void *data, size_t len);
	template <class T> bool put_struct(const T &s) { return put_raw(&s, sizeof(s)); }

	bool put_attr(uint16_t type, const void *data, size_t len);
	bool put_u8(uint16_t type, uint8_t v) { return put_attr(type, &v, 1); }
	bool put_u32(uint16_t type, uint32_t v) { return put_attr(type, &v, 4); }
	bool put_str(uint16_t type, std::string_view s); // with terminating NUL
	// Address of the family's size (4 or 16 bytes).
	bool put_addr(uint16_t type, int family, const InAny &a);

	// Opens a nested attribute; returns its offset for nest_end(), 0 on overflow.
	size_t nest_begin(uint16_t type);
	void nest_end(size_t off);

	bool ok() const { return ok_; }
	size_t size() const { return len_; }
	void set_seq(uint32_t seq);
	uint32_t seq() const;
	uint16_t flags() const;
	void set_flags(uint16_t f);
	std::span<const std::byte> bytes() const { return {buf_, len_}; }

private:
	void sync_len();
	alignas(8) std::byte buf_[kSize] = {};
	size_t len_ = 0;
	bool ok_ = true;
};

// ---------------------------------------------------------------- socket

class Netlink {
public:
	Netlink() = default;
	~Netlink() { close(); }
	Netlink(Netlink &&o) noexcept;
	Netlink &operator=(Netlink &&o) noexcept;
	Netlink(const Netlink &) = delete;
	Netlink &operator=(const Netlink &) = delete;

	// Opens the socket in the caller's current network namespace. 0 or -errno.
	int open();
	// Opens the socket in the namespace netns_fd refers to: setns() there and
	// back to the calling thread's namespace. 0 or -errno.
	int open_in_ns(int netns_fd);
	void close();
	bool is_open() const { return fd_ >= 0; }
	int fd() const { return fd_; }
	// Extended-ACK text of the last failed request, "" if none.
	const char *last_error() const { return last_err_; }

	// Sends req (sequence number and ACK/DUMP handling done here) and passes
	// each data message of the reply to cb. 0 or -errno.
	int request(NlRequest &req, NlCallback cb = nullptr, void *ctx = nullptr);
	template <class F> int request_fn(NlRequest &req, F &&fn) {
		using Fn = std::remove_reference_t<F>;
		return request(
			req,
			[](void *c, const NlMsg &m) -> int { return (*static_cast<Fn *>(c))(m); },
			&fn);
	}

	// --- queries
	// ifindex (> 0) of the link called name, or -errno (-ENODEV if none).
	int link_index(std::string_view name);
	int link_name(int ifindex, std::string &out);
	int link_get(int ifindex, LinkInfo &out);
	int link_list(std::vector<LinkInfo> &out);
	// First default route of the main table for family (AF_INET/AF_INET6),
	// only on link oif if oif > 0. 0, -ENOENT if none, or -errno.
	int default_route(int family, RouteInfo &out, int oif = 0);
	// Unicast routes of the main table for family; if oif > 0, only those
	// with a nexthop on link oif (for multipath routes, that nexthop).
	int route_list(int family, std::vector<RouteInfo> &out, int oif = 0);
	// Addresses of family (AF_UNSPEC: both) on ifindex (0: all links).
	int addr_list(int family, int ifindex, std::vector<AddrInfo> &out);

	// --- changes (0 or -errno)
	int link_set_up(int ifindex, bool up);
	int link_set_mtu(int ifindex, unsigned mtu);
	int link_set_mac(int ifindex, const MacAddr &mac);
	int link_del(int ifindex);
	// veth pair a <-> b; b is created in netns peer_netns_fd if >= 0.
	int create_veth(std::string_view a, std::string_view b, int peer_netns_fd = -1);
	// Adds addr/prefix_len; flags are IFA_F_* (IFA_F_NODAD for IPv6 without DAD).
	int addr_add(int ifindex, const InAny &addr, unsigned prefix_len, uint32_t flags = 0);
	// Adds a.addr (and a.peer if set) with a's prefix, scope and flags on a.ifindex.
	int addr_add(const AddrInfo &a);
	// Adds r (dst/dst_len, gw if has_gw, oif, priority, table, scope, and
	// RTNH_F_ONLINK from flags). NLM_F_EXCL: -EEXIST if present.
	int route_add(const RouteInfo &r);
	// Default route via gw on ifindex; if the kernel finds gw unreachable
	// from the link's subnets, retries with the onlink flag.
	int route_add_default(int ifindex, const InAny &gw);

private:
	int setup_socket(int fd);
	int fd_ = -1;
	uint32_t seq_ = 0;
	std::unique_ptr<std::byte[]> rbuf_;
	char last_err_[128] = {};
};

// Meant to run after copy_addrs(), so that the prefix routes the kernel adds
// for the addresses exist and the copies of those are skipped (-EEXIST);
// without the addresses, they are recreated as plain link routes.
//
// Recreate the routes of family on link from_ifindex (namespace of from) on
// link to_ifindex (namespace of to): main table, unicast, not cloned, no
// IPv6 link-local/multicast; direct routes first, gateway routes after, and
// failures retried once after the rest. Routes already present count as
// copied. 0, or the first error left after the retry.
int copy_routes(Netlink &from, int from_ifindex, Netlink &to, int to_ifindex, int family);

// Recreate the global-scope addresses of family on link from_ifindex on
// to_ifindex (IPv6 ones with IFA_F_NODAD; link-local ones skipped, as the
// kernel makes its own; deprecated and DAD-failed ones skipped).
int copy_addrs(Netlink &from, int from_ifindex, Netlink &to, int to_ifindex, int family);

} // namespace passt
