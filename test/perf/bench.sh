#!/bin/bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2059,SC2317 # eval strings, one format, functions run through eval
# Throughput benchmark (not a test): iperf3, one stream, in the hermetic
# host, this pasta against Debian's pasta, slirp4netns and the kernel.
# Each figure is the median of RUNS runs of SECONDS_ s (1 s omitted) of
# RECEIVED throughput (iperf3's sum_received), in Gbit/s; a failed or
# timed-out run counts as 0. "-" marks a column that does not apply.
#
# Columns, when available: this pasta, its median and its slowest run (a run
# below half the median is a stall); Debian's pasta (/usr/bin/pasta, from
# `apt-get install passt`: installed here as real root unless NO_INSTALL is
# set); slirp4netns (IPv4 tap rows only: its gateway 10.0.2.2 maps to the
# host's loopback, and it has no such mapping for IPv6); "veth / lo": a
# plain veth pair between two namespaces with the same MTU for the tap rows,
# iperf3 over the host's own loopback for the loopback rows (the kernel's
# limit either way).
#
# Rows:
# - TCP via the tap path, namespace -> host (client sends) and host ->
#   namespace (iperf3 -R), IPv4 and IPv6, at MTU 65520 and 1500. The
#   namespace connects to the gateway address, which pasta maps to the
#   host's loopback where iperf3 -s listens.
# - TCP via the loopback bypass (spliced, pasta -T PORT), IPv4 (127.0.0.1)
#   and IPv6 (::1), both directions: the client in the namespace connects
#   to its own loopback address, pasta relays to the host's. Under each,
#   the daemon's CPU time per GB moved (its utime + stime, not its
#   children's, over the bytes received; ours: median and largest, and
#   Debian's median).
# - passt, over its stream back-end (qemu's -netdev stream framing) and
#   its vhost-user back-end: TCP both directions, IPv4 and IPv6, guest MTU
#   65520 and 1500. No qemu: the guest is a network namespace whose tap
#   device build/frontend (test/perf/frontend.cpp, make perf-tools)
#   connects to passt -s; its kernel runs iperf3 against the gateway
#   address as in the tap rows.
#   Columns: this passt (median, slowest run), Debian's passt
#   (/usr/bin/passt, same package as its pasta) through the same front-end,
#   and the veth pair at the same MTU. vhost-user rows (labelled "vu")
#   have our passt only (Debian 12's passt has no vhost-user) and sit right
#   under the stream row whose veth figure applies. The front-end sets the
#   tap MTU to the one passt is given with -m. By default it enables no
#   offloads on its tap (stream framing carries none) and negotiates none
#   over vhost-user, so frames are at most one MTU each way; the "vu -O"
#   rows negotiate checksum and TSO offloads both ways (frontend -O), as a
#   Linux virtio-net guest does: up to 64 KiB segments each way. Then UDP rows, as the
#   UDP tap rows below (MTU UDP_MTU, both directions, IPv4 and IPv6), for
#   both back-ends and Debian's passt over stream.
# - UDP via the tap path, IPv4 and IPv6, both directions, at MTU UDP_MTU
#   (1500), and via the loopback bypass (pasta -T PORT -U PORT: iperf3 runs
#   its control connection over TCP and its data over UDP, on the same port
#   number). iperf3 -u -b 0 (no rate limit: the sender goes as fast as it
#   can) -l UDP_LEN (1400 bytes of payload, which fits a 1500-byte MTU for
#   both IPv4 and IPv6). host -> namespace is iperf3 -R: the client in the
#   namespace still opens the flow (its first datagram goes to the server),
#   then the server sends the data back over it, so no inbound forwarding
#   (-u) is needed. Each UDP row is followed by the median loss: the share
#   of the bytes sent that did not arrive, in %. With no rate limit the
#   sender outruns the receiver, so loss is expected everywhere, veth too.
#
# - Latency, IPv4, tap path, default MTU: sockperf ping-pong over TCP and
#   UDP with 64-byte messages (the median round trip, in microseconds: twice
#   sockperf's median one-way figure), and TCP connections per second, each
#   a full cycle of connect, one byte each way, close, one at a time
#   (build/connrate, make perf-tools). The slowest-run column holds the
#   largest round trip or the smallest rate; under each latency row, what
#   the path adds over veth; under the rate row, the share of veth's.
#
# - idle: the cost of a daemon that has nothing to do (Podman and KubeVirt
#   run one per container or VM). pasta --config-net -f -- sleep, and passt
#   -f -s SOCKET with no qemu connected, each started alone; after IDLE_WAIT
#   (2) s, VmRSS (kB) from /proc/PID/status, then wake-ups per second over
#   IDLE_SECS (10) s: the growth of voluntary_ctxt_switches (summed over the
#   daemon's threads), each a return from a sleep in epoll_wait() or the
#   like. pasta's defaults include -t/-u auto, whose port scan runs every
#   second in either implementation, so about one wake-up a second is its
#   floor; the "no auto" row passes -t none -u none -T none -U none. Columns:
#   ours and Debian's (/usr/bin/pasta, /usr/bin/passt), in a table of
#   its own.
#
#   test/perf/bench.sh            RUNS=3 SECONDS_=3 by default
#   PASTA=/path/to/pasta RUNS=5 UDP_LEN=1400 UDP_MTU=1500 test/perf/bench.sh
#   SECTIONS="passt" test/perf/bench.sh   only some of: tap splice passt udp
#   latency idle
#   (PASST=/path/to/passt, FRONTEND=/path/to/frontend: the passt rows)
#   BASE_PASST=/path/to/other/passt: the vhost-user rows also run that build
#   (e.g. the last commit's), interleaved, in the fourth column ("base")
#   PASST_MODES="vu-O": only some of the passt rows' back-ends: stream vu
#   vu-O (the UDP rows: stream vu)
. "$(dirname "$0")/../integration/lib.sh"
need_cmd nsenter

