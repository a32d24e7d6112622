// TCP translation on the tap path: the state machine, driven by crafted
// guest frames through tcp_tap_input() and observed through a fake
// TapOutput, against real sockets on the loopback interface (the gateway
// address 192.0.2.1 / 2001:db8::1 maps to 127.0.0.1 / ::1). Frames are
// built and checked here with a checksum written for the test, so the code
// under test is not checked against itself.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "passt/core/epoll.h"
#include "passt/flow/flow.h"
#include "passt/tcp/tcp.h"

using namespace passt;

namespace {

using Bytes = std::vector<std::byte>;

const MacAddr GUEST_MAC{{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}};
const MacAddr OUR_MAC{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};

Ipv4Addr v4(const char *s) { return *Ipv4Addr::parse(s); }
Ipv6Addr v6(const char *s) { return *Ipv6Addr::parse(s); }

const InAny GUEST4 = v4("192.0.2.2"), GW4 = v4("192.0.2.1");
const InAny GUEST6 = v6("2001:db8::2"), GW6 = v6("2001:db8::1");

namespace fl {
constexpr uint8_t FIN = 1, SYN = 2, RST = 4, PSH = 8, ACK = 16;
}

// --- Independent frame building and checking --------------------------------

uint32_t sum16(const std::byte *p, size_t n, uint32_t acc = 0) {
	for (size_t i = 0; i + 1 < n; i += 2)
		acc += uint32_t(uint8_t(p[i])) << 8 | uint8_t(p[i + 1]);
	if (n & 1)
		acc += uint32_t(uint8_t(p[n - 1])) << 8;
	return acc;
}
uint16_t fold(uint32_t acc) {
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return uint16_t(~acc);
}
void put16(Bytes &b, size_t off, uint16_t v) {
	b[off] = std::byte(v >> 8);
	b[off + 1] = std::byte(v);
}
void put32(Bytes &b, size_t off, uint32_t v) {
	put16(b, off, uint16_t(v >> 16));
	put16(b, off + 2, uint16_t(v));
}
uint16_t get16(const Bytes &b, size_t off) {
	return uint16_t(uint16_t(uint8_t(b[off])) << 8 | uint8_t(b[off + 1]));
}
uint32_t get32(const Bytes &b, size_t off) {
	return uint32_t(get16(b, off)) << 16 | get16(b, off + 2);
}
const std::byte *addr_bytes(const InAny &a) {
	return reinterpret_cast<const std::byte *>(a.is_v4() ? a.a.b.data() + 12 : a.a.b.data());
}

// Pseudo-header sum for TCP over src/dst.
uint32_t pseudo(const InAny &s, const InAny &d, uint32_t len) {
	size_t al = s.is_v4() ? 4 : 16;
	uint32_t acc = sum16(addr_bytes(s), al);
	acc = sum16(addr_bytes(d), al, acc);
	return acc + (len >> 16) + (len & 0xffff) + 6;
}

struct SegSpec {
	InAny src = GUEST4, dst = GW4;
	uint16_t sport = 40000, dport = 0;
	uint32_t seq = 0, ack = 0;
	uint8_t flags = fl::ACK;
	uint16_t wnd = 65535;
	std::optional<uint16_t> mss;
	std::optional<uint8_t> ws;
	std::string payload;
	bool bad_csum = false;
};

Bytes make_seg(const SegSpec &s) {
	bool is4 = s.src.is_v4();
	size_t iphl = is4 ? 20 : 40;
	size_t optlen = (s.mss ? 4 : 0) + (s.ws ? 4 : 0);
	size_t thl = 20 + optlen;
	size_t l4 = thl + s.payload.size();
	Bytes f(14 + iphl + l4);
	std::memcpy(f.data(), OUR_MAC.b.data(), 6);
	std::memcpy(f.data() + 6, GUEST_MAC.b.data(), 6);
	put16(f, 12, is4 ? 0x0800 : 0x86dd);
	size_t ip = 14, t = 14 + iphl;
	if (is4) {
		f[ip] = std::byte(0x45);
		put16(f, ip + 2, uint16_t(20 + l4));
		f[ip + 6] = std::byte(0x40);
		f[ip + 8] = std::byte(64);
		f[ip + 9] = std::byte(6);
		std::memcpy(f.data() + ip + 12, addr_bytes(s.src), 4);
		std::memcpy(f.data() + ip + 16, addr_bytes(s.dst), 4);
		put16(f, ip + 10, fold(sum16(f.data() + ip, 20)));
	} else {
		f[ip] = std::byte(0x60);
		put16(f, ip + 4, uint16_t(l4));
		f[ip + 6] = std::byte(6);
		f[ip + 7] = std::byte(64);
		std::memcpy(f.data() + ip + 8, addr_bytes(s.src), 16);
		std::memcpy(f.data() + ip + 24, addr_bytes(s.dst), 16);
	}
	put16(f, t, s.sport);
	put16(f, t + 2, s.dport);
	put32(f, t + 4, s.seq);
	put32(f, t + 8, s.ack);
	f[t + 12] = std::byte(uint8_t((thl / 4) << 4));
	f[t + 13] = std::byte(s.flags);
	put16(f, t + 14, s.wnd);
	size_t o = t + 20;
	if (s.mss) {
		f[o] = std::byte(2);
		f[o + 1] = std::byte(4);
		put16(f, o + 2, *s.mss);
		o += 4;
	}
	if (s.ws) {
		f[o] = std::byte(1);
		f[o + 1] = std::byte(3);
		f[o + 2] = std::byte(3);
		f[o + 3] = std::byte(*s.ws);
		o += 4;
	}
	std::memcpy(f.data() + o, s.payload.data(), s.payload.size());
	uint16_t c = fold(sum16(f.data() + t, l4, pseudo(s.src, s.dst, uint32_t(l4))));
	put16(f, t + 16, s.bad_csum ? uint16_t(c ^ 0x5555) : c);
	return f;
}

// A frame we got, parsed and verified.
struct OutSeg {
	InAny src, dst;
	uint16_t sport = 0, dport = 0;
	uint32_t seq = 0, ack = 0;
	uint8_t flags = 0;
	uint16_t wnd = 0;
	std::optional<uint16_t> mss;
	std::optional<uint8_t> ws;
	std::string payload;
	uint32_t flow_label = 0;
};

// Parse and check a frame for the guest; nullopt (with a gtest failure) if wrong.
std::optional<OutSeg> parse_out(const Bytes &f) {
	OutSeg o;
	EXPECT_GE(f.size(), 54u);
	if (f.size() < 54)
		return std::nullopt;
	EXPECT_EQ(0, std::memcmp(f.data(), GUEST_MAC.b.data(), 6));
	EXPECT_EQ(0, std::memcmp(f.data() + 6, OUR_MAC.b.data(), 6));
	uint16_t et = get16(f, 12);
	size_t t, l4;
	if (et == 0x0800) {
		EXPECT_EQ(uint8_t(f[14]), 0x45);
		EXPECT_EQ(fold(sum16(f.data() + 14, 20)), 0) << "IPv4 header checksum";
		EXPECT_EQ(uint8_t(f[23]), 6);
		EXPECT_EQ(get16(f, 16), f.size() - 14);
		Ipv4Addr s, d;
		std::memcpy(s.b.data(), f.data() + 26, 4);
		std::memcpy(d.b.data(), f.data() + 30, 4);
		o.src = s;
		o.dst = d;
		t = 34;
	} else {
		EXPECT_EQ(et, 0x86dd);
		EXPECT_EQ(uint8_t(f[14]) >> 4, 6);
		EXPECT_EQ(uint8_t(f[20]), 6);
		EXPECT_EQ(get16(f, 18), f.size() - 54);
		o.flow_label = get32(f, 14) & 0xfffff;
		Ipv6Addr s, d;
		std::memcpy(s.b.data(), f.data() + 22, 16);
		std::memcpy(d.b.data(), f.data() + 38, 16);
		o.src = s;
		o.dst = d;
		t = 54;
	}
	l4 = f.size() - t;
	EXPECT_EQ(fold(sum16(f.data() + t, l4, pseudo(o.src, o.dst, uint32_t(l4)))), 0)
		<< "TCP checksum";
	o.sport = get16(f, t);
	o.dport = get16(f, t + 2);
	o.seq = get32(f, t + 4);
	o.ack = get32(f, t + 8);
	size_t thl = size_t(uint8_t(f[t + 12]) >> 4) * 4;
	o.flags = uint8_t(f[t + 13]);
	o.wnd = get16(f, t + 14);
	for (size_t i = t + 20; i < t + thl;) {
		uint8_t k = uint8_t(f[i]);
		if (k == 0)
			break;
		if (k == 1) {
			i++;
			continue;
		}
		uint8_t len = uint8_t(f[i + 1]);
		if (k == 2 && len == 4)
			o.mss = get16(f, i + 2);
		if (k == 3 && len == 3)
			o.ws = uint8_t(f[i + 2]);
		i += len ? len : 1;
	}
	o.payload.assign(reinterpret_cast<const char *>(f.data() + t + thl), l4 - thl);
	return o;
}

class FakeTap final : public TapOutput {
public:
	bool send_frame(std::span<const std::byte> frame) override {
		frames.emplace_back(frame.begin(), frame.end());
		return true;
	}
	void flush() override {
		if (hook)
			run_flush_hook();
	}
	bool runs_flush_hook() const override { return hook; }
	bool offloads() const override { return offload; }
	bool tso(bool v6) const override { return offload && (v6 ? tso6 : tso4); }
	size_t send_frames(std::span<const TapFrame> fs) override {
		EXPECT_FALSE(open) << "a frame sent while a reservation is open";
		if (!offload)
			return TapOutput::send_frames(fs);
		size_t sent = 0;
		for (const TapFrame &f : fs) {
			if (!offloads_ok(f)) {
				refused++;
				continue;
			}
			frames.emplace_back(f.frame.begin(), f.frame.end());
			meta.push_back(f);
			sent++;
		}
		return sent;
	}
	// Zero copy (with direct and offload): the "guest buffers" lent are
	// pieces of PIECE bytes with gaps between them, at most direct_left
	// frames in all (then none: the copy path); direct_end() records the
	// frames as send_frames() does, gathered from the pieces.
	static constexpr size_t PIECE = 700, GAP = 8;
	size_t direct_begin(size_t hdr_len, size_t payload, size_t budget,
			    std::span<TapDirectSlot> slots, std::span<iovec> iov) override {
		EXPECT_FALSE(open) << "a reservation was left open";
		if (!direct || !offload)
			return 0;
		size_t n = 0, k = 0;
		for (; n < slots.size() && n < MAX_SLOTS && budget && direct_left;
		     n++, direct_left--) {
			const size_t want = std::min(payload, budget);
			const size_t pieces = (want + PIECE - 1) / PIECE;
			if (k + pieces > iov.size())
				break;
			Bytes &b = lent[n];
			b.assign(hdr_len + pieces * (PIECE + GAP), std::byte{0xee});
			TapDirectSlot &sl = slots[n];
			sl = TapDirectSlot{};
			sl.hdr = b.data();
			sl.iov_first = k;
			sl.room = want;
			for (size_t i = 0; i < pieces; i++)
				iov[k++] = iovec{b.data() + hdr_len + i * (PIECE + GAP),
						 std::min(PIECE, want - i * PIECE)};
			sl.niov = pieces;
			budget -= want;
		}
		open = n > 0;
		lent_hdr = hdr_len;
		return n;
	}
	size_t direct_end(std::span<const TapDirectSlot> used) override {
		EXPECT_TRUE(open || used.empty());
		open = false;
		if (used.empty())
			empty_ends++;
		size_t sent = 0;
		for (const TapDirectSlot &u : used) {
			EXPECT_EQ(u.out.frame.data(), u.hdr);
			EXPECT_EQ(u.out.frame.size(), lent_hdr);
			EXPECT_LE(u.payload, u.room);
			if (!offloads_ok(u.out)) {
				refused++;
				break;
			}
			Bytes f(u.hdr, u.hdr + lent_hdr);
			for (size_t i = 0, left = u.payload; left; i++) {
				const std::byte *p = u.hdr + lent_hdr + i * (PIECE + GAP);
				const size_t l = std::min(PIECE, left);
				f.insert(f.end(), p, p + l);
				left -= l;
			}
			frames.push_back(std::move(f));
			meta.push_back(u.out);
			direct_frames++;
			sent++;
		}
		return sent;
	}

