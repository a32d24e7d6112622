#!/bin/bash
# shellcheck source-path=SCRIPTDIR disable=SC2016
# The sandbox, as seen from /proc/PID of the running daemon, in every mode:
# passt (stream back-end), passt --vhost-user, pasta spawning a command,
# pasta joining a namespace by PID and by --netns; each one daemonised
# (the default, except for pasta spawning a command, which stays in the
# foreground: there, without -f) and with -f; each one started by root
# (uid 0 of the hermetic host, where nobody is mapped) and by the
# unprivileged user passt-test. On the daemon, /proc/PID/status must show:
#   Seccomp 2, NoNewPrivs 1, CapEff/CapPrm/CapInh/CapAmb all zero;
#   Uid and Gid 65534 (all four fields) when started by root, the user's own
#   ids when started by the user; Groups empty;
# and its mount and user namespaces differ from the test's, /proc/PID/root/
# is empty, and (passt modes, not dumpable) /proc/PID/status belongs to
# root although the daemon's Uid is not 0. The other processes of the
# daemon (pasta's namespace socket helper, found in the target namespace,
# and the clean-up process that removes the socket and PID file at exit)
# must show Seccomp 2, NoNewPrivs 1 and no capabilities.
# Then the daemon must still work: passt accepts a guest on its stream
# socket whose TCP handshake reaches a host listener (passt_protocol.py
# gone), passt --vhost-user answers VHOST_USER_GET_FEATURES, pasta moves a
# 1 MiB file from the namespace to a host listener (tap path, to the
# gateway) and from the host's loopback into the namespace (spliced, which
# asks the socket helper for a socket), both checked with cmp. Last, the
# daemon must exit on SIGTERM within 5 s, daemonised too (issue 11), leaving
# no process, PID file or socket behind.
# --runas: root with --runas 1234:1234 and --runas nobody gives that Uid and
# Gid; --runas no-such-user exits 1 with one line naming --runas.
# Failures are collected and listed at the end, each naming the mode, who
# started the daemon and the field.
. "$(dirname "$0")/lib.sh"

need_pkg socat socat
need_cmd ip ss unshare nsenter timeout python3 cmp head stat setpriv pgrep readlink
hermetic_host
[ -x "$PASST" ] || fail "no passt binary at $PASST (build first)"
[ -x "$PASTA" ] || fail "no pasta binary at $PASTA (build first)"
HELPER=$PASST_ROOT/test/integration/passt_protocol.py

d=$(new_tmpdir)
chmod 755 "$d"
head -c $((1 << 20)) /dev/urandom > "$d/data" || fail "can't create the data file"
chmod 644 "$d/data"

SELF_MNT=$(readlink /proc/$$/ns/mnt)
SELF_USER=$(readlink /proc/$$/ns/user)
COMM_PASST=$(basename "$PASST")
COMM_PASTA=$(basename "$PASTA")
ZERO_CAPS=0000000000000000
NOBODY_UID=$(id -u nobody 2>/dev/null || echo 65534)
NOBODY_GID=$(id -g nobody 2>/dev/null || echo 65534)
port=20000
case_no=0
ERRORS=()

# A private /run/netns for `ip netns add` (only our mount namespace).
if [ -d /run/netns ]; then
	check mount -t tmpfs -o mode=755 tmpfs /run/netns
else
	check mount -t tmpfs -o mode=755 tmpfs /run
	check mkdir /run/netns
fi

# uid_mapped UID: true if UID is mapped in our user namespace.
uid_mapped() {
	awk -v u="$1" '$1 <= u && u < $1 + $3 { found = 1 } END { exit !found }' \
		/proc/self/uid_map
}

# The unprivileged starter, as a command prefix usable with bg_start (which
# cannot run shell functions such as as_unprivileged): same switch.
USER_CMD=()
if [ "$(id -u)" = 0 ] && can_unprivileged; then
	_uid=$(id -u "$PASST_TEST_USER")
	_gid=$(id -g "$PASST_TEST_USER")
	_home=$(getent passwd "$PASST_TEST_USER" | cut -d: -f6)
	[ -d "$_home" ] || _home=/tmp
	USER_CMD=(env HOME="$_home" USER="$PASST_TEST_USER" LOGNAME="$PASST_TEST_USER"
		  setpriv --reuid="$_uid" --regid="$_gid" --clear-groups --)
	USER_UID=$_uid
	USER_GID=$_gid
	u=$(new_unpriv_tmpdir)
