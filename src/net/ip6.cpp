// IPv6 extension header walk; see include/passt/net/ip6.h.
//
// Hop-by-hop, routing and destination options headers share one layout:
// next header (1), length in 8-byte units not counting the first 8 (1).
// The fragment header is always 8 bytes: next header, reserved, offset (13
// bits, in 8-byte units) | 2 reserved bits | M, then a 32-bit identification.
#include "passt/net/ip6.h"

namespace passt {

std::optional<Ip6L4Info> ip6_walk_ext(std::span<const std::byte> p, uint8_t nh) {
	Ip6L4Info info;
	size_t off = 0;

	for (unsigned n = 0;; n++) {
		bool ext = nh == ipproto::hopopts || nh == ipproto::routing ||
			   nh == ipproto::dstopts || nh == ipproto::fragment;
		if (ext && n >= ip6_max_ext_hdrs)
			return std::nullopt;
		switch (nh) {
		case ipproto::hopopts:
			if (n != 0) // RFC 8200 4.1: only right after the fixed header
				return std::nullopt;
			[[fallthrough]];
		case ipproto::routing:
		case ipproto::dstopts: {
			if (p.size() - off < 2)
				return std::nullopt;
			size_t len = (size_t(uint8_t(p[off + 1])) + 1) * 8;
			if (len > p.size() - off)
				return std::nullopt;
			nh = uint8_t(p[off]);
			off += len;
			break;
		}
		case ipproto::fragment: {
			if (p.size() - off < 8 || info.has_frag)
				return std::nullopt;
			uint16_t fo = load_be16(p.data() + off + 2);
			info.has_frag = true;
			info.frag_offset = fo & 0xfff8;
			info.frag_more = fo & 1;
			info.frag_id = load_be32(p.data() + off + 4);
			nh = uint8_t(p[off]);
			off += 8;
			if (info.frag_offset) {
				// Later fragments carry no headers, only data.
				info.proto = nh;
				info.offset = off;
				return info;
			}
			break;
		}
		default:
			info.proto = nh;
			info.offset = off;
			return info;
		}
	}
}

} // namespace passt
