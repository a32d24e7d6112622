// Fuzz the IPv6 view and its extension header walk.
// FUZZ_MAX_LEN: 65600
#include "fuzz_util.h"
#include "passt/net/ip6.h"

using namespace passt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	fuzz::Input in(data, size);
	auto ip = ConstIp6View::parse(in.cspan());
	if (!ip)
		return 0;
	FUZZ_CHECK(ip->bytes().size() == 40u + ip->payload_len());
	FUZZ_CHECK(ip->l4_offset() >= 40 && ip->l4_offset() <= ip->bytes().size());
	FUZZ_CHECK(ip->l4().size() == ip->bytes().size() - ip->l4_offset());
	FUZZ_CHECK(fuzz::within(ip->l4(), in.cspan()));
	// Unless the walk stopped at a later fragment (whose next header field
	// names what the first fragment carries), it ends past every header it knows.
	if (!ip->l4_info().has_frag || ip->l4_info().frag_offset == 0)
		FUZZ_CHECK(ip->proto() != ipproto::hopopts && ip->proto() != ipproto::routing &&
			   ip->proto() != ipproto::dstopts && ip->proto() != ipproto::fragment);
	fuzz::sink(ip->traffic_class() + ip->flow_label() + ip->next_header() + ip->hop_limit() +
		   ip->saddr().b[0] + ip->daddr().b[15] + ip->is_fragment() +
		   ip->l4_info().frag_id);
	// Walking the payload directly gives the same answer.
	auto again = ip6_walk_ext(ip->payload(), ip->next_header());
	FUZZ_CHECK(again && again->offset + 40 == ip->l4_offset() && again->proto == ip->proto());
	return 0;
}
