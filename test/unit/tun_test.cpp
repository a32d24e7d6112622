// Tests for the tap device (src/tap/tun.cpp), opened in a network namespace
// spawned by src/host/ns_spawn.cpp: the device shows up there only, frames we
// write (with a zero virtio-net header) reach the namespace's kernel, and
// its replies come back, checksum and segmentation offloads included. Test
// bodies run in forked children with alarm() timeouts.
#include "passt/tap/tun.h"
#include "passt/host/ns.h"

#include <gtest/gtest.h>

#include "fork_test_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

using namespace passt;
using passt::test::run_forked;

namespace {

using Bytes = std::vector<uint8_t>;

const uint8_t our_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
const uint8_t our_ip[4] = {192, 0, 2, 1};
const uint8_t ns_ip[4] = {192, 0, 2, 15};

void put16(Bytes &b, unsigned v) {
	b.push_back(uint8_t(v >> 8));
	b.push_back(uint8_t(v));
}

void put(Bytes &b, const uint8_t *p, size_t n) { b.insert(b.end(), p, p + n); }

unsigned get16(const uint8_t *p) { return unsigned(p[0]) << 8 | p[1]; }

uint16_t csum(const uint8_t *p, size_t n) {
	uint32_t s = 0;
	for (size_t i = 0; i + 1 < n; i += 2)
		s += get16(p + i);
	if (n & 1)
		s += unsigned(p[n - 1]) << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return uint16_t(~s);
}

Bytes arp_request() {
	Bytes f;
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t zero[6] = {};
	put(f, bcast, 6);
	put(f, our_mac, 6);
	put16(f, 0x0806);
	put16(f, 1);      // Ethernet
	put16(f, 0x0800); // IPv4
	f.push_back(6);
	f.push_back(4);
	put16(f, 1); // request
	put(f, our_mac, 6);
	put(f, our_ip, 4);
	put(f, zero, 6);
	put(f, ns_ip, 4);
	return f;
}

Bytes icmp_echo(const uint8_t *dst_mac, unsigned id, unsigned seq, const char *payload) {
	Bytes icmp;
	icmp.push_back(8);
	icmp.push_back(0);
	put16(icmp, 0);
	put16(icmp, id);
	put16(icmp, seq);
	put(icmp, reinterpret_cast<const uint8_t *>(payload), std::strlen(payload));
	uint16_t c = csum(icmp.data(), icmp.size());
	icmp[2] = uint8_t(c >> 8);
	icmp[3] = uint8_t(c);

	Bytes ip;
	ip.push_back(0x45);
	ip.push_back(0);
	put16(ip, unsigned(20 + icmp.size()));
	put16(ip, 0x1234);
	put16(ip, 0x4000);
	ip.push_back(64);
	ip.push_back(1);
	put16(ip, 0);
	put(ip, our_ip, 4);
	put(ip, ns_ip, 4);
	c = csum(ip.data(), ip.size());
	ip[10] = uint8_t(c >> 8);
	ip[11] = uint8_t(c);

	Bytes f;
	put(f, dst_mac, 6);
	put(f, our_mac, 6);
	put16(f, 0x0800);
	put(f, ip.data(), ip.size());
	put(f, icmp.data(), icmp.size());
	return f;
}

// Writes a frame, preceded by an all-zero virtio-net header if hdr_len.
bool send_frame(int fd, size_t hdr_len, const Bytes &frame) {
	Bytes b(hdr_len, 0);
	b.insert(b.end(), frame.begin(), frame.end());
	return write(fd, b.data(), b.size()) == ssize_t(b.size());
}

// Reads frames until match() accepts one (header included in *buf) or
// timeout_ms passes.
bool recv_frame(int fd, const std::function<bool(const Bytes &)> &match, Bytes *buf,
		int timeout_ms = 3000) {
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		long el = (now.tv_sec - start.tv_sec) * 1000 +
			  (now.tv_nsec - start.tv_nsec) / 1000000;
		if (el >= timeout_ms)
			return false;
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, int(timeout_ms - el)) != 1)
			continue;
		buf->resize(65536 + TUN_VNET_HDR_LEN);
		ssize_t n = read(fd, buf->data(), buf->size());
		if (n <= 0)
			continue;
		buf->resize(size_t(n));
		if (match(*buf))
			return true;
	}
}

