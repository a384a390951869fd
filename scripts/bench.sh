#!/usr/bin/env bash
# npm run bench [-- WHAT]: speed, measured side by side with Debian's tgt (never in timed tests).
#   npm run bench            this target vs tgt, alternating A B A B ... on the same four workloads, medians + ratio
#   npm run bench -- cache   the block cache's hit rates per policy (scripts/bench-cache.ts)
#   npm run bench -- micro   PDU decode/encode per second, CRC32C GB/s, cache lookups per second (scripts/bench-micro.ts)
#   npm run bench -- soak    64 sessions x depth 32 for 5 minutes, every write read back, target RSS (scripts/soak.ts)
#   npm run bench -- ui      the page under load: qemu-img bench -d 16 + a qemu-io loop for 60 s while Playwright clicks
#                            tabs, filters and scrolls 50 times; p95 click-to-effect (<= 300 ms) and PDUs/s (scripts/bench-ui.ts)
# The A/B table is printed twice: the bare target (`iscsi-lab target`), then the lab as users run it
# (`iscsi-lab serve`: trace recorder on, one WebSocket client attached reading every frame).
# Workloads: 4 KiB random reads at queue depth 32 and 1 MiB sequential reads at depth 8 (libiscsi's iscsi-perf),
# 4 KiB and 1 MiB writes (qemu-img bench). Env: BENCH_ROUNDS (3), BENCH_SECONDS (5), BENCH_TGT_URL (a running tgt;
# default: start one on 127.0.0.1:3261 with tgtd, as /work/shared/tools/tgt-anchor does).
# Needs: libiscsi-bin, qemu-utils, qemu-block-extra, tgt (apt-get install -y tgt).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
case ${1:-} in
  cache) shift; exec npx tsx "$root/scripts/bench-cache.ts" "$@" ;;
  micro) shift; exec npx tsx "$root/scripts/bench-micro.ts" "$@" ;;
  soak) shift; exec npx tsx "$root/scripts/soak.ts" "$@" ;;
  ui) shift; exec npx tsx "$root/scripts/bench-ui.ts" "$@" ;;
  "") ;;
  *) echo "usage: npm run bench [-- cache|micro|soak|ui]" >&2; exit 2 ;;
esac
rounds=${BENCH_ROUNDS:-3} secs=${BENCH_SECONDS:-5}
work=$(mktemp -d "${TMPDIR:-/tmp}/iscsi-lab-bench.XXXXXX")
pids=()
tgtd_pid=
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # tgtd ignores SIGTERM: it leaves when told through its management socket (else it keeps port 3261 for good)
  if [[ -n $tgtd_pid ]]; then
    tgtadm --lld iscsi --op delete --force --mode target --tid 1 >/dev/null 2>&1 || true
    tgtadm --op delete --mode system >/dev/null 2>&1 || true
    sleep 0.5
    kill -9 "$tgtd_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

iqn=iqn.2026-11.org.iscsi-lab:bench
# start_ours MODE: the bare target, or `serve` with a WebSocket client attached; sets ours and ours_pid
start_ours() {
  local args=(target) out="$work/$1.out"
  # the same LUN without a cache in both tables: the second one measures what the trace and a watcher cost
  [[ $1 == traced ]] && args=(serve --http 127.0.0.1:3279 --cache 0)
  "$root/bin/iscsi-lab.cjs" "${args[@]}" --portal 127.0.0.1:3270 --iqn "$iqn" --lun "$work/lun0.img:256M" >"$out" 2>"$work/$1.err" &
  ours_pid=$!
  pids+=($ours_pid)
  for _ in $(seq 200); do grep -q '^ready ' "$out" && break; sleep 0.1; done
  grep -q '^ready ' "$out" || { echo "bench: $1 target did not start: $(cat "$work/$1.err")" >&2; exit 1; }
  ours="iscsi://127.0.0.1:3270/$iqn/0"
  if [[ $1 == traced ]]; then
    node "$root/scripts/bench-ws-client.mjs" ws://127.0.0.1:3279/ws >"$work/ws.out" 2>&1 &
    ws_pid=$!
    pids+=($ws_pid)
    for _ in $(seq 50); do grep -q attached "$work/ws.out" && break; sleep 0.1; done
  fi
}
stop_ours() {
  kill "$ours_pid" 2>/dev/null || true
  wait "$ours_pid" 2>/dev/null || true
}

