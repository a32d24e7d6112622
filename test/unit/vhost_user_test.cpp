// Tests for the vhost-user back-end: the split virtqueue over a synthetic
// guest memory table (valid chains, buffers outside memory or across
// regions, descriptor loops, indirect descriptors, bad heads, index
// wrap-around at 65535, interrupt suppression), and the control protocol
// over a socketpair with a fake front-end that shares a memfd as guest RAM,
// sets up both queues, sends a frame on TX and reads frames back from RX
// (mergeable buffers, no buffers), plus truncated, oversized, wrong-sized and
// unknown messages; dirty page logging (which bits, bounds, logging off)
// and the device state transfer (save, load, resume, refusals); the bounded
// TX work of one wake-up (also against a guest thread that makes chains
// available endlessly), broken queues and their recovery, and RX frames that
// wait for the guest's buffers. Nothing here blocks: the sockets have 1 s
// timeouts.
#include "passt/tap/vhost_user.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "passt/tap/vnet.h"

using namespace passt;
using namespace passt::vhost_user;

namespace {

// ---- virtqueue over synthetic memory -------------------------------------

// Driver-side view of one queue laid out in a buffer: descriptor table at
// 0, avail ring at 0x1000, used ring at 0x2000, data from 0x4000.
struct FakeRing {
	static constexpr size_t SIZE = 0x10000;
	static constexpr uint64_t GPA = 0x100000;
	static constexpr size_t DESC = 0, AVAIL = 0x1000, USED = 0x2000, DATA = 0x4000;
	alignas(4096) std::byte mem[SIZE] = {};
	unsigned num;
	uint16_t avail_idx = 0;

	explicit FakeRing(unsigned n) : num(n) {}

	void set_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
		virtq::Desc d{addr, len, flags, next};
		memcpy(mem + DESC + 16 * i, &d, sizeof(d));
	}
	void add_avail(uint16_t head) {
		memcpy(mem + AVAIL + 4 + 2 * (avail_idx % num), &head, 2);
		avail_idx++;
		memcpy(mem + AVAIL + 2, &avail_idx, 2);
	}
	void set_avail_idx(uint16_t v) {
		avail_idx = v;
		memcpy(mem + AVAIL + 2, &v, 2);
	}
	void set_used_idx(uint16_t v) { memcpy(mem + USED + 2, &v, 2); }
	uint16_t used_idx() const {
		uint16_t v;
		memcpy(&v, mem + USED + 2, 2);
		return v;
	}
	virtq::UsedElem used(uint16_t slot) const {
		virtq::UsedElem e;
		memcpy(&e, mem + USED + 4 + 8 * (slot % num), 8);
		return e;
	}
	GuestRegion region() { return {GPA, SIZE, 0x7f0000000000ULL, mem}; }
	bool setup(Virtqueue &vq, const GuestMemory &gm, uint16_t last_avail = 0) {
		return vq.setup(&gm, num, mem + DESC, mem + AVAIL, mem + USED, last_avail);
	}
};

struct VqTest : ::testing::Test {
	FakeRing r{8};
	GuestMemory gm;
	Virtqueue vq;
	VqChain chain;
	void SetUp() override {
		GuestRegion reg = r.region();
		ASSERT_TRUE(gm.set({&reg, 1}));
		ASSERT_TRUE(r.setup(vq, gm));
	}
};

TEST(GuestMemoryTest, TranslatesWholeRangesOnly) {
	static std::byte a[4096], b[4096];
	GuestRegion regs[2] = {{0x1000, 4096, 0x50000, a}, {0x2000, 4096, 0x60000, b}};
	GuestMemory gm;
	ASSERT_TRUE(gm.set(regs));
	EXPECT_EQ(gm.gpa_to_host(0x1000, 4096), a);
	EXPECT_EQ(gm.gpa_to_host(0x1ff0, 16), a + 0xff0);
	EXPECT_EQ(gm.gpa_to_host(0x2000, 1), b);
	// Contiguous in guest addresses, but two mappings: refused.
	EXPECT_EQ(gm.gpa_to_host(0x1ff0, 32), nullptr);
	EXPECT_EQ(gm.gpa_to_host(0xfff, 2), nullptr);
	EXPECT_EQ(gm.gpa_to_host(0x3000, 1), nullptr);
	EXPECT_EQ(gm.gpa_to_host(~0ULL, 2), nullptr);
	EXPECT_EQ(gm.uva_to_host(0x60010, 16), b + 16);
	EXPECT_EQ(gm.uva_to_host(0x60000, 4097), nullptr);
}

TEST(GuestMemoryTest, RejectsBadTables) {
	static std::byte a[16];
	GuestMemory gm;
	GuestRegion wrap = {~0ULL - 4, 16, 0, a};
	EXPECT_FALSE(gm.set({&wrap, 1}));
	GuestRegion empty = {0, 0, 0, a};
	EXPECT_FALSE(gm.set({&empty, 1}));
	GuestRegion many[GuestMemory::MAX_REGIONS + 1];
	for (auto &g : many)
		g = {0, 16, 0, a};
	EXPECT_FALSE(gm.set(many));
	EXPECT_EQ(gm.size(), 0u);
}

TEST_F(VqTest, SetupChecksSizeAndAlignment) {
	Virtqueue q;
	EXPECT_FALSE(q.setup(&gm, 6, r.mem, r.mem + r.AVAIL, r.mem + r.USED, 0));
	EXPECT_FALSE(q.setup(&gm, 2048, r.mem, r.mem + r.AVAIL, r.mem + r.USED, 0));
	EXPECT_FALSE(q.setup(&gm, 8, r.mem + 8, r.mem + r.AVAIL, r.mem + r.USED, 0));
	EXPECT_FALSE(q.setup(&gm, 8, r.mem, r.mem + r.AVAIL, r.mem + r.USED + 2, 0));
	EXPECT_TRUE(q.setup(&gm, 8, r.mem, r.mem + r.AVAIL, r.mem + r.USED, 0));
}

TEST_F(VqTest, EmptyThenValidChain) {
	EXPECT_EQ(vq.pop(chain), VqPop::Empty);
	r.set_desc(3, r.GPA + r.DATA, 12, virtq::DESC_F_NEXT, 5);
	r.set_desc(5, r.GPA + r.DATA + 100, 50, virtq::DESC_F_NEXT, 1);
	r.set_desc(1, r.GPA + r.DATA + 200, 70, virtq::DESC_F_WRITE, 0);
	r.add_avail(3);
	ASSERT_EQ(vq.pop(chain), VqPop::Ok);
	EXPECT_EQ(chain.head, 3);
	EXPECT_EQ(chain.n_out, 2);
	EXPECT_EQ(chain.n_in, 1);
	EXPECT_EQ(chain.out_bytes, 62u);
	EXPECT_EQ(chain.in_bytes, 70u);
	EXPECT_EQ(chain.segs[1].ptr, r.mem + r.DATA + 100);
	EXPECT_EQ(chain.segs[2].ptr, r.mem + r.DATA + 200);
	EXPECT_EQ(vq.pop(chain), VqPop::Empty);

	vq.push(3, 70);
	EXPECT_EQ(r.used_idx(), 0); // not visible before publish()
	EXPECT_TRUE(vq.publish());
	EXPECT_EQ(r.used_idx(), 1);
	EXPECT_EQ(r.used(0).id, 3u);
	EXPECT_EQ(r.used(0).len, 70u);
	EXPECT_FALSE(vq.publish());
}

// A bad chain is given back (used, length 0) and counted; the queue goes on.
void expect_bad(VqTest &t, uint16_t head) {
	t.r.add_avail(head);
	EXPECT_EQ(t.vq.pop(t.chain), VqPop::Bad);
	EXPECT_EQ(t.vq.bad_chains(), 1u);
	t.vq.publish();
	EXPECT_EQ(t.r.used_idx(), 1);
	EXPECT_EQ(t.r.used(0).id, head);
	EXPECT_EQ(t.r.used(0).len, 0u);
	// Still usable.
	t.r.set_desc(7, t.r.GPA + t.r.DATA, 10, 0, 0);
	t.r.add_avail(7);
	EXPECT_EQ(t.vq.pop(t.chain), VqPop::Ok);
}

TEST_F(VqTest, AddressOutsideMemory) {
	r.set_desc(0, r.GPA + r.SIZE - 4, 8, 0, 0);
	expect_bad(*this, 0);
}

TEST_F(VqTest, AddressBelowMemory) {
	r.set_desc(0, r.GPA - 1, 1, 0, 0);
	expect_bad(*this, 0);
}

TEST_F(VqTest, HugeLengthWrapping) {
	r.set_desc(0, r.GPA + 16, 0xffffffffu, 0, 0);
	expect_bad(*this, 0);
}

// A corrupt descriptor table breaks the queue: nothing is given back (where
// the chain ends is unknowable), nothing more is popped, last_avail stays at
// the chain that broke it; setup() (the front-end re-programming the ring)
// brings it back.
void expect_broken(VqTest &t, uint16_t head, VqBreak why) {
	t.r.add_avail(head);
	EXPECT_EQ(t.vq.pop(t.chain), VqPop::Broken);
	EXPECT_TRUE(t.vq.broken());
	EXPECT_FALSE(t.vq.ready());
	EXPECT_EQ(t.vq.broken_why(), why);
	EXPECT_EQ(t.vq.bad_chains(), 0u);
	EXPECT_EQ(t.vq.last_avail(), 0);
	t.vq.push(head, 0);
	EXPECT_FALSE(t.vq.publish());
	EXPECT_EQ(t.r.used_idx(), 0); // the rings are not touched
	t.r.set_desc(7, t.r.GPA + t.r.DATA, 10, 0, 0);
	t.r.add_avail(7);
	EXPECT_EQ(t.vq.pop(t.chain), VqPop::Broken);
	// Re-programmed past the bad chain: usable again.
	ASSERT_TRUE(t.r.setup(t.vq, t.gm, 1));
	EXPECT_FALSE(t.vq.broken());
	ASSERT_EQ(t.vq.pop(t.chain), VqPop::Ok);
	EXPECT_EQ(t.chain.head, 7);
}

TEST_F(VqTest, DescriptorLoop) {
	r.set_desc(0, r.GPA + r.DATA, 10, virtq::DESC_F_NEXT, 1);
	r.set_desc(1, r.GPA + r.DATA, 10, virtq::DESC_F_NEXT, 0);
	expect_broken(*this, 0, VqBreak::Loop);
}

TEST_F(VqTest, SelfLoop) {
	r.set_desc(2, r.GPA + r.DATA, 10, virtq::DESC_F_NEXT, 2);
	expect_broken(*this, 2, VqBreak::Loop);
}

TEST_F(VqTest, ChainLongerThanRing) {
	for (unsigned i = 0; i < 7; i++)
		r.set_desc(i, r.GPA + r.DATA, 10, virtq::DESC_F_NEXT, uint16_t(i + 1));
	r.set_desc(7, r.GPA + r.DATA, 10, 0, 0); // 8 descriptors: fine
	r.add_avail(0);
	ASSERT_EQ(vq.pop(chain), VqPop::Ok);
	EXPECT_EQ(chain.n_out, 8);
	// The same table made circular: the walk passes 8 descriptors.
	r.set_desc(7, r.GPA + r.DATA, 10, virtq::DESC_F_NEXT, 3);
	r.add_avail(0);
	EXPECT_EQ(vq.pop(chain), VqPop::Broken);
	EXPECT_EQ(vq.broken_why(), VqBreak::Loop);
	EXPECT_EQ(vq.last_avail(), 1);
}

TEST_F(VqTest, NextOutOfRange) {
	r.set_desc(0, r.GPA + r.DATA, 10, virtq::DESC_F_NEXT, 8);
	expect_broken(*this, 0, VqBreak::Next);
}

TEST_F(VqTest, IndirectRefused) {
	r.set_desc(0, r.GPA + r.DATA, 32, virtq::DESC_F_INDIRECT, 0);
	expect_bad(*this, 0);
}

TEST_F(VqTest, ReadableAfterWritable) {
	r.set_desc(0, r.GPA + r.DATA, 10, virtq::DESC_F_WRITE | virtq::DESC_F_NEXT, 1);
	r.set_desc(1, r.GPA + r.DATA, 10, 0, 0);
	expect_bad(*this, 0);
}

TEST(VqCross, ChainCrossingRegionsRejected) {
	FakeRing r(8);
	static std::byte other[4096];
	GuestRegion regs[2] = {r.region(), {r.GPA + r.SIZE, sizeof(other), 0x1000, other}};
	GuestMemory gm;
	ASSERT_TRUE(gm.set(regs));
	Virtqueue vq;
	ASSERT_TRUE(r.setup(vq, gm));
	VqChain c;
	r.set_desc(0, r.GPA + r.SIZE - 8, 16, 0, 0); // 8 bytes in each region
	r.add_avail(0);
	EXPECT_EQ(vq.pop(c), VqPop::Bad);
	r.set_desc(1, r.GPA + r.SIZE, 16, 0, 0); // wholly in the second
	r.add_avail(1);
	ASSERT_EQ(vq.pop(c), VqPop::Ok);
	EXPECT_EQ(c.segs[0].ptr, other);
}

TEST_F(VqTest, HeadOutOfRangeBreaksQueue) {
	r.set_desc(0, r.GPA + r.DATA, 10, 0, 0);
	expect_broken(*this, 8, VqBreak::Head);
}

TEST_F(VqTest, AvailIndexTooFarAhead) {
	r.set_avail_idx(9); // 9 chains in a ring of 8
	EXPECT_EQ(vq.pop(chain), VqPop::Broken);
	EXPECT_EQ(vq.broken_why(), VqBreak::AvailIdx);
	EXPECT_FALSE(vq.has_avail());
	vq.reset();
	EXPECT_FALSE(vq.broken());
}

TEST_F(VqTest, UnpopReturnsTheSameChain) {
	r.set_desc(4, r.GPA + r.DATA, 10, virtq::DESC_F_WRITE, 0);
	r.add_avail(4);
	ASSERT_EQ(vq.pop(chain), VqPop::Ok);
	vq.unpop(1);
	ASSERT_EQ(vq.pop(chain), VqPop::Ok);
	EXPECT_EQ(chain.head, 4);
}