need_pkg iperf3 iperf3
need_pkg jq jq
need_pkg sockperf sockperf
if [ ! -x /usr/bin/pasta ] && [ -z "${NO_INSTALL:-}" ]; then
	need_pkg /usr/bin/pasta passt 2>/dev/null || true
fi
if [ -z "${NO_INSTALL:-}" ]; then
	(need_pkg slirp4netns slirp4netns) >/dev/null 2>&1 || true
fi
hermetic_host
. "$(dirname "$0")/../integration/frontend_lib.sh"
[ -x "$PASTA" ] || skip "no pasta binary at $PASTA (run make)"
SLIRP=$(command -v slirp4netns || true)
SECTIONS=" ${SECTIONS:-tap splice passt udp latency idle} "

RUNS=${RUNS:-3}
SECS=${SECONDS_:-3}
UDP_LEN=${UDP_LEN:-1400}
UDP_MTU=${UDP_MTU:-1500}
UDP="-u -b 0 -l $UDP_LEN"
PORT4=5201
PORT6=5202
PORTV=5203
REF=/usr/bin/pasta
[ -x "$REF" ] || REF=
REF_PASST=/usr/bin/passt
[ -x "$REF_PASST" ] || REF_PASST=
[ -x "$FRONTEND" ] || FRONTEND=
BASE_PASST=${BASE_PASST:-}
[ -z "$BASE_PASST" ] || [ -x "$BASE_PASST" ] || die "BASE_PASST: no binary at $BASE_PASST"
PASST_MODES=" ${PASST_MODES:-stream vu vu-O} "

# Latency servers, on every address: pasta maps the gateway to the host's
# loopback, the veth namespace reaches 198.51.100.1.
PORTL_TCP=5211
PORTL_UDP=5212
PORTL_CONN=5213
CONNRATE=${CONNRATE:-$PASST_ROOT/build/connrate}
[ -x "$CONNRATE" ] || CONNRATE=
case $SECTIONS in *" latency "*)
	bg_start sh -c "exec sockperf server --tcp -i 0.0.0.0 -p $PORTL_TCP >/dev/null 2>&1"
	bg_start sh -c "exec sockperf server -i 0.0.0.0 -p $PORTL_UDP >/dev/null 2>&1"
	[ -n "$CONNRATE" ] &&
		bg_start sh -c "exec '$CONNRATE' server 0.0.0.0 $PORTL_CONN >/dev/null 2>&1"
esac
bg_start sh -c "exec iperf3 -s -B 127.0.0.1 -p $PORT4 >/dev/null 2>&1"
bg_start sh -c "exec iperf3 -s -B ::1 -p $PORT6 >/dev/null 2>&1"
bg_start sh -c "exec iperf3 -s -p $PORTV >/dev/null 2>&1"
wait_for "ss -ltn | grep -q ':$PORT6 ' && ss -ltn | grep -q ':$PORTV '" 10 ||
	fail "iperf3 servers"

