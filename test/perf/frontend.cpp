// frontend: plays qemu's part for passt, without a guest, for benchmarks and
// tests (test/perf/bench.sh, test/integration/test_frontend_stream.sh).
//
//   frontend stream|vhost-user SOCKET [-i IFNAME] [-m MTU] [-b BATCH]
//            [-r READY_FILE] [-q] [-O|-o FAMILIES] [-E] [-H HOLD_MS]
//            [-X avail-jump|head-range] [-M SOCKET2] [-L] [-- COMMAND [ARG...]]
//
// Theory of operation. The program opens a tap device (IFF_TAP | IFF_NO_PI
// | IFF_VNET_HDR) in the network namespace it runs in, sets its MTU and
// brings it up, then connects to passt's UNIX socket (passt -s SOCKET) and
// relays Ethernet frames both ways. The namespace's kernel is the "guest":
// iperf3, socat or ping run there unchanged. Addresses and routes are the
// caller's job (ip commands, or DHCP through passt with udhcpc/dhclient):
// the harness only moves frames.
//
// Stream mode: on the socket, every frame is preceded by its length as a
// 4-byte big-endian number, both ways, as qemu's -netdev stream does. That
// framing carries no offload information, so the tap is opened with no
// offloads (no TUNSETOFFLOAD): the namespace's kernel then segments and
// checksums everything itself and hands over one MTU-sized frame per read,
// which goes to the socket as is. IFF_VNET_HDR is still on (a 10-byte
// virtio-net header precedes each frame on the tap), so that the same tap
// set-up serves a front-end that does negotiate offloads; here the header
// read is skipped and the header written is all zero: no GSO, and no
// DATA_VALID flag, so the namespace's kernel verifies every checksum passt
// computed, as a guest without GUEST_CSUM does. With MTU as large as what
// passt tells the guest (65520 by default), each frame carries up to 64 KiB.
//
// The loop (epoll, level-triggered): tap -> socket reads frames from the
// tap until it would block or the output buffer is nearly full (at most
// BATCH frames), prefixing each with its length in one contiguous buffer,
// and hands the buffer to the kernel in one send(). What the socket does
// not take stays queued in order; while anything is queued, the tap is not
// read (EPOLLIN off) and EPOLLOUT on the socket is armed instead, so the
// guest's kernel sees back-pressure (its tap queue fills, then it drops, as
// a real NIC would) rather than frames being lost here. socket -> tap
// recv()s as much as fits into an input buffer, then writes every complete
// frame to the tap (one write per frame, the tap's unit); a partial frame
// stays at the start of the buffer for the next read. If the tap refuses a
// write (EAGAIN), the socket is not read until the tap is writable again.
//
// The tap is drained every DRAIN_EVERY frames written to it, whichever the
// mode: see there.
//
// vhost-user mode (passt --vhost-user -s SOCKET): the harness is the
// front-end, as qemu is. Guest memory is one memfd (rings and buffers),
// shared with passt by SET_MEM_TABLE; the control messages follow qemu's
// docs/interop/vhost-user.rst: SET_OWNER, GET/SET_FEATURES (by default
// VERSION_1 and PROTOCOL_FEATURES only: no MRG_RXBUF, so one RX buffer holds
// a whole frame, and no offloads, for the reason above; -O and -E below add
// some), GET/SET_PROTOCOL_FEATURES
// (REPLY_ACK if offered: then every request asks for, and checks, a
// status), then per queue SET_VRING_NUM/BASE/ADDR/CALL/KICK and, with
// protocol features, SET_VRING_ENABLE. Queue 0 is RX (passt -> us), queue 1
// TX, split rings of QSIZE descriptors, descriptor i always pointing at
// buffer i of its queue. Kicks and calls are eventfds. RX: all buffers are
// offered at start; on a call, each used buffer (virtio-net header and
// frame) is written to the tap as is (the tap's header length is set to the
// same 12 bytes; num_buffers is ignored by the tap) and offered again. TX:
// the tap is read straight into a free buffer, header included (the tap
// fills 10 bytes, num_buffers is zeroed), up to BATCH frames per kick;
// buffers come back on TX calls. With every TX buffer in flight, the tap is
// not read until a call returns some. Nothing is copied by the harness.
//
// Two options (vhost-user only) play a guest with offloads and one with the
// event index; without them the harness behaves as described above, which
// is what test/perf/bench.sh measures. -O: the offloads are negotiated both
// ways (VIRTIO_NET_F_CSUM, HOST_TSO4/6 for TX, GUEST_CSUM, GUEST_TSO4/6 for
// RX; the back-end must offer all of them, else the harness exits 1) and
// the tap gets TUNSETOFFLOAD TUN_F_CSUM | TSO4 | TSO6, so the namespace's
// kernel hands over up to 64 KiB TCP segments with a partial checksum and
// takes such segments, or DATA_VALID, from passt. The virtio-net header
// then passes through unchanged both ways, which it already did: only its
// contents differ. One RX buffer (BUF bytes) holds a 64 KiB frame, so no
// MRG_RXBUF is needed. -o 4 or -o 6 plays a guest that segments one
// family only: the checksum offloads and that family's TSO bits (GUEST_
// and HOST_TSO4, or 6), and TUN_F_TSO4 or 6 on the tap; -o 46 is -O.
// -E: VIRTIO_RING_F_EVENT_IDX is negotiated (exit 1 if not offered): the
// harness then kicks only when avail->idx moves past the back-end's
// avail_event, and after taking used elements publishes used_event (where
// it wants the next call) and looks at the used ring once more, as virtio
// 1.x drivers do; the avail ring's NO_INTERRUPT flag is not used either
// way. The negotiated features are printed at start (unless -q).
//
// Two options play a slow or a broken guest (vhost-user only). -H HOLD_MS:
// every HOLD_EVERY frames received, RX buffers are withheld for HOLD_MS
// milliseconds (used ones are kept, not offered again), then all offered
// at once with one kick: passt must make its frames wait, not lose them.
// -X KIND: right after set-up, the TX ring is corrupted once, avail->idx
// jumping more than the ring size ahead (avail-jump) or a head index out of
// range made available (head-range), with a kick; the tap is not read while
// the ring is corrupt. After REPROGRAM_MS, the front-end does what qemu does
// when it resets a queue: GET_VRING_BASE, then SET_VRING_BASE 0,
// SET_VRING_ADDR, SET_VRING_KICK (and SET_VRING_ENABLE) over a reset ring,
// and the relay goes on: passt must have kept serving, and take the queue
// back.
//
// -M SOCKET2 plays qemu's side of a live migration (vhost-user only): on
// SIGUSR1 the device moves from the passt at SOCKET to the one at SOCKET2,
// while the namespace's kernel, the "guest", keeps its connections. As
// qemu does once the guest is stopped: both queues stopped
// (GET_VRING_BASE), SET_DEVICE_STATE_FD (save) with a pipe that is read to
// end of file, CHECK_DEVICE_STATE; then SOCKET2 is connected and
// negotiated (VHOST_USER_PROTOCOL_F_DEVICE_STATE, which -M requires),
// SET_DEVICE_STATE_FD (load) with a pipe the state is written into,
// CHECK_DEVICE_STATE, and the same memory and rings are set up there from
// where the first back-end stopped; the first control connection is
// closed. If either back-end refuses, the queues start again on the first
// one, as qemu resumes a guest whose migration failed. The next SIGUSR1
// migrates back the other way. Guest memory is
// not copied (it stays where it is), so no dirty log is negotiated. A
// line says how it went and how long the device was stopped; with -r,
// READY_FILE.migrated is created afterwards.
//
// -L plays qemu's dirty page logging during a migration (vhost-user only;
// docs/interop/vhost-user.rst, "Migration"): VHOST_F_LOG_ALL and
// VHOST_USER_PROTOCOL_F_LOG_SHMFD are negotiated (exit 1 if not offered),
// a log memfd covering all of guest memory (one bit per 4 KiB page) is
// given with SET_LOG_BASE (whose u64 reply must be 0) before SET_FEATURES,
// and every ring is set up with VHOST_VRING_F_LOG, its used ring's guest
// address as log_guest_addr; so logging is on from the first frame (with
// -M, on both back-ends, into the same log). The log is never cleared.
// Every write by passt that the harness sees, a used RX buffer (its
// length, from the start of the buffer), a used element and the used
// index of either ring, is recorded in a bitmap of our own; at exit the
// two are compared page by page: a page we saw written that the log does
// not mark is a lost write for a migration, and the exit status is then 1.
// A line gives the counts (pages seen written, of them marked, missing;
// pages marked beyond those, e.g. avail_event, which we do not watch).
//
// -b BATCH (default 128, 1 to 1024) bounds the frames per send() (stream)
// or per TX kick (vhost-user). Measured once here, IPv4 ns->host at MTU
// 65520 over stream: our passt 3.5 Gbit/s with 128 and 2.5 with 1, Debian's
// passt 0.35 and 0.33 (its slowness there is its own, not the batching's).
//
// With "-- COMMAND", the command runs as a child once the tap is up and the
// socket connected; the harness exits with the child's status when it ends
// (or when passt closes the socket: then status 1 after the child is killed).
// Without one, it runs until passt closes the socket (exit 0) or SIGTERM or
// SIGINT (exit 0). -r creates READY_FILE once connected. At exit, unless
// -q, a line of counters goes to stderr.
//
// Only libc and the C++ standard library: it must build wherever the daemon
// does, and `make check` builds it (make perf-tools) so that it cannot rot.
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <net/if_arp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr size_t VNET_HDR_LEN = 10; // struct virtio_net_hdr, no num_buffers
constexpr size_t MAX_FRAME = 65535 + 14;
constexpr size_t LEN_PREFIX = 4;
constexpr size_t BUF_SIZE = 4 << 20;
int BATCH = 128; // -b: frames per send() or per TX kick, at most
// Frames written to the tap between two reads of it. Each write runs the
// namespace kernel's receive path, which queues its answers (ACKs) on the
// tap; the tap drops what overflows its queue (1000 frames) where a virtio
// NIC would stop the guest's queue, so the harness must read it often.
constexpr unsigned DRAIN_EVERY = 32;

