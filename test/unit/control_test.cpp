// The control protocol (control/proto.h): request decoding and encoding,
// replies; the operations on the forwarding tables (control/ops.h); the
// fixed-capacity rule table (fwd/fixed_table.h) and the parser's limit.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "passt/control/ops.h"
#include "passt/control/proto.h"
#include "passt/fwd/fixed_table.h"
#include "passt/fwd/rules.h"

using namespace passt;

namespace {

std::string parse_err(std::string_view line) {
	static CtlRequest req;
	char err[256] = {};
	if (ctl_parse_request(line, req, err, sizeof(err)))
		return "";
	return err;
}

CtlApplyContext pasta_ctx() {
	CtlApplyContext ctx;
	const char names[] = "tuTU";
	for (int d = 0; d < 4; d++) {
		ctx.spec[d].optname = names[d];
		ctx.spec[d].scan_allowed = true;
	}
	return ctx;
}

bool apply(std::string_view line, CtlTables &t, const CtlApplyContext &ctx, std::string &err) {
	static CtlRequest req;
	char e[FWD_ERR_TEXT] = {};
	if (!ctl_parse_request(line, req, e, sizeof(e)) ||
	    !ctl_apply_ops(req, ctx, t, e, sizeof(e))) {
		err = e;
		return false;
	}
	return true;
}

} // namespace

TEST(ControlProto, ShowAndApplyDecode) {
	static CtlRequest req;
	char err[128];
	ASSERT_TRUE(ctl_parse_request("PESTO 1 show", req, err, sizeof(err)));
	EXPECT_EQ(req.verb, CtlVerb::Show);
	EXPECT_EQ(req.n_ops, 0u);
	ASSERT_TRUE(ctl_parse_request("PESTO 1 apply set t 80 add  u 53 del T 1-2 clear U", req,
				      err, sizeof(err)));
	EXPECT_EQ(req.verb, CtlVerb::Apply);
	ASSERT_EQ(req.n_ops, 4u);
	EXPECT_EQ(req.ops[0].kind, CtlOpKind::Set);
	EXPECT_EQ(req.ops[0].dir, 't');
	EXPECT_EQ(req.ops[0].spec, "80");
	EXPECT_EQ(req.ops[1].kind, CtlOpKind::Add);
	EXPECT_EQ(req.ops[1].spec, "53");
	EXPECT_EQ(req.ops[2].kind, CtlOpKind::Del);
	EXPECT_EQ(req.ops[2].dir, 'T');
	EXPECT_EQ(req.ops[3].kind, CtlOpKind::Clear);
	EXPECT_TRUE(req.ops[3].spec.empty());
}

TEST(ControlProto, MalformedTruncatedWrongVersion) {
	EXPECT_NE(parse_err(""), "");
	EXPECT_NE(parse_err("PESTO"), "");
	EXPECT_NE(parse_err("PESTO 1"), "");
	EXPECT_NE(parse_err("PESTO x show"), "");
	EXPECT_NE(parse_err("HELLO 1 show"), "");
	EXPECT_NE(parse_err("PESTO 1 show extra"), "");
	EXPECT_NE(parse_err("PESTO 1 frobnicate"), "");
	EXPECT_NE(parse_err("PESTO 1 apply"), "");            // no operations
	EXPECT_NE(parse_err("PESTO 1 apply set"), "");        // truncated: no direction
	EXPECT_NE(parse_err("PESTO 1 apply set t"), "");      // truncated: no SPEC
	EXPECT_NE(parse_err("PESTO 1 apply set x 80"), "");   // unknown direction
	EXPECT_NE(parse_err("PESTO 1 apply set tu 80"), "");  // not one letter
	EXPECT_NE(parse_err("PESTO 1 apply move t 80"), "");  // unknown operation
	EXPECT_NE(parse_err("PESTO 1 apply clear t 80"), ""); // clear takes no SPEC
	EXPECT_NE(parse_err(std::string_view("PESTO 1 show\0", 13)), "");
	EXPECT_NE(parse_err("PESTO 1 apply set t 8\t0"), "");
	EXPECT_NE(parse_err("PESTO 1 apply set t \xc3\xa9"), "");
	EXPECT_EQ(parse_err("PESTO 2 show"), "unsupported protocol version 2 (this is 1)");
	EXPECT_EQ(parse_err("PESTO 0 show"), "unsupported protocol version 0 (this is 1)");
	EXPECT_NE(parse_err("PESTO 99999999 show"), "");
}

TEST(ControlProto, OversizedAndTooManyOps) {
	std::string big = "PESTO 1 apply set t " + std::string(CTL_LINE_MAX, '1');
	EXPECT_EQ(parse_err(big), "request too long");
	std::string many = "PESTO 1 apply";
	for (size_t i = 0; i <= CTL_OPS_MAX; i++)
		many += " add t " + std::to_string(1000 + i);
	EXPECT_EQ(parse_err(many), "too many operations in one request");
}