	std::vector<Bytes> frames;
	std::vector<TapFrame> meta; // with offload: the requests, frame spans stale
	size_t refused = 0;         // asked for offloads it lacks
	bool offload = false;
	bool tso4 = true, tso6 = true; // with offload
	bool hook = false;
	bool direct = false; // lend buffers (zero copy), with offload
	size_t direct_left = SIZE_MAX;
	size_t direct_frames = 0, empty_ends = 0;
	bool open = false; // a reservation is open

private:
	static constexpr size_t MAX_SLOTS = 128;
	Bytes lent[MAX_SLOTS];
	size_t lent_hdr = 0;
};

Config test_config() {
	Config c;
	c.our_tap_mac = OUR_MAC;
	c.mtu = 1500;
	c.ip4.addr = GUEST4.v4();
	c.ip4.gw = GW4.v4();
	c.ip4.map_host_loopback = c.ip4.gw;
	c.ip6.addr = GUEST6.v6();
	c.ip6.gw = GW6.v6();
	c.ip6.map_host_loopback = c.ip6.gw;
	return c;
}

timespec mono() {
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts;
}

// A listening socket on loopback, ephemeral port.
struct Listener {
	int fd = -1;
	uint16_t port = 0;
	explicit Listener(bool six = false) {
		fd = socket(six ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		sockaddr_storage ss{};
		socklen_t l;
		if (six) {
			auto *a = reinterpret_cast<sockaddr_in6 *>(&ss);
			a->sin6_family = AF_INET6;
			a->sin6_addr = in6addr_loopback;
			l = sizeof(*a);
		} else {
			auto *a = reinterpret_cast<sockaddr_in *>(&ss);
			a->sin_family = AF_INET;
			a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			l = sizeof(*a);
		}
		if (bind(fd, reinterpret_cast<sockaddr *>(&ss), l) < 0 || listen(fd, 16) < 0)
			return;
		l = sizeof(ss);
		getsockname(fd, reinterpret_cast<sockaddr *>(&ss), &l);
		port = ntohs(six ? reinterpret_cast<sockaddr_in6 *>(&ss)->sin6_port
				 : reinterpret_cast<sockaddr_in *>(&ss)->sin_port);
	}
	~Listener() { close(fd); }
	// accept() with a timeout; -1 if nothing came.
	int accept_ms(int ms) const {
		pollfd p{fd, POLLIN, 0};
		if (poll(&p, 1, ms) != 1)
			return -1;
		return accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
	}
};

// n bytes of the alphabet, over and over.
std::string letters(size_t n) {
	std::string s(n, 'a');
	for (size_t i = 0; i < n; i++)
		s[i] = char('a' + i % 26);
	return s;
}

// Read what's there within ms; "" on timeout, "<err:N>" on error, "<eof>".
std::string read_ms(int fd, int ms) {
	pollfd p{fd, POLLIN, 0};
	if (poll(&p, 1, ms) != 1)
		return "";
	char buf[65536];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0)
		return "<err:" + std::to_string(errno) + ">";
	if (n == 0)
		return "<eof>";
	return std::string(buf, size_t(n));
}

class TcpTapTest : public ::testing::Test {
protected:
	Config c = test_config();
	TapState tap;
	FakeTap out;
	EventLoop loop;
	FlowTable flows;
	TcpCtx ctx{c, tap, out, loop, flows};
	bool inited = false;

