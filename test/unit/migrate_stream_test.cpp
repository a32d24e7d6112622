// The migration state stream codec (src/migrate/stream.cpp): a whole stream
// (header, guest record, an IPv4 and an IPv6 TCP flow, End) written with
// the migrate_put_* functions and read back with migrate_walk(); then each
// refusal on its own, built so that the one check it targets is the only
// one that can refuse it (the expected error would change, or the stream
// would be accepted, if that check went).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <vector>

#include "passt/migrate/stream.h"

using namespace passt;

namespace {

using Bytes = std::vector<std::byte>;

Bytes bytes(const char *s) {
	Bytes v(strlen(s));
	memcpy(v.data(), s, v.size());
	return v;
}

void put16(Bytes &r, size_t off, uint16_t v) {
	r[off] = std::byte(v);
	r[off + 1] = std::byte(v >> 8);
}
void put32(Bytes &r, size_t off, uint32_t v) {
	for (int i = 0; i < 4; i++)
		r[off + size_t(i)] = std::byte(v >> (8 * i));
}

Ipv6Addr v6(const char *s) { return *Ipv6Addr::parse(s); }

Bytes cat(std::initializer_list<Bytes> parts) {
	Bytes out;
	for (const Bytes &p : parts)
		out.insert(out.end(), p.begin(), p.end());
	return out;
}

Bytes header() {
	Bytes b(MIGRATE_HDR_LEN);
	EXPECT_EQ(migrate_put_header(b), MIGRATE_HDR_LEN);
	return b;
}

// A record of any type, flags and payload (its length field the payload's).
Bytes raw_rec(uint16_t type, uint16_t flags, const Bytes &payload) {
	Bytes b(MIGRATE_REC_HDR_LEN);
	EXPECT_EQ(migrate_put_rec_hdr(b, MigrateRec(type), flags, uint32_t(payload.size())),
		  MIGRATE_REC_HDR_LEN);
	b.insert(b.end(), payload.begin(), payload.end());
	return b;
}

Bytes end_rec() { return raw_rec(uint16_t(MigrateRec::End), 0, {}); }

Bytes guest_rec(const MigrateGuest &g) {
	Bytes b(MIGRATE_REC_HDR_LEN + MIGRATE_GUEST_LEN);
	EXPECT_EQ(migrate_put_guest(b, g), b.size());
	return b;
}

Bytes flow_rec(const MigrateTcpFlow &f) {
	Bytes b(migrate_tcp_flow_len(f));
	EXPECT_EQ(migrate_put_tcp_flow(b, f), b.size());
	return b;
}

// Header, records, End.
Bytes stream(std::initializer_list<Bytes> recs) {
	Bytes out = header();
	for (const Bytes &r : recs)
		out.insert(out.end(), r.begin(), r.end());
	Bytes e = end_rec();
	out.insert(out.end(), e.begin(), e.end());
	return out;
}

struct Walked {
	MigrateErr err;
	std::vector<MigrateGuest> guests;
	std::vector<MigrateTcpFlow> flows;
};

// The flows' queues point into in: keep it alive.
Walked walk(std::span<const std::byte> in) {
	Walked w;
	w.err = migrate_walk(
		in, [&](const MigrateGuest &g) { w.guests.push_back(g); },
		[&](const MigrateTcpFlow &f) { w.flows.push_back(f); });
	return w;
}
MigrateErr walk_err(const Bytes &in) { return walk(in).err; }

// The socket is the host side's: its ends from there.
void sock_from_host(MigrateTcpFlow &f) {
	f.sock.local_addr = f.flow.host.our_addr;
	f.sock.local_port = f.flow.host.our_port;
	f.sock.remote_addr = f.flow.host.peer_addr;
	f.sock.remote_port = f.flow.host.peer_port;
}

struct Sample {
	Bytes sq4 = bytes("sent-then-unsent"), rq4 = bytes("unread");
	Bytes sq6 = bytes("IPv6: queued for the peer"), rq6 = bytes("IPv6: not read yet, 28 B");
	MigrateGuest g;
	MigrateTcpFlow f4, f6;

