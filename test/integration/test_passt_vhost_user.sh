#!/bin/bash
# passt --vhost-user with a real qemu guest: the checks of
# test_passt_guest.sh, run on the vhost-user back-end, where the guest's
# virtio-net driver must also report (sysfs features bits) the checksum and
# TSO offloads both ways, MRG_RXBUF and the event index negotiated, and a
# second guest without IPv6 TSO gets none.
# A qemu guest under TCG; slow on a loaded machine:
# run.sh timeout: 600
GUEST_BACKEND=vhost-user exec "$(dirname "$0")/test_passt_guest.sh" "$@"
