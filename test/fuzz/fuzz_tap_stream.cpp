// libFuzzer target: the qemu stream back-end's input, StreamBackend::
// read_batch(), with the frames going on into the tap demultiplexer.
//
// The harness is qemu: it writes the fuzzer's bytes (length prefixes and
// frames, well-formed or not) into the other end of a socketpair in chunks
// whose sizes the fuzzer picks, so frames and prefixes are cut at any byte,
// and calls read_batch() after the chunks the fuzzer says. A reference
// parser over everything written checks that the back-end returns exactly
// the frames on the wire, in order, byte for byte; that -EPROTO only comes
// with a bad length on the wire; that end of file (the fuzzer may close the
// stream at any point) comes only once every complete frame was returned;
// and that nothing readable is left behind. Replies the demux sends (ARP,
// DHCP, NDP) come back on the socketpair and must be well-framed.
//
// Input: byte 0 picks the pool's capacity (1..64, or 1024 with bit 6 set);
// then chunks: ctrl (bit 0: read_batch() after it, bit 7: close our end
// after it), a 16-bit little-endian length, that many bytes.
//
// FUZZ_SRCS: src/tap/tap_stream.cpp src/tap/tap.cpp src/core/log.cpp
// FUZZ_SRCS: src/core/util.cpp src/core/pcap.cpp src/core/epoll.cpp src/core/timer.cpp
// FUZZ_MAX_LEN: 65600
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "fuzz_util.h"
#include "passt/core/log.h"
#include "passt/net/byteorder.h"
#include "passt/tap/tap_stream.h"
#include "tap_fixture.h"

using namespace passt;

