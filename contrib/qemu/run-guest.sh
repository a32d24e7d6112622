#!/bin/sh
# Start passt, then a qemu guest connected to it over -netdev stream
# (qemu >= 7.2). Usage: run-guest.sh DISK-IMAGE [extra qemu args...]
set -eu
SOCK=${SOCK:-/tmp/passt_guest.socket}
passt -s "$SOCK" -t 2222:22    # daemonises once the socket is ready
disk=$1; shift
exec qemu-system-x86_64 -m 1024 -drive file="$disk",if=virtio \
	-device virtio-net-pci,netdev=n0 \
	-netdev stream,id=n0,server=off,addr.type=unix,addr.path="$SOCK" "$@"