	void SetUp() override {
		tap.guest_mac = GUEST_MAC;
		tap.guest_mac_seen = true;
	}
	void init(uint32_t capacity = 64) {
		ASSERT_EQ(loop.init(), 0);
		ASSERT_EQ(flows.init(capacity), 0);
		ASSERT_EQ(tcp_init(ctx), 0);
		inited = true;
	}
	void TearDown() override {
		if (inited)
			tcp_fini(ctx);
	}

	bool input(const SegSpec &s) {
		Bytes f = make_seg(s);
		return tcp_tap_input(ctx, std::span<std::byte>(f), mono());
	}
	// Run the loop until n more frames are out or ~3 s passed.
	bool wait_frames(size_t n) {
		size_t want = out.frames.size() + n;
		for (int i = 0; i < 60 && out.frames.size() < want; i++)
			loop.run_once(50);
		return out.frames.size() >= want;
	}
	// Run the loop for ms without expecting anything.
	void spin(int ms) {
		for (int i = 0; i < ms / 10; i++)
			loop.run_once(10);
	}
	OutSeg last() {
		auto o = parse_out(out.frames.back());
		return o ? *o : OutSeg{};
	}

	// Complete an outbound handshake to l; returns the accepted socket and
	// fills our ISN + 1 (the next sequence from pasta).
	struct Conn {
		int sock = -1;
		uint32_t gseq = 0; // guest's next sequence
		uint32_t pseq = 0; // pasta's next sequence
		uint16_t sport = 0, dport = 0;
		InAny src, dst;
	};
	Conn open(const Listener &l, bool six = false, std::optional<uint8_t> ws = 7,
		  uint16_t sport = 40000) {
		Conn k;
		k.sport = sport;
		k.dport = l.port;
		k.src = six ? GUEST6 : GUEST4;
		k.dst = six ? GW6 : GW4;
		SegSpec s{k.src, k.dst, sport, l.port, 1000, 0, fl::SYN, 65535, 1460, ws, ""};
		EXPECT_TRUE(input(s));
		EXPECT_TRUE(wait_frames(1));
		OutSeg sa = last();
		EXPECT_EQ(sa.flags, fl::SYN | fl::ACK);
		EXPECT_EQ(sa.ack, 1001u);
		k.gseq = 1001;
		k.pseq = sa.seq + 1;
		SegSpec a{k.src, k.dst, sport, l.port, k.gseq, k.pseq, fl::ACK, 1000, {}, {}, ""};
		EXPECT_TRUE(input(a));
		k.sock = l.accept_ms(2000);
		EXPECT_GE(k.sock, 0);
		return k;
	}
	SegSpec seg(const Conn &k, uint8_t flags, std::string payload = "", uint16_t wnd = 1000) {
		return SegSpec{k.src, k.dst, k.sport, k.dport,           k.gseq, k.pseq, flags,
			       wnd,   {},    {},      std::move(payload)};
	}
};

TEST_F(TcpTapTest, HandshakeAndDataBothWaysIpv4) {
	init();
	Listener l;
	ASSERT_GT(l.port, 0);
	SegSpec syn{GUEST4, GW4, 40000, l.port, 1000, 0, fl::SYN, 65535, 1460, 7, ""};
	ASSERT_TRUE(input(syn));
	ASSERT_EQ(flows.in_use(), 1u);
	ASSERT_TRUE(wait_frames(1));
	OutSeg sa = last();
	EXPECT_EQ(sa.flags, fl::SYN | fl::ACK);
	EXPECT_EQ(sa.src, GW4);
	EXPECT_EQ(sa.dst, GUEST4);
	EXPECT_EQ(sa.sport, l.port);
	EXPECT_EQ(sa.dport, 40000);
	EXPECT_EQ(sa.ack, 1001u);
	ASSERT_TRUE(sa.mss.has_value());
	EXPECT_EQ(*sa.mss, 1460); // MTU 1500 - 40
	ASSERT_TRUE(sa.ws.has_value());
	EXPECT_EQ(*sa.ws, TCP_OUR_WSCALE);

	// Guest ACK: established; the host sees the connection.
	SegSpec ack{GUEST4, GW4, 40000, l.port, 1001, sa.seq + 1, fl::ACK, 1000, {}, {}, ""};
	ASSERT_TRUE(input(ack));
	int s = l.accept_ms(2000);
	ASSERT_GE(s, 0);

	// Guest -> host, acknowledged.
	size_t before = out.frames.size();
	SegSpec d = ack;
	d.flags = fl::ACK | fl::PSH;
	d.payload = "hello";
	ASSERT_TRUE(input(d));
	EXPECT_EQ(read_ms(s, 2000), "hello");
	ASSERT_GT(out.frames.size(), before);
	EXPECT_EQ(last().ack, 1006u);
	EXPECT_GT(last().wnd, 0);

	// Host -> guest.
	ASSERT_EQ(write(s, "world!", 6), 6);
	ASSERT_TRUE(wait_frames(1));
	OutSeg w = last();
	EXPECT_EQ(w.payload, "world!");
	EXPECT_EQ(w.seq, sa.seq + 1);
	EXPECT_EQ(w.ack, 1006u);
	EXPECT_TRUE(w.flags & fl::ACK);
	close(s);
}

TEST_F(TcpTapTest, HandshakeIpv6HasFlowLabel) {
	init();
	Listener l(true);
	ASSERT_GT(l.port, 0);
	Conn k = open(l, true);
	ASSERT_GE(k.sock, 0);
	OutSeg sa = parse_out(out.frames[0]).value_or(OutSeg{});
	EXPECT_EQ(sa.src, GW6);
	EXPECT_EQ(sa.dst, GUEST6);
	EXPECT_EQ(*sa.mss, 1440); // 1500 - 60
	EXPECT_NE(sa.flow_label, 0u);
	ASSERT_TRUE(input(seg(k, fl::ACK | fl::PSH, "six")));
	EXPECT_EQ(read_ms(k.sock, 2000), "six");
	close(k.sock);
}

TEST_F(TcpTapTest, RefusedConnectionIsReset) {
	init();
	uint16_t port;
	{
		Listener l; // bind, learn a free port, close
		port = l.port;
	}
	SegSpec syn{GUEST4, GW4, 40001, port, 5000, 0, fl::SYN, 65535, 1460, {}, ""};
	ASSERT_TRUE(input(syn));
	ASSERT_TRUE(wait_frames(1));
	OutSeg r = last();
	EXPECT_EQ(r.flags, fl::RST | fl::ACK);
	EXPECT_EQ(r.ack, 5001u);
	spin(50);
	EXPECT_EQ(flows.in_use(), 0u);
}

TEST_F(TcpTapTest, DuplicateSyn) {
	init();
	Listener l;
	SegSpec syn{GUEST4, GW4, 40002, l.port, 7000, 0, fl::SYN, 65535, 1460, 7, ""};
	ASSERT_TRUE(input(syn));
	ASSERT_TRUE(input(syn)); // while connecting: ignored, same flow
	EXPECT_EQ(flows.in_use(), 1u);
	ASSERT_TRUE(wait_frames(1));
	spin(50);
	ASSERT_EQ(out.frames.size(), 1u);
	OutSeg sa = last();
	// After the SYN-ACK: the same SYN-ACK again.
	ASSERT_TRUE(input(syn));
	ASSERT_EQ(out.frames.size(), 2u);
	OutSeg sa2 = last();
	EXPECT_EQ(sa2.flags, fl::SYN | fl::ACK);
	EXPECT_EQ(sa2.seq, sa.seq);
	EXPECT_EQ(sa2.ack, 7001u);
	EXPECT_EQ(flows.in_use(), 1u);
}

TEST_F(TcpTapTest, RstWhileConnecting) {
	init();
	Listener l;
	SegSpec syn{GUEST4, GW4, 40003, l.port, 100, 0, fl::SYN, 65535, 1460, {}, ""};
	ASSERT_TRUE(input(syn));
	SegSpec rst = syn;
	rst.flags = fl::RST;
	rst.seq = 101;
	ASSERT_TRUE(input(rst));
	EXPECT_EQ(flows.in_use(), 0u);
	spin(50);
	EXPECT_TRUE(out.frames.empty());
}

TEST_F(TcpTapTest, RstAfterSynAck) {
	init();
	Listener l;
	SegSpec syn{GUEST4, GW4, 40004, l.port, 100, 0, fl::SYN, 65535, 1460, {}, ""};
	ASSERT_TRUE(input(syn));
	ASSERT_TRUE(wait_frames(1));
	int s = l.accept_ms(2000); // the host side is connected already
	ASSERT_GE(s, 0);
	SegSpec rst = syn;
	rst.flags = fl::RST;
	rst.seq = 101;
	ASSERT_TRUE(input(rst));
	EXPECT_EQ(flows.in_use(), 0u);
	EXPECT_EQ(read_ms(s, 2000), "<err:" + std::to_string(ECONNRESET) + ">");
	close(s);
}

TEST_F(TcpTapTest, RstEstablishedResetsHostAndOutOfWindowRstIsIgnored) {
	init();
	Listener l;
	Conn k = open(l);
	ASSERT_GE(k.sock, 0);
	// An RST far outside the window is ignored.
	SegSpec bad = seg(k, fl::RST);
	bad.seq = k.gseq + 50000000;
	ASSERT_TRUE(input(bad));
	EXPECT_EQ(flows.in_use(), 1u);
	ASSERT_TRUE(input(seg(k, fl::RST)));
	EXPECT_EQ(flows.in_use(), 0u);
	EXPECT_EQ(read_ms(k.sock, 2000), "<err:" + std::to_string(ECONNRESET) + ">");
	close(k.sock);
}

TEST_F(TcpTapTest, HostResetBecomesRst) {
	init();
	Listener l;
	Conn k = open(l);
	ASSERT_GE(k.sock, 0);
	linger lg{1, 0};
	setsockopt(k.sock, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(k.sock);
	ASSERT_TRUE(wait_frames(1));
	EXPECT_TRUE(last().flags & fl::RST);
	EXPECT_EQ(flows.in_use(), 0u);
}

// passt: when qemu disconnects, its connections are reset on the host side
// at once (not left to time out), with no frame for the absent guest, and
// the listeners keep accepting for the next guest.
TEST_F(TcpTapTest, GuestGoneResetsHostSockets) {
	init();
	Listener l;
	Conn a = open(l);
	Conn b = open(l, false, 7, 40001);
	ASSERT_GE(a.sock, 0);
	ASSERT_GE(b.sock, 0);
	ASSERT_EQ(flows.in_use(), 2u);
	size_t before = out.frames.size();
	tcp_drop_guest_flows(ctx);
	EXPECT_EQ(flows.in_use(), 0u);
	EXPECT_EQ(out.frames.size(), before);
	EXPECT_EQ(read_ms(a.sock, 2000), "<err:" + std::to_string(ECONNRESET) + ">");
	EXPECT_EQ(read_ms(b.sock, 2000), "<err:" + std::to_string(ECONNRESET) + ">");
	close(a.sock);
	close(b.sock);
	// A new guest connects as usual.
	Conn c = open(l, false, 7, 40002);
	ASSERT_GE(c.sock, 0);
	EXPECT_EQ(flows.in_use(), 1u);
	close(c.sock);
}

TEST_F(TcpTapTest, OutOfWindowAndOldData) {
	init();
	Listener l;
	Conn k = open(l);
	ASSERT_GE(k.sock, 0);
	// Far ahead: not written, duplicate ACK of what we have.
	SegSpec ahead = seg(k, fl::ACK, "future");
	ahead.seq = k.gseq + 1000000;
	size_t n = out.frames.size();
	ASSERT_TRUE(input(ahead));
	ASSERT_EQ(out.frames.size(), n + 1);
	EXPECT_EQ(last().ack, k.gseq);
	EXPECT_EQ(read_ms(k.sock, 200), "");
	// In order.
	ASSERT_TRUE(input(seg(k, fl::ACK, "abcdef")));
	EXPECT_EQ(read_ms(k.sock, 2000), "abcdef");
	EXPECT_EQ(last().ack, k.gseq + 6);
	// Entirely old (a retransmission): only an ACK.
	ASSERT_TRUE(input(seg(k, fl::ACK, "abcdef")));
	EXPECT_EQ(last().ack, k.gseq + 6);
	EXPECT_EQ(read_ms(k.sock, 200), "");
	// Overlapping: only the new part goes out.
	SegSpec ov = seg(k, fl::ACK, "defghi");
	ov.seq = k.gseq + 3;
	ASSERT_TRUE(input(ov));
	EXPECT_EQ(read_ms(k.sock, 2000), "ghi");
	EXPECT_EQ(last().ack, k.gseq + 9);
	// A keepalive probe (seq - 1, no data): ACKed, flow stays.
	SegSpec ka = seg(k, fl::ACK);
	ka.seq = k.gseq + 8;
	n = out.frames.size();
	ASSERT_TRUE(input(ka));
	ASSERT_EQ(out.frames.size(), n + 1);
	EXPECT_EQ(last().ack, k.gseq + 9);
	EXPECT_EQ(flows.in_use(), 1u);
	close(k.sock);
}

TEST_F(TcpTapTest, ZeroWindowHoldsDataUntilUpdate) {
	init();
	Listener l;
	Conn k = open(l);
	ASSERT_GE(k.sock, 0);
	ASSERT_TRUE(input(seg(k, fl::ACK, "", 0))); // guest window closed
	size_t n = out.frames.size();
	ASSERT_EQ(write(k.sock, "pending", 7), 7);
	spin(200);
	EXPECT_EQ(out.frames.size(), n) << "data sent into a zero window";
	ASSERT_TRUE(input(seg(k, fl::ACK, "", 10))); // window update
	ASSERT_GE(out.frames.size(), n + 1);
	EXPECT_EQ(last().payload, "pending");
	close(k.sock);
}

TEST_F(TcpTapTest, WindowScalingLimitsData) {
	init();
	Listener l;
	Conn k = open(l, false, 2); // guest window scale 2
	ASSERT_GE(k.sock, 0);
	ASSERT_TRUE(input(seg(k, fl::ACK, "", 100))); // 100 << 2 = 400 bytes
	// Our window field is scaled by TCP_OUR_WSCALE: never above the buffer.
	EXPECT_LE(uint32_t(last().wnd) << TCP_OUR_WSCALE, 64u << 20);
	std::string big(1000, 'x');
	ASSERT_EQ(write(k.sock, big.data(), big.size()), 1000);
	ASSERT_TRUE(wait_frames(1));
	spin(100);
	size_t sent = 0;
	for (const Bytes &f : out.frames) {
		auto o = parse_out(f);
		if (o && !o->payload.empty())
			sent += o->payload.size();
	}
	EXPECT_EQ(sent, 400u);
	// The guest acknowledges the 400 bytes: the rest comes.
	SegSpec a = seg(k, fl::ACK, "", 1000);
	a.ack = k.pseq + 400;
	ASSERT_TRUE(input(a));
	EXPECT_EQ(last().payload.size(), 600u);
	EXPECT_EQ(last().seq, k.pseq + 400);
	close(k.sock);
}

TEST_F(TcpTapTest, NoWindowScalingWithoutGuestOption) {
	init();
	Listener l;
	SegSpec syn{GUEST4, GW4, 40005, l.port, 1, 0, fl::SYN, 65535, 1460, {}, ""};
	ASSERT_TRUE(input(syn));
	ASSERT_TRUE(wait_frames(1));
	EXPECT_FALSE(last().ws.has_value());
}

TEST_F(TcpTapTest, HalfCloseBothWays) {
	init();
	Listener l;
	Conn k = open(l);
	ASSERT_GE(k.sock, 0);
	ASSERT_TRUE(input(seg(k, fl::ACK | fl::FIN, "bye")));
	EXPECT_EQ(read_ms(k.sock, 2000), "bye");
	EXPECT_EQ(read_ms(k.sock, 2000), "<eof>");
	EXPECT_EQ(last().ack, k.gseq + 4);
	k.gseq += 4;
	// The host still talks, then closes: data, then FIN.
	ASSERT_EQ(write(k.sock, "reply", 5), 5);
	ASSERT_TRUE(wait_frames(1));
	EXPECT_EQ(last().payload, "reply");
	close(k.sock);
	ASSERT_TRUE(wait_frames(1));
	EXPECT_TRUE(last().flags & fl::FIN);
	EXPECT_EQ(last().seq, k.pseq + 5);
	EXPECT_EQ(flows.in_use(), 1u);
	SegSpec a = seg(k, fl::ACK);
	a.ack = k.pseq + 6;
	ASSERT_TRUE(input(a));
	EXPECT_EQ(flows.in_use(), 0u);
}

TEST_F(TcpTapTest, MalformedAndUnmatched) {
	init();
	SegSpec s{GUEST4, GW4, 40006, 9, 1, 77, fl::ACK, 100, {}, {}, "x"};
	Bytes f = make_seg(s);
	// Truncated at every length: dropped, nothing sent.
	for (size_t len = 0; len < f.size(); len++) {
		Bytes t(f.begin(), f.begin() + long(len));
		tcp_tap_input(ctx, std::span<std::byte>(t), mono());
	}
	s.bad_csum = true;
	Bytes b = make_seg(s);
	EXPECT_FALSE(tcp_tap_input(ctx, std::span<std::byte>(b), mono()));
	EXPECT_TRUE(out.frames.empty());
	// Valid but for no flow: RST with seq = its ACK.
	s.bad_csum = false;
	ASSERT_TRUE(input(s));
	ASSERT_EQ(out.frames.size(), 1u);
	EXPECT_EQ(last().flags, fl::RST);
	EXPECT_EQ(last().seq, 77u);
	// An RST for no flow: nothing.
	s.flags = fl::RST;
	ASSERT_TRUE(input(s));
	EXPECT_EQ(out.frames.size(), 1u);
}

TEST_F(TcpTapTest, FlowTableFullResets) {
	init(1);
	Listener l;
	Conn k = open(l);
	ASSERT_GE(k.sock, 0);
	SegSpec syn{GUEST4, GW4, 40100, l.port, 1, 0, fl::SYN, 65535, 1460, {}, ""};
	ASSERT_TRUE(input(syn));
	EXPECT_EQ(last().flags, fl::RST | fl::ACK);
	EXPECT_EQ(last().ack, 2u);
	close(k.sock);
}

TEST_F(TcpTapTest, InboundForwardedPort) {
	uint16_t port;
	{
		Listener probe;
		port = probe.port;
	}
	PortRule r;
	r.first = r.last = port;
	r.to_first = 8080;
	r.bind_addr = InAny(Ipv4Addr::loopback());
	c.tcp_in.kind = PortForward::Kind::Spec;
	c.tcp_in.rules.push_back(r);
	init();
	ASSERT_EQ(ctx.listeners.size(), 1u);

	int cl = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sockaddr_in sa{};
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_EQ(connect(cl, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)), 0);
	ASSERT_TRUE(wait_frames(1));
	OutSeg syn = last();
	EXPECT_EQ(syn.flags, fl::SYN);
	EXPECT_EQ(syn.src, GW4); // loopback appears as the gateway
	EXPECT_EQ(syn.dst, GUEST4);
	EXPECT_EQ(syn.dport, 8080);
	ASSERT_TRUE(syn.mss.has_value());
	ASSERT_TRUE(syn.ws.has_value());

	SegSpec sa2{GUEST4, GW4,  8080, syn.sport, 9000, syn.seq + 1, fl::SYN | fl::ACK,
		    65535,  1460, 3,    ""};
	ASSERT_TRUE(input(sa2));
	EXPECT_EQ(last().flags, fl::ACK);
	EXPECT_EQ(last().ack, 9001u);
	ASSERT_EQ(write(cl, "in", 2), 2);
	ASSERT_TRUE(wait_frames(1));
	EXPECT_EQ(last().payload, "in");
	SegSpec d{GUEST4, GW4, 8080, syn.sport, 9001, syn.seq + 3, fl::ACK, 1000, {}, {}, "out"};
	ASSERT_TRUE(input(d));
	EXPECT_EQ(read_ms(cl, 2000), "out");
	// The guest resets: the host client sees it.
	SegSpec rst = d;
	rst.flags = fl::RST;
	rst.payload = "";
	rst.seq = 9004;
	ASSERT_TRUE(input(rst));
	EXPECT_EQ(read_ms(cl, 2000), "<err:" + std::to_string(ECONNRESET) + ">");
	close(cl);
}

TEST_F(TcpTapTest, InboundRstInSynSent) {
	uint16_t port;
	{
		Listener probe;
		port = probe.port;
	}
	PortRule r;
	r.first = r.last = port;
	r.to_first = port;
	r.bind_addr = InAny(Ipv4Addr::loopback());
	c.tcp_in.kind = PortForward::Kind::Spec;
	c.tcp_in.rules.push_back(r);
	init();
	int cl = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sockaddr_in sa{};
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_EQ(connect(cl, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)), 0);
	ASSERT_TRUE(wait_frames(1));
	OutSeg syn = last();
	// Wrong ACK in an RST: ignored.
	SegSpec rst{GUEST4, GW4, port, syn.sport, 0, syn.seq + 7, fl::RST | fl::ACK, 0, {}, {}, ""};
	ASSERT_TRUE(input(rst));
	EXPECT_EQ(flows.in_use(), 1u);
	rst.ack = syn.seq + 1;
	ASSERT_TRUE(input(rst));
	EXPECT_EQ(flows.in_use(), 0u);
	EXPECT_EQ(read_ms(cl, 2000), "<err:" + std::to_string(ECONNRESET) + ">");
	close(cl);
}