struct Options {
	std::string mode;
	std::string path;
	std::string ifname = "tap0";
	int mtu = 65520;
	std::string ready;
	bool quiet = false;
	bool offload = false;   // -O, -o
	bool tso4 = true;       // -o without 4: no IPv4 TSO
	bool tso6 = true;       // -o without 6: no IPv6 TSO
	bool event_idx = false; // -E
	int hold_ms = 0;        // -H
	std::string corrupt;    // -X
	std::string migrate_to; // -M
	bool log = false;       // -L
	std::vector<char *> cmd;
};

struct Counters {
	uint64_t tap_frames = 0, tap_bytes = 0;   // tap -> socket
	uint64_t sock_frames = 0, sock_bytes = 0; // socket -> tap
	uint64_t tap_write_errors = 0;
	uint64_t tx_full = 0;         // vhost-user: tap not read, every TX buffer in flight
	uint64_t rx_holds = 0;        // vhost-user: -H periods
	uint64_t tx_reprogrammed = 0; // vhost-user: -X, TX queue set up again
	uint64_t migrations = 0, migrations_failed = 0; // vhost-user: -M
};

[[noreturn]] void die(const char *what) {
	fprintf(stderr, "frontend: %s: %s\n", what, strerror(errno));
	exit(1);
}

[[noreturn]] void usage() {
	fprintf(stderr,
		"usage: frontend stream|vhost-user SOCKET [-i IFNAME] [-m MTU] [-b BATCH]\n"
		"       [-r READY_FILE] [-q] [-O|-o 4|6|46] [-E] [-H HOLD_MS]\n"
		"       [-X avail-jump|head-range] [-M SOCKET2] [-L] [-- COMMAND [ARG...]]\n");
	exit(2);
}

Options parse(int argc, char **argv) {
	Options o;
	if (argc < 3)
		usage();
	o.mode = argv[1];
	o.path = argv[2];
	if (o.mode != "stream" && o.mode != "vhost-user") {
		fprintf(stderr, "frontend: unknown mode '%s' (stream or vhost-user)\n",
			o.mode.c_str());
		exit(2);
	}
	for (int i = 3; i < argc; i++) {
		std::string a = argv[i];
		if (a == "--") {
			for (int j = i + 1; j < argc; j++)
				o.cmd.push_back(argv[j]);
			if (o.cmd.empty())
				usage();
			o.cmd.push_back(nullptr);
			break;
		}
		if (a == "-q") {
			o.quiet = true;
			continue;
		}
		if (a == "-O" || a == "-E") {
			(a == "-O" ? o.offload : o.event_idx) = true;
			continue;
		}
		if (a == "-L") {
			o.log = true;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		const char *v = argv[++i];
		if (a == "-o") {
			const std::string fam = v;
			if (fam != "4" && fam != "6" && fam != "46")
				usage();
			o.offload = true;
			o.tso4 = fam.find('4') != std::string::npos;
			o.tso6 = fam.find('6') != std::string::npos;
		} else if (a == "-i") {
			o.ifname = v;
			if (o.ifname.size() >= IFNAMSIZ)
				usage();
		} else if (a == "-m") {
			char *end;
			long m = strtol(v, &end, 10);
			if (*end || m < 68 || m > 65521) {
				fprintf(stderr, "frontend: -m: MTU must be 68 to 65521\n");
				exit(2);
			}
			o.mtu = static_cast<int>(m);
		} else if (a == "-b") {
			BATCH = atoi(v);
			if (BATCH < 1 || BATCH > 1024)
				usage();
		} else if (a == "-r") {
			o.ready = v;
		} else if (a == "-H") {
			o.hold_ms = atoi(v);
			if (o.hold_ms < 1 || o.hold_ms > 10000)
				usage();
		} else if (a == "-M") {
			o.migrate_to = v;
		} else if (a == "-X") {
			o.corrupt = v;
			if (o.corrupt != "avail-jump" && o.corrupt != "head-range")
				usage();
		} else {
			usage();
		}
	}
	return o;
}

// The tap device, non-blocking, with a virtio-net header and no offloads
// (with -O: checksum and TCP segmentation offloads); MTU set and link up.
int open_tap(const Options &o, int hdr) {
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		die("/dev/net/tun");
	struct ifreq ifr = {};
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", o.ifname.c_str());
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		die("TUNSETIFF");
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0)
		die("TUNSETVNETHDRSZ");
	const unsigned tun_offloads =
		TUN_F_CSUM | (o.tso4 ? TUN_F_TSO4 : 0) | (o.tso6 ? TUN_F_TSO6 : 0);
	if (o.offload && ioctl(fd, TUNSETOFFLOAD, tun_offloads) < 0)
		die("TUNSETOFFLOAD");

	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		die("socket(AF_INET)");
	struct ifreq req = {};
	snprintf(req.ifr_name, IFNAMSIZ, "%s", o.ifname.c_str());
	req.ifr_mtu = o.mtu;
	if (ioctl(s, SIOCSIFMTU, &req) < 0)
		die("SIOCSIFMTU");
	if (ioctl(s, SIOCGIFFLAGS, &req) < 0)
		die("SIOCGIFFLAGS");
	req.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &req) < 0)
		die("SIOCSIFFLAGS");
	close(s);
	return fd;
}

