// TCP option parsing and writing; see include/passt/net/tcp.h.
//
// Options are kind(1) [length(1) data], except EOL (ends the list) and NOP
// (one byte of padding). We read MSS, window scale, SACK-permitted and
// timestamps, the ones a SYN carries and the translator mirrors; anything
// else is skipped by its length.
#include "passt/net/tcp.h"

namespace passt {

TcpOptions tcp_parse_options(std::span<const std::byte> opts) {
	TcpOptions o;
	size_t i = 0, n = opts.size();

	while (i < n) {
		uint8_t kind = uint8_t(opts[i]);
		if (kind == tcpopt::eol)
			break;
		if (kind == tcpopt::nop) {
			i++;
			continue;
		}
		if (n - i < 2) {
			o.malformed = true;
			break;
		}
		size_t len = uint8_t(opts[i + 1]);
		if (len < 2 || len > n - i) {
			o.malformed = true;
			break;
		}
		const std::byte *d = opts.data() + i + 2;
		switch (kind) {
		case tcpopt::mss:
			if (len == 4)
				o.mss = load_be16(d);
			break;
		case tcpopt::wscale:
			if (len == 3)
				o.wscale = uint8_t(d[0]);
			break;
		case tcpopt::sack_perm:
			if (len == 2)
				o.sack_permitted = true;
			break;
		case tcpopt::timestamp:
			if (len == 10) {
				o.has_timestamps = true;
				o.ts_val = load_be32(d);
				o.ts_ecr = load_be32(d + 4);
			}
			break;
		default: break;
		}
		i += len;
	}
	return o;
}

size_t tcp_options_len(const TcpOptions &o) {
	return (o.mss ? 4 : 0) + (o.has_timestamps ? 12 : (o.sack_permitted ? 4 : 0)) +
	       (o.wscale ? 4 : 0);
}

size_t tcp_write_options(std::span<std::byte> out, const TcpOptions &o) {
	if (tcp_options_len(o) > out.size())
		return 0;

	std::byte *p = out.data();
	auto put8 = [&p](uint8_t v) { *p++ = std::byte{v}; };
	if (o.mss) {
		put8(tcpopt::mss);
		put8(4);
		store_be16(p, *o.mss);
		p += 2;
	}
	if (o.has_timestamps) {
		if (o.sack_permitted) {
			put8(tcpopt::sack_perm);
			put8(2);
		} else {
			put8(tcpopt::nop);
			put8(tcpopt::nop);
		}
		put8(tcpopt::timestamp);
		put8(10);
		store_be32(p, o.ts_val);
		store_be32(p + 4, o.ts_ecr);
		p += 8;
	} else if (o.sack_permitted) {
		put8(tcpopt::nop);
		put8(tcpopt::nop);
		put8(tcpopt::sack_perm);
		put8(2);
	}
	if (o.wscale) {
		put8(tcpopt::nop);
		put8(tcpopt::wscale);
		put8(3);
		put8(*o.wscale);
	}
	return size_t(p - out.data());
}

} // namespace passt
