#!/usr/bin/env python3
"""Cost of video views: time and peak memory of `hashsieve hash` on a
letterboxed video with and without views.

Makes (once, under --out) letterboxed H.264 videos of real photo content:
a wallpaper from /usr/share/wallpapers panned across a 1280x720 window,
with 120 px black bars above and below (1280x960), one --short and one
--long seconds long. Then runs `hashsieve hash --threads 1 --views=SET` for
each set (none, dihedral, all), --runs times each after a warm-up, and
prints the median wall and CPU time (CPU is the figure to trust on a
loaded machine), the extra CPU time over `none`, and the peak RSS
of the process (`wait4`). The long video shows whether memory stays flat
with views (bars are found over all frames without keeping any).

With --bin given twice (an older binary, then this one), the runs of the
two alternate and a last column gives each set's CPU time against the
first binary's: a before/after on a busy machine.

With --video (repeatable) the given videos are timed instead of the
generated ones (e.g. the evaluation corpus's letterboxed SD and HD copies,
for the letterbox TMK view's cost).

Usage: python3 benches/video_views_bench.py [--bin target/release/hashsieve]
       [--bin OTHER] [--runs 3] [--short 60] [--long 300]
       [--out benches/out/video_views] [--video FILE ...]
"""
import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def make_video(src_img, out, seconds):
    if out.exists():
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    vf = ("scale=2560:-2,crop=1280:720:'mod(t*60,iw-1280)':'(ih-720)/2',"
          "pad=1280:960:0:120:black,format=yuv420p")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-framerate", "30",
                    "-i", str(src_img), "-vf", vf, "-t", str(seconds),
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", str(out)],
                   check=True)


def run(cmd):
    """Wall seconds, CPU seconds (user + system) and peak RSS (MiB) of one run."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    err = p.stderr.read().decode()
    p.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(cmd)} failed: {err[:300]}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", action="append",
                    help="binary to time (repeatable; default target/release/hashsieve)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--short", type=int, default=60)
    ap.add_argument("--long", type=int, default=300)
    ap.add_argument("--out", default="benches/out/video_views")
    ap.add_argument("--image", help="source photo (default: a wallpaper)")
    ap.add_argument("--video", action="append", help="time this video instead (repeatable)")
    a = ap.parse_args()
    img = Path(a.image) if a.image else next(
        (p for p in sorted(Path("/usr/share/wallpapers").rglob("*.jpg"))), None)
    if a.video:
        videos = [Path(v) for v in a.video]
    else:
        if img is None:
            sys.exit("no source photo: pass --image")
        out = Path(a.out)
        videos = [out / f"letterboxed-{a.short}s.mp4", out / f"letterboxed-{a.long}s.mp4"]
        for v, s in zip(videos, [a.short, a.long]):
            make_video(img, v, s)
    bins = a.bin or ["target/release/hashsieve"]
    print(f"source photo {img}; {a.runs} runs each, 1 thread, median")
    for i, b in enumerate(bins):
        print(f"binary {i}: {b}")
    print("| video | views | binary | wall s | CPU s | extra CPU vs none | CPU vs binary 0 | peak RSS MiB |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for v in videos:
        base = {}
        for views in ["none", "dihedral", "all"]:
            cmds = [[b, "hash", "--threads", "1", f"--views={views}", "--video-threads", "1", str(v)]
                    for b in bins]
            run(cmds[0])  # warm-up (page cache)
            res = [[] for _ in bins]
            for _ in range(a.runs):
                for i, cmd in enumerate(cmds):
                    res[i].append(run(cmd))
            first = None
            for i, r in enumerate(res):
                wall = statistics.median(x[0] for x in r)
                cpu = statistics.median(x[1] for x in r)
                rss = max(x[2] for x in r)
                base.setdefault(i, cpu)
                first = first or cpu
                print(f"| {v.name} | {views} | {i} | {wall:.2f} | {cpu:.2f} | "
                      f"{100 * (cpu / base[i] - 1):+.1f}% | {cpu / first:.2f}x | {rss:.0f} |")


if __name__ == "__main__":
    main()
