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

With --before OTHER_BIN, both binaries run every view set, all runs
interleaved (before, after, before, after ...), so that load from other
processes hits both alike; it prints each side's medians, the ms per image,
and the after/before ratio per view set, by wall time and by CPU time (user +
system of each run, which load from other processes disturbs less).

Usage: python3 benches/views_bench.py [--corpus benches/out/eval]
       [--bin target/release/hashsieve] [--before OTHER_BIN] [--threads 1]
       [--runs 5] [--sets plain,edited]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(cmd, cpu=None):
    """Wall seconds of one run; with a list `cpu`, also appends the run's CPU
    seconds (user + system of the child), which on a machine shared with
    other work counts only what this run itself did."""
    before = os.times()
    t = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t
    after = os.times()
    if r.returncode not in (0,):
        sys.exit(f"{' '.join(cmd)} failed: {r.stderr.decode()[:300]}")
    if cpu is not None:
        cpu.append((after.children_user - before.children_user)
                   + (after.children_system - before.children_system))
    return wall


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="benches/out/eval")
    ap.add_argument("--bin", default="target/release/hashsieve")
    ap.add_argument("--before", help="a previous binary, run interleaved with --bin")
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
            if a.before:
                before_after(a, name, paths, n)
                continue
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


def before_after(a, name, paths, n):
    """Both binaries, every view set, runs interleaved; medians and ratios."""
    bins = {"before": a.before, "after": a.bin}
    cmds = {(side, vs): [b, "hash", "--threads", str(a.threads), f"--views={vs}"] + paths
            for vs in ("none", "dihedral", "all") for side, b in bins.items()}
    times = {k: [] for k in cmds}
    cpus = {k: [] for k in cmds}
    for cmd in cmds.values():
        timed(cmd)  # warm-up: page cache
    for _ in range(a.runs):
        for k, cmd in cmds.items():
            times[k].append(timed(cmd, cpus[k]))
    med = {k: statistics.median(ts) for k, ts in times.items()}
    cpu = {k: statistics.median(ts) for k, ts in cpus.items()}
    print(f"\n{name}: {n} images, --threads {a.threads}, median of {a.runs} interleaved runs")
    print("| views | before s | after s | after/before | before ms/image | after ms/image "
          "| before vs none | after vs none |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for vs in ("none", "dihedral", "all"):
        b, f = med[("before", vs)], med[("after", vs)]
        bn, fn = med[("before", "none")], med[("after", "none")]
        print(f"| {vs} | {b:.2f} | {f:.2f} | {f / b:.3f} | {1000 * b / n:.1f} | {1000 * f / n:.1f} "
              f"| {100 * (b / bn - 1):+.0f}% | {100 * (f / fn - 1):+.0f}% |")
    # CPU time (user + system) of the same runs: what each binary itself
    # spent, less disturbed than wall time when other work shares the CPUs.
    print("\nCPU time of the same runs (user + system), median")
    print("| views | before cpu ms/image | after cpu ms/image | after/before "
          "| before vs none | after vs none |")
    print("|---|---:|---:|---:|---:|---:|")
    for vs in ("none", "dihedral", "all"):
        b, f = cpu[("before", vs)], cpu[("after", vs)]
        bn, fn = cpu[("before", "none")], cpu[("after", "none")]
        print(f"| {vs} | {1000 * b / n:.1f} | {1000 * f / n:.1f} | {f / b:.3f} "
              f"| {100 * (b / bn - 1):+.0f}% | {100 * (f / fn - 1):+.0f}% |")


if __name__ == "__main__":
    main()
