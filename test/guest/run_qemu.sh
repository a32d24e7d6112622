#!/bin/sh
# Boot the test guest (build_initramfs.sh) on a qemu -netdev stream socket.
#
# Usage: test/guest/run_qemu.sh [-d GUEST_DIR] [-t SECONDS] [-c CMD] [-l LOG]
#                               SOCKET [EXTRA QEMU ARGS...]
#   -d  where vmlinuz and initramfs.gz are (default build/guest; built if
#       missing), -t  wall-clock limit (default 180), -c  shell snippet the
#       guest runs after its test script (passed base64 on the command line),
#   -l  also write the console to LOG.
# Exit status: 0 if the guest reached GUEST-DONE with no GUEST-RESULT FAIL,
# 1 otherwise, 124 on timeout. Accelerator: $QEMU_ACCEL (default tcg).
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DIR=$ROOT/build/guest
TMO=180
CMD=
LOG=
while getopts d:t:c:l: o; do
	case $o in
	d) DIR=$OPTARG ;;
	t) TMO=$OPTARG ;;
	c) CMD=$OPTARG ;;
	l) LOG=$OPTARG ;;
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

OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
start=$(date +%s.%N)
timeout -k 5 "$TMO" qemu-system-x86_64 -machine accel="$ACCEL" -m 256 -smp 1 \
	-kernel "$DIR/vmlinuz" -initrd "$DIR/initramfs.gz" -append "$APPEND" \
	-netdev stream,id=n0,server=off,addr.type=unix,addr.path="$SOCK" \
	-device virtio-net-pci,netdev=n0 \
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
