#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# TCP connection repair, the base of live migration (issue 15), on live
# sockets and without a guest: build/repair_driver (repair_driver.cpp)
# plays the daemon's side with src/migrate/repair.cpp and tcp_state.cpp,
# and ./passt-repair (then Debian's /usr/bin/passt-repair, where the
# installed passt package has one) sets TCP_REPAIR for it. uid 0 of the
# hermetic host's user namespace has CAP_NET_ADMIN in its network
# namespace, which is all TCP_REPAIR needs.
#   - migrate, IPv4 and IPv6: a loopback connection with data both ways;
#     the server stops reading so the client's send queue holds unsent
#     data, and data waits unread in its receive queue; the client socket
#     is dumped in repair mode, closed without FIN or RST, restored into a
#     new socket; every byte arrives once and in order both ways, more
#     data flows, both ends close with FINs, Tcp OutRsts stays 0 and a
#     packet capture on lo sees no RST (and sees a control one). The
#     helper is started before the daemon's socket exists (it must wait
#     for it) and exits 0 when the driver closes the connection.
#   - the same with PATH a directory (the helper picks the *.repair socket)
#   - protocol errors: a bad command byte, a command without sockets, a
#     socket TCP_REPAIR refuses: the helper says why in one line, exits 1,
#     the driver sees the connection closed; a helper killed mid-session:
#     the driver's command fails cleanly; no helper at all: the accept
#     times out cleanly
#   - the serving helper keeps CAP_NET_ADMIN only (bounding set too), has
#     no_new_privs and a seccomp filter
#   - passt-repair --help, --version, usage errors (one line, exit 1)
. "$(dirname "$0")/lib.sh"
need_cmd ip timeout
hermetic_host

DRIVER=$PASST_ROOT/build/repair_driver
HELPER=$PASST_ROOT/passt-repair
[ -x "$HELPER" ] || fail "no helper at $HELPER (build first)"
[ -x "$DRIVER" ] || fail "no driver at $DRIVER (make build/repair_driver)"
d=$(new_tmpdir)

# migrate HELPER FAMILY PATH_FOR_HELPER [SOCKET]
migrate() {
	local helper=$1 fam=$2 hpath=$3 sock=${4:-$d/r.sock} label="$(basename "$1") IPv$2" hpid rc
	rm -f "$sock"
	"$helper" "$hpath" > "$d/helper.out" 2> "$d/helper.err" &
	hpid=$!
	sleep 0.2
	kill -0 "$hpid" 2>/dev/null || fail "$label: helper exited early: $(cat "$d/helper.err")"
	timeout 60 "$DRIVER" migrate "$fam" "$sock" > "$d/drv.out" 2> "$d/drv.err"
	rc=$?
	sed "s/^/[$label] /" "$d/drv.out" >&2
	[ $rc -eq 0 ] || fail "$label: driver: $(cat "$d/drv.err")"
	timeout 10 tail --pid="$hpid" -f /dev/null
	wait "$hpid"
	rc=$?
	check_eq "$rc" 0 "$label: helper exit status after the driver closed ($(cat "$d/helper.err"))"
	grep -q '^resets: OutRsts 0 ' "$d/drv.out" || fail "$label: RSTs were sent"
	grep -q '^capture: RST segments 0 during' "$d/drv.out" || fail "$label: RSTs were captured"
	grep -q '^before: .* notsent [1-9]' "$d/drv.out" || fail "$label: no unsent data at dump"
	log "$label: migrated, every byte once and in order, no RST"
}

migrate "$HELPER" 4 "$d/r.sock"
migrate "$HELPER" 6 "$d/r.sock"
mkdir "$d/dir"
migrate "$HELPER" 4 "$d/dir" "$d/dir/vu.socket.repair"

if [ -x /usr/bin/passt-repair ]; then
	migrate /usr/bin/passt-repair 4 "$d/r.sock"
	migrate /usr/bin/passt-repair 6 "$d/r.sock"
else
	log "no /usr/bin/passt-repair (Debian's passt $(dpkg-query -W -f '${Version}' passt 2>/dev/null || echo 'not installed') has none): ours only"
