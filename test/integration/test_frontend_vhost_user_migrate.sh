#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# run.sh timeout: 300
# Live migration between passt --vhost-user instances, without qemu:
# build/frontend (-O -E -M) plays qemu's part, and the "guest" is the
# front-end's network namespace, whose kernel keeps its TCP connections
# while the device moves (SIGUSR1 to the front-end: stop the queues,
# SET_DEVICE_STATE_FD save at the source, load at the target, CHECK on
# both, queues at the target; on a refusal, queues at the source again).
# Every passt that moves flows has its own passt-repair (./passt-repair).
# All instances share the hermetic host's network namespace.
# Failures, passt A (-f, the default: migrated sockets linger) with the
# front-end, B (no helper) as the target:
#   - no helper at the source (A's passt-repair killed): the source refuses
#     (its log says why), the guest stays on A
#   - no helper at the target: A saves its flows, B fails the load, the
#     guest resumes on A, whose flows thaw
#   both times, the connections (IPv4 and IPv6, 24 MiB each way, paced)
#   carry on and complete byte-exact through A.
# MIGRATE_KEEP=DIR keeps the logs of passt and the front-end in DIR.
# Success, passt C (-f) and D (daemonised: -P, -l, and --migrate-exit),
# both --migrate-no-linger (the target re-creates the same 4-tuples here):
#   - two connections, guest -> the gateway (the host's loopback), IPv4 and
#     IPv6, each carrying 24 MiB both ways at once, paced: the device moves
#     from C to D in the middle; both complete byte-exact (SHA-256 of each
#     direction) on the same connections with no error at either end; C
#     saved and D loaded both flows
#   - queued data: a host peer that stops reading, the device moves back
#     from D to C, the peer resumes and gets every byte (D's dump held
#     queued data, C restored it); then D exits (--migrate-exit) and its
#     socket, repair socket and PID files are gone
#   - passt-repair is let go after each migration: a new one per migration
#   - no RST on the host's loopback all along (tcpdump), Tcp OutRsts
#     unchanged; every passt still runs; C, which saved once and loaded
#     once, ran under the allocation guard and allocated nothing once
#     sandboxed.
. "$(dirname "$0")/lib.sh"
need_cmd ip timeout nsenter python3 ss tcpdump
hermetic_host
. "$(dirname "$0")/frontend_lib.sh"
[ -x "$PASST" ] || fail "no passt binary at $PASST (build first)"
[ -x "$FRONTEND" ] || fail "no front-end at $FRONTEND (make perf-tools)"
HELPER=$PASST_ROOT/passt-repair
[ -x "$HELPER" ] || fail "no helper at $HELPER (build first)"
PEER=$(dirname "$0")/migrate_peer.py
FE_MODE=vhost-user

d=$(new_tmpdir)
# MIGRATE_KEEP=DIR: the logs stay in DIR.
[ -n "${MIGRATE_KEEP:-}" ] && on_cleanup "mkdir -p '$MIGRATE_KEEP' && cp -r '$d'/*.log '$d'/*.pcap '$MIGRATE_KEEP'/"
out_rsts() { awk '/^Tcp:/ { if (h) { for (i = 1; i <= NF; i++) if (n[i] == "OutRsts") print $i } else { split($0, n); h = 1 } }' /proc/net/snmp; }

so=$d/alloc_guard.so
cc -shared -fPIC -O2 -Wall -o "$so" "$PASST_ROOT/test/alloc_guard/alloc_guard.c" -ldl ||
	fail "can't build the allocation guard"

# passt_fg NAME OPTION...: passt -f in the background, log NAME.log; with
# GUARD=1, under the allocation guard (test/alloc_guard: no heap once
# sandboxed, or the process ends with status 99 and says where).
passt_fg() {
	local name=$1 pre=""
	shift
	[ -n "${GUARD:-}" ] && pre="ALLOC_GUARD_NOTE=1 LD_PRELOAD='$so'"
	bg_start sh -c "$pre exec '$PASST' --vhost-user -f -d -m 65520 -s '$d/$name.sock' $* > '$d/$name.log' 2>&1"
	eval "passt_$name=\$BG_PID"
}
# helper NAME: a passt-repair for passt NAME (PID in helper_NAME). passt
# closes the connection once a migration no longer needs it, and the helper
# exits: each migration gets its own, as KubeVirt runs them.
helper() {
	local n
	n=$(grep -c 'passt-repair connected' "$d/$1.log")
	bg_start "$HELPER" "$d/$1.sock.repair"
	eval "helper_$1=\$BG_PID"
	wait_for "[ \$(grep -c 'passt-repair connected' '$d/$1.log') -gt $n ]" 10 ||
		fail "$1: helper did not connect"
}
sockets_up() {
	local n
	for n in "$@"; do
		wait_for "[ -S '$d/$n.sock' ] && [ -S '$d/$n.sock.repair' ]" 10 ||
			fail "$n: no vhost-user or repair socket: $(ls "$d")"
	done
}

