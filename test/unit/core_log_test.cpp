// Logging: level filtering, line format, errno suffix, truncation, the log
// file and its size bound, rate limiting, syslog datagrams and die().
#include <gtest/gtest.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "passt/core/log.h"
#include "passt/core/util.h"

using namespace passt;

namespace {

std::string read_file(const std::string &path) {
	std::string out;
	FILE *f = fopen(path.c_str(), "rb");
	if (!f)
		return out;
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		out.append(buf, n);
	fclose(f);
	return out;
}

std::vector<std::string> split_lines(const std::string &s) {
	std::vector<std::string> v;
	size_t start = 0;
	while (start < s.size()) {
		size_t nl = s.find('\n', start);
		if (nl == std::string::npos) {
			v.push_back(s.substr(start));
			break;
		}
		v.push_back(s.substr(start, nl - start));
		start = nl + 1;
	}
	return v;
}

// Split "SECONDS.FFFF: message" (exactly four fraction digits); false if
// the line doesn't have that shape.
bool parse_line(const std::string &l, std::string *msg) {
	size_t i = 0;
	while (i < l.size() && isdigit(static_cast<unsigned char>(l[i])))
		i++;
	if (i == 0 || i >= l.size() || l[i] != '.')
		return false;
	size_t frac = ++i;
	while (i < l.size() && isdigit(static_cast<unsigned char>(l[i])))
		i++;
	if (i - frac != 4 || l.compare(i, 2, ": ") != 0)
		return false;
	*msg = l.substr(i + 2);
	return true;
}

size_t count_substr(const std::string &s, const std::string &what) {
	size_t n = 0;
	for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1))
		n++;
	return n;
}

// Redirects fd 2 into a temporary file between construction and take().
class StderrCapture {
public:
	explicit StderrCapture(const std::string &path) : path_(path) {
		fflush(stderr);
		saved_ = dup(STDERR_FILENO);
		int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	std::string take() {
		restore();
		return read_file(path_);
	}
	~StderrCapture() { restore(); }

private:
	void restore() {
		if (saved_ >= 0) {
			fflush(stderr);
			dup2(saved_, STDERR_FILENO);
			close(saved_);
			saved_ = -1;
		}
	}
	std::string path_;
	int saved_ = -1;
};

class CoreLog : public ::testing::Test {
protected:
	void SetUp() override {
		char tmpl[] = "/tmp/passt-core-log-XXXXXX";
		ASSERT_NE(mkdtemp(tmpl), nullptr);
		dir_ = tmpl;
	}
	void TearDown() override {
		log_close();
		for (const char *name : {"stderr", "log", "syslog.sock", "pre"})
			unlink(path(name).c_str());
		rmdir(dir_.c_str());
	}
	std::string path(const char *name) const { return dir_ + "/" + name; }
	// Plain stderr logging at level, no syslog.
	void init_stderr(LogLevel level) {
		LogConfig c;
		c.level = level;
		c.syslog_path = nullptr;
		ASSERT_EQ(log_init("test", c), 0);
	}
	std::string dir_;
};

} // namespace

TEST(CoreLogLevel, FromFlags) {
	EXPECT_EQ(log_level_from(0, false), LogLevel::Info);
	EXPECT_EQ(log_level_from(0, true), LogLevel::Warning);
	EXPECT_EQ(log_level_from(1, false), LogLevel::Debug);
	EXPECT_EQ(log_level_from(1, true), LogLevel::Debug);
	EXPECT_EQ(log_level_from(2, false), LogLevel::Trace);
	EXPECT_EQ(log_level_from(5, true), LogLevel::Trace);
}

