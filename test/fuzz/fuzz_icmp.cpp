// libFuzzer target: the ICMP/ICMPv6 echo translator's guest input path,
// icmp_tap_input(), and the ICMP header views.
//
// Each input is used three ways: as a whole Ethernet frame; as a bare ICMP
// message wrapped in a well-formed Ethernet + IPv4 frame; as a bare ICMPv6
// message wrapped in Ethernet + IPv6. The wrapped copies get correct
// checksums, so that mutations reach past the checksum checks into flow
// allocation and the NAT rules. The last input byte picks configuration
// variations and the wrapped destination.
//
// To keep the run hermetic this binary defines its own socket(), which always
// fails with EACCES (as when net.ipv4.ping_group_range excludes us): a valid
// echo request then goes through flow allocation, forwarding rules and the
// socket error path, and its flow must be freed again. No packet can leave.
//
// FUZZ_SRCS: src/core/log.cpp src/core/epoll.cpp src/core/timer.cpp src/core/util.cpp
// FUZZ_SRCS: src/flow/flow.cpp src/fwd/nat.cpp src/icmp/icmp.cpp
// FUZZ_SRCS: src/flow/host_sock.cpp src/flow/refuse.cpp test/support/frames.cpp
// FUZZ_MAX_LEN: 65600
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include <sys/socket.h>

#include "fuzz_util.h"
#include "refusal_check.h"
#include "passt/core/epoll.h"
#include "passt/core/log.h"
#include "passt/flow/flow.h"
#include "passt/icmp/icmp.h"
#include "passt/net/build.h"
#include "passt/net/icmp.h"
#include "passt/net/icmpv6.h"
#include "support/frames.h"

extern "C" int socket(int, int, int) {
	errno = EACCES;
	return -1;
}

namespace {

using namespace passt;

class NullTap final : public TapOutput {
public:
	// Without a socket, only refusals of the guest's echo requests may
	// reach it (flow/refuse.h).
	bool send_frame(std::span<const std::byte> f) override {
		FUZZ_CHECK(f.size() >= 14 + 20 + 8 && passt::fuzz::is_refusal(f));
		passt::fuzz::check_refusal(f, uint8_t(f[12] == std::byte{0x08} ? 1 : 58));
		return true;
	}
	void flush() override {}
};

struct State {
	Config c;
	TapState tap;
	NullTap out;
	EventLoop loop;
	FlowTable flows;
	IcmpCtx ctx{c, tap, out, loop, flows};
};

State &state() {
	static State *s = [] {
		auto *st = new State;
		log_set_level(LogLevel::Error);
		if (st->loop.init() < 0 || st->flows.init(256) < 0)
			abort();
		return st;
	}();
	return *s;
}

const MacAddr GUEST_MAC{{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}};

void configure(Config &c, uint8_t sel) {
	c.no_icmp = false;
	c.ip4.enabled = !(sel & 0x04);
	c.ip6.enabled = !(sel & 0x08);
	c.no_map_gw = sel & 0x01;
	c.ip4.addr = *Ipv4Addr::parse("192.0.2.2");
	c.ip4.gw = *Ipv4Addr::parse("192.0.2.1");
	c.ip4.map_host_loopback = c.ip4.gw;
	c.ip4.map_guest_addr = (sel & 0x02) ? *Ipv4Addr::parse("192.0.2.3") : Ipv4Addr{};
	c.ip6.addr = *Ipv6Addr::parse("2001:db8::2");
	c.ip6.gw = *Ipv6Addr::parse("fe80::1");
	c.ip6.map_host_loopback = c.ip6.gw;
	c.ip6.map_guest_addr = (sel & 0x02) ? *Ipv6Addr::parse("2001:db8::3") : Ipv6Addr{};
}

void feed(State &s, std::span<const std::byte> frame) {
	FUZZ_CHECK(!icmp_tap_input(s.ctx, frame, timespec{1000, 0}));
	// A session whose socket could not be opened must not keep its flow.
	FUZZ_CHECK(s.flows.in_use() == 0);
}

// Touch every accessor of the views, so that ASan checks their bounds.
void views(std::span<const std::byte> msg) {
	if (auto v = ConstIcmpView::parse(msg)) {
		fuzz::sink(v->type() + v->code() + v->id() + v->seq() + v->rest() +
			   v->checksum().raw + v->checksum_ok() + v->data().size() +
			   v->body().size());
	}
	if (auto v = ConstIcmp6View::parse(msg)) {
		fuzz::sink(v->type() + v->code() + v->id() + v->seq() + v->word() +
			   v->data().size() + v->from(ndp::ns_opts_off).size());
		if (auto t = v->target())
			fuzz::sink(t->b[0]);
	}
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	fuzz::Input in(data, size);
	State &s = state();
	uint8_t sel = size ? data[size - 1] : 0;
	configure(s.c, sel);
	s.tap.guest_mac = GUEST_MAC;

	// 1. The input as a frame.
	feed(s, in.cspan());

	// 2./3. The input as an ICMP / ICMPv6 message, wrapped.
	std::span<const std::byte> msg = in.cspan();
	views(msg);
	if (msg.size() < 4)
		return 0;
	static std::byte buf[frame::icmp6_body_off + 65600];
	auto body = msg.subspan(4);
	uint8_t type = uint8_t(msg[0]), code = uint8_t(msg[1]);

	static const char *const dst4[] = {"192.0.2.1", "192.0.2.3", "203.0.113.1",
					   "127.0.0.1", "224.0.0.1", "255.255.255.255",
					   "0.0.0.0",   "192.0.2.2"};
	static const char *const dst6[] = {
		"fe80::1", "2001:db8::3", "2001:db8:1::1", "::1",
		"ff02::1", "::",          "2001:db8::2",   "::ffff:192.0.2.1"};
	size_t pick = (sel >> 4) & 7;
	size_t n = build_icmp4(buf, MacAddr{}, GUEST_MAC, *Ipv4Addr::parse("192.0.2.2"),
			       *Ipv4Addr::parse(dst4[pick]), type, code, body);
	if (n)
		feed(s, std::span<const std::byte>(buf, n));
	n = build_icmp6(buf, MacAddr{}, GUEST_MAC, *Ipv6Addr::parse("2001:db8::2"),
			*Ipv6Addr::parse(dst6[pick]), type, code, body, 64);
	if (n)
		feed(s, std::span<const std::byte>(buf, n));
	return 0;
}
