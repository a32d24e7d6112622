// Type-length-value options as DHCPv4 (RFC 2132 2), DHCPv6 (RFC 8415 21.1)
// and NDP (RFC 4861 4.6) carry them: one bounds-checked reader and one
// writer for the three, told apart by a format policy (Dhcp4, Dhcp6, Ndp).
//
// Theory of operation
// -------------------
// An option is a header, code then length, and its data. The formats differ
// only in:
//   - field widths: code and length of 1 byte (DHCPv4, NDP) or 2 (DHCPv6);
//   - what the length counts: data bytes (DHCP), or the whole option with
//     its header in units of 8 bytes (NDP: so 0 is invalid, and the writer
//     pads the data with zeros up to the next unit);
//   - one-byte codes without a length: pad (skipped) and end (the walk stops
//     there; what follows is not options), in DHCPv4 only;
//   - data longer than the length field allows: DHCPv4 splits it over
//     several options of the same code (RFC 3396, "long options"); the
//     others cannot carry it.
// DHCPv4's option overload (52: more options in the sname and file fields)
// and DHCPv6's nested options (IA_NA > IAADDR > Status Code) are the
// caller's: each area is a span of its own, walked by a reader of its own.
//
// Reader: walks one span. next() gives each option in turn, code, data and
// all of its bytes, as subspans of the input; it stops at the end of the
// span, at an end option, or at the first malformed option, and then for
// good: a header cut off by the end of the span (truncated), a length that
// runs past it (overrun), a length shorter than the header (bad_length,
// NDP's 0). It never reads outside the span. for_each(), valid() and find()
// are the usual walks over it.
//
// Writer: appends to one span. put*() writes raw bytes (message headers,
// fixed option fields); open() writes an option header whose length close()
// fills in once the data is written; add() writes a whole option or nothing.
// A write that does not fit writes nothing and sets overflow, which sticks
// (later writes are ignored) until rollback() to a mark() taken before it;
// close() of an option too long for its length field overflows too.
// wire_len() and max_data() size options in advance, for callers that fit
// a choice of options into a fixed room. Nothing allocates.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

#include "passt/net/byteorder.h"

