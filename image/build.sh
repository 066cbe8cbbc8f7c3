#!/usr/bin/env bash
# Builds the appliance disk image dist/tandem.img (IMAGE_OUT overrides the path) as the contract
# of issue 4 lays it out: GPT with tandem-boot (FAT: syslinux + GRUB EFI + kernel/initrd of slot
# a), tandem-config (FAT), tandem-root-a (squashfs), tandem-root-b (zeros), tandem-data (ext4).
#
# Runs as an ordinary user: no mount, no loop devices, no chroot. Host tools come from
# `test/deps.sh image`; what goes INTO the image (kernel, busybox, glibc, ...) is fetched with
# `apt-get download` into .cache/image/debs/ and unpacked with `dpkg-deb -x`, never installed.
#
# Reproducible: the same inputs (dist/tandem, rootfs/, image/, examples/appliance.toml, the
# .debs) give a byte-identical image. Every timestamp is SOURCE_DATE_EPOCH (default: the commit
# time of HEAD) and every identifier is a constant below.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

OUT=${IMAGE_OUT:-dist/tandem.img}
CACHE=$REPO/.cache/image
CMDLINE_A="console=tty0 console=ttyS0,115200n8 tandem.slot=a quiet panic=10"

# Layout in 512-byte sectors, 1 MiB aligned (contract table). The image ends 1 MiB after the
# last partition, which leaves room for the backup GPT.
MIB=2048
BOOT_SIZE=$((64 * MIB)) CONFIG_SIZE=$((16 * MIB)) ROOT_SIZE=$((384 * MIB)) DATA_SIZE=$((128 * MIB))
BOOT_START=$MIB
CONFIG_START=$((BOOT_START + BOOT_SIZE))
ROOTA_START=$((CONFIG_START + CONFIG_SIZE))
ROOTB_START=$((ROOTA_START + ROOT_SIZE))
DATA_START=$((ROOTB_START + ROOT_SIZE))
DISK_SECTORS=$((DATA_START + DATA_SIZE + MIB))

# Fixed identifiers: every flashed disk is the same disk until its data partition is used.
DISK_GUID=2bd0a7a9-753d-4a92-9f24-49b2d1118241
BOOT_GUID=2a3dec50-f235-4bae-bf12-41f832ee434e
CONFIG_GUID=9427f212-956a-40cc-a59c-af205d22a5ec
ROOTA_GUID=4b860247-29f7-46d2-a1cd-f0d55aa3a481
ROOTB_GUID=41290484-9c7b-4f89-b953-8fc219b96405
DATA_GUID=ba519433-973b-479c-bf78-e0c2bb72b0de
DATA_FS_UUID=1be2f2f9-d7db-49c9-9fbf-4e27d07ee12f
DATA_HASH_SEED=5c1f0e2a-6b7d-4e38-9a41-0d2c8f6b3e57
BOOT_VOLID=7A4E0001
CONFIG_VOLID=7A4E0002
TYPE_ESP=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
TYPE_BASIC_DATA=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7 # Windows and macOS show it as a drive
TYPE_LINUX=0FC63DAF-8483-4772-8E79-3D69D8477DE4

# GRUB modules embedded in BOOTX64.EFI: it never reads modules from disk.
GRUB_MODULES="part_gpt part_msdos fat normal boot chain linux configfile echo test sleep reboot halt
  serial terminal efi_gop efi_uga all_video video_fb gzio search search_label search_fs_uuid
  search_fs_file ls cat minicmd"

die() { echo "image/build.sh: $*" >&2; exit 1; }
step() { echo "image/build.sh: $*" >&2; }

# --- inputs ---------------------------------------------------------------------------------------

[[ -x dist/tandem ]] || die "dist/tandem is missing: build it first with \"just build\""
[[ -d rootfs/initramfs ]] || die "rootfs/initramfs/ is missing"
[[ -d rootfs/root ]] || die "rootfs/root/ is missing"

if [[ -z "${SOURCE_DATE_EPOCH:-}" ]]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null) ||
    die "SOURCE_DATE_EPOCH is unset and \"git log\" failed: set it to a Unix time"
