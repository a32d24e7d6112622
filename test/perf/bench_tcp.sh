#!/bin/bash
# TCP throughput benchmark (not a test): iperf3, one stream, through this
# pasta's tap path in the hermetic host, namespace -> host (client sends)
# and host -> namespace (iperf3 -R), IPv4 and IPv6, at MTU 65520 and 1500.
# The namespace connects to the gateway address, which pasta maps to the
# host's loopback where iperf3 -s listens. Each figure is the median of
# RUNS runs of SECONDS s (1 s omitted), in Gbit/s.
#
# Columns, when available: this pasta; Debian's pasta (/usr/bin/pasta, from
# `apt-get install passt`: installed here as real root unless NO_INSTALL is
# set); slirp4netns (IPv4 only: its gateway 10.0.2.2 maps to the host's
# loopback, and it has no such mapping for IPv6); a plain veth pair between
# two namespaces (the kernel's limit).
#
# Loopback cells: the spliced bypass, IPv4, namespace -> host (pasta -T,
# the client in the namespace connects to its own 127.0.0.1) and host ->
# namespace (iperf3 -R over the same connection), against iperf3 over the
# host's own loopback (the "veth" column holds that figure there).
#
#   test/perf/bench_tcp.sh            RUNS=3 SECONDS_=3 by default
#   PASTA=/path/to/pasta RUNS=5 test/perf/bench_tcp.sh
. "$(dirname "$0")/../integration/lib.sh"

need_pkg iperf3 iperf3
need_pkg jq jq
if [ ! -x /usr/bin/pasta ] && [ -z "${NO_INSTALL:-}" ]; then
	need_pkg /usr/bin/pasta passt 2>/dev/null || true
fi
if [ -z "${NO_INSTALL:-}" ]; then
	(need_pkg slirp4netns slirp4netns) >/dev/null 2>&1 || true
fi
hermetic_host
[ -x "$PASTA" ] || skip "no pasta binary at $PASTA (run make)"
SLIRP=$(command -v slirp4netns || true)

RUNS=${RUNS:-3}
SECS=${SECONDS_:-3}
PORT4=5201
PORT6=5202
REF=/usr/bin/pasta
[ -x "$REF" ] || REF=

bg_start sh -c "exec iperf3 -s -B 127.0.0.1 -p $PORT4 >/dev/null 2>&1"
bg_start sh -c "exec iperf3 -s -B ::1 -p $PORT6 >/dev/null 2>&1"
wait_for "ss -ltn | grep -q ':$PORT6 '" 10 || fail "iperf3 servers"

# median of the arguments (numbers)
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
		else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# smallest of the arguments: a run below half the median is a stall
minimum() {
	printf '%s\n' "$@" | sort -g | head -1
}

# gbps JSON: received bits per second of an iperf3 -J run, in Gbit/s
gbps() {
	jq -r '(.end.sum_received.bits_per_second // 0) / 1e9 | . * 1000 | round / 1000' \
		2>/dev/null || echo 0
}

# through_pasta BINARY FAMILY MTU REVERSE: one figure
through_pasta() {
	local bin=$1 fam=$2 mtu=$3 rev=$4 gw port
	if [ "$fam" = 4 ]; then gw=$HOST_GW4; port=$PORT4; else gw=$HOST_GW6; port=$PORT6; fi
	timeout $((SECS + 30)) "$bin" --config-net -f -q -m "$mtu" -- \
		iperf3 -c "$gw" -p "$port" -t "$SECS" -O 1 -J $rev 2>/dev/null | gbps
}

# through_slirp MTU REVERSE: IPv4 through slirp4netns, one figure
through_slirp() {
	local mtu=$1 rev=$2 ns sl r=0
	unshare -n sleep 1000 &
	ns=$!
	sleep 0.2
	"$SLIRP" --configure --mtu="$mtu" "$ns" tap0 >/dev/null 2>&1 &
	sl=$!
	if wait_for "nsenter -t $ns -n ip -4 addr show tap0 2>/dev/null | grep -q 10.0.2.100" 10
	then
		r=$(nsenter -t "$ns" -n timeout $((SECS + 30)) iperf3 -c 10.0.2.2 -p "$PORT4" \
			-t "$SECS" -O 1 -J $rev 2>/dev/null | gbps)
	fi
	kill "$sl" "$ns" 2>/dev/null
	wait "$sl" "$ns" 2>/dev/null
	echo "$r"
}

