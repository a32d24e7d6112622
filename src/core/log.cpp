// Logging back end: formatting into fixed buffers, the three destinations
// (standard error, syslog datagrams, size-bounded log file) and the per-site
// rate limiter. See include/passt/core/log.h for the rules; this file holds
// no dynamic memory at all.
//
// After the sandbox: lines to stderr or the log file (write), rotation of
// the file (newfstatat for fstat, pread64, pwrite64, fcntl, ftruncate),
// syslog datagrams on the socket connected at start-up (sendto for send;
// socket, connect and close to reconnect, which fails harmlessly there),
// and die() (exit_group).
// #syscalls write sendto socket connect close exit_group
// #syscalls newfstatat pread64 pwrite64 fcntl ftruncate
// #syscalls:init openat read lseek getpid
#include "passt/core/log.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "passt/core/util.h"

namespace passt {

namespace log_detail {
LogLevel current_level = LogLevel::Info;
}

namespace {

constexpr int SYSLOG_FACILITY_DAEMON = 3 << 3; // LOG_DAEMON, RFC 3164

struct LogState {
	char ident[32] = "passt";
	pid_t pid = 0; // in syslog lines; set by the time we are daemonised
	timespec start{};
	bool start_set = false;
	bool daemonised = false;
	bool force_stderr = false;

	int file_fd = -1;
	size_t file_max = 0;
	size_t file_written = 0;

	int syslog_fd = -1;
	sockaddr_un syslog_addr{};
	bool syslog_addr_set = false;
};

LogState st;

int syslog_severity(LogLevel level) {
	switch (level) {
	case LogLevel::Error: return 3;   // LOG_ERR
	case LogLevel::Warning: return 4; // LOG_WARNING
	case LogLevel::Info: return 6;    // LOG_INFO
	default: return 7;                // LOG_DEBUG
	}
}

// (Re)connect the syslog datagram socket; failure leaves it closed.
void syslog_connect() {
	if (!st.syslog_addr_set)
		return;
	if (st.syslog_fd < 0)
		st.syslog_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (st.syslog_fd < 0)
		return;
	if (connect(st.syslog_fd, reinterpret_cast<const sockaddr *>(&st.syslog_addr),
		    sizeof(st.syslog_addr)) < 0) {
		close(st.syslog_fd);
		st.syslog_fd = -1;
	}
}

void syslog_send(LogLevel level, const char *body) {
	if (st.syslog_fd < 0) {
		syslog_connect();
		if (st.syslog_fd < 0)
			return;
	}

	char stamp[32] = "";
	time_t now = now_realtime().tv_sec; // time() would be one more system call
	tm tmv{};
	if (localtime_r(&now, &tmv))
		strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tmv);

	char buf[LOG_LINE_MAX + 96];
	int n = snprintf(buf, sizeof(buf), "<%d>%s %s[%d]: %s",
			 SYSLOG_FACILITY_DAEMON | syslog_severity(level), stamp, st.ident,
			 int(st.pid), body);
	if (n < 0)
		return;
	size_t len = size_t(n) >= sizeof(buf) ? sizeof(buf) - 1 : size_t(n);

	for (int attempt = 0; attempt < 2; attempt++) {
		if (send(st.syslog_fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
			return;
		if (errno != ENOTCONN && errno != ECONNREFUSED)
			return;
		// The syslog daemon restarted: reconnect once.
		close(st.syslog_fd);
		st.syslog_fd = -1;
		syslog_connect();
		if (st.syslog_fd < 0)
			return;
	}
}

void file_close() {
	if (st.file_fd >= 0)
		close(st.file_fd);
	st.file_fd = -1;
	st.file_written = 0;
}

// Drop the oldest lines so that need more bytes fit under the limit: cut at
// least 30% of the limit, at a line boundary, moving the rest to the front.
// Returns false if the file is unusable afterwards.
bool file_rotate(size_t need) {
	struct stat sb;
	if (fstat(st.file_fd, &sb) < 0)
		return false;
	size_t size = size_t(sb.st_size);

	size_t cut = st.file_max * 3 / 10;
	if (size + need > st.file_max && size + need - st.file_max > cut)
		cut = size + need - st.file_max;

	char buf[4096];
	// Advance cut to the start of a line: just past the first '\n' at or
	// after cut - 1.
	size_t pos = cut ? cut - 1 : 0;
	bool found = false;
	while (pos < size && !found) {
		ssize_t n = pread(st.file_fd, buf, sizeof(buf), off_t(pos));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		const void *nl = memchr(buf, '\n', size_t(n));
		if (nl) {
			cut = pos + size_t(static_cast<const char *>(nl) - buf) + 1;
			found = true;
		} else {
			pos += size_t(n);
		}
	}
	if (!found)
		cut = size;

	// pwrite() ignores the offset on O_APPEND descriptors: clear it while
	// moving data, then restore it.
	int flags = fcntl(st.file_fd, F_GETFL);
	if (flags < 0 || fcntl(st.file_fd, F_SETFL, flags & ~O_APPEND) < 0)
		return false;

	bool ok = true;
	size_t src = cut, dst = 0;
	while (src < size) {
		size_t chunk = size - src < sizeof(buf) ? size - src : sizeof(buf);
		ssize_t n = pread(st.file_fd, buf, chunk, off_t(src));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ok = false;
			break;
		}
		size_t done = 0;
		while (done < size_t(n)) {
			ssize_t w =
				pwrite(st.file_fd, buf + done, size_t(n) - done, off_t(dst + done));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				ok = false;
				break;
			}
			done += size_t(w);
		}
		if (!ok)
			break;
		src += size_t(n);
		dst += size_t(n);
	}

