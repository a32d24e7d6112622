#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# run.sh timeout: 240
# passt --vhost-user when its front-end dies mid-transfer, with
# build/frontend (-O -E: offloads and event index) as the front-end, no qemu:
#   - two transfers run (host -> guest through -t 5021, guest -> host to
#     the gateway), and the front-end is killed (SIGKILL, by its PID) in
#     the middle of them
#   - passt stays up, drops the first guest's flows: both host-side
#     connections end (the host's socat processes finish), and no
#     established connection on those ports is left on the host
#   - a new front-end connects to the same socket: passt accepts it, and
#     16 MiB go each way byte-exact through it.
. "$(dirname "$0")/lib.sh"
need_cmd ip timeout nsenter cmp ss
need_pkg socat socat
hermetic_host
. "$(dirname "$0")/frontend_lib.sh"
[ -x "$PASST" ] || fail "no passt binary at $PASST (build first)"
[ -x "$FRONTEND" ] || fail "no front-end at $FRONTEND (make perf-tools)"
FE_MODE=vhost-user

d=$(new_tmpdir)
head -c $((16 << 20)) /dev/urandom > "$d/src"

bg_start sh -c "exec '$PASST' --vhost-user -f -m 65520 -s '$d/p.sock' -t 5021 > '$d/p.log' 2>&1"
passt_pid=$BG_PID
wait_for "[ -S '$d/p.sock' ]" 10 || fail "passt did not create its socket"

# --- the first guest, killed mid-transfer
fe_start "$d/p.sock" "$d/fe1.log" -O -E
fe1=$FE_PID
bg_start nsenter -t "$fe1" -n -- socat -u TCP4-LISTEN:5021,reuseaddr OPEN:/dev/null
glst=$BG_PID
wait_for "fe_exec ss -ltn | grep -q ':5021 '" 10 || fail "guest listener"
bg_start socat -u OPEN:/dev/zero TCP:127.0.0.1:5021
h2g=$BG_PID
bg_start socat -u TCP4-LISTEN:5031,bind=127.0.0.1,reuseaddr OPEN:/dev/null
hlst=$BG_PID
wait_for "ss -ltn | grep -q ':5031 '" 10 || fail "host listener"
bg_start nsenter -t "$fe1" -n -- socat -u OPEN:/dev/zero "TCP:$HOST_GW4:5031"
g2h=$BG_PID
wait_for "[ \$(ss -tnH state established '( sport = :5031 )' | wc -l) -gt 0 ] &&
	[ \$(ss -tnH state established '( dport = :5021 )' | wc -l) -gt 0 ]" 10 ||
	fail "the transfers did not start"
sleep 1
kill -KILL "$fe1"
log "front-end $fe1 killed mid-transfer"
wait_for "grep -q 'front-end connection closed' '$d/p.log'" 10 ||
	fail "passt did not see the front-end go: $(tail -n 5 "$d/p.log")"
kill -0 "$passt_pid" || fail "passt exited with its front-end: $(tail -n 20 "$d/p.log")"
# The first guest's flows are gone: the host side of both ends.
wait_for "! kill -0 $h2g 2> /dev/null && ! kill -0 $hlst 2> /dev/null" 15 ||
	fail "host-side connections of the first guest still open: $(ss -tn)"
left=$(ss -tnH state established '( sport = :5031 or dport = :5031 or sport = :5021 or dport = :5021 )' | wc -l)
[ "$left" = 0 ] || fail "established connections left: $(ss -tn)"
log "passt up, the first guest's flows closed on the host side"
bg_stop "$g2h"
bg_stop "$glst"

# --- a new guest on the same socket
fe_start "$d/p.sock" "$d/fe2.log" -O -E
wait_for "grep -c 'guest device ready' '$d/p.log' | grep -q 2" 10 ||
	fail "passt did not take the second front-end: $(tail -n 5 "$d/p.log")"
bg_start nsenter -t "$FE_PID" -n -- socat -u TCP4-LISTEN:5021,reuseaddr "OPEN:$d/in,creat,trunc"
lst=$BG_PID
wait_for "fe_exec ss -ltn | grep -q ':5021 '" 10 || fail "guest listener (second guest)"
timeout 60 socat -u "OPEN:$d/src" TCP:127.0.0.1:5021 || fail "host -> new guest: socat failed"
wait_for "! kill -0 $lst" 30 || fail "host -> new guest: receiver did not finish"
cmp "$d/src" "$d/in" || fail "host -> new guest: data differ"
log "host -> new guest: 16 MiB byte-exact"
bg_start socat -u TCP4-LISTEN:5032,bind=127.0.0.1,reuseaddr "OPEN:$d/out,creat,trunc"
lst=$BG_PID
wait_for "ss -ltn | grep -q ':5032 '" 10 || fail "host listener (second guest)"
fe_exec timeout 60 socat -u "OPEN:$d/src" "TCP:$HOST_GW4:5032" || fail "new guest -> host: socat failed"
wait_for "! kill -0 $lst" 30 || fail "new guest -> host: receiver did not finish"
cmp "$d/src" "$d/out" || fail "new guest -> host: data differ"
log "new guest -> host: 16 MiB byte-exact"
kill -0 "$passt_pid" || fail "passt exited: $(tail -n 20 "$d/p.log")"
exit 0
