// pesto: shows and changes the port forwarding rules of a running passt or
// pasta through its control socket (-c/--conf-path), with the command line
// of the C project's client:
//   pesto [-d] [-s] [-A] [-D] [-C PIF] [-t|-u|-T|-U SPEC]... PATH
//
// Theory of operation
// -------------------
// The options become one "apply" request (control/proto.h): each SPEC is
// an operation on its direction, "set" until -A or -D switch the specs
// after them to "add" or "del"; -C clears the tables of a pif ("host": -t
// and -u, "splice": -T and -U). The daemon applies all of a request or
// none of it, validating each SPEC with its start-up parser, and replies
// with the rules in force. With no option but PATH, or with -s, the rules
// are read with "show" and printed as passt prints them at start-up.
// Errors are one line on stderr, exit status 1.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <getopt.h>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <vector>

#include "passt/control/proto.h"

using namespace passt;

namespace {

bool debug_on = false;

[[noreturn]] void fail(const char *fmt, const char *arg = "") {
	fprintf(stderr, "pesto: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	exit(1);
}

void usage(FILE *f) {
	fprintf(f, "Usage: pesto [OPTION]... PATH\n"
		   "Show or change the port forwarding of the passt or pasta instance\n"
		   "listening on the control socket PATH (its -c/--conf-path).\n"
		   "\n"
		   "  -d, --debug            print the requests and replies\n"
		   "  -s, --show             show the rules before and after the change\n"
		   "  -A, --add              add the specifications that follow\n"
		   "  -D, --delete           delete the specifications that follow\n"
		   "  -C, --clear PIF        clear the rules of PIF: host (-t, -u) or\n"
		   "                         splice (-T, -U)\n"
		   "  -t, --tcp-ports SPEC   TCP, host to guest or namespace\n"
		   "  -u, --udp-ports SPEC   UDP, host to guest or namespace\n"
		   "  -T, --tcp-ns SPEC      TCP, namespace to host (pasta)\n"
		   "  -U, --udp-ns SPEC      UDP, namespace to host (pasta)\n"
		   "  -h, --help             display this help and exit\n"
		   "      --version          display the version and exit\n"
		   "\n"
		   "SPEC is as for the options of passt(1) of the same names. Specifications\n"
		   "before any -A or -D replace the rules of their direction. With no option\n"
		   "but PATH, print the rules.\n");
}

int connect_to(const char *path) {
	sockaddr_un sa{};
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		fail("socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fail("socket: %s", strerror(errno));
	if (connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)) < 0) {
		std::string m = std::string(path) + ": " + strerror(errno);
		fail("can't connect to %s", m.c_str());
	}
	timeval tv{10, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

// Reads one line (without '\n') from fd, buffered in buf.
bool read_line(int fd, std::string &buf, std::string &line) {
	for (;;) {
		size_t nl = buf.find('\n');
		if (nl != std::string::npos) {
			line = buf.substr(0, nl);
			buf.erase(0, nl + 1);
			return true;
		}
		char tmp[4096];
		ssize_t n = read(fd, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		buf.append(tmp, size_t(n));
	}
}

// Sends one request line and reads its reply: false (lines: the error) if
// the daemon refused it.
bool transact(int fd, std::string &rbuf, const std::string &req, std::vector<std::string> &lines) {
	if (debug_on)
		fprintf(stderr, "> %s", req.c_str());
	size_t off = 0;
	while (off < req.size()) {
		ssize_t n = write(fd, req.data() + off, req.size() - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fail("sending the request: %s", strerror(errno));
		off += size_t(n);
	}
	std::string status;
	if (!read_line(fd, rbuf, status))
		fail("no reply from the instance%s",
		     errno ? (std::string(": ") + strerror(errno)).c_str() : "");
	if (debug_on)
		fprintf(stderr, "< %s\n", status.c_str());
	bool ok;
	unsigned n;
	if (!ctl_parse_reply_status(status, ok, n))
		fail("unexpected reply: %s", status.c_str());
	lines.clear();
	for (unsigned i = 0; i < n; i++) {
		std::string l;
		if (!read_line(fd, rbuf, l))
			fail("reply cut short");
		if (debug_on)
			fprintf(stderr, "< %s\n", l.c_str());
		lines.push_back(l);
	}
	return ok;
}

// Rule lines ("t TCP ...") grouped as passt prints them; warnings first.
void print_rules(const std::vector<std::string> &lines) {
	for (const std::string &l : lines)
		if (l.rfind("warning: ", 0) == 0)
			fprintf(stderr, "pesto: %s\n", l.c_str());
	bool in = false, out = false;
	for (const std::string &l : lines)
		in |= l.size() > 2 && (l[0] == 't' || l[0] == 'u') && l[1] == ' ';
	for (const std::string &l : lines)
		out |= l.size() > 2 && (l[0] == 'T' || l[0] == 'U') && l[1] == ' ';
	printf("Inbound forwarding rules (HOST):\n");
	for (const std::string &l : lines)
		if (l.size() > 2 && (l[0] == 't' || l[0] == 'u') && l[1] == ' ')
			printf("    %s\n", l.c_str() + 2);
	if (!in)
		printf("    (none)\n");
	printf("Outbound forwarding rules (SPLICE):\n");
	for (const std::string &l : lines)
		if (l.size() > 2 && (l[0] == 'T' || l[0] == 'U') && l[1] == ' ')
			printf("    %s\n", l.c_str() + 2);
	if (!out)
		printf("    (none)\n");
}

bool pif_is(const char *arg, const char *name) { return !strcasecmp(arg, name); }

} // namespace

int main(int argc, char **argv) {
	static const option longopts[] = {
		{"debug", no_argument, nullptr, 'd'},
		{"show", no_argument, nullptr, 's'},
		{"add", no_argument, nullptr, 'A'},
		{"delete", no_argument, nullptr, 'D'},
		{"clear", required_argument, nullptr, 'C'},
		{"tcp-ports", required_argument, nullptr, 't'},
		{"udp-ports", required_argument, nullptr, 'u'},
		{"tcp-ns", required_argument, nullptr, 'T'},
		{"udp-ns", required_argument, nullptr, 'U'},
		{"help", no_argument, nullptr, 'h'},
		{"version", no_argument, nullptr, 'V'},
		{nullptr, 0, nullptr, 0},
	};
	CtlRequest req;
	req.verb = CtlVerb::Apply;
	CtlOpKind mode = CtlOpKind::Set;
	bool show = false;
	auto add_op = [&](CtlOpKind k, char dir, const char *spec) {
		if (req.n_ops >= CTL_OPS_MAX)
			fail("too many forwarding options (at most %s)", "64");
		if (spec && (!*spec || strpbrk(spec, " \t\n")))
			fail("invalid port specifier: %s", spec);
		req.ops[req.n_ops++] =
			CtlOp{k, dir, spec ? std::string_view(spec) : std::string_view()};
	};
	opterr = 0;
	int opt;
	while ((opt = getopt_long(argc, argv, ":dsADC:t:u:T:U:h", longopts, nullptr)) != -1) {
		switch (opt) {
		case 'd': debug_on = true; break;
		case 's': show = true; break;
		case 'A': mode = CtlOpKind::Add; break;
		case 'D': mode = CtlOpKind::Del; break;
		case 'C':
			if (pif_is(optarg, "host")) {
				add_op(CtlOpKind::Clear, 't', nullptr);
				add_op(CtlOpKind::Clear, 'u', nullptr);
			} else if (pif_is(optarg, "splice")) {
				add_op(CtlOpKind::Clear, 'T', nullptr);
				add_op(CtlOpKind::Clear, 'U', nullptr);
			} else {
				fail("-C/--clear: unknown pif %s (host or splice)", optarg);
			}
			break;
		case 't':
		case 'u':
		case 'T':
		case 'U': add_op(mode, char(opt), optarg); break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("pesto %s\n", PASST_VERSION); return 0;
		case ':': fail("option requires an argument: %s", argv[optind - 1]);
		default: fail("unknown option: %s", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		fail(optind >= argc ? "missing PATH of the control socket%s" : "extra argument: %s",
		     optind >= argc ? "" : argv[optind + 1]);
	const char *path = argv[optind];

	int fd = connect_to(path);
	std::string rbuf;
	std::vector<std::string> lines;
	char buf[CTL_LINE_MAX];
	if (!req.n_ops || show) {
		CtlRequest s;
		s.verb = CtlVerb::Show;
		size_t n = ctl_encode_request(s, buf, sizeof(buf));
		if (!transact(fd, rbuf, std::string(buf, n), lines))
			fail("%s", lines.empty() ? "request refused" : lines[0].c_str());
		if (show && req.n_ops)
			printf("Before:\n");
		print_rules(lines);
		if (!req.n_ops)
			return 0;
	}
	size_t n = ctl_encode_request(req, buf, sizeof(buf));
	if (!n)
		fail("request too long (at most %s bytes)", "4095");
	if (!transact(fd, rbuf, std::string(buf, n), lines))
		fail("%s", lines.empty() ? "request refused" : lines[0].c_str());
	if (show) {
		printf("After:\n");
		print_rules(lines);
	} else {
		for (const std::string &l : lines)
			if (l.rfind("warning: ", 0) == 0)
				fprintf(stderr, "pesto: %s\n", l.c_str());
	}
	close(fd);
	return 0;
}
