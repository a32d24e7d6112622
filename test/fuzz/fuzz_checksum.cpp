// Differential fuzzing of the checksum: contiguous vs. the same bytes split
// over iovecs at fuzzed (often odd) offsets vs. a plain 16-bit reference;
// plus the iovec helpers and the frame pool.
#include <sys/uio.h>

#include "fuzz_util.h"
#include "passt/net/checksum.h"
#include "passt/net/iov.h"
#include "passt/net/pool.h"

using namespace passt;

namespace {

uint16_t ref_sum(std::span<const std::byte> d) {
	uint64_t sum = 0;
	for (size_t i = 0; i < d.size(); i += 2)
		sum += (uint64_t(uint8_t(d[i])) << 8) | (i + 1 < d.size() ? uint8_t(d[i + 1]) : 0);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return uint16_t(sum);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	if (size < 4)
		return 0;
	// First 4 bytes choose the split; the rest is the data.
	uint8_t cuts[4];
	std::memcpy(cuts, data, 4);
	fuzz::Input in(data + 4, size - 4);
	auto d = in.span();
	size_t n = d.size();

	uint16_t want = uint16_t(~ref_sum(d));
	FUZZ_CHECK(inet_checksum(in.cspan()).host() == want);

	iovec iov[5];
	size_t pos = 0, k = 0;
	for (uint8_t c : cuts) {
		size_t len = n - pos < c ? n - pos : c;
		iov[k++] = {d.data() + pos, len};
		pos += len;
	}
	iov[k++] = {d.data() + pos, n - pos};
	std::span<const iovec> v(iov, k);
	FUZZ_CHECK(iov_size(v) == n);
	FUZZ_CHECK(inet_checksum(v).host() == want);

	// A sub-range starting at a fuzzed offset.
	size_t off = n ? cuts[0] % (n + 1) : 0;
	size_t len = cuts[1];
	size_t avail = len < n - off ? len : n - off;
	FUZZ_CHECK(inet_checksum(v, off, len).host() == uint16_t(~ref_sum(d.subspan(off, avail))));

	// iov_peek / iov_to_buf agree with the contiguous bytes.
	std::byte scratch[256];
	auto peek = iov_peek(v, off, avail, scratch);
	FUZZ_CHECK(peek.size() == avail || (avail == 0 && peek.empty()) || avail > sizeof(scratch));
	if (peek.size() == avail && avail)
		FUZZ_CHECK(std::memcmp(peek.data(), d.data() + off, avail) == 0);
	size_t got = iov_to_buf(v, off, std::span(scratch, avail < 256 ? avail : 256));
	FUZZ_CHECK(got == (avail < 256 ? avail : 256));

	// Pool: every piece is inside the region, a byte outside never is.
	FramePool<5> pool(d);
	for (size_t i = 0; i < k; i++) {
		std::span<std::byte> f(static_cast<std::byte *>(iov[i].iov_base), iov[i].iov_len);
		FUZZ_CHECK(pool.add(f) == !f.empty());
	}
	for (size_t i = 0; i < pool.size(); i++)
		FUZZ_CHECK(fuzz::within(pool.get(i, cuts[2], cuts[3]), d));
	std::byte outside[1];
	FUZZ_CHECK(!pool.add(outside));
	return 0;
}