// Inside the namespace: ifname up with 192.0.2.15/24, IPv6 off (quiet).
int configure_inside(const char *ifname) {
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	struct ifreq ifr;
	std::memset(&ifr, 0, sizeof(ifr));
	std::snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	struct sockaddr_in *sin = reinterpret_cast<struct sockaddr_in *>(&ifr.ifr_addr);
	sin->sin_family = AF_INET;
	std::memcpy(&sin->sin_addr, ns_ip, 4);
	int rc = 0;
	if (ioctl(s, SIOCSIFADDR, &ifr))
		rc = -errno;
	sin->sin_addr.s_addr = htonl(0xffffff00);
	if (!rc && ioctl(s, SIOCSIFNETMASK, &ifr))
		rc = -errno;
	if (!rc && ioctl(s, SIOCGIFFLAGS, &ifr))
		rc = -errno;
	ifr.ifr_flags |= IFF_UP;
	if (!rc && ioctl(s, SIOCSIFFLAGS, &ifr))
		rc = -errno;
	close(s);
	char path[128];
	std::snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", ifname);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "1", 1) != 1)
			rc = rc ? rc : -EIO;
		close(fd);
	}
	return rc;
}

// ARP request -> reply, then ICMP echo request -> reply, over fd.
int exchange(int fd, size_t hdr_len, uint8_t ns_mac[6]) {
	CHK(send_frame(fd, hdr_len, arp_request()));
	Bytes f;
	bool got = recv_frame(
		fd,
		[&](const Bytes &b) {
			const uint8_t *e = b.data() + hdr_len;
			return b.size() >= hdr_len + 42 && get16(e + 12) == 0x0806 &&
			       get16(e + 20) == 2 && !std::memcmp(e + 28, ns_ip, 4) &&
			       !std::memcmp(e + 32, our_mac, 6) && !std::memcmp(e + 38, our_ip, 4);
		},
		&f);
	CHK(got);
	CHK(f.size() == hdr_len + 42);
	for (size_t i = 0; i < hdr_len; i++)
		CHK(f[i] == 0); // nothing to offload in an ARP reply
	std::memcpy(ns_mac, f.data() + hdr_len + 22, 6);
	CHK(!std::memcmp(f.data() + hdr_len, our_mac, 6));

	const char *payload = "passt tun test payload";
	CHK(send_frame(fd, hdr_len, icmp_echo(ns_mac, 0x4242, 7, payload)));
	got = recv_frame(
		fd,
		[&](const Bytes &b) {
			const uint8_t *e = b.data() + hdr_len;
			size_t plen = std::strlen(payload);
			return b.size() >= hdr_len + 14 + 20 + 8 + plen &&
			       get16(e + 12) == 0x0800 && e[14 + 9] == 1 &&
			       !std::memcmp(e + 14 + 12, ns_ip, 4) && e[34] == 0 &&
			       get16(e + 38) == 0x4242 && get16(e + 40) == 7 &&
			       !std::memcmp(e + 42, payload, plen);
		},
		&f);
	CHK(got);
	return 0;
}

// Spawns a paused namespace, opens tap `name` there, configures it.
// Returns CHILD_SKIP where /dev/net/tun is not accessible to us.
int setup(NsHandle *ns, NsCommand *cmd, const char *name, bool vnet, int *fd, unsigned *offloads,
	  char *actual) {
	if (access("/dev/net/tun", R_OK | W_OK)) {
		std::fprintf(stderr, "/dev/net/tun: %s\n", std::strerror(errno));
		return passt::test::CHILD_SKIP;
	}
	std::string err;
	int rc = ns_spawn_command({"true"}, NsSpawn{}, ns, cmd, &err);
	if (rc < 0)
		std::fprintf(stderr, "spawn: %s\n", err.c_str());
	CHK(rc == 0);
	*fd = tun_open_in_ns(*ns, name, vnet, actual, offloads);
	if (*fd < 0)
		std::fprintf(stderr, "tun_open_in_ns: %s\n", std::strerror(-*fd));
	CHK(*fd >= 0);
	NsCallOut out;
	std::string ifname = actual;
	CHK(ns_run(
		    *ns, [&](NsCallOut *o) { o->ret = configure_inside(ifname.c_str()); }, &out) ==
	    0);
	if (out.ret < 0)
		std::fprintf(stderr, "configure: %s\n", std::strerror(-out.ret));
	CHK(out.ret == 0);
	return 0;
}

