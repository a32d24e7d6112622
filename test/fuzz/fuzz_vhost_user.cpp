// libFuzzer target: the vhost-user back-end. The first input byte picks
// (bits 0 and 1):
//   0: the control message parser. The rest of the input is what a
//     front-end writes on the control socket (a socketpair, no descriptors);
//     messages are handled until the stream ends or is rejected. Replies must
//     be well-formed (REPLY flag, sane size).
//   2: the control parser with descriptors: the input is chunks (ctrl
//     byte, 16-bit LE length, bytes) each sent with 0-3 fds attached
//     (ctrl bits 0-1) of the kind ctrl bits 2-3 pick: memfds of 4 KiB or
//     64 KiB (zeroed), eventfds, or a socket. After the back-end is gone,
//     no descriptor it was given may still be open.
//   1: the descriptor walker and both data paths. A fake front-end sets the
//     device up over the protocol with a memfd as guest RAM, then the input
//     is copied over both queues' rings and buffers (descriptors, avail
//     rings, indices as the guest would write them); TX frames are read and
//     frames are sent on RX. Every frame read must lie in the back-end's
//     buffer, and every chain popped must have been returned (used).
//   3: the same set-up with a 64 KiB guest memory, then operations: write
//     guest memory (rings, descriptors, avail indices: anything) at any
//     offset, read TX, send RX frames of any size up to 64 KiB + 14, kick,
//     and control messages in the middle (GET/SET_VRING_BASE, ENABLE,
//     a new memory table for the same memory), and zero-copy reservations
//     (direct_begin(), every byte handed out written, then direct_end() with
//     any payload, or none); the checks run after each.
// In modes 1 and 3 the first byte after the mode picks the features the
// front-end takes (features_of()): all offered, or without the offloads to
// the guest (or only some of them), from it, the event index or MRG_RXBUF,
// so that TX frames meet the virtio-net header checks with and without
// CSUM/HOST_TSO, partial checksums are completed or left, and used_event /
// avail_event are read and written; mode 3 also sends RX frames asking for
// offloads (GSO type and size, checksum offsets from the input).
// All modes share one back-end object, attached anew for each input.
// FUZZ_SRCS: src/tap/virtqueue.cpp src/tap/vhost_user.cpp src/tap/tap_tun.cpp src/tap/udp_gso.cpp src/tap/tap.cpp src/core/pcap.cpp src/core/log.cpp src/core/util.cpp src/core/epoll.cpp src/core/timer.cpp src/net/pool.cpp
// FUZZ_MAX_LEN: 65600
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "fuzz_util.h"
#include "passt/tap/vhost_user.h"

using namespace passt;
using namespace passt::vhost_user;

namespace {

constexpr size_t MEM_SIZE = 256 << 10;
constexpr uint64_t UVA = 0x7e0000000000ULL;
constexpr unsigned QN = 16;

void send_msg(int fd, uint32_t req, const void *p, uint32_t size, const int *fds = nullptr,
	      size_t nfds = 0) {
	std::byte b[HDR_SIZE + 64];
	uint32_t flags = VERSION;
	memcpy(b, &req, 4);
	memcpy(b + 4, &flags, 4);
	memcpy(b + 8, &size, 4);
	memcpy(b + HDR_SIZE, p, size);
	iovec iov = {b, HDR_SIZE + size};
	msghdr mh = {};
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
	if (nfds) {
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), fds, sizeof(int));
	}
	FUZZ_CHECK(sendmsg(fd, &mh, 0) == ssize_t(HDR_SIZE + size));
}

// Drain replies: each must carry the REPLY flag and a payload of 8 bytes.
void check_replies(int fd) {
	std::byte h[HDR_SIZE + 8];
	for (;;) {
		ssize_t n = recv(fd, h, sizeof(h), MSG_DONTWAIT);
		if (n <= 0)
			return;
		uint32_t flags, size;
		memcpy(&flags, h + 4, 4);
		memcpy(&size, h + 8, 4);
		FUZZ_CHECK(n == ssize_t(HDR_SIZE + 8));
		FUZZ_CHECK(flags == (VERSION | FLAG_REPLY));
		FUZZ_CHECK(size == 8);
	}
}

// One back-end for all inputs, as in the daemon, where each new front-end
// is attached to the same object: detach() must leave nothing behind.
VhostUserBackend &backend() {
	static TapStats stats;
	static VhostUserBackend *be = new VhostUserBackend(&stats);
	return *be;
}

// The front-end (peer: its end of the socket) has sent everything: the
// back-end handles what is left, each reply checked, until the end of the
// stream (or a fatal message), then goes.
void finish_session(VhostUserBackend &be, int peer) {
	shutdown(peer, SHUT_WR);
	for (int i = 0; i < 4096; i++) {
		if (be.handle_cmd() < 0)
			break;
		check_replies(peer);
	}
	be.detach();
	close(peer);
}