fi

# bad MSG: records a failed check (the test fails at the end, listing all).
bad() {
	echo "FAIL: $TEST_NAME: $*" >&2
	ERRORS+=("$*")
}

alive() { # PID: exists and is not a zombie
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)
	[ -n "$st" ] && [ "$st" != Z ]
}

# field PID NAME: the fields of the line "NAME:" of /proc/PID/status,
# separated by single spaces ("" for an empty line, "(no NAME line)" if
# absent, "(unreadable)" if the file can't be read).
field() {
	[ -r "/proc/$1/status" ] || { echo "(unreadable)"; return; }
	awk -v f="$2:" '$1 == f { $1 = ""; sub(/^ +/, ""); print; found = 1; exit }
			END { if (!found) print "(no " substr(f, 1, length(f) - 1) " line)" }' \
		"/proc/$1/status" 2>/dev/null
}

# expect_field PID WHAT NAME WANT: checks a /proc/PID/status field.
expect_field() {
	local got
	got=$(field "$1" "$3")
	[ "$got" = "$4" ] ||
		bad "$CTX: $2 (PID $1): $3: expected '$4', got '$got'"
}

# Seccomp 2, NoNewPrivs 1, no capabilities: any process of ours.
confined() { # PID WHAT
	local f
	expect_field "$1" "$2" Seccomp 2
	expect_field "$1" "$2" NoNewPrivs 1
	for f in CapEff CapPrm CapInh CapAmb; do
		expect_field "$1" "$2" "$f" "$ZERO_CAPS"
	done
}

# daemon_checks PID UID GID PASST_MODE(1/0): everything on the daemon.
daemon_checks() {
	local pid=$1 uid=$2 gid=$3 passt_mode=$4 v
	confined "$pid" daemon
	expect_field "$pid" daemon Uid "$uid $uid $uid $uid"
	expect_field "$pid" daemon Gid "$gid $gid $gid $gid"
	expect_field "$pid" daemon Groups ""
	v=$(readlink "/proc/$pid/ns/mnt" 2>&1)
	if [ -z "$v" ] || [ "$v" = "$SELF_MNT" ]; then
		bad "$CTX: daemon (PID $pid): mount namespace: '$v', the test's is '$SELF_MNT'"
	fi
	v=$(readlink "/proc/$pid/ns/user" 2>&1)
	if [ -z "$v" ] || [ "$v" = "$SELF_USER" ]; then
		bad "$CTX: daemon (PID $pid): user namespace: '$v', the test's is '$SELF_USER'"
	fi
	if ! v=$(ls -A "/proc/$pid/root/" 2>&1); then
		bad "$CTX: daemon (PID $pid): /proc/PID/root/ can't be listed: $v"
	elif [ -n "$v" ]; then
		bad "$CTX: daemon (PID $pid): /proc/PID/root/ is not empty: $(echo "$v" | head -n 5 | tr '\n' ' ')"
	fi
	if [ "$passt_mode" = 1 ]; then
		v=$(stat -c %u "/proc/$pid/status" 2>&1)
		[ "$v" = 0 ] ||
			bad "$CTX: daemon (PID $pid): owner of /proc/PID/status (not dumpable): expected 0, got '$v'"
		v=$(field "$pid" Uid)
		[ "${v%% *}" != 0 ] ||
			bad "$CTX: daemon (PID $pid): Uid is 0 ('$v'): the not-dumpable check proves nothing"
	fi
}

# our_procs DAEMON_PID: PIDs of every other process with our binaries' names.
our_procs() {
	local p c
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[ "$p" = "$1" ] && continue
		c=$(cat "/proc/$p/comm" 2>/dev/null) || continue
		{ [ "$c" = "$COMM_PASST" ] || [ "$c" = "$COMM_PASTA" ]; } || continue
		alive "$p" && echo "$p"
	done
}

