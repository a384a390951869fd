#!/usr/bin/env bash
# scripts/preflight.sh: the first step of `npm test` (package.json "pretest"). The tests drive real Debian tools;
# on a machine without them, say at once which packages are missing and the one command that installs them,
# instead of failing dozens of tests one by one. Only shell builtins and file tests: it answers in milliseconds.
#
#   ISCSI_LAB_PREFLIGHT_INSTALL=1 npm test   installs what is missing itself (apt-get, with sudo when not root)
#   ISCSI_LAB_SKIP_PREFLIGHT=1 npm test      skips the check (a machine that has the tools elsewhere)
# Where it looks: PATH plus /usr/sbin and /sbin (tgtd lives there); CHROMIUM_PATH (as playwright.config.ts);
# QEMU_MODULE_DIR (as qemu does) or /usr/lib/*/qemu for qemu's iscsi:// driver.
set -u
[[ ${ISCSI_LAB_SKIP_PREFLIGHT:-} == 1 ]] && exit 0

PATH="$PATH:/usr/sbin:/sbin"
missing=()
need() { # need PACKAGE WHAT-IS-CHECKED: the package is missing unless the check passed
  local pkg=$1 what=$2
  for m in "${missing[@]+"${missing[@]}"}"; do [[ $m == "$pkg" ]] && { details+="  $what (package $pkg)"$'\n'; return; }; done
  missing+=("$pkg")
  details+="  $what (package $pkg)"$'\n'
}
details=""
for tool in iscsi-ls iscsi-inq iscsi-readcapacity16 iscsi-test-cu; do command -v "$tool" >/dev/null 2>&1 || need libiscsi-bin "$tool"; done
for tool in qemu-img qemu-io; do command -v "$tool" >/dev/null 2>&1 || need qemu-utils "$tool"; done
for tool in tshark; do command -v "$tool" >/dev/null 2>&1 || need tshark "$tool"; done
for tool in editcap dumpcap; do command -v "$tool" >/dev/null 2>&1 || need tshark "$tool"; done # wireshark-common, a tshark dependency
for tool in tgtd tgtadm; do command -v "$tool" >/dev/null 2>&1 || need tgt "$tool"; done
command -v python3 >/dev/null 2>&1 || need python3 python3
for tool in mke2fs debugfs; do command -v "$tool" >/dev/null 2>&1 || need e2fsprogs "$tool"; done # the file-system stage
chromium=${CHROMIUM_PATH:-/usr/bin/chromium}
[[ -x $chromium ]] || need chromium "$chromium"
iscsi_driver=""
if [[ -n ${QEMU_MODULE_DIR:-} ]]; then
  [[ -e $QEMU_MODULE_DIR/block-iscsi.so ]] && iscsi_driver=yes
else
  for f in /usr/lib/*/qemu/block-iscsi.so /usr/lib/qemu/block-iscsi.so; do [[ -e $f ]] && iscsi_driver=yes; done
fi
[[ -n $iscsi_driver ]] || need qemu-block-extra "qemu's iscsi:// driver (block-iscsi.so)"

[[ ${#missing[@]} -eq 0 ]] && exit 0

command="apt-get install -y --no-install-recommends ${missing[*]}"
if [[ $EUID -ne 0 ]]; then command="sudo $command"; fi
echo "npm test: the tests drive real Debian tools, and this machine lacks ${#missing[@]} package(s): ${missing[*]}" >&2
printf '%s' "$details" >&2
if [[ ${ISCSI_LAB_PREFLIGHT_INSTALL:-} == 1 ]]; then
  echo "installing them (ISCSI_LAB_PREFLIGHT_INSTALL=1): $command" >&2
  prefix=""; [[ $EUID -ne 0 ]] && prefix="sudo -E"
  # tshark asks whether non-root users may capture; answer no without a prompt.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $prefix debconf-set-selections 2>/dev/null || true
  DEBIAN_FRONTEND=noninteractive $prefix apt-get update && DEBIAN_FRONTEND=noninteractive $prefix apt-get install -y --no-install-recommends "${missing[@]}" && exit 0
  echo "npm test: the install failed; run it yourself: $command" >&2
  exit 1
fi
echo "install them with:" >&2
echo "  $command" >&2
echo "(or run ISCSI_LAB_PREFLIGHT_INSTALL=1 npm test to let it install them; .ci/run does everything CI does)" >&2
exit 1
