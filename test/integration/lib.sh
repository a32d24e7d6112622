# shellcheck shell=bash disable=SC2034 # variables are for the tests
# Shared helpers for the integration tests. Each test is a standalone bash
# script test/integration/test_NAME.sh that starts with
#
#	. "$(dirname "$0")/lib.sh"
#	need_cmd ip                 # checks and installs: before hermetic_host
#	hermetic_host               # re-runs the script in its own "host"
#	...
#
# and ends with exit 0 (PASS), `fail MSG` (exit 1) or `skip MSG` (exit 77).
# run.sh runs every test_*.sh under `timeout` and sums up.
#
# The hermetic host: hermetic_host re-executes the calling script in new
# user, network, mount and PID namespaces, and builds there:
#   lo up; veth0 <-> veth1 (the peer stays in the same namespace, so packets
#   to the gateway go nowhere); veth0: 192.0.2.2/24, 2001:db8::2/64 nodad;
#   default routes via 192.0.2.1 and 2001:db8::1 on veth0; both links up
#   a private /etc/resolv.conf (bind mount): nameserver 192.0.2.53,
#   nameserver 2001:db8::53, search test.example (documentation addresses
#   and a reserved name: no query can leave; a test wanting answers can put
#   192.0.2.53 on veth1 or lo and run a server there)
#   a fresh /proc, /sys and a private tmpfs /tmp (mode 1777)
#   net.ipv4.ping_group_range covering every mapped group
#   IPv6 duplicate address detection off, so addresses are usable at once
# so that the daemon's derived defaults are always: interface veth0, address
# 192.0.2.2/24, gateway 192.0.2.1, 2001:db8::2/64 via 2001:db8::1, MTU 1500.
# The script runs as PID 1 of its namespace: when it ends, whatever it left
# running is killed by the kernel, and its /tmp disappears.
#
# With PASST_TEST_NO_USERNS=1 (real root only, else the test skips) no user
# namespace is made: root stays the initial namespace's root.
# As real root, the user namespace maps uids and gids 0-65535 onto
# themselves, so that as_unprivileged can switch to the unprivileged user
# passt-test (created if missing) inside; as a normal user it maps that user
# to root only (`unshare -r`), and as_unprivileged skips.
#
# Helpers: fail, skip, log, check_eq, check, wait_for, need_cmd, need_pkg,
# bg_start, bg_stop, on_cleanup, new_tmpdir, new_unpriv_tmpdir,
# can_unprivileged, as_unprivileged. Variables: PASST_ROOT, PASST, PASTA,
# TEST_NAME, TEST_DIR, BG_PID, HOST_* (addresses above), PASST_TEST_USER.
#
# Do not call fail/skip in the background (&); inside $(...) they work (the
# main script is signalled).

PASST_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PASST=${PASST:-$PASST_ROOT/passt}
PASTA=${PASTA:-$PASST_ROOT/pasta}
TEST_SCRIPT=$(realpath "$0")
TEST_NAME=$(basename "$0" .sh)
PASST_TEST_USER=${PASST_TEST_USER:-passt-test}
_TEST_ARGS=("$@")

HOST_IF=veth0
HOST_PEER_IF=veth1
HOST_ADDR4=192.0.2.2
HOST_PREFIX4=24
HOST_GW4=192.0.2.1
HOST_ADDR6=2001:db8::2
HOST_PREFIX6=64
HOST_GW6=2001:db8::1
HOST_DNS4=192.0.2.53
HOST_DNS6=2001:db8::53
HOST_SEARCH=test.example
HOST_MTU=1500

_BG_PIDS=()
_CLEANUP_HOOKS=()
BG_PID=
TEST_DIR=

log() {
	echo "[$TEST_NAME] $*" >&2
}

# fail MSG: the test failed. Ends the script (also from inside $(...)).
fail() {
	echo "FAIL: $TEST_NAME: $*" >&2
	if [ "${BASHPID:-$$}" != "$$" ]; then
		kill -USR1 "$$" 2>/dev/null
	fi
	exit 1
}

# skip MSG: the test cannot run here (missing tool, no privileges). Exit 77.
skip() {
	echo "SKIP: $TEST_NAME: $*" >&2
	if [ "${BASHPID:-$$}" != "$$" ]; then
		kill -USR2 "$$" 2>/dev/null
	fi
	exit 77
}

# check_eq ACTUAL EXPECTED [WHAT]
check_eq() {
	if [ "$1" != "$2" ]; then
		fail "${3:-value}: expected '$2', got '$1'"
	fi
	return 0
}

# check CMD [ARG...]: fail unless the command succeeds.
check() {
	"$@" || fail "command failed ($?): $*"
}

