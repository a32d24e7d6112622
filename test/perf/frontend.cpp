// frontend: plays qemu's part for passt, without a guest, for benchmarks and
// tests (test/perf/bench.sh, test/integration/test_frontend_stream.sh).
//
//   frontend stream SOCKET [-i IFNAME] [-m MTU] [-r READY_FILE] [-q]
//            [-- COMMAND [ARG...]]
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
#include <sys/ioctl.h>
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
constexpr int BATCH = 128;

struct Options {
	std::string mode;
	std::string path;
	std::string ifname = "tap0";
	int mtu = 65520;
	std::string ready;
	bool quiet = false;
	std::vector<char *> cmd;
};

struct Counters {
	uint64_t tap_frames = 0, tap_bytes = 0;   // tap -> socket
	uint64_t sock_frames = 0, sock_bytes = 0; // socket -> tap
	uint64_t tap_write_errors = 0;
};

[[noreturn]] void die(const char *what) {
	fprintf(stderr, "frontend: %s: %s\n", what, strerror(errno));
	exit(1);
}

[[noreturn]] void usage() {
	fprintf(stderr, "usage: frontend stream SOCKET [-i IFNAME] [-m MTU] [-r READY_FILE] [-q]"
			" [-- COMMAND [ARG...]]\n");
	exit(2);
}

Options parse(int argc, char **argv) {
	Options o;
	if (argc < 3)
		usage();
	o.mode = argv[1];
	o.path = argv[2];
	if (o.mode != "stream") {
		fprintf(stderr, "frontend: unknown mode '%s' (only 'stream')\n", o.mode.c_str());
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
		if (i + 1 >= argc)
			usage();
		const char *v = argv[++i];
		if (a == "-i") {
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
		} else if (a == "-r") {
			o.ready = v;
		} else {
			usage();
		}
	}
	return o;
}

// The tap device, non-blocking, with a virtio-net header and no offloads;
// MTU set and link up.
int open_tap(const Options &o) {
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		die("/dev/net/tun");
	struct ifreq ifr = {};
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", o.ifname.c_str());
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		die("TUNSETIFF");
	int hdr = VNET_HDR_LEN;
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0)
		die("TUNSETVNETHDRSZ");

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
int connect_stream(const std::string &path) {
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
		"; tap write errors %llu\n",
		static_cast<unsigned long long>(c.tap_frames),
		static_cast<unsigned long long>(c.tap_bytes),
		static_cast<unsigned long long>(c.sock_frames),
		static_cast<unsigned long long>(c.sock_bytes),
		static_cast<unsigned long long>(c.tap_write_errors));
}

} // namespace

int main(int argc, char **argv) {
	Options o = parse(argc, argv);

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, nullptr) < 0)
		die("sigprocmask");
	int sig = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sig < 0)
		die("signalfd");

	int tap = open_tap(o);
	int sock = connect_stream(o.path);
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

	Counters c;
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
			if (fd == sig) {
				struct signalfd_siginfo si;
				while (read(sig, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo != SIGCHLD) {
						print_counters(o, c);
						if (child > 0)
							kill(child, SIGTERM);
						return 0;
					}
				}
				int st;
				if (child > 0 && waitpid(child, &st, WNOHANG) == child) {
					print_counters(o, c);
					return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
				}
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
		if (sock_eof) {
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
