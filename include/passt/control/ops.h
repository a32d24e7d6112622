// What a control request does to the forwarding tables (control/ops.cpp):
// the operations of one "apply" on copies of the four tables, validated by
// the start-up parser, all or nothing; and the tables as reply lines.
#pragma once

#include <cstddef>

#include "passt/conf/config.h"
#include "passt/control/proto.h"
#include "passt/fwd/rules.h"

namespace passt {

// The four directions in ctl_dir_index() order: t, u, T, U.
struct CtlTables {
	PortForward dir[4];
};

// How each direction's specifications are read (as at start-up), and
// whether it can be changed at all (passt has no -T/-U).
struct CtlApplyContext {
	FwdSpecContext spec[4];
	bool available[4] = {true, true, true, true};
};

// Applies req's operations in order to t: set replaces the direction's
// rules (the first set of a direction in the request empties it, further
// ones add to it, like repeated options), add appends, del removes the
// rules its SPEC parses to (each must be there, exactly), clear empties.
// False with a one-line message in err on the first failure; t is then
// partly changed and must be thrown away. Allocates nothing.
bool ctl_apply_ops(const CtlRequest &req, const CtlApplyContext &ctx, CtlTables &t, char *err,
		   size_t errlen);

// One line per rule of the available directions: "t TCP [*]:80  =>  80".
void ctl_format_rules(const CtlTables &t, const CtlApplyContext &ctx, CtlReply &r);

} // namespace passt
