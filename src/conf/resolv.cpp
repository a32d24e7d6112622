// /etc/resolv.conf parser, see resolv.conf(5).
//
// Only two things matter to us: "nameserver ADDR" lines, every one of them
// in order, and the search list, from the last "search" or "domain" line
// (the resolver lets the last of the two win; "domain" gives one name).
// Keywords start at the beginning of a line and are followed by blanks;
// anything else, including lines that don't parse, is ignored, as the
// resolver ignores them. Comments start with '#' or ';' at the beginning of
// a line, and end a search list where they start a word.
//
// #syscalls:init openat read close
#include "passt/conf/resolv.h"

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

namespace passt {

namespace {

constexpr size_t RESOLV_CONF_MAX = 64 * 1024;

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

// Splits a line into blank-separated words.
std::vector<std::string_view> words(std::string_view line) {
	std::vector<std::string_view> out;
	size_t i = 0;
	while (i < line.size()) {
		while (i < line.size() && is_blank(line[i]))
			i++;
		size_t start = i;
		while (i < line.size() && !is_blank(line[i]))
			i++;
		if (i > start)
			out.push_back(line.substr(start, i - start));
	}
	return out;
}

} // namespace

void parse_resolv_conf(std::string_view text, std::vector<InAny> &resolvers,
		       std::vector<std::string> &search) {
	while (!text.empty()) {
		size_t nl = text.find('\n');
		std::string_view line = text.substr(0, nl);
		text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);

		if (line.empty() || line[0] == '#' || line[0] == ';')
			continue;
		auto w = words(line);
		// The keyword must start the line and be followed by a blank
		if (w.size() < 2 || w[0].data() != line.data())
			continue;

		if (w[0] == "nameserver") {
			std::string_view addr = w[1];
			size_t pct = addr.find('%');
			if (pct != std::string_view::npos)
				addr = addr.substr(0, pct);
			if (auto a = InAny::parse(addr))
				resolvers.push_back(*a);
		} else if (w[0] == "search" || w[0] == "domain") {
			std::vector<std::string> list;
			for (size_t i = 1; i < w.size(); i++) {
				if (w[i][0] == '#' || w[i][0] == ';')
					break;
				list.emplace_back(w[i]);
				if (w[0] == "domain")
					break;
			}
			if (!list.empty())
				search = std::move(list);
		}
	}
}

bool read_resolv_conf(HostDefaults &host, const char *path) {
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	std::string buf;
	char chunk[4096];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fd);
			return false;
		}
		if (n == 0)
			break;
		buf.append(chunk, size_t(n));
		if (buf.size() >= RESOLV_CONF_MAX)
			break;
	}
	close(fd);
	if (buf.size() > RESOLV_CONF_MAX)
		buf.resize(RESOLV_CONF_MAX);
	host.resolvers.clear();
	host.search.clear();
	parse_resolv_conf(buf, host.resolvers, host.search);
	return true;
}

} // namespace passt
