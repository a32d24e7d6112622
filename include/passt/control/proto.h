// The control protocol of -c/--conf-path (version 1), spoken by pesto and
// the daemon over a UNIX stream socket. doc/control.md is its definition;
// in short, a request is one line:
//   PESTO 1 show
//   PESTO 1 apply OP DIR [SPEC] [OP DIR [SPEC]]...
// OP is set, add, del or clear (clear takes no SPEC); DIR is t, u, T or U
// (the -t/-u/-T/-U options); SPEC is a port forwarding specification in
// the grammar of those options. A reply is a status line and its lines:
//   PESTO 1 ok N     or     PESTO 1 error N
// followed by N lines. Nothing here allocates: the daemon parses requests
// inside the sandbox, and the views of a parsed request point into the
// caller's line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace passt {

inline constexpr unsigned CTL_VERSION = 1;
inline constexpr size_t CTL_LINE_MAX = 4096;      // a request, '\n' included
inline constexpr size_t CTL_OPS_MAX = 64;         // operations of one request
inline constexpr size_t CTL_REPLY_MAX = 1u << 17; // a whole reply

enum class CtlVerb : uint8_t { Show, Apply };
enum class CtlOpKind : uint8_t { Set, Add, Del, Clear };

struct CtlOp {
	CtlOpKind kind = CtlOpKind::Set;
	char dir = 't';        // 't', 'u', 'T' or 'U'
	std::string_view spec; // empty for Clear
};

struct CtlRequest {
	unsigned version = CTL_VERSION;
	CtlVerb verb = CtlVerb::Show;
	CtlOp ops[CTL_OPS_MAX];
	size_t n_ops = 0;
};

// Index of a direction letter in the order t, u, T, U; -1 if none.
int ctl_dir_index(char dir);
const char *ctl_op_name(CtlOpKind k);

// Decodes one request line (without its '\n'). False with a one-line
// reason in err on anything else than a request of version 1: wrong magic
// or version, unknown verb, operation or direction, a missing or extra
// SPEC, more than CTL_OPS_MAX operations, control characters or bytes
// outside printable ASCII, a line longer than CTL_LINE_MAX - 1.
bool ctl_parse_request(std::string_view line, CtlRequest &req, char *err, size_t errlen);

// Encodes req as one line, '\n' included, into buf; returns its length, or
// 0 if it doesn't fit in len (or in CTL_LINE_MAX) or req is not valid (a
// SPEC with a space, a Clear with one, an op of another verb).
size_t ctl_encode_request(const CtlRequest &req, char *buf, size_t len);

// Reads a reply's status line (without '\n'): ok, and how many lines
// follow. False if it is not one of version 1.
bool ctl_parse_reply_status(std::string_view line, bool &ok, unsigned &lines);

// Builds a reply in a fixed buffer: lines first, the status line put in
// front by finish(). A line that doesn't fit is dropped and the reply
// marked truncated (a last line says so).
class CtlReply {
public:
	CtlReply(char *buf, size_t len) : buf_(buf), len_(len) {}
	void line(const char *fmt, ...) __attribute__((format(printf, 2, 3)));
	// Space for a line written directly, and its commit (n bytes, no '\n').
	char *room(size_t &avail);
	void commit(size_t n);
	// Puts the status line in front of the lines; returns the reply's
	// length, from data().
	size_t finish(bool ok);
	const char *data() const { return buf_ + start_; }
	size_t lines() const { return lines_; }

private:
	static constexpr size_t HEAD = 32; // room kept for the status line
	char *buf_;
	size_t len_;
	size_t used_ = HEAD;
	size_t lines_ = 0;
	size_t start_ = 0;
	bool truncated_ = false;
};

} // namespace passt