TEST(VqWrap, IndicesWrapAt65535) {
	FakeRing r(8);
	GuestRegion reg = r.region();
	GuestMemory gm;
	ASSERT_TRUE(gm.set({&reg, 1}));
	r.set_used_idx(65534);
	r.set_avail_idx(65534);
	Virtqueue vq;
	ASSERT_TRUE(r.setup(vq, gm, 65534));
	EXPECT_EQ(vq.used_idx(), 65534);
	for (uint16_t i = 0; i < 3; i++) {
		r.set_desc(i, r.GPA + r.DATA + 64 * i, 64, virtq::DESC_F_WRITE, 0);
		r.add_avail(i); // 65535, 0, 1
	}
	EXPECT_EQ(r.avail_idx, 1);
	VqChain c;
	for (uint16_t i = 0; i < 3; i++) {
		ASSERT_EQ(vq.pop(c), VqPop::Ok) << i;
		EXPECT_EQ(c.head, i);
		vq.push(c.head, 10 + i);
	}
	EXPECT_EQ(vq.pop(c), VqPop::Empty);
	EXPECT_EQ(vq.last_avail(), 1);
	vq.publish();
	EXPECT_EQ(r.used_idx(), 1);
	EXPECT_EQ(r.used(65534).id, 0u);
	EXPECT_EQ(r.used(65535).id, 1u);
	EXPECT_EQ(r.used(0).id, 2u);
	EXPECT_EQ(r.used(0).len, 12u);
}

TEST_F(VqTest, InterruptSuppression) {
	EXPECT_TRUE(vq.needs_signal());
	uint16_t f = virtq::AVAIL_F_NO_INTERRUPT;
	memcpy(r.mem + r.AVAIL, &f, 2);
	EXPECT_FALSE(vq.needs_signal());
}

// ---- control protocol over a socketpair ------------------------------------

constexpr size_t MEM_SIZE = 1 << 20;
constexpr uint64_t UVA = 0x7e0000000000ULL; // the fake front-end's own address
constexpr unsigned QN = 8;
// Per queue q: desc at q*0x4000, avail +0x1000, used +0x2000; data 0x10000+.
constexpr size_t qoff(unsigned q) { return q * 0x4000; }
constexpr size_t DATA = 0x10000;

struct Msg {
	uint32_t request = 0, flags = 0;
	std::vector<std::byte> payload;
};

struct FrontEnd : ::testing::Test {
	TapStats stats;
	std::unique_ptr<VhostUserBackend> be;
	int sv[2] = {-1, -1};
	int memfd = -1;
	std::byte *mem = nullptr;
	int kick[2] = {-1, -1}, call[2] = {-1, -1};
	uint16_t avail[2] = {0, 0};

