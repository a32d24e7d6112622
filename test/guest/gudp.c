// gudp: the guest's UDP test tool (busybox nc has no UDP mode here).
//
//   gudp send ADDR PORT MESSAGE [TIMEOUT_S]
//	Sends MESSAGE to ADDR:PORT (IPv4 or IPv6) once a second until a reply
//	arrives or TIMEOUT_S (default 10) passes; prints the reply on stdout.
//	Exit 0 if a reply came, 1 otherwise.
//   gudp echo PORT COUNT [TIMEOUT_S]
//	Binds [::]:PORT (IPv4 too), prints "ready", then answers COUNT
//	datagrams with "echo:" followed by the datagram, each from the same
//	socket to its sender. Exit 0 once COUNT were answered, 1 on timeout
//	(default 60 s).
// Built statically by build_initramfs.sh for /bin/gudp in the guest.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int do_send(const char *addr, int port, const char *msg, int tmo) {
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		sl = sizeof(*a4);
	} else if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		sl = sizeof(*a6);
	} else {
		fprintf(stderr, "gudp: bad address %s\n", addr);
		return 1;
	}
	int s = socket(ss.ss_family, SOCK_DGRAM, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&ss, sl) < 0) {
		perror("gudp: socket/connect");
		return 1;
	}
	double end = now_s() + tmo;
	while (now_s() < end) {
		double next = now_s() + 1;
		if (send(s, msg, strlen(msg), 0) < 0)
			perror("gudp: send"); // e.g. ECONNREFUSED from an ICMP error: retry
		// Wait up to a second for the reply; errors just wait for the next try.
		for (double left; (left = next - now_s()) > 0;) {
			struct pollfd p = {.fd = s, .events = POLLIN};
			if (poll(&p, 1, (int)(left * 1000) + 1) <= 0)
				break;
			char buf[65536];
			ssize_t n = recv(s, buf, sizeof(buf), 0);
			if (n >= 0) {
				fwrite(buf, 1, n, stdout);
				putchar('\n');
				return 0;
			}
			perror("gudp: recv");
			usleep((useconds_t)(left * 1e6));
		}
	}
	fprintf(stderr, "gudp: no reply from %s port %d\n", addr, port);
	return 1;
}

static int do_echo(int port, int count, int tmo) {
	int s = socket(AF_INET6, SOCK_DGRAM, 0), off = 0;
	struct sockaddr_in6 a;
	memset(&a, 0, sizeof(a));
	a.sin6_family = AF_INET6;
	a.sin6_port = htons(port);
	if (s < 0 || setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) < 0 ||
	    bind(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("gudp: socket/bind");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	double end = now_s() + tmo;
	while (count > 0) {
		int left = (int)((end - now_s()) * 1000);
		struct pollfd p = {.fd = s, .events = POLLIN};
		if (left <= 0 || poll(&p, 1, left) <= 0) {
			fprintf(stderr, "gudp: timeout, %d datagrams not seen\n", count);
			return 1;
		}
		char buf[65536 + 5] = "echo:";
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(s, buf + 5, sizeof(buf) - 5, 0, (struct sockaddr *)&from, &fl);
		if (n < 0)
			continue;
		if (sendto(s, buf, n + 5, 0, (struct sockaddr *)&from, fl) < 0) {
			perror("gudp: sendto");
			return 1;
		}
		count--;
	}
	return 0;
}

int main(int argc, char **argv) {
	if (argc >= 5 && !strcmp(argv[1], "send"))
		return do_send(argv[2], atoi(argv[3]), argv[4], argc > 5 ? atoi(argv[5]) : 10);
	if (argc >= 4 && !strcmp(argv[1], "echo"))
		return do_echo(atoi(argv[2]), atoi(argv[3]), argc > 4 ? atoi(argv[4]) : 60);
	fprintf(stderr, "usage: gudp send ADDR PORT MESSAGE [TIMEOUT_S] | "
			"gudp echo PORT COUNT [TIMEOUT_S]\n");
	return 2;
}
