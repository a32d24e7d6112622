#!/bin/bash
# passt --vhost-user with no qemu: the checks of test_frontend_stream.sh,
# with build/frontend as the vhost-user front-end (memfd guest memory,
# split virtqueues, eventfd kicks and calls) instead of the stream socket.
FE_MODE=vhost-user exec "$(dirname "$0")/test_frontend_stream.sh" "$@"