	void SetUp() override {
		be = std::make_unique<VhostUserBackend>(&stats);
		ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		timeval tv = {1, 0};
		setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		ASSERT_EQ(be->attach(sv[0]), 0);
		memfd = memfd_create("guest", MFD_CLOEXEC);
		ASSERT_GE(memfd, 0);
		ASSERT_EQ(ftruncate(memfd, MEM_SIZE), 0);
		void *m = mmap(nullptr, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
		ASSERT_NE(m, MAP_FAILED);
		mem = static_cast<std::byte *>(m);
		for (int q = 0; q < 2; q++) {
			kick[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
			call[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		}
	}
	void TearDown() override {
		be.reset(); // closes sv[0]
		if (sv[1] >= 0)
			close(sv[1]);
		if (mem)
			munmap(mem, MEM_SIZE);
		if (memfd >= 0)
			close(memfd);
		for (int q = 0; q < 2; q++) {
			close(kick[q]);
			close(call[q]);
		}
	}

	void send_raw(const void *buf, size_t len, const int *fds = nullptr, size_t nfds = 0) {
		iovec iov = {const_cast<void *>(buf), len};
		msghdr mh = {};
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		alignas(cmsghdr) char cbuf[CMSG_SPACE(8 * sizeof(int))];
		if (nfds) {
			mh.msg_control = cbuf;
			mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
			cmsghdr *c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
			memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
		}
		ASSERT_EQ(sendmsg(sv[1], &mh, 0), ssize_t(len));
	}
	void send(uint32_t req, const void *p, size_t size, uint32_t flags = VERSION,
		  const int *fds = nullptr, size_t nfds = 0) {
		std::vector<std::byte> b(HDR_SIZE + size);
		uint32_t sz = uint32_t(size);
		memcpy(b.data(), &req, 4);
		memcpy(b.data() + 4, &flags, 4);
		memcpy(b.data() + 8, &sz, 4);
		if (size)
			memcpy(b.data() + HDR_SIZE, p, size);
		send_raw(b.data(), b.size(), fds, nfds);
	}
	// Send and have the back-end handle it; returns handle_cmd()'s result.
	int cmd(uint32_t req, const void *p, size_t size, uint32_t flags = VERSION,
		const int *fds = nullptr, size_t nfds = 0) {
		send(req, p, size, flags, fds, nfds);
		return be->handle_cmd();
	}
	int cmd_u64(uint32_t req, uint64_t v, uint32_t flags = VERSION, int fd = -1) {
		return cmd(req, &v, 8, flags, fd >= 0 ? &fd : nullptr, fd >= 0 ? 1 : 0);
	}
	int cmd_state(uint32_t req, uint32_t idx, uint32_t num) {
		uint32_t s[2] = {idx, num};
		return cmd(req, s, 8);
	}
	bool pending_reply() {
		pollfd p = {sv[1], POLLIN, 0};
		return poll(&p, 1, 0) == 1;
	}
	Msg read_reply() {
		Msg m;
		std::byte h[HDR_SIZE];
		if (recv(sv[1], h, HDR_SIZE, MSG_WAITALL) != ssize_t(HDR_SIZE))
			return m;
		uint32_t sz;
		memcpy(&m.request, h, 4);
		memcpy(&m.flags, h + 4, 4);
		memcpy(&sz, h + 8, 4);
		m.payload.resize(sz);
		if (sz && recv(sv[1], m.payload.data(), sz, MSG_WAITALL) != ssize_t(sz))
			m.payload.clear();
		return m;
	}
	uint64_t reply_u64(uint32_t req) {
		Msg m = read_reply();
		EXPECT_EQ(m.request, req);
		EXPECT_EQ(m.flags, VERSION | FLAG_REPLY);
		EXPECT_EQ(m.payload.size(), 8u);
		uint64_t v = ~0ULL;
		if (m.payload.size() == 8)
			memcpy(&v, m.payload.data(), 8);
		return v;
	}
	void set_mem_table() {
		std::byte p[8 + 32] = {};
		uint32_t n = 1;
		uint64_t r[4] = {0, MEM_SIZE, UVA, 0};
		memcpy(p, &n, 4);
		memcpy(p + 8, r, 32);
		ASSERT_EQ(cmd(SET_MEM_TABLE, p, sizeof(p), VERSION | FLAG_NEED_REPLY, &memfd, 1),
			  0);
		EXPECT_EQ(reply_u64(SET_MEM_TABLE), 0u);
	}
	void set_addr(unsigned q, uint64_t desc, uint64_t used, uint64_t av) {
		uint32_t hdr[2] = {q, 0};
		uint64_t a[4] = {desc, used, av, 0};
		std::byte p[40];
		memcpy(p, hdr, 8);
		memcpy(p + 8, a, 32);
		EXPECT_EQ(cmd(SET_VRING_ADDR, p, 40), 0);
	}
	// The whole start-up, as qemu does it; true if the last step made the
	// device ready (handle_cmd() returned 1 there, and only there).
	// want: the features taken from those offered (all but dirty logging
	// by default), pwant: the protocol features (REPLY_ACK by default).
	bool start_device(uint64_t want = ~VHOST_F_LOG_ALL, uint64_t pwant = PROTOCOL_F_REPLY_ACK) {
		EXPECT_EQ(cmd(GET_FEATURES, nullptr, 0), 0);
		uint64_t f = reply_u64(GET_FEATURES);
		EXPECT_EQ(f, VhostUserBackend::FEATURES);
		EXPECT_EQ(cmd_u64(SET_FEATURES, f & want), 0);
		EXPECT_EQ(cmd(GET_PROTOCOL_FEATURES, nullptr, 0), 0);
		uint64_t pf = reply_u64(GET_PROTOCOL_FEATURES);
		EXPECT_TRUE(pf & PROTOCOL_F_REPLY_ACK);
		EXPECT_EQ(cmd_u64(SET_PROTOCOL_FEATURES, pf & pwant), 0);
		EXPECT_FALSE(pending_reply()); // no NEED_REPLY, no ack
		EXPECT_EQ(cmd(SET_OWNER, nullptr, 0, VERSION | FLAG_NEED_REPLY), 0);
		EXPECT_EQ(reply_u64(SET_OWNER), 0u);
		set_mem_table();
		for (unsigned q = 0; q < 2; q++) {
			EXPECT_EQ(cmd_state(SET_VRING_NUM, q, QN), 0);
			set_addr(q, UVA + qoff(q), UVA + qoff(q) + 0x2000, UVA + qoff(q) + 0x1000);
			EXPECT_EQ(cmd_state(SET_VRING_BASE, q, 0), 0);
			EXPECT_EQ(cmd_u64(SET_VRING_CALL, q, VERSION, call[q]), 0);
			EXPECT_EQ(cmd_u64(SET_VRING_KICK, q, VERSION, kick[q]), 0);
		}
		EXPECT_FALSE(be->ready()); // protocol features: wait for ENABLE
		EXPECT_EQ(cmd_state(SET_VRING_ENABLE, 0, 1), 0);
		return cmd_state(SET_VRING_ENABLE, 1, 1) == 1 && be->ready();
	}

	// Guest side of queue q.
	void desc(unsigned q, unsigned i, uint64_t gpa, uint32_t len, uint16_t flags,
		  uint16_t next) {
		virtq::Desc d{gpa, len, flags, next};
		memcpy(mem + qoff(q) + 16 * i, &d, 16);
	}
	void make_avail(unsigned q, uint16_t head) {
		memcpy(mem + qoff(q) + 0x1000 + 4 + 2 * (avail[q] % QN), &head, 2);
		avail[q]++;
		memcpy(mem + qoff(q) + 0x1000 + 2, &avail[q], 2);
	}
	uint16_t used_idx(unsigned q) {
		uint16_t v;
		memcpy(&v, mem + qoff(q) + 0x2000 + 2, 2);
		return v;
	}
	virtq::UsedElem used(unsigned q, uint16_t slot) {
		virtq::UsedElem e;
		memcpy(&e, mem + qoff(q) + 0x2000 + 4 + 8 * (slot % QN), 8);
		return e;
	}
	uint64_t calls(unsigned q) {
		uint64_t v = 0;
		if (read(call[q], &v, 8) != 8)
			return 0;
		return v;
	}
};

TEST_F(FrontEnd, StartTxAndRx) {
	ASSERT_TRUE(start_device());

	// TX: a 60-byte frame after the 12-byte header, split across three
	// descriptors, the header cut in two.
	std::byte frame[60];
	for (size_t i = 0; i < sizeof(frame); i++)
		frame[i] = std::byte(i * 3 + 1);
	std::byte *buf = mem + DATA;
	memset(buf, 0, 12);
	memset(buf + 10, 0xee, 2); // num_buffers: ignored on TX
	memcpy(buf + 12, frame, sizeof(frame));
	desc(TX, 2, DATA, 5, virtq::DESC_F_NEXT, 6);
	desc(TX, 6, DATA + 5, 30, virtq::DESC_F_NEXT, 0);
	desc(TX, 0, DATA + 35, 12 + 60 - 35, 0, 0);
	make_avail(TX, 2);
	FramePool<16> pool(be->region());
	ASSERT_EQ(be->read_batch(pool), 1);
	ASSERT_EQ(pool.get(0).size(), sizeof(frame));
	EXPECT_EQ(memcmp(pool.get(0).data(), frame, sizeof(frame)), 0);
	EXPECT_EQ(used_idx(TX), 1);
	EXPECT_EQ(used(TX, 0).id, 2u);
	EXPECT_EQ(calls(TX), 1u);
	EXPECT_EQ(be->read_batch(pool), 0);

	// RX: three 64-byte buffers; a 100-byte frame takes two (12 + 100).
	for (uint16_t i = 0; i < 3; i++) {
		desc(RX, i, DATA + 0x1000 + 64 * i, 64, virtq::DESC_F_WRITE, 0);
		make_avail(RX, i);
	}
	std::byte out[100];
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = std::byte(200 - i);
	EXPECT_TRUE(be->send_frame(out));
	EXPECT_EQ(used_idx(RX), 0); // until flush()
	be->flush();
	EXPECT_EQ(used_idx(RX), 2);
	EXPECT_EQ(calls(RX), 1u);
	EXPECT_EQ(used(RX, 0).id, 0u);
	EXPECT_EQ(used(RX, 0).len, 64u);
	EXPECT_EQ(used(RX, 1).id, 1u);
	EXPECT_EQ(used(RX, 1).len, 48u);
	VirtioNetHdr h;
	memcpy(&h, mem + DATA + 0x1000, 12);
	EXPECT_EQ(le16toh(h.num_buffers), 2);
	EXPECT_EQ(h.flags, vnet::F_DATA_VALID); // GUEST_CSUM: our checksums are valid
	EXPECT_EQ(h.gso_type, 0);
	std::byte got[100];
	memcpy(got, mem + DATA + 0x1000 + 12, 52);
	memcpy(got + 52, mem + DATA + 0x1000 + 64, 48);
	EXPECT_EQ(memcmp(got, out, sizeof(out)), 0);
	EXPECT_EQ(stats.frames_out, 1u);

	// One buffer left (64 bytes): a 100-byte frame does not fit; it waits,
	// and so does a smaller one behind it (order is kept), until the guest
	// adds a buffer.
	EXPECT_TRUE(be->send_frame(out));
	EXPECT_TRUE(be->send_frame({out, 40}));
	EXPECT_EQ(stats.out_dropped, 0u);
	EXPECT_EQ(be->vu_stats().rx_no_buf, 0u);
	EXPECT_EQ(be->rx_waiting(), 2u);
	be->flush();
	EXPECT_EQ(used_idx(RX), 2);
	for (uint16_t i = 3; i < 5; i++) {
		desc(RX, i, DATA + 0x1000 + 64 * i, 64, virtq::DESC_F_WRITE, 0);
		make_avail(RX, i);
	}
	be->drain_rx_wait();
	be->flush();
	EXPECT_EQ(be->rx_waiting(), 0u);
	EXPECT_EQ(used_idx(RX), 5);
	EXPECT_EQ(used(RX, 2).id, 2u);
	EXPECT_EQ(used(RX, 2).len, 64u);
	EXPECT_EQ(used(RX, 3).id, 3u);
	EXPECT_EQ(used(RX, 3).len, 48u);
	EXPECT_EQ(used(RX, 4).id, 4u);
	EXPECT_EQ(used(RX, 4).len, 52u);
	EXPECT_EQ(stats.frames_out, 3u);

	// GET_VRING_BASE stops TX and says where it stopped.
	uint32_t st[2] = {TX, 0};
	EXPECT_EQ(cmd(GET_VRING_BASE, st, 8), 0);
	Msg m = read_reply();
	ASSERT_EQ(m.payload.size(), 8u);
	memcpy(st, m.payload.data(), 8);
	EXPECT_EQ(st[0], TX);
	EXPECT_EQ(st[1], 1u);
	EXPECT_FALSE(be->ready());
	make_avail(TX, 2);
	EXPECT_EQ(be->read_batch(pool), 0); // stopped
}

TEST_F(FrontEnd, TxChainsThatAreNotFrames) {
	ASSERT_TRUE(start_device());
	desc(TX, 0, DATA, 12, 0, 0);                   // header only
	desc(TX, 1, DATA, 80, virtq::DESC_F_WRITE, 0); // writable
	desc(TX, 2, MEM_SIZE - 8, 80, 0, 0);           // outside guest memory
	desc(TX, 3, DATA, 40, 0, 0);                   // fine
	for (uint16_t i = 0; i < 4; i++)
		make_avail(TX, i);
	FramePool<16> pool(be->region());
	ASSERT_EQ(be->read_batch(pool), 1);
	EXPECT_EQ(pool.get(0).size(), 28u);
	EXPECT_EQ(be->vu_stats().tx_bad_frames, 2u);
	EXPECT_EQ(be->queue(TX).bad_chains(), 1u);
	EXPECT_EQ(used_idx(TX), 4); // every chain returned
}

// A guest that offers more chains than a wake-up may take: the rest is left
// for the next wake-up, which the back-end arms by writing the TX kick.
TEST_F(FrontEnd, TxWorkPerCallIsBounded) {
	ASSERT_TRUE(start_device());
	for (uint16_t i = 0; i < QN; i++) {
		desc(TX, i, DATA, 12, 0, 0); // header only: bad frames
		make_avail(TX, i);
	}
	FramePool<4> pool(be->region());
	uint64_t v = 0;
	EXPECT_EQ(read(kick[TX], &v, 8), -1); // nothing pending before
	EXPECT_EQ(be->read_batch(pool), 0);
	EXPECT_EQ(used_idx(TX), 4); // the pool's capacity of chains
	EXPECT_FALSE(be->read_again(pool));
	EXPECT_EQ(be->vu_stats().tx_yields, 1u);
	ASSERT_EQ(read(kick[TX], &v, 8), 8); // re-armed by the back-end
	EXPECT_EQ(v, 1u);
	EXPECT_EQ(be->read_batch(pool), 0);
	EXPECT_EQ(used_idx(TX), QN);
	EXPECT_EQ(be->vu_stats().tx_bad_frames, QN);
	EXPECT_EQ(read(kick[TX], &v, 8), -1); // nothing left: not re-armed
	// Good frames: a bigger pool still takes at most the ring size.
	for (uint16_t i = 0; i < QN; i++) {
		desc(TX, i, DATA, 12 + 60, 0, 0);
		make_avail(TX, i);
	}
	FramePool<64> big(be->region());
	EXPECT_EQ(be->read_batch(big), int(QN));
	EXPECT_EQ(read(kick[TX], &v, 8), -1);
}

// Ring errors break the queue: counted once, logged, the error eventfd
// written, nothing more read from it, the other queue unaffected, until the
// front-end stops and re-programs it.
TEST_F(FrontEnd, TxHeadOutOfRangeBreaksQueueUntilReprogrammed) {
	ASSERT_TRUE(start_device());
	int errfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_GE(errfd, 0);
	EXPECT_EQ(cmd_u64(SET_VRING_ERR, TX, VERSION, errfd), 0);
	make_avail(TX, QN); // head out of range
	desc(TX, 1, DATA, 12 + 60, 0, 0);
	make_avail(TX, 1);
	FramePool<16> pool(be->region());
	EXPECT_EQ(be->read_batch(pool), 0);
	EXPECT_TRUE(be->queue(TX).broken());
	EXPECT_FALSE(be->ready());
	EXPECT_EQ(be->vu_stats().broken_queues, 1u);
	uint64_t v = 0;
	EXPECT_EQ(read(errfd, &v, 8), 8);
	EXPECT_EQ(be->read_batch(pool), 0);
	EXPECT_EQ(be->vu_stats().broken_queues, 1u); // once per set-up
	EXPECT_EQ(used_idx(TX), 0);
	// A new memory table is no reset.
	set_mem_table();
	EXPECT_TRUE(be->queue(TX).broken());
	EXPECT_EQ(be->read_batch(pool), 0);
	// RX goes on.
	desc(RX, 0, DATA + 0x1000, 128, virtq::DESC_F_WRITE, 0);
	make_avail(RX, 0);
	std::byte f[60] = {};
	EXPECT_TRUE(be->send_frame(f));
	be->flush();
	EXPECT_EQ(used_idx(RX), 1);
	// GET_VRING_BASE reports the index of the chain that broke it; the
	// front-end re-programs the queue past it.
	uint32_t st[2] = {TX, 0};
	EXPECT_EQ(cmd(GET_VRING_BASE, st, 8), 0);
	Msg m = read_reply();
	ASSERT_EQ(m.payload.size(), 8u);
	memcpy(st, m.payload.data(), 8);
	EXPECT_EQ(st[1], 0u);
	EXPECT_EQ(cmd_state(SET_VRING_BASE, TX, 1), 0);
	int k2 = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	EXPECT_EQ(cmd_u64(SET_VRING_KICK, TX, VERSION, k2), 1); // ready again
	close(k2);
	EXPECT_FALSE(be->queue(TX).broken());
	ASSERT_EQ(be->read_batch(pool), 1);
	EXPECT_EQ(pool.get(0).size(), 60u);
	EXPECT_EQ(used_idx(TX), 1);
	close(errfd);
}

TEST_F(FrontEnd, AvailIndexJumpBreaksQueue) {
	ASSERT_TRUE(start_device());
	avail[TX] = uint16_t(avail[TX] + 100);
	memcpy(mem + qoff(TX) + 0x1000 + 2, &avail[TX], 2);
	FramePool<16> pool(be->region());
	EXPECT_EQ(be->read_batch(pool), 0);
	EXPECT_TRUE(be->queue(TX).broken());
	EXPECT_EQ(be->vu_stats().broken_queues, 1u);
	// A broken, running queue may be re-based in place.
	avail[TX] = 0;
	memcpy(mem + qoff(TX) + 0x1000 + 2, &avail[TX], 2);
	EXPECT_EQ(cmd_state(SET_VRING_BASE, TX, 0), 0);
	EXPECT_FALSE(be->queue(TX).broken());
	desc(TX, 0, DATA, 12 + 60, 0, 0);
	make_avail(TX, 0);
	EXPECT_EQ(be->read_batch(pool), 1);
}

TEST_F(FrontEnd, RxDescriptorLoopBreaksRxOnly) {
	ASSERT_TRUE(start_device());
	// A frame that needs two buffers: the first is fine, the second loops.
	desc(RX, 0, DATA + 0x1000, 20, virtq::DESC_F_WRITE, 0);
	desc(RX, 1, DATA + 0x1100, 64, virtq::DESC_F_WRITE | virtq::DESC_F_NEXT, 1);
	make_avail(RX, 0);
	make_avail(RX, 1);
	std::byte f[40] = {};
	EXPECT_FALSE(be->send_frame(f));
	EXPECT_TRUE(be->queue(RX).broken());
	EXPECT_EQ(be->queue(RX).last_avail(), 0); // back at the frame's first chain
	EXPECT_EQ(used_idx(RX), 0);
	EXPECT_EQ(be->vu_stats().broken_queues, 1u);
	EXPECT_EQ(be->rx_waiting(), 0u); // no waiting on a broken queue
	EXPECT_FALSE(be->send_frame(f));
	EXPECT_EQ(be->vu_stats().broken_queues, 1u);
	desc(TX, 0, DATA, 12 + 60, 0, 0);
	make_avail(TX, 0);
	FramePool<16> pool(be->region());
	EXPECT_EQ(be->read_batch(pool), 1); // TX goes on
}

// Frames that find no RX buffer wait, in order, and go out once the guest
// adds buffers and kicks RX.
TEST_F(FrontEnd, RxFramesWaitForBuffers) {
	ASSERT_TRUE(start_device());
	std::byte f[4][50];
	const size_t len[4] = {40, 50, 30, 20};
	for (int i = 0; i < 4; i++)
		memset(f[i], 0x10 + i, sizeof(f[i]));
	for (int i = 0; i < 3; i++)
		EXPECT_TRUE(be->send_frame({f[i], len[i]}));
	be->flush();
	EXPECT_EQ(be->rx_waiting(), 3u);
	EXPECT_EQ(be->vu_stats().rx_no_buf, 0u);
	EXPECT_EQ(be->vu_stats().rx_waited, 3u);
	EXPECT_EQ(stats.out_dropped, 0u);
	EXPECT_EQ(used_idx(RX), 0);
	auto add_bufs = [&](uint16_t from, uint16_t n) {
		for (uint16_t i = from; i < from + n; i++) {
			desc(RX, i, DATA + 0x1000 + 64 * i, 64, virtq::DESC_F_WRITE, 0);
			make_avail(RX, i);
		}
	};
	auto rx_kick = [&]() {
		EpollRef ref{RefKind::VhostUserKick, kick[RX], RX};
		EXPECT_EQ(be->handle_event(ref, EPOLLIN).action, TapEvent::None);
	};
	add_bufs(0, 2);
	rx_kick();
	EXPECT_EQ(used_idx(RX), 2);
	EXPECT_EQ(calls(RX), 1u);
	EXPECT_EQ(be->rx_waiting(), 1u);
	// A new frame goes behind the one still waiting, not before it.
	EXPECT_TRUE(be->send_frame({f[3], len[3]}));
	EXPECT_EQ(be->rx_waiting(), 2u);
	add_bufs(2, 3);
	rx_kick();
	EXPECT_EQ(used_idx(RX), 4);
	EXPECT_EQ(be->rx_waiting(), 0u);
	for (uint16_t i = 0; i < 4; i++) {
		EXPECT_EQ(used(RX, i).id, i);
		EXPECT_EQ(used(RX, i).len, 12 + len[i]);
		EXPECT_EQ(memcmp(mem + DATA + 0x1000 + 64 * i + 12, f[i], len[i]), 0);
	}
	// With nothing waiting, a frame goes straight into the free buffer.
	EXPECT_TRUE(be->send_frame({f[0], 10}));
	EXPECT_EQ(be->rx_waiting(), 0u);
	be->flush();
	EXPECT_EQ(used_idx(RX), 5);
}

TEST_F(FrontEnd, RxWaitQueueFullRefuses) {
	ASSERT_TRUE(start_device());
	std::byte f[60] = {};
	for (size_t i = 0; i < VhostUserBackend::RX_WAIT_FRAMES; i++)
		ASSERT_TRUE(be->send_frame(f));
	EXPECT_FALSE(be->send_frame(f));
	EXPECT_EQ(be->vu_stats().rx_no_buf, 1u);
	EXPECT_EQ(stats.out_dropped, 1u);
	EXPECT_TRUE(be->reports_room());
	// Buffers for the first few: still more than half full, no room yet.
	EpollRef ref{RefKind::VhostUserKick, kick[RX], RX};
	for (uint16_t i = 0; i < QN; i++) {
		desc(RX, i, DATA + 0x1000 + 128 * i, 128, virtq::DESC_F_WRITE, 0);
		make_avail(RX, i);
	}
	EXPECT_EQ(be->handle_event(ref, EPOLLIN).action, TapEvent::None);
	EXPECT_EQ(be->rx_waiting(), VhostUserBackend::RX_WAIT_FRAMES - QN);
	// The guest takes them and gives buffers back until the queue is at
	// most half full: that kick reports room, once.
	int kicks = 0;
	for (; kicks < 1000; kicks++) {
		for (uint16_t i = 0; i < QN; i++)
			make_avail(RX, i);
		if (be->handle_event(ref, EPOLLIN).action == TapEvent::Room)
			break;
	}
	EXPECT_EQ(be->rx_waiting(), VhostUserBackend::RX_WAIT_FRAMES / 2);
	for (uint16_t i = 0; i < QN; i++)
		make_avail(RX, i);
	EXPECT_EQ(be->handle_event(ref, EPOLLIN).action, TapEvent::None); // once
	// Stopping RX forgets them.
	uint32_t st[2] = {RX, 0};
	EXPECT_EQ(cmd(GET_VRING_BASE, st, 8), 0);
	read_reply();
	EXPECT_EQ(be->rx_waiting(), 0u);
}

TEST(RxWaitQueue, KeepsOrderAcrossWrapAround) {
	auto q = std::make_unique<VhostUserBackend::RxWaitQueue>();
	static std::byte f[VhostUserBackend::MAX_FRAME];
	for (size_t i = 0; i < sizeof(f); i++)
		f[i] = std::byte(i * 7);
	// Pseudo-random sizes, pushing until full and popping some, so that the
	// ring wraps many times.
	uint32_t seed = 1, pushed = 0, popped = 0;
	std::vector<size_t> sizes;
	auto next_len = [&]() {
		seed = seed * 1103515245 + 12345;
		return size_t(1 + (seed >> 8) % VhostUserBackend::MAX_FRAME);
	};
	for (int round = 0; round < 2000; round++) {
		size_t l = next_len();
		if (q->push({f + (l & 63), l - (l & 63)})) {
			sizes.push_back(l);
			pushed++;
		}
		int pops = round % 3;
		while (pops-- && !q->empty()) {
			size_t want = sizes[popped];
			auto got = q->front();
			ASSERT_EQ(got.size(), want - (want & 63));
			ASSERT_EQ(memcmp(got.data(), f + (want & 63), got.size()), 0);
			q->pop();
			popped++;
		}
	}
	EXPECT_GT(pushed, 500u);
	EXPECT_EQ(q->size(), pushed - popped);
	std::byte big[1] = {};
	q->clear();
	EXPECT_TRUE(q->empty());
	EXPECT_TRUE(q->push({big, 1}));
}

TEST_F(FrontEnd, NoRxBeforeStart) {
	std::byte f[60] = {};
	EXPECT_FALSE(be->send_frame(f));
	EXPECT_EQ(stats.out_dropped, 1u);
}

TEST_F(FrontEnd, RingsOutsideMemoryNotStarted) {
	EXPECT_EQ(cmd_u64(SET_FEATURES, VhostUserBackend::FEATURES), 0);
	EXPECT_EQ(cmd_u64(SET_PROTOCOL_FEATURES, PROTOCOL_F_REPLY_ACK), 0);
	set_mem_table();
	EXPECT_EQ(cmd_state(SET_VRING_NUM, 0, QN), 0);
	set_addr(0, UVA + MEM_SIZE - 16, UVA + 0x2000, UVA + 0x1000);
	EXPECT_EQ(cmd_u64(SET_VRING_KICK, 0, VERSION, kick[0]), 0);
	EXPECT_FALSE(be->queue(0).ready());
}

TEST_F(FrontEnd, UnknownRequestWithNeedReplyFails) {
	EXPECT_EQ(cmd_u64(SET_PROTOCOL_FEATURES, PROTOCOL_F_REPLY_ACK), 0);
	EXPECT_EQ(cmd(999, nullptr, 0, VERSION | FLAG_NEED_REPLY), 0);
	EXPECT_NE(reply_u64(999), 0u);
	EXPECT_TRUE(be->connected());
	// Without NEED_REPLY: logged, no answer.
	EXPECT_EQ(cmd(998, nullptr, 0), 0);
	EXPECT_FALSE(pending_reply());
	EXPECT_EQ(be->vu_stats().bad_messages, 2u);
}

TEST_F(FrontEnd, WrongPayloadSizesRefused) {
	EXPECT_EQ(cmd_u64(SET_PROTOCOL_FEATURES, PROTOCOL_F_REPLY_ACK), 0);
	uint32_t four = 1;
	EXPECT_EQ(cmd(SET_FEATURES, &four, 4, VERSION | FLAG_NEED_REPLY), 0);
	EXPECT_NE(reply_u64(SET_FEATURES), 0u);
	EXPECT_EQ(be->features(), 0u);
	// SET_VRING_NUM for a queue we don't have, or not a power of two.
	uint32_t s[2] = {5, 8};
	EXPECT_EQ(cmd(SET_VRING_NUM, s, 8, VERSION | FLAG_NEED_REPLY), 0);
	EXPECT_NE(reply_u64(SET_VRING_NUM), 0u);
	s[0] = 0;
	s[1] = 12;
	EXPECT_EQ(cmd(SET_VRING_NUM, s, 8, VERSION | FLAG_NEED_REPLY), 0);
	EXPECT_NE(reply_u64(SET_VRING_NUM), 0u);
	// A kick without its descriptor.
	EXPECT_EQ(cmd_u64(SET_VRING_KICK, 1, VERSION | FLAG_NEED_REPLY), 0);
	EXPECT_NE(reply_u64(SET_VRING_KICK), 0u);
	// Features we never offered.
	EXPECT_EQ(cmd_u64(SET_FEATURES, 1ULL << 5, VERSION | FLAG_NEED_REPLY), 0);
	EXPECT_NE(reply_u64(SET_FEATURES), 0u);
}

TEST_F(FrontEnd, MemTableChecks) {
	EXPECT_EQ(cmd_u64(SET_PROTOCOL_FEATURES, PROTOCOL_F_REPLY_ACK), 0);
	std::byte p[8 + 64] = {};
	uint32_t n = 2;
	uint64_t r[8] = {0, 4096, UVA, 0, 4096, 4096, UVA + 4096, 4096};
	memcpy(p, &n, 4);
	memcpy(p + 8, r, 64);
	// Two regions, one descriptor.
	EXPECT_EQ(cmd(SET_MEM_TABLE, p, sizeof(p), VERSION | FLAG_NEED_REPLY, &memfd, 1), 0);
	EXPECT_NE(reply_u64(SET_MEM_TABLE), 0u);
	// Count and size disagree.
	n = 3;
	memcpy(p, &n, 4);
	int two[2] = {memfd, memfd};
	EXPECT_EQ(cmd(SET_MEM_TABLE, p, sizeof(p), VERSION | FLAG_NEED_REPLY, two, 2), 0);
	EXPECT_NE(reply_u64(SET_MEM_TABLE), 0u);
	// A region larger than the address space allows.
	n = 1;
	uint64_t big[4] = {0, ~0ULL - 10, UVA, 100};
	memcpy(p, &n, 4);
	memcpy(p + 8, big, 32);
	EXPECT_EQ(cmd(SET_MEM_TABLE, p, 40, VERSION | FLAG_NEED_REPLY, &memfd, 1), 0);
	EXPECT_NE(reply_u64(SET_MEM_TABLE), 0u);
	// And a good one.
	set_mem_table();
}

TEST_F(FrontEnd, OversizedMessageIsFatal) {
	std::vector<std::byte> p(4096);
	EXPECT_EQ(cmd(SET_FEATURES, p.data(), p.size()), -EPROTO);
}

TEST_F(FrontEnd, BadVersionIsFatal) { EXPECT_EQ(cmd_u64(SET_FEATURES, 0, 0x2), -EPROTO); }

TEST_F(FrontEnd, TruncatedMessageIsFatal) {
	uint32_t h[3] = {SET_FEATURES, VERSION, 8};
	std::byte b[HDR_SIZE + 4] = {};
	memcpy(b, h, HDR_SIZE);
	send_raw(b, sizeof(b));
	shutdown(sv[1], SHUT_WR);
	EXPECT_EQ(be->handle_cmd(), -EPROTO);
}

TEST_F(FrontEnd, ShortHeaderIsFatal) {
	uint32_t h = GET_FEATURES;
	send_raw(&h, 4);
	shutdown(sv[1], SHUT_WR);
	EXPECT_EQ(be->handle_cmd(), -EPROTO);
}

TEST_F(FrontEnd, EndOfFile) {
	shutdown(sv[1], SHUT_WR);
	EXPECT_EQ(be->handle_cmd(), -ESHUTDOWN);
	be->detach();
	EXPECT_FALSE(be->connected());
}

TEST_F(FrontEnd, ReconnectAfterDetach) {
	ASSERT_TRUE(start_device());
	be->detach();
	EXPECT_FALSE(be->ready());
	close(sv[1]);
	sv[1] = -1;
	ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ASSERT_EQ(be->attach(sv[0]), 0);
	avail[0] = avail[1] = 0;
	memset(mem, 0, DATA);
	EXPECT_TRUE(start_device());
}

} // namespace

namespace {

// Through the event loop: the control socket and the TX kick are registered,
// a kick reaches the VhostUserKick handler, which reads the frame.
struct LoopFrontEnd : FrontEnd {
	EventLoop loop;
	int kicks = 0;
	size_t frames = 0;
	void SetUp() override {
		ASSERT_EQ(loop.init(), 0);
		FrontEnd::SetUp();
		be->detach();
		be->set_event_loop(&loop);
		int p[2];
		ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p), 0);
		close(sv[1]);
		sv[0] = p[0];
		sv[1] = p[1];
		timeval tv = {1, 0};
		setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		ASSERT_EQ(be->attach(sv[0]), 0);
	}
};

TEST_F(LoopFrontEnd, KickThroughEventLoop) {
	ASSERT_TRUE(start_device());
	loop.set_handler(
		RefKind::VhostUserKick,
		[](void *ctx, EpollRef ref, uint32_t, const timespec &) {
			auto *t = static_cast<LoopFrontEnd *>(ctx);
			EXPECT_EQ(ref.index, TX);
			t->kicks++;
			t->be->drain_kick();
			FramePool<4> pool(t->be->region());
			t->frames += size_t(t->be->read_batch(pool));
		},
		this);
	desc(TX, 0, DATA, 12 + 50, 0, 0);
	make_avail(TX, 0);
	uint64_t one = 1;
	ASSERT_EQ(write(kick[TX], &one, 8), 8);
	EXPECT_EQ(loop.run_once(1000), 1);
	EXPECT_EQ(kicks, 1);
	EXPECT_EQ(frames, 1u);
	EXPECT_EQ(loop.run_once(0), 0); // the kick was drained
	// A control message is an event on the control socket.
	loop.set_handler(
		RefKind::VhostUserCmd,
		[](void *ctx, EpollRef, uint32_t, const timespec &) {
			auto *t = static_cast<LoopFrontEnd *>(ctx);
			EXPECT_EQ(t->be->handle_cmd(), 0);
			t->kicks += 100;
		},
		this);
	send(SET_OWNER, nullptr, 0);
	EXPECT_EQ(loop.run_once(1000), 1);
	EXPECT_EQ(kicks, 101);
}

// A guest that makes TX chains available as fast as we take them cannot keep
// the loop in the TX handler. The handler runs the read loop as main.cpp's
// tap_read() does, and the fake guest refills the ring after every batch,
// as a guest on another CPU would, up to a cap that only an unbounded loop
// reaches: the handler returns after its bounded batch, and an fd that
// became ready meanwhile is served while the guest still has chains to
// give.
TEST_F(LoopFrontEnd, EndlessGuestDoesNotStarveOtherFds) {
	ASSERT_TRUE(start_device());
	for (uint16_t i = 0; i < QN; i++)
		desc(TX, i, DATA + 128 * i, 12 + 60, 0, 0);
	int other = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_GE(other, 0);
	constexpr unsigned CAP = 100000; // refills before the fake guest gives up
	struct Ctx {
		LoopFrontEnd *t;
		int other;
		unsigned refills = 0;
		bool first = true, other_served = false, served_before_cap = false;
		// Offer every slot the back-end has given back.
		void refill() {
			if (refills >= CAP)
				return;
			refills++;
			while (uint16_t(t->avail[TX] - t->used_idx(TX)) < QN)
				t->make_avail(TX, uint16_t(t->avail[TX] % QN));
		}
	} ctx{this, other};
	ctx.refill();
	loop.set_handler(
		RefKind::VhostUserKick,
		[](void *p, EpollRef ref, uint32_t ev, const timespec &) {
			auto *c = static_cast<Ctx *>(p);
			if (c->first) {
				// Another fd becomes ready while we are busy here.
				uint64_t one = 1;
				EXPECT_EQ(write(c->other, &one, 8), 8);
				c->first = false;
			}
			TapEvent e = c->t->be->handle_event(ref, ev);
			if (e.action != TapEvent::Read)
				return;
			FramePool<4> pool(c->t->be->region());
			for (;;) {
				int n = c->t->be->read_batch(pool);
				c->refill();
				if (n <= 0)
					return;
				c->t->frames += size_t(n);
				if (!c->t->be->read_again(pool))
					return;
			}
		},
		&ctx);
	ASSERT_EQ(loop.add(other, EPOLLIN, EpollRef{RefKind::Signal, other, 0}), 0);
	loop.set_handler(
		RefKind::Signal,
		[](void *p, EpollRef, uint32_t, const timespec &) {
			auto *c = static_cast<Ctx *>(p);
			uint64_t v;
			EXPECT_EQ(read(c->other, &v, 8), 8);
			c->served_before_cap = c->refills < CAP;
			c->other_served = true;
		},
		&ctx);
	uint64_t one = 1;
	ASSERT_EQ(write(kick[TX], &one, 8), 8);
	for (int i = 0; i < 10 && !ctx.other_served; i++)
		EXPECT_GE(loop.run_once(1000), 1);
	EXPECT_TRUE(ctx.other_served);
	EXPECT_TRUE(ctx.served_before_cap);
	EXPECT_LT(ctx.refills, 10u);
	EXPECT_GT(frames, 0u);
	EXPECT_GT(be->vu_stats().tx_yields, 0u);
	close(other);
}

// The RX kick is watched only while frames wait for buffers.
TEST_F(LoopFrontEnd, RxKickWatchedOnlyWhileFramesWait) {
	ASSERT_TRUE(start_device());
	int rx_kicks = 0;
	struct Ctx {
		LoopFrontEnd *t;
		int *rx_kicks;
	} ctx{this, &rx_kicks};
	loop.set_handler(
		RefKind::VhostUserKick,
		[](void *p, EpollRef ref, uint32_t ev, const timespec &) {
			auto *c = static_cast<Ctx *>(p);
			if (ref.index == RX)
				(*c->rx_kicks)++;
			c->t->be->handle_event(ref, ev);
		},
		&ctx);
	uint64_t one = 1;
	ASSERT_EQ(write(kick[RX], &one, 8), 8);
	EXPECT_EQ(loop.run_once(0), 0); // nothing waits: not watched
	std::byte f[60] = {};
	EXPECT_TRUE(be->send_frame(f));
	EXPECT_EQ(be->rx_waiting(), 1u);
	EXPECT_EQ(loop.run_once(0), 1); // the pending kick, no buffer yet
	EXPECT_EQ(rx_kicks, 1);
	EXPECT_EQ(be->rx_waiting(), 1u);
	EXPECT_EQ(loop.run_once(0), 0); // counter read: quiet again
	desc(RX, 0, DATA + 0x1000, 128, virtq::DESC_F_WRITE, 0);
	make_avail(RX, 0);
	ASSERT_EQ(write(kick[RX], &one, 8), 8);
	EXPECT_EQ(loop.run_once(1000), 1);
	EXPECT_EQ(rx_kicks, 2);
	EXPECT_EQ(be->rx_waiting(), 0u);
	EXPECT_EQ(used_idx(RX), 1);
	EXPECT_EQ(used(RX, 0).len, 12u + 60u);
	EXPECT_EQ(calls(RX), 1u);
	ASSERT_EQ(write(kick[RX], &one, 8), 8);
	EXPECT_EQ(loop.run_once(0), 0); // unwatched again
}

} // namespace

