# The qemu VM used by scripts/vm-test and scripts/vm-powercut, sourced by both.
#
# This machine's own kernel has no capture devices and loads no modules, so the VM boots
# Debian's stock kernel under qemu (software emulation), loads the kernel's virtual drivers
# — vivid (V4L2 capture card with webcam and HDMI inputs, two instances), snd-dummy and
# snd-aloop (ALSA capture) — and the block-device and ext4 modules, shares this machine's
# root file system read-only with the guest over 9p plus a read-write folder, and runs
# guest.sh from that folder as root, then powers off.
#
# The guest sees every host path where the host has it: the checkout (its test binaries
# name castd by its absolute path) wherever it lives, /tmp included. The read-write folder
# is mounted over its own path (the same directory, so it hides nothing); the guest's own
# file systems cover only /dev, /proc, /sys and /run (a tmpfs: TMPDIR, HOME, the modules),
# and a checkout or VM folder under those is refused before booting.
#
# The kernel and initramfs are cached in target/vm (CASTD_VM_DIR).

vm_root=$(pwd -P)
vm_dir=$(realpath -m "${CASTD_VM_DIR:-target/vm}")

# Refuses paths the guest could not see or the kernel command line could not carry.
vm_check_paths() {
  local what path
  for what in "checkout:$vm_root" "VM folder (CASTD_VM_DIR):$vm_dir"; do
    path=${what#*:}
    case $path in
      /dev | /dev/* | /proc | /proc/* | /sys | /sys/* | /run | /run/*)
        echo "vm: the ${what%%:*} $path is under a file system the guest mounts its own of (/dev, /proc, /sys, /run), where the guest cannot see it; use another path" >&2
        return 2 ;;
    esac
    if [[ $path =~ [^A-Za-z0-9._/+@,=-] ]]; then
      echo "vm: the ${what%%:*} path $path has characters the guest's boot line cannot carry (only letters, digits and . _ / + @ , = -)" >&2
      return 2
    fi
  done
}
vm_check_paths || exit 2
mkdir -p "$vm_dir"

vm_install_packages() {
  local need=(qemu-system-x86 busybox-static cpio kmod v4l-utils alsa-utils e2fsprogs)
  local missing=() p sudo=""
  for p in "${need[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# Modules loaded at boot, in this order (with their dependencies): 9p for the shares,
# the capture drivers, and a virtio disk with ext4 (crc32c is a soft dependency of ext4's
# checksums, so it is named).
vm_modules=(virtio_pci 9pnet_virtio 9p vivid snd-dummy snd-aloop virtio_blk crc32c_generic ext4)

# The initramfs's /init. The shared folder's host path comes on the kernel command line
# (vmshare=): the folder is mounted there, over the read-only view of itself.
vm_init=$(cat <<'INIT'
#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $(cat /mods/order); do
  case $m in
    vivid.ko)     insmod /mods/$m n_devs=2 ;;
    snd-dummy.ko) insmod /mods/$m index=0 ;;
    snd-aloop.ko) insmod /mods/$m index=1 pcm_substreams=2 ;;
    *)            insmod /mods/$m ;;
  esac
done
ip link set lo up
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose hostroot /host
mount -t devtmpfs dev /host/dev
mount -t proc proc /host/proc
mount -t sysfs sys /host/sys
mount -t tmpfs run /host/run
# Tests reload drivers (renumbering, hotplug): the modules are in /run/mods in the guest.
mkdir -p /host/run/mods && cp /mods/*.ko /host/run/mods/
SHARE=$(sed -n 's/.* vmshare=\([^ ]*\).*/\1/p' /proc/cmdline)
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 vmrw "/host$SHARE"
chroot /host /bin/sh -c "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/run/home; mkdir -p \$HOME; cd $SHARE; sh $SHARE/guest.sh > $SHARE/guest.log 2>&1; echo \$? > $SHARE/guest.rc"
poweroff -f
INIT
)

# --- kernel and initramfs (cached) ---------------------------------------------------------
vm_prepare_kernel() {
  local pkg kver key
  pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  kver=${pkg#linux-image-}
  # A changed /init must not be served from an initramfs built with the old one.
  key="$kver ${vm_modules[*]} init $(printf '%s' "$vm_init" | md5sum | cut -c1-12)"
  if [ -f "$vm_dir/initrd.gz" ] && [ "$(cat "$vm_dir/kver" 2>/dev/null)" = "$key" ]; then
    return
  fi
  echo "vm: preparing kernel $kver" >&2
  local work; work=$(mktemp -d)
  (cd "$work" && apt-get download "$pkg" >/dev/null 2>&1) || {
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq && (cd "$work" && apt-get download "$pkg" >/dev/null)
  }
  mkdir -p "$work/k"
  dpkg-deb -x "$work/${pkg}"_*.deb "$work/k"
  depmod -b "$work/k" "$kver"
  local ir="$work/initrd"
  mkdir -p "$ir/bin" "$ir/proc" "$ir/sys" "$ir/dev" "$ir/host" "$ir/mods"
  cp /bin/busybox "$ir/bin/"
  for a in sh mount insmod mkdir cat chroot poweroff sleep ip sed; do ln -s busybox "$ir/bin/$a"; done
  local m
  for m in "${vm_modules[@]}"; do
    # Built-in modules are listed as "builtin NAME": only files are copied.
    modprobe -d "$work/k" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
  done | awk '!seen[$0]++' | while read -r f; do cp "$f" "$ir/mods/"; basename "$f"; done > "$ir/mods/order"
  printf '%s\n' "$vm_init" > "$ir/init"
  chmod +x "$ir/init"
  (cd "$ir" && find . | cpio -o -H newc --quiet | gzip -1) > "$vm_dir/initrd.gz"
  cp "$work/k/boot/vmlinuz-$kver" "$vm_dir/vmlinuz"
  echo "$key" > "$vm_dir/kver"
  rm -rf "$work"
}

# A fresh shared folder with a GStreamer plugin registry built here, which saves the guest
# a slow scan of every plugin. Prints its path, which is also its path in the guest.
vm_fresh_share() {
  local rw="$vm_dir/${1:-rw}"
  rm -rf "$rw"; mkdir -p "$rw"
  GST_REGISTRY="$rw/gst-registry.bin" gst-inspect-1.0 >/dev/null 2>&1 || true
  echo "$rw"
}

# The first lines of every guest.sh for the shared folder RW: stop at once, with the reason,
# when the guest does not see the checkout (a test run from it would fail in confusing
# ways), then work in it with the environment the tests expect.
vm_guest_prelude() {
  local rw=$1
  cat <<GUEST
if [ ! -f "$vm_root/scripts/lib/vm.sh" ]; then
  echo "vm: the checkout $vm_root is not visible in the guest (a file system the guest mounts hides it)" >&2
  exit 3
fi
cd "$vm_root"
export GST_REGISTRY="$rw/gst-registry.bin" TMPDIR=/run RUST_BACKTRACE=1 CASTD_IN_VM=1
GUEST
}

# The qemu command line for a boot with shared folder RW; extra arguments are appended.
# Software emulation: this machine's /dev/kvm cannot run a stock kernel.
vm_qemu_command() {
  local rw=$1; shift
  vm_cmd=(qemu-system-x86_64 -accel tcg -machine q35 -cpu max -smp 2 -m "${VM_MEM:-2048}"
    -kernel "$vm_dir/vmlinuz" -initrd "$vm_dir/initrd.gz"
    -append "console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off vmshare=$rw"
    -nographic -nodefaults -no-user-config -serial stdio -monitor none -no-reboot
    -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap,id=r0"
    -virtfs "local,path=$rw,mount_tag=vmrw,security_model=none,id=r1"
    -device virtio-rng-pci "$@")
}

# Boots the guest, which runs guest.sh from the shared folder RW and powers off; prints the
# guest's log and returns guest.sh's exit status (125 when the guest did not finish).
vm_boot() {
  local rw=$1; shift
  rm -f "$rw/guest.rc" "$rw/guest.log"
  vm_qemu_command "$rw" "$@"
  timeout "${VM_TIMEOUT:-900}" "${vm_cmd[@]}" </dev/null >"$rw/console.log" 2>&1 || true
  vm_report "$rw"
}

vm_report() {
  local rw=$1
  cat "$rw/guest.log" 2>/dev/null || true
  if [ ! -f "$rw/guest.rc" ]; then
    echo "vm: the guest did not finish; console:" >&2
    tail -n 30 "$rw/console.log" >&2
    return 125
  fi
  return "$(cat "$rw/guest.rc")"
}

# The path of a test binary built from tests/NAME.rs (debug).
vm_test_binary() {
  cargo test --locked --test "$1" --no-run 2>&1 | sed -n "s/.*Executable tests\/$1.rs (\(.*\))/\1/p" | tail -n 1
}
