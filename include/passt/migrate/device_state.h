// What a live migration asks of the daemon, as the vhost-user back-end sees
// it (VHOST_USER_PROTOCOL_F_DEVICE_STATE, docs/interop/vhost-user.rst in
// qemu): the back-end owns the protocol (SET_DEVICE_STATE_FD, its reply,
// CHECK_DEVICE_STATE), this interface owns what travels through the pipe
// (the state stream, src/migrate/stream.cpp, doc/migration.md).
//
// Order on the source: the guest and both queues are stopped, then
// migrate_save() writes the whole stream, qemu reads it to end of file and
// asks CHECK_DEVICE_STATE, which reports what migrate_save() returned and
// calls migrate_checked(). If the migration fails after that, qemu starts
// the queues again on the source: migrate_resumed() comes before the
// device is reported ready. On the target: migrate_load() reads the stream
// qemu writes to end of file, then CHECK_DEVICE_STATE, migrate_checked().
#pragma once

namespace passt {

class MigrationHandler {
public:
	virtual ~MigrationHandler() = default;
	// Source: write the whole state stream to fd (blocking; the back-end
	// closes it afterwards, which is the end of file qemu waits for).
	// 0 or -errno.
	virtual int migrate_save(int fd) = 0;
	// Target: read the state stream from fd to end of file (blocking) and
	// take it over. 0 or -errno.
	virtual int migrate_load(int fd) = 0;
	// CHECK_DEVICE_STATE after a save (save true) or a load: status is
	// what the front-end is told (0, or the -errno of the transfer).
	virtual void migrate_checked(bool save, int status) = 0;
	// The queues were started again after a successful save: the
	// migration failed or was cancelled, and the guest runs here again.
	virtual void migrate_resumed() = 0;
};

} // namespace passt