	Sample() {
		g.mac = MacAddr{{0x9a, 0x55, 0x9a, 0x55, 0x9a, 0x55}};
		g.mac_seen = true;
		g.addr4 = Ipv4Addr{{192, 0, 2, 100}};
		g.addr6 = v6("2001:db8::100");
		g.addr6_ll = v6("fe80::9855:9aff:fe55:9a55");

		// Opened by the guest: 192.0.2.100:40000 -> 203.0.113.5:80,
		// from the host's 192.0.2.2:45678.
		TcpFlowImage &a = f4.flow;
		a.guest.peer_addr = InAny(Ipv4Addr{{192, 0, 2, 100}});
		a.guest.our_addr = InAny(Ipv4Addr{{203, 0, 113, 5}});
		a.guest.peer_port = 40000;
		a.guest.our_port = 80;
		a.host.our_addr = InAny(Ipv4Addr{{192, 0, 2, 2}});
		a.host.peer_addr = InAny(Ipv4Addr{{203, 0, 113, 5}});
		a.host.our_port = 45678;
		a.host.peer_port = 80;
		a.inbound = false;
		a.guest_ws = true;
		a.guest_wscale = 7;
		a.guest_mss = 1460;
		a.snd_una = 0xfffffff0;
		a.rcv_nxt = 0x12345678;
		a.guest_wnd = 65535u << 7;
		a.last_wnd = 29200;
		a.flow_label = 0;
		TcpSockState &s = f4.sock;
		s.v6 = false;
		s.mss = 1460;
		s.wscale_ok = true;
		s.snd_wscale = 7;
		s.rcv_wscale = 14;
		s.sack_ok = true;
		s.ts_ok = true;
		s.timestamp = 0xdeadbeef;
		s.snd_seq = 0x01020304, s.rcv_seq = 0x05060708;
		s.snd_wl1 = 1, s.snd_wnd = 2, s.max_window = 3, s.rcv_wnd = 4, s.rcv_wup = 5;
		s.sndbuf = 87380, s.rcvbuf = 131072;
		s.sendq = sq4;
		s.notsent = 6;
		s.recvq = rq4;
		sock_from_host(f4);

		// Accepted on a -t listener: [2001:db8::1]:50000 -> [2001:db8::2]:8080
		// on the host, forwarded to the guest's [2001:db8::100]:22.
		TcpFlowImage &b = f6.flow;
		b.host.peer_addr = v6("2001:db8::1");
		b.host.our_addr = v6("2001:db8::2");
		b.host.peer_port = 50000;
		b.host.our_port = 8080;
		b.guest.peer_addr = v6("2001:db8::100");
		b.guest.our_addr = v6("2001:db8::1");
		b.guest.peer_port = 22;
		b.guest.our_port = 50000;
		b.inbound = true;
		b.guest_ws = true;
		b.guest_wscale = 14; // the largest
		b.guest_mss = 64;    // the smallest
		b.snd_una = 7, b.rcv_nxt = 0x80000000, b.guest_wnd = 1, b.last_wnd = 0xffffffff;
		b.flow_label = 0xfffff; // the largest
		TcpSockState &t = f6.sock;
		t.v6 = true;
		t.scope_id = 0;
		t.mss = 1440;
		t.sack_ok = true;
		t.snd_seq = 0xaabbccdd, t.rcv_seq = 0x11223344;
		t.snd_wl1 = 6, t.snd_wnd = 7, t.max_window = 8, t.rcv_wnd = 9, t.rcv_wup = 10;
		t.sndbuf = 16384, t.rcvbuf = 65536;
		t.sendq = sq6;
		t.notsent = 0;
		t.recvq = rq6;
		sock_from_host(f6);
	}

