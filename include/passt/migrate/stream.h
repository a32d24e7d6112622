// The state stream of a live migration: what the source passt writes into
// the vhost-user device-state pipe and the target passt reads from it
// (doc/migration.md has the layout, field by field). This header is the
// codec: pure functions over byte spans, so that the reader is tested and
// fuzzed without sockets; src/migrate/migrate.cpp moves the flows.
//
// A stream is a header (magic, version), then records, each a type, flags
// and a payload length in front of the payload, and last an End record:
// a stream without one was cut short. A reader refuses a record type it
// does not know unless the record's flags mark it optional, so that a
// newer source can add what an older target may ignore.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "passt/flow/flow.h"
#include "passt/migrate/tcp_state.h"
#include "passt/net/addr.h"

namespace passt {

inline constexpr uint16_t MIGRATE_VERSION = 1;
inline constexpr size_t MIGRATE_HDR_LEN = 16;
inline constexpr size_t MIGRATE_REC_HDR_LEN = 8;
inline constexpr uint16_t MIGRATE_REC_OPTIONAL = 0x1; // record flags

enum class MigrateRec : uint16_t {
	Guest = 1,   // what the guest was seen using
	TcpFlow = 2, // one TCP connection
	End = 0xffff,
};

inline constexpr size_t MIGRATE_GUEST_LEN = 44;
inline constexpr size_t MIGRATE_TCP_FLOW_FIXED = 100;
// The largest payload a reader accepts: a TCP flow with both queues full.
inline constexpr size_t MIGRATE_REC_MAX =
	MIGRATE_TCP_FLOW_FIXED + TCP_STATE_FIXED_LEN + 2 * TCP_STATE_QUEUE_MAX;

enum class MigrateErr : uint8_t {
	Ok,
	Truncated,     // shorter than a header or a payload says
	BadMagic,      // not a stream of ours
	BadVersion,    // a version this reader does not know
	BadLength,     // a payload length that does not fit its type or the limit
	BadField,      // a field out of range
	UnknownRecord, // a mandatory record type this reader does not know
	BadSocket,     // the TCP socket record inside a flow record (see TcpStateErr)
};
const char *migrate_err_str(MigrateErr e);

// What the guest was seen using (the tap side's TapState).
struct MigrateGuest {
	MacAddr mac;
	bool mac_seen = false;
	Ipv4Addr addr4;
	Ipv6Addr addr6, addr6_ll;
};

// What the TCP translator holds for a flow besides its socket's kernel
// state. Sequence numbers are the guest's side of the translation.
struct TcpFlowImage {
	FlowSide guest, host; // the flow's two sides (flow.h)
	bool inbound = false; // accepted on a -t listener (else opened by the guest)
	bool guest_ws = false;
	uint8_t guest_wscale = 0;
	uint16_t guest_mss = 0;
	uint32_t snd_una = 0;   // towards the guest: the first byte of the socket's receive queue
	uint32_t rcv_nxt = 0;   // from the guest: the next byte expected
	uint32_t guest_wnd = 0; // the guest's window, bytes
	uint32_t last_wnd = 0;  // the window we last advertised, bytes
	uint32_t flow_label = 0;
};

struct MigrateTcpFlow {
	TcpFlowImage flow;
	TcpSockState sock; // its queues point into the payload decoded from
};

// ---- Writer: each returns the bytes written, 0 if out is too small ------
size_t migrate_put_header(std::span<std::byte> out);
size_t migrate_put_rec_hdr(std::span<std::byte> out, MigrateRec type, uint16_t flags, uint32_t len);
size_t migrate_put_guest(std::span<std::byte> out, const MigrateGuest &g);
// A whole TCP flow record, its record header included.
size_t migrate_tcp_flow_len(const MigrateTcpFlow &f);
size_t migrate_put_tcp_flow(std::span<std::byte> out, const MigrateTcpFlow &f);

// ---- Reader ------------------------------------------------------------
MigrateErr migrate_get_header(std::span<const std::byte> in);
MigrateErr migrate_get_rec_hdr(std::span<const std::byte> in, uint16_t &type, uint16_t &flags,
			       uint32_t &len);
// Payloads (without their record header).
MigrateErr migrate_get_guest(std::span<const std::byte> payload, MigrateGuest &g);
// sock_err, if given, tells why the socket record was refused (BadSocket).
MigrateErr migrate_get_tcp_flow(std::span<const std::byte> payload, MigrateTcpFlow &f,
				TcpStateErr *sock_err = nullptr);

// A whole stream held in memory, record by record: on_guest / on_tcp are
// called for each record of their type (optional unknown records are
// skipped). Ok only if the stream ends with End and nothing after it.
// For tests and the fuzzer; the daemon reads its pipe record by record
// with the same functions.
template <class G, class T>
MigrateErr migrate_walk(std::span<const std::byte> in, G &&on_guest, T &&on_tcp) {
	MigrateErr e = migrate_get_header(in);
	if (e != MigrateErr::Ok)
		return e;
	in = in.subspan(MIGRATE_HDR_LEN);
	for (;;) {
		uint16_t type, flags;
		uint32_t len;
		if ((e = migrate_get_rec_hdr(in, type, flags, len)) != MigrateErr::Ok)
			return e;
		if (in.size() - MIGRATE_REC_HDR_LEN < len)
			return MigrateErr::Truncated;
		std::span<const std::byte> p = in.subspan(MIGRATE_REC_HDR_LEN, len);
		in = in.subspan(MIGRATE_REC_HDR_LEN + len);
		if (type == uint16_t(MigrateRec::End))
			return in.empty() ? MigrateErr::Ok : MigrateErr::BadLength;
		if (type == uint16_t(MigrateRec::Guest)) {
			MigrateGuest g;
			if ((e = migrate_get_guest(p, g)) != MigrateErr::Ok)
				return e;
			on_guest(g);
		} else if (type == uint16_t(MigrateRec::TcpFlow)) {
			MigrateTcpFlow f;
			if ((e = migrate_get_tcp_flow(p, f)) != MigrateErr::Ok)
				return e;
			on_tcp(f);
		}
	}
}

} // namespace passt
