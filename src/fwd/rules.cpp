// Port forwarding specifications: -t/-u (host to guest or namespace) and,
// for pasta, -T/-U (namespace to host).
//
// Theory of operation
//
// An option argument is an optional listening address and interface
// ("ADDR%IF/", "%IF/", "*/" or "/") followed by comma-separated chunks:
//   FIRST[-LAST][:[TO_ADDR/]TO_FIRST[-TO_LAST]]  or  FIRST[-LAST]:TO_ADDR
//   ~FIRST[-LAST]      exclusion, applies to the whole argument
//   all[:TO_ADDR]      every non-ephemeral port (only if nothing is included)
//   auto               pasta: listen only while the port is bound on the
//                      other side (applies to the whole argument)
// or the single word "none". The argument is read twice: the first pass
// collects exclusions and "auto" (they may come after the ranges they cut),
// the second turns inclusive chunks into rules with the exclusions cut out.
// Nothing here allocates: rules go to the fixed table of config.h
// (FWD_RULES_MAX per protocol and direction), messages to a caller's
// buffer, so the control socket (-c) parses with this same code inside the
// sandbox. At start-up, the std::string overloads wrap them.
//
// An argument with no inclusive chunk (only exclusions, "all", "auto")
// means every port but the host's ephemeral range and the exclusions, on a
// best-effort basis. Rules must not overlap with earlier rules of the same
// protocol and direction whose listening addresses can match the same
// packets; this is checked as rules are added, so it also spans options.
//
// IPv6 addresses may be written bare or in brackets; a bare address is read
// greedily over hex digits, ':' and '.', so "1:2::3/80" is a listening
// address, not port 1 mapped to 2::3.
//
// #syscalls:init openat read close
#include "passt/fwd/rules.h"

#include <bitset>
#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <unistd.h>

