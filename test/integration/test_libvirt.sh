#!/bin/bash
# shellcheck source-path=SCRIPTDIR disable=SC2016
# libvirt starts our passt: an unprivileged qemu:///session libvirtd, run as
# the user passt-test inside the hermetic host with a PATH that finds our
# build's passt first, defines and boots the test guest (TCG, direct kernel
# boot of test/guest's busybox initramfs, serial console to a file) with
#
#	<interface type='user'><backend type='passt'/>
#	  <portForward proto='tcp'><range start='5002' to='5012'/></portForward>
#
# and the test asserts:
#   - the passt process libvirt started is our binary (/proc/PID/exe), run
#     as passt-test; its command line is logged
#   - DHCP from passt: lease 192.0.2.2/24, router 192.0.2.1, MTU 65520; eth0's
#     MTU; SLAAC in 2001:db8::/64; ping to the gateway (guest_check_common)
#   - TCP guest -> host: 8 MiB of random data to the gateway's port 5000,
#     received by a listener on the host's 127.0.0.1; length and MD5 equal
#   - TCP host -> guest through the portForward: the host connects to
#     127.0.0.1:5002, a listener in the guest on port 5012 receives 8 MiB;
#     length and MD5 equal
#   - virsh destroy: the passt process ends and its socket file is gone
#
# Set-up (real root, outside the namespaces, only what is missing): the
# guest kit (guest_lib.sh: qemu-system-x86, linux-image-amd64,
# busybox-static, cpio from Debian 12 itself), and libvirt: Debian 12's
# libvirt 9.0 rejects <backend type='passt'/>, so on bookworm the test adds
# bookworm-backports (same mirror as the existing sources) and installs
# libvirt-daemon, libvirt-daemon-driver-qemu, libvirt-clients from there,
# without recommends. Only those packages (and the exact-version libvirt
# libraries they need) come from backports: qemu stays Debian 12's 7.2 for
# every guest test, and so does systemd (apt-get -t bookworm-backports
# would pull systemd 254 in through systemd-container). Elsewhere, or not
# as root, the test skips unless a libvirt >= 11 is installed.
#
# Usage: test/integration/test_libvirt.sh   (PASST=path/to/passt to override)
# Runs in about a minute (plus about 20 s for the packages, once); every
# wait and virsh call is bounded, so that a broken passt fails it by itself.
# A qemu guest under TCG; slow on a loaded machine:
# run.sh timeout: 600
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/guest_lib.sh"

LIBVIRT_PKGS=(libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients)
LIBVIRT_MIN=11   # verified with 11.3; Debian 12's 9.0 rejects the XML

# The major version of the installed libvirtd, 0 if there is none.
libvirt_major() {
	local v
	v=$(libvirtd --version 2>/dev/null | awk '{ print $NF }')
	v=${v%%.*}
	case $v in
	'' | *[!0-9]*) echo 0 ;;
	*) echo "$v" ;;
	esac
}

# Real root, outside the namespaces: install libvirt unless a new enough one
# is there. The packages and their set-up are in the header.
install_libvirt() {
	[ "$(libvirt_major)" -ge "$LIBVIRT_MIN" ] && command -v virsh >/dev/null && return 0
	if ! _is_real_root || ! command -v apt-get >/dev/null; then
		return 0
	fi
	local codename pkgs=("${LIBVIRT_PKGS[@]}") p
	codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
	if [ "$codename" = bookworm ]; then
		add_backports_source || return 0
		# pkg/release: only these (and what they need at an exact
		# version) from backports, everything else from Debian 12.
		pkgs=()
		for p in "${LIBVIRT_PKGS[@]}"; do
			pkgs+=("$p/$BACKPORTS")
		done
		apt-cache madison libvirt-daemon 2>/dev/null | grep -q "$BACKPORTS" ||
			apt_get update > /dev/null
	fi
	log "installing ${pkgs[*]}"
	local out=$TEST_DIR/apt.log
	apt_get install -y --no-install-recommends "${pkgs[@]}" > "$out" 2>&1 ||
		{ apt_get update && apt_get install -y --no-install-recommends "${pkgs[@]}"; } \
		> "$out" 2>&1 ||
		{ tail -n 20 "$out" >&2; log "could not install libvirt"; }
	grep '^Setting up' "$out" | sed 's/^Setting up /    /; s/ \.\.\.$//' >&2
}

