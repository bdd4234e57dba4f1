#!/usr/bin/env python3
"""Scan throughput with and without query-side views.

Runs `hashsieve hash --threads T --views=SET` over the same files for each
view set, --runs times each (after one warm-up run that fills the page
cache), and prints the median wall time, images/s and the extra time over
`--views=none`. Two corpora from build_corpus.py:

  plain   the unedited photos (originals + distractors, `none` edit): what
          most uploads look like (no borders, so only the dihedral views
          and the cheap border/canvas detection run)
  edited  every edited copy (padding, captions, screenshots ... so crop
          views are hashed too)

Usage: python3 benches/views_bench.py [--corpus benches/out/eval]
       [--bin target/release/hashsieve] [--threads 1] [--runs 5] [--sets plain,edited]
"""
import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(cmd):
    t = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode not in (0,):
        sys.exit(f"{' '.join(cmd)} failed: {r.stderr.decode()[:300]}")
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="benches/out/eval")
    ap.add_argument("--bin", default="target/release/hashsieve")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--sets", default="plain,edited", help="which corpora: plain, edited or both")
    a = ap.parse_args()
    c = Path(a.corpus)
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "plain"
        plain.mkdir()
        for p in list((c / "originals").glob("*")) + list((c / "distractors" / "none").glob("*")):
            (plain / p.name).symlink_to(p.resolve())
        sets = {"plain": [str(plain)], "edited": [str(c / "queries"), str(c / "distractors")]}
        for name, paths in sets.items():
            if name not in a.sets.split(","):
                continue
            n = sum(1 for p in paths for f in Path(p).rglob("*") if f.is_file() or f.is_symlink())
            base = None
            print(f"\n{name}: {n} images, --threads {a.threads}, median of {a.runs} runs")
            print("| views | median s | images/s | extra time vs none |")
            print("|---|---:|---:|---:|")
            cmds = {vs: [a.bin, "hash", "--threads", str(a.threads), f"--views={vs}"] + paths
                    for vs in ("none", "dihedral", "all")}
            times = {vs: [] for vs in cmds}
            for cmd in cmds.values():
                timed(cmd)  # warm-up: page cache
            # Interleaved, so that load from other processes hits every set alike.
            for _ in range(a.runs):
                for vs, cmd in cmds.items():
                    times[vs].append(timed(cmd))
            for vs, ts in times.items():
                med = statistics.median(ts)
                if base is None:
                    base = med
                print(f"| {vs} | {med:.2f} | {n / med:.1f} | {100 * (med / base - 1):+.0f}% |")


if __name__ == "__main__":
    main()
