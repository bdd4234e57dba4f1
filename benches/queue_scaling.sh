#!/usr/bin/env bash
# Distributed scanning (issue 14): how a worker fleet scales, and what a
# worker costs against a local scan of the same files.
#
#   scaling   = time(1 worker) / time(2 workers)       target >= 1.8 (2 cores)
#   overhead  = time(1 worker) / time(local scan) - 1  target <= 10%
#
# Every configuration runs one thread (`worker --threads 1`, `scan
# --threads 1`), so "2 workers" means twice the hashing capacity on this
# 2-core machine. A worker's time runs from its start (jobs already
# published) until the database says the run is done (polled every 50 ms),
# so it includes loading the lists, connecting and every database commit;
# the local scan's is the whole command. The runs alternate (local, 1
# worker, 2 workers, local, ...) so a change of machine load hits all
# alike; medians of REPS runs.
#
# Usage: bash benches/queue_scaling.sh [PHOTOS]
#   PHOTOS  a folder of real photos (default /usr/share/wallpapers); the
#           first FILES images (by name) are copied
# Environment:
#   BIN=path  the hashsieve binary (default: cargo build --release, then
#             target/release/hashsieve)
#   FILES=n   images (default 32)
#   REPS=n    runs of each configuration (default 3)
#   WORKER_ARGS="..."  extra `worker` flags, e.g. "--commit-batch 1
#             --commit-wait-ms 0" (a transaction and an ack per file, as
#             before records were committed in batches)
# Needs nats-server on the PATH; starts its own on a free port, removed at
# the end. Check `uptime` first: other work on the machine moves these
# figures.
set -euo pipefail
cd "$(dirname "$0")/.."
PHOTOS=${1:-/usr/share/wallpapers}
FILES=${FILES:-32}
REPS=${REPS:-3}
command -v nats-server >/dev/null || { echo "nats-server is not installed (apt-get install nats-server)" >&2; exit 2; }
[ -d "$PHOTOS" ] || { echo "no such folder: $PHOTOS" >&2; exit 2; }
if [ -z "${BIN:-}" ]; then
  cargo build --release --bin hashsieve 2>&1 | tail -1
  BIN=$PWD/target/release/hashsieve
fi
WORK=$(mktemp -d /tmp/hashsieve-queue-bench.XXXXXX)
NATS_PID=
cleanup() {
  [ -n "$NATS_PID" ] && kill "$NATS_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/media"
find "$PHOTOS" -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) \
  | sort | awk -v n="$FILES" 'NR <= n' | while read -r f; do
    # Unique names (wallpaper folders reuse file names).
    cp "$f" "$WORK/media/$(echo "$f" | md5sum | cut -c1-12)-$(basename "$f")"
  done
n=$(ls "$WORK/media" | wc -l)
DB=$WORK/h.db
"$BIN" db list-create bench --db "$DB" >/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
nats-server -js -a 127.0.0.1 -p "$PORT" -sd "$WORK/js" >"$WORK/nats.log" 2>&1 &
NATS_PID=$!
URL=nats://127.0.0.1:$PORT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
echo "files: $n images from $PHOTOS ($(du -sh "$WORK/media" | cut -f1)); binary: $BIN; worker flags: ${WORKER_ARGS:-(defaults)}"
echo "load before: $(uptime | sed 's/.*load/load/')"

now() { date +%s.%N; }
# Wait until run $1 is done: every published job committed. Polled from one
# python process reading the database every 50 ms (spawning `runs show`
# ten times a second would take CPU from the workers being timed).
wait_done() {
  python3 - "$DB" "$1" <<'PY'
import sqlite3, sys, time
db, run = sys.argv[1], sys.argv[2]
con = sqlite3.connect(db, timeout=30)
while True:
    row = con.execute(
        "SELECT walk_done, published, (SELECT count(*) FROM scan_jobs WHERE run = ?1) "
        "FROM scan_runs WHERE name = ?1", (run,)).fetchone()
    if row and row[0] and row[2] >= row[1]:
        break
    time.sleep(0.05)
PY
}

# time_workers RUN K: publish RUN, start K workers, time until done.
time_workers() {
  local run=$1 k=$2 pids=() t0 t1
  "$BIN" scan --queue "$URL" --run "$run" --db "$DB" "$WORK/media" >/dev/null 2>&1
  t0=$(now)
  for i in $(seq "$k"); do
    # shellcheck disable=SC2086
    "$BIN" worker --queue "$URL" --db "$DB" --allow-empty --threads 1 --name "w$i" \
      ${WORKER_ARGS:-} >/dev/null 2>&1 &
    pids+=($!)
  done
  wait_done "$run"
  t1=$(now)
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  echo "$t1 - $t0" | bc -l
}

time_local() {
  local t0 t1
  t0=$(now)
  "$BIN" scan --db "$DB" --allow-empty --no-state --threads 1 --format jsonl "$WORK/media" >/dev/null 2>&1 || true
  t1=$(now)
  echo "$t1 - $t0" | bc -l
}

local_t=() one_t=() two_t=()
for r in $(seq "$REPS"); do
  local_t+=("$(time_local)")
  one_t+=("$(time_workers "one-$r" 1)")
  two_t+=("$(time_workers "two-$r" 2)")
  printf 'rep %d: local %.2fs, 1 worker %.2fs, 2 workers %.2fs\n' "$r" "${local_t[-1]}" "${one_t[-1]}" "${two_t[-1]}"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ml=$(median "${local_t[@]}"); m1=$(median "${one_t[@]}"); m2=$(median "${two_t[@]}")
echo "load after: $(uptime | sed 's/.*load/load/')"
printf 'median: local scan %.2fs, 1 worker %.2fs, 2 workers %.2fs (%d images)\n' "$ml" "$m1" "$m2" "$n"
printf 'scaling 2 workers vs 1: %.2fx (target >= 1.8)\n' "$(echo "$m1 / $m2" | bc -l)"
printf 'worker overhead vs local scan: %+.1f%% (target <= 10%%)\n' "$(echo "($m1 / $ml - 1) * 100" | bc -l)"