// passt's socket: it may not exist yet, so retry for up to 10 s.
int connect_stream(const std::string &path, bool nonblock) {
	struct sockaddr_un sa = {};
	sa.sun_family = AF_UNIX;
	if (path.size() >= sizeof(sa.sun_path)) {
		fprintf(stderr, "frontend: socket path too long\n");
		exit(2);
	}
	memcpy(sa.sun_path, path.c_str(), path.size());
	for (int i = 0; i < 100; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			die("socket(AF_UNIX)");
		if (connect(fd, reinterpret_cast<struct sockaddr *>(&sa), sizeof(sa)) == 0) {
			if (!nonblock)
				return fd; // vhost-user control: blocking
			int fl = fcntl(fd, F_GETFL);
			if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
				die("fcntl");
			int sz = 4 << 20;
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
			return fd;
		}
		int e = errno;
		close(fd);
		if (e != ENOENT && e != ECONNREFUSED) {
			errno = e;
			die(path.c_str());
		}
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, nullptr);
	}
	errno = ETIMEDOUT;
	die(path.c_str());
}

// Epoll registrations: which events each fd wants now.
class Loop {
public:
	explicit Loop(int tap, int sock, int sig) : tap_(tap), sock_(sock) {
		ep_ = epoll_create1(EPOLL_CLOEXEC);
		if (ep_ < 0)
			die("epoll_create1");
		add(tap_, EPOLLIN);
		add(sock_, EPOLLIN | EPOLLRDHUP);
		if (sig >= 0)
			add(sig, EPOLLIN);
		tap_ev_ = EPOLLIN;
		sock_ev_ = EPOLLIN | EPOLLRDHUP;
	}
	void set_tap(uint32_t ev) { mod(tap_, tap_ev_, ev); }
	void set_sock(uint32_t ev) { mod(sock_, sock_ev_, ev | EPOLLRDHUP); }
	int wait(struct epoll_event *evs, int n) {
		int rc = epoll_wait(ep_, evs, n, -1);
		if (rc < 0 && errno != EINTR)
			die("epoll_wait");
		return rc < 0 ? 0 : rc;
	}

private:
	void add(int fd, uint32_t ev) {
		struct epoll_event e = {};
		e.events = ev;
		e.data.fd = fd;
		if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &e) < 0)
			die("epoll_ctl");
	}
	void mod(int fd, uint32_t &cur, uint32_t ev) {
		if (cur == ev)
			return;
		struct epoll_event e = {};
		e.events = ev;
		e.data.fd = fd;
		if (epoll_ctl(ep_, EPOLL_CTL_MOD, fd, &e) < 0)
			die("epoll_ctl");
		cur = ev;
	}
	int ep_, tap_, sock_;
	uint32_t tap_ev_ = 0, sock_ev_ = 0;
};

// The stream relay: the two buffers and the two directions.
class StreamRelay {
public:
	StreamRelay(int tap, int sock, Counters &c)
		: tap_(tap), sock_(sock), c_(c), out_(BUF_SIZE), in_(BUF_SIZE) {}

	// tap -> queue (at most BATCH frames); false if the guest side broke.
	void read_tap() {
		for (int n = 0; n < BATCH; n++) {
			if (out_.size() - out_len_ < LEN_PREFIX + VNET_HDR_LEN + MAX_FRAME)
				break;
			// Read header + frame so that the frame lands just after its
			// length prefix: the header's last 4 bytes become the prefix.
			uint8_t *at = out_.data() + out_len_;
			uint8_t hdr[VNET_HDR_LEN];
			struct iovec iov[2] = {{hdr, VNET_HDR_LEN - LEN_PREFIX},
					       {at, LEN_PREFIX + MAX_FRAME}};
			ssize_t r = readv(tap_, iov, 2);
			if (r < 0) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				die("read from tap");
			}
			if (static_cast<size_t>(r) <= VNET_HDR_LEN)
				continue;
			uint32_t len = static_cast<uint32_t>(r - VNET_HDR_LEN);
			at[0] = static_cast<uint8_t>(len >> 24);
			at[1] = static_cast<uint8_t>(len >> 16);
			at[2] = static_cast<uint8_t>(len >> 8);
			at[3] = static_cast<uint8_t>(len);
			out_len_ += LEN_PREFIX + len;
			c_.tap_frames++;
			c_.tap_bytes += len;
		}
	}

	// queue -> socket; true when nothing is left queued.
	bool flush() {
		while (out_off_ < out_len_) {
			ssize_t w = send(sock_, out_.data() + out_off_, out_len_ - out_off_,
					 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w < 0) {
				if (errno == EAGAIN || errno == EINTR)
					return false;
				die("send to passt");
			}
			out_off_ += static_cast<size_t>(w);
		}
		out_off_ = out_len_ = 0;
		return true;
	}

	// socket -> tap; returns 0 if more may come, 1 at end of stream, 2 if
	// the tap would block (stop reading the socket until it is writable).
	int read_sock() {
		if (write_tap() == 2)
			return 2;
		if (in_len_ == in_.size())
			return 2; // cannot happen: a complete frame always fits
		ssize_t r = recv(sock_, in_.data() + in_len_, in_.size() - in_len_, MSG_DONTWAIT);
		if (r == 0)
			return 1;
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			if (errno == ECONNRESET)
				return 1;
			die("recv from passt");
		}
		in_len_ += static_cast<size_t>(r);
		return write_tap();
	}

	// Writes the complete frames of the input buffer to the tap.
	int write_tap() {
		static const uint8_t zero_hdr[VNET_HDR_LEN] = {};
		unsigned written = 0;
		while (in_len_ - in_off_ >= LEN_PREFIX) {
			const uint8_t *p = in_.data() + in_off_;
			uint32_t len = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
				       (uint32_t{p[2]} << 8) | p[3];
			if (len == 0 || len > MAX_FRAME) {
				fprintf(stderr, "frontend: bad frame length %u from passt\n", len);
				exit(1);
			}
			if (in_len_ - in_off_ < LEN_PREFIX + len)
				break;
			struct iovec iov[2] = {{const_cast<uint8_t *>(zero_hdr), VNET_HDR_LEN},
					       {const_cast<uint8_t *>(p + LEN_PREFIX), len}};
			ssize_t w = writev(tap_, iov, 2);
			if (w < 0) {
				if (errno == EAGAIN)
					return 2;
				if (errno == EINTR)
					continue;
				// The namespace kernel refused the frame (EINVAL on a
				// malformed one, EIO with the link down): count, drop.
				c_.tap_write_errors++;
			} else {
				c_.sock_frames++;
				c_.sock_bytes += len;
			}
			in_off_ += LEN_PREFIX + len;
			if (++written % DRAIN_EVERY == 0) {
				read_tap();
				flush();
			}
		}
		if (in_off_) {
			memmove(in_.data(), in_.data() + in_off_, in_len_ - in_off_);
			in_len_ -= in_off_;
			in_off_ = 0;
		}
		return 0;
	}

