#!/bin/sh
# Install whatever the test suites need and this machine lacks (Debian).
# Runs apt-get only for missing packages; needs root (or sudo) for that.
set -eu

PKGS="g++ make libgtest-dev clang libclang-rt-14-dev clang-tidy clang-format-16 cppcheck python3
      iproute2 util-linux procps jq socat iperf3 tcpdump tshark
      busybox-static isc-dhcp-client iputils-ping groff-base man-db
      qemu-system-x86 linux-image-amd64 cpio
      apparmor checkpolicy semodule-utils"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture: answer no, quietly.
echo "wireshark-common wireshark-common/install-setuid boolean false" |
	$SUDO debconf-set-selections 2>/dev/null || true
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