# wait_for COND_CMD [TIMEOUT_S]: evaluates the shell command COND_CMD every
# 0.1 s until it succeeds (return 0) or TIMEOUT_S (default 10, integer)
# seconds pass (return 1). Output of COND_CMD is discarded.
wait_for() {
	local cond=$1 tries=$(( ${2:-10} * 10 )) i
	for (( i = 0; i < tries; i++ )); do
		if eval "$cond" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	eval "$cond" >/dev/null 2>&1
}

# need_cmd PROG...: skip the test unless every PROG is in PATH.
need_cmd() {
	local p
	for p in "$@"; do
		command -v "$p" >/dev/null 2>&1 || skip "missing program: $p"
	done
}

# need_pkg PROG PACKAGE: like need_cmd, but as real root outside the
# namespaces first tries `apt-get install -y PACKAGE`.
need_pkg() {
	command -v "$1" >/dev/null 2>&1 && return 0
	if _is_real_root && [ -z "${PASST_TEST_HERMETIC:-}" ] &&
	   command -v apt-get >/dev/null 2>&1; then
		log "installing $2 for $1"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >&2 ||
			{ DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 &&
			  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >&2; }
	fi
	need_cmd "$1"
}

# bg_start CMD [ARG...]: runs CMD in the background in its own session and
# process group; its PID is left in BG_PID. Killed (with its whole process
# group) at exit. Redirect output yourself: bg_start sh -c 'cmd > log 2>&1'.
bg_start() {
	setsid "$@" &
	BG_PID=$!
	_BG_PIDS+=("$BG_PID")
}

# bg_stop PID [GRACE_S]: SIGTERM to the process group of PID, SIGKILL after
# GRACE_S (default 5) seconds.
bg_stop() {
	local pid=$1 tries=$(( ${2:-5} * 10 )) i
	kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
	for (( i = 0; i < tries; i++ )); do
		kill -0 -- "-$pid" 2>/dev/null || kill -0 "$pid" 2>/dev/null || break
		_is_zombie "$pid" && break
		sleep 0.1
	done
	kill -KILL -- "-$pid" 2>/dev/null
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# on_cleanup CMD: shell command to eval at exit, before processes are
# stopped (last registered runs first).
on_cleanup() {
	_CLEANUP_HOOKS+=("$1")
}

# stats_column FILE NAME: the values of column NAME in the --stats table
# that a daemon wrote to FILE, one per line of totals.
stats_column() {
	awk -v name="$2" '
		$1 ~ /^[a-z]/ { for (i = 1; i <= NF; i++) if ($i == name) col = i; next }
		$1 ~ /^[0-9]+$/ && col { print $col }' "$1"
}

# new_tmpdir: prints a new directory under TEST_DIR, removed at exit.
new_tmpdir() {
	mktemp -d -p "$TEST_DIR"
}

# new_unpriv_tmpdir: same, owned by the unprivileged test user if we can
# switch to it (for sockets, pid files, logs of an unprivileged daemon).
new_unpriv_tmpdir() {
	local d
	d=$(mktemp -d -p "$TEST_DIR") || return 1
	chmod 755 "$TEST_DIR"
	if can_unprivileged; then
		chown "$PASST_TEST_USER:" "$d"
	fi
	echo "$d"
}

_is_zombie() {
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)
	[ "$st" = Z ]
}

# Root in the initial user namespace (uid 0 mapped to 0 over the full range).
_is_real_root() {
	[ "$(id -u)" = 0 ] && [ "$(awk 'NR == 1 { print $1, $2, $3 }' /proc/self/uid_map)" = \
		"0 0 4294967295" ]
}

# True if uid $1 is mapped in our user namespace.
_uid_mapped() {
	awk -v u="$1" '$1 <= u && u < $1 + $3 { found = 1 } END { exit !found }' \
		/proc/self/uid_map
}