private:
	int tap_, sock_;
	Counters &c_;
	std::vector<uint8_t> out_;
	size_t out_len_ = 0, out_off_ = 0;
	std::vector<uint8_t> in_;
	size_t in_len_ = 0, in_off_ = 0;
};

void print_counters(const Options &o, const Counters &c) {
	if (o.quiet)
		return;
	fprintf(stderr,
		"frontend: to passt %llu frames %llu bytes; from passt %llu frames %llu bytes"
		"; tap write errors %llu; TX ring full %llu; RX holds %llu; TX re-programmed "
		"%llu; migrations %llu, failed %llu\n",
		static_cast<unsigned long long>(c.tap_frames),
		static_cast<unsigned long long>(c.tap_bytes),
		static_cast<unsigned long long>(c.sock_frames),
		static_cast<unsigned long long>(c.sock_bytes),
		static_cast<unsigned long long>(c.tap_write_errors),
		static_cast<unsigned long long>(c.tx_full),
		static_cast<unsigned long long>(c.rx_holds),
		static_cast<unsigned long long>(c.tx_reprogrammed),
		static_cast<unsigned long long>(c.migrations),
		static_cast<unsigned long long>(c.migrations_failed));
}

// vhost-user front-end: the control messages (see qemu's
// docs/interop/vhost-user.rst) and the guest side of two split virtqueues.
namespace vu {

enum : uint32_t {
	GET_FEATURES = 1,
	SET_FEATURES = 2,
	SET_OWNER = 3,
	SET_MEM_TABLE = 5,
	SET_LOG_BASE = 6,
	SET_VRING_NUM = 8,
	SET_VRING_ADDR = 9,
	SET_VRING_BASE = 10,
	GET_VRING_BASE = 11,
	SET_VRING_KICK = 12,
	SET_VRING_CALL = 13,
	GET_PROTOCOL_FEATURES = 15,
	SET_PROTOCOL_FEATURES = 16,
	SET_VRING_ENABLE = 18,
	SET_DEVICE_STATE_FD = 42,
	CHECK_DEVICE_STATE = 43,
};
constexpr uint32_t FLAG_VERSION = 0x1, FLAG_REPLY = 0x4, FLAG_NEED_REPLY = 0x8;
constexpr uint64_t F_PROTOCOL_FEATURES = 1ULL << 30;
constexpr uint64_t F_EVENT_IDX = 1ULL << 29;
// CSUM and GUEST_CSUM; GUEST_TSO4 and HOST_TSO4; GUEST_TSO6 and HOST_TSO6.
constexpr uint64_t F_CSUMS = (1ULL << 0) | (1ULL << 1);
constexpr uint64_t F_TSO4 = (1ULL << 7) | (1ULL << 11), F_TSO6 = (1ULL << 8) | (1ULL << 12);
constexpr uint64_t F_VERSION_1 = 1ULL << 32;
constexpr uint64_t PROTOCOL_F_REPLY_ACK = 1ULL << 3;
constexpr uint64_t PROTOCOL_F_LOG_SHMFD = 1ULL << 1;
constexpr uint64_t F_LOG_ALL = 1ULL << 26; // VHOST_F_LOG_ALL
constexpr uint32_t VRING_F_LOG = 1;        // SET_VRING_ADDR flags: VHOST_VRING_F_LOG
constexpr uint64_t LOG_PAGE = 4096;        // VHOST_LOG_PAGE
constexpr uint64_t PROTOCOL_F_DEVICE_STATE = 1ULL << 19;
constexpr uint64_t DEVICE_STATE_NO_FD = 1ULL << 8; // SET_DEVICE_STATE_FD reply
constexpr unsigned RX = 0, TX = 1;

constexpr unsigned QSIZE = 1024; // descriptors per queue (the most allowed)
constexpr size_t HDR = 12;       // virtio_net_hdr_v1 (VERSION_1)
constexpr size_t BUF = 65664;    // HDR + MAX_FRAME, rounded up: one frame
constexpr size_t page_up(size_t n) { return (n + 4095) & ~size_t(4095); }
// One queue's rings, each page-aligned: descriptors | avail | used.
constexpr size_t AVAIL_OFF = page_up(16 * QSIZE);
constexpr size_t USED_OFF = AVAIL_OFF + page_up(6 + 2 * QSIZE);
constexpr size_t RING_AREA = USED_OFF + page_up(6 + 8 * QSIZE);
constexpr uint16_t DESC_F_WRITE = 2;
constexpr uint16_t USED_F_NO_NOTIFY = 1;
constexpr unsigned HOLD_EVERY = 1024;  // -H: RX frames between two holds
constexpr int64_t REPROGRAM_MS = 1000; // -X: corrupt ring, then set up again

int64_t now_ms() {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return int64_t(t.tv_sec) * 1000 + t.tv_nsec / 1000000;
}

// Guest memory: [RX rings][TX rings][RX buffers][TX buffers].
constexpr size_t RINGS_OFF[2] = {0, RING_AREA};
constexpr size_t BUFS_OFF[2] = {2 * RING_AREA, 2 * RING_AREA + QSIZE *BUF};
constexpr size_t MEM_SIZE = 2 * RING_AREA + 2 * QSIZE * BUF;
constexpr size_t LOG_BYTES = (MEM_SIZE / LOG_PAGE + 7) / 8; // -L: covers it all
// Guest address of queue q's used ring (guest memory starts at 0).
constexpr uint64_t used_gpa(unsigned q) { return RINGS_OFF[q] + USED_OFF; }

struct Desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

template <typename T> T load(const T *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
template <typename T> void store(T *p, T v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

// One split virtqueue, driver side (x86: little-endian, as virtio 1.0 is).
struct Queue {
	Desc *desc;
	uint16_t *avail; // flags, idx, ring[QSIZE], used_event
	uint16_t *used;  // flags, idx, then {u32 id, u32 len}[QSIZE]
	uint8_t *bufs;   // QSIZE buffers of BUF bytes, buffer i for descriptor i
	uint64_t bufs_gpa;
	uint16_t avail_idx = 0, used_seen = 0;
	uint16_t kicked_idx = 0; // avail_idx at the last publish()
	bool event_idx = false;  // -E
	int kick = -1, call = -1;

	// used_event, after avail->ring[QSIZE]; avail_event, after used->ring.
	uint16_t *used_event() { return avail + 2 + QSIZE; }
	uint16_t *avail_event() { return used + 2 + 4 * QSIZE; }

	void init(uint8_t *mem, unsigned q) {
		desc = reinterpret_cast<Desc *>(mem + RINGS_OFF[q]);
		avail = reinterpret_cast<uint16_t *>(mem + RINGS_OFF[q] + AVAIL_OFF);
		used = reinterpret_cast<uint16_t *>(mem + RINGS_OFF[q] + USED_OFF);
		bufs = mem + BUFS_OFF[q];
		bufs_gpa = BUFS_OFF[q];
		for (unsigned i = 0; i < QSIZE; i++)
			desc[i] = {bufs_gpa + i * BUF, uint32_t(BUF), 0, 0};
		kick = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		call = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (kick < 0 || call < 0)
			die("eventfd");
	}
	// Offer descriptor id (len bytes; writable for the device or not).
	void post(uint16_t id, uint32_t len, bool writable) {
		desc[id].len = len;
		desc[id].flags = writable ? DESC_F_WRITE : 0;
		avail[2 + avail_idx % QSIZE] = id;
		avail_idx++;
	}
	// Make the posted descriptors visible, and kick unless told not to:
	// by the used ring's flags, or with the event index unless avail->idx
	// moved past avail_event (vring_need_event()).
	void publish() {
		store(&avail[1], avail_idx);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		const uint16_t old = kicked_idx;
		kicked_idx = avail_idx;
		bool want;
		if (event_idx)
			want = uint16_t(avail_idx - load(avail_event()) - 1) <
			       uint16_t(avail_idx - old);
		else
			want = !(load(&used[0]) & USED_F_NO_NOTIFY);
		if (want) {
			uint64_t one = 1;
			if (write(kick, &one, sizeof(one)) < 0 && errno != EAGAIN)
				die("kick");
		}
	}
	// The next used element, if any: descriptor id and length written.
	bool next_used(uint32_t &id, uint32_t &len) {
		if (load(&used[1]) == used_seen)
			return false;
		const uint32_t *e =
			reinterpret_cast<const uint32_t *>(used + 2) + 2 * (used_seen % QSIZE);
		id = e[0];
		len = e[1];
		used_seen++;
		return true;
	}
	void drain_call() {
		uint64_t v;
		while (read(call, &v, sizeof(v)) == sizeof(v))
			;
	}
	// Event index: ask for a call at the next used element, then look
	// again. True if elements came meanwhile (no call may come for them).
	bool rearm() {
		if (!event_idx)
			return false;
		store(used_event(), used_seen);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		return load(&used[1]) != used_seen;
	}
};

// Control connection.
class Control {
public:
	explicit Control(int fd) : fd_(fd) {}
	void send_msg(uint32_t req, const void *payload, uint32_t size, int sfd = -1,
		      bool need_reply = false) {
		uint32_t hdr[3] = {req, FLAG_VERSION | (need_reply ? FLAG_NEED_REPLY : 0), size};
		struct iovec iov[2] = {{hdr, sizeof(hdr)}, {const_cast<void *>(payload), size}};
		struct msghdr mh = {};
		mh.msg_iov = iov;
		mh.msg_iovlen = size ? 2 : 1;
		alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
		if (sfd >= 0) {
			mh.msg_control = cbuf;
			mh.msg_controllen = sizeof(cbuf);
			struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &sfd, sizeof(int));
		}
		if (sendmsg(fd_, &mh, MSG_NOSIGNAL) != ssize_t(sizeof(hdr) + size))
			die("vhost-user: sendmsg");
		if (need_reply && expect_u64(req) != 0) {
			fprintf(stderr, "frontend: vhost-user: request %u refused\n", req);
			exit(1);
		}
	}
	void send_u64(uint32_t req, uint64_t v, int sfd = -1) {
		send_msg(req, &v, sizeof(v), sfd, ack_);
	}
	void send_state(uint32_t req, uint32_t idx, uint32_t num) {
		uint32_t st[2] = {idx, num};
		send_msg(req, st, sizeof(st), -1, ack_);
	}
	// The reply to a GET_* request (or a REPLY_ACK status): one u64.
	uint64_t expect_u64(uint32_t req) {
		uint32_t hdr[3];
		uint64_t v;
		if (recv(fd_, hdr, sizeof(hdr), MSG_WAITALL) != sizeof(hdr) || hdr[0] != req ||
		    !(hdr[1] & FLAG_REPLY) || hdr[2] != sizeof(v) ||
		    recv(fd_, &v, sizeof(v), MSG_WAITALL) != sizeof(v)) {
			fprintf(stderr, "frontend: vhost-user: bad reply to request %u\n", req);
			exit(1);
		}
		return v;
	}
	uint64_t get_u64(uint32_t req) {
		send_msg(req, nullptr, 0);
		return expect_u64(req);
	}
	int fd() const { return fd_; }
	bool ack_ = false; // REPLY_ACK negotiated: ask for a status every time

private:
	int fd_;
};

// The relay: tap -> TX queue, RX queue -> tap, copying nothing on the way
// to the tap (the RX buffer, header included, is written as is: the tap's
// virtio-net header is set to the same 12 bytes) and reading the tap
// straight into TX buffers.
class Relay {
public:
	Relay(int tap, int ctl, Counters &c, const Options &o) : tap_(tap), c_(c), ctl_(ctl) {
		mfd_ = memfd_create("frontend-guest", MFD_CLOEXEC);
		if (mfd_ < 0 || ftruncate(mfd_, MEM_SIZE) < 0)
			die("memfd");
		mem_ = static_cast<uint8_t *>(
			mmap(nullptr, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd_, 0));
		if (mem_ == MAP_FAILED)
			die("mmap guest memory");
		q_[RX].init(mem_, RX);
		q_[TX].init(mem_, TX);
		for (uint16_t i = 0; i < QSIZE; i++)
			free_tx_[i] = i;
		nfree_tx_ = QSIZE;

		negotiate(ctl_, o);
		q_[RX].event_idx = q_[TX].event_idx = o.event_idx;
		if (!o.quiet)
			fprintf(stderr, "frontend: vhost-user features 0x%llx\n",
				static_cast<unsigned long long>(features_));
		// Every RX buffer to the device before it may send.
		for (uint16_t i = 0; i < QSIZE; i++)
			q_[RX].post(i, BUF, true);
		start_queues(ctl_, 0, 0);
		q_[RX].publish();
	}
	~Relay() { close(mfd_); }
	int ctl_fd() const { return ctl_.fd(); }
	int rx_call() const { return q_[RX].call; }
	int tx_call() const { return q_[TX].call; }

	void set_hold(int ms) { hold_ms_ = ms; }

	// -X: corrupt the TX ring once and stop reading the tap; re-program
	// the queue REPROGRAM_MS later (on_timer()).
	void corrupt_tx(const std::string &kind) {
		Queue &q = q_[TX];
		tx_frozen_ = true;
		if (kind == "avail-jump") {
			store(&q.avail[1], uint16_t(q.avail_idx + QSIZE + 1));
			uint64_t one = 1;
			if (write(q.kick, &one, sizeof(one)) < 0)
				die("kick");
		} else {
			q.avail[2 + q.avail_idx % QSIZE] = uint16_t(QSIZE + 5);
			q.avail_idx++;
			q.publish();
		}
		reprogram_at_ = now_ms() + REPROGRAM_MS;
		fprintf(stderr, "frontend: TX ring corrupted (%s)\n", kind.c_str());
	}

	// Milliseconds to the next timed action (-H, -X), -1 for none.
	int timeout_ms() const {
		int64_t next = -1;
		if (holding_)
			next = hold_until_;
		if (reprogram_at_ && (next < 0 || reprogram_at_ < next))
			next = reprogram_at_;
		if (next < 0)
			return -1;
		int64_t d = next - now_ms();
		return d < 0 ? 0 : int(d);
	}

	// Run the timed actions that are due. True if TX may move again.
	bool on_timer() {
		int64_t now = now_ms();
		if (holding_ && now >= hold_until_) {
			for (unsigned i = 0; i < nheld_; i++)
				q_[RX].post(held_[i], BUF, true);
			nheld_ = 0;
			holding_ = false;
			since_hold_ = 0;
			q_[RX].publish();
		}
		if (reprogram_at_ && now >= reprogram_at_) {
			reprogram_tx();
			return true;
		}
		return false;
	}

	// RX used buffers -> tap, each buffer back to the device at once.
	void rx() {
		q_[RX].drain_call();
		uint32_t id, len;
		unsigned n = 0;
	again:
		while (q_[RX].next_used(id, len)) {
			if (id >= QSIZE || len <= HDR || len > BUF) {
				fprintf(stderr, "frontend: vhost-user: bad RX used element\n");
				exit(1);
			}
			saw_used(RX);
			saw(BUFS_OFF[RX] + uint64_t(id) * BUF, len);
			ssize_t w = write(tap_, q_[RX].bufs + size_t(id) * BUF, len);
			if (w < 0) {
				c_.tap_write_errors++;
			} else {
				c_.sock_frames++;
				c_.sock_bytes += len - HDR;
			}
			if (holding_)
				held_[nheld_++] = uint16_t(id); // -H: not yet
			else
				q_[RX].post(uint16_t(id), BUF, true);
			if (hold_ms_ && !holding_ && ++since_hold_ >= HOLD_EVERY) {
				holding_ = true;
				hold_until_ = now_ms() + hold_ms_;
				c_.rx_holds++;
			}
			if (++n % DRAIN_EVERY == 0) {
				q_[RX].publish();
				tx();
			}
		}
		if (q_[RX].rearm())
			goto again;
		if (n)
			q_[RX].publish();
	}

	// -L: the used element just taken from queue q, and the used index.
	void saw_used(unsigned q) {
		saw(used_gpa(q) + 4 + 8 * uint64_t(uint16_t(q_[q].used_seen - 1) % QSIZE), 8);
		saw(used_gpa(q) + 2, 2);
	}

	// TX used descriptors back to the free list.
	void tx_reclaim() {
		q_[TX].drain_call();
		uint32_t id, len;
		do
			while (q_[TX].next_used(id, len)) {
				saw_used(TX);
				if (id < QSIZE)
					free_tx_[nfree_tx_++] = uint16_t(id);
			}
		while (q_[TX].rearm());
	}

	// tap -> TX, at most BATCH frames, one kick. False when out of buffers
	// (wait for the TX call).
	bool tx() {
		if (tx_frozen_)
			return false;
		tx_reclaim();
		int n = 0;
		while (n < BATCH && nfree_tx_) {
			uint16_t id = free_tx_[nfree_tx_ - 1];
			uint8_t *b = q_[TX].bufs + size_t(id) * BUF;
			ssize_t r = read(tap_, b, BUF);
			if (r < 0) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				die("read from tap");
			}
			if (size_t(r) <= HDR)
				continue;
			b[10] = b[11] = 0; // num_buffers: the tap leaves it as it was
			nfree_tx_--;
			q_[TX].post(id, uint32_t(r), false);
			c_.tap_frames++;
			c_.tap_bytes += size_t(r) - HDR;
			n++;
		}
		if (n)
			q_[TX].publish();
		if (!nfree_tx_)
			c_.tx_full++;
		return nfree_tx_ > 0;
	}

	// -M: migrate the device from this back-end to the one at path, as
	// qemu does (see the theory of operation). False, with the device
	// running on this back-end again, if either back-end refused.
	bool migrate(const std::string &path, const Options &o) {
		const int64_t t0 = now_ms();
		uint16_t base[2];
		for (unsigned q = RX; q <= TX; q++) {
			uint32_t st[2] = {q, 0};
			ctl_.send_msg(GET_VRING_BASE, st, sizeof(st));
			base[q] = uint16_t(ctl_.expect_u64(GET_VRING_BASE) >> 32);
		}
		std::vector<uint8_t> state;
		bool ok = transfer_state(ctl_, SAVE, state);
		if (ok) {
			int fd = connect_stream(path, false);
			Control next(fd);
			negotiate(next, o);
			if (transfer_state(next, LOAD, state)) {
				start_queues(next, base[RX], base[TX]);
				close(ctl_.fd());
				ctl_ = next;
			} else {
				close(fd);
				ok = false;
			}
		}
		if (!ok) {
			start_queues(ctl_, base[RX], base[TX]);
			c_.migrations_failed++;
		} else {
			c_.migrations++;
		}
		// Whatever was made available meanwhile: tell the device.
		for (unsigned q = RX; q <= TX; q++) {
			uint64_t one = 1;
			if (write(q_[q].kick, &one, sizeof(one)) < 0)
				die("kick");
		}
		fprintf(stderr,
			"frontend: migration %s: %zu bytes of device state, device stopped "
			"for %lld ms\n",
			ok ? "done" : "failed, running on the source again", state.size(),
			static_cast<long long>(now_ms() - t0));
		return ok;
	}

private:
	enum Direction : uint32_t { SAVE = 0, LOAD = 1 };

	// Owner, features, protocol features (REPLY_ACK and DEVICE_STATE as
	// offered), then SET_FEATURES.
	void negotiate(Control &ctl, const Options &o) {
		ctl.send_msg(SET_OWNER, nullptr, 0);
		uint64_t f = ctl.get_u64(GET_FEATURES);
		if (!(f & F_VERSION_1)) {
			fprintf(stderr,
				"frontend: vhost-user: back-end lacks VIRTIO_F_VERSION_1\n");
			exit(1);
		}
		const uint64_t offloads =
			o.offload ? F_CSUMS | (o.tso4 ? F_TSO4 : 0) | (o.tso6 ? F_TSO6 : 0) : 0;
		const uint64_t want =
			offloads | (o.event_idx ? F_EVENT_IDX : 0) | (o.log ? F_LOG_ALL : 0);
		if ((f & want) != want) {
			fprintf(stderr,
				"frontend: vhost-user: back-end lacks features 0x%llx (offered "
				"0x%llx)\n",
				static_cast<unsigned long long>(want & ~f),
				static_cast<unsigned long long>(f));
			exit(1);
		}
		features_ = f & (F_VERSION_1 | F_PROTOCOL_FEATURES | want);
		if (features_ & F_PROTOCOL_FEATURES) {
			uint64_t pf = ctl.get_u64(GET_PROTOCOL_FEATURES);
			uint64_t take = pf & (PROTOCOL_F_REPLY_ACK |
					      (o.migrate_to.empty() ? 0 : PROTOCOL_F_DEVICE_STATE) |
					      (o.log ? PROTOCOL_F_LOG_SHMFD : 0));
			if (o.log && !(take & PROTOCOL_F_LOG_SHMFD)) {
				fprintf(stderr, "frontend: vhost-user: back-end lacks "
						"VHOST_USER_PROTOCOL_F_LOG_SHMFD\n");
				exit(1);
			}
			if (!o.migrate_to.empty() && !(take & PROTOCOL_F_DEVICE_STATE)) {
				fprintf(stderr, "frontend: vhost-user: back-end lacks "
						"VHOST_USER_PROTOCOL_F_DEVICE_STATE\n");
				exit(1);
			}
			ctl.send_u64(SET_PROTOCOL_FEATURES, take);
			ctl.ack_ = pf & PROTOCOL_F_REPLY_ACK;
		} else if (!o.migrate_to.empty() || o.log) {
			fprintf(stderr, "frontend: vhost-user: -M and -L need protocol features\n");
			exit(1);
		}
		if (o.log)
			set_log_base(ctl);
		ctl.send_u64(SET_FEATURES, features_);
	}

	// -L: the log memfd (made once, shared by every back-end we talk
	// to), then SET_LOG_BASE, which always has a reply with LOG_SHMFD.
	void set_log_base(Control &ctl) {
		if (log_fd_ < 0) {
			log_fd_ = memfd_create("frontend-log", MFD_CLOEXEC);
			if (log_fd_ < 0 || ftruncate(log_fd_, LOG_BYTES) < 0)
				die("log memfd");
			void *m = mmap(nullptr, LOG_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED,
				       log_fd_, 0);
			if (m == MAP_FAILED)
				die("mmap log");
			log_ = static_cast<uint8_t *>(m);
			seen_.assign(LOG_BYTES, 0);
		}
		uint64_t d[2] = {LOG_BYTES, 0}; // log size, log offset
		ctl.send_msg(SET_LOG_BASE, d, sizeof(d), log_fd_);
		if (uint64_t r = ctl.expect_u64(SET_LOG_BASE)) {
			fprintf(stderr, "frontend: SET_LOG_BASE refused: 0x%llx\n",
				static_cast<unsigned long long>(r));
			exit(1);
		}
	}

public:
	// -L: passt wrote len bytes at guest address gpa (we saw it).
	void saw(uint64_t gpa, uint64_t len) {
		if (!log_ || !len)
			return;
		for (uint64_t p = gpa / LOG_PAGE; p <= (gpa + len - 1) / LOG_PAGE; p++)
			seen_[p / 8] |= uint8_t(1U << (p % 8));
	}
	// -L, at exit: every page seen written must be marked in the log.
	// Returns status, or 1 if some are not.
	int log_verdict(int status, const Options &o) const {
		if (!log_)
			return status;
		uint64_t seen = 0, marked = 0, missing = 0, extra = 0;
		for (size_t i = 0; i < LOG_BYTES; i++) {
			const uint8_t l = __atomic_load_n(&log_[i], __ATOMIC_ACQUIRE);
			seen += __builtin_popcount(seen_[i]);
			marked += __builtin_popcount(seen_[i] & l);
			missing += __builtin_popcount(seen_[i] & ~l & 0xff);
			extra += __builtin_popcount(l & ~seen_[i] & 0xff);
		}
		if (!o.quiet || missing)
			fprintf(stderr,
				"frontend: dirty log: %llu pages seen written, %llu marked, %llu "
				"missing; %llu other pages marked\n",
				static_cast<unsigned long long>(seen),
				static_cast<unsigned long long>(marked),
				static_cast<unsigned long long>(missing),
				static_cast<unsigned long long>(extra));
		return missing ? 1 : status;
	}

private:
	// Memory table, then each queue from the given ring positions, started
	// and enabled.
	void start_queues(Control &ctl, uint16_t rx_base, uint16_t tx_base) {
		uint64_t table[1 + 4] = {1, 0, MEM_SIZE, reinterpret_cast<uint64_t>(mem_), 0};
		ctl.send_msg(SET_MEM_TABLE, table, sizeof(table), mfd_, ctl.ack_);
		const uint16_t base[2] = {rx_base, tx_base};
		for (unsigned q = RX; q <= TX; q++) {
			ctl.send_state(SET_VRING_NUM, q, QSIZE);
			ctl.send_state(SET_VRING_BASE, q, base[q]);
			set_addr(ctl, q);
			ctl.send_u64(SET_VRING_CALL, q, q_[q].call);
			ctl.send_u64(SET_VRING_KICK, q, q_[q].kick);
		}
		if (features_ & F_PROTOCOL_FEATURES)
			for (unsigned q = RX; q <= TX; q++)
				ctl.send_state(SET_VRING_ENABLE, q, 1);
	}

	// SET_DEVICE_STATE_FD over a pipe (save: read it to end of file into
	// state; load: write state into it), then CHECK_DEVICE_STATE. False
	// if the back-end refused either.
	bool transfer_state(Control &ctl, Direction dir, std::vector<uint8_t> &state) {
		int p[2];
		if (pipe2(p, O_CLOEXEC) < 0)
			die("pipe2");
		const int theirs = dir == SAVE ? p[1] : p[0], ours = dir == SAVE ? p[0] : p[1];
		uint32_t params[2] = {dir, 0}; // direction, phase: stopped
		ctl.send_msg(SET_DEVICE_STATE_FD, params, sizeof(params), theirs);
		uint64_t r = ctl.expect_u64(SET_DEVICE_STATE_FD);
		close(theirs);
		if ((r & 0xff) || !(r & DEVICE_STATE_NO_FD)) {
			fprintf(stderr, "frontend: SET_DEVICE_STATE_FD (%s) refused: 0x%llx\n",
				dir == SAVE ? "save" : "load", static_cast<unsigned long long>(r));
			close(ours);
			return false;
		}
		if (dir == SAVE) {
			state.clear();
			uint8_t buf[65536];
			ssize_t n;
			while ((n = read(ours, buf, sizeof(buf))) > 0)
				state.insert(state.end(), buf, buf + n);
			if (n < 0)
				die("read device state");
		} else {
			// A back-end that fails the load stops reading (EPIPE):
			// CHECK_DEVICE_STATE says so.
			size_t off = 0;
			while (off < state.size()) {
				ssize_t n = write(ours, state.data() + off, state.size() - off);
				if (n < 0 && errno == EPIPE)
					break;
				if (n < 0)
					die("write device state");
				off += size_t(n);
			}
		}
		close(ours);
		uint64_t check = ctl.get_u64(CHECK_DEVICE_STATE);
		if (check) {
			fprintf(stderr, "frontend: CHECK_DEVICE_STATE (%s): 0x%llx\n",
				dir == SAVE ? "save" : "load",
				static_cast<unsigned long long>(check));
			return false;
		}
		return true;
	}

	void set_addr(Control &ctl, unsigned q) {
		uint64_t a[5];
		a[0] = q | (log_ ? uint64_t(VRING_F_LOG) << 32 : 0); // index, flags
		a[1] = reinterpret_cast<uint64_t>(q_[q].desc);
		a[2] = reinterpret_cast<uint64_t>(q_[q].used);
		a[3] = reinterpret_cast<uint64_t>(q_[q].avail);
		a[4] = log_ ? used_gpa(q) : 0; // log_guest_addr
		ctl.send_msg(SET_VRING_ADDR, a, sizeof(a), -1, ctl.ack_);
	}

	// What qemu does to reset a queue: stop it (GET_VRING_BASE), then set
	// it up again over an empty ring, every buffer ours again.
	void reprogram_tx() {
		uint32_t st[2] = {TX, 0};
		ctl_.send_msg(GET_VRING_BASE, st, sizeof(st));
		uint64_t base = ctl_.expect_u64(GET_VRING_BASE);
		Queue &q = q_[TX];
		q.avail_idx = q.used_seen = q.kicked_idx = 0;
		store(&q.avail[1], uint16_t(0));
		store(&q.used[1], uint16_t(0));
		store(q.used_event(), uint16_t(0));
		store(q.avail_event(), uint16_t(0));
		q.drain_call();
		for (uint16_t i = 0; i < QSIZE; i++)
			free_tx_[i] = i;
		nfree_tx_ = QSIZE;
		ctl_.send_state(SET_VRING_BASE, TX, 0);
		set_addr(ctl_, TX);
		ctl_.send_u64(SET_VRING_KICK, TX, q.kick);
		if (features_ & F_PROTOCOL_FEATURES)
			ctl_.send_state(SET_VRING_ENABLE, TX, 1);
		tx_frozen_ = false;
		reprogram_at_ = 0;
		c_.tx_reprogrammed++;
		fprintf(stderr, "frontend: TX queue re-programmed (passt had stopped it at %u)\n",
			unsigned(base >> 32));
	}

	int tap_;
	Counters &c_;
	Control ctl_;
	int mfd_ = -1;
	uint8_t *mem_;
	uint64_t features_ = 0;
	Queue q_[2];
	uint16_t free_tx_[QSIZE];
	unsigned nfree_tx_ = 0;
	int hold_ms_ = 0;
	bool holding_ = false;
	int64_t hold_until_ = 0;
	unsigned since_hold_ = 0;
	uint16_t held_[QSIZE];
	unsigned nheld_ = 0;
	bool tx_frozen_ = false;
	int64_t reprogram_at_ = 0;
	int log_fd_ = -1;           // -L
	uint8_t *log_ = nullptr;    // the log passt marks
	std::vector<uint8_t> seen_; // the pages we saw passt write
};

} // namespace vu

