// The parsed form of a TCP segment: ports, sequence numbers, flags, window,
// the options a SYN carries (MSS, window scale, SACK-permitted, timestamps)
// and the payload, as plain values. The TCP translator reads guest segments
// into one and builds its segments from one; TcpView (tcp.h) does the byte
// work both ways.
//
// parse() takes exactly the segment (the IP layer has trimmed it to its
// length) and fails on a data offset below 5 or beyond the span. An option
// list that cannot be walked (an option length of 0 or 1, or an option
// running past the header) ends the option parse there and sets
// opts.malformed, but the segment stands, as in Linux's tcp_parse_options();
// unknown options, SACK blocks and known options of the wrong length are
// skipped. The parse*()
// variants with addresses also check the checksum over the pseudo-header.
//
// emit() writes the header through TcpView: fields, the options as
// tcp_write_options() lays them out, the data offset that covers them, and
// the checksum. The payload is moved behind the header unless it is already
// there (a translator peeks socket data straight into frame buffers).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "passt/net/addr.h"
#include "passt/net/tcp.h"

namespace passt {

// What emit() puts in the checksum field.
enum class L4Csum : uint8_t {
	Full,    // the complete checksum
	Partial, // the pseudo-header sum only, for a backend or kernel that
		 // completes it over the segment (virtio-net NEEDS_CSUM)
};

struct TcpRepr {
	uint16_t sport = 0, dport = 0;
	uint32_t seq = 0, ack = 0;
	uint8_t flags = 0;
	uint16_t window = 0; // as on the wire, not scaled
	uint16_t urgent = 0;
	TcpOptions opts; // parse: what the header carries; emit: what to write
	std::span<const std::byte> payload;

	static std::optional<TcpRepr> parse(std::span<const std::byte> seg);
	static std::optional<TcpRepr> parse4(std::span<const std::byte> seg, Ipv4Addr saddr,
					     Ipv4Addr daddr);
	static std::optional<TcpRepr> parse6(std::span<const std::byte> seg, const Ipv6Addr &saddr,
					     const Ipv6Addr &daddr);

	// Bytes of header emit() writes: 20 plus the options.
	size_t header_len() const { return TcpView::min_hdr_len + tcp_options_len(opts); }
	size_t segment_len() const { return header_len() + payload.size(); }

	// Write the segment at the start of out, checksummed for src -> dst
	// (IPv4 if src is a v4-mapped address). The segment's length, or 0
	// (out untouched) if it does not fit in out.
	size_t emit(std::span<std::byte> out, const InAny &src, const InAny &dst,
		    L4Csum csum = L4Csum::Full) const;
	// Write only the header, for payload_len bytes of payload that the
	// caller puts behind it itself (scattered, in a guest's buffers): the
	// checksum is partial (L4Csum::Partial), as the payload is not at hand.
	// The header's length, or 0 (out untouched) if it does not fit or the
	// segment would exceed 65535 bytes.
	size_t emit_header(std::span<std::byte> out, const InAny &src, const InAny &dst,
			   size_t payload_len) const;

private:
	TcpView write_header(std::span<std::byte> seg) const;
};

} // namespace passt