// ---- offloads and the event index -----------------------------------------

// vring_need_event(): [old, new) modulo 2^16 holds event.
TEST(EventIdx, CrossedArithmetic) {
	EXPECT_TRUE(Virtqueue::event_crossed(5, 6, 5));
	EXPECT_TRUE(Virtqueue::event_crossed(4, 5, 4));
	EXPECT_FALSE(Virtqueue::event_crossed(5, 5, 4)); // not past it yet
	EXPECT_TRUE(Virtqueue::event_crossed(7, 10, 2));
	EXPECT_FALSE(Virtqueue::event_crossed(10, 8, 2));
	EXPECT_FALSE(Virtqueue::event_crossed(1, 8, 2));        // behind old: seen before
	EXPECT_FALSE(Virtqueue::event_crossed(3, 7, 7));        // nothing new
	EXPECT_TRUE(Virtqueue::event_crossed(65535, 1, 65534)); // across the wrap
	EXPECT_TRUE(Virtqueue::event_crossed(0, 1, 65534));
	EXPECT_FALSE(Virtqueue::event_crossed(2, 1, 65534));
}

// used_event decides the interrupts, the flags are ignored, and each
// published interval is judged once.
TEST_F(VqTest, EventIdxUsedEvent) {
	vq.set_event_idx(true);
	uint16_t f = virtq::AVAIL_F_NO_INTERRUPT; // ignored with the event index
	memcpy(r.mem + r.AVAIL, &f, 2);
	auto used_event = [&](uint16_t v) { memcpy(r.mem + r.AVAIL + 4 + 2 * r.num, &v, 2); };
	auto one = [&](unsigned n) {
		for (unsigned i = 0; i < n; i++)
			vq.push(0, 1);
		vq.publish();
	};
	used_event(0);
	one(1);
	EXPECT_TRUE(vq.needs_signal()); // the first answer after setup()
	used_event(1);
	one(1); // 1 -> 2 passes 1
	EXPECT_TRUE(vq.needs_signal());
	used_event(5);
	one(1); // 2 -> 3
	EXPECT_FALSE(vq.needs_signal());
	one(1); // 3 -> 4
	EXPECT_FALSE(vq.needs_signal());
	one(2); // 4 -> 6 passes 5
	EXPECT_TRUE(vq.needs_signal());
	EXPECT_FALSE(vq.needs_signal()); // nothing new since
	vq.set_event_idx(false);
	EXPECT_FALSE(vq.needs_signal()); // the flag again
}

