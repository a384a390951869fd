#!/usr/bin/env bash
# scripts/conformance.sh [full] (npm run conformance [-- full]): libiscsi's iscsi-test-cu against our target, over
# every LUN configuration the suite needs to run rather than skip, merged into one verdict per test, for two suites:
#   1.19   Debian's libiscsi-bin (230 tests), every configuration below
#   head   libiscsi's current suite (commit 65ebd14, 246 tests), when built (../shared/tools/libiscsi-head builds it
#          into ~/.cache/libiscsi-head; LIBISCSI_HEAD_BIN names another bin folder). By default only what differs
#          from 1.19 runs (HEAD_SUBSET below: the new and changed tests) to stay in CI's time budget; `full` runs it
#          all, over every configuration.
# Configurations (each its own target process, `bin/iscsi-lab.cjs target ... --allow-target-reset`, on free ports,
# LUN files in a fresh temporary directory; no --acl, so both of iscsi-test-cu's initiator names get in):
#   plain      128M LUN                                   -d
#   thin       128M thin LUN (UNMAP, LBPME, VPD B2)        -d
#   removable  128M removable LUN (RMB, START STOP UNIT)   -d
#   readonly   128M write-protected thin LUN              -d -S -t SCSI.ReadOnly,SCSI.Sanitize.Readonly (the write tests
#                                                         fail on such a LUN against any target, Debian's tgt included)
#   sanitize   128M thin LUN                              -d -S -t ALL.Sanitize (the other suites ran in `plain`)
#   physical   128M thin LUN, 4 KiB physical blocks       -d -t the five tests that skip on LBPPB < 2 (GetLBAStatus.
#                                                         UnmapSingle would fail here: with LBPPB > 1 it wants a first
#                                                         descriptor not starting at the requested LBA, which SBC-3
#                                                         5.6 forbids; it passes on `thin`)
#   multipath  128M LUN behind two portals                -d -t ALL.MultipathIO URL1 URL2
#   chap-hex   (head) 128M LUN, CHAP user 0x6c6162        -t ALL.iSCSICHAP (HexName wants a 0x-prefixed user name)
#   chap-b64   (head) 128M LUN, CHAP user 0bbGFi          -t ALL.iSCSICHAP (Base64Name wants a 0b-prefixed one)
#   tmf-async  (head) 128M LUN                            -d -t iSCSITMF.LUNResetSimpleAsync,iSCSITMF.LogoutDuringIOAsync
#                                                         (in a whole run they follow AbortTaskSimpleAsync, which
#                                                         destroys the suite's connection, so they skip there)
# Prints per run `SUITE CONFIG ports seconds tests N pass P skip S fail F`, then per suite the failing tests and
# `SUITE: tests N pass P skip S fail F` by CUnit's own verdict (scripts/cu-summary.py; /work/shared/tools/cu-summary.py
# reads the logs the same way). Exits 1 if a test failed that is not in scripts/conformance-head-test-bugs.txt (tests
# of the HEAD suite that fail against any target because of a bug in the test), or a target crashed / did not exit 0
# on SIGTERM; 2 if it could not run at all.
# Env: CONFORMANCE_SUITES   "1.19 head" (default; head only when built)
#      CONFORMANCE_ONLY     space-separated subset of the configurations (default: all that apply to the suite)
#      CONFORMANCE_TEST     iscsi-test-cu -t filter for every run (default: each configuration's own)
#      CONFORMANCE_JOBS     configurations run at once (default 2)
#      CONFORMANCE_CACHE    block cache per LUN, write-back (default 16M, the lab's own default; 0 = none)
#      CONFORMANCE_TIMEOUT  seconds per iscsi-test-cu run (default 900)
#      CONFORMANCE_LOGDIR   where logs go (default: a new temporary directory, kept and printed)
#      ISCSI_LAB_PORT_BASE, ISCSI_LAB_PORT_SPAN  ports are picked free from BASE..BASE+SPAN-1 (3290, 200)
# Needs: node, python3, iscsi-test-cu (Debian libiscsi-bin). stdbuf (coreutils), when present, keeps the tool's
# stderr notes ([SKIPPED] ...) next to the test that printed them.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
here="$root/scripts"
iqn=iqn.2026-11.org.iscsi-lab:conformance
chap_secret=conformance-secret-1
mode=${1:-}
[[ -z $mode || $mode == full ]] || { echo "usage: conformance.sh [full]" >&2; exit 2; }
cache=${CONFORMANCE_CACHE:-16M}
jobs_max=${CONFORMANCE_JOBS:-2}
logdir=${CONFORMANCE_LOGDIR:-$(mktemp -d "${TMPDIR:-/tmp}/iscsi-lab-conformance.XXXXXX")}
mkdir -p "$logdir"
# What HEAD adds or changed over 1.19; the rest of HEAD behaves as 1.19 does (`full` runs it anyway).
HEAD_SUBSET=ALL.iSCSISendTargets,ALL.iSCSINop,ALL.iSCSITMF,ALL.iSCSIResiduals,ALL.ReportTargetPortGroups,SCSI.Inquiry,SCSI.CompareAndWrite,SCSI.ExtendedCopy

