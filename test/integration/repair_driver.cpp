// Test driver for test_repair.sh: plays the daemon's side of the
// passt-repair protocol (src/migrate/repair.cpp) and migrates a live TCP
// connection within one network namespace with src/migrate/tcp_state.cpp.
//
//   repair_driver migrate 4|6 REPAIR_PATH
//     A loopback connection (client -> server, both in this process) with
//     data both ways; then the server stops reading and the client fills
//     its send queue (unsent data), and the server leaves data unread in
//     the client's receive queue. The client socket goes into repair mode
//     through the helper connected at REPAIR_PATH, is dumped, encoded,
//     decoded, closed in repair mode (no FIN, no RST), restored into a new
//     socket, and repair mode is switched off. The server then reads again:
//     every byte must arrive once and in order, both ways, more data must
//     flow over the restored socket, both sides close with FINs, and the
//     namespace's Tcp OutRsts counter must not move (EstabResets moves by
//     exactly one: the repair-mode close, which sends nothing), and a
//     packet capture on lo (AF_PACKET, filtered to RST segments) must see
//     none, while it sees the RST of a control connection to a closed port.
//   repair_driver proto CASE REPAIR_PATH [FILE]
//     One protocol case; exit 0 if the daemon side saw what it must:
//       bad-cmd     command byte 5 with a socket: the helper hangs up
//       no-fds      command 1 without sockets: the helper hangs up
//       bad-socket  command 1 with a UDP socket: setsockopt fails, hang-up
//       close       one good command, then we close: the helper exits 0
//       gone        connected, then waits for FILE to exist (the script
//                   kills the helper first): the command fails cleanly
//       no-helper   nobody connects: the accept times out cleanly
// Figures go to stdout, one "key value" a line; errors to stderr.
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "passt/migrate/repair.h"
#include "passt/migrate/tcp_state.h"

using namespace passt;

namespace {

constexpr int TIMEOUT_MS = 10000;

[[noreturn]] void die(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "repair_driver: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

uint8_t c2s(uint64_t i) { return uint8_t((i * 7 + (i >> 11)) ^ 0x5a); }
uint8_t s2c(uint64_t i) { return uint8_t((i * 13 + (i >> 9)) ^ 0xa5); }

// One direction of the byte stream: what was written, what was read and
// checked.
struct Dir {
	const char *name;
	uint8_t (*gen)(uint64_t);
	uint64_t written = 0, read = 0;
};

void nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Writes up to max bytes of d's stream into fd without blocking.
uint64_t write_some(int fd, Dir &d, uint64_t max) {
	uint8_t buf[65536];
	uint64_t done = 0;
	while (done < max) {
		size_t n = max - done < sizeof(buf) ? size_t(max - done) : sizeof(buf);
		for (size_t i = 0; i < n; i++)
			buf[i] = d.gen(d.written + i);
		ssize_t w = send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (w < 0)
			die("%s: send: %s", d.name, strerror(errno));
		d.written += uint64_t(w);
		done += uint64_t(w);
	}
	return done;
}

// Reads what is there from fd, checking it against d's stream. Returns
// false at end of stream.
bool read_some(int fd, Dir &d) {
	uint8_t buf[65536];
	for (;;) {
		ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return true;
		if (r < 0)
			die("%s: recv: %s", d.name, strerror(errno));
		if (r == 0)
			return false;
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != d.gen(d.read + uint64_t(i)))
				die("%s: byte %llu is wrong", d.name,
				    static_cast<unsigned long long>(d.read) +
					    static_cast<unsigned long long>(i));
		d.read += uint64_t(r);
		if (d.read > d.written)
			die("%s: %llu bytes read, only %llu written", d.name,
			    (unsigned long long)d.read, (unsigned long long)d.written);
	}
}

// Moves n more bytes of d from wfd to rfd (and everything already
// written), both non-blocking.
void pump(int wfd, int rfd, Dir &d, uint64_t n) {
	uint64_t target = d.written + n;
	time_t end = time(nullptr) + TIMEOUT_MS / 1000 * 2;
	while (d.read < target) {
		if (d.written < target)
			write_some(wfd, d, target - d.written);
		pollfd p[2] = {{rfd, POLLIN, 0}, {wfd, short(d.written < target ? POLLOUT : 0), 0}};
		poll(p, 2, 100);
		if (!read_some(rfd, d))
			die("%s: early end of stream at %llu", d.name, (unsigned long long)d.read);
		if (time(nullptr) > end)
			die("%s: stuck at %llu of %llu bytes", d.name, (unsigned long long)d.read,
			    (unsigned long long)target);
	}
}

// Reads from rfd until everything written in d has arrived.
void drain(int rfd, Dir &d) { pump(-1, rfd, d, 0); }

// Tcp counters of this namespace from /proc/net/snmp.
long tcp_counter(const char *name) {
	FILE *f = fopen("/proc/net/snmp", "r");
	if (!f)
		die("/proc/net/snmp: %s", strerror(errno));
	char hdr[2048], val[2048];
	long out = -1;
	while (fgets(hdr, sizeof(hdr), f) && fgets(val, sizeof(val), f)) {
		if (strncmp(hdr, "Tcp:", 4))
			continue;
		char *hs, *vs;
		char *h = strtok_r(hdr, " \n", &hs);
		char *v = strtok_r(val, " \n", &vs);
		while (h && v) {
			if (!strcmp(h, name))
				out = atol(v);
			h = strtok_r(nullptr, " \n", &hs);
			v = strtok_r(nullptr, " \n", &vs);
		}
	}
	fclose(f);
	if (out < 0)
		die("no Tcp counter %s", name);
	return out;
}

// A packet capture on lo that keeps TCP segments with RST set only (IPv4,
// and IPv6 without extension headers: all this test sends), so that its
// queue holds nothing else.
int rst_capture() {
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (fd < 0)
		die("packet socket: %s", strerror(errno));
	sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),              // ethertype
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, 6), // IPv4?
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 23),              // protocol
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, 0, 10),
		BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 14),          // IHL * 4
		BPF_STMT(BPF_LD | BPF_B | BPF_IND, 14 + 13),      // TCP flags
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x04, 6, 7), // RST
		BPF_STMT(BPF_JMP | BPF_JA, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, 0, 5),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 14 + 6), // next header
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, 0, 3),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 14 + 40 + 13), // TCP flags
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x04, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0xffff),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	sock_fprog prog = {sizeof(f) / sizeof(f[0]), f};
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0)
		die("packet filter: %s", strerror(errno));
	sockaddr_ll sll = {};
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = int(if_nametoindex("lo"));
	if (bind(fd, reinterpret_cast<sockaddr *>(&sll), sizeof(sll)) < 0)
		die("packet socket: bind: %s", strerror(errno));
	return fd;
}