#define SETUP(...)                             \
	do {                                   \
		int src_ = setup(__VA_ARGS__); \
		if (src_)                      \
			return src_;           \
	} while (0)

} // namespace

TEST(TunTest, RejectsBadArguments) {
	char name[IFNAMSIZ];
	EXPECT_EQ(tun_open("passt-name-that-is-too-long", false, name), -EINVAL);
	NsHandle ns;
	ns.netns_fd = 1000000; // not open
	EXPECT_EQ(tun_open_in_ns(ns, "x", false, name), -EBADF);
	EXPECT_EQ(tun_open_in_ns(ns, "passt-name-that-is-too-long", false, name), -EINVAL);
	EXPECT_EQ(tun_open_in_ns(-1, -1, "x", false, name), -EBADF);
}

TEST(TunTest, DeviceAppearsInTheNamespaceOnly) {
	RUN_FORKED([] {
		NsHandle ns;
		NsCommand cmd;
		int fd;
		unsigned offl;
		char name[IFNAMSIZ] = "?";
		SETUP(&ns, &cmd, "pstun0", true, &fd, &offl, name);
		CHK(std::string(name) == "pstun0");
		CHK(fcntl(fd, F_GETFL) & O_NONBLOCK);
		CHK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
		CHK(if_nametoindex("pstun0") == 0);
		NsCallOut out;
		CHK(ns_run(
			    ns,
			    [](NsCallOut *o) {
				    FILE *p = popen("ip -j link show dev pstun0 2>&1", "r");
				    o->ret = -1;
				    if (!p)
					    return;
				    // Read it all: ip dies of SIGPIPE otherwise.
				    std::string all;
				    char buf[512];
				    size_t n;
				    while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0)
					    all.append(buf, n);
				    o->ret = pclose(p);
				    o->len = std::min(all.size(), NS_CALL_MAX_DATA);
				    std::memcpy(o->data, all.data(), o->len);
			    },
			    &out) == 0);
		std::string json(reinterpret_cast<char *>(out.data), out.len);
		if (out.ret != 0 || json.find("\"ifname\":\"pstun0\"") == std::string::npos)
			std::fprintf(stderr, "ip -j link (status %d): %s\n", out.ret, json.c_str());
		CHK(out.ret == 0);
		CHK(json.find("\"ifname\":\"pstun0\"") != std::string::npos);
		CHK(json.find("\"link_type\":\"ether\"") != std::string::npos);

		// Kernel-chosen name.
		char auto_name[IFNAMSIZ] = "";
		int fd2 = tun_open_in_ns(ns, nullptr, false, auto_name);
		CHK(fd2 >= 0);
		CHK(std::strncmp(auto_name, "tap", 3) == 0);
		close(fd2);
		close(fd);
		ns_kill_command(&cmd);
		ns_handle_close(&ns);
		return 0;
	});
}

TEST(TunTest, FramesWithoutVnetHeader) {
	RUN_FORKED([] {
		NsHandle ns;
		NsCommand cmd;
		int fd;
		unsigned offl = 99;
		char name[IFNAMSIZ];
		SETUP(&ns, &cmd, "pstun1", false, &fd, &offl, name);
		CHK(offl == 0);
		uint8_t mac[6];
		CHK(exchange(fd, 0, mac) == 0);
		close(fd);
		ns_kill_command(&cmd);
		ns_handle_close(&ns);
		return 0;
	});
}

