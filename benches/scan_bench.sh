#!/usr/bin/env bash
# Scan pipeline benchmark: overhead vs hashing alone, thread scaling, and
# the cost of matching against a 1,000,000-entry list.
#
# Usage: bash benches/scan_bench.sh [WORKDIR]   (default /tmp/hashsieve-scan-bench)
#
# Corpus: the conformance photos (../shared/conformance/pdq, originals, not
# the decoded PNGs) copied COPIES times with one distinct trailing byte per
# copy (decoders ignore it; it makes every file distinct content, so the
# scan's same-content cache cannot make it look faster than the hashing),
# plus the 14 conformance videos once. Nothing is copied into the repo.
#
# Figures (median of REPS runs each, wall time):
#   hash-only 2t   library hash_path on a rayon pool (benches/scan_hash_only.rs)
#   scan 2t        hashsieve scan --threads 2 --no-state (no database)
#   scan 2t+state  same, recording the resume state
#   scan 1t        hashsieve scan --threads 1 --no-state
#   photos 2t+db1M scan of the photos with a database of 1,000,000 random
#                  PDQ entries (vs the same without; and loading it alone)
#   ... views      the same with query-side image views (scan's default)
# Machine load matters: run it on a quiet machine (check `uptime`).
# Ratios printed: scan2t/hashonly2t throughput (target >= 0.90),
# scan2t/scan1t throughput (target >= 1.8), scan2t+db1M time / scan2t time
# on the photos only (target < 1.05).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/hashsieve-scan-bench}
COPIES=${COPIES:-3}
REPS=${REPS:-3}
CONF=../shared/conformance
[ -d "$CONF" ] || { echo "skipped: ../shared/conformance not found"; exit 0; }

cargo build --release --bin hashsieve 2>&1 | tail -1
cargo bench --bench scan_hash_only --no-run 2>&1 | tail -1
BIN=target/release/hashsieve
HASHONLY=$(ls -t target/release/deps/scan_hash_only-* | grep -v '\.d$' | head -1)