namespace {

constexpr size_t MAXF = StreamBackend::MAX_FRAME;

struct Harness {
	TapStats stats;
	StreamBackend be{&stats};
	Config c = fuzz::tap_fixture_config();
	std::vector<iovec> slots = std::vector<iovec>(1024);
	std::vector<uint8_t> wire; // everything written, in order
	size_t ref = 0;            // reference parser: start of the next frame
	uint64_t frames = 0;       // frames returned by read_batch()
	// Output (replies) as read back: a partial prefix or frame carried.
	std::vector<uint8_t> out;
	int peer = -1;
	bool eof_sent = false;
};

Harness &harness() {
	static Harness *h = [] {
		log_set_level(LogLevel::Error);
		auto *p = new Harness;
		p->wire.reserve(1 << 20);
		p->out.reserve(1 << 20);
		return p;
	}();
	return *h;
}

uint32_t wire_len(const Harness &h, size_t at) {
	uint8_t b[4];
	std::memcpy(b, h.wire.data() + at, 4);
	return uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | b[3];
}

// Whether the wire holds a complete (valid-length) frame at ref.
bool complete_frame_left(const Harness &h) {
	if (h.wire.size() - h.ref < 4)
		return false;
	uint32_t len = wire_len(h, h.ref);
	return len && len <= MAXF && h.wire.size() - h.ref - 4 >= len;
}

// Somewhere from ref on, over complete frames, a length of 0 or too big.
bool bad_length_ahead(const Harness &h) {
	size_t at = h.ref;
	while (h.wire.size() - at >= 4) {
		uint32_t len = wire_len(h, at);
		if (!len || len > MAXF)
			return true;
		if (h.wire.size() - at - 4 < len)
			return false;
		at += 4 + len;
	}
	return false;
}

// Read the replies back; every one must be a sane, complete frame.
void drain_replies(Harness &h) {
	uint8_t b[65536];
	for (;;) {
		ssize_t n = recv(h.peer, b, sizeof(b), MSG_DONTWAIT);
		if (n <= 0)
			break;
		h.out.insert(h.out.end(), b, b + n);
	}
	size_t at = 0;
	while (h.out.size() - at >= 4) {
		uint32_t len = uint32_t(h.out[at]) << 24 | uint32_t(h.out[at + 1]) << 16 |
			       uint32_t(h.out[at + 2]) << 8 | h.out[at + 3];
		FUZZ_CHECK(len >= 14 && len <= MAXF);
		if (h.out.size() - at - 4 < len)
			break;
		at += 4 + len;
	}
	h.out.erase(h.out.begin(), h.out.begin() + ptrdiff_t(at));
}

// One read_batch(); false once the back-end reported the stream dead.
bool read_once(Harness &h, Pool &pool, TapDemux &d, bool &again) {
	again = false;
	int n = h.be.read_batch(pool);
	if (n < 0) {
		FUZZ_CHECK(pool.empty());
		if (n == -EPROTO)
			FUZZ_CHECK(bad_length_ahead(h));
		else if (n == -ESHUTDOWN)
			FUZZ_CHECK(h.eof_sent && !complete_frame_left(h));
		else
			FUZZ_CHECK(false);
		return false;
	}
	FUZZ_CHECK(size_t(n) == pool.size());
	for (size_t i = 0; i < pool.size(); i++) {
		std::span<std::byte> f = pool.get(i);
		FUZZ_CHECK(h.wire.size() - h.ref >= 4);
		uint32_t len = wire_len(h, h.ref);
		FUZZ_CHECK(len && len <= MAXF && f.size() == len);
		FUZZ_CHECK(h.wire.size() - h.ref - 4 >= len);
		FUZZ_CHECK(!std::memcmp(f.data(), h.wire.data() + h.ref + 4, len));
		h.ref += 4 + len;
	}
	h.frames += pool.size();
	const timespec now{100, 0};
	tap_input_pool(d, pool, now);
	FUZZ_CHECK(h.stats.frames_in == h.frames);
	drain_replies(h);
	again = h.be.read_again(pool);
	return true;
}

// Read until nothing is left that the back-end could return now.
bool read_all(Harness &h, Pool &pool, TapDemux &d) {
	for (int i = 0; i < 4096; i++) {
		bool again;
		if (!read_once(h, pool, d, again))
			return false;
		int q = 0;
		if (!again && ioctl(h.be.fd(), FIONREAD, &q) == 0 && q == 0)
			return true;
	}
	FUZZ_CHECK(false); // read_batch() makes no progress
	return false;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	Harness &h = harness();
	fuzz::Reader in{data, size};
	uint8_t sel = in.u8();
	Pool pool(h.be.region(), std::span<iovec>(h.slots.data(), fuzz::tap_fixture_pool_cap(sel)));
	h.peer = fuzz::tap_fixture_attach(h.be, SOCK_STREAM, 1 << 20);
	h.wire.clear();
	h.out.clear();
	h.ref = 0;
	h.frames = 0;
	h.eof_sent = false;
	h.stats = TapStats{};
	TapState st;
	TapDemux d = fuzz::tap_fixture_demux(h.c, st, h.be, h.stats);

	bool alive = true;
	while (alive && !in.empty() && !h.eof_sent) {
		uint8_t ctrl = in.u8();
		auto chunk = in.take(in.u16());
		size_t done = 0;
		while (alive && done < chunk.size()) {
			ssize_t w = send(h.peer, chunk.data() + done, chunk.size() - done,
					 MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w > 0) {
				h.wire.insert(h.wire.end(), chunk.data() + done,
					      chunk.data() + done + w);
				done += size_t(w);
				continue;
			}
			FUZZ_CHECK(w < 0 && errno == EAGAIN);
			alive = read_all(h, pool, d); // socket full: let qemu's peer read
		}
		if (ctrl & 0x80) {
			shutdown(h.peer, SHUT_WR);
			h.eof_sent = true;
		}
		bool again;
		if (alive && (ctrl & 1))
			alive = read_once(h, pool, d, again);
	}
	if (alive)
		alive = read_all(h, pool, d);
	if (alive) {
		// Nothing complete may be left, and the end of the stream must
		// be reported as such.
		FUZZ_CHECK(!complete_frame_left(h));
		shutdown(h.peer, SHUT_WR);
		h.eof_sent = true;
		bool again;
		FUZZ_CHECK(!read_once(h, pool, d, again));
	}
	h.be.detach();
	close(h.peer);
	return 0;
}
