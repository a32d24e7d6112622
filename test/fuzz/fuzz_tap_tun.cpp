// libFuzzer target: pasta's tun back-end input with IFF_VNET_HDR,
// TunBackend::read_batch(), with the frames going on into the tap
// demultiplexer.
//
// The tap device is stood in for by a SOCK_SEQPACKET socketpair: as on a
// tun fd, one read() is one frame, behind its 12-byte virtio-net header
// (offload flags, GSO type and size, partial checksum offsets: all the
// fuzzer's). The harness writes datagrams and calls read_batch() after the
// ones the fuzzer says, with a pool whose size it picks. Checks: every
// frame lies in the back-end's buffer and is at most 64 KiB + Ethernet;
// every datagram is accounted for exactly once (a frame, the segments of a
// UDP GSO frame, or counted malformed); a plain datagram (no GSO, no
// partial checksum) comes out byte for byte as written, in order, and one
// with a partial checksum the same but for the checksum field, or dropped
// as malformed exactly when the field is out of bounds; nothing readable
// is left behind. Replies the demux sends go to the namespace side with a
// zeroed header.
//
// Input: byte 0 picks the pool's capacity (1..64, or 1024 with bit 6 set);
// then datagrams: ctrl (bit 0: read_batch() after it), a 16-bit
// little-endian length, that many bytes (header and frame).
//
// FUZZ_SRCS: src/tap/tap_tun.cpp src/tap/udp_gso.cpp src/tap/tap.cpp
// FUZZ_SRCS: src/core/log.cpp src/core/util.cpp src/core/pcap.cpp
// FUZZ_SRCS: src/core/epoll.cpp src/core/timer.cpp
// FUZZ_MAX_LEN: 65600
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "fuzz_util.h"
#include "passt/core/log.h"
#include "passt/tap/tap_tun.h"
#include "passt/tap/udp_gso.h"
#include "passt/tap/vnet.h"
#include "tap_fixture.h"

using namespace passt;