# median of the numeric arguments ("-" if there are none)
median() {
	printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
		else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# smallest of the numeric arguments
minimum() {
	printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -g | awk 'NR == 1 { print; f = 1 }
		END { if (!f) print "-" }'
}

# largest of the numeric arguments
maximum() {
	printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -g | awk '{ v = $1; f = 1 }
		END { print f ? v : "-" }'
}

# figures: reads the output of iperf3 -J, prints "GBPS LOSS": received
# Gbit/s and, for UDP, the share of the bytes sent that the receiver did not
# get, in % ("-" for TCP). Not iperf3's lost_percent: with -O, version 3.12
# counts the datagrams of the omitted second as lost when the client sends.
# "0 -" if the run failed or left no complete JSON.
figures() {
	local j
	j=$(cat)
	[ -n "$j" ] && jq -r '.end as $e | [
		(($e.sum_received.bits_per_second // 0) / 1e9 * 1000 | round / 1000),
		(if .start.test_start.protocol == "UDP" and ($e.sum_sent.bytes // 0) > 0
		 then (100 * (1 - ($e.sum_received.bytes // 0) / $e.sum_sent.bytes)
			| if . < 0 then 0 else . end | . * 10 | round / 10)
		 else "-" end)
		] | map(tostring) | join(" ")' <<< "$j" 2>/dev/null || echo "0 -"
}

# tap_pasta BINARY FAMILY MTU OPTS: through the tap path of pasta
tap_pasta() {
	local bin=$1 fam=$2 mtu=$3 opts=$4 gw port
	if [ "$fam" = 4 ]; then gw=$HOST_GW4; port=$PORT4; else gw=$HOST_GW6; port=$PORT6; fi
	# shellcheck disable=SC2086
	timeout $((SECS + 30)) "$bin" --config-net -f -q -m "$mtu" -- \
		iperf3 -c "$gw" -p "$port" -t "$SECS" -O 1 -J $opts 2>/dev/null | figures
}

# tap_passt BINARY FAMILY MTU OPTS [MODE [FE_OPTS]]: through passt's stream
# back-end (or MODE vhost-user, FE_OPTS: more front-end options such as
# -O), the guest being a namespace behind build/frontend.
# passt -1 exits when the front-end disconnects; it is killed anyway if it
# is still there.
tap_passt() {
	local bin=$1 fam=$2 mtu=$3 opts=$4 mode=${5:-stream} fe_opts=${6:-} gw port sock pid
	local r="0 -" vu=
	[ "$mode" = vhost-user ] && vu=--vhost-user
	if [ "$fam" = 4 ]; then gw=$HOST_GW4; port=$PORT4; else gw=$HOST_GW6; port=$PORT6; fi
	sock=$(mktemp -u -p "$TEST_DIR" passt.XXXXXX)
	"$bin" ${vu:+"$vu"} -f -q -1 -m "$mtu" -s "$sock" >/dev/null 2>&1 &
	pid=$!
	if wait_for "[ -S '$sock' ]" 10; then
		# shellcheck disable=SC2086 # FE_OPTS: a list of options
		r=$(FE_MODE=$mode FE_TIMEOUT=$((SECS + 30)) fe_run "$sock" -q -m "$mtu" $fe_opts -- \
			"iperf3 -c $gw -p $port -t $SECS -O 1 -J $opts" 2>/dev/null | figures)
	fi
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rm -f "$sock"
	echo "$r"
}

# tap_slirp MTU OPTS: IPv4 through slirp4netns
tap_slirp() {
	local mtu=$1 opts=$2 ns sl r="0 -"
	unshare -n sleep 1000 &
	ns=$!
	sleep 0.2
	"$SLIRP" --configure --mtu="$mtu" "$ns" tap0 >/dev/null 2>&1 &
	sl=$!
	if wait_for "nsenter -t $ns -n ip -4 addr show tap0 2>/dev/null | grep -q 10.0.2.100" 10
	then
		# shellcheck disable=SC2086
		r=$(nsenter -t "$ns" -n timeout $((SECS + 30)) iperf3 -c 10.0.2.2 -p "$PORT4" \
			-t "$SECS" -O 1 -J $opts 2>/dev/null | figures)
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
	VETH_PID=
	ip link del vb0 2>/dev/null
	unshare -n sleep 100000 &
	VETH_PID=$!
	sleep 0.2
	ip link add vb0 mtu "$mtu" type veth peer name vb1 mtu "$mtu" netns "$VETH_PID" ||
		return 1
	ip addr add 198.51.100.1/24 dev vb0
	ip -6 addr add 2001:db8:1::1/64 dev vb0 nodad
	ip link set vb0 up
	nsenter -t "$VETH_PID" -n sh -c "ip link set lo up; ip link set vb1 up;
		ip addr add 198.51.100.2/24 dev vb1; ip -6 addr add 2001:db8:1::2/64 dev vb1 nodad"
}
on_cleanup '[ -z "$VETH_PID" ] || kill $VETH_PID'

# tap_veth FAMILY OPTS: from the veth namespace to this one
tap_veth() {
	local dst=198.51.100.1
	[ "$1" = 6 ] && dst=2001:db8:1::1
	# shellcheck disable=SC2086
	nsenter -t "$VETH_PID" -n timeout $((SECS + 30)) \
		iperf3 -c "$dst" -p "$PORTV" -t "$SECS" -O 1 -J $2 2>/dev/null | figures
}

# lo_pasta BINARY FAMILY OPTS [CPU_FILE]: through the loopback bypass of
# pasta, from the namespace's loopback to the host's (-T, and -U as well for
# UDP). With CPU_FILE, also appends the daemon's CPU time per GB moved:
# its own utime + stime (all threads, not its children's) from
# /proc/PID/stat, read once iperf3 is done and pasta still runs, over the
# bytes iperf3 received.
lo_pasta() {
	local bin=$1 fam=$2 opts=$3 cpu_file=${4:-} dst=127.0.0.1 port=$PORT4 fwd
	local out pid ticks r
	[ "$fam" = 6 ] && { dst=::1; port=$PORT6; }
	fwd=(-T "$port")
	case " $opts " in *" -u "*) fwd+=(-U "$port") ;; esac
	out=$(mktemp -p "$TEST_DIR" lo.XXXXXX)
	# shellcheck disable=SC2086
	"$bin" --config-net -f -q "${fwd[@]}" -- sh -c "timeout $((SECS + 30)) \
		iperf3 -c $dst -p $port -t $SECS -O 1 -J $opts > $out 2>/dev/null;
		touch $out.done; sleep 5" >/dev/null 2>&1 &
	pid=$!
	wait_for "[ -e $out.done ]" $((SECS + 40)) >/dev/null 2>&1
	ticks=$(awk '{ print $14 + $15 }' /proc/"$pid"/stat 2>/dev/null)
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	r=$(figures < "$out")
	if [ -n "$cpu_file" ]; then
		jq -r --arg t "${ticks:-x}" --arg hz "$(getconf CLK_TCK)" '
			(.end.sum_received.bytes // 0) as $b |
			if ($t | test("^[0-9]+$")) and $b > 0
			then ($t | tonumber) / ($hz | tonumber) / ($b / 1e9) * 1000 | round / 1000
			else "-" end' "$out" 2>/dev/null >> "$cpu_file" || echo - >> "$cpu_file"
	fi
	rm -f "$out" "$out.done"
	echo "$r"
}

# lo_host FAMILY OPTS: over the host's own loopback
lo_host() {
	local dst=127.0.0.1 port=$PORT4
	[ "$1" = 6 ] && { dst=::1; port=$PORT6; }
	# shellcheck disable=SC2086
	timeout $((SECS + 30)) iperf3 -c "$dst" -p "$port" -t "$SECS" -O 1 -J $2 \
		2>/dev/null | figures
}

# Latency probes; each prints "VALUE -" like the others ("0 -" if it failed).
# rtt_of: sockperf's output -> the median round trip in microseconds.
rtt_of() {
	awk '/percentile 50.000 =/ { printf "%.1f -\n", 2 * $NF; f = 1 }
		END { if (!f) print "0 -" }'
}
rate_of() { awk 'NR == 1 && $1 > 0 { print $1 " -"; f = 1 } END { if (!f) print "0 -" }'; }
sockperf_args() {
	local port=$PORTL_UDP tcp=
	[ "$1" = tcp ] && { port=$PORTL_TCP; tcp=--tcp; }
	echo "ping-pong $tcp -p $port -m 64 -t $SECS"
}

# lat_pasta BINARY tcp|udp|conn: from pasta's namespace to the gateway
lat_pasta() {
	local bin=$1
	if [ "$2" = conn ]; then
		timeout $((SECS + 30)) "$bin" --config-net -f -q -- \
			"$CONNRATE" client "$HOST_GW4" "$PORTL_CONN" "$SECS" 2>/dev/null | rate_of
		return
	fi
	# shellcheck disable=SC2046 # the argument list
	timeout $((SECS + 30)) "$bin" --config-net -f -q -- \
		sockperf $(sockperf_args "$2") -i "$HOST_GW4" 2>/dev/null | rtt_of
}

# lat_veth tcp|udp|conn: from the veth namespace to this one
lat_veth() {
	if [ "$1" = conn ]; then
		nsenter -t "$VETH_PID" -n timeout $((SECS + 30)) \
			"$CONNRATE" client 198.51.100.1 "$PORTL_CONN" "$SECS" 2>/dev/null | rate_of
		return
	fi
	# shellcheck disable=SC2046
	nsenter -t "$VETH_PID" -n timeout $((SECS + 30)) \
		sockperf $(sockperf_args "$1") -i 198.51.100.1 2>/dev/null | rtt_of
}

FMT='%-36s %10s %8s %12s %11s %10s\n'

# row LABEL CMD_THIS CMD_DEBIAN CMD_SLIRP CMD_KERNEL: each non-empty CMD is a
# shell command printing "GBPS LOSS"; all run RUNS times, interleaved so that
# noise from the shared machine spreads over the columns. Prints the medians
# (also left in ROW[]) and our slowest run (WORST=maximum: the largest
# figure, for latencies), and a second line with the median loss if any run
# reported one (UDP).
row() {
	local label=$1 i c g l any=
	shift
	local cmds=("$@") gs=() ls=() out=() loss=()
	for (( i = 0; i < RUNS; i++ )); do
		for c in 0 1 2 3; do
			[ -n "${cmds[c]}" ] || continue
			read -r g l <<< "$(eval "${cmds[c]}")"
			gs[c]+=" ${g:-0}"
			ls[c]+=" ${l:--}"
		done
	done
	for c in 0 1 2 3; do
		# shellcheck disable=SC2086 # lists of numbers
		out[c]=$(median ${gs[c]})
		# shellcheck disable=SC2086
		loss[c]=$(median ${ls[c]})
		[ "${loss[c]}" != - ] && any=1
	done
	# shellcheck disable=SC2086
	printf "$FMT" "$label" "${out[0]}" "$(${WORST:-minimum} ${gs[0]})" "${out[1]}" \
		"${out[2]}" "${out[3]}"
	ROW=("${out[@]}")
	[ -n "$any" ] && printf "$FMT" "  lost %" "${loss[0]}" - "${loss[1]}" "${loss[2]}" \
		"${loss[3]}"
	return 0
}

direction() {
	case "$1" in *-R*) echo "host->ns" ;; *) echo "ns->host" ;; esac
}

case $SECTIONS in *" tap "* | *" splice "* | *" udp "*)
printf "$FMT" "iperf3, 1 stream, Gbit/s (median)" "this pasta" "(min)" "Debian pasta" \
	"slirp4netns" "veth / lo"
esac

case $SECTIONS in *" tap "*)
for mtu in 65520 1500; do
	setup_veth "$mtu" || VETH_PID=
	for fam in 4 6; do
		for opts in "" -R; do
			row "TCP IPv$fam $(direction "$opts"), tap, MTU $mtu" \
				"tap_pasta '$PASTA' $fam $mtu '$opts'" \
				"${REF:+tap_pasta '$REF' $fam $mtu '$opts'}" \
				"$([ -n "$SLIRP" ] && [ "$fam" = 4 ] && echo "tap_slirp $mtu '$opts'")" \
				"${VETH_PID:+tap_veth $fam '$opts'}"
		done
	done
done
esac

# cpu_row FILE_OURS FILE_DEBIAN: the medians of the CPU figures lo_pasta
# left, under a loopback row
cpu_row() {
	# shellcheck disable=SC2046 # lists of numbers
	printf "$FMT" "  daemon CPU, s per GB" "$(median $(cat "$1" 2>/dev/null))" \
		"$(maximum $(cat "$1" 2>/dev/null))" "$(median $(cat "$2" 2>/dev/null))" - -
	rm -f "$1" "$2"
}
CPU_OURS=$TEST_DIR/cpu.ours
CPU_REF=$TEST_DIR/cpu.ref

case $SECTIONS in *" splice "*)
for fam in 4 6; do
	for opts in "" -R; do
		row "TCP IPv$fam $(direction "$opts"), loopback splice" \
			"lo_pasta '$PASTA' $fam '$opts' $CPU_OURS" \
			"${REF:+lo_pasta '$REF' $fam '$opts' $CPU_REF}" "" \
			"lo_host $fam '$opts'"
		cpu_row "$CPU_OURS" "$CPU_REF"
	done
