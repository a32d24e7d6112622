#!/bin/bash
# passt --vhost-user with a real qemu guest: the checks of
# test_passt_guest.sh, run on the vhost-user back-end.
GUEST_BACKEND=vhost-user exec "$(dirname "$0")/test_passt_guest.sh" "$@"
