// Fuzz the TCP view, option parser and option writer, and TcpRepr: what
// parses must emit to a segment that parses to the same values.
// FUZZ_MAX_LEN: 65600
#include <cstring>

#include "fuzz_util.h"
#include "passt/net/tcp.h"
#include "passt/net/tcp_repr.h"

using namespace passt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	fuzz::Input in(data, size);

	// The option parser alone, on any bytes.
	TcpOptions raw = tcp_parse_options(in.cspan().first(size < 40 ? size : 40));
	std::byte out[40];
	size_t n = tcp_write_options(out, raw);
	FUZZ_CHECK(n <= 20 && n % 4 == 0);
	TcpOptions back = tcp_parse_options(std::span(out, n));
	FUZZ_CHECK(
		!back.malformed && back.mss == raw.mss && back.wscale == raw.wscale &&
		back.sack_permitted == raw.sack_permitted &&
		back.has_timestamps == raw.has_timestamps &&
		(!raw.has_timestamps || (back.ts_val == raw.ts_val && back.ts_ecr == raw.ts_ecr)));

	// TcpRepr first, while the input is untouched (the view below
	// rewrites its checksum).
	if (auto r = TcpRepr::parse(in.cspan())) {
		FUZZ_CHECK(fuzz::within(r->payload, in.cspan()));
		static std::byte out[65536];
		const InAny s(Ipv4Addr::from_host(0xc0000201)), d(Ipv4Addr::from_host(0xc0000202));
		size_t n = r->emit(std::span(out, sizeof(out)), s, d);
		FUZZ_CHECK(n == r->segment_len() && n <= size);
		auto back = TcpRepr::parse4(std::span<const std::byte>(out, n), s.v4(), d.v4());
		FUZZ_CHECK(
			back && back->sport == r->sport && back->dport == r->dport &&
			back->seq == r->seq && back->ack == r->ack && back->flags == r->flags &&
			back->window == r->window && back->urgent == r->urgent &&
			back->opts.mss == r->opts.mss && back->opts.wscale == r->opts.wscale &&
			back->opts.sack_permitted == r->opts.sack_permitted &&
			back->opts.has_timestamps == r->opts.has_timestamps &&
			back->payload.size() == r->payload.size() &&
			!std::memcmp(back->payload.data(), r->payload.data(), r->payload.size()));
	}

	auto tcp = TcpView::parse(in.span());
	if (!tcp)
		return 0;
	FUZZ_CHECK(tcp->header_len() >= 20 && tcp->header_len() <= 60);
	FUZZ_CHECK(tcp->header_len() + tcp->payload().size() == size);
	FUZZ_CHECK(fuzz::within(tcp->options(), in.span()));
	TcpOptions o = tcp->parse_options();
	fuzz::sink(tcp->sport() + tcp->dport() + tcp->seq() + tcp->ack_seq() + tcp->flags() +
		   tcp->window() + tcp->urgent() + o.mss.value_or(0) + o.wscale.value_or(0) +
		   o.ts_val + o.malformed);
	const Ipv4Addr s4 = Ipv4Addr::from_host(0xc0000201), d4 = Ipv4Addr::from_host(0xc0000202);
	tcp->fill_checksum4(s4, d4);
	FUZZ_CHECK(tcp->checksum_ok4(s4, d4));
	tcp->fill_checksum6(Ipv6Addr::loopback(), Ipv6Addr::loopback());
	FUZZ_CHECK(tcp->checksum_ok6(Ipv6Addr::loopback(), Ipv6Addr::loopback()));
	FUZZ_CHECK(tcp->set_header_len(tcp->header_len()));
	return 0;
}
