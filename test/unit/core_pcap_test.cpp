// pcap writer: the file is read back and parsed here, byte for byte, and
// (when installed) checked by tcpdump and tshark.
#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "passt/core/log.h"
#include "passt/core/pcap.h"
#include "passt/core/util.h"

using namespace passt;

namespace {

std::string read_file(const std::string &path) {
	std::string out;
	FILE *f = fopen(path.c_str(), "rb");
	if (!f)
		return out;
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		out.append(buf, n);
	fclose(f);
	return out;
}

uint32_t get32(const std::string &s, size_t off) {
	uint32_t v;
	memcpy(&v, s.data() + off, 4);
	return v;
}
uint16_t get16(const std::string &s, size_t off) {
	uint16_t v;
	memcpy(&v, s.data() + off, 2);
	return v;
}

struct Record {
	uint32_t sec, nsec, caplen, len;
	std::string data;
};

// Parse a whole pcap file written by us (host byte order, ns magic).
// Any inconsistency is a test failure.
void parse_pcap(const std::string &file, std::vector<Record> *out) {
	ASSERT_GE(file.size(), 24u);
	EXPECT_EQ(get32(file, 0), 0xa1b23c4du);
	EXPECT_EQ(get16(file, 4), 2u);
	EXPECT_EQ(get16(file, 6), 4u);
	EXPECT_EQ(get32(file, 8), 0u);
	EXPECT_EQ(get32(file, 12), 0u);
	EXPECT_EQ(get32(file, 16), PCAP_SNAPLEN);
	EXPECT_GE(get32(file, 16), 65535u);
	EXPECT_EQ(get32(file, 20), 1u); // LINKTYPE_ETHERNET
	size_t off = 24;
	while (off < file.size()) {
		ASSERT_LE(off + 16, file.size()) << "truncated record header";
		Record r;
		r.sec = get32(file, off);
		r.nsec = get32(file, off + 4);
		r.caplen = get32(file, off + 8);
		r.len = get32(file, off + 12);
		ASSERT_LE(r.caplen, r.len);
		ASSERT_LE(r.caplen, PCAP_SNAPLEN);
		ASSERT_LT(r.nsec, 1000000000u);
		ASSERT_LE(off + 16 + r.caplen, file.size()) << "truncated record data";
		r.data = file.substr(off + 16, r.caplen);
		out->push_back(r);
		off += 16 + r.caplen;
	}
}

uint16_t ip_checksum(const uint8_t *p, size_t len) {
	uint32_t sum = 0;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += uint32_t(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return uint16_t(~sum);
}

// Ethernet + IPv4 + UDP frame with a payload of payload_len bytes.
std::string udp_frame(uint16_t sport, size_t payload_len) {
	std::string f(14 + 20 + 8 + payload_len, '\0');
	auto *p = reinterpret_cast<uint8_t *>(f.data());
	const uint8_t dst[6] = {0x02, 0, 0, 0, 0, 2}, src[6] = {0x02, 0, 0, 0, 0, 1};
	memcpy(p, dst, 6);
	memcpy(p + 6, src, 6);
	p[12] = 0x08;
	p[13] = 0x00;
	uint8_t *ip = p + 14;
	size_t iplen = 20 + 8 + payload_len;
	ip[0] = 0x45;
	ip[2] = uint8_t(iplen >> 8);
	ip[3] = uint8_t(iplen);
	ip[8] = 64;
	ip[9] = 17;
	const uint8_t s4[4] = {192, 0, 2, 1}, d4[4] = {192, 0, 2, 2};
	memcpy(ip + 12, s4, 4);
	memcpy(ip + 16, d4, 4);
	uint16_t c = ip_checksum(ip, 20);
	ip[10] = uint8_t(c >> 8);
	ip[11] = uint8_t(c);
	uint8_t *udp = ip + 20;
	udp[0] = uint8_t(sport >> 8);
	udp[1] = uint8_t(sport);
	udp[2] = 0x16;
	udp[3] = 0x2e; // 5678
	udp[4] = uint8_t((8 + payload_len) >> 8);
	udp[5] = uint8_t(8 + payload_len);
	for (size_t i = 0; i < payload_len; i++)
		udp[8 + i] = uint8_t('a' + i % 26);
	return f;
}

// A frame too long for the snapshot length (experimental EtherType).
std::string oversized_frame(size_t len) {
	std::string f(len, '\0');
	for (size_t i = 0; i < len; i++)
		f[i] = char(i * 7);
	f[12] = char(0x88);
	f[13] = char(0xb5);
	return f;
}

iovec iov_of(std::string &s, size_t off, size_t len) { return iovec{s.data() + off, len}; }

struct RunResult {
	int status = -1;
	bool timed_out = false;
	std::string out, err;
};

// Run argv with a timeout, capturing stdout and stderr into files in dir.
RunResult run_cmd(const std::vector<std::string> &argv, const std::string &dir, int timeout_s) {
	RunResult r;
	std::string op = dir + "/cmd.out", ep = dir + "/cmd.err";
	pid_t pid = fork();
	if (pid == 0) {
		int o = open(op.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(ep.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int n = open("/dev/null", O_RDONLY);
		dup2(n, 0);
		dup2(o, 1);
		dup2(e, 2);
		std::vector<char *> args;
		for (const std::string &a : argv)
			args.push_back(const_cast<char *>(a.c_str()));
		args.push_back(nullptr);
		execv(args[0], args.data());
		_exit(127);
	}
	if (pid < 0)
		return r;
	timespec start = now_monotonic();
	int st = 0;
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			break;
		if (timespec_diff_ms(now_monotonic(), start) > timeout_s * 1000) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			r.timed_out = true;
			break;
		}
		usleep(10000);
	}
	r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	r.out = read_file(op);
	r.err = read_file(ep);
	unlink(op.c_str());
	unlink(ep.c_str());
	return r;
}

std::string find_in_path(const char *name) {
	std::string path = getenv("PATH") ? getenv("PATH") : "";
	path += ":/usr/sbin:/usr/bin:/sbin:/bin";
	size_t start = 0;
	while (start <= path.size()) {
		size_t colon = path.find(':', start);
		std::string dir = path.substr(start, colon == std::string::npos ? std::string::npos
										: colon - start);
		if (!dir.empty()) {
			std::string full = dir + "/" + name;
			if (access(full.c_str(), X_OK) == 0)
				return full;
		}
		if (colon == std::string::npos)
			break;
		start = colon + 1;
	}
	return "";
}

std::string lower(std::string s) {
	for (char &c : s)
		c = char(tolower(static_cast<unsigned char>(c)));
	return s;
}

// Packet summary lines: tcpdump adds a tab-indented hex dump for unknown
// EtherTypes (tshark indents its summary lines with spaces), so count the
// non-empty lines that don't start with a tab.
size_t count_lines(const std::string &s) {
	size_t n = 0;
	bool at_start = true;
	for (char c : s) {
		if (at_start && c != '\t' && c != '\n')
			n++;
		at_start = c == '\n';
	}
	return n;
}

class CorePcap : public ::testing::Test {
protected:
	void SetUp() override {
		log_close(); // stderr, Info
		char tmpl[] = "/tmp/passt-core-pcap-XXXXXX";
		ASSERT_NE(mkdtemp(tmpl), nullptr);
		dir_ = tmpl;
		file_ = dir_ + "/capture.pcap";
	}
	void TearDown() override {
		pcap_close();
		unlink(file_.c_str());
		unlink((dir_ + "/stderr").c_str());
		rmdir(dir_.c_str());
	}

	// The mixed set of frames the tests write: returns the frames as the
	// reader should see them (before snaplen truncation).
	std::vector<std::string> write_sample() {
		std::vector<std::string> expect;
		timespec ts{1700000000, 123456789};

		// 1: contiguous.
		std::string f1 = udp_frame(1001, 32);
		pcap_buf(f1.data(), f1.size(), ts);
		expect.push_back(f1);

		// 2: 4-byte length prefix + frame split in three, offset 4.
		std::string f2 = udp_frame(1002, 100);
		std::string wire = std::string("\0\0\0\x8e", 4) + f2;
		iovec v2[3] = {iov_of(wire, 0, 4 + 10), iov_of(wire, 14, 20),
			       iov_of(wire, 34, wire.size() - 34)};
		pcap_frame(v2, 3, 4, ts);
		expect.push_back(f2);

		// 3: offset skips a whole first iovec (e.g. a vnet header) and
		// part of the second.
		std::string f3 = udp_frame(1003, 7);
		std::string vnet(12, 'V');
		std::string pre = "LLLL" + f3;
		iovec v3[2] = {iov_of(vnet, 0, vnet.size()), iov_of(pre, 0, pre.size())};
		pcap_frame(v3, 2, 12 + 4, ts);
		expect.push_back(f3);

		// 4-6: a batch of three frames, two parts each.
		std::string b[3] = {udp_frame(2001, 1), udp_frame(2002, 200), udp_frame(2003, 0)};
		iovec vb[6];
		for (int i = 0; i < 3; i++) {
			vb[2 * i] = iov_of(b[i], 0, 14);
			vb[2 * i + 1] = iov_of(b[i], 14, b[i].size() - 14);
			expect.push_back(b[i]);
		}
		pcap_frames(vb, 2, 3, 0, ts);

		// 7: oversized, cut at snaplen, split over several iovecs.
		std::string big = oversized_frame(200000);
		iovec vbig[4] = {iov_of(big, 0, 1000), iov_of(big, 1000, 100000),
				 iov_of(big, 101000, 70000), iov_of(big, 171000, 29000)};
		pcap_frame(vbig, 4, 0, ts);
		expect.push_back(big);

		// Nothing at all for an offset at or past the end.
		pcap_frame(v2, 3, wire.size(), ts);
		pcap_frame(v2, 3, wire.size() + 100, ts);
		pcap_frame(nullptr, 0, 0, ts);
		return expect;
	}

	std::string dir_, file_;
};

} // namespace

TEST_F(CorePcap, WritesParsableFile) {
	ASSERT_EQ(pcap_open(file_.c_str()), 0);
	EXPECT_TRUE(pcap_enabled());
	std::vector<std::string> expect = write_sample();
	pcap_close();
	EXPECT_FALSE(pcap_enabled());

	struct stat sb;
	ASSERT_EQ(stat(file_.c_str(), &sb), 0);
	EXPECT_EQ(sb.st_mode & 0777, 0600u);

	std::vector<Record> recs;
	parse_pcap(read_file(file_), &recs);
	ASSERT_EQ(recs.size(), expect.size());
	for (size_t i = 0; i < recs.size(); i++) {
		SCOPED_TRACE("frame " + std::to_string(i));
		EXPECT_EQ(recs[i].sec, 1700000000u);
		EXPECT_EQ(recs[i].nsec, 123456789u);
		EXPECT_EQ(recs[i].len, expect[i].size());
		size_t cap = expect[i].size() < PCAP_SNAPLEN ? expect[i].size() : PCAP_SNAPLEN;
		EXPECT_EQ(recs[i].caplen, cap);
		EXPECT_TRUE(recs[i].data == expect[i].substr(0, cap));
	}
	EXPECT_EQ(recs.back().len, 200000u);
	EXPECT_EQ(recs.back().caplen, PCAP_SNAPLEN);
}

TEST_F(CorePcap, DefaultTimestampIsWallClock) {
	ASSERT_EQ(pcap_open(file_.c_str()), 0);
	std::string f = udp_frame(1, 10);
	timespec before = now_realtime();
	pcap_buf(f.data(), f.size());
	iovec v = iov_of(f, 0, f.size());
	pcap_frame(&v, 1, 0);
	pcap_frames(&v, 1, 1, 0);
	timespec after = now_realtime();
	pcap_close();
	std::vector<Record> recs;
	parse_pcap(read_file(file_), &recs);
	ASSERT_EQ(recs.size(), 3u);
	for (const Record &r : recs) {
		timespec t{time_t(r.sec), long(r.nsec)};
		EXPECT_FALSE(timespec_before(t, before));
		EXPECT_FALSE(timespec_before(after, t));
	}
}

TEST_F(CorePcap, ReopenTruncates) {
	ASSERT_EQ(pcap_open(file_.c_str()), 0);
	std::string f = udp_frame(1, 10);
	pcap_buf(f.data(), f.size());
	ASSERT_EQ(pcap_open(file_.c_str()), 0);
	pcap_close();
	EXPECT_EQ(read_file(file_).size(), 24u);
}

TEST_F(CorePcap, DisabledIsANoOp) {
	EXPECT_FALSE(pcap_enabled());
	std::string f = udp_frame(1, 10);
	pcap_buf(f.data(), f.size()); // must not crash or write anywhere
	EXPECT_LT(pcap_open((dir_ + "/no/such/dir.pcap").c_str()), 0);
	EXPECT_FALSE(pcap_enabled());
	EXPECT_EQ(pcap_open_fd(-1), -EBADF);
	// Header write failure (no space).
	int full = open("/dev/full", O_WRONLY | O_CLOEXEC);
	if (full >= 0) {
		EXPECT_EQ(pcap_open_fd(full), -ENOSPC);
		EXPECT_FALSE(pcap_enabled());
	}
}

TEST_F(CorePcap, WriteErrorDisablesCaptureAndLogsOnce) {
	int p[2];
	ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
	ASSERT_EQ(pcap_open_fd(p[1]), 0);
	char hdr[24];
	ASSERT_EQ(read(p[0], hdr, sizeof(hdr)), 24);
	close(p[0]); // now every write fails with EPIPE

	struct sigaction ign {
	}, old{};
	ign.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &ign, &old);

