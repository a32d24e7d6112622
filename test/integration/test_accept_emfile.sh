#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# Out of descriptors: pasta, started with a low RLIMIT_NOFILE, accepts
# inbound -t connections until accept() fails with EMFILE. The listener must
# then pause (a rate-limited warning says so) instead of waking the loop for
# ever: --stats counts the listener's events, which stay few while the
# connections are held. Once they close, a new connection gets through.
. "$(dirname "$0")/lib.sh"

need_cmd python3 prlimit timeout socat
hermetic_host
[ -x "$PASTA" ] || fail "no pasta binary at $PASTA (build first)"

d=$(new_tmpdir)
LIMIT=48
HOLD=60

printf '%s\n' \
	"socat -u TCP4-LISTEN:5301,fork,reuseaddr OPEN:/dev/null &" \
	"touch $d/ns_ready" \
	"while [ ! -e $d/finish ]; do sleep 0.1; done" > "$d/ns.sh"
prlimit --nofile=$LIMIT:$LIMIT "$PASTA" -f --stats 1 --config-net -t 5301 -- sh "$d/ns.sh" \
	> /dev/null 2> "$d/pasta.err" < /dev/null &
pasta=$!
on_cleanup "touch $d/finish"
wait_for "test -e $d/ns_ready" 20 || fail "the namespace side did not start: $(cat "$d/pasta.err")"

# Hold more connections than there are descriptors left, over the tap path.
python3 "$(dirname "$0")/hold_many.py" "$HOST_ADDR4" 5301 "$HOLD" "$d/held" "$d/finish_hold" &
holder=$!
wait_for "test -e $d/held" 10 || fail "could not open the connections"
sleep 4
grep -q "pausing the listener" "$d/pasta.err" ||
	fail "no pause after EMFILE: $(grep -v '^ *[0-9]' "$d/pasta.err" | tail -5)"

# The listener's events so far: the last line of totals in the stats table.
listen_events() { stats_column "$d/pasta.err" tcp-listen | tail -n 1; }
before=$(listen_events)
sleep 3
after=$(listen_events)
log "tcp-listen events while out of descriptors: $before, 3 s later $after"
# A busy loop counts thousands a second; a paused listener wakes about once
# a second (when the pause ends).
[ $((after - before)) -lt 100 ] || fail "the listener kept waking: $before -> $after events in 3 s"

touch "$d/finish_hold"
wait "$holder"
# The held connections are gone: a new one gets through.
head -c 10000 /dev/urandom > "$d/data"
ok=0
for _ in $(seq 20); do
	if timeout 5 socat -u OPEN:"$d/data" TCP4:"$HOST_ADDR4":5301 2> /dev/null; then
		ok=1
		break
	fi
	sleep 0.5
done
[ "$ok" = 1 ] || fail "no connection after the held ones closed"
kill -0 "$pasta" 2> /dev/null || fail "pasta is gone"
touch "$d/finish"
wait "$pasta"
exit 0
