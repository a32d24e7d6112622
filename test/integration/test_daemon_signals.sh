#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# Stopping the daemon as libvirt and Podman do: daemonised (no -f), passt
# (stream and vhost-user) and pasta joining a namespace must exit within a
# second of SIGTERM, SIGINT or SIGQUIT sent to the PID in their PID file,
# removing the socket and PID file, and leaving no process of theirs.
. "$(dirname "$0")/lib.sh"

need_cmd ip timeout unshare
hermetic_host
[ -x "$PASST" ] || fail "no passt binary at $PASST (build first)"
[ -x "$PASTA" ] || fail "no pasta binary at $PASTA (build first)"

d=$(new_tmpdir)
comm=$(basename "$PASST")

# stop WHAT SIG PIDFILE [FILE...]: SIG to the PID in PIDFILE; gone in 1 s.
stop() {
	local what=$1 sig=$2 pidf=$3 pid i
	shift 3
	pid=$(cat "$pidf")
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || fail "$what: PID file $pidf names no process"
	kill "-$sig" "$pid"
	for (( i = 0; i < 10; i++ )); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null &&
		fail "$what: still running 1 s after SIG$sig: $(grep -E '^(State|SigPnd|ShdPnd|SigBlk|SigCgt):' "/proc/$pid/status" | tr '\n\t' '  ')"
	local f
	for f in "$pidf" "$@"; do
		wait_for "[ ! -e '$f' ]" 1 || fail "$what: $f left behind after SIG$sig"
	done
	wait_for "! pgrep -x '$comm' > /dev/null && ! pgrep -x pasta > /dev/null" 2 ||
		fail "$what: processes left after SIG$sig: $(pgrep -a -x "$comm"; pgrep -a -x pasta)"
}

unshare -n sleep 600 &
target=$!
wait_for "[ \"\$(readlink /proc/$target/ns/net)\" != \"\$(readlink /proc/self/ns/net)\" ]" 5 ||
	fail "no target namespace"

for sig in TERM INT QUIT; do
	"$PASST" -q -s "$d/s.sock" -P "$d/s.pid" > "$d/out" 2>&1 || fail "passt: $(cat "$d/out")"
	stop "passt" "$sig" "$d/s.pid" "$d/s.sock"

	"$PASST" -q --vhost-user -s "$d/v.sock" -P "$d/v.pid" > "$d/out" 2>&1 ||
		fail "passt --vhost-user: $(cat "$d/out")"
	stop "passt --vhost-user" "$sig" "$d/v.pid" "$d/v.sock"

	"$PASTA" -q --config-net -P "$d/p.pid" --netns "/proc/$target/ns/net" > "$d/out" 2>&1 ||
		fail "pasta --netns: $(cat "$d/out")"
	stop "pasta --netns" "$sig" "$d/p.pid"

	"$PASTA" -q --config-net -P "$d/q.pid" "$target" > "$d/out" 2>&1 ||
		fail "pasta PID: $(cat "$d/out")"
	stop "pasta PID" "$sig" "$d/q.pid"
done
kill "$target"
exit 0
