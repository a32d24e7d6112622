// Wire helpers shared by the netlink_*.cpp files (not part of the API of
// include/passt/host/netlink.h): alignment, bounded reads, address sizes.
#pragma once

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace passt::nl_detail {

constexpr size_t kAlign = 4; // NLMSG_ALIGNTO == RTA_ALIGNTO == NLA_ALIGNTO
constexpr size_t kNlHdr = sizeof(nlmsghdr);
constexpr size_t kAttrHdr = sizeof(rtattr);
constexpr size_t kIfNameMax = 15; // IFNAMSIZ - 1

constexpr size_t align4(size_t n) { return (n + kAlign - 1) & ~(kAlign - 1); }

// Advances a span by an aligned length that may overshoot its end.
inline std::span<const std::byte> skip(std::span<const std::byte> s, size_t n) {
	n = align4(n);
	return n >= s.size() ? std::span<const std::byte>{} : s.subspan(n);
}

template <class T> bool read_struct(std::span<const std::byte> s, T &out) {
	if (s.size() < sizeof(T))
		return false;
	std::memcpy(&out, s.data(), sizeof(T));
	return true;
}

inline size_t family_addr_len(int family) {
	return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

inline bool family_ok(int family) { return family == AF_INET || family == AF_INET6; }

} // namespace passt::nl_detail