TEST(ControlProto, EncodeRoundTrip) {
	static CtlRequest req, back;
	req.verb = CtlVerb::Apply;
	req.ops[0] = {CtlOpKind::Set, 't', "80,443"};
	req.ops[1] = {CtlOpKind::Clear, 'U', {}};
	req.ops[2] = {CtlOpKind::Del, 'u', "[::1]/53"};
	req.n_ops = 3;
	char buf[CTL_LINE_MAX], err[128];
	size_t n = ctl_encode_request(req, buf, sizeof(buf));
	ASSERT_GT(n, 0u);
	EXPECT_EQ(std::string(buf, n), "PESTO 1 apply set t 80,443 clear U del u [::1]/53\n");
	ASSERT_TRUE(ctl_parse_request(std::string_view(buf, n - 1), back, err, sizeof(err)));
	ASSERT_EQ(back.n_ops, 3u);
	EXPECT_EQ(back.ops[2].spec, "[::1]/53");

	EXPECT_EQ(ctl_encode_request(req, buf, 10), 0u); // doesn't fit
	req.ops[0].spec = "80 443";                      // a space in a SPEC
	EXPECT_EQ(ctl_encode_request(req, buf, sizeof(buf)), 0u);
	req.ops[0] = {CtlOpKind::Clear, 't', "80"}; // clear with a SPEC
	EXPECT_EQ(ctl_encode_request(req, buf, sizeof(buf)), 0u);
	static CtlRequest show;
	show.verb = CtlVerb::Show;
	n = ctl_encode_request(show, buf, sizeof(buf));
	EXPECT_EQ(std::string(buf, n), "PESTO 1 show\n");
}

TEST(ControlProto, ReplyStatusAndCut) {
	char buf[128];
	CtlReply r(buf, sizeof(buf));
	r.line("first %d", 1);
	r.line("two\nlines");
	size_t n = r.finish(true);
	EXPECT_EQ(std::string(r.data(), n), "PESTO 1 ok 2\nfirst 1\ntwo lines\n");
	bool ok = false;
	unsigned lines = 0;
	EXPECT_TRUE(ctl_parse_reply_status("PESTO 1 ok 2", ok, lines));
	EXPECT_TRUE(ok);
	EXPECT_EQ(lines, 2u);
	EXPECT_TRUE(ctl_parse_reply_status("PESTO 1 error 1", ok, lines));
	EXPECT_FALSE(ok);
	EXPECT_FALSE(ctl_parse_reply_status("PESTO 2 ok 1", ok, lines));
	EXPECT_FALSE(ctl_parse_reply_status("PESTO 1 maybe 1", ok, lines));
	EXPECT_FALSE(ctl_parse_reply_status("PESTO 1 ok", ok, lines));

	// A reply too big for its buffer ends with a line that says so.
	CtlReply small(buf, sizeof(buf));
	for (int i = 0; i < 50; i++)
		small.line("rule number %d", i);
	n = small.finish(true);
	std::string s(small.data(), n);
	EXPECT_LE(n, sizeof(buf));
	EXPECT_NE(s.find("warning: reply cut short\n"), std::string::npos) << s;
	EXPECT_EQ(s.back(), '\n');
}

TEST(ControlOps, SetAddDelClear) {
	static CtlTables t;
	CtlApplyContext ctx = pasta_ctx();
	std::string err;
	ASSERT_TRUE(apply("PESTO 1 apply set t 80 set t 443", t, ctx, err)) << err;
	ASSERT_EQ(t.dir[0].rules.size(), 2u); // a second set adds, like repeated options
	EXPECT_EQ(t.dir[0].kind, PortForward::Kind::Spec);
	ASSERT_TRUE(apply("PESTO 1 apply add t 8080:80 add u 53", t, ctx, err)) << err;
	EXPECT_EQ(t.dir[0].rules.size(), 3u);
	EXPECT_EQ(t.dir[1].rules.size(), 1u);
	ASSERT_TRUE(apply("PESTO 1 apply del t 443", t, ctx, err)) << err;
	ASSERT_EQ(t.dir[0].rules.size(), 2u);
	EXPECT_EQ(t.dir[0].rules[0].first, 80);
	EXPECT_EQ(t.dir[0].rules[1].first, 8080);
	EXPECT_EQ(t.dir[0].rules[1].to_first, 80);
	ASSERT_TRUE(apply("PESTO 1 apply set t 22", t, ctx, err)) << err;
	ASSERT_EQ(t.dir[0].rules.size(), 1u);
	EXPECT_EQ(t.dir[0].rules[0].first, 22);
	ASSERT_TRUE(apply("PESTO 1 apply clear u", t, ctx, err)) << err;
	EXPECT_TRUE(t.dir[1].rules.empty());
	EXPECT_EQ(t.dir[1].kind, PortForward::Kind::None);
	ASSERT_TRUE(apply("PESTO 1 apply set T auto", t, ctx, err)) << err;
	EXPECT_EQ(t.dir[2].kind, PortForward::Kind::Auto);
}

