#!/usr/bin/env bash
# Copies TOML onto the tandem-config partition of the disk image file IMG as tandem.toml, and
# AUTHKEY (if given) as authkey, replacing the files there. Works on the image file with mtools
# (IMG@@OFFSET): no root, no loop mount. Flash the image afterwards, or boot it in a VM.
# Usage: image/set-config.sh IMG TOML [AUTHKEY]
set -euo pipefail

[[ $# -eq 2 || $# -eq 3 ]] || { echo "usage: image/set-config.sh IMG TOML [AUTHKEY]" >&2; exit 2; }
img=$1 toml=$2 authkey=${3:-}
die() { echo "set-config.sh: $*" >&2; exit 1; }
[[ -f "$img" ]] || die "no image file \"$img\""
[[ -f "$toml" ]] || die "no config file \"$toml\""
[[ -z "$authkey" || -f "$authkey" ]] || die "no key file \"$authkey\""

offset=$("$(dirname "${BASH_SOURCE[0]}")/partition-offset.sh" "$img" tandem-config)
export MTOOLS_SKIP_CHECK=1 MTOOLSRC=/dev/null
# -o: overwrite an existing file without asking; -Q: stop at the first error.
mcopy -i "$img@@$offset" -o -Q "$toml" ::/tandem.toml || die "cannot write tandem.toml into \"$img\" at offset $offset"
if [[ -n "$authkey" ]]; then
  mcopy -i "$img@@$offset" -o -Q "$authkey" ::/authkey || die "cannot write authkey into \"$img\" at offset $offset"
fi