TEST_F(CoreLog, LevelFiltering) {
	init_stderr(LogLevel::Warning);
	StderrCapture cap(path("stderr"));
	err("e-%d", 1);
	warn("w-%d", 2);
	info("i-%d", 3);
	debug("d-%d", 4);
	trace("t-%d", 5);
	std::string out = cap.take();
	EXPECT_NE(out.find("e-1"), std::string::npos);
	EXPECT_NE(out.find("w-2"), std::string::npos);
	EXPECT_EQ(out.find("i-3"), std::string::npos);
	EXPECT_EQ(out.find("d-4"), std::string::npos);
	EXPECT_EQ(out.find("t-5"), std::string::npos);
	EXPECT_TRUE(log_enabled(LogLevel::Warning));
	EXPECT_FALSE(log_enabled(LogLevel::Info));

	log_set_level(LogLevel::Trace);
	EXPECT_EQ(log_level(), LogLevel::Trace);
	StderrCapture cap2(path("stderr"));
	log_info("i-%d", 6);
	log_debug("d-%d", 7);
	log_trace("t-%d", 8);
	log_warn("w-%d", 9);
	log_err("e-%d", 10);
	out = cap2.take();
	for (const char *s : {"i-6", "d-7", "t-8", "w-9", "e-10"})
		EXPECT_NE(out.find(s), std::string::npos) << s;
}

// A flood that makes us log per frame must cost nothing while debugging is
// off: debug() and trace() don't even evaluate their arguments then.
TEST_F(CoreLog, DebugAndTraceEvaluateNothingWhileOff) {
	init_stderr(LogLevel::Info);
	StderrCapture cap(path("stderr"));
	int evaluated = 0;
	auto arg = [&] {
		evaluated++;
		return "arg";
	};
	debug("d-%s", arg());
	trace("t-%s", arg());
	EXPECT_EQ(evaluated, 0);
	log_set_level(LogLevel::Debug);
	debug("d-%s", arg());
	trace("t-%s", arg());
	EXPECT_EQ(evaluated, 1);
	log_set_level(LogLevel::Trace);
	trace("t-%s", arg());
	EXPECT_EQ(evaluated, 2);
	std::string out = cap.take();
	EXPECT_NE(out.find("d-arg"), std::string::npos);
	EXPECT_NE(out.find("t-arg"), std::string::npos);
}

TEST_F(CoreLog, LineFormatErrnoAndTruncation) {
	init_stderr(LogLevel::Info);
	StderrCapture cap(path("stderr"));
	info("hello %s", "world");
	info("trailing newline is not doubled\n");
	errno = ENOENT;
	err_perror("open %s", "/nowhere");
	EXPECT_EQ(errno, ENOENT); // logging preserves errno
	errno = EACCES;
	warn_perror("bind");
	std::string big(5000, 'x');
	info("%s", big.c_str());
	// Below debugging, lines on stderr carry no time stamp.
	std::vector<std::string> lines = split_lines(cap.take());
	ASSERT_EQ(lines.size(), 5u);
	std::string m;
	EXPECT_EQ(lines[0], "hello world");
	EXPECT_EQ(lines[1], "trailing newline is not doubled");
	EXPECT_EQ(lines[2], std::string("open /nowhere: ") + strerror(ENOENT));
	EXPECT_EQ(lines[3], std::string("bind: ") + strerror(EACCES));
	EXPECT_LT(lines[4].size(), LOG_LINE_MAX + 32);
	EXPECT_GE(lines[4].size(), LOG_LINE_MAX - 2);
	EXPECT_EQ(lines[4].find_first_not_of('x'), std::string::npos);

	// Debugging, every line starts with the seconds since start.
	log_set_level(LogLevel::Debug);
	StderrCapture cap2(path("stderr"));
	info("hello %s", "again");
	debug("%s", big.c_str());
	lines = split_lines(cap2.take());
	ASSERT_EQ(lines.size(), 2u);
	ASSERT_TRUE(parse_line(lines[0], &m)) << lines[0];
	EXPECT_EQ(m, "hello again");
	ASSERT_TRUE(parse_line(lines[1], &m)) << lines[1];
	EXPECT_LT(lines[1].size(), LOG_LINE_MAX + 32);
	EXPECT_EQ(m.find_first_not_of('x'), std::string::npos);
}