namespace passt {

namespace {

constexpr size_t IFNAME_MAX = IfName::SIZE - 1;

using PortSet = std::bitset<65536>;

bool lit(std::string_view &p, std::string_view word) {
	if (p.substr(0, word.size()) != word)
		return false;
	p.remove_prefix(word.size());
	return true;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Decimal port number, 0-65535. why is set on a number that's too big.
bool parse_port(std::string_view &p, uint16_t &out, const char *&why) {
	size_t n = 0;
	unsigned long v = 0;
	while (n < p.size() && is_digit(p[n])) {
		v = v * 10 + unsigned(p[n] - '0');
		if (v > 65535) {
			why = "port number above 65535";
			return false;
		}
		n++;
	}
	if (!n)
		return false;
	out = uint16_t(v);
	p.remove_prefix(n);
	return true;
}

bool parse_range(std::string_view &p, uint16_t &first, uint16_t &last, const char *&why) {
	std::string_view q = p;
	uint16_t f, l;
	if (!parse_port(q, f, why))
		return false;
	l = f;
	if (lit(q, "-") && !parse_port(q, l, why))
		return false;
	if (l < f) {
		why = "range ends before it starts";
		return false;
	}
	first = f;
	last = l;
	p = q;
	return true;
}

size_t span(std::string_view p, std::string_view accept) {
	size_t n = 0;
	while (n < p.size() && accept.find(p[n]) != std::string_view::npos)
		n++;
	return n;
}

// "[v6]", bare v6 or v4 address.
bool parse_addr(std::string_view &p, InAny &out) {
	std::string_view q = p;
	if (lit(q, "[")) {
		size_t end = q.find(']');
		if (end == std::string_view::npos)
			return false;
		auto a = Ipv6Addr::parse(q.substr(0, end));
		if (!a)
			return false;
		out = InAny(*a);
		p = q.substr(end + 1);
		return true;
	}
	size_t n = span(q, "0123456789abcdefABCDEF:.");
	if (auto a6 = Ipv6Addr::parse(q.substr(0, n))) {
		out = InAny(*a6);
		p = q.substr(n);
		return true;
	}
	n = span(q, "0123456789.");
	if (auto a4 = Ipv4Addr::parse(q.substr(0, n))) {
		out = InAny(*a4);
		p = q.substr(n);
		return true;
	}
	return false;
}

// Optional "%IFNAME".
bool parse_ifspec(std::string_view &p, IfName &ifname) {
	std::string_view q = p;
	if (!lit(q, "%")) {
		ifname.clear();
		return true;
	}
	size_t n = 0;
	while (n < q.size() &&
	       std::string_view("/ \f\n\r\t\v").find(q[n]) == std::string_view::npos)
		n++;
	if (!n || n > IFNAME_MAX)
		return false;
	ifname.assign(q.substr(0, n));
	p = q.substr(n);
	return true;
}

// "ADDR[%IF]/" or "[*][%IF]/"; addr stays nullopt for the second form.
bool parse_bind(std::string_view &p, std::optional<InAny> &addr, IfName &ifname) {
	std::string_view q = p;
	InAny a;
	if (parse_addr(q, a) && parse_ifspec(q, ifname) && lit(q, "/")) {
		addr = a;
		p = q;
		return true;
	}
	q = p;
	lit(q, "*");
	if (parse_ifspec(q, ifname) && lit(q, "/")) {
		addr.reset();
		p = q;
		return true;
	}
	ifname.clear();
	return false;
}

enum class Chunk { All, Auto, Exclude, Include };

struct ChunkVal {
	Chunk kind = Chunk::Include;
	uint16_t first = 0, last = 0; // listening range
	uint16_t to_first = 0, to_last = 0;
	std::optional<InAny> to_addr;
};

bool parse_chunk(std::string_view &p, ChunkVal &c, const char *&why) {
	std::string_view q = p;
	c = ChunkVal{};
	if (lit(q, "all")) {
		c.kind = Chunk::All;
		std::string_view t = q;
		InAny a;
		if (lit(t, ":") && parse_addr(t, a)) {
			c.to_addr = a;
			q = t;
		}
	} else if (lit(q, "auto")) {
		c.kind = Chunk::Auto;
	} else if (lit(q, "~")) {
		c.kind = Chunk::Exclude;
		if (!parse_range(q, c.first, c.last, why))
			return false;
	} else if (parse_range(q, c.first, c.last, why)) {
		c.kind = Chunk::Include;
		c.to_first = c.first;
		c.to_last = c.last;
		std::string_view t = q;
		InAny a;
		uint16_t tf, tl;
		if (lit(t, ":") && parse_addr(t, a) && lit(t, "/") && parse_range(t, tf, tl, why)) {
			c.to_addr = a;
			c.to_first = tf;
			c.to_last = tl;
			q = t;
		} else if (t = q, lit(t, ":") && parse_addr(t, a)) {
			c.to_addr = a;
			q = t;
		} else if (t = q, lit(t, ":") && parse_range(t, tf, tl, why)) {
			c.to_first = tf;
			c.to_last = tl;
			q = t;
		}
	} else {
		return false;
	}
	p = q;
	return true;
}

// Can a packet match both listening addresses? nullopt is "any, both
// versions"; an unspecified address is "any" of its version.
bool addrs_overlap(const std::optional<InAny> &a, const std::optional<InAny> &b) {
	if (!a || !b)
		return true;
	if (a->is_v4() != b->is_v4())
		return false;
	return a->is_unspecified() || b->is_unspecified() || *a == *b;
}

struct SpecParser {
	std::string_view arg;
	const FwdSpecContext &ctx;
	PortForward &fwd;
	char *err;
	size_t errlen;

	const char *name() const { return fwd_opt_name(ctx.optname); }
	const char *proto() const {
		return (ctx.optname == 't' || ctx.optname == 'T') ? "TCP" : "UDP";
	}

	bool fail(const char *what) {
		std::snprintf(err, errlen, "%s for %s: %.*s", what, name(), int(arg.size()),
			      arg.data());
		return false;
	}
	bool bad(const char *why) {
		std::snprintf(err, errlen, "invalid port specifier for %s: %.*s%s%s%s", name(),
			      int(arg.size()), arg.data(), why ? " (" : "", why ? why : "",
			      why ? ")" : "");
		return false;
	}

	bool add_rule(const PortRule &r) {
		if (!r.first)
			return fail("can't forward from port 0");
		if (!r.to_first || unsigned(r.to_first) + (r.last - r.first) > 65535)
			return fail("can't forward to port 0 or above 65535");
		if (!ctx.proto_enabled)
			return fail(ctx.optname == 't' || ctx.optname == 'T'
					    ? "TCP is disabled, can't forward ports"
					    : "UDP is disabled, can't forward ports");
		if (r.bind_addr) {
			if (r.bind_addr->is_v4() && !ctx.ipv4)
				return fail("IPv4 listening address, but IPv4 is disabled");
			if (!r.bind_addr->is_v4() && !ctx.ipv6)
				return fail("IPv6 listening address, but IPv6 is disabled");
		}
		if (r.to_addr) {
			if (r.to_addr->is_v4() ? r.to_addr->v4().is_multicast()
					       : r.to_addr->v6().is_multicast())
				return fail("multicast target address");
			if (!r.bind_addr)
				return fail(
					"target address needs a listening address of the same IP "
					"version (0.0.0.0/ or [::]/)");
			if (r.bind_addr->is_v4() != r.to_addr->is_v4())
				return fail(
					"listening and target addresses of different IP versions");
		}
		for (const PortRule &o : fwd.rules) {
			if (o.exclude || o.last < r.first || r.last < o.first)
				continue;
			if (!addrs_overlap(o.bind_addr, r.bind_addr))
				continue;
			char a[FWD_RULE_TEXT], b[FWD_RULE_TEXT], what[2 * FWD_RULE_TEXT + 32];
			fwd_rule_format(r, proto(), a, sizeof(a));
			fwd_rule_format(o, proto(), b, sizeof(b));
			std::snprintf(what, sizeof(what), "forwarding conflict: %s versus %s", a,
				      b);
			return fail(what);
		}
		if (!fwd.rules.push_back(r))
			return fail("too many forwarding rules");
		return true;
	}

	// Rules for first..last minus excluded ports, one per contiguous run.
	bool add_range_except(const PortRule &tmpl, uint16_t first, uint16_t last,
			      uint16_t to_first, const PortSet &excl) {
		unsigned delta = uint16_t(to_first - first);
		for (unsigned base = first; base <= last; base++) {
			if (excl.test(base))
				continue;
			unsigned end = base;
			while (end < last && !excl.test(end + 1))
				end++;
			PortRule r = tmpl;
			r.first = uint16_t(base);
			r.last = uint16_t(end);
			r.to_first = uint16_t(base + delta);
			if (!add_rule(r))
				return false;
			base = end;
		}
		return true;
	}

	bool parse() {
		std::string_view p = arg;
		if (p == "none") {
			for (const PortRule &r : fwd.rules)
				if (!r.exclude)
					return fail(
						"'none' conflicts with earlier port forwarding");
			fwd_update_kind(fwd);
			return true;
		}

		PortRule tmpl;
		bool outbound = ctx.optname == 'T' || ctx.optname == 'U';
		if (parse_bind(p, tmpl.bind_addr, tmpl.bind_if)) {
			if (outbound)
				return fail("listening address not allowed");
			if (tmpl.bind_if == "." || tmpl.bind_if == "..")
				return fail("invalid interface name");
		} else {
			p = arg;
		}
		if (outbound)
			tmpl.bind_if = "lo";
		// Only one IP version: no need for a dual-stack rule
		if (!tmpl.bind_addr && !ctx.ipv4)
			tmpl.bind_addr = InAny(Ipv6Addr::any());
		else if (!tmpl.bind_addr && !ctx.ipv6)
			tmpl.bind_addr = InAny(Ipv4Addr::any());

		// First pass: exclusions and "auto"
		PortSet excl;
		FixedTable<PortRule, FWD_RULES_MAX> excl_rules;
		const char *why = nullptr;
		std::string_view q = p;
		ChunkVal c;
		do {
			why = nullptr;
			if (!parse_chunk(q, c, why))
				return bad(why);
			if (c.kind == Chunk::Auto) {
				if (!ctx.scan_allowed)
					return fail("'auto' forwarding is only available in pasta "
						    "mode");
				tmpl.scan = true;
			} else if (c.kind == Chunk::Exclude) {
				for (unsigned i = c.first; i <= c.last; i++)
					excl.set(i);
				PortRule x = tmpl;
				x.exclude = true;
				x.first = c.first;
				x.last = c.last;
				x.to_first = c.first;
				if (!excl_rules.push_back(x))
					return fail("too many forwarding rules");
			}
		} while (lit(q, ","));
		if (!q.empty())
			return bad("unexpected text after a port range");

		// Second pass: inclusive ranges
		bool exclude_only = true;
		std::optional<InAny> all_to;
		q = p;
		do {
			parse_chunk(q, c, why);
			if (c.kind == Chunk::All) {
				all_to = c.to_addr;
			} else if (c.kind == Chunk::Include) {
				exclude_only = false;
				if (c.to_last - c.to_first != c.last - c.first)
					return bad(
						"target range size differs from listening range");
				PortRule r = tmpl;
				r.to_addr = c.to_addr;
				if (r.to_addr && r.to_addr->is_unspecified())
					r.to_addr.reset();
				if (!add_range_except(r, c.first, c.last, c.to_first, excl))
					return false;
			}
		} while (lit(q, ","));

		if (exclude_only) {
			PortSet skip = excl;
			for (unsigned i = ctx.ephemeral_first; i <= ctx.ephemeral_last && i < 65536;
			     i++)
				skip.set(i);
			PortRule r = tmpl;
			r.weak = true;
			r.to_addr = all_to;
			if (r.to_addr && r.to_addr->is_unspecified())
				r.to_addr.reset();
			if (!add_range_except(r, 1, 65535, 1, skip))
				return false;
		}
		for (const PortRule &x : excl_rules)
			if (!fwd.rules.push_back(x))
				return fail("too many forwarding rules");
		fwd_update_kind(fwd);
		return true;
	}
};

} // namespace

const char *fwd_opt_name(char optname) {
	switch (optname) {
	case 't': return "-t/--tcp-ports";
	case 'u': return "-u/--udp-ports";
	case 'T': return "-T/--tcp-ns";
	case 'U': return "-U/--udp-ns";
	default: return "port forwarding option";
	}
}

bool fwd_rules_parse(std::string_view arg, const FwdSpecContext &ctx, PortForward &fwd, char *err,
		     size_t errlen) {
	SpecParser sp{arg, ctx, fwd, err, errlen};
	return sp.parse();
}

bool fwd_rules_parse(std::string_view arg, const FwdSpecContext &ctx, PortForward &fwd,
		     std::string &err) {
	char buf[FWD_ERR_TEXT];
	if (fwd_rules_parse(arg, ctx, fwd, buf, sizeof(buf)))
		return true;
	err = buf;
	return false;
}

bool fwd_rule_equal(const PortRule &a, const PortRule &b) {
	return a.first == b.first && a.last == b.last && a.to_first == b.to_first &&
	       a.exclude == b.exclude && a.bind_addr == b.bind_addr && a.bind_if == b.bind_if &&
	       a.to_addr == b.to_addr && a.weak == b.weak && a.scan == b.scan;
}

void fwd_update_kind(PortForward &fwd) {
	bool any = false, weak = false, scan = false;
	for (const PortRule &r : fwd.rules) {
		if (r.exclude)
			continue;
		any = true;
		weak |= r.weak;
		scan |= r.scan;
	}
	if (scan)
		fwd.kind = PortForward::Kind::Auto;
	else if (weak)
		fwd.kind = PortForward::Kind::All;
	else if (any)
		fwd.kind = PortForward::Kind::Spec;
	else
		fwd.kind = PortForward::Kind::None;
}

std::optional<uint16_t> PortForward::target(uint16_t port) const {
	if (excluded(port))
		return std::nullopt;
	for (const PortRule &r : rules) {
		if (r.exclude || port < r.first || port > r.last)
			continue;
		return uint16_t(r.to_first + (port - r.first));
	}
	return std::nullopt;
}

bool PortForward::excluded(uint16_t port) const {
	for (const PortRule &r : rules)
		if (r.exclude && port >= r.first && port <= r.last)
			return true;
	return false;
}

void fwd_rule_format(const PortRule &rule, const char *proto, char *buf, size_t len) {
	AddrText addr = rule.bind_addr ? rule.bind_addr->text() : AddrText{};
	if (!rule.bind_addr)
		addr.s[0] = '*';
	AddrText to = rule.to_addr ? rule.to_addr->text() : AddrText{};
	const char *to_sep = rule.to_addr ? ":" : "";
	const char *if_sep = rule.bind_if.empty() ? "" : "%";
	const char *flags = rule.exclude ? "(excluded)" : "";
	const char *weak = rule.weak ? " (best effort)" : "";
	const char *scan = rule.scan ? " (auto-scan)" : "";
	unsigned to_last = unsigned(rule.to_first) + (rule.last - rule.first);
	if (rule.first == rule.last)
		std::snprintf(buf, len, "%s [%s]%s%s:%u  =>  %s%s%u %s%s%s", proto, addr.s, if_sep,
			      rule.bind_if.c_str(), rule.first, to.s, to_sep, rule.to_first, flags,
			      weak, scan);
	else
		std::snprintf(buf, len, "%s [%s]%s%s:%u-%u  =>  %s%s%u-%u %s%s%s", proto, addr.s,
			      if_sep, rule.bind_if.c_str(), rule.first, rule.last, to.s, to_sep,
			      rule.to_first, to_last, flags, weak, scan);
}

std::string fwd_rule_format(const PortRule &rule, const char *proto) {
	char buf[FWD_RULE_TEXT];
	fwd_rule_format(rule, proto, buf, sizeof(buf));
	return buf;
}

bool fwd_parse_ephemeral_range(std::string_view text, uint16_t &first, uint16_t &last) {
	auto skip_ws = [&text] {
		while (!text.empty() && (text[0] == ' ' || text[0] == '\t' || text[0] == '\n'))
			text.remove_prefix(1);
	};
	const char *why = nullptr;
	uint16_t f, l;
	skip_ws();
	if (!parse_port(text, f, why))
		return false;
	if (text.empty() || (text[0] != ' ' && text[0] != '\t'))
		return false;
	skip_ws();
	if (!parse_port(text, l, why))
		return false;
	skip_ws();
	if (!text.empty() || l < f)
		return false;
	first = f;
	last = l;
	return true;
}

bool fwd_read_ephemeral_range(HostDefaults &host, const char *path) {
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	char buf[64];
	ssize_t n;
	do
		n = read(fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n <= 0)
		return false;
	uint16_t f, l;
	if (!fwd_parse_ephemeral_range(std::string_view(buf, size_t(n)), f, l))
		return false;
	host.ephemeral_first = f;
	host.ephemeral_last = l;
	return true;
}

} // namespace passt
