#!/bin/bash
# shellcheck source-path=SCRIPTDIR disable=SC2016
# Live migration of a guest and its TCP connections (issue 15) with two real
# qemu processes: qemu >= 9.1 (VHOST_USER_PROTOCOL_F_DEVICE_STATE; Debian 12
# has 7.2, so guest_lib.sh's qemu_mig_kit unpacks bookworm-backports' qemu 10
# privately into build/qemu10, as real root, and every other test keeps the
# system's), TCG, q35, guest RAM in a shared memfd, passt --vhost-user.
#
#   passt A (-s a.sock, --migrate-no-linger: source and target share one
#   network namespace, so the source must close its migrated sockets for
#   the target to re-create the same 4-tuples) and passt B (-s b.sock), each
#   with its own passt-repair on the default --repair-path (SOCK.repair);
#   qemu A on a.sock boots the test guest (DHCP from passt A), qemu B on
#   b.sock waits with -incoming unix:mig.b.
#
# The guest (guest-lib.sh: mig_transfers, with test/guest/gtcp.c) opens at
# once, to the gateway addresses that passt maps to the host's loopback:
#   - duplex over IPv4 (192.0.2.1:5000) and IPv6 ([2001:db8::1]:5000): it
#     sends 16 MiB and receives 16 MiB on the same connection, the host
#     peer (mig_peer.py) pacing both directions at 1 MiB/s so that the
#     migration falls mid-transfer; the host peer pauses both ways from a
#     second before the migration until it is over (see MIG_LIVE below)
#   - queued data (192.0.2.1:5001): the guest sends 24 MiB (more than the
#     socket buffers hold, so the connection is still established, not
#     half-closed) to a host peer that stops reading after 1 MiB, before
#     the migration, so that the migrated socket has data queued (ss:
#     Send-Q > 0), and resumes after it
#   - echo (192.0.2.1:5002): the host sends 1 MiB and checks the echo before
#     and after each migration; closing it ends the guest
# Asserts:
#   - the guest boots on qemu A, DHCP lease from passt A (guest_check_common)
#   - QMP migrate A -> B completes (query-migrate), while every transfer is
#     under way; qemu B runs the guest, qemu A is in postmigrate
#   - both duplex transfers complete byte-exact both ways (length and MD5 of
#     what each side sent and the other got) over the same connections, the
#     host's sockets never saw an error, the guest's gtcp neither (a reset
#     would say "Connection reset by peer")
#   - the stalled peer gets every byte (length and MD5)
#   - no RST: the namespace's Tcp OutRsts counter does not move, and a
#     capture on lo (the host side of every connection) holds no RST segment
#   - on passt A and B, frames to the guest went through zero copy (read
#     straight into its buffers: no capture runs here), and no write to
#     guest memory fell outside qemu's dirty log
#   - a migration without the helper fails cleanly: passt B's passt-repair
#     has ended with the first migration (it serves one), a passt C with its
#     own helper and a qemu C -incoming wait; QMP migrate B -> C must end
#     "failed", qemu B runs the guest again, and an echo transfer over its
#     connection still works
# Prints the timings qemu reports (total time, downtime, setup time).
#
# Until the daemon speaks the vhost-user migration messages, qemu refuses
# the migration ("vhost-user backend lacks VHOST_USER_PROTOCOL_F_LOG_SHMFD")
# and the test fails with qemu's message and passt's log. Source and target
# share the hermetic host's network namespace: the target can re-create a
# 4-tuple only once the source has closed it (--migrate-no-linger).
#
# Usage: test/integration/test_passt_migrate.sh   (PASST=path/to/passt)
#   GUEST_KEEP_DIR=DIR keeps consoles and logs in DIR (outside /tmp).
#   MIG_LIVE=1: the duplex peers keep sending and reading through the
#   migration (in one network namespace that races with the switch of
#   sockets from source to target: see the comment at the migration).
# Skips unless a qemu >= 9.1 is found (system, or build/qemu10 fetched as
# real root). Runs in about a minute; every wait is bounded.
# Three qemu processes under TCG; slow on a loaded machine:
# run.sh timeout: 600
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/guest_lib.sh"

guest_kit
qemu_mig_kit
need_pkg tcpdump tcpdump
need_cmd ip ss timeout python3
hermetic_host
[ -x "$PASST" ] || fail "no passt binary at $PASST (build first)"
HELPER=${PASST_REPAIR:-$PASST_ROOT/passt-repair}
[ -x "$HELPER" ] || fail "no passt-repair at $HELPER (build first)"
qemu_mig_find ||
	skip "no qemu >= 9.1 (real root fetches bookworm-backports' qemu into $QEMU_MIG_DIR)"
