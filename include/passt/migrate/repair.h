// The daemon's end of the passt-repair protocol: a UNIX socket the helper
// connects to, batches of TCP sockets with a one-byte TCP_REPAIR command,
// and the helper's echo. See src/migrate/repair.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace passt {

// Commands: the values of the kernel's TCP_REPAIR option.
constexpr int8_t REPAIR_ON = 1;
constexpr int8_t REPAIR_OFF = 0;
constexpr int8_t REPAIR_OFF_NO_WP = -1;

// Sockets per message: SCM_MAX_FD, the kernel's limit for SCM_RIGHTS.
constexpr size_t REPAIR_BATCH_MAX = 253;

struct RepairChannel {
	int listen_fd = -1; // listening socket at path
	int conn_fd = -1;   // the connected helper, or -1
	std::string path;
};

// The default --repair-path for a vhost-user socket path.
std::string repair_default_path(const std::string &socket_path);

// Before the sandbox: creates, binds (replacing a stale socket file) and
// listens on path, owner-only permissions. Returns 0 or -errno.
int repair_listen(RepairChannel &ch, const std::string &path);

// Waits up to timeout_ms for the helper to connect (a new connection
// replaces an old one). Returns 0, -ETIMEDOUT or -errno.
int repair_accept(RepairChannel &ch, int timeout_ms);

// Sends fds to the helper with cmd, in batches of REPAIR_BATCH_MAX, and
// waits up to timeout_ms for the echo of each batch. Returns 0, or -errno:
// -ENOTCONN no helper, -ETIMEDOUT no answer, -ECONNRESET the helper closed
// the connection (it does so when a command fails), -EPROTO a wrong answer,
// -EINVAL cmd not a command or no fds. On any error the connection is
// closed.
int repair_set(RepairChannel &ch, std::span<const int> fds, int8_t cmd, int timeout_ms);

// One message as is, for tests of the helper's error handling: byte with
// fds (none allowed) in a single message, then the wait for the echo.
// Returns as repair_set().
int repair_send_raw(RepairChannel &ch, std::span<const int> fds, uint8_t byte, int timeout_ms);

// Closes the connection to the helper (it exits then) and the listener.
void repair_close(RepairChannel &ch);

} // namespace passt
