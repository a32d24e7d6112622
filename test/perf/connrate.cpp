// TCP connection rate, for test/perf/bench.sh: how many short connections
// a second get through a path, each one a full request/response cycle.
//
//   connrate server ADDR PORT
//       Listen on ADDR:PORT; for each connection, read one byte, write it
//       back, and close. Runs until killed.
//   connrate client ADDR PORT SECONDS
//       For SECONDS, one connection after the other: connect, write one
//       byte, read the echo, close (the client closes first, so the
//       TIME_WAIT state stays on this side, as for a real client). Prints
//       "CONNS_PER_SECOND FAILED" with the number of connections that did
//       not complete (refused, reset, wrong or missing echo); exits 1 if
//       none completed.
//
// One connection at a time on purpose: the figure is then the reciprocal of
// the time a connection costs end to end (handshake through the daemon,
// one byte each way, teardown), which is what a user of short-lived
// connections waits for, and it does not depend on how many the client
// could keep in flight.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

// ADDR:PORT as a sockaddr; false if ADDR is no IPv4 or IPv6 literal.
bool parse_addr(const char *addr, const char *port, sockaddr_storage &ss, socklen_t &len) {
	std::memset(&ss, 0, sizeof(ss));
	const auto p = static_cast<uint16_t>(std::strtoul(port, nullptr, 10));
	auto *a4 = reinterpret_cast<sockaddr_in *>(&ss);
	auto *a6 = reinterpret_cast<sockaddr_in6 *>(&ss);
	if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(p);
		len = sizeof(*a4);
		return true;
	}
	if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(p);
		len = sizeof(*a6);
		return true;
	}
	return false;
}

int server(const sockaddr_storage &ss, socklen_t len) {
	int l = socket(ss.ss_family, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l < 0 || bind(l, reinterpret_cast<const sockaddr *>(&ss), len) < 0 ||
	    listen(l, 128) < 0) {
		std::perror("connrate server");
		return 1;
	}
	for (;;) {
		int c = accept(l, nullptr, nullptr);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			std::perror("accept");
			return 1;
		}
		char b;
		if (read(c, &b, 1) == 1 && write(c, &b, 1) != 1)
			std::perror("write");
		close(c);
	}
}

// One connection: true if the byte came back.
bool one_conn(const sockaddr_storage &ss, socklen_t len, char byte) {
	int s = socket(ss.ss_family, SOCK_STREAM, 0);
	if (s < 0)
		return false;
	int one = 1;
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	bool ok = false;
	char b = 0;
	if (connect(s, reinterpret_cast<const sockaddr *>(&ss), len) == 0 &&
	    write(s, &byte, 1) == 1 && read(s, &b, 1) == 1)
		ok = b == byte;
	close(s);
	return ok;
}

int client(const sockaddr_storage &ss, socklen_t len, double seconds) {
	using clock = std::chrono::steady_clock;
	const auto start = clock::now();
	const auto end = start + std::chrono::duration<double>(seconds);
	unsigned long done = 0, failed = 0;
	while (clock::now() < end) {
		if (one_conn(ss, len, static_cast<char>('a' + done % 26)))
			done++;
		else
			failed++;
	}
	const double took = std::chrono::duration<double>(clock::now() - start).count();
	std::printf("%.0f %lu\n", static_cast<double>(done) / took, failed);
	return done ? 0 : 1;
}

} // namespace

int main(int argc, char **argv) {
	sockaddr_storage ss;
	socklen_t len = 0;
	if (argc >= 4 && !std::strcmp(argv[1], "server") && parse_addr(argv[2], argv[3], ss, len))
		return server(ss, len);
	if (argc >= 5 && !std::strcmp(argv[1], "client") && parse_addr(argv[2], argv[3], ss, len))
		return client(ss, len, std::strtod(argv[4], nullptr));
	std::fprintf(stderr,
		     "usage: connrate server ADDR PORT | connrate client ADDR PORT SECONDS\n");
	return 2;
}