// Child exit or SIGTERM/SIGINT: true (and the exit status) if we are done.
bool handle_signals(int sig, pid_t child, const Options &o, const Counters &c, int &status,
		    bool *migrate = nullptr) {
	struct signalfd_siginfo si;
	while (read(sig, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGUSR1) {
			if (migrate)
				*migrate = true;
			continue;
		}
		if (si.ssi_signo != SIGCHLD) {
			print_counters(o, c);
			if (child > 0)
				kill(child, SIGTERM);
			status = 0;
			return true;
		}
	}
	int st;
	if (child > 0 && waitpid(child, &st, WNOHANG) == child) {
		print_counters(o, c);
		status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		return true;
	}
	return false;
}

// passt went away: exit 0, or 1 if a command was still running.
int peer_gone(pid_t child, const Options &o, const Counters &c) {
	if (!o.quiet)
		fprintf(stderr, "frontend: passt closed the connection\n");
	print_counters(o, c);
	if (child > 0) {
		kill(child, SIGTERM);
		waitpid(child, nullptr, 0);
		return 1;
	}
	return 0;
}

int run_stream(int tap, int sock, int sig, pid_t child, const Options &o, Counters &c) {
	StreamRelay relay(tap, sock, c);
	Loop loop(tap, sock, sig);
	bool tap_blocked = false; // the tap refused a write: wait for EPOLLOUT
	struct epoll_event evs[8];
	for (;;) {
		int n = loop.wait(evs, 8);
		bool sock_eof = false;
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			uint32_t ev = evs[i].events;
			int status;
			if (fd == sig) {
				if (handle_signals(sig, child, o, c, status))
					return status;
			} else if (fd == tap) {
				if (ev & EPOLLOUT)
					tap_blocked = false;
				if (ev & EPOLLIN) {
					relay.read_tap();
					relay.flush();
				}
			} else if (fd == sock) {
				if (ev & EPOLLOUT)
					relay.flush();
				if (ev & (EPOLLIN | EPOLLHUP | EPOLLRDHUP | EPOLLERR)) {
					int r = relay.read_sock();
					if (r == 1)
						sock_eof = true;
					else if (r == 2)
						tap_blocked = true;
				}
			}
		}
		if (sock_eof)
			return peer_gone(child, o, c);
		// Back-pressure: while output is queued, read no more from the
		// tap; while the tap refuses writes, read no more from passt.
		bool queued = !relay.flush();
		if (tap_blocked && relay.write_tap() == 0)
			tap_blocked = false;
		const uint32_t in = EPOLLIN, out = EPOLLOUT;
		loop.set_tap((queued ? 0 : in) | (tap_blocked ? out : 0));
		loop.set_sock((tap_blocked ? 0 : in) | (queued ? out : 0));
	}
}

