#!/usr/bin/env bash
# What the decoder sandbox costs a scan (security issue, item 13: target
# <= 5%): the same `hashsieve scan --threads 2 --no-state PATHS...` with
# decoders in sandboxed worker processes (the default) and in-process
# (--no-sandbox), over the same files.
#
# Usage: bash benches/sandbox_cost.sh [PATH...]
#   PATH  files or folders to scan (default: the conformance photos and
#         videos in ../shared/conformance, else /usr/share/wallpapers)
# Environment:
#   BIN=path   the hashsieve binary (default: cargo build --release, then
#              target/release/hashsieve)
#   REPS=n     runs of each configuration (default 5)
#   VIEWS=set  --views of both scans (default all, scan's default)
#
# Prints the wall and CPU (user + system, the workers' included: they are
# the scan's children) times of every run, their medians, the ratio of the
# medians (sandbox / in-process) and the median of each pair's ratio. The runs alternate so a change of
# machine load hits both sides alike; check `uptime` first: on 2 cores,
# other work running at the same time moves these figures by more than 5%.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-5}
VIEWS=${VIEWS:-all}
if [ "$#" -gt 0 ]; then
  PATHS=("$@")
elif [ -d ../shared/conformance/pdq ]; then
  PATHS=("$PWD/../shared/conformance/pdq" "$PWD/../shared/conformance/vpdq/videos")
else
  PATHS=(/usr/share/wallpapers)
fi
for p in "${PATHS[@]}"; do
  [ -e "$p" ] || { echo "no such file or folder: $p" >&2; exit 2; }
done
if [ -z "${BIN:-}" ]; then
  cargo build --release --bin hashsieve 2>&1 | tail -1
  BIN=$PWD/target/release/hashsieve
fi
WORK=$(mktemp -d /tmp/hashsieve-sandbox-cost.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
echo "binary: $BIN"
echo "files:  ${PATHS[*]} ($(find "${PATHS[@]}" -type f | wc -l) files, $(du -shc "${PATHS[@]}" | tail -1 | cut -f1))"
echo "views:  $VIEWS"
echo "load:   $(uptime)"

# One timed run: "wall cpu" (cpu = user + system), seconds.
timeit() {
  (cd "$WORK" && env -u HASHSIEVE_DB /usr/bin/time -f "%e %U %S" -o "$WORK/.t" "$@" >"$WORK/.out" 2>"$WORK/.err") || {
    code=$?
    # 2: a file that did not decode (the conformance set has some).
    [ "$code" -le 3 ] || { cat "$WORK/.err" >&2; exit "$code"; }
  }
  tail -1 "$WORK/.t" | awk '{printf "%s %.2f\n", $1, $2 + $3}'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

SCAN=("$BIN" scan --threads 2 --no-state --format jsonl --views "$VIEWS" "${PATHS[@]}")
# Both must give the same records (paths, hashes, errors).
timeit "${SCAN[@]}" >/dev/null
sort "$WORK/.out" >"$WORK/sandbox.jsonl"
timeit "${SCAN[@]}" --no-sandbox >/dev/null
sort "$WORK/.out" >"$WORK/inprocess.jsonl"
if cmp -s "$WORK/sandbox.jsonl" "$WORK/inprocess.jsonl"; then
  echo "records: identical ($(wc -l <"$WORK/sandbox.jsonl") lines)"
else
  echo "records differ between the sandbox and in-process:" >&2
  diff "$WORK/sandbox.jsonl" "$WORK/inprocess.jsonl" | head -5 >&2
  exit 1
fi
: >"$WORK/sandbox.txt"
: >"$WORK/inprocess.txt"
for i in $(seq 1 "$REPS"); do
  a=$(timeit "${SCAN[@]}" --no-sandbox)
  b=$(timeit "${SCAN[@]}")
  echo "$a" >>"$WORK/inprocess.txt"
  echo "$b" >>"$WORK/sandbox.txt"
  echo "run $i: in-process wall/cpu $a s; sandbox wall/cpu $b s"
done
w0=$(cut -d' ' -f1 "$WORK/inprocess.txt" | median)
c0=$(cut -d' ' -f2 "$WORK/inprocess.txt" | median)
w1=$(cut -d' ' -f1 "$WORK/sandbox.txt" | median)
c1=$(cut -d' ' -f2 "$WORK/sandbox.txt" | median)
echo "median in-process: wall $w0 s, cpu $c0 s"
echo "median sandbox:    wall $w1 s, cpu $c1 s"
awk -v a="$w0" -v b="$w1" -v c="$c0" -v d="$c1" 'BEGIN {
  printf "ratio sandbox / in-process: wall %.3f (%+.1f%%), cpu %.3f (%+.1f%%); target wall <= 1.05\n",
    b / a, (b / a - 1) * 100, d / c, (d / c - 1) * 100 }'
# Each run's own ratio (its neighbour on the other side ran under nearly
# the same load): the median of these holds up better on a busy machine.
pw=$(paste -d' ' "$WORK/inprocess.txt" "$WORK/sandbox.txt" | awk '{print $3 / $1}' | median)
pc=$(paste -d' ' "$WORK/inprocess.txt" "$WORK/sandbox.txt" | awk '{print $4 / $2}' | median)
awk -v w="$pw" -v c="$pc" 'BEGIN {
  printf "median of paired ratios: wall %.3f (%+.1f%%), cpu %.3f (%+.1f%%)\n", w, (w - 1) * 100, c, (c - 1) * 100 }'
echo "load after: $(uptime)"
