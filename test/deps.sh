#!/usr/bin/env bash
# Installs the Debian packages a recipe needs, quietly and only when missing: idempotent, unattended.
# Usage: test/deps.sh GROUP...   (groups: test, netns, bench, image, vm, ui; see below)
# Everything comes from Debian's archive; nothing is downloaded from anywhere else.
set -euo pipefail

declare -A GROUP=(
  [test]="qemu-user"                                        # run dist/tandem under -cpu Nehalem (no AVX)
  [netns]="iproute2 iputils-ping nginx-light dnsmasq-base curl wrk iperf3 bind9-dnsutils procps socat"
  [bench]="nftables haproxy wrk iperf3 keepalived gcc libc6-dev linux-libc-dev"  # keepalived: the failover anchor (VRRP); gcc: bench/tun-floor.c
  [image]="squashfs-tools mtools dosfstools e2fsprogs fdisk syslinux grub-common cpio xz-utils zstd kmod" # host tools only; what goes INTO the image is fetched by image/build.sh
  [vm]="qemu-system-x86 qemu-utils ovmf socat"
  [ui]="chromium"
)

want=()
for group in "$@"; do
  [[ -n "${GROUP[$group]+x}" ]] || { echo "deps.sh: unknown group \"$group\": expected one of ${!GROUP[*]}" >&2; exit 2; }
  for pkg in ${GROUP[$group]}; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || want+=("$pkg")
  done
done
[[ ${#want[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "deps.sh: missing Debian packages (${want[*]}) and not root: install them with apt-get" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# One apt at a time: parallel recipes may call this together.
exec 9>/tmp/tandem-deps.lock
flock 9
echo "deps.sh: installing ${want[*]}" >&2
# Installs must not start services (keepalived, nginx, haproxy): the recipes run their own
# instances inside namespaces. Where the host has no policy-rc.d, one refusing every start
# (exit 101, see /usr/share/doc/init-system-helpers/README.policy-rc.d.gz) is in place for the install.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