// avail_event: written where we stand when the ring is found empty (and by
// arm_kick()), not while chains are being taken.
TEST_F(VqTest, EventIdxAvailEvent) {
	auto avail_event = [&]() {
		uint16_t v;
		memcpy(&v, r.mem + r.USED + 4 + 8 * r.num, 2);
		return v;
	};
	auto set_avail_event = [&](uint16_t v) { memcpy(r.mem + r.USED + 4 + 8 * r.num, &v, 2); };
	set_avail_event(0xabcd);
	EXPECT_EQ(vq.pop(chain), VqPop::Empty);
	EXPECT_EQ(avail_event(), 0xabcd); // no event index: untouched
	vq.set_event_idx(true);
	EXPECT_EQ(vq.pop(chain), VqPop::Empty);
	EXPECT_EQ(avail_event(), 0);
	for (uint16_t i = 0; i < 3; i++) {
		r.set_desc(i, r.GPA + r.DATA + 64 * i, 64, 0, 0);
		r.add_avail(i);
	}
	set_avail_event(0);
	ASSERT_EQ(vq.pop(chain), VqPop::Ok);
	ASSERT_EQ(vq.pop(chain), VqPop::Ok);
	EXPECT_EQ(avail_event(), 0); // busy: the driver need not kick
	EXPECT_TRUE(vq.arm_kick());  // one left: no kick may come for it
	EXPECT_EQ(avail_event(), 2);
	ASSERT_EQ(vq.pop(chain), VqPop::Ok);
	EXPECT_EQ(vq.pop(chain), VqPop::Empty);
	EXPECT_EQ(avail_event(), 3);
	EXPECT_FALSE(vq.arm_kick());
	// The driver adds a chain after reading the old avail_event (no kick):
	// the empty pop() still finds it on its second look.
	r.set_desc(3, r.GPA + r.DATA, 64, 0, 0);
	r.add_avail(3);
	EXPECT_EQ(vq.pop(chain), VqPop::Ok);
	EXPECT_EQ(chain.head, 3);
	EXPECT_EQ(vq.pop(chain), VqPop::Empty);
	EXPECT_EQ(avail_event(), 4);
}

// An Ethernet + IPv4 (or IPv6) + TCP frame with payload bytes.
std::vector<std::byte> tcp_frame(bool v4, size_t payload) {
	const size_t ip = v4 ? 20 : 40;
	std::vector<std::byte> f(14 + ip + 20 + payload);
	f[12] = std::byte(v4 ? 0x08 : 0x86);
	f[13] = std::byte(v4 ? 0x00 : 0xdd);
	if (v4) {
		f[14] = std::byte(0x45);
		uint16_t tl = htobe16(uint16_t(20 + 20 + payload));
		memcpy(&f[16], &tl, 2);
		f[22] = std::byte(64);
		f[23] = std::byte(6);
	} else {
		f[14] = std::byte(0x60);
		uint16_t pl = htobe16(uint16_t(20 + payload));
		memcpy(&f[18], &pl, 2);
		f[20] = std::byte(6);
		f[21] = std::byte(64);
	}
	f[14 + ip + 12] = std::byte(0x50);
	for (size_t i = 0; i < payload; i++)
		f[14 + ip + 20 + i] = std::byte(i * 7 + 3);
	return f;
}

VirtioNetHdr hdr_of(uint8_t flags, uint8_t gso, uint16_t gso_size, uint16_t start, uint16_t off) {
	VirtioNetHdr h{};
	h.flags = flags;
	h.gso_type = gso;
	h.gso_size = htole16(gso_size);
	h.csum_start = htole16(start);
	h.csum_offset = htole16(off);
	return h;
}

TEST(VuTxHdr, MalformedHeadersAreRefused) {
	const uint64_t all = HOST_OFFLOADS;
	auto f4 = tcp_frame(true, 100), f6 = tcp_frame(false, 100);
	const uint8_t NC = vnet::F_NEEDS_CSUM;
	EXPECT_EQ(vu_tx_hdr_check(VirtioNetHdr{}, f4, 0), nullptr);
	EXPECT_EQ(vu_tx_hdr_check(hdr_of(NC, 0, 0, 34, 16), f4, all), nullptr);
	EXPECT_EQ(vu_tx_hdr_check(hdr_of(NC, vnet::GSO_TCPV4, 50, 34, 16), f4, all), nullptr);
	EXPECT_EQ(vu_tx_hdr_check(hdr_of(NC, vnet::GSO_TCPV6, 50, 54, 16), f6, all), nullptr);

	const struct {
		VirtioNetHdr h;
		bool v4;
		uint64_t features;
		const char *what;
	} bad[] = {
		{hdr_of(vnet::F_DATA_VALID, 0, 0, 0, 0), true, all, "DATA_VALID from a driver"},
		{hdr_of(4, 0, 0, 0, 0), true, all, "RSC_INFO"},
		{hdr_of(NC, 0, 0, 34, 16), true, VIRTIO_NET_F_HOST_TSO4, "NEEDS_CSUM, no CSUM"},
		{hdr_of(NC, 0, 0, 154, 0), true, all, "csum_start at the end"},
		{hdr_of(NC, 0, 0, 150, 3), true, all, "field past the end"},
		{hdr_of(NC, 0, 0, 153, 0), true, all, "field half in"},
		{hdr_of(NC, 0, 0, 10, 0), true, all, "csum_start in the Ethernet header"},
		{hdr_of(NC, 0, 0, 0xffff, 0xffff), true, all, "both huge"},
		{hdr_of(0, vnet::GSO_TCPV4, 50, 34, 16), true, all, "GSO, no NEEDS_CSUM"},
		{hdr_of(NC, vnet::GSO_TCPV4, 0, 34, 16), true, all, "gso_size 0"},
		{hdr_of(NC, vnet::GSO_TCPV6, 50, 34, 16), true, all, "TCPV6 on IPv4"},
		{hdr_of(NC, vnet::GSO_TCPV4, 50, 54, 16), false, all, "TCPV4 on IPv6"},
		{hdr_of(NC, vnet::GSO_TCPV4, 50, 34, 6), true, all, "not the TCP checksum"},
		{hdr_of(NC, vnet::GSO_TCPV4, 50, 38, 16), true, all,
		 "csum_start past the IP header"},
		{hdr_of(NC, vnet::GSO_UDP, 50, 34, 6), true, all, "UFO"},
		{hdr_of(NC, vnet::GSO_UDP_L4, 50, 34, 6), true, all, "USO"},
		{hdr_of(NC, vnet::GSO_TCPV4 | vnet::GSO_ECN, 50, 34, 16), true, all, "ECN"},
		{hdr_of(NC, 7, 50, 34, 16), true, all, "unknown type"},
		{hdr_of(NC, vnet::GSO_TCPV4, 50, 34, 16), true,
		 VIRTIO_NET_F_CSUM | VIRTIO_NET_F_HOST_TSO6, "TSO4 not negotiated"},
		{hdr_of(NC, vnet::GSO_TCPV6, 50, 54, 16), false,
		 VIRTIO_NET_F_CSUM | VIRTIO_NET_F_HOST_TSO4, "TSO6 not negotiated"},
	};
	for (const auto &b : bad)
		EXPECT_NE(vu_tx_hdr_check(b.h, b.v4 ? f4 : f6, b.features), nullptr) << b.what;
	// A frame too short to hold the headers GSO implies.
	auto tiny = tcp_frame(true, 0);
	tiny.resize(40);
	EXPECT_NE(vu_tx_hdr_check(hdr_of(NC, vnet::GSO_TCPV4, 50, 34, 4), tiny, all), nullptr);
}

// A request for frame f with a partial TCP checksum and, with gso_size,
// segmentation: IPv4 (14 + 20 bytes in front of TCP) or IPv6 (14 + 40).
TapFrame offload_req(const std::vector<std::byte> &f, bool v4, uint16_t gso_size) {
	TapFrame tf;
	tf.frame = f;
	tf.needs_csum = true;
	tf.csum_start = v4 ? 34 : 54;
	tf.csum_offset = 16;
	if (gso_size) {
		tf.gso_type = v4 ? vnet::GSO_TCPV4 : vnet::GSO_TCPV6;
		tf.gso_size = gso_size;
		tf.hdr_len = uint16_t(tf.csum_start + 20);
	}
	return tf;
}

// An offloaded frame to the guest: its header asks for GSO and a partial
// checksum, and the frame spreads over several RX buffers (MRG_RXBUF).
TEST_F(FrontEnd, OffloadedFrameAcrossRxBuffers) {
	ASSERT_TRUE(start_device());
	EXPECT_TRUE(be->offloads());
	for (uint16_t i = 0; i < 6; i++) {
		desc(RX, i, DATA + 0x1000 + 64 * i, 64, virtq::DESC_F_WRITE, 0);
		make_avail(RX, i);
	}
	auto f = tcp_frame(true, 200 - 54);
	TapFrame tf = offload_req(f, true, 50);
	EXPECT_EQ(be->send_frames({&tf, 1}), 1u);
	EXPECT_EQ(used_idx(RX), 4); // 12 + 200 bytes in 64-byte buffers
	VirtioNetHdr h;
	memcpy(&h, mem + DATA + 0x1000, 12);
	EXPECT_EQ(h.flags, vnet::F_NEEDS_CSUM);
	EXPECT_EQ(h.gso_type, vnet::GSO_TCPV4);
	EXPECT_EQ(le16toh(h.gso_size), 50);
	EXPECT_EQ(le16toh(h.hdr_len), 54);
	EXPECT_EQ(le16toh(h.csum_start), 34);
	EXPECT_EQ(le16toh(h.csum_offset), 16);
	EXPECT_EQ(le16toh(h.num_buffers), 4);
	std::vector<std::byte> got(4 * 64);
	memcpy(got.data(), mem + DATA + 0x1000, got.size());
	EXPECT_EQ(memcmp(got.data() + 12, f.data(), f.size()), 0);
	EXPECT_EQ(used(RX, 3).len, uint32_t(12 + 200 - 3 * 64));
	EXPECT_EQ(be->vu_stats().rx_gso_frames, 1u);

	// A plain frame: our checksum, DATA_VALID.
	EXPECT_TRUE(be->send_frame({f.data(), 50}));
	be->flush();
	EXPECT_EQ(used_idx(RX), 5);
	memcpy(&h, mem + DATA + 0x1000 + 64 * 4, 12);
	EXPECT_EQ(h.flags, vnet::F_DATA_VALID);
	EXPECT_EQ(h.gso_type, 0);
	EXPECT_EQ(le16toh(h.num_buffers), 1);
}

// Only some of the offloads to the guest: each family gets what the guest
// took. Without GUEST_TSO6 a TCPV6 request is refused at the door
// (translators ask tso() first), TCPV4 and plain partial checksums pass;
// without GUEST_CSUM nothing does, whatever TSO bits the guest set.
TEST_F(FrontEnd, PartialGuestOffloadsPerFamily) {
	ASSERT_TRUE(start_device(~VIRTIO_NET_F_GUEST_TSO6));
	EXPECT_TRUE(be->offloads());
	EXPECT_TRUE(be->tso(false));
	EXPECT_FALSE(be->tso(true));
	for (uint16_t i = 0; i < 2; i++) {
		desc(RX, i, DATA + 0x1000 + 0x1000 * i, 0x1000, virtq::DESC_F_WRITE, 0);
		make_avail(RX, i);
	}
	auto f6 = tcp_frame(false, 1000), f4 = tcp_frame(true, 1000);
	TapFrame t6 = offload_req(f6, false, 500);
	EXPECT_EQ(be->send_frames({&t6, 1}), 0u);
	EXPECT_EQ(stats.out_dropped, 1u);
	EXPECT_EQ(used_idx(RX), 0);
	// A partial checksum alone is fine.
	const TapFrame both[] = {offload_req(f6, false, 0), offload_req(f4, true, 500)};
	EXPECT_EQ(be->send_frames(both), 2u);
	EXPECT_EQ(used_idx(RX), 2);
	VirtioNetHdr h;
	memcpy(&h, mem + DATA + 0x1000, 12);
	EXPECT_EQ(h.flags, vnet::F_NEEDS_CSUM);
	EXPECT_EQ(h.gso_type, vnet::GSO_NONE);
	memcpy(&h, mem + DATA + 0x2000, 12);
	EXPECT_EQ(h.gso_type, vnet::GSO_TCPV4);
	EXPECT_EQ(le16toh(h.gso_size), 500);
}