fi
[[ "$SOURCE_DATE_EPOCH" =~ ^[0-9]+$ ]] || die "SOURCE_DATE_EPOCH \"$SOURCE_DATE_EPOCH\" is not a Unix time"
# mtools and mke2fs read these; FAT timestamps are local time, so local time is UTC.
export SOURCE_DATE_EPOCH E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH TZ=UTC LC_ALL=C
export MTOOLS_SKIP_CHECK=1 MTOOLSRC=/dev/null
umask 022

test/deps.sh image
PATH=$PATH:/usr/sbin:/sbin

# --- packages -------------------------------------------------------------------------------------

# Prints the .deb file names apt would download for the given packages, one a line.
deb_names() {
  apt-get download --print-uris "$@" 2>/dev/null | awk '{ print $2 }'
}

# Resolves linux-image-amd64 to the versioned kernel package it depends on.
kernel_package() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}

# Downloads (once) the packages into .cache/image/debs/ and prints their paths. Without apt lists
# it runs apt-get update when root; otherwise it falls back to the newest cached file per package.
fetch_debs() {
  local names=() name missing=() pkg
  if ! mapfile -t names < <(deb_names "$@") || [[ ${#names[@]} -ne $# ]]; then
    if [[ $(id -u) -eq 0 ]]; then
      step "apt-get update (no package lists for: $*)"
      apt-get update -qq >/dev/null
      mapfile -t names < <(deb_names "$@")
    fi
  fi
  if [[ ${#names[@]} -ne $# ]]; then
    names=()
    for pkg in "$@"; do
      name=$(cd "$CACHE/debs" && ls -1 "${pkg}"_*.deb 2>/dev/null | sort -V | tail -n 1) ||
        die "cannot resolve package \"$pkg\": no apt lists (run apt-get update as root) and nothing cached"
      step "using cached $name (apt cannot resolve \"$pkg\")"
      names+=("$name")
    done
  fi
  for name in "${names[@]}"; do [[ -f "$CACHE/debs/$name" ]] || missing+=("${name%%_*}"); done
  if [[ ${#missing[@]} -gt 0 ]]; then
    step "apt-get download ${missing[*]}"
    (cd "$CACHE/debs" && apt-get download -qq "${missing[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
  fi
  for name in "${names[@]}"; do
    [[ -f "$CACHE/debs/$name" ]] || die "apt-get download did not produce \"$name\""
    echo "$CACHE/debs/$name"
  done
}

# Unpacks a .deb once under .cache/image/pkgs/NAME/ and prints that directory.
unpack_deb() {
  local deb=$1 dir
  dir=$CACHE/pkgs/$(basename "$deb" .deb)
  if [[ ! -f "$dir/.unpacked" ]]; then
    rm -rf "$dir" && mkdir -p "$dir"
    dpkg-deb -x "$deb" "$dir"
    touch "$dir/.unpacked"
  fi
  echo "$dir"
}

mkdir -p "$CACHE/debs" "$CACHE/pkgs" "$(dirname "$OUT")"
# One build at a time fetches and unpacks; parallel builds then share the cache read-only.
exec 8>"$CACHE/lock"
flock 8

KERNEL_PKG=$(kernel_package)
if [[ -z "$KERNEL_PKG" ]]; then
  KERNEL_PKG=$(cd "$CACHE/debs" && ls -1 linux-image-[0-9]*-amd64_*.deb 2>/dev/null | sort -V | tail -n 1 | cut -d_ -f1) ||
    die "cannot resolve linux-image-amd64 to a kernel package: run apt-get update as root"
  [[ -n "$KERNEL_PKG" ]] || die "cannot resolve linux-image-amd64 to a kernel package: run apt-get update as root"
fi
# iproute2 and the libraries its ip links: tandem runs "ip -j -batch", which busybox's ip lacks;
# netbase for /etc/protocols, without which ip rejects "ipproto tcp".
PACKAGES=("$KERNEL_PKG" busybox-static libc6 libgcc-s1 syslinux-common grub-efi-amd64-bin
  e2fsprogs libext2fs2 libcom-err2 libblkid1 libuuid1
  iproute2 libbpf1 libelf1 zlib1g libmnl0 libbsd0 libmd0 libcap2 netbase)
mapfile -t DEBS < <(fetch_debs "${PACKAGES[@]}")
[[ ${#DEBS[@]} -eq ${#PACKAGES[@]} ]] || die "fetching packages failed"

declare -A PKG
for deb in "${DEBS[@]}"; do
  name=$(basename "$deb"); PKG[${name%%_*}]=$(unpack_deb "$deb")
done
KPKG=${PKG[$KERNEL_PKG]}
KVER=${KERNEL_PKG#linux-image-}
[[ -f "$KPKG/boot/vmlinuz-$KVER" ]] || die "$KERNEL_PKG has no /boot/vmlinuz-$KVER"
# The package ships no modules.dep (its postinst runs depmod): make one in the unpacked tree.
if [[ ! -f "$KPKG/lib/modules/$KVER/modules.dep" ]]; then
  depmod -b "$KPKG" "$KVER"
fi
BUSYBOX=${PKG[busybox-static]}/bin/busybox
flock -u 8

WORK=$(mktemp -d "$CACHE/work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# --- helpers for the two trees --------------------------------------------------------------------

# Copies the kernel modules named in LIST (one a line, # comments) into TREE/lib/modules/KVER/,
# uncompressed, with what they need: modules.dep dependencies and modules.softdep pre/post
# modules (ext4 wants crc32c, r8169 its PHY driver), followed to a fixed point. Then runs depmod
# there so modules.dep lists exactly these. A name that is neither a module nor built in fails.
add_modules() {
  local list=$1 tree=$2 src=$KPKG/lib/modules/$KVER dst=$2/lib/modules/$KVER
  local -A path_of=() builtin=() softdep=() want=() seen=()
  local line key m rel name required queue=()
  while IFS= read -r line; do
    key=${line%%:*}; name=${key##*/}; name=${name%%.ko*}
    path_of[${name//-/_}]=$line
  done <"$src/modules.dep"
  while IFS= read -r rel; do
    name=${rel##*/}; name=${name%%.ko*}; builtin[${name//-/_}]=1
  done <"$src/modules.builtin"
  while read -r _ name line; do
    line=${line//pre:/}; softdep[${name//-/_}]=${line//post:/}
  done < <(grep '^softdep ' "$src/modules.softdep" || true)
  while IFS= read -r line; do
    line=${line%%#*}; line=${line//[[:space:]]/}
    [[ -z "$line" ]] || queue+=("!$line")
  done <"$list"
  # Queue entries: "!name" from LIST (must exist), plain names from softdeps (may be aliases).
  while [[ ${#queue[@]} -gt 0 ]]; do
    name=${queue[0]}; queue=("${queue[@]:1}")
    required=; [[ "$name" == '!'* ]] && { required=1; name=${name#!}; }
    key=${name//-/_}
    [[ -z "${seen[$key]+x}" ]] || continue
    seen[$key]=1
    if [[ -n "${path_of[$key]+x}" ]]; then
      line=${path_of[$key]}
      want[${line%%:*}]=1
      for m in ${line#*:}; do
        want[$m]=1; m=${m##*/}; queue+=("${m%%.ko*}")
      done
      for m in ${softdep[$key]:-}; do queue+=("$m"); done
    elif [[ -n "${builtin[$key]+x}" ]]; then
      :  # built into the kernel: nothing to copy
    elif [[ -n "$required" ]]; then
      die "$list: no kernel module \"$name\" in $KERNEL_PKG"
    else
      # A softdep may name an alias (crypto-crc32c): take every module that provides it.
      for m in $(awk -v a="$name" '$1 == "alias" && $2 == a { print $3 }' "$src/modules.alias"); do queue+=("$m"); done
    fi
  done
  mkdir -p "$dst"
  for rel in "${!want[@]}"; do
    mkdir -p "$dst/$(dirname "$rel")"
    case $rel in
      *.ko.xz) xz -dc "$src/$rel" >"$dst/${rel%.xz}" ;;
      *.ko.zst) zstd -q -dc "$src/$rel" >"$dst/${rel%.zst}" ;;
      *) cp "$src/$rel" "$dst/$rel" ;;
    esac
  done
  cp "$src/modules.builtin" "$src/modules.builtin.modinfo" "$dst/"
  # modules.order limited to what is here, in the kernel's order (depmod sorts by it).
  for rel in "${!want[@]}"; do echo "${rel%.ko*}.ko"; done | sort >"$WORK/have"
  sed 's/\.ko\(\.xz\|\.zst\)\?$/.ko/' "$src/modules.order" | grep -Fxf "$WORK/have" >"$dst/modules.order" || true
  depmod -b "$tree" "$KVER"
}

# Finds a shared library by soname in the unpacked packages; prints its path relative to the
# package root (lib/x86_64-linux-gnu/NAME or usr/lib/x86_64-linux-gnu/NAME) after a tab.
find_lib() {
  local soname=$1 pkg dir
  for pkg in "${PKG[@]}"; do
    for dir in lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu; do
      if [[ -e "$pkg/$dir/$soname" ]]; then printf '%s\t%s\n' "$pkg" "$dir/$soname"; return 0; fi
    done
  done
  return 1
}

# Copies into TREE the libraries ELF needs (NEEDED, recursively) as real files, at the paths
# they have in Debian, so the dynamic loader's default search path finds them.
add_libs() {
  local tree=$1 elf=$2 soname found pkg rel
  for soname in $(readelf -d "$elf" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    found=$(find_lib "$soname") || die "no package provides \"$soname\" (needed by $elf)"
    pkg=${found%%$'\t'*}; rel=${found#*$'\t'}
    [[ -e "$tree/$rel" ]] && continue
    mkdir -p "$tree/$(dirname "$rel")"
    cp -L "$pkg/$rel" "$tree/$rel"
    add_libs "$tree" "$tree/$rel"
  done
}

# Links the program interpreter (/lib64/ld-linux-x86-64.so.2) to the loader under /lib.
add_interpreter() {
  local tree=$1 elf=$2 interp
  interp=$(readelf -l "$elf" | sed -n 's/.*\[Requesting program interpreter: \(.*\)\]/\1/p')
  [[ -n "$interp" ]] || return 0
  [[ "$interp" == /lib64/ld-linux-x86-64.so.2 ]] || die "$elf: unexpected interpreter \"$interp\""
  local found; found=$(find_lib ld-linux-x86-64.so.2) || die "libc6 has no ld-linux-x86-64.so.2"
  local rel=${found#*$'\t'}
  mkdir -p "$tree/lib64" "$tree/$(dirname "$rel")"
  [[ -e "$tree/$rel" ]] || cp -L "${found%%$'\t'*}/$rel" "$tree/$rel"
  [[ -e "$tree$interp" || -L "$tree$interp" ]] || ln -s "../$rel" "$tree$interp"
}

# Adds relative symlinks for every busybox applet, keeping whatever the tree already has.
add_applets() {
  local tree=$1 applet dir up
  while IFS= read -r applet; do
    [[ -e "$tree/$applet" || -L "$tree/$applet" ]] && continue
    dir=$(dirname "$applet")
    mkdir -p "$tree/$dir"
    if [[ "$dir" == bin ]]; then
      ln -s busybox "$tree/$applet"
    else
      up=$(echo "$dir/" | sed 's|[^/]*/|../|g')
      ln -s "${up}bin/busybox" "$tree/$applet"
    fi
  done < <("$BUSYBOX" --list-full | sort)
}

# Makes a staged tree's metadata independent of the checkout: umask-proof modes, one mtime.
normalize() {
  chmod -R u+rwX,go+rX,go-w "$1"
  [[ ! -d "$1/tmp" ]] || chmod 1777 "$1/tmp"
  find "$1" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
}

# --- initramfs ------------------------------------------------------------------------------------

step "initramfs ($KVER)"
INITRD_TREE=$WORK/initramfs
mkdir -p "$INITRD_TREE/bin"
cp -a rootfs/initramfs/. "$INITRD_TREE/"
[[ -e "$INITRD_TREE/bin/busybox" ]] || cp "$BUSYBOX" "$INITRD_TREE/bin/busybox"
[[ -e "$INITRD_TREE/bin/sh" || -L "$INITRD_TREE/bin/sh" ]] || ln -s busybox "$INITRD_TREE/bin/sh"
add_modules image/modules-initramfs.txt "$INITRD_TREE"
[[ -x "$INITRD_TREE/init" ]] || die "rootfs/initramfs/init is missing or not executable"
normalize "$INITRD_TREE"
(cd "$INITRD_TREE" && find . -mindepth 1 -print0 | sort -z |
  cpio --null --create --format=newc --reproducible --owner=0:0 --quiet) | gzip -9 -n >"$WORK/initrd.img"

# --- root file system (squashfs) ------------------------------------------------------------------

step "root file system"
ROOT_TREE=$WORK/root
mkdir -p "$ROOT_TREE"
cp -a rootfs/root/. "$ROOT_TREE/"
mkdir -p "$ROOT_TREE/usr/bin" "$ROOT_TREE/bin" "$ROOT_TREE/sbin" "$ROOT_TREE/etc"
cp dist/tandem "$ROOT_TREE/usr/bin/tandem"
add_interpreter "$ROOT_TREE" dist/tandem
add_libs "$ROOT_TREE" dist/tandem
# glibc loads libgcc_s at run time (dlopen) to unwind threads in pthread_exit/pthread_cancel.
found=$(find_lib libgcc_s.so.1) || die "libgcc-s1 has no libgcc_s.so.1"
mkdir -p "$ROOT_TREE/$(dirname "${found#*$'\t'}")"
cp -L "${found%%$'\t'*}/${found#*$'\t'}" "$ROOT_TREE/${found#*$'\t'}"
# mke2fs re-creates the data partition; it goes in before busybox, whose mke2fs applet is weaker.
E2FS=${PKG[e2fsprogs]}
[[ -e "$ROOT_TREE/sbin/mke2fs" ]] || cp "$E2FS/sbin/mke2fs" "$ROOT_TREE/sbin/mke2fs"
[[ -e "$ROOT_TREE/sbin/mkfs.ext4" || -L "$ROOT_TREE/sbin/mkfs.ext4" ]] || ln -s mke2fs "$ROOT_TREE/sbin/mkfs.ext4"
[[ -e "$ROOT_TREE/etc/mke2fs.conf" ]] || cp "$E2FS/etc/mke2fs.conf" "$ROOT_TREE/etc/mke2fs.conf"
add_libs "$ROOT_TREE" "$ROOT_TREE/sbin/mke2fs"
# iproute2's ip as /bin/ip and /sbin/ip (PATH has /sbin first, where busybox would put its own).
IPROUTE=${PKG[iproute2]}
[[ -e "$ROOT_TREE/bin/ip" ]] || cp "$IPROUTE/bin/ip" "$ROOT_TREE/bin/ip"
[[ -e "$ROOT_TREE/sbin/ip" || -L "$ROOT_TREE/sbin/ip" ]] || ln -s ../bin/ip "$ROOT_TREE/sbin/ip"
[[ -e "$ROOT_TREE/etc/iproute2" ]] || cp -a "$IPROUTE/etc/iproute2" "$ROOT_TREE/etc/iproute2"
add_libs "$ROOT_TREE" "$ROOT_TREE/bin/ip"
for file in protocols services; do
  [[ -e "$ROOT_TREE/etc/$file" ]] || cp "${PKG[netbase]}/etc/$file" "$ROOT_TREE/etc/$file"
done
[[ -e "$ROOT_TREE/bin/busybox" ]] || cp "$BUSYBOX" "$ROOT_TREE/bin/busybox"
add_applets "$ROOT_TREE"
add_modules image/modules.txt "$ROOT_TREE"
for dir in proc sys dev run tmp config data mnt; do mkdir -p "$ROOT_TREE/$dir"; done
# What the image was made of, for whoever asks the appliance.
mkdir -p "$ROOT_TREE/usr/share/tandem"
{
  echo "kernel $KVER"
  echo "source-date-epoch $SOURCE_DATE_EPOCH"
  for deb in "${DEBS[@]}"; do echo "deb $(basename "$deb")"; done | sort
} >"$ROOT_TREE/usr/share/tandem/image-manifest.txt"
normalize "$ROOT_TREE"
# mksquashfs refuses SOURCE_DATE_EPOCH together with the explicit time options.
env -u SOURCE_DATE_EPOCH mksquashfs "$ROOT_TREE" "$WORK/root.sqfs" -comp xz -b 128K -noappend -no-xattrs -all-root \
  -mkfs-time "$SOURCE_DATE_EPOCH" -all-time "$SOURCE_DATE_EPOCH" -no-progress -quiet >/dev/null
SQFS_BYTES=$(stat -c %s "$WORK/root.sqfs")
((SQFS_BYTES <= ROOT_SIZE * 512)) || die "root file system is $SQFS_BYTES bytes: larger than its $((ROOT_SIZE / MIB)) MiB partition"

# --- boot partition (FAT: syslinux, GRUB EFI, slot a's kernel) ------------------------------------

step "boot partition"
BOOT_STAGE=$WORK/boot-files
mkdir -p "$BOOT_STAGE/EFI/BOOT" "$BOOT_STAGE/syslinux" "$BOOT_STAGE/a" "$BOOT_STAGE/b"
cp "$KPKG/boot/vmlinuz-$KVER" "$BOOT_STAGE/a/vmlinuz"
cp "$WORK/initrd.img" "$BOOT_STAGE/a/initrd.img"
sed "s|@CMDLINE_A@|$CMDLINE_A|g" image/boot/syslinux.cfg >"$BOOT_STAGE/syslinux/syslinux.cfg"
sed "s|@CMDLINE_A@|$CMDLINE_A|g" image/boot/grub.cfg >"$BOOT_STAGE/EFI/BOOT/grub.cfg"
GRUB_DIR=${PKG[grub-efi-amd64-bin]}/usr/lib/grub/x86_64-efi
# shellcheck disable=SC2086 # the module list is words
grub-mkimage -O x86_64-efi -d "$GRUB_DIR" -p /EFI/BOOT -o "$BOOT_STAGE/EFI/BOOT/BOOTX64.EFI" $GRUB_MODULES
normalize "$BOOT_STAGE"

# Makes a FAT file system image FILE of SECTORS sectors whose boot sector knows its partition
# start (hidden sectors), with a fixed volume id and no time-based values.
make_fat() {
  local file=$1 sectors=$2 start=$3 label=$4 volid=$5 bits=$6
  mkfs.vfat -F "$bits" -n "$label" -h "$start" --invariant -C "$file" $((sectors / 2)) >/dev/null
  mlabel -i "$file" -N "$volid" "::$label"
}

# Copies the tree STAGE into the FAT image FILE in sorted order (mcopy -s would follow readdir
# order, which differs between machines), keeping directories that already exist.
fat_put_tree() {
  local file=$1 stage=$2 rel
  while IFS= read -r -d '' rel; do
    if [[ -d "$stage/$rel" ]]; then
      mdir -i "$file" "::/$rel" >/dev/null 2>&1 || mmd -i "$file" "::/$rel"
    else
      mcopy -i "$file" -m -Q -o "$stage/$rel" "::/$rel"
    fi
  done < <(cd "$stage" && find . -mindepth 1 -printf '%P\0' | sort -z)
}

make_fat "$WORK/boot.fat" "$BOOT_SIZE" "$BOOT_START" TANDEMBOOT "$BOOT_VOLID" 32
mmd -i "$WORK/boot.fat" ::/syslinux
# syslinux first, so ldlinux.sys sits at the same place in every build; it writes ldlinux.sys
# and the ldlinux.c32 of the same version.
syslinux --install --directory /syslinux "$WORK/boot.fat"
# syslinux rewrote the boot sector's code; FAT32 keeps a backup copy in sector 6 (fsck checks).
dd if="$WORK/boot.fat" of="$WORK/boot.fat" bs=512 count=1 seek=6 conv=notrunc status=none
fat_put_tree "$WORK/boot.fat" "$BOOT_STAGE"

# --- config partition (FAT) -----------------------------------------------------------------------

step "config partition"
CONFIG_STAGE=$WORK/config-files
mkdir -p "$CONFIG_STAGE"
if [[ -f examples/appliance.toml ]]; then
  cp examples/appliance.toml "$CONFIG_STAGE/tandem.toml"
  # The key file it names (a plain file name beside it) goes along, like on a real box.
  keyfile=$(sed -n 's/^[[:space:]]*auth_key_file[[:space:]]*=[[:space:]]*"\([^"/]*\)".*/\1/p' examples/appliance.toml | head -n 1)
  if [[ -n "$keyfile" ]]; then
    [[ -f "examples/$keyfile" ]] || die "examples/appliance.toml names auth_key_file \"$keyfile\" but examples/$keyfile is missing"
    cp "examples/$keyfile" "$CONFIG_STAGE/$keyfile"
  fi
else
  : >"$CONFIG_STAGE/tandem.toml"
fi
cp image/config-README.txt "$CONFIG_STAGE/README.txt"
normalize "$CONFIG_STAGE"
make_fat "$WORK/config.fat" "$CONFIG_SIZE" "$CONFIG_START" TANDEM-CFG "$CONFIG_VOLID" 16
fat_put_tree "$WORK/config.fat" "$CONFIG_STAGE"

# --- data partition (ext4) ------------------------------------------------------------------------

step "data partition"
truncate -s $((DATA_SIZE * 512)) "$WORK/data.ext4"
MKE2FS_CONFIG=$E2FS/etc/mke2fs.conf mke2fs -q -F -t ext4 -L tandem-data -U "$DATA_FS_UUID" \
  -E "hash_seed=$DATA_HASH_SEED,root_owner=0:0,lazy_itable_init=0,lazy_journal_init=0,nodiscard" \
  "$WORK/data.ext4"

# --- the disk -------------------------------------------------------------------------------------

step "disk ${OUT}"
DISK=$WORK/disk.img
truncate -s $((DISK_SECTORS * 512)) "$DISK"
sfdisk --quiet --no-reread --no-tell-kernel "$DISK" >/dev/null <<EOF
label: gpt
label-id: $DISK_GUID
unit: sectors
first-lba: $MIB
sector-size: 512

start=$BOOT_START, size=$BOOT_SIZE, type=$TYPE_ESP, uuid=$BOOT_GUID, name="tandem-boot", attrs="LegacyBIOSBootable"
start=$CONFIG_START, size=$CONFIG_SIZE, type=$TYPE_BASIC_DATA, uuid=$CONFIG_GUID, name="tandem-config"
start=$ROOTA_START, size=$ROOT_SIZE, type=$TYPE_LINUX, uuid=$ROOTA_GUID, name="tandem-root-a"
start=$ROOTB_START, size=$ROOT_SIZE, type=$TYPE_LINUX, uuid=$ROOTB_GUID, name="tandem-root-b"
start=$DATA_START, size=$DATA_SIZE, type=$TYPE_LINUX, uuid=$DATA_GUID, name="tandem-data"
EOF
# BIOS: gptmbr.bin's code in the first 440 bytes finds the LegacyBIOSBootable partition.
dd if="${PKG[syslinux-common]}/usr/lib/syslinux/mbr/gptmbr.bin" of="$DISK" bs=440 count=1 conv=notrunc status=none
put() { dd if="$1" of="$DISK" bs=1M seek=$(($2 / MIB)) conv=notrunc,sparse status=none; }
put "$WORK/boot.fat" "$BOOT_START"
put "$WORK/config.fat" "$CONFIG_START"
put "$WORK/root.sqfs" "$ROOTA_START"
put "$WORK/data.ext4" "$DATA_START"

mv -f "$DISK" "$OUT"
step "$OUT: $(stat -c %s "$OUT") bytes; root squashfs $SQFS_BYTES bytes; kernel $KVER"