log "qemu: $QEMU_MIG ($("$QEMU_MIG" --version | head -n 1))"

d=$(new_tmpdir)
if [ -n "${GUEST_KEEP_DIR:-}" ]; then
	on_cleanup 'mkdir -p "$GUEST_KEEP_DIR" && cp -r "$d"/. "$GUEST_KEEP_DIR"/'
fi
MIB=16                  # each duplex direction
STALL_MIB=24            # to the peer that stops reading: more than the buffers hold
BYTES=$((MIB << 20))
RATE=$((1 << 20))       # bytes a second, each paced direction
STALL_AT=$((1 << 20))   # the stalled peer stops reading here
MIG_AT=$((3 << 20))     # migrate once every paced direction passed this
ECHO_BYTES=$((1 << 20))
INITIAL_RSTS=0
declare -A passt_pid repair_pid qemu_pid

# tcp_counter NAME: a counter of the namespace's Tcp line in /proc/net/snmp.
tcp_counter() {
	awk -v n="$1" '$1 == "Tcp:" { if (!h) { for (i = 2; i <= NF; i++) c[$i] = i; h = 1 }
		else print $c[n] }' /proc/net/snmp
}

# console: the guest's serial output so far, source then target (a line
# cut by the migration is whole again), without carriage returns.
console() {
	cat "$d/console.a" "$d/console.b" 2>/dev/null | tr -d '\r'
}

# show_logs: the tails of every log, for a failure.
show_logs() {
	local f
	for f in "$d"/qemu.*.err "$d"/passt.*.log "$d"/repair.*.log "$d/peer.log"; do
		[ -s "$f" ] || continue
		log "---- $(basename "$f"):"
		tail -n 40 "$f" | sed 's/^/    /' >&2
	done
	log "---- guest console (last lines):"
	console | grep -v '^$' | tail -n 25 | sed 's/^/    /' >&2
}

# die MSG: fail, after the logs.
die() {
	show_logs
	fail "$*"
}

# passt_start NAME [ARGS...]: passt --vhost-user on $d/NAME.sock, log
# $d/passt.NAME.log, PID in passt_pid[NAME]; then its passt-repair (log
# $d/repair.NAME.log, PID in repair_pid[NAME]) on the default repair path.
passt_start() {
	local n=$1
	shift
	bg_start "$PASST" --vhost-user -d -f -s "$d/$n.sock" "$@" > "$d/passt.$n.log" 2>&1
	passt_pid[$n]=$BG_PID
	wait_for "[ -S '$d/$n.sock' ]" 10 || die "passt $n did not create $d/$n.sock"
	bg_start "$HELPER" "$d/$n.sock.repair" > "$d/repair.$n.log" 2>&1
	repair_pid[$n]=$BG_PID
}

# qemu_start NAME [ARGS...]: qemu on $d/NAME.sock (passt NAME), QMP on
# $d/qmp.NAME, serial console in $d/console.NAME, its own messages in
# $d/qemu.NAME.err, PID in qemu_pid[NAME]. Source and target get the same
# machine; a target adds -incoming.
qemu_start() {
	local n=$1
	shift
	bg_start timeout -k 5 400 "$QEMU_MIG" -machine q35,accel=tcg,memory-backend=mem0 \
		-smp 1 -m 512 -object memory-backend-memfd,id=mem0,share=on,size=512M \
		-chardev socket,id=chr0,path="$d/$n.sock" -netdev vhost-user,id=n0,chardev=chr0 \
		-device virtio-net-pci,netdev=n0,vectors=0,romfile= \
		-kernel "$GUEST_DIR/vmlinuz" -initrd "$GUEST_DIR/initramfs.gz" -append "$APPEND" \
		-display none -audio none -monitor none -serial "file:$d/console.$n" \
		-qmp "unix:$d/qmp.$n,server=on,wait=off" -no-reboot "$@" \
		> "$d/qemu.$n.err" 2>&1 < /dev/null
	qemu_pid[$n]=$BG_PID
	wait_for "[ -S '$d/qmp.$n' ] || ! kill -0 $BG_PID" 30
	[ -S "$d/qmp.$n" ] || die "qemu $n did not start"
}