done
esac

case $SECTIONS in *" passt "*)
if [ -n "$FRONTEND" ] && [ -x "$PASST" ]; then
	base_col=-
	[ -z "$BASE_PASST" ] || base_col="base passt"
	printf "$FMT" "passt (no qemu), Gbit/s (median)" "this passt" "(min)" "Debian passt" \
		"$base_col" "veth"
	# passt_row LABEL MODE FAM MTU OPTS: one back-end's row, if asked for.
	passt_row() {
		local label=$1 mode=$2 fam=$3 mtu=$4 opts=$5 args
		case $PASST_MODES in *" $mode "*) ;; *) return 0 ;; esac
		case $mode in
		stream)
			row "$label" "tap_passt '$PASST' $fam $mtu '$opts'" \
				"${REF_PASST:+tap_passt '$REF_PASST' $fam $mtu '$opts'}" "" \
				"${VETH_PID:+tap_veth $fam '$opts'}"
			return ;;
		vu) args="vhost-user" ;;
		vu-O) args="vhost-user -O" ;;
		esac
		row "$label" "tap_passt '$PASST' $fam $mtu '$opts' $args" "" \
			"${BASE_PASST:+tap_passt '$BASE_PASST' $fam $mtu '$opts' $args}" ""
	}
	for mtu in 65520 1500; do
		setup_veth "$mtu" || VETH_PID=
		for fam in 4 6; do
			for opts in "" -R; do
				for mode in stream vu vu-O; do
					label="TCP IPv$fam $(direction "$opts"), ${mode/-/ -}"
					passt_row "$label, MTU $mtu" "$mode" "$fam" "$mtu" "$opts"
				done
			done
		done
	done
	setup_veth "$UDP_MTU" || VETH_PID=
	for fam in 4 6; do
		for opts in "$UDP" "$UDP -R"; do
			for mode in stream vu; do
				passt_row "UDP IPv$fam $(direction "$opts"), $mode, MTU $UDP_MTU" \
					"$mode" "$fam" "$UDP_MTU" "$opts"
			done
		done
	done