TEST_F(CoreLog, FileLoggingAppendsAndSkipsStderr) {
	{
		FILE *f = fopen(path("log").c_str(), "w");
		ASSERT_NE(f, nullptr);
		fputs("earlier run\n", f);
		fclose(f);
	}
	LogConfig c;
	c.syslog_path = nullptr;
	std::string lp = path("log");
	c.file_path = lp.c_str();
	c.file_size = 1 << 20;
	ASSERT_EQ(log_init("test", c), 0);
	StderrCapture cap(path("stderr"));
	info("to the file");
	debug("filtered out");
	std::string err_out = cap.take();
	EXPECT_EQ(err_out, "");
	std::string content = read_file(lp);
	std::vector<std::string> lines = split_lines(content);
	ASSERT_EQ(lines.size(), 2u) << content;
	EXPECT_EQ(lines[0], "earlier run");
	EXPECT_NE(lines[1].find(": to the file"), std::string::npos);

	// -e: standard error as well.
	c.force_stderr = true;
	ASSERT_EQ(log_init("test", c), 0);
	StderrCapture cap2(path("stderr"));
	warn("both places");
	EXPECT_NE(cap2.take().find("both places"), std::string::npos);
	EXPECT_NE(read_file(lp).find("both places"), std::string::npos);
}

TEST_F(CoreLog, FileOpenFailure) {
	LogConfig c;
	c.syslog_path = nullptr;
	std::string bad = path("missing-dir/log");
	c.file_path = bad.c_str();
	EXPECT_EQ(log_init("test", c), -ENOENT);
	// Still logs, to stderr.
	StderrCapture cap(path("stderr"));
	info("still here");
	EXPECT_NE(cap.take().find("still here"), std::string::npos);
}

TEST_F(CoreLog, FileRotationStaysUnderLimitAndKeepsNewest) {
	const size_t limit = 4096;
	LogConfig c;
	c.syslog_path = nullptr;
	std::string lp = path("log");
	c.file_path = lp.c_str();
	c.file_size = limit;
	ASSERT_EQ(log_init("test", c), 0);

	const int n = 2000;
	size_t max_seen = 0, prev_size = 0;
	int rotations = 0;
	size_t total_upper = 0;
	for (int i = 0; i < n; i++) {
		// Varying lengths, including some near the line limit.
		int pad = (i % 7 == 0) ? 900 : (i * 13) % 90;
		total_upper += size_t(pad) + 40; // "SS.FFFF: line NNNNN " and '\n'
		info("line %05d %.*s", i, pad,
		     "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
		     "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
		     "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
		     "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
		     "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
		     "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
		     "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
		     "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
		     "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
		     "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
		     "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
		     "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
		     "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp");
		struct stat sb;
		ASSERT_EQ(stat(lp.c_str(), &sb), 0);
		size_t size = size_t(sb.st_size);
		ASSERT_LE(size, limit) << "after line " << i;
		// A rotation drops about 30% plus at most a line or two (< 1000
		// bytes each here), never (nearly) everything.
		if (size < prev_size) {
			rotations++;
			EXPECT_GE(size, limit / 5) << "rotation dropped too much at line " << i;
		}
		prev_size = size;
		if (size > max_seen)
			max_seen = size;
	}
	EXPECT_GT(rotations, 10);
	// Each rotation frees at least 30% of the limit: no rotation per line.
	EXPECT_LE(size_t(rotations), total_upper / (limit * 3 / 10) + 1);
	EXPECT_GT(max_seen, limit / 2); // the file was actually used up to near the limit

	std::string content = read_file(lp);
	ASSERT_FALSE(content.empty());
	EXPECT_EQ(content.back(), '\n');
	std::vector<std::string> lines = split_lines(content);
	int prev = -1;
	for (const std::string &l : lines) {
		std::string m;
		ASSERT_TRUE(parse_line(l, &m)) << "partial or corrupt line: " << l;
		ASSERT_EQ(m.rfind("line ", 0), 0u) << l;
		ASSERT_GE(m.size(), 10u) << l;
		ASSERT_EQ(m.find_first_not_of("0123456789", 5), 10u) << l;
		ASSERT_TRUE(m.size() == 10 ||
			    (m[10] == ' ' && m.find_first_not_of('p', 11) == std::string::npos))
			<< "partial or corrupt line: " << l;
		int num = std::stoi(m.substr(5, 5));
		if (prev >= 0) {
			EXPECT_EQ(num, prev + 1) << "lines must stay contiguous";
		}
		prev = num;
	}
	EXPECT_EQ(prev, n - 1) << "newest line kept";
	EXPECT_GE(lines.size(), 4u);
	EXPECT_GE(content.size(), limit / 5);
}