TEST_F(FrontEnd, NoGuestChecksumOffloadMeansNoTso) {
	ASSERT_TRUE(start_device(~VIRTIO_NET_F_GUEST_CSUM));
	EXPECT_FALSE(be->offloads());
	EXPECT_FALSE(be->tso(false));
	EXPECT_FALSE(be->tso(true));
	desc(RX, 0, DATA + 0x1000, 256, virtq::DESC_F_WRITE, 0);
	make_avail(RX, 0);
	auto f = tcp_frame(true, 100);
	TapFrame tf = offload_req(f, true, 0);
	EXPECT_EQ(be->send_frames({&tf, 1}), 0u); // refused at the door
	EXPECT_EQ(stats.out_dropped, 1u);
	EXPECT_EQ(used_idx(RX), 0);
}

// Zero copy (direct_begin()/direct_end()): what the back-end hands out.
namespace {

// Put n pattern bytes (value: first + i) into slot s's pieces, as a peek
// would, and its headers (hdr, 54 bytes of an IPv4 TCP frame) at s.hdr;
// then ask for the offloads of req (frame: the headers in place).
void fill_slot(TapDirectSlot &s, const iovec *iov, size_t n, size_t first,
	       const std::vector<std::byte> &hdr, TapFrame req) {
	for (size_t i = 0, done = 0; i < s.niov && done < n; i++) {
		const iovec &v = iov[s.iov_first + i];
		auto *b = static_cast<std::byte *>(v.iov_base);
		for (size_t k = 0; k < v.iov_len && done < n; k++, done++)
			b[k] = std::byte(first + done);
	}
	memcpy(s.hdr, hdr.data(), 54);
	req.frame = {s.hdr, 54};
	s.out = req;
	s.payload = n;
}

bool pattern_at(const std::byte *p, size_t n, size_t first) {
	for (size_t i = 0; i < n; i++)
		if (p[i] != std::byte(first + i))
			return false;
	return true;
}

} // namespace

// Mergeable buffers: the first frame spans three of them (headers in the
// first one's first piece, after the virtio-net header), the second needs
// two but fills one, which goes back, popped again by the next frame.
TEST_F(FrontEnd, DirectFramesAcrossMergedBuffers) {
	ASSERT_TRUE(start_device());
	const uint32_t lens[] = {128, 100, 100, 100, 200};
	for (uint16_t i = 0; i < 5; i++) {
		desc(RX, i, DATA + 0x1000 * (i + 1), lens[i], virtq::DESC_F_WRITE, 0);
		make_avail(RX, i);
	}
	TapDirectSlot slots[4];
	iovec iov[16];
	ASSERT_EQ(be->direct_begin(54, 250, 400, slots, iov), 2u);
	// (Pointers into the back-end's own map of guest memory.)
	EXPECT_EQ(slots[0].room, 250u);
	EXPECT_EQ(slots[0].niov, 3u);
	EXPECT_EQ(static_cast<std::byte *>(iov[0].iov_base), slots[0].hdr + 54);
	EXPECT_EQ(iov[0].iov_len, 62u);
	EXPECT_EQ(iov[2].iov_len, 88u); // the frame's room is full
	EXPECT_EQ(slots[1].iov_first, 3u);
	EXPECT_EQ(slots[1].room, 150u); // the budget's rest
	EXPECT_EQ(slots[1].hdr, slots[0].hdr + 0x3000);

	auto hdr = tcp_frame(true, 0);
	fill_slot(slots[0], iov, 250, 0, hdr, offload_req(hdr, true, 100));
	fill_slot(slots[1], iov, 20, 250, hdr, offload_req(hdr, true, 0));
	EXPECT_EQ(be->direct_end({slots, 2}), 2u);
	EXPECT_EQ(used_idx(RX), 4);
	EXPECT_EQ(be->queue(RX).last_avail(), 4); // the fifth buffer went back
	const uint32_t want_len[] = {128, 100, 88, 12 + 54 + 20};
	for (uint16_t i = 0; i < 4; i++) {
		EXPECT_EQ(used(RX, i).id, i);
		EXPECT_EQ(used(RX, i).len, want_len[i]);
	}
	VirtioNetHdr h;
	memcpy(&h, mem + DATA + 0x1000, 12);
	EXPECT_EQ(h.flags, vnet::F_NEEDS_CSUM);
	EXPECT_EQ(h.gso_type, vnet::GSO_TCPV4);
	EXPECT_EQ(le16toh(h.gso_size), 100);
	EXPECT_EQ(le16toh(h.csum_start), 34);
	EXPECT_EQ(le16toh(h.num_buffers), 3);
	memcpy(&h, mem + DATA + 0x4000, 12);
	EXPECT_EQ(h.flags, vnet::F_NEEDS_CSUM);
	EXPECT_EQ(h.gso_type, vnet::GSO_NONE);
	EXPECT_EQ(le16toh(h.num_buffers), 1);
	// What the guest reads: headers, then the payload in order.
	EXPECT_EQ(memcmp(mem + DATA + 0x1000 + 12, hdr.data(), 54), 0);
	EXPECT_TRUE(pattern_at(mem + DATA + 0x1000 + 66, 62, 0));
	EXPECT_TRUE(pattern_at(mem + DATA + 0x2000, 100, 62));
	EXPECT_TRUE(pattern_at(mem + DATA + 0x3000, 88, 162));
	EXPECT_TRUE(pattern_at(mem + DATA + 0x4000 + 66, 20, 250));
	EXPECT_EQ(stats.frames_out, 2u);
	EXPECT_EQ(stats.bytes_out, 54u + 250 + 54 + 20);
	EXPECT_EQ(be->vu_stats().rx_direct, 2u);
	EXPECT_EQ(be->vu_stats().rx_gso_frames, 1u);
	EXPECT_GE(calls(RX), 1u);

	// The buffer given back serves the next (copied) frame.
	EXPECT_TRUE(be->send_frame({hdr.data(), 54}));
	be->flush();
	EXPECT_EQ(used_idx(RX), 5);
	EXPECT_EQ(used(RX, 4).id, 4u);
}

// Nothing is reserved where zero copy can't work: a first buffer too small
// for the headers, no GUEST_CSUM, frames waiting for buffers; an empty
// direct_end() gives everything back, and the copy path takes over.
TEST_F(FrontEnd, DirectOnlyWhereItFits) {
	ASSERT_TRUE(start_device());
	TapDirectSlot slots[4];
	iovec iov[16];
	desc(RX, 0, DATA + 0x1000, 64, virtq::DESC_F_WRITE, 0); // < 12 + 54
	make_avail(RX, 0);
	EXPECT_EQ(be->direct_begin(54, 1000, 1000, slots, iov), 0u);
	EXPECT_EQ(be->queue(RX).last_avail(), 0);
	auto f = tcp_frame(true, 0);
	EXPECT_TRUE(be->send_frame({f.data(), 50}));
	be->flush();
	EXPECT_EQ(used_idx(RX), 1);

	desc(RX, 1, DATA + 0x2000, 256, virtq::DESC_F_WRITE, 0);
	make_avail(RX, 1);
	ASSERT_EQ(be->direct_begin(54, 1000, 1000, slots, iov), 1u);
	EXPECT_EQ(slots[0].room, 256u - 66);
	EXPECT_EQ(be->direct_end({}), 0u);
	be->flush();
	EXPECT_EQ(used_idx(RX), 1);
	EXPECT_EQ(be->queue(RX).last_avail(), 1);
	EXPECT_EQ(stats.out_dropped, 0u);

	// No buffer left: a frame waits, and zero copy stays off behind it.
	EXPECT_TRUE(be->send_frame({f.data(), 50}));
	EXPECT_TRUE(be->send_frame({f.data(), 50}));
	EXPECT_EQ(be->rx_waiting(), 1u);
	desc(RX, 2, DATA + 0x3000, 256, virtq::DESC_F_WRITE, 0);
	make_avail(RX, 2);
	EXPECT_EQ(be->direct_begin(54, 1000, 1000, slots, iov), 0u);
}

TEST_F(FrontEnd, NoDirectWithoutGuestChecksum) {
	ASSERT_TRUE(start_device(~(VIRTIO_NET_F_GUEST_CSUM | VHOST_F_LOG_ALL)));
	desc(RX, 0, DATA + 0x1000, 4096, virtq::DESC_F_WRITE, 0);
	make_avail(RX, 0);
	TapDirectSlot slots[1];
	iovec iov[4];
	EXPECT_EQ(be->direct_begin(54, 1000, 1000, slots, iov), 0u);
	EXPECT_EQ(be->queue(RX).last_avail(), 0);
}

// Without MRG_RXBUF a frame is one chain, which may have several pieces.
TEST_F(FrontEnd, DirectWithoutMergeableBuffers) {
	ASSERT_TRUE(start_device(~(VIRTIO_NET_F_MRG_RXBUF | VHOST_F_LOG_ALL)));
	desc(RX, 0, DATA + 0x1000, 80, virtq::DESC_F_WRITE | virtq::DESC_F_NEXT, 1);
	desc(RX, 1, DATA + 0x2000, 100, virtq::DESC_F_WRITE, 0);
	desc(RX, 2, DATA + 0x3000, 200, virtq::DESC_F_WRITE, 0);
	make_avail(RX, 0);
	make_avail(RX, 2);
	TapDirectSlot slots[4];
	iovec iov[16];
	ASSERT_EQ(be->direct_begin(54, 1000, 5000, slots, iov), 2u);
	EXPECT_EQ(slots[0].room, 14u + 100);
	EXPECT_EQ(slots[0].niov, 2u);
	EXPECT_EQ(slots[1].room, 200u - 66);
	auto hdr = tcp_frame(true, 0);
	fill_slot(slots[0], iov, 114, 0, hdr, offload_req(hdr, true, 0));
	fill_slot(slots[1], iov, 134, 114, hdr, offload_req(hdr, true, 0));
	EXPECT_EQ(be->direct_end({slots, 2}), 2u);
	EXPECT_EQ(used_idx(RX), 2);
	EXPECT_EQ(used(RX, 0).id, 0u);
	EXPECT_EQ(used(RX, 0).len, 180u);
	EXPECT_EQ(used(RX, 1).id, 2u);
	EXPECT_EQ(used(RX, 1).len, 200u);
	EXPECT_TRUE(pattern_at(mem + DATA + 0x1000 + 66, 14, 0));
	EXPECT_TRUE(pattern_at(mem + DATA + 0x2000, 100, 14));
	EXPECT_TRUE(pattern_at(mem + DATA + 0x3000 + 66, 134, 114));
	VirtioNetHdr h;
	memcpy(&h, mem + DATA + 0x3000, 12);
	EXPECT_EQ(le16toh(h.num_buffers), 1);
}

// A bad chain behind the reserved ones was already returned: the unused
// ones can't be popped again in order, so they go back empty, and a frame
// that does not match its reservation is refused (counted).
TEST_F(FrontEnd, DirectAfterABadChainAndAMismatch) {
	ASSERT_TRUE(start_device());
	desc(RX, 0, DATA + 0x1000, 200, virtq::DESC_F_WRITE, 0);
	desc(RX, 1, MEM_SIZE + 0x1000, 200, virtq::DESC_F_WRITE, 0); // outside memory
	make_avail(RX, 0);
	make_avail(RX, 1);
	TapDirectSlot slots[4];
	iovec iov[16];
	ASSERT_EQ(be->direct_begin(54, 100, 1000, slots, iov), 1u);
	auto hdr = tcp_frame(true, 0);
	fill_slot(slots[0], iov, 100, 0, hdr, offload_req(hdr, true, 0));
	slots[0].out.frame = {hdr.data(), 54}; // not the headers in place
	EXPECT_EQ(be->direct_end({slots, 1}), 0u);
	EXPECT_EQ(stats.out_dropped, 1u);
	EXPECT_EQ(stats.frames_out, 0u);
	be->flush();
	EXPECT_EQ(used_idx(RX), 2);
	EXPECT_EQ(used(RX, 0).id, 1u); // the bad chain, returned by pop()
	EXPECT_EQ(used(RX, 0).len, 0u);
	EXPECT_EQ(used(RX, 1).id, 0u);
	EXPECT_EQ(used(RX, 1).len, 0u);
	EXPECT_EQ(be->queue(RX).last_avail(), 2);
}

// TX headers: a malformed one drops its frame (counted, chain returned); a
// TCP GSO segment passes whole, its partial checksum left for the
// translator that won't verify it; without offloads to the guest (TCP then
// verifies) the checksum is completed.
TEST_F(FrontEnd, TxHeadersCheckedAndChecksumsCompleted) {
	ASSERT_TRUE(start_device());
	auto send_tx = [&](uint16_t id, const VirtioNetHdr &h, const std::vector<std::byte> &f) {
		std::byte *b = mem + DATA + 0x4000 * (id + 1);
		memcpy(b, &h, 12);
		memcpy(b + 12, f.data(), f.size());
		desc(TX, id, DATA + 0x4000 * (id + 1), uint32_t(12 + f.size()), 0, 0);
		make_avail(TX, id);
	};
	FramePool<16> pool(be->region());
	auto f = tcp_frame(true, 3000);
	const uint8_t NC = vnet::F_NEEDS_CSUM;
	send_tx(0, hdr_of(NC, vnet::GSO_UDP, 1000, 34, 6), f);
	EXPECT_EQ(be->read_batch(pool), 0);
	EXPECT_EQ(be->vu_stats().tx_bad_headers, 1u);
	EXPECT_EQ(stats.malformed, 1u);
	EXPECT_EQ(used_idx(TX), 1); // given back all the same

	send_tx(1, hdr_of(NC, vnet::GSO_TCPV4, 1448, 34, 16), f);
	ASSERT_EQ(be->read_batch(pool), 1);
	ASSERT_EQ(pool.get(0).size(), f.size());
	EXPECT_EQ(memcmp(pool.get(0).data(), f.data(), f.size()), 0); // left alone
	EXPECT_EQ(be->vu_stats().tx_gso_frames, 1u);
	EXPECT_EQ(be->vu_stats().tx_max_frame, f.size());
}

TEST_F(FrontEnd, TxPartialChecksumCompletedWithoutGuestOffloads) {
	ASSERT_TRUE(start_device(~GUEST_OFFLOADS));
	EXPECT_FALSE(be->offloads());
	auto f = tcp_frame(true, 500);
	const uint16_t seed = 0x1234; // the pseudo-header sum the driver left
	memcpy(&f[34 + 16], &seed, 2);
	be16 want;
	ASSERT_TRUE(tap_partial_csum(f, 34, 16, want));
	std::byte *b = mem + DATA + 0x4000;
	VirtioNetHdr h = hdr_of(vnet::F_NEEDS_CSUM, vnet::GSO_TCPV4, 100, 34, 16);
	memcpy(b, &h, 12);
	memcpy(b + 12, f.data(), f.size());
	desc(TX, 0, DATA + 0x4000, uint32_t(12 + f.size()), 0, 0);
	make_avail(TX, 0);
	FramePool<16> pool(be->region());
	ASSERT_EQ(be->read_batch(pool), 1);
	uint16_t field;
	memcpy(&field, pool.get(0).data() + 34 + 16, 2);
	EXPECT_EQ(field, want.raw);
	EXPECT_NE(field, seed);
}

