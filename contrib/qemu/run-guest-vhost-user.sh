#!/bin/sh
# Start passt as a vhost-user back-end, then a qemu guest whose virtio-net
# queues it serves directly in the guest's memory (shared as a memfd, which
# vhost-user requires). Usage: run-guest-vhost-user.sh DISK-IMAGE [extra qemu args...]
set -eu
SOCK=${SOCK:-/tmp/passt_vhost_user.socket}
MEM=${MEM:-1G}
passt --vhost-user -s "$SOCK" -t 2222:22    # daemonises once the socket is ready
disk=$1; shift
exec qemu-system-x86_64 -m "$MEM" -drive file="$disk",if=virtio \
	-object memory-backend-memfd,id=mem0,share=on,size="$MEM" \
	-machine memory-backend=mem0 \
	-chardev socket,id=chr0,path="$SOCK" \
	-netdev vhost-user,id=n0,chardev=chr0 \
	-device virtio-net-pci,netdev=n0 "$@"
