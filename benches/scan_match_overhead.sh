#!/usr/bin/env bash
# What matching against a 1,000,000-entry list adds to a scan of images
# (issue #5: "under 5%"), list loading included: the same
# `hashsieve scan --threads 2 --no-state PHOTOS` without a database and
# with a database holding one list of 1,000,000 random PDQ hashes.
#
# Usage: bash benches/scan_match_overhead.sh [PHOTOS]
#   PHOTOS  a folder of real photos (default /usr/share/wallpapers)
# Environment:
#   BIN=path   the hashsieve binary (default: cargo build --release, then
#              target/release/hashsieve)
#   WORK=dir   where the 1M database is built once and kept
#              (default /tmp/hashsieve-match-overhead; a database is
#              specific to the binary's schema version: use one WORK per
#              binary when comparing versions)
#   REPS=n     runs of each configuration (default 3)
#   VIEWS=set  --views of both scans (default all, scan's default; `none`
#              matches only the hash of record, about 16x fewer lookups)
#
# Prints, for each configuration, the wall and CPU (user + system) times of
# every run and their medians, then the ratio of the medians (db / no db).
# The runs alternate (no db, db, no db, ...) so a change of machine load
# hits both sides alike. Check `uptime` first: on 2 cores, other work
# running at the same time moves these figures by more than 5%.
set -euo pipefail
cd "$(dirname "$0")/.."
PHOTOS=${1:-/usr/share/wallpapers}
WORK=${WORK:-/tmp/hashsieve-match-overhead}
REPS=${REPS:-3}
VIEWS=${VIEWS:-all}
[ -d "$PHOTOS" ] || { echo "no such folder: $PHOTOS" >&2; exit 2; }
if [ -z "${BIN:-}" ]; then
  cargo build --release --bin hashsieve 2>&1 | tail -1
  BIN=$PWD/target/release/hashsieve
fi
mkdir -p "$WORK"
DB=$WORK/db1m.db
if [ ! -f "$DB" ]; then
  python3 - "$WORK/pdq1m.txt" <<'PY'
import random, sys
r = random.Random(20261128)
with open(sys.argv[1], "w") as f:
    for _ in range(1_000_000):
        f.write("%064x\n" % r.getrandbits(256))
PY
  rm -f "$WORK/db1m.tmp"*
  "$BIN" db --db "$WORK/db1m.tmp" list-create big >/dev/null
  "$BIN" db --db "$WORK/db1m.tmp" import big "$WORK/pdq1m.txt" >/dev/null
  mv "$WORK/db1m.tmp" "$DB"
  rm -f "$WORK/db1m.tmp"*
fi
echo "binary: $BIN"
echo "photos: $PHOTOS ($(find "$PHOTOS" -type f | wc -l) files, $(du -sh "$PHOTOS" | cut -f1))"
echo "list:   $DB ($("$BIN" db --db "$DB" lists --json | head -1))"
echo "views:  $VIEWS"
echo "load:   $(uptime)"

# The scan runs in an empty folder, so no ./hashsieve.db is picked up.
RUNDIR=$WORK/run
mkdir -p "$RUNDIR"
# One timed run: "wall cpu" (cpu = user + system), seconds.
timeit() {
  (cd "$RUNDIR" && env -u HASHSIEVE_DB /usr/bin/time -f "%e %U %S" -o "$WORK/.t" "$@" >"$WORK/.out" 2>"$WORK/.err") || {
    code=$?
    # Exit codes 1 (matches), 2 (a damaged file) and 3 (both) are results,
    # not failures.
    [ "$code" -le 3 ] || { cat "$WORK/.err" >&2; exit "$code"; }
  }
  # A run that matched must have matched: exit code 2 is also what a
  # database this binary cannot open gives.
  if [[ " $* " == *" --db "* ]] && ! head -1 "$WORK/.out" | grep -q '"matches"'; then
    echo "the scan with the list did not match anything:" >&2
    cat "$WORK/.err" >&2
    exit 1
  fi
  tail -1 "$WORK/.t" | awk '{printf "%s %.2f\n", $1, $2 + $3}'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

SCAN=("$BIN" scan --threads 2 --no-state --format jsonl --views "$VIEWS" "$PHOTOS")
: >"$WORK/nodb.txt"
: >"$WORK/db.txt"
# A warm-up run of each, so the page cache holds the photos and the list.
timeit "${SCAN[@]}" >/dev/null
timeit "${SCAN[@]}" --db "$DB" >/dev/null
for i in $(seq 1 "$REPS"); do
  a=$(timeit "${SCAN[@]}")
  b=$(timeit "${SCAN[@]}" --db "$DB")
  echo "$a" >>"$WORK/nodb.txt"
  echo "$b" >>"$WORK/db.txt"
  echo "run $i: no db wall/cpu $a s; 1M list wall/cpu $b s"
done
w0=$(cut -d' ' -f1 "$WORK/nodb.txt" | median)
c0=$(cut -d' ' -f2 "$WORK/nodb.txt" | median)
w1=$(cut -d' ' -f1 "$WORK/db.txt" | median)
c1=$(cut -d' ' -f2 "$WORK/db.txt" | median)
echo "median no db:   wall $w0 s, cpu $c0 s"
echo "median 1M list: wall $w1 s, cpu $c1 s"
awk -v a="$w0" -v b="$w1" -v c="$c0" -v d="$c1" 'BEGIN {
  printf "ratio 1M list / no db: wall %.3f (%+.1f%%), cpu %.3f (%+.1f%%); target wall < 1.05\n",
    b / a, (b / a - 1) * 100, d / c, (d / c - 1) * 100 }'
echo "load after: $(uptime)"