# qmp NAME ARGS...: qmp.py on qemu NAME's monitor, bounded.
qmp() {
	local n=$1
	shift
	timeout 120 python3 "$PASST_ROOT/test/integration/qmp.py" "$d/qmp.$n" "$@"
}

# echo_check NAME: the host sends ECHO_BYTES over the echo connection and
# checks that the same come back.
echo_check() {
	timeout 10 sh -c "echo 'echo $1 $ECHO_BYTES' > '$d/peer/ctl'" ||
		{ bad "echo $1: the host peer does not read its control FIFO"; return; }
	wait_for "grep -q '^ECHO $1 ' '$d/peer.log'" 60
	local r
	r=$(sed -n "s/^ECHO $1 //p" "$d/peer.log")
	case $r in
	ok*) log "echo $1: $ECHO_BYTES bytes both ways over the guest's echo connection" ;;
	*) bad "echo $1: ${r:-no answer in 60 s}"; return 1 ;;
	esac
}

# progress KEY COLUMN: a byte count from the host peer's status file.
progress() {
	awk -v k="$1" -v c="$2" '$1 == k { print $c }' "$d/peer/status" 2>/dev/null
}

# ---- host side -----------------------------------------------------------
mkdir -p "$d/peer"
mkfifo "$d/peer/ctl"
bg_start python3 "$PASST_ROOT/test/integration/mig_peer.py" "$d/peer" "$BYTES" "$RATE" \
	"$STALL_AT" > "$d/peer.log" 2>&1
wait_for "grep -q READY '$d/peer.log'" 10 || fail "host peer: $(cat "$d/peer.log")"
# Every RST on lo (the host side of all connections), from the start.
bg_start tcpdump -i lo -nn -s 96 -U -Z root -w "$d/lo.pcap" tcp > "$d/tcpdump.log" 2>&1
tcpdump_pid=$BG_PID
wait_for "grep -q 'listening on' '$d/tcpdump.log'" 10 ||
	fail "tcpdump on lo: $(cat "$d/tcpdump.log")"
INITIAL_RSTS=$(tcp_counter OutRsts)

APPEND="console=ttyS0 panic=-1 quiet loglevel=3 guest.cmd=$(printf '%s\n' \
	"mig_transfers $MIB $STALL_MIB" | base64 -w0)"

# ---- boot on A, B waits ----------------------------------------------------
passt_start a --migrate-no-linger
passt_start b
qemu_start a
qemu_start b -incoming "unix:$d/mig.b"
wait_for "console | grep -q '^GUEST-READY mig-transfers' || ! kill -0 ${qemu_pid[a]}" 180 ||
	die "the guest did not start its transfers on qemu A"
console | grep -q '^GUEST-READY mig-transfers' || die "qemu A ended before the transfers"
console > "$d/console.txt"
c=$(cat "$d/console.txt")
guest_check_common "$d/console.txt"
[ "$nbad" = 0 ] || die "the guest's network on qemu A is not right"
log "guest up on qemu A after $SECONDS s: $(echo "$c" | grep '^GUEST-DHCP' | head -n 1)"
wait_for "grep -q '^ECHO-ACCEPT' '$d/peer.log'" 30 || die "no echo connection from the guest"
echo_check before

# ---- migrate A -> B mid-transfer -------------------------------------------
wait_for "grep -q '^STALLED' '$d/peer.log'" 60 || die "the stalling peer never got $STALL_AT bytes"
# shellcheck disable=SC2317 # called through wait_for
mid() {
	local k v
	for k in duplex4 duplex6; do
		for v in 2 3; do
			[ "$(progress "$k" "$v")" -ge "$MIG_AT" ] 2>/dev/null || return 1
		done
	done
}
wait_for mid 120 || die "the duplex transfers did not pass $MIG_AT bytes: $(cat "$d/peer/status")"
at_start=$(tr '\n' ' ' < "$d/peer/status")
# State Recv-Q Send-Q ...: passt's socket (to port 5001), the peer's (from it).
queued=$(ss -tnH '( dport = :5001 )' | awk '{ print $1, $3; exit }')
peer_q=$(ss -tnH '( sport = :5001 )' | awk '{ print $1, $2; exit }')
log "at migration: $at_start; stalled connection: passt's socket ${queued:-?} queued," \
	"the peer's ${peer_q:-?} unread"
