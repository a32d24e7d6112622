// TCP header view (RFC 9293) and option parsing/writing (RFC 7323, 2018).
//
//   0 sport  2 dport  4 seq  8 ack  12 data offset|flags  14 window
//   16 checksum  18 urgent pointer  20 options...  payload
//
// parse() checks 20 <= data offset * 4 <= span; the payload is the rest of
// the span (the IP layer has already trimmed it). Options are parsed on
// demand with tcp_parse_options(): a malformed list (length < 2, or running
// off the end) stops the parse and sets TcpOptions::malformed; a known
// option with a wrong length is ignored, as Linux does.
#pragma once

#include <optional>

#include "passt/net/addr.h"
#include "passt/net/checksum.h"
#include "passt/net/view.h"

namespace passt {

namespace tcpflag {
inline constexpr uint8_t fin = 0x01;
inline constexpr uint8_t syn = 0x02;
inline constexpr uint8_t rst = 0x04;
inline constexpr uint8_t psh = 0x08;
inline constexpr uint8_t ack = 0x10;
inline constexpr uint8_t urg = 0x20;
inline constexpr uint8_t ece = 0x40;
inline constexpr uint8_t cwr = 0x80;
} // namespace tcpflag

namespace tcpopt {
inline constexpr uint8_t eol = 0;
inline constexpr uint8_t nop = 1;
inline constexpr uint8_t mss = 2;         // length 4
inline constexpr uint8_t wscale = 3;      // length 3
inline constexpr uint8_t sack_perm = 4;   // length 2
inline constexpr uint8_t sack = 5;        // variable
inline constexpr uint8_t timestamp = 8;   // length 10
inline constexpr uint8_t max_wscale = 14; // RFC 7323 2.3
} // namespace tcpopt

struct TcpOptions {
	std::optional<uint16_t> mss;
	std::optional<uint8_t> wscale; // as received: callers clamp to max_wscale
	bool sack_permitted = false;
	bool has_timestamps = false;
	uint32_t ts_val = 0, ts_ecr = 0;
	bool malformed = false; // parse stopped at a bad option
};

// Parse the option bytes of a TCP header (what TcpView::options() returns).
TcpOptions tcp_parse_options(std::span<const std::byte> opts);

// Write mss, sack_permitted, timestamps and wscale (whichever are set) as a
// SYN carries them, NOP-padded to a multiple of 4 bytes. Returns the number of
// bytes written (at most 20), or 0 with nothing written if out is too small.
size_t tcp_write_options(std::span<std::byte> out, const TcpOptions &o);
// The number of bytes tcp_write_options() writes for o.
size_t tcp_options_len(const TcpOptions &o);

template <ByteType B> class BasicTcpView {
public:
	using Bytes = std::span<B>;
	static constexpr size_t min_hdr_len = 20;
	static constexpr size_t max_hdr_len = 60;

	static std::optional<BasicTcpView> parse(Bytes seg) {
		if (seg.size() < min_hdr_len)
			return std::nullopt;
		size_t hlen = size_t(detail::ld8(seg, 12) >> 4) * 4;
		if (hlen < min_hdr_len || hlen > seg.size())
			return std::nullopt;
		return BasicTcpView(seg, hlen);
	}
	// For building: zeroes the 20-byte header and sets data offset 5. The
	// view covers all of buf; use set_header_len() after writing options.
	static std::optional<BasicTcpView> init(Bytes buf) requires MutableByte<B> {
		if (buf.size() < min_hdr_len)
			return std::nullopt;
		__builtin_memset(buf.data(), 0, min_hdr_len);
		detail::st8(buf, 12, 5 << 4);
		return BasicTcpView(buf, min_hdr_len);
	}
	template <ByteType O> requires(!MutableByte<B> && MutableByte<O>)
	BasicTcpView(const BasicTcpView<O> &o) : s_(o.bytes()), hlen_(o.header_len()) {} // NOLINT

	uint16_t sport() const { return detail::ld16(s_, 0); }
	uint16_t dport() const { return detail::ld16(s_, 2); }
	uint32_t seq() const { return detail::ld32(s_, 4); }
	uint32_t ack_seq() const { return detail::ld32(s_, 8); }
	size_t header_len() const { return hlen_; }
	uint8_t flags() const { return detail::ld8(s_, 13); }
	bool has(uint8_t flag) const { return flags() & flag; }
	uint16_t window() const { return detail::ld16(s_, 14); }
	be16 checksum() const { return detail::ldraw16(s_, 16); }
	uint16_t urgent() const { return detail::ld16(s_, 18); }
	Bytes options() const { return s_.subspan(min_hdr_len, hlen_ - min_hdr_len); }
	TcpOptions parse_options() const { return tcp_parse_options(options()); }
	Bytes header() const { return s_.first(hlen_); }
	Bytes payload() const { return s_.subspan(hlen_); }
	Bytes bytes() const { return s_; }

	bool checksum_ok4(Ipv4Addr saddr, Ipv4Addr daddr) const {
		return l4_checksum4(saddr, daddr, ipproto::tcp, cbytes()).raw == 0;
	}
	bool checksum_ok6(const Ipv6Addr &saddr, const Ipv6Addr &daddr) const {
		return l4_checksum6(saddr, daddr, ipproto::tcp, cbytes()).raw == 0;
	}

	void set_sport(uint16_t p) requires MutableByte<B> { detail::st16(s_, 0, p); }
	void set_dport(uint16_t p) requires MutableByte<B> { detail::st16(s_, 2, p); }
	void set_seq(uint32_t v) requires MutableByte<B> { detail::st32(s_, 4, v); }
	void set_ack_seq(uint32_t v) requires MutableByte<B> { detail::st32(s_, 8, v); }
	void set_flags(uint8_t f) requires MutableByte<B> { detail::st8(s_, 13, f); }
	void set_window(uint16_t w) requires MutableByte<B> { detail::st16(s_, 14, w); }
	void set_checksum(be16 c) requires MutableByte<B> { detail::straw16(s_, 16, c); }
	void set_urgent(uint16_t u) requires MutableByte<B> { detail::st16(s_, 18, u); }
	// Header length incl. options: multiple of 4 in [20, 60] that fits.
	bool set_header_len(size_t len) requires MutableByte<B> {
		if (len < min_hdr_len || len > max_hdr_len || len % 4 || len > s_.size())
			return false;
		detail::st8(s_, 12, uint8_t((len / 4) << 4));
		hlen_ = len;
		return true;
	}
	// Checksum over the whole view (header + payload): view exactly the segment.
	void fill_checksum4(Ipv4Addr saddr, Ipv4Addr daddr) requires MutableByte<B> {
		set_checksum(be16{});
		set_checksum(l4_checksum4(saddr, daddr, ipproto::tcp, cbytes()));
	}
	void fill_checksum6(const Ipv6Addr &saddr, const Ipv6Addr &daddr) requires MutableByte<B> {
		set_checksum(be16{});
		set_checksum(l4_checksum6(saddr, daddr, ipproto::tcp, cbytes()));
	}
	// Checksum offload (CHECKSUM_PARTIAL): only the folded, uncomplemented
	// pseudo-header sum for the segment's length; whoever completes the
	// checksum adds the segment itself.
	void fill_pseudo_checksum4(Ipv4Addr saddr, Ipv4Addr daddr) requires MutableByte<B> {
		fill_pseudo_checksum4(saddr, daddr, s_.size());
	}
	void fill_pseudo_checksum6(const Ipv6Addr &saddr, const Ipv6Addr &daddr)
		requires MutableByte<B> {
		fill_pseudo_checksum6(saddr, daddr, s_.size());
	}
	// The same for a segment of seg_len bytes of which the view holds only
	// the header (the payload lies elsewhere).
	void fill_pseudo_checksum4(Ipv4Addr saddr, Ipv4Addr daddr, size_t seg_len)
		requires MutableByte<B> {
		set_checksum(be16::from_raw(
			csum_fold(pseudo_header4(saddr, daddr, ipproto::tcp, uint16_t(seg_len)))));
	}
	void fill_pseudo_checksum6(const Ipv6Addr &saddr, const Ipv6Addr &daddr, size_t seg_len)
		requires MutableByte<B> {
		set_checksum(be16::from_raw(
			csum_fold(pseudo_header6(saddr, daddr, ipproto::tcp, uint32_t(seg_len)))));
	}

private:
	BasicTcpView(Bytes s, size_t hlen) : s_(s), hlen_(hlen) {}
	std::span<const std::byte> cbytes() const { return std::span<const std::byte>(s_); }

	Bytes s_;
	size_t hlen_;
};

using TcpView = BasicTcpView<std::byte>;
using ConstTcpView = BasicTcpView<const std::byte>;

} // namespace passt
