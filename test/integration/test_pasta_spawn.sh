#!/bin/bash
# shellcheck source-path=SCRIPTDIR disable=SC2016
# pasta spawning a command, as a shell user runs it:
#  - the command gets new PID (it is PID 1, with a /proc of its own), UTS
#    and IPC namespaces: its hostname change stays inside; --no-pidns keeps
#    our PID namespace and /proc;
#  - --userns PATH: its namespaces are made inside that user namespace;
#    --netns-only: inside ours;
#  - termination signals to pasta reach it: one it does not handle (which,
#    as PID 1, the kernel would drop) ends it with the status the signal
#    gives, within a second, leaving nothing behind; one it traps is its own
#    to act on;
#  - pasta prints nothing unless -d, and its stderr lines carry no time
#    stamps unless debugging.
# Both as the hermetic host's root and as an unprivileged user.
. "$(dirname "$0")/lib.sh"

need_cmd ip timeout unshare hostname
hermetic_host
[ -x "$PASTA" ] || fail "no pasta binary at $PASTA (build first)"

d=$(new_tmpdir)
u=$(new_unpriv_tmpdir) # the unprivileged user's

# ns_of KIND [PID]: the namespace inode link of PID (default: us).
ns_of() { readlink "/proc/${2:-self}/ns/$1"; }

# ---- namespaces -------------------------------------------------------------
body='exec > "$0/ns.out"; echo $$; for k in pid mnt uts ipc net user; do readlink /proc/self/ns/$k; done
hostname passt-spawn-test && hostname; cat /proc/1/comm; ls /proc | grep -c "^[0-9]"'
host_name=$(hostname)
timeout 30 "$PASTA" --config-net -- sh -c "$body" "$d" 2> "$d/err" ||
	fail "pasta -- sh: status $?: $(cat "$d/err")"
mapfile -t l < "$d/ns.out"
check_eq "${#l[@]}" 10 "lines written by the command ($(cat "$d/ns.out"))"
check_eq "${l[0]}" 1 "the command's PID in its namespace"
for i in 1 2 3 4 5 6; do
	kind=$(echo pid mnt uts ipc net user | cut -d' ' -f$i)
	[ "${l[$i]}" != "$(ns_of "$kind")" ] || fail "the command shares our $kind namespace"
done
check_eq "${l[7]}" passt-spawn-test "the hostname set inside"
check_eq "$(hostname)" "$host_name" "our hostname after the command set its own"
check_eq "${l[8]}" sh "/proc/1/comm seen by the command (its own /proc)"
[ "${l[9]}" -le 3 ] || fail "the command's /proc shows ${l[9]} processes, not its namespace's"
[ -s "$d/err" ] && fail "pasta printed on stderr without -d: $(cat "$d/err")"

# --no-pidns: our PID and mount namespaces and /proc, new UTS and IPC.
timeout 30 "$PASTA" --config-net --no-pidns -- sh -c "$body" "$d" 2> "$d/err" ||
	fail "pasta --no-pidns -- sh: status $?: $(cat "$d/err")"
mapfile -t l < "$d/ns.out"
[ "${l[0]}" -gt 1 ] || fail "--no-pidns: the command is PID ${l[0]}"
check_eq "${l[1]}" "$(ns_of pid)" "--no-pidns: the command's PID namespace"
check_eq "${l[2]}" "$(ns_of mnt)" "--no-pidns: the command's mount namespace"
[ "${l[3]}" != "$(ns_of uts)" ] || fail "--no-pidns: the command shares our UTS namespace"
[ "${l[4]}" != "$(ns_of ipc)" ] || fail "--no-pidns: the command shares our IPC namespace"
check_eq "$(hostname)" "$host_name" "our hostname after --no-pidns"
[ "${l[9]}" -gt 3 ] || fail "--no-pidns: /proc shows only ${l[9]} processes"

# --userns PATH: the command's user namespace is that one.
unshare -U -r sleep 60 &
holder=$!
wait_for "[ \"\$(ns_of user $holder)\" != \"\$(ns_of user)\" ]" 5 ||
	fail "no user namespace holder"
timeout 30 "$PASTA" --config-net --userns "/proc/$holder/ns/user" -- sh -c "$body" "$d" \
	2> "$d/err" || fail "pasta --userns: status $?: $(cat "$d/err")"
mapfile -t l < "$d/ns.out"
check_eq "${l[6]}" "$(ns_of user $holder)" "--userns: the command's user namespace"
check_eq "${l[0]}" 1 "--userns: the command's PID"
kill "$holder"

# --netns-only: no user namespace of its own (we are root here).
timeout 30 "$PASTA" --config-net --netns-only -- sh -c "$body" "$d" 2> "$d/err" ||
	fail "pasta --netns-only: status $?: $(cat "$d/err")"