_cleanup() {
	local rc=$? i
	trap - EXIT
	trap '' TERM INT HUP USR1 USR2
	for (( i = ${#_CLEANUP_HOOKS[@]} - 1; i >= 0; i-- )); do
		eval "${_CLEANUP_HOOKS[$i]}" || log "cleanup hook failed: ${_CLEANUP_HOOKS[$i]}"
	done
	for (( i = ${#_BG_PIDS[@]} - 1; i >= 0; i-- )); do
		bg_stop "${_BG_PIDS[$i]}"
	done
	if [ -n "$TEST_DIR" ] && [ -d "$TEST_DIR" ]; then
		rm -rf "$TEST_DIR"
	fi
	exit "$rc"
}

_make_test_dir() {
	TEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/passt-$TEST_NAME.XXXXXX") ||
		{ echo "cannot create a temporary directory" >&2; exit 1; }
}

trap _cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP
trap 'exit 1' USR1
trap 'exit 77' USR2

# Deferred while the hermetic host is being set up: /tmp is replaced then.
if [ "${PASST_TEST_HERMETIC:-}" != setup ]; then
	_make_test_dir
fi

# can_unprivileged: true if as_unprivileged can run a command here.
can_unprivileged() {
	[ "$(id -u)" != 0 ] && return 0
	local uid
	uid=$(id -u "$PASST_TEST_USER" 2>/dev/null) || return 1
	_uid_mapped "$uid" && command -v setpriv >/dev/null 2>&1
}

# as_unprivileged CMD [ARG...]: runs CMD as the unprivileged user passt-test
# (no capabilities, no supplementary groups, HOME/USER set), or as is when
# we are not root. Skips the test where that is impossible.
as_unprivileged() {
	if [ "$(id -u)" != 0 ]; then
		"$@"
		return
	fi
	can_unprivileged || skip "cannot switch to user $PASST_TEST_USER here" \
		"(run as real root, which creates it)"
	local uid gid home
	uid=$(id -u "$PASST_TEST_USER")
	gid=$(id -g "$PASST_TEST_USER")
	home=$(getent passwd "$PASST_TEST_USER" | cut -d: -f6)
	[ -d "$home" ] || home=/tmp
	HOME=$home USER=$PASST_TEST_USER LOGNAME=$PASST_TEST_USER \
		setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@"
}

# The unprivileged user must be able to run the daemon even where the
# checkout is private (e.g. a CI clone under /root, mode 0700): then use
# copies in the (world-readable) test directory.
_share_binaries() {
	[ "$(id -u)" = 0 ] && can_unprivileged || return 0
	local uid gid
	uid=$(id -u "$PASST_TEST_USER")
	gid=$(id -g "$PASST_TEST_USER")
	setpriv --reuid="$uid" --regid="$gid" --clear-groups -- test -x "$PASST" && return 0
	[ -x "$PASST" ] || return 0
	mkdir -p "$TEST_DIR/bin"
	cp "$PASST" "$TEST_DIR/bin/passt"
	ln -sf passt "$TEST_DIR/bin/pasta"
	chmod 755 "$TEST_DIR/bin" "$TEST_DIR/bin/passt"
	PASST=$TEST_DIR/bin/passt
	PASTA=$TEST_DIR/bin/pasta
	export PASST PASTA
	log "checkout not readable by $PASST_TEST_USER: using copies in $TEST_DIR/bin"
}

# Real root only: the unprivileged user, and /dev/net/tun usable by it (mode
# 0666 is what udev sets on Debian; some minimal systems leave it 0600).
_prepare_unprivileged() {
	if ! id -u "$PASST_TEST_USER" >/dev/null 2>&1; then
		useradd --create-home --shell /bin/sh "$PASST_TEST_USER" >&2 ||
			log "cannot create user $PASST_TEST_USER"
	fi
	if [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
		log "making /dev/net/tun 0666 (the udev default) for unprivileged tests"
		chmod 0666 /dev/net/tun || log "cannot chmod /dev/net/tun"
	fi
}

# hermetic_host: see the top of this file. Call it before anything that
# depends on the network; everything before it runs twice.
hermetic_host() {
	case "${PASST_TEST_HERMETIC:-}" in
	ready) return 0 ;;        # a script started from a hermetic test
	setup) _hermetic_setup; return ;;
	esac
	need_cmd unshare ip setsid mount
	local ns_opts=(--user --net --mount --pid --fork --kill-child)
	rm -rf "$TEST_DIR"
	TEST_DIR=
	trap - EXIT

	# PASST_TEST_NO_USERNS=1, as real root: no user namespace, so that the
	# test's root is the initial namespace's (the daemon must refuse to
	# stay root there). Skips elsewhere.
	if [ "${PASST_TEST_NO_USERNS:-}" = 1 ]; then
		_is_real_root || skip "needs real root (uid 0 in the initial user namespace)"
		PASST_TEST_HERMETIC=setup exec unshare "${ns_opts[@]:1}" -- \
			"$BASH" "$TEST_SCRIPT" "${_TEST_ARGS[@]}"
	fi

	if ! _is_real_root; then
		PASST_TEST_HERMETIC=setup exec unshare "${ns_opts[@]}" --map-root-user -- \
			"$BASH" "$TEST_SCRIPT" "${_TEST_ARGS[@]}"
	fi

	# Real root: write a wide identity map ourselves (unshare's
	# --map-users needs newuidmap), while the namespaced side waits on a
	# FIFO before running the script.
	_prepare_unprivileged
	local d pid i own rc
	d=$(mktemp -d) || exit 1
	mkfifo "$d/go" || exit 1
	# shellcheck disable=SC2016 # expanded by the inner shell
	PASST_TEST_HERMETIC=setup unshare "${ns_opts[@]}" -- \
		"$BASH" -c 'read -r _ < "$0" && exec "$@"' "$d/go" \
		"$BASH" "$TEST_SCRIPT" "${_TEST_ARGS[@]}" &
	pid=$!
	own=$(readlink /proc/self/ns/user)
	for (( i = 0; i < 100; i++ )); do
		[ "$(readlink "/proc/$pid/ns/user" 2>/dev/null)" != "$own" ] && break
		sleep 0.05
	done
	if ! echo "0 0 65536" > "/proc/$pid/uid_map" ||
	   ! echo "0 0 65536" > "/proc/$pid/gid_map"; then
		kill -KILL "$pid" 2>/dev/null
		rm -rf "$d"
		echo "FAIL: $TEST_NAME: cannot set up the user namespace" >&2
		exit 1
	fi
	echo go > "$d/go"
	rm -rf "$d"
	trap 'kill -TERM "$pid" 2>/dev/null' TERM INT HUP
	wait "$pid"
	rc=$?
	# A signal interrupted wait: give the namespace its exit status.
	while kill -0 "$pid" 2>/dev/null; do
		wait "$pid"
		rc=$?
	done
	exit "$rc"
}

# Runs a setup step of the hermetic host; a failure fails the test.
_hs() {
	"$@" || { echo "FAIL: $TEST_NAME: hermetic host setup: $*" >&2; exit 1; }
}

# Inside the new namespaces, as their root: build the hermetic host. Mounts
# only ever change our private mount namespace.
_hermetic_setup() {
	_hs mount -t proc proc /proc
	mount -t sysfs sysfs /sys 2>/dev/null || log "cannot mount a private /sys"
	# A checkout under /tmp (CI clones anywhere) must stay visible through
	# the private /tmp: keep the old /tmp at /mnt meanwhile, bind it back.
	local keep=""
	case "$PASST_ROOT/" in
	/tmp/*) keep=${PASST_ROOT#/tmp/} ;;
	esac
	# Recursive binds: in a hermetic host nested in another one, /tmp
	# carries the outer one's mounts, locked to it, which a plain bind
	# of /tmp may not leave behind.
	[ -n "$keep" ] && _hs mount --rbind /tmp /mnt
	_hs mount -t tmpfs -o mode=1777 tmpfs /tmp
	if [ -n "$keep" ]; then
		_hs mkdir -p "$PASST_ROOT"
		_hs mount --rbind "/mnt/$keep" "$PASST_ROOT"
		_hs umount -l /mnt
	fi
	export PASST_TEST_HERMETIC=ready
	_make_test_dir
	chmod 755 "$TEST_DIR"
	_share_binaries

	printf 'nameserver %s\nnameserver %s\nsearch %s\n' \
		"$HOST_DNS4" "$HOST_DNS6" "$HOST_SEARCH" > "$TEST_DIR/resolv.conf"
	chmod 644 "$TEST_DIR/resolv.conf"
	local rconf
	rconf=$(realpath -m /etc/resolv.conf)
	if [ ! -e "$rconf" ]; then
		# Dangling symlink (e.g. to a resolver's runtime directory):
		# give it a target on a private tmpfs, never on the real disk.
		_hs mount -t tmpfs -o mode=755 tmpfs "$(dirname "$rconf")"
		_hs touch "$rconf"
	fi
	_hs mount --bind "$TEST_DIR/resolv.conf" "$rconf"

	_hs sh -c 'echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad'
	_hs sh -c 'echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad'
	_hs ip link set lo up
	_hs ip link add "$HOST_IF" type veth peer name "$HOST_PEER_IF"
	_hs ip link set "$HOST_PEER_IF" up
	_hs ip link set "$HOST_IF" up
	_hs ip addr add "$HOST_ADDR4/$HOST_PREFIX4" dev "$HOST_IF"
	_hs ip -6 addr add "$HOST_ADDR6/$HOST_PREFIX6" dev "$HOST_IF" nodad
	_hs ip route add default via "$HOST_GW4" dev "$HOST_IF"
	_hs ip -6 route add default via "$HOST_GW6" dev "$HOST_IF"

	# ICMP echo sockets for every group that exists in here.
	local range
	range=$(awk 'NR == 1 { lo = $1; hi = $1 + $3 - 1 }
		     { if ($1 < lo) lo = $1; if ($1 + $3 - 1 > hi) hi = $1 + $3 - 1 }
		     END { if (hi > 2147483647) hi = 2147483647; print lo, hi }' \
		/proc/self/gid_map)
	_hs sh -c "echo '$range' > /proc/sys/net/ipv4/ping_group_range"
}