case $queued in
ESTAB\ [1-9]*) ;;
*) bad "no data queued on the stalled connection's established socket (${queued:-none})" ;;
esac
for k in duplex4 duplex6; do
	for v in 2 3; do
		[ "$(progress $k $v)" -lt "$BYTES" ] || bad "$k ended before the migration: $at_start"
	done
done

st=$(qmp b wait-status inmigrate 30) || die "qemu B is not waiting for the migration: $st"
# Source and target share one network namespace: a segment from a host peer
# that arrives after the source closed its socket and before the target
# restored it finds no socket, and the kernel answers RST (across hosts the
# source's socket would linger in repair mode). passt closes each
# connection's receive window and waits for what is in flight before it
# saves the socket (src/migrate/migrate.cpp), which made 4 runs with live
# traffic pass on a quiet machine, but the kernel still offers about 1 KB
# of window out of an empty receive queue, and on a loaded machine (the
# fresh-clone check) a paced peer's segment hit the gap. So the duplex
# peers pause, both ways, from a second before the migration until it is
# over (their data stays queued and migrates); MIG_LIVE=1 keeps them going.
if [ "${MIG_LIVE:-0}" != 1 ]; then
	: > "$d/peer/quiet"
	sleep 1
fi
rst0=$(tcp_counter OutRsts)
t0=$(date +%s.%N)
mig=$(qmp a migrate "unix:$d/mig.b" 120)
mrc=$?
log "A -> B: the migrate command and query-migrate polling took" \
	"$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s"
log "A -> B: $mig"
if [ $mrc -ne 0 ]; then
	grep -h -i -E 'migrat|vhost|LOG_SHMFD|device.state' "$d/qemu.a.err" "$d/qemu.b.err" |
		sed 's/^/    qemu: /' >&2
	die "migration A -> B did not complete: $mig"
fi
log "timings A -> B: total $(echo "$mig" | sed -n 's/.*total_ms=\([^ ]*\).*/\1/p') ms," \
	"downtime $(echo "$mig" | sed -n 's/.*downtime_ms=\([^ ]*\).*/\1/p') ms," \
	"setup $(echo "$mig" | sed -n 's/.*setup_ms=\([^ ]*\).*/\1/p') ms"
log "after migration: $(tr '\n' ' ' < "$d/peer/status")"
grep -h 'migration: state' "$d/passt.a.log" "$d/passt.b.log" | sed 's/^/    passt: /' >&2
rm -f "$d/peer/quiet"
st=$(qmp b wait-status running 30) || bad "qemu B is not running the guest: $st"
st=$(qmp a cmd query-status)
case $st in *postmigrate*) ;; *) bad "qemu A after the migration: $st" ;; esac
qmp a cmd quit > /dev/null
wait_for "! kill -0 ${qemu_pid[a]}" 20 || bad "qemu A did not quit"
: > "$d/peer/resume"

echo_alive=1
echo_check after-migration || echo_alive=0

# ---- every byte, both ways ---------------------------------------------------
wait_for "console | grep -q '^GUEST-RESULT mig-stall '" 240 ||
	bad "the guest's transfers did not end: $(console | grep '^GUEST-' | tail -n 3 | tr '\n' ' ')"
console > "$d/console.txt"
c=$(cat "$d/console.txt")
for f in 4 6; do
	expect_result "$d/console.txt" "mig-duplex-$f"
	sent=$(echo "$c" | sed -n "s/^GUEST-MIG-SENT $f //p")
	got=$(echo "$c" | sed -n "s/^GUEST-MIG-GOT $f //p")
	peer=$(sed -n "s/^DUPLEX $f //p" "$d/peer.log")
	# peer: rx BYTES MD5 tx BYTES MD5 err ERROR
	# shellcheck disable=SC2086 # split into fields
	set -- $peer
	expect_eq "${2:-} ${3:-}" "$sent" "IPv$f guest -> host (host got vs guest sent)"
	expect_eq "${5:-} ${6:-}" "$got" "IPv$f host -> guest (host sent vs guest got)"
	expect_eq "${5:-}" "$BYTES" "IPv$f host -> guest size"
	expect_eq "${2:-}" "$BYTES" "IPv$f guest -> host size"
	expect_eq "${*:8}" none "IPv$f host socket errors"
	log "IPv$f duplex: guest sent $sent, got $got; host: $peer"