void fuzz_control(const uint8_t *data, size_t size) {
	if (size > 32768)
		return;
	VhostUserBackend *be = &backend();
	int sv[2];
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	FUZZ_CHECK(be->attach(sv[0]) == 0);
	if (size)
		FUZZ_CHECK(write(sv[1], data, size) == ssize_t(size));
	finish_session(*be, sv[1]);
}

// Open descriptors of this process.
int count_fds() {
	int n = 0;
	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

void fuzz_control_fds(const uint8_t *data, size_t size) {
	if (size > 32768)
		return;
	const int fds0 = count_fds();
	VhostUserBackend *be = &backend();
	int sv[2];
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	int sz = 1 << 20;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	FUZZ_CHECK(be->attach(sv[0]) == 0);
	fuzz::Reader in{data, size};
	while (!in.empty()) {
		uint8_t ctrl = in.u8();
		auto chunk = in.take(in.u16());
		if (chunk.empty())
			continue;
		int fds[3];
		size_t nfds = ctrl & 3;
		for (size_t i = 0; i < nfds; i++) {
			switch ((ctrl >> 2) & 3) {
			case 0:
			case 1:
				fds[i] = memfd_create("guest", MFD_CLOEXEC);
				FUZZ_CHECK(fds[i] >= 0 &&
					   ftruncate(fds[i], (ctrl & 4) ? 65536 : 4096) == 0);
				break;
			case 2: fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); break;
			default: fds[i] = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0); break;
			}
			FUZZ_CHECK(fds[i] >= 0);
		}
		iovec iov = {const_cast<uint8_t *>(chunk.data()), chunk.size()};
		msghdr mh = {};
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		alignas(cmsghdr) char cbuf[CMSG_SPACE(3 * sizeof(int))];
		if (nfds) {
			mh.msg_control = cbuf;
			mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
			cmsghdr *c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
			memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
		}
		ssize_t w = sendmsg(sv[1], &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
		if (w != ssize_t(chunk.size()))
			break;
	}
	finish_session(*be, sv[1]);
	// Whatever the back-end kept (memory, kick and call eventfds) it
	// closed when it went; what it was sent and never read went with the
	// socket.
	FUZZ_CHECK(count_fds() == fds0);
}

// A front-end that has set the device up: guest memory of size bytes in a
// memfd, both queues of QN entries with their rings in the first 8 KiB
// (queue q: descriptors at q * 0x1000, avail ring + 0x200, used + 0x400).
struct Device {
	VhostUserBackend *be = &backend();
	int sv[2] = {-1, -1};
	int memfd = -1, efd = -1;
	std::byte *mem = nullptr;
	size_t size = 0;

	explicit Device(size_t mem_size, uint64_t features = VhostUserBackend::FEATURES)
		: size(mem_size) {
		FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
		FUZZ_CHECK(be->attach(sv[0]) == 0);
		memfd = memfd_create("guest", MFD_CLOEXEC);
		FUZZ_CHECK(memfd >= 0 && ftruncate(memfd, off_t(size)) == 0);
		void *m = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
		FUZZ_CHECK(m != MAP_FAILED);
		mem = static_cast<std::byte *>(m);

		uint64_t f = features;
		send_msg(sv[1], SET_FEATURES, &f, 8);
		set_mem_table(memfd);
		efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		FUZZ_CHECK(efd >= 0);
		for (uint32_t q = 0; q < 2; q++) {
			uint32_t st[2] = {q, QN};
			send_msg(sv[1], SET_VRING_NUM, st, 8);
			uint32_t ah[2] = {q, 0};
			uint64_t a[4] = {UVA + q * 0x1000, UVA + q * 0x1000 + 0x400,
					 UVA + q * 0x1000 + 0x200, 0};
			std::byte addr[40];
			memcpy(addr, ah, 8);
			memcpy(addr + 8, a, 32);
			send_msg(sv[1], SET_VRING_ADDR, addr, 40);
			uint64_t k = q;
			send_msg(sv[1], SET_VRING_KICK, &k, 8, &efd, 1);
			uint32_t en[2] = {q, 1};
			send_msg(sv[1], SET_VRING_ENABLE, en, 8);
		}
		for (int i = 0; i < 10; i++)
			FUZZ_CHECK(be->handle_cmd() >= 0);
		FUZZ_CHECK(be->ready());
	}
	~Device() {
		be->detach();
		munmap(mem, size);
		close(memfd);
		close(efd);
		close(sv[1]);
	}
	void set_mem_table(int fd) {
		std::byte table[40] = {};
		uint32_t n = 1;
		uint64_t reg[4] = {0, size, UVA, 0};
		memcpy(table, &n, 4);
		memcpy(table + 8, reg, 32);
		send_msg(sv[1], SET_MEM_TABLE, table, 40, &fd, 1);
	}
	// Frames read must lie in the back-end's buffer.
	void read_tx(Pool &pool) {
		int got = be->read_batch(pool);
		FUZZ_CHECK(got >= 0 && size_t(got) == pool.size());
		for (size_t i = 0; i < pool.size(); i++) {
			std::span<std::byte> fr = pool.get(i);
			FUZZ_CHECK(fr.size() <= VhostUserBackend::MAX_FRAME);
			FUZZ_CHECK(fuzz::within(fr, be->region()));
		}
	}
	// Our used index never runs ahead of what we popped: every chain
	// popped is returned (pushed) or given back (unpopped) before the
	// call ends. used_idx - last_avail is 0 after the set-up; a queue
	// (re)started reads its used index from the guest's ring, which the
	// guest may have scribbled on, so the ops mode compares against the
	// difference recorded after each control message (rebase()). A broken
	// queue's indices stay where it broke until it is set up again.
	uint16_t delta[2] = {0, 0};
	void rebase() {
		for (uint32_t q = 0; q < 2; q++)
			delta[q] = uint16_t(be->queue(q).used_idx() - be->queue(q).last_avail());
	}
	void check_queues() const {
		for (uint32_t q = 0; q < 2; q++)
			FUZZ_CHECK(uint16_t(be->queue(q).used_idx() - be->queue(q).last_avail()) ==
					   delta[q] ||
				   !be->queue(q).num() || be->queue(q).broken());
	}
};

