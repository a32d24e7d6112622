// Live migration of a passt vhost-user instance.
//
// Theory of operation. qemu moves the guest; the vhost-user back-end
// (tap/vhost_user.cpp) hands us the device-state pipe once both queues are
// stopped, and we move what the guest cannot see but relies on: which MAC
// and addresses it was seen using, and its TCP connections, whose host
// sockets must reappear on the target with the same kernel state or the
// host peers would see a reset. UDP and ICMP flows are not moved: they are
// re-created by the next datagram, as after any restart.
//
// Source (migrate_save()): every TCP flow that can move (established, no
// FIN: tcp_flow_unmigratable() names what keeps the others) is frozen
// (out of the loop, no timer), all their sockets go into repair mode in
// batches through passt-repair, and each is dumped (tcp_state_dump) into
// one record of the stream behind the header and the guest record.
// Without a helper, or if it fails, nothing is written and the migration
// fails: qemu then resumes the guest here. A flow whose dump fails (a
// queue over the record's limit) is left out and counted: it does not
// survive. After a successful save the frozen flows stay here, in repair
// mode, where they send nothing, until either:
//   - the queues start again (migrate_resumed(): the migration failed
//     after all): repair mode off, the flows run again from their last
//     acknowledgement;
//   - the front-end goes away or we exit: closing a socket in repair mode
//     sends neither FIN nor RST, so the connection lives on only at the
//     target.
// --migrate-no-linger closes them right after the save instead: source
// and target in one network namespace cannot both hold the same 4-tuple.
// --migrate-exit makes the instance exit once qemu has checked the saved
// state (CHECK_DEVICE_STATE).
//
// Target (migrate_load()): the stream is read record by record; each TCP
// record becomes a new socket (tcp_state_socket), put in repair mode,
// restored (bound, sequence numbers, queues, window), taken out of repair
// mode, given its never-sent data, and adopted by the TCP translator as an
// established flow (tcp_flow_adopt). A record that cannot be restored, or
// a malformed stream, fails the load (CHECK_DEVICE_STATE then fails, and
// qemu resumes the source, whose lingering sockets hold every connection):
// the flows restored so far go back into repair mode and close silently.
//
// The helper's connection is closed once no socket may need it again (the
// source: its frozen sockets closed or resumed; the target: the load
// over), and passt-repair exits with it: each migration starts its own.
//
// Every wait is bounded: the helper's answers (REPAIR_TIMEOUT_MS), a
// helper that has not connected yet (HELPER_WAIT_MS). Buffers are static:
// nothing is allocated after the sandbox.
//
// #syscalls:vu read write close setsockopt clock_gettime poll|ppoll
#include "passt/migrate/migrate.h"

#include <cerrno>
#include <cstring>

#include <sys/socket.h>
#include <poll.h>
#include <unistd.h>

#include "passt/core/log.h"
#include "passt/core/util.h"
#include "passt/flow/flow.h"
#include "passt/migrate/stream.h"
#include "passt/migrate/tcp_state.h"
#include "passt/tcp/tcp.h"

namespace passt {

namespace {

constexpr int REPAIR_TIMEOUT_MS = 5000;
constexpr int HELPER_WAIT_MS = 2000;
constexpr int DUMP_RETRIES = 5;
// Waiting for data in flight once the windows are closed: at least twice
// the largest RTT, between these bounds, polled every SETTLE_POLL_MS.
constexpr int64_t SETTLE_MIN_MS = 5, SETTLE_MAX_MS = 500, SETTLE_POLL_MS = 5;
// With --migrate-no-linger, how long to wait for peers that have not heard
// of the closed window yet (they learn it from the next data they send):
// once the socket is closed, what they send meets no socket until the
// target re-creates it, and the kernel answers with a reset. Well under
// the smallest retransmission timeout (200 ms): data dropped at the
// closed window comes back after it, and should find the target's socket.
constexpr int64_t STALE_WAIT_MS = 50;

// One record at a time, either way; the dump copies queues here.
alignas(64) std::byte rec_buf[MIGRATE_REC_HDR_LEN + MIGRATE_REC_MAX];
alignas(64) std::byte sendq_buf[TCP_STATE_QUEUE_MAX];
alignas(64) std::byte recvq_buf[TCP_STATE_QUEUE_MAX];
uint32_t frozen[FLOW_MAX];
int frozen_fds[FLOW_MAX];
// Source: each frozen socket's buffer before it was quiesced, and where
// its receive queue ends.
TcpQuiesce quiesced[FLOW_MAX];
uint32_t rcv_end[FLOW_MAX];
bool dumped[FLOW_MAX];
// Target: the flows adopted so far from the stream being loaded.
uint32_t adopted[FLOW_MAX];

int write_all(int fd, const std::byte *p, size_t len) {
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= size_t(n);
	}
	return 0;
}

// Exactly len bytes: 0, -ENODATA at end of file before the first byte,
// -EPROTO at end of file after it, or -errno.
int read_all(int fd, std::byte *p, size_t len) {
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return got ? -EPROTO : -ENODATA;
		got += size_t(n);
	}
	return 0;
}

