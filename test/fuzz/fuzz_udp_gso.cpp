// Fuzz the splitting of UDP GSO frames from the tap device: whatever the
// frame and virtio-net header, segments lie in the buffer, apart and in
// order, each a complete UDP datagram that verifies, together the payload
// of the frame; a refused frame leaves the buffer untouched.
//
// Input: flags (bit 7: fix up the IP and UDP lengths and the IPv4 header
// checksum first, to get past them more often), gso_size (2 bytes, LE),
// csum_start (2), csum_offset (2), then the frame.
// FUZZ_SRCS: src/tap/udp_gso.cpp
// FUZZ_MAX_LEN: 65600
#include <vector>

#include "fuzz_util.h"
#include "passt/net/eth.h"
#include "passt/net/ip4.h"
#include "passt/net/ip6.h"
#include "passt/net/udp.h"
#include "passt/tap/udp_gso.h"

using namespace passt;

namespace {

uint16_t le16(const uint8_t *p) { return uint16_t(p[0] | p[1] << 8); }

void put16(std::vector<std::byte> &b, size_t off, size_t v) {
	if (off + 2 <= b.size()) {
		b[off] = std::byte(v >> 8);
		b[off + 1] = std::byte(v);
	}
}

void fix_up(std::vector<std::byte> &f) {
	if (f.size() < 14 + 40)
		return;
	uint16_t et = uint16_t(uint8_t(f[12]) << 8 | uint8_t(f[13]));
	if (et == 0x0800) {
		size_t ihl = (uint8_t(f[14]) & 0xf) * 4u;
		if (ihl < 20 || 14 + ihl + 8 > f.size())
			return;
		put16(f, 16, f.size() - 14);
		put16(f, 14 + ihl + 4, f.size() - 14 - ihl);
		be16 c = ip4_header_checksum(std::span<const std::byte>(f).subspan(14, ihl));
		std::memcpy(f.data() + 24, &c.raw, 2);
	} else if (et == 0x86dd) {
		put16(f, 18, f.size() - 54);
		put16(f, 54 + 4, f.size() - 54);
	}
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	if (size < 7)
		return 0;
	VirtioNetHdr vh{};
	vh.flags = data[0] & 0x7f;
	vh.gso_type = vnet::GSO_UDP_L4;
	vh.gso_size = htole16(le16(data + 1));
	vh.csum_start = htole16(le16(data + 3));
	vh.csum_offset = htole16(le16(data + 5));
	std::vector<std::byte> frame(reinterpret_cast<const std::byte *>(data + 7),
				     reinterpret_cast<const std::byte *>(data + size));
	if (data[0] & 0x80)
		fix_up(frame);
	const size_t flen = frame.size();

	// The frame, then exactly the room the splitter may use (ASan-checked).
	std::vector<uint8_t> room(flen + UDP_GSO_EXTRA_ROOM);
	if (flen)
		std::memcpy(room.data(), frame.data(), flen);
	fuzz::Input in(room.data(), room.size());
	std::span<std::byte> segs[UDP_GSO_MAX_SEGS];
	UdpGsoResult r = udp_gso_split(in.span(), flen, vh, segs);
	if (r.error) {
		FUZZ_CHECK(r.segs == 0);
		FUZZ_CHECK(!flen || std::memcmp(in.span().data(), frame.data(), flen) == 0);
		return 0;
	}
	FUZZ_CHECK(r.segs >= 1 && r.segs <= UDP_GSO_MAX_SEGS);
	const std::byte *end = in.span().data();
	size_t total = 0;
	for (size_t k = 0; k < r.segs; k++) {
		FUZZ_CHECK(fuzz::within(segs[k], in.span()));
		FUZZ_CHECK(segs[k].data() >= end);
		end = segs[k].data() + segs[k].size();
		auto eth = ConstEthView::parse(segs[k]);
		FUZZ_CHECK(eth);
		std::span<const std::byte> payload;
		if (eth->ethertype() == ethertype::ipv4) {
			auto ip = ConstIp4View::parse(eth->payload());
			FUZZ_CHECK(ip && ip->checksum_ok() &&
				   ip->bytes().size() == eth->payload().size());
			auto udp = ConstUdpView::parse(ip->payload());
			FUZZ_CHECK(udp && udp->checksum_ok4(ip->saddr(), ip->daddr()));
			FUZZ_CHECK(udp->bytes().size() == ip->payload().size());
			payload = udp->payload();
		} else {
			auto ip = ConstIp6View::parse(eth->payload());
			FUZZ_CHECK(ip && ip->proto() == ipproto::udp);
			auto udp = ConstUdpView::parse(ip->l4());
			FUZZ_CHECK(udp && udp->checksum_ok6(ip->saddr(), ip->daddr()));
			FUZZ_CHECK(udp->bytes().size() == ip->l4().size());
			payload = udp->payload();
		}
		if (k + 1 < r.segs)
			FUZZ_CHECK(payload.size() == le16toh(vh.gso_size));
		else
			FUZZ_CHECK(payload.size() >= 1 || r.segs == 1);
		total += payload.size();
	}
	fuzz::sink(total);
	return 0;
}