else
	echo "passt rows skipped: no $PASST or no build/frontend (make perf-tools)"
fi
esac

case $SECTIONS in *" udp "*)
setup_veth "$UDP_MTU" || VETH_PID=
for fam in 4 6; do
	for opts in "$UDP" "$UDP -R"; do
		row "UDP IPv$fam $(direction "$opts"), tap, MTU $UDP_MTU" \
			"tap_pasta '$PASTA' $fam $UDP_MTU '$opts'" \
			"${REF:+tap_pasta '$REF' $fam $UDP_MTU '$opts'}" \
			"$([ -n "$SLIRP" ] && [ "$fam" = 4 ] && echo "tap_slirp $UDP_MTU '$opts'")" \
			"${VETH_PID:+tap_veth $fam '$opts'}"
	done
done

for fam in 4 6; do
	for opts in "$UDP" "$UDP -R"; do
		row "UDP IPv$fam $(direction "$opts"), loopback" \
			"lo_pasta '$PASTA' $fam '$opts'" \
			"${REF:+lo_pasta '$REF' $fam '$opts'}" "" \
			"lo_host $fam '$opts'"
	done
done
echo "UDP: iperf3 -u -b 0 -l $UDP_LEN; Gbit/s received; lost % = 1 - bytes received / bytes sent"
esac