mkdir -p "$WORK"
if [ ! -f "$WORK/.corpus-done" ]; then
  rm -rf "$WORK/corpus" && mkdir -p "$WORK/corpus/photos" "$WORK/corpus/videos" "$WORK/photos-only"
  for c in $(seq 1 "$COPIES"); do
    for d in bridge-mods misc-images reg-test-input; do
      find "$CONF/pdq/$d" -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' -o -iname '*.webp' -o -iname '*.tif*' \) |
      while read -r f; do
        out="$WORK/corpus/photos/c$c-$d-$(basename "$f")"
        cp "$f" "$out" && printf "%c" "$c" >> "$out"
      done
    done
  done
  cp "$CONF"/vpdq/videos/*.mp4 "$WORK/corpus/videos/"
  touch "$WORK/.corpus-done"
fi
if [ ! -f "$WORK/db1m.db" ]; then
  python3 - "$WORK/pdq1m.txt" <<'PY'
import random, sys
r = random.Random(20261128)
with open(sys.argv[1], "w") as f:
    for _ in range(1_000_000):
        f.write("%064x\n" % r.getrandbits(256))
PY
  rm -f "$WORK/db1m.tmp"
  $BIN db --db "$WORK/db1m.tmp" list-create big >/dev/null
  $BIN db --db "$WORK/db1m.tmp" import big "$WORK/pdq1m.txt" >/dev/null
  mv "$WORK/db1m.tmp" "$WORK/db1m.db"
fi
echo "load before: $(uptime)"
NFILES=$(find "$WORK/corpus" -type f | wc -l)
NBYTES=$(du -sb "$WORK/corpus" | cut -f1)
echo "corpus: $NFILES files, $NBYTES bytes ($(ls "$WORK/corpus/photos" | wc -l) photos, $(ls "$WORK/corpus/videos" | wc -l) videos)"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# One timed run: "wall_seconds cpu_seconds" (cpu = user + system).
timeit() {
  /usr/bin/time -f "%e %U %S" -o "$WORK/.t" "$@" >/dev/null 2>&1 || true
  tail -1 "$WORK/.t" | awk '{printf "%s %.2f\n", $1, $2 + $3}'
}
# label, command... -> prints "wall cpu" medians; logs to stderr.
run() {
  local label=$1; shift
  local runs w c
  runs=$(for _ in $(seq 1 "$REPS"); do timeit "$@"; done)
  w=$(echo "$runs" | awk '{print $1}' | median)
  c=$(echo "$runs" | awk '{print $2}' | median)
  printf "%-22s wall %8.3f s  cpu %8.2f s  (median of %s)  %s\n" "$label" "$w" "$c" "$REPS" "$*" >&2
  echo "$w $c"
}
wall() { echo "$1" | cut -d' ' -f1; }
cpu() { echo "$1" | cut -d' ' -f2; }
ratio() { echo "$1 / $2" | bc -l | cut -c1-5; }
cat /dev/null > "$WORK/results.txt"
# Like for like: the hashing work (no query-side views, one thread per
# video so --threads is the whole parallelism) is the same on both sides;
# the views rows show what `scan`'s default (--views all) adds.
SC="scan --no-progress --views none --video-threads 1"
H2=$(run "hash-only 2t" "$HASHONLY" --threads 2 --video-threads 1 "$WORK/corpus")
H1=$(run "hash-only 1t" "$HASHONLY" --threads 1 --video-threads 1 "$WORK/corpus")
S2=$(run "scan 2t" $BIN $SC --threads 2 --no-state "$WORK/corpus")
S2S=$(run "scan 2t+state" $BIN $SC --threads 2 --state "$WORK/state.runs" "$WORK/corpus")
S1=$(run "scan 1t" $BIN $SC --threads 1 --no-state "$WORK/corpus")
H2V=$(run "hash-only 2t views" "$HASHONLY" --threads 2 --video-threads 1 --views all "$WORK/corpus")
S2V=$(run "scan 2t views" $BIN scan --no-progress --video-threads 1 --threads 2 --no-state "$WORK/corpus")
P2=$(run "photos 2t" $BIN $SC --threads 2 --no-state "$WORK/corpus/photos")
P2D=$(run "photos 2t+db1M" $BIN $SC --threads 2 --no-state --db "$WORK/db1m.db" "$WORK/corpus/photos")
L=$(run "load db1M only" $BIN $SC --threads 2 --no-state --db "$WORK/db1m.db" /dev/null)
MATCH_WALL=$(echo "$(wall "$P2D") - $(wall "$L")" | bc -l)
MATCH_CPU=$(echo "$(cpu "$P2D") - $(cpu "$L")" | bc -l)
{
  echo "load during the runs: $(uptime)"
  echo "                                     wall    cpu"
  echo "hash-only 2t / scan 2t (>= 0.90):    $(ratio "$(wall "$H2")" "$(wall "$S2")")   $(ratio "$(cpu "$H2")" "$(cpu "$S2")")"
  echo "hash-only 2t / scan 2t+state:        $(ratio "$(wall "$H2")" "$(wall "$S2S")")   $(ratio "$(cpu "$H2")" "$(cpu "$S2S")")"
  echo "scan 1t / scan 2t (>= 1.8):          $(ratio "$(wall "$S1")" "$(wall "$S2")")"
  echo "hash-only 1t / hash-only 2t:         $(ratio "$(wall "$H1")" "$(wall "$H2")")"
  echo "views: hash-only / scan:             $(ratio "$(wall "$H2V")" "$(wall "$S2V")")   $(ratio "$(cpu "$H2V")" "$(cpu "$S2V")")"
  echo "photos+db1M / photos (< 1.05):       $(ratio "$(wall "$P2D")" "$(wall "$P2")")   $(ratio "$(cpu "$P2D")" "$(cpu "$P2")")  (includes loading 1M entries)"
  echo "same, less the load-only run:        $(ratio "$MATCH_WALL" "$(wall "$P2")")   $(ratio "$MATCH_CPU" "$(cpu "$P2")")"
} | tee "$WORK/results.txt"