	std::string errpath = dir_ + "/stderr";
	fflush(stderr);
	int saved = dup(2);
	int efd = open(errpath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	dup2(efd, 2);
	close(efd);

	std::string f = udp_frame(1, 10);
	pcap_buf(f.data(), f.size());
	bool after_first = pcap_enabled();
	pcap_buf(f.data(), f.size());
	pcap_buf(f.data(), f.size());

	dup2(saved, 2);
	close(saved);
	sigaction(SIGPIPE, &old, nullptr);

	EXPECT_FALSE(after_first);
	std::string out = read_file(errpath);
	size_t first = out.find("pcap: write failed");
	ASSERT_NE(first, std::string::npos) << out;
	EXPECT_EQ(out.find("pcap: write failed", first + 1), std::string::npos) << "logged once";
}

// External readers: the files we write must be accepted without complaint.
namespace {
void check_with_reader(const std::string &tool, const std::vector<std::string> &args,
		       const std::string &dir, size_t frames, const std::string &stdout_needle,
		       size_t needle_count) {
	std::vector<std::string> argv{tool};
	argv.insert(argv.end(), args.begin(), args.end());
	RunResult r = run_cmd(argv, dir, 60);
	ASSERT_FALSE(r.timed_out) << tool << " timed out";
	EXPECT_EQ(r.status, 0) << r.err;
	std::string e = lower(r.err);
	EXPECT_EQ(e.find("warning"), std::string::npos) << r.err;
	EXPECT_EQ(e.find("truncated"), std::string::npos) << r.err;
	EXPECT_EQ(lower(r.out).find("invalid"), std::string::npos) << r.out;
	EXPECT_EQ(lower(r.out).find("malformed"), std::string::npos) << r.out;
	EXPECT_EQ(count_lines(r.out), frames) << r.out;
	size_t n = 0;
	for (size_t p = r.out.find(stdout_needle); p != std::string::npos;
	     p = r.out.find(stdout_needle, p + 1))
		n++;
	EXPECT_EQ(n, needle_count) << r.out;
}
} // namespace

TEST_F(CorePcap, TcpdumpReadsIt) {
	std::string tool = find_in_path("tcpdump");
	if (tool.empty())
		GTEST_SKIP() << "tcpdump not installed (apt-get install tcpdump)";
	ASSERT_EQ(pcap_open(file_.c_str()), 0);
	std::vector<std::string> expect = write_sample();
	pcap_close();
	// Six UDP frames decode as such (so offsets were right), plus the
	// oversized one.
	check_with_reader(tool, {"-r", file_, "-nn"}, dir_, expect.size(), "192.0.2.1.", 6);
}

TEST_F(CorePcap, TsharkReadsIt) {
	std::string tool = find_in_path("tshark");
	if (tool.empty())
		GTEST_SKIP() << "tshark not installed (apt-get install tshark)";
	ASSERT_EQ(pcap_open(file_.c_str()), 0);
	std::vector<std::string> expect = write_sample();
	pcap_close();
	check_with_reader(tool, {"-r", file_, "-n"}, dir_, expect.size(), "192.0.2.2 ", 6);
}

TEST_F(CorePcap, SnaplenBoundary) {
	ASSERT_EQ(pcap_open(file_.c_str()), 0);
	std::string exact = oversized_frame(PCAP_SNAPLEN);
	std::string over = oversized_frame(PCAP_SNAPLEN + 1);
	std::string prefixed = "LLLL" + over; // cut counts from the offset
	pcap_buf(exact.data(), exact.size());
	iovec v = iov_of(prefixed, 0, prefixed.size());
	pcap_frame(&v, 1, 4);
	pcap_close();
	std::vector<Record> recs;
	parse_pcap(read_file(file_), &recs);
	ASSERT_EQ(recs.size(), 2u);
	EXPECT_EQ(recs[0].caplen, PCAP_SNAPLEN);
	EXPECT_EQ(recs[0].len, PCAP_SNAPLEN);
	EXPECT_TRUE(recs[0].data == exact);
	EXPECT_EQ(recs[1].caplen, PCAP_SNAPLEN);
	EXPECT_EQ(recs[1].len, PCAP_SNAPLEN + 1);
	EXPECT_TRUE(recs[1].data == over.substr(0, PCAP_SNAPLEN));
}
