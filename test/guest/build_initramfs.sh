#!/bin/sh
# Build a small qemu guest for the stream and vhost-user backend tests: the
# Debian kernel (linux-image-amd64) and an initramfs holding busybox-static,
# the virtio-net modules, gudp (a small static UDP send/echo tool built from
# gudp.c: busybox nc has no UDP mode), gtcp (gtcp.c: TCP transfers that
# report why a connection ended, for the migration test) and an /init that brings up eth0 with
# udhcpc, runs the test script, reports on the serial console and powers off.
#
# Usage: test/guest/build_initramfs.sh OUTDIR [TEST_SCRIPT]
#   OUTDIR/vmlinuz, OUTDIR/initramfs.gz are written. TEST_SCRIPT (default:
#   test/guest/guest-test.sh) becomes /guest-test.sh in the guest; it is
#   sourced after DHCP, with the helpers of guest-lib.sh (result NAME CMD...).
#
# Console protocol (what the host side greps for):
#   GUEST-STAGE <name>                 progress (init, modules, dhcp, test)
#   GUEST-DHCP ip=... router=... ...   the lease udhcpc applied
#   GUEST-RESULT <name> PASS|FAIL <detail>
#   GUEST-READY <what> <port>          a listener is up (host may connect)
#   GUEST-<FACT> ...                   values for the host to check
#   GUEST-DONE                         init is about to power off
# Missing packages (qemu-system-x86 linux-image-amd64 busybox-static cpio
# xz-utils gcc libc6-dev) are installed with apt-get.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:?usage: $0 OUTDIR [TEST_SCRIPT]}
TEST_SCRIPT=${2:-$HERE/guest-test.sh}
MODULES="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net"

need=""
for p in qemu-system-x86 linux-image-amd64 busybox-static cpio xz-utils gcc libc6-dev; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need="$need $p"
done
if [ -n "$need" ]; then
	echo "installing:$need" >&2
	# Only refresh the package lists if the install fails without it.
	DEBIAN_FRONTEND=noninteractive apt-get install -y $need >/dev/null ||
		{ apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y $need >/dev/null; }
fi

# The newest installed kernel with its modules.
KVER=$(ls /lib/modules | sort -V | tail -n 1)
[ -n "$KVER" ] && [ -f "/boot/vmlinuz-$KVER" ] || { echo "no kernel in /boot for $KVER" >&2; exit 1; }
[ -r "/boot/vmlinuz-$KVER" ] || { echo "/boot/vmlinuz-$KVER not readable" >&2; exit 1; }

mkdir -p "$OUT"
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/bin" "$STAGE/sbin" "$STAGE/proc" "$STAGE/sys" "$STAGE/dev" \
	 "$STAGE/etc" "$STAGE/tmp" "$STAGE/run" "$STAGE/lib/modules" "$STAGE/usr/bin" "$STAGE/usr/sbin"
cp /bin/busybox "$STAGE/bin/busybox"
ln -s busybox "$STAGE/bin/sh"

# Modules in load order; a module built into the kernel is skipped.
: > "$STAGE/lib/modules/order"
for m in $MODULES; do
	f=$(find "/lib/modules/$KVER/kernel" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" | head -n 1)
	if [ -z "$f" ]; then
		if grep -q "/$m.ko\$" "/lib/modules/$KVER/modules.builtin" 2>/dev/null; then
			continue
		fi
		echo "module $m not found for $KVER" >&2
		exit 1
	fi
	case "$f" in
	*.xz) xz -dc "$f" > "$STAGE/lib/modules/$m.ko" ;;
	*.zst) zstd -dcq "$f" > "$STAGE/lib/modules/$m.ko" ;;
	*) cp "$f" "$STAGE/lib/modules/$m.ko" ;;
	esac
	echo "$m" >> "$STAGE/lib/modules/order"
done

gcc -static -Os -Wall -Wextra -o "$STAGE/bin/gudp" "$HERE/gudp.c"
gcc -static -Os -Wall -Wextra -o "$STAGE/bin/gtcp" "$HERE/gtcp.c"
cp "$HERE/udhcpc.sh" "$STAGE/udhcpc.sh"
cp "$HERE/guest-lib.sh" "$STAGE/guest-lib.sh"
cp "$HERE/init" "$STAGE/init"
cp "$TEST_SCRIPT" "$STAGE/guest-test.sh"
chmod 755 "$STAGE/init" "$STAGE/udhcpc.sh" "$STAGE/guest-test.sh"

cp "/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
(cd "$STAGE" && find . | cpio -o -H newc --quiet | gzip -1) > "$OUT/initramfs.gz"
echo "$OUT/vmlinuz $OUT/initramfs.gz (kernel $KVER)"