# peers NAME ADDR GUEST_DST PORT BYTES RATE [GATE]: host server, guest client.
peers() {
	local name=$1 addr=$2 dst=$3 port=$4 bytes=$5 rate=$6 gate=${7:-}
	bg_start python3 "$PEER" serve "$addr" "$port" "$bytes" "$rate" "$d/$name.ready" ${gate:+"$gate"} \
		> "$d/$name.srv" 2> "$d/$name.srv.err"
	eval "${name}_srv=\$BG_PID"
	wait_for "[ -e '$d/$name.ready' ]" 10 || fail "$name: server did not start"
	bg_start nsenter -t "$FE_PID" -n -- python3 "$PEER" connect "$dst" "$port" "$bytes" "$rate" \
		> "$d/$name.cli" 2> "$d/$name.cli.err"
	eval "${name}_cli=\$BG_PID"
}

# check_peers NAME BYTES: both ends done, each direction byte-exact.
check_peers() {
	local name=$1 bytes=$2 srv cli
	srv=$(eval echo "\$${name}_srv")
	cli=$(eval echo "\$${name}_cli")
	wait_for "! kill -0 $srv 2> /dev/null && ! kill -0 $cli 2> /dev/null" 120 ||
		fail "$name: transfers did not finish: $(cat "$d/$name.srv" "$d/$name.cli")"
	wait "$srv" || fail "$name: server: $(cat "$d/$name.srv.err")"
	wait "$cli" || fail "$name: client: $(cat "$d/$name.cli.err")"
	read -r _ s_sent s_ssha _ s_recv s_rsha < "$d/$name.srv"
	read -r _ c_sent c_ssha _ c_recv c_rsha < "$d/$name.cli"
	check_eq "$s_sent $c_recv $c_sent $s_recv" "$bytes $bytes $bytes $bytes" "$name: byte counts"
	check_eq "$c_rsha" "$s_ssha" "$name: host -> guest SHA-256"
	check_eq "$s_rsha" "$c_ssha" "$name: guest -> host SHA-256"
}

# migrate N LOG: SIGUSR1 to the front-end, wait for its Nth report.
migrate() {
	kill -USR1 "$FE_PID"
	wait_for "[ \$(grep -c 'frontend: migration' '$1') -ge $2 ]" 30 ||
		fail "the front-end did not report migration $2: $(tail -n 5 "$1")"
	grep 'frontend: migration' "$1" | tail -n 1 | sed 's/^/  /' >&2
}

# Every TCP header on lo (what led to a reset shows in the capture, which
# MIGRATE_KEEP keeps); the RSTs are counted at the end, IPv4 or IPv6
# (tcp[] reads IPv4 only; ip6[53]: the flags, behind a 40-byte header).
bg_start tcpdump -i lo -n -U --immediate-mode -s 128 -w "$d/lo.pcap" tcp
tcpd=$BG_PID
rsts0=$(out_rsts)
bytes=$((24 << 20))
rate=$((8 << 20))

# ---- failures: A (source, lingering) and B (target without a helper)
passt_fg a
passt_fg b
sockets_up a b
helper a
fe_start "$d/a.sock" "$d/fe1.log" -O -E -M "$d/b.sock"
wait_for "grep -q 'guest device ready' '$d/a.log'" 10 || fail "A did not take the front-end"
peers f4 127.0.0.1 "$HOST_GW4" 5041 "$bytes" "$rate"
peers f6 ::1 "$HOST_GW6" 5042 "$bytes" "$rate"
wait_for "[ \$(ss -tnH state established '( sport = :5041 or sport = :5042 )' | wc -l) -eq 2 ]" 10 ||
	fail "the transfers did not start: $(ss -tn)"

kill "$helper_a"
wait "$helper_a" 2> /dev/null
wait_for "grep -q 'passt-repair disconnected' '$d/a.log'" 10 || fail "A did not see its helper go"
migrate "$d/fe1.log" 1
grep -q 'migration failed, running on the source again' "$d/fe1.log" || fail "no helper at the source: the migration did not fail"
grep -q 'no passt-repair is connected' "$d/a.log" || fail "A did not say why it refused: $(grep migration "$d/a.log")"
log "no helper at the source: refused, the guest stays on A"

helper a
migrate "$d/fe1.log" 2
grep -q 'migration failed, running on the source again' <(tail -n 1 "$d/fe1.log") ||
	fail "no helper at the target: the migration did not fail"
grep -q 'state saved: 2 TCP connections' "$d/a.log" || fail "A did not save its flows: $(grep migration "$d/a.log")"
grep -q 'load failed' "$d/b.log" || fail "B did not fail the load: $(grep migration "$d/b.log")"
grep -q 'the guest runs here again: 2 TCP connections resume' "$d/a.log" ||
	fail "A did not thaw its flows: $(grep migration "$d/a.log")"