# helper_checks DAEMON_PID TARGET_NETNS: the other processes of the daemon:
# the socket helper (pasta: exactly one, in TARGET_NETNS) and clean-up
# processes.
helper_checks() {
	local dpid=$1 tns=$2 p ns helpers=0 ppid
	for p in $(our_procs "$dpid"); do
		ns=$(readlink "/proc/$p/ns/net" 2>/dev/null)
		ppid=$(awk '$1 == "PPid:" { print $2 }' "/proc/$p/status" 2>/dev/null)
		if [ -n "$tns" ] && [ "$ns" = "$tns" ]; then
			helpers=$((helpers + 1))
			# shellcheck disable=SC2012 # a listing for the log
			log "$CTX: socket helper PID $p (parent $ppid, daemon $dpid): Uid $(field "$p" Uid), Seccomp $(field "$p" Seccomp), root: '$(ls -A "/proc/$p/root/" 2>&1 | head -n 3 | tr '\n' ' ')'"
			confined "$p" "socket helper"
		else
			# shellcheck disable=SC2012 # a count for the log
			log "$CTX: clean-up process PID $p (parent $ppid): Uid $(field "$p" Uid), Seccomp $(field "$p" Seccomp), $(ls -A "/proc/$p/root/" 2>/dev/null | wc -l) entries in its root"
			confined "$p" "clean-up process"
		fi
	done
	if [ -n "$tns" ] && [ "$helpers" != 1 ]; then
		bad "$CTX: $helpers socket helpers found in the target namespace, expected 1"
	fi
}

# helper_ready DAEMON_PID TARGET_NETNS: a process of ours in the target
# namespace has its seccomp filter. (Called through wait_for.)
# shellcheck disable=SC2317
helper_ready() {
	local p
	for p in $(our_procs "$1"); do
		[ "$(readlink "/proc/$p/ns/net")" = "$2" ] &&
			[ "$(field "$p" Seccomp)" = 2 ] && return 0
	done
	return 1
}

# no_leftovers: none of our processes may be running; kills stragglers.
no_leftovers() {
	local left
	wait_for '[ -z "$(our_procs 0)" ]' 5
	left=$(our_procs 0)
	if [ -n "$left" ]; then
		local p desc=""
		for p in $left; do
			desc+=" $p (parent $(awk '$1 == "PPid:" { print $2 }' "/proc/$p/status" 2>/dev/null))"
		done
		bad "$CTX: processes left 5 s after the daemon exited:$desc"
		# shellcheck disable=SC2086 # a list of PIDs
		kill -KILL $left 2>/dev/null
	fi
}

# ---- what works -----------------------------------------------------------

# check_passt_works SOCK: a guest's TCP handshake reaches a host listener,
# through the stream socket.
check_passt_works() {
	port=$((port + 1))
	if ! timeout 30 python3 "$HELPER" "$1" gone "$port" > "$d/proto.out" 2>&1; then
		bad "$CTX: passt no longer works after the checks: $(tr '\n' ' ' < "$d/proto.out")"
	fi
}

# check_vu_works SOCK: VHOST_USER_GET_FEATURES gets a reply (version 1,
# reply flag, 8 bytes) offering VIRTIO_F_VERSION_1.
check_vu_works() {
	local out
	if ! out=$(timeout 20 python3 - "$1" 2>&1 <<'EOF'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(struct.pack("<III", 1, 1, 0))  # GET_FEATURES, version 1, no payload
buf = b""
while len(buf) < 20:
    b = s.recv(20 - len(buf))
    if not b:
        sys.exit("connection closed after %d bytes of the reply" % len(buf))
    buf += b
req, flags, size, feat = struct.unpack("<IIIQ", buf)
if req != 1 or flags != 5 or size != 8 or not feat & (1 << 32):
    sys.exit("bad reply: request %d flags %#x size %d features %#x" % (req, flags, size, feat))
print("features %#x" % feat)
EOF
	); then
		bad "$CTX: vhost-user no longer answers after the checks: $out"
	fi
}