done
expect_result "$d/console.txt" mig-stall
wait_for "grep -q '^STALL ' '$d/peer.log'" 30
sent=$(echo "$c" | sed -n 's/^GUEST-MIG-SENT s //p')
# shellcheck disable=SC2046 # split into fields
set -- $(sed -n 's/^STALL 4 //p' "$d/peer.log")
expect_eq "${2:-} ${3:-}" "$sent" "queued data: the stalled peer got vs the guest sent"
expect_eq "${*:5}" none "stalled peer socket errors"
log "queued data: guest sent $sent, stalled peer got ${2:-?} ${3:-?}"
rsts=$(( $(tcp_counter OutRsts) - rst0 ))
expect_eq "$rsts" 0 "Tcp OutRsts during and after the migration"

# ---- a migration without the helper fails cleanly ----------------------------
# It needs a connection to move (with none, no helper is needed and the
# migration rightly completes): the echo connection, if it survived.
if [ "$echo_alive" = 1 ]; then
	# passt-repair serves one connection: B's should have ended with the first
	# migration (passt closes it when the migration is over). If it did not, it
	# is stopped here, so that passt B surely has no helper.
	if ! wait_for "! kill -0 ${repair_pid[b]}" 10; then
		log "note: passt B's passt-repair still runs after the migration: stopping it"
		bg_stop "${repair_pid[b]}"
	fi
	log "passt-repair for B: $(tr '\n' ' ' < "$d/repair.b.log")"
	passt_start c
	qemu_start c -incoming "unix:$d/mig.c"
	st=$(qmp c wait-status inmigrate 30) || bad "qemu C is not waiting for the migration: $st"
	mig=$(qmp b migrate "unix:$d/mig.c" 120)
	mrc=$?
	log "B -> C without passt-repair on B: $mig"
	grep -h -i -E 'migrat|vhost|repair|device.state' "$d/qemu.b.err" "$d/qemu.c.err" |
		sed 's/^/    qemu: /' >&2
	case $mrc:$mig in
	1:"MIGRATE failed "*) ;;
	*) bad "migration without the helper: want it failed, got: $mig" ;;
	esac
	st=$(qmp b wait-status running 30) || bad "qemu B does not run the guest again: $st"
	kill -0 "${passt_pid[b]}" 2>/dev/null || bad "passt B exited after the failed migration"
	echo_check after-failed-migration
	wait_for "! kill -0 ${qemu_pid[c]}" 20 || qmp c cmd quit > /dev/null
else
	bad "no live connection left: the migration without the helper was not tried"
	qmp b cmd quit > /dev/null
fi

# ---- the end: the guest powers off on B ---------------------------------------
timeout 10 sh -c "echo close > '$d/peer/ctl'"
wait_for "! kill -0 ${qemu_pid[b]}" 60 || bad "the guest did not power off on qemu B"
console > "$d/console.txt"
c=$(cat "$d/console.txt")
if [ "$echo_alive" = 1 ]; then
	expect_result "$d/console.txt" mig-echo
	echo "$c" | grep -q '^GUEST-DONE' || bad "the guest did not finish"
fi
rsts=$(( $(tcp_counter OutRsts) - INITIAL_RSTS ))
expect_eq "$rsts" 0 "Tcp OutRsts over the whole test"
sleep 0.5
bg_stop "$tcpdump_pid"
n_rst=$(tcpdump -r "$d/lo.pcap" -nn 2>/dev/null | grep -c 'Flags \[[^]]*R')
n_all=$(tcpdump -r "$d/lo.pcap" -nn 2>/dev/null | wc -l)
log "capture on lo: $n_all TCP segments, $n_rst with RST"
[ "$n_all" -gt 0 ] || bad "the capture on lo is empty"
expect_eq "$n_rst" 0 "RST segments on lo"

# No capture runs here, so frames to the guest were read from the host
# sockets straight into its buffers (zero copy), logged dirty for qemu.
for n in a b; do
	line=$(grep 'front-end gone' "$d/passt.$n.log" | tail -n 1)
	k=$(echo "$line" | sed -n 's/.*frames to it: \([0-9]*\) read in place.*/\1/p')
	log "passt $n: ${k:-no} frames to the guest read in place"
	[ "${k:-0}" -gt 0 ] || bad "passt $n: no frame read into guest buffers: ${line:-no report}"
	! grep -q 'past the end of the dirty log' "$d/passt.$n.log" ||
		bad "passt $n: $(grep 'past the end of the dirty log' "$d/passt.$n.log")"
done

if [ "$nbad" -gt 0 ]; then
	die "$nbad check(s) failed"
fi
exit 0