	size_t new_size = ok ? dst : 0;
	if (ftruncate(st.file_fd, off_t(new_size)) < 0)
		ok = false;
	if (fcntl(st.file_fd, F_SETFL, flags) < 0)
		return false;
	st.file_written = new_size;
	return ok || new_size == 0;
}

// Append one complete line (ending in '\n') to the log file.
void file_write(const char *line, size_t len) {
	if (len > st.file_max)
		len = st.file_max; // can't happen with the enforced minimum size
	if (st.file_written + len > st.file_max && !file_rotate(len)) {
		file_close();
		static const char msg[] = "log file rotation failed, log file closed\n";
		(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
		return;
	}
	int rc = write_all(st.file_fd, line, len);
	if (rc < 0) {
		file_close();
		static const char msg[] = "log file write failed, log file closed\n";
		(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
		return;
	}
	st.file_written += len;
}

void ensure_start() {
	if (!st.start_set) {
		clock_gettime(CLOCK_MONOTONIC, &st.start);
		st.start_set = true;
	}
}

// Format and deliver one message. fatal: also show it on standard error
// while in the foreground, even with a log file, so that the reason for
// exiting is never hidden from the user who started us.
void emit(LogLevel level, bool with_errno, bool fatal, const char *fmt, va_list ap) {
	int saved_errno = errno;
	char body[LOG_LINE_MAX];

	int n = vsnprintf(body, sizeof(body), fmt, ap);
	size_t len = n < 0 ? 0 : (size_t(n) >= sizeof(body) ? sizeof(body) - 1 : size_t(n));
	body[len] = '\0';
	if (with_errno && len < sizeof(body) - 1) {
		int m = snprintf(body + len, sizeof(body) - len, ": %s", strerror(saved_errno));
		if (m > 0)
			len = size_t(m) >= sizeof(body) - len ? sizeof(body) - 1 : len + size_t(m);
	}
	while (len && (body[len - 1] == '\n' || body[len - 1] == '\r'))
		body[--len] = '\0';

	bool to_file = st.file_fd >= 0;
	bool to_stderr =
		st.force_stderr || (!to_file && !st.daemonised) || (fatal && !st.daemonised);
	bool to_syslog = !to_file && st.daemonised;

	if (to_file || to_stderr) {
		// The file's lines always carry the time since start; those on
		// standard error only when debugging, as in the C passt.
		ensure_start();
		timespec now{};
		clock_gettime(CLOCK_MONOTONIC, &now);
		int64_t ns = timespec_diff_ns(now, st.start);
		if (ns < 0)
			ns = 0;
		char line[LOG_LINE_MAX + 32];
		int stamp =
			snprintf(line, sizeof(line), "%lld.%04lld: ", (long long)(ns / NS_PER_SEC),
				 (long long)((ns % NS_PER_SEC) / 100000));
		size_t sl = stamp < 0 ? 0 : size_t(stamp);
		int h = snprintf(line + sl, sizeof(line) - sl, "%s", body);
		size_t ll = h < 0 ? sl : sl + size_t(h);
		if (ll > sizeof(line) - 2)
			ll = sizeof(line) - 2;
		line[ll++] = '\n';
		if (to_file)
			file_write(line, ll);
		if (to_stderr) {
			size_t skip = log_enabled(LogLevel::Debug) ? 0 : sl;
			(void)write_all(STDERR_FILENO, line + skip, ll - skip);
		}
	}
	if (to_syslog)
		syslog_send(level, body);

	errno = saved_errno;
}

} // namespace

LogLevel log_level_from(int verbosity, bool quiet) {
	if (verbosity >= 2)
		return LogLevel::Trace;
	if (verbosity == 1)
		return LogLevel::Debug;
	return quiet ? LogLevel::Warning : LogLevel::Info;
}

int log_init(const char *ident, const LogConfig &cfg) {
	log_close();
	ensure_start();
	// Load time zone data now: later, in the sandbox, /etc is gone.
	tzset();

	if (ident && *ident) {
		const char *base = strrchr(ident, '/');
		base = base ? base + 1 : ident;
		snprintf(st.ident, sizeof(st.ident), "%s", base);
	}
	log_detail::current_level = cfg.level;
	st.force_stderr = cfg.force_stderr;

	if (cfg.syslog_path && *cfg.syslog_path &&
	    strlen(cfg.syslog_path) < sizeof(st.syslog_addr.sun_path)) {
		st.syslog_addr.sun_family = AF_UNIX;
		snprintf(st.syslog_addr.sun_path, sizeof(st.syslog_addr.sun_path), "%s",
			 cfg.syslog_path);
		st.syslog_addr_set = true;
		syslog_connect();
	}

	if (cfg.file_path && *cfg.file_path) {
		int fd = open(cfg.file_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC,
			      S_IRUSR | S_IWUSR);
		if (fd < 0)
			return -errno;
		struct stat sb;
		if (fstat(fd, &sb) < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
		st.file_fd = fd;
		st.file_max = cfg.file_size < LOG_FILE_SIZE_MIN ? LOG_FILE_SIZE_MIN : cfg.file_size;
		st.file_written = size_t(sb.st_size);
	}
	return 0;
}

void log_close() {
	file_close();
	if (st.syslog_fd >= 0)
		close(st.syslog_fd);
	st.syslog_fd = -1;
	st.syslog_addr_set = false;
	st.daemonised = false;
	st.pid = 0;
	st.force_stderr = false;
	log_detail::current_level = LogLevel::Info;
}

void log_set_pid(pid_t pid) { st.pid = pid; }

void log_set_daemonised(bool daemonised) {
	st.daemonised = daemonised;
	// Syslog lines carry a PID: ask now, not from inside the sandbox.
	if (daemonised && !st.pid)
		st.pid = getpid();
	if (daemonised && st.syslog_fd < 0)
		syslog_connect();
}

void log_set_level(LogLevel level) { log_detail::current_level = level; }

LogLevel log_level() { return log_detail::current_level; }

void vlogmsg(LogLevel level, bool with_errno, const char *fmt, va_list ap) {
	if (!log_enabled(level))
		return;
	emit(level, with_errno, false, fmt, ap);
}

void logmsg(LogLevel level, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	vlogmsg(level, false, fmt, ap);
	va_end(ap);
}

#define PASST_DEFINE_LOG_FN(name, level, with_errno)     \
	void name(const char *fmt, ...) {                \
		if (!log_enabled(level))                 \
			return;                          \
		va_list ap;                              \
		va_start(ap, fmt);                       \
		emit(level, with_errno, false, fmt, ap); \
		va_end(ap);                              \
	}

PASST_DEFINE_LOG_FN(err, LogLevel::Error, false)
PASST_DEFINE_LOG_FN(warn, LogLevel::Warning, false)
PASST_DEFINE_LOG_FN(info, LogLevel::Info, false)
PASST_DEFINE_LOG_FN(err_perror, LogLevel::Error, true)
PASST_DEFINE_LOG_FN(warn_perror, LogLevel::Warning, true)
PASST_DEFINE_LOG_FN(log_err, LogLevel::Error, false)
PASST_DEFINE_LOG_FN(log_warn, LogLevel::Warning, false)
PASST_DEFINE_LOG_FN(log_info, LogLevel::Info, false)
PASST_DEFINE_LOG_FN(log_debug, LogLevel::Debug, false)
PASST_DEFINE_LOG_FN(log_trace, LogLevel::Trace, false)

#undef PASST_DEFINE_LOG_FN

void die(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	emit(LogLevel::Error, false, true, fmt, ap);
	va_end(ap);
	exit(EXIT_FAILURE);
}

void die_perror(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	emit(LogLevel::Error, true, true, fmt, ap);
	va_end(ap);
	exit(EXIT_FAILURE);
}

bool LogRateLimit::allow(const timespec &now, unsigned *report) {
	*report = 0;
	int64_t sec = int64_t(now.tv_sec);
	if (sec != window) {
		window = sec;
		count = 0;
		*report = suppressed;
		suppressed = 0;
	}
	if (count < LOG_RL_BURST) {
		count++;
		return true;
	}
	suppressed++;
	return false;
}

void logmsg_rl(LogRateLimit &rl, LogLevel level, const char *fmt, ...) {
	if (!log_enabled(level))
		return;
	unsigned report = 0;
	if (!rl.allow(now_monotonic(), &report))
		return;
	if (report)
		logmsg(level, "%u messages suppressed", report);
	va_list ap;
	va_start(ap, fmt);
	vlogmsg(level, false, fmt, ap);
	va_end(ap);
}

} // namespace passt