TEST(TunTest, FramesWithVnetHeaderAndOffloads) {
	RUN_FORKED([] {
		NsHandle ns;
		NsCommand cmd;
		int fd;
		unsigned offl = 0;
		char name[IFNAMSIZ];
		SETUP(&ns, &cmd, "pstun2", true, &fd, &offl, name);
		std::fprintf(stderr, "offloads accepted: 0x%x\n", offl);
		unsigned base = TUN_OFFLOAD_CSUM | TUN_OFFLOAD_TSO4 | TUN_OFFLOAD_TSO6;
		CHK((offl & base) == base);
		uint8_t mac[6];
		CHK(exchange(fd, TUN_VNET_HDR_LEN, mac) == 0);

		// UDP from inside: with TUN_F_CSUM the kernel leaves the checksum
		// to us (VIRTIO_NET_HDR_F_NEEDS_CSUM, start/offset of the UDP one).
		auto send_udp = [](size_t len, int gso) {
			return [len, gso](NsCallOut *o) {
				int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
				struct sockaddr_in a = {};
				a.sin_family = AF_INET;
				a.sin_port = htons(4242);
				std::memcpy(&a.sin_addr, our_ip, 4);
				if (gso)
					setsockopt(s, SOL_UDP, UDP_SEGMENT, &gso, sizeof(gso));
				std::vector<char> buf(len, 'u');
				ssize_t n =
					sendto(s, buf.data(), len, 0,
					       reinterpret_cast<struct sockaddr *>(&a), sizeof(a));
				o->ret = n == ssize_t(len) ? 0 : -errno;
				close(s);
			};
		};
		NsCallOut out;
		CHK(ns_run(ns, send_udp(100, 0), &out) == 0 && out.ret == 0);
		auto is_udp = [](const Bytes &b) {
			const uint8_t *e = b.data() + TUN_VNET_HDR_LEN;
			return b.size() >= TUN_VNET_HDR_LEN + 42 && get16(e + 12) == 0x0800 &&
			       e[23] == 17 && get16(e + 36) == 4242;
		};
		Bytes f;
		CHK(recv_frame(fd, is_udp, &f));
		CHK(f.size() == TUN_VNET_HDR_LEN + 14 + 20 + 8 + 100);
		// virtio_net_hdr_v1, little-endian: flags, gso_type, hdr_len,
		// gso_size, csum_start, csum_offset.
		auto le16 = [&](size_t off) {
			return unsigned(f[off]) | unsigned(f[off + 1]) << 8;
		};
		CHK(f[0] & 1);  // NEEDS_CSUM
		CHK(f[1] == 0); // no GSO
		CHK(le16(6) == 14 + 20);
		CHK(le16(8) == 6);

		if ((offl & (TUN_OFFLOAD_USO4 | TUN_OFFLOAD_USO6)) ==
		    (TUN_OFFLOAD_USO4 | TUN_OFFLOAD_USO6)) {
			// One 3000-byte UDP GSO send: a single frame with
			// gso_type UDP_L4 (5) and gso_size 1000.
			CHK(ns_run(ns, send_udp(3000, 1000), &out) == 0 && out.ret == 0);
			CHK(recv_frame(fd, is_udp, &f));
			CHK(f.size() == TUN_VNET_HDR_LEN + 14 + 20 + 8 + 3000);
			CHK(f[1] == 5);
			CHK(le16(4) == 1000);
		}

		// Offloads off again: the kernel now completes checksums.
		CHK(tun_set_offloads(fd, 0) == 0);
		CHK(tun_set_offloads(fd, 0x8000) == -EINVAL);
		CHK(ns_run(ns, send_udp(100, 0), &out) == 0 && out.ret == 0);
		CHK(recv_frame(fd, is_udp, &f));
		CHK(f[0] == 0 && f[1] == 0);
		CHK(f.size() == TUN_VNET_HDR_LEN + 14 + 20 + 8 + 100);
		close(fd);
		ns_kill_command(&cmd);
		ns_handle_close(&ns);
		return 0;
	});
}

