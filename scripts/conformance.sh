#!/usr/bin/env bash
# scripts/conformance.sh (npm run conformance): libiscsi's iscsi-test-cu against our target, over every LUN
# configuration the suite needs to run rather than skip, merged into one verdict per test:
#   plain      128M LUN                                   iscsi-test-cu -d
#   thin       128M thin LUN (UNMAP, LBPME, VPD B2)        iscsi-test-cu -d
#   removable  128M removable LUN (RMB, START STOP UNIT)   iscsi-test-cu -d
#   readonly   128M write-protected thin LUN (UNMAP too)  iscsi-test-cu -d -S -t SCSI.ReadOnly,SCSI.Sanitize.Readonly
#   sanitize   128M thin LUN (BLOCK/CRYPTO ERASE unmap)   iscsi-test-cu -d -S -t ALL.Sanitize (every other suite
#                                                         already ran in `plain`; -S only adds SANITIZE)
#   physical   128M thin LUN with 4 KiB physical blocks   iscsi-test-cu -d -t <the five tests that skip on LBPPB < 2>
#              (physical=4096: LBPPB 8)                   (WriteSame10/16.UnmapUnaligned, {CompareAndWrite,WriteSame10,
#                                                         WriteSame16}.InvalidDataOutSize); the other suites ran in
#                                                         `thin`, and GetLBAStatus.UnmapSingle would fail here: with
#                                                         LBPPB > 1 it wants a first descriptor that does not start at
#                                                         the requested LBA, which SBC-3 5.6 forbids
#   multipath  128M LUN behind two portals                iscsi-test-cu -d -t ALL.MultipathIO URL1 URL2 (the other
#                                                         suites ran in `plain`; here the second path's nexus rightly
#                                                         gets the unit attentions their resets and MODE SELECTs raise,
#                                                         which the suite's clean-up on that path logs as "[FAILED]")
# The read-only run is limited to the tests written for write-protected LUNs: iscsi-test-cu does not skip its
# write tests on such a LUN, they fail there (DATA PROTECT) against any target, Debian's tgt included, and one
# failed run fails the merged verdict.
# One target process per configuration (`bin/iscsi-lab.cjs target ...`), each on free ports with its LUN
# files in a fresh temporary directory; no --acl, so both of iscsi-test-cu's initiator names get in, and
# --allow-target-reset, since the Reserve6/PreventAllow *WarmReset/*ColdReset tests send TARGET WARM/COLD RESET.
# Prints the failing tests, CUnit's own verdict for comparison, then `tests N pass P skip S fail F` read exactly the
# way /work/shared/tools/cu-summary.py reads the logs (scripts/cu-summary.py --compat); exits 1 if
# F > 0 or a target crashed / did not exit 0 on SIGTERM, 2 if it could not run at all.
# Env: CONFORMANCE_ONLY      space-separated subset of the configurations above (default: all)
#      CONFORMANCE_TEST      iscsi-test-cu -t filter for every run, e.g. SCSI.Read10 or SCSI.Unmap,SCSI.Write16
#                            (default: every test; the read-only run's own list above)
#      CONFORMANCE_CACHE     block cache per LUN, in write-back mode (default 16M, the lab's own default; 0 = none):
#                            every command of the suite then goes through the cache, as users' I/O does
#      CONFORMANCE_TIMEOUT   seconds per iscsi-test-cu run (default 900)
#      CONFORMANCE_LOGDIR    where logs go (default: a new temporary directory, kept and printed)
#      ISCSI_LAB_PORT_BASE, ISCSI_LAB_PORT_SPAN  ports are picked free from BASE..BASE+SPAN-1 (3290, 200)
# Needs: node, python3, iscsi-test-cu (Debian libiscsi-bin). Uses stdbuf (coreutils) when present so the
# tool's stderr notes ([SKIPPED] ...) land next to the test that printed them.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
here="$root/scripts"
iqn=iqn.2026-11.org.iscsi-lab:conformance
configs=${CONFORMANCE_ONLY:-plain thin removable readonly sanitize physical multipath}
cache=${CONFORMANCE_CACHE:-16M}
logdir=${CONFORMANCE_LOGDIR:-$(mktemp -d "${TMPDIR:-/tmp}/iscsi-lab-conformance.XXXXXX")}
mkdir -p "$logdir"

for tool in node python3 iscsi-test-cu; do
  command -v "$tool" >/dev/null || { echo "conformance: $tool not found (apt-get install -y libiscsi-bin python3)" >&2; exit 2; }
done
unbuffered=()
command -v stdbuf >/dev/null && unbuffered=(stdbuf -o0 -e0)

# free_ports N: N ports nobody listens on, from a random point in [ISCSI_LAB_PORT_BASE, +ISCSI_LAB_PORT_SPAN)
# (several runs at once rarely pick the same ones; start_target retries when one is taken anyway)
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

