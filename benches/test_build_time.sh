#!/usr/bin/env bash
# How long a change to the library takes to test: the time from editing a
# library file to test binaries ready to run (`cargo test --workspace
# --no-run`), at two revisions, alternating, median of N runs each. Used
# for issue 15 (45 integration-test binaries, each linking FFmpeg, axum
# and the library, folded into one, tests/it).
#
#   bash benches/test_build_time.sh [BEFORE] [AFTER] [N]
#   (defaults: dedeb7e, the last commit with one binary per test file;
#   HEAD; 3)
#
# Each revision is built once in a worktree under $TMPDIR (sharing this
# checkout's target directory, so dependencies are not rebuilt), then
# timed: add a public function to src/record.rs (a change to the
# library's interface, so every test crate is compiled again, not only
# relinked), rebuild, restore. Cargo names a workspace crate's artifacts
# the same whatever the checkout's path, so the two worktrees overwrite
# each other's: each timed run recompiles the library (and hashdb) and
# every test binary, the same work on both sides. Run it when nothing
# else builds in this target directory (time waiting for cargo's lock
# counts), and touch the sources of this checkout afterwards (`find src
# tests hashdb/src pdq/src -name '*.rs' -exec touch {} +`) so cargo does
# not take a worktree's artifacts for this checkout's. Also prints
# the number and total size of the test executables. The machine is
# shared and noisy: read the medians and their ratio, not one run.
set -euo pipefail
cd "$(dirname "$0")/.."
before=${1:-dedeb7e}
after=${2:-HEAD}
n=${3:-3}
target=$(pwd)/target
work=$(mktemp -d)
trap 'for w in "$work"/*; do git worktree remove --force "$w" 2>/dev/null || true; done; rm -rf "$work"' EXIT

for rev in "$before" "$after"; do
  git worktree add -q --detach "$work/$rev" "$rev"
  echo "building $rev once" >&2
  (cd "$work/$rev" && CARGO_TARGET_DIR=$target cargo test --workspace --no-run -q 2>/dev/null)
done

declare -A times
for i in $(seq "$n"); do
  for rev in "$before" "$after"; do
    dir=$work/$rev
    cp "$dir/src/record.rs" "$work/record.rs.orig"
    printf '\n#[doc(hidden)]\npub fn build_time_probe_%s() {}\n' "$i" >> "$dir/src/record.rs"
    start=$(date +%s.%N)
    (cd "$dir" && CARGO_TARGET_DIR=$target cargo test --workspace --no-run -q 2>/dev/null)
    end=$(date +%s.%N)
    cp "$work/record.rs.orig" "$dir/src/record.rs"
    t=$(echo "$end - $start" | bc)
    times[$rev]="${times[$rev]:-} $t"
    echo "run $i $rev: ${t}s" >&2
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
exes() { (cd "$work/$1" && CARGO_TARGET_DIR=$target cargo test --workspace --no-run 2>&1) | sed -n 's/.*Executable .*(\(.*\))/\1/p'; }
for rev in "$before" "$after"; do
  m=$(echo "${times[$rev]}" | median)
  count=$(exes "$rev" | wc -l)
  size=$(exes "$rev" | xargs du -cm | tail -1 | cut -f1)
  echo "$rev: median ${m}s over $n runs (${times[$rev]# }); $count test executables, ${size} MiB"
done
mb=$(echo "${times[$before]}" | median)
ma=$(echo "${times[$after]}" | median)
echo "ratio after/before: $(echo "scale=2; $ma / $mb" | bc)"