// The features a front-end takes, by one input byte.
uint64_t features_of(uint8_t b) {
	uint64_t f = VhostUserBackend::FEATURES;
	if (b & 1)
		f &= ~GUEST_OFFLOADS;
	if (b & 2)
		f &= ~VIRTIO_NET_F_GUEST_TSO6; // IPv4 TSO only
	if (b & 4)
		f &= ~HOST_OFFLOADS;
	if (b & 8)
		f &= ~VIRTIO_RING_F_EVENT_IDX;
	if (b & 16)
		f &= ~VIRTIO_NET_F_MRG_RXBUF;
	return f;
}

// Zero copy: a reservation of any shape, every byte handed out written (as
// the kernel's peek and the headers would be: a wrong pointer is caught by
// ASan or the fault), then the first slots handed over with any payload,
// some beyond their room, others given back.
void zero_copy(Device &dev, fuzz::Reader &in, uint8_t op) {
	TapDirectSlot slots[8];
	iovec iov[64];
	const size_t hdr_len = in.u8(), payload = in.u16(), budget = size_t(in.u16()) << (op >> 7);
	const size_t n = dev.be->direct_begin(hdr_len, payload, budget, slots, iov);
	FUZZ_CHECK(n <= 8);
	size_t total = 0, next_iov = 0;
	for (size_t i = 0; i < n; i++) {
		TapDirectSlot &sl = slots[i];
		FUZZ_CHECK(sl.hdr && sl.room && sl.room <= payload);
		FUZZ_CHECK(sl.iov_first == next_iov && sl.iov_first + sl.niov <= 64);
		next_iov += sl.niov;
		memset(sl.hdr, 0x45, hdr_len);
		size_t room = 0;
		for (size_t k = 0; k < sl.niov; k++) {
			memset(iov[sl.iov_first + k].iov_base, 0x5a, iov[sl.iov_first + k].iov_len);
			room += iov[sl.iov_first + k].iov_len;
		}
		FUZZ_CHECK(room == sl.room);
		total += room;
		sl.out = TapFrame{};
		sl.out.frame = {sl.hdr, hdr_len};
		sl.out.needs_csum = true;
		sl.out.csum_start = 14;
		sl.out.csum_offset = in.u8();
		sl.payload = sl.room - (in.u8() % (sl.room + 1));
		if (in.u8() == 0xff)
			sl.payload = sl.room + 1; // refused from here on
	}
	FUZZ_CHECK(total <= budget);
	const size_t used = n ? in.u8() % (n + 1) : 0;
	const size_t sent = dev.be->direct_end({slots, used});
	FUZZ_CHECK(sent <= used);
}

void fuzz_rings(const uint8_t *data, size_t size) {
	if (!size)
		return;
	Device dev(MEM_SIZE, features_of(data[0]));
	data++, size--;
	// The guest's side: rings in the first 8 KiB, buffers at any GPA.
	size_t k = size < MEM_SIZE ? size : MEM_SIZE;
	memcpy(dev.mem, data, k);
	FramePool<64> pool(dev.be->region());
	for (int round = 0; round < 4; round++) {
		dev.read_tx(pool);
		static const std::byte frame[1500] = {};
		dev.be->send_frame({frame, size_t(60 + 97 * round)});
		dev.be->flush();
	}
	dev.check_queues();
}

