#!/usr/bin/env bash
# Builds the small Linux guest that the Proxmox test server's VMs boot: Debian's kernel, an initramfs
# with a static busybox and Debian's real qemu-guest-agent (and its shared libraries), and a qcow2
# template disk (ext4) that is mounted on /workspace. Everything comes from Debian packages, so it runs
# where no Proxmox VE can be installed. Built once into a cache directory and reused (CI builds it once
# per run); a finished build is marked by the file `ready` holding the recipe's version.
#
#   test/proxmox/guest-image/build.sh [cache-dir]   (default $AUTOVIBE_GUEST_IMAGE_DIR, else
#                                                    ~/.cache/autovibe/pve-guest)
# Needs: apt-get (a Debian mirror), dpkg, cpio, gzip, qemu-img, mke2fs, a static /bin/busybox.
set -euo pipefail

RECIPE=4
out="${1:-${AUTOVIBE_GUEST_IMAGE_DIR:-$HOME/.cache/autovibe/pve-guest}}"
if [ "$(cat "$out/ready" 2>/dev/null)" = "$RECIPE" ]; then
  echo "$out"
  exit 0
fi
mkdir -p "$out/debs"
here="$(cd "$(dirname "$0")" && pwd)"

# The kernel package linux-image-amd64 points at, and the guest agent; kept in the cache so a rebuild
# downloads nothing. apt-get download writes into the current directory.
kernel_pkg="$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1)"
[ -n "$kernel_pkg" ] || { echo "no linux-image-*-amd64 package known to apt (apt-get update?)" >&2; exit 1; }
(cd "$out/debs" &&
  { ls "${kernel_pkg}"_*.deb >/dev/null 2>&1 || apt-get download -q "$kernel_pkg"; } &&
  { ls qemu-guest-agent_*.deb >/dev/null 2>&1 || apt-get download -q qemu-guest-agent; }) 2>&1 |
  grep -v 'unsandboxed' || true

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
dpkg -x "$(ls "$out"/debs/"${kernel_pkg}"_*.deb | head -1)" "$work/kernel"
dpkg -x "$(ls "$out"/debs/qemu-guest-agent_*.deb | head -1)" "$work/ga"

root="$work/root"
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,run,root,workspace,lib/modules,lib64,usr/lib/x86_64-linux-gnu,home/autovibe}
busybox=/bin/busybox
{ ldd "$busybox" 2>&1 || true; } | grep -q 'not a dynamic' || { echo "$busybox is not static (install busybox-static)" >&2; exit 1; }
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
  [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done

# qemu-ga and the libraries it links against, from this (Debian) host: same release as the package.
cp "$work/ga/usr/sbin/qemu-ga" "$root/sbin/qemu-ga"
ldd "$work/ga/usr/sbin/qemu-ga" | awk '/=> \//{print $3} /^\t\/lib64/{print $1}' | while read -r lib; do
  case "$lib" in
    /lib64/*) cp -L "$lib" "$root/lib64/" ;;
    *) cp -L "$lib" "$root/usr/lib/x86_64-linux-gnu/" ;;
  esac
done
ln -s usr/lib/x86_64-linux-gnu "$root/lib/x86_64-linux-gnu"

# virtio (console for the agent's port, block for the disk) and ext4, in dependency order.
modules="$(ls -d "$work"/kernel/lib/modules/*)"
for module in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_console \
  virtio_blk crc16 mbcache jbd2 crc32c_generic ext4; do
  cp "$(find "$modules" -name "$module.ko" | head -1)" "$root/lib/modules/"
done

printf 'root:x:0:0:root:/root:/bin/sh\nautovibe:x:1000:1000:autovibe:/home/autovibe:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\nautovibe:x:1000:\n' >"$root/etc/group"
echo guest >"$root/etc/hostname"
install -m 0755 "$here/init" "$root/init"

(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initrd.gz"
cp "$(ls "$work"/kernel/boot/vmlinuz-* | head -1)" "$work/vmlinuz"

# The template's disk: an empty ext4 workspace, owned by the unprivileged user, in a qcow2 so linked
# clones are overlays on it and snapshots live inside it.
mkdir -p "$work/disk"
mke2fs -q -t ext4 -L workspace -E root_owner=1000:1000 -F "$work/disk.raw" 1G
qemu-img convert -q -f raw -O qcow2 "$work/disk.raw" "$work/base.qcow2"

mv -f "$work/vmlinuz" "$work/initrd.gz" "$work/base.qcow2" "$out/"
echo "$RECIPE" >"$out/ready"
echo "$out"
