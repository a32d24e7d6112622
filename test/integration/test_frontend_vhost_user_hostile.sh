#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# run.sh timeout: 240
# passt --vhost-user under a slow and a broken guest, with build/frontend
# (test/perf/frontend.cpp) as the front-end, no qemu:
#   - slow: the front-end withholds its RX buffers for 300 ms every 1024
#     frames it receives (-H); 8 MiB host -> guest and 8 MiB guest -> host
#     at MTU 1500 must still arrive byte-exact, and passt must report that
#     frames waited for buffers (rather than being dropped); then again
#     with the event index (-E)
#   - broken: the front-end corrupts its TX ring once (-X avail-jump: the
#     avail index jumps more than the ring size ahead; -X head-range: a
#     head index out of range), then re-programs the queue as qemu does on
#     a reset; passt must log the broken queue, keep running, and carry
#     traffic again afterwards (ping, 1 MiB guest -> host, byte-exact).
. "$(dirname "$0")/lib.sh"
need_cmd ip timeout nsenter cmp ping
need_pkg socat socat
hermetic_host
. "$(dirname "$0")/frontend_lib.sh"
[ -x "$PASST" ] || fail "no passt binary at $PASST (build first)"
[ -x "$FRONTEND" ] || fail "no front-end at $FRONTEND (make perf-tools)"
FE_MODE=vhost-user

d=$(new_tmpdir)
head -c $((8 << 20)) /dev/urandom > "$d/src"

# start_passt NAME: passt --vhost-user on $d/NAME.sock, log $d/NAME.log
start_passt() {
	bg_start sh -c "exec '$PASST' --vhost-user -f -m 1500 -s '$d/$1.sock' -t 5021 \
		> '$d/$1.log' 2>&1"
	passt_pid=$BG_PID
	wait_for "[ -S '$d/$1.sock' ]" 10 || fail "passt did not create its socket: $(cat "$d/$1.log")"
}

# guest_to_host FILE PORT: FILE from the guest to a listener on the host's
# loopback (through the gateway address), compared byte for byte
guest_to_host() {
	local src=$1 port=$2 lst
	rm -f "$d/out"
	bg_start socat -u "TCP4-LISTEN:$port,bind=127.0.0.1,reuseaddr" "OPEN:$d/out,creat,trunc"
	lst=$BG_PID
	wait_for "ss -ltn | grep -q ':$port '" 10 || fail "host listener"
	fe_exec timeout 60 socat -u "OPEN:$src" "TCP:$HOST_GW4:$port" ||
		fail "guest -> host: socat failed"
	wait_for "! kill -0 $lst" 30 || fail "guest -> host: receiver did not finish"
	cmp "$src" "$d/out" || fail "guest -> host: data differ"
}

# --- a guest slow to give back RX buffers: as is, and with the event index
# (the RX wait queue then needs avail_event for the guest's refill kick)
for fe_opts in "" "-E"; do
start_passt slow
# shellcheck disable=SC2086 # fe_opts: zero or more options
fe_start "$d/slow.sock" "$d/fe-slow.log" -m 1500 -H 300 $fe_opts
log "front-end options: -H 300 ${fe_opts:-(no -E)}"
bg_start nsenter -t "$FE_PID" -n -- socat -u TCP4-LISTEN:5021,reuseaddr "OPEN:$d/in,creat,trunc"
lst=$BG_PID
wait_for "fe_exec ss -ltn | grep -q ':5021 '" 10 || fail "guest listener"
timeout 120 socat -u "OPEN:$d/src" "TCP:127.0.0.1:5021" || fail "host -> guest: socat failed"
wait_for "! kill -0 $lst" 60 || fail "host -> guest: receiver did not finish"
cmp "$d/src" "$d/in" || fail "host -> guest with RX buffers withheld: data differ"
log "host -> guest, RX buffers withheld: 8 MiB byte-exact"
guest_to_host "$d/src" 5031
log "guest -> host, RX buffers withheld: 8 MiB byte-exact"
kill -0 "$passt_pid" || fail "passt exited: $(tail -n 20 "$d/slow.log")"
bg_stop "$FE_PID"
counts=$(cat "$d/fe-slow.log")
log "$counts"
echo "$counts" | grep -Eq 'RX holds [1-9]' || fail "the front-end never withheld buffers: $counts"
wait_for "grep -q 'front-end gone' '$d/slow.log'" 10 || fail "passt did not see the front-end go"
waited=$(grep -o '[0-9]* waited for RX buffers' "$d/slow.log" | tail -n 1)
log "passt: $waited"
[ "${waited%% *}" -gt 0 ] 2> /dev/null || fail "no frame waited for RX buffers: $(tail -n 5 "$d/slow.log")"
bg_stop "$passt_pid"
rm -f "$d/slow.log"
done

# --- a guest that corrupts its TX ring, then resets the queue
head -c $((1 << 20)) /dev/urandom > "$d/small"
n=0
for kind in avail-jump head-range; do
	n=$((n + 1))
	start_passt "$kind"
	fe_start "$d/$kind.sock" "$d/fe-$kind.log" -m 1500 -X "$kind"
	wait_for "grep -q 'TX queue re-programmed' '$d/fe-$kind.log'" 15 ||
		fail "$kind: the front-end did not re-program TX: $(cat "$d/fe-$kind.log")"
	grep -q 'vhost-user: TX queue broken' "$d/$kind.log" ||
		fail "$kind: passt did not report a broken TX queue: $(tail -n 10 "$d/$kind.log")"
	kill -0 "$passt_pid" || fail "$kind: passt exited: $(tail -n 20 "$d/$kind.log")"
	fe_exec ping -c 1 -W 5 "$HOST_GW4" > /dev/null || fail "$kind: ping after the reset"
	guest_to_host "$d/small" $((5040 + n))
	log "$kind: queue broken, logged, reset by the front-end; then ping and 1 MiB byte-exact"
	bg_stop "$FE_PID"
	bg_stop "$passt_pid"
done
exit 0