# veth: a namespace behind a veth pair with the same MTU
VETH_PID=
setup_veth() {
	local mtu=$1
	[ -n "$VETH_PID" ] && { kill "$VETH_PID"; wait "$VETH_PID" 2>/dev/null; }
	ip link del vb0 2>/dev/null
	unshare -n sleep 100000 &
	VETH_PID=$!
	sleep 0.2
	ip link add vb0 mtu "$mtu" type veth peer name vb1 mtu "$mtu" netns "$VETH_PID" || return 1
	ip addr add 198.51.100.1/24 dev vb0
	ip -6 addr add 2001:db8:1::1/64 dev vb0 nodad
	ip link set vb0 up
	nsenter -t "$VETH_PID" -n sh -c "ip link set lo up; ip link set vb1 up;
		ip addr add 198.51.100.2/24 dev vb1; ip -6 addr add 2001:db8:1::2/64 dev vb1 nodad"
}
through_veth() {
	local fam=$1 rev=$2 dst port
	if [ "$fam" = 4 ]; then dst=198.51.100.1; port=5203; else dst=2001:db8:1::1; port=5203; fi
	nsenter -t "$VETH_PID" -n timeout $((SECS + 30)) \
		iperf3 -c "$dst" -p "$port" -t "$SECS" -O 1 -J $rev 2>/dev/null | gbps
}
bg_start sh -c "exec iperf3 -s -p 5203 >/dev/null 2>&1"
on_cleanup '[ -n "$VETH_PID" ] && kill $VETH_PID'

printf '%-34s %10s %8s %12s %11s %10s\n' "iperf3, 1 stream, Gbit/s (median)" "this pasta" \
	"(min)" "Debian pasta" "slirp4netns" "veth"
for mtu in 65520 1500; do
	setup_veth "$mtu" || VETH_PID=
	for fam in 4 6; do
		for rev in "" -R; do
			dir="ns->host"
			[ -n "$rev" ] && dir="host->ns"
			a=() b=() sl=() v=()
			for (( i = 0; i < RUNS; i++ )); do
				a+=("$(through_pasta "$PASTA" $fam $mtu "$rev")")
				[ -n "$REF" ] && b+=("$(through_pasta "$REF" $fam $mtu "$rev")")
				[ -n "$SLIRP" ] && [ "$fam" = 4 ] &&
					sl+=("$(through_slirp $mtu "$rev")")
				[ -n "$VETH_PID" ] && v+=("$(through_veth $fam "$rev")")
			done
			printf '%-34s %10s %8s %12s %11s %10s\n' "IPv$fam $dir, MTU $mtu" \
				"$(median "${a[@]}")" "$(minimum "${a[@]}")" \
				"$( [ -n "$REF" ] && median "${b[@]}" || echo -)" \
				"$( [ ${#sl[@]} -gt 0 ] && median "${sl[@]}" || echo -)" \
				"$( [ -n "$VETH_PID" ] && median "${v[@]}" || echo -)"
		done
	done
done

# through_splice BINARY REVERSE: loopback through pasta -T (spliced)
through_splice() {
	timeout $((SECS + 30)) "$1" --config-net -f -q -T "$PORT4" -- \
		iperf3 -c 127.0.0.1 -p "$PORT4" -t "$SECS" -O 1 -J $2 2>/dev/null | gbps
}
through_lo() {
	timeout $((SECS + 30)) iperf3 -c 127.0.0.1 -p "$PORT4" -t "$SECS" -O 1 -J $1 \
		2>/dev/null | gbps
}
for rev in "" -R; do
	dir="ns->host"
	[ -n "$rev" ] && dir="host->ns"
	a=() b=() v=()
	for (( i = 0; i < RUNS; i++ )); do
		a+=("$(through_splice "$PASTA" "$rev")")
		[ -n "$REF" ] && b+=("$(through_splice "$REF" "$rev")")
		v+=("$(through_lo "$rev")")
	done
	printf '%-34s %10s %8s %12s %11s %10s\n' "IPv4 loopback $dir (splice; lo)" \
		"$(median "${a[@]}")" "$(minimum "${a[@]}")" \
		"$( [ -n "$REF" ] && median "${b[@]}" || echo -)" "-" \
		"$(median "${v[@]}")"
done
exit 0