# check_pasta_works NSPREFIX... : namespace -> host (tap path, to the
# gateway) and host loopback -> namespace (spliced via -t $SPORT), 1 MiB
# each, checked with cmp. NSPREFIX runs a command in the namespace.
check_pasta_works() {
	local lp
	port=$((port + 1))
	rm -f "$d/out1" "$d/out2"
	bg_start socat -u "TCP4-LISTEN:$port,bind=127.0.0.1,reuseaddr" "OPEN:$d/out1,creat,trunc"
	lp=$BG_PID
	if ! wait_for "ss -ltn | grep -q '127.0.0.1:$port '" 10; then
		bad "$CTX: host listener on port $port did not start"
	elif ! timeout 30 "$@" socat -u "OPEN:$d/data" "TCP4:$HOST_GW4:$port" 2> "$d/socat.err"; then
		bad "$CTX: namespace -> host transfer failed: $(cat "$d/socat.err")"
	else
		wait_for "! alive $lp" 10
		cmp -s "$d/data" "$d/out1" ||
			bad "$CTX: namespace -> host transfer: data differs ($(stat -c %s "$d/out1" 2>&1) bytes)"
	fi
	bg_stop "$lp" 1

	# On the namespace's own address: where a spliced connection goes
	# (its loopback would need --host-lo-to-ns-lo).
	bg_start "$@" socat -u "TCP4-LISTEN:$SPORT,bind=$HOST_ADDR4,reuseaddr" "OPEN:$d/out2,creat,trunc"
	lp=$BG_PID
	if ! wait_for "$* ss -ltn | grep -q '$HOST_ADDR4:$SPORT '" 10; then
		bad "$CTX: listener in the namespace on port $SPORT did not start"
	elif ! timeout 30 socat -u "OPEN:$d/data" "TCP4:127.0.0.1:$SPORT" 2> "$d/socat.err"; then
		bad "$CTX: host -> namespace (spliced) transfer failed: $(cat "$d/socat.err")"
	else
		wait_for "! alive $lp" 10
		cmp -s "$d/data" "$d/out2" ||
			bad "$CTX: host -> namespace (spliced) transfer: data differs ($(stat -c %s "$d/out2" 2>&1) bytes)"
	fi
	bg_stop "$lp" 1
}

# ---- one case -------------------------------------------------------------

