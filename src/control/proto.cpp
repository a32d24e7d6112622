// The control protocol of -c/--conf-path: request lines and replies.
//
// Theory of operation
// -------------------
// Text, so that a shell and socat can speak it, and strict, so that the
// daemon's side is small: a request is one line of printable ASCII words
// separated by spaces, "PESTO", the version, a verb, and for "apply" a list
// of operations, each OP DIR [SPEC]. The decoder checks everything a
// request can get wrong and gives a one-line reason; it keeps views into
// the line, never copies, never allocates. Which rules a SPEC means, and
// whether it is valid, is the start-up parser's business (fwd/rules.cpp),
// applied by control/ops.cpp.
//
// A reply is built bottom-up in one fixed buffer: lines are appended after
// a gap kept for the status line ("PESTO 1 ok N"), which finish() writes
// into the end of the gap once N is known. The whole reply is bounded by
// the buffer (CTL_REPLY_MAX in the daemon); a reply that would not fit
// ends with a line saying it was cut.
#include "passt/control/proto.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace passt {

namespace {

// The next space-separated word of p (p moves past it); empty at the end.
std::string_view word(std::string_view &p) {
	while (!p.empty() && p[0] == ' ')
		p.remove_prefix(1);
	size_t n = 0;
	while (n < p.size() && p[n] != ' ')
		n++;
	std::string_view w = p.substr(0, n);
	p.remove_prefix(n);
	return w;
}

bool fail(char *err, size_t errlen, const char *what) {
	std::snprintf(err, errlen, "%s", what);
	return false;
}

bool parse_unsigned(std::string_view w, unsigned &out) {
	if (w.empty() || w.size() > 6)
		return false;
	unsigned v = 0;
	for (char ch : w) {
		if (ch < '0' || ch > '9')
			return false;
		v = v * 10 + unsigned(ch - '0');
	}
	out = v;
	return true;
}

bool op_kind(std::string_view w, CtlOpKind &k) {
	if (w == "set")
		k = CtlOpKind::Set;
	else if (w == "add")
		k = CtlOpKind::Add;
	else if (w == "del")
		k = CtlOpKind::Del;
	else if (w == "clear")
		k = CtlOpKind::Clear;
	else
		return false;
	return true;
}

} // namespace

int ctl_dir_index(char dir) {
	switch (dir) {
	case 't': return 0;
	case 'u': return 1;
	case 'T': return 2;
	case 'U': return 3;
	default: return -1;
	}
}

const char *ctl_op_name(CtlOpKind k) {
	switch (k) {
	case CtlOpKind::Set: return "set";
	case CtlOpKind::Add: return "add";
	case CtlOpKind::Del: return "del";
	case CtlOpKind::Clear: return "clear";
	}
	return "?";
}

bool ctl_parse_request(std::string_view line, CtlRequest &req, char *err, size_t errlen) {
	req = CtlRequest{};
	if (line.size() >= CTL_LINE_MAX)
		return fail(err, errlen, "request too long");
	for (char ch : line)
		if (ch != ' ' && (ch < 0x21 || ch > 0x7e))
			return fail(err, errlen, "malformed request: control or non-ASCII byte");
	std::string_view p = line;
	if (word(p) != "PESTO")
		return fail(err, errlen, "malformed request: no PESTO header");
	std::string_view v = word(p);
	unsigned version;
	if (!parse_unsigned(v, version))
		return fail(err, errlen, "malformed request: bad version");
	if (version != CTL_VERSION) {
		std::snprintf(err, errlen, "unsupported protocol version %u (this is %u)", version,
			      CTL_VERSION);
		return false;
	}
	req.version = version;
	std::string_view verb = word(p);
	if (verb == "show") {
		req.verb = CtlVerb::Show;
		if (!word(p).empty())
			return fail(err, errlen, "malformed request: show takes no arguments");
		return true;
	}
	if (verb != "apply")
		return fail(err, errlen, "malformed request: unknown verb");
	req.verb = CtlVerb::Apply;
	for (;;) {
		std::string_view w = word(p);
		if (w.empty())
			break;
		CtlOp op;
		if (!op_kind(w, op.kind))
			return fail(err, errlen, "malformed request: unknown operation");
		std::string_view d = word(p);
		if (d.size() != 1 || ctl_dir_index(d[0]) < 0)
			return fail(err, errlen,
				    "malformed request: direction is not t, u, T or U");
		op.dir = d[0];
		if (op.kind != CtlOpKind::Clear) {
			op.spec = word(p);
			if (op.spec.empty())
				return fail(err, errlen,
					    "malformed request: missing specification");
		}
		if (req.n_ops >= CTL_OPS_MAX)
			return fail(err, errlen, "too many operations in one request");
		req.ops[req.n_ops++] = op;
	}
	if (!req.n_ops)
		return fail(err, errlen, "malformed request: apply without operations");
	return true;
}

