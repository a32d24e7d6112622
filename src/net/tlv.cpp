// TLV option reader and writer; see include/passt/net/tlv.h.
#include "passt/net/tlv.h"

#include <algorithm>
#include <cstring>

#include "passt/net/byteorder.h"

namespace passt::tlv {

namespace {

size_t load(const std::byte *p, size_t width) {
	return width == 1 ? size_t(uint8_t(*p)) : size_t(load_be16(p));
}

void store(std::byte *p, size_t width, size_t v) {
	if (width == 1)
		*p = std::byte(v);
	else
		store_be16(p, uint16_t(v));
}

size_t round_up(size_t n, size_t unit) { return (n + unit - 1) / unit * unit; }

} // namespace

const char *error_text(Error e) {
	switch (e) {
	case Error::none: return "no error";
	case Error::truncated: return "option header truncated";
	case Error::overrun: return "option length runs past the end";
	case Error::bad_length: return "option length shorter than its header";
	}
	return "?";
}

template <class F> std::optional<Option> Reader<F>::next() {
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
		size_t counted = load(s_.data() + F::code_len, F::len_len) * F::unit;
		size_t total = F::len_has_hdr ? counted : hdr + counted;
		if (total < hdr) {
			err_ = Error::bad_length;
			break;
		}
		if (total > s_.size()) {
			err_ = Error::overrun;
			break;
		}
		Option o{uint16_t(load(s_.data(), F::code_len)), s_.subspan(hdr, total - hdr),
			 s_.first(total)};
		s_ = s_.subspan(total);
		return o;
	}
	s_ = {}; // an end option or an error ends the walk for good
	return std::nullopt;
}

template <class F> size_t wire_len(size_t n) {
	constexpr size_t hdr = hdr_len<F>;
	if constexpr (F::split) {
		constexpr size_t max = len_field_max<F> * F::unit;
		return n == 0 ? hdr : n + hdr * ((n + max - 1) / max);
	} else if constexpr (F::len_has_hdr) {
		return round_up(hdr + n, F::unit);
	} else {
		return hdr + round_up(n, F::unit);
	}
}

template <class F> size_t max_data(size_t avail) {
	constexpr size_t hdr = hdr_len<F>;
	if (avail < hdr)
		return 0;
	if constexpr (F::split) {
		constexpr size_t max = len_field_max<F> * F::unit;
		size_t n = avail - hdr * ((avail + max - 1) / max);
		while (n && wire_len<F>(n) > avail)
			n--;
		return n;
	} else if constexpr (F::len_has_hdr) {
		size_t total = std::min(avail / F::unit, len_field_max<F>) * F::unit;
		return total < hdr ? 0 : total - hdr;
	} else {
		return std::min((avail - hdr) / F::unit, len_field_max<F>) * F::unit;
	}
}

template <class F> void Writer<F>::put(std::span<const std::byte> b) {
	if (overflow_ || b.size() > s_.size() - len_) {
		overflow_ = true;
		return;
	}
	if (!b.empty())
		std::memcpy(s_.data() + len_, b.data(), b.size());
	len_ += b.size();
}

template <class F> void Writer<F>::put8(uint8_t v) {
	std::byte b{v};
	put(std::span<const std::byte>(&b, 1));
}

template <class F> void Writer<F>::put16(uint16_t v) {
	std::byte b[2];
	store_be16(b, v);
	put(b);
}

template <class F> void Writer<F>::put32(uint32_t v) {
	std::byte b[4];
	store_be32(b, v);
	put(b);
}

template <class F> void Writer<F>::zeros(size_t n) {
	if (overflow_ || n > s_.size() - len_) {
		overflow_ = true;
		return;
	}
	std::memset(s_.data() + len_, 0, n);
	len_ += n;
}

template <class F> size_t Writer<F>::open(uint16_t code) {
	size_t at = len_;
	std::byte h[hdr_len<F>];
	store(h, F::code_len, code);
	store(h + F::code_len, F::len_len, 0);
	put(h);
	return at;
}

template <class F> void Writer<F>::close(size_t at) {
	if (overflow_)
		return;
	size_t counted = len_ - at - (F::len_has_hdr ? 0 : hdr_len<F>);
	zeros(round_up(counted, F::unit) - counted);
	size_t v = round_up(counted, F::unit) / F::unit;
	if (overflow_ || v > len_field_max<F>) {
		overflow_ = true;
		return;
	}
	store(s_.data() + at + F::code_len, F::len_len, v);
}

template <class F> bool Writer<F>::add(uint16_t code, std::span<const std::byte> data) {
	Mark m = mark();
	do {
		size_t n = F::split ? std::min(data.size(), len_field_max<F>) : data.size();
		size_t at = open(code);
		put(data.first(n));
		close(at);
		data = data.subspan(n);
	} while (!data.empty() && !overflow_);
	if (overflow_) {
		rollback(m);
		return false;
	}
	return true;
}

template class Reader<Dhcp4>;
template class Reader<Dhcp6>;
template class Reader<Ndp>;
template class Writer<Dhcp4>;
template class Writer<Dhcp6>;
template class Writer<Ndp>;
template size_t wire_len<Dhcp4>(size_t);
template size_t wire_len<Dhcp6>(size_t);
template size_t wire_len<Ndp>(size_t);
template size_t max_data<Dhcp4>(size_t);
template size_t max_data<Dhcp6>(size_t);
template size_t max_data<Ndp>(size_t);

} // namespace passt::tlv
