// gtcp: the guest's TCP tool for connections that must outlive a live
// migration (busybox nc cannot say why a connection ended, nor keep one open
// for the host to drive).
//
//   gtcp duplex ADDR PORT INFILE OUTFILE [TIMEOUT_S]
//	Connects to ADDR:PORT (IPv4 or IPv6), sends INFILE while writing what
//	arrives to OUTFILE, both at once; half-closes (SHUT_WR) after INFILE,
//	and ends when the peer closes. Exit 0 then, 1 on any error (the failed
//	call and errno on stderr: a reset shows as "recv: Connection reset by
//	peer") or when TIMEOUT_S (default 300) passes.
//   gtcp echo ADDR PORT [TIMEOUT_S]
//	Connects and sends back every byte it receives until the peer closes
//	(exit 0; prints the byte count), 1 on an error or timeout (default 600).
// Both print "connected" on stdout once the connection is up. Built
// statically by build_initramfs.sh for /bin/gtcp in the guest.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char buf_in[1 << 16], buf_out[1 << 16];

static double now_s(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

// Connects to ADDR:PORT, -1 on failure (reason on stderr).
static int tcp_connect(const char *addr, int port) {
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
		fprintf(stderr, "gtcp: bad address %s\n", addr);
		return -1;
	}
	int s = socket(ss.ss_family, SOCK_STREAM, 0);
	if (s < 0) {
		perror("gtcp: socket");
		return -1;
	}
	if (connect(s, (struct sockaddr *)&ss, sl) < 0) {
		perror("gtcp: connect");
		close(s);
		return -1;
	}
	printf("connected\n");
	fflush(stdout);
	return s;
}

// Writes all of buf to fd (a file), 0 or -1.
static int write_all(int fd, const char *buf, size_t n) {
	while (n > 0) {
		ssize_t w = write(fd, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

static int do_duplex(const char *addr, int port, const char *in, const char *out, int tmo) {
	int fin = open(in, O_RDONLY);
	int fout = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fin < 0 || fout < 0) {
		perror("gtcp: open");
		return 1;
	}
	int s = tcp_connect(addr, port);
	if (s < 0)
		return 1;
	fcntl(s, F_SETFL, O_NONBLOCK);
	size_t pend = 0, off = 0; // bytes of buf_out read from INFILE, sent
	int in_eof = 0, peer_eof = 0;
	long long sent = 0, got = 0;
	double end = now_s() + tmo;
	while (!peer_eof || !in_eof || off < pend) {
		double left = end - now_s();
		if (left <= 0) {
			fprintf(stderr, "gtcp: timeout: sent %lld got %lld\n", sent, got);
			return 1;
		}
		if (off == pend && !in_eof) {
			ssize_t r = read(fin, buf_out, sizeof(buf_out));
			if (r < 0) {
				perror("gtcp: read INFILE");
				return 1;
			}
			off = 0;
			pend = (size_t)r;
			if (r == 0) {
				in_eof = 1;
				if (shutdown(s, SHUT_WR) < 0) {
					perror("gtcp: shutdown");
					return 1;
				}
			}
		}
		struct pollfd p = {.fd = s, .events = 0};
		if (!peer_eof)
			p.events |= POLLIN;
		if (off < pend)
			p.events |= POLLOUT;
		if (poll(&p, 1, (int)(left * 1000) + 1) < 0) {
			if (errno == EINTR)
				continue;
			perror("gtcp: poll");
			return 1;
		}
		if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
			ssize_t r = recv(s, buf_in, sizeof(buf_in), 0);
			if (r < 0 && errno != EAGAIN && errno != EINTR) {
				fprintf(stderr, "gtcp: recv: %s (sent %lld got %lld)\n",
					strerror(errno), sent, got);
				return 1;
			}
			if (r == 0)
				peer_eof = 1;
			if (r > 0) {
				if (write_all(fout, buf_in, (size_t)r) < 0) {
					perror("gtcp: write OUTFILE");
					return 1;
				}
				got += r;
			}
		}
		if ((p.revents & (POLLOUT | POLLERR)) && off < pend) {
			ssize_t w = send(s, buf_out + off, pend - off, MSG_NOSIGNAL);
			if (w < 0 && errno != EAGAIN && errno != EINTR) {
				fprintf(stderr, "gtcp: send: %s (sent %lld got %lld)\n",
					strerror(errno), sent, got);
				return 1;
			}
			if (w > 0) {
				off += (size_t)w;
				sent += w;
			}
		}
	}
	close(s);
	if (close(fout) < 0) {
		perror("gtcp: close OUTFILE");
		return 1;
	}
	printf("sent %lld got %lld\n", sent, got);
	return 0;
}

static int do_echo(const char *addr, int port, int tmo) {
	int s = tcp_connect(addr, port);
	if (s < 0)
		return 1;
	long long n = 0;
	double end = now_s() + tmo;
	for (;;) {
		double left = end - now_s();
		if (left <= 0) {
			fprintf(stderr, "gtcp: echo timeout after %lld bytes\n", n);
			return 1;
		}
		struct pollfd p = {.fd = s, .events = POLLIN};
		if (poll(&p, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		ssize_t r = recv(s, buf_in, sizeof(buf_in), 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "gtcp: echo recv: %s after %lld bytes\n", strerror(errno),
				n);
			return 1;
		}
		if (r == 0)
			break;
		for (ssize_t o = 0; o < r;) {
			ssize_t w = send(s, buf_in + o, (size_t)(r - o), MSG_NOSIGNAL);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				fprintf(stderr, "gtcp: echo send: %s after %lld bytes\n",
					strerror(errno), n);
				return 1;
			}
			o += w;
		}
		n += r;
	}
	close(s);
	printf("echoed %lld\n", n);
	return 0;
}

int main(int argc, char **argv) {
	if (argc >= 6 && !strcmp(argv[1], "duplex"))
		return do_duplex(argv[2], atoi(argv[3]), argv[4], argv[5],
				 argc > 6 ? atoi(argv[6]) : 300);
	if (argc >= 4 && !strcmp(argv[1], "echo"))
		return do_echo(argv[2], atoi(argv[3]), argc > 4 ? atoi(argv[4]) : 600);
	fprintf(stderr, "usage: gtcp duplex ADDR PORT INFILE OUTFILE [TIMEOUT_S]\n"
			"       gtcp echo ADDR PORT [TIMEOUT_S]\n");
	return 2;
}
