#!/usr/bin/env bash
# Prints the byte offset of the GPT partition named NAME (e.g. tandem-config) in the disk image
# file IMG, read from `sfdisk --json`; fails when IMG has no partition of that name.
# Usage: image/partition-offset.sh IMG NAME
set -euo pipefail

[[ $# -eq 2 ]] || { echo "usage: image/partition-offset.sh IMG NAME" >&2; exit 2; }
img=$1 name=$2
[[ -f "$img" ]] || { echo "partition-offset.sh: no image file \"$img\"" >&2; exit 1; }
PATH=$PATH:/usr/sbin:/sbin

json=$(sfdisk --json "$img") || { echo "partition-offset.sh: cannot read a partition table from \"$img\"" >&2; exit 1; }
# sfdisk prints one "key": value per line; a partition object ends at its closing brace.
offset=$(awk -v want="$name" '
  /"sectorsize":/ { gsub(/[^0-9]/, "", $2); sector = $2 }
  /"start":/      { gsub(/[^0-9]/, "", $2); start = $2 }
  /"name":/       { line = $0; sub(/^[^:]*: *"/, "", line); sub(/",? *$/, "", line); pname = line }
  /}/             { if (pname == want && start != "") { print start * (sector ? sector : 512); exit }
                    start = ""; pname = "" }
' <<<"$json")
[[ -n "$offset" ]] || { echo "partition-offset.sh: \"$img\" has no partition named \"$name\"" >&2; exit 1; }
echo "$offset"