TEST_F(TcpTapTest, GsoFramesWithOffloads) {
	out.offload = true;
	init();
	Listener l;
	Conn k = open(l); // guest MSS 1460
	ASSERT_GE(k.sock, 0);
	ASSERT_TRUE(input(seg(k, fl::ACK, "", 60000))); // window 60000 << 7
	out.frames.clear();
	out.meta.clear();
	const std::string data = letters(10000);
	ASSERT_EQ(write(k.sock, data.data(), data.size()), ssize_t(data.size()));
	ASSERT_TRUE(wait_frames(1));
	spin(50);
	ASSERT_EQ(out.frames.size(), 1u);
	const TapFrame &m = out.meta[0];
	EXPECT_EQ(m.gso_type, 1); // VIRTIO_NET_HDR_GSO_TCPV4
	EXPECT_EQ(m.gso_size, 1460);
	EXPECT_TRUE(m.needs_csum);
	EXPECT_EQ(m.csum_start, 34);
	EXPECT_EQ(m.csum_offset, 16);
	EXPECT_EQ(m.hdr_len, 54);
	// Complete the checksum as the kernel would, then check it all.
	Bytes f = out.frames[0];
	uint32_t acc = sum16(f.data() + 34, f.size() - 34);
	put16(f, 34 + 16, fold(acc));
	auto o = parse_out(f);
	ASSERT_TRUE(o);
	EXPECT_EQ(o->payload, data);
	EXPECT_EQ(o->seq, k.pseq);
	// Small frames carry a full checksum even with offloads.
	out.frames.clear();
	out.meta.clear();
	SegSpec a = seg(k, fl::ACK, "", 60000);
	a.ack = k.pseq + 10000;
	ASSERT_TRUE(input(a));
	ASSERT_EQ(write(k.sock, "tiny", 4), 4);
	ASSERT_TRUE(wait_frames(1));
	EXPECT_EQ(out.meta.back().gso_type, 0);
	EXPECT_FALSE(out.meta.back().needs_csum);
	EXPECT_EQ(last().payload, "tiny");
	close(k.sock);
}