tgt=${BENCH_TGT_URL:-}
if [[ -z $tgt ]]; then
  command -v tgtd >/dev/null || { echo "bench: tgtd not found (apt-get install -y tgt), or set BENCH_TGT_URL" >&2; exit 2; }
  if pgrep -x tgtd >/dev/null; then
    echo "bench: a tgtd is already running (tgt-anchor?); stop it, or point BENCH_TGT_URL at its LUN" >&2; exit 2
  fi
  truncate -s 256M "$work/tgt.img"
  tgtd -f --iscsi portal=127.0.0.1:3261 >"$work/tgtd.log" 2>&1 &
  tgtd_pid=$!
  for _ in $(seq 50); do tgtadm --lld iscsi --op show --mode target >/dev/null 2>&1 && break; sleep 0.1; done
  tgtadm --lld iscsi --op new --mode target --tid 1 -T iqn.2026-11.org.iscsi-lab:tgt-bench
  tgtadm --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 -b "$work/tgt.img"
  tgtadm --lld iscsi --op bind --mode target --tid 1 -I ALL
  tgt=iscsi://127.0.0.1:3261/iqn.2026-11.org.iscsi-lab:tgt-bench/1
fi

read_iops() { # url blocks depth [-r]
  timeout "$secs" iscsi-perf -m "$3" -b "$2" ${4:-} "$1" 2>&1 | tr '\r' '\n' |
    sed -n 's/.*iops average \([0-9]*\).*/\1/p' | tail -n 1 || true
}
write_iops() { # url size count depth
  local t0 t1; t0=$(date +%s.%N)
  qemu-img bench -f raw -w -t none -c "$3" -d "$4" -s "$2" "$1" >/dev/null 2>&1 || { echo 0; return; }
  t1=$(date +%s.%N)
  python3 -c "print(int($3/($t1-$t0)))"
}
measure() {
  case $1 in
    rand-read-4k-qd32) read_iops "$2" 8 32 -r ;;
    seq-read-1m-qd8) read_iops "$2" 2048 8 ;;
    write-4k-qd32) write_iops "$2" 4096 60000 32 ;;
    write-1m-qd8) write_iops "$2" 1048576 256 8 ;;
  esac
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
table() {
  printf '%-20s %12s %12s %8s   (IOPS, median of %s rounds, alternating; %s)\n' workload iscsi-lab tgt ratio "$rounds" "$1"
  for w in rand-read-4k-qd32 seq-read-1m-qd8 write-4k-qd32 write-1m-qd8; do
    as=() bs=() rs=()
    for _ in $(seq "$rounds"); do
      a=$(measure $w "$ours"); b=$(measure $w "$tgt")
      as+=("${a:-0}"); bs+=("${b:-0}"); rs+=("$(python3 -c "print(${a:-0}/max(${b:-0},1))")")
    done
    printf '%-20s %12s %12s %8.2f\n' $w "$(printf '%s\n' "${as[@]}" | median)" "$(printf '%s\n' "${bs[@]}" | median)" "$(printf '%s\n' "${rs[@]}" | median)"
  done
}
start_ours bare
table "iscsi-lab target"
stop_ours
start_ours traced
table "iscsi-lab serve: trace on, one WebSocket client"
kill -TERM "$ws_pid" 2>/dev/null; wait "$ws_pid" 2>/dev/null || true
echo "  client received: $(tail -n 1 "$work/ws.out")"
stop_ours