size_t ctl_encode_request(const CtlRequest &req, char *buf, size_t len) {
	size_t max = len < CTL_LINE_MAX ? len : CTL_LINE_MAX;
	size_t used = 0;
	auto put = [&](std::string_view s) {
		if (used + s.size() > max)
			return false;
		std::memcpy(buf + used, s.data(), s.size());
		used += s.size();
		return true;
	};
	char head[32];
	std::snprintf(head, sizeof(head), "PESTO %u %s", req.version,
		      req.verb == CtlVerb::Show ? "show" : "apply");
	if (!put(head))
		return 0;
	if (req.verb == CtlVerb::Show && req.n_ops)
		return 0;
	if (req.verb == CtlVerb::Apply && !req.n_ops)
		return 0;
	for (size_t i = 0; i < req.n_ops && i < CTL_OPS_MAX; i++) {
		const CtlOp &op = req.ops[i];
		bool clear = op.kind == CtlOpKind::Clear;
		if (ctl_dir_index(op.dir) < 0 || clear != op.spec.empty())
			return 0;
		for (char ch : op.spec)
			if (ch < 0x21 || ch > 0x7e)
				return 0;
		char d[2] = {op.dir, 0};
		if (!put(" ") || !put(ctl_op_name(op.kind)) || !put(" ") || !put(d))
			return 0;
		if (!clear && (!put(" ") || !put(op.spec)))
			return 0;
	}
	if (!put("\n"))
		return 0;
	return used;
}

bool ctl_parse_reply_status(std::string_view line, bool &ok, unsigned &lines) {
	std::string_view p = line;
	unsigned version;
	if (word(p) != "PESTO" || !parse_unsigned(word(p), version) || version != CTL_VERSION)
		return false;
	std::string_view st = word(p);
	if (st == "ok")
		ok = true;
	else if (st == "error")
		ok = false;
	else
		return false;
	return parse_unsigned(word(p), lines) && word(p).empty();
}

void CtlReply::line(const char *fmt, ...) {
	size_t avail;
	char *at = room(avail);
	if (!at)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = std::vsnprintf(at, avail, fmt, ap);
	va_end(ap);
	if (n < 0 || size_t(n) >= avail) {
		truncated_ = true;
		return;
	}
	commit(size_t(n));
}

char *CtlReply::room(size_t &avail) {
	// Keep room for the "cut" line and its newline.
	constexpr size_t TAIL = 40;
	if (truncated_ || used_ + TAIL + 2 > len_) {
		truncated_ = true;
		avail = 0;
		return nullptr;
	}
	avail = len_ - used_ - TAIL;
	return buf_ + used_;
}

void CtlReply::commit(size_t n) {
	// A line is one line: newlines inside become spaces.
	for (size_t i = 0; i < n; i++)
		if (buf_[used_ + i] == '\n' || buf_[used_ + i] == '\0')
			buf_[used_ + i] = ' ';
	used_ += n;
	buf_[used_++] = '\n';
	lines_++;
}

size_t CtlReply::finish(bool ok) {
	if (truncated_) {
		int n = std::snprintf(buf_ + used_, len_ - used_, "warning: reply cut short\n");
		if (n > 0 && used_ + size_t(n) < len_) {
			used_ += size_t(n);
			lines_++;
		}
	}
	char head[HEAD];
	int n = std::snprintf(head, sizeof(head), "PESTO %u %s %zu\n", CTL_VERSION,
			      ok ? "ok" : "error", lines_);
	size_t hl = n > 0 ? size_t(n) : 0;
	start_ = HEAD - hl;
	std::memcpy(buf_ + start_, head, hl);
	return used_ - start_;
}

} // namespace passt