// A backend that segments IPv4 only (a vhost-user guest without
// GUEST_TSO6): IPv4 flows get 64 KiB frames, IPv6 ones one MSS per frame
// with full checksums, and nothing is asked for that the backend lacks.
TEST_F(TcpTapTest, GsoOnlyForTheFamilyTheBackendSegments) {
	out.offload = true;
	out.tso6 = false;
	init();
	Listener l4, l6(true);
	Conn k4 = open(l4), k6 = open(l6, true);
	ASSERT_GE(k4.sock, 0);
	ASSERT_GE(k6.sock, 0);
	ASSERT_TRUE(input(seg(k4, fl::ACK, "", 60000)));
	ASSERT_TRUE(input(seg(k6, fl::ACK, "", 60000)));
	const std::string data = letters(10000);

	out.frames.clear();
	out.meta.clear();
	ASSERT_EQ(write(k6.sock, data.data(), data.size()), ssize_t(data.size()));
	ASSERT_TRUE(wait_frames(7)); // 10000 bytes, MSS 1460
	spin(50);
	ASSERT_EQ(out.frames.size(), 7u);
	std::string got;
	for (size_t i = 0; i < out.frames.size(); i++) {
		EXPECT_EQ(out.meta[i].gso_type, 0);
		EXPECT_FALSE(out.meta[i].needs_csum);
		auto o = parse_out(out.frames[i]); // checksums verified
		ASSERT_TRUE(o);
		EXPECT_LE(o->payload.size(), 1460u);
		got += o->payload;
	}
	EXPECT_EQ(got, data);

	out.frames.clear();
	out.meta.clear();
	ASSERT_EQ(write(k4.sock, data.data(), data.size()), ssize_t(data.size()));
	ASSERT_TRUE(wait_frames(1));
	spin(50);
	ASSERT_EQ(out.frames.size(), 1u);
	EXPECT_EQ(out.meta[0].gso_type, 1); // TCPV4
	EXPECT_TRUE(out.meta[0].needs_csum);
	EXPECT_EQ(out.refused, 0u);
	close(k4.sock);
	close(k6.sock);
}