fi

# proto CASE EXPECTED_HELPER_STATUS MESSAGE_PATTERN
proto() {
	local c=$1 want=$2 pat=$3 hpid rc
	rm -f "$d/r.sock"
	"$HELPER" "$d/r.sock" 2> "$d/helper.err" &
	hpid=$!
	timeout 30 "$DRIVER" proto "$c" "$d/r.sock" > "$d/drv.out" 2> "$d/drv.err" ||
		fail "proto $c: driver: $(cat "$d/drv.out" "$d/drv.err")"
	wait "$hpid"
	rc=$?
	check_eq "$rc" "$want" "proto $c: helper exit status ($(cat "$d/helper.err"))"
	if [ -n "$pat" ]; then
		grep -q "$pat" "$d/helper.err" || fail "proto $c: helper said: $(cat "$d/helper.err")"
		check_eq "$(wc -l < "$d/helper.err")" 1 "proto $c: lines on the helper's stderr"
	fi
	log "proto $c: driver: $(cat "$d/drv.out"); helper: status $rc${pat:+, $(cat "$d/helper.err")}"
}

proto bad-cmd 1 'unknown command 5'
proto no-fds 1 'without sockets'
proto bad-socket 1 'setting TCP_REPAIR'
proto close 0 ''

rm -f "$d/r.sock" "$d/go"
"$HELPER" "$d/r.sock" 2> "$d/helper.err" &
hpid=$!
timeout 30 "$DRIVER" proto gone "$d/r.sock" "$d/go" > "$d/drv.out" 2> "$d/drv.err" &
dpid=$!
wait_for "[ -S '$d/r.sock' ]" 10 || fail "gone: no socket"
sleep 0.5
# Connected and serving: CAP_NET_ADMIN (bit 12) only, bounding set too,
# no_new_privs and its seccomp filter.
st=/proc/$hpid/status
for f in CapEff CapPrm CapBnd; do
	check_eq "$(awk -v f="$f:" '$1 == f { print $2 }' "$st")" 0000000000001000 "helper $f"
done
check_eq "$(awk '$1 == "CapInh:" { print $2 }' "$st")" 0000000000000000 "helper CapInh"
check_eq "$(awk '$1 == "NoNewPrivs:" { print $2 }' "$st")" 1 "helper NoNewPrivs"
check_eq "$(awk '$1 == "Seccomp:" { print $2 }' "$st")" 2 "helper Seccomp"
log "helper confined: $(grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' "$st" | tr -s '\t\n' '  ')"
kill -KILL "$hpid"
wait "$hpid" 2>/dev/null
touch "$d/go"
wait "$dpid" || fail "gone: driver: $(cat "$d/drv.out" "$d/drv.err")"
log "proto gone: driver: $(cat "$d/drv.out")"

rm -f "$d/r.sock"
timeout 30 "$DRIVER" proto no-helper "$d/r.sock" > "$d/drv.out" 2> "$d/drv.err" ||
	fail "no-helper: driver: $(cat "$d/drv.out" "$d/drv.err")"
log "proto no-helper: driver: $(cat "$d/drv.out")"

# Command line.
"$HELPER" --help | grep -q '^Usage: passt-repair PATH' || fail "--help"
"$HELPER" --version | grep -q '^passt-repair ' || fail "--version"
for args in "" "-x" "a b"; do
	# shellcheck disable=SC2086 # split on purpose
	"$HELPER" $args > "$d/out" 2> "$d/err" && fail "passt-repair $args: exit status 0"
	rc=$?
	check_eq "$rc" 1 "passt-repair $args: exit status"
	check_eq "$(wc -l < "$d/err")" 1 "passt-repair $args: lines on stderr"
done
"$HELPER" "$d/no/such/dir/x" 2> "$d/err" && fail "a missing directory: exit status 0"
check_eq "$(wc -l < "$d/err")" 1 "a missing directory: lines on stderr"
log "command line: $(cat "$d/err")"
exit 0