void fuzz_ops(const uint8_t *data, size_t size) {
	constexpr size_t OPS_MEM = 64 << 10;
	if (!size)
		return;
	Device dev(OPS_MEM, features_of(data[0]));
	data++, size--;
	static FramePool<1024> big;
	FramePool<8> small(dev.be->region());
	big.set_region(dev.be->region());
	static std::byte frame[VhostUserBackend::MAX_FRAME];
	fuzz::Reader in{data, size};
	bool alive = true;
	for (int step = 0; alive && !in.empty() && step < 256; step++) {
		uint8_t op = in.u8();
		switch (op % 8) {
		case 0: { // the guest writes its memory
			size_t off = in.u16() % OPS_MEM;
			auto b = in.take(in.u8());
			size_t n = b.size() < OPS_MEM - off ? b.size() : OPS_MEM - off;
			memcpy(dev.mem + off, b.data(), n);
			break;
		}
		case 1: { // a descriptor: queue, index, GPA, length, flags, next
			unsigned q = op >> 7;
			unsigned i = in.u8() % QN;
			uint64_t addr = in.u16();
			uint32_t len = in.u16();
			uint16_t flags = in.u8() & 7, next = in.u8();
			std::byte *d = dev.mem + q * 0x1000 + i * 16;
			memcpy(d, &addr, 8);
			memcpy(d + 8, &len, 4);
			memcpy(d + 12, &flags, 2);
			memcpy(d + 14, &next, 2);
			break;
		}
		case 2: { // make head available: ring[idx % QN] = head, idx++
			unsigned q = op >> 7;
			uint16_t head = in.u8(), idx;
			std::byte *avail = dev.mem + q * 0x1000 + 0x200;
			memcpy(&idx, avail + 2, 2);
			memcpy(avail + 4 + (idx % QN) * 2, &head, 2);
			idx = uint16_t(idx + 1 + ((op >> 4) & 7) * 4); // sometimes far ahead
			memcpy(avail + 2, &idx, 2);
			break;
		}
		case 3: dev.read_tx((op & 0x10) ? static_cast<Pool &>(small) : big); break;
		case 4: { // a frame to the guest, of any size
			size_t n = in.u16() + ((op & 0x10) ? 2014 : 0);
			if (n < 14)
				n = 14;
			if (n > sizeof(frame))
				n = sizeof(frame);
			memset(frame, op, 14);
			if (op & 0x40) { // asking for offloads (refused without them)
				TapFrame tf;
				tf.frame = {frame, n};
				tf.needs_csum = op & 0x80;
				tf.csum_start = in.u16();
				tf.csum_offset = in.u8();
				tf.gso_type = in.u8() & 7;
				tf.gso_size = in.u16();
				tf.hdr_len = in.u8();
				dev.be->send_frames({&tf, 1});
			} else {
				dev.be->send_frame({frame, n});
			}
			if (op & 0x20)
				dev.be->flush();
			break;
		}
		case 5: { // the guest kicks TX
			uint64_t one = 1;
			FUZZ_CHECK(write(dev.efd, &one, 8) == 8);
			dev.be->drain_kick();
			break;
		}
		case 6: { // a control message in the middle
			uint32_t q = (op >> 4) & 1, arg = in.u16();
			switch ((op >> 5) & 3) {
			case 0: {
				uint32_t st[2] = {q, 0};
				send_msg(dev.sv[1], GET_VRING_BASE, st, 8);
				break;
			}
			case 1: {
				uint32_t st[2] = {q, arg};
				send_msg(dev.sv[1], SET_VRING_BASE, st, 8);
				break;
			}
			case 2: {
				uint32_t en[2] = {q, arg & 1};
				send_msg(dev.sv[1], SET_VRING_ENABLE, en, 8);
				break;
			}
			default: { // the same memory again, through another descriptor
				// (as when qemu adds memory: the RAM stays where it is)
				int fd = dup(dev.memfd);
				FUZZ_CHECK(fd >= 0);
				dev.set_mem_table(fd);
				close(fd);
				break;
			}
			}
			alive = dev.be->handle_cmd() >= 0;
			check_replies(dev.sv[1]);
			dev.rebase();
			break;
		}
		case 7:
			if (op & 0x08) {
				zero_copy(dev, in, op);
				break;
			}
			dev.be->flush();
			break;
		default: dev.be->flush(); break;
		}
		if (alive)
			dev.check_queues();
	}
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	if (!size)
		return 0;
	fuzz::Input in(data + 1, size - 1);
	const auto *p = reinterpret_cast<const uint8_t *>(in.span().data());
	switch (data[0] & 3) {
	case 0: fuzz_control(p, size - 1); break;
	case 1: fuzz_rings(p, size - 1); break;
	case 2: fuzz_control_fds(p, size - 1); break;
	default: fuzz_ops(p, size - 1); break;
	}
	return 0;
}
