# shellcheck shell=sh
# Helpers for guest test scripts (sourced by /init, so also usable from the
# guest.cmd snippet). Every helper prints GUEST-RESULT NAME PASS|FAIL; the
# data helpers also print what the host side compares (byte counts, MD5s,
# replies). The host waits for "GUEST-READY ..." before connecting in.

# result NAME CMD [ARGS...]: run CMD, print GUEST-RESULT NAME PASS|FAIL.
result() {
	_name=$1
	shift
	_out=$("$@" 2>&1)
	_rc=$?
	if [ $_rc -eq 0 ]; then
		echo "GUEST-RESULT $_name PASS"
	else
		echo "GUEST-RESULT $_name FAIL rc=$_rc $(echo "$_out" | tail -n 3 | tr '\n' ' ')"
	fi
	return $_rc
}

# verdict NAME RC DETAIL: print GUEST-RESULT NAME from an exit status.
verdict() {
	if [ "$2" -eq 0 ]; then
		echo "GUEST-RESULT $1 PASS"
	else
		echo "GUEST-RESULT $1 FAIL rc=$2 $3"
	fi
	return "$2"
}

# file_sum FILE: "BYTES MD5" of FILE.
file_sum() {
	echo "$(wc -c < "$1") $(md5sum < "$1" | cut -d' ' -f1)"
}

# tcp_out ADDR PORT MIB: connect to ADDR:PORT and send MIB MiB of random
# data, then half-close. Prints GUEST-TCP-OUT BYTES MD5 (what was sent).
tcp_out() {
	dd if=/dev/urandom of=/tmp/out bs=1M count="$3" 2>/dev/null
	echo "GUEST-TCP-OUT $(file_sum /tmp/out)"
	timeout 60 nc "$1" "$2" < /tmp/out > /dev/null 2> /tmp/out.err
	verdict tcp-out $? "$(cat /tmp/out.err)"
	rm -f /tmp/out /tmp/out.err
}

# tcp_in ADDR PORT: connect to ADDR:PORT and receive until the peer closes.
# Prints GUEST-TCP-IN BYTES MD5 (what was received).
tcp_in() {
	timeout 60 nc "$1" "$2" > /tmp/in 2> /tmp/in.err
	_rc=$?
	echo "GUEST-TCP-IN $(file_sum /tmp/in)"
	verdict tcp-in $_rc "$(cat /tmp/in.err)"
	rm -f /tmp/in /tmp/in.err
}

# tcp_listen PORT: accept one connection on PORT (forwarded by the daemon's
# -t), receive until the peer closes. Our side never half-closes first: nc's
# stdin is a FIFO held open until it is done. Prints GUEST-READY tcp-listen
# PORT once listening, then GUEST-TCP-LISTEN BYTES MD5.
tcp_listen() {
	rm -f /tmp/hold
	mkfifo /tmp/hold
	timeout 60 nc -l -p "$1" < /tmp/hold > /tmp/lin 2> /tmp/lin.err &
	_pid=$!
	exec 9> /tmp/hold
	_i=0
	while ! netstat -ltn | grep -q ":$1 " && [ $_i -lt 50 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	echo "GUEST-READY tcp-listen $1"
	wait $_pid
	_rc=$?
	exec 9>&-
	echo "GUEST-TCP-LISTEN $(file_sum /tmp/lin)"
	verdict tcp-listen $_rc "$(cat /tmp/lin.err)"
	rm -f /tmp/hold /tmp/lin /tmp/lin.err
}

# udp_out NAME ADDR PORT: send "guest-ADDR" to ADDR:PORT (retried every
# second, 10 s at most) and expect "host-echo:guest-ADDR" back.
udp_out() {
	_r=$(gudp send "$2" "$3" "guest-$2" 10 2> /tmp/udp.err)
	_rc=$?
	echo "GUEST-UDP-OUT $2 reply=$_r"
	[ "$_r" = "host-echo:guest-$2" ] || [ $_rc -ne 0 ] || _rc=99
	verdict "$1" $_rc "$(tail -n 2 /tmp/udp.err | tr '\n' ' ')"
	rm -f /tmp/udp.err
}

# udp_in PORT: answer one datagram on PORT (forwarded by the daemon's -u)
# with "echo:" and the datagram. Prints GUEST-READY udp-in PORT first.
udp_in() {
	gudp echo "$1" 1 60 > /tmp/uin 2>&1 &
	_pid=$!
	_i=0
	while ! grep -q ready /tmp/uin && [ $_i -lt 50 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	echo "GUEST-READY udp-in $1"
	wait $_pid
	verdict udp-in $? "$(tr '\n' ' ' < /tmp/uin)"
	rm -f /tmp/uin
}

# mig_transfers MIB STALL_MIB: the guest's side of test_passt_migrate.sh,
# connections that live through a migration, all started at once (gtcp):
#   - duplex to $DHCP_ROUTER:5000 and [2001:db8::1]:5000: send MIB MiB of
#     random data and receive what the host sends, both at once
#   - to $DHCP_ROUTER:5001: send STALL_MIB MiB to a host peer that stops
#     reading for a while (nothing comes back)
#   - echo on $DHCP_ROUTER:5002 until the host closes it: the host drives
#     this one, and its end is the end of the test
# Prints GUEST-MIG-SENT 4|6|s BYTES MD5 first, GUEST-READY mig-transfers once
# they are started, then GUEST-RESULT mig-duplex-4|mig-duplex-6|mig-stall|
# mig-echo and GUEST-MIG-GOT 4|6 BYTES MD5 as each ends.
mig_transfers() {
	dd if=/dev/urandom of=/tmp/o4 bs=1M count="$1" 2>/dev/null
	dd if=/dev/urandom of=/tmp/o6 bs=1M count="$1" 2>/dev/null
	dd if=/dev/urandom of=/tmp/os bs=1M count="$2" 2>/dev/null
	for _f in 4 6 s; do
		echo "GUEST-MIG-SENT $_f $(file_sum /tmp/o$_f)"
	done
	gtcp echo "$DHCP_ROUTER" 5002 900 > /tmp/echo.out 2>&1 &
	_pe=$!
	gtcp duplex "$DHCP_ROUTER" 5000 /tmp/o4 /tmp/i4 600 > /tmp/d4.out 2>&1 &
	_p4=$!
	gtcp duplex 2001:db8::1 5000 /tmp/o6 /tmp/i6 600 > /tmp/d6.out 2>&1 &
	_p6=$!
	gtcp duplex "$DHCP_ROUTER" 5001 /tmp/os /dev/null 600 > /tmp/ds.out 2>&1 &
	_ps=$!
	echo "GUEST-READY mig-transfers"
	for _f in 4 6; do
		eval "wait \$_p$_f"
		verdict "mig-duplex-$_f" $? "$(tr '\n' ' ' < /tmp/d$_f.out)"
		echo "GUEST-MIG-GOT $_f $(file_sum /tmp/i$_f)"
	done
	wait $_ps
	verdict mig-stall $? "$(tr '\n' ' ' < /tmp/ds.out)"
	wait $_pe
	verdict mig-echo $? "$(tr '\n' ' ' < /tmp/echo.out)"
}