int run_vhost_user(vu::Relay &relay, int tap, int ctl, int sig, pid_t child, const Options &o,
		   Counters &c) {
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	auto add = [&](int fd, uint32_t ev) {
		struct epoll_event e = {};
		e.events = ev;
		e.data.fd = fd;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0)
			die("epoll_ctl");
	};
	add(tap, EPOLLIN);
	add(ctl, EPOLLRDHUP);
	add(sig, EPOLLIN);
	bool migrate = false;
	std::string there = o.migrate_to, here = o.path; // -M: back and forth
	add(relay.rx_call(), EPOLLIN);
	add(relay.tx_call(), EPOLLIN);
	bool tap_on = true;
	struct epoll_event evs[8];
	for (;;) {
		int n = epoll_wait(ep, evs, 8, relay.timeout_ms());
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		bool try_tx = relay.on_timer();
		if (migrate && !o.migrate_to.empty()) {
			// The old control socket leaves the set with its close.
			migrate = false;
			if (relay.migrate(there, o))
				std::swap(here, there);
			if (relay.ctl_fd() != ctl) {
				ctl = relay.ctl_fd();
				add(ctl, EPOLLRDHUP);
			}
			if (!o.ready.empty()) {
				std::string done = o.ready + ".migrated";
				int fd = open(done.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
				if (fd >= 0)
					close(fd);
			}
			try_tx = true; // what the guest queued meanwhile goes to the new back-end
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			int status;
			if (fd == sig) {
				if (handle_signals(sig, child, o, c, status, &migrate))
					return relay.log_verdict(status, o);
			} else if (fd == ctl) {
				return relay.log_verdict(peer_gone(child, o, c), o);
			} else if (fd == relay.rx_call()) {
				relay.rx();
			} else if (fd == relay.tx_call()) {
				relay.tx_reclaim();
				try_tx = true;
			} else if (fd == tap) {
				try_tx = true;
			}
		}
		if (!try_tx)
			continue;
		// Out of TX buffers: stop reading the tap until passt returns some.
		bool room = relay.tx();
		if (room != tap_on) {
			struct epoll_event e = {};
			e.events = room ? uint32_t{EPOLLIN} : 0;
			e.data.fd = tap;
			if (epoll_ctl(ep, EPOLL_CTL_MOD, tap, &e) < 0)
				die("epoll_ctl");
			tap_on = room;
		}
	}
}

} // namespace

