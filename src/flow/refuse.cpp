// Refusing a guest's new datagram flow with an ICMP error; see
// include/passt/flow/refuse.h.
#include "passt/flow/refuse.h"

#include <cerrno>
#include <cstdint>

namespace passt {

namespace {

// The largest error we build (IPv6: 1280 bytes) behind its Ethernet header.
alignas(64) std::byte refuse_buf[14 + 1280];

// Token bucket, in thousandths of a token so that it refills every
// millisecond.
struct Bucket {
	uint64_t milli_tokens = uint64_t(REFUSE_BURST) * 1000;
	uint64_t last_ms = 0;
	bool started = false;
};
Bucket bucket;

uint64_t ms_of(const timespec &t) {
	return uint64_t(t.tv_sec) * 1000 + uint64_t(t.tv_nsec) / 1000000;
}

// Refill for the time since the last call; true if a token is there.
bool token_ready(const timespec &now) {
	const uint64_t ms = ms_of(now);
	if (!bucket.started) {
		bucket.started = true;
		bucket.last_ms = ms;
	}
	if (ms > bucket.last_ms) {
		const uint64_t cap = uint64_t(REFUSE_BURST) * 1000;
		const uint64_t add = (ms - bucket.last_ms) * REFUSE_PER_SEC;
		bucket.milli_tokens =
			add >= cap - bucket.milli_tokens ? cap : bucket.milli_tokens + add;
		bucket.last_ms = ms;
	}
	return bucket.milli_tokens >= 1000;
}

} // namespace

Unreachable unreachable_for(int err) {
	switch (-err) {
	case ENETUNREACH: return Unreachable::Net;
	case EHOSTUNREACH: return Unreachable::Host;
	default: return Unreachable::Prohibited;
	}
}

bool flow_refuse(TapOutput &out, const MacAddr &guest_mac, const MacAddr &our_mac,
		 std::span<const std::byte> l3, Unreachable why, const timespec &now) {
	if (!token_ready(now))
		return false;
	// A packet not to be answered costs no token.
	size_t len = build_unreachable(refuse_buf, guest_mac, our_mac, l3, why);
	if (!len)
		return false;
	bucket.milli_tokens -= 1000;
	return out.send_frame(std::span<const std::byte>(refuse_buf, len));
}

void flow_refuse_reset() { bucket = Bucket{}; }

} // namespace passt