# what ROW[c] adds over ROW[3] (latency), or its share of ROW[3] (rate)
over_veth() {
	awk -v a="$1" -v v="$2" -v how="$3" 'BEGIN {
		if (a + 0 <= 0 || v + 0 <= 0) print "-";
		else if (how == "share") printf "%.0f%%\n", 100 * a / v;
		else printf "%+.1f\n", a - v }'
}

case $SECTIONS in *" latency "*)
printf "$FMT" "latency, IPv4, tap, MTU 65520" "this pasta" "(worst)" "Debian pasta" "-" \
	"veth"
setup_veth 65520 || VETH_PID=
for what in tcp udp conn; do
	case $what in
	tcp) label="TCP round trip, 64 B, us" how=add ;;
	udp) label="UDP round trip, 64 B, us" how=add ;;
	conn) label="TCP connections per second" how=share
		[ -n "$CONNRATE" ] || { echo "connection rate skipped: no build/connrate"; continue; } ;;
	esac
	worst=maximum
	[ "$what" = conn ] && worst=minimum
	WORST=$worst row "$label" "lat_pasta '$PASTA' $what" "${REF:+lat_pasta '$REF' $what}" "" \
		"${VETH_PID:+lat_veth $what}"
	if [ "$how" = add ]; then
		printf "$FMT" "  added over veth" "$(over_veth "${ROW[0]}" "${ROW[3]}")" - \
			"$(over_veth "${ROW[1]}" "${ROW[3]}")" - -
	else
		printf "$FMT" "  share of veth's" "$(over_veth "${ROW[0]}" "${ROW[3]}" share)" - \
			"$(over_veth "${ROW[1]}" "${ROW[3]}" share)" - -
	fi
