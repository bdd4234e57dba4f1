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
timeit() { # command... -> seconds
  local s e
  s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s.%N)
  echo "$e - $s" | bc -l
}
run() { # label, command...
  local label=$1; shift
  local t
  t=$(for _ in $(seq 1 "$REPS"); do timeit "$@"; done | median)
  printf "%-16s %8.3f s  (median of %s)   %s\n" "$label" "$t" "$REPS" "$*" >&2
  echo "$t"
}
cat /dev/null > "$WORK/results.txt"
# Like for like: the hashing work (no query-side views) is the same on
# both sides; the views rows show what `scan`'s default (--views all) adds.
SC="scan --no-progress --views none"
H2=$(run "hash-only 2t" "$HASHONLY" --threads 2 "$WORK/corpus")
S2=$(run "scan 2t" $BIN $SC --threads 2 --no-state "$WORK/corpus")
S2S=$(run "scan 2t+state" $BIN $SC --threads 2 --state "$WORK/state.runs" "$WORK/corpus")
S1=$(run "scan 1t" $BIN $SC --threads 1 --no-state "$WORK/corpus")
H2V=$(run "hash-only 2t views" "$HASHONLY" --threads 2 --views all "$WORK/corpus")
S2V=$(run "scan 2t views" $BIN scan --no-progress --views all --threads 2 --no-state "$WORK/corpus")
P2=$(run "photos 2t" $BIN $SC --threads 2 --no-state "$WORK/corpus/photos")
P2D=$(run "photos 2t+db1M" $BIN $SC --threads 2 --no-state --db "$WORK/db1m.db" "$WORK/corpus/photos")
L=$(run "load db1M only" $BIN $SC --threads 2 --no-state --db "$WORK/db1m.db" /dev/null)
{
  echo "scan 2t / hash-only 2t throughput: $(echo "$H2 / $S2" | bc -l | cut -c1-5) (target >= 0.90)"
  echo "scan 2t + state / hash-only 2t:    $(echo "$H2 / $S2S" | bc -l | cut -c1-5)"
  echo "scan 2t / scan 1t speed-up:        $(echo "$S1 / $S2" | bc -l | cut -c1-5) (target >= 1.8)"
  echo "with views: scan / hash-only:      $(echo "$H2V / $S2V" | bc -l | cut -c1-5)"
  echo "photos: with db1M / without:       $(echo "$P2D / $P2" | bc -l | cut -c1-5) (target < 1.05; includes loading 1M entries: $L s alone)"
} | tee "$WORK/results.txt"
