#!/bin/bash
# Snippets in single quotes are for other shells to expand:
# shellcheck source-path=SCRIPTDIR disable=SC2016
# The harness itself: the hermetic host has exactly the documented links,
# addresses, routes and resolver; fail/skip/check_eq/wait_for report the
# right status; cleanup stops background processes (whole process groups)
# and removes temporary directories; as_unprivileged drops root.
. "$(dirname "$0")/lib.sh"

need_pkg jq jq
need_cmd ip awk setsid
hermetic_host

# ---- the hermetic host -------------------------------------------------
check_eq "$$" 1 "PID of the test in its own PID namespace"

links=$(ip -j link show | jq -r '[.[].ifname] | sort | join(" ")')
check_eq "$links" "lo $HOST_IF $HOST_PEER_IF" "links"
for l in lo "$HOST_IF" "$HOST_PEER_IF"; do
	up=$(ip -j link show dev "$l" | jq -r '.[0].flags | index("UP") != null')
	check_eq "$up" true "$l is up"
done
check_eq "$(ip -j link show dev "$HOST_IF" | jq -r '.[0].operstate')" UP "$HOST_IF operstate"
check_eq "$(ip -j link show dev "$HOST_IF" | jq -r '.[0].mtu')" "$HOST_MTU" "$HOST_IF MTU"

a4=$(ip -j -4 addr show dev "$HOST_IF" |
	jq -r '[.[0].addr_info[] | "\(.local)/\(.prefixlen)"] | join(" ")')
check_eq "$a4" "$HOST_ADDR4/$HOST_PREFIX4" "IPv4 addresses of $HOST_IF"
a6=$(ip -j -6 addr show dev "$HOST_IF" |
	jq -r '[.[0].addr_info[] | select(.scope == "global") | "\(.local)/\(.prefixlen)"] |
	       join(" ")')
check_eq "$a6" "$HOST_ADDR6/$HOST_PREFIX6" "global IPv6 addresses of $HOST_IF"
tent=$(ip -j -6 addr show dev "$HOST_IF" | jq -r '[.[0].addr_info[] | select(.tentative)] | length')
check_eq "$tent" 0 "tentative IPv6 addresses"
check_eq "$(ip -j -4 addr show dev "$HOST_PEER_IF" | jq -r '[.[].addr_info[]] | length')" 0 \
	"IPv4 addresses on $HOST_PEER_IF"

r4=$(ip -j -4 route show default | jq -r '[.[] | "\(.gateway) \(.dev)"] | join(",")')
check_eq "$r4" "$HOST_GW4 $HOST_IF" "IPv4 default route"
r6=$(ip -j -6 route show default | jq -r '[.[] | "\(.gateway) \(.dev)"] | join(",")')
check_eq "$r6" "$HOST_GW6 $HOST_IF" "IPv6 default route"
check_eq "$(ip -j route get 198.51.100.7 | jq -r '.[0].prefsrc')" "$HOST_ADDR4" "IPv4 source"
check_eq "$(ip -j route get 2001:db8:1::7 | jq -r '.[0].prefsrc')" "$HOST_ADDR6" "IPv6 source"

check_eq "$(awk '$1 == "nameserver" { print $2 }' /etc/resolv.conf | paste -sd ' ')" \
	"$HOST_DNS4 $HOST_DNS6" "resolv.conf nameservers"
check_eq "$(awk '$1 == "search" { print $2 }' /etc/resolv.conf)" "$HOST_SEARCH" \
	"resolv.conf search"

read -r lo hi < /proc/sys/net/ipv4/ping_group_range
check_eq "$lo" 0 "ping_group_range low end"
[ "$hi" -ge 0 ] || fail "ping_group_range: $lo $hi"
# /proc and /sys belong to this namespace
check_eq "$(find /sys/class/net -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | paste -sd ' ')" "lo $HOST_IF $HOST_PEER_IF" "/sys/class/net"
check_eq "$(awk -F: 'NR > 2 { gsub(/ /, "", $1); print $1 }' /proc/net/dev | sort |
	paste -sd ' ')" "lo $HOST_IF $HOST_PEER_IF" "/proc/net/dev"
check_eq "$(stat -f -c %T /tmp)" tmpfs "private /tmp"