if [ -z "${PASST_TEST_HERMETIC:-}" ]; then
	guest_kit          # first: Debian 12's qemu, before libvirt's dependencies
	install_libvirt
fi
need_cmd timeout python3 setpriv qemu-system-x86_64
if ! command -v libvirtd >/dev/null || ! command -v virsh >/dev/null; then
	skip "libvirt is not installed (libvirtd, virsh: real root installs ${LIBVIRT_PKGS[*]})"
fi
lv_major=$(libvirt_major)
[ "$lv_major" -ge "$LIBVIRT_MIN" ] ||
	skip "libvirt $(libvirtd --version | awk '{ print $NF }') is too old for <backend type='passt'/> (want >= $LIBVIRT_MIN; real root installs it from $BACKPORTS)"
hermetic_host
[ -x "$PASST" ] || fail "no passt binary at $PASST (build first)"
can_unprivileged ||
	skip "qemu:///session needs the unprivileged user $PASST_TEST_USER here (run as real root, which creates it)"

# libvirt puts sockets (qemu's monitor) deep under its directories: keep
# the prefix short (the hermetic host's /tmp is private, so no clash).
d=/tmp/lv
mkdir -m 755 "$d" || fail "cannot create $d"
on_cleanup 'rm -rf "$d"'
# GUEST_KEEP_DIR=DIR: copy consoles and logs there at exit (debugging; DIR
# must be outside /tmp, which is private to the hermetic host).
if [ -n "${GUEST_KEEP_DIR:-}" ]; then
	on_cleanup 'mkdir -p "$GUEST_KEEP_DIR" && cp -r "$d"/. "$GUEST_KEEP_DIR"/'
fi
MIB=8
BYTES=$((MIB << 20))
HOST_PORT=5002     # portForward start: the host side
GUEST_PORT=5012    # portForward to: the guest's listener
DOM=ptest
uid=$(id -u "$PASST_TEST_USER")

# Everything of the session daemon in $d (owned by passt-test): runtime,
# configuration, cache (logs), HOME; our passt first in its PATH.
mkdir -p "$d/bin" "$d/run" "$d/config" "$d/cache" "$d/home"
ln -s "$(realpath "$PASST")" "$d/bin/passt"
cp "$GUEST_DIR/vmlinuz" "$GUEST_DIR/initramfs.gz" "$d/"
chmod 700 "$d/run"
chown -R "$PASST_TEST_USER:" "$d"
LV_ENV=(HOME="$d/home" XDG_RUNTIME_DIR="$d/run" XDG_CONFIG_HOME="$d/config"
	XDG_CACHE_HOME="$d/cache" LIBVIRT_AUTOSTART=0)

# vsh [-t SECONDS] ARGS...: virsh on the session daemon, as passt-test,
# bounded (default 60 s).
vsh() {
	local t=60
	[ "$1" = -t ] && { t=$2; shift 2; }
	as_unprivileged env "${LV_ENV[@]}" timeout "$t" virsh -q -c qemu:///session "$@"
}

# passt_procs: "PID stdout stderr" for every passt process of passt-test.
passt_procs() {
	local p a0
	for p in /proc/[0-9]*; do
		# argv[0], not comm: a passt may re-execute itself under another
		# name (Debian's execs passt.avx2).
		a0=$(tr '\0' '\n' < "$p/cmdline" 2>/dev/null | head -n 1)
		[ "${a0##*/}" = passt ] || continue
		# (not the owner of /proc/PID: root's where passt is not dumpable)
		[ "$(awk '$1 == "Uid:" { print $2 }' "$p/status" 2>/dev/null)" = "$uid" ] || continue
		_is_zombie "${p#/proc/}" && continue
		echo "${p#/proc/} $(readlink "$p/fd/1") $(readlink "$p/fd/2")"
	done
}