int64_t since_ns(const timespec &t0) { return timespec_diff_ns(now_monotonic(), t0); }

} // namespace

Migrator::Migrator(const Config &c, TapState &st, TcpCtx *tcp, EventLoop &loop)
	: c_(c), st_(st), tcp_(tcp), loop_(loop) {}

int Migrator::open_repair(const std::string &path) {
	int rc = repair_listen(repair_, path);
	if (rc < 0)
		return rc;
	rc = loop_.add(repair_.listen_fd, EPOLLIN,
		       EpollRef{RefKind::RepairListen, repair_.listen_fd, 0});
	if (rc < 0)
		repair_close(repair_);
	return rc;
}

void Migrator::watch_helper() {
	if (repair_.conn_fd >= 0 &&
	    loop_.add(repair_.conn_fd, EPOLLRDHUP,
		      EpollRef{RefKind::RepairConn, repair_.conn_fd, 0}) < 0)
		warn("migration: can't watch the passt-repair connection: %s", strerror(errno));
}

void Migrator::handle_event(EpollRef ref, uint32_t events) {
	if (ref.kind == RefKind::RepairListen) {
		int old = repair_.conn_fd;
		if (repair_accept(repair_, 0) < 0)
			return;
		if (old >= 0)
			info("migration: a new passt-repair connection replaces the old one");
		else
			info("migration: passt-repair connected");
		watch_helper();
		return;
	}
	// The helper hung up (or sent something it should not have: it only
	// answers commands, which we read ourselves while waiting).
	if (ref.kind == RefKind::RepairConn && ref.fd == repair_.conn_fd &&
	    (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		drop_helper("passt-repair disconnected");
}

// The helper holds CAP_NET_ADMIN: let it go (it exits) as soon as no
// socket of ours may need it again; the next migration needs a new one.
void Migrator::release_helper() { drop_helper("done with passt-repair, connection closed"); }

void Migrator::drop_helper(const char *why) {
	if (repair_.conn_fd < 0)
		return;
	loop_.remove(repair_.conn_fd);
	close(repair_.conn_fd);
	repair_.conn_fd = -1;
	info("migration: %s", why);
}

void Migrator::front_end_gone() {
	saved_ = false;
	nfrozen_ = 0;
	release_helper();
}

bool Migrator::need_helper(int timeout_ms) {
	if (repair_.conn_fd >= 0)
		return true;
	if (repair_.listen_fd < 0 || repair_accept(repair_, timeout_ms) < 0)
		return false;
	info("migration: passt-repair connected");
	watch_helper();
	return true;
}

// Close every frozen socket's receive window, then wait until what the
// peers had in flight has landed and what we had sent is acknowledged:
// rcv_nxt still over one poll, nothing in flight, and at least twice the
// largest RTT gone by (see tcp_state.cpp). With --migrate-no-linger, also
// until every peer has been told of the closed window, for up to
// STALE_WAIT_MS. Then seal the sockets: nothing arrives after this.
int Migrator::quiesce_frozen() {
	uint32_t rtt_us = 0;
	for (size_t i = 0; i < nfrozen_; i++) {
		quiesced[i] = TcpQuiesce{};
		int rc = tcp_state_quiesce(frozen_fds[i], quiesced[i]);
		if (rc < 0)
			debug("migration: TCP flow %u: can't close its window: %s", frozen[i],
			      strerror(-rc));
		if (quiesced[i].rtt_us > rtt_us)
			rtt_us = quiesced[i].rtt_us;
	}
	// A closed window only counts once the peer hears of it: a peer that
	// sent nothing since would go on sending into the old one. Out of
	// repair mode and back, the kernel sends a window probe with the
	// closed window; a Linux peer ignores the window in it (it acks
	// nothing new), so the settle below also waits for the answer to the
	// peer's next data (tcp_state_peer_closed() counts the probe out).
	int rc = repair_set(repair_, {frozen_fds, nfrozen_}, REPAIR_OFF, REPAIR_TIMEOUT_MS);
	if (rc < 0) {
		// Some may still be in repair mode, and nothing can take them out.
		err("migration: passt-repair failed (%s): %zu connections lost", strerror(-rc),
		    nfrozen_);
		for (size_t i = 0; i < nfrozen_; i++)
			tcp_flow_discard(*tcp_, frozen[i]);
		nfrozen_ = 0;
		return rc;
	}
	if ((rc = repair_set(repair_, {frozen_fds, nfrozen_}, REPAIR_ON, REPAIR_TIMEOUT_MS)) < 0) {
		// All out of repair mode: they simply go on.
		err("migration: passt-repair failed (%s): migration refused", strerror(-rc));
		const timespec now = now_monotonic();
		for (size_t i = 0; i < nfrozen_; i++) {
			tcp_state_unquiesce(frozen_fds[i], quiesced[i]);
			tcp_flow_thaw(*tcp_, frozen[i], now);
		}
		nfrozen_ = 0;
		return rc;
	}
	for (size_t i = 0; i < nfrozen_; i++)
		tcp_state_rcv_nxt(frozen_fds[i], rcv_end[i]);
	int64_t settle = 2 * int64_t(rtt_us) / 1000;
	settle = settle < SETTLE_MIN_MS   ? SETTLE_MIN_MS
		 : settle > SETTLE_MAX_MS ? SETTLE_MAX_MS
					  : settle;
	const timespec t0 = now_monotonic();
	size_t open_windows = 0;
	int64_t waited = 0;
	for (;;) {
		poll(nullptr, 0, int(SETTLE_POLL_MS));
		bool moved = false;
		open_windows = 0;
		for (size_t i = 0; i < nfrozen_; i++) {
			uint32_t seq = rcv_end[i], in_flight = 0;
			bool closed = false;
			tcp_state_rcv_nxt(frozen_fds[i], seq);
			tcp_state_in_flight(frozen_fds[i], in_flight);
			moved |= seq != rcv_end[i] || in_flight;
			rcv_end[i] = seq;
			if (c_.migrate_no_linger && quiesced[i].segs_known &&
			    !tcp_state_peer_closed(frozen_fds[i], quiesced[i], closed) && !closed)
				open_windows++;
		}
		waited = since_ns(t0) / NS_PER_MS;
		if (!moved && waited >= settle && (!open_windows || waited >= STALE_WAIT_MS))
			break;
		if (waited >= 2 * SETTLE_MAX_MS) {
			warn("migration: data or ACKs in flight after %lld ms, windows closed",
			     (long long)waited);
			break;
		}
	}
	if (open_windows)
		debug("migration: %zu peers quiet for %lld ms have not been told of the closed "
		      "window",
		      open_windows, (long long)waited);
	for (size_t i = 0; i < nfrozen_; i++) {
		if ((rc = tcp_state_seal(frozen_fds[i], quiesced[i])) < 0)
			debug("migration: TCP flow %u: can't seal its socket: %s", frozen[i],
			      strerror(-rc));
		// What landed between the last poll and the seal.
		tcp_state_rcv_nxt(frozen_fds[i], rcv_end[i]);
	}
	return 0;
}

// Data that arrived at a socket after its dump was acknowledged to the peer
// and is in no record: the save fails, and the guest resumes here, where
// the data is. Sealed sockets take nothing; this catches a socket the seal
// failed on (a kernel without TCP_MD5SIG).
int Migrator::check_unmoved() {
	for (size_t i = 0; i < nfrozen_; i++) {
		uint32_t seq;
		if (!dumped[i] || tcp_state_rcv_nxt(frozen_fds[i], seq) < 0 || seq == rcv_end[i])
			continue;
		warn("migration: TCP flow %u: %u bytes arrived after its dump: migration refused",
		     frozen[i], seq - rcv_end[i]);
		return -EAGAIN;
	}
	return 0;
}

int Migrator::migrate_save(int fd) {
	const timespec t0 = now_monotonic();
	nfrozen_ = 0;
	saved_ = false;
	size_t skipped = 0;
	if (tcp_) {
		tcp_->flows.for_each([&](uint32_t i, Flow &f) {
			if (f.type != FlowType::Tcp)
				return;
			if (const char *why = tcp_flow_unmigratable(*tcp_, i)) {
				warn("migration: TCP flow %u stays behind: %s", i, why);
				skipped++;
			} else {
				frozen[nfrozen_++] = i;
			}
		});
	}
	stats_.skipped += skipped;
	if (nfrozen_ && !need_helper(0)) {
		warn("migration: %zu TCP connections to move, but no passt-repair is connected to "
		     "%s: migration refused",
		     nfrozen_,
		     repair_.path.empty() ? "(--repair-path none)" : repair_.path.c_str());
		nfrozen_ = 0;
		return -ENOTCONN;
	}
	for (size_t i = 0; i < nfrozen_; i++)
		frozen_fds[i] = tcp_flow_freeze(*tcp_, frozen[i]);
	int rc = nfrozen_
			 ? repair_set(repair_, {frozen_fds, nfrozen_}, REPAIR_ON, REPAIR_TIMEOUT_MS)
			 : 0;
	if (rc < 0) {
		// Sockets the helper did set before it failed stay in repair
		// mode: with the helper gone nothing can take them out, and
		// those connections stall until they time out.
		err("migration: passt-repair could not switch %zu sockets to repair mode: %s",
		    nfrozen_, strerror(-rc));
		for (size_t i = 0; i < nfrozen_; i++)
			tcp_flow_thaw(*tcp_, frozen[i], now_monotonic());
		nfrozen_ = 0;
		return rc;
	}

	if (nfrozen_ && (rc = quiesce_frozen()) < 0)
		return rc;
	size_t len = migrate_put_header(rec_buf);
	MigrateGuest g{st_.guest_mac, st_.guest_mac_seen, st_.addr4_seen, st_.addr6_seen,
		       st_.addr6_ll_seen};
	len += migrate_put_guest(std::span(rec_buf).subspan(len), g);
	uint64_t total = len;
	if ((rc = write_all(fd, rec_buf, len)) < 0)
		goto out;
	for (size_t i = 0; i < nfrozen_; i++) {
		const uint32_t flow = frozen[i];
		MigrateTcpFlow f;
		tcp_flow_image(*tcp_, flow, f.flow);
		int drc = -EAGAIN;
		for (int k = 0; k < DUMP_RETRIES && drc == -EAGAIN; k++)
			drc = tcp_state_dump(frozen_fds[i], f.sock, sendq_buf, recvq_buf);
		if (quiesced[i].rcvbuf)
			f.sock.rcvbuf = quiesced[i].rcvbuf; // from before the quiesce
		dumped[i] = false;
		if (drc < 0) {
			warn("migration: TCP flow %u (%s:%u): can't dump its socket: %s; this "
			     "connection will not survive",
			     flow, f.flow.host.peer_addr.text().c_str(), f.flow.host.peer_port,
			     strerror(-drc));
			stats_.failed++;
			continue;
		}
		size_t n = migrate_put_tcp_flow(rec_buf, f);
		if (!n) {
			warn("migration: TCP flow %u: record too large", flow);
			stats_.failed++;
			continue;
		}
		rcv_end[i] = f.sock.rcv_seq + uint32_t(f.sock.recvq.size());
		dumped[i] = true;
		if (c_.migrate_no_linger) {
			// The target may restore this 4-tuple as soon as it reads
			// the record (qemu streams the state through as it comes),
			// and in the same network namespace it can't while we hold
			// it: the socket goes first, in repair mode, silently.
			tcp_flow_discard(*tcp_, flow);
			frozen[i] = FLOW_NONE;
			dumped[i] = false;
		}
		if ((rc = write_all(fd, rec_buf, n)) < 0)
			goto out;
		total += n;
		stats_.saved++;
		debug("migration: TCP flow %u: %zu bytes to send, %u of them never sent, %zu "
		      "received",
		      flow, f.sock.sendq.size(), f.sock.notsent, f.sock.recvq.size());
	}
	if ((rc = check_unmoved()) < 0)
		goto out;
	len = migrate_put_rec_hdr(rec_buf, MigrateRec::End, 0, 0);
	rc = write_all(fd, rec_buf, len);
	total += len;
out:
	if (rc < 0) {
		// qemu fails the migration and resumes the guest here.
		warn("migration: writing the state: %s", strerror(-rc));
		thaw_all();
		return rc;
	}
	stats_.stream_bytes = total;
	stats_.last_save_ns = since_ns(t0);
	saved_ = true;
	info("migration: state saved: %zu TCP connections, %zu left behind, %llu bytes, %lld us",
	     nfrozen_, skipped, (unsigned long long)total, (long long)(stats_.last_save_ns / 1000));
	if (c_.migrate_no_linger) {
		for (size_t i = 0; i < nfrozen_; i++)
			if (frozen[i] != FLOW_NONE)
				tcp_flow_discard(*tcp_, frozen[i]); // its dump failed
		nfrozen_ = 0;
		release_helper();
	}
	return 0;
}

// Forget the frozen flows closed already (--migrate-no-linger closes each
// one as its record goes out).
void Migrator::compact_frozen() {
	size_t k = 0;
	for (size_t i = 0; i < nfrozen_; i++) {
		if (frozen[i] == FLOW_NONE)
			continue;
		frozen[k] = frozen[i];
		frozen_fds[k] = frozen_fds[i];
		quiesced[k] = quiesced[i];
		k++;
	}
	nfrozen_ = k;
}

// Repair mode off for every frozen flow, and back to work.
void Migrator::thaw_all() {
	compact_frozen();
	if (!nfrozen_) {
		release_helper();
		return;
	}
	for (size_t i = 0; i < nfrozen_; i++)
		if (quiesced[i].rcvbuf)
			tcp_state_unquiesce(frozen_fds[i], quiesced[i]);
	int rc = repair_set(repair_, {frozen_fds, nfrozen_}, REPAIR_OFF, REPAIR_TIMEOUT_MS);
	const timespec now = now_monotonic();
	for (size_t i = 0; i < nfrozen_; i++) {
		if (rc < 0)
			tcp_flow_discard(*tcp_, frozen[i]);
		else
			tcp_flow_thaw(*tcp_, frozen[i], now);
	}
	if (rc < 0)
		err("migration: passt-repair could not take %zu sockets out of repair mode (%s): "
		    "their connections are lost",
		    nfrozen_, strerror(-rc));
	else
		stats_.resumed += nfrozen_;
	nfrozen_ = 0;
	release_helper();
}

void Migrator::migrate_resumed() {
	if (!saved_)
		return;
	saved_ = false;
	info("migration: the guest runs here again: %zu TCP connections resume", nfrozen_);
	thaw_all();
}

void Migrator::migrate_checked(bool save, int status) {
	if (!save || status || !c_.migrate_exit)
		return;
	info("migration: state handed over, exiting (--migrate-exit)");
	exit_ = true;
	loop_.stop();
}

int Migrator::restore_flow(const MigrateTcpFlow &f) {
	if (!tcp_)
		return -EPROTONOSUPPORT;
	if (!need_helper(HELPER_WAIT_MS))
		return -ENOTCONN;
	int s = tcp_state_socket(f.sock);
	if (s < 0)
		return s;
	// A socket that fails in repair mode is closed in repair mode: the
	// host peer hears nothing, and a reset on its next segment. Once the
	// connection is live, a failure resets it, so that the peer does not
	// take lost data for a clean end.
	bool live = false;
	int rc = repair_set(repair_, {&s, 1}, REPAIR_ON, REPAIR_TIMEOUT_MS);
	if (!rc)
		rc = tcp_state_restore(s, f.sock);
	if (!rc && !(rc = repair_set(repair_, {&s, 1}, REPAIR_OFF, REPAIR_TIMEOUT_MS)))
		live = true;
	if (!rc)
		rc = tcp_state_restore_unsent(s, f.sock);
	if (!rc) {
		int idx = tcp_flow_adopt(*tcp_, f.flow, s, now_monotonic());
		if (idx >= 0) {
			adopted[nadopted_++] = uint32_t(idx);
			return 0;
		}
		rc = idx;
	}
	if (live) {
		linger lg{1, 0};
		setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(s);
	return rc;
}

// A failed load: the migration fails, and the guest resumes on the source,
// whose connections these are. Back into repair mode, and closed there,
// they leave without a word to the host peers.
void Migrator::drop_adopted() {
	if (!nadopted_)
		return;
	for (size_t i = 0; i < nadopted_; i++)
		frozen_fds[i] = tcp_flow_freeze(*tcp_, adopted[i]);
	int rc = repair_set(repair_, {frozen_fds, nadopted_}, REPAIR_ON, REPAIR_TIMEOUT_MS);
	if (rc < 0)
		err("migration: passt-repair could not take back %zu restored sockets (%s): their "
		    "host peers will see them close",
		    nadopted_, strerror(-rc));
	for (size_t i = 0; i < nadopted_; i++)
		tcp_flow_discard(*tcp_, adopted[i]);
	info("migration: %zu restored TCP connections dropped again", nadopted_);
	nadopted_ = 0;
}

int Migrator::migrate_load(int fd) {
	const timespec t0 = now_monotonic();
	uint64_t total = 0;
	size_t loaded = 0, failed = 0;
	nadopted_ = 0;
	int rc = read_all(fd, rec_buf, MIGRATE_HDR_LEN);
	MigrateErr e = MigrateErr::Truncated;
	if (!rc && (e = migrate_get_header({rec_buf, MIGRATE_HDR_LEN})) != MigrateErr::Ok)
		rc = -EPROTO;
	total += MIGRATE_HDR_LEN;
	while (!rc) {
		uint16_t type, flags;
		uint32_t len;
		if ((rc = read_all(fd, rec_buf, MIGRATE_REC_HDR_LEN)) < 0) {
			e = MigrateErr::Truncated; // no End record
			break;
		}
		if ((e = migrate_get_rec_hdr({rec_buf, MIGRATE_REC_HDR_LEN}, type, flags, len)) !=
		    MigrateErr::Ok) {
			rc = -EPROTO;
			break;
		}
		std::span<const std::byte> p(rec_buf, len);
		if (len && (rc = read_all(fd, rec_buf, len)) < 0) {
			e = MigrateErr::Truncated;
			break;
		}
		total += MIGRATE_REC_HDR_LEN + len;
		if (type == uint16_t(MigrateRec::End)) {
			std::byte extra;
			rc = read_all(fd, &extra, 1);
			if (rc == -ENODATA) {
				rc = 0;
				break;
			}
			e = MigrateErr::BadLength; // something after End
			rc = -EPROTO;
			break;
		}
		if (type == uint16_t(MigrateRec::Guest)) {
			MigrateGuest g;
			if ((e = migrate_get_guest(p, g)) != MigrateErr::Ok) {
				rc = -EPROTO;
				break;
			}
			st_.guest_mac = g.mac;
			st_.guest_mac_seen = g.mac_seen;
			st_.addr4_seen = g.addr4;
			st_.addr6_seen = g.addr6;
			st_.addr6_ll_seen = g.addr6_ll;
		} else if (type == uint16_t(MigrateRec::TcpFlow)) {
			MigrateTcpFlow f;
			TcpStateErr se = TcpStateErr::Ok;
			if ((e = migrate_get_tcp_flow(p, f, &se)) != MigrateErr::Ok) {
				if (e == MigrateErr::BadSocket)
					warn("migration: TCP socket record: %s",
					     tcp_state_err_str(se));
				rc = -EPROTO;
				break;
			}
			if (loaded >= FLOW_MAX) {
				e = MigrateErr::BadLength;
				rc = -E2BIG;
				break;
			}
			int frc = restore_flow(f);
			if (frc < 0) {
				warn("migration: TCP connection %s:%u -> %s:%u: can't restore it: "
				     "%s",
				     f.flow.guest.peer_addr.text().c_str(), f.flow.guest.peer_port,
				     f.flow.guest.our_addr.text().c_str(), f.flow.guest.our_port,
				     strerror(-frc));
				failed++;
				rc = frc;
				e = MigrateErr::Ok; // the stream was fine, the socket was not
				break;
			}
			loaded++;
		}
		// Other types: optional ones this version does not know, skipped.
	}
	if (rc == -ENODATA)
		rc = -EPROTO, e = MigrateErr::Truncated;
	stats_.loaded += loaded;
	stats_.failed += failed;
	stats_.stream_bytes = total;
	stats_.last_load_ns = since_ns(t0);
	if (rc < 0) {
		if (e != MigrateErr::Ok)
			err("migration: the state stream is unusable (%s) after %zu TCP "
			    "connections: %s",
			    migrate_err_str(e), loaded, strerror(-rc));
		else
			err("migration: load failed after %zu TCP connections: %s", loaded,
			    strerror(-rc));
		drop_adopted();
		release_helper();
		return rc;
	}
	release_helper();
	info("migration: state loaded: %zu TCP connections, %zu lost, %llu bytes, %lld us", loaded,
	     failed, (unsigned long long)total, (long long)(stats_.last_load_ns / 1000));
	return 0;
}

} // namespace passt