// With the event index, an RX frame that found no buffer leaves avail_event
// at the guest's next buffer: its refill kicks us, and the frame goes out.
TEST_F(FrontEnd, EventIdxRxWaitGetsItsKick) {
	ASSERT_TRUE(start_device());
	ASSERT_TRUE(be->features() & VIRTIO_RING_F_EVENT_IDX);
	std::byte out[100] = {};
	EXPECT_TRUE(be->send_frame(out)); // no buffers: waits
	EXPECT_EQ(be->rx_waiting(), 1u);
	uint16_t ae;
	memcpy(&ae, mem + qoff(RX) + 0x2000 + 4 + 8 * QN, 2);
	EXPECT_EQ(ae, 0); // a kick for the first buffer added
	// The driver's rule: kick if avail->idx moves past avail_event.
	desc(RX, 0, DATA + 0x1000, 256, virtq::DESC_F_WRITE, 0);
	make_avail(RX, 0);
	EXPECT_TRUE(Virtqueue::event_crossed(ae, avail[RX], uint16_t(avail[RX] - 1)));
	uint64_t one = 1;
	ASSERT_EQ(write(kick[RX], &one, 8), 8);
	EpollRef ref{RefKind::VhostUserKick, kick[RX], RX};
	be->handle_event(ref, EPOLLIN);
	EXPECT_EQ(be->rx_waiting(), 0u);
	EXPECT_EQ(used_idx(RX), 1);
}

// ---- dirty page logging ("Migration" in vhost-user.rst) -------------------

TEST(DirtyLog, MarksEveryPageOfAWrite) {
	std::byte bm[4] = {};
	DirtyLog log;
	log.set_map(bm, sizeof(bm));
	log.mark(0x5000, 1); // off: nothing
	EXPECT_EQ(bm[0], std::byte(0));
	EXPECT_FALSE(log.take_marked());
	log.enable(true);
	log.mark(0x5000, 1);       // page 5
	log.mark(0x8fff, 2);       // pages 8 and 9
	log.mark(0x11000, 0x2000); // pages 17, 18 (not 19: the end is exclusive)
	log.mark(0x1f000, 0);      // nothing
	EXPECT_EQ(bm[0], std::byte(1 << 5));
	EXPECT_EQ(bm[1], std::byte(0x03));
	EXPECT_EQ(bm[2], std::byte(0x06));
	EXPECT_EQ(bm[3], std::byte(0));
	EXPECT_TRUE(log.take_marked());
	EXPECT_FALSE(log.take_marked());
	EXPECT_EQ(log.misses(), 0u);
}

TEST(DirtyLog, NeverWritesPastItsEnd) {
	std::byte bm[8] = {};
	DirtyLog log;
	log.set_map(bm, 2); // pages 0..15
	log.enable(true);
	log.mark(0xf000, 0x2000); // page 15 marked, 16 is past the end
	EXPECT_EQ(bm[1], std::byte(0x80));
	EXPECT_EQ(log.misses(), 1u);
	log.mark(0x10000, 8);
	log.mark(~0ULL - 4, 16); // wraps around
	EXPECT_EQ(log.misses(), 3u);
	for (size_t i = 2; i < sizeof(bm); i++)
		EXPECT_EQ(bm[i], std::byte(0)) << i;
	DirtyLog none; // logging on, but no map: counted, nothing written
	none.enable(true);
	none.mark(0, 1);
	EXPECT_EQ(none.misses(), 1u);
}

TEST_F(VqTest, UsedRingWritesAreLoggedAtLogGuestAddr) {
	std::byte bm[64] = {};
	DirtyLog log;
	log.set_map(bm, sizeof(bm));
	log.enable(true);
	// The used ring is logged where the front-end says it is (page 0x40),
	// whatever its address here.
	vq.set_log(&log, 0x40000);
	r.set_desc(0, FakeRing::GPA + FakeRing::DATA, 64, virtq::DESC_F_WRITE, 0);
	r.add_avail(0);
	ASSERT_EQ(vq.pop(chain), VqPop::Ok);
	EXPECT_EQ(chain.segs[0].gpa, FakeRing::GPA + FakeRing::DATA);
	for (auto b : bm)
		EXPECT_EQ(b, std::byte(0)); // reading is no write
	vq.push(chain.head, 10);
	EXPECT_EQ(bm[8], std::byte(1));
	bm[8] = std::byte(0);
	EXPECT_TRUE(vq.publish());
	EXPECT_EQ(bm[8], std::byte(1));
	bm[8] = std::byte(0);
	vq.set_event_idx(true);
	EXPECT_FALSE(vq.arm_kick()); // writes avail_event
	EXPECT_EQ(bm[8], std::byte(1));
	for (size_t i = 0; i < sizeof(bm); i++) {
		EXPECT_TRUE(i == 8 || bm[i] == std::byte(0)) << i;
	}
	// Without set_log() the used ring is not logged.
	bm[8] = std::byte(0);
	vq.set_log(nullptr, 0);
	r.add_avail(0);
	ASSERT_EQ(vq.pop(chain), VqPop::Ok);
	vq.push(chain.head, 10);
	vq.publish();
	EXPECT_EQ(bm[8], std::byte(0));
}

namespace {

constexpr size_t LOG_SIZE = MEM_SIZE / DirtyLog::PAGE / 8; // covers all of it

struct LogFrontEnd : FrontEnd {
	int logfd = -1;
	std::byte *bm = nullptr;
	void SetUp() override {
		FrontEnd::SetUp();
		logfd = memfd_create("log", MFD_CLOEXEC);
		ASSERT_GE(logfd, 0);
		ASSERT_EQ(ftruncate(logfd, 4096), 0);
		void *m = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, logfd, 0);
		ASSERT_NE(m, MAP_FAILED);
		bm = static_cast<std::byte *>(m);
	}
	void TearDown() override {
		FrontEnd::TearDown();
		if (bm)
			munmap(bm, 4096);
		if (logfd >= 0)
			close(logfd);
	}
	uint64_t set_log_base(uint64_t size, uint64_t off, bool fd = true, size_t len = 16) {
		uint64_t p[3] = {size, off, 0};
		EXPECT_EQ(cmd(SET_LOG_BASE, p, len, VERSION, fd ? &logfd : nullptr, fd ? 1 : 0), 0);
		return reply_u64(SET_LOG_BASE);
	}
	// qemu's SET_VRING_ADDR for a running queue q, with the log flag.
	void set_addr_log(unsigned q, bool on, uint64_t log_gpa) {
		uint32_t hdr[2] = {q, on ? VRING_F_LOG : 0};
		uint64_t a[4] = {UVA + qoff(q), UVA + qoff(q) + 0x2000, UVA + qoff(q) + 0x1000,
				 log_gpa};
		std::byte p[40];
		memcpy(p, hdr, 8);
		memcpy(p + 8, a, 32);
		EXPECT_EQ(cmd(SET_VRING_ADDR, p, 40), 0);
	}
	std::vector<size_t> marked_pages(size_t bytes = LOG_SIZE) {
		std::vector<size_t> v;
		for (size_t i = 0; i < bytes * 8; i++)
			if (uint8_t(bm[i / 8]) & (1U << (i % 8)))
				v.push_back(i);
		return v;
	}
	// One TX frame and one RX frame over two RX buffers, the second one
	// crossing a page boundary.
	void traffic() {
		std::byte frame[60] = {};
		frame[12] = std::byte(0x08);
		memcpy(mem + DATA, frame, 12); // header
		memcpy(mem + DATA + 12, frame, sizeof(frame));
		desc(TX, 0, DATA, 72, 0, 0);
		make_avail(TX, 0);
		FramePool<16> pool(be->region());
		ASSERT_EQ(be->read_batch(pool), 1);
		desc(RX, 0, 0x20000, 64, virtq::DESC_F_WRITE, 0);
		desc(RX, 1, 0x33ff0, 64, virtq::DESC_F_WRITE, 0); // pages 0x33, 0x34
		make_avail(RX, 0);
		make_avail(RX, 1);
		std::byte out[100];
		memset(out, 0x5a, sizeof(out));
		ASSERT_TRUE(be->send_frame(out));
		be->flush();
		ASSERT_EQ(used_idx(RX), 2);
	}
};

} // namespace

TEST_F(LogFrontEnd, OffersLogging) {
	EXPECT_TRUE(VhostUserBackend::FEATURES & VHOST_F_LOG_ALL);
	EXPECT_EQ(cmd(GET_PROTOCOL_FEATURES, nullptr, 0), 0);
	uint64_t pf = reply_u64(GET_PROTOCOL_FEATURES);
	EXPECT_TRUE(pf & PROTOCOL_F_LOG_SHMFD);
	EXPECT_FALSE(pf & PROTOCOL_F_DEVICE_STATE); // no handler
}

// What qemu does when a migration starts: the log, then VHOST_F_LOG_ALL,
// then the log flag on each running ring; the writes of a TX and an RX
// frame mark exactly the pages written: the RX buffers, and the used rings
// at their log_guest_addr.
TEST_F(LogFrontEnd, EveryWriteIsMarked) {
	ASSERT_TRUE(start_device(~0ULL, PROTOCOL_F_REPLY_ACK | PROTOCOL_F_LOG_SHMFD));
	EXPECT_EQ(set_log_base(LOG_SIZE, 0), 0u);
	EXPECT_EQ(
		cmd_u64(SET_FEATURES, be->features() | VHOST_F_LOG_ALL, VERSION | FLAG_NEED_REPLY),
		0);
	EXPECT_EQ(reply_u64(SET_FEATURES), 0u);
	// log_guest_addr: RX used ring "at" 0x80000, TX used ring at its GPA.
	set_addr_log(RX, true, 0x80000);
	set_addr_log(TX, true, qoff(TX) + 0x2000);
	EXPECT_TRUE(be->ready());
	EXPECT_TRUE(marked_pages().empty());
	traffic();
	std::vector<size_t> want = {0x6, 0x20, 0x33, 0x34, 0x80};
	EXPECT_EQ(marked_pages(), want);
	EXPECT_EQ(be->dirty_log().misses(), 0u);
	// The queues went on from where they were: nothing popped again.
	EXPECT_EQ(be->queue(TX).last_avail(), 1);
	EXPECT_EQ(be->queue(RX).last_avail(), 2);

	// The ring flag off: buffers are still logged, the used ring is not.
	memset(bm, 0, LOG_SIZE);
	set_addr_log(RX, false, 0x80000);
	desc(RX, 2, 0x40000, 200, virtq::DESC_F_WRITE, 0);
	make_avail(RX, 2);
	std::byte out[40] = {};
	ASSERT_TRUE(be->send_frame(out));
	be->flush();
	want = {0x40};
	EXPECT_EQ(marked_pages(), want);

	// VHOST_F_LOG_ALL off: nothing is marked any more.
	memset(bm, 0, LOG_SIZE);
	EXPECT_EQ(cmd_u64(SET_FEATURES, be->features() & ~VHOST_F_LOG_ALL), 0);
	set_addr_log(RX, false, 0);
	set_addr_log(TX, false, 0);
	make_avail(RX, 2);
	ASSERT_TRUE(be->send_frame(out));
	be->flush();
	EXPECT_EQ(used_idx(RX), 4);
	EXPECT_TRUE(marked_pages(4096).empty());
}

// Zero copy marks what the kernel and the translator wrote: every page of
// the frame's buffers (one crosses a page boundary), and the used ring.
TEST_F(LogFrontEnd, DirectFramesAreMarked) {
	ASSERT_TRUE(start_device(~0ULL, PROTOCOL_F_REPLY_ACK | PROTOCOL_F_LOG_SHMFD));
	EXPECT_EQ(set_log_base(LOG_SIZE, 0), 0u);
	EXPECT_EQ(cmd_u64(SET_FEATURES, be->features() | VHOST_F_LOG_ALL), 0);
	set_addr_log(RX, true, 0x80000);
	desc(RX, 0, 0x20000, 100, virtq::DESC_F_WRITE, 0);
	desc(RX, 1, 0x33ff0, 64, virtq::DESC_F_WRITE, 0); // pages 0x33, 0x34
	make_avail(RX, 0);
	make_avail(RX, 1);
	TapDirectSlot slots[2];
	iovec iov[8];
	ASSERT_EQ(be->direct_begin(54, 1000, 1000, slots, iov), 1u);
	EXPECT_EQ(slots[0].room, 34u + 64);
	auto hdr = tcp_frame(true, 0);
	fill_slot(slots[0], iov, 98, 0, hdr, offload_req(hdr, true, 0));
	// Nothing handed over yet: at most the used ring (avail_event, written
	// when the reservation found no more buffers).
	std::vector<size_t> before = marked_pages();
	EXPECT_TRUE(before.empty() || before == std::vector<size_t>{0x80});
	EXPECT_EQ(be->direct_end({slots, 1}), 1u);
	std::vector<size_t> want = {0x20, 0x33, 0x34, 0x80};
	EXPECT_EQ(marked_pages(), want);
	EXPECT_EQ(be->dirty_log().misses(), 0u);
}

// The log's offset in its fd, and a log too small for the guest: bits past
// its end are never written, and counted.
TEST_F(LogFrontEnd, LogOffsetAndBounds) {
	ASSERT_TRUE(start_device(~0ULL, PROTOCOL_F_REPLY_ACK | PROTOCOL_F_LOG_SHMFD));
	EXPECT_EQ(set_log_base(4, 16), 0u); // pages 0..31, from byte 16 of the fd
	EXPECT_EQ(cmd_u64(SET_FEATURES, be->features() | VHOST_F_LOG_ALL), 0);
	set_addr_log(RX, true, qoff(RX) + 0x2000);
	set_addr_log(TX, true, qoff(TX) + 0x2000);
	traffic();                        // RX buffers at pages 0x20.. are past the end
	EXPECT_EQ(uint8_t(bm[16]), 0x44); // pages 2 and 6, the used rings
	for (size_t i = 0; i < 4096; i++) {
		EXPECT_TRUE(i == 16 || bm[i] == std::byte(0)) << i;
	}
	// Each write into the two RX buffers: header, frame and num_buffers
	// into the first one, the rest of the frame into the second.
	EXPECT_EQ(be->dirty_log().misses(), 4u);
}