namespace {

constexpr size_t HDR = TunBackend::VNET_HDR_LEN;

// What the harness expects of one datagram it wrote.
struct Sent {
	size_t off, len; // in Harness::wire
	bool plain;      // no GSO, no partial checksum: returned unchanged
	bool gso;        // UDP GSO: split into segments, or malformed
};

struct Harness {
	TapStats stats;
	TunBackend be{-1, true, &stats};
	Config c = fuzz::tap_fixture_config();
	std::vector<iovec> slots = std::vector<iovec>(1024);
	std::vector<uint8_t> wire;
	std::vector<Sent> sent;
	size_t next = 0;        // first datagram not yet read back
	bool unaligned = false; // past a UDP GSO one: no exact matching
	uint64_t frames = 0;
	int peer = -1;
};

Harness &harness() {
	static Harness *h = [] {
		log_set_level(LogLevel::Error);
		auto *p = new Harness;
		p->wire.reserve(1 << 20);
		p->sent.reserve(1 << 16);
		return p;
	}();
	return *h;
}

// The namespace's side: read what we sent it; each a header and a frame.
void drain_replies(Harness &h) {
	static uint8_t b[70000];
	for (;;) {
		ssize_t n = recv(h.peer, b, sizeof(b), MSG_DONTWAIT);
		if (n <= 0)
			break;
		FUZZ_CHECK(size_t(n) >= HDR + 14 && size_t(n) <= TunBackend::MAX_FRAME);
		static const uint8_t zero[HDR] = {};
		FUZZ_CHECK(!std::memcmp(b, zero, HDR)); // services ask for no offload
	}
}

// Whether the back-end must drop datagram s as malformed (too short, or
// a partial checksum field out of bounds).
bool predict_malformed(const Harness &h, const Sent &s) {
	if (s.len <= HDR)
		return true;
	VirtioNetHdr vh;
	std::memcpy(&vh, h.wire.data() + s.off, HDR);
	if (!(vh.flags & vnet::F_NEEDS_CSUM))
		return false;
	size_t n = s.len - HDR, st = vnet::le(vh.csum_start), of = vnet::le(vh.csum_offset);
	return st > n || of > n - st || n - st - of < 2;
}

// The datagrams read by the last read_batch(): pool frames in order, the
// harness' list walked alongside, until a UDP GSO datagram (its segment
// count is udp_gso's business, fuzz_udp_gso checks it) ends the exact
// matching for this input.
void check_batch(Harness &h, const Pool &pool, uint64_t malformed0) {
	const std::span<std::byte> r = h.be.region();
	for (size_t i = 0; i < pool.size(); i++) {
		std::span<std::byte> f = pool.get(i);
		FUZZ_CHECK(fuzz::within(f, r));
		FUZZ_CHECK(f.size() >= 1 && f.size() <= TunBackend::MAX_FRAME - HDR);
	}
	if (h.unaligned)
		return;
	const uint64_t malformed = h.stats.malformed - malformed0;
	uint64_t dropped = 0;
	size_t i = 0;
	for (;;) {
		if (h.next >= h.sent.size()) {
			FUZZ_CHECK(i == pool.size() && dropped == malformed);
			return;
		}
		const Sent &s = h.sent[h.next];
		if (s.gso) {
			h.unaligned = true;
			return;
		}
		if (predict_malformed(h, s)) {
			if (i == pool.size() && dropped == malformed)
				return; // not read yet
			dropped++;
			h.next++;
			continue;
		}
		if (i == pool.size()) {
			FUZZ_CHECK(dropped == malformed);
			return;
		}
		std::span<std::byte> f = pool.get(i);
		const uint8_t *w = h.wire.data() + s.off + HDR;
		FUZZ_CHECK(f.size() == s.len - HDR);
		if (s.plain) {
			FUZZ_CHECK(!std::memcmp(f.data(), w, f.size()));
		} else {
			// All but the checksum field, which was completed.
			VirtioNetHdr vh;
			std::memcpy(&vh, h.wire.data() + s.off, HDR);
			size_t at = size_t(vnet::le(vh.csum_start)) + vnet::le(vh.csum_offset);
			FUZZ_CHECK(!std::memcmp(f.data(), w, at));
			FUZZ_CHECK(!std::memcmp(f.data() + at + 2, w + at + 2, f.size() - at - 2));
		}
		i++;
		h.next++;
	}
}

// One read_batch(); frames on into the demux.
bool read_once(Harness &h, Pool &pool, TapDemux &d, bool &again) {
	uint64_t m0 = h.stats.malformed;
	int n = h.be.read_batch(pool);
	again = false;
	FUZZ_CHECK(n >= 0 && size_t(n) == pool.size());
	check_batch(h, pool, m0);
	h.frames += pool.size();
	tap_input_pool(d, pool, timespec{100, 0});
	FUZZ_CHECK(h.stats.frames_in == h.frames);
	drain_replies(h);
	again = h.be.read_again(pool);
	return true;
}

void read_all(Harness &h, Pool &pool, TapDemux &d) {
	for (int i = 0; i < 1 << 16; i++) {
		bool again;
		read_once(h, pool, d, again);
		int q = 0;
		if (!again && ioctl(h.be.fd(), FIONREAD, &q) == 0 && q == 0)
			return;
	}
	FUZZ_CHECK(false); // no progress
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	Harness &h = harness();
	fuzz::Reader in{data, size};
	uint8_t sel = in.u8();
	Pool pool(h.be.region(), std::span<iovec>(h.slots.data(), fuzz::tap_fixture_pool_cap(sel)));
	h.peer = fuzz::tap_fixture_attach(h.be, SOCK_SEQPACKET | SOCK_NONBLOCK, 4 << 20);
	h.wire.clear();
	h.sent.clear();
	h.next = 0;
	h.unaligned = false;
	h.frames = 0;
	h.stats = TapStats{};
	TapState st;
	TapDemux d = fuzz::tap_fixture_demux(h.c, st, h.be, h.stats);

	uint64_t datagrams = 0;
	while (!in.empty()) {
		uint8_t ctrl = in.u8();
		auto dg = in.take(in.u16());
		if (dg.empty())
			continue; // a zero-length record would read as end of file
		ssize_t w;
		while ((w = send(h.peer, dg.data(), dg.size(), MSG_DONTWAIT | MSG_NOSIGNAL)) < 0) {
			FUZZ_CHECK(errno == EAGAIN);
			read_all(h, pool, d);
		}
		FUZZ_CHECK(size_t(w) == dg.size());
		Sent s{h.wire.size(), dg.size(), false, false};
		if (dg.size() > HDR) {
			VirtioNetHdr vh;
			std::memcpy(&vh, dg.data(), HDR);
			s.gso = is_udp_gso(vh);
			s.plain = !s.gso && !(vh.flags & vnet::F_NEEDS_CSUM);
		}
		h.wire.insert(h.wire.end(), dg.begin(), dg.end());
		h.sent.push_back(s);
		datagrams++;
		bool again;
		if (ctrl & 1)
			read_once(h, pool, d, again);
	}
	read_all(h, pool, d);
	// Every datagram accounted for once: malformed, a whole GSO frame
	// split (its segments are extra frames), or a frame.
	FUZZ_CHECK(h.stats.malformed + h.stats.udp_gso_frames <= datagrams);
	FUZZ_CHECK(h.frames >= datagrams - h.stats.malformed - h.stats.udp_gso_frames);
	int fd = h.be.fd(); // the back-end does not own it
	h.be.detach();
	close(fd);
	close(h.peer);
	return 0;
}
