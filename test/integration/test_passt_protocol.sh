#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# passt's stream protocol without qemu: passt_protocol.py plays the guest on
# the UNIX socket (4-byte big-endian length + Ethernet frame) and asserts:
#   - ARP: a request for the gateway 192.0.2.1 gets a reply from the
#     daemon's MAC (as printed in its start-up summary)
#   - DHCP: a DISCOVER gets an OFFER with yiaddr 192.0.2.2, router
#     192.0.2.1, mask /24 and the MTU option 65520
#   - TCP: a SYN to 192.0.2.1:5010 (a listener on the host's 127.0.0.1)
#     gets a SYN-ACK acknowledging ISN + 1 with an MSS option and valid
#     checksums; after the handshake, bytes sent reach the host listener
#     and are ACKed
#   - a frame of length 0 makes passt close the stream, and with -1 exit 0
#     and remove its socket file
#   - same for a length word of 65550 (over the 65549 maximum), with a
#     second passt -1
#   - a guest that disconnects with a TCP connection open: the host end of
#     that connection is reset at once (passt without -1 keeps running and
#     accepts the next client)
# Uses test/integration/lib.sh (hermetic host); runs in a few seconds.
. "$(dirname "$0")/lib.sh"
need_cmd ip timeout python3
hermetic_host
[ -x "$PASST" ] || fail "no passt binary at $PASST (build first)"
HELPER=$PASST_ROOT/test/integration/passt_protocol.py

d=$(new_tmpdir)

# start_passt NAME: passt -f -1 on $d/NAME.sock; PID in passt_pid.
start_passt() {
	bg_start sh -c "exec '$PASST' -f -1 -s '$d/$1.sock' > '$d/$1.log' 2>&1"
	passt_pid=$BG_PID
	wait_for "[ -S '$d/$1.sock' ]" 10 || fail "passt did not create $1.sock: $(cat "$d/$1.log")"
}

# expect_exit NAME: passt -1 exits 0 once the client is gone, socket removed.
expect_exit() {
	wait_for "! kill -0 $passt_pid" 10 || fail "$1: passt -1 still running after the close"
	wait "$passt_pid"
	check_eq "$?" 0 "$1: passt exit status"
	[ ! -e "$d/$1.sock" ] || fail "$1: socket file left behind"
}

start_passt full
mac=$(sed -n 's/^ *host: \([0-9a-f:]\{17\}\)$/\1/p' "$d/full.log" | head -n 1)
[ -n "$mac" ] || fail "no MAC address in passt's start-up output: $(cat "$d/full.log")"
timeout 60 python3 "$HELPER" "$d/full.sock" full 5010 "$mac" > "$d/full.out" 2>&1
rc=$?
sed 's/^/    /' "$d/full.out" >&2
[ "$rc" = 0 ] || fail "protocol checks failed (status $rc); passt said: $(tail -n 20 "$d/full.log")"
expect_exit full

start_passt badlen
timeout 30 python3 "$HELPER" "$d/badlen.sock" badlen 65550 > "$d/badlen.out" 2>&1
rc=$?
sed 's/^/    /' "$d/badlen.out" >&2
[ "$rc" = 0 ] || fail "oversized length check failed (status $rc): $(tail -n 20 "$d/badlen.log")"
expect_exit badlen

bg_start sh -c "exec '$PASST' -f -s '$d/gone.sock' > '$d/gone.log' 2>&1"
passt_pid=$BG_PID
wait_for "[ -S '$d/gone.sock' ]" 10 || fail "passt did not create gone.sock: $(cat "$d/gone.log")"
timeout 30 python3 "$HELPER" "$d/gone.sock" gone 5011 > "$d/gone.out" 2>&1
rc=$?
sed 's/^/    /' "$d/gone.out" >&2
[ "$rc" = 0 ] || fail "guest-gone check failed (status $rc): $(tail -n 20 "$d/gone.log")"
kill -0 "$passt_pid" || fail "passt exited after the client left (no -1 given)"
bg_stop "$passt_pid"
exit 0