target_pid="" stop_reason=""
stop_target() { # SIGTERM, then the target must exit 0 within 10 s; otherwise returns 1 with stop_reason set
  local pid=$target_pid status=0
  target_pid="" stop_reason=""
  [[ -n $pid ]] || return 0
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid" 2>/dev/null || status=$?
    stop_reason="crashed (exited $status before SIGTERM)"; return 1
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
    stop_reason="did not exit within 10 s of SIGTERM"; return 1
  fi
  wait "$pid" 2>/dev/null || status=$?
  [[ $status -eq 0 ]] || { stop_reason="exited $status after SIGTERM"; return 1; }
}
cleanup() { [[ -n $target_pid ]] && kill -KILL "$target_pid" 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_target NAME LUNSPEC NPORTS: starts the target on NPORTS free portals, waits for its `ready` line;
# sets target_pid and ports; tries again on other ports when one was taken in the meantime (EADDRINUSE)
ports=()
start_target() {
  local name=$1 lun=$2 nports=$3 dir="$logdir/$1" portals=() p attempt
  mkdir -p "$dir/luns"
  for attempt in 1 2 3 4 5; do
    read -r -a ports <<<"$(free_ports "$nports")"
    [[ ${#ports[@]} -eq $nports ]] || { echo "conformance: $name: no free ports" >&2; return 1; }
    portals=()
    for p in "${ports[@]}"; do portals+=(--portal "127.0.0.1:$p"); done
    "$root/bin/iscsi-lab.cjs" target "${portals[@]}" --iqn "$iqn" --lun "$dir/luns/lun0.img:$lun" \
      --cache "$cache" --cache-mode write-back --allow-target-reset >"$dir/target.out" 2>"$dir/target.err" &
    target_pid=$!
    for _ in $(seq 300); do
      grep -q '^ready ' "$dir/target.out" 2>/dev/null && return 0
      kill -0 "$target_pid" 2>/dev/null || break
      sleep 0.1
    done
    if ! kill -0 "$target_pid" 2>/dev/null && grep -q EADDRINUSE "$dir/target.err"; then
      wait "$target_pid" 2>/dev/null || true
      target_pid=""
      continue
    fi
    break
  done
  echo "conformance: $name: target did not print ready:" >&2
  sed 's/^/  /' "$dir/target.err" >&2 || true
  return 1
}

logs=() problems=()
for name in $configs; do
  args=(-d) lun=128M mpath="" only=${CONFORMANCE_TEST:-}
  case $name in
    plain) ;;
    thin) lun=128M,thin ;;
    removable) lun=128M,removable ;;
    readonly) lun=128M,readonly,thin args+=(-S) only=${CONFORMANCE_TEST:-SCSI.ReadOnly,SCSI.Sanitize.Readonly} ;;
    sanitize) lun=128M,thin args+=(-S) only=${CONFORMANCE_TEST:-ALL.Sanitize} ;;
    physical) lun=128M,thin,physical=4096
      only=${CONFORMANCE_TEST:-SCSI.WriteSame10.UnmapUnaligned,SCSI.WriteSame16.UnmapUnaligned,SCSI.CompareAndWrite.InvalidDataOutSize,SCSI.WriteSame10.InvalidDataOutSize,SCSI.WriteSame16.InvalidDataOutSize} ;;
    multipath) only=${CONFORMANCE_TEST:-ALL.MultipathIO} ;;
    *) echo "conformance: unknown configuration $name" >&2; exit 2 ;;
  esac
  [[ -n $only ]] && args+=(-t "$only")
  nports=1
  [[ $name == multipath ]] && nports=2
  if ! start_target "$name" "$lun" "$nports"; then problems+=("$name: target did not start"); stop_target || true; continue; fi
  url="iscsi://127.0.0.1:${ports[0]}/$iqn/0"
  [[ $name == multipath ]] && mpath="iscsi://127.0.0.1:${ports[1]}/$iqn/0"
  log="$logdir/$name/cu.log"
  t0=$(date +%s)
  # shellcheck disable=SC2086
  timeout "${CONFORMANCE_TIMEOUT:-900}" "${unbuffered[@]}" iscsi-test-cu "${args[@]}" "$url" $mpath >"$log" 2>&1 || true
  logs+=("$log")
  line=$(python3 "$here/cu-summary.py" "$log" | tail -n 1)
  stop_target || problems+=("$name: target $stop_reason")
  printf '%-10s %-40s %4ss  %s\n' "$name" "${ports[*]} ${lun} ${args[*]}" "$(($(date +%s) - t0))" "$line"
done

[[ ${#logs[@]} -gt 0 ]] || { echo "conformance: nothing ran" >&2; exit 2; }
# The verdict is CUnit's own ("passed" / "FAILED"): libiscsi's "[FAILED]" log lines are not verdicts (a test that
# wants a command to fail logs one and then asserts so). /work/shared/tools/cu-summary.py reads it the same way.
python3 "$here/cu-summary.py" "${logs[@]}" --list >"$logdir/summary.txt"
grep '^fail ' "$logdir/summary.txt" || true
for p in "${problems[@]}"; do echo "problem: $p"; done
echo "logs: $logdir"
echo "as /work/shared/tools/cu-summary.py reads it (informational): $(python3 "$here/cu-summary.py" --compat "${logs[@]}")"
summary=$(tail -n 1 "$logdir/summary.txt")
echo "$summary"
# Failures listed with a reason in conformance-known-failures.txt are printed and counted, but do not fail the run.
unexpected=0
while read -r _ test; do
  if grep -q "^$test " "$here/conformance-known-failures.txt"; then echo "known failure (see scripts/conformance-known-failures.txt): $test"
  else unexpected=$((unexpected + 1)); fi
done < <(grep '^fail ' "$logdir/summary.txt" || true)
[[ $unexpected -eq 0 && ${#problems[@]} -eq 0 ]]