# ---- helpers, exercised through small scripts sourcing lib.sh -------------
d=$(new_tmpdir)
[ -d "$d" ] || fail "new_tmpdir"
case $d in "$TEST_DIR"/*) ;; *) fail "new_tmpdir outside TEST_DIR: $d" ;; esac

# Runs a script body with lib.sh sourced; prints nothing, returns its status.
run_snippet() {
	printf '. %q\n%s\n' "$PASST_ROOT/test/integration/lib.sh" "$1" > "$d/snippet.sh"
	bash "$d/snippet.sh" > "$d/snippet.out" 2>&1
}

alive() { # PID: exists and is not a zombie
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)
	[ -n "$st" ] && [ "$st" != Z ]
}

run_snippet 'exit 0'; check_eq "$?" 0 "plain exit"
run_snippet 'fail "broken thing"'; check_eq "$?" 1 "fail status"
grep -q '^FAIL: snippet: broken thing$' "$d/snippet.out" || fail "fail message: $(cat "$d/snippet.out")"
run_snippet 'x=$(fail inner); exit 0'; check_eq "$?" 1 "fail inside \$(...)"
run_snippet 'skip "no frobnicator"'; check_eq "$?" 77 "skip status"
grep -q '^SKIP: snippet: no frobnicator$' "$d/snippet.out" || fail "skip message"
run_snippet 'need_cmd passt-no-such-program'; check_eq "$?" 77 "need_cmd of a missing program"
run_snippet 'need_cmd sh ip'; check_eq "$?" 0 "need_cmd of present programs"
run_snippet 'check_eq a a x; exit 0'; check_eq "$?" 0 "check_eq, equal"
run_snippet 'check_eq a b thing; exit 0'; check_eq "$?" 1 "check_eq, different"
grep -q "thing: expected 'b', got 'a'" "$d/snippet.out" || fail "check_eq message"
run_snippet 'check false; exit 0'; check_eq "$?" 1 "check false"
run_snippet 'sleep 5 & kill -TERM $$; wait $!; exit 0'; check_eq "$?" 143 "SIGTERM status"

# wait_for: succeeds once the condition holds, gives up after the timeout.
( sleep 0.5; touch "$d/flag" ) &
wait_for "test -e '$d/flag'" 5 || fail "wait_for did not see the flag"
start=$SECONDS
wait_for false 1 && fail "wait_for false succeeded"
[ $((SECONDS - start)) -le 3 ] || fail "wait_for false 1 took $((SECONDS - start)) s"

# Cleanup: background processes (and their children) are stopped, hooks
# run, temporary directories go away, the exit status is kept.
run_snippet "
bg_start sleep 1000
echo \$BG_PID > '$d/pid1'
bg_start sh -c 'sleep 1000 & echo \$! > \"$d/pid2\"; wait'
t=\$(new_tmpdir); echo \"\$t\" > '$d/tmp'
on_cleanup 'echo hook > \"$d/hook\"'
wait_for 'test -s \"$d/pid2\"' 5 || fail 'no pid2'
exit 3"
check_eq "$?" 3 "exit status through cleanup"
for f in pid1 pid2 tmp; do
	[ -s "$d/$f" ] || fail "snippet did not write $f"
done
check_eq "$(cat "$d/hook")" hook "cleanup hook"
for pid in "$(cat "$d/pid1")" "$(cat "$d/pid2")"; do
	wait_for "! alive $pid" 5 || fail "background process $pid still running after cleanup"
done
[ ! -e "$(cat "$d/tmp")" ] || fail "temporary directory left behind"

# A process left running at the end is killed with the test's namespaces:
# checked from outside, by the next run of the suite: nothing to do here.

# bg_stop on a process ignoring SIGTERM: SIGKILL after the grace period.
bg_start sh -c 'trap "" TERM; while :; do sleep 0.2; done'
p=$BG_PID
wait_for "alive $p" 2 || fail "background process did not start"
bg_stop "$p" 1
alive "$p" && fail "bg_stop left $p running"

# ---- unprivileged user -------------------------------------------------
if can_unprivileged; then
	u=$(as_unprivileged id -u)
	[ "$u" != 0 ] || fail "as_unprivileged ran as root"
	check_eq "$u" "$(id -u "$PASST_TEST_USER")" "uid of as_unprivileged"
	check_eq "$(as_unprivileged awk '/^CapEff/ { print $2 }' /proc/self/status)" \
		0000000000000000 "capabilities of as_unprivileged"
	ud=$(new_unpriv_tmpdir)
	as_unprivileged touch "$ud/f" || fail "unprivileged user cannot write its tmpdir"
	as_unprivileged touch "$d/f" 2>/dev/null && fail "unprivileged user writes root's tmpdir"
	# An unprivileged user can make its own namespaces in here (pasta does).
	as_unprivileged unshare -rn true || fail "unprivileged unshare -rn"
else
	log "as_unprivileged not available here (not real root): part skipped"
fi

exit 0