// Zero copy: a backend that lends guest buffers (here in pieces of 700
// bytes) gets the payload peeked straight into them, and only the headers
// written: the frames are the copy path's, partial checksums and GSO where
// the backend segments, byte-exact, in sequence. Once it lends no more, the
// copy path goes on from there; with nothing to read, the buffers go back.
TEST_F(TcpTapTest, ZeroCopyIntoLentBuffers) {
	out.offload = true;
	out.tso6 = false;
	out.direct = true;
	init();
	Listener l4, l6(true);
	Conn k4 = open(l4), k6 = open(l6, true);
	ASSERT_GE(k4.sock, 0);
	ASSERT_GE(k6.sock, 0);
	ASSERT_TRUE(input(seg(k4, fl::ACK, "", 60000)));
	ASSERT_TRUE(input(seg(k6, fl::ACK, "", 60000)));
	const std::string data = letters(10000);
	auto complete = [](Bytes f, size_t start) {
		put16(f, start + 16, fold(sum16(f.data() + start, f.size() - start)));
		return f;
	};

	// IPv4, segmented: one GSO frame, its payload in 15 pieces.
	out.frames.clear();
	out.meta.clear();
	ASSERT_EQ(write(k4.sock, data.data(), data.size()), ssize_t(data.size()));
	ASSERT_TRUE(wait_frames(1));
	spin(50);
	ASSERT_EQ(out.frames.size(), 1u);
	EXPECT_EQ(out.direct_frames, 1u);
	const TapFrame &m = out.meta[0];
	EXPECT_EQ(m.gso_type, 1); // TCPV4
	EXPECT_EQ(m.gso_size, 1460);
	EXPECT_TRUE(m.needs_csum);
	EXPECT_EQ(m.csum_start, 34);
	EXPECT_EQ(m.csum_offset, 16);
	EXPECT_EQ(m.hdr_len, 54);
	auto o = parse_out(complete(out.frames[0], 34));
	ASSERT_TRUE(o);
	EXPECT_EQ(o->payload, data);
	EXPECT_EQ(o->seq, k4.pseq);
	EXPECT_TRUE(o->flags & fl::PSH);

	// IPv6, not segmented: one MSS a frame, 3 of them lent, the other 4
	// copied (full checksums).
	out.frames.clear();
	out.meta.clear();
	out.direct_left = 3;
	ASSERT_EQ(write(k6.sock, data.data(), data.size()), ssize_t(data.size()));
	ASSERT_TRUE(wait_frames(7));
	spin(50);
	ASSERT_EQ(out.frames.size(), 7u);
	EXPECT_EQ(out.direct_frames, 4u);
	std::string got;
	for (size_t i = 0; i < out.frames.size(); i++) {
		EXPECT_EQ(out.meta[i].gso_type, 0);
		EXPECT_EQ(out.meta[i].needs_csum, i < 3) << "frame " << i;
		auto oi = parse_out(out.meta[i].needs_csum ? complete(out.frames[i], 54)
							   : out.frames[i]);
		ASSERT_TRUE(oi);
		EXPECT_EQ(oi->seq, k6.pseq + uint32_t(got.size())) << "frame " << i;
		EXPECT_LE(oi->payload.size(), 1460u); // the guest's MSS
		got += oi->payload;
	}
	EXPECT_EQ(got, data);
	EXPECT_EQ(out.refused, 0u);

	// An ACK for all of it: the last peek found all the socket held and
	// nothing came since, so no peek (no buffers lent for one).
	out.direct_left = SIZE_MAX;
	const size_t ends = out.empty_ends;
	SegSpec a = seg(k6, fl::ACK, "", 60000);
	a.ack = k6.pseq + uint32_t(data.size());
	ASSERT_TRUE(input(a));
	EXPECT_EQ(out.empty_ends, ends);
	EXPECT_FALSE(out.open);
	// The host peer closes: the peek that finds the end gives its lent
	// buffers back, and our FIN follows.
	ASSERT_EQ(shutdown(k6.sock, SHUT_WR), 0);
	ASSERT_TRUE(wait_frames(1));
	EXPECT_GT(out.empty_ends, ends);
	EXPECT_FALSE(out.open);
	EXPECT_TRUE(last().flags & fl::FIN);
	EXPECT_EQ(last().seq, k6.pseq + uint32_t(data.size()));
	close(k4.sock);
	close(k6.sock);
}

