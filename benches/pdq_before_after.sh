#!/usr/bin/env bash
# PDQ hashing speed at two revisions, side by side: the `pdq` criterion
# bench (1 MP and 12 MP pictures: RGB, float luma, the reference's
# dihedral set, the eight turned hashes) built at BEFORE and AFTER, then
# run alternately N rounds each; prints each benchmark's median over the
# rounds and the ratio AFTER / BEFORE. Used for issue 15 (the algorithm
# moved from the app into the `pdq` crate: the ratio should be 1).
#
#   bash benches/pdq_before_after.sh [BEFORE] [AFTER] [N]
#   (defaults: 8a2e7c5^, the last commit with PDQ inside the app; HEAD; 3)
#   PDQ_BENCH_FILTER=1MP runs only the benchmarks whose name matches.
#
# Each revision builds in its own worktree and its own target directory
# under $TMPDIR/pdq_before_after (never this checkout's: cargo names workspace artifacts the
# same whatever the path), without the media features (the bench needs
# only PDQ). Alternating rounds spread a busy machine's noise over both
# sides; read the ratio, not one run.
set -euo pipefail
cd "$(dirname "$0")/.."
before=${1:-8a2e7c5^}
after=${2:-HEAD}
n=${3:-3}
# Build directories persist (a second run only runs), worktrees do not.
work=${PDQ_BEFORE_AFTER_DIR:-${TMPDIR:-/tmp}/pdq_before_after}
mkdir -p "$work"
rm -f "$work/times"
trap 'for w in "$work"/wt-*; do git worktree remove --force "$w" 2>/dev/null || true; done' EXIT

bins=()
for side in before after; do
  rev=${!side}
  wt=$work/wt-$side
  git worktree remove --force "$wt" 2>/dev/null || true; rm -rf "$wt"
  git worktree add -q --detach "$wt" "$rev"
  echo "building the pdq bench at $rev" >&2
  # Where the bench lives: the pdq crate (after issue 15) or the app.
  if grep -q 'name = "pdq"' "$wt/pdq/Cargo.toml" 2>/dev/null; then
    pkg=(-p pdq)
  else
    pkg=(--no-default-features)
  fi
  out=$(cd "$wt" && CARGO_TARGET_DIR=$work/target-$side cargo bench "${pkg[@]}" --bench pdq --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m.get("executable") and m["target"]["name"]=="pdq" and "bench" in m["target"]["kind"]:
        print(m["executable"])')
  bins+=("$out")
done

for round in $(seq 1 "$n"); do
  for i in 0 1; do
    side=$([ "$i" = 0 ] && echo before || echo after)
    echo "round $round: $side" >&2
    # shellcheck disable=SC2086 # PDQ_BENCH_FILTER: a criterion filter, e.g. 1MP
    "${bins[$i]}" --bench ${PDQ_BENCH_FILTER:-} 2>/dev/null | awk -v side="$side" '
      /^pdq\// { name=$1 }
      /time:/ { gsub(/\[/, ""); for (i = 1; i <= NF; i++) if ($i == "time:" && $(i + 4) ~ /^(ns|µs|us|ms|s)$/) print side, name, $(i + 3), $(i + 4) }' >> "$work/times"
  done
done

python3 - "$work/times" "$before" "$after" <<'PY'
import statistics, sys
unit = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}
t = {}
for line in open(sys.argv[1]):
    side, name, v, u = line.split()
    t.setdefault(name, {}).setdefault(side, []).append(float(v) * unit[u])
print(f"{'benchmark':28} {'before ms':>10} {'after ms':>10} {'after/before':>13}")
ratios = []
for name, s in t.items():
    if "before" not in s or "after" not in s:
        print(f"{name:28} (only {', '.join(s)}: a benchmark one side does not have)")
        continue
    b, a = statistics.median(s["before"]), statistics.median(s["after"])
    ratios.append(a / b)
    print(f"{name:28} {b*1e3:10.2f} {a*1e3:10.2f} {a/b:13.3f}")
print(f"median ratio over {len(ratios)} benchmarks ({sys.argv[2]} -> {sys.argv[3]}): {statistics.median(ratios):.3f}")
PY
