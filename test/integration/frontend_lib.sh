# shellcheck shell=bash disable=SC2034 # variables are for the callers
# Helpers around build/frontend (test/perf/frontend.cpp), the qemu-free
# front-end that connects a tap device in a new network namespace to
# passt's stream socket. Source after lib.sh, in a hermetic host.
#
# The namespace is configured with ip commands (FE_SETUP), not DHCP, with
# the addresses passt derives from the hermetic host and hands to its guest:
# 192.0.2.2/24 via 192.0.2.1, 2001:db8::2/64 via 2001:db8::1. Router
# advertisements are ignored there (accept_ra 0) so that no SLAAC address
# competes with 2001:db8::2 as a source address; DAD is off, as in the
# hermetic host.

FRONTEND=${FRONTEND:-$PASST_ROOT/build/frontend}
FE_IF=tap0
FE_SETUP="ip link set lo up &&
	ip addr add $HOST_ADDR4/$HOST_PREFIX4 dev $FE_IF &&
	ip route add default via $HOST_GW4 dev $FE_IF &&
	ip -6 addr add $HOST_ADDR6/$HOST_PREFIX6 dev $FE_IF nodad &&
	ip -6 route add default via $HOST_GW6 dev $FE_IF"

# The sysctls of a fresh namespace, then the front-end (exec'd: same PID).
# shellcheck disable=SC2016 # expanded by the inner shell
_FE_NS='echo 0 > /proc/sys/net/ipv6/conf/default/accept_ra &&
	echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad &&
	echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad && exec "$@"'

# fe_run SOCK FRONTEND_OPTION... -- CMD: the front-end in a new network
# namespace, in the foreground; CMD (a shell command) runs in that namespace
# after FE_SETUP. Exit status: CMD's. With FE_TIMEOUT set, all of it under
# timeout FE_TIMEOUT.
fe_run() {
	local sock=$1 fe_opts=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		fe_opts+=("$1")
		shift
	done
	shift
	${FE_TIMEOUT:+timeout "$FE_TIMEOUT"} unshare -n sh -c "$_FE_NS" sh "$FRONTEND" "${FE_MODE:-stream}" "$sock" -i "$FE_IF" "${fe_opts[@]}" -- \
		sh -c "$FE_SETUP && $*"
}

# fe_start SOCK LOG FRONTEND_OPTION...: the front-end in a new network
# namespace, in the background (PID in FE_PID, stopped at exit), configured
# with FE_SETUP once connected; run commands there with fe_exec.
fe_start() {
	local sock=$1 log=$2 ready
	shift 2
	ready=$(mktemp -u -p "$TEST_DIR" fe-ready.XXXXXX)
	bg_start unshare -n sh -c "$_FE_NS" sh "$FRONTEND" "${FE_MODE:-stream}" "$sock" -i "$FE_IF" \
		-r "$ready" "$@" 2> "$log"
	FE_PID=$BG_PID
	wait_for "[ -e '$ready' ]" 15 || fail "frontend did not connect: $(cat "$log")"
	fe_exec sh -c "$FE_SETUP" || fail "configuring $FE_IF in the frontend's namespace"
}

# fe_exec CMD [ARG...]: runs CMD in the namespace of the front-end FE_PID.
fe_exec() {
	nsenter -t "$FE_PID" -n -- "$@"
}
