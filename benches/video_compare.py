#!/usr/bin/env python3
"""vPDQ speed, side by side: hashsieve vs Meta's reference vs plain decoding.

For each video (the 14 conformance samples in ../shared/conformance/vpdq/videos
when present, plus a long 1080p H.264 video this script generates once from
real photos with pan and zoom), it times, single-threaded unless stated:

  floor      ffmpeg -threads 1 -i FILE -f null -   (decodes every frame: the
             floor of any method that decodes every frame)
  reference  vpdq.computeHash(FILE, seconds_per_hash=1, thread_count=1)
             (PyPI `vpdq`, Meta's C++ through its Python binding, in process)
  ours       hashsieve hash --threads 1 --video-threads 1 FILE (conformant)
  ours-2t    hashsieve hash --threads 1 --video-threads 2 FILE (2 threads)
  fast       hashsieve hash --threads 1 --video-threads 1 --fast FILE

and prints seconds per minute of video (median of --runs runs) and the ratios
ours/floor, reference/floor, ours-1t/ours-2t, reference/fast. Both sides are
timed without their process start-up (Python + `import vpdq` for the
reference, `hashsieve --version` for ours): a batch over an archive pays it
once, and on a seven-second clip it would otherwise outweigh the hashing.

Requirements: a release build (`cargo build --release`), the ffmpeg CLI, and
`pip install vpdq` (builds against the system FFmpeg development libraries).

    python3 benches/video_compare.py [--runs 3] [--long-seconds 300] [--no-long]
"""

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "hashsieve")
CONFORMANCE = os.path.join(ROOT, "..", "shared", "conformance", "vpdq", "videos")
CACHE = os.path.join(ROOT, "target", "bench-video")

PHOTO_GLOBS = [
    "/usr/share/wallpapers/*/contents/images/1920x1080.jpg",
    "/usr/share/wallpapers/*/contents/images/*.jpg",
    "/usr/share/wallpapers/*/contents/images/*.png",
    "/usr/share/backgrounds/gnome/*.webp",
    "/usr/share/backgrounds/gnome/*.jpg",
]


def photos(n):
    seen, out = set(), []
    for g in PHOTO_GLOBS:
        for p in sorted(glob.glob(g)):
            key = p.split("/contents/")[0]
            if key in seen:
                continue
            seen.add(key)
            out.append(p)
            if len(out) == n:
                return out
    return out


def make_long_video(seconds):
    """A 1080p30 H.264 slide show of real photos, each slowly panned and
    zoomed (so every frame differs), x264 defaults (keyframe every 250
    frames at most). Cached in target/bench-video/."""
    os.makedirs(CACHE, exist_ok=True)
    out = os.path.join(CACHE, f"photos-1080p-{seconds}s.mp4")
    if os.path.exists(out):
        return out
    per = 30
    pics = photos(max(1, (seconds + per - 1) // per))
    if not pics:
        sys.exit("no photos found for the long video (looked in /usr/share/wallpapers and backgrounds)")
    args = ["ffmpeg", "-v", "error", "-y"]
    for p in pics:
        args += ["-i", p]
    n = per * 30
    chains = []
    for i in range(len(pics)):
        # Ken Burns: a slow zoom in (1.0 -> 1.3) while the window drifts
        # right and down; every output frame differs.
        chains.append(
            f"[{i}:v]scale=2400:1350:force_original_aspect_ratio=increase,crop=2400:1350,"
            f"zoompan=z='1+0.3*on/{n}':x='(iw-iw/zoom)*on/{n}':y='(ih-ih/zoom)*0.5*on/{n}'"
            f":d={n}:s=1920x1080:fps=30,setsar=1,format=yuv420p[v{i}]"
        )
    concat = "".join(f"[v{i}]" for i in range(len(pics))) + f"concat=n={len(pics)}:v=1:a=0[out]"
    args += ["-filter_complex", ";".join(chains + [concat]), "-map", "[out]",
             "-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
             "-pix_fmt", "yuv420p", out + ".part.mp4"]
    print(f"generating {out} ({seconds} s, {len(pics)} photos)...", file=sys.stderr)
    subprocess.run(args, check=True)
    os.replace(out + ".part.mp4", out)
    return out


def duration(path):
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                        "-of", "csv=p=0", path], capture_output=True, text=True, check=True)
    return float(r.stdout.strip())


def timed(cmd):
    """Run `cmd`; (wall seconds, CPU seconds of the child, stdout)."""
    out = tempfile.TemporaryFile()
    err = tempfile.TemporaryFile()
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=out, stderr=err)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    err.seek(0)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd} failed: {err.read().decode(errors='replace')[:300]}"
                           f" {out.read().decode(errors='replace')[:300]}")
    return wall, ru.ru_utime + ru.ru_stime, out.read()


def check_ours(stdout):
    rec = json.loads(stdout.decode().splitlines()[0])
    if rec["error"] is not None:
        raise RuntimeError(f"hashsieve error: {rec['error']}")
    return len(rec["pdq"])