check_peers f4 "$bytes"
check_peers f6 "$bytes"
log "no helper at the target: B refused, A resumed its flows; 24 MiB each way, IPv4 and IPv6, byte-exact"
bg_stop "$FE_PID"

# ---- success: C (-f) and D (daemonised), both --migrate-no-linger
GUARD=1 passt_fg c --migrate-no-linger
"$PASST" --vhost-user -d -m 65520 -s "$d/d.sock" --migrate-no-linger --migrate-exit -P "$d/d.pid" -l "$d/d.log" ||
	fail "passt D did not start"
passt_d=$(cat "$d/d.pid")
on_cleanup "kill $passt_d 2> /dev/null"
sockets_up c d
helper c
helper d
fe_start "$d/c.sock" "$d/fe2.log" -O -E -M "$d/d.sock"
wait_for "grep -q 'guest device ready' '$d/c.log'" 10 || fail "C did not take the front-end"
peers m4 127.0.0.1 "$HOST_GW4" 5043 "$bytes" "$rate"
peers m6 ::1 "$HOST_GW6" 5044 "$bytes" "$rate"
wait_for "[ \$(ss -tnH state established '( sport = :5043 or sport = :5044 )' | wc -l) -eq 2 ]" 10 ||
	fail "the transfers did not start: $(ss -tn)"
sleep 1
migrate "$d/fe2.log" 1
grep -q 'migration done' "$d/fe2.log" ||
	fail "C -> D failed: $(grep migration "$d/c.log" "$d/d.log")"
grep -q 'state saved: 2 TCP connections' "$d/c.log" || fail "C did not save both flows: $(grep migration "$d/c.log")"
grep -q 'state loaded: 2 TCP connections' "$d/d.log" || fail "D did not load both flows: $(grep migration "$d/d.log")"
check_peers m4 "$bytes"
check_peers m6 "$bytes"
log "C -> D mid-transfer: 24 MiB each way, IPv4 and IPv6, byte-exact on the same connections"

gate=$d/gate
# Paced: unpaced, the host's 64 MiB reach the guest before the migration,
# and a flow the host has closed its side of does not move (it stays
# behind on D).
peers q 127.0.0.1 "$HOST_GW4" 5045 $((64 << 20)) "$rate" "$gate"
wait_for "[ \$(ss -tnH state established '( sport = :5045 )' | wc -l) -eq 1 ]" 10 || fail "queued: no connection"
sleep 2 # the guest fills the host peer's receive queue, then ours
grep -q 'done with passt-repair' "$d/c.log" && grep -q 'done with passt-repair' "$d/d.log" ||
	fail "C and D kept their helpers after the migration"
helper c
helper d
migrate "$d/fe2.log" 2
grep -q 'migration done' <(tail -n 1 "$d/fe2.log") || fail "D -> C failed: $(grep migration "$d/c.log" "$d/d.log")"
grep "migration: TCP flow .* bytes to send" "$d/d.log" | tail -n 1 | sed 's/^/  D: /' >&2
grep -Eq 'migration: TCP flow .*: [1-9][0-9]* bytes to send' "$d/d.log" || fail "queued: D's socket held no queued data"
touch "$gate"
check_peers q $((64 << 20))
# --migrate-exit: D handed its state over, and exits.
wait_for "! kill -0 $passt_d 2> /dev/null" 10 || fail "D (--migrate-exit) did not exit after migrating away"
grep -q 'exiting (--migrate-exit)' "$d/d.log" || fail "D did not say why it exited: $(tail -n 3 "$d/d.log")"
wait_for "[ ! -e '$d/d.sock' ] && [ ! -e '$d/d.sock.repair' ] && [ ! -e '$d/d.pid' ]" 5 ||
	fail "D left its files behind: $(ls "$d" | tr '\n' ' ')"
log "queued data: D -> C with the host peer not reading, every byte delivered after it resumed"

sleep 0.5
bg_stop "$tcpd"
nrst=$(tcpdump -n -r "$d/lo.pcap" '(ip and tcp[tcpflags] & tcp-rst != 0) or (ip6 and ip6[6] == 6 and ip6[53] & 4 != 0)' 2> /dev/null | wc -l)
check_eq "$nrst" 0 "RST segments on the host's loopback"
check_eq "$(out_rsts)" "$rsts0" "Tcp OutRsts"
for p in "$passt_a" "$passt_b" "$passt_c"; do
	kill -0 "$p" || fail "a passt exited: $(tail -n 5 "$d"/*.log)"
done
grep -q '^alloc-guard: armed' "$d/c.log" || fail "C: the allocation guard was not armed"
! grep -q '^alloc_guard:' "$d/c.log" || fail "C allocated after the sandbox: $(grep -A8 '^alloc_guard:' "$d/c.log")"
log "C saved and loaded flows with no allocation after the sandbox" 
exit 0
