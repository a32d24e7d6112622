// libFuzzer target: the vhost-user back-end. The first input byte picks:
//   even: the control message parser. The rest of the input is what a
//     front-end writes on the control socket (a socketpair, no descriptors);
//     messages are handled until the stream ends or is rejected. Replies must
//     be well-formed (REPLY flag, sane size).
//   odd: the descriptor walker and both data paths. A fake front-end sets the
//     device up over the protocol with a memfd as guest RAM, then the input
//     is copied over both queues' rings and buffers (descriptors, avail
//     rings, indices as the guest would write them); TX frames are read and
//     frames are sent on RX. Every frame read must lie in the back-end's
//     buffer, and every chain popped must have been returned (used).
// FUZZ_SRCS: src/tap/virtqueue.cpp src/tap/vhost_user.cpp src/tap/tap.cpp src/core/pcap.cpp src/core/log.cpp src/core/util.cpp src/core/epoll.cpp src/core/timer.cpp src/net/pool.cpp
// FUZZ_MAX_LEN: 65600
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

void fuzz_control(const uint8_t *data, size_t size) {
	if (size > 32768)
		return;
	TapStats stats;
	auto be = std::make_unique<VhostUserBackend>(&stats);
	int sv[2];
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	FUZZ_CHECK(be->attach(sv[0]) == 0);
	if (size)
		FUZZ_CHECK(write(sv[1], data, size) == ssize_t(size));
	shutdown(sv[1], SHUT_WR);
	for (int i = 0; i < 4096; i++) {
		if (be->handle_cmd() < 0)
			break;
		check_replies(sv[1]);
	}
	be.reset();
	close(sv[1]);
}

void fuzz_rings(const uint8_t *data, size_t size) {
	TapStats stats;
	auto be = std::make_unique<VhostUserBackend>(&stats);
	int sv[2];
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	FUZZ_CHECK(be->attach(sv[0]) == 0);
	int memfd = memfd_create("guest", MFD_CLOEXEC);
	FUZZ_CHECK(memfd >= 0 && ftruncate(memfd, MEM_SIZE) == 0);
	void *m = mmap(nullptr, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	FUZZ_CHECK(m != MAP_FAILED);
	auto *mem = static_cast<std::byte *>(m);

	uint64_t f = VhostUserBackend::FEATURES;
	send_msg(sv[1], SET_FEATURES, &f, 8);
	std::byte table[40] = {};
	uint32_t n = 1;
	uint64_t reg[4] = {0, MEM_SIZE, UVA, 0};
	memcpy(table, &n, 4);
	memcpy(table + 8, reg, 32);
	send_msg(sv[1], SET_MEM_TABLE, table, 40, &memfd, 1);
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
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

	// The guest's side: rings in the first 8 KiB, buffers at any GPA.
	size_t k = size < MEM_SIZE ? size : MEM_SIZE;
	memcpy(mem, data, k);
	FramePool<64> pool(be->region());
	for (int round = 0; round < 4; round++) {
		int got = be->read_batch(pool);
		FUZZ_CHECK(got >= 0 && size_t(got) == pool.size());
		for (size_t i = 0; i < pool.size(); i++) {
			std::span<std::byte> fr = pool.get(i);
			FUZZ_CHECK(fr.size() <= VhostUserBackend::MAX_FRAME);
			FUZZ_CHECK(fr.data() >= be->region().data() &&
				   fr.data() + fr.size() <=
					   be->region().data() + be->region().size());
		}
		static const std::byte frame[1500] = {};
		be->send_frame({frame, size_t(60 + 97 * round)});
		be->flush();
	}
	// Our used index never runs ahead of what we popped.
	for (uint32_t q = 0; q < 2; q++)
		FUZZ_CHECK(uint16_t(be->queue(q).used_idx() - be->queue(q).last_avail()) == 0 ||
			   !be->queue(q).num());
	be.reset();
	munmap(m, MEM_SIZE);
	close(memfd);
	close(efd);
	close(sv[1]);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	if (!size)
		return 0;
	fuzz::Input in(data + 1, size - 1);
	const auto *p = reinterpret_cast<const uint8_t *>(in.span().data());
	if (data[0] & 1)
		fuzz_rings(p, size - 1);
	else
		fuzz_control(p, size - 1);
	return 0;
}
