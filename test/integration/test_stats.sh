#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# --stats DELAY: with -f, pasta and passt print a header of the descriptor
# kinds they watch and lines of running event totals on stderr, which only
# grow; nothing without --stats; without -f the option is refused.
. "$(dirname "$0")/lib.sh"

need_cmd timeout socat
hermetic_host
[ -x "$PASST" ] || fail "no passt binary at $PASST (build first)"
[ -x "$PASTA" ] || fail "no pasta binary at $PASTA (build first)"

d=$(new_tmpdir)

# growing WHAT VALUES...: at least two values, never decreasing, last > 0.
growing() {
	local what=$1 prev=-1 v n=0
	shift
	for v in "$@"; do
		[ "$v" -ge "$prev" ] || fail "$what: totals went down: $*"
		prev=$v n=$((n + 1))
	done
	[ "$n" -ge 2 ] || fail "$what: $n lines of totals, expected at least 2: $*"
	[ "$prev" -gt 0 ] || fail "$what: no events counted: $*"
}

# pasta: the tap device and a TCP connection to the host through it.
socat -u TCP-LISTEN:5201,reuseaddr OPEN:"$d/got",creat &
srv=$!
head -c 100000 /dev/urandom > "$d/sent"
gw=$(ip -4 route show default | awk '{ print $3; exit }')
[ -n "$gw" ] || fail "the hermetic host has no IPv4 default route"
timeout 30 "$PASTA" -f --stats 1 --config-net -- \
	sh -c "sleep 1.2; socat -u OPEN:$d/sent TCP:$gw:5201; sleep 2.2" \
	> "$d/out" 2> "$d/pasta.err" < /dev/null
check_eq "$?" 0 "exit status of pasta --stats 1"
wait "$srv"
cmp -s "$d/sent" "$d/got" || fail "pasta: transfer through the tap differs"
log "pasta stderr:"
sed 's/^/    /' "$d/pasta.err" >&2
grep -qE '^ +tap-tun +tcp ' "$d/pasta.err" || fail "pasta: no header line naming tap-tun and tcp"
# shellcheck disable=SC2046 # one value per word
growing "pasta tap-tun" $(stats_column "$d/pasta.err" tap-tun)
# shellcheck disable=SC2046
growing "pasta tcp" $(stats_column "$d/pasta.err" tcp)
[ -s "$d/out" ] && fail "pasta --stats wrote to stdout: $(cat "$d/out")"

# passt: a front-end connecting to the socket is an event of its listener.
timeout 10 "$PASST" -f --stats 1 -s "$d/passt.sock" > /dev/null 2> "$d/passt.err" < /dev/null &
passt=$!
wait_for "test -S $d/passt.sock" 5 || fail "passt did not create its socket"
sleep 1.2
printf '\0\0\0\0' | socat -u - UNIX-CONNECT:"$d/passt.sock"
sleep 2.5
kill "$passt"
wait "$passt"
log "passt stderr:"
sed 's/^/    /' "$d/passt.err" >&2
grep -qE '^ +tap-stream +tap-stream-listen ' "$d/passt.err" ||
	fail "passt: no header line naming tap-stream and tap-stream-listen"
listen=$(stats_column "$d/passt.err" tap-stream-listen | tail -n 1)
[ "${listen:-0}" -ge 1 ] || fail "passt: the front-end's connection was not counted: $(cat "$d/passt.err")"

# Without --stats: no table.
timeout 30 "$PASTA" -f --config-net -- true > /dev/null 2> "$d/quiet.err" < /dev/null
grep -q 'tap-tun' "$d/quiet.err" && fail "pasta without --stats printed a table: $(cat "$d/quiet.err")"

# Without -f: refused, one line, status 1.
timeout 10 "$PASTA" --stats 1 --config-net -- true > /dev/null 2> "$d/bg.err" < /dev/null
check_eq "$?" 1 "exit status of pasta --stats without -f"
grep -q -- '--stats' "$d/bg.err" || fail "pasta --stats without -f: message names no option: $(cat "$d/bg.err")"
exit 0