namespace passt::tlv {

// Format policies. code_len, len_len: field widths in bytes; unit: what one
// length step is worth; len_has_hdr: the length counts the header too;
// split: data over the length field's maximum goes in several options;
// pad, end: one-byte codes with no length field, -1 where there are none.
struct Dhcp4 {
	static constexpr size_t code_len = 1, len_len = 1, unit = 1;
	static constexpr bool len_has_hdr = false, split = true;
	static constexpr int pad = 0, end = 255;
};
struct Dhcp6 {
	static constexpr size_t code_len = 2, len_len = 2, unit = 1;
	static constexpr bool len_has_hdr = false, split = false;
	static constexpr int pad = -1, end = -1;
};
struct Ndp {
	static constexpr size_t code_len = 1, len_len = 1, unit = 8;
	static constexpr bool len_has_hdr = true, split = false;
	static constexpr int pad = -1, end = -1;
};

template <class F> inline constexpr size_t hdr_len = F::code_len + F::len_len;
// Largest value of the length field.
template <class F> inline constexpr size_t len_field_max = F::len_len == 1 ? 0xff : 0xffff;

enum class Error : uint8_t {
	none,
	truncated,  // option header cut off by the end of the span
	overrun,    // length runs past the end of the span
	bad_length, // length shorter than the header itself (NDP: 0)
};
// A short description, for log messages.
constexpr const char *error_text(Error e) {
	switch (e) {
	case Error::none: return "no error";
	case Error::truncated: return "option header truncated";
	case Error::overrun: return "option length runs past the end";
	case Error::bad_length: return "option length shorter than its header";
	}
	return "?";
}

namespace detail {
inline size_t load(const std::byte *p, size_t width) {
	return width == 1 ? size_t(uint8_t(*p)) : size_t(load_be16(p));
}
inline void store(std::byte *p, size_t width, size_t v) {
	if (width == 1)
		*p = std::byte(v);
	else
		store_be16(p, uint16_t(v));
}
constexpr size_t round_up(size_t n, size_t unit) { return (n + unit - 1) / unit * unit; }
} // namespace detail

struct Option {
	uint16_t code;
	std::span<const std::byte> data;  // after the header (NDP: with its padding)
	std::span<const std::byte> bytes; // header and data
};

template <class F> class Reader {
public:
	explicit Reader(std::span<const std::byte> s) : s_(s) {}
	// The next option; nullopt at the end of the span, at an end option
	// or at a malformed option (error() then says which).
	std::optional<Option> next() {
		constexpr size_t hdr = hdr_len<F>;
		while (!s_.empty()) {
			int c = int(uint8_t(s_[0]));
			if (c == F::pad) {
				s_ = s_.subspan(1);
				continue;
			}
			if (c == F::end)
				break;
			if (s_.size() < hdr) {
				err_ = Error::truncated;
				break;
			}
			size_t total = (F::len_has_hdr ? 0 : hdr) +
				       detail::load(s_.data() + F::code_len, F::len_len) * F::unit;
			err_ = total < hdr         ? Error::bad_length
			       : total > s_.size() ? Error::overrun
						   : Error::none;
			if (err_ != Error::none)
				break;
			Option o{uint16_t(detail::load(s_.data(), F::code_len)),
				 s_.subspan(hdr, total - hdr), s_.first(total)};
			s_ = s_.subspan(total);
			return o;
		}
		s_ = {}; // an end option or an error ends the walk for good
		return std::nullopt;
	}
	Error error() const { return err_; }

private:
	std::span<const std::byte> s_;
	Error err_ = Error::none;
};

// Call f(const Option &) for each option until f returns false. False if a
// malformed option came first; true if the options ran out or f stopped.
template <class F, class Fn> bool for_each(std::span<const std::byte> s, Fn &&f) {
	Reader<F> r(s);
	while (auto o = r.next())
		if (!f(*o))
			return true;
	return r.error() == Error::none;
}

// Every option up to the end is well-formed.
template <class F> bool valid(std::span<const std::byte> s) {
	return for_each<F>(s, [](const Option &) { return true; });
}

// First option with this code; nullopt if none comes before the options run
// out or turn malformed.
template <class F> std::optional<Option> find(std::span<const std::byte> s, uint16_t code) {
	Reader<F> r(s);
	while (auto o = r.next())
		if (o->code == code)
			return o;
	return std::nullopt;
}

// Bytes an option with n bytes of data takes (several options, if split).
template <class F> constexpr size_t wire_len(size_t n) {
	constexpr size_t hdr = hdr_len<F>, max = len_field_max<F> * F::unit;
	if constexpr (F::split)
		return n == 0 ? hdr : n + hdr * ((n + max - 1) / max);
	else if constexpr (F::len_has_hdr)
		return detail::round_up(hdr + n, F::unit);
	else
		return hdr + detail::round_up(n, F::unit);
}
// Most data an option can carry in avail bytes (0: none, or nothing fits).
// Split formats: its instances, reckoned as DHCP has always sized option
// 119, which can fall up to one header short of the most near an instance
// boundary (256 bytes: 252 of data, where 254 would fit).
template <class F> constexpr size_t max_data(size_t avail) {
	constexpr size_t hdr = hdr_len<F>, max = len_field_max<F> * F::unit;
	if (avail < hdr)
		return 0;
	if constexpr (F::split) {
		size_t n = avail - hdr * ((avail + max - 1) / max);
		while (n && wire_len<F>(n) > avail)
			n--;
		return n;
	} else if constexpr (F::len_has_hdr) {
		size_t total = std::min(avail / F::unit * F::unit, max);
		return total < hdr ? 0 : total - hdr;
	} else {
		return std::min((avail - hdr) / F::unit * F::unit, max);
	}
}

template <class F> class Writer {
public:
	explicit Writer(std::span<std::byte> s) : s_(s) {}
	size_t len() const { return len_; }
	bool overflow() const { return overflow_; }
	size_t room() const { return overflow_ ? 0 : s_.size() - len_; }
	// Where to go back to if what follows doesn't fit; rollback() undoes
	// what came after, an earlier overflow included, no more.
	struct Mark {
		size_t len;
		bool overflow;
	};
	Mark mark() const { return {len_, overflow_}; }
	void rollback(Mark m) {
		len_ = m.len;
		overflow_ = m.overflow;
	}

	void put(std::span<const std::byte> b) {
		if (std::byte *p = grow(b.size()); p && !b.empty())
			std::memcpy(p, b.data(), b.size());
	}
	void put(std::span<const uint8_t> b) { put(std::as_bytes(b)); }
	void put8(uint8_t v) { put(std::array<uint8_t, 1>{v}); }
	void put16(uint16_t v) {
		if (std::byte *p = grow(2))
			store_be16(p, v);
	}
	void put32(uint32_t v) {
		if (std::byte *p = grow(4))
			store_be32(p, v);
	}
	void zeros(size_t n) {
		if (std::byte *p = grow(n))
			std::memset(p, 0, n);
	}

	// Option header, its length set by close(); returns its offset.
	size_t open(uint16_t code) {
		size_t at = len_;
		if (std::byte *p = grow(hdr_len<F>)) {
			detail::store(p, F::code_len, code);
			detail::store(p + F::code_len, F::len_len, 0);
		}
		return at;
	}
	void close(size_t at) {
		if (overflow_)
			return;
		size_t counted = len_ - at - (F::len_has_hdr ? 0 : hdr_len<F>);
		zeros(detail::round_up(counted, F::unit) - counted);
		size_t v = detail::round_up(counted, F::unit) / F::unit;
		if (v > len_field_max<F>)
			overflow_ = true;
		if (!overflow_)
			detail::store(s_.data() + at + F::code_len, F::len_len, v);
	}
	// A whole option (split if the format does), or nothing: true if written.
	bool add(uint16_t code, std::span<const std::byte> data = {}) {
		Mark m = mark();
		do {
			size_t n = F::split ? std::min(data.size(), len_field_max<F>) : data.size();
			size_t at = open(code);
			put(data.first(n));
			close(at);
			data = data.subspan(n);
		} while (!data.empty() && !overflow_);
		if (!overflow_)
			return true;
		rollback(m);
		return false;
	}
	bool add(uint16_t code, std::span<const uint8_t> data) {
		return add(code, std::as_bytes(data));
	}
	// End option, for formats that have one.
	void end() requires(F::end >= 0) { put8(uint8_t(F::end)); }

private:
	// n more bytes at the end, or nullptr (and overflow) if they don't fit.
	std::byte *grow(size_t n) {
		if (overflow_ || n > s_.size() - len_) {
			overflow_ = true;
			return nullptr;
		}
		len_ += n;
		return s_.data() + len_ - n;
	}
	std::span<std::byte> s_;
	size_t len_ = 0;
	bool overflow_ = false;
};

} // namespace passt::tlv
