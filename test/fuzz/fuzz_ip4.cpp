// Fuzz the IPv4 view: bounds, trimming, checksum fill/verify.
// FUZZ_MAX_LEN: 65600
#include "fuzz_util.h"
#include "passt/net/ip4.h"

using namespace passt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	fuzz::Input in(data, size);
	auto ip = Ip4View::parse(in.span());
	if (!ip)
		return 0;
	FUZZ_CHECK(ip->header_len() >= 20 && ip->header_len() <= 60);
	FUZZ_CHECK(ip->bytes().size() == ip->total_len());
	FUZZ_CHECK(ip->header_len() + ip->payload().size() == ip->total_len());
	FUZZ_CHECK(fuzz::within(ip->payload(), in.span()));
	FUZZ_CHECK(ip->options().size() == ip->header_len() - 20);
	fuzz::sink(ip->tos() + ip->id() + ip->df() + ip->mf() + ip->frag_offset() +
		   ip->is_fragment() + ip->ttl() + ip->protocol() + ip->checksum().raw +
		   ip->saddr().host() + ip->daddr().host() + ip->checksum_ok());
	ip->fill_checksum();
	FUZZ_CHECK(ip->checksum_ok());
	ConstIp4View c = *ip;
	FUZZ_CHECK(c.checksum_ok());
	return 0;
}