// RST segments captured since the last call.
int rst_count(int fd) {
	char buf[2048];
	int n = 0;
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		n++;
	return n;
}

int ioctl_int(int fd, unsigned long req) {
	int v = -1;
	if (ioctl(fd, req, &v) < 0)
		die("ioctl: %s", strerror(errno));
	return v;
}

void repair(RepairChannel &ch, int fd, int8_t cmd, const char *what) {
	int rc = repair_set(ch, std::span<const int>(&fd, 1), cmd, TIMEOUT_MS);
	if (rc < 0)
		die("%s through passt-repair: %s", what, strerror(-rc));
}

int migrate(int family, const char *path) {
	RepairChannel ch;
	int rc = repair_listen(ch, path);
	if (rc < 0)
		die("listening on %s: %s", path, strerror(-rc));
	if ((rc = repair_accept(ch, TIMEOUT_MS)) < 0)
		die("waiting for passt-repair: %s", strerror(-rc));

	bool v6 = family == 6;
	sockaddr_storage ss = {};
	socklen_t sl;
	if (v6) {
		auto *s6 = reinterpret_cast<sockaddr_in6 *>(&ss);
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_loopback;
		sl = sizeof(*s6);
	} else {
		auto *s4 = reinterpret_cast<sockaddr_in *>(&ss);
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sl = sizeof(*s4);
	}
	int af = v6 ? AF_INET6 : AF_INET;
	int cap = rst_capture();
	rst_count(cap); // whatever came before the filter was attached
	int lfd = socket(af, SOCK_STREAM, 0);
	int small = 65536;
	setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	if (bind(lfd, reinterpret_cast<sockaddr *>(&ss), sl) < 0 || listen(lfd, 1) < 0 ||
	    getsockname(lfd, reinterpret_cast<sockaddr *>(&ss), &sl) < 0)
		die("server: %s", strerror(errno));
	// A fixed send buffer (no autotuning) keeps the queue within what the
	// restored socket can be given without CAP_NET_ADMIN (SO_SNDBUF is
	// capped by net.core.wmem_max).
	int cfd = socket(af, SOCK_STREAM, 0);
	setsockopt(cfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	if (connect(cfd, reinterpret_cast<sockaddr *>(&ss), sl) < 0)
		die("client: connect: %s", strerror(errno));
	int sfd = accept(lfd, nullptr, nullptr);
	if (sfd < 0)
		die("server: accept: %s", strerror(errno));
	nonblock(cfd);
	nonblock(sfd);

	Dir up{"client->server", c2s}, down{"server->client", s2c};
	long rst0 = tcp_counter("OutRsts"), est0 = tcp_counter("EstabResets");

	// Both ways, then data left unread in the client's receive queue.
	pump(cfd, sfd, up, 300000);
	pump(sfd, cfd, down, 200000);
	write_some(sfd, down, 40000);
	// The server stops reading; the client writes until its queue is full.
	for (int i = 0; i < 50; i++) {
		write_some(cfd, up, UINT64_MAX);
		usleep(20000);
	}
	usleep(200000);
	int outq = ioctl_int(cfd, SIOCOUTQ), notsent = ioctl_int(cfd, SIOCOUTQNSD);
	int inq = ioctl_int(cfd, SIOCINQ);
	printf("before: outq %d notsent %d inq %d\n", outq, notsent, inq);
	if (notsent <= 0 || inq <= 0)
		die("the queues are not what the test needs (notsent %d, inq %d)", notsent, inq);

	// Repair mode, dump, record.
	repair(ch, cfd, REPAIR_ON, "repair on (old socket)");
	std::vector<std::byte> sbuf(TCP_STATE_QUEUE_MAX), rbuf(TCP_STATE_QUEUE_MAX);
	TcpSockState st;
	if ((rc = tcp_state_dump(cfd, st, sbuf, rbuf)) < 0)
		die("dump: %s", strerror(-rc));
	std::vector<std::byte> rec(tcp_state_encoded_len(st));
	size_t len = tcp_state_encode(st, rec);
	if (!len)
		die("encode failed");
	TcpSockState back;
	size_t used = 0;
	TcpStateErr e = tcp_state_decode(rec, back, &used);
	if (e != TcpStateErr::Ok || used != len)
		die("decode: %s", tcp_state_err_str(e));
	if (back.snd_seq != st.snd_seq || back.rcv_seq != st.rcv_seq ||
	    back.sendq.size() != st.sendq.size() || back.recvq.size() != st.recvq.size() ||
	    memcmp(back.sendq.data(), st.sendq.data(), st.sendq.size()) ||
	    memcmp(back.recvq.data(), st.recvq.data(), st.recvq.size()))
		die("decoded record differs from the dump");
	printf("dump: sendq %zu notsent %u recvq %zu mss %u wscale %u/%u sack %d ts %d "
	       "snd_wnd %u rcv_wnd %u record %zu\n",
	       back.sendq.size(), back.notsent, back.recvq.size(), back.mss, back.snd_wscale,
	       back.rcv_wscale, back.sack_ok, back.ts_ok, back.snd_wnd, back.rcv_wnd, len);

	// Repair-mode close: the peer sees nothing.
	close(cfd);
	int nfd = tcp_state_socket(back);
	if (nfd < 0)
		die("restore: socket: %s", strerror(-nfd));
	repair(ch, nfd, REPAIR_ON, "repair on (new socket)");
	if ((rc = tcp_state_restore(nfd, back)) < 0)
		die("restore: %s", strerror(-rc));
	repair(ch, nfd, REPAIR_OFF, "repair off");
	if ((rc = tcp_state_restore_unsent(nfd, back)) < 0)
		die("restore: unsent data: %s", strerror(-rc));
	repair_close(ch);

	// The server reads again: everything arrives, once, in order.
	drain(sfd, up);
	drain(nfd, down);
	printf("after restore: client->server %llu bytes, server->client %llu bytes\n",
	       (unsigned long long)up.read, (unsigned long long)down.read);
	pump(nfd, sfd, up, 1 << 20);
	pump(sfd, nfd, down, 1 << 20);

	// Orderly close both ways: FINs, no RST.
	shutdown(nfd, SHUT_WR);
	shutdown(sfd, SHUT_WR);
	time_t end = time(nullptr) + TIMEOUT_MS / 1000;
	bool up_open = true, down_open = true;
	while (up_open || down_open) {
		if (up_open)
			up_open = read_some(sfd, up);
		if (down_open)
			down_open = read_some(nfd, down);
		if (time(nullptr) > end)
			die("no end of stream after shutdown");
		usleep(10000);
	}
	close(nfd);
	close(sfd);
	close(lfd);
	long rsts = tcp_counter("OutRsts") - rst0, ests = tcp_counter("EstabResets") - est0;
	printf("total: client->server %llu bytes, server->client %llu bytes\n",
	       (unsigned long long)up.read, (unsigned long long)down.read);
	usleep(100000);
	int captured = rst_count(cap);
	// Control: a connection to a closed port is refused with an RST, which
	// the capture must see, or its zero above means nothing.
	int probe = socket(af, SOCK_STREAM, 0);
	if (v6)
		reinterpret_cast<sockaddr_in6 *>(&ss)->sin6_port = htons(9);
	else
		reinterpret_cast<sockaddr_in *>(&ss)->sin_port = htons(9);
	if (connect(probe, reinterpret_cast<sockaddr *>(&ss), sl) == 0 || errno != ECONNREFUSED)
		die("control connection to port 9 not refused");
	close(probe);
	usleep(100000);
	int control = rst_count(cap);
	printf("resets: OutRsts %ld EstabResets %ld\n", rsts, ests);
	printf("capture: RST segments %d during the test, %d for the control\n", captured, control);
	if (captured || !control)
		die("capture: %d RST segments seen, %d for the control", captured, control);
	if (up.read != up.written || down.read != down.written)
		die("bytes lost");
	// The repair-mode close of the old socket counts once in EstabResets
	// (ESTABLISHED -> CLOSE) without a segment; an RST sent by either end
	// (both are in this namespace) would count in OutRsts.
	if (rsts || ests != 1)
		die("resets: %ld sent, %ld established connections reset (1 expected)", rsts, ests);
	return 0;
}

int proto(const char *what, const char *path, const char *file) {
	RepairChannel ch;
	int rc = repair_listen(ch, path);
	if (rc < 0)
		die("listening on %s: %s", path, strerror(-rc));
	if (!strcmp(what, "no-helper")) {
		rc = repair_accept(ch, 1000);
		printf("accept: %s\n", strerror(-rc));
		return rc == -ETIMEDOUT ? 0 : 1;
	}
	if ((rc = repair_accept(ch, TIMEOUT_MS)) < 0)
		die("waiting for passt-repair: %s", strerror(-rc));

	int tcp = socket(AF_INET, SOCK_STREAM, 0);
	int udp = socket(AF_INET, SOCK_DGRAM, 0);
	if (!strcmp(what, "bad-cmd"))
		rc = repair_send_raw(ch, std::span<const int>(&tcp, 1), 5, TIMEOUT_MS);
	else if (!strcmp(what, "no-fds"))
		rc = repair_send_raw(ch, {}, 1, TIMEOUT_MS);
	else if (!strcmp(what, "bad-socket"))
		rc = repair_set(ch, std::span<const int>(&udp, 1), REPAIR_ON, TIMEOUT_MS);
	else if (!strcmp(what, "close")) {
		rc = repair_set(ch, std::span<const int>(&tcp, 1), REPAIR_ON, TIMEOUT_MS);
		printf("command: %s\n", rc ? strerror(-rc) : "ok");
		repair_close(ch);
		return rc ? 1 : 0;
	} else if (!strcmp(what, "gone")) {
		for (int i = 0; i < 100 && access(file, F_OK); i++)
			usleep(100000);
		rc = repair_set(ch, std::span<const int>(&tcp, 1), REPAIR_ON, TIMEOUT_MS);
	} else
		die("unknown case %s", what);
	printf("command: %s\n", rc ? strerror(-rc) : "ok");
	// Every error case must be seen as the helper going away, and the
	// connection must be dropped.
	return rc == -ECONNRESET && ch.conn_fd < 0 ? 0 : 1;
}

} // namespace

int main(int argc, char **argv) {
	setvbuf(stdout, nullptr, _IOLBF, 0);
	if (argc == 4 && !strcmp(argv[1], "migrate"))
		return migrate(atoi(argv[2]), argv[3]);
	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "proto"))
		return proto(argv[2], argv[3], argc == 5 ? argv[4] : "");
	fprintf(stderr, "usage: repair_driver migrate 4|6 PATH | proto CASE PATH [FILE]\n");
	return 2;
}
