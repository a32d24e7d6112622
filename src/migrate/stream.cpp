// The state stream codec: see include/passt/migrate/stream.h, and
// doc/migration.md for every field. All integers little-endian, written
// and read byte by byte, so that the layout never depends on the host or
// on struct padding; addresses are 16 bytes (IPv4 as ::ffff:a.b.c.d).
#include "passt/migrate/stream.h"

#include <cstring>

#include "passt/net/byteorder.h"

namespace passt {

namespace {

constexpr char MAGIC[8] = {'P', 'A', 'S', 'S', 'T', 'M', 'I', 'G'};

void put16(std::byte *p, uint16_t v) { store_le16(p, v); }
void put32(std::byte *p, uint32_t v) { store_le32(p, v); }
uint16_t get16(const std::byte *p) { return load_le16(p); }
uint32_t get32(const std::byte *p) { return load_le32(p); }
void put_addr(std::byte *p, const InAny &a) { memcpy(p, a.a.b.data(), 16); }
InAny get_addr(const std::byte *p) {
	InAny a;
	memcpy(a.a.b.data(), p, 16);
	return a;
}

// A side: peer address, our address, peer port, our port (36 bytes).
void put_side(std::byte *p, const FlowSide &s) {
	put_addr(p, s.peer_addr);
	put_addr(p + 16, s.our_addr);
	put16(p + 32, s.peer_port);
	put16(p + 34, s.our_port);
}
FlowSide get_side(const std::byte *p) {
	FlowSide s;
	s.peer_addr = get_addr(p);
	s.our_addr = get_addr(p + 16);
	s.peer_port = get16(p + 32);
	s.our_port = get16(p + 34);
	return s;
}
bool side_ok(const FlowSide &s) {
	return s.peer_port && s.our_port && s.peer_addr.is_v4() == s.our_addr.is_v4() &&
	       !s.peer_addr.is_unspecified() && !s.our_addr.is_unspecified();
}

constexpr uint8_t FLOW_INBOUND = 0x1, FLOW_GUEST_WS = 0x2;
constexpr uint8_t GUEST_MAC_SEEN = 0x1;

} // namespace

const char *migrate_err_str(MigrateErr e) {
	switch (e) {
	case MigrateErr::Ok: return "ok";
	case MigrateErr::Truncated: return "truncated";
	case MigrateErr::BadMagic: return "not a passt migration stream";
	case MigrateErr::BadVersion: return "unknown stream version";
	case MigrateErr::BadLength: return "bad record length";
	case MigrateErr::BadField: return "field out of range";
	case MigrateErr::UnknownRecord: return "unknown mandatory record";
	case MigrateErr::BadSocket: return "bad TCP socket record";
	}
	return "?";
}

size_t migrate_put_header(std::span<std::byte> out) {
	if (out.size() < MIGRATE_HDR_LEN)
		return 0;
	memcpy(out.data(), MAGIC, 8);
	put16(&out[8], MIGRATE_VERSION);
	put16(&out[10], uint16_t(MIGRATE_HDR_LEN));
	put32(&out[12], 0);
	return MIGRATE_HDR_LEN;
}

MigrateErr migrate_get_header(std::span<const std::byte> in) {
	if (in.size() < MIGRATE_HDR_LEN)
		return MigrateErr::Truncated;
	if (memcmp(in.data(), MAGIC, 8) != 0)
		return MigrateErr::BadMagic;
	if (get16(&in[8]) != MIGRATE_VERSION)
		return MigrateErr::BadVersion;
	if (get16(&in[10]) != MIGRATE_HDR_LEN || get32(&in[12]))
		return MigrateErr::BadField;
	return MigrateErr::Ok;
}

size_t migrate_put_rec_hdr(std::span<std::byte> out, MigrateRec type, uint16_t flags,
			   uint32_t len) {
	if (out.size() < MIGRATE_REC_HDR_LEN)
		return 0;
	put16(&out[0], uint16_t(type));
	put16(&out[2], flags);
	put32(&out[4], len);
	return MIGRATE_REC_HDR_LEN;
}

MigrateErr migrate_get_rec_hdr(std::span<const std::byte> in, uint16_t &type, uint16_t &flags,
			       uint32_t &len) {
	if (in.size() < MIGRATE_REC_HDR_LEN)
		return MigrateErr::Truncated;
	type = get16(&in[0]);
	flags = get16(&in[2]);
	len = get32(&in[4]);
	if (flags & ~MIGRATE_REC_OPTIONAL)
		return MigrateErr::BadField;
	if (len > MIGRATE_REC_MAX)
		return MigrateErr::BadLength;
	switch (MigrateRec(type)) {
	case MigrateRec::End: return len ? MigrateErr::BadLength : MigrateErr::Ok;
	case MigrateRec::Guest:
		return len == MIGRATE_GUEST_LEN ? MigrateErr::Ok : MigrateErr::BadLength;
	case MigrateRec::TcpFlow:
		return len >= MIGRATE_TCP_FLOW_FIXED + TCP_STATE_FIXED_LEN ? MigrateErr::Ok
									   : MigrateErr::BadLength;
	}
	return flags & MIGRATE_REC_OPTIONAL ? MigrateErr::Ok : MigrateErr::UnknownRecord;
}

// Guest: MAC (6), flags (1: MAC seen), reserved (1), IPv4 address (4),
// global IPv6 address (16), link-local IPv6 address (16).
size_t migrate_put_guest(std::span<std::byte> out, const MigrateGuest &g) {
	const size_t len = MIGRATE_REC_HDR_LEN + MIGRATE_GUEST_LEN;
	if (out.size() < len)
		return 0;
	migrate_put_rec_hdr(out, MigrateRec::Guest, 0, MIGRATE_GUEST_LEN);
	std::byte *p = out.data() + MIGRATE_REC_HDR_LEN;
	memset(p, 0, MIGRATE_GUEST_LEN);
	memcpy(p, g.mac.b.data(), 6);
	p[6] = std::byte(g.mac_seen ? GUEST_MAC_SEEN : 0);
	memcpy(p + 8, g.addr4.b.data(), 4);
	memcpy(p + 12, g.addr6.b.data(), 16);
	memcpy(p + 28, g.addr6_ll.b.data(), 16);
	return len;
}

MigrateErr migrate_get_guest(std::span<const std::byte> in, MigrateGuest &g) {
	if (in.size() != MIGRATE_GUEST_LEN)
		return MigrateErr::BadLength;
	const std::byte *p = in.data();
	if ((uint8_t(p[6]) & ~GUEST_MAC_SEEN) || uint8_t(p[7]))
		return MigrateErr::BadField;
	memcpy(g.mac.b.data(), p, 6);
	g.mac_seen = uint8_t(p[6]) & GUEST_MAC_SEEN;
	memcpy(g.addr4.b.data(), p + 8, 4);
	memcpy(g.addr6.b.data(), p + 12, 16);
	memcpy(g.addr6_ll.b.data(), p + 28, 16);
	return MigrateErr::Ok;
}

size_t migrate_tcp_flow_len(const MigrateTcpFlow &f) {
	return MIGRATE_REC_HDR_LEN + MIGRATE_TCP_FLOW_FIXED + tcp_state_encoded_len(f.sock);
}

// TCP flow: the guest side (36), the host side (36), flags (1: inbound,
// 2: window scaling with the guest), the guest's window scale (1),
// reserved (2), the guest's MSS (2), reserved (2), snd_una, rcv_nxt,
// guest_wnd, last_wnd, flow label (4 each); then the socket record
// (tcp_state.h).
size_t migrate_put_tcp_flow(std::span<std::byte> out, const MigrateTcpFlow &f) {
	const size_t len = migrate_tcp_flow_len(f);
	if (out.size() < len || len - MIGRATE_REC_HDR_LEN > MIGRATE_REC_MAX)
		return 0;
	std::byte *p = out.data() + MIGRATE_REC_HDR_LEN;
	size_t sock_len =
		tcp_state_encode(f.sock, out.subspan(MIGRATE_REC_HDR_LEN + MIGRATE_TCP_FLOW_FIXED));
	if (!sock_len)
		return 0;
	migrate_put_rec_hdr(out, MigrateRec::TcpFlow, 0, uint32_t(len - MIGRATE_REC_HDR_LEN));
	const TcpFlowImage &t = f.flow;
	memset(p, 0, MIGRATE_TCP_FLOW_FIXED);
	put_side(p, t.guest);
	put_side(p + 36, t.host);
	p[72] = std::byte((t.inbound ? FLOW_INBOUND : 0) | (t.guest_ws ? FLOW_GUEST_WS : 0));
	p[73] = std::byte(t.guest_wscale);
	put16(p + 76, t.guest_mss);
	put32(p + 80, t.snd_una);
	put32(p + 84, t.rcv_nxt);
	put32(p + 88, t.guest_wnd);
	put32(p + 92, t.last_wnd);
	put32(p + 96, t.flow_label);
	return len;
}

MigrateErr migrate_get_tcp_flow(std::span<const std::byte> in, MigrateTcpFlow &f,
				TcpStateErr *sock_err) {
	if (in.size() < MIGRATE_TCP_FLOW_FIXED + TCP_STATE_FIXED_LEN)
		return MigrateErr::BadLength;
	const std::byte *p = in.data();
	MigrateTcpFlow out; // f is left as it was on a refusal
	TcpFlowImage &t = out.flow;
	t.guest = get_side(p);
	t.host = get_side(p + 36);
	uint8_t fl = uint8_t(p[72]);
	t.inbound = fl & FLOW_INBOUND;
	t.guest_ws = fl & FLOW_GUEST_WS;
	t.guest_wscale = uint8_t(p[73]);
	t.guest_mss = get16(p + 76);
	t.snd_una = get32(p + 80);
	t.rcv_nxt = get32(p + 84);
	t.guest_wnd = get32(p + 88);
	t.last_wnd = get32(p + 92);
	t.flow_label = get32(p + 96);
	if ((fl & ~(FLOW_INBOUND | FLOW_GUEST_WS)) || get16(p + 74) || get16(p + 78) ||
	    t.guest_wscale > 14 || (!t.guest_ws && t.guest_wscale) || t.guest_mss < 64 ||
	    t.flow_label > 0xfffff || !side_ok(t.guest) || !side_ok(t.host))
		return MigrateErr::BadField;
	size_t used = 0;
	TcpStateErr e = tcp_state_decode(in.subspan(MIGRATE_TCP_FLOW_FIXED), out.sock, &used);
	if (sock_err)
		*sock_err = e;
	if (e != TcpStateErr::Ok)
		return MigrateErr::BadSocket;
	if (MIGRATE_TCP_FLOW_FIXED + used != in.size())
		return MigrateErr::BadLength;
	// The socket is the host side's: the same ends.
	const TcpSockState &sk = out.sock;
	if (sk.local_port != t.host.our_port || sk.remote_port != t.host.peer_port ||
	    !(sk.local_addr == t.host.our_addr) || !(sk.remote_addr == t.host.peer_addr))
		return MigrateErr::BadField;
	f = out;
	return MigrateErr::Ok;
}

} // namespace passt