TEST_F(CoreLog, TinyLogSizeIsRaisedToMinimum) {
	LogConfig c;
	c.syslog_path = nullptr;
	std::string lp = path("log");
	c.file_path = lp.c_str();
	c.file_size = 10;
	ASSERT_EQ(log_init("test", c), 0);
	struct stat sb;
	ASSERT_EQ(stat(lp.c_str(), &sb), 0);
	EXPECT_EQ(sb.st_mode & 0777, 0600u) << "new log files are private";
	for (int i = 0; i < 500; i++)
		info("message number %d with some text", i);
	std::string content = read_file(lp);
	EXPECT_LE(content.size(), LOG_FILE_SIZE_MIN);
	EXPECT_GT(content.size(), 100u);
	EXPECT_GE(content.size(), LOG_FILE_SIZE_MIN / 2);
	EXPECT_NE(content.find("message number 499 "), std::string::npos);
	EXPECT_EQ(content.find("message number 0 "), std::string::npos);
}

TEST(CoreLogRateLimit, AllowsBurstThenCountsSuppressed) {
	LogRateLimit rl;
	unsigned report = 99;
	timespec t{100, 0};
	for (unsigned i = 0; i < LOG_RL_BURST; i++) {
		EXPECT_TRUE(rl.allow(t, &report));
		EXPECT_EQ(report, 0u);
	}
	for (int i = 0; i < 10; i++) {
		t.tv_nsec = 100000000 + i;
		EXPECT_FALSE(rl.allow(t, &report));
	}
	// Next second: allowed again, and the 10 drops are reported once.
	t = timespec{101, 5};
	EXPECT_TRUE(rl.allow(t, &report));
	EXPECT_EQ(report, 10u);
	EXPECT_TRUE(rl.allow(t, &report));
	EXPECT_EQ(report, 0u);
	// A quiet window with no drops reports nothing.
	t = timespec{105, 0};
	EXPECT_TRUE(rl.allow(t, &report));
	EXPECT_EQ(report, 0u);
}

TEST_F(CoreLog, RateLimitedMacroPerCallSite) {
	init_stderr(LogLevel::Debug);
	// Start in a fresh one-second window (also when the test is repeated:
	// the per-site state is static), early enough not to cross into the
	// next one.
	timespec now = now_monotonic();
	usleep(useconds_t((NS_PER_SEC - now.tv_nsec) / 1000 + 10000));

	StderrCapture cap(path("stderr"));
	for (int i = 0; i < 50; i++) {
		debug_rl("site-a %d", i);
		debug_rl("site-b %d", i);
	}
	trace_rl("not enabled"); // below the level: never counted
	std::string out = cap.take();
	EXPECT_EQ(count_substr(out, "site-a "), LOG_RL_BURST);
	EXPECT_EQ(count_substr(out, "site-b "), LOG_RL_BURST);
	// At most a report per site of what a previous repetition dropped.
	EXPECT_LE(count_substr(out, "suppressed"), 2u);
	EXPECT_EQ(out.find("not enabled"), std::string::npos);
}

namespace {
void rl_site(int i) { debug_rl("one-site %d", i); }
} // namespace

TEST_F(CoreLog, RateLimitedMacroReportsSuppressed) {
	init_stderr(LogLevel::Debug);
	timespec now = now_monotonic();
	usleep(useconds_t((NS_PER_SEC - now.tv_nsec) / 1000 + 10000));
	StderrCapture cap(path("stderr"));
	for (int i = 0; i < 30; i++)
		rl_site(i);
	usleep(1100000); // next one-second window
	rl_site(1000);
	std::string out = cap.take();
	std::string expect = std::to_string(30 - LOG_RL_BURST) + " messages suppressed";
	EXPECT_NE(out.find(expect), std::string::npos) << out;
	EXPECT_NE(out.find("one-site 1000"), std::string::npos);
	EXPECT_LT(out.find(expect), out.find("one-site 1000")) << "report comes first";
	EXPECT_EQ(count_substr(out, "one-site "), LOG_RL_BURST + 1);
}