# run_case MODE WHO HOW [--runas SPEC UID GID]
#   MODE: passt, vhost-user, pasta-spawn, pasta-pid, pasta-netns
#   WHO: root or user; HOW: daemon (default start) or fg (-f)
run_case() {
	local mode=$1 who=$2 how=$3 runas=() exp_uid exp_gid pre=() dir
	local tag bin args=() sock="" pidf log tpid="" nsname="" tns="" nspfx=() pid="" fgpid=""
	local passt_mode=0 rc
	shift 3
	if [ "${1:-}" = --runas ]; then
		runas=(--runas "$2")
		exp_uid=$3
		exp_gid=$4
	elif [ "$who" = root ]; then
		exp_uid=$NOBODY_UID
		exp_gid=$NOBODY_GID
	fi
	if [ "$who" = user ]; then
		pre=("${USER_CMD[@]}")
		exp_uid=$USER_UID
		exp_gid=$USER_GID
		dir=$u
	else
		dir=$d
	fi
	case_no=$((case_no + 1))
	tag=c$case_no
	pidf=$dir/$tag.pid
	log=$dir/$tag.log
	local how_txt="daemonised"
	[ "$how" = fg ] && how_txt="-f"
	[ "$mode" = pasta-spawn ] && [ "$how" = daemon ] && how_txt="no -f (foreground)"
	CTX="$mode ($how_txt${runas[*]:+, ${runas[*]}}), started by $who"
	[ "$who" = user ] && CTX+=" ($PASST_TEST_USER)"
	log "---- $CTX"
	no_leftovers

	port=$((port + 1))
	SPORT=$port
	case $mode in
	passt | vhost-user)
		passt_mode=1
		bin=$PASST
		sock=$dir/$tag.sock
		args=(-q -s "$sock" -P "$pidf")
		[ "$mode" = vhost-user ] && args+=(--vhost-user)
		;;
	pasta-spawn)
		bin=$PASTA
		args=(-q --config-net -t "$SPORT" -P "$pidf")
		;;
	pasta-pid | pasta-netns)
		bin=$PASTA
		args=(-q --config-net -t "$SPORT" -P "$pidf")
		if [ "$who" = user ]; then
			bg_start "${pre[@]}" unshare -rn sleep 600
		elif [ "$mode" = pasta-pid ]; then
			bg_start unshare -n sleep 600
		fi
		if [ "$who" = user ] || [ "$mode" = pasta-pid ]; then
			tpid=$BG_PID
			wait_for "[ \"\$(readlink /proc/$tpid/ns/net)\" != \"\$(readlink /proc/self/ns/net)\" ]" 5 ||
				{ bad "$CTX: the target namespace (unshare) did not start"; return; }
			tns=$(readlink "/proc/$tpid/ns/net")
			nspfx=(nsenter -t "$tpid" -n)
		fi
		if [ "$mode" = pasta-pid ]; then
			args+=("$tpid")
		elif [ "$who" = user ]; then
			args+=(--netns "/proc/$tpid/ns/net" --userns "/proc/$tpid/ns/user")
		else
			nsname=sandbox$case_no
			ip netns add "$nsname" || { bad "$CTX: ip netns add failed"; return; }
			tns=$(ip netns exec "$nsname" readlink /proc/self/ns/net)
			args+=(--netns "$nsname")
			nspfx=(ip netns exec "$nsname")
		fi
		;;
	esac
	# Options first: the first non-option argument (PID, command) ends them.
	args=("${runas[@]}" "${args[@]}")
	[ "$how" = fg ] && args=(-f "${args[@]}")
	[ "$mode" = pasta-spawn ] && args+=(-- sleep 600)

	# Start, and wait until the sandbox is complete (the last stage,
	# seccomp, comes after the PID file is written).
	if [ "$how" = daemon ] && [ "$mode" != pasta-spawn ]; then
		timeout 20 "${pre[@]}" "$bin" "${args[@]}" > "$log" 2>&1 < /dev/null
		rc=$?
		if [ "$rc" != 0 ]; then
			bad "$CTX: start-up failed (exit status $rc): $(tr '\n' ' ' < "$log")"
			stop_case
			return
		fi
		pid=$(cat "$pidf" 2>/dev/null)
	else
		bg_start "${pre[@]}" sh -c 'exec "$@" > "$0" 2>&1 < /dev/null' "$log" "$bin" "${args[@]}"
		fgpid=$BG_PID
		wait_for "test -s '$pidf'" 10
		pid=$(cat "$pidf" 2>/dev/null)
		[ -z "$pid" ] || [ "$pid" = "$fgpid" ] ||
			bad "$CTX: PID file says '$pid', the process started is $fgpid"
	fi
	if [ -z "$pid" ] || ! alive "$pid"; then
		bad "$CTX: no running daemon (PID file: '$pid'): $(tr '\n' ' ' < "$log")"
		stop_case
		return
	fi
	wait_for "[ \"\$(field $pid Seccomp)\" = 2 ]" 5
	if [ "$mode" = pasta-spawn ]; then
		wait_for "pgrep -P $pid -x sleep" 10
		tpid=$(pgrep -P "$pid" -x sleep | head -n 1)
		if [ -z "$tpid" ]; then
			bad "$CTX: the spawned command (sleep) is not running"
		else
			tns=$(readlink "/proc/$tpid/ns/net")
			nspfx=(nsenter -t "$tpid" -n)
		fi
	fi
	# The socket helper enters its namespace at start-up: wait for it to
	# be confined before looking (no_leftovers made sure it is ours).
	[ -n "$tns" ] && wait_for "helper_ready $pid '$tns'" 5

	log "$CTX: daemon PID $pid: Uid $(field "$pid" Uid); Gid $(field "$pid" Gid); Groups '$(field "$pid" Groups)'; Seccomp $(field "$pid" Seccomp); NoNewPrivs $(field "$pid" NoNewPrivs); CapEff $(field "$pid" CapEff); /proc/PID/status owner $(stat -c %u "/proc/$pid/status")"
	daemon_checks "$pid" "$exp_uid" "$exp_gid" "$passt_mode"
	helper_checks "$pid" "$tns"

	case $mode in
	passt) check_passt_works "$sock" ;;
	vhost-user) check_vu_works "$sock" ;;
	*) [ ${#nspfx[@]} -gt 0 ] && check_pasta_works "${nspfx[@]}" ;;
	esac
	alive "$pid" || bad "$CTX: the daemon exited during the checks: $(tr '\n' ' ' < "$log")"
	stop_case
}

# stop_case: SIGTERM to the daemon; it must be gone within 5 s with its
# PID file, socket and other processes. Then the target namespace goes.
stop_case() {
	if [ -n "$pid" ] && alive "$pid"; then
		kill -TERM "$pid"
		if ! wait_for "! alive $pid" 5; then
			bad "$CTX: daemon (PID $pid) still running 5 s after SIGTERM: $(grep -E '^(State|SigPnd|ShdPnd|SigBlk|SigIgn|SigCgt):' "/proc/$pid/status" | tr '\n\t' '  ')"
			kill -KILL "$pid" 2>/dev/null
			wait_for "! alive $pid" 5
		fi
	fi
	[ -n "$fgpid" ] && { wait "$fgpid" 2>/dev/null; log "$CTX: exit status $? after SIGTERM"; }
	[ -e "$pidf" ] && bad "$CTX: PID file left behind after SIGTERM"
	[ -n "$sock" ] && [ -e "$sock" ] && bad "$CTX: socket file left behind after SIGTERM"
	no_leftovers
	[ -n "$tpid" ] && bg_stop "$tpid" 1
	[ -n "$nsname" ] && ip netns del "$nsname" 2>/dev/null
	return 0
}

# ---- the cases --------------------------------------------------------------

SECONDS=0
if uid_mapped "$NOBODY_UID"; then
	whos=(root)
else
	log "nobody ($NOBODY_UID) is not mapped here: no root cases (run as real root)"
	whos=()
fi
if [ ${#USER_CMD[@]} -gt 0 ]; then
	whos+=(user)
else
	log "cannot switch to $PASST_TEST_USER here: no unprivileged cases (run as real root)"
fi
[ ${#whos[@]} -gt 0 ] || skip "neither nobody nor $PASST_TEST_USER usable here (run as real root)"

for who in "${whos[@]}"; do
	for mode in passt vhost-user pasta-spawn pasta-pid pasta-netns; do
		for how in daemon fg; do
			run_case "$mode" "$who" "$how"
		done
	done
done

if uid_mapped 1234 && uid_mapped "$NOBODY_UID"; then
	for mode in passt pasta-spawn; do
		run_case "$mode" root daemon --runas 1234:1234 1234 1234
		run_case "$mode" root fg --runas nobody "$NOBODY_UID" "$NOBODY_GID"
	done
	run_case pasta-pid root daemon --runas 1234 1234 1234
	run_case vhost-user root fg --runas nobody "$NOBODY_UID" "$NOBODY_GID"
fi

# A user that doesn't exist: status 1, one line naming --runas.
for bin in "$PASST" "$PASTA"; do
	CTX="$(basename "$bin") --runas no-such-user, started by root"
	extra=()
	[ "$bin" = "$PASTA" ] && extra=(-- true)
	extra2=()
	[ "$bin" = "$PASST" ] && extra2=(-s "$d/bad.sock")
	timeout 20 "$bin" -f "${extra2[@]}" --runas no-such-user "${extra[@]}" \
		> "$d/bad.out" 2> "$d/bad.err" < /dev/null
	rc=$?
	[ "$rc" = 1 ] || bad "$CTX: exit status: expected 1, got $rc"
	[ "$(wc -l < "$d/bad.err")" = 1 ] ||
		bad "$CTX: expected one line on stderr, got: $(cat "$d/bad.err")"
	grep -qF -- --runas "$d/bad.err" || bad "$CTX: message doesn't name --runas: $(cat "$d/bad.err")"
	[ -s "$d/bad.out" ] && bad "$CTX: output on stdout: $(cat "$d/bad.out")"
	rm -f "$d/bad.sock"
done

log "$case_no cases in ${SECONDS}s"
if [ ${#ERRORS[@]} -gt 0 ]; then
	fail "${#ERRORS[@]} check(s) failed (listed above as FAIL lines)"
fi
exit 0