# Diagnostics for a failure: the daemon's and libvirt's passt/qemu logs.
show_logs() {
	local f
	for f in "$d/libvirtd.log" "$d"/cache/libvirt/qemu/log/*; do
		[ -f "$f" ] || continue
		log "---- ${f#"$d"/}:"
		tail -n 25 "$f" | sed 's/^/    /' >&2
	done
}

as_unprivileged env "${LV_ENV[@]}" PATH="$d/bin:$PATH" \
	libvirtd --pid-file "$d/libvirtd.pid" > "$d/libvirtd.log" 2>&1 &
on_cleanup '[ -s "$d/libvirtd.pid" ] && kill "$(cat "$d/libvirtd.pid")" 2>/dev/null'
wait_for "[ -S '$d/run/libvirt/libvirt-sock' ]" 30 ||
	{ show_logs; fail "the session libvirtd did not start"; }
log "libvirt: $(vsh version | tr '\n' ' ')"

guest_host_helpers "$d"
bg_start sh -c "exec python3 '$d/srv.py' $BYTES > '$d/srv.log' 2>&1"
wait_for "grep -q READY '$d/srv.log'" 10 || fail "host server: $(cat "$d/srv.log")"

# After guest-test.sh and DHCP (test/guest/init): send to the host, then
# take the host's data through the portForward, then stay up until destroyed.
cmd="tcp_out \$DHCP_ROUTER 5000 $MIB
tcp_listen $GUEST_PORT
echo GUEST-IDLE
sleep 600"
append="console=ttyS0 panic=-1 quiet loglevel=3 guest.cmd=$(printf '%s\n' "$cmd" | base64 -w0)"
serial=$d/serial.log
cat > "$d/domain.xml" <<EOF
<domain type='qemu'>
  <name>$DOM</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$d/vmlinuz</kernel>
    <initrd>$d/initramfs.gz</initrd>
    <cmdline>$append</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <interface type='user'>
      <backend type='passt'/>
      <model type='virtio'/>
      <portForward proto='tcp'>
        <range start='$HOST_PORT' to='$GUEST_PORT'/>
      </portForward>
    </interface>
    <serial type='file'>
      <source path='$serial'/>
      <target port='0'/>
    </serial>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
chown "$PASST_TEST_USER:" "$d/domain.xml"

out=$(vsh define "$d/domain.xml" 2>&1) || {
	show_logs
	fail "virsh define: $out"
}
on_cleanup 'vsh -t 10 destroy "$DOM" >/dev/null 2>&1; vsh -t 10 undefine "$DOM" >/dev/null 2>&1; true'
start=$SECONDS
out=$(vsh start "$DOM" 2>&1)
rc=$?
if [ "$rc" != 0 ]; then
	show_logs
	# libvirt reads passt's stderr until it is closed: a process of ours
	# that keeps the caller's stdout or stderr holds virsh start forever.
	if [ "$rc" = 124 ]; then
		log "passt processes (PID, stdout, stderr): $(passt_procs | tr '\n' ';')"
		holders=$(passt_procs | awk '$2 ~ /^pipe:/ || $3 ~ /^pipe:/ { printf " %s", $1 }')
		[ -n "$holders" ] && fail "virsh start did not return in 60 s: passt" \
			"process(es)$holders still hold the stdout/stderr pipe libvirt" \
			"reads until it is closed (a background passt process must not keep them)"
	fi
	fail "virsh start (libvirt runs the passt in $d/bin first)$([ "$rc" = 124 ] &&
		echo ' did not return in 60 s'): $out"
fi

# The passt libvirt started: its --socket and --pid from the command line
# of any of passt-test's passt processes, the daemon from the PID file.
read -r any_pid _ < <(passt_procs)
if [ -z "$any_pid" ]; then
	show_logs
	fail "no passt process of $PASST_TEST_USER after virsh start; processes:" \
		"$(ps -eo pid=,user=,args= | tr -s ' ' | tr '\n' ';')"
fi
mapfile -d '' passt_argv < "/proc/$any_pid/cmdline"
log "libvirt's passt command line: ${passt_argv[*]}"
passt_sock='' passt_pidfile=''
for (( i = 0; i + 1 < ${#passt_argv[@]}; i++ )); do
	case ${passt_argv[$i]} in
	-s | --socket) passt_sock=${passt_argv[$((i + 1))]} ;;
	-P | --pid) passt_pidfile=${passt_argv[$((i + 1))]} ;;
	esac
done
passt_pid=$(cat "$passt_pidfile" 2>/dev/null)
if [ -z "$passt_pid" ] || [ ! -d "/proc/$passt_pid" ]; then
	fail "no passt process at the PID in its --pid file '$passt_pidfile' ('$passt_pid')"
fi
passt_exe=$(readlink "/proc/$passt_pid/exe")
log "passt PID $passt_pid runs $passt_exe"
expect_eq "$passt_exe" "$(realpath "$PASST")" "the binary libvirt started as passt"
[ -S "$passt_sock" ] || bad "passt's socket '$passt_sock' (from its --socket) is not a socket"

# console: the serial output so far, without the carriage returns.
console=$d/console
refresh() {
	tr -d '\r' < "$serial" > "$console" 2>/dev/null
}
# shellcheck disable=SC2317 # called through wait_for's eval
running() {
	[ "$(vsh domstate "$DOM" 2>/dev/null)" = running ]
}

wait_for "refresh; grep -q '^GUEST-READY tcp-listen' '$console' || ! running" 120
refresh
log "guest listening after $((SECONDS - start)) s"
if grep -q '^GUEST-READY tcp-listen' "$console"; then
	timeout 60 python3 "$d/push.py" "$HOST_PORT" "$BYTES" > "$d/push.log" 2>&1 ||
		bad "host -> guest connection to 127.0.0.1:$HOST_PORT: $(cat "$d/push.log")"
else
	bad "the guest never listened on $GUEST_PORT: $(tail -n 5 "$console")"
fi
wait_for "refresh; grep -q '^GUEST-IDLE' '$console' || ! running" 60
refresh
log "guest ran for $((SECONDS - start)) s (TCG)"
grep '^GUEST-' "$console" | sed 's/^/    /' >&2

guest_check_common "$console"
expect_result "$console" tcp-out
expect_result "$console" tcp-listen
grep -q '^GUEST-IDLE' "$console" || bad "the guest did not finish its checks: $(tail -n 5 "$console")"
wait_for "grep -q SINK '$d/srv.log'" 10 || bad "host listener incomplete: $(cat "$d/srv.log")"
tcp_out=$(sed -n 's/^GUEST-TCP-OUT //p' "$console")
expect_eq "$(sed -n 's/^SINK //p' "$d/srv.log")" "$tcp_out" "guest -> host TCP (host got vs guest sent)"
expect_eq "${tcp_out%% *}" "$BYTES" "guest -> host TCP size"
tcp_in=$(sed -n 's/^GUEST-TCP-LISTEN //p' "$console")
expect_eq "$tcp_in" "$(sed -n 's/^PUSH //p' "$d/push.log")" \
	"host -> guest TCP through the portForward (guest got vs host sent)"
expect_eq "${tcp_in%% *}" "$BYTES" "host -> guest TCP size"

# ---- virsh destroy: libvirt stops passt ------------------------------------
out=$(vsh destroy "$DOM" 2>&1) || bad "virsh destroy: $out"
wait_for "[ -z \"\$(passt_procs)\" ]" 15 ||
	bad "passt still running 15 s after virsh destroy (PID stdout stderr): $(passt_procs | tr '\n' ';')"
wait_for "[ ! -e '$passt_sock' ]" 5 || bad "passt's socket $passt_sock left behind after virsh destroy"
log "after virsh destroy: passt processes: '$(passt_procs)', socket $(ls "$passt_sock" 2>&1)"
out=$(vsh undefine "$DOM" 2>&1) || bad "virsh undefine: $out"

if [ "$nbad" -gt 0 ]; then
	show_logs
	fail "$nbad check(s) failed"
fi
exit 0