TEST_F(CoreLog, SyslogWhenDaemonised) {
	std::string sp = path("syslog.sock");
	Fd srv(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
	ASSERT_TRUE(srv.valid());
	sockaddr_un sa{};
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sp.c_str());
	ASSERT_EQ(bind(srv.get(), reinterpret_cast<sockaddr *>(&sa), sizeof(sa)), 0);
	timeval tv{2, 0};
	setsockopt(srv.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	LogConfig c;
	c.syslog_path = sp.c_str();
	c.level = LogLevel::Info;
	ASSERT_EQ(log_init("/usr/bin/passt.avx2", c), 0);

	// Foreground: stderr only, nothing to syslog.
	StderrCapture cap(path("stderr"));
	info("foreground message");
	EXPECT_NE(cap.take().find("foreground message"), std::string::npos);
	char buf[2048];
	EXPECT_LT(recv(srv.get(), buf, sizeof(buf), MSG_DONTWAIT), 0);

	log_set_daemonised(true);
	StderrCapture cap2(path("stderr"));
	info("hello syslog %d", 7);
	warn("a warning");
	debug("filtered");
	EXPECT_EQ(cap2.take(), "");

	ssize_t n = recv(srv.get(), buf, sizeof(buf) - 1, 0);
	ASSERT_GT(n, 0);
	buf[n] = '\0';
	std::string msg(buf);
	std::string tail = "passt.avx2[" + std::to_string(getpid()) + "]: hello syslog 7";
	EXPECT_EQ(msg.rfind("<30>", 0), 0u) << msg; // LOG_DAEMON | LOG_INFO
	EXPECT_NE(msg.find(tail), std::string::npos) << msg;
	EXPECT_EQ(msg.size() - msg.find(tail), tail.size()) << "no trailing bytes";

	n = recv(srv.get(), buf, sizeof(buf) - 1, 0);
	ASSERT_GT(n, 0);
	buf[n] = '\0';
	EXPECT_EQ(std::string(buf).rfind("<28>", 0), 0u) << buf; // LOG_DAEMON | LOG_WARNING
	EXPECT_LT(recv(srv.get(), buf, sizeof(buf), MSG_DONTWAIT), 0) << "debug was filtered";

	// -e: standard error as well as syslog.
	c.force_stderr = true;
	ASSERT_EQ(log_init("passt", c), 0);
	log_set_daemonised(true);
	StderrCapture cap3(path("stderr"));
	err("on both");
	EXPECT_NE(cap3.take().find("on both"), std::string::npos);
	n = recv(srv.get(), buf, sizeof(buf) - 1, 0);
	ASSERT_GT(n, 0);
	buf[n] = '\0';
	EXPECT_EQ(std::string(buf).rfind("<27>", 0), 0u) << buf;
	EXPECT_NE(std::string(buf).find("on both"), std::string::npos);
}

TEST_F(CoreLog, SyslogMissingIsHarmless) {
	LogConfig c;
	std::string sp = path("no-such.sock");
	c.syslog_path = sp.c_str();
	ASSERT_EQ(log_init("passt", c), 0);
	log_set_daemonised(true);
	StderrCapture cap(path("stderr"));
	info("lost");
	EXPECT_EQ(cap.take(), "");
}

TEST_F(CoreLog, DieExitsWithStatusOne) {
	init_stderr(LogLevel::Info);
	EXPECT_EXIT(die("fatal %d", 42), ::testing::ExitedWithCode(1), "fatal 42");
	errno = EPERM;
	EXPECT_EXIT(die_perror("setns"), ::testing::ExitedWithCode(1),
		    std::string("setns: ") + strerror(EPERM));

	// With a log file, fatal errors still reach stderr in the foreground.
	LogConfig c;
	c.syslog_path = nullptr;
	std::string lp = path("log");
	c.file_path = lp.c_str();
	ASSERT_EQ(log_init("test", c), 0);
	EXPECT_EXIT(die("file and stderr"), ::testing::ExitedWithCode(1), "file and stderr");
	EXPECT_NE(read_file(lp).find("file and stderr"), std::string::npos);
}
