// libFuzzer target: arbitrary bytes into the migration state stream reader
// (migrate_walk(), src/migrate/stream.cpp), what a migration target reads
// from its source before it touches a socket. Every record it accepts must
// hold what the reader promises (socket ends the host side's, queues within
// the input), encode again, and decode from that to the same values. In a
// stream it accepts, each guest record and the fixed part of each TCP flow
// record must be exactly what the writer makes of its values (no bit is
// ignored), each flow record as long as its socket record says; and the
// stream rebuilt from the encodings must be accepted again.
// FUZZ_SRCS: src/migrate/stream.cpp src/migrate/tcp_state.cpp
// FUZZ_MAX_LEN: 4096
#include <cstring>
#include <vector>

#include "fuzz_util.h"
#include "passt/migrate/stream.h"

using namespace passt;
using passt::fuzz::Input;
using passt::fuzz::within;

namespace {

bool same_queue(std::span<const std::byte> a, std::span<const std::byte> b) {
	return a.size() == b.size() && (a.empty() || !memcmp(a.data(), b.data(), a.size()));
}

bool same_sock(const TcpSockState &a, const TcpSockState &b) {
	return a.v6 == b.v6 && a.local_addr == b.local_addr && a.remote_addr == b.remote_addr &&
	       a.local_port == b.local_port && a.remote_port == b.remote_port &&
	       a.scope_id == b.scope_id && a.snd_seq == b.snd_seq && a.rcv_seq == b.rcv_seq &&
	       a.mss == b.mss && a.wscale_ok == b.wscale_ok && a.snd_wscale == b.snd_wscale &&
	       a.rcv_wscale == b.rcv_wscale && a.sack_ok == b.sack_ok && a.ts_ok == b.ts_ok &&
	       a.timestamp == b.timestamp && a.snd_wl1 == b.snd_wl1 && a.snd_wnd == b.snd_wnd &&
	       a.max_window == b.max_window && a.rcv_wnd == b.rcv_wnd && a.rcv_wup == b.rcv_wup &&
	       a.sndbuf == b.sndbuf && a.rcvbuf == b.rcvbuf && a.notsent == b.notsent &&
	       same_queue(a.sendq, b.sendq) && same_queue(a.recvq, b.recvq);
}

bool same_flow(const TcpFlowImage &a, const TcpFlowImage &b) {
	return a.guest == b.guest && a.host == b.host && a.inbound == b.inbound &&
	       a.guest_ws == b.guest_ws && a.guest_wscale == b.guest_wscale &&
	       a.guest_mss == b.guest_mss && a.snd_una == b.snd_una && a.rcv_nxt == b.rcv_nxt &&
	       a.guest_wnd == b.guest_wnd && a.last_wnd == b.last_wnd &&
	       a.flow_label == b.flow_label;
}

bool same_guest(const MigrateGuest &a, const MigrateGuest &b) {
	return a.mac == b.mac && a.mac_seen == b.mac_seen && a.addr4 == b.addr4 &&
	       a.addr6 == b.addr6 && a.addr6_ll == b.addr6_ll;
}

// What the reader promises of an accepted side.
bool side_ok(const FlowSide &s) {
	return s.peer_port && s.our_port && s.peer_addr.is_v4() == s.our_addr.is_v4() &&
	       !s.peer_addr.is_unspecified() && !s.our_addr.is_unspecified();
}

// A record encoded again, its header read back: the payload.
std::span<const std::byte> reread_hdr(std::span<const std::byte> rec, MigrateRec want) {
	uint16_t type = 0, flags = 0;
	uint32_t len = 0;
	FUZZ_CHECK(migrate_get_rec_hdr(rec, type, flags, len) == MigrateErr::Ok);
	FUZZ_CHECK(type == uint16_t(want) && flags == 0);
	FUZZ_CHECK(len == rec.size() - MIGRATE_REC_HDR_LEN);
	return rec.subspan(MIGRATE_REC_HDR_LEN);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	Input input(data, size);
	std::span<const std::byte> in = input.cspan();
	std::vector<std::byte> again; // the accepted records, encoded again
	std::vector<size_t> starts;   // where each one starts in again
	size_t records = 0;

	auto on_guest = [&](const MigrateGuest &g) {
		records++;
		std::byte rec[MIGRATE_REC_HDR_LEN + MIGRATE_GUEST_LEN];
		FUZZ_CHECK(migrate_put_guest(rec, g) == sizeof(rec));
		MigrateGuest d;
		FUZZ_CHECK(migrate_get_guest(reread_hdr(rec, MigrateRec::Guest), d) ==
			   MigrateErr::Ok);
		FUZZ_CHECK(same_guest(g, d));
		starts.push_back(again.size());
		again.insert(again.end(), rec, rec + sizeof(rec));
	};
	auto on_tcp = [&](const MigrateTcpFlow &f) {
		records++;
		const TcpFlowImage &t = f.flow;
		const TcpSockState &s = f.sock;
		FUZZ_CHECK(within(s.sendq, in) && within(s.recvq, in));
		FUZZ_CHECK(s.notsent <= s.sendq.size());
		FUZZ_CHECK(side_ok(t.guest) && side_ok(t.host));
		FUZZ_CHECK(s.local_port == t.host.our_port && s.remote_port == t.host.peer_port &&
			   s.local_addr == t.host.our_addr && s.remote_addr == t.host.peer_addr);
		FUZZ_CHECK(t.guest_wscale <= 14 && (t.guest_ws || !t.guest_wscale));
		FUZZ_CHECK(t.guest_mss >= 64 && t.flow_label <= 0xfffff);

		std::vector<std::byte> rec(migrate_tcp_flow_len(f));
		FUZZ_CHECK(migrate_put_tcp_flow(rec, f) == rec.size());
		MigrateTcpFlow d;
		TcpStateErr why = TcpStateErr::BadMagic;
		FUZZ_CHECK(migrate_get_tcp_flow(reread_hdr(rec, MigrateRec::TcpFlow), d, &why) ==
			   MigrateErr::Ok);
		FUZZ_CHECK(why == TcpStateErr::Ok);
		FUZZ_CHECK(same_flow(t, d.flow) && same_sock(s, d.sock));
		starts.push_back(again.size());
		again.insert(again.end(), rec.begin(), rec.end());
	};

	if (migrate_walk(in, on_guest, on_tcp) != MigrateErr::Ok)
		return 0;

	// Accepted: the records again, side by side with their encodings.
	std::span<const std::byte> rest = in.subspan(MIGRATE_HDR_LEN);
	size_t n = 0;
	for (;;) {
		uint16_t type = 0, flags = 0;
		uint32_t len = 0;
		FUZZ_CHECK(migrate_get_rec_hdr(rest, type, flags, len) == MigrateErr::Ok);
		std::span<const std::byte> p = rest.subspan(MIGRATE_REC_HDR_LEN, len);
		rest = rest.subspan(MIGRATE_REC_HDR_LEN + len);
		if (type == uint16_t(MigrateRec::End))
			break;
		if (type != uint16_t(MigrateRec::Guest) && type != uint16_t(MigrateRec::TcpFlow))
			continue;
		FUZZ_CHECK(n < starts.size());
		const std::byte *e = again.data() + starts[n++] + MIGRATE_REC_HDR_LEN;
		if (type == uint16_t(MigrateRec::Guest)) {
			FUZZ_CHECK(!memcmp(p.data(), e, MIGRATE_GUEST_LEN));
			continue;
		}
		FUZZ_CHECK(!memcmp(p.data(), e, MIGRATE_TCP_FLOW_FIXED));
		const std::byte *sk = p.data() + MIGRATE_TCP_FLOW_FIXED + 8; // its total length
		uint32_t total = uint32_t(sk[0]) | uint32_t(sk[1]) << 8 | uint32_t(sk[2]) << 16 |
				 uint32_t(sk[3]) << 24;
		FUZZ_CHECK(len == MIGRATE_TCP_FLOW_FIXED + total);
	}
	FUZZ_CHECK(n == starts.size() && rest.empty());

	// The same records under a new header and End read the same.
	std::vector<std::byte> out(MIGRATE_HDR_LEN);
	FUZZ_CHECK(migrate_put_header(out) == MIGRATE_HDR_LEN);
	out.insert(out.end(), again.begin(), again.end());
	std::byte end[MIGRATE_REC_HDR_LEN];
	FUZZ_CHECK(migrate_put_rec_hdr(end, MigrateRec::End, 0, 0) == sizeof(end));
	out.insert(out.end(), end, end + sizeof(end));
	FUZZ_CHECK(out.size() <= size); // optional records and longer fixed parts only shrink
	size_t count = 0;
	FUZZ_CHECK(migrate_walk(
			   out, [&](const MigrateGuest &) { count++; },
			   [&](const MigrateTcpFlow &) { count++; }) == MigrateErr::Ok);
	FUZZ_CHECK(count == records);
	return 0;
}
