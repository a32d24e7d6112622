// Logging: five levels, printf-style, no allocation per message.
//
// Functions (namespace passt): err(), warn(), info(), debug(), trace(),
// die() (logs at error level, then exit(1)), and *_perror() variants that
// append ": strerror(errno)". Each has a log_* alias (log_err, log_warn, ...)
// for code that pulls both passt:: and <err.h>'s ::err/::warn into one scope
// with a using-directive, where the short names would be ambiguous. Inside
// namespace passt the short names are unambiguous even with <err.h>.
//
// Per-packet messages use the rate-limited macros err_rl(), warn_rl(),
// info_rl(), debug_rl(), trace_rl(): each call site allows LOG_RL_BURST
// messages per second; the rest are counted and, at the first message of a
// later second from that site, reported as "N messages suppressed".
//
// Destinations (decided per message):
//   - a log file (-l PATH) if one is configured; standard error as well with
//     -e. No syslog when a log file is set.
//   - otherwise, in the foreground: standard error.
//   - otherwise, once daemonised (log_set_daemonised(true)): syslog, and
//     standard error as well with -e.
// Lines on standard error and in the file are "SECONDS.FRACTION: message"
// with time relative to log_init() (monotonic clock, 0.1 ms resolution).
//
// Syslog: we speak the BSD syslog datagram format (RFC 3164) to /dev/log
// ourselves instead of using syslog(3), whose glibc 2.36 implementation
// allocates per message. The socket is connected in log_init(), like
// openlog(LOG_NDELAY), so logging survives the sandbox's chroot; every
// message carries "ident[pid]" like LOG_PID, because the daemon forks away
// from the process that started it. Facility: LOG_DAEMON.
//
// Log file: opened O_RDWR|O_CREAT|O_APPEND|O_CLOEXEC (read access is for
// rotation), mode 0600, appended to if it exists. It never grows past
// --log-size bytes: before a line would cross the limit, the oldest lines
// are dropped in place (at least 30% of the limit, cut at a line boundary)
// by copying the newer part to the start of the file and truncating. This
// works on any file system and needs no re-open, so it keeps working inside
// the sandbox. A --log-size below LOG_FILE_SIZE_MIN is raised to it.
//
// Fatal errors (die()) also go to standard error while in the foreground,
// even with a log file, so that the reason for exiting is never hidden.
// "N messages suppressed" is only printed when the same call site logs
// again in a later second.
#pragma once

#include <sys/types.h>

#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <ctime>

namespace passt {

enum class LogLevel : uint8_t { Error = 0, Warning, Info, Debug, Trace };

constexpr size_t LOG_LINE_MAX = 1024;      // longer messages are truncated
constexpr size_t LOG_FILE_SIZE_MIN = 4096; // smaller --log-size is raised to this
constexpr unsigned LOG_RL_BURST = 5;       // rate-limited messages per second per site

struct LogConfig {
	LogLevel level = LogLevel::Info;
	bool force_stderr = false;       // -e
	const char *file_path = nullptr; // -l, nullptr or "" for none
	size_t file_size = 1 << 20;      // --log-size
	const char *syslog_path = "/dev/log";
};

// Level from the command line: verbosity 0 (default), 1 (-d), 2 (--trace);
// quiet (-q) drops informational messages, keeping warnings and errors.
// Debug or trace win over quiet.
LogLevel log_level_from(int verbosity, bool quiet);

// Set up logging. Opens the log file and the syslog socket. Returns 0, or
// -errno if the log file can't be opened (logging then goes on as if no
// file had been given). Can be called again (e.g. in tests): it closes what a
// previous call opened first.
int log_init(const char *ident, const LogConfig &cfg);
// Close the file and syslog socket; back to stderr-only at Info level.
void log_close();
void log_set_daemonised(bool daemonised);
// The PID syslog lines carry: the daemonised child, PID 1 of its own PID
// namespace, is known to the syslog reader by its number outside.
void log_set_pid(pid_t pid);
void log_set_level(LogLevel level);
LogLevel log_level();

// Core entry points: a line at level (with ": strerror(errno)" appended
// if with_errno), dropped if the level is off.
void vlogmsg(LogLevel level, bool with_errno, const char *fmt, va_list ap);
void logmsg(LogLevel level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void err_perror(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warn_perror(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
[[noreturn]] void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
[[noreturn]] void die_perror(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// Aliases, see the top of this file.
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// Per-call-site rate limiter state (one static instance per macro use).
struct LogRateLimit {
	int64_t window = -1;     // monotonic second of the current window
	unsigned count = 0;      // messages let through in this window
	unsigned suppressed = 0; // messages dropped since the last report

	// Decide for a message at monotonic time now. Returns true if it may be
	// logged; *report is then set to the number of messages suppressed
	// since the last one let through (to be reported first), else 0.
	bool allow(const timespec &now, unsigned *report);
};

void logmsg_rl(LogRateLimit &rl, LogLevel level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

namespace log_detail {
extern LogLevel current_level;
}

inline bool log_enabled(LogLevel level) {
	return uint8_t(level) <= uint8_t(log_detail::current_level);
}

} // namespace passt

#define PASST_LOG_RL(level, ...)                                                     \
	do {                                                                         \
		static ::passt::LogRateLimit passt_log_rl_state_;                    \
		if (::passt::log_enabled(level))                                     \
			::passt::logmsg_rl(passt_log_rl_state_, level, __VA_ARGS__); \
	} while (0)

// debug() and trace() are macros: their arguments (formatted addresses,
// strerror()) are not even evaluated while the level is off, which it is in
// normal operation, so a guest that makes us log a line per frame costs
// nothing then. Their functions are log_debug() and log_trace().
#define PASST_LOG_IF(level, fn, ...)              \
	do {                                      \
		if (::passt::log_enabled(level))  \
			::passt::fn(__VA_ARGS__); \
	} while (0)
#define debug(...) PASST_LOG_IF(::passt::LogLevel::Debug, log_debug, __VA_ARGS__)
#define trace(...) PASST_LOG_IF(::passt::LogLevel::Trace, log_trace, __VA_ARGS__)

#define err_rl(...)   PASST_LOG_RL(::passt::LogLevel::Error, __VA_ARGS__)
#define warn_rl(...)  PASST_LOG_RL(::passt::LogLevel::Warning, __VA_ARGS__)
#define info_rl(...)  PASST_LOG_RL(::passt::LogLevel::Info, __VA_ARGS__)
#define debug_rl(...) PASST_LOG_RL(::passt::LogLevel::Debug, __VA_ARGS__)
#define trace_rl(...) PASST_LOG_RL(::passt::LogLevel::Trace, __VA_ARGS__)
