#!/bin/bash
# passt --vhost-user with a real qemu guest: the checks of
# test_passt_guest.sh, run on the vhost-user back-end.
# A qemu guest under TCG; slow on a loaded machine:
# run.sh timeout: 600
GUEST_BACKEND=vhost-user exec "$(dirname "$0")/test_passt_guest.sh" "$@"