for tool in node python3 iscsi-test-cu; do
  command -v "$tool" >/dev/null || { echo "conformance: $tool not found (apt-get install -y libiscsi-bin python3)" >&2; exit 2; }
done
head_bin=${LIBISCSI_HEAD_BIN:-$HOME/.cache/libiscsi-head/bin}
suites=${CONFORMANCE_SUITES:-1.19 head}
if [[ " $suites " == *" head "* && ! -x $head_bin/iscsi-test-cu ]]; then
  echo "conformance: libiscsi HEAD suite not built ($head_bin/iscsi-test-cu): ../shared/tools/libiscsi-head builds it; running 1.19 only"
  suites=${suites//head/}
fi
unbuffered=()
command -v stdbuf >/dev/null && unbuffered=(stdbuf -o0 -e0)

# free_ports N: N ports nobody listens on, from a random point in [ISCSI_LAB_PORT_BASE, +ISCSI_LAB_PORT_SPAN)
# (parallel runs rarely pick the same ones; start_target retries when one is taken anyway)
free_ports() {
  python3 - "${ISCSI_LAB_PORT_BASE:-3290}" "${ISCSI_LAB_PORT_SPAN:-200}" "$1" <<'EOF'
import random, socket, sys
base, span, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
start, found = random.randrange(span), []
for i in range(span):
    port = base + (start + i) % span
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    found.append(port)
    if len(found) == n:
        print(" ".join(map(str, found)))
        break
else:
    sys.exit(f"no {n} free ports in {base}..{base + span - 1}")
EOF
}

# config SUITE NAME: sets lun, args, only, nports, chap_user for one configuration; returns 1 if it does not apply
config() {
  local suite=$1 name=$2 subset=""
  lun=128M args=(-d) only="" nports=1 chap_user=""
  [[ $suite == head && $mode != full ]] && subset=$HEAD_SUBSET
  case $name in
    plain) only=$subset ;;
    thin) lun=128M,thin only=$subset ;;
    removable) [[ -z $subset ]] || return 1; lun=128M,removable ;;
    readonly) lun=128M,readonly,thin args+=(-S) only=SCSI.ReadOnly,SCSI.Sanitize.Readonly ;;
    sanitize) [[ -z $subset ]] || return 1; lun=128M,thin args+=(-S) only=ALL.Sanitize ;;
    physical) lun=128M,thin,physical=4096
      only=SCSI.WriteSame10.UnmapUnaligned,SCSI.WriteSame16.UnmapUnaligned,SCSI.CompareAndWrite.InvalidDataOutSize,SCSI.WriteSame10.InvalidDataOutSize,SCSI.WriteSame16.InvalidDataOutSize ;;
    multipath) only=ALL.MultipathIO nports=2 ;;
    chap-hex|chap-b64) [[ $suite == head ]] || return 1
      args=() only=ALL.iSCSICHAP chap_user=0x6c6162
      [[ $name == chap-b64 ]] && chap_user=0bbGFi ;;
    tmf-async) [[ $suite == head ]] || return 1; only=ALL.iSCSITMF.LUNResetSimpleAsync,ALL.iSCSITMF.LogoutDuringIOAsync ;;
    *) echo "conformance: unknown configuration $name" >&2; exit 2 ;;
  esac
  [[ -n ${CONFORMANCE_TEST:-} ]] && only=$CONFORMANCE_TEST
  [[ -n $only ]] && args+=(-t "$only")
  return 0
}