def main():
    global BIN
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bin", default=BIN, help="hashsieve binary (default: target/release/hashsieve)")
    ap.add_argument("--long-seconds", type=int, default=300)
    ap.add_argument("--no-long", action="store_true", help="skip the generated long video")
    ap.add_argument("--no-conformance", action="store_true")
    a = ap.parse_args()

    BIN = a.bin
    if not os.path.exists(BIN):
        sys.exit("build first: cargo build --release")
    # Time a private copy: a rebuild during the run must not swap binaries.
    tmp = tempfile.mkdtemp(prefix="hashsieve-bench-")
    BIN = shutil.copy2(BIN, os.path.join(tmp, "hashsieve"))
    try:
        import vpdq  # noqa: F401
    except ImportError:
        sys.exit("pip install vpdq (Meta's reference, for comparison only)")

    files = []
    if not a.no_conformance and os.path.isdir(CONFORMANCE):
        files += sorted(glob.glob(os.path.join(CONFORMANCE, "*.mp4")))
    if not a.no_long:
        files.append(make_long_video(a.long_seconds))

    ref_code = ("import sys, vpdq; h = vpdq.computeHash(sys.argv[1], seconds_per_hash=1, thread_count=1);"
                " print(len(h))")
    methods = {
        "floor": lambda f: ["ffmpeg", "-v", "error", "-threads", "1", "-i", f, "-f", "null", "-"],
        "reference": lambda f: [sys.executable, "-c", ref_code, f],
        "ours": lambda f: [BIN, "hash", "--threads", "1", "--video-threads", "1", f],
        "ours-2t": lambda f: [BIN, "hash", "--threads", "1", "--video-threads", "2", f],
        "fast": lambda f: [BIN, "hash", "--threads", "1", "--video-threads", "1", "--fast", f],
    }
    # Python start-up and `import vpdq`, subtracted from the reference's times.
    base = [timed([sys.executable, "-c", "import vpdq"]) for _ in range(5)]
    base_wall = statistics.median(b[0] for b in base)
    base_cpu = statistics.median(b[1] for b in base)
    print(f"(reference times exclude Python start-up + import: {base_wall:.3f} s wall, {base_cpu:.3f} s CPU)")
    # Likewise our process start-up (exec, loading the FFmpeg libraries),
    # which a scan over an archive pays once, not per file.
    own = [timed([BIN, "--version"]) for _ in range(5)]
    own_wall = statistics.median(b[0] for b in own)
    own_cpu = statistics.median(b[1] for b in own)
    print(f"(our times exclude our process start-up: {own_wall:.3f} s wall, {own_cpu:.3f} s CPU)")
    print("load average at start: %.2f %.2f %.2f" % os.getloadavg())

    cols = list(methods)
    group_wall = {"sd": {m: 0.0 for m in cols}, "long": {m: 0.0 for m in cols}}
    group_cpu = {"sd": {m: 0.0 for m in cols}, "long": {m: 0.0 for m in cols}}
    group_min = {"sd": 0.0, "long": 0.0}

    def line(name, minutes, wall, cpu, frames=None):
        spm = " ".join(f"{cpu[m] / minutes:9.3f}" for m in cols)
        ratios = (f" {cpu['ours'] / cpu['floor']:8.2f} {cpu['reference'] / cpu['floor']:7.2f}"
                  f" {wall['ours'] / wall['ours-2t']:6.2f} {cpu['reference'] / cpu['fast']:8.1f}"
                  f" {wall['reference'] / wall['fast']:8.1f}")
        fr = f" {frames['ours']:>4}/{frames['reference']:>4}/{frames['fast']:>4}" if frames else ""
        print(f"{name:<34} {minutes:6.2f} {spm}{ratios}{fr}")
        sys.stdout.flush()

    print(f"\nCPU seconds per minute of video (user+sys of the process; median of {a.runs} runs);")
    print("ratios: ours/floor and ref/floor on CPU time, 1t/2t on wall time (ours, 1 vs 2 threads),")
    print("ref/fast on CPU and on wall time. frames: hashed by ours / reference / fast.")
    print(f"{'video':<34} {'min':>6} " + " ".join(f"{m:>9}" for m in cols) +
          f" {'ours/fl':>8} {'ref/fl':>7} {'1t/2t':>6} {'ref/fast':>8} {'(wall)':>8} {'frames o/r/f':>13}")
    for f in files:
        minutes = duration(f) / 60.0
        wall, cpu, frames = {}, {}, {}
        for m in cols:
            ws, cs = [], []
            for _ in range(a.runs):
                w, c, out = timed(methods[m](f))
                if m == "reference":
                    w, c = max(w - base_wall, 1e-6), max(c - base_cpu, 1e-6)
                    frames[m] = int(out.decode().strip())
                elif m != "floor":
                    frames[m] = check_ours(out)
                    w, c = max(w - own_wall, 1e-6), max(c - own_cpu, 1e-6)
                ws.append(w)
                cs.append(c)
            wall[m], cpu[m] = statistics.median(ws), statistics.median(cs)
        g = "long" if f.startswith(CACHE) else "sd"
        group_min[g] += minutes
        for m in cols:
            group_wall[g][m] += wall[m]
            group_cpu[g][m] += cpu[m]
        line(os.path.basename(f), minutes, wall, cpu, frames)
    for g, label in [("sd", "conformance set (total)"), ("long", "generated 1080p (total)")]:
        if group_min[g] > 0:
            line(label, group_min[g], group_wall[g], group_cpu[g])
    print("load average at end: %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    main()