mapfile -t l < "$d/ns.out"
check_eq "${l[6]}" "$(ns_of user)" "--netns-only: the command's user namespace"
[ "${l[5]}" != "$(ns_of net)" ] || fail "--netns-only: the command shares our network namespace"

# ---- signals ----------------------------------------------------------------
# signal_case WHO SIG STATUS CMD...: pasta runs CMD; SIG to pasta must end it
# within a second with STATUS, with no process of the namespace left.
signal_case() {
	local who=$1 sig=$2 want=$3
	shift 3
	local d=$d
	[ "$who" = user ] && d=$u
	rm -f "$d/started"
	local run=(timeout 30 "$PASTA" --config-net -- "$@" bash "$d")
	if [ "$who" = user ]; then
		as_unprivileged "${run[@]}" > "$d/sig.out" 2>&1 &
	else
		"${run[@]}" > "$d/sig.out" 2>&1 &
	fi
	local tpid=$! pid=""
	wait_for "[ -e '$d/started' ]" 10 || fail "$who $sig: the command did not start: $(cat "$d/sig.out")"
	# pasta: the one whose parent is not a pasta (its helpers are)
	local p pp
	for p in $(pgrep -x "$(basename "$PASTA")"); do
		pp=$(awk '{ print $4 }' "/proc/$p/stat" 2>/dev/null) || continue
		[ "$(cat "/proc/$pp/comm" 2>/dev/null)" = "$(basename "$PASTA")" ] || pid=$p
	done
	[ -n "$pid" ] || fail "$who $sig: no pasta running"
	local inner
	inner=$(pgrep -P "$pid" -f "passt-spawn-sleeper" | head -n1)
	kill "-$sig" "$pid"
	local t0=$SECONDS
	wait "$tpid"
	local rc=$?
	check_eq "$rc" "$want" "$who: pasta's status after SIG$sig ($(cat "$d/sig.out"))"
	[ $((SECONDS - t0)) -le 2 ] || fail "$who: SIG$sig took $((SECONDS - t0)) s to end pasta"
	if [ -n "$inner" ] && [ -e "/proc/$inner" ] && ! _is_zombie "$inner"; then
		fail "$who: the command (PID $inner) outlived pasta after SIG$sig"
	fi
	pgrep -f passt-spawn-sleeper > /dev/null && fail "$who: a sleeper is left after SIG$sig"
	return 0
}

# A command that handles no signal: exec'd sleep, PID 1 of its namespace.
sleeper=(bash -c 'touch "$1/started"; exec -a passt-spawn-sleeper sleep 60')
# One that traps SIGTERM: its own exit status, after its own clean-up.
trapper=(bash -c 'trap "echo trapped; exit 7" TERM; touch "$1/started";
	(exec -a passt-spawn-sleeper sleep 60) & wait')

for sig in TERM INT QUIT HUP; do
	num=$(kill -l "$sig")
	signal_case root "$sig" $((128 + num)) "${sleeper[@]}"
done
signal_case root TERM 7 "${trapper[@]}"
grep -q trapped "$d/sig.out" || fail "the trapping command did not run its trap: $(cat "$d/sig.out")"
if can_unprivileged; then
	signal_case user TERM 143 "${sleeper[@]}"
	signal_case user TERM 7 "${trapper[@]}"
	grep -q trapped "$u/sig.out" || fail "user: the trap did not run: $(cat "$u/sig.out")"
else
	log "as an unprivileged user: skipped (cannot switch users here)"
fi

# ---- output -----------------------------------------------------------------
# Quiet unless -d: the start-up summary only then; time stamps only then.
timeout 30 "$PASTA" --config-net -- true > "$d/q.out" 2> "$d/q.err" || fail "pasta -- true: $?"
[ -s "$d/q.out" ] || [ -s "$d/q.err" ] && fail "pasta -- true printed: $(cat "$d/q.out" "$d/q.err")"
timeout 30 "$PASTA" --config-net -d -- true 2> "$d/d.err" || fail "pasta -d -- true: $?"
grep -q '^Outbound interface' "$d/d.err" || grep -q '^MAC:' "$d/d.err" ||
	fail "pasta -d -- true: no start-up summary: $(head -5 "$d/d.err")"
grep -qE '^[0-9]+\.[0-9]{4}: ' "$d/d.err" || fail "pasta -d: debug lines without time stamps: $(head -5 "$d/d.err")"
# A warning (a deprecated option) is still printed, without a time stamp.
timeout 30 "$PASTA" --config-net --no-copy-routes -- true 2> "$d/w.err" || fail "pasta --no-copy-routes: $?"
check_eq "$(cat "$d/w.err")" "--no-copy-routes is deprecated and will be removed" \
	"pasta's warning on stderr"
exit 0