TEST_F(LogFrontEnd, LogFdSignalledWhenPagesWereMarked) {
	ASSERT_TRUE(start_device(~0ULL, PROTOCOL_F_REPLY_ACK | PROTOCOL_F_LOG_SHMFD));
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_GE(efd, 0);
	EXPECT_EQ(cmd(SET_LOG_FD, nullptr, 0, VERSION | FLAG_NEED_REPLY, &efd, 1), 0);
	EXPECT_EQ(reply_u64(SET_LOG_FD), 0u);
	EXPECT_EQ(set_log_base(LOG_SIZE, 0), 0u);
	EXPECT_EQ(cmd_u64(SET_FEATURES, be->features() | VHOST_F_LOG_ALL), 0);
	uint64_t v = 0;
	EXPECT_LT(read(efd, &v, 8), 0); // nothing yet
	traffic();
	EXPECT_EQ(read(efd, &v, 8), 8);
	EXPECT_GE(v, 1u);
	close(efd);
}

TEST_F(LogFrontEnd, MalformedLogRequests) {
	// Without LOG_SHMFD SET_LOG_BASE is refused and, as no reply is due
	// then, gets none but a REPLY_ACK one.
	ASSERT_TRUE(start_device());
	uint64_t p[2] = {LOG_SIZE, 0};
	EXPECT_EQ(cmd(SET_LOG_BASE, p, 16, VERSION | FLAG_NEED_REPLY, &logfd, 1), 0);
	EXPECT_NE(reply_u64(SET_LOG_BASE), 0u);
	EXPECT_FALSE(pending_reply());
	EXPECT_EQ(cmd_u64(SET_PROTOCOL_FEATURES, PROTOCOL_F_REPLY_ACK | PROTOCOL_F_LOG_SHMFD), 0);
	EXPECT_NE(set_log_base(LOG_SIZE, 0, false), 0u);      // no fd
	EXPECT_NE(set_log_base(LOG_SIZE, 0, true, 8), 0u);    // short
	EXPECT_NE(set_log_base(LOG_SIZE, 0, true, 24), 0u);   // long
	EXPECT_NE(set_log_base(0, 0), 0u);                    // empty
	EXPECT_NE(set_log_base(~0ULL, 4096), 0u);             // wraps
	EXPECT_NE(set_log_base(4096, uint64_t(1) << 47), 0u); // absurd
	EXPECT_FALSE(pending_reply());
	// SET_LOG_FD wants one fd and no payload.
	EXPECT_EQ(cmd(SET_LOG_FD, nullptr, 0, VERSION | FLAG_NEED_REPLY), 0);
	EXPECT_NE(reply_u64(SET_LOG_FD), 0u);
	EXPECT_EQ(cmd_u64(SET_LOG_FD, 0, VERSION | FLAG_NEED_REPLY, logfd), 0);
	EXPECT_NE(reply_u64(SET_LOG_FD), 0u);
	// Still a working device, logging to no map: misses only.
	EXPECT_EQ(cmd_u64(SET_FEATURES, be->features() | VHOST_F_LOG_ALL), 0);
	traffic();
	EXPECT_GT(be->dirty_log().misses(), 0u);
}

// ---- device state transfer ("Migrating back-end state") -------------------

namespace {

struct FakeMigration : MigrationHandler {
	std::vector<std::string> calls;
	std::string out = "state of the daemon";
	std::string in;
	int save_rc = 0, load_rc = 0;
	bool was_blocking = false;
	int peer = -1;              // the front-end's end of the control socket
	bool replied_first = false; // the reply was there when the save began
	int migrate_save(int fd) override {
		calls.push_back("save");
		was_blocking = !(fcntl(fd, F_GETFL) & O_NONBLOCK);
		pollfd p = {peer, POLLIN, 0};
		replied_first = poll(&p, 1, 0) == 1;
		if (write(fd, out.data(), out.size()) != ssize_t(out.size()))
			return -EIO;
		return save_rc;
	}
	int migrate_load(int fd) override {
		calls.push_back("load");
		was_blocking = !(fcntl(fd, F_GETFL) & O_NONBLOCK);
		char b[64];
		ssize_t n;
		while ((n = read(fd, b, sizeof(b))) > 0)
			in.append(b, size_t(n));
		return n < 0 ? -errno : load_rc;
	}
	void migrate_checked(bool save, int status) override {
		calls.push_back(std::string(save ? "checked save " : "checked load ") +
				std::to_string(status));
	}
	void migrate_resumed() override { calls.push_back("resumed"); }
};

struct StateFrontEnd : FrontEnd {
	FakeMigration h;
	int pipefd[2] = {-1, -1};
	void SetUp() override {
		FrontEnd::SetUp();
		be->set_migration_handler(&h);
		h.peer = sv[1];
		ASSERT_EQ(pipe2(pipefd, O_CLOEXEC | O_NONBLOCK), 0);
	}
	void TearDown() override {
		FrontEnd::TearDown();
		for (int fd : pipefd)
			if (fd >= 0)
				close(fd);
	}
	void stop_queues() {
		for (uint32_t q = 0; q < 2; q++) {
			uint32_t st[2] = {q, 0};
			EXPECT_EQ(cmd(GET_VRING_BASE, st, 8), 0);
			EXPECT_EQ(read_reply().request, GET_VRING_BASE);
		}
		EXPECT_FALSE(be->ready());
	}
	// SET_DEVICE_STATE_FD with fd (the pipe end, which the test keeps
	// too: the back-end gets a copy), payload of len bytes.
	uint64_t set_state_fd(uint32_t dir, uint32_t phase, int fd, size_t len = 8,
			      uint32_t flags = VERSION) {
		uint32_t p[3] = {dir, phase, 0};
		EXPECT_EQ(cmd(SET_DEVICE_STATE_FD, p, len, flags, fd >= 0 ? &fd : nullptr,
			      fd >= 0 ? 1 : 0),
			  0);
		return reply_u64(SET_DEVICE_STATE_FD);
	}
	uint64_t check(size_t len = 0) {
		uint64_t z = 0;
		EXPECT_EQ(cmd(CHECK_DEVICE_STATE, &z, len), 0);
		return reply_u64(CHECK_DEVICE_STATE);
	}
	// Everything the pipe's read end holds, once the writers are gone.
	std::string drain(int fd) {
		std::string s;
		char b[64];
		ssize_t n;
		while ((n = read(fd, b, sizeof(b))) > 0)
			s.append(b, size_t(n));
		EXPECT_EQ(n, 0) << "a write end is still open";
		return s;
	}
	bool restart_queues() {
		int r = 0;
		for (unsigned q = 0; q < 2; q++)
			r = cmd_u64(SET_VRING_KICK, q, VERSION, kick[q]);
		return r == 1 && be->ready();
	}
};

constexpr uint64_t OK_NOFD = VRING_NOFD; // success, no fd of ours

bool failed_nofd(uint64_t v) { return (v & 0xff) && (v & VRING_NOFD); }

} // namespace

TEST_F(StateFrontEnd, OfferedWithAHandler) {
	EXPECT_EQ(cmd(GET_PROTOCOL_FEATURES, nullptr, 0), 0);
	EXPECT_TRUE(reply_u64(GET_PROTOCOL_FEATURES) & PROTOCOL_F_DEVICE_STATE);
}

// The source: stopped queues, the state written to the front-end's pipe
// after the reply, the pipe closed, CHECK_DEVICE_STATE reports success;
// then qemu resumes the guest here: migrate_resumed() before Ready.
TEST_F(StateFrontEnd, SaveCheckResume) {
	ASSERT_TRUE(start_device(~0ULL, ~0ULL));
	EXPECT_TRUE(be->protocol_features() & PROTOCOL_F_DEVICE_STATE);
	stop_queues();
	EXPECT_EQ(set_state_fd(TRANSFER_SAVE, PHASE_STOPPED, pipefd[1]), OK_NOFD);
	std::vector<std::string> want = {"save"};
	EXPECT_EQ(h.calls, want);
	EXPECT_TRUE(h.was_blocking);
	EXPECT_TRUE(h.replied_first); // qemu reads the pipe only after the reply
	close(pipefd[1]);
	pipefd[1] = -1;
	EXPECT_EQ(drain(pipefd[0]), h.out); // whole, and closed by the back-end
	EXPECT_EQ(check(), 0u);
	want.push_back("checked save 0");
	EXPECT_EQ(h.calls, want);
	EXPECT_TRUE(restart_queues());
	want.push_back("resumed");
	EXPECT_EQ(h.calls, want);
	// Once only: stopping and starting again is no new resume.
	stop_queues();
	EXPECT_TRUE(restart_queues());
	EXPECT_EQ(h.calls, want);
}

TEST_F(StateFrontEnd, FailedSaveIsReportedAndNotResumed) {
	ASSERT_TRUE(start_device(~0ULL, ~0ULL));
	stop_queues();
	h.save_rc = -ENOSPC;
	EXPECT_EQ(set_state_fd(TRANSFER_SAVE, PHASE_STOPPED, pipefd[1]), OK_NOFD);
	EXPECT_NE(check(), 0u);
	std::vector<std::string> want = {"save", "checked save " + std::to_string(-ENOSPC)};
	EXPECT_EQ(h.calls, want);
	EXPECT_TRUE(restart_queues());
	EXPECT_EQ(h.calls, want);
}

// The target: the stream qemu wrote (and closed) is read to its end.
TEST_F(StateFrontEnd, LoadThenCheck) {
	ASSERT_TRUE(start_device(~0ULL, ~0ULL));
	stop_queues();
	const std::string stream(3000, 'x');
	ASSERT_EQ(write(pipefd[1], stream.data(), stream.size()), ssize_t(stream.size()));
	close(pipefd[1]);
	pipefd[1] = -1;
	EXPECT_EQ(set_state_fd(TRANSFER_LOAD, PHASE_STOPPED, pipefd[0]), OK_NOFD);
	EXPECT_EQ(h.in, stream);
	EXPECT_TRUE(h.was_blocking); // our pipe end is non-blocking: theirs is not
	EXPECT_EQ(check(), 0u);
	std::vector<std::string> want = {"load", "checked load 0"};
	EXPECT_EQ(h.calls, want);
	EXPECT_TRUE(restart_queues());
	EXPECT_EQ(h.calls, want); // no resume on a target
}

// Refusals: each gets the u64 reply with an error and the invalid FD flag,
// runs no handler and keeps no descriptor.
TEST_F(StateFrontEnd, RefusedTransfers) {
	ASSERT_TRUE(start_device(~0ULL, ~0ULL));
	// Queues running: the device is not suspended.
	EXPECT_TRUE(failed_nofd(set_state_fd(TRANSFER_SAVE, PHASE_STOPPED, pipefd[1])));
	stop_queues();
	EXPECT_TRUE(failed_nofd(set_state_fd(2, PHASE_STOPPED, pipefd[1])));
	EXPECT_TRUE(failed_nofd(set_state_fd(~0U, PHASE_STOPPED, pipefd[1])));
	EXPECT_TRUE(failed_nofd(set_state_fd(TRANSFER_SAVE, 1, pipefd[1])));
	EXPECT_TRUE(failed_nofd(set_state_fd(TRANSFER_LOAD, 7, pipefd[0])));
	EXPECT_TRUE(failed_nofd(set_state_fd(TRANSFER_SAVE, PHASE_STOPPED, -1)));
	EXPECT_TRUE(failed_nofd(set_state_fd(TRANSFER_SAVE, PHASE_STOPPED, pipefd[1], 4)));
	EXPECT_TRUE(failed_nofd(set_state_fd(TRANSFER_SAVE, PHASE_STOPPED, pipefd[1], 12)));
	EXPECT_TRUE(failed_nofd(set_state_fd(TRANSFER_SAVE, PHASE_STOPPED, pipefd[1], 0)));
	// With NEED_REPLY too, still exactly one reply.
	EXPECT_TRUE(failed_nofd(
		set_state_fd(2, PHASE_STOPPED, pipefd[1], 8, VERSION | FLAG_NEED_REPLY)));
	EXPECT_FALSE(pending_reply());
	// Nothing to check yet; CHECK with a payload.
	EXPECT_NE(check(), 0u);
	EXPECT_TRUE(h.calls.empty());
	// No copy of the write end was kept: the read end sees end of file.
	close(pipefd[1]);
	pipefd[1] = -1;
	EXPECT_EQ(drain(pipefd[0]), "");

	// A second transfer while the first waits for its check.
	int p2[2];
	ASSERT_EQ(pipe2(p2, O_CLOEXEC), 0);
	EXPECT_EQ(set_state_fd(TRANSFER_SAVE, PHASE_STOPPED, p2[1]), OK_NOFD);
	EXPECT_TRUE(failed_nofd(set_state_fd(TRANSFER_SAVE, PHASE_STOPPED, p2[1])));
	EXPECT_NE(check(8), 0u); // malformed CHECK changes nothing
	EXPECT_EQ(check(), 0u);
	std::vector<std::string> want = {"save", "checked save 0"};
	EXPECT_EQ(h.calls, want);
	close(p2[1]);
	EXPECT_EQ(drain(p2[0]), h.out);
	close(p2[0]);
	EXPECT_EQ(be->vu_stats().bad_messages, 13u);
}

TEST_F(StateFrontEnd, NotNegotiated) {
	ASSERT_TRUE(start_device()); // REPLY_ACK only
	stop_queues();
	EXPECT_TRUE(failed_nofd(set_state_fd(TRANSFER_SAVE, PHASE_STOPPED, pipefd[1])));
	EXPECT_NE(check(), 0u);
	EXPECT_TRUE(h.calls.empty());
}

TEST_F(FrontEnd, NoHandlerNoDeviceState) {
	EXPECT_EQ(cmd_u64(SET_PROTOCOL_FEATURES, PROTOCOL_F_DEVICE_STATE), 0); // refused
	EXPECT_EQ(be->protocol_features(), 0u);
	uint32_t p[2] = {TRANSFER_SAVE, PHASE_STOPPED};
	int fds[2];
	ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
	EXPECT_EQ(cmd(SET_DEVICE_STATE_FD, p, 8, VERSION, &fds[1], 1), 0);
	uint64_t v = reply_u64(SET_DEVICE_STATE_FD);
	EXPECT_TRUE((v & 0xff) && (v & VRING_NOFD));
	close(fds[0]);
	close(fds[1]);
}