TEST_F(TcpTapTest, RetransmitOnTimeoutAndDuplicateAcks) {
	init();
	EXPECT_FALSE(ctx.loop.timers().armed(ctx.timer)); // no flow: no wake-ups
	Listener l;
	Conn k = open(l);
	ASSERT_GE(k.sock, 0);
	EXPECT_TRUE(ctx.loop.timers().armed(ctx.timer));
	ASSERT_EQ(write(k.sock, "0123456789", 10), 10);
	ASSERT_TRUE(wait_frames(1));
	EXPECT_EQ(last().payload, "0123456789");
	// No ACK from the guest: after the RTO the data comes again.
	timespec later = mono();
	later.tv_sec += 2;
	size_t n = out.frames.size();
	tcp_timer(ctx, later);
	ASSERT_EQ(out.frames.size(), n + 1);
	EXPECT_EQ(last().payload, "0123456789");
	EXPECT_EQ(last().seq, k.pseq);
	// Part of it acknowledged, then three duplicate ACKs: the rest again.
	SegSpec a = seg(k, fl::ACK, "", 1000);
	a.ack = k.pseq + 4;
	ASSERT_TRUE(input(a));
	ASSERT_EQ(write(k.sock, "ab", 2), 2);
	ASSERT_TRUE(wait_frames(1));
	EXPECT_EQ(last().payload, "ab");
	n = out.frames.size();
	ASSERT_TRUE(input(a));
	ASSERT_TRUE(input(a));
	EXPECT_EQ(out.frames.size(), n);
	ASSERT_TRUE(input(a));
	ASSERT_EQ(out.frames.size(), n + 1);
	EXPECT_EQ(last().payload, "456789ab");
	EXPECT_EQ(last().seq, k.pseq + 4);
	// The guest closes its window, a timeout rewinds (nothing can be
	// sent), then a late ACK for all of it comes: taken as is, no resend.
	SegSpec z = a;
	z.wnd = 0;
	ASSERT_TRUE(input(z));
	timespec t2 = mono();
	t2.tv_sec += 2;
	n = out.frames.size();
	tcp_timer(ctx, t2);
	EXPECT_EQ(out.frames.size(), n);
	a.ack = k.pseq + 12;
	ASSERT_TRUE(input(a));
	spin(50);
	for (size_t i = n; i < out.frames.size(); i++)
		EXPECT_EQ(parse_out(out.frames[i]).value_or(OutSeg{}).payload, "");
	ASSERT_EQ(write(k.sock, "cd", 2), 2);
	ASSERT_TRUE(wait_frames(1));
	EXPECT_EQ(last().payload, "cd");
	EXPECT_EQ(last().seq, k.pseq + 12);
	// The guest keeps quiet for good: reset after TCP_MAX_RETRANS timeouts.
	for (unsigned i = 0; i <= TCP_MAX_RETRANS + 1 && flows.in_use(); i++) {
		later.tv_sec += 600;
		tcp_timer(ctx, later);
	}
	EXPECT_EQ(flows.in_use(), 0u);
	EXPECT_TRUE(last().flags & fl::RST);
	EXPECT_FALSE(ctx.loop.timers().armed(ctx.timer)); // the last one gone: asleep
	close(k.sock);
}

// The timer sleeps until the earliest deadline of its flows, not for a
// fixed period: an idle established connection costs nothing until its
// idle timeout, and data in flight brings the retransmission deadline.
TEST_F(TcpTapTest, TimerSleepsUntilTheEarliestDeadline) {
	init();
	Listener l;
	Conn k = open(l);
	ASSERT_GE(k.sock, 0);
	Timers &timers = ctx.loop.timers();
	ASSERT_TRUE(timers.armed(ctx.timer));
	// Idle (nothing in flight, not half-closed): next run at the idle
	// timeout, at least an hour away.
	timespec now = mono();
	tcp_timer(ctx, now);
	ASSERT_EQ(flows.in_use(), 1u);
	EXPECT_GT(timers.next_timeout_ms(now), int(3600 * 1000));
	// Data to the guest, not acknowledged: the RTO is due.
	ASSERT_EQ(write(k.sock, "0123456789", 10), 10);
	ASSERT_TRUE(wait_frames(1));
	now = mono();
	int due = timers.next_timeout_ms(now);
	EXPECT_GT(due, 0);
	EXPECT_LE(due, int(TCP_RTO_MS));
	// Acknowledged: back to sleep until the idle timeout.
	SegSpec a = seg(k, fl::ACK, "", 1000);
	a.ack = k.pseq + 10;
	ASSERT_TRUE(input(a));
	now = mono();
	tcp_timer(ctx, now);
	EXPECT_GT(timers.next_timeout_ms(now), int(3600 * 1000));
	// The guest half-closes: the FIN timeout applies from now on.
	SegSpec fin = seg(k, fl::FIN | fl::ACK, "", 1000);
	fin.ack = k.pseq + 10;
	ASSERT_TRUE(input(fin));
	now = mono();
	due = timers.next_timeout_ms(now);
	EXPECT_GT(due, int(TCP_FIN_TIMEOUT_MS) - 1000);
	EXPECT_LE(due, int(TCP_FIN_TIMEOUT_MS));
	// Nothing happens then: closed at the FIN timeout.
	timespec later = timespec_add_ms(now, TCP_FIN_TIMEOUT_MS + 1);
	tcp_timer(ctx, later);
	EXPECT_EQ(flows.in_use(), 0u);
	EXPECT_FALSE(timers.armed(ctx.timer));
	close(k.sock);
}

