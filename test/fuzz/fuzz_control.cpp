// libFuzzer target: arbitrary bytes as one control request line (-c,
// control/proto.h), then, if it decodes, its operations on the forwarding
// tables (control/ops.cpp, with the start-up rule parser) and the reply.
// Checked: a decoded request encodes back to a line that decodes to the
// same operations; a failed apply leaves a message; a reply always has
// its status line and fits its buffer.
// FUZZ_SRCS: src/control/proto.cpp src/control/ops.cpp src/fwd/rules.cpp
#include <cstdlib>
#include <cstring>

#include "passt/control/ops.h"
#include "passt/control/proto.h"

using namespace passt;

namespace {

CtlRequest req, again;
CtlTables tables;
char reply[1 << 14];

bool same(const CtlRequest &a, const CtlRequest &b) {
	if (a.verb != b.verb || a.n_ops != b.n_ops || a.version != b.version)
		return false;
	for (size_t i = 0; i < a.n_ops; i++)
		if (a.ops[i].kind != b.ops[i].kind || a.ops[i].dir != b.ops[i].dir ||
		    a.ops[i].spec != b.ops[i].spec)
			return false;
	return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	std::string_view line(reinterpret_cast<const char *>(data), size);
	char err[512] = {};
	if (!ctl_parse_request(line, req, err, sizeof(err))) {
		if (!err[0])
			abort(); // a refusal always says why
		return 0;
	}
	char buf[CTL_LINE_MAX];
	size_t n = ctl_encode_request(req, buf, sizeof(buf));
	if (!n || buf[n - 1] != '\n')
		abort();
	if (!ctl_parse_request(std::string_view(buf, n - 1), again, err, sizeof(err)) ||
	    !same(req, again))
		abort();

	CtlApplyContext ctx;
	static const char names[] = "tuTU";
	for (int d = 0; d < 4; d++) {
		ctx.spec[d].optname = names[d];
		ctx.spec[d].scan_allowed = true;
	}
	ctx.available[3] = false;
	for (PortForward &f : tables.dir)
		f.rules.clear();
	bool ok = req.verb == CtlVerb::Show || ctl_apply_ops(req, ctx, tables, err, sizeof(err));
	if (!ok && !err[0])
		abort();
	CtlReply r(reply, sizeof(reply));
	if (ok)
		ctl_format_rules(tables, ctx, r);
	else
		r.line("%s", err);
	size_t len = r.finish(ok);
	const char *p = r.data();
	if (p < reply || p + len > reply + sizeof(reply) || len < 13 ||
	    std::memcmp(p, "PESTO 1 ", 8) || p[len - 1] != '\n')
		abort();
	return 0;
}