// A kernel without USO (before 6.2) refuses TUNSETOFFLOAD with the USO
// flags (EINVAL): tun_open() must settle for checksum + TSO, and the
// namespace kernel then cuts UDP_SEGMENT sends into ordinary frames itself.
// Simulated with a seccomp filter in the test child that fails exactly
// those ioctls, as such a kernel would.
TEST(TunTest, FallsBackWhenUsoIsRefused) {
	RUN_FORKED([] {
		struct sock_filter f[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl, 0, 4),
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TUNSETOFFLOAD, 0, 2),
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
			BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, TUN_OFFLOAD_USO4 | TUN_OFFLOAD_USO6, 1,
				 0),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
		};
		struct sock_fprog prog = {sizeof(f) / sizeof(f[0]), f};
		CHK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
		CHK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0);

		NsHandle ns;
		NsCommand cmd;
		int fd;
		unsigned offl = 0;
		char name[IFNAMSIZ];
		SETUP(&ns, &cmd, "pstun4", true, &fd, &offl, name);
		CHK(offl == (TUN_OFFLOAD_CSUM | TUN_OFFLOAD_TSO4 | TUN_OFFLOAD_TSO6));
		uint8_t mac[6];
		CHK(exchange(fd, TUN_VNET_HDR_LEN, mac) == 0);

		NsCallOut out;
		CHK(ns_run(
			    ns,
			    [](NsCallOut *o) {
				    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
				    struct sockaddr_in a = {};
				    a.sin_family = AF_INET;
				    a.sin_port = htons(4243);
				    std::memcpy(&a.sin_addr, our_ip, 4);
				    int gso = 1000;
				    setsockopt(s, SOL_UDP, UDP_SEGMENT, &gso, sizeof(gso));
				    std::vector<char> buf(2500, 'g');
				    ssize_t n = sendto(s, buf.data(), buf.size(), 0,
						       reinterpret_cast<struct sockaddr *>(&a),
						       sizeof(a));
				    o->ret = n == ssize_t(buf.size()) ? 0 : -errno;
				    close(s);
			    },
			    &out) == 0);
		CHK(out.ret == 0);
		auto is_ours = [](const Bytes &b) {
			const uint8_t *e = b.data() + TUN_VNET_HDR_LEN;
			return b.size() >= TUN_VNET_HDR_LEN + 42 && get16(e + 12) == 0x0800 &&
			       e[23] == 17 && get16(e + 36) == 4243;
		};
		for (size_t len : {1000, 1000, 500}) {
			Bytes fr;
			CHK(recv_frame(fd, is_ours, &fr));
			CHK(fr[1] == 0); // no GSO: segmented before it reached us
			CHK(fr.size() == TUN_VNET_HDR_LEN + 14 + 20 + 8 + len);
		}
		close(fd);
		ns_kill_command(&cmd);
		ns_handle_close(&ns);
		return 0;
	});
}

// The whole flow as a normal user: as root, switch to nobody first (skipped
// where that uid is not mapped, e.g. inside `unshare -r`). The tap part needs
// /dev/net/tun to be 0666 as udev makes it; where it is not, only that part
// is left out (the namespace part is what differs for an unprivileged user).
TEST(TunTest, UnprivilegedUser) {
	RUN_FORKED([] {
		if (geteuid() == 0) {
			if (setgroups(0, nullptr) || setresgid(65534, 65534, 65534) ||
			    setresuid(65534, 65534, 65534))
				return passt::test::CHILD_SKIP;
			prctl(PR_SET_DUMPABLE, 1);
		}
		CHK(geteuid() != 0);
		NsHandle ns;
		NsCommand cmd;
		std::string err;
		if (access("/dev/net/tun", R_OK | W_OK) == 0) {
			int fd;
			unsigned offl;
			char name[IFNAMSIZ];
			SETUP(&ns, &cmd, "pstun3", true, &fd, &offl, name);
			uint8_t mac[6];
			CHK(exchange(fd, TUN_VNET_HDR_LEN, mac) == 0);
			close(fd);
		} else {
			std::fprintf(stderr,
				     "note: /dev/net/tun not accessible to uid %u, "
				     "tap part left out\n",
				     unsigned(geteuid()));
			CHK(ns_spawn_command({"true"}, NsSpawn{}, &ns, &cmd, &err) == 0);
			CHK(tun_open_in_ns(ns, "pstun3", true, nullptr) == -EACCES);
		}
		CHK(ns_set_ping_group_range(ns) == 0);
		// Joining the namespace by PID works as well.
		NsHandle j;
		CHK(ns_join(cmd.pid, "", "", false, &j, &err) == 0);
		int s = ns_socket(j, AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
		CHK(s >= 0);
		close(s);
		NsSocketHelper h;
		CHK(ns_socket_helper_start(j, &h) == 0);
		s = ns_socket_helper_socket(h, AF_NETLINK, SOCK_RAW, 0);
		CHK(s >= 0);
		close(s);
		ns_socket_helper_stop(&h);
		ns_handle_close(&j);
		// Without joining its user namespace we have no rights there.
		CHK(ns_join(cmd.pid, "", "", true, &j, &err) == 0);
		CHK(ns_socket(j, AF_INET, SOCK_DGRAM, 0) == -EPERM);
		ns_handle_close(&j);

		// The command runs once released.
		CHK(ns_release_command(&cmd) == 0);
		for (int i = 0; i < 500 && !ns_command_poll(&cmd); i++)
			usleep(10000);
		CHK(cmd.exited && cmd.exit_code == 0);
		ns_handle_close(&ns);
		return 0;
	});
}
