// libFuzzer target: arbitrary bytes into the TCP state record decoder
// (src/migrate/tcp_state.cpp), the first thing a migration target reads
// from its source. A record it accepts must lie within the input, and
// encode again into a record that decodes to the same state.
// FUZZ_SRCS: src/migrate/tcp_state.cpp
#include <cstdlib>
#include <cstring>
#include <vector>

#include "passt/migrate/tcp_state.h"

using namespace passt;

namespace {

bool same(const TcpSockState &a, const TcpSockState &b) {
	return a.v6 == b.v6 && a.local_addr == b.local_addr && a.remote_addr == b.remote_addr &&
	       a.local_port == b.local_port && a.remote_port == b.remote_port &&
	       a.scope_id == b.scope_id && a.snd_seq == b.snd_seq && a.rcv_seq == b.rcv_seq &&
	       a.mss == b.mss && a.wscale_ok == b.wscale_ok && a.snd_wscale == b.snd_wscale &&
	       a.rcv_wscale == b.rcv_wscale && a.sack_ok == b.sack_ok && a.ts_ok == b.ts_ok &&
	       a.timestamp == b.timestamp && a.snd_wl1 == b.snd_wl1 && a.snd_wnd == b.snd_wnd &&
	       a.max_window == b.max_window && a.rcv_wnd == b.rcv_wnd && a.rcv_wup == b.rcv_wup &&
	       a.sndbuf == b.sndbuf && a.rcvbuf == b.rcvbuf && a.notsent == b.notsent &&
	       a.sendq.size() == b.sendq.size() && a.recvq.size() == b.recvq.size() &&
	       !memcmp(a.sendq.data(), b.sendq.data(), a.sendq.size()) &&
	       !memcmp(a.recvq.data(), b.recvq.data(), a.recvq.size());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const unsigned char *data, unsigned long size) {
	std::span<const std::byte> in(reinterpret_cast<const std::byte *>(data), size);
	TcpSockState st;
	size_t used = 0;
	if (tcp_state_decode(in, st, &used) != TcpStateErr::Ok)
		return 0;
	auto inside = [&](std::span<const std::byte> q) {
		return q.empty() ||
		       (q.data() >= in.data() && q.data() + q.size() <= in.data() + used);
	};
	if (used > size || !inside(st.sendq) || !inside(st.recvq) || st.notsent > st.sendq.size())
		abort();
	std::vector<std::byte> out(tcp_state_encoded_len(st));
	if (tcp_state_encode(st, out) != out.size())
		abort();
	TcpSockState again;
	if (tcp_state_decode(out, again) != TcpStateErr::Ok || !same(st, again))
		abort();
	return 0;
}