	Bytes full() const { return stream({guest_rec(g), flow_rec(f4), flow_rec(f6)}); }
	// Where the IPv4 flow's payload starts in full(), and its socket record.
	static constexpr size_t F4 =
		MIGRATE_HDR_LEN + MIGRATE_REC_HDR_LEN + MIGRATE_GUEST_LEN + MIGRATE_REC_HDR_LEN;
	static constexpr size_t F4_SOCK = F4 + MIGRATE_TCP_FLOW_FIXED;
	static constexpr size_t GUEST = MIGRATE_HDR_LEN + MIGRATE_REC_HDR_LEN;
};

bool same_queue(std::span<const std::byte> a, const Bytes &b) {
	return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

void expect_same(const MigrateTcpFlow &d, const MigrateTcpFlow &f) {
	const TcpFlowImage &a = d.flow, &b = f.flow;
	EXPECT_EQ(a.guest, b.guest);
	EXPECT_EQ(a.host, b.host);
	EXPECT_EQ(a.inbound, b.inbound);
	EXPECT_EQ(a.guest_ws, b.guest_ws);
	EXPECT_EQ(a.guest_wscale, b.guest_wscale);
	EXPECT_EQ(a.guest_mss, b.guest_mss);
	EXPECT_EQ(a.snd_una, b.snd_una);
	EXPECT_EQ(a.rcv_nxt, b.rcv_nxt);
	EXPECT_EQ(a.guest_wnd, b.guest_wnd);
	EXPECT_EQ(a.last_wnd, b.last_wnd);
	EXPECT_EQ(a.flow_label, b.flow_label);
	const TcpSockState &s = d.sock, &t = f.sock;
	EXPECT_EQ(s.v6, t.v6);
	EXPECT_EQ(s.local_addr, t.local_addr);
	EXPECT_EQ(s.remote_addr, t.remote_addr);
	EXPECT_EQ(s.local_port, t.local_port);
	EXPECT_EQ(s.remote_port, t.remote_port);
	EXPECT_EQ(s.scope_id, t.scope_id);
	EXPECT_EQ(s.snd_seq, t.snd_seq);
	EXPECT_EQ(s.rcv_seq, t.rcv_seq);
	EXPECT_EQ(s.mss, t.mss);
	EXPECT_EQ(s.wscale_ok, t.wscale_ok);
	EXPECT_EQ(s.snd_wscale, t.snd_wscale);
	EXPECT_EQ(s.rcv_wscale, t.rcv_wscale);
	EXPECT_EQ(s.sack_ok, t.sack_ok);
	EXPECT_EQ(s.ts_ok, t.ts_ok);
	EXPECT_EQ(s.timestamp, t.timestamp);
	EXPECT_EQ(s.snd_wl1, t.snd_wl1);
	EXPECT_EQ(s.snd_wnd, t.snd_wnd);
	EXPECT_EQ(s.max_window, t.max_window);
	EXPECT_EQ(s.rcv_wnd, t.rcv_wnd);
	EXPECT_EQ(s.rcv_wup, t.rcv_wup);
	EXPECT_EQ(s.sndbuf, t.sndbuf);
	EXPECT_EQ(s.rcvbuf, t.rcvbuf);
	EXPECT_EQ(s.notsent, t.notsent);
}

// A stream with the IPv4 flow f alone; its walk's error.
MigrateErr walk_flow(const MigrateTcpFlow &f) { return walk_err(stream({flow_rec(f)})); }

TEST(MigrateStream, RoundTrip) {
	Sample s;
	Bytes in = s.full();
	ASSERT_EQ(in.size(),
		  MIGRATE_HDR_LEN + (MIGRATE_REC_HDR_LEN + MIGRATE_GUEST_LEN) +
			  2 * (MIGRATE_REC_HDR_LEN + MIGRATE_TCP_FLOW_FIXED + TCP_STATE_FIXED_LEN) +
			  s.sq4.size() + s.rq4.size() + s.sq6.size() + s.rq6.size() +
			  MIGRATE_REC_HDR_LEN);
	// The layout: little-endian, at the offsets of the codec's comments.
	EXPECT_EQ(memcmp(in.data(), "PASSTMIG", 8), 0);
	EXPECT_EQ(uint8_t(in[8]), MIGRATE_VERSION);
	EXPECT_EQ(uint8_t(in[10]), MIGRATE_HDR_LEN);
	EXPECT_EQ(uint8_t(in[MIGRATE_HDR_LEN]), uint8_t(MigrateRec::Guest));
	EXPECT_EQ(uint8_t(in[MIGRATE_HDR_LEN + 4]), MIGRATE_GUEST_LEN);
	EXPECT_EQ(uint8_t(in[Sample::F4 + 34]), 80);           // guest side, our port
	EXPECT_EQ(uint8_t(in[Sample::F4 + 80]), 0xf0);         // snd_una, low byte
	EXPECT_EQ(memcmp(&in[Sample::F4_SOCK], "PTCP", 4), 0); // the socket record
	EXPECT_EQ(uint8_t(in[in.size() - 8]), 0xff);           // End
	EXPECT_EQ(uint8_t(in[in.size() - 7]), 0xff);

	Walked w = walk(in);
	ASSERT_EQ(w.err, MigrateErr::Ok);
	ASSERT_EQ(w.guests.size(), 1u);
	EXPECT_EQ(w.guests[0].mac, s.g.mac);
	EXPECT_TRUE(w.guests[0].mac_seen);
	EXPECT_EQ(w.guests[0].addr4, s.g.addr4);
	EXPECT_EQ(w.guests[0].addr6, s.g.addr6);
	EXPECT_EQ(w.guests[0].addr6_ll, s.g.addr6_ll);
	ASSERT_EQ(w.flows.size(), 2u);
	expect_same(w.flows[0], s.f4);
	expect_same(w.flows[1], s.f6);
	EXPECT_TRUE(same_queue(w.flows[0].sock.sendq, s.sq4));
	EXPECT_TRUE(same_queue(w.flows[0].sock.recvq, s.rq4));
	EXPECT_TRUE(same_queue(w.flows[1].sock.sendq, s.sq6));
	EXPECT_TRUE(same_queue(w.flows[1].sock.recvq, s.rq6));
	// The queues point into the stream, not into the writer's buffers.
	EXPECT_EQ(w.flows[0].sock.sendq.data(), &in[Sample::F4_SOCK + TCP_STATE_FIXED_LEN]);
	EXPECT_GT(w.flows[1].sock.recvq.data(), w.flows[0].sock.recvq.data());
	EXPECT_LE(w.flows[1].sock.recvq.data() + s.rq6.size(), in.data() + in.size());

	// A guest whose MAC was not seen; and a stream of nothing but End.
	s.g.mac_seen = false;
	in = stream({guest_rec(s.g)});
	w = walk(in);
	ASSERT_EQ(w.err, MigrateErr::Ok);
	ASSERT_EQ(w.guests.size(), 1u);
	EXPECT_FALSE(w.guests[0].mac_seen);
	in = stream({});
	w = walk(in);
	EXPECT_EQ(w.err, MigrateErr::Ok);
	EXPECT_TRUE(w.guests.empty() && w.flows.empty());
}

TEST(MigrateStream, WritersRefuseShortBuffers) {
	Sample s;
	Bytes b(migrate_tcp_flow_len(s.f4) - 1);
	EXPECT_EQ(migrate_put_header(std::span(b).first(MIGRATE_HDR_LEN - 1)), 0u);
	EXPECT_EQ(migrate_put_rec_hdr(std::span(b).first(MIGRATE_REC_HDR_LEN - 1), MigrateRec::End,
				      0, 0),
		  0u);
	EXPECT_EQ(migrate_put_guest(std::span(b).first(MIGRATE_REC_HDR_LEN + MIGRATE_GUEST_LEN - 1),
				    s.g),
		  0u);
	EXPECT_EQ(migrate_put_tcp_flow(b, s.f4), 0u);
	// A socket record its encoder refuses (notsent over the send queue).
	s.f4.sock.notsent = uint32_t(s.sq4.size() + 1);
	b.resize(migrate_tcp_flow_len(s.f4));
	EXPECT_EQ(migrate_put_tcp_flow(b, s.f4), 0u);
}

TEST(MigrateStream, TruncatedAtEveryLength) {
	Bytes in = Sample().full();
	for (size_t n = 0; n < in.size(); n++) {
		// A buffer of exactly n bytes, so that ASan sees a read past it.
		Bytes cut(in.begin(), in.begin() + ptrdiff_t(n));
		EXPECT_EQ(walk_err(cut), MigrateErr::Truncated) << n;
	}
	EXPECT_EQ(walk_err(in), MigrateErr::Ok);
}

TEST(MigrateStream, BadMagic) {
	for (size_t i = 0; i < 8; i++) {
		Bytes in = Sample().full();
		in[i] = std::byte(uint8_t(in[i]) ^ 0x20);
		EXPECT_EQ(walk_err(in), MigrateErr::BadMagic) << i;
	}
	EXPECT_EQ(walk_err(Bytes(64)), MigrateErr::BadMagic);
}

TEST(MigrateStream, BadVersion) {
	for (uint16_t v : {0, 2, 0x100, 0xffff}) {
		Bytes in = Sample().full();
		put16(in, 8, v);
		EXPECT_EQ(walk_err(in), MigrateErr::BadVersion) << v;
	}
}

TEST(MigrateStream, HeaderLengthAndReserved) {
	for (uint16_t len : {0, 8, 15, 17, 24}) {
		Bytes in = Sample().full();
		put16(in, 10, len);
		EXPECT_EQ(walk_err(in), MigrateErr::BadField) << len;
	}
	for (size_t i = 12; i < MIGRATE_HDR_LEN; i++) {
		Bytes in = Sample().full();
		in[i] = std::byte(1);
		EXPECT_EQ(walk_err(in), MigrateErr::BadField) << i;
	}
}

TEST(MigrateStream, RecordFlags) {
	Sample s;
	for (uint16_t flags : {0x2, 0x3, 0x100, 0x8000, 0xffff}) {
		for (size_t off : {size_t(MIGRATE_HDR_LEN), Sample::F4 - MIGRATE_REC_HDR_LEN}) {
			Bytes in = s.full();
			put16(in, off + 2, flags);
			EXPECT_EQ(walk_err(in), MigrateErr::BadField) << flags << " at " << off;
		}
		Bytes in = s.full();
		put16(in, in.size() - 6, flags); // End's
		EXPECT_EQ(walk_err(in), MigrateErr::BadField) << flags;
		in = stream({raw_rec(3, flags, bytes("new"))});
		EXPECT_EQ(walk_err(in), MigrateErr::BadField) << flags;
	}
	// OPTIONAL on a known record: read as usual.
	Bytes in = s.full();
	put16(in, MIGRATE_HDR_LEN + 2, MIGRATE_REC_OPTIONAL);
	Walked w = walk(in);
	EXPECT_EQ(w.err, MigrateErr::Ok);
	EXPECT_EQ(w.guests.size(), 1u);
}

TEST(MigrateStream, UnknownMandatoryRecord) {
	Sample s;
	for (uint16_t type : {0, 3, 0x100, 0xfffe}) {
		Bytes in = stream({guest_rec(s.g), raw_rec(type, 0, bytes("from a newer source"))});
		Walked w = walk(in);
		EXPECT_EQ(w.err, MigrateErr::UnknownRecord) << type;
		EXPECT_EQ(w.guests.size(), 1u); // what came before was read
		in = stream({raw_rec(type, 0, {})});
		EXPECT_EQ(walk_err(in), MigrateErr::UnknownRecord) << type;
	}
}

TEST(MigrateStream, UnknownOptionalRecordSkipped) {
	Sample s;
	for (uint16_t type : {0, 3, 0x100, 0xfffe}) {
		Bytes in = stream(
			{guest_rec(s.g), raw_rec(type, MIGRATE_REC_OPTIONAL, bytes("ignore me")),
			 flow_rec(s.f4), raw_rec(type, MIGRATE_REC_OPTIONAL, {}), flow_rec(s.f6)});
		Walked w = walk(in);
		EXPECT_EQ(w.err, MigrateErr::Ok) << type;
		EXPECT_EQ(w.guests.size(), 1u);
		ASSERT_EQ(w.flows.size(), 2u);
		EXPECT_TRUE(same_queue(w.flows[1].sock.recvq, s.rq6));
	}
	// Its payload is skipped whole: one that looks like an End is not one.
	Bytes in = stream({raw_rec(3, MIGRATE_REC_OPTIONAL, end_rec()), guest_rec(s.g)});
	Walked w = walk(in);
	EXPECT_EQ(w.err, MigrateErr::Ok);
	EXPECT_EQ(w.guests.size(), 1u);
}

TEST(MigrateStream, EndWithLength) {
	Sample s;
	// With its payload present (the stream ends right after it).
	Bytes in = cat({header(), guest_rec(s.g), raw_rec(0xffff, 0, bytes("tail"))});
	EXPECT_EQ(walk_err(in), MigrateErr::BadLength);
	// Without: refused for its length, not as cut short.
	in = stream({guest_rec(s.g)});
	put32(in, in.size() - 4, 4);
	EXPECT_EQ(walk_err(in), MigrateErr::BadLength);
	// Marked optional changes nothing.
	in = cat({header(), raw_rec(0xffff, MIGRATE_REC_OPTIONAL, bytes("tail"))});
	EXPECT_EQ(walk_err(in), MigrateErr::BadLength);
}

TEST(MigrateStream, BytesAfterEnd) {
	Sample s;
	Bytes good = s.full();
	for (const Bytes &extra : {Bytes(1), Bytes(7), end_rec(), guest_rec(s.g)}) {
		Bytes in = cat({good, extra});
		Walked w = walk(in);
		EXPECT_EQ(w.err, MigrateErr::BadLength) << extra.size();
		EXPECT_EQ(w.guests.size(), 1u); // nothing after End was read
	}
}

TEST(MigrateStream, GuestLength) {
	Sample s;
	Bytes g = guest_rec(s.g);
	Bytes payload(g.begin() + MIGRATE_REC_HDR_LEN, g.end());
	for (size_t len :
	     {size_t(0), MIGRATE_GUEST_LEN - 1, MIGRATE_GUEST_LEN + 1, MIGRATE_GUEST_LEN * 2}) {
		Bytes p(len);
		std::copy_n(payload.begin(), std::min(len, payload.size()), p.begin());
		EXPECT_EQ(walk_err(stream({raw_rec(1, 0, p)})), MigrateErr::BadLength) << len;
		// The payload reader checks it too (the daemon's pipe reader
		// calls it without migrate_walk()).
		MigrateGuest d;
		EXPECT_EQ(migrate_get_guest(p, d), MigrateErr::BadLength) << len;
	}
	MigrateGuest d;
	EXPECT_EQ(migrate_get_guest(payload, d), MigrateErr::Ok);
	// From the record header alone, no payload following.
	for (size_t len : {MIGRATE_GUEST_LEN - 1, MIGRATE_GUEST_LEN + 1}) {
		Bytes h(MIGRATE_REC_HDR_LEN);
		migrate_put_rec_hdr(h, MigrateRec::Guest, 0, uint32_t(len));
		EXPECT_EQ(walk_err(cat({header(), h})), MigrateErr::BadLength) << len;
	}
}

TEST(MigrateStream, GuestReservedBits) {
	Sample s;
	for (uint8_t flags : {0x02, 0x03, 0x80, 0xff}) {
		Bytes in = s.full();
		in[Sample::GUEST + 6] = std::byte(flags);
		EXPECT_EQ(walk_err(in), MigrateErr::BadField) << int(flags);
	}
	for (uint8_t r : {0x01, 0x80}) {
		Bytes in = s.full();
		in[Sample::GUEST + 7] = std::byte(r);
		EXPECT_EQ(walk_err(in), MigrateErr::BadField) << int(r);
	}
	Bytes in = s.full();
	in[Sample::GUEST + 6] = std::byte(0); // MAC not seen: fine
	EXPECT_EQ(walk_err(in), MigrateErr::Ok);
}

TEST(MigrateTcpFlowRecord, ShorterThanItsFixedParts) {
	Sample s;
	Bytes r = flow_rec(s.f4);
	Bytes payload(r.begin() + MIGRATE_REC_HDR_LEN, r.end());
	for (size_t len : {size_t(0), MIGRATE_TCP_FLOW_FIXED,
			   MIGRATE_TCP_FLOW_FIXED + TCP_STATE_FIXED_LEN - 1}) {
		Bytes p(payload.begin(), payload.begin() + ptrdiff_t(len));
		EXPECT_EQ(walk_err(stream({raw_rec(2, 0, p)})), MigrateErr::BadLength) << len;
		MigrateTcpFlow d;
		EXPECT_EQ(migrate_get_tcp_flow(p, d), MigrateErr::BadLength) << len;
		// From the record header alone, no payload following.
		Bytes h(MIGRATE_REC_HDR_LEN);
		migrate_put_rec_hdr(h, MigrateRec::TcpFlow, 0, uint32_t(len));
		EXPECT_EQ(walk_err(cat({header(), h})), MigrateErr::BadLength) << len;
	}
}

TEST(MigrateTcpFlowRecord, ReservedFields) {
	Sample s;
	for (uint8_t bit = 0x4; bit; bit = uint8_t(bit << 1)) {
		Bytes in = s.full();
		in[Sample::F4 + 72] = std::byte(uint8_t(in[Sample::F4 + 72]) | bit);
		EXPECT_EQ(walk_err(in), MigrateErr::BadField) << int(bit);
	}
	for (size_t off : {74, 75, 78, 79}) {
		Bytes in = s.full();
		in[Sample::F4 + off] = std::byte(1);
		EXPECT_EQ(walk_err(in), MigrateErr::BadField) << off;
	}
	// The two flags that exist, each way.
	for (uint8_t fl : {0x0, 0x1}) {
		Bytes in = s.full();
		in[Sample::F4 + 72] = std::byte(fl);
		in[Sample::F4 + 73] = std::byte(0); // no scaling without the flag
		Walked w = walk(in);
		ASSERT_EQ(w.err, MigrateErr::Ok) << int(fl);
		EXPECT_EQ(w.flows[0].flow.inbound, fl == 1);
		EXPECT_FALSE(w.flows[0].flow.guest_ws);
	}
}

TEST(MigrateTcpFlowRecord, WindowScale) {
	Sample s;
	for (uint8_t ws : {15, 16, 255}) {
		s.f4.flow.guest_ws = true;
		s.f4.flow.guest_wscale = ws;
		EXPECT_EQ(walk_flow(s.f4), MigrateErr::BadField) << int(ws);
	}
	// A scale without window scaling.
	for (uint8_t ws : {1, 14}) {
		s.f4.flow.guest_ws = false;
		s.f4.flow.guest_wscale = ws;
		EXPECT_EQ(walk_flow(s.f4), MigrateErr::BadField) << int(ws);
	}
	s.f4.flow.guest_ws = true;
	s.f4.flow.guest_wscale = 14;
	EXPECT_EQ(walk_flow(s.f4), MigrateErr::Ok);
	s.f4.flow.guest_ws = false;
	s.f4.flow.guest_wscale = 0;
	EXPECT_EQ(walk_flow(s.f4), MigrateErr::Ok);
}

TEST(MigrateTcpFlowRecord, Mss) {
	Sample s;
	for (uint16_t mss : {0, 1, 63}) {
		s.f4.flow.guest_mss = mss;
		EXPECT_EQ(walk_flow(s.f4), MigrateErr::BadField) << mss;
	}
	for (uint16_t mss : {64, 65535}) {
		s.f4.flow.guest_mss = mss;
		EXPECT_EQ(walk_flow(s.f4), MigrateErr::Ok) << mss;
	}
}

TEST(MigrateTcpFlowRecord, FlowLabel) {
	Sample s;
	for (uint32_t fl : {0x100000u, 0x80000000u, 0xffffffffu}) {
		s.f6.flow.flow_label = fl;
		EXPECT_EQ(walk_flow(s.f6), MigrateErr::BadField) << fl;
	}
	s.f6.flow.flow_label = 0xfffff;
	EXPECT_EQ(walk_flow(s.f6), MigrateErr::Ok);
}

// Each port of each side at 0. The host side's socket follows it, so that
// only the flow's own check can refuse a zero local port, and a zero peer
// port would otherwise be the socket record's refusal (BadSocket).
TEST(MigrateTcpFlowRecord, ZeroPorts) {
	for (int which = 0; which < 4; which++) {
		for (bool is6 : {false, true}) {
			Sample s;
			MigrateTcpFlow &f = is6 ? s.f6 : s.f4;
			FlowSide &side = which < 2 ? f.flow.guest : f.flow.host;
			(which % 2 ? side.peer_port : side.our_port) = 0;
			sock_from_host(f);
			EXPECT_EQ(walk_flow(f), MigrateErr::BadField) << which << " v6 " << is6;
		}
	}
}

TEST(MigrateTcpFlowRecord, UnspecifiedAddresses) {
	for (int which = 0; which < 4; which++) {
		for (bool is6 : {false, true}) {
			Sample s;
			MigrateTcpFlow &f = is6 ? s.f6 : s.f4;
			FlowSide &side = which < 2 ? f.flow.guest : f.flow.host;
			InAny none = is6 ? InAny(Ipv6Addr::any()) : InAny(Ipv4Addr::any());
			(which % 2 ? side.peer_addr : side.our_addr) = none;
			sock_from_host(f);
			EXPECT_EQ(walk_flow(f), MigrateErr::BadField) << which << " v6 " << is6;
		}
	}
}

// One address of a side IPv4, the other IPv6. The host side's socket is an
// IPv6 one with the same ends, which its own record accepts.
TEST(MigrateTcpFlowRecord, MixedFamiliesInASide) {
	for (int which = 0; which < 4; which++) {
		for (bool is6 : {false, true}) {
			Sample s;
			MigrateTcpFlow &f = is6 ? s.f6 : s.f4;
			FlowSide &side = which < 2 ? f.flow.guest : f.flow.host;
			InAny other =
				is6 ? InAny(Ipv4Addr{{198, 51, 100, 7}}) : InAny(v6("2001:db8::7"));
			(which % 2 ? side.peer_addr : side.our_addr) = other;
			sock_from_host(f);
			f.sock.v6 = true;
			EXPECT_EQ(walk_flow(f), MigrateErr::BadField) << which << " v6 " << is6;
		}
	}
	// Each side in one family, the two sides in different ones: not this
	// check's business.
	Sample s;
	s.f4.flow.guest = s.f6.flow.guest;
	EXPECT_EQ(walk_flow(s.f4), MigrateErr::Ok);
}

TEST(MigrateTcpFlowRecord, SocketEndsDifferFromHostSide) {
	for (int which = 0; which < 5; which++) {
		Sample s;
		TcpSockState &k = s.f4.sock;
		switch (which) {
		case 0: k.local_port++; break;
		case 1: k.remote_port++; break;
		case 2: k.local_addr = InAny(Ipv4Addr{{192, 0, 2, 3}}); break;
		case 3: k.remote_addr = InAny(Ipv4Addr{{203, 0, 113, 6}}); break;
		case 4: std::swap(k.local_addr, k.remote_addr); break;
		}
		EXPECT_EQ(walk_flow(s.f4), MigrateErr::BadField) << which;
	}
	// The guest side's ends are not the socket's.
	Sample s;
	s.f4.sock.local_addr = s.f4.flow.guest.our_addr;
	s.f4.sock.local_port = s.f4.flow.guest.our_port;
	EXPECT_EQ(walk_flow(s.f4), MigrateErr::BadField);
	// An IPv6 socket with the IPv4 host side's ends (v4-mapped): the same.
	Sample t;
	t.f4.sock.v6 = true;
	EXPECT_EQ(walk_flow(t.f4), MigrateErr::Ok);
}

TEST(MigrateTcpFlowRecord, BadSocket) {
	struct Case {
		size_t off;
		uint8_t val;
		TcpStateErr want;
	};
	for (Case c : {Case{0, 'X', TcpStateErr::BadMagic}, Case{4, 2, TcpStateErr::BadVersion},
		       Case{6, 100, TcpStateErr::BadLength}, Case{12, 0x80, TcpStateErr::BadField},
		       Case{13, 15, TcpStateErr::BadField}, Case{50, 0, TcpStateErr::BadField}}) {
		Sample s;
		Bytes in = s.full();
		in[Sample::F4_SOCK + c.off] = std::byte(c.val);
		if (c.off == 50)
			in[Sample::F4_SOCK + 51] = std::byte(0); // remote port 0
		EXPECT_EQ(walk_err(in), MigrateErr::BadSocket) << c.off;
		uint32_t len = uint32_t(in[Sample::F4 - 4]) | uint32_t(in[Sample::F4 - 3]) << 8;
		std::span<const std::byte> payload(&in[Sample::F4], len);
		MigrateTcpFlow d;
		TcpStateErr why = TcpStateErr::Ok;
		EXPECT_EQ(migrate_get_tcp_flow(payload, d, &why), MigrateErr::BadSocket) << c.off;
		EXPECT_EQ(why, c.want) << c.off;
	}
	// A socket record longer than the flow record holding it.
	Sample s;
	Bytes in = s.full();
	uint32_t total = uint32_t(TCP_STATE_FIXED_LEN + s.sq4.size() + s.rq4.size());
	put32(in, Sample::F4_SOCK + 8, total + 1);
	put32(in, Sample::F4_SOCK + 108, uint32_t(s.rq4.size() + 1));
	EXPECT_EQ(walk_err(in), MigrateErr::BadSocket);
	MigrateTcpFlow d;
	TcpStateErr why = TcpStateErr::Ok;
	EXPECT_EQ(migrate_get_tcp_flow(std::span(&in[Sample::F4], MIGRATE_TCP_FLOW_FIXED + total),
				       d, &why),
		  MigrateErr::BadSocket);
	EXPECT_EQ(why, TcpStateErr::Truncated);
	// Accepted: reported as such.
	in = s.full();
	why = TcpStateErr::BadMagic;
	EXPECT_EQ(migrate_get_tcp_flow(std::span(&in[Sample::F4], MIGRATE_TCP_FLOW_FIXED + total),
				       d, &why),
		  MigrateErr::Ok);
	EXPECT_EQ(why, TcpStateErr::Ok);
}

TEST(MigrateTcpFlowRecord, PayloadLongerThanItsSocketRecord) {
	Sample s;
	for (size_t extra : {1, 8, 112}) {
		Bytes r = flow_rec(s.f4);
		r.insert(r.end(), extra, std::byte(0));
		put32(r, 4, uint32_t(r.size() - MIGRATE_REC_HDR_LEN));
		EXPECT_EQ(walk_err(stream({r})), MigrateErr::BadLength) << extra;
		MigrateTcpFlow d;
		EXPECT_EQ(migrate_get_tcp_flow(std::span(r).subspan(MIGRATE_REC_HDR_LEN), d),
			  MigrateErr::BadLength)
			<< extra;
	}
	// Two socket records in one flow record: the second is not read.
	Bytes r = flow_rec(s.f4);
	r.insert(r.end(), r.begin() + MIGRATE_REC_HDR_LEN + MIGRATE_TCP_FLOW_FIXED, r.end());
	put32(r, 4, uint32_t(r.size() - MIGRATE_REC_HDR_LEN));
	EXPECT_EQ(walk_err(stream({r})), MigrateErr::BadLength);
}

// Refused from the record header alone, before anything is read or the
// payload is looked for (none follows here).
TEST(MigrateStream, RecordLengthOverMax) {
	for (uint16_t type : {uint16_t(2), uint16_t(3), uint16_t(0x100)}) {
		for (uint32_t len : {uint32_t(MIGRATE_REC_MAX + 1), 0xffffffffu}) {
			Bytes h(MIGRATE_REC_HDR_LEN);
			migrate_put_rec_hdr(h, MigrateRec(type), MIGRATE_REC_OPTIONAL, len);
			Bytes in = cat({header(), h});
			EXPECT_EQ(walk_err(in), MigrateErr::BadLength) << type << " " << len;
			uint16_t t, f;
			uint32_t l;
			EXPECT_EQ(migrate_get_rec_hdr(h, t, f, l), MigrateErr::BadLength);
		}
	}
	// The largest is fine in a header.
	Bytes h(MIGRATE_REC_HDR_LEN);
	migrate_put_rec_hdr(h, MigrateRec::TcpFlow, 0, uint32_t(MIGRATE_REC_MAX));
	uint16_t t, f;
	uint32_t l;
	EXPECT_EQ(migrate_get_rec_hdr(h, t, f, l), MigrateErr::Ok);
	EXPECT_EQ(l, MIGRATE_REC_MAX);
	EXPECT_EQ(walk_err(cat({header(), h})), MigrateErr::Truncated);
}

TEST(MigrateStream, ErrorStrings) {
	for (auto e : {MigrateErr::Ok, MigrateErr::Truncated, MigrateErr::BadMagic,
		       MigrateErr::BadVersion, MigrateErr::BadLength, MigrateErr::BadField,
		       MigrateErr::UnknownRecord, MigrateErr::BadSocket})
		EXPECT_STRNE(migrate_err_str(e), "?");
}

} // namespace