done
esac

case $SECTIONS in *" idle "*)
IDLE_WAIT=${IDLE_WAIT:-2}
IDLE_SECS=${IDLE_SECS:-10}

# voluntary context switches of PID, all its threads
idle_csw() {
	cat /proc/"$1"/task/*/status 2>/dev/null |
		awk '/^voluntary_ctxt_switches/ { s += $2 } END { print s + 0 }'
}

# idle_run MODE BINARY [OPTS...]: prints "WAKEUPS_PER_S RSS_KB" for one
# idle daemon, "- -" if it did not come up
idle_run() {
	local mode=$1 bin=$2 pid sock a b rss
	shift 2
	if [ "$mode" = pasta ]; then
		"$bin" --config-net -f -q "$@" -- sleep $((IDLE_WAIT + IDLE_SECS + 30)) \
			>/dev/null 2>&1 &
	else
		sock=$(mktemp -u -p "$TEST_DIR" idle.XXXXXX)
		"$bin" -f -q -s "$sock" "$@" >/dev/null 2>&1 &
	fi
	pid=$!
	sleep "$IDLE_WAIT"
	rss=$(awk '/^VmRSS/ { print $2 }' /proc/"$pid"/status 2>/dev/null)
	a=$(idle_csw "$pid")
	sleep "$IDLE_SECS"
	b=$(idle_csw "$pid")
	if [ -n "$rss" ] && kill -0 "$pid" 2>/dev/null; then
		awk -v a="$a" -v b="$b" -v s="$IDLE_SECS" -v r="$rss" \
			'BEGIN { printf "%.1f %s\n", (b - a) / s, r }'
	else
		echo "- -"
	fi
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	[ -n "$sock" ] && rm -f "$sock"
	return 0
}

IFMT='%-36s %12s %12s %12s %12s\n'
# idle_row LABEL MODE OPTS: ours and Debian's one after the other
idle_row() {
	local label=$1 mode=$2 opts=$3 ours ref=- w1 r1 w2="-" r2="-" refbin
	[ "$mode" = pasta ] && refbin=$REF || refbin=$REF_PASST
	# shellcheck disable=SC2086 # OPTS: a list of options
	ours=$(idle_run "$mode" "$([ "$mode" = pasta ] && echo "$PASTA" || echo "$PASST")" $opts)
	# shellcheck disable=SC2086
	[ -n "$refbin" ] && ref=$(idle_run "$mode" "$refbin" $opts)
	read -r w1 r1 <<< "$ours"
	[ "$ref" != - ] && read -r w2 r2 <<< "$ref"
	printf "$IFMT" "$label" "$w1" "$w2" "$r1" "$r2"
}

printf "$IFMT" "idle: wake-ups/s, VmRSS kB" "ours /s" "Debian /s" "ours kB" "Debian kB"
idle_row "pasta --config-net" pasta ""
idle_row "pasta --config-net, no auto" pasta "-t none -u none -T none -U none"
if [ -x "$PASST" ]; then
	idle_row "passt -s, no guest" passt ""
fi
echo "idle: ${IDLE_SECS} s idle after ${IDLE_WAIT} s; wake-ups = voluntary context switches"
esac
exit 0