TEST_F(TcpTapTest, WithoutPeekOffset) {
	init();
	ctx.peek_off = false; // as on kernels without SO_PEEK_OFF for TCP
	Listener l;
	Conn k = open(l);
	ASSERT_GE(k.sock, 0);
	ASSERT_EQ(write(k.sock, "first", 5), 5);
	ASSERT_TRUE(wait_frames(1));
	EXPECT_EQ(last().payload, "first");
	// Unacknowledged data is skipped, not sent twice.
	ASSERT_EQ(write(k.sock, "second", 6), 6);
	ASSERT_TRUE(wait_frames(1));
	EXPECT_EQ(last().payload, "second");
	EXPECT_EQ(last().seq, k.pseq + 5);
	SegSpec a = seg(k, fl::ACK, "", 1000);
	a.ack = k.pseq + 11;
	ASSERT_TRUE(input(a));
	// The host closes: FIN once everything is acknowledged.
	close(k.sock);
	ASSERT_TRUE(wait_frames(1));
	EXPECT_TRUE(last().flags & fl::FIN);
	EXPECT_EQ(last().seq, k.pseq + 11);
}

TEST_F(TcpTapTest, HandshakeTimeout) {
	init();
	Listener l;
	SegSpec syn{GUEST4, GW4, 40007, l.port, 1, 0, fl::SYN, 65535, 1460, {}, ""};
	ASSERT_TRUE(input(syn));
	ASSERT_TRUE(wait_frames(1)); // SYN-ACK; the guest never answers
	timespec later = mono();
	later.tv_sec += TCP_HANDSHAKE_TIMEOUT_MS / 1000 + 1;
	tcp_timer(ctx, later);
	EXPECT_EQ(flows.in_use(), 0u);
	EXPECT_TRUE(last().flags & fl::RST);
}

// One ACK for a batch of in-order data, and, as that data is small, a
// delayed one: not at the end of the batch, but TCP_DELACK_MS later from
// the timer, which then stops.
TEST_F(TcpTapTest, AcksCoalescedUntilFlush) {
	out.hook = true;
	init();
	Listener l;
	Conn k = open(l);
	ASSERT_GE(k.sock, 0);
	size_t n = out.frames.size();
	ASSERT_TRUE(input(seg(k, fl::ACK, "one")));
	k.gseq += 3;
	ASSERT_TRUE(input(seg(k, fl::ACK, "two")));
	EXPECT_EQ(out.frames.size(), n) << "ACK before the end of the batch";
	out.flush();
	EXPECT_EQ(out.frames.size(), n) << "small data: the ACK waits";
	EXPECT_TRUE(ctx.loop.timers().armed(ctx.delack_timer));
	spin(20);
	ASSERT_EQ(out.frames.size(), n + 1);
	EXPECT_EQ(last().ack, k.gseq + 3);
	EXPECT_FALSE(ctx.loop.timers().armed(ctx.delack_timer));
	out.flush();
	spin(20);
	EXPECT_EQ(out.frames.size(), n + 1);
	std::string got;
	for (int i = 0; i < 10 && got.size() < 6; i++)
		got += read_ms(k.sock, 200);
	EXPECT_EQ(got, "onetwo");
	// A hole is answered at once (a duplicate ACK must not wait).
	SegSpec ahead = seg(k, fl::ACK, "zzz");
	ahead.seq += 100;
	ASSERT_TRUE(input(ahead));
	EXPECT_EQ(out.frames.size(), n + 2);
	close(k.sock);
}

// A request's delayed ACK rides on the answer: one frame, data and ACK, and
// no timer left for it.
TEST_F(TcpTapTest, DelayedAckRidesOnTheAnswer) {
	out.hook = true;
	init();
	Listener l;
	Conn k = open(l);
	ASSERT_GE(k.sock, 0);
	size_t n = out.frames.size();
	ASSERT_TRUE(input(seg(k, fl::ACK, "ping")));
	k.gseq += 4;
	out.flush();
	EXPECT_EQ(out.frames.size(), n);
	EXPECT_EQ(read_ms(k.sock, 200), "ping");
	ASSERT_EQ(write(k.sock, "pong", 4), 4);
	ASSERT_TRUE(wait_frames(1));
	EXPECT_EQ(last().payload, "pong");
	EXPECT_EQ(last().ack, k.gseq);
	EXPECT_FALSE(ctx.loop.timers().armed(ctx.delack_timer));
	spin(20);
	EXPECT_EQ(out.frames.size(), n + 1) << "an ACK after the answer";
	close(k.sock);
}

// Two full segments unacknowledged: the ACK goes at the end of the batch,
// as for a bulk sender; so does the one for a FIN.
TEST_F(TcpTapTest, BulkAndFinAckedAtOnce) {
	out.hook = true;
	init();
	Listener l;
	Conn k = open(l);
	ASSERT_GE(k.sock, 0);
	size_t n = out.frames.size();
	const std::string full(1460, 'x'); // our MSS at MTU 1500
	ASSERT_TRUE(input(seg(k, fl::ACK, full)));
	k.gseq += 1460;
	ASSERT_TRUE(input(seg(k, fl::ACK, full)));
	k.gseq += 1460;
	out.flush();
	ASSERT_EQ(out.frames.size(), n + 1);
	EXPECT_EQ(last().ack, k.gseq);
	EXPECT_FALSE(ctx.loop.timers().armed(ctx.delack_timer));
	// One small segment waits; the FIN behind it does not.
	ASSERT_TRUE(input(seg(k, fl::ACK, "end")));
	k.gseq += 3;
	out.flush();
	EXPECT_EQ(out.frames.size(), n + 1);
	ASSERT_TRUE(input(seg(k, fl::ACK | fl::FIN, "")));
	out.flush();
	ASSERT_EQ(out.frames.size(), n + 2);
	EXPECT_EQ(last().ack, k.gseq + 1);
	spin(20);
	EXPECT_EQ(out.frames.size(), n + 2) << "the delayed ACK after the FIN's";
	close(k.sock);
}

} // namespace

// Which flows a live migration moves, and why the others stay behind.
TEST_F(TcpTapTest, MigrationMovesOnlyOpenEstablishedFlows) {
	init();
	Listener l;
	Conn k = open(l);
	ASSERT_GE(k.sock, 0);
	uint32_t idx = UINT32_MAX;
	flows.for_each([&](uint32_t i, Flow &) { idx = i; });
	ASSERT_NE(idx, UINT32_MAX);
	EXPECT_EQ(tcp_flow_unmigratable(ctx, idx), nullptr);
	EXPECT_STREQ(tcp_flow_unmigratable(ctx, idx + 1), "no such flow");

	ASSERT_GE(tcp_flow_freeze(ctx, idx), 0);
	EXPECT_STREQ(tcp_flow_unmigratable(ctx, idx), "already frozen");
	tcp_flow_thaw(ctx, idx, mono());
	EXPECT_EQ(tcp_flow_unmigratable(ctx, idx), nullptr);

	// The host peer half-closes: the FIN reaches the guest, the flow stays.
	ASSERT_EQ(shutdown(k.sock, SHUT_WR), 0);
	ASSERT_TRUE(wait_frames(1));
	EXPECT_TRUE(last().flags & fl::FIN);
	EXPECT_STREQ(tcp_flow_unmigratable(ctx, idx), "the host peer closed its side");
	close(k.sock);
}
