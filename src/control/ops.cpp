// The operations of a control request on the forwarding tables.
//
// Theory of operation
// -------------------
// A request works on a copy of the four tables (CtlTables): each operation
// goes through fwd_rules_parse(), the parser of -t/-u/-T/-U, with the
// context start-up used, so a rule is refused at run time for exactly the
// reasons it would be refused on the command line, with the same message.
// Any failure leaves the copy to be discarded: the daemon swaps tables only
// after the whole request succeeded. Deleting parses the SPEC into a
// scratch table and removes each rule it yields, which must be in the
// direction's table as it is (same ports, addresses, interface, target and
// flags). The tables are fixed-size (FWD_RULES_MAX each) and nothing here
// allocates: it runs inside the sandbox.
#include "passt/control/ops.h"

#include <cstdio>

namespace passt {

namespace {

const char *const DIR_NAMES = "tuTU";

const char *proto_of(int d) { return d == 0 || d == 2 ? "TCP" : "UDP"; }

} // namespace

bool ctl_apply_ops(const CtlRequest &req, const CtlApplyContext &ctx, CtlTables &t, char *err,
		   size_t errlen) {
	bool set_seen[4] = {};
	static PortForward scratch; // a del's rules: too big for the stack twice
	for (size_t i = 0; i < req.n_ops; i++) {
		const CtlOp &op = req.ops[i];
		int d = ctl_dir_index(op.dir);
		if (d < 0) {
			std::snprintf(err, errlen, "unknown direction");
			return false;
		}
		const FwdSpecContext &sc = ctx.spec[d];
		if (!ctx.available[d]) {
			std::snprintf(err, errlen, "%s: not available in this mode",
				      fwd_opt_name(op.dir));
			return false;
		}
		PortForward &f = t.dir[d];
		switch (op.kind) {
		case CtlOpKind::Clear:
			f.rules.clear();
			fwd_update_kind(f);
			break;
		case CtlOpKind::Set:
			if (!set_seen[d]) {
				f.rules.clear();
				fwd_update_kind(f);
				set_seen[d] = true;
			}
			[[fallthrough]];
		case CtlOpKind::Add:
			if (!fwd_rules_parse(op.spec, sc, f, err, errlen))
				return false;
			break;
		case CtlOpKind::Del:
			scratch.rules.clear();
			if (!fwd_rules_parse(op.spec, sc, scratch, err, errlen))
				return false;
			for (const PortRule &r : scratch.rules) {
				size_t j = 0;
				while (j < f.rules.size() && !fwd_rule_equal(f.rules[j], r))
					j++;
				if (j == f.rules.size()) {
					char rule[FWD_RULE_TEXT];
					fwd_rule_format(r, proto_of(d), rule, sizeof(rule));
					std::snprintf(err, errlen, "no such rule for %s: %s",
						      fwd_opt_name(op.dir), rule);
					return false;
				}
				f.rules.erase_at(j);
			}
			fwd_update_kind(f);
			break;
		}
	}
	return true;
}

void ctl_format_rules(const CtlTables &t, const CtlApplyContext &ctx, CtlReply &r) {
	for (int d = 0; d < 4; d++) {
		if (!ctx.available[d])
			continue;
		for (const PortRule &rule : t.dir[d].rules) {
			if (rule.exclude)
				continue;
			size_t avail;
			char *at = r.room(avail);
			if (!at)
				return;
			int n = std::snprintf(at, avail, "%c ", DIR_NAMES[d]);
			if (n < 0 || size_t(n) >= avail)
				return;
			fwd_rule_format(rule, proto_of(d), at + n, avail - size_t(n));
			size_t len = size_t(n);
			while (len < avail && at[len])
				len++;
			r.commit(len);
		}
	}
}

} // namespace passt
