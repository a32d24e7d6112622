// Live migration of a passt vhost-user instance: the MigrationHandler the
// back-end calls (device_state.h), over the repair helper's channel
// (repair.h), the TCP translator's flows (tcp.h) and the state stream
// (stream.h). The theory of operation is at the top of
// src/migrate/migrate.cpp; doc/migration.md has the stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "passt/conf/config.h"
#include "passt/core/epoll.h"
#include "passt/migrate/device_state.h"
#include "passt/migrate/repair.h"
#include "passt/tap/output.h"

namespace passt {

struct TcpCtx;

struct MigrateStats {
	uint64_t saved = 0, loaded = 0;             // TCP flows written, re-created
	uint64_t skipped = 0;                       // flows not migratable (closing, unknown state)
	uint64_t failed = 0;                        // flows whose dump or restore failed
	uint64_t resumed = 0;                       // flows thawed after a failed migration
	uint64_t stream_bytes = 0;                  // last stream written or read
	int64_t last_save_ns = 0, last_load_ns = 0; // how long the last one took
};

class Migrator final : public MigrationHandler {
public:
	// tcp may be null (--no-tcp): then no flow moves.
	Migrator(const Config &c, TapState &st, TcpCtx *tcp, EventLoop &loop);

	// Before the sandbox: listen for passt-repair at path (doc/passt.1:
	// --repair-path), and register the listener (RefKind::RepairListen)
	// with the loop. 0 or -errno.
	int open_repair(const std::string &path);
	const std::string &repair_path() const { return repair_.path; }
	// RefKind::RepairListen (a helper connects: it replaces an older one)
	// and RefKind::RepairConn (the helper hung up).
	void handle_event(EpollRef ref, uint32_t events);
	bool helper_connected() const { return repair_.conn_fd >= 0; }

	int migrate_save(int fd) override;
	int migrate_load(int fd) override;
	void migrate_checked(bool save, int status) override;
	void migrate_resumed() override;

	// The front-end went away: flows frozen here were closed with the
	// others (tcp_drop_guest_flows(); in repair mode they sent nothing).
	void front_end_gone();
	// --migrate-exit: the state went to the target, the loop was stopped.
	bool exit_after_migration() const { return exit_; }
	const MigrateStats &stats() const { return stats_; }

private:
	// Waits up to timeout_ms for a helper if none is connected.
	bool need_helper(int timeout_ms);
	void watch_helper();
	int restore_flow(const struct MigrateTcpFlow &f);
	void thaw_all();
	int quiesce_frozen();
	int check_unmoved();
	void compact_frozen();
	void drop_adopted();
	void release_helper();
	void drop_helper(const char *why);

	const Config &c_;
	TapState &st_;
	TcpCtx *tcp_;
	EventLoop &loop_;
	RepairChannel repair_;
	MigrateStats stats_;
	bool saved_ = false; // a save succeeded, its flows are frozen here
	bool exit_ = false;
	size_t nfrozen_ = 0;
	size_t nadopted_ = 0;
};

} // namespace passt