TEST(ControlOps, ErrorsAreTheParsers) {
	static CtlTables t;
	CtlApplyContext ctx = pasta_ctx();
	std::string err;
	EXPECT_FALSE(apply("PESTO 1 apply add t 70000", t, ctx, err));
	EXPECT_EQ(err,
		  "invalid port specifier for -t/--tcp-ports: 70000 (port number above 65535)");
	ASSERT_TRUE(apply("PESTO 1 apply set t 80", t, ctx, err)) << err;
	EXPECT_FALSE(apply("PESTO 1 apply add t 80", t, ctx, err));
	EXPECT_NE(err.find("forwarding conflict"), std::string::npos) << err;
	EXPECT_FALSE(apply("PESTO 1 apply del t 81", t, ctx, err));
	EXPECT_NE(err.find("no such rule for -t/--tcp-ports"), std::string::npos) << err;
	ctx.available[2] = false; // passt: no -T
	EXPECT_FALSE(apply("PESTO 1 apply set T 80", t, ctx, err));
	EXPECT_EQ(err, "-T/--tcp-ns: not available in this mode");
	ctx.spec[0].scan_allowed = false;
	EXPECT_FALSE(apply("PESTO 1 apply set t auto", t, ctx, err));
	EXPECT_NE(err.find("'auto'"), std::string::npos) << err;
}

TEST(ControlOps, FormatRules) {
	static CtlTables t;
	CtlApplyContext ctx = pasta_ctx();
	std::string err;
	ASSERT_TRUE(apply("PESTO 1 apply set t 80 set U 53", t, ctx, err)) << err;
	char buf[1024];
	CtlReply r(buf, sizeof(buf));
	ctl_format_rules(t, ctx, r);
	size_t n = r.finish(true);
	std::string s(r.data(), n);
	EXPECT_NE(s.find("\nt TCP [*]:80  =>  80"), std::string::npos) << s;
	EXPECT_NE(s.find("\nU UDP [*]%lo:53  =>  53"), std::string::npos) << s;
	ctx.available[3] = false;
	CtlReply r2(buf, sizeof(buf));
	ctl_format_rules(t, ctx, r2);
	n = r2.finish(true);
	EXPECT_EQ(std::string(r2.data(), n).find("\nU "), std::string::npos);
}

TEST(FixedTable, PushEraseClearFull) {
	FixedTable<int, 3> t;
	EXPECT_TRUE(t.empty());
	EXPECT_TRUE(t.push_back(1));
	EXPECT_TRUE(t.push_back(2));
	EXPECT_TRUE(t.push_back(3));
	EXPECT_TRUE(t.full());
	EXPECT_FALSE(t.push_back(4)); // refused, not grown
	EXPECT_EQ(t.size(), 3u);
	t.erase_at(0);
	ASSERT_EQ(t.size(), 2u);
	EXPECT_EQ(t[0], 2);
	EXPECT_EQ(t[1], 3);
	t.erase_at(7); // out of range: nothing
	EXPECT_EQ(t.size(), 2u);
	int sum = 0;
	for (int x : t)
		sum += x;
	EXPECT_EQ(sum, 5);
	t.clear();
	EXPECT_TRUE(t.empty());
	FixedTable<int, 2> l{7, 8, 9}; // at most N from a list
	EXPECT_EQ(l.size(), 2u);
}

TEST(FixedTable, IfName) {
	IfName n;
	EXPECT_TRUE(n.empty());
	EXPECT_TRUE(n.assign("eth0"));
	EXPECT_EQ(n, "eth0");
	EXPECT_EQ(n.size(), 4u);
	EXPECT_FALSE(n.assign("a-name-of-16-chr")); // IFNAMSIZ - 1 at most
	EXPECT_TRUE(n.empty());
	EXPECT_TRUE(n.assign("fifteen-chars-x"));
	EXPECT_EQ(n.size(), 15u);
}

TEST(FixedTable, ParserRefusesBeyondCapacity) {
	FwdSpecContext ctx;
	static PortForward f;
	std::string err;
	for (unsigned i = 0; i < FWD_RULES_MAX; i++)
		ASSERT_TRUE(fwd_rules_parse(std::to_string(1000 + 2 * i), ctx, f, err)) << err;
	EXPECT_EQ(f.rules.size(), FWD_RULES_MAX);
	EXPECT_FALSE(fwd_rules_parse("80", ctx, f, err));
	EXPECT_EQ(err, "too many forwarding rules for -t/--tcp-ports: 80");
	// Exclusions cut a range into more rules than the table holds.
	static PortForward g;
	std::string spec = "1-2000";
	for (unsigned p = 2; p < 2 * FWD_RULES_MAX + 4; p += 2)
		spec += ",~" + std::to_string(p);
	EXPECT_FALSE(fwd_rules_parse(spec, ctx, g, err));
	EXPECT_NE(err.find("too many forwarding rules"), std::string::npos) << err;
}
