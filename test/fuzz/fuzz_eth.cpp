// Fuzz the Ethernet and ARP views.
// FUZZ_MAX_LEN: 65600
#include "fuzz_util.h"
#include "passt/net/arp.h"
#include "passt/net/eth.h"

using namespace passt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	fuzz::Input in(data, size);
	auto eth = EthView::parse(in.span());
	FUZZ_CHECK(eth.has_value() == (size >= 14));
	if (eth) {
		fuzz::sink(eth->dst().b[5] + eth->src().b[0] + eth->ethertype());
		FUZZ_CHECK(eth->payload().size() == size - 14);
		ConstEthView c = *eth;
		fuzz::sink(c.payload().size());
	}
	// ARP over the whole input and over the Ethernet payload.
	for (auto s : {in.span(), eth ? eth->payload() : std::span<std::byte>()}) {
		auto arp = ConstArpView::parse(s);
		if (!arp)
			continue;
		FUZZ_CHECK(arp->bytes().size() == 28 && fuzz::within(arp->bytes(), s));
		fuzz::sink(arp->op() + arp->sha().b[0] + arp->spa().host() + arp->tha().b[5] +
			   arp->tpa().host());
	}
	return 0;
}
