// Fuzz the TCP view, option parser and option writer.
#include "fuzz_util.h"
#include "passt/net/tcp.h"

using namespace passt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	fuzz::Input in(data, size);

	// The option parser alone, on any bytes.
	TcpOptions raw = tcp_parse_options(in.cspan().first(size < 40 ? size : 40));
	std::byte out[40];
	size_t n = tcp_write_options(out, raw);
	FUZZ_CHECK(n <= 20 && n % 4 == 0);
	TcpOptions back = tcp_parse_options(std::span(out, n));
	FUZZ_CHECK(!back.malformed && back.mss == raw.mss && back.wscale == raw.wscale &&
		   back.sack_permitted == raw.sack_permitted &&
		   back.has_timestamps == raw.has_timestamps &&
		   (!raw.has_timestamps || (back.ts_val == raw.ts_val && back.ts_ecr == raw.ts_ecr)));

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