int main(int argc, char **argv) {
	Options o = parse(argc, argv);
	bool vhost = o.mode == "vhost-user";

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &mask, nullptr) < 0)
		die("sigprocmask");
	int sig = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	signal(SIGPIPE, SIG_IGN); // a closed pipe or socket is an error, not an exit
	if (sig < 0)
		die("signalfd");

	int tap = open_tap(o, vhost ? vu::HDR : VNET_HDR_LEN);
	int sock = connect_stream(o.path, !vhost);
	Counters c;
	if ((o.hold_ms || !o.corrupt.empty() || o.offload || o.event_idx || !o.migrate_to.empty() ||
	     o.log) &&
	    !vhost) {
		fprintf(stderr, "frontend: -O, -o, -E, -H, -M, -L and -X are for vhost-user\n");
		exit(2);
	}
	vu::Relay *relay = vhost ? new vu::Relay(tap, sock, c, o) : nullptr;
	if (relay && o.hold_ms)
		relay->set_hold(o.hold_ms);
	if (relay && !o.corrupt.empty())
		relay->corrupt_tx(o.corrupt);
	if (!o.ready.empty()) {
		int fd = open(o.ready.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			die(o.ready.c_str());
		close(fd);
	}

	pid_t child = -1;
	if (!o.cmd.empty()) {
		child = fork();
		if (child < 0)
			die("fork");
		if (child == 0) {
			sigprocmask(SIG_UNBLOCK, &mask, nullptr);
			execvp(o.cmd[0], o.cmd.data());
			fprintf(stderr, "frontend: %s: %s\n", o.cmd[0], strerror(errno));
			_exit(127);
		}
	}
	if (relay)
		return run_vhost_user(*relay, tap, sock, sig, child, o, c);
	return run_stream(tap, sock, sig, child, o, c);
}