# run_config SUITE NAME: one target, one iscsi-test-cu run; writes DIR/cu.log, DIR/line and, on trouble, DIR/problem
run_config() {
  local suite=$1 name=$2 dir="$logdir/$1/$2" target_pid="" ports=() attempt p t0 url mpath="" status=0 tool=iscsi-test-cu
  config "$suite" "$name" || return 0
  [[ $suite == head ]] && tool=$head_bin/iscsi-test-cu
  mkdir -p "$dir/luns"
  trap '[[ -n $target_pid ]] && kill -KILL "$target_pid" 2>/dev/null; exit 130' INT TERM
  local auth=()
  [[ -n $chap_user ]] && auth=(--chap "$chap_user:$chap_secret")
  for attempt in 1 2 3 4 5; do
    read -r -a ports <<<"$(free_ports "$nports")"
    local portals=()
    for p in "${ports[@]}"; do portals+=(--portal "127.0.0.1:$p"); done
    "$root/bin/iscsi-lab.cjs" target "${portals[@]}" --iqn "$iqn" --lun "$dir/luns/lun0.img:$lun" "${auth[@]}" \
      --cache "$cache" --cache-mode write-back --allow-target-reset >"$dir/target.out" 2>"$dir/target.err" &
    target_pid=$!
    for _ in $(seq 300); do
      grep -q '^ready ' "$dir/target.out" 2>/dev/null && break
      kill -0 "$target_pid" 2>/dev/null || break
      sleep 0.1
    done
    grep -q '^ready ' "$dir/target.out" 2>/dev/null && break
    if ! kill -0 "$target_pid" 2>/dev/null && grep -q EADDRINUSE "$dir/target.err"; then
      wait "$target_pid" 2>/dev/null || true; target_pid=""; continue
    fi
    kill -KILL "$target_pid" 2>/dev/null || true
    echo "$suite $name: target did not print ready: $(head -c 300 "$dir/target.err")" >"$dir/problem"
    return 0
  done
  grep -q '^ready ' "$dir/target.out" 2>/dev/null || { echo "$suite $name: no free ports after 5 tries" >"$dir/problem"; return 0; }
  local user=""
  [[ -n $chap_user ]] && user="$chap_user%$chap_secret@"
  url="iscsi://${user}127.0.0.1:${ports[0]}/$iqn/0"
  [[ $nports == 2 ]] && mpath="iscsi://127.0.0.1:${ports[1]}/$iqn/0"
  t0=$(date +%s)
  # shellcheck disable=SC2086
  timeout "${CONFORMANCE_TIMEOUT:-900}" "${unbuffered[@]}" "$tool" "${args[@]}" "$url" $mpath >"$dir/cu.log" 2>&1 || true
  # SIGTERM: the target must finish, flush and exit 0 within 10 s
  if ! kill -0 "$target_pid" 2>/dev/null; then
    wait "$target_pid" 2>/dev/null || status=$?
    echo "$suite $name: target crashed (exited $status before SIGTERM)" >"$dir/problem"
  else
    kill -TERM "$target_pid"
    for _ in $(seq 100); do kill -0 "$target_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$target_pid" 2>/dev/null; then
      kill -KILL "$target_pid"; wait "$target_pid" 2>/dev/null || true
      echo "$suite $name: target did not exit within 10 s of SIGTERM" >"$dir/problem"
    else
      wait "$target_pid" 2>/dev/null || status=$?
      [[ $status -eq 0 ]] || echo "$suite $name: target exited $status after SIGTERM" >"$dir/problem"
    fi
  fi
  printf '%-5s %-10s %-12s %4ss  %s\n' "$suite" "$name" "${ports[*]}" "$(($(date +%s) - t0))" \
    "$(python3 "$here/cu-summary.py" "$dir/cu.log" | tail -n 1)" | tee "$dir/line"
}

trap 'kill $(jobs -p) 2>/dev/null; exit 130' INT TERM
all_configs="plain thin removable readonly sanitize physical multipath chap-hex chap-b64 tmf-async"
for suite in $suites; do
  for name in ${CONFORMANCE_ONLY:-$all_configs}; do
    while (($(jobs -rp | wc -l) >= jobs_max)); do wait -n || true; done
    run_config "$suite" "$name" &
  done
done
wait

failed=0 ran=0
for suite in $suites; do
  mapfile -t logs < <(find "$logdir/$suite" -name cu.log 2>/dev/null | sort)
  [[ ${#logs[@]} -gt 0 ]] || continue
  ran=1
  python3 "$here/cu-summary.py" "${logs[@]}" --list >"$logdir/$suite/summary.txt"
  while read -r _ test; do
    if [[ $suite == head ]] && grep -q "^$test " "$here/conformance-head-test-bugs.txt"; then
      echo "head: fails by a bug of the test itself (scripts/conformance-head-test-bugs.txt): $test"
    else
      echo "$suite: FAILED $test"; failed=1
    fi
  done < <(grep '^fail ' "$logdir/$suite/summary.txt" || true)
  echo "$suite: $(tail -n 1 "$logdir/$suite/summary.txt")"
done
for p in "$logdir"/*/*/problem; do [[ -e $p ]] && { echo "problem: $(cat "$p")"; failed=1; }; done
echo "logs: $logdir"
[[ $ran -eq 1 ]] || { echo "conformance: nothing ran" >&2; exit 2; }
exit "$failed"
