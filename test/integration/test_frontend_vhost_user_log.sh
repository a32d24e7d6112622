#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# Dirty page logging of passt --vhost-user, as a live migration needs it
# (qemu's docs/interop/vhost-user.rst, "Migration"), with no qemu:
# build/frontend -L negotiates VHOST_F_LOG_ALL and LOG_SHMFD, gives passt
# a log memfd (SET_LOG_BASE) and sets VHOST_VRING_F_LOG on both rings; then
# the guest (the front-end's namespace) pings the gateway, fetches 4 MiB
# from a host listener (RX buffers) and sends 4 MiB to another (the TX used
# ring), both byte-exact. At exit the front-end compares every page it saw
# passt write (used RX buffers, used elements and indices of both rings)
# with the log and exits 1 if one is not marked; here its line must say
# pages were seen and none is missing. Twice: plain, and with the offloads
# (64 KiB frames over several pages) and the event index (-O -E).
. "$(dirname "$0")/lib.sh"
need_cmd ip timeout nsenter cmp
need_pkg socat socat
hermetic_host
. "$(dirname "$0")/frontend_lib.sh"
[ -x "$PASST" ] || fail "no passt binary at $PASST (build first)"
[ -x "$FRONTEND" ] || fail "no front-end at $FRONTEND (make perf-tools)"

d=$(new_tmpdir)
head -c $((4 << 20)) /dev/urandom > "$d/src"
FE_MODE=vhost-user

n=0
for opts in "" "-O -E"; do
	n=$((n + 1))
	rm -f "$d/p.sock" "$d/in" "$d/out"
	bg_start sh -c "exec '$PASST' --vhost-user -f -s '$d/p.sock' > '$d/passt.$n.log' 2>&1"
	passt_pid=$BG_PID
	wait_for "[ -S '$d/p.sock' ]" 10 || fail "passt did not create its socket"
	# Host side: one listener sends the file, one receives it.
	bg_start socat -u "OPEN:$d/src" TCP4-LISTEN:5041,bind=127.0.0.1,reuseaddr
	bg_start socat -u TCP4-LISTEN:5042,bind=127.0.0.1,reuseaddr "OPEN:$d/out,creat,trunc"
	rcv=$BG_PID
	wait_for "ss -ltn | grep -q ':5042 '" 10 || fail "host listeners"
	# shellcheck disable=SC2086 # opts: words on purpose
	fe_start "$d/p.sock" "$d/fe.$n.log" -L $opts
	fe_exec ping -c 1 -W 5 "$HOST_GW4" > /dev/null || fail "[$opts] ping $HOST_GW4"
	fe_exec timeout 60 socat -u "TCP:$HOST_GW4:5041" "OPEN:$d/in,creat,trunc" ||
		fail "[$opts] host -> guest: socat failed"
	fe_exec timeout 60 socat -u "OPEN:$d/src" "TCP:$HOST_GW4:5042" ||
		fail "[$opts] guest -> host: socat failed"
	wait_for "! kill -0 $rcv" 30 || fail "[$opts] host receiver did not finish"
	cmp "$d/src" "$d/in" || fail "[$opts] host -> guest: data differ"
	cmp "$d/src" "$d/out" || fail "[$opts] guest -> host: data differ"
	bg_stop "$FE_PID" # SIGTERM: the front-end compares the log, then exits
	line=$(grep 'dirty log:' "$d/fe.$n.log")
	log "[$opts] $line"
	echo "$line" | grep -Eq ': [1-9][0-9]* pages seen written, [1-9][0-9]* marked, 0 missing' ||
		fail "[$opts] dirty log: $line"
	kill -0 "$passt_pid" || fail "passt exited: $(tail -n 20 "$d/passt.$n.log")"
	bg_stop "$passt_pid"
done
exit 0
