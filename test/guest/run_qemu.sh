#!/bin/sh
# Boot the test guest (build_initramfs.sh) on a qemu -netdev stream socket,
# or with -u on a vhost-user socket.
#
# Usage: test/guest/run_qemu.sh [-u] [-d GUEST_DIR] [-t SECONDS] [-c CMD] [-l LOG]
#                               [-n PROPS] SOCKET [EXTRA QEMU ARGS...]
#   -u  vhost-user: guest RAM (512 MiB) in a shared memfd, SOCKET is the
#       back-end's vhost-user socket (vectors=0: qemu 7.2 under TCG crashes
#       in msix_set_vector_notifiers otherwise)
#   -d  where vmlinuz and initramfs.gz are (default build/guest; built if
#       missing), -t  wall-clock limit (default 180), -c  shell snippet the
#       guest runs after its test script (passed base64 on the command line),
#   -l  also write the console to LOG, -n  more virtio-net-pci properties
#       (PROP=VALUE,...; e.g. guest_tso6=off takes a feature away).
# Exit status: 0 if the guest reached GUEST-DONE with no GUEST-RESULT FAIL,
# 1 otherwise, 124 on timeout. Accelerator: $QEMU_ACCEL (default tcg).
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DIR=$ROOT/build/guest
TMO=180
CMD=
LOG=
VHOST=0
NETPROPS=
while getopts ud:t:c:l:n: o; do
	case $o in
	u) VHOST=1 ;;
	d) DIR=$OPTARG ;;
	t) TMO=$OPTARG ;;
	c) CMD=$OPTARG ;;
	l) LOG=$OPTARG ;;
	n) NETPROPS=,$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
SOCK=${1:?usage: $0 [-d DIR] [-t SECONDS] [-c CMD] [-l LOG] SOCKET [QEMU ARGS...]}
shift

if [ ! -f "$DIR/vmlinuz" ] || [ ! -f "$DIR/initramfs.gz" ]; then
	"$HERE/build_initramfs.sh" "$DIR" >&2 || exit 1
fi

# TCG unless told otherwise: /dev/kvm may exist without working KVM
# (nested virtualisation), and a guest then hangs instead of failing.
ACCEL=${QEMU_ACCEL:-tcg}
APPEND="console=ttyS0 panic=-1 quiet loglevel=3"
[ -n "$CMD" ] && APPEND="$APPEND guest.cmd=$(printf '%s\n' "$CMD" | base64 -w0)"

if [ "$VHOST" = 1 ]; then
	set -- -machine q35,memory-backend=mem0 -m 512 \
		-object memory-backend-memfd,id=mem0,share=on,size=512M \
		-chardev socket,id=chr0,path="$SOCK" \
		-netdev vhost-user,id=n0,chardev=chr0 \
		-device virtio-net-pci,netdev=n0,vectors=0$NETPROPS "$@"
else
	set -- -m 256 -netdev stream,id=n0,server=off,addr.type=unix,addr.path="$SOCK" \
		-device virtio-net-pci,netdev=n0$NETPROPS "$@"
fi

OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
start=$(date +%s.%N)
timeout -k 5 "$TMO" qemu-system-x86_64 -machine accel="$ACCEL" -smp 1 \
	-kernel "$DIR/vmlinuz" -initrd "$DIR/initramfs.gz" -append "$APPEND" \
	-nographic -no-reboot "$@" < /dev/null 2>&1 | sed -u 's/\r//g' | tee "$OUT"
end=$(date +%s.%N)
[ -n "$LOG" ] && cp "$OUT" "$LOG"
echo "run_qemu: wall time $(awk "BEGIN { printf \"%.1f\", $end - $start }") s" >&2

if ! grep -q '^GUEST-DONE' "$OUT"; then
	grep -q 'GUEST-STAGE' "$OUT" || echo "run_qemu: the guest never reached /init" >&2
	echo "run_qemu: the guest did not finish" >&2
	exit 124
fi
if grep -q '^GUEST-RESULT .* FAIL' "$OUT"; then
	exit 1
fi
exit 0
